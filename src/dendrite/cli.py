"""The ``dendrite`` command line: ``dendrite train`` trains a classifier on MNIST or Fashion-MNIST,
``dendrite evaluate`` tests a saved model, ``dendrite predict`` classifies image files.

``python -m dendrite`` runs the same commands. See :data:`TRAIN_DESCRIPTION`,
:data:`EVALUATE_DESCRIPTION` and :data:`PREDICT_DESCRIPTION`.
"""

import argparse
import csv
import json
import math
import os
import shlex
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path

from dendrite.datasets import fashion_mnist

TRAIN_DESCRIPTION = """\
`dendrite train` with no other argument trains a 784-256-128-10 ReLU/softmax network on the
bundled MNIST with Adam (learning rate 0.001 with cosine decay, batch 128, 10 epochs, seed 0),
prints the test accuracy and the confusion matrix, and writes into
runs/<dataset>-<model>-<timestamp>/:

- model.keras: the trained model (for `dendrite evaluate` and `dendrite predict`);
- report.html: one self-contained page with the options, the model, the results and the
  pictures below (open it in a browser);
- history.csv and history.json: per-epoch loss, accuracy, val_loss, val_accuracy;
- confusion_matrix.csv: counts, rows true classes, columns predicted classes;
- metrics.json: test loss and accuracy, timings, parameter count and every option;
- with matplotlib: learning_curve.png, confusion_matrix.png, mistakes.png (the most confident
  mistakes on the test set), and first_layer.png (the first Dense layer's weights as images)
  or, for the cnn, filters.png and feature_maps.png (the first convolution's kernels and its
  output for the first test image).

Ctrl-C stops after the current batch and still writes all of it for what was trained
(exit status 130); a second Ctrl-C stops at once.
"""

EVALUATE_DESCRIPTION = """\
`dendrite evaluate RUN_OR_MODEL` loads a saved model (a run folder of `dendrite train` or a
.keras file), runs it on the test set of the data set it was trained on, and prints the test
loss, the accuracy and the confusion matrix.
"""

PREDICT_DESCRIPTION = """\
`dendrite predict MODEL IMAGE...` classifies your own images with a saved model and prints the
most probable classes. Each image (any size, colour or grey) is converted the way the training
data was: grey, inverted when its background is light (MNIST digits are white on black), cropped
to the drawing, scaled to fit 20x20 (MNIST) or 28x28 (Fashion-MNIST) pixels, centred on a 28x28
canvas, and scaled to [0, 1].
"""

