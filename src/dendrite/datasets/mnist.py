"""MNIST handwritten digits, shipped with dendrite: no download, works offline.

The bundled ``data/mnist.npz`` holds the standard 60,000/10,000 split in the original order with
the keys, dtypes and shapes of Keras's ``mnist.npz``. Its SHA256 is checked on the first load in
each process. Source: Y. LeCun, C. Cortes, C. Burges, the MNIST database (CC BY-SA 3.0).
"""

from pathlib import Path

from dendrite.datasets._npz import load_xy_npz

DATA_PATH = Path(__file__).parent / "data" / "mnist.npz"
SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"


def load_data(path=None):
    """Load the MNIST data set (Keras's ``keras.datasets.mnist.load_data``).

    Args:
        path: None (default) loads the copy bundled with dendrite, after checking its SHA256.
            Otherwise the path of another ``.npz`` file in Keras's layout (for example the
            ``mnist.npz`` Keras downloads); it is read without a hash check but its keys, dtypes
            and shapes are checked. Unlike Keras, a relative path is taken from the current
            folder, not from a cache folder.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``, all uint8:

        - ``x_train``: (60000, 28, 28) grayscale pixels in [0, 255].
        - ``y_train``: (60000,) digit labels in [0, 9].
        - ``x_test``: (10000, 28, 28).
        - ``y_test``: (10000,).

    Raises:
        ValueError: the bundled file's SHA256 does not match (the message names the file and
            both hashes), or the file lacks a key or has the wrong dtype or shape.
        FileNotFoundError: ``path`` does not exist.
    """
    if path is None:
        hint = " The bundled data file is damaged; reinstall dendrite."
        return load_xy_npz(DATA_PATH, (28, 28), sha256=SHA256, hint=hint)
    return load_xy_npz(path, (28, 28))
