"""Neural-network ops: the activations (each an op around :mod:`dendrite.activations`' kernels,
whose forward and backward it reuses) and ``one_hot``. ``dendrite.ops.nn`` holds these names."""

from dendrite import activations
from dendrite.backend import get_array_module
from dendrite.layers.base import unique_name
from dendrite.ops.operation import Operation, apply

__all__ = ["elu", "gelu", "leaky_relu", "log_softmax", "one_hot", "relu", "sigmoid", "silu",
           "softmax", "softplus", "swish", "tanh"]


class ActivationOp(Operation):
    """``activation`` (a name from :mod:`dendrite.activations`) applied to x, with that
    activation's parameters (``axis``, ``approximate``, ``alpha``, ``negative_slope``)."""

    cache_attributes = ("_x", "_y")

    def __init__(self, activation, name=None, **parameters):
        super().__init__(name=name or unique_name(activation))
        self.activation = activations.get({"class_name": activation, "config": parameters})

    def output_shape(self, shape):
        return shape

    def compute(self, x):
        self._x = x
        self._y = self.activation.forward(x)
        return self._y

    def gradients(self, dy):
        return (self.activation.backward(dy, self._x, self._y),)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.name,
                **self.activation.get_config()}



def _activation(name, x, **parameters):
    return apply(ActivationOp, (x,), activation=name, **parameters)


def relu(x):
    return _activation("relu", x)


def sigmoid(x):
    return _activation("sigmoid", x)


def tanh(x):
    return _activation("tanh", x)


def softplus(x):
    return _activation("softplus", x)


def silu(x):
    return _activation("silu", x)


swish = silu


def gelu(x, approximate=True):
    """GELU; Keras's ``ops.gelu`` defaults to the tanh approximation."""
    return _activation("gelu", x, approximate=approximate)


def elu(x, alpha=1.0):
    return _activation("elu", x, alpha=alpha)


def leaky_relu(x, negative_slope=0.2):
    return _activation("leaky_relu", x, negative_slope=negative_slope)


def softmax(x, axis=-1):
    return _activation("softmax", x, axis=axis)


def log_softmax(x, axis=-1):
    return _activation("log_softmax", x, axis=axis)


class OneHot(Operation):
    """Integer class indices -> one-hot rows of ``num_classes`` (a new last axis; no gradient)."""

    differentiable = False

    def __init__(self, num_classes, dtype=None, name=None):
        super().__init__(name=name)
        self.num_classes = int(num_classes)
        self.target_dtype = dtype

    def output_shape(self, shape):
        return (*shape, self.num_classes)

    def output_dtype(self, dtypes):
        from dendrite import backend

        return backend.standardize_dtype(self.target_dtype)

    def compute(self, x):
        xp = get_array_module(x)
        return (xp.asarray(x)[..., None] == xp.arange(self.num_classes)).astype(
            self.output_dtype(None))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "dtype": self.target_dtype}


def one_hot(x, num_classes, dtype=None):
    return apply(OneHot, (x,), num_classes=num_classes, dtype=dtype)


class LossValues(Operation):
    """The per-sample values of a built-in :class:`~dendrite.losses.Loss` (what it reduces), so a
    loss object or function (``keras.losses.mean_squared_error(y_true, y_pred)``) can be called
    on symbolic tensors inside a custom loss or a layer's ``call``. The gradient with respect to
    y_pred is the loss's own ``values_gradient`` times dy; y_true gets none.

    Input shape: y_true and y_pred as the loss takes them. Output shape: y_pred's without the
    last axis.
    """

    cache_attributes = ("_y_true", "_y_pred")

    def __init__(self, loss, name=None):
        from dendrite import losses

        loss = losses.get(loss)
        super().__init__(name=name or unique_name(loss.name))
        self.loss = loss

    def output_shape(self, true_shape, pred_shape):
        return tuple(pred_shape[:-1])

    def compute(self, y_true, y_pred):
        self._y_true, self._y_pred = self.loss.prepare(y_true, y_pred)
        return self.loss.values(self._y_true, self._y_pred)

    def gradients(self, dy):
        return None, self.loss.values_gradient(self._y_true, self._y_pred) * dy[..., None]

    def get_config(self):
        from dendrite import losses

        return {**super().get_config(), "loss": losses.serialize(self.loss)}


def loss_values(loss, y_true, y_pred):
    """Per-sample values of the built-in ``loss`` (a Loss object or name) for y_true, y_pred."""
    return apply(LossValues, (y_true, y_pred), loss=loss)
