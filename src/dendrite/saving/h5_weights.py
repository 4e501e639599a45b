"""Model weights in Keras 3's HDF5 layout (``model.weights.h5`` and ``.weights.h5`` files).

Keras 3 addresses a layer's weights by its place, not its name::

    vars                      (attrs: name=<model name>)
    layers/<snake_case class name>[_<n>]/vars/0, 1, ...   (attrs: name=<layer name>)
    optimizer/vars/0          iterations
    optimizer/vars/1          learning rate (absent when it is a schedule)
    optimizer/vars/2 ...      the slots (m, v ...) in Keras's order, per trainable variable

Layers are numbered in Keras's order of ``model.layers`` (for a functional model, by depth from the
inputs, ties in traversal order; :func:`keras_layers`), each layer's variables in creation order,
a nested model's layers under its own ``layers`` group. dendrite adds one group Keras does not read,
``dendrite/random``, holding the random streams (the shuffling generator, each dropout layer's
generator), so a resumed run draws the same numbers as an uninterrupted one.

Reading checks everything before assigning anything: every group exists, each holds exactly as many
arrays as the layer has variables, and each array's declared shape and dtype match its variable
(checked on the HDF5 metadata, before a byte is read). A failed load leaves the model unchanged.
"""

import json
import re

from dendrite.backend import get_array_module, to_device
from dendrite.backend import host as np
from dendrite.saving.safety import (
    FileFormatError,
    check_dataset,
    get_member,
    parse_json,
)

# Keras's class names where dendrite's differ (a dendrite functional Model is Keras's Functional).
_KERAS_CLASS_NAMES = {"Model": "Functional"}

# The optimizer slots Keras 3 keeps, in its order: each entry is (dendrite state name, Keras name).
# "interleaved" slots are created per variable in turn (Adam's momentum and velocity), the others
# one full list after another (RMSprop: every velocity, then every momentum, ...).
_SLOTS = {
    "SGD": (["m"], []),
    "Adagrad": (["accumulator"], []),
    "RMSprop": (["velocity"], ["m", "average_gradient"]),
    "Adam": (["m", "v"], ["v_max"]),
    "AdamW": (["m", "v"], ["v_max"]),
}


def snake_case(name):
    """Keras's ``to_snake_case``: ``"MaxPooling2D"`` -> ``"max_pooling2d"``.

    Example:
        >>> snake_case("BatchNormalization"), snake_case("Conv2D"), snake_case("InputLayer")
        ('batch_normalization', 'conv2d', 'input_layer')
    """
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras_class_name(layer):
    name = type(layer).__name__
    return _KERAS_CLASS_NAMES.get(name, name)


def _is_model(layer):
    from dendrite.models.model import Model

    return isinstance(layer, Model)


def keras_layers(model):
    """``model.layers`` in the order Keras 3 lists them (the order its weight paths follow).

    Sequential: the layers as added, without the input layer. Functional: the layers sorted by
    depth from the outputs, deepest (the inputs) first, ties in order of first visit by a depth
    first traversal from the outputs (Keras's ``map_graph``).
    """
    from dendrite.models.sequential import Sequential

    if isinstance(model, Sequential):
        return list(model.layers)
    if model._graph is None:
        return []
    order, finished, first_seen = [], set(), {}

    def visit(tensor):
        node = tensor.node
        if id(node) in finished:
            return
        first_seen.setdefault(id(node.layer), (len(first_seen), node.layer))
        for parent in node.inputs:
            visit(parent)
        finished.add(id(node))
        order.append(node)

    for tensor in model.outputs:
        visit(tensor)
    node_depth, layer_depth = {}, {}
    for node in reversed(order):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for parent in node.inputs:
            node_depth[id(parent.node)] = max(depth + 1, node_depth.get(id(parent.node), 0))
    for tensor in model.inputs:  # inputs no output depends on still count, as in Keras
        if id(tensor.node.layer) not in layer_depth:
            layer_depth[id(tensor.node.layer)] = 0
            first_seen[id(tensor.node.layer)] = (-1, tensor.node.layer)
    layers = [layer for _, layer in first_seen.values()]
    return sorted(layers, key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)][0]))


def layer_paths(model, prefix=""):
    """``[(path, layer)]`` for every layer of ``model`` and of its nested models, Keras's paths."""
    paths, used = [], {}
    for layer in keras_layers(model):
        base = snake_case(keras_class_name(layer))
        count = used.get(base)
        used[base] = 0 if count is None else count + 1
        path = f"{prefix}layers/{base}" if count is None else f"{prefix}layers/{base}_{count + 1}"
        paths.append((path, layer))
        if _is_model(layer):
            paths.extend(layer_paths(layer, prefix=path + "/"))
    return paths


