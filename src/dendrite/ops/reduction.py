"""Reductions over axes: sum, mean, max, min (differentiable) and argmax, argmin."""

from dendrite.backend import get_array_module
from dendrite.ops.operation import Operation, apply

__all__ = ["argmax", "argmin", "max", "mean", "min", "std", "sum", "var"]


def _axes(axis, ndim):
    """``axis`` (None, an int or a sequence, negatives allowed) as a sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim for a in axes))


def _reduced_shape(shape, axis, keepdims):
    axes = _axes(axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


class Reduction(Operation):
    """Base: ``axis`` (None: all axes; an int or a tuple) and ``keepdims`` (default False)."""

    def __init__(self, axis=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis if axis is None or isinstance(axis, int) else tuple(axis)
        self.keepdims = bool(keepdims)

    def output_shape(self, shape):
        return _reduced_shape(shape, self.axis, self.keepdims)

    def _expand(self, grad):
        """A reduced gradient reshaped to broadcast against the input (keepdims restored)."""
        shape = _reduced_shape(self._x_shape, self.axis, True)
        return grad.reshape(shape)

    def get_config(self):
        axis = list(self.axis) if isinstance(self.axis, tuple) else self.axis
        return {**super().get_config(), "axis": axis, "keepdims": self.keepdims}


class Sum(Reduction):
    """Sum over ``axis``; backward copies dy to every summed element."""

    cache_attributes = ("_x_shape",)

    def compute(self, x):
        self._x_shape = tuple(x.shape)
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def gradients(self, dy):
        xp = get_array_module(dy)
        return (xp.broadcast_to(self._expand(dy), self._x_shape).copy(),)


class Mean(Reduction):
    """Mean over ``axis``; backward is dy / (number of averaged elements)."""

    cache_attributes = ("_x_shape",)

    def compute(self, x):
        self._x_shape = tuple(x.shape)
        return x.mean(axis=self.axis, keepdims=self.keepdims)

    def gradients(self, dy):
        xp = get_array_module(dy)
        count = 1
        for axis in _axes(self.axis, len(self._x_shape)):
            count *= self._x_shape[axis]
        return (xp.broadcast_to(self._expand(dy) / count, self._x_shape).copy(),)


class Var(Reduction):
    """Population variance over ``axis``: mean((x - mean(x))^2); d/dx = 2 (x - mean) / n."""

    cache_attributes = ("_x_shape", "_centered")

    def compute(self, x):
        self._x_shape = tuple(x.shape)
        self._centered = x - x.mean(axis=self.axis, keepdims=True)
        return (self._centered ** 2).mean(axis=self.axis, keepdims=self.keepdims)

    def gradients(self, dy):
        count = 1
        for axis in _axes(self.axis, len(self._x_shape)):
            count *= self._x_shape[axis]
        return (self._expand(dy) * 2 * self._centered / count,)


class Extremum(Reduction):
    """Max or min over ``axis``; the gradient goes to the extreme elements, split equally among
    ties (as TensorFlow does, so the gradient stays the derivative of a symmetric function)."""

    cache_attributes = ("_x_shape", "_hits")

    def compute(self, x):
        self._x_shape = tuple(x.shape)
        result = self.reduce(x, axis=self.axis, keepdims=True)
        hits = x == result
        self._hits = hits / hits.sum(axis=self.axis, keepdims=True)
        return result if self.keepdims else result.reshape(self.output_shape(x.shape))

    def gradients(self, dy):
        return (self._expand(dy) * self._hits,)


class Max(Extremum):
    def reduce(self, x, **kwargs):
        return x.max(**kwargs)


class Min(Extremum):
    def reduce(self, x, **kwargs):
        return x.min(**kwargs)


class ArgReduction(Reduction):
    """Index of the extreme element along one ``axis`` (an integer output, no gradient)."""

    differentiable = False
    cache_attributes = ()

    def output_dtype(self, dtypes):
        return "int64"

    def compute(self, x):
        return self.reduce(x)


class Argmax(ArgReduction):
    def reduce(self, x):
        return x.argmax(axis=self.axis, keepdims=self.keepdims)


class Argmin(ArgReduction):
    def reduce(self, x):
        return x.argmin(axis=self.axis, keepdims=self.keepdims)


def sum(x, axis=None, keepdims=False):
    return apply(Sum, (x,), axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return apply(Mean, (x,), axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False):
    return apply(Var, (x,), axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    from dendrite.ops.elementwise import sqrt

    return sqrt(var(x, axis=axis, keepdims=keepdims))


def max(x, axis=None, keepdims=False):
    return apply(Max, (x,), axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    return apply(Min, (x,), axis=axis, keepdims=keepdims)


def argmax(x, axis=None, keepdims=False):
    return apply(Argmax, (x,), axis=axis, keepdims=keepdims)


def argmin(x, axis=None, keepdims=False):
    return apply(Argmin, (x,), axis=axis, keepdims=keepdims)
