"""What a learner meets at the command line: evaluate and predict with a saved model, Ctrl-C,
help and suggestions, and a progress bar that never hides the numbers."""

import contextlib
import csv
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest

import dendrite as dd
import dendrite.models
from dendrite import callbacks, cli, layers

CAN_SAVE = hasattr(dendrite.models.Model, "save") and hasattr(dendrite.models, "load_model")
needs_saving = pytest.mark.skipif(not CAN_SAVE, reason="model saving is not available")


def run_main(command):
    """``dendrite <command>``: (exit status, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = cli.main(shlex.split(command))
        except SystemExit as exit_info:
            status = exit_info.code
    return status, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """`dendrite train` of softmax regression on 3000 MNIST images: (folder, stdout)."""
    out = tmp_path_factory.mktemp("run")
    status, stdout, _ = run_main(f"train --model logistic --epochs 2 --limit 3000 "
                                 f"--learning-rate 0.01 --verbose 0 --no-plot --out {out}")
    assert status == 0
    return out, stdout


@pytest.fixture(scope="module")
def mnist_test():
    _, (x_test, y_test) = cli.load_dataset("mnist", "mlp", limit=1)
    return x_test, y_test


# ---------------------------------------------------------------------------- saving and using


@needs_saving
def test_train_saves_the_model_and_says_where(run, mnist_test):
    out, stdout = run
    assert f"Model saved to {out / 'model.keras'}" in stdout
    model = dendrite.models.load_model(out / "model.keras")
    x_test, y_test = mnist_test
    accuracy = (model.predict(x_test, verbose=0).argmax(axis=1) == y_test).mean()
    assert accuracy == pytest.approx(json.loads((out / "metrics.json").read_text())
                                     ["test_accuracy"])


@needs_saving
@pytest.mark.parametrize("target", ["folder", "file"])
def test_evaluate_prints_what_train_measured(run, target):
    out, train_stdout = run
    path = out if target == "folder" else out / "model.keras"
    status, stdout, _ = run_main(f"evaluate {path}")
    assert status == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (f"Test accuracy: {metrics['test_accuracy']:.4f} (loss {metrics['test_loss']:.4f}) "
            "on 10000 mnist test samples") in stdout
    # the same confusion matrix as the training run printed and wrote
    train_matrix = train_stdout.split("Confusion matrix:\n", 1)[1].split("\n")[:12]
    assert stdout.split("Confusion matrix:\n", 1)[1].split("\n")[:12] == train_matrix
    with open(out / "confusion_matrix.csv", newline="") as file:
        rows = list(csv.reader(file))[1:]
    assert train_matrix[2].split()[1:] == rows[0][1:]


def test_evaluate_model_on_a_model_in_memory(mnist_test):
    x_test, y_test = mnist_test
    model = cli.build_model(cli.parse_args(["train", "--model", "logistic"]))
    messages = []
    result = cli.evaluate_model(model, "mnist", print_fn=messages.append)
    predictions = model.predict(x_test, verbose=0)
    assert result["test_accuracy"] == pytest.approx((predictions.argmax(1) == y_test).mean())
    np.testing.assert_array_equal(result["confusion_matrix"],
                                  dd.metrics.confusion_matrix(y_test, predictions, 10))
    assert messages[0].startswith(f"Test accuracy: {result['test_accuracy']:.4f}")


def test_evaluate_and_predict_refuse_missing_models(tmp_path):
    status, _, stderr = run_main(f"evaluate {tmp_path}")
    assert status == 1
    assert f"dendrite evaluate: error: no model.keras in the folder {tmp_path}" in stderr
    status, _, stderr = run_main(f"predict {tmp_path / 'nothing.keras'} a.png")
    assert status == 1
    assert "dendrite predict: error: no file" in stderr


def save_digit(path, digit, scale=10, light=True, colour=(30, 60, 200), alpha=False):
    """An MNIST digit (28x28 uint8, white on black) as a user's file: larger, coloured strokes."""
    from PIL import Image

    big = np.kron(digit, np.ones((scale, scale))).astype("float32") / 255
    if alpha:
        rgba = np.zeros((*big.shape, 4), dtype="uint8")
        rgba[..., :3] = colour
        rgba[..., 3] = (big * 255).astype("uint8")
        Image.fromarray(rgba, "RGBA").save(path)
        return
    background = np.array([250, 248, 240] if light else [0, 0, 0], dtype="float32")
    pixels = background * (1 - big[..., None]) + np.array(colour) * big[..., None]
    Image.fromarray(pixels.astype("uint8"), "RGB").save(path)