def weight_groups(layer):
    """``[(subpath, variables)]``: where under its path a layer's variables live, as in Keras.

    Most layers keep theirs in their own ``vars`` group (subpath ""); Keras's recurrent layers keep
    them in their cell (``cell``), ``Bidirectional`` in ``forward_layer/cell`` and
    ``backward_layer/cell``, ``TimeDistributed`` in ``layer``; a nested model keeps none (its
    layers have their own paths).
    """
    from dendrite.layers.recurrent import BaseRNN

    if _is_model(layer):
        return []
    if isinstance(layer, BaseRNN):
        return [("cell", list(layer.weights))]
    inner = {"Bidirectional": ("forward_layer", "backward_layer"),
             "TimeDistributed": ("layer",)}.get(type(layer).__name__)
    if inner is not None:
        return [(f"{name}/{sub}".rstrip("/"), variables) for name in inner
                for sub, variables in weight_groups(getattr(layer, name))]
    return [("", list(layer.weights))]


def own_weights(layer):
    """The variables stored under a layer's path (a nested model stores none)."""
    return [v for _, variables in weight_groups(layer) for v in variables]


def keras_trainable_variables(model):
    """The model's trainable variables in Keras's order (the order of optimizer slots)."""
    seen, result = set(), []
    if not model.trainable:
        return result
    for _, layer in layer_paths(model):
        if _is_model(layer) and not layer.trainable:
            continue
        for variable in own_weights(layer):
            if variable.trainable and id(variable) not in seen:
                seen.add(id(variable))
                result.append(variable)
    return [v for v in result if any(v is w for w in model.trainable_weights)]


# ------------------------------------------------------------------ writing


def write_model_weights(h5file, model, include_optimizer=True):
    """Write ``model``'s weights (and optimizer state, random streams) into an open h5py File."""
    h5file.create_group("vars").attrs["name"] = model.name
    for path, layer in layer_paths(model):
        h5file.create_group(path).create_group("vars").attrs["name"] = layer.name
        for sub, variables in weight_groups(layer):
            if not sub:
                group = h5file[f"{path}/vars"]
            else:
                group = h5file.create_group(f"{path}/{sub}/vars")
            for index, variable in enumerate(variables):
                group.create_dataset(str(index), data=variable.numpy())
    if include_optimizer and getattr(model, "optimizer", None) is not None:
        _write_optimizer(h5file, model)
    random = h5file.create_group("dendrite")
    random.attrs["random"] = json.dumps(_random_states(model))


def _write_optimizer(h5file, model):
    optimizer = model.optimizer
    group = h5file.create_group("optimizer").create_group("vars")
    group.attrs["name"] = optimizer.name
    arrays = [np.asarray(optimizer.iterations, dtype="int64")]
    if not callable(optimizer._learning_rate):
        arrays.append(np.asarray(optimizer.learning_rate, dtype="float64"))
    slots = _slot_order(optimizer, keras_trainable_variables(model))
    if any(optimizer.variable_state(variable) for variable, _ in slots):
        # before the first step there is no state: only the counter is written, as Keras does
        for variable, name in slots:
            state = optimizer.variable_state(variable).get(name)
            arrays.append(np.zeros(variable.shape, variable.dtype) if state is None else
                          _host(state).reshape(variable.shape))
    for index, array in enumerate(arrays):
        group.create_dataset(str(index), data=array)


def _slot_order(optimizer, variables):
    """``[(variable, dendrite state name)]`` in the order Keras keeps its optimizer variables."""
    kind = type(optimizer).__name__
    if kind not in _SLOTS:
        raise ValueError(f"save: the state of optimizer {kind} has no Keras layout; known: "
                         f"{sorted(_SLOTS)}")
    interleaved, sequential = _SLOTS[kind]
    active = [name for name in interleaved + sequential if _slot_active(optimizer, name)]
    order = [(v, name) for v in variables for name in interleaved if name in active]
    order += [(v, name) for name in sequential if name in active for v in variables]
    return order


def _slot_active(optimizer, name):
    """Whether the optimizer's configuration keeps slot ``name`` (Keras keeps it then too)."""
    kind = type(optimizer).__name__
    if name == "m" and kind in ("SGD", "RMSprop"):
        return bool(optimizer.momentum)
    if name == "average_gradient":
        return bool(optimizer.centered)
    if name == "v_max":
        return bool(optimizer.amsgrad)
    return True


def _host(array):
    return array.get() if hasattr(array, "get") else np.array(array)


