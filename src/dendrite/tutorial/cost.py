"""The cross-entropy cost of the tutorials, in column layout.

Binary (sigmoid outputs):   J = -1/m * sum(Y log AL + (1 - Y) log(1 - AL))
Categorical (softmax):      J = -1/m * sum(Y log AL)
With L2 regularisation:     J += lambd / (2 m) * sum_l ||W{l}||^2

The sums run over every unit and example. The per-example values come from
:mod:`dendrite.losses` (``binary_crossentropy`` / ``categorical_crossentropy``), which clip AL to
[eps, 1 - eps] (eps = :func:`dendrite.config.epsilon`, 1e-7) so that AL = 0 or 1 gives a finite cost
instead of the NaN of ``0 * log(0)``.
"""

from dendrite import losses
from dendrite.backend import host as np
from dendrite.errors import lookup
from dendrite.tutorial._checks import as_array, check_binary, check_non_negative, check_one_hot
from dendrite.tutorial.regularization import l2_regularization_cost

_LOSSES = ("auto", "binary", "categorical")


def resolve_loss(loss, n_y):
    """ "binary" or "categorical": "auto" is binary for one output unit, else categorical."""
    lookup("loss", loss, dict.fromkeys(_LOSSES))
    if loss == "auto":
        return "binary" if n_y == 1 else "categorical"
    return loss


def loss_for_output(output_activation):
    """The cost that goes with an output activation: sigmoid -> binary, softmax -> categorical."""
    losses_by_activation = {"sigmoid": "binary", "softmax": "categorical"}
    return lookup("output activation", output_activation, losses_by_activation)


def check_targets(AL, Y, who, loss="auto"):
    """Check Y against AL (same shape; {0, 1} for binary, one-hot columns for categorical).

    Returns ``(Y, loss)``: Y as an array of AL's dtype, and the resolved loss name.
    """
    Y = as_array(Y, who, "Y")
    if Y.shape != AL.shape:
        hint = ""
        if Y.shape == AL.shape[::-1]:
            hint = ", which looks like row layout (m, n_y): pass Y.T"
        elif Y.ndim == 1 and AL.shape[0] == 1:
            hint = ": pass Y.reshape(1, -1)"
        elif Y.shape[:1] == (1,) and AL.shape[0] > 1:
            hint = f": pass one-hot columns, convert_to_one_hot(Y, {AL.shape[0]})"
        raise ValueError(
            f"{who}: expected Y of the shape of AL, (n_y, m) = {AL.shape}; got {Y.shape}{hint}"
        )
    loss = resolve_loss(loss, AL.shape[0])
    if loss == "binary":
        check_binary(Y, who)
    else:
        check_one_hot(Y, who)
    return Y.astype(AL.dtype, copy=False), loss


def compute_cost(AL, Y, parameters=None, lambd=0.0, loss="auto"):
    """The cross-entropy cost of the module docstring, with an optional L2 term.

    Args:
        AL: predictions (n_y, m), the output of :func:`L_model_forward`.
        Y: true labels (n_y, m): 0/1 for a binary cost, one-hot columns for a categorical one.
        parameters: the parameters dict; needed only when ``lambd > 0``.
        lambd: L2 regularisation factor. Default 0.
        loss: "binary", "categorical" or "auto" (default: binary for n_y = 1, else
            categorical). Sigmoid outputs with n_y > 1 (several independent yes/no units) need
            "binary".

    Returns:
        The cost, a Python float.

    Raises:
        ValueError: Y not shaped like AL, Y outside {0, 1} for the binary cost, or columns
            that are not one-hot for the categorical cost.

    Example:
        >>> import numpy as np
        >>> round(compute_cost(np.array([[0.8, 0.9, 0.4]]), np.array([[1, 1, 0]])), 6)
        0.279777
    """
    who = "compute_cost"
    AL = as_array(AL, who, "AL")
    if AL.ndim != 2:
        raise ValueError(f"{who}: expected AL of shape (n_y, m); got {AL.shape}")
    Y, loss = check_targets(AL, Y, who, loss)
    lambd = check_non_negative(lambd, who, "lambd")
    n_y, m = AL.shape
    if loss == "binary":  # per-example mean over the n_y units, times n_y: the sum
        cost = float(losses.binary_crossentropy(Y.T, AL.T).sum()) * n_y / m
    else:
        cost = float(losses.categorical_crossentropy(Y.T, AL.T).sum()) / m
    if lambd:
        if parameters is None:
            raise ValueError(f"{who}: lambd={lambd} needs the parameters for the L2 term")
        cost += l2_regularization_cost(parameters, lambd, m)
    return cost


def compute_cost_with_regularization(AL, Y, parameters, lambd):
    """The regularisation notebook's name for ``compute_cost(AL, Y, parameters, lambd)``."""
    return compute_cost(AL, Y, parameters, lambd)


def convert_to_one_hot(Y, C):
    """One-hot columns from integer labels: (1, m) or (m,) in [0, C) -> (C, m) float64.

    Example:
        >>> convert_to_one_hot([[1, 0, 2]], 3)
        array([[0., 1., 0.],
               [1., 0., 0.],
               [0., 0., 1.]])
    """
    labels = as_array(Y, "convert_to_one_hot", "Y").reshape(-1)
    if labels.dtype.kind == "f" and not (labels == np.floor(labels)).all():
        raise ValueError("convert_to_one_hot: labels must be integers")
    if labels.size and (labels.min() < 0 or labels.max() >= C):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"convert_to_one_hot: labels must be in [0, {C}); got label {bad}")
    return np.eye(C)[labels.astype(np.int64)].T
