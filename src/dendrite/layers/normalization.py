"""Normalization layers: BatchNormalization, LayerNormalization."""

from dendrite import initializers, regularizers
from dendrite.backend import get_array_module
from dendrite.errors import (
    arg_error,
    check_bool,
    check_number,
    describe,
    fraction,
    is_integer,
    shape_error,
)
from dendrite.layers.base import Layer


class _Normalization(Layer):
    """Base of the normalization layers: the learned affine map y = gamma * x_hat + beta, applied
    after normalizing x to x_hat (gamma with ``scale``, beta with ``center``)."""

    def _init_affine(self, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                     gamma_regularizer):
        self.center = check_bool(self, "center", center)
        self.scale = check_bool(self, "scale", scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def _add_affine_weights(self, shape):
        self.gamma = (self.add_weight("gamma", shape, self.gamma_initializer,
                                      self.gamma_regularizer) if self.scale else None)
        self.beta = (self.add_weight("beta", shape, self.beta_initializer,
                                     self.beta_regularizer) if self.center else None)

    def _scale_and_center(self, x_hat):
        """y = gamma * x_hat + beta, gamma and beta reshaped to ``self._broadcast_shape``."""
        shape = self._broadcast_shape
        y = x_hat * self.gamma.value.reshape(shape) if self.scale else x_hat.copy()
        if self.center:
            y += self.beta.value.reshape(shape)
        return y


class BatchNormalization(_Normalization):
    """Batch normalization (Ioffe & Szegedy, 2015) with Keras's conventions.

        y = gamma * (x - mean) / sqrt(var + epsilon) + beta

    per feature along ``axis``. In training (``forward(x, training=True)``) mean and var are the
    batch's, over every axis but ``axis``, with the biased variance (divided by m, the number of
    values per feature), and the moving statistics are updated as

        moving_mean = momentum * moving_mean + (1 - momentum) * mean
        moving_variance = momentum * moving_variance + (1 - momentum) * var

    At inference the moving statistics replace the batch's. A layer with ``trainable=False`` always
    runs in inference mode (Keras's rule for fine-tuning).

    PyTorch differs in two conventions: its ``momentum`` is the weight of the *new* statistic
    (torch momentum = 1 - Keras momentum; default 0.1 there, 0.99 here), and its running variance
    is updated with the unbiased variance var * m / (m - 1), while both normalize the batch with the
    biased one. PyTorch's default epsilon is 1e-5.

    Backward in training mode is exact, including the dependence of mean and var on x:

        dX = gamma / sqrt(var + epsilon) * (dY - mean(dY) - x_hat * mean(dY * x_hat))

    with x_hat = (x - mean) / sqrt(var + epsilon) and the means over the reduced axes.

    Args:
        axis: int, the feature axis (not the batch axis). Default -1 (channels last); use 1
            after channels-first convolutions.
        momentum: float in [0, 1], weight of the old moving statistics. Default 0.99.
        epsilon: positive float added to the variance. Default 1e-3.
        center: learn the offset beta. Default True.
        scale: learn the factor gamma. Default True.
        beta_initializer: default "zeros". gamma_initializer: default "ones".
        moving_mean_initializer: default "zeros". moving_variance_initializer: default "ones".
        beta_regularizer, gamma_regularizer: name or Regularizer, or None (default).
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  any, e.g. (batch, features) after Dense or (batch, height, width, channels)
        after Conv2D.
    Output shape: same as input.

    Attributes:
        gamma, beta: trainable Variables (features,), or None without scale / center.
        moving_mean, moving_variance: non-trainable Variables (features,).

    Example:
        >>> BatchNormalization().compute_output_shape((None, 26, 26, 32))
        (None, 26, 26, 32)
    """

    cache_attributes = ("_x_hat", "_inv_std", "_batch_statistics")

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = check_number(self, "axis", axis, integer=True, expected="an integer")
        self.momentum = fraction(self, "momentum", momentum, closed_right=True)
        self.epsilon = check_number(self, "epsilon", epsilon, low=0, low_open=True,
                                    expected="a positive float")
        self._init_affine(center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                          gamma_regularizer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def _feature_axis(self, input_shape):
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(f"{describe(self)}: axis must index a non-batch axis of the input "
                             f"shape {tuple(input_shape)}; got axis={self.axis}.")
        return self.axis % ndim

    def build(self, input_shape):
        axis = self._feature_axis(input_shape)
        features = input_shape[axis]
        if features is None:
            raise shape_error(self, f"an input with a known size along axis {self.axis}",
                              tuple(input_shape))
        self._ndim, self._axis = len(input_shape), axis
        self._reduce_axes = tuple(a for a in range(self._ndim) if a != axis)
        self._broadcast_shape = tuple(features if a == axis else 1 for a in range(self._ndim))
        shape = (features,)
        self._add_affine_weights(shape)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer, trainable=False)

    def _check(self, shape):
        features = self.moving_mean.shape[0]
        if len(shape) != self._ndim or shape[self._axis] != features:
            expected = ["batch", *["..."] * (self._ndim - 1)]
            expected[self._axis] = features
            raise shape_error(self, "(" + ", ".join(str(d) for d in expected) + ")", tuple(shape))

    def forward(self, x, training=False):
        self._check(x.shape)
        xp = get_array_module(x)
        shape = self._broadcast_shape
        self._batch_statistics = training and self.trainable
        if self._batch_statistics:
            mean = x.mean(axis=self._reduce_axes, keepdims=True)
            x_hat = x - mean
            var = (x_hat * x_hat).mean(axis=self._reduce_axes, keepdims=True)  # biased
            self._update_moving(self.moving_mean.value, mean.reshape(-1))
            self._update_moving(self.moving_variance.value, var.reshape(-1))
        else:
            mean = self.moving_mean.value.reshape(shape)
            var = self.moving_variance.value.reshape(shape)
            x_hat = x - mean
        inv_std = 1 / xp.sqrt(var + self.epsilon)
        x_hat *= inv_std
        self._x_hat, self._inv_std = x_hat, inv_std
        return self._scale_and_center(x_hat)

    def _update_moving(self, moving, statistic):
        # moving = momentum * moving + (1 - momentum) * statistic, in place
        moving *= self.momentum
        moving += (1 - self.momentum) * statistic

    def backward(self, dy, need_dx=True):
        x_hat, axes = self._x_hat, self._reduce_axes
        sum_dy = dy.sum(axis=axes)                 # dbeta
        sum_dy_x_hat = (dy * x_hat).sum(axis=axes)  # dgamma
        if self.center and self.beta.trainable:
            self.beta.grad += sum_dy
        if self.scale and self.gamma.trainable:
            self.gamma.grad += sum_dy_x_hat
        if not need_dx:
            return None
        shape = self._broadcast_shape
        factor = self._inv_std
        if self.scale:
            factor = factor * self.gamma.value.reshape(shape)
        if not self._batch_statistics:
            return dy * factor  # dX = dY * gamma / sqrt(moving_variance + epsilon)
        m = x_hat.size // x_hat.shape[self._axis]  # values per feature
        # dX = gamma / sqrt(var + eps) * (dY - mean(dY) - x_hat * mean(dY * x_hat))
        dx = dy - (sum_dy / m).reshape(shape)
        dx -= x_hat * (sum_dy_x_hat / m).reshape(shape)
        dx *= factor
        return dx

    def compute_output_shape(self, input_shape):
        self._feature_axis(input_shape)
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer":
                    initializers.serialize(self.moving_variance_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer)}