DATASETS = ("mnist", "fashion_mnist")
MODELS = ("logistic", "mlp", "cnn")
LR_SCHEDULES = ("cosine", "constant")
CLASS_NAMES = {
    "mnist": [str(digit) for digit in range(10)],
    "fashion_mnist": list(fashion_mnist.CLASS_NAMES),
}
DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


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


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors suggest the nearest valid command, choice or option."""

    def error(self, message):
        hint = _suggestion(self, message)
        super().error(message + (f"; did you mean {hint}?" if hint else ""))


def _all_options(parser):
    """Option strings of ``parser`` and of its subcommands."""
    options = {o for action in parser._actions for o in action.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options |= _all_options(sub)
    return options


def _suggestion(parser, message):
    """The nearest valid word for the bad one in an argparse error ``message``, or None."""
    import difflib
    import re

    choice = re.search(r"invalid choice: '?([^'\s]+)'? \(choose from (.*)\)", message)
    if choice:
        valid = [c.strip(" '") for c in choice.group(2).split(",")]
        words, bad = valid, choice.group(1)
    else:
        unknown = re.search(r"unrecognized arguments: (\S+)", message)
        if not unknown:
            return None
        words, bad = sorted(_all_options(parser)), unknown.group(1).split("=")[0]
    close = difflib.get_close_matches(bad, words, n=1, cutoff=0.6)
    return repr(close[0]) if close else None



def build_parser():
    """The ``dendrite`` argument parser (subcommands ``train``, ``evaluate``, ``predict``)."""
    from dendrite import __version__

    parser = _Parser(
        prog="dendrite",
        formatter_class=_HelpFormatter,
        description="dendrite: deep learning from first principles on NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
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
    evaluate = commands.add_parser(
        "evaluate",
        formatter_class=_HelpFormatter,
        help="test a saved model: accuracy and confusion matrix",
        description=EVALUATE_DESCRIPTION,
    )
    evaluate.add_argument(
        "path",
        type=Path,
        metavar="RUN_OR_MODEL",
        help="a run folder of `dendrite train` (its model.keras) or a .keras file",
    )
    evaluate.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="test set to use (default: the run's data set from its metrics.json, else mnist)",
    )
    predict = commands.add_parser(
        "predict",
        formatter_class=_HelpFormatter,
        help="classify your own image files with a saved model",
        description=PREDICT_DESCRIPTION,
    )
    predict.add_argument(
        "path",
        type=Path,
        metavar="MODEL",
        help="a run folder of `dendrite train` (its model.keras) or a .keras file",
    )
    predict.add_argument(
        "images", type=Path, nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)"
    )
    predict.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="what the model was trained on, for class names and the image conversion "
        "(default: the run's data set from its metrics.json, else mnist)",
    )
    predict.add_argument(
        "--top", type=positive_int, default=3, metavar="K", help="how many classes to print"
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


class UsageError(Exception):
    """A user error (an unusable option value, an unwritable folder, missing data): the command
    exits with status 2 and this one-line message on stderr, without a traceback."""


class DataUnavailable(UsageError):
    """The data set could be neither found nor downloaded, or a data file is damaged."""


def check_out(out):
    """Check, before the data set loads, that the output folder ``out`` can be created.

    So that a bad ``--out`` fails in a second, not after training. Nothing is created here.
    Raises :class:`UsageError` naming the folder and the reason.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"--out {out}: cannot create it, {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: cannot write into {existing} (permission denied or "
                         "read-only)")


