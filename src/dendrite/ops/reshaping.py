"""Ops that move elements without arithmetic: reshape, transpose, concatenate, stack, split,
expand_dims, squeeze, and basic slicing (``x[:, 1:3]``)."""

import itertools
import math

from dendrite.backend import get_array_module, host
from dendrite.ops.operation import Operation, apply

__all__ = ["concatenate", "expand_dims", "flatten", "get_item", "reshape", "split", "squeeze",
           "stack", "transpose"]


class Reshape(Operation):
    """x with shape ``newshape`` (one entry may be -1 or None: inferred, e.g. the batch size from
    ``ops.shape(x)[0]``). Backward reshapes dy back."""

    cache_attributes = ("_x_shape",)

    def __init__(self, newshape, **kwargs):
        super().__init__(**kwargs)
        self.newshape = tuple(-1 if d is None else int(d) for d in newshape)
        if sum(d == -1 for d in self.newshape) > 1 or any(d < -1 or d == 0 for d in self.newshape):
            raise ValueError(f"{type(self).__name__}(name={self.name!r}): newshape must hold "
                             f"positive sizes and at most one -1; got newshape={self.newshape}")

    def output_shape(self, shape):
        known = [d for d in shape if d is not None]
        if None in shape:  # the unknown (batch) size goes where -1 is
            if -1 not in self.newshape:
                raise ValueError(f"{type(self).__name__}(name={self.name!r}): an input of shape "
                                 f"{shape} (unknown sizes) needs a -1 in newshape; got "
                                 f"{self.newshape}")
            return tuple(None if d == -1 else d for d in self.newshape)
        size = math.prod(known)
        fixed = math.prod(d for d in self.newshape if d != -1)
        if -1 in self.newshape:
            if size % fixed:
                raise self._size_error(shape)
            return tuple(size // fixed if d == -1 else d for d in self.newshape)
        if fixed != size:
            raise self._size_error(shape)
        return self.newshape

    def _size_error(self, shape):
        return ValueError(f"{type(self).__name__}(name={self.name!r}): cannot reshape an input of "
                          f"shape {tuple(shape)} into {self.newshape}")

    def compute(self, x):
        self._x_shape = tuple(x.shape)
        return x.reshape(self.newshape)

    def gradients(self, dy):
        return (dy.reshape(self._x_shape),)

    def get_config(self):
        return {**super().get_config(), "newshape": list(self.newshape)}


class Transpose(Operation):
    """x with its axes permuted by ``axes`` (None: reversed). Backward applies the inverse."""

    def __init__(self, axes=None, **kwargs):
        super().__init__(**kwargs)
        self.axes = None if axes is None else tuple(int(a) for a in axes)

    def _axes(self, ndim):
        return tuple(reversed(range(ndim))) if self.axes is None else tuple(
            a % ndim for a in self.axes)

    def output_shape(self, shape):
        return tuple(shape[a] for a in self._axes(len(shape)))

    def compute(self, x):
        return x.transpose(self._axes(x.ndim))

    def gradients(self, dy):
        axes = self._axes(dy.ndim)
        inverse = [0] * len(axes)
        for position, axis in enumerate(axes):
            inverse[axis] = position
        return (dy.transpose(inverse),)

    def get_config(self):
        return {**super().get_config(), "axes": None if self.axes is None else list(self.axes)}


class Concatenate(Operation):
    """The arguments joined along ``axis`` (default 0); backward splits dy at the same offsets."""

    cache_attributes = ("_sizes",)

    def __init__(self, axis=0, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def output_shape(self, *shapes):
        ndim = len(shapes[0])
        axis = self.axis % ndim
        for shape in shapes[1:]:
            if len(shape) != ndim or any(
                    i != axis and a is not None and b is not None and a != b
                    for i, (a, b) in enumerate(zip(shapes[0], shape))):
                raise ValueError(f"{type(self).__name__}(name={self.name!r}): shapes must match "
                                 f"except along axis {self.axis}; got "
                                 f"{', '.join(str(tuple(s)) for s in shapes)}")
        sizes = [s[axis] for s in shapes]
        total = None if None in sizes else sum(sizes)
        merged = [next((s[i] for s in shapes if s[i] is not None), None) for i in range(ndim)]
        merged[axis] = total
        return tuple(merged)

    def compute(self, *xs):
        self._sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(xs[0]).concatenate(xs, axis=self.axis)

    def gradients(self, dy):
        grads, start = [], 0
        for size in self._sizes:
            index = [slice(None)] * dy.ndim
            index[self.axis] = slice(start, start + size)
            grads.append(dy[tuple(index)])
            start += size
        return grads

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Stack(Operation):
    """The arguments (all one shape) stacked along a new ``axis`` (default 0)."""

    def __init__(self, axis=0, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def output_shape(self, *shapes):
        if any(len(s) != len(shapes[0]) for s in shapes):
            raise ValueError(f"{type(self).__name__}(name={self.name!r}): every argument must have "
                             f"the same shape; got {', '.join(str(tuple(s)) for s in shapes)}")
        shape = [next((s[i] for s in shapes if s[i] is not None), None)
                 for i in range(len(shapes[0]))]
        axis = self.axis % (len(shape) + 1)
        return tuple(shape[:axis] + [len(shapes)] + shape[axis:])

    def compute(self, *xs):
        return get_array_module(xs[0]).stack(xs, axis=self.axis)

    def gradients(self, dy):
        return [dy.take(i, axis=self.axis) for i in range(dy.shape[self.axis])]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Split(Operation):
    """x split along ``axis`` into ``indices_or_sections`` (a count of equal parts, or the split
    indices): several outputs. Backward concatenates the dys (zeros for unused parts)."""

    def __init__(self, indices_or_sections, axis=0, **kwargs):
        super().__init__(**kwargs)
        self.indices_or_sections = (int(indices_or_sections)
                                    if isinstance(indices_or_sections, int)
                                    else [int(i) for i in indices_or_sections])
        self.axis = int(axis)

    def _bounds(self, size):
        if isinstance(self.indices_or_sections, int):
            count = self.indices_or_sections
            if size % count:
                raise ValueError(f"{type(self).__name__}(name={self.name!r}): axis {self.axis} of "
                                 f"size {size} does not split into {count} equal parts")
            cuts = [size // count * i for i in range(1, count)]
        else:
            cuts = list(self.indices_or_sections)
        edges = [0, *cuts, size]
        return list(itertools.pairwise(edges))

    def output_shape(self, shape):
        axis = self.axis % len(shape)
        if shape[axis] is None:
            raise ValueError(f"{type(self).__name__}(name={self.name!r}): cannot split along axis "
                             f"{self.axis} of unknown size in shape {shape}")
        return [tuple(stop - start if i == axis else d for i, d in enumerate(shape))
                for start, stop in self._bounds(shape[axis])]

    def compute(self, x):
        xp = get_array_module(x)
        return xp.split(x, self.indices_or_sections, axis=self.axis)

    def gradients(self, dys):
        return (get_array_module(dys[0]).concatenate(dys, axis=self.axis),)

    def get_config(self):
        return {**super().get_config(), "indices_or_sections": self.indices_or_sections,
                "axis": self.axis}


class ExpandDims(Operation):
    """x with a new size-1 axis at ``axis``."""

    def __init__(self, axis, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def output_shape(self, shape):
        axis = self.axis % (len(shape) + 1)
        return (*shape[:axis], 1, *shape[axis:])

    def compute(self, x):
        return get_array_module(x).expand_dims(x, self.axis)

    def gradients(self, dy):
        return (dy.squeeze(axis=self.axis),)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Squeeze(Operation):
    """x without the size-1 axes ``axis`` (None: every size-1 axis)."""

    cache_attributes = ("_x_shape",)

    def __init__(self, axis=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis if axis is None or isinstance(axis, int) else tuple(axis)

    def output_shape(self, shape):
        axes = ([i for i, d in enumerate(shape) if d == 1] if self.axis is None else
                [a % len(shape)
                 for a in ((self.axis,) if isinstance(self.axis, int) else self.axis)])
        if any(shape[a] != 1 for a in axes):
            raise ValueError(f"{type(self).__name__}(name={self.name!r}): can only squeeze axes "
                             f"of size 1; got axis={self.axis} for shape {shape}")
        return tuple(d for i, d in enumerate(shape) if i not in axes)

    def compute(self, x):
        self._x_shape = tuple(x.shape)
        return x.squeeze(axis=self.axis)

    def gradients(self, dy):
        return (dy.reshape(self._x_shape),)

    def get_config(self):
        axis = list(self.axis) if isinstance(self.axis, tuple) else self.axis
        return {**super().get_config(), "axis": axis}


_UNKNOWN = 2 ** 40  # stands for an unknown size while inferring a slice's shape


class GetItem(Operation):
    """Basic slicing ``x[key]``: ints, slices, None and Ellipsis (no index arrays). Backward puts
    dy into zeros of x's shape at the same positions."""

    cache_attributes = ("_x_shape", "_x_dtype")

    def __init__(self, key, **kwargs):
        super().__init__(**kwargs)
        key = key if isinstance(key, tuple) else (key,)
        for item in key:
            if not (item is None or item is Ellipsis or isinstance(item, (int, slice))):
                raise TypeError(f"{type(self).__name__}(name={self.name!r}): only basic slicing "
                                "(ints, slices, None, ...) is supported on tensors; got an index "
                                f"of type {type(item).__name__}")
        self.key = key

    def output_shape(self, shape):
        probe = host.broadcast_to(host.empty(()), [_UNKNOWN if d is None else d for d in shape])
        return tuple(None if d > _UNKNOWN // 2 else d for d in probe[self.key].shape)

    def compute(self, x):
        self._x_shape, self._x_dtype = tuple(x.shape), x.dtype
        return x[self.key]

    def gradients(self, dy):
        dx = get_array_module(dy).zeros(self._x_shape, dtype=dy.dtype)
        dx[self.key] = dy
        return (dx,)

    def get_config(self):
        return {**super().get_config(), "key": [_key_config(k) for k in self.key]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["key"] = tuple(_key_from_config(k) for k in config["key"])
        return super().from_config(config)


def _key_config(item):
    if isinstance(item, slice):
        return {"slice": [item.start, item.stop, item.step]}
    if item is Ellipsis:
        return "..."
    return item


def _key_from_config(item):
    if isinstance(item, dict):
        return slice(*item["slice"])
    return Ellipsis if item == "..." else item


def reshape(x, newshape):
    """x with shape ``newshape`` (one -1 inferred)."""
    return apply(Reshape, (x,), newshape=newshape)


def flatten(x):
    """x as one axis (NumPy's ravel)."""
    return reshape(x, (-1,))


def transpose(x, axes=None):
    return apply(Transpose, (x,), axes=axes)


def concatenate(xs, axis=0):
    """The tensors of ``xs`` joined along ``axis``."""
    return apply(Concatenate, tuple(xs), axis=axis)


def stack(xs, axis=0):
    return apply(Stack, tuple(xs), axis=axis)


def split(x, indices_or_sections, axis=0):
    """A list of parts of x along ``axis``."""
    return apply(Split, (x,), indices_or_sections=indices_or_sections, axis=axis)


def expand_dims(x, axis):
    return apply(ExpandDims, (x,), axis=axis)


def squeeze(x, axis=None):
    return apply(Squeeze, (x,), axis=axis)


def get_item(x, key):
    """``x[key]`` for basic slicing; what ``tensor[...]`` calls."""
    return apply(GetItem, (x,), key=key)
