"""The ``dendrite`` command line (``dendrite train``) and :mod:`dendrite.plotting`."""

import contextlib
import csv
import io
import json
import os
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import dendrite.layers
from dendrite import cli
from dendrite.datasets import fashion_mnist

TRAIN_OPTIONS = [
    "--dataset",
    "--model",
    "--hidden",
    "--optimizer",
    "--learning-rate",
    "--lr-schedule",
    "--batch-size",
    "--epochs",
    "--threads",
    "--seed",
    "--validation-split",
    "--limit",
    "--out",
    "--verbose",
    "--no-plot",
]
HAS_MATPLOTLIB = cli._has_matplotlib()


def run_main(command, out=None):
    """Run ``dendrite <command> [--out <out>]``: the exit status and what it printed to stdout."""
    argv = shlex.split(command) + ([] if out is None else ["--out", str(out)])
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = cli.main(argv)
    return status, stdout.getvalue()


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.reader(file))


@pytest.fixture(scope="module")
def logistic_run(tmp_path_factory):
    """One quick run: softmax regression on the first 5000 MNIST images, 2 epochs."""
    out = tmp_path_factory.mktemp("run") / "logistic"
    status, stdout = run_main(
        "train --model logistic --epochs 2 --limit 5000 --learning-rate 0.01 --verbose 0",
        out,
    )
    return status, stdout, out


def test_train_exit_status_and_stdout(logistic_run):
    status, stdout, _ = logistic_run
    assert status == 0
    assert "Test accuracy: 0." in stdout
    assert "Confusion matrix:" in stdout
    lines = stdout.splitlines()
    header = lines.index("Confusion matrix:")
    assert lines[header + 1].strip() == "predicted"
    assert lines[header + 2].split() == ["true", *map(str, range(10))]
    rows = lines[header + 3 : header + 13]
    assert [row.split()[0] for row in rows] == list(map(str, range(10)))
    assert len({len(row) for row in lines[header + 2 : header + 13]}) == 1  # aligned columns
    assert "Epoch" not in stdout  # --verbose 0: no progress


def test_train_writes_history(logistic_run):
    _, _, out = logistic_run
    history = json.loads((out / "history.json").read_text())
    assert list(history) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert history["epoch"] == [1, 2]
    assert all(len(values) == 2 for values in history.values())
    assert history["loss"][1] < history["loss"][0]
    rows = read_csv(out / "history.csv")
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert len(rows) == 3
    np.testing.assert_allclose(
        [float(v) for v in rows[2][1:]], [history[k][1] for k in rows[0][1:]]
    )


