"""Update rules and mini-batches as the optimisation tutorial writes them.

Each rule works on the tutorial's dicts: ``parameters`` (``"W1"``, ``"b1"`` ...), ``grads``
(``"dW1"``, ``"db1"`` ...) and its state (``v``, ``s``, keyed like ``grads``). The rules return new
dicts and leave their arguments unchanged. With g = dW (or db):

* gradient descent:  W -= lr g
* momentum:          v = beta v + (1 - beta) g;  W -= lr v
* RMSprop:           s = beta s + (1 - beta) g^2;  W -= lr g / (sqrt(s) + eps)
* Adagrad:           s += g^2;  W -= lr g / (sqrt(s) + eps)
* Adam:              v = beta1 v + (1 - beta1) g;  s = beta2 s + (1 - beta2) g^2;
                     v_hat = v / (1 - beta1^t);  s_hat = s / (1 - beta2^t);
                     W -= lr v_hat / (sqrt(s_hat) + eps)

Adam here is :class:`dendrite.optimizers.Adam` with ``epsilon_form="paper"`` (the tests check
that one step of each gives the same numbers); momentum is the tutorial's exponentially weighted
average, which differs from ``SGD(momentum=...)`` by the factor (1 - beta) on g.
"""

from dendrite.backend import host as np
from dendrite.tutorial._checks import as_array, check_positive_int, num_layers
from dendrite.tutorial.initialization import random_state


def _keys(parameters, who):
    L = num_layers(parameters, who)
    return [f"{name}{layer}" for layer in range(1, L + 1) for name in "Wb"]


def _zeros_like(parameters, who):
    return {f"d{key}": np.zeros_like(parameters[key]) for key in _keys(parameters, who)}


def update_parameters(parameters, grads, learning_rate):
    """One step of gradient descent: W{l} -= learning_rate dW{l}, b{l} -= learning_rate db{l}.

    Args:
        parameters: dict of ``"W{l}"`` (n[l], n[l-1]) and ``"b{l}"`` (n[l], 1).
        grads: dict with ``"dW{l}"`` and ``"db{l}"`` of the same shapes (from
            :func:`L_model_backward`).
        learning_rate: the step size.

    Returns:
        A new parameters dict (the argument is left unchanged).
    """
    updated = dict(parameters)
    for key in _keys(parameters, "update_parameters"):
        updated[key] = parameters[key] - learning_rate * grads[f"d{key}"]
    return updated


def initialize_velocity(parameters):
    """Momentum state: ``v["dW{l}"]``, ``v["db{l}"]`` zeros shaped like W{l}, b{l}."""
    return _zeros_like(parameters, "initialize_velocity")


def update_parameters_with_momentum(parameters, grads, v, beta=0.9, learning_rate=0.01):
    """One step of momentum: v = beta v + (1 - beta) g;  W -= learning_rate v.

    Returns:
        ``(parameters, v)``, new dicts.
    """
    updated, velocity = dict(parameters), {}
    for key in _keys(parameters, "update_parameters_with_momentum"):
        name = f"d{key}"
        velocity[name] = beta * v[name] + (1 - beta) * grads[name]
        updated[key] = parameters[key] - learning_rate * velocity[name]
    return updated, velocity


def initialize_rmsprop(parameters):
    """RMSprop state: ``s["dW{l}"]``, ``s["db{l}"]`` zeros shaped like W{l}, b{l}."""
    return _zeros_like(parameters, "initialize_rmsprop")


def update_parameters_with_rmsprop(
    parameters, grads, s, beta=0.9, learning_rate=0.01, epsilon=1e-8
):
    """One step of RMSprop: s = beta s + (1 - beta) g^2;  W -= learning_rate g / (sqrt(s) + eps).

    Returns:
        ``(parameters, s)``, new dicts.
    """
    updated, squares = dict(parameters), {}
    for key in _keys(parameters, "update_parameters_with_rmsprop"):
        name, g = f"d{key}", grads[f"d{key}"]
        squares[name] = beta * s[name] + (1 - beta) * g * g
        updated[key] = parameters[key] - learning_rate * g / (np.sqrt(squares[name]) + epsilon)
    return updated, squares


