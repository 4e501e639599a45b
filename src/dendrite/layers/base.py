"""The layer contract.

A layer owns its :class:`~dendrite.variables.Variable` objects and writes its math explicitly:

* ``build(input_shape)`` creates the variables once the input's shape is known;
* ``forward(x, training=False)`` returns the output and keeps in named attributes (listed in
  ``cache_attributes``) exactly what ``backward`` needs, overwriting them on every call;
* ``backward(dy)`` reads that cache, adds the parameter gradients into ``variable.grad`` with ``+=``
  (so a layer used at two places sums both contributions) and returns dx, the gradient with respect
  to the input;
* ``compute_output_shape(input_shape)`` and ``get_config()``.

The graph tells a layer more only through arguments that the layer's own methods declare, never by
setting attributes on it:

* ``backward(dy, need_dx=True)``: a layer that declares ``need_dx`` may skip the input gradient
  (and return None) when the graph passes ``need_dx=False`` (the layer reads the model's input);
* ``backward(dy, logit_grad=None)``: a layer ending in an activation (see ``output_activation``)
  that declares ``logit_grad`` receives a loss's fused gradient with respect to its
  pre-activation; ``dy`` is then the gradient from the layer's other consumers, or None;
* ``forward(x, training=False, mask=None)``: a layer that declares ``mask`` receives the mask of its
  input; ``compute_mask(inputs, mask)`` gives the mask of its output (see
  :meth:`Layer.compute_mask`).

Arguments every layer accepts (documented once here): ``name`` (unique default from the class
name), ``dtype`` (float dtype of the weights and outputs; default :func:`dendrite.config.floatx`),
``trainable`` (default True; settable later, which freezes or unfreezes every weight of the layer)
and, on a first layer, Keras's ``input_shape`` / ``input_dim`` / ``batch_input_shape``, which give
the input's shape without the batch axis.
"""

import re
from collections import defaultdict

from dendrite import backend, initializers, regularizers, tracing
from dendrite.errors import arg_error, check_unknown_kwargs, describe, is_integer, shape_error
from dendrite.graph import Node, SymbolicTensor, is_symbolic
from dendrite.variables import Variable

_name_counts = defaultdict(int)