@pytest.mark.parametrize("light, alpha", [(True, False), (False, False), (True, True)])
def test_prepare_image_recovers_an_mnist_digit(tmp_path, light, alpha):
    pytest.importorskip("PIL")
    (_, _), (x_test, _) = dd.datasets.mnist.load_data()
    digit = x_test[0]
    path = tmp_path / "digit.png"
    save_digit(path, digit, light=light, alpha=alpha,
               colour=(30, 60, 200) if light else (250, 250, 250))
    image = cli.prepare_image(path)
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert image.min() == 0 and image.max() == pytest.approx(1, abs=0.02)
    assert image[0].max() == 0 and image[:, 0].max() == 0  # dark background, as in MNIST
    correlation = np.corrcoef(image.ravel(), digit.ravel().astype("float32"))[0, 1]
    assert correlation > 0.8


def test_prepare_image_reads_16_bit_grey(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    (_, _), (x_test, _) = dd.datasets.mnist.load_data()
    big = np.kron(x_test[0], np.ones((4, 4)))
    Image.fromarray(big.astype("uint8")).save(tmp_path / "eight_bit.png")
    Image.fromarray((big * 257).astype("uint16")).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode.startswith("I")
    np.testing.assert_allclose(cli.prepare_image(tmp_path / "deep.png"),
                               cli.prepare_image(tmp_path / "eight_bit.png"), atol=0.02)


def test_models_of_other_inputs_are_refused():
    model = dd.Sequential([dd.Input(shape=(32, 32, 3)), layers.Flatten(), layers.Dense(10)])
    with pytest.raises(cli.CommandError, match=r"inputs of shape \(32, 32, 3\); `dendrite "
                       r"evaluate` and `dendrite predict` work with models of 28x28 grey"):
        cli.predict_images(model, ["unused.png"])


def test_predict_prints_the_top_classes_of_the_model(tmp_path, mnist_test):
    pytest.importorskip("PIL")
    (_, _), (x_raw, _) = dd.datasets.mnist.load_data()
    x_test, _ = mnist_test
    dd.utils.set_random_seed(0)
    model = cli.build_model(cli.parse_args(["train", "--model", "logistic"]))
    (x, y), _ = cli.load_dataset("mnist", "logistic", limit=3000)
    model.fit(x, y, epochs=2, verbose=0)
    paths = [tmp_path / "first.png", tmp_path / "second.jpg"]
    save_digit(paths[0], x_raw[0])
    save_digit(paths[1], x_raw[1], scale=7)
    messages = []
    probabilities = cli.predict_images(model, paths, top=2, print_fn=messages.append)
    images = np.stack([cli.prepare_image(p) for p in paths]).reshape(2, 784)
    np.testing.assert_allclose(probabilities, model.predict(images, verbose=0), rtol=1e-6)
    width = max(len(str(path)) for path in paths)
    for path, message, row in zip(paths, messages, probabilities):
        first, second = np.argsort(-row)[:2]
        assert message == (f"{path!s:<{width}}  {first} ({100 * row[first]:.1f} "
                           f"%), {second} ({100 * row[second]:.1f} %)")
    # the user's file is classified as the original test image is
    assert list(probabilities.argmax(1)) == list(model.predict(x_test[:2], verbose=0).argmax(1))


@needs_saving
def test_predict_command(run, tmp_path):
    pytest.importorskip("PIL")
    out, _ = run
    (_, _), (x_raw, _) = dd.datasets.mnist.load_data()
    path = tmp_path / "seven.png"
    save_digit(path, x_raw[0])
    status, stdout, _ = run_main(f"predict {out} {path} --top 3")
    assert status == 0
    assert re.fullmatch(rf"{re.escape(str(path))}  7 \(\d+\.\d %\), \d \(\d+\.\d %\), "
                        r"\d \(\d+\.\d %\)\n", stdout)
    status, _, stderr = run_main(f"predict {out} {tmp_path / 'missing.png'}")
    assert status == 1
    assert f"dendrite predict: error: no image file {tmp_path / 'missing.png'}" in stderr
    (tmp_path / "notes.txt").write_text("not an image")
    status, _, stderr = run_main(f"predict {out} {tmp_path / 'notes.txt'}")
    assert status == 1 and "is not an image Pillow can read" in stderr


# ---------------------------------------------------------------------------- Ctrl-C


class InterruptAt(callbacks.Callback):
    """Sends this process a SIGINT (a Ctrl-C) when batch ``batch`` of ``epoch`` begins."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch + 1, batch + 1) == self.at:
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_stops_after_the_batch_and_writes_everything(tmp_path):
    args = cli.parse_args(["train", "--model", "logistic", "--epochs", "5", "--limit", "2000",
                           "--batch-size", "100", "--verbose", "0", "--out", str(tmp_path)])
    messages = []
    results = cli.train(args, print_fn=messages.append, callbacks=[InterruptAt(2, 3)])
    assert "\ninterrupted at epoch 2, batch 3; saving what was trained" in messages
    assert results["interrupted"] == {"epoch": 2, "batch": 3}
    assert results["epochs_run"] == 1
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["epoch"] == [1]
    assert json.loads((tmp_path / "metrics.json").read_text())["interrupted"]["batch"] == 3
    page = (tmp_path / "report.html").read_text()
    assert "Training was interrupted at epoch 2, batch 3." in page
    expected = ["history.json", "history.csv", "confusion_matrix.csv", "metrics.json"]
    if CAN_SAVE:
        expected.append("model.keras")
    for name in expected:
        assert (tmp_path / name).is_file()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


@pytest.mark.slow
def test_ctrl_c_in_a_real_process_exits_130(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "dendrite", "train", "--model", "logistic", "--epochs", "1000",
         "--limit", "2000", "--verbose", "2", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Epoch 2/1000"):
            process.send_signal(signal.SIGINT)
            break
    stdout, stderr = process.communicate(timeout=300)
    stdout = "".join(lines) + stdout
    assert process.returncode == 130, stderr
    match = re.search(r"interrupted at epoch (\d+), batch (\d+); saving what was trained", stdout)
    assert match, stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["interrupted"] == {"epoch": int(match[1]), "batch": int(match[2])}
    assert metrics["epochs_run"] >= 2
    assert len(json.loads((tmp_path / "history.json").read_text())["loss"]) == \
        metrics["epochs_run"]
    for name in ("report.html", "learning_curve.png", "confusion_matrix.png", "mistakes.png"):
        assert (tmp_path / name).is_file() or not cli._has_matplotlib()
    assert f"Test accuracy: {metrics['test_accuracy']:.4f}" in stdout


# ---------------------------------------------------------------------------- help, suggestions


def test_bare_command_prints_help():
    result = subprocess.run([sys.executable, "-m", "dendrite"], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: dendrite")
    assert "evaluate" in result.stdout and "predict" in result.stdout


@pytest.mark.parametrize("command, message", [
    ("trian", "invalid choice: 'trian'"),
    ("evalute run", "invalid choice: 'evalute'"),
    ("train --epohcs 3", "unrecognized arguments: --epohcs 3"),
    ("train --learning_rate 0.1", "unrecognized arguments: --learning_rate 0.1"),
    ("train --dataset minst", "argument --dataset: invalid choice: 'minst'"),
    ("train --model cnnn", "argument --model: invalid choice: 'cnnn'"),
])
def test_a_misspelling_suggests_the_nearest_name(command, message):
    status, _, stderr = run_main(command)
    assert status == 2
    nearest = {"trian": "train", "evalute": "evaluate", "--epohcs": "--epochs",
               "--learning_rate": "--learning-rate", "minst": "mnist", "cnnn": "cnn"}
    bad = re.search(r"'([^']+)'|arguments: (\S+)", message)
    word = bad[1] or bad[2]
    assert f"{message}" in stderr
    assert f"did you mean '{nearest[word]}'?" in stderr


def test_no_suggestion_when_nothing_is_close():
    status, _, stderr = run_main("train --verbose 7")
    assert status == 2
    assert "did you mean" not in stderr


# ---------------------------------------------------------------------------- progress bar


class Terminal(io.StringIO):
    """A stream that claims to be a terminal."""

    def isatty(self):
        return True


def screen(text, columns):
    """The lines a terminal ``columns`` wide shows for ``text`` (\\r returns to column 0)."""
    lines, line, column = [], [], 0
    for char in text:
        if char == "\n":
            lines.append("".join(line).rstrip())
            line, column = [], 0
        elif char == "\r":
            column = 0
        else:
            if column == columns:  # the terminal wraps
                lines.append("".join(line).rstrip())
                line, column = [], 0
            if column < len(line):
                line[column] = char
            else:
                line.append(char)
            column += 1
    return [*lines, "".join(line).rstrip()]


@pytest.mark.parametrize("columns", [80, 100, 200])
def test_progress_bar_never_hides_the_numbers(columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))
    rng = np.random.default_rng(0)
    x = rng.random((200, 8)).astype("float32")
    y = (x.sum(axis=1) > 4).astype("int64")
    dd.utils.set_random_seed(0)
    model = dd.Sequential([dd.Input(shape=(8,)), layers.Dense(4, activation="relu"),
                           layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    stream = Terminal()
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2,
                        callbacks=[callbacks.ProgbarLogger(stream=stream)])
    shown = screen(stream.getvalue(), columns)
    assert all(len(line) <= columns for line in shown)
    text = "\n".join(shown)
    for epoch in range(3):
        assert f"Epoch {epoch + 1}/3 10/10 |" in text
        for name, values in history.history.items():
            assert f"{name}: {values[epoch]:.4f}" in text  # complete, never cut off
    if columns >= 120:  # wide enough: everything on the bar's line
        assert re.search(r"10/10 \|.+\| loss: .* val_accuracy: \d\.\d{4} - ", text)