def test_train_writes_confusion_matrix_and_metrics(logistic_run):
    _, stdout, out = logistic_run
    rows = read_csv(out / "confusion_matrix.csv")
    assert rows[0] == ["true\\predicted", *map(str, range(10))]
    assert [row[0] for row in rows[1:]] == list(map(str, range(10)))
    cm = np.array([[int(v) for v in row[1:]] for row in rows[1:]])
    assert cm.shape == (10, 10)
    assert cm.sum() == 10000  # the whole test set, even with --limit
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.85
    assert metrics["test_accuracy"] == pytest.approx(np.trace(cm) / 10000)
    assert f"Test accuracy: {metrics['test_accuracy']:.4f}" in stdout
    assert metrics["test_samples"] == 10000
    assert metrics["epochs_run"] == 2
    assert metrics["parameters"] == 7850
    assert metrics["seconds"] >= metrics["fit_seconds"] > 0
    assert metrics["args"]["model"] == "logistic"
    assert metrics["args"]["limit"] == 5000
    assert metrics["args"]["out"] == str(out)


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib not installed")
def test_train_writes_plots(logistic_run):
    _, _, out = logistic_run
    for name in ("learning_curve.png", "confusion_matrix.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_mlp_without_validation_or_plots(tmp_path):
    status, stdout = run_main(
        "train --hidden 32 --epochs 1 --limit 1000 --validation-split 0 --no-plot --verbose 2 "
        "--optimizer sgd --learning-rate 0.1 --batch-size 50 --seed 3",
        tmp_path,
    )
    assert status == 0
    assert (
        "1000 training, 0 validation, 10000 test samples; sgd lr=0.1 (cosine), batch 50" in stdout
    )
    assert "Epoch 1/1 - 20/20" in stdout  # verbose=2: one line per epoch
    history = json.loads((tmp_path / "history.json").read_text())
    assert list(history) == ["epoch", "loss", "accuracy"]
    assert not list(tmp_path.glob("*.png"))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["parameters"] == 784 * 32 + 32 + 32 * 10 + 10


def test_default_out_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, stdout = run_main("train --model logistic --epochs 1 --limit 500 --no-plot --verbose 0")
    assert status == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("mnist-logistic-")
    assert (folder / "metrics.json").is_file()
    assert f"Results in {Path('runs') / folder.name}" in stdout


def test_default_train_configuration():
    args = cli.parse_args(["train"])
    assert (args.dataset, args.model, args.hidden) == ("mnist", "mlp", [256, 128])
    assert (args.optimizer, args.learning_rate, args.batch_size) == ("adam", 0.001, 128)
    assert args.lr_schedule == "cosine"
    assert (args.epochs, args.seed, args.validation_split) == (10, 0, 0.1)
    assert (args.limit, args.out, args.verbose, args.no_plot) == (None, None, 1, False)
    model = cli.build_model(args)
    configs = [layer.get_config() for layer in model.layers]
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"] * 3
    assert [(c["units"], c["activation"]) for c in configs] == [
        (256, "relu"),
        (128, "relu"),
        (10, "softmax"),
    ]
    assert model.inputs[0].shape == (None, 784)
    assert model.count_params() == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    assert type(model.optimizer).__name__ == "Adam"
    assert model.optimizer.learning_rate == pytest.approx(0.001)
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, dendrite.optimizers.schedules.CosineDecay)
    assert schedule.decay_steps == 10 * 422  # 10 epochs of ceil(54000 / 128) steps
    assert schedule(4220) == 0.0
    assert schedule(2110) == pytest.approx(0.0005)


