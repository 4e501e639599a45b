"""Fashion-MNIST: 70,000 grayscale 28 x 28 images of clothing in 10 classes (Zalando, MIT licence).

Not shipped with dendrite. :func:`load_data` reads the four standard IDX files from the first of
these places that holds all four:

1. the ``path`` argument;
2. ``$DENDRITE_DATA``, a folder holding the files or a ``fashion-mnist/`` subfolder with them;
3. ``/usr/share/datasets/fashion-mnist`` (:data:`SYSTEM_DIR`, Debian's ``dataset-fashion-mnist``);
4. the cache folder (``cache_dir``, else ``$DENDRITE_HOME/datasets/fashion-mnist`` with
   ``$DENDRITE_HOME`` defaulting to ``~/.dendrite``), downloading the missing files into it from
   :data:`BASE_URL`.

Every file, downloaded or found locally, is checked against :data:`SHA256` (the SHA256 of its
*decompressed* IDX bytes) the first time this process uses it; a mismatch names the file and where
it was found. The compressed bytes are not a stable identity: Debian's copies and Zalando's
originals hold identical IDX data but are gzipped differently (Zalando's files are 23-24 bytes
longer), so their ``.gz`` hashes differ. A ``$DENDRITE_DATA`` that lacks the files is an error,
not a reason to download.
"""

import gzip
import hashlib
import os
import zlib
from pathlib import Path

from dendrite.datasets._download import download_verified
from dendrite.datasets._integrity import verify_sha256
from dendrite.datasets.idx import open_maybe_gzip, read_idx

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")
"""The names of labels 0-9."""

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
SHA256 = {
    "train-images-idx3-ubyte.gz":
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz":
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz":
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz":
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
"""File name -> SHA256 of its decompressed content (the same for every mirror's gzip)."""


def load_data(path=None, cache_dir=None, base_url=BASE_URL):
    """Load Fashion-MNIST (Keras's ``keras.datasets.fashion_mnist.load_data``).

    Args:
        path: folder holding the four IDX files; when given, nothing else is searched.
            Default None searches the places listed in the module docstring.
        cache_dir: folder to look in and download into when no other place has the files.
            Default None: ``$DENDRITE_HOME/datasets/fashion-mnist`` (``~/.dendrite/...``).
        base_url: URL prefix of the files; the default is Keras's mirror.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``, all uint8: ``x_train`` (60000, 28, 28),
        ``y_train`` (60000,), ``x_test`` (10000, 28, 28), ``y_test`` (10000,), labels in [0, 9]
        (0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker,
        8 Bag, 9 Ankle boot).

    Raises:
        FileNotFoundError: ``path`` (or ``$DENDRITE_DATA``, when set) is not a folder holding
            the four files.
        OSError: a download failed.
        ValueError: a file's hash does not match (the message names it, where it was found and
            both hashes; a downloaded file is deleted), or a file is not the expected IDX data.
    """
    folder, origin = _locate(path, cache_dir, base_url)
    hint = f" Delete or replace the file; the original files are at {BASE_URL}."
    for name in FILES:
        verify_sha256(folder / name, SHA256[name], hint, content_sha256, origin)
    x_train, y_train, x_test, y_test = (folder / name for name in FILES)
    return _read_pair(x_train, y_train), _read_pair(x_test, y_test)


def default_cache_dir():
    """The download folder: ``$DENDRITE_HOME/datasets/fashion-mnist`` (home ``~/.dendrite``)."""
    home = os.environ.get("DENDRITE_HOME") or Path.home() / ".dendrite"
    return Path(home) / "datasets" / "fashion-mnist"


def content_sha256(path):
    """SHA256 of the file's bytes after gzip decompression (of the raw bytes if not gzip)."""
    digest = hashlib.sha256()
    try:
        with open_maybe_gzip(path) as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{os.fspath(path)}: damaged gzip stream ({error})") from error
    return digest.hexdigest()


def _has_all(folder):
    return all((folder / name).is_file() for name in FILES)


def _locate(path, cache_dir, base_url):
    if path is not None:
        folder = Path(path)
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"fashion_mnist.load_data: path must be a folder holding {list(FILES)}; "
                f"{os.fspath(folder)} lacks {missing}"
            )
        return folder, "the path argument"
    if os.environ.get("DENDRITE_DATA"):
        data = Path(os.environ["DENDRITE_DATA"])
        for folder in (data, data / "fashion-mnist"):
            if _has_all(folder):
                return folder, "$DENDRITE_DATA"
        missing = [name for name in FILES if not (data / name).is_file()]
        raise FileNotFoundError(
            f"fashion_mnist.load_data: $DENDRITE_DATA={os.fspath(data)} lacks the Fashion-MNIST "
            f"files {missing} (looked in it and in its fashion-mnist/ subfolder); put the four "
            f"files {list(FILES)} there, or unset DENDRITE_DATA to use {SYSTEM_DIR} or a download"
        )
    if _has_all(Path(SYSTEM_DIR)):
        return Path(SYSTEM_DIR), f"the Debian package folder {SYSTEM_DIR}"
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    for name in FILES:
        if not (cache / name).is_file():
            url = base_url.rstrip("/") + "/" + name
            download_verified(url, cache / name, SHA256[name], content_sha256)
    return cache, f"the cache folder {os.fspath(cache)}"


def _read_pair(images_path, labels_path):
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype.name != "uint8" or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{os.fspath(images_path)}: expected uint8 images of shape (m, 28, 28) "
            f"(IDX magic 0x00000803); got {images.dtype} of shape {images.shape}"
        )
    if labels.dtype.name != "uint8" or labels.shape != (len(images),):
        raise ValueError(
            f"{os.fspath(labels_path)}: expected uint8 labels of shape ({len(images)},) "
            f"(IDX magic 0x00000801); got {labels.dtype} of shape {labels.shape}"
        )
    return images, labels
