"""Core layers: Dense, activation layers, dropout, and shape layers."""

import math

from dendrite import activations, backend, initializers, regularizers
from dendrite.errors import (
    arg_error,
    check_bool,
    check_number,
    fraction,
    is_integer,
    positive_int,
    seed_value,
    shape_error,
)
from dendrite.kernels import (
    dropout_mask,
    gaussian_noise,
    linear_backward,
    linear_forward,
    to_device_like,
)
from dendrite.layers.base import Layer, pre_activation_gradient


class KernelLayer(Layer):
    """Base of layers computing y = activation(f(x, kernel) + bias): Dense and the convolutions.

    Holds the arguments they share and their handling: the activation (applied in place when its
    backward only needs the output), the kernel and bias variables, and their config.

    Args:
        activation: name or Activation; None means identity. Default None.
        use_bias: add a learned bias vector. Default True.
        kernel_initializer: name or Initializer. Default "glorot_uniform".
        bias_initializer: name or Initializer. Default "zeros".
        kernel_regularizer, bias_regularizer: name or Regularizer, or None (default).
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.
    """

    def __init__(self, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.use_bias = check_bool(self, "use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def add_kernel_and_bias(self, kernel_shape, units):
        """Create ``self.kernel`` of ``kernel_shape`` and ``self.bias`` of (units,) or None."""
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                                      self.kernel_regularizer)
        self.bias = (self.add_weight("bias", (units,), self.bias_initializer,
                                     self.bias_regularizer) if self.use_bias else None)

    @property
    def bias_value(self):
        return None if self.bias is None else self.bias.value

    @property
    def bias_grad(self):
        return None if self.bias is None else self.bias.grad

    def activate(self, z):
        """y = activation(z), keeping what the activation's backward needs (z is consumed)."""
        if self.activation.needs == "y":
            self._z = None
            self._y = self.activation.forward(z, out=z)  # in place: z is not needed again
        else:
            self._z, self._y = z, self.activation.forward(z)
        return self._y

    def pre_activation_gradient(self, dy, logit_grad=None):
        """dL/dz for the last :meth:`activate` call.

        ``dy`` (dL/dy from the layers reading the output, or None) goes through the activation's
        backward; ``logit_grad`` (a loss's fused dL/dz, or None) is added as it is.
        """
        return pre_activation_gradient(self.activation, dy, self._z, self._y, logit_grad)

    @property
    def output_activation(self):
        return self.activation

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}


