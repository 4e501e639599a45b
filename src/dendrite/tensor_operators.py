"""Python operators on symbolic tensors and variables, mapped to :mod:`dendrite.ops`.

``x + residual``, ``x * 2``, ``inputs @ self.w``, ``-x``, ``abs(x)``, ``x[:, 0]`` and the
comparisons each record one op node (or, on a variable outside a trace, compute on its value).
``bool(x)`` of a symbolic tensor has no value to give: it raises
:class:`~dendrite.tracing.TracingError`.
"""


_UFUNCS = {"absolute", "add", "cos", "divide", "equal", "exp", "greater", "greater_equal", "less",
           "less_equal", "log", "log1p", "matmul", "maximum", "minimum", "multiply", "negative",
           "not_equal", "power", "sign", "sin", "sqrt", "square", "subtract", "tanh"}


def _ops():
    from dendrite import ops  # late: dendrite.ops imports the graph that imports this module

    return ops


class TensorOperators:
    """Mixin: arithmetic, matmul, slicing and comparison operators through :mod:`dendrite.ops`."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy's ufuncs that dendrite.ops has (``np.exp(x)``, ``array + x``) run as those ops."""
        function = getattr(_ops(), ufunc.__name__, None) if ufunc.__name__ in _UFUNCS else None
        if method != "__call__" or kwargs or function is None:
            what = f"NumPy's {ufunc.__name__}.{method}" if method != "__call__" else \
                f"NumPy's {ufunc.__name__}"
            if hasattr(self, "_no_value"):
                raise self._no_value(f"{what}, which dendrite.ops does not provide")
            return NotImplemented
        return function(*inputs)

    def __add__(self, other):
        return _ops().add(self, other)

    def __radd__(self, other):
        return _ops().add(other, self)

    def __sub__(self, other):
        return _ops().subtract(self, other)

    def __rsub__(self, other):
        return _ops().subtract(other, self)

    def __mul__(self, other):
        return _ops().multiply(self, other)

    def __rmul__(self, other):
        return _ops().multiply(other, self)

    def __truediv__(self, other):
        return _ops().divide(self, other)

    def __rtruediv__(self, other):
        return _ops().divide(other, self)

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    def __pow__(self, other):
        return _ops().power(self, other)

    def __rpow__(self, other):
        return _ops().power(other, self)

    def __neg__(self):
        return _ops().negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops().abs(self)

    def __getitem__(self, key):
        return _ops().get_item(self, key)

    def __gt__(self, other):
        return _ops().greater(self, other)

    def __ge__(self, other):
        return _ops().greater_equal(self, other)

    def __lt__(self, other):
        return _ops().less(self, other)

    def __le__(self, other):
        return _ops().less_equal(self, other)


class NoValue:
    """Mixin of symbolic tensors: every use of a value raises the tracing error."""

    def _no_value(self, what):
        from dendrite.tracing import value_error

        return value_error(self, what)

    def __bool__(self):
        raise self._no_value("bool() of it, e.g. in `if`, `while`, `and`, `or`")

    def __float__(self):
        raise self._no_value("float() of it")

    def __int__(self):
        raise self._no_value("int() of it")

    def __index__(self):
        raise self._no_value("its use as an index")

    def __iter__(self):
        raise self._no_value("iterating over it; use ops.split or slicing")

    def __len__(self):
        raise self._no_value("len() of it; use x.shape")

    def __array__(self, dtype=None, copy=None):
        raise self._no_value("NumPy converting it to an array; use dendrite.ops instead of numpy")

    def numpy(self):
        raise self._no_value(".numpy()")
