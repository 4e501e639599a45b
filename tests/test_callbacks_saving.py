"""Callbacks that save, stop and schedule (#9), exact resumption, and Ctrl-C during fit."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dendrite
from dendrite import Input, Sequential, callbacks, layers

pytest.importorskip("h5py")


def model_and_data(seed=0):
    dendrite.utils.set_random_seed(seed)
    model = Sequential([Input((4,)), layers.Dense(8, activation="relu"), layers.Dropout(0.3),
                        layers.Dense(1)])
    model.compile(dendrite.optimizers.Adam(0.01), "mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], "float32")).astype("float32")
    return model, x, y


def test_early_stopping_patience_and_restore_best_weights():
    model, x, y = model_and_data()
    losses = iter([1.0, 0.5, 0.6, 0.7, 0.4])
    snapshots = []

    class Fake(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["loss"] = next(losses)
            snapshots.append(self.model.get_weights())

    stop = callbacks.EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[Fake(), stop])
    assert history.epoch == [0, 1, 2, 3]  # 0.5 at epoch 1, no improvement for 2 epochs
    assert stop.stopped_epoch == 3 and stop.best == 0.5 and stop.best_epoch == 1
    for a, b in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_baseline_start_from_epoch_and_mode():
    with pytest.raises(ValueError, match="mode must be one of 'auto', 'min', 'max'"):
        callbacks.EarlyStopping(mode="bigger")
    with pytest.raises(ValueError, match="cannot tell whether 'foo'"):
        callbacks.EarlyStopping(monitor="foo")

    class Flat(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["loss"] = 1.0

    model, x, y = model_and_data()
    stop = callbacks.EarlyStopping(monitor="loss", baseline=0.5, patience=1)
    assert model.fit(x, y, epochs=6, verbose=0, callbacks=[Flat(), stop]).epoch == [0, 1]
    late = callbacks.EarlyStopping(monitor="loss", baseline=0.5, patience=1, start_from_epoch=3)
    assert len(model.fit(x, y, epochs=8, verbose=0, callbacks=[Flat(), late]).epoch) == 5


def test_model_checkpoint_formats_names_and_keeps_best(tmp_path):
    model, x, y = model_and_data()
    pattern = str(tmp_path / "w-{epoch:02d}-{val_loss:.2f}.weights.h5")
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.25,
              callbacks=[callbacks.ModelCheckpoint(pattern, save_weights_only=True)])
    names = sorted(os.listdir(tmp_path))
    assert [n[:5] for n in names] == ["w-01-", "w-02-", "w-03-"]
    assert all(n.endswith(".weights.h5") for n in names)
    best = tmp_path / "best.keras"
    values = iter([3.0, 1.0, 2.0])
    saved = []

    class Fake(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(values)

    class Watch(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved.append(os.path.getmtime(best) if best.exists() else None)

    check = callbacks.ModelCheckpoint(best, save_best_only=True)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[Fake(), check, Watch()])
    assert check.best == 1.0 and saved[0] is not None and saved[2] == saved[1]
    with pytest.raises(ValueError, match=r"must end in \.weights\.h5"):
        callbacks.ModelCheckpoint(tmp_path / "x.keras", save_weights_only=True)


def test_model_checkpoint_save_freq_in_batches(tmp_path):
    model, x, y = model_and_data()
    pattern = str(tmp_path / "b-{epoch}-{batch}.weights.h5")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[callbacks.ModelCheckpoint(pattern, save_weights_only=True,
                                                   monitor="loss", save_freq=3)])
    assert sorted(os.listdir(tmp_path)) == ["b-1-3.weights.h5", "b-2-2.weights.h5"]


def test_csv_logger(tmp_path):
    model, x, y = model_and_data()
    path = tmp_path / "log.csv"
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.25,
              callbacks=[callbacks.CSVLogger(path)])
    model.fit(x, y, epochs=1, verbose=0, validation_split=0.25,
              callbacks=[callbacks.CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss,val_loss"
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1", "0"]


def test_reduce_lr_on_plateau_and_scheduler():
    model, x, y = model_and_data()
    values = iter([1.0, 1.0, 1.0, 1.0, 1.0])

    class Fake(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(values)

    reduce = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_lr=0.003, cooldown=1)
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[Fake(), reduce])
    # Keras's order: the rate is logged, then reduced at epoch 1 (0.005); at epoch 2 the cooldown
    # counter runs out first, so it reduces again, to min_lr
    assert history.history["learning_rate"] == [0.01, 0.01, 0.005, 0.003, 0.003]
    assert model.optimizer.learning_rate == 0.003
    with pytest.raises(ValueError, match=r"factor must be in \(0, 1\)"):
        callbacks.ReduceLROnPlateau(factor=1.5)
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[scheduler])
    assert history.history["learning_rate"] == [0.1, 0.05, 0.1 / 3]


def test_terminate_on_nan_and_lambda_callback():
    model, x, y = model_and_data()
    seen = []

    def poison(batch, logs):
        seen.append(batch)
        if batch == 1:
            logs["loss"] = float("nan")

    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[
        callbacks.LambdaCallback(on_train_batch_end=poison), callbacks.TerminateOnNaN()])
    assert model.stop_training and history.epoch == [0] and seen == [0, 1, 2, 3]
    with pytest.raises(TypeError, match="unknown hook 'on_epoch_finish'"):
        callbacks.LambdaCallback(on_epoch_finish=print)


def test_keyboard_interrupt_keeps_last_batch_weights_and_history():
    model, x, y = model_and_data()
    after = {}

    class Interrupt(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.params and batch == 1 and len(self.model.history.epoch) == 1:
                after["weights"] = self.model.get_weights()
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C during epoch 2, batch 2

    with pytest.warns(UserWarning, match=r"interrupted.*after 1 complete epoch"):
        history = model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[Interrupt()])
    assert history is model.history and history.epoch == [0]
    for a, b in zip(model.get_weights(), after["weights"]):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 4 + 2
    model.fit(x, y, epochs=1, verbose=0)  # still usable
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


RESUME = textwrap.dedent("""
    import sys, os, signal
    import numpy as np
    import dendrite
    from dendrite import Input, Sequential, layers, callbacks
    from dendrite.saving.archive import load_model
    mode, folder = sys.argv[1], sys.argv[2]

    def fresh():
        dendrite.utils.set_random_seed(0)
        model = Sequential([Input((4,)), layers.Dense(16, activation="relu"),
                            layers.Dropout(0.3), layers.Dense(1)])
        model.compile(dendrite.optimizers.Adam(0.01), "mse")
        return model

    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 4)).astype("float32")
    y = np.sin(x.sum(axis=1, keepdims=True)).astype("float32")
    if mode == "straight":
        model = fresh()
        model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    elif mode == "first":
        model = fresh()
        model.fit(x, y, epochs=4, batch_size=16, verbose=0)
        model.save(os.path.join(folder, "half.keras"))
        sys.exit(0)
    elif mode == "second":
        model = load_model(os.path.join(folder, "half.keras"))
        model.fit(x, y, epochs=8, initial_epoch=4, batch_size=16, verbose=0)
    else:  # backup: killed during epoch 3 when KILL is set, resumed when run again
        model = fresh()
        kill = os.environ.get("KILL") == "1"
        def maybe_kill(batch, logs):
            if kill and model.optimizer.iterations == 2 * 6 + 3:
                os.kill(os.getpid(), signal.SIGKILL)
        model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[
            callbacks.BackupAndRestore(os.path.join(folder, "backup")),
            callbacks.LambdaCallback(on_train_batch_end=maybe_kill)])
    np.savez(os.path.join(folder, mode + ".npz"), *model.get_weights())
