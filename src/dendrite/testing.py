"""A public finite-difference gradient checker (float64, central differences).

``check_gradients`` compares what ``backward`` returns against central differences of a scalar
objective. For a layer (or activation) the objective is sum(dy * forward(x)) with a *random* upstream
gradient dy, so every output element matters; for a loss it is the loss itself; for a regularizer its
penalty. It checks the input gradient and every trainable parameter's gradient. Small arrays are
checked element by element; large ones along random unit directions, comparing the directional
derivative with grad . u (Chainer's method).
"""

from dendrite import activations
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
    """A function that resets the layer's random generator, so each evaluation draws the same noise."""
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
        penalty = model._penalty() if model._regularized else 0.0
        return model.compiled.forward(ys, outputs, sample_weight, penalty)

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