def unique_name(prefix):
    """``prefix``, then ``prefix_1``, ``prefix_2`` ... within this process."""
    count = _name_counts[prefix]
    _name_counts[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def snake_case(name):
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class Layer:
    """Base class of all layers; see the module docstring for the contract."""

    cache_attributes = ()
    supports_masking = False
    is_source = False  # a node of it reads no tensor (a variable read): see dendrite.graph

    def __init_subclass__(cls, **kwargs):
        """A subclass with ``call`` and no ``backward`` of its own is traced (dendrite.tracing)."""
        super().__init_subclass__(**kwargs)
        tracing.install(cls)

    def __init__(self, name=None, dtype=None, trainable=True, input_shape=None, input_dim=None,
                 batch_input_shape=None, **kwargs):
        check_unknown_kwargs(type(self).__name__, kwargs)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string; "
                             f"got {name!r}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.dtype = backend.standardize_dtype(dtype)
        self.trainable = trainable
        self.built = False
        self._variables = []
        self._inbound_nodes = []
        self.input_spec_shape = _declared_input_shape(input_shape, input_dim, batch_input_shape)

    # -------------------------------------------------------------- weights

    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, autocast=True,
                   regularizer=None, constraint=None, aggregation="none", name=None):
        """Create, register and return a :class:`Variable` (Keras's signature).

        Args:
            shape: the variable's shape (default ``()``, a scalar).
            initializer: name or Initializer; None means ``"glorot_uniform"`` for a float dtype
                and ``"zeros"`` otherwise, as in Keras.
            dtype: the variable's dtype; None means the layer's dtype.
            trainable: False makes a state variable (e.g. a moving mean) that no optimizer updates,
                whatever the layer's :attr:`trainable` says. Default True.
            autocast, aggregation: accepted for Keras compatibility (no effect).
            regularizer: name or Regularizer, added to the training loss. Default None.
            constraint: must be None (constraints are not supported).
            name: the variable's name. Default ``"variable"``.

        dendrite's own layers also use the short positional form
        ``add_weight(name, shape, initializer, regularizer)``.

        Example:
            >>> Layer(name="l").add_weight(shape=(2, 3), initializer="ones", name="w").shape
            (2, 3)
        """
        if isinstance(shape, str):  # the short form add_weight(name, shape, initializer, reg)
            if not isinstance(trainable, bool):  # the fourth positional argument: a regularizer
                regularizer, trainable = trainable, True
            name, shape, initializer, dtype = shape, initializer, dtype, None
        if constraint is not None:
            raise arg_error(self, "constraint", "None (weight constraints are not supported)",
                            constraint)
        dtype = self.dtype if dtype is None else backend.host.dtype(dtype).name
        if initializer is None:
            initializer = "glorot_uniform" if backend.host.dtype(dtype).kind == "f" else "zeros"
        shape = () if shape is None else ((shape,) if is_integer(shape) else tuple(shape))
        if backend.host.dtype(dtype).kind == "f":
            value = initializers.get(initializer)(shape, dtype=dtype)
        else:  # initializers draw floats: an integer counter is initialized in floatx, then cast
            value = initializers.get(initializer)(shape, dtype=backend.floatx()).astype(dtype)
        value = backend.to_device(value)  # drawn on the host (same seed, same weights), then moved
        variable = Variable(name or "variable", value, trainable=trainable,
                            regularizer=regularizers.get(regularizer))
        self._variables.append(variable)
        return variable

    def add_loss(self, loss):
        """Add ``loss`` (a tensor computed in ``call`` with layers and :mod:`dendrite.ops`; summed
        if not a scalar) to the training loss of the model this layer is part of. Only inside the
        ``call`` of a subclassed layer or model, which dendrite traces (:mod:`dendrite.tracing`);
        the loss is differentiated with the rest of the graph."""
        tracing.add_loss(self, loss)

    @property
    def losses(self):
        """Values of the losses added with :meth:`add_loss`, from the last forward pass."""
        return []

    @property
    def trainable(self):
        """Whether the optimizer updates this layer's weights (Keras's fine-tuning switch)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        if not isinstance(value, bool):
            message = f"{describe(self)}: trainable must be True or False; got trainable={value!r}"
            raise ValueError(message)  # noqa: TRY004 (a bad argument value, as the tests expect)
        self._trainable = value

    @property
    def weights(self):
        return list(self._variables)

    @property
    def trainable_weights(self):
        """Variables the optimizer updates: none while the layer is frozen."""
        return [v for v in self._variables if v.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self):
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self.weights if id(v) not in trainable]

    def get_weights(self):
        """Host copies of :attr:`weights`, in creation order."""
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights):
        """Copy ``weights`` (a list of arrays, in :meth:`get_weights` order) into the layer."""
        variables, weights = self.weights, list(weights)
        if len(weights) != len(variables):
            raise ValueError(f"{describe(self)}: expected {len(variables)} weight arrays; "
                             f"got {len(weights)}.")
        check_weight_shapes(self, variables, weights)
        for variable, value in zip(variables, weights):
            variable.assign(value)

    def count_params(self):
        if not self.built:
            raise ValueError(f"{describe(self)}: count_params() needs a built layer; call it on "
                             "data or give it an input shape first.")
        return sum(v.size for v in self._variables)

    # -------------------------------------------------------------- calling

    def __call__(self, inputs, training=False):
        """On symbolic tensors, record a graph node; on arrays, build if needed and run forward."""
        if is_symbolic(inputs):
            return self._call_symbolic(inputs)
        inputs = self._to_arrays(inputs)
        self.ensure_built(_shapes(inputs))
        return self.forward(inputs, training=training)

    def _call_symbolic(self, inputs):
        input_shapes = _shapes(inputs)
        self.ensure_built(input_shapes)
        output_shapes = self.compute_output_shape(input_shapes)
        node = Node(self, inputs if isinstance(inputs, (list, tuple)) else [inputs])
        self._inbound_nodes.append(node)
        if isinstance(output_shapes, list):
            node.outputs = [SymbolicTensor(s, self.dtype, node, i)
                            for i, s in enumerate(output_shapes)]
            return list(node.outputs)
        node.outputs = [SymbolicTensor(output_shapes, self.dtype, node, 0)]
        return node.outputs[0]

    def _single_node(self, what):
        if len(self._inbound_nodes) != 1:
            raise ValueError(
                f"{describe(self)}: layer.{what} needs a layer called exactly once on symbolic "
                f"tensors; it was called {len(self._inbound_nodes)} times. Use the tensor that "
                "the call returned instead.")
        return self._inbound_nodes[0]

    @property
    def input(self):
        """The symbolic input of the layer's one call (a list for several inputs)."""
        inputs = self._single_node("input").inputs
        return inputs[0] if len(inputs) == 1 else list(inputs)

    @property
    def output(self):
        """The symbolic output of the layer's one call (a list for several outputs)."""
        outputs = self._single_node("output").outputs
        return outputs[0] if len(outputs) == 1 else list(outputs)

    def _to_arrays(self, inputs):
        if isinstance(inputs, (list, tuple)):
            return [self._to_arrays(x) for x in inputs]
        xp = backend.get_array_module(inputs)
        x = xp.asarray(inputs)
        if x.dtype.kind in "fiub" and x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def ensure_built(self, input_shape):
        if not self.built:
            self.check_input_shape(input_shape)
            self.build(input_shape)
            self.built = True

    def check_input_shape(self, input_shape):
        """Check a (batch-first) input shape against the declared ``input_shape``, if any."""
        declared = self.input_spec_shape
        if declared is None or isinstance(input_shape, list):
            return
        if len(input_shape) != len(declared) + 1 or any(
            d is not None and s is not None and s != d for s, d in zip(input_shape[1:], declared)
        ):
            raise shape_error(self, _format_shape(("batch", *declared)), tuple(input_shape))

    # -------------------------------------------------------------- the contract

    def build(self, input_shape):
        """Create the variables for inputs of ``input_shape`` (batch axis first, may be None)."""

    def forward(self, x, training=False):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, dy):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def compute_output_shape(self, input_shape):
        return input_shape

    @property
    def output_activation(self):
        """The :class:`~dendrite.activations.Activation` this layer ends with, or None."""
        return None

    def compute_mask(self, inputs, mask=None):
        """The mask of the output for ``inputs`` with input ``mask`` (None: no mask).

        The base layer passes the mask through if ``supports_masking`` and drops it otherwise.
        """
        return mask if self.supports_masking else None

    def save_cache(self):
        """The forward cache, for the graph to keep per node when a layer is shared."""
        return {name: getattr(self, name, None) for name in self.cache_attributes}

    def restore_cache(self, cache):
        for name, value in cache.items():
            setattr(self, name, value)

    # -------------------------------------------------------------- validation and config

    def check_input(self, x, ndim=None, last_axis=None, expected=None):
        """Raise a shape error unless ``x`` has ``ndim`` axes and, if given, ``last_axis`` features.

        ``expected`` is the shape shown in the message, e.g. ``("batch", 784)``.
        """
        bad_ndim = ndim is not None and x.ndim != ndim
        bad_last = last_axis is not None and (x.ndim == 0 or x.shape[-1] != last_axis)
        if bad_ndim or bad_last:
            expected = expected or ("batch", *(["..."] if ndim is None else [None] * (ndim - 2)),
                                    last_axis)
            raise shape_error(self, _format_shape(expected), tuple(x.shape))

    def get_config(self):
        """Constructor arguments, JSON-safe. Subclasses extend it."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.input_spec_shape is not None:
            config["input_shape"] = list(self.input_spec_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{describe(self)}>"


def pre_activation_gradient(activation, dy, x, y, logit_grad=None):
    """dL/dz for y = activation(z): ``activation.backward(dy)`` plus a loss's fused ``logit_grad``.

    ``dy`` is dL/dy from the layers that read y (None if none does); ``logit_grad`` is dL/dz from a
    loss fused with the activation (None if not fused). ``x`` and ``y`` are the activation's input
    and output, as its backward needs them.
    """
    if dy is None:
        return logit_grad
    dz = activation.backward(dy, x, y)
    return dz if logit_grad is None else dz + logit_grad


def check_weight_shapes(layer, variables, values):
    """Raise before anything is assigned if a value's shape differs from its variable's."""
    for variable, value in zip(variables, values):
        shape = tuple(getattr(value, "shape", ()))
        if shape != tuple(variable.shape):
            raise ValueError(f"{describe(layer)}: weight {variable.name!r} must have shape "
                             f"{tuple(variable.shape)}; got {shape}. No weight was changed.")


def _declared_input_shape(input_shape, input_dim, batch_input_shape):
    if batch_input_shape is not None:
        return tuple(batch_input_shape)[1:]
    if input_shape is not None:
        return (input_shape,) if is_integer(input_shape) else tuple(input_shape)
    if input_dim is not None:
        return (input_dim,)
    return None


def _shapes(inputs):
    if isinstance(inputs, (list, tuple)):
        return [tuple(x.shape) for x in inputs]
    return tuple(inputs.shape)


def _format_shape(shape):
    return "(" + ", ".join("batch" if d == "batch" else ("..." if d == "..." else str(d))
                           for d in shape) + ")"


class InputLayer(Layer):
    """The source node of a graph: its output is the model's input.

    Args:
        shape: the input's shape without the batch axis, e.g. ``(784,)``.
        batch_size: optional fixed batch size.
        dtype: a float dtype (default floatx) or an integer one, e.g. ``"int32"`` for the token
            ids an ``Embedding`` reads: batches then reach the model as integers.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, **kwargs):
        # integer inputs (token ids for Embedding) keep their dtype through the data path
        integer = dtype is not None and backend.host.dtype(dtype).kind in "iu"
        super().__init__(dtype=None if integer else dtype, **kwargs)
        if integer:
            self.dtype = backend.host.dtype(dtype).name
        if shape is None:
            shape = self.input_spec_shape
        if shape is None:
            raise ValueError(f"{describe(self)}: shape is required, e.g. Input(shape=(784,))")
        shape = (shape,) if is_integer(shape) else tuple(shape)
        if any(d is not None and (not is_integer(d) or d < 1) for d in shape):
            raise ValueError(f"{describe(self)}: shape must hold positive integers or None; "
                             f"got shape={shape!r}")
        shape = tuple(None if d is None else int(d) for d in shape)
        self.shape = shape
        self.batch_size = batch_size
        self.input_spec_shape = shape
        self.built = True
        node = Node(self, [])
        node.outputs = [SymbolicTensor((batch_size, *shape), self.dtype, node, 0, name=self.name)]
        self._inbound_nodes.append(node)

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
                "batch_size": self.batch_size}


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None):
    """A symbolic input tensor, the start of a functional model (Keras's ``keras.Input``).

    Example:
        >>> Input(shape=(784,)).shape
        (None, 784)
    """
    if batch_shape is not None:
        batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
    return InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype).output
