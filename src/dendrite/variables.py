"""Trainable state: ``Variable`` and the flat buffer that holds a model's variables.

A :class:`Variable` owns ``value`` and ``grad`` (same shape and dtype). When a model is built,
:class:`FlatParameters` rebinds every trainable variable's ``value`` and ``grad`` as views into two
contiguous 1-D buffers, so zeroing gradients is one ``fill`` and an optimizer updates the whole
model with a few vectorized in-place operations. Layers therefore add into ``grad`` with ``+=`` (so
a layer used twice sums both contributions) and never rebind it.
"""

from dendrite.backend import get_array_module, to_device
from dendrite.tensor_operators import TensorOperators


class Variable(TensorOperators):
    """A named array with a gradient of the same shape.

    Python operators (``self.w + 1``, ``x @ self.w``) go through :mod:`dendrite.ops`: on arrays
    they compute on ``value``; inside a traced ``call`` they read the variable as a graph leaf.

    Args:
        name: the variable's name, e.g. ``"kernel"``.
        value: the initial array; the variable keeps it (no copy).
        trainable: whether optimizers update it. Default True.
        regularizer: a :mod:`dendrite.regularizers` object or None.

    Attributes:
        value: array of ``shape``.
        grad: array of ``shape``, d(loss)/d(value), accumulated by ``backward``; None if not
            trainable.
    """

    def __init__(self, name, value, trainable=True, regularizer=None):
        self.name = name
        self.value = value
        self.trainable = trainable
        self.regularizer = regularizer
        self.grad = get_array_module(value).zeros_like(value) if trainable else None

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def size(self):
        return self.value.size

    def assign(self, new_value):
        """Copy ``new_value`` into the variable in place; its shape must match exactly."""
        new_shape = tuple(getattr(new_value, "shape", ()))
        if new_shape != tuple(self.shape):
            raise ValueError(
                f"Variable {self.name!r}: expected a value of shape {tuple(self.shape)}; "
                f"got {new_shape}."
            )
        self.value[...] = to_device(new_value, get_array_module(self.value))

    def assign_add(self, delta):
        """value += delta, in place."""
        self.value += delta

    def assign_sub(self, delta):
        """value -= delta, in place."""
        self.value -= delta

    def __float__(self):
        return float(self.value)

    def __array__(self, dtype=None, copy=None):
        value = self.value.get() if hasattr(self.value, "get") else self.value
        return value if dtype is None else value.astype(dtype)

    def numpy(self):
        """A host copy of the value."""
        value = self.value
        return value.get() if hasattr(value, "get") else value.copy()

    def __repr__(self):
        return f"<Variable {self.name!r} shape={tuple(self.shape)} dtype={self.dtype}>"


def unique_variables(variables):
    """``variables`` without repeats (a shared layer's, a nested model's), in first-seen order."""
    seen, result = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            result.append(variable)
    return result


class FlatParameters:
    """Lay out trainable variables as views into one value buffer and one gradient buffer.

    Args:
        variables: trainable :class:`Variable` objects, all of one dtype and array module.
        frozen: variables that have a gradient but are not trained now (their layer is frozen):
            their ``grad`` becomes a view into a separate buffer that :meth:`zero_grads` also
            clears, so the gradients that their layers still add never pile up.

    Attributes:
        values: 1-D array of length ``sum(v.size)``; ``v.value`` is a reshaped slice of it.
        grads: 1-D array like ``values``; ``v.grad`` is the matching slice.
        slices: list of ``(variable, start, stop)``.
    """

    def __init__(self, variables, frozen=()):
        self.variables = list(variables)
        self.frozen = list(frozen)
        dtypes = {v.dtype for v in self.variables}
        if len(dtypes) > 1:
            names = ", ".join(f"{v.name}:{v.dtype}" for v in self.variables)
            raise ValueError("All trainable variables of a model must share one dtype; "
                             f"got {names}")
        xp = get_array_module(*(v.value for v in self.variables))
        dtype = dtypes.pop() if dtypes else "float32"
        total = sum(v.size for v in self.variables)
        self.values = xp.empty(total, dtype=dtype)
        self.grads = xp.zeros(total, dtype=dtype)
        self.slices = []
        start = 0
        for variable in self.variables:
            stop = start + variable.size
            self.values[start:stop] = variable.value.ravel()
            variable.value = self.values[start:stop].reshape(variable.shape)
            variable.grad = self.grads[start:stop].reshape(variable.shape)
            self.slices.append((variable, start, stop))
            start = stop
        self.frozen_grads = xp.zeros(sum(v.size for v in self.frozen), dtype=dtype)
        start = 0
        for variable in self.frozen:
            variable.grad = self.frozen_grads[start:start + variable.size].reshape(variable.shape)
            start += variable.size

    def owns(self, variables, frozen=()):
        """True if ``variables`` (and ``frozen``) are exactly this buffer's, still bound to it."""
        variables, frozen = list(variables), list(frozen)
        if len(variables) != len(self.variables) or len(frozen) != len(self.frozen):
            return False
        return all(
            a is b and a.value.base is not None and _shares(a.value, self.values)
            and _shares(a.grad, self.grads)
            for a, b in zip(variables, self.variables)
        ) and all(a is b and _shares(a.grad, self.frozen_grads)
                  for a, b in zip(frozen, self.frozen))

    def zero_grads(self):
        self.grads.fill(0)
        self.frozen_grads.fill(0)


def _shares(view, buffer):
    base = view
    while getattr(base, "base", None) is not None:
        base = base.base
    return base is buffer or base is getattr(buffer, "base", None)