class Dense(KernelLayer):
    """Fully connected layer: y = activation(x @ kernel + bias).

    Args:
        units: positive int, size of the output's last axis.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer: see :class:`KernelLayer` (defaults None, True, "glorot_uniform",
            "zeros", None, None).
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  (batch, ..., in_features)
    Output shape: (batch, ..., units)

    Attributes:
        kernel: Variable (in_features, units). bias: Variable (units,) or None.

    Example:
        >>> Dense(3).compute_output_shape((32, 784))
        (32, 3)
    """

    cache_attributes = ("_x", "_z", "_y")
    supports_masking = True  # element-wise along time: the mask passes through

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, **kwargs)
        self.units = positive_int(self, "units", units)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise shape_error(self, "(batch, in_features) with a known in_features",
                              tuple(input_shape))
        self.add_kernel_and_bias((input_shape[-1], self.units), self.units)

    def forward(self, x, training=False):
        in_features = self.kernel.shape[0]
        self.check_input(x, last_axis=in_features, expected=("batch", in_features))
        self._x = x
        return self.activate(linear_forward(x, self.kernel.value, self.bias_value))

    def backward(self, dy, need_dx=True, logit_grad=None):
        dz = self.pre_activation_gradient(dy, logit_grad)
        dx, _, _ = linear_backward(dz, self._x, self.kernel.value, self.kernel.grad,
                                   self.bias_grad, need_dx=need_dx)
        return dx

    def compute_output_shape(self, input_shape):
        if self.built and input_shape[-1] not in (None, self.kernel.shape[0]):
            raise shape_error(self, f"(batch, {self.kernel.shape[0]})", tuple(input_shape))
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Activation(Layer):
    """Applies an activation function element-wise (softmax over the last axis).

    Args:
        activation: name or :class:`dendrite.activations.Activation`.

    Input shape:  any. Output shape: same as input.
    """

    cache_attributes = ("_x", "_y")
    supports_masking = True  # element-wise along time: the mask passes through

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, x, training=False):
        self._x = x if self.activation.needs == "x" else None
        self._y = self.activation.forward(x)
        return self._y

    def backward(self, dy, logit_grad=None):
        return pre_activation_gradient(self.activation, dy, self._x, self._y, logit_grad)

    @property
    def output_activation(self):
        return self.activation

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(Layer):
    """f(x) = min(max_value, x) for x > threshold, else negative_slope * (x - threshold).

    Args:
        max_value: cap on the output, or None (default).
        negative_slope: slope below the threshold. Default 0.0.
        threshold: where the function bends. Default 0.0.
    """

    cache_attributes = ("_x",)
    supports_masking = True  # element-wise along time: the mask passes through

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        max_value = check_number(self, "max_value", max_value, low=0, allow_none=True,
                                 expected="None or >= 0")
        negative_slope = check_number(self, "negative_slope", negative_slope, low=0,
                                      expected=">= 0")
        threshold = check_number(self, "threshold", threshold)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def forward(self, x, training=False):
        self._x = x
        return activations.relu(x, self.negative_slope, self.max_value, self.threshold)

    def backward(self, dy):
        xp = backend.get_array_module(dy)
        x = self._x
        slope = xp.where(x > self.threshold, 1, self.negative_slope).astype(dy.dtype)
        if self.max_value is not None:
            slope[x >= self.max_value] = 0
        return dy * slope

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Activation):
    """f(x) = x for x > 0, else negative_slope * x. Default negative_slope=0.3 (Keras's layer)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        negative_slope = check_number("LeakyReLU", "negative_slope", negative_slope, low=0,
                                      expected=">= 0")
        super().__init__(activations.LeakyReLU(negative_slope), **kwargs)
        self.negative_slope = negative_slope

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return {**config, "negative_slope": self.negative_slope}


class ELU(Activation):
    """f(x) = x for x > 0, else alpha * (exp(x) - 1). Default alpha=1.0."""

    def __init__(self, alpha=1.0, **kwargs):
        alpha = check_number("ELU", "alpha", alpha)
        super().__init__(activations.ELU(alpha), **kwargs)
        self.alpha = alpha

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return {**config, "alpha": self.alpha}


class Softmax(Activation):
    """Softmax over ``axis`` (default -1)."""

    def __init__(self, axis=-1, **kwargs):
        axis = check_number("Softmax", "axis", axis, integer=True)
        super().__init__(activations.Softmax(axis), **kwargs)
        self.axis = axis

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return {**config, "axis": self.axis}


class _NoiseLayer(Layer):
    """Multiplies the input by random noise during training; identity at inference."""

    cache_attributes = ("_noise",)
    supports_masking = True  # element-wise along time: the mask passes through

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = fraction(self, "rate", rate)
        self.seed = seed_value(self, seed)
        self._rng = backend.make_generator(seed)
        self._noise = None

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._noise = None
            return x
        # drawn where x lives: a device generator seeded from this layer's for device arrays
        noise = self.sample_noise(tuple(x.shape), x.dtype.name, backend.random_stream(self._rng, x))
        self._noise = to_device_like(noise, x)
        return x * self._noise

    def backward(self, dy):
        return dy if self._noise is None else dy * self._noise

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Dropout(_NoiseLayer):
    """Inverted Bernoulli dropout: in training, y = x * mask / (1 - rate),
    mask ~ Bernoulli(1 - rate).

    Identity at inference. Args: rate in [0, 1), fraction of inputs dropped; seed (int or None).
    """

    def sample_noise(self, shape, dtype, rng):
        return dropout_mask(rng, shape, self.rate, dtype)


class GaussianDropout(_NoiseLayer):
    """Multiplicative Gaussian noise: in training, y = x * n with n ~ N(1, rate / (1 - rate)).

    Identity at inference. Args: rate in [0, 1); seed (int or None).
    """

    def sample_noise(self, shape, dtype, rng):
        return gaussian_noise(rng, shape, 1.0, math.sqrt(self.rate / (1.0 - self.rate)), dtype)


class Flatten(Layer):
    """Flattens every axis but the batch axis: (batch, d1, ..., dk) -> (batch, d1 * ... * dk)."""

    cache_attributes = ("_shape",)

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._shape)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)


class Reshape(Layer):
    """Reshapes to (batch, *target_shape); one entry of target_shape may be -1.

    Args:
        target_shape: tuple of ints without the batch axis.
    """

    cache_attributes = ("_shape",)

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        received = target_shape
        target_shape = tuple(target_shape) if isinstance(target_shape, (tuple, list)) else (None,)
        if sum(d == -1 for d in target_shape) > 1 or any(
                not is_integer(d) or (d < 1 and d != -1) for d in target_shape):
            raise arg_error(self, "target_shape", "positive ints with at most one -1", received)
        self.target_shape = tuple(int(d) for d in target_shape)

    def forward(self, x, training=False):
        target = self.compute_output_shape(tuple(x.shape))
        self._shape = x.shape
        return x.reshape(target)

    def backward(self, dy):
        return dy.reshape(self._shape)

    def compute_output_shape(self, input_shape):
        size = None if any(d is None for d in input_shape[1:]) else math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size is None:
                return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
            if size % known:
                raise shape_error(self, f"a size divisible by {known}", tuple(input_shape))
            return (input_shape[0], *(size // known if d == -1 else d for d in self.target_shape))
        if size is not None and size != known:
            raise shape_error(self, f"(batch, ...) with {known} elements per example",
                              tuple(input_shape))
        return (input_shape[0], *self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
