"""Public test tools: a finite-difference gradient checker and a layer test harness.

``run_layer_test`` runs the checks every layer owes (forward against a reference, gradients, dtype
preservation, config round trip, output-shape inference, PyTorch parity) in one call, as Keras's
``run_layer_test`` and Chainer's ``FunctionTestCase`` do; it is built on ``check_gradients``.

``check_gradients`` compares what ``backward`` returns against central differences of a scalar
objective. For a layer (or activation) the objective is sum(dy * forward(x)) with a *random*
upstream gradient dy, so every output element matters; for a loss it is the loss itself; for a
regularizer its penalty. It checks the input gradient and every trainable parameter's gradient.
Small arrays are checked element by element; large ones along random unit directions, comparing the
directional derivative with grad . u (Chainer's method).
"""

import importlib
import json

from dendrite import activations, backend
from dendrite.backend import host as np


class GradientCheckError(AssertionError):
    """Raised when an analytic gradient disagrees with its finite-difference estimate."""


def check_gradients(target, x, y_true=None, *, eps=1e-6, rtol=1e-5, atol=1e-7, training=False,
                    max_elements=256, directions=8, seed=0):
    """Check ``target``'s gradients against central differences; raise GradientCheckError if off.

    Args:
        target: a Layer (``dtype="float64"``), a :class:`dendrite.activations.Activation`, a Loss,
            or a Regularizer.
        x: float64 input array (a list for multi-input layers); for a loss, ``y_pred``; for a
            regularizer, the weight array.
        y_true: targets, for a loss only.
        eps: finite-difference step. rtol, atol: tolerances of the comparison.
        training: forward mode for layers (randomness is frozen between evaluations, so dropout
            layers are checked with one fixed mask).
        max_elements: arrays with more elements are checked along ``directions`` random directions.
        seed: seed of the random upstream gradient and directions.

    Returns:
        dict mapping "x" (or "x0", "x1" ...) and each parameter name to the largest absolute error.
    """
    rng = np.random.default_rng(seed)
    inputs = [np.array(a, dtype=np.float64) for a in (x if isinstance(x, (list, tuple)) else [x])]
    multi = isinstance(x, (list, tuple))
    objective, analytic, params = _objective_and_gradients(target, inputs, multi, y_true, training,
                                                           rng)
    report = {}
    names = [f"x{i}" for i in range(len(inputs))] if multi else ["x"]
    for name, array, grad in zip(names, inputs, analytic["inputs"]):
        report[name] = _compare(name, array, grad, objective, eps, rtol, atol, max_elements,
                                directions, rng)
    for variable, grad in zip(params, analytic["params"]):
        report[variable.name] = _compare(variable.name, variable.value, grad, objective, eps, rtol,
                                         atol, max_elements, directions, rng)
    return report


def _objective_and_gradients(target, inputs, multi, y_true, training, rng):
    from dendrite.layers.base import Layer
    from dendrite.losses import Loss
    from dendrite.regularizers import Regularizer

    if isinstance(target, Regularizer):
        return (lambda: target(inputs[0])), {"inputs": [target.gradient(inputs[0])],
                                              "params": []}, []
    if isinstance(target, Loss):
        target.forward(y_true, inputs[0])
        dy_pred = target.backward()
        return (lambda: target.forward(y_true, inputs[0])), {"inputs": [dy_pred], "params": []}, []
    if isinstance(target, activations.Activation):
        y = target.forward(inputs[0].copy())
        dy = rng.standard_normal(y.shape)
        dx = target.backward(dy, inputs[0], y)
        return (lambda: float((dy * target.forward(inputs[0].copy())).sum())), {
            "inputs": [dx], "params": []}, []
    if isinstance(target, Layer):
        if target.dtype != "float64":
            raise ValueError(f"check_gradients: build the layer with dtype='float64'; "
                             f"got dtype={target.dtype!r}")
        args = inputs if multi else inputs[0]
        target.ensure_built([tuple(a.shape) for a in inputs] if multi else tuple(args.shape))
        params = target.trainable_weights
        frozen = _freeze_randomness(target)
        frozen()
        outputs = target.forward(args, training=training)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        dys = [rng.standard_normal(o.shape) for o in outputs]
        for p in params:
            p.grad[...] = 0
        dx = target.backward(dys if len(dys) > 1 else dys[0])
        grads = {"inputs": dx if multi else [dx], "params": [p.grad.copy() for p in params]}

        def objective():
            frozen()
            result = target.forward(args, training=training)
            result = result if isinstance(result, list) else [result]
            return float(sum((dy * r).sum() for dy, r in zip(dys, result)))

        return objective, grads, params
    raise TypeError(f"check_gradients: cannot check {type(target).__name__}; expected a Layer, "
                    "Activation, Loss or Regularizer")


