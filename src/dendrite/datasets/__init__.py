"""Data sets and data loaders, with Keras's names (``dendrite.datasets.mnist.load_data()``).

Bundled, offline: :mod:`mnist` and :mod:`catvnoncat` (the course's cat images). Found on disk or
downloaded: :mod:`fashion_mnist`. File readers: :func:`read_idx` (IDX, gzip or not),
:func:`read_label_first_csv` (``label,p1,...,pn`` rows) and :func:`load_image_folder` (a folder
of images labelled by file name with :func:`prefix_label`). :func:`flatten_images` gives the
tutorials' column layout. Everything here returns host (NumPy) arrays.
"""

from dendrite.datasets import catvnoncat, fashion_mnist, mnist
from dendrite.datasets.idx import read_idx
from dendrite.datasets.images import flatten_images, load_image_folder, prefix_label
from dendrite.datasets.label_csv import read_label_first_csv

__all__ = [
    "catvnoncat",
    "fashion_mnist",
    "flatten_images",
    "load_image_folder",
    "mnist",
    "prefix_label",
    "read_idx",
    "read_label_first_csv",
]