def make_out(out):
    """Create ``out`` (checked by :func:`check_out`); a failure is a :class:`UsageError`."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {out}: cannot create it ({error.strerror or error})") from None


def check_training_size(args, samples):
    """Refuse a ``--limit`` that leaves no training or no validation sample, or no schedule step."""
    fit_samples = int(samples * (1 - args.validation_split))  # as fit splits
    held_out = samples - fit_samples
    if fit_samples < 1 or (args.validation_split and held_out < 1):
        part = "training" if fit_samples < 1 else "validation"
        raise UsageError(
            f"--limit {samples} with --validation-split {args.validation_split:g} leaves 0 "
            f"{part} samples; use a larger --limit or a different split"
        )


def strict_json(value):
    """``value`` with every NaN or infinity replaced by None, so ``json.dumps`` writes strict
    JSON (``null``), never the bare ``NaN`` most JSON parsers refuse."""
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def load_dataset(name, model, limit=None):
    """``((x, y), (x_test, y_test))`` scaled to [0, 1] float32, shaped for ``model``.

    Images are flattened to (m, 784) for the logistic and mlp models and kept as
    (m, 28, 28, 1) for the cnn; labels stay integers. ``limit`` keeps the first training samples.
    """
    from dendrite import datasets

    try:
        (x, y), (x_test, y_test) = getattr(datasets, name).load_data()
    except ValueError as error:  # a damaged data file (hash mismatch, bad IDX data)
        raise DataUnavailable(f"could not load {name}: {error}") from error
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
    text = json.dumps(strict_json(logs), indent=2, allow_nan=False)
    (folder / "history.json").write_text(text + "\n")
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


def default_out(args):
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{args.dataset}-{args.model}-{stamp}"


# ---------------------------------------------------------------------------- Ctrl-C


def _progress_tracker():
    """A callback recording where training is: ``epoch`` (from 1), ``batch`` (batches finished
    in that epoch) and ``finished`` (``on_train_end`` ran, so ``fit`` was not interrupted)."""
    from dendrite.callbacks import Callback

    class ProgressTracker(Callback):
        epoch, batch, finished = 1, 0, False

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.batch = epoch + 1, 0

        def on_train_batch_end(self, batch, logs=None):
            self.batch = batch + 1

        def on_train_end(self, logs=None):
            self.finished = True

    return ProgressTracker()


# ---------------------------------------------------------------------------- commands


def _first_layer(model, kind):
    return next((layer for layer in model.layers if type(layer).__name__ == kind), None)


PICTURES = {
    "learning_curve.png": (
        "Learning curves",
        ("Loss and accuracy after each epoch: on the training data (averaged over the epoch's "
         "batches while the weights changed) and on the held-out validation data."),
    ),
    "confusion_matrix.png": (
        "Confusion matrix",
        ("Rows are the true classes, columns the predictions; each cell counts test images. "
        "Blue: correct; red: the errors, darker for the most frequent."),
    ),
    "mistakes.png": (
        "Mistakes",
        "Test images the model got wrong, those it was most sure about first.",
    ),
    "filters.png": (
        "First-layer filters",
        ("The 3x3 kernels of the first convolution: each slides over the image and responds "
        "where the pixels match its pattern (red +, blue -)."),
    ),
    "feature_maps.png": (
        "Feature maps",
        ("The first convolution's output for the first test image: one map per filter, bright "
        "where its pattern was found (each map on its own colour scale)."),
    ),
    "first_layer.png": (
        "First-layer weights",
        ("The weights from the 784 pixels into each unit of the first Dense layer, drawn as "
        "images: red pixels raise the unit, blue ones lower it."),
    ),
}
"""Heading and caption in the report of each picture ``dendrite train`` draws."""


def write_pictures(model, history, cm, class_names, test, predictions, dataset, folder):
    """Draw the run's pictures into ``folder``; returns their file names (keys of PICTURES)."""
    from dendrite import plotting

    x_test, y_test = test
    names = []
    if history.epoch:
        plotting.plot_history(history, folder / "learning_curve.png")
        names.append("learning_curve.png")
    plotting.plot_confusion_matrix(cm, class_names, folder / "confusion_matrix.png",
                                   title=f"{DATASET_TITLES[dataset]} test set")
    plotting.plot_mistakes(x_test, y_test, predictions, class_names, path=folder / "mistakes.png")
    names += ["confusion_matrix.png", "mistakes.png"]
    conv = _first_layer(model, "Conv2D")
    dense = _first_layer(model, "Dense")
    if conv is not None:
        plotting.plot_filters(conv, path=folder / "filters.png")
        plotting.plot_feature_maps(model, x_test[0], conv, path=folder / "feature_maps.png")
        names += ["filters.png", "feature_maps.png"]
    elif dense is not None:
        units = class_names if dense.units == len(class_names) else None
        plotting.plot_dense_weights(dense, class_names=units, path=folder / "first_layer.png")
        names.append("first_layer.png")
    return names


def write_run_report(folder, command, args, results, summary, cm, pictures, interrupted):
    """``report.html``: the options, the results, the pictures and the model in one page."""
    from dendrite import report

    accuracy = results["test_accuracy"]
    headline = (f"Test accuracy <b>{100 * accuracy:.2f} %</b> ({int(cm.trace()):,} of "
                f"{int(cm.sum()):,} test images), test loss {results['test_loss']:.4f}.")
    if interrupted:
        headline += f" Training was interrupted at {interrupted}."
    metrics = {
        "test accuracy": f"{100 * accuracy:.2f} %",
        "test loss": f"{results['test_loss']:.4f}",
        "epochs trained": results["epochs_run"],
        "parameters": f"{results['parameters']:,}",
        "training time": f"{results['fit_seconds']:.1f} s",
        "dendrite version": results["dendrite_version"],
    }
    report.write_report(
        folder / "report.html",
        f"dendrite: {args.model} on {DATASET_TITLES[args.dataset]}",
        command=command,
        headline=headline,
        metrics=metrics,
        options=results["args"],
        summary=summary,
        figures=[(*PICTURES[name][:1], folder / name, PICTURES[name][1]) for name in pictures],
        text_sections=[("Confusion matrix (counts)", format_confusion_matrix(cm))],
    )


