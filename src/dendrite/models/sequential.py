"""``Sequential``: a linear stack of layers, run by the same graph engine as ``Model``."""

from dendrite.errors import describe
from dendrite.graph import SymbolicTensor
from dendrite.layers.base import Input, InputLayer, Layer
from dendrite.models.model import Model


class Sequential(Model):
    """A stack of layers, each fed the previous one's output.

    Args:
        layers: optional list of layers (an ``Input(...)`` tensor or ``InputLayer`` may come first).
        name: the model's name.

    The model is built as soon as the input shape is known: from an ``Input``, from a first
    layer's ``input_shape=``, or from the first data it sees.

    Example:
        >>> from dendrite.layers import Dense
        >>> model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(1)])
        >>> model.count_params()
        49
    """

    _hide_input_layer = True

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._layers = []
        self._input = None
        self._nodes = []  # the nodes this model's chain created, one per layer
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Append a layer (or, first, an ``Input`` tensor / ``InputLayer``)."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._layers or self._input is not None:
                raise ValueError(f"{describe(self)}: an Input can only be the first layer")
            self._input = layer.output
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"{describe(self)}: add() expects a Layer; got {layer!r}")
        self._layers.append(layer)
        if self._input is None and len(self._layers) == 1 and layer.input_spec_shape is not None:
            self._input = Input(shape=layer.input_spec_shape, dtype=layer.dtype)
        if self._input is not None:
            self._build_graph()

    def pop(self):
        """Remove and return the last layer."""
        if not self._layers:
            raise ValueError(f"{describe(self)}: pop() on a model with no layers")
        layer = self._layers.pop()
        if self._input is not None and self._layers:
            self._build_graph()
        else:
            self._forget_nodes(len(self._layers))
            self._graph = None
        return layer

    def build(self, input_shape):
        """Build for inputs of ``input_shape`` (batch axis first)."""
        if self._input is None:
            self._input = Input(shape=tuple(input_shape[1:]), dtype=self._first_dtype())
        self._build_graph()

    def _first_dtype(self):
        return self._layers[0].dtype if self._layers else None

    def _build_graph(self):
        """Chain the layers from the input, reusing the nodes made before (so each layer of the
        stack has one node, and ``layer.output`` stays valid) and calling only new layers."""
        kept = 0
        while (kept < min(len(self._nodes), len(self._layers))
               and self._nodes[kept].layer is self._layers[kept]
               and self._nodes[kept].inputs[0] is (self._nodes[kept - 1].outputs[0] if kept
                                                   else self._input)):
            kept += 1
        self._forget_nodes(kept)
        tensor = self._nodes[-1].outputs[0] if self._nodes else self._input
        for layer in self._layers[kept:]:
            tensor = layer(tensor)
            outputs = tensor if isinstance(tensor, list) else [tensor]
            if len(outputs) != 1:
                raise ValueError(f"{describe(self)}: layer {layer.name!r} has several outputs; a "
                                 "Sequential model needs one output per layer (use the "
                                 "functional API).")
            self._nodes.append(tensor.node)
        self._set_graph(self._input, tensor)

    def _forget_nodes(self, keep):
        """Drop this chain's nodes after the first ``keep`` from their layers' call records."""
        for node in self._nodes[keep:]:
            if node in node.layer._inbound_nodes:
                node.layer._inbound_nodes.remove(node)
        del self._nodes[keep:]

    def _ensure_graph(self, input_arrays):
        if self._graph is not None:
            return
        if not self._layers:
            raise ValueError(f"{describe(self)}: the model has no layers; add some first")
        self.build(tuple(input_arrays[0].shape))

    @property
    def layers(self):
        return list(self._layers)
