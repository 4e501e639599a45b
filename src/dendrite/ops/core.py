"""Tensor creation and conversion: ``convert_to_tensor``, ``convert_to_numpy``, ``cast``,
``shape``, ``ones``, ``zeros``, ``full``, ``arange``, ``eye`` and the ``*_like`` forms."""

from dendrite import backend
from dendrite.backend import get_array_module
from dendrite.graph import SymbolicTensor
from dendrite.ops.operation import Operation, apply
from dendrite.variables import Variable

__all__ = ["arange", "cast", "convert_to_numpy", "convert_to_tensor", "eye", "full", "full_like",
           "ones", "ones_like", "shape", "zeros", "zeros_like"]


def _dtype(dtype):
    return backend.floatx() if dtype is None else backend.host.dtype(dtype).name


def convert_to_tensor(x, dtype=None):
    """An array of ``x`` (a symbolic tensor is returned as is; a variable gives its value)."""
    if isinstance(x, SymbolicTensor):
        return x if dtype is None else cast(x, dtype)
    if isinstance(x, Variable):
        x = x.value
    xp = get_array_module(x) if hasattr(x, "shape") else backend.host
    return xp.asarray(x, dtype=None if dtype is None else _dtype(dtype))


def convert_to_numpy(x):
    """A NumPy array of ``x`` (a device array is copied to the host)."""
    if isinstance(x, SymbolicTensor):
        raise TypeError(f"convert_to_numpy: {x!r} is symbolic and has no value; call the model "
                        "on data to get arrays")
    if isinstance(x, Variable):
        return x.numpy()
    return x.get() if hasattr(x, "get") else backend.host.asarray(x)


def shape(x):
    """The shape tuple of ``x`` (None for unknown sizes of a symbolic tensor)."""
    return tuple(x.shape)


class Cast(Operation):
    """x converted to ``dtype``; the gradient is converted back to x's dtype."""

    cache_attributes = ("_x_dtype",)

    def __init__(self, dtype, name=None):
        super().__init__(name=name)
        self.target_dtype = _dtype(dtype)

    def output_shape(self, shape):
        return shape

    def output_dtype(self, dtypes):
        return self.target_dtype

    def compute(self, x):
        self._x_dtype = x.dtype
        return x.astype(self.target_dtype)

    def gradients(self, dy):
        if self._x_dtype.kind != "f":
            return (None,)
        return (dy.astype(self._x_dtype),)

    def get_config(self):
        return {**super().get_config(), "dtype": self.target_dtype}


def cast(x, dtype):
    return apply(Cast, (x,), dtype=dtype)


class FullLike(Operation):
    """An array shaped like x filled with ``fill_value`` (no gradient reaches x)."""

    differentiable = False

    def __init__(self, fill_value, dtype=None, name=None):
        super().__init__(name=name)
        self.fill_value = fill_value
        self.target_dtype = None if dtype is None else _dtype(dtype)

    def output_shape(self, shape):
        return shape

    def output_dtype(self, dtypes):
        return self.target_dtype or backend.host.dtype(dtypes[0]).name

    def compute(self, x):
        return get_array_module(x).full(x.shape, self.fill_value,
                                        dtype=self.target_dtype or x.dtype)

    def get_config(self):
        return {**super().get_config(), "fill_value": self.fill_value, "dtype": self.target_dtype}


def full_like(x, fill_value, dtype=None):
    return apply(FullLike, (x,), fill_value=fill_value, dtype=dtype)


def ones_like(x, dtype=None):
    return full_like(x, 1, dtype)


def zeros_like(x, dtype=None):
    return full_like(x, 0, dtype)


def full(shape, fill_value, dtype=None):
    return backend.host.full(tuple(shape), fill_value, dtype=_dtype(dtype))


def ones(shape, dtype=None):
    return full(shape, 1, dtype)


def zeros(shape, dtype=None):
    return full(shape, 0, dtype)


def eye(n, m=None, dtype=None):
    return backend.host.eye(n, m, dtype=_dtype(dtype))


def arange(start, stop=None, step=1, dtype=None):
    """Keras's ``arange``: integers unless a float argument or ``dtype`` says otherwise."""
    values = backend.host.arange(start, stop, step) if stop is not None else \
        backend.host.arange(start, step=step)
    return values if dtype is None else values.astype(_dtype(dtype))