def _generators(model):
    """``{key: numpy Generator}`` for every random stream that training draws from."""
    streams = {}
    shuffle = getattr(model, "shuffle_generator", None)
    if shuffle is not None:
        streams["shuffle"] = shuffle
    for path, layer in layer_paths(model):
        generator = getattr(layer, "_rng", None)
        if isinstance(generator, np.random.Generator):
            streams[path] = generator
    return streams


def _random_states(model):
    return {key: generator.bit_generator.state for key, generator in _generators(model).items()}


# ------------------------------------------------------------------ reading


def read_model_weights(h5file, model, path, include_optimizer=True):
    """Load weights written by :func:`write_model_weights` (or by Keras 3) into ``model``.

    Everything is checked first; on any error nothing in the model has changed.

    Raises:
        FileFormatError: a missing layer group, a count/shape/dtype mismatch, naming the layer,
            the variable and both shapes.
    """
    plan = []  # (variable, dataset)
    expected_groups = set()
    for layer_path, layer in layer_paths(model):
        expected_groups.add(layer_path)
        for sub, variables in weight_groups(layer):
            _plan_group(h5file, f"{layer_path}/{sub}".rstrip("/"), layer, variables, path, plan)
    _check_no_extra_layers(h5file, expected_groups, path)
    optimizer_plan = _optimizer_plan(h5file, model, path) if include_optimizer else None
    random_states = _read_random(h5file, model, path)
    values = [(variable, dataset[()]) for variable, dataset in plan]
    optimizer_values = None if optimizer_plan is None else [
        (target, dataset[()]) for target, dataset in optimizer_plan]
    for variable, value in values:
        variable.assign(value)
    if optimizer_values is not None:
        _assign_optimizer(model, optimizer_values)
    for key, generator, state in random_states:
        generator.bit_generator.state = state
        if key == "shuffle":
            model.shuffle_generator = generator


def _plan_group(h5file, group_path, layer, variables, path, plan):
    """Check ``group_path/vars`` against ``variables``; append ``(variable, dataset)`` to plan."""
    where = f"weights of {type(layer).__name__} {layer.name!r} ({group_path}/vars)"
    group = _group(h5file, f"{group_path}/vars", where, path, required=bool(variables))
    if group is None:
        return
    names = sorted(group.keys(), key=_index_key(where, path))
    if len(names) != len(variables):
        raise FileFormatError(
            f"{path}: {where} holds {len(names)} arrays; the layer has {len(variables)} "
            f"({', '.join(v.name for v in variables) or 'none'})")
    for index, variable in enumerate(variables):
        item = f"{where[:-1]}/{index}, variable {variable.name!r})"
        dataset = get_member(group, str(index), item, path)
        if dataset is None:
            raise FileFormatError(f"{path}: {item} is missing")
        check_dataset(dataset, variable.shape, variable.dtype, item, path)
        plan.append((variable, dataset))


def _group(h5file, group_path, where, path, required):
    import h5py

    node = h5file
    for part in group_path.split("/"):
        child = get_member(node, part, where, path) if isinstance(node, h5py.Group) else None
        if child is None:
            if required:
                raise FileFormatError(f"{path}: the file has no {where}; it was saved from a "
                                      "different model (layers or their order differ)")
            return None
        node = child
    if not isinstance(node, h5py.Group):
        raise FileFormatError(f"{path}: {where} should be a group")
    return node


def _index_key(where, path):
    def key(name):
        if not name.isdigit():
            raise FileFormatError(f"{path}: {where} holds an entry named {name!r}; expected "
                                  "0, 1, ...")
        return int(name)

    return key


def _check_no_extra_layers(h5file, expected_groups, path):
    """Refuse a file with layer groups the model has no layer for (saved from another model)."""
    import h5py

    def walk(group, prefix):
        for name in group:
            child_path = f"{prefix}{name}"
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                continue
            child = group[name]
            if not isinstance(child, h5py.Group):
                continue
            if child_path not in expected_groups:
                if "vars" in child and len(child["vars"]) > 0:
                    raise FileFormatError(
                        f"{path}: the file holds weights for {child_path} "
                        f"({child['vars'].attrs.get('name', '?')!s}), which this model does not "
                        "have; it was saved from a different model")
                continue
            if "layers" in child:
                walk(child["layers"], f"{child_path}/layers/")

    if "layers" in h5file:
        walk(h5file["layers"], "layers/")