def _freeze_randomness(layer):
    """A function that resets the layer's random generator, so each evaluation draws the same
    noise."""
    rng = getattr(layer, "_rng", None)
    if rng is None:
        return lambda: None
    state = rng.bit_generator.state

    def reset():
        rng.bit_generator.state = state

    return reset


def _compare(name, array, grad, objective, eps, rtol, atol, max_elements, directions, rng):
    if grad is None:
        raise GradientCheckError(f"check_gradients: backward returned no gradient for {name!r}")
    grad = np.asarray(grad, dtype=np.float64)
    if grad.shape != array.shape:
        raise GradientCheckError(f"check_gradients: gradient of {name!r} has shape {grad.shape}; "
                                 f"expected {array.shape}")
    if array.size <= max_elements:
        numeric = np.empty(array.size)
        flat = array.reshape(-1)  # a view: perturbing it perturbs the array the objective reads
        for i in range(array.size):
            numeric[i] = _central_difference(objective, flat, i, None, eps)
        analytic = grad.reshape(-1)
        where = [f"element {np.unravel_index(i, array.shape)}" for i in range(array.size)]
    else:
        units = rng.standard_normal((directions, array.size))
        units /= np.linalg.norm(units, axis=1, keepdims=True)
        flat = array.reshape(-1)
        numeric = np.array([_central_difference(objective, flat, None, u, eps) for u in units])
        analytic = units @ grad.reshape(-1)
        where = [f"random direction {k}" for k in range(directions)]
    error = np.abs(numeric - analytic)
    bound = atol + rtol * np.abs(numeric)
    worst = int(np.argmax(error - bound))
    if error[worst] > bound[worst]:
        raise GradientCheckError(
            f"check_gradients: gradient of {name!r} is wrong at {where[worst]}: analytic "
            f"{analytic[worst]:.10g}, numeric {numeric[worst]:.10g}, |error| {error[worst]:.3g} > "
            f"atol + rtol*|numeric| = {bound[worst]:.3g} (eps={eps}, rtol={rtol}, atol={atol})"
        )
    return float(error.max()) if error.size else 0.0


def _central_difference(objective, flat, index, direction, eps):
    if direction is None:
        saved = flat[index]
        flat[index] = saved + eps
        plus = objective()
        flat[index] = saved - eps
        minus = objective()
        flat[index] = saved
    else:
        saved = flat.copy()
        flat += eps * direction
        plus = objective()
        flat[...] = saved - eps * direction
        minus = objective()
        flat[...] = saved
    return (plus - minus) / (2 * eps)


