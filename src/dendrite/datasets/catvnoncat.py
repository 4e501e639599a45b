"""The "cat vs non-cat" images of the deep-learning course tutorials, shipped with dendrite.

209 training and 50 test RGB images of 64 x 64 pixels, labelled 1 (cat; 72 in train, 33 in
test) or 0 (non-cat). The bundled ``data/catvnoncat.npz`` holds the same arrays as the course's
``train_catvnoncat.h5`` and ``test_catvnoncat.h5``; its SHA256 is checked on the first load in
each process. :func:`load_h5` reads the course's original files.
"""

import os
from pathlib import Path

from dendrite.backend import host as np
from dendrite.datasets._npz import load_xy_npz

DATA_PATH = Path(__file__).parent / "data" / "catvnoncat.npz"
SHA256 = "b850dc88420912dfb7f049302a94aa4acb819c47c890a2a4f26396bee84a91e1"
CLASSES = (b"non-cat", b"cat")


def load_data():
    """Load the bundled cat / non-cat data set.

    Returns:
        ``((x_train, y_train), (x_test, y_test), classes)``:

        - ``x_train``: uint8 (209, 64, 64, 3), RGB pixels in [0, 255].
        - ``y_train``: uint8 (209,), 1 for cat, 0 for non-cat.
        - ``x_test``: uint8 (50, 64, 64, 3).
        - ``y_test``: uint8 (50,).
        - ``classes``: ``np.array([b'non-cat', b'cat'])`` (dtype ``|S7``), the course's
          ``list_classes``, so ``classes[y]`` names a label.

        The course's h5 files store the labels as int64; here they are uint8 (same values).

    Raises:
        ValueError: the bundled file's SHA256 does not match (the message names the file and
            both hashes).
    """
    hint = " The bundled data file is damaged; reinstall dendrite."
    train, test = load_xy_npz(DATA_PATH, (64, 64, 3), sha256=SHA256, hint=hint)
    return train, test, np.array(CLASSES)


def load_h5(train_path, test_path):
    """Read the course's ``train_catvnoncat.h5`` and ``test_catvnoncat.h5`` (needs h5py).

    Args:
        train_path: file with ``train_set_x`` (m, h, w, 3) and ``train_set_y`` (m,).
        test_path: file with ``test_set_x``, ``test_set_y`` and ``list_classes``.

    Returns:
        The structure of :func:`load_data`: ``((x_train, y_train), (x_test, y_test), classes)``,
        images as stored (uint8), labels converted from the files' int64 to uint8 after checking
        that they are 0 or 1, and ``classes`` as stored in the test file (the course's loader
        reads it from there too).

    Raises:
        ImportError: h5py is not installed.
        FileNotFoundError: a file does not exist.
        ValueError: a dataset is missing, or the images and labels disagree.
    """
    try:
        import h5py
    except ImportError as error:
        raise ImportError(
            "catvnoncat.load_h5 needs h5py: pip install h5py (or pip install dendrite[h5])"
        ) from error
    x_train, y_train, _ = _read_h5(h5py, train_path, "train")
    x_test, y_test, classes = _read_h5(h5py, test_path, "test")
    return (x_train, y_train), (x_test, y_test), classes


def _read_h5(h5py, path, split):
    if not Path(path).is_file():
        raise FileNotFoundError(f"No such h5 file: {os.fspath(path)}")
    with h5py.File(path, "r") as file:
        keys = (f"{split}_set_x", f"{split}_set_y", "list_classes")
        missing = [key for key in keys if key not in file]
        if missing:
            raise ValueError(
                f"{os.fspath(path)}: expected datasets {list(keys)}; missing {missing}, "
                f"found {sorted(file.keys())}"
            )
        x, y, classes = (file[key][()] for key in keys)
    if x.ndim != 4 or x.shape[-1] != 3 or y.shape != (len(x),):
        raise ValueError(
            f"{os.fspath(path)}: expected {keys[0]} of shape (m, height, width, 3) and {keys[1]} "
            f"of shape (m,); got {x.shape} and {y.shape}"
        )
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{os.fspath(path)}: {keys[1]} must hold only 0 and 1; got {np.unique(y)}")
    return x, y.astype(np.uint8), classes