def test_options_reach_the_model():
    args = cli.parse_args(
        [
            "train",
            "--model",
            "mlp",
            "--hidden",
            "64, 32,16",
            "--optimizer",
            "rmsprop",
            "--learning-rate",
            "0.005",
            "--lr-schedule",
            "constant",
        ]
    )
    model = cli.build_model(args)
    assert [layer.get_config()["units"] for layer in model.layers] == [64, 32, 16, 10]
    assert type(model.optimizer).__name__ == "RMSprop"
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(0.005)  # no schedule
    logistic = cli.build_model(cli.parse_args(["train", "--model", "logistic"]))
    assert [layer.get_config()["units"] for layer in logistic.layers] == [10]


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"]])
def test_help_lists_every_option_with_defaults(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    train_parser = cli.build_parser()._subparsers._group_actions[0].choices["train"]
    parsed_options = {o for a in train_parser._actions for o in a.option_strings} - {"-h"}
    assert parsed_options == set(TRAIN_OPTIONS + ["--help"])
    for option in TRAIN_OPTIONS:
        assert option in text
    for default in (
        "(default: mnist)",
        "(default: mlp)",
        "(default: 256,128)",
        "(default: adam)",
        "(default: 0.001)",
        "(default: cosine)",
        "(default: 128)",
        "(default: 10)",
        "(default: 0)",
        "(default: 0.1)",
        "(default: 1)",
    ):
        assert default in " ".join(text.split())


@pytest.mark.parametrize(
    "option, value, message",
    [
        (
            "--hidden",
            "256,x",
            (
                "argument --hidden: expected comma-separated positive integers such "
                "as 256,128; got '256,x'"
            ),
        ),
        ("--hidden", "256,0", "argument --hidden: expected comma-separated positive integers"),
        ("--epochs", "0", "argument --epochs: expected a positive integer; got '0'"),
        ("--batch-size", "1.5", "argument --batch-size: expected a positive integer; got '1.5'"),
        ("--limit", "-3", "argument --limit: expected a positive integer; got '-3'"),
        ("--seed", "-1", "argument --seed: expected a non-negative integer; got '-1'"),
        ("--learning-rate", "0", "argument --learning-rate: expected a positive number; got '0'"),
        ("--learning-rate", "nan", "argument --learning-rate: expected a positive number"),
        ("--validation-split", "1", "argument --validation-split: expected a number in [0, 1)"),
        ("--optimizer", "adamx", "argument --optimizer: Unknown optimizer 'adamx'"),
        ("--dataset", "cifar10", "argument --dataset: invalid choice: 'cifar10'"),
        ("--model", "resnet", "argument --model: invalid choice: 'resnet'"),
        ("--verbose", "3", "argument --verbose: invalid choice: 3"),
        ("--lr-schedule", "step", "argument --lr-schedule: invalid choice: 'step'"),
    ],
)
def test_bad_values_exit_2_with_message(option, value, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", option, value])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "dendrite train: error: " + message in error


def test_no_command_prints_the_help(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: dendrite")
    for command in ("train", "evaluate", "predict"):
        assert command in out


def test_python_dash_m_and_console_script():
    result = subprocess.run(
        [sys.executable, "-m", "dendrite", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "usage: dendrite" in result.stdout
    assert "train" in result.stdout
    scripts = [e for e in metadata.entry_points(group="console_scripts") if e.name == "dendrite"]
    assert [e.value for e in scripts] == ["dendrite.cli:main"]


def test_format_confusion_matrix_aligns_wide_counts():
    cm = np.array([[12345, 0, 7], [3, 40, 0], [0, 0, 5]])
    lines = cli.format_confusion_matrix(cm).splitlines()
    assert lines[0].strip() == "predicted"
    assert lines[1].split() == ["true", "0", "1", "2"]
    assert lines[2].split() == ["0", "12345", "0", "7"]
    assert len({len(line) for line in lines[1:]}) == 1


def test_train_cnn(tmp_path, monkeypatch):
    model = cli.build_model(cli.parse_args(["train", "--model", "cnn"]))
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dropout",
        "Dense",
    ]
    assert model.inputs[0].shape == (None, 28, 28, 1)
    assert model.count_params() == (9 * 32 + 32) + (9 * 32 * 64 + 64) + (5 * 5 * 64 * 10 + 10)
    load_dataset = cli.load_dataset

    def small_test_set(name, model, limit=None):  # NumPy convolutions are slow: 200 test images
        (x, y), (x_test, y_test) = load_dataset(name, model, limit)
        assert x.shape[1:] == (28, 28, 1)
        return (x, y), (x_test[:200], y_test[:200])

    monkeypatch.setattr(cli, "load_dataset", small_test_set)
    status, _ = run_main("train --model cnn --epochs 1 --limit 200 --no-plot --verbose 0", tmp_path)
    assert status == 0
    rows = read_csv(tmp_path / "confusion_matrix.csv")
    assert sum(int(v) for row in rows[1:] for v in row[1:]) == 200


def _fashion_mnist_on_disk():
    """Whether fashion_mnist.load_data() finds the files without downloading."""
    folders = [Path(fashion_mnist.SYSTEM_DIR), fashion_mnist.default_cache_dir()]
    if os.environ.get("DENDRITE_DATA"):
        folders += [
            Path(os.environ["DENDRITE_DATA"]),
            Path(os.environ["DENDRITE_DATA"], "fashion-mnist"),
        ]
    return any(all((f / name).is_file() for name in fashion_mnist.FILES) for f in folders)


@pytest.mark.skipif(not _fashion_mnist_on_disk(), reason="Fashion-MNIST files not on this machine")
def test_train_fashion_mnist(tmp_path):
    status, stdout = run_main(
        "train --dataset fashion_mnist --model logistic --epochs 1 --limit 2000 "
        "--learning-rate 0.01 --no-plot --verbose 0",
        tmp_path,
    )
    assert status == 0
    assert "classes: 0 T-shirt/top, 1 Trouser" in stdout
    rows = read_csv(tmp_path / "confusion_matrix.csv")
    assert rows[0][1:] == cli.CLASS_NAMES["fashion_mnist"]
    assert sum(int(v) for row in rows[1:] for v in row[1:]) == 10000
    assert json.loads((tmp_path / "metrics.json").read_text())["test_accuracy"] > 0.6


def test_unavailable_data_set_exits_2(tmp_path, monkeypatch, capsys):
    def no_download(*args, **kwargs):
        raise OSError("Could not download train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr(fashion_mnist, "load_data", no_download)
    status = cli.main(["train", "--dataset", "fashion_mnist", "--out", str(tmp_path / "x")])
    assert status == 2  # a user error (#12)
    assert "dendrite train: error: could not load fashion_mnist: Could not download" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "x").exists()


def test_plots_skipped_with_a_notice_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_has_matplotlib", lambda: False)
    status, stdout = run_main(
        "train --model logistic --epochs 1 --limit 500 --verbose 0", tmp_path
    )
    assert status == 0
    assert "matplotlib is not installed: no plots (pip install dendrite[plot])." in stdout
    assert not list(tmp_path.glob("*.png"))
    assert "Test accuracy" in (tmp_path / "report.html").read_text()


# ---------------------------------------------------------------------------- plotting


def test_importing_dendrite_does_not_import_matplotlib():
    code = (
        "import sys, dendrite, dendrite.plotting, dendrite.cli; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_plot_history_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    from dendrite import plotting

    logs = {
        "loss": [0.9, 0.5, 0.3],
        "accuracy": [0.7, 0.85, 0.9],
        "val_loss": [0.8, 0.6, 0.5],
        "val_accuracy": [0.75, 0.8, 0.84],
    }
    figure = plotting.plot_history(logs, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert [ax.get_ylabel() for ax in figure.axes] == ["loss", "accuracy"]
    assert [len(ax.lines) for ax in figure.axes] == [2, 2]
    figure = plotting.plot_history({"loss": [1.0, 0.5]})  # no path: nothing saved
    assert len(figure.axes) == 1


def test_plot_history_takes_a_history_object(tmp_path):
    pytest.importorskip("matplotlib")
    from dendrite import plotting
    from dendrite.callbacks import History

    history = History()
    for epoch, loss in enumerate([0.4, 0.2]):
        history.on_epoch_end(epoch, {"loss": loss})
    figure = plotting.plot_history(history)
    np.testing.assert_allclose(figure.axes[0].lines[0].get_ydata(), [0.4, 0.2])
    with pytest.raises(ValueError, match="holds no per-epoch values"):
        plotting.plot_history({})
    with pytest.raises(TypeError, match="expected a History"):
        plotting.plot_history([0.4, 0.2])


def test_plot_confusion_matrix_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    from dendrite import plotting

    cm = np.array([[50, 2, 0], [3, 40, 7], [0, 1, 60]])
    figure = plotting.plot_confusion_matrix(cm, ["cat", "dog", "bird"], tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
    ax = figure.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in cm.ravel())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    with pytest.raises(ValueError, match=r"square 2-D array; got shape \(2, 3\)"):
        plotting.plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="class_names must have 3 entries"):
        plotting.plot_confusion_matrix(cm, ["a", "b"])


def test_plotting_without_matplotlib_names_the_extra(monkeypatch):
    from dendrite import plotting

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import raises ImportError
    with pytest.raises(ImportError, match=r"pip install dendrite\[plot\]"):
        plotting.plot_history({"loss": [1.0]})
