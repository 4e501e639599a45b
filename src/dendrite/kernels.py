"""Kernel functions: the math that layers and the tutorial API share.

Row layout: x is (batch, in_features), w is (in_features, out_features), b is (out_features,).
The tutorial API uses column layout (features, examples) and calls these with transposed views.
"""

from dendrite.backend import get_array_module


def linear_forward(x, w, b=None):
    """z = x @ w + b.

    Args:
        x: (batch, ..., in_features)
        w: (in_features, out_features)
        b: (out_features,) or None.

    Returns:
        z: (batch, ..., out_features), a new array.
    """
    z = x @ w
    if b is not None:
        z += b
    return z


def linear_backward(dz, x, w, dw=None, db=None, need_dx=True):
    """Gradients of z = x @ w + b given dz = dL/dz.

    dW = x^T dz, db = sum of dz over the batch, dX = dz w^T.

    Args:
        dz: (batch, out_features); x: (batch, in_features); w: (in_features, out_features).
        dw, db: arrays to add dW and db into (``+=``), or None to return new ones.
        need_dx: compute dX (skipped for a model's first layer).

    Returns:
        (dx or None, dw, db)
    """
    if dz.ndim > 2:
        dz2, x2 = dz.reshape(-1, dz.shape[-1]), x.reshape(-1, x.shape[-1])
    else:
        dz2, x2 = dz, x
    grad_w = x2.T @ dz2
    if dw is None:
        dw = grad_w
    else:
        dw += grad_w
    # db = 1^T dz: a matrix-vector product, several times faster than dz.sum(axis=0)
    grad_b = get_array_module(dz2).ones(dz2.shape[0], dtype=dz2.dtype) @ dz2
    if db is None:
        db = grad_b
    else:
        db += grad_b
    dx = dz @ w.T if need_dx else None
    return dx, dw, db


def dropout_mask(rng, shape, rate, dtype):
    """Inverted-dropout mask: 0 with probability ``rate``, else 1 / (1 - rate).

    ``rng`` is a Generator of the data's array module (:func:`dendrite.backend.random_stream`), so
    the mask is drawn where the data lives.
    """
    keep = rng.random(shape, dtype="float32" if dtype == "float32" else "float64") >= rate
    mask = keep.astype(dtype)
    mask *= 1.0 / (1.0 - rate)
    return mask


def gaussian_noise(rng, shape, mean, stddev, dtype):
    """Samples of N(mean, stddev^2) in ``dtype``."""
    noise = rng.standard_normal(shape, dtype="float32" if dtype == "float32" else "float64")
    noise *= stddev
    noise += mean
    return noise.astype(dtype, copy=False)


def to_device_like(array, reference):
    """``array`` moved to the array module of ``reference`` (no-op on the CPU)."""
    xp = get_array_module(reference)
    return array if get_array_module(array) is xp else xp.asarray(array)