""")


def run(mode, folder, **env):
    return subprocess.run([sys.executable, "-c", RESUME, mode, str(folder)], check=False,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **env})


def weights(path):
    with np.load(path) as arrays:
        return [arrays[k] for k in sorted(arrays, key=lambda k: int(k.split("_")[1]))]


@pytest.mark.slow
def test_four_plus_four_epochs_in_a_new_process_equal_eight_bitwise(tmp_path):
    for mode in ("straight", "first", "second"):
        result = run(mode, tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
    for a, b in zip(weights(tmp_path / "straight.npz"), weights(tmp_path / "second.npz")):
        np.testing.assert_array_equal(a, b)
    with np.load(tmp_path / "straight.npz") as a:
        assert len(a) == 4


@pytest.mark.slow
def test_backup_and_restore_after_sigkill_equals_an_uninterrupted_run(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    clean.mkdir()
    killed.mkdir()
    assert run("backup", clean).returncode == 0
    first = run("backup", killed, KILL="1")
    assert first.returncode == -signal.SIGKILL
    metadata = json.loads((killed / "backup" / "training_metadata.json").read_text())
    assert metadata == {"epoch": 2}  # epochs 1 and 2 done; killed during epoch 3
    second = run("backup", killed)
    assert second.returncode == 0, second.stderr[-2000:]
    assert not (killed / "backup").exists()  # deleted after a normal end
    for a, b in zip(weights(clean / "backup.npz"), weights(killed / "backup.npz")):
        np.testing.assert_array_equal(a, b)


def test_terminate_on_nan_stops_fit_on_a_real_nan_loss():
    model, x, y = model_and_data()
    x = x.copy()
    x[20] = np.nan  # the second batch of 16
    snapshot = {}
    keep = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: snapshot.setdefault(
        batch, model.get_weights()))
    history = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0,
                        callbacks=[keep, callbacks.TerminateOnNaN()])
    assert history.epoch == [0] and np.isnan(history.history["loss"][0])
    for a, b in zip(model.get_weights(), snapshot[0]):  # the NaN batch's update was not applied
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FloatingPointError, match="epoch 1, batch 2"):
        model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
