"""Forward propagation in the tutorials' column layout, with the tutorials' caches.

Column layout: ``A_prev`` is (n[l-1], m), ``W`` is (n[l], n[l-1]), ``b`` is (n[l], 1) and
``Z = W A_prev + b`` is (n[l], m). The math runs in the layers' kernels, which use row layout:
``Z = linear_forward(A_prev.T, W.T, b.ravel()).T`` (the transposes are free views), and the
activations are the :class:`dendrite.activations.Activation` objects that ``Dense`` uses, with the
softmax taken over axis 0 (the units).

Caches, as in the tutorials:

* ``linear_forward`` -> ``linear_cache = (A_prev, W, b)``;
* ``sigmoid``, ``relu`` ... -> ``activation_cache = Z``;
* ``linear_activation_forward`` -> ``cache = (linear_cache, activation_cache)``, that is
  ``((A_prev, W, b), Z)``; a hidden layer run with dropout appends its mask:
  ``((A_prev, W, b), Z, D)``.
"""

from dendrite import activations, kernels
from dendrite.errors import lookup
from dendrite.tutorial._checks import check_keep_prob, check_X, num_layers
from dendrite.tutorial.regularization import dropout_forward, dropout_generator

LEAKY_RELU_SLOPE = 0.01
"""The slope of :func:`leaky_relu` for Z < 0: max(0.01 Z, Z), as in the lectures."""

ACTIVATIONS = {
    "sigmoid": activations.Sigmoid(),
    "relu": activations.ReLU(),
    "tanh": activations.Tanh(),
    "leaky_relu": activations.LeakyReLU(LEAKY_RELU_SLOPE),
    "softmax": activations.Softmax(axis=0),
    "linear": activations.Linear(),
}
"""The activations the tutorial functions accept, by name, as kernel objects (column layout)."""


def get_activation(name):
    """The :class:`~dendrite.activations.Activation` for ``name``; ValueError listing valid
    names."""
    return lookup("activation", name, ACTIVATIONS)


def activation_forward(Z, activation):
    """``(A, Z)``: the activation named ``activation`` applied to Z (n[l], m), and its cache."""
    return get_activation(activation).forward(Z), Z


def sigmoid(Z):
    """A = 1 / (1 + exp(-Z)), computed without overflow.

    Args:
        Z: array of any shape, e.g. (n[l], m).

    Returns:
        ``(A, cache)``: A shaped like Z, and ``cache = Z`` for :func:`sigmoid_backward`.
    """
    return activation_forward(Z, "sigmoid")


def relu(Z):
    """A = max(0, Z). Returns ``(A, cache)`` with ``cache = Z``."""
    return activation_forward(Z, "relu")


def tanh(Z):
    """A = tanh(Z). Returns ``(A, cache)`` with ``cache = Z``."""
    return activation_forward(Z, "tanh")


def leaky_relu(Z):
    """A = max(0.01 Z, Z). Returns ``(A, cache)`` with ``cache = Z``."""
    return activation_forward(Z, "leaky_relu")


def softmax(Z):
    """A[i, j] = exp(Z[i, j]) / sum_k exp(Z[k, j]): each column (example) sums to 1.

    Args:
        Z: (n_y, m), one column of scores per example.

    Returns:
        ``(A, cache)``: A (n_y, m) and ``cache = Z``.
    """
    return activation_forward(Z, "softmax")


def linear_forward(A, W, b):
    """The linear part of a layer: Z = W A + b.

    Args:
        A: activations of the previous layer (or X), (n[l-1], m).
        W: weights (n[l], n[l-1]). b: biases (n[l], 1).

    Returns:
        ``(Z, cache)``: Z (n[l], m) and ``cache = (A, W, b)``.

    Example:
        >>> import numpy as np
        >>> Z, cache = linear_forward(np.ones((3, 2)), np.ones((1, 3)), np.full((1, 1), 0.5))
        >>> Z
        array([[3.5, 3.5]])
    """
    if A.ndim != 2 or W.ndim != 2 or A.shape[0] != W.shape[1] or b.shape != (W.shape[0], 1):
        raise ValueError(
            f"linear_forward: expected A (n[l-1], m), W (n[l], n[l-1]) and b "
            f"(n[l], 1); got A {A.shape}, W {W.shape}, b {b.shape}"
        )
    Z = kernels.linear_forward(A.T, W.T, b.ravel()).T  # (W A + b)^T = A^T W^T + b^T
    return Z, (A, W, b)