def initialize_adagrad(parameters):
    """Adagrad state: ``s["dW{l}"]``, ``s["db{l}"]`` zeros shaped like W{l}, b{l}."""
    return _zeros_like(parameters, "initialize_adagrad")


def update_parameters_with_adagrad(parameters, grads, s, learning_rate=0.01, epsilon=1e-8):
    """One step of Adagrad: s += g^2;  W -= learning_rate g / (sqrt(s) + eps).

    Returns:
        ``(parameters, s)``, new dicts.
    """
    updated, squares = dict(parameters), {}
    for key in _keys(parameters, "update_parameters_with_adagrad"):
        name, g = f"d{key}", grads[f"d{key}"]
        squares[name] = s[name] + g * g
        updated[key] = parameters[key] - learning_rate * g / (np.sqrt(squares[name]) + epsilon)
    return updated, squares


def initialize_adam(parameters):
    """Adam state ``(v, s)``: two dicts of zeros keyed ``"dW{l}"``, ``"db{l}"``."""
    return _zeros_like(parameters, "initialize_adam"), _zeros_like(parameters, "initialize_adam")


def update_parameters_with_adam(
    parameters, grads, v, s, t, learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8
):
    """One step of Adam (formulas in the module docstring).

    Args:
        parameters, grads: as :func:`update_parameters`.
        v, s: the first and second moment estimates from :func:`initialize_adam` or the last
            step.
        t: the step number, counted from 1 (it corrects the bias of v and s).
        learning_rate: default 0.01. beta1: 0.9. beta2: 0.999. epsilon: 1e-8 (the course's).

    Returns:
        ``(parameters, v, s, v_corrected, s_corrected)``, new dicts, as the course's version.
    """
    who = "update_parameters_with_adam"
    t = check_positive_int(t, who, "t")
    updated, v_new, s_new, v_corrected, s_corrected = dict(parameters), {}, {}, {}, {}
    for key in _keys(parameters, who):
        name, g = f"d{key}", grads[f"d{key}"]
        v_new[name] = beta1 * v[name] + (1 - beta1) * g
        s_new[name] = beta2 * s[name] + (1 - beta2) * g * g
        v_corrected[name] = v_new[name] / (1 - beta1**t)
        s_corrected[name] = s_new[name] / (1 - beta2**t)
        updated[key] = parameters[key] - learning_rate * v_corrected[name] / (
            np.sqrt(s_corrected[name]) + epsilon
        )
    return updated, v_new, s_new, v_corrected, s_corrected


def random_mini_batches(X, Y, mini_batch_size=64, seed=0):
    """Shuffle the examples and split them into mini-batches, as the course's function.

    The permutation is ``RandomState(seed).permutation(m)`` (the course's ``np.random.seed(seed)``
    then ``np.random.permutation(m)``); the last mini-batch holds the m % mini_batch_size examples
    left over, if any.

    Args:
        X: inputs (n_x, m). Y: labels (n_y, m).
        mini_batch_size: positive int. Default 64.
        seed: int (default 0), or None for NumPy's global generator.

    Returns:
        list of ``(mini_batch_X, mini_batch_Y)``, of shapes (n_x, size) and (n_y, size).

    Example:
        >>> import numpy as np
        >>> batches = random_mini_batches(np.zeros((3, 10)), np.zeros((1, 10)), 4)
        >>> [batch_X.shape[1] for batch_X, _ in batches]
        [4, 4, 2]
    """
    who = "random_mini_batches"
    X, Y = as_array(X, who, "X"), as_array(Y, who, "Y")
    mini_batch_size = check_positive_int(mini_batch_size, who, "mini_batch_size")
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"{who}: expected X (n_x, m) and Y (n_y, m) with the same m; got X "
            f"{X.shape} and Y {Y.shape}"
        )
    m = X.shape[1]
    permutation = random_state(seed).permutation(m)
    shuffled_X, shuffled_Y = X[:, permutation], Y[:, permutation]
    return [
        (
            shuffled_X[:, start : start + mini_batch_size],
            shuffled_Y[:, start : start + mini_batch_size],
        )
        for start in range(0, m, mini_batch_size)
    ]
