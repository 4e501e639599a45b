"""The ``dendrite`` command line: ``dendrite train`` trains a classifier on MNIST or Fashion-MNIST.

``python -m dendrite`` runs the same command. See :data:`TRAIN_DESCRIPTION`.
"""

import argparse
import csv
import json
import math
import sys
import time
from datetime import datetime
from pathlib import Path

from dendrite.datasets import fashion_mnist

TRAIN_DESCRIPTION = """\
`dendrite train` with no other argument trains a 784-256-128-10 ReLU/softmax network on the
bundled MNIST with Adam (learning rate 0.001 with cosine decay, batch 128, 10 epochs, seed 0),
prints the test accuracy and the confusion matrix, and writes into
runs/<dataset>-<model>-<timestamp>/:

- history.csv and history.json: per-epoch loss, accuracy, val_loss, val_accuracy;
- confusion_matrix.csv: counts, rows true classes, columns predicted classes;
- metrics.json: test loss and accuracy, timings, parameter count and every option;
- learning_curve.png and confusion_matrix.png when matplotlib is installed.
"""

DATASETS = ("mnist", "fashion_mnist")
MODELS = ("logistic", "mlp", "cnn")
LR_SCHEDULES = ("cosine", "constant")
CLASS_NAMES = {
    "mnist": [str(digit) for digit in range(10)],
    "fashion_mnist": list(fashion_mnist.CLASS_NAMES),
}


# ---------------------------------------------------------------------------- argument types


def _number_type(convert, accept, description):
    """An argparse type converting with ``convert`` and accepting values where ``accept`` holds."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {description}; got {text!r}")
        return value

    return parse


positive_int = _number_type(int, lambda value: value >= 1, "a positive integer")
non_negative_int = _number_type(int, lambda value: value >= 0, "a non-negative integer")
positive_float = _number_type(float, lambda value: 0 < value < float("inf"), "a positive number")


def fraction(text):
    """argparse type: a float in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1); got {text!r}")
    return value


def layer_sizes(text):
    """argparse type: comma-separated positive integers, e.g. ``256,128``; empty means none."""
    items = [item.strip() for item in text.split(",")] if text.strip() else []
    if not all(item.isdigit() and int(item) > 0 for item in items):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 256,128; got {text!r}"
        )
    return [int(item) for item in items]


