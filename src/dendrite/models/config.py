"""Model configs in Keras 3's schema: ``get_config`` / ``from_config``, JSON, ``clone_model``.

A Sequential model's config lists its layers (an ``InputLayer`` first when the input is known)::

    {"name": ..., "trainable": ..., "dtype": <DTypePolicy>, "layers": [<layer>, ...],
     "build_input_shape": [null, 784]}

A functional model's config lists every layer once, each with its calls (``inbound_nodes``), and
names the graph's ends as ``[layer_name, node_index, tensor_index]``::

    {"name": ..., "trainable": ..., "layers": [
        {<layer>, "name": "dense", "inbound_nodes": [
            {"args": [{"class_name": "__keras_tensor__", "config": {
                "shape": [null, 4], "dtype": "float32", "keras_history": ["input", 0, 0]}}],
             "kwargs": {}}]}, ...],
     "input_layers": [["input", 0, 0], ...], "output_layers": [["dense", 0, 0], ...]}

A node index counts the calls of that layer within this model, in the graph's execution order; a
merge layer's node has its input tensors as one list argument. One input (output) is written as a
single triple, several as a list of triples, as Keras does. Layers are written and read through
:mod:`dendrite.saving.serialization`, so classes resolve only through its registry.
"""

import json

from dendrite.errors import describe
from dendrite.layers.base import Input, InputLayer
from dendrite.saving.serialization import (
    _identity,
    as_shape,
    custom_object_scope,
    deserialize_layer,
    dtype_policy,
    json_safe,
    serialize_layer,
)

_SEQUENTIAL_KEYS = {"name", "trainable", "dtype", "layers", "build_input_shape"}
_FUNCTIONAL_KEYS = {"name", "trainable", "layers", "input_layers", "output_layers"}


# ---------------------------------------------------------------------------- writing


def get_config(model):
    """The ``config`` part of ``model``'s serialized form (what Keras's ``get_config`` returns)."""
    from dendrite.models.sequential import Sequential

    if isinstance(model, Sequential):
        return _sequential_config(model)
    return _functional_config(model)


def serialize_model(model):
    """``model`` in Keras 3's form: module, class_name, config, registered_name, build_config."""
    from dendrite.models.model import Model
    from dendrite.models.sequential import Sequential

    cls = type(model)
    if cls is Sequential:
        module, class_name, registered = "keras", "Sequential", None
    elif cls is Model:
        module, class_name, registered = "keras.src.models.functional", "Functional", "Functional"
    else:
        module, class_name, registered = _identity(model)  # a registered user class, or an error
    result = {"module": module, "class_name": class_name, "config": get_config(model),
              "registered_name": registered}
    if isinstance(model, Sequential):
        if model._input is not None:
            result["build_config"] = {"input_shape": json_safe(model._input.shape, "input")}
    else:
        result["build_config"] = {"input_shape": None}
    return result


def to_json(model, **kwargs):
    """``model``'s serialized form as a JSON string (``kwargs`` go to :func:`json.dumps`)."""
    return json.dumps(serialize_model(model), **kwargs)


def _member(layer, input_shape):
    """A layer of a model in serialized form (a nested model in full)."""
    from dendrite.models.model import Model

    if isinstance(layer, Model):
        return serialize_model(layer)
    return serialize_layer(layer, input_shape, in_model=True)


def _node_input_shape(node):
    shapes = [list(t.shape) for t in node.inputs]
    return shapes[0] if len(shapes) == 1 else shapes


def _sequential_config(model):
    layers = []
    if model._input is not None:
        layers.append(serialize_layer(model._input.node.layer))
    nodes = model._nodes if model._graph is not None else []
    for i, layer in enumerate(model.layers):
        layers.append(_member(layer, _node_input_shape(nodes[i]) if i < len(nodes) else None))
    config = {"name": model.name, "trainable": model.trainable,
              "dtype": dtype_policy(model.dtype), "layers": layers}
    if model._input is not None:
        config["build_input_shape"] = json_safe(model._input.shape, "input")
    return config


