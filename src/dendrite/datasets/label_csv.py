"""Reading MNIST-style CSV files whose rows are ``label,p1,...,pn`` (e.g. ``mnist_train.csv``)."""

import os

from dendrite.backend import host as np
from dendrite.errors import arg_error


def read_label_first_csv(path, num_classes=None, skip_header="auto"):
    """Read a CSV file whose rows are ``label,p1,...,pn`` with integer values.

    This is the layout of the ``mnist_train.csv`` / ``mnist_test.csv`` files many tutorials
    read (n = 784 pixels per row). The pixels come back flat; the caller reshapes, e.g.
    ``x.reshape(-1, 28, 28)`` for images or ``x.T / 255`` for the column layout.

    Args:
        path: the CSV file, comma-separated.
        num_classes: if given, every label must be below it. Default None: labels only need
            to be integers in [0, 255].
        skip_header: True to skip the first line, False to read it as data, or "auto"
            (default) to skip it exactly when its first field is not a number.

    Returns:
        ``(x, y)``: ``x`` uint8 of shape (m, n) and ``y`` uint8 of shape (m,).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: unparsable text, rows of unequal length, no data rows, a pixel outside
            [0, 255] or not an integer, or a bad label (the message names the row and column).
    """
    name = os.fspath(path)
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
    ):
        raise arg_error(
            "read_label_first_csv", "num_classes", "None or a positive int", num_classes
        )
    if skip_header not in (True, False, "auto"):
        raise arg_error("read_label_first_csv", "skip_header", 'True, False or "auto"', skip_header)
    if skip_header == "auto":
        skip_header = _first_field_is_text(path)
    try:
        table = np.loadtxt(
            path, delimiter=",", skiprows=int(skip_header), dtype=np.float64, ndmin=2
        )
    except ValueError as error:
        raise ValueError(f"{name}: not a CSV file of numbers ({error})") from error
    if table.shape[0] == 0 or table.shape[1] < 2:
        raise ValueError(
            f"{name}: expected rows 'label,p1,...,pn' with n >= 1; got a table of shape "
            f"{table.shape}"
        )
    labels, pixels = table[:, 0], table[:, 1:]
    label_max = 255 if num_classes is None else num_classes - 1
    _check_values(name, "label", labels[:, None], label_max, first_column=0)
    _check_values(name, "pixel", pixels, 255, first_column=1)
    return pixels.astype(np.uint8), labels.astype(np.uint8)


def _first_field_is_text(path):
    with open(path, encoding="utf-8") as file:
        field = file.readline().split(",", 1)[0].strip()
    try:
        float(field)
    except ValueError:
        return True
    return False


def _check_values(name, what, values, maximum, first_column):
    """Raise a ValueError at the first value that is not an integer in [0, maximum]."""
    bad = ~((values >= 0) & (values <= maximum) & (values == np.floor(values)))
    if bad.any():
        row, column = (int(indices[0]) for indices in np.nonzero(bad))
        raise ValueError(
            f"{name}: data row {row} (0-based, header excluded), column {first_column + column}: "
            f"{what} must be an integer in [0, {maximum}]; got {values[row, column]:g}"
        )
