"""``Operation``: the base of every op, and how a call dispatches on arrays or symbolic tensors.

An op is a weightless :class:`~dendrite.layers.base.Layer`, so the graph engine runs it like any
layer. A subclass writes, side by side:

* ``compute(*args)``: the output from its argument arrays, keeping in ``cache_attributes`` what the
  backward needs;
* ``gradients(dy)``: one gradient per argument (None where there is none), each shaped like that
  argument (:func:`unbroadcast` sums a broadcast gradient back to its argument's shape);
* ``output_shape(*shapes)``: the output's shape from the arguments' shapes (None for unknown
  sizes, e.g. the batch axis);
* ``get_config()``: its static attributes (``axis``, ``keepdims`` ...).

:func:`apply` runs an op. On arrays it only computes (no node, the op instance and its cache are
dropped). If any argument is a :class:`~dendrite.graph.SymbolicTensor` (or a
:class:`~dendrite.variables.Variable` while a subclassed layer's ``call`` is traced), it records a
node of a fresh op instance: the symbolic arguments are the node's inputs, the other arguments
(Python numbers, arrays) are constants stored on the op, and each variable is read through a
:class:`ReadVariable` source node whose backward adds into ``variable.grad``.
"""

from dendrite import backend
from dendrite.graph import SymbolicTensor
from dendrite.layers.base import Layer, snake_case
from dendrite.variables import Variable

# the placeholder, in ``Operation.arguments``, of an argument read from the graph
INPUT = "__input__"


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes along which an argument of ``shape`` was broadcast (NumPy rules:
    leading axes it lacked, and its size-1 axes), returning an array of exactly ``shape``."""
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, size in enumerate(shape) if size == 1 and grad.shape[extra + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def broadcast_shapes(*shapes):
    """NumPy's broadcast of shapes that may hold None (an unknown size, e.g. the batch)."""
    rank = max(len(s) for s in shapes)
    result = []
    for axis in range(rank):
        sizes = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0]
        known = {d for d in sizes if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"shapes {', '.join(str(tuple(s)) for s in shapes)} do not broadcast "
                             "(aligned from the right, each pair of sizes must be equal or 1)")
        if known:
            result.append(known.pop())
        elif any(d is None for d in sizes):
            result.append(None)
        else:
            result.append(1)
    return tuple(result)


