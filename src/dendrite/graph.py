"""The one graph engine: symbolic tensors, nodes, and forward/backward over a graph.

A :class:`Node` is one call of a layer on input tensors. A :class:`Graph` orders the nodes that lead
from its inputs to its outputs; ``forward`` runs them in order, ``backward`` in reverse, summing the
gradients that reach a tensor from several consumers. A layer called at several nodes of one graph
keeps one forward cache per node (saved after its forward, restored before its backward) and, by the
layer contract, sums its weight gradients. ``Sequential`` is a chain built with this same engine,
and a model used as a layer is one node whose forward and backward run its own graph.

The graph passes a layer extra information only through arguments the layer's methods declare
(see :mod:`dendrite.layers.base`): ``need_dx`` and ``logit_grad`` to ``backward``, ``mask`` to
``forward``.
"""

import inspect
from functools import cache

from dendrite.backend import get_array_module
from dendrite.tensor_operators import NoValue, TensorOperators


class SymbolicTensor(TensorOperators, NoValue):
    """A placeholder for an array in a graph: shape (batch axis first, possibly None) and dtype.

    Python operators on it (``+ - * / @ **``, unary ``-``, ``abs``, slicing, comparisons) record
    :mod:`dendrite.ops` nodes; it has no value, so ``bool()`` of it raises (see
    :mod:`dendrite.tracing`).
    """

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

    @property
    def is_input(self):
        """True for the source node of an ``Input`` (it has no inputs)."""
        return not self.inputs


@cache
def _declares(method, argument):
    """Whether the function ``method`` has a parameter called ``argument``."""
    return argument in inspect.signature(method).parameters


def declares(layer, method_name, argument):
    """Whether ``layer.<method_name>`` declares ``argument`` (looked up once per class)."""
    return _declares(getattr(type(layer), method_name), argument)