def _functional_config(model):
    if model._graph is None:
        raise ValueError(f"{describe(model)}: get_config() needs a model with inputs and outputs")
    nodes_of = {}
    for tensor in model.inputs:
        if not tensor.node.is_input:
            raise ValueError(f"{describe(model)}: get_config() needs every model input to come "
                             f"from Input(...); input {tensor!r} is produced by layer "
                             f"{tensor.node.layer.name!r}.")
        nodes_of.setdefault(id(tensor.node.layer), [tensor.node])
    for node in model._graph.nodes:
        nodes_of.setdefault(id(node.layer), []).append(node)
    node_index = {id(node): i for nodes in nodes_of.values() for i, node in enumerate(nodes)}

    def history(tensor):
        return [tensor.node.layer.name, node_index[id(tensor.node)], tensor.index]

    def keras_tensor(tensor):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": json_safe(tensor.shape, "shape"), "dtype": tensor.dtype,
                           "keras_history": history(tensor)}}

    layers, names = [], set()
    for layer in model.layers:
        if layer.name in names:
            raise ValueError(f"{describe(model)}: two layers are named {layer.name!r}; a config "
                             "refers to layers by name, so names must be unique.")
        names.add(layer.name)
        nodes = nodes_of[id(layer)]
        if isinstance(layer, InputLayer):
            entry, inbound = serialize_layer(layer), []
        else:
            entry = _member(layer, _node_input_shape(nodes[0]))
            inbound = [{"args": [keras_tensor(n.inputs[0]) if len(n.inputs) == 1
                                 else [keras_tensor(t) for t in n.inputs]], "kwargs": {}}
                       for n in nodes]
        layers.append({**entry, "name": layer.name, "inbound_nodes": inbound})
    inputs = [history(t) for t in model.inputs]
    outputs = [history(t) for t in model.outputs]
    if model._output_keys is not None:
        outputs = dict(zip(model._output_keys, outputs))
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": inputs if model._multi_input else inputs[0],
            "output_layers": outputs if model._multi_output else outputs[0]}


# ---------------------------------------------------------------------------- reading


def model_from_config(config, custom_objects=None):
    """A model (or layer) from its full serialized form ``{"class_name": ..., "config": ...}``
    (Keras's ``keras.models.model_from_config``). ``custom_objects`` (``{name: class}``) may
    name user classes besides the registered ones."""
    _require(isinstance(config, dict), "model_from_config: expected a dict with 'class_name' "
             f"and 'config'; got {type(config).__name__}")
    with custom_object_scope(custom_objects):
        return deserialize_layer(config)


def model_from_json(json_string, custom_objects=None):
    """A model from the JSON of :meth:`Model.to_json` (dendrite's or Keras's); new weights.
    ``custom_objects`` as in :func:`model_from_config`."""
    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as error:
        raise ValueError(f"model_from_json: not valid JSON ({error})") from None
    return model_from_config(config, custom_objects)


def model_from_inner_config(cls, config):
    """A ``cls`` model from the ``config`` part (Keras's ``Model.from_config``)."""
    from dendrite.models.sequential import Sequential

    _require(isinstance(config, dict), f"{cls.__name__}.from_config: expected a dict; got "
             f"{config!r}")
    if issubclass(cls, Sequential):
        return _sequential_from_config(cls, config)
    return _functional_from_config(cls, config)


def _require(condition, message):
    """A malformed config raises ValueError, whatever is wrong with it."""
    if not condition:
        raise ValueError(message)


def _check_keys(cls, config, allowed):
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(f"{cls.__name__}.from_config: unknown keys {unknown}; expected some of "
                         f"{sorted(allowed)}")


def _set_trainable(model, config):
    trainable = config.get("trainable", True)
    _require(isinstance(trainable, bool),
             f"{describe(model)}: trainable must be a bool; got {trainable!r}")
    if not trainable:
        model.trainable = False


def _sequential_from_config(cls, config):
    _check_keys(cls, config, _SEQUENTIAL_KEYS)
    entries = config.get("layers", [])
    _require(isinstance(entries, list),
             f"{cls.__name__}.from_config: layers must be a list; got {entries!r}")
    model = cls(name=config.get("name"))
    for entry in entries:
        model.add(deserialize_layer(entry))
    build_shape = config.get("build_input_shape")
    if model._graph is None and build_shape is not None and model.layers:
        model.build(as_shape(build_shape))
    _set_trainable(model, config)
    return model