def save_model(model, folder, print_fn):
    """Save ``model.keras`` into ``folder`` where the model can be saved; returns the names."""
    if not hasattr(model, "save"):
        return []
    try:
        model.save(folder / "model.keras")
    except ImportError as error:
        print_fn(f"model not saved: {error}")
        return []
    return ["model.keras"]


def train(args, print_fn=print, command=None, callbacks=()):
    """Run ``dendrite train`` with parsed ``args``; returns the metrics dict it writes.

    ``command`` is the command line shown in the report; ``callbacks`` are passed to ``fit``.
    After a Ctrl-C (fit stops after the current batch) everything is still written, and the
    metrics carry ``interrupted``: the epoch (from 1) and the batches finished in it.
    """
    from dendrite import __version__, config, losses, metrics, utils

    start = time.perf_counter()
    if args.threads is not None:
        config.set_num_threads(args.threads)
    out = args.out if args.out is not None else default_out(args)
    check_out(out)
    (x, y), (x_test, y_test) = load_dataset(args.dataset, args.model, args.limit)
    check_training_size(args, len(x))
    utils.set_random_seed(args.seed)
    model = build_model(args, len(x))
    make_out(out)
    summary_lines = []
    model.summary(print_fn=summary_lines.append)
    summary = "\n".join(summary_lines)
    if args.verbose:
        held_out = len(x) - int(len(x) * (1 - args.validation_split))  # as fit splits
        print_fn(
            f"{args.model} ({model.count_params():,} parameters) on {args.dataset}: "
            f"{len(x) - held_out} training, {held_out} validation, {len(x_test)} test "
            f"samples; {args.optimizer} lr={args.learning_rate:g} ({args.lr_schedule}), batch "
            f"{args.batch_size}, {args.epochs} epochs, seed {args.seed}"
        )
        print_fn(summary)
    fit_start = time.perf_counter()
    tracker = _progress_tracker()
    # fit stops after the current batch on Ctrl-C and returns what it has (a second Ctrl-C stops
    # at once); this command reports it itself rather than through fit's warning
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="fit was interrupted")
        try:
            history = model.fit(
                x,
                y,
                batch_size=args.batch_size,
                epochs=args.epochs,
                validation_split=args.validation_split,
                verbose=args.verbose,
                callbacks=[*callbacks, tracker],
            )
        except KeyboardInterrupt:
            history = model.history
    interrupted = None
    if not tracker.finished:
        interrupted = f"epoch {tracker.epoch}, batch {tracker.batch}"
        print_fn(f"\ninterrupted at {interrupted}; saving what was trained")
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
    written = save_model(model, out, print_fn)
    written += ["history.csv", "history.json", "confusion_matrix.csv", "metrics.json"]
    pictures = []
    if args.no_plot:
        pass
    elif _has_matplotlib():
        pictures = write_pictures(model, history, cm, class_names, (x_test, y_test),
                                  predictions, args.dataset, out)
        written += pictures
    else:
        print_fn("matplotlib is not installed: no plots (pip install dendrite[plot]).")
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
    if interrupted:
        results["interrupted"] = {"epoch": tracker.epoch, "batch": tracker.batch}
    (out / "metrics.json").write_text(
        json.dumps(strict_json(results), indent=2, allow_nan=False) + "\n")
    write_run_report(out, command or "dendrite train", args, results, summary, cm, pictures,
                     interrupted)
    written.append("report.html")
    if "model.keras" in written:
        print_fn(f"Model saved to {out / 'model.keras'}")
    print_fn(f"Results in {out}: {', '.join(written)}")
    print_fn(f"Open the report: {(out / 'report.html').resolve().as_uri()}")
    return results


