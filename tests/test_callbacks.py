"""Callbacks: the order of Keras's hooks, stopping from a callback, History and the progress
display for each ``verbose`` setting."""

import io
import re

import numpy as np
import pytest

import dendrite as dd
from dendrite import callbacks, layers


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")


def _model():
    model = dd.Sequential([dd.Input(shape=(3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Recorder(callbacks.Callback):
    """Records every hook call as (hook, index or None, a copy of logs)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def _record(self, hook, index=None, logs=None):
        self.calls.append((hook, index, dict(logs or {})))

    def on_train_begin(self, logs=None):
        self._record("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._record("on_train_end", logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._record("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._record("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._record("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._record("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs=None):
        self._record("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._record("on_test_end", logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._record("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._record("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs=None):
        self._record("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._record("on_predict_end", logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._record("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._record("on_predict_batch_end", batch, logs)

    def hooks(self):
        return [(hook, index) for hook, index, _ in self.calls]


def test_fit_hook_order():
    x, y = _data(40)
    recorder = Recorder()
    _model().fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        verbose=0,
        validation_data=(x[:8], y[:8]),
        callbacks=[recorder],
    )

    def epoch_hooks(e):
        return [
            ("on_epoch_begin", e),
            ("on_train_batch_begin", 0),
            ("on_train_batch_end", 0),
            ("on_train_batch_begin", 1),
            ("on_train_batch_end", 1),
            ("on_train_batch_begin", 2),
            ("on_train_batch_end", 2),
            # validation runs the test hooks before the epoch ends, as in Keras 3
            ("on_test_begin", None),
            ("on_test_batch_begin", 0),
            ("on_test_batch_end", 0),
            ("on_test_end", None),
            ("on_epoch_end", e),
        ]

    assert recorder.hooks() == [
        ("on_train_begin", None),
        *epoch_hooks(0),
        *epoch_hooks(1),
        ("on_train_end", None),
    ]


def test_fit_logs_hold_loss_metrics_and_validation():
    x, y = _data(40)
    recorder = Recorder()
    model = _model()
    history = model.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        verbose=0,
        validation_data=(x[:8], y[:8]),
        callbacks=[recorder],
    )
    batch_logs = [logs for hook, _, logs in recorder.calls if hook == "on_train_batch_end"]
    assert all(set(logs) == {"loss", "accuracy"} for logs in batch_logs)
    epoch_logs = [logs for hook, _, logs in recorder.calls if hook == "on_epoch_end"]
    assert [set(logs) for logs in epoch_logs] == [
        {"loss", "accuracy", "val_loss", "val_accuracy"}
    ] * 2
    # the epoch's logs are the running values after its last batch, and History keeps them
    assert epoch_logs[1]["loss"] == batch_logs[-1]["loss"]
    assert history.history["loss"] == [logs["loss"] for logs in epoch_logs]
    assert history.history["val_accuracy"] == [logs["val_accuracy"] for logs in epoch_logs]
    assert history.epoch == [0, 1]
    assert model.history is history


def test_callback_receives_model_and_params():
    x, y = _data(40)
    recorder = Recorder()
    model = _model()
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[recorder])
    assert recorder.model is model
    assert recorder.params["epochs"] == 3
    assert recorder.params["steps"] == 3


def test_evaluate_and_predict_hooks():
    x, y = _data(40)
    model = _model()
    recorder = Recorder()
    model.evaluate(x, y, batch_size=32, verbose=0, callbacks=[recorder])
    assert recorder.hooks() == [
        ("on_test_begin", None),
        ("on_test_batch_begin", 0),
        ("on_test_batch_end", 0),
        ("on_test_batch_begin", 1),
        ("on_test_batch_end", 1),
        ("on_test_end", None),
    ]
    assert set(recorder.calls[-1][2]) == {"loss", "accuracy"}
    recorder = Recorder()
    model.predict(x, batch_size=32, verbose=0, callbacks=[recorder])
    assert recorder.hooks() == [
        ("on_predict_begin", None),
        ("on_predict_batch_begin", 0),
        ("on_predict_batch_end", 0),
        ("on_predict_batch_begin", 1),
        ("on_predict_batch_end", 1),
        ("on_predict_end", None),
    ]


class StopAfter(callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.stop_training = True


@pytest.mark.parametrize("stop_epoch", [0, 2])
def test_stop_training_from_callback_stops_after_that_epoch(stop_epoch):
    x, y = _data(40)
    recorder = Recorder()
    history = _model().fit(
        x, y, batch_size=16, epochs=10, verbose=0, callbacks=[StopAfter(stop_epoch), recorder]
    )
    assert history.epoch == list(range(stop_epoch + 1))
    assert len(history.history["loss"]) == stop_epoch + 1
    assert recorder.hooks()[-1] == ("on_train_end", None)
    assert sum(hook == "on_epoch_begin" for hook, _ in recorder.hooks()) == stop_epoch + 1


def test_stop_training_is_reset_by_the_next_fit():
    x, y = _data(40)
    model = _model()
    model.fit(x, y, epochs=5, verbose=0, callbacks=[StopAfter(0)])
    assert model.fit(x, y, epochs=3, verbose=0).epoch == [0, 1, 2]


def test_callbacks_must_be_callback_instances():
    x, y = _data(40)
    with pytest.raises(TypeError, match="callbacks must be Callback instances; got 3"):
        _model().fit(x, y, verbose=0, callbacks=[3])


# ------------------------------------------------------------------- progress display


_EPOCH_LINE = re.compile(r"^Epoch (\d+)/3 - 3/3 - .*loss: \d+\.\d{4} - accuracy: \d+\.\d{4}$")


@pytest.mark.parametrize("verbose", [2, 1, "auto"])
def test_progress_prints_one_line_per_epoch_when_not_a_terminal(capsys, verbose):
    x, y = _data(40)
    _model().fit(x, y, batch_size=16, epochs=3, verbose=verbose)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert [int(_EPOCH_LINE.match(line).group(1)) for line in lines] == [1, 2, 3]


def test_progress_line_shows_validation_values(capsys):
    x, y = _data(40)
    _model().fit(x, y, batch_size=16, epochs=1, verbose=2, validation_split=0.25)
    out = capsys.readouterr().out
    assert re.search(r"val_loss: \d+\.\d{4} - val_accuracy: \d+\.\d{4}$", out.strip())


def test_verbose_0_prints_nothing(capsys):
    x, y = _data(40)
    model = _model()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_split=0.25)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


class TerminalStream(io.StringIO):
    """A text stream that claims to be a terminal, as sys.stdout does in a console."""

    def isatty(self):
        return True


def test_progress_uses_tqdm_on_a_terminal(capsys):
    x, y = _data(40)
    stream = TerminalStream()
    _model().fit(
        x, y, batch_size=16, epochs=2, verbose=1, callbacks=[callbacks.ProgbarLogger(stream=stream)]
    )
    out = stream.getvalue()
    assert "Epoch 1/2" in out
    assert "Epoch 2/2" in out
    assert "3/3" in out
    assert re.search(r"<\d\d:\d\d", out)  # tqdm's elapsed<remaining ETA
    assert re.search(r"batch/s|s/batch", out)  # and its rate
    assert re.search(r"loss: \d+\.\d{4}", out)
    assert "\r" in out  # redrawn in place, not one line per batch
    assert capsys.readouterr().out == ""  # the user's ProgbarLogger replaces the default one


def test_progbar_logger_on_a_plain_stream_writes_there(capsys):
    x, y = _data(40)
    stream = io.StringIO()
    _model().fit(
        x, y, batch_size=16, epochs=2, verbose=1, callbacks=[callbacks.ProgbarLogger(stream=stream)]
    )
    assert len(stream.getvalue().splitlines()) == 2
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("verbose", [3, -1, "yes"])
def test_bad_verbose_raises(verbose):
    x, y = _data(40)
    with pytest.raises(ValueError, match=r'fit: verbose must be "auto", 0, 1 or 2; got verbose='):
        _model().fit(x, y, verbose=verbose)


def test_issue11_every_hook_receives_a_logs_dict():
    received = []

    class Recorder(dd.callbacks.Callback):
        def __getattribute__(self, name):
            if name.startswith("on_"):
                return lambda *args: received.append((name, args[-1]))
            return object.__getattribute__(self, name)

    model = dd.Sequential([dd.layers.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    model.fit(x, y, epochs=1, batch_size=2, validation_data=(x, y), callbacks=[Recorder()],
              verbose=0)
    model.evaluate(x, y, callbacks=[Recorder()], verbose=0)
    model.predict(x, callbacks=[Recorder()], verbose=0)
    hooks = {name for name, _ in received}
    assert {"on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_test_batch_end",
            "on_epoch_end", "on_train_end", "on_predict_begin", "on_predict_end"} <= hooks
    assert all(isinstance(logs, dict) for _, logs in received)
    assert "loss" in dict(received)["on_epoch_end"]