def _functional_from_config(cls, config):
    _check_keys(cls, config, _FUNCTIONAL_KEYS)
    entries = config.get("layers")
    _require(isinstance(entries, list),
             f"{cls.__name__}.from_config: layers must be a list; got {entries!r}")
    layers, calls, produced = {}, {}, {}
    for entry in entries:
        _require(isinstance(entry, dict),
                 f"{cls.__name__}.from_config: a layer must be a dict; got {entry!r}")
        layer = deserialize_layer(entry)
        name = entry.get("name", layer.name)
        if name in layers:
            raise ValueError(f"{cls.__name__}.from_config: two layers are named {name!r}")
        layers[name] = layer
        inbound = entry.get("inbound_nodes", [])
        _require(isinstance(inbound, list),
                 f"Layer {name!r}: inbound_nodes must be a list; got {inbound!r}")
        calls[name] = inbound
        if isinstance(layer, InputLayer):
            produced[(name, 0)] = [layer.output]
    # Call the layers in config order, each layer's calls in their order, as their inputs appear.
    done = dict.fromkeys(calls, 0)
    while any(done[name] < len(calls[name]) for name in calls):
        progress = False
        for name, nodes in calls.items():
            while done[name] < len(nodes):
                args = _call_arguments(name, done[name], nodes[done[name]], layers, produced)
                if args is None:
                    break
                result = layers[name](args)
                produced[(name, done[name])] = result if isinstance(result, list) else [result]
                done[name] += 1
                progress = True
        if not progress:
            waiting = sorted(name for name in calls if done[name] < len(calls[name]))
            raise ValueError(f"{cls.__name__}.from_config: the calls of {waiting} read tensors "
                             "that no layer produces (a cycle or a missing node).")
    inputs = _resolve_ends(config.get("input_layers"), produced, "input_layers")
    outputs = _resolve_ends(config.get("output_layers"), produced, "output_layers")
    model = cls(inputs=inputs, outputs=outputs, name=config.get("name"))
    _set_trainable(model, config)
    return model


def _call_arguments(name, index, node, layers, produced):
    """The tensor (or list) for call ``index`` of layer ``name``; None while an input is missing."""
    where = f"Layer {name!r}, call {index}"
    if not isinstance(node, dict) or set(node) - {"args", "kwargs"}:
        raise ValueError(f"{where}: expected {{'args': [...], 'kwargs': {{...}}}}; got {node!r}")
    args, kwargs = node.get("args", []), node.get("kwargs", {})
    # Keras records a call's defaults (training=False, mask=None): they change nothing here
    if not isinstance(kwargs, dict) or any(
            value is not None and not (key == "training" and value is False)
            for key, value in kwargs.items()):
        raise ValueError(f"{where}: call arguments {kwargs!r} are not supported (dendrite "
                         "accepts training=False and None values only)")
    if not isinstance(args, list) or len(args) != 1:
        raise ValueError(f"{where}: expected one positional argument (a tensor or a list of "
                         f"tensors); got {args!r}")
    arg = args[0]
    refs = arg if isinstance(arg, list) else [arg]
    tensors = []
    for ref in refs:
        if not isinstance(ref, dict) or ref.get("class_name") != "__keras_tensor__":
            raise ValueError(f"{where}: expected a __keras_tensor__ argument; got {ref!r}")
        history = (ref.get("config") or {}).get("keras_history")
        tensor = _lookup(history, produced, layers, where)
        if tensor is None:
            return None
        tensors.append(tensor)
    return tensors if isinstance(arg, list) else tensors[0]


def _lookup(history, produced, layers, where):
    if (not isinstance(history, list) or len(history) != 3 or not isinstance(history[0], str)
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in history[1:])):
        raise ValueError(f"{where}: keras_history must be [layer_name, node_index, "
                         f"tensor_index]; got {history!r}")
    name, node_index, tensor_index = history
    if name not in layers:
        raise ValueError(f"{where}: refers to layer {name!r}, which the config does not define")
    outputs = produced.get((name, node_index))
    if outputs is None:
        return None
    if not 0 <= tensor_index < len(outputs):
        raise ValueError(f"{where}: layer {name!r} call {node_index} has {len(outputs)} "
                         f"output(s); got tensor index {tensor_index}")
    return outputs[tensor_index]