class CommandError(Exception):
    """A user error of ``evaluate`` or ``predict`` (a missing file, an unreadable model)."""


def locate_model(path):
    """``(model file, data set or None)`` for a run folder or a ``.keras`` file.

    The data set comes from the run's ``metrics.json`` (next to the model) when there is one.
    """
    path = Path(path)
    model_file = path / "model.keras" if path.is_dir() else path
    if not model_file.is_file():
        where = f"no model.keras in the folder {path}" if path.is_dir() else f"no file {path}"
        raise CommandError(f"{where}; give a run folder of `dendrite train` or a .keras file")
    dataset = None
    metrics_file = model_file.parent / "metrics.json"
    if metrics_file.is_file():
        try:
            dataset = json.loads(metrics_file.read_text())["args"]["dataset"]
        except (ValueError, KeyError, TypeError):
            dataset = None
    return model_file, dataset if dataset in DATASETS else None


def load_saved_model(path):
    """The model saved at ``path`` (run folder or .keras file) and its data set name or None."""
    model_file, dataset = locate_model(path)
    from dendrite import models

    try:
        model = models.load_model(model_file)
    except (OSError, ValueError) as error:
        raise CommandError(f"could not load the model {model_file}: {error}") from error
    return model, dataset


def _input_shape(model):
    """The shape of one input of ``model``: (784,) or (28, 28, 1), the data sets' images."""
    shape = tuple(model.inputs[0].shape[1:])
    if shape not in ((784,), (28, 28, 1)):
        raise CommandError(f"the model takes inputs of shape {shape}; `dendrite evaluate` and "
                           "`dendrite predict` work with models of 28x28 grey images, whose input "
                           "is (784,) or (28, 28, 1)")
    return shape


def evaluate_model(model, dataset, print_fn=print):
    """Print the test loss, accuracy and confusion matrix of ``model`` on ``dataset``'s test set.

    Returns ``{"test_loss", "test_accuracy", "confusion_matrix"}``.
    """
    from dendrite import losses, metrics

    kind = "cnn" if len(_input_shape(model)) == 3 else "mlp"
    _, (x_test, y_test) = load_dataset(dataset, kind, limit=1)
    predictions = model.predict(x_test, batch_size=1024, verbose=0)
    test_loss = float(losses.get("sparse_categorical_crossentropy")(y_test, predictions))
    cm = metrics.confusion_matrix(y_test, predictions, num_classes=len(CLASS_NAMES[dataset]))
    accuracy = float(cm.trace() / len(y_test))
    print_fn(f"Test accuracy: {accuracy:.4f} (loss {test_loss:.4f}) on {len(x_test)} "
             f"{dataset} test samples")
    print_fn("Confusion matrix:\n" + format_confusion_matrix(cm))
    if dataset != "mnist":
        print_fn("classes: " + ", ".join(f"{i} {n}" for i, n in enumerate(CLASS_NAMES[dataset])))
    return {"test_loss": test_loss, "test_accuracy": accuracy, "confusion_matrix": cm}