class Operation(Layer):
    """Base of the ops (see the module docstring). Arguments: ``name`` only (ops have no weights,
    and their output dtype follows NumPy's promotion of their arguments)."""

    differentiable = True

    def __init__(self, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.arguments = None  # per argument: INPUT, or the constant value
        self.built = True

    # -------------------------------------------------------------- the graph's layer contract

    def forward(self, x, training=False):
        inputs = iter([x] if self._input_count() == 1 else x)
        args = [next(inputs) if a is INPUT else a for a in self.arguments]
        return self.compute(*args)

    def backward(self, dy, need_dx=True):
        if not need_dx or not self.differentiable:
            return None
        grads = self.gradients(dy)
        grads = [g for g, a in zip(grads, self.arguments) if a is INPUT]
        if not grads:
            return None
        return grads[0] if len(grads) == 1 else grads

    def compute_output_shape(self, input_shape):
        shapes = iter([input_shape] if self._input_count() == 1 else input_shape)
        return self.output_shape(*[tuple(next(shapes)) if a is INPUT else _shape_of(a)
                                   for a in self.arguments])

    def output_dtype(self, dtypes):
        """The output dtype from the arguments' dtypes (constants as given): NumPy's promotion,
        Python numbers weak (``x * 2`` keeps float32)."""
        return backend.host.result_type(*dtypes).name

    def get_config(self):
        config = {"name": self.name}
        if self.arguments is not None and any(a is not INPUT for a in self.arguments):
            config["arguments"] = [_constant_config(a) for a in self.arguments]
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        arguments = config.pop("arguments", None)
        op = cls(**config)
        if arguments is not None:
            op.arguments = [_constant_from_config(a) for a in arguments]
        return op

    @classmethod
    def op_name(cls):
        """The name an eager call gives its throwaway instance (no unique-name counter used)."""
        return snake_case(cls.__name__)

    def _input_count(self):
        return sum(a is INPUT for a in self.arguments)

    def _call_symbolic(self, inputs):
        if self.arguments is None:  # called directly as a layer: every argument from the graph
            count = len(inputs) if isinstance(inputs, (list, tuple)) else 1
            self.arguments = [INPUT] * count
        tensors = iter(inputs if isinstance(inputs, (list, tuple)) else [inputs])
        self.dtype = self.output_dtype([next(tensors).dtype if a is INPUT else _dtype_key(a)
                                        for a in self.arguments])
        return super()._call_symbolic(inputs)

    # -------------------------------------------------------------- what subclasses write

    def compute(self, *args):
        raise NotImplementedError(f"{type(self).__name__} does not implement compute")

    def gradients(self, dy):
        raise NotImplementedError(f"{type(self).__name__} does not implement gradients")

    def output_shape(self, *shapes):
        raise NotImplementedError(f"{type(self).__name__} does not implement output_shape")

    def needs(self, index):
        """Whether argument ``index`` needs a gradient (it comes from the graph)."""
        return self.arguments[index] is INPUT


class ReadVariable(Operation):
    """A source node: its output is ``variable``'s value; its backward adds dy into the gradient.

    A subclassed layer's ``call`` that reads ``self.w`` gets one such node per variable, so the
    variable is a leaf of the traced graph and trains with the layer's other weights.
    """

    cache_attributes = ()
    is_source = True

    def __init__(self, variable, name=None):
        super().__init__(name=name or f"read_{variable.name}")
        self.variable = variable
        self.arguments = []
        self.dtype = backend.host.dtype(variable.dtype).name

    def forward(self, x, training=False):
        return self.variable.value

    def backward(self, dy, need_dx=True):
        if self.variable.grad is not None:
            self.variable.grad += dy

    def compute_output_shape(self, input_shape):
        return tuple(self.variable.shape)

    def _call_symbolic(self, inputs):
        return Layer._call_symbolic(self, [])

    def get_config(self):
        raise TypeError(f"{type(self).__name__}: a variable read inside a subclassed layer's call "
                        "has no config; it is rebuilt by tracing the call again")


def apply(op_class, args, **attributes):
    """Run ``op_class(**attributes)`` on ``args``: compute on arrays, record a node on symbolic
    tensors (see the module docstring). Returns an array, or a SymbolicTensor (a list of them for
    an op with several outputs)."""
    from dendrite import tracing

    reads_variable = tracing.active() and any(isinstance(a, Variable) for a in args)
    if not reads_variable and not any(isinstance(a, SymbolicTensor) for a in args):
        op = op_class(name=op_class.op_name(), **attributes)
        return op.compute(*[_array_argument(a) for a in args])
    arguments, inputs = [], []
    for arg in args:
        if isinstance(arg, Variable):
            arg = tracing.read_variable(arg)
        if isinstance(arg, SymbolicTensor):
            inputs.append(arg)
            arguments.append(INPUT)
        else:
            arguments.append(_constant(arg))
    op = op_class(**attributes)
    op.arguments = arguments
    return op(inputs if len(inputs) != 1 else inputs[0])


def _array_argument(value):
    if isinstance(value, Variable):
        return value.value
    if isinstance(value, (list, tuple)):
        return backend.host.asarray(value)
    return value


def _constant(value):
    """A constant argument: Python numbers stay Python numbers (weakly typed, as NumPy treats them);
    sequences become arrays."""
    if isinstance(value, (list, tuple)):
        return backend.host.asarray(value)
    return value


def _shape_of(value):
    return tuple(getattr(value, "shape", ()))


def _dtype_key(value):
    return value.dtype if hasattr(value, "dtype") else value


def _constant_config(value):
    if value is INPUT:
        return None
    if hasattr(value, "tolist"):
        return {"value": value.tolist(), "dtype": str(value.dtype)}
    return {"value": value}


def _constant_from_config(config):
    if config is None:
        return INPUT
    if "dtype" in config:
        return backend.host.asarray(config["value"], dtype=config["dtype"])
    return config["value"]