def check_model_gradients(model, x, y, sample_weight=None, *, eps=1e-6, rtol=1e-5, atol=1e-7,
                          training=True, max_elements=256, directions=8, seed=0):
    """Check a compiled model's weight gradients against central differences of its loss.

    The objective is the model's total training loss on ``(x, y)`` (every output's loss times its
    weight, plus regularization penalties), exactly what ``fit`` differentiates; the analytic
    gradient is what one training step computes (:meth:`Model.compute_gradients`), before any
    optimizer update. Every trainable weight of the model (nested models included) is checked.

    Args:
        model: a compiled model whose layers use ``dtype="float64"`` (and a float64 ``Input``).
        x, y, sample_weight: one batch, as ``fit`` takes them (lists or dicts for several).
        training: forward mode (random layers draw one fixed mask for all evaluations).
        eps, rtol, atol, max_elements, directions, seed: as :func:`check_gradients`.

    Returns:
        dict mapping ``"<layer>/<weight>"`` to the largest absolute error.
    """
    if model.dtype != "float64":
        raise ValueError(f"check_model_gradients: build the model in float64; got {model.dtype}")
    xs = model._prepare_inputs(x, "check_model_gradients")
    ys = model._prepare_targets(y, "check_model_gradients")
    model._training_setup()
    resets = [_freeze_randomness(layer) for layer in _all_layers(model)]

    def loss():
        for reset in resets:
            reset()
        return model.compute_gradients(xs, ys, sample_weight, training=training)

    def objective():
        for reset in resets:
            reset()
        outputs = model._graph.forward(xs, training=training)
        return model.compiled.forward(ys, outputs, sample_weight, model._penalty(),
                                      model._graph.output_masks)

    loss()
    grads = model._flat.grads.copy()
    rng = np.random.default_rng(seed)
    names = {id(v): f"{layer.name}/{v.name}" for layer in _all_layers(model) for v in layer.weights}
    report = {}
    for variable, start, stop in model._flat.slices:
        name = names.get(id(variable), variable.name)
        report[name] = _compare(name, variable.value, grads[start:stop].reshape(variable.shape),
                                objective, eps, rtol, atol, max_elements, directions, rng)
    return report


def _all_layers(model):
    """Every layer of ``model``, the layers of nested models included, each once."""
    result = {}
    for layer in model.layers:
        result[id(layer)] = layer
        if hasattr(layer, "_graph") and layer is not model:
            for inner in _all_layers(layer):
                result[id(inner)] = inner
    return list(result.values())


# ---------------------------------------------------------------------------- layer test harness


