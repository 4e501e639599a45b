"""The one graph engine: symbolic tensors, nodes, and forward/backward over a graph.

A :class:`Node` is one call of a layer on input tensors. A :class:`Graph` orders the nodes that lead
from its inputs to its outputs; ``forward`` runs them in order, ``backward`` in reverse, summing the
gradients that reach a tensor from several consumers. A layer called at several nodes of one graph
keeps one forward cache per node (saved after its forward, restored before its backward) and, by the
layer contract, sums its weight gradients. ``Sequential`` is a chain built with this same engine.
"""


class SymbolicTensor:
    """A placeholder for an array in a graph: shape (batch axis first, possibly None) and dtype."""

    def __init__(self, shape, dtype, node=None, index=0, name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        layer = self.node.layer.name if self.node is not None else None
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype} from={layer!r}>"


def is_symbolic(inputs):
    if isinstance(inputs, (list, tuple)):
        return bool(inputs) and all(isinstance(x, SymbolicTensor) for x in inputs)
    return isinstance(inputs, SymbolicTensor)


class Node:
    """One call of ``layer`` on ``inputs`` (a list of SymbolicTensor), producing ``outputs``."""

    def __init__(self, layer, inputs):
        self.layer = layer
        self.inputs = list(inputs)
        self.outputs = []


class Graph:
    """The nodes between ``inputs`` and ``outputs`` (lists of SymbolicTensor), in execution order.

    Attributes:
        nodes: the layer-call nodes (input nodes excluded), each after the nodes it reads from.
        layers: the distinct layers of those nodes, in first-use order.
    """

    def __init__(self, inputs, outputs):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        input_ids = {id(t) for t in self.inputs}
        self.nodes = []
        seen, visiting = set(), set()

        def visit(tensor):
            if id(tensor) in input_ids:
                return
            node = tensor.node
            if node is None or not node.inputs:
                raise ValueError(
                    f"Graph: output depends on {tensor!r}, which is not one of the model's inputs "
                    f"{[t.name for t in self.inputs]}."
                )
            if id(node) in seen:
                return
            if id(node) in visiting:
                raise ValueError(f"Graph: cycle through layer {node.layer.name!r}.")
            visiting.add(id(node))
            for parent in node.inputs:
                visit(parent)
            visiting.discard(id(node))
            seen.add(id(node))
            self.nodes.append(node)

        for tensor in self.outputs:
            visit(tensor)
        self.layers = list(dict.fromkeys(node.layer for node in self.nodes))
        uses = {}
        for node in self.nodes:
            uses[id(node.layer)] = uses.get(id(node.layer), 0) + 1
        self._shared = {id(n) for n in self.nodes if uses[id(n.layer)] > 1}
        # dx is wasted work when every input of a node is a model input: skip it.
        self._needs_dx = {id(n): not all(id(t) in input_ids for t in n.inputs) for n in self.nodes}
        self._caches = {}

    def forward(self, input_arrays, training=False):
        """Run every node; return the list of output arrays."""
        values = {id(t): x for t, x in zip(self.inputs, input_arrays)}
        for node in self.nodes:
            args = [values[id(t)] for t in node.inputs]
            result = node.layer.forward(args if len(args) > 1 else args[0], training=training)
            results = result if len(node.outputs) > 1 else [result]
            for tensor, value in zip(node.outputs, results):
                values[id(tensor)] = value
            if id(node) in self._shared:
                self._caches[id(node)] = node.layer.save_cache()
        return [values[id(t)] for t in self.outputs]

    def backward(self, output_grads):
        """Propagate d(loss)/d(output) for each output back through the graph.

        Parameter gradients are added into the variables' ``grad``; nothing is returned.
        """
        grads = {}
        for tensor, dy in zip(self.outputs, output_grads):
            _accumulate(grads, tensor, dy)
        for node in reversed(self.nodes):
            dys = [grads.pop(id(t), None) for t in node.outputs]
            if all(dy is None for dy in dys):
                continue
            if len(dys) > 1:
                dys = [dy if dy is not None else _zeros_for(t, dys) for dy, t in zip(dys, node.outputs)]
            layer = node.layer
            if id(node) in self._shared:
                layer.restore_cache(self._caches[id(node)])
            layer.input_grad_required = self._needs_dx[id(node)]
            dx = layer.backward(dys if len(dys) > 1 else dys[0])
            layer.input_grad_required = True
            if not self._needs_dx[id(node)]:
                continue
            dxs = dx if len(node.inputs) > 1 else [dx]
            for tensor, grad in zip(node.inputs, dxs):
                if tensor.node is not None and tensor.node.inputs:
                    _accumulate(grads, tensor, grad)


def _accumulate(grads, tensor, dy):
    key = id(tensor)
    if key in grads:
        grads[key] = grads[key] + dy
    else:
        grads[key] = dy


def _zeros_for(tensor, dys):
    reference = next(dy for dy in dys if dy is not None)
    from dendrite.backend import get_array_module

    xp = get_array_module(reference)
    return xp.zeros((reference.shape[0], *tensor.shape[1:]), dtype=reference.dtype)