def linear_activation_forward(A_prev, W, b, activation):
    """One layer: A = g(W A_prev + b).

    Args:
        A_prev: (n[l-1], m). W: (n[l], n[l-1]). b: (n[l], 1).
        activation: "sigmoid", "relu", "tanh", "leaky_relu", "softmax" or "linear".

    Returns:
        ``(A, cache)``: A (n[l], m) and ``cache = ((A_prev, W, b), Z)``.
    """
    Z, linear_cache = linear_forward(A_prev, W, b)
    A, activation_cache = activation_forward(Z, activation)
    return A, (linear_cache, activation_cache)


def check_parameters(parameters, L, dtype, who):
    """Check that W{l} and b{l} chain up ((n[l], n[l-1]) and (n[l], 1)) and have ``dtype``."""
    for layer in range(1, L + 1):
        W, b = parameters[f"W{layer}"], parameters[f"b{layer}"]
        n_prev = parameters[f"W{layer - 1}"].shape[0] if layer > 1 else W.shape[1]
        if W.ndim != 2 or W.shape[1] != n_prev or b.shape != (W.shape[0], 1):
            raise ValueError(
                f"{who}: expected W{layer} of shape (n[{layer}], {n_prev}) and "
                f"b{layer} of shape (n[{layer}], 1); got W{layer} {W.shape} and "
                f"b{layer} {b.shape}"
            )
        for key, value in ((f"W{layer}", W), (f"b{layer}", b)):
            if value.dtype != dtype:
                raise ValueError(
                    f"{who}: parameters[{key!r}] is {value.dtype} but X is {dtype}; "
                    f"use one dtype (initialize with dtype=X.dtype)"
                )


def L_model_forward(
    X, parameters, hidden_activation="relu", output_activation="sigmoid", keep_prob=1.0, seed=None
):
    """Forward propagation through [LINEAR -> hidden]*(L-1) -> LINEAR -> output.

    Args:
        X: input (n_x, m), float; the result has X's dtype, so the parameters must have it too.
        parameters: dict with ``"W{l}"`` (n[l], n[l-1]) and ``"b{l}"`` (n[l], 1), l = 1 .. L.
        hidden_activation: activation of layers 1 .. L-1. Default "relu".
        output_activation: activation of layer L. Default "sigmoid"; "softmax" for several
            classes.
        keep_prob: probability of keeping a hidden unit (inverted dropout on layers 1 .. L-1).
            Default 1.0 (no dropout).
        seed: where the dropout masks come from: an int (the same masks on every call), a
            ``numpy.random.Generator``, or None; see
            :func:`~dendrite.tutorial.regularization.dropout_generator`.

    Returns:
        ``(AL, caches)``: AL (n_y, m), the output, and the list of the L caches
        ``((A_prev, W, b), Z)`` (with the dropout mask ``D`` appended for hidden layers when
        keep_prob < 1).

    Raises:
        ValueError: X in row layout (m, n_x), X not matching W1, or parameters whose dtype
            differs from X's (no silent upcast).
    """
    who = "L_model_forward"
    L = num_layers(parameters, who)
    W1 = parameters["W1"]
    X = check_X(X, W1.shape[1], who, f"W1 of shape {W1.shape}")
    keep_prob = check_keep_prob(keep_prob, who)
    check_parameters(parameters, L, X.dtype, who)
    rng = dropout_generator(seed) if keep_prob < 1 else None
    caches = []
    A = X
    for layer in range(1, L + 1):
        activation = output_activation if layer == L else hidden_activation
        A, cache = linear_activation_forward(
            A, parameters[f"W{layer}"], parameters[f"b{layer}"], activation
        )
        if layer < L and rng is not None:
            A, D = dropout_forward(A, keep_prob, rng)
            cache = (*cache, D)
        caches.append(cache)
    return A, caches