def run_layer_test(layer_cls, init_kwargs=None, input_shape=None, *, input_data=None,
                   expected_output=None, expected_output_shape=None, reference=None,
                   torch_reference=None, training=False, weights=None, kinks=(), scale=1.0,
                   seed=0, eps=1e-6, rtol=1e-5, atol=1e-7, forward_rtol=1e-12,
                   forward_atol=1e-12, parity_rtol=1e-10, parity_atol=1e-12, float32_rtol=1e-4):
    """Run the checks every layer owes on ``layer_cls(**init_kwargs)``; raise on the first failure.

    In order, on one float64 layer built for the input (its weights set from ``weights`` if given):

    1. forward: the output against ``expected_output`` or ``reference(x, *weights)`` (NumPy, the
       layer's weights in :meth:`~dendrite.layers.base.Layer.get_weights` order), and its shape
       against ``expected_output_shape`` (None matches any size); forward and backward must leave
       the input unchanged;
    2. output-shape inference: ``compute_output_shape`` with a None batch axis and with the full
       shape, and a fresh layer called on symbolic ``Input`` tensors, against the actual output;
    3. :func:`check_gradients`: dx and every trainable weight against central differences, with
       a random upstream gradient;
    4. PyTorch parity, if ``torch_reference`` is given and torch is installed: the output, dx and
       every trainable weight's gradient against torch autograd through
       ``torch_reference(x_t, *weights_t)`` (float64 tensors in dendrite's layout, so the
       reference does any transposes itself and gradients come back in dendrite's layout);
    5. float32: ``layer_cls(**init_kwargs)`` with the same weights in float32 keeps float32 for
       the output, dx and every gradient, and its output is within ``float32_rtol`` of float64's
       (not compared for a layer drawing random numbers in training mode);
    6. config: ``get_config()`` is JSON-safe, ``layer_cls.from_config(config)`` returns an equal
       config and, given the same weights, identical outputs.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments, without ``dtype`` (the harness sets it).
        input_shape: shape with the batch axis, or a list of shapes for a multi-input layer; the
            input is then ``scale`` * standard normal samples (seeded), redrawn until each is
            at least 0.2 * max(scale, 1) away from every value in ``kinks`` (``(0.0,)`` for ReLU).
        input_data: float64 array (or list) to use instead, e.g. distinct values for max pooling.
        expected_output: array (or list for several outputs) the float64 output must match.
        expected_output_shape: the output's expected shape (a list for several outputs).
        reference: NumPy function ``reference(x, *weights)`` returning the expected output.
        torch_reference: torch function ``torch_reference(x, *weights)`` of float64 tensors.
        training: forward mode for every check (noise layers run with one frozen draw).
        weights: list of arrays, or a function of the built float64 layer returning one, set with
            ``set_weights`` (e.g. random moving statistics for batch normalization).
        kinks, scale, seed: how inputs are generated; ``seed`` also seeds the upstream
            gradients and dendrite's global generator (as ``dendrite.utils.set_random_seed``
            does for it), so layers with unseeded initializers get the same weights every run.
        eps, rtol, atol: passed to :func:`check_gradients`.
        forward_rtol, forward_atol: tolerances against ``expected_output``/``reference``.
        parity_rtol, parity_atol: tolerances against torch.
        float32_rtol: tolerance of float32's output against float64's (relative to its scale).

    Returns:
        dict: ``"gradients"``, the :func:`check_gradients` report; ``"torch"``, the largest
        absolute difference per compared array (None without a torch reference or torch);
        ``"output_shape"``, the inferred shape for a None batch.

    Example:
        >>> import numpy as np
        >>> from dendrite.layers import Dense
        >>> report = run_layer_test(
        ...     Dense, {"units": 3, "activation": "tanh"}, (4, 2),
        ...     reference=lambda x, kernel, bias: np.tanh(x @ kernel + bias))
        >>> sorted(report["gradients"]), report["output_shape"]
        (['bias', 'kernel', 'x'], (None, 3))
    """
    init_kwargs = dict(init_kwargs or {})
    if "dtype" in init_kwargs:
        raise ValueError("run_layer_test: leave dtype out of init_kwargs; the harness builds the "
                         f"layer in float64 and in float32; got dtype={init_kwargs['dtype']!r}")
    backend.seed_global_generator(seed)  # unseeded initializers and noise repeat run to run
    rng = np.random.default_rng(seed)
    inputs, multi = _layer_test_inputs(input_shape, input_data, kinks, scale, rng)
    shapes = [tuple(x.shape) for x in inputs]
    build_shape = shapes if multi else shapes[0]
    x = inputs if multi else inputs[0]

    layer = layer_cls(**init_kwargs, dtype="float64")
    layer.ensure_built(build_shape)
    if weights is not None:
        layer.set_weights(weights(layer) if callable(weights) else weights)
    initial_weights = layer.get_weights()
    saved_inputs = [a.copy() for a in inputs]

    # 1. forward
    outputs = _as_list(layer(x, training=training))
    expected = expected_output if reference is None else reference(x, *initial_weights)
    if expected is not None:
        for i, (out, want) in enumerate(zip(outputs, _as_list(expected), strict=True)):
            _assert_close(f"output {i} against the reference", out, want, forward_rtol,
                          forward_atol)
    if expected_output_shape is not None:
        wanted = expected_output_shape if isinstance(expected_output_shape, list) else [
            expected_output_shape]
        for out, want in zip(outputs, wanted, strict=True):
            if len(out.shape) != len(want) or any(
                    w is not None and w != o for o, w in zip(out.shape, want)):
                raise AssertionError(f"run_layer_test: output shape {tuple(out.shape)}; expected "
                                     f"{tuple(want)}")
    dys = [rng.standard_normal(out.shape) for out in outputs]
    layer.backward(dys if len(dys) > 1 else dys[0])
    for name, before, after in zip(_input_names(multi, len(inputs)), saved_inputs, inputs):
        if not np.array_equal(before, after):
            raise AssertionError(f"run_layer_test: forward or backward modified input {name!r} in "
                                 "place")

    # 2. output-shape inference
    inferred = _check_output_shapes(layer_cls, init_kwargs, layer, shapes, multi, outputs)

    # 3. gradients
    report = {"gradients": check_gradients(layer, x, eps=eps, rtol=rtol, atol=atol,
                                           training=training, seed=seed),
              "torch": None, "output_shape": inferred}

    # 4. PyTorch parity
    if torch_reference is not None:
        report["torch"] = _torch_parity(layer, x, multi, torch_reference, training, rng,
                                        parity_rtol, parity_atol)

    # 5. float32 kept end to end
    _check_float32(layer_cls, init_kwargs, layer, x, multi, build_shape, training, float32_rtol)

    # 6. config round trip
    _check_config_round_trip(layer_cls, layer, x, build_shape, training)
    return report


