"""Regularisation as the tutorials teach it: inverted dropout and the L2 penalty.

Dropout masks come from :func:`dendrite.kernels.dropout_mask` and the L2 penalty from
:class:`dendrite.regularizers.L2`, the same code the ``Dropout`` layer and ``kernel_regularizer``
use. A mask ``D`` is already divided by ``keep_prob``: ``A = A * D`` in forward and ``dA = dA * D``
in backward (the course multiplies by a 0/1 mask, then divides by ``keep_prob``: the same numbers).
"""

from dendrite import backend, regularizers
from dendrite.backend import host as np
from dendrite.kernels import dropout_mask


def dropout_generator(seed):
    """The generator dropout masks are drawn from.

    Args:
        seed: an int (the same masks on every call with that seed: what a gradient check needs),
            a ``numpy.random.Generator`` (masks continue its stream, as training wants), or None
            (a generator seeded from dendrite's process-wide one, see
            :func:`dendrite.utils.set_random_seed`).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return backend.make_generator(None)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(
            f"seed must be None, a non-negative integer or a numpy Generator; got seed={seed!r}"
        )
    return np.random.default_rng(int(seed))


def dropout_forward(A, keep_prob, rng):
    """Inverted dropout: keep each unit with probability ``keep_prob``, scale kept ones up.

    Args:
        A: activations (n[l], m). keep_prob: float in (0, 1]. rng: a numpy Generator.

    Returns:
        ``(A * D, D)`` with ``D`` (n[l], m) equal to 0 or 1 / keep_prob, in A's dtype.
    """
    D = dropout_mask(rng, A.shape, 1.0 - keep_prob, A.dtype.name)
    return A * D, D


def dropout_backward(dA, D):
    """dA through the dropout of :func:`dropout_forward`: dA * D, shape (n[l], m)."""
    return dA * D


def l2_regularization_cost(parameters, lambd, m):
    """The L2 term of the cost: ``lambd / (2 m) * sum_l ||W{l}||^2`` (biases are not penalised).

    Example:
        >>> import numpy as np
        >>> l2_regularization_cost({"W1": np.ones((2, 3)), "b1": np.ones((2, 1))}, 0.5, 3)
        0.5
    """
    penalty = regularizers.L2(lambd / (2.0 * m))
    return sum(penalty(value) for key, value in parameters.items() if key.startswith("W"))


def l2_regularization_gradient(W, lambd, m):
    """The L2 term of dW: ``lambd / m * W``, shape of W."""
    return regularizers.L2(lambd / (2.0 * m)).gradient(W)