def optimizer_name(text):
    """argparse type: a name :func:`dendrite.optimizers.get` accepts."""
    from dendrite import optimizers

    try:
        optimizers.get(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default (unless None or a flag's False, which the help text explains)
    and keeps the descriptions' line breaks."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


# ---------------------------------------------------------------------------- parser


def build_parser():
    """The ``dendrite`` argument parser (subcommand ``train``)."""
    from dendrite import __version__

    parser = argparse.ArgumentParser(
        prog="dendrite",
        formatter_class=_HelpFormatter,
        description="dendrite: deep learning from first principles on NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train = commands.add_parser(
        "train",
        formatter_class=_HelpFormatter,
        help="train a classifier and save its results",
        description=TRAIN_DESCRIPTION,
    )
    add = train.add_argument
    add(
        "--dataset",
        choices=DATASETS,
        default="mnist",
        help="data set: the bundled MNIST digits, or Fashion-MNIST (read from $DENDRITE_DATA, "
        "/usr/share/datasets/fashion-mnist, or downloaded once into ~/.dendrite)",
    )
    add(
        "--model",
        choices=MODELS,
        default="mlp",
        help="logistic: softmax regression Dense(10); mlp: Dense ReLU layers of --hidden sizes, "
        "then Dense(10, softmax); cnn: Conv2D(32,3)-MaxPool(2)-Conv2D(64,3)-MaxPool(2)-"
        "Flatten-Dropout(0.5)-Dense(10, softmax)",
    )
    add(
        "--hidden",
        type=layer_sizes,
        default="256,128",
        metavar="SIZES",
        help="hidden layer sizes of the mlp, comma-separated",
    )
    add(
        "--optimizer",
        type=optimizer_name,
        default="adam",
        help="optimizer name: sgd, adagrad, rmsprop, adam or adamw",
    )
    add(
        "--learning-rate",
        type=positive_float,
        default=0.001,
        metavar="LR",
        help="the optimizer's (initial) learning rate",
    )
    add(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default="cosine",
        help="cosine: decay the learning rate from LR to 0 along a half cosine over all the "
        "training steps, which settles the weights in the last epochs; constant: keep LR",
    )
    add(
        "--batch-size",
        type=positive_int,
        default=128,
        metavar="N",
        help="samples per gradient step",
    )
    add("--epochs", type=positive_int, default=10, metavar="N", help="passes over the training set")
    add(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help="BLAS threads for training and prediction; default: chosen by measurement, which "
        "keeps training fast when other programs hold the cores",
    )
    add(
        "--seed",
        type=non_negative_int,
        default=0,
        help="random seed of the initial weights, shuffling and dropout",
    )
    add(
        "--validation-split",
        type=fraction,
        default=0.1,
        metavar="FRACTION",
        help="fraction of the training set (its last samples) held out for validation; 0 for none",
    )
    add(
        "--limit",
        type=positive_int,
        default=None,
        metavar="N",
        help="train on the first N training samples only, for quick trials (default: all "
        "60000); the test set is always complete",
    )
    add(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default: runs/<dataset>-<model>-<timestamp>)",
    )
    add(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="0: results only; 1: a progress bar per epoch on a terminal (one line per epoch "
        "otherwise); 2: one line per epoch",
    )
    add(
        "--no-plot",
        action="store_true",
        help="do not draw learning_curve.png and confusion_matrix.png (drawn by default when "
        "matplotlib is installed)",
    )
    train_options = train.format_help().split("options:\n", 1)[-1]
    parser.epilog = (
        "Options of `dendrite train` (also shown by `dendrite train --help`):\n" + train_options
    )
    return parser


def parse_args(argv=None):
    """Parse ``argv`` (default ``sys.argv[1:]``); argparse exits with status 2 on bad values."""
    return build_parser().parse_args(argv)


# ---------------------------------------------------------------------------- model and data


def build_model(args, train_samples=60000):
    """The Sequential model ``args.model`` describes, compiled with ``args``'s optimizer.

    ``train_samples`` (before the validation split) sets the length of the cosine schedule.
    """
    from dendrite import optimizers
    from dendrite.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
    from dendrite.models import Sequential

    if args.model == "logistic":
        layers = [Input(shape=(784,))]
    elif args.model == "mlp":
        layers = [Input(shape=(784,)), *(Dense(units, activation="relu") for units in args.hidden)]
    else:
        layers = [
            Input(shape=(28, 28, 1)),
            Conv2D(32, 3, activation="relu"),
            MaxPooling2D(2),
            Conv2D(64, 3, activation="relu"),
            MaxPooling2D(2),
            Flatten(),
            Dropout(0.5),
        ]
    model = Sequential([*layers, Dense(10, activation="softmax")], name=args.model)
    learning_rate = args.learning_rate
    if args.lr_schedule == "cosine":
        fit_samples = int(train_samples * (1 - args.validation_split))  # as fit splits
        learning_rate = optimizers.schedules.CosineDecay(
            learning_rate, args.epochs * math.ceil(fit_samples / args.batch_size)
        )
    optimizer = type(optimizers.get(args.optimizer))(learning_rate=learning_rate)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class DataUnavailable(RuntimeError):
    """The data set could be neither found nor downloaded."""


def load_dataset(name, model, limit=None):
    """``((x, y), (x_test, y_test))`` scaled to [0, 1] float32, shaped for ``model``.

    Images are flattened to (m, 784) for the logistic and mlp models and kept as
    (m, 28, 28, 1) for the cnn; labels stay integers. ``limit`` keeps the first training samples.
    """
    from dendrite import datasets

    try:
        (x, y), (x_test, y_test) = getattr(datasets, name).load_data()
    except OSError as error:
        raise DataUnavailable(
            f"could not load {name}: {error}. Put the four IDX files in $DENDRITE_DATA "
            "(see dendrite.datasets.fashion_mnist)"
        ) from error
    if limit is not None:
        x, y = x[:limit], y[:limit]
    shape = (28, 28, 1) if model == "cnn" else (784,)
    return ((_scale(x, shape), y), (_scale(x_test, shape), y_test))


def _scale(images, shape):
    return images.reshape(len(images), *shape).astype("float32") / 255


# ---------------------------------------------------------------------------- outputs


def format_confusion_matrix(cm):
    """The matrix as aligned text, rows labelled "true" and columns "predicted"."""
    n = len(cm)
    width = max(len(str(int(cm.max()))) if cm.size else 1, len(str(n - 1))) + 2
    label_width = max(len("true"), len(str(n - 1)))
    lines = [
        " " * (label_width + 2) + "predicted",
        "true".ljust(label_width) + "  " + "".join(f"{j:>{width}}" for j in range(n)),
    ]
    for i, row in enumerate(cm):
        lines.append(f"{i:>{label_width}}  " + "".join(f"{int(c):>{width}}" for c in row))
    return "\n".join(lines)


def write_history(history, folder):
    """``history.json`` and ``history.csv``: one value per epoch for each logged quantity."""
    logs = {"epoch": [e + 1 for e in history.epoch], **history.history}
    (folder / "history.json").write_text(json.dumps(logs, indent=2) + "\n")
    with open(folder / "history.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(list(logs))
        for row in zip(*logs.values()):
            writer.writerow(row)


def write_confusion_matrix(cm, class_names, folder):
    """``confusion_matrix.csv``: a header of class names, then one row per true class."""
    with open(folder / "confusion_matrix.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["true\\predicted", *class_names])
        for name, row in zip(class_names, cm):
            writer.writerow([name, *(int(c) for c in row)])


def _has_matplotlib():
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def write_plots(history, cm, class_names, folder, print_fn):
    """Save the learning curve and the confusion-matrix heatmap, or say why not.

    Returns the names of the files written.
    """
    if not _has_matplotlib():
        print_fn("matplotlib is not installed: no plots (pip install dendrite[plot]).")
        return []
    from dendrite import plotting

    plotting.plot_history(history, folder / "learning_curve.png")
    plotting.plot_confusion_matrix(cm, class_names, folder / "confusion_matrix.png")
    return ["learning_curve.png", "confusion_matrix.png"]


def default_out(args):
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{args.dataset}-{args.model}-{stamp}"


# ---------------------------------------------------------------------------- commands


def train(args, print_fn=print):
    """Run ``dendrite train`` with parsed ``args``; returns the metrics dict it writes."""
    from dendrite import __version__, config, losses, metrics, utils

    start = time.perf_counter()
    if args.threads is not None:
        config.set_num_threads(args.threads)
    (x, y), (x_test, y_test) = load_dataset(args.dataset, args.model, args.limit)
    utils.set_random_seed(args.seed)
    model = build_model(args, len(x))
    out = args.out if args.out is not None else default_out(args)
    out.mkdir(parents=True, exist_ok=True)
    if args.verbose:
        held_out = len(x) - int(len(x) * (1 - args.validation_split))  # as fit splits
        print_fn(
            f"{args.model} ({model.count_params():,} parameters) on {args.dataset}: "
            f"{len(x) - held_out} training, {held_out} validation, {len(x_test)} test "
            f"samples; {args.optimizer} lr={args.learning_rate:g} ({args.lr_schedule}), batch "
            f"{args.batch_size}, {args.epochs} epochs, seed {args.seed}"
        )
        model.summary(print_fn=print_fn)
    fit_start = time.perf_counter()
    history = model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_split=args.validation_split,
        verbose=args.verbose,
    )
    fit_seconds = time.perf_counter() - fit_start
    # one pass over the test set gives the loss, the accuracy and the confusion matrix
    predictions = model.predict(x_test, batch_size=1024, verbose=0)
    test_loss = losses.get("sparse_categorical_crossentropy")(y_test, predictions)
    cm = metrics.confusion_matrix(y_test, predictions, num_classes=10)
    test_accuracy = cm.trace() / len(y_test)
    class_names = CLASS_NAMES[args.dataset]

    print_fn(
        f"Test accuracy: {test_accuracy:.4f} (loss {test_loss:.4f}) on {len(x_test)} "
        f"samples; training took {fit_seconds:.1f} s"
    )
    print_fn("Confusion matrix:\n" + format_confusion_matrix(cm))
    if args.dataset != "mnist":
        print_fn("classes: " + ", ".join(f"{i} {name}" for i, name in enumerate(class_names)))

    write_history(history, out)
    write_confusion_matrix(cm, class_names, out)
    written = ["history.csv", "history.json", "confusion_matrix.csv", "metrics.json"]
    if not args.no_plot:
        written += write_plots(history, cm, class_names, out, print_fn)
    results = {
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "test_samples": len(x_test),
        "epochs_run": len(history.epoch),
        "parameters": model.count_params(),
        "fit_seconds": round(fit_seconds, 3),
        "seconds": round(time.perf_counter() - start, 3),
        "dendrite_version": __version__,
        "args": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items()
        },
    }
    (out / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    print_fn(f"Results in {out}: {', '.join(written)}")
    return results


def main(argv=None):
    """Entry point of the ``dendrite`` console script; returns the exit status.

    0 on success; 2 for a bad option (argparse's message); 1 when the data set is unavailable.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        try:
            train(args)
        except DataUnavailable as error:
            print(f"dendrite train: error: {error}", file=sys.stderr)
            return 1
    return 0
