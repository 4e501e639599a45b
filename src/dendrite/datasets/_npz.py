"""Reading the ``x_train, y_train, x_test, y_test`` layout of Keras's ``mnist.npz``."""

import math
import os
import zipfile
from pathlib import Path

from dendrite.backend import host as np
from dendrite.datasets._integrity import verify_sha256
from dendrite.datasets.idx import MAX_DEFLATE_RATIO

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
        check_npz_sizes(path)
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


def check_npz_sizes(path):
    """Refuse an ``.npz`` whose arrays declare more bytes than its members can hold.

    ``np.load`` allocates each array at the size its header declares before reading it, so a
    small crafted file could make it allocate gigabytes; this reads only the headers and the zip
    directory. A member's uncompressed size must be within deflate's largest expansion of its
    compressed size, and each array's declared bytes within its member's uncompressed size.

    Raises:
        ValueError: naming the member, the declared and the available bytes.
    """
    from numpy.lib import format as npy_format

    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            limit = info.compress_size if info.compress_type == zipfile.ZIP_STORED else (
                MAX_DEFLATE_RATIO * info.compress_size + 1024)
            if info.file_size > limit:
                raise ValueError(f"member {info.filename} declares {info.file_size} bytes, more "
                                 f"than its {info.compress_size} compressed bytes can hold")
            with archive.open(info) as member:
                version = npy_format.read_magic(member)
                read_header = (npy_format.read_array_header_1_0 if version == (1, 0)
                               else npy_format.read_array_header_2_0)
                shape, _, dtype = read_header(member)
            declared = math.prod(shape) * dtype.itemsize
            if declared > info.file_size:
                raise ValueError(f"array {info.filename} declares shape {shape} of {dtype} "
                                 f"({declared} bytes) but its member holds {info.file_size} bytes")
