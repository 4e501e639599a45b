"""Parameter initialisation as the tutorials teach it.

Column layout: ``W{l}`` is (n[l], n[l-1]) and ``b{l}`` is (n[l], 1). With an integer ``seed`` the
weights are drawn from ``RandomState(seed)`` in the tutorials' order (``W1``, then ``W2`` ...,
each ``randn(n[l], n[l-1])`` scaled; biases are zeros and draw nothing), so the course's programs
print the course's numbers. With ``seed=None`` they come from NumPy's global legacy generator,
which ``np.random.seed(...)`` and :func:`dendrite.utils.set_random_seed` reset, as in the
notebooks.
"""

from dendrite.backend import host as np
from dendrite.errors import lookup
from dendrite.tutorial._checks import check_layer_dims, check_positive_int


def random_state(seed):
    """``RandomState(seed)`` for an int, NumPy's global legacy generator for None."""
    if seed is None:
        return np.random  # the module's functions draw from the global RandomState
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be None or a non-negative integer; got seed={seed!r}")
    return np.random.RandomState(seed)


def _scaled(rng, n, n_prev):
    return rng.randn(n, n_prev) * 0.01


def _zeros(rng, n, n_prev):
    return np.zeros((n, n_prev))


def _random(rng, n, n_prev):
    return rng.randn(n, n_prev) * 10


def _sqrt(rng, n, n_prev):
    return rng.randn(n, n_prev) / np.sqrt(n_prev)


def _xavier_normal(rng, n, n_prev):
    return rng.randn(n, n_prev) * np.sqrt(2.0 / (n_prev + n))


def _xavier_uniform(rng, n, n_prev):
    limit = np.sqrt(6.0 / (n_prev + n))
    return rng.uniform(-limit, limit, (n, n_prev))


def _he_normal(rng, n, n_prev):
    return rng.randn(n, n_prev) * np.sqrt(2.0 / n_prev)


def _he_uniform(rng, n, n_prev):
    limit = np.sqrt(6.0 / n_prev)
    return rng.uniform(-limit, limit, (n, n_prev))


INITIALIZATIONS = {
    "scaled": _scaled,
    "zeros": _zeros,
    "random": _random,
    "sqrt": _sqrt,
    "xavier_normal": _xavier_normal,
    "xavier_uniform": _xavier_uniform,
    "he_normal": _he_normal,
    "he_uniform": _he_uniform,
}
"""Name -> function ``(rng, n[l], n[l-1]) -> W`` (float64):

* ``"scaled"``: randn * 0.01, the first tutorials' small random weights;
* ``"zeros"``: all zeros, to show that every unit of a layer then learns the same thing;
* ``"random"``: randn * 10, to show exploding activations and a cost that starts huge;
* ``"sqrt"``: randn / sqrt(n[l-1]), the deep application's initialisation;
* ``"xavier_normal"``: randn * sqrt(2 / (n[l-1] + n[l])) (Glorot & Bengio);
* ``"xavier_uniform"``: U(-a, a) with a = sqrt(6 / (n[l-1] + n[l]));
* ``"he_normal"``: randn * sqrt(2 / n[l-1]) (He et al., the initialisation notebook's "he");
* ``"he_uniform"``: U(-a, a) with a = sqrt(6 / n[l-1]).
"""


def initialize_parameters(n_x, n_h, n_y, seed=1, dtype="float64"):
    """Parameters of a two-layer network, as the course's ``initialize_parameters``.

    ``W1 = randn(n_h, n_x) * 0.01``, ``b1 = 0``, ``W2 = randn(n_y, n_h) * 0.01``, ``b2 = 0``, drawn
    in that order from ``RandomState(seed)`` (the course calls ``np.random.seed(1)`` first).

    Args:
        n_x: size of the input layer. n_h: size of the hidden layer. n_y: size of the output.
        seed: int (default 1, the course's) or None for NumPy's global generator.
        dtype: float dtype of the arrays. Default "float64", as plain NumPy.

    Returns:
        dict with ``"W1"`` (n_h, n_x), ``"b1"`` (n_h, 1), ``"W2"`` (n_y, n_h), ``"b2"`` (n_y, 1).

    Example:
        >>> parameters = initialize_parameters(3, 2, 1)
        >>> parameters["W1"].shape, parameters["b2"].shape
        ((2, 3), (1, 1))
        >>> round(float(parameters["W1"][0, 0]), 8)
        0.01624345
    """
    who = "initialize_parameters"
    dims = [
        check_positive_int(n, who, name) for n, name in ((n_x, "n_x"), (n_h, "n_h"), (n_y, "n_y"))
    ]
    return initialize_parameters_deep(dims, "scaled", seed, dtype)


def initialize_parameters_deep(layer_dims, init="scaled", seed=None, dtype="float64"):
    """Parameters of an L-layer network, as the course's ``initialize_parameters_deep``.

    For l = 1 .. L: ``W{l} = f(n[l], n[l-1])`` with ``f`` named by ``init`` (see
    :data:`INITIALIZATIONS`), ``b{l} = zeros((n[l], 1))``. The deep application's
    ``initialize_parameters_deep`` is ``init="sqrt", seed=1``; the step-by-step notebook's is
    ``init="scaled", seed=3``.

    Args:
        layer_dims: list [n_x, n_1, ..., n_y] of layer sizes, input first.
        init: one of "scaled" (default), "zeros", "random", "sqrt", "xavier_normal",
            "xavier_uniform", "he_normal", "he_uniform".
        seed: int, or None (default) for NumPy's global legacy generator.
        dtype: float dtype of the arrays. Default "float64".

    Returns:
        dict with ``"W{l}"`` (n[l], n[l-1]) and ``"b{l}"`` (n[l], 1) for l = 1 .. L.

    Example:
        >>> parameters = initialize_parameters_deep([5, 4, 3], init="he_normal", seed=3)
        >>> sorted(parameters), parameters["W2"].shape
        (['W1', 'W2', 'b1', 'b2'], (3, 4))
    """
    who = "initialize_parameters_deep"
    dims = check_layer_dims(layer_dims, who)
    make = lookup("initialization", init, INITIALIZATIONS)
    rng = random_state(seed)
    parameters = {}
    for layer in range(1, len(dims)):
        parameters[f"W{layer}"] = make(rng, dims[layer], dims[layer - 1]).astype(dtype, copy=False)
        parameters[f"b{layer}"] = np.zeros((dims[layer], 1), dtype=dtype)
    return parameters