def _layer_test_inputs(input_shape, input_data, kinks, scale, rng):
    if input_data is not None:
        multi = isinstance(input_data, (list, tuple))
        arrays = list(input_data) if multi else [input_data]
        return [np.array(a, dtype=np.float64) for a in arrays], multi
    if input_shape is None:
        raise ValueError("run_layer_test: give input_shape or input_data")
    multi = isinstance(input_shape, list)
    arrays = []
    gap = 0.2 * max(scale, 1.0)
    for shape in (input_shape if multi else [input_shape]):
        a = scale * rng.standard_normal(tuple(shape))
        for _ in range(1000):  # redraw the samples closer than `gap` to a kink
            close = np.zeros(a.shape, dtype=bool)
            for kink in kinks:
                close |= np.abs(a - kink) < gap
            if not close.any():
                break
            a[close] = scale * rng.standard_normal(int(close.sum()))
        else:
            raise ValueError(f"run_layer_test: cannot draw inputs {gap} away from kinks {kinks}")
        arrays.append(a)
    return arrays, multi


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _input_names(multi, count):
    return [f"x{i}" for i in range(count)] if multi else ["x"]


def _assert_close(what, actual, desired, rtol, atol):
    actual, desired = np.asarray(actual), np.asarray(desired)
    if actual.shape != desired.shape:
        raise AssertionError(f"run_layer_test: {what}: shape {actual.shape}; expected "
                             f"{desired.shape}")
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol,
                               err_msg=f"run_layer_test: {what}")


def _check_output_shapes(layer_cls, init_kwargs, layer, shapes, multi, outputs):
    from dendrite.layers.base import Input

    none_batch = [(None, *s[1:]) for s in shapes]
    actual = [tuple(o.shape) for o in outputs]
    for given, batch in ((none_batch, None), (shapes, "full")):
        inferred = layer.compute_output_shape(given if multi else given[0])
        # several outputs: a list of shapes; one output: a tuple
        inferred = [tuple(s) for s in inferred] if isinstance(inferred, list) else [
            tuple(inferred)]
        expected = [(None if batch is None else a[0], *a[1:]) for a in actual]
        if inferred != expected:
            raise AssertionError("run_layer_test: compute_output_shape("
                                 f"{given if multi else given[0]})"
                                 f" = {inferred if multi or len(inferred) > 1 else inferred[0]}; "
                                 f"the output has shape {actual}")
    symbolic_inputs = [Input(shape=s[1:], dtype="float64") for s in shapes]
    fresh = layer_cls(**init_kwargs, dtype="float64")
    symbolic = _as_list(fresh(symbolic_inputs if multi else symbolic_inputs[0]))
    symbolic_shapes = [tuple(t.shape) for t in symbolic]
    expected = [(None, *a[1:]) for a in actual]
    if symbolic_shapes != expected:
        raise AssertionError(f"run_layer_test: a call on symbolic inputs gave shapes "
                             f"{symbolic_shapes}; expected {expected}")
    return expected[0] if len(expected) == 1 else expected


