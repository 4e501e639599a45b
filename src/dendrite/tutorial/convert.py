"""Moving weights between the tutorial's parameters dict and a ``Sequential`` of ``Dense`` layers.

The tutorial keeps ``W{l}`` as (n[l], n[l-1]) and ``b{l}`` as (n[l], 1) for column-layout inputs
(n_x, m); a ``Dense`` layer keeps ``kernel`` as (n[l-1], n[l]) and ``bias`` as (n[l],) for
row-layout inputs (m, n_x). So kernel = W^T and bias = b.ravel(), and
``model.predict(X.T)`` equals ``L_model_forward(X, parameters)[0].T``.
"""

from dendrite import activations as activations_module
from dendrite.layers import Dense
from dendrite.models import Sequential
from dendrite.tutorial._checks import num_layers
from dendrite.tutorial.forward import ACTIVATIONS, get_activation


def _dense_activation(name):
    """The row-layout activation of a ``Dense`` layer for a tutorial activation name."""
    kernel = get_activation(name)
    if name == "softmax":
        return "softmax"  # over the last axis, the units in row layout
    if name == "leaky_relu":
        return kernel  # keeps the tutorial's slope 0.01 (the Keras function's default is 0.2)
    return name


def to_sequential(parameters, activations):
    """A ``Sequential`` of ``Dense`` layers holding ``parameters`` (W transposed).

    Args:
        parameters: dict ``"W{l}"`` (n[l], n[l-1]), ``"b{l}"`` (n[l], 1), l = 1 .. L.
        activations: list of L activation names, one per layer, e.g.
            ``["relu"] * (L - 1) + ["sigmoid"]``.

    Returns:
        A built ``Sequential``; its layers have the parameters' dtype.

    Example:
        >>> from dendrite.tutorial import initialize_parameters_deep
        >>> parameters = initialize_parameters_deep([4, 3, 1], seed=1)
        >>> model = to_sequential(parameters, ["relu", "sigmoid"])
        >>> model.layers[0].kernel.shape
        (4, 3)
    """
    L = num_layers(parameters, "to_sequential")
    names = list(activations) if not isinstance(activations, str) else None
    if names is None or len(names) != L:
        raise ValueError(
            f"to_sequential: activations must be a list of {L} names, one per "
            f"layer; got {activations!r}"
        )
    layers = []
    for layer, name in enumerate(names, start=1):
        W = parameters[f"W{layer}"]
        extra = {"input_shape": (W.shape[1],)} if layer == 1 else {}
        layers.append(
            Dense(
                W.shape[0],
                activation=_dense_activation(name),
                kernel_initializer="zeros",
                dtype=W.dtype.name,
                **extra,
            )
        )
    model = Sequential(layers)
    for layer, dense in enumerate(model.layers, start=1):
        dense.kernel.assign(parameters[f"W{layer}"].T)
        dense.bias.assign(parameters[f"b{layer}"].ravel())
    return model


def from_sequential(model):
    """The tutorial's parameters and activation names of a ``Sequential`` of ``Dense`` layers.

    Args:
        model: a built Sequential whose layers are all ``Dense`` with a bias.

    Returns:
        ``(parameters, activations)``: ``"W{l}"`` = kernel^T (n[l], n[l-1]) and ``"b{l}"`` =
        bias as (n[l], 1), copies; and the list of activation names.

    Raises:
        ValueError: a layer that is not a Dense layer with a bias, or an activation the tutorial
            functions do not have.
    """
    parameters, names = {}, []
    for layer, dense in enumerate(model.layers, start=1):
        if not isinstance(dense, Dense) or dense.bias is None:
            raise ValueError(
                f"from_sequential: every layer must be a Dense layer with a bias; "
                f"layer {layer} is {dense!r}"
            )
        activation = dense.activation
        name = activation.name
        slope = getattr(activation, "negative_slope", None)
        if isinstance(activation, activations_module.LeakyReLU) and slope != 0.01:
            raise ValueError(
                f"from_sequential: the tutorial's leaky_relu has slope 0.01; layer "
                f"{layer} has negative_slope={slope}"
            )
        if name not in ACTIVATIONS:
            raise ValueError(
                f"from_sequential: layer {layer} has activation {name!r}; the "
                f"tutorial functions have {sorted(ACTIVATIONS)}"
            )
        parameters[f"W{layer}"] = dense.kernel.numpy().T.copy()
        parameters[f"b{layer}"] = dense.bias.numpy().reshape(-1, 1)
        names.append(name)
    return parameters, names
