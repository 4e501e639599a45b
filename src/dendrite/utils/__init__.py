"""Utilities: seeding, one-hot encoding, normalization."""

import random

from dendrite import backend
from dendrite.backend import host as np
from dendrite.errors import check_number, is_integer
from dendrite.saving.serialization import register_serializable  # noqa: F401
from dendrite.utils.image_dataset import image_dataset_from_directory  # noqa: F401
from dendrite.utils.plot_model import model_to_dot, plot_model  # noqa: F401
from dendrite.utils.pydataset import PyDataset, Sequence  # noqa: F401
from dendrite.utils.sequences import pad_sequences  # noqa: F401


def set_random_seed(seed):
    """Seed every random source dendrite uses (and Python's and NumPy's global ones).

    After it, building and training a model repeats bit for bit on the same machine with the same
    thread count: initializers, dropout masks and shuffling all derive from this seed.
    """
    if not is_integer(seed) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative integer; got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    backend.seed_global_generator(seed)


def to_categorical(x, num_classes=None):
    """One-hot encode integer labels: (m,) -> (m, num_classes) float32 (floatx).

    A trailing axis of size 1 is dropped first, as Keras does. Labels must be in
    [0, num_classes).

    Example:
        >>> to_categorical([0, 2], 3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    labels = np.asarray(x)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical: x must hold integer labels; got an array of dtype "
                        f"{labels.dtype}")
    num_classes = check_number("to_categorical", "num_classes", num_classes, integer=True,
                               low=1, allow_none=True, expected="a positive integer or None")
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.dtype.kind == "f" and labels.size and not (labels == np.floor(labels)).all():
        raise ValueError("to_categorical: labels must be integers; got non-integer values")
    labels = labels.astype("int64")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}); got label {bad}.")
    out = np.zeros((*labels.shape, num_classes), dtype=backend.floatx())
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


def normalize(x, axis=-1, order=2):
    """Scale ``x`` to unit ``order``-norm along ``axis`` (zero vectors stay zero)."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"normalize: x must hold real numbers; got an array of dtype {x.dtype}")
    x = x.astype(backend.floatx()) if x.dtype.kind != "f" else x
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(norm == 0, 1, norm)
