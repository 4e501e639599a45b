"""Backward propagation in the tutorials' column layout, reading the caches of the forward pass.

As in the tutorials, ``dA``, ``dZ`` are gradients of the *summed* loss and the 1/m of the
cost's mean enters where a parameter gradient is formed:

    dW = 1/m dZ A_prev^T,   db = 1/m sum_columns(dZ),   dA_prev = W^T dZ.

The products run in :func:`dendrite.kernels.linear_backward` (row layout, on transposed views) and
the activations' derivatives in the :class:`dendrite.activations.Activation` objects that ``Dense``
uses.
"""

from dendrite import kernels
from dendrite.tutorial._checks import as_array, check_non_negative
from dendrite.tutorial.cost import check_targets, loss_for_output
from dendrite.tutorial.forward import get_activation
from dendrite.tutorial.regularization import dropout_backward, l2_regularization_gradient


def activation_backward(dA, cache, activation):
    """dZ = dA * g'(Z) for the activation named ``activation``, with ``cache = Z``.

    The softmax's is the Jacobian-vector product over each column, A * (dA - sum(dA * A)).
    """
    kernel = get_activation(activation)
    Z = cache
    A = kernel.forward(Z) if kernel.needs == "y" else None  # the kernel reads A = g(Z)
    return kernel.backward(dA, Z, A)


def sigmoid_backward(dA, cache):
    """dZ = dA * s (1 - s) with s = sigmoid(Z).

    Args:
        dA: gradient of the activation, (n[l], m). cache: Z, (n[l], m).

    Returns:
        dZ, (n[l], m).
    """
    return activation_backward(dA, cache, "sigmoid")


def relu_backward(dA, cache):
    """dZ = dA where Z > 0, else 0. Args: dA, cache = Z, both (n[l], m). Returns dZ."""
    return activation_backward(dA, cache, "relu")


def tanh_backward(dA, cache):
    """dZ = dA * (1 - tanh(Z)^2). Args: dA, cache = Z, both (n[l], m). Returns dZ."""
    return activation_backward(dA, cache, "tanh")


def leaky_relu_backward(dA, cache):
    """dZ = dA where Z > 0, else 0.01 dA. Args: dA, cache = Z, both (n[l], m). Returns dZ."""
    return activation_backward(dA, cache, "leaky_relu")


def softmax_backward(dA, cache):
    """dZ = A * (dA - sum_k dA[k] A[k]) per column, A = softmax(Z).

    Args: dA, cache = Z, both (n_y, m). Returns dZ (n_y, m). With the categorical cost,
    dA = -Y / A and this is A - Y; :func:`L_model_backward` uses A - Y directly.
    """
    return activation_backward(dA, cache, "softmax")


def linear_backward(dZ, cache):
    """Gradients of the linear part Z = W A_prev + b.

    Args:
        dZ: gradient of the cost with respect to Z, (n[l], m) (summed over examples, as above).
        cache: ``(A_prev, W, b)`` from :func:`linear_forward`.

    Returns:
        ``(dA_prev, dW, db)``: dA_prev = W^T dZ (n[l-1], m), dW = 1/m dZ A_prev^T (n[l], n[l-1]),
        db = 1/m sum over the columns of dZ (n[l], 1).
    """
    return _linear_backward(dZ, cache, need_dA_prev=True)


def _linear_backward(dZ, cache, need_dA_prev):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    if dZ.shape != (W.shape[0], m):
        raise ValueError(
            f"linear_backward: expected dZ of shape (n[l], m) = {(W.shape[0], m)}; got {dZ.shape}"
        )
    # row layout: dW^T = A_prev dZ^T, db = sum of dZ^T over the batch, dA_prev^T = dZ^T W^T
    dx, dw, db = kernels.linear_backward(dZ.T, A_prev.T, W.T, need_dx=need_dA_prev)
    dw /= m
    db /= m
    return (None if dx is None else dx.T), dw.T, db.reshape(b.shape)


def linear_activation_backward(dA, cache, activation):
    """Backward through one layer A = g(W A_prev + b) (and its dropout, if it had one).

    Args:
        dA: gradient of the layer's output, (n[l], m).
        cache: ``((A_prev, W, b), Z)``, or ``((A_prev, W, b), Z, D)`` for a layer with dropout,
            from :func:`linear_activation_forward` / :func:`L_model_forward`.
        activation: the layer's activation name.

    Returns:
        ``(dA_prev, dW, db)``, shaped like A_prev, W and b.
    """
    return _layer_backward(dA, cache, activation, need_dA_prev=True)


def _layer_backward(dA, cache, activation, need_dA_prev):
    if len(cache) == 3:
        dA = dropout_backward(dA, cache[2])
    linear_cache, activation_cache = cache[0], cache[1]
    dZ = activation_backward(dA, activation_cache, activation)
    return _linear_backward(dZ, linear_cache, need_dA_prev)


def L_model_backward(
    AL, Y, caches, hidden_activation="relu", output_activation="sigmoid", lambd=0.0, need_dA0=True
):
    """Backward propagation for :func:`L_model_forward` and the cross-entropy cost.

    The output layer starts from dZ[L] = AL - Y, the exact gradient of the (summed) binary
    cross-entropy through a sigmoid and of the categorical one through a softmax; the course's
    ``dAL = -(Y / AL - (1 - Y) / (1 - AL))`` followed by ``sigmoid_backward`` is the same number
    but divides by zero when AL reaches 0 or 1. Dropout masks in the caches are applied; with
    ``lambd > 0`` each dW gets the L2 term ``lambd / m * W``.

    Args:
        AL: output of the forward pass, (n_y, m).
        Y: true labels (n_y, m): 0/1 for a sigmoid output, one-hot columns for a softmax.
        caches: the list of caches from :func:`L_model_forward`.
        hidden_activation, output_activation: as given to :func:`L_model_forward`.
        lambd: L2 regularisation factor. Default 0.
        need_dA0: also return ``"dA0"``, the gradient with respect to X (the course does).
            The models pass False to skip that product, as a network's first layer does.

    Returns:
        dict with ``"dA{l-1}"``, ``"dW{l}"`` and ``"db{l}"`` for l = L .. 1 (``"dA{l}"`` is the
        gradient of A[l]; ``"dA0"`` only with ``need_dA0``), each shaped like its array.
    """
    who = "L_model_backward"
    AL = as_array(AL, who, "AL")
    Y, _ = check_targets(AL, Y, who, loss_for_output(output_activation))
    lambd = check_non_negative(lambd, who, "lambd")
    L = len(caches)
    grads = {}
    dZ = AL - Y  # d(sum of losses)/dZ[L] for sigmoid + binary and softmax + categorical
    dA_prev, dW, db = _linear_backward(dZ, caches[L - 1][0], need_dA_prev=L > 1 or need_dA0)
    grads[f"dA{L - 1}"], grads[f"dW{L}"], grads[f"db{L}"] = dA_prev, dW, db
    for layer in range(L - 1, 0, -1):
        dA_prev, dW, db = _layer_backward(
            grads[f"dA{layer}"],
            caches[layer - 1],
            hidden_activation,
            need_dA_prev=layer > 1 or need_dA0,
        )
        grads[f"dA{layer - 1}"], grads[f"dW{layer}"], grads[f"db{layer}"] = dA_prev, dW, db
    if not need_dA0:
        del grads["dA0"]
    if lambd:
        m = AL.shape[1]
        for layer in range(1, L + 1):
            grads[f"dW{layer}"] += l2_regularization_gradient(caches[layer - 1][0][1], lambd, m)
    return grads