def _torch_parity(layer, x, multi, torch_reference, training, rng, rtol, atol):
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return None
    trainable = {id(v) for v in layer.trainable_weights}
    weights_t = [torch.tensor(v.numpy(), dtype=torch.float64,
                              requires_grad=id(v) in trainable) for v in layer.weights]
    inputs_t = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in _as_list(x)]
    for v in layer.trainable_weights:
        v.grad[...] = 0
    outputs = _as_list(layer(x, training=training))
    dys = [rng.standard_normal(out.shape) for out in outputs]
    dx = _as_list(layer.backward(dys if len(dys) > 1 else dys[0]))
    outputs_t = _as_list(torch_reference(inputs_t if multi else inputs_t[0], *weights_t))
    torch.autograd.backward(outputs_t, [torch.from_numpy(dy) for dy in dys])
    pairs = [(f"output {i}", out, out_t.detach().numpy())
             for i, (out, out_t) in enumerate(zip(outputs, outputs_t, strict=True))]
    pairs += [(f"d{name}", g, t.grad.numpy())
              for name, g, t in zip(_input_names(multi, len(inputs_t)), dx, inputs_t)]
    pairs += [(f"d{v.name}", v.grad, t.grad.numpy())
              for v, t in zip(layer.weights, weights_t) if id(v) in trainable]
    differences = {}
    for name, ours, theirs in pairs:
        _assert_close(f"{name} against torch", ours, theirs, rtol, atol)
        differences[name] = float(np.abs(np.asarray(ours) - theirs).max()) if theirs.size else 0.0
    return differences


def _check_float32(layer_cls, init_kwargs, layer64, x, multi, build_shape, training, rtol):
    layer = layer_cls(**init_kwargs, dtype="float32")
    layer.ensure_built(build_shape)
    layer.set_weights([w.astype(np.float32) for w in layer64.get_weights()])
    x32 = [a.astype(np.float32) for a in x] if multi else x.astype(np.float32)
    outputs = _as_list(layer(x32, training=training))
    dx = layer.backward([np.ones_like(o) for o in outputs] if len(outputs) > 1 else
                        np.ones_like(outputs[0]))
    arrays = [("output", o) for o in outputs] + [("dx", d) for d in _as_list(dx)]
    arrays += [(f"gradient of {v.name!r}", v.grad) for v in layer.trainable_weights]
    arrays += [(f"weight {v.name!r}", v.value) for v in layer.weights]
    for name, array in arrays:
        if array.dtype != np.float32:
            raise AssertionError(f"run_layer_test: float32 in gave a {array.dtype} {name}")
    if training and getattr(layer, "_rng", None) is not None:
        return  # the two layers draw different random numbers
    reference = _as_list(layer64(x, training=training))
    for out, ref in zip(outputs, reference):
        scale = max(1.0, float(np.abs(ref).max())) if ref.size else 1.0
        _assert_close("float32 output against float64", out, ref, rtol, rtol * scale)


def _check_config_round_trip(layer_cls, layer, x, build_shape, training):
    config = layer.get_config()
    try:
        json.dumps(config)
    except TypeError as error:
        raise AssertionError(f"run_layer_test: get_config() is not JSON-safe: {error}") from None
    clone = layer_cls.from_config(config)
    if type(clone) is not layer_cls or clone.get_config() != config:
        raise AssertionError(f"run_layer_test: from_config(get_config()) gave "
                             f"{clone.get_config()}; expected {config}")
    clone.ensure_built(build_shape)
    clone.set_weights(layer.get_weights())
    modes = [False] if training is False or getattr(layer, "_rng", None) is not None else [
        False, True]
    for mode in modes:
        clone.set_weights(layer.get_weights())
        for ours, theirs in zip(_as_list(layer(x, training=mode)),
                                _as_list(clone(x, training=mode)), strict=True):
            if not np.array_equal(ours, theirs):
                raise AssertionError(f"run_layer_test: the layer rebuilt from its config computes "
                                     f"another function (training={mode})")