class Graph:
    """The nodes between ``inputs`` and ``outputs`` (lists of SymbolicTensor), in execution order.

    Attributes:
        nodes: the layer-call nodes (input nodes excluded), each after the nodes it reads from.
        layers: the distinct layers of those nodes, in first-use order.
        output_masks: after :meth:`forward`, the mask of each output (None where it has none).
    """

    def __init__(self, inputs, outputs):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self._input_ids = input_ids = {id(t) for t in self.inputs}
        self.nodes = []
        seen, visiting = set(), set()

        def visit(tensor):
            if id(tensor) in input_ids:
                return
            node = tensor.node
            if node is None or (node.is_input and not node.layer.is_source):
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
        # A node whose inputs are all graph inputs needs no dx unless the caller asks for input
        # gradients (a model used as a layer inside another model does).
        self._reads_only_inputs = {id(n) for n in self.nodes
                                   if all(id(t) in input_ids for t in n.inputs)}
        self._masked = any(_handles_masks(layer) for layer in self.layers)
        self._caches = {}
        self.output_masks = [None] * len(self.outputs)
        # Layers that may add losses (traced layers, models) report them right after each call,
        # so a layer called at several nodes contributes each call's losses.
        self._loss_nodes = {id(n) for n in self.nodes if _adds_losses(n.layer)}
        self.loss_values = []

    # -------------------------------------------------------------- forward

    def forward(self, input_arrays, training=False, input_masks=None):
        """Run every node; return the list of output arrays."""
        values = {id(t): x for t, x in zip(self.inputs, input_arrays)}
        masks, losses = {}, []
        if input_masks is not None:
            masks = {id(t): m for t, m in zip(self.inputs, input_masks) if m is not None}
        for node in self.nodes:
            args = [values[id(t)] for t in node.inputs]
            arg = args if len(args) != 1 else args[0]
            layer = node.layer
            if masks or self._masked:
                mask = _one_or_list([masks.get(id(t)) for t in node.inputs])
                if mask is not None and declares(layer, "forward", "mask"):
                    result = layer.forward(arg, training=training, mask=mask)
                else:
                    result = layer.forward(arg, training=training)
                output_mask = layer.compute_mask(arg, mask)
                if output_mask is not None:
                    for tensor, item in zip(node.outputs, _as_list(output_mask, node.outputs)):
                        masks[id(tensor)] = item
            else:
                result = layer.forward(arg, training=training)
            results = result if len(node.outputs) > 1 else [result]
            for tensor, value in zip(node.outputs, results):
                values[id(tensor)] = value
            if id(node) in self._shared:
                self._caches[id(node)] = layer.save_cache()
            if id(node) in self._loss_nodes:
                losses.extend(layer.losses)
        self.output_masks = [masks.get(id(t)) for t in self.outputs]
        self.loss_values = losses
        return [values[id(t)] for t in self.outputs]

    # -------------------------------------------------------------- backward

    def backward(self, output_grads, logit_grads=None, need_input_grads=False):
        """Propagate d(loss)/d(output) for each output back through the graph.

        Args:
            output_grads: per output, d(loss)/d(output) or None.
            logit_grads: per output, None or a loss's fused d(loss)/d(pre-activation) for the layer
                that produces the output (that layer's ``backward`` declares ``logit_grad``).
            need_input_grads: also return d(loss)/d(input) per graph input.

        Parameter gradients are added into the variables' ``grad``. Returns the list of input
        gradients (None for an input no gradient reached) if ``need_input_grads``, else None.
        """
        grads, fused = {}, {}
        for tensor, dy in zip(self.outputs, output_grads):
            if dy is not None:
                _accumulate(grads, tensor, dy)
        for tensor, grad in zip(self.outputs, logit_grads or ()):
            if grad is not None:
                _accumulate(fused, tensor, grad)
        for node in reversed(self.nodes):
            dys = [grads.pop(id(t), None) for t in node.outputs]
            logit_grad = fused.pop(id(node.outputs[0]), None) if len(node.outputs) == 1 else None
            if logit_grad is None and all(dy is None for dy in dys):
                continue
            layer = node.layer
            if id(node) in self._shared:
                layer.restore_cache(self._caches[id(node)])
            if len(dys) > 1:
                dys = [dy if dy is not None else _zeros_for(t, dys)
                       for dy, t in zip(dys, node.outputs)]
            kwargs = {}
            need_dx = need_input_grads or id(node) not in self._reads_only_inputs
            if not need_dx and declares(layer, "backward", "need_dx"):
                kwargs["need_dx"] = False
            if logit_grad is not None:
                kwargs["logit_grad"] = logit_grad
            dx = layer.backward(dys if len(dys) > 1 else dys[0], **kwargs)
            if not need_dx:
                continue
            for tensor, grad in zip(node.inputs, _as_list(dx, node.inputs)):
                if grad is not None and (need_input_grads or id(tensor) not in self._input_ids):
                    _accumulate(grads, tensor, grad)
        if need_input_grads:
            return [grads.get(id(t)) for t in self.inputs]
        return None

    # -------------------------------------------------------------- caches of a nested graph

    def save_cache(self):
        """Every node's forward cache, for a model used at several nodes of an outer graph."""
        caches = {id(node): node.layer.save_cache() for node in self.nodes
                  if id(node) not in self._shared}
        return {"layers": caches, "shared": dict(self._caches)}

    def restore_cache(self, cache):
        for node in self.nodes:
            if id(node) in cache["layers"]:
                node.layer.restore_cache(cache["layers"][id(node)])
        self._caches = dict(cache["shared"])


def _adds_losses(layer):
    """Whether ``layer`` overrides the base layer's ``losses`` (traced layers and models do)."""
    owner = next(klass for klass in type(layer).__mro__ if "losses" in vars(klass))
    return owner.__module__ != "dendrite.layers.base"


def _handles_masks(layer):
    """Whether ``layer`` reads masks (``forward`` declares ``mask``) or makes its own (it
    overrides the base layer's ``compute_mask``); graphs without such layers skip mask work."""
    if declares(layer, "forward", "mask"):
        return True
    owner = next(klass for klass in type(layer).__mro__ if "compute_mask" in vars(klass))
    return owner.__module__ != "dendrite.layers.base"


def _as_list(value, tensors):
    return value if len(tensors) > 1 else [value]


def _one_or_list(masks):
    if all(m is None for m in masks):
        return None
    return masks if len(masks) > 1 else masks[0]


def _accumulate(grads, tensor, dy):
    key = id(tensor)
    if key in grads:
        grads[key] = grads[key] + dy
    else:
        grads[key] = dy


def _zeros_for(tensor, dys):
    reference = next(dy for dy in dys if dy is not None)
    xp = get_array_module(reference)
    return xp.zeros((reference.shape[0], *tensor.shape[1:]), dtype=reference.dtype)