def _resolve_ends(ends, produced, what):
    def one(history):
        if not isinstance(history, list) or len(history) != 3:
            raise ValueError(f"{what}: expected [layer_name, node_index, tensor_index]; got "
                             f"{history!r}")
        name, node_index, tensor_index = history
        outputs = produced.get((name, node_index))
        if outputs is None or not isinstance(tensor_index, int) or not (
                0 <= tensor_index < len(outputs)):
            raise ValueError(f"{what}: {history!r} names no tensor of the model")
        return outputs[tensor_index]

    if isinstance(ends, dict):
        return {key: one(value) for key, value in ends.items()}
    if isinstance(ends, list) and len(ends) == 3 and isinstance(ends[0], str):
        return one(ends)
    if isinstance(ends, list) and ends:
        return [one(history) for history in ends]
    raise ValueError(f"{what}: expected [layer_name, node_index, tensor_index] or a list of them; "
                     f"got {ends!r}")


# ---------------------------------------------------------------------------- cloning


def clone_model(model, input_tensors=None, clone_function=None):
    """A new model with ``model``'s architecture and freshly initialized weights (Keras's
    ``keras.models.clone_model``).

    Each layer is replaced by ``clone_function(layer)`` (default: a new layer from its config, so
    a shared layer stays shared and a nested model is cloned in full); the inputs are new
    ``Input`` tensors of the same shapes and names, or ``input_tensors``.

    Example:
        >>> from dendrite import Sequential, layers
        >>> model = Sequential([layers.Dense(3, input_shape=(4,))])
        >>> clone = clone_model(model)
        >>> clone.count_params(), clone.layers[0] is model.layers[0]
        (15, False)
    """
    from dendrite.models.model import Model
    from dendrite.models.sequential import Sequential

    clone_function = clone_function or _clone_layer
    if isinstance(model, Sequential):
        clone = Sequential(name=model.name)
        known = [model._input] if model._input is not None else []
        inputs = _new_inputs(known or ([None] if input_tensors is not None else []),
                             input_tensors, model)
        for tensor in inputs:
            clone.add(tensor)
        for layer in model.layers:
            clone.add(clone_function(layer))
    elif isinstance(model, Model):
        if model._graph is None:
            raise ValueError(f"clone_model: {describe(model)} has no graph to clone")
        inputs = _new_inputs(model.inputs, input_tensors, model)
        mapping = {id(old): new for old, new in zip(model.inputs, inputs)}
        clones = {}
        for node in model._graph.nodes:
            layer = node.layer
            if id(layer) not in clones:
                clones[id(layer)] = clone_function(layer)
            args = [mapping[id(t)] for t in node.inputs]
            result = clones[id(layer)](args if len(args) > 1 else args[0])
            for old, new in zip(node.outputs, result if isinstance(result, list) else [result]):
                mapping[id(old)] = new
        outputs = [mapping[id(t)] for t in model.outputs]
        if model._output_keys is not None:
            outputs = dict(zip(model._output_keys, outputs))
        elif not model._multi_output:
            outputs = outputs[0]
        clone = type(model)(inputs if model._multi_input else inputs[0], outputs, name=model.name)
    else:
        raise TypeError(f"clone_model expects a Model or Sequential; got {model!r}")
    if not model.trainable:
        clone.trainable = False
    return clone


def _clone_layer(layer):
    return type(layer).from_config(layer.get_config())


def _new_inputs(tensors, input_tensors, model):
    if input_tensors is None:
        return [Input(batch_shape=t.shape, dtype=t.dtype, name=t.node.layer.name)
                for t in tensors]
    given = list(input_tensors) if isinstance(input_tensors, (list, tuple)) else [input_tensors]
    if len(given) != len(tensors):
        raise ValueError(f"clone_model: {describe(model)} has {len(tensors)} input(s); got "
                         f"{len(given)} input_tensors")
    return given