def prepare_image(path, dataset="mnist"):
    """An image file converted the way ``dataset``'s images were made: (28, 28) float32 in [0, 1].

    Grey; inverted when the background (the border's median) is light, since the data sets draw
    light strokes on black; the background level subtracted and the contrast stretched; cropped
    to the drawing; resized to fit 20x20 (MNIST) or 28x28 (Fashion-MNIST) keeping the aspect
    ratio; pasted centred (MNIST: on the centre of mass) on a black 28x28 canvas.

    Raises:
        CommandError: the file is missing, not an image, or Pillow is not installed.
    """
    from dendrite.backend import host as np

    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError as error:
        raise CommandError("reading images needs Pillow: pip install dendrite[images]") from error
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                # transparent pixels are background: put the drawing on white
                rgba = image.convert("RGBA")
                canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                image = Image.alpha_composite(canvas, rgba)
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float grey
                grey = np.asarray(image, dtype="float32")
                grey = 255 * (grey - grey.min()) / max(float(grey.max() - grey.min()), 1e-12)
            else:
                grey = np.asarray(image.convert("L"), dtype="float32")
    except FileNotFoundError:
        raise CommandError(f"no image file {path}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise CommandError(f"{path} is not an image Pillow can read ({error})") from None
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > 127:
        grey, border = 255 - grey, 255 - border
    background = float(np.median(border))
    grey = np.clip(grey - background, 0, None)
    if grey.max() == 0:
        return np.zeros((28, 28), dtype="float32")
    grey = grey / grey.max()
    rows = np.flatnonzero((grey > 0.2).any(axis=1))
    columns = np.flatnonzero((grey > 0.2).any(axis=0))
    grey = grey[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
    box = 20 if dataset == "mnist" else 28
    height, width = grey.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray((grey * 255).astype("uint8")).resize(size, Image.Resampling.LANCZOS)
    small = np.asarray(small, dtype="float32") / 255
    if dataset == "mnist":  # centre of mass at the centre, as MNIST was made
        ys, xs = np.indices(small.shape)
        mass = small.sum()
        top = round(14 - (ys * small).sum() / mass)
        left = round(14 - (xs * small).sum() / mass)
    else:
        top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    top = min(max(top, 0), 28 - small.shape[0])
    left = min(max(left, 0), 28 - small.shape[1])
    canvas = np.zeros((28, 28), dtype="float32")
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    return canvas


def predict_images(model, paths, dataset="mnist", top=3, print_fn=print):
    """Print the ``top`` classes and probabilities for each image file; returns the probabilities.

    Returns an array (len(paths), num_classes).
    """
    from dendrite.backend import host as np

    shape = _input_shape(model)
    images = np.stack([prepare_image(path, dataset) for path in paths])
    probabilities = np.asarray(model.predict(images.reshape(len(images), *shape), verbose=0))
    names = CLASS_NAMES[dataset]
    width = max(len(str(path)) for path in paths)
    for path, row in zip(paths, probabilities):
        best = np.argsort(-row, kind="stable")[:top]
        ranked = ", ".join(f"{names[k]} ({100 * row[k]:.1f} %)" for k in best)
        print_fn(f"{path!s:<{width}}  {ranked}")
    return probabilities


def _one_line(error):
    return " ".join(str(error).split())


def main(argv=None):
    """Entry point of the ``dendrite`` console script; returns the exit status.

    0 on success or when run without a command (it prints the help); 2 for a user error, with
    one line on stderr: a bad option (argparse's message, with the nearest valid one), an
    unwritable ``--out``, a ``--limit`` that leaves no training or validation sample, a missing or
    damaged data set; 1 when the model or an image is unavailable, or when training diverged (the
    loss or the weights became NaN or infinite); 130 when Ctrl-C interrupted training (after
    writing the results).
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "train":
            results = train(args, command=shlex.join(["dendrite", *argv]))
            return 130 if "interrupted" in results else 0
        model, saved_dataset = load_saved_model(args.path)
        dataset = args.dataset or saved_dataset or "mnist"
        if args.command == "evaluate":
            evaluate_model(model, dataset)
        else:
            predict_images(model, args.images, dataset, args.top)
    except UsageError as error:
        print(f"dendrite {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except CommandError as error:
        print(f"dendrite {args.command}: error: {error}", file=sys.stderr)
        return 1
    except FloatingPointError as error:  # the loss or the weights became NaN/inf
        print(f"dendrite {args.command}: training diverged: {_one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dendrite {args.command}: stopped by Ctrl-C", file=sys.stderr)
        return 130
    return 0
