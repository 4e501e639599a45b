"""Image folders and image arrays as the tutorials use them.

:func:`load_image_folder` turns a folder of image files into an array of examples, labelling
each file by its name (:func:`prefix_label`); :func:`flatten_images` turns image arrays into
the column layout ``(n_x, m)`` of the tutorial API.
"""

import os
import warnings
from pathlib import Path

from dendrite.backend import host as np
from dendrite.errors import arg_error


class _PrefixLabel:
    """Callable ``filename -> 1 if the base name starts with prefix else 0``."""

    def __init__(self, prefix):
        self.prefix = prefix

    def __call__(self, filename):
        return int(os.path.basename(os.fspath(filename)).startswith(self.prefix))

    def __repr__(self):
        return f"prefix_label({self.prefix!r})"


def prefix_label(prefix):
    """Return a labeller for :func:`load_image_folder`: 1 if a file's base name starts with
    ``prefix``.

    Only the start of the base name counts, so ``noncat.0001.png`` is 0 for the prefix "cat".

    Args:
        prefix: non-empty string.

    Returns:
        A callable ``f(filename) -> int`` (1 or 0); ``filename`` may be a path.

    Example:
        >>> label = prefix_label("cat")
        >>> label("cat.0003.png"), label("noncat.0001.png"), label("images/cat.7.jpg")
        (1, 0, 1)
    """
    if not isinstance(prefix, str) or not prefix:
        raise arg_error("prefix_label", "prefix", "a non-empty string", prefix)
    return _PrefixLabel(prefix)


CAT_LABEL = prefix_label("cat")
"""The default labeller of :func:`load_image_folder`: 1 for file names starting with "cat"."""


def load_image_folder(path, size=(64, 64), label=CAT_LABEL, skip_invalid=False):
    """Load every image file directly inside a folder, as the first tutorial's data loader.

    The folder is not searched recursively: subfolders and hidden files (names starting
    with ".") are ignored; every other file must be an image Pillow can read. Files are taken
    in order of their names, so the result does not depend on the file system. Each image is
    converted to RGB and, when its size differs from ``size``, resized with Pillow's default
    filter (bicubic).

    Args:
        path: the folder.
        size: ``(height, width)`` of the output images. Default (64, 64). (Pillow's
            ``Image.resize`` takes ``(width, height)``; this function converts.)
        label: callable from a file name (the base name, a str) to an int label. Default
            ``prefix_label("cat")``: 1 for names starting with "cat", else 0.
        skip_invalid: if True, a file that is not a readable image is skipped with a warning
            naming it; if False (default), it raises ValueError.

    Returns:
        ``(x, y)``: ``x`` uint8 of shape (m, height, width, 3), ``y`` int64 of shape (m,),
        row ``i`` of both from the ``i``-th file by name.

    Raises:
        ImportError: Pillow is not installed.
        FileNotFoundError: ``path`` does not exist.
        NotADirectoryError: ``path`` is not a folder.
        ValueError: a file is not a readable image (unless ``skip_invalid``), the folder holds
            no images, or a bad ``size`` / ``label`` argument.
        TypeError: ``label`` returned something other than an int.
    """
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            "load_image_folder needs Pillow: pip install Pillow (or pip install dendrite[images])"
        ) from error
    if not (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size)
    ):
        raise arg_error(
            "load_image_folder", "size", "a pair of positive ints (height, width)", size
        )
    if not callable(label):
        raise arg_error("load_image_folder", "label", "a callable from file name to int", label)
    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"load_image_folder: no such folder: {os.fspath(folder)}")
    if not folder.is_dir():
        raise NotADirectoryError(f"load_image_folder: not a folder: {os.fspath(folder)}")
    files = sorted(
        (entry for entry in folder.iterdir() if entry.is_file() and not entry.name.startswith(".")),
        key=lambda entry: entry.name,
    )
    height, width = size
    images, labels = [], []
    for file in files:
        try:
            with Image.open(file) as opened:
                image = opened.convert("RGB")
            if image.size != (width, height):
                image = image.resize((width, height))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            if not skip_invalid:
                raise ValueError(
                    f"load_image_folder: {file} is not a readable image ({error})"
                ) from error
            warnings.warn(
                f"load_image_folder: skipping {file}: not a readable image ({error})", stacklevel=2
            )
            continue
        images.append(np.asarray(image, dtype=np.uint8))
        labels.append(_label_of(label, file.name))
    if not images:
        raise ValueError(f"load_image_folder: no image files in {os.fspath(folder)}")
    return np.stack(images), np.array(labels, dtype=np.int64)


def _label_of(label, name):
    value = label(name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"load_image_folder: label({name!r}) must return an int; got {value!r}")
    return int(value)


def flatten_images(x):
    """Flatten images into the column layout: ``(m, h, w, c) -> (h * w * c, m)``.

    Exactly the tutorials' ``x.reshape(x.shape[0], -1).T`` (a view when possible; the caller
    divides by 255). Column ``i`` is example ``i`` with its values in C order (row, column,
    channel).

    Args:
        x: array of shape (m, ...) with ndim >= 2, e.g. (m, height, width, channels).

    Returns:
        Array of shape (prod(x.shape[1:]), m), same dtype.

    Example:
        >>> flatten_images(np.arange(12).reshape(2, 3, 2)).shape
        (6, 2)
    """
    if getattr(x, "ndim", 0) < 2:
        received = f"shape {x.shape}" if hasattr(x, "shape") else type(x).__name__
        raise ValueError(
            f"flatten_images: x must be an array of ndim >= 2, shape (m, ...); got {received}"
        )
    return x.reshape(x.shape[0], int(np.prod(x.shape[1:]))).T
