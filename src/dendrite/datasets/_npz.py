"""Reading the ``x_train, y_train, x_test, y_test`` layout of Keras's ``mnist.npz``."""

import os
import zipfile
from pathlib import Path

from dendrite.backend import host as np
from dendrite.datasets._integrity import verify_sha256

_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_xy_npz(path, sample_shape, sha256=None, hint=""):
    """Load the four uint8 arrays of a Keras-layout ``.npz`` file, checking keys, dtypes, shapes.

    Args:
        path: the ``.npz`` file, holding ``x_train``, ``y_train``, ``x_test`` and ``y_test``.
        sample_shape: shape of one example, e.g. ``(28, 28)``.
        sha256: expected SHA256 of the file; None skips the hash check.
        hint: sentence appended to a hash-mismatch message.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``, uint8, ``x`` of shape
        ``(m, *sample_shape)`` and ``y`` of shape ``(m,)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: hash mismatch, unreadable file, or missing key / wrong dtype or shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such .npz file: {os.fspath(path)}")
    if sha256 is not None:
        verify_sha256(path, sha256, hint)
    try:
        archive = np.load(path, allow_pickle=False)
        if not hasattr(archive, "files"):
            raise ValueError("it holds a single array (.npy), not named arrays")
        with archive:
            found = list(archive.files)
            arrays = {key: archive[key] for key in _KEYS if key in found}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ValueError(f"{os.fspath(path)} is not a readable .npz file: {error}") from error
    missing = [key for key in _KEYS if key not in arrays]
    if missing:
        raise ValueError(
            f"{os.fspath(path)}: expected arrays {list(_KEYS)}; missing {missing}, found {found}"
        )
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        _check(path, f"x_{split}", x, (len(x), *sample_shape))
        _check(path, f"y_{split}", y, (len(x),))
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _check(path, key, array, shape):
    if array.dtype != np.uint8 or array.shape != tuple(shape):
        raise ValueError(
            f"{os.fspath(path)}: expected {key} of dtype uint8 and shape {tuple(shape)}; "
            f"got dtype {array.dtype} and shape {array.shape}"
        )
