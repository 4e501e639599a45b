"""The layers whose training pass looks across the batch, made exact under data parallelism.

While an :class:`~dendrite.distributed.MPIStrategy` scope is active, each such layer instance
gets bound methods that replace its class's (removed again on exit, so configs, saving and class
names never change):

- ``BatchNormalization`` (training): the per-feature sums of x, of (x - mean)^2, of dY and of
  dY * x_hat are all-reduced, so every rank normalizes with the global batch's mean and variance
  (Keras's ``synchronized=True``) and back-propagates the exact global-batch gradient;
- noise layers (Dropout, GaussianDropout, SpatialDropout2D): the mask of the whole global batch is
  drawn (the generator's state is the same on every rank) and the rank keeps its rows.
"""

import types

from dendrite.backend import get_array_module


def all_layers(model):
    """Every layer of ``model`` and of the models nested in it."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers") and getattr(layer, "_graph", None) is not None:
            yield from all_layers(layer)


def generators(model):
    """The random generators training draws from: the shuffle's and each layer's ``_rng``."""
    from dendrite.backend import host

    found = [model.shuffle_generator] if getattr(model, "shuffle_generator", None) else []
    for layer in all_layers(model):
        generator = getattr(layer, "_rng", None)
        if isinstance(generator, host.random.Generator):
            found.append(generator)
    return found


def patch(model, strategy):
    """Bind the synchronized methods on the layers of ``model``; returns what :func:`unpatch`
    needs to undo it."""
    from dendrite.layers.core import _NoiseLayer
    from dendrite.layers.normalization import BatchNormalization

    patched = []
    for layer in all_layers(model):
        if isinstance(layer, BatchNormalization):
            methods = {"forward": _batch_norm_forward, "backward": _batch_norm_backward}
        elif isinstance(layer, _NoiseLayer):
            methods = {"sample_noise": _sharded_noise}
        else:
            continue
        layer._distributed = strategy
        for name, function in methods.items():
            setattr(layer, name, types.MethodType(function, layer))
        patched.append((layer, ["_distributed", *methods]))
    return patched


def unpatch(patched):
    for layer, names in patched:
        for name in names:
            delattr(layer, name)


def _sharded_noise(self, shape, *args):
    """This rank's rows of the noise of the whole global batch (``args``: as the class's)."""
    rows, start, stop = self._distributed.bounds
    noise = type(self).sample_noise(self, (rows, *shape[1:]), *args)
    return noise[start:stop]


def _batch_norm_forward(self, x, training=False):
    """BatchNormalization.forward with the mean and variance of the global batch."""
    if not (training and self.trainable):
        return type(self).forward(self, x, training=training)
    self._check(x.shape)
    xp = get_array_module(x)
    strategy, axes, shape = self._distributed, self._reduce_axes, self._broadcast_shape
    features = x.shape[self._axis]
    # [sum of x per feature, number of values per feature], summed over ranks
    sums = strategy.allreduce_array(xp.concatenate(
        [x.sum(axis=axes), xp.asarray([x.size // features], dtype=x.dtype)]))
    count = sums[-1]
    mean = (sums[:-1] / count).reshape(shape).astype(x.dtype, copy=False)
    x_hat = x - mean
    var = (strategy.allreduce_array((x_hat * x_hat).sum(axis=axes)) / count).astype(
        x.dtype, copy=False)  # biased, over the global batch
    self._update_moving(self.moving_mean.value, mean.reshape(-1))
    self._update_moving(self.moving_variance.value, var)
    inv_std = 1 / xp.sqrt(var.reshape(shape) + self.epsilon)
    x_hat *= inv_std
    # the global count rides in the (truthy) flag the cache already keeps for backward
    self._x_hat, self._inv_std, self._batch_statistics = x_hat, inv_std, float(count)
    return self._scale_and_center(x_hat)


def _batch_norm_backward(self, dy, need_dx=True):
    """BatchNormalization.backward through the global batch's statistics.

    With m the global count and sums over the global batch (all-reduced):
    dX = gamma / sqrt(var + eps) * (dY - sum(dY) / m - x_hat * sum(dY * x_hat) / m).
    The parameter gradients stay this rank's share (the flat Allreduce sums them).
    """
    if not self._batch_statistics:
        return type(self).backward(self, dy, need_dx=need_dx)
    x_hat, axes, shape = self._x_hat, self._reduce_axes, self._broadcast_shape
    xp = get_array_module(dy)
    sum_dy = dy.sum(axis=axes)
    sum_dy_x_hat = (dy * x_hat).sum(axis=axes)
    if self.center and self.beta.trainable:
        self.beta.grad += sum_dy
    if self.scale and self.gamma.trainable:
        self.gamma.grad += sum_dy_x_hat
    if not need_dx:
        return None
    features = sum_dy.shape[0]
    sums = self._distributed.allreduce_array(xp.concatenate([sum_dy, sum_dy_x_hat]))
    count = self._batch_statistics
    factor = self._inv_std
    if self.scale:
        factor = factor * self.gamma.value.reshape(shape)
    dx = dy - (sums[:features] / count).reshape(shape).astype(dy.dtype, copy=False)
    dx -= x_hat * (sums[features:] / count).reshape(shape).astype(dy.dtype, copy=False)
    dx *= factor
    return dx