def _optimizer_plan(h5file, model, path):
    """``[(target, dataset)]`` for the optimizer's iterations, learning rate and slots."""
    optimizer = getattr(model, "optimizer", None)
    group = _group(h5file, "optimizer/vars", "optimizer state (optimizer/vars)", path,
                   required=False)
    if optimizer is None or group is None:
        return None
    variables = keras_trainable_variables(model)
    slots = _slot_order(optimizer, variables)
    has_lr = not callable(optimizer._learning_rate)
    expected = 1 + has_lr + len(slots)
    count = len(group.keys())
    where = f"optimizer state of {type(optimizer).__name__} (optimizer/vars)"
    if count == 2 - (not has_lr) and slots:
        return None  # saved before the optimizer's first step: nothing to restore but the counter
    if count != expected:
        # another optimizer (or its settings) than the one saved: the weights still load, as in
        # Keras, and the optimizer starts afresh
        import warnings

        warnings.warn(
            f"{path}: {where} holds {count} arrays; {type(optimizer).__name__} for this model "
            f"needs {expected} (iterations{', learning rate' if has_lr else ''} and {len(slots)} "
            "slots), so the saved optimizer state is skipped and only the weights are loaded",
            stacklevel=4)
        return None
    plan = []
    iterations = get_member(group, "0", f"{where[:-1]}/0)", path)
    _check_scalar(iterations, "iui", f"{where}: iterations", path)
    plan.append(("iterations", iterations))
    if has_lr:
        rate = get_member(group, "1", f"{where[:-1]}/1)", path)
        _check_scalar(rate, "f", f"{where}: learning rate", path)
        plan.append(("learning_rate", rate))
    for index, (variable, name) in enumerate(slots, start=1 + has_lr):
        item = f"{where[:-1]}/{index}, slot {name!r} of variable {variable.name!r})"
        dataset = get_member(group, str(index), item, path)
        if dataset is None:
            raise FileFormatError(f"{path}: {item} is missing")
        check_dataset(dataset, variable.shape, variable.dtype, item, path)
        plan.append(((variable, name), dataset))
    return plan


def _check_scalar(dataset, kinds, where, path):
    import h5py

    if not isinstance(dataset, h5py.Dataset) or dataset.shape != () or dataset.dtype.kind not in \
            kinds:
        got = (f"shape {dataset.shape} dtype {dataset.dtype}" if isinstance(dataset, h5py.Dataset)
               else type(dataset).__name__)
        raise FileFormatError(f"{path}: {where} should be a scalar; got {got}")


def _assign_optimizer(model, values):
    """Set the optimizer's counter, learning rate and per-variable state from checked arrays."""
    from dendrite.variables import FlatParameters

    optimizer = model.optimizer
    slots = [(target, value) for target, value in values if isinstance(target, tuple)]
    for target, value in values:
        if target == "iterations":
            optimizer.iterations = int(value)
        elif target == "learning_rate" and np.float32(value) != np.float32(optimizer.learning_rate):
            # keep the exact float unless the rates differ in float32 (Keras stores float32)
            optimizer.learning_rate = float(value)
    if not slots:
        return
    # lay the variables out once so the optimizer holds state for each; it keeps that state per
    # variable when the model lays them out again for training
    if not optimizer.variable_state(slots[0][0][0]):
        flat = getattr(model, "_flat", None)  # fit lays the variables out before callbacks run
        if flat is None or not flat.owns(model.trainable_weights):
            flat = FlatParameters(model.trainable_weights)
        optimizer.build(flat)
    for (variable, name), value in slots:
        state = optimizer.variable_state(variable)[name]
        state[...] = to_device(value, get_array_module(state))  # a GPU's state takes device data


def _read_random(h5file, model, path):
    """``[(key, generator, state)]`` from ``dendrite``'s attribute ``random``, checked against the
    model's streams (a loaded model gets the shuffling generator it had when saved)."""
    group = _group(h5file, "dendrite", "dendrite's random state", path, required=False)
    if group is None or "random" not in group.attrs:
        return []
    raw = group.attrs["random"]
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    states = parse_json(data, "the random state (dendrite.attrs['random'])", path)
    result = []
    generators = _generators(model)
    if "shuffle" in states and "shuffle" not in generators:
        generators["shuffle"] = np.random.default_rng()  # installed once the state is checked
    for key, generator in generators.items():
        state = states.get(key)
        if state is None:
            continue
        expected = generator.bit_generator.state
        if not _same_structure(state, expected):
            raise FileFormatError(f"{path}: the random state for {key!r} does not fit its "
                                  f"{expected['bit_generator']} generator")
        result.append((key, generator, state))
    return result


def _same_structure(state, reference):
    if isinstance(reference, dict):
        return isinstance(state, dict) and set(state) == set(reference) and all(
            _same_structure(state[k], v) for k, v in reference.items()) and (
            state.get("bit_generator", reference.get("bit_generator")) ==
            reference.get("bit_generator"))
    if isinstance(reference, int):
        return isinstance(state, int) and not isinstance(state, bool) and state >= 0
    return isinstance(state, type(reference))