class LayerNormalization(_Normalization):
    """Layer normalization (Ba et al., 2016): each example normalized over its feature axes.

        y = gamma * (x - mean) / sqrt(var + epsilon) + beta

    with mean and the biased var taken per example over ``axis``, in training and inference alike
    (no moving statistics). Backward, with x_hat the normalized input and means over ``axis``:

        dX = (dY * gamma - mean(dY * gamma) - x_hat * mean(dY * gamma * x_hat)) / sqrt(var + eps)

    Args:
        axis: int or list of ints, the axes normalized (not the batch axis). Default -1.
        epsilon: positive float added to the variance. Default 1e-3 (Keras; PyTorch uses 1e-5).
        center: learn the offset beta. Default True. scale: learn the factor gamma. Default True.
        beta_initializer: default "zeros". gamma_initializer: default "ones".
        beta_regularizer, gamma_regularizer: name or Regularizer, or None (default).
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  any, e.g. (batch, timesteps, features). Output shape: same as input.

    Attributes:
        gamma, beta: Variables of the input's shape along ``axis``, or None without scale / center.

    Example:
        >>> LayerNormalization().compute_output_shape((None, 10, 64))
        (None, 10, 64)
    """

    cache_attributes = ("_x_hat", "_inv_std")

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(not is_integer(a) for a in axes):
            raise arg_error(self, "axis", "an integer or a list of integers", axis)
        self.axis = int(axis) if is_integer(axis) else [int(a) for a in axis]
        self.epsilon = check_number(self, "epsilon", epsilon, low=0, low_open=True,
                                    expected="a positive float")
        self._init_affine(center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                          gamma_regularizer)

    def _axes(self, input_shape):
        ndim = len(input_shape)
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        if any(not -ndim <= a < ndim or a % ndim == 0 for a in axes):
            raise ValueError(f"{describe(self)}: axis must index non-batch axes of the input "
                             f"shape {tuple(input_shape)}; got axis={self.axis}.")
        return tuple(sorted(a % ndim for a in axes))

    def build(self, input_shape):
        axes = self._axes(input_shape)
        if any(input_shape[a] is None for a in axes):
            raise shape_error(self, f"an input with known sizes along axis {self.axis}",
                              tuple(input_shape))
        self._ndim, self._norm_axes = len(input_shape), axes
        self._broadcast_shape = tuple(input_shape[a] if a in axes else 1
                                      for a in range(len(input_shape)))
        self._add_affine_weights(tuple(input_shape[a] for a in axes))

    def forward(self, x, training=False):
        if x.ndim != self._ndim or any(x.shape[a] != self._broadcast_shape[a]
                                       for a in self._norm_axes):
            expected = ["batch"] + ["..."] * (self._ndim - 1)
            for a in self._norm_axes:
                expected[a] = self._broadcast_shape[a]
            raise shape_error(self, "(" + ", ".join(str(d) for d in expected) + ")",
                              tuple(x.shape))
        xp = get_array_module(x)
        axes = self._norm_axes
        x_hat = x - x.mean(axis=axes, keepdims=True)
        var = (x_hat * x_hat).mean(axis=axes, keepdims=True)  # biased
        inv_std = 1 / xp.sqrt(var + self.epsilon)
        x_hat *= inv_std
        self._x_hat, self._inv_std = x_hat, inv_std
        return self._scale_and_center(x_hat)

    def backward(self, dy, need_dx=True):
        x_hat, axes = self._x_hat, self._norm_axes
        others = tuple(a for a in range(self._ndim) if a not in axes)
        if self.center and self.beta.trainable:
            self.beta.grad += dy.sum(axis=others).reshape(self.beta.shape)
        if self.scale and self.gamma.trainable:
            self.gamma.grad += (dy * x_hat).sum(axis=others).reshape(self.gamma.shape)
        if not need_dx:
            return None
        d_x_hat = dy * self.gamma.value.reshape(self._broadcast_shape) if self.scale else dy.copy()
        # dX = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / sqrt(var + eps)
        dx = d_x_hat - d_x_hat.mean(axis=axes, keepdims=True)
        dx -= x_hat * (d_x_hat * x_hat).mean(axis=axes, keepdims=True)
        dx *= self._inv_std
        return dx

    def compute_output_shape(self, input_shape):
        self._axes(input_shape)
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer)}
