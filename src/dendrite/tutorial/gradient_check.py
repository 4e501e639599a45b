"""Gradient checking as the course does it: every parameter nudged by +-epsilon in turn.

    gradapprox[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)
    difference = ||grad - gradapprox|| / (||grad|| + ||gradapprox||)

A difference below about 1e-7 means backward propagation is right. Work in float64: in float32
the rounding of J alone makes the difference about 1e-2. With dropout pass an integer ``seed``,
so every evaluation of J uses the same masks as the gradients being checked.
"""

from dendrite.backend import host as np
from dendrite.tutorial._checks import num_layers
from dendrite.tutorial.cost import compute_cost, loss_for_output
from dendrite.tutorial.forward import L_model_forward

THRESHOLD = 2e-7
"""The course's threshold: a larger difference means a mistake in backward propagation."""


def _keys(parameters):
    L = num_layers(parameters, "dictionary_to_vector")
    return [f"{name}{layer}" for layer in range(1, L + 1) for name in "Wb"]


def dictionary_to_vector(parameters):
    """Stack W1, b1, W2, b2 ... into one column.

    Returns:
        ``(theta, keys)``: theta (n_parameters, 1), and for each row the key it came from.
    """
    keys = _keys(parameters)
    theta = np.concatenate([parameters[key].reshape(-1, 1) for key in keys])
    row_keys = [key for key in keys for _ in range(parameters[key].size)]
    return theta, row_keys


def vector_to_dictionary(theta, like):
    """The inverse of :func:`dictionary_to_vector`: a parameters dict shaped like ``like``."""
    parameters, start = {}, 0
    for key in _keys(like):
        size = like[key].size
        parameters[key] = theta[start : start + size].reshape(like[key].shape)
        start += size
    return parameters


def gradients_to_vector(gradients, like=None):
    """Stack dW1, db1, dW2, db2 ... into one column (n_parameters, 1).

    ``like`` (a parameters dict) gives the number of layers when ``gradients`` has other keys;
    by default the layers are counted from the ``"dW{l}"`` keys.
    """
    if like is None:
        like = {key[1:]: value for key, value in gradients.items() if key[:2] in ("dW", "db")}
    return np.concatenate([gradients[f"d{key}"].reshape(-1, 1) for key in _keys(like)])


def gradient_check_n(
    parameters,
    gradients,
    X,
    Y,
    epsilon=1e-7,
    print_msg=False,
    hidden_activation="relu",
    output_activation="sigmoid",
    lambd=0.0,
    keep_prob=1.0,
    seed=0,
):
    """Compare ``gradients`` with centred differences of the cost, one parameter at a time.

    J is ``compute_cost(L_model_forward(X, parameters, ...)[0], Y, parameters, lambd)`` with the
    cost that goes with ``output_activation``. It costs two forward passes per parameter: use a
    small network.

    Args:
        parameters: dict ``"W{l}"`` (n[l], n[l-1]), ``"b{l}"`` (n[l], 1), float64.
        gradients: dict with ``"dW{l}"``, ``"db{l}"`` (from :func:`L_model_backward`).
        X: inputs (n_x, m). Y: labels (n_y, m).
        epsilon: the nudge. Default 1e-7 (the course's).
        print_msg: also print the course's verdict when the check passes. A failure is always
            printed, naming the entry whose gradient is furthest off.
        hidden_activation, output_activation, lambd, keep_prob: as for training.
        seed: dropout seed, an int so that every evaluation uses the same masks. Default 0.

    Returns:
        The relative difference (a float).
    """
    loss = loss_for_output(output_activation)
    theta, row_keys = dictionary_to_vector(parameters)
    grad = gradients_to_vector(gradients, parameters)
    gradapprox = np.zeros_like(theta)

    def cost(values):
        trial = vector_to_dictionary(values, parameters)
        AL, _ = L_model_forward(X, trial, hidden_activation, output_activation, keep_prob, seed)
        return compute_cost(AL, Y, trial, lambd, loss)

    for i in range(theta.shape[0]):
        theta_plus, theta_minus = theta.copy(), theta.copy()
        theta_plus[i] += epsilon
        theta_minus[i] -= epsilon
        gradapprox[i] = (cost(theta_plus) - cost(theta_minus)) / (2 * epsilon)
    numerator = np.linalg.norm(grad - gradapprox)
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    difference = float(numerator / denominator) if denominator else 0.0
    if difference > THRESHOLD:
        worst = int(np.argmax(np.abs(grad - gradapprox)))
        key = row_keys[worst]
        index = np.unravel_index(worst - row_keys.index(key), parameters[key].shape)
        where = f"d{key}[{', '.join(str(int(i)) for i in index)}]"
        print(
            f"\033[93mThere is a mistake in the backward propagation! difference = "
            f"{difference}; furthest off: {where} = {float(grad[worst, 0])!r}, numerical "
            f"{float(gradapprox[worst, 0])!r}\033[0m"
        )
    elif print_msg:
        print(
            f"\033[92mYour backward propagation works perfectly fine! difference = "
            f"{difference}\033[0m"
        )
    return difference
