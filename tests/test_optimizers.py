"""Optimizers: five steps against PyTorch (float64) and against Keras 3's formulas written in NumPy.

Every run minimizes the same quadratic, loss = 0.5 * sum(c * (w - t)^2), over three variables of
different shapes; each framework computes its own gradient g = c * (w - t) from its current weights,
so any difference in an update compounds over the five steps.

Where Keras and PyTorch place epsilon differently (Adagrad and RMSprop: Keras sqrt(a + eps),
PyTorch sqrt(a) + eps; Adam: Keras's form vs the paper's), the PyTorch comparison makes eps
negligible (1e-16 on both sides, or Adam's epsilon_form="paper" which is PyTorch's formula), and a
second test checks Keras's own formula, eps included, against a NumPy transcription with gradients
small enough that eps changes the result.
"""

import math
import re

import numpy as np
import pytest

from dendrite import optimizers
from dendrite.variables import Variable

SHAPES = [(3, 4), (4,), (2, 3, 2)]
STEPS = 5
TINY = 1e-16


def _problem(seed=0, scale=1.0):
    """Initial weights, targets and curvatures of the quadratic."""
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(shape) for shape in SHAPES]
    targets = [rng.standard_normal(shape) for shape in SHAPES]
    curvatures = [scale * rng.uniform(0.5, 2.0, shape) for shape in SHAPES]
    return initial, targets, curvatures


def run_dendrite(optimizer, problem, steps=STEPS, dtype="float64"):
    initial, targets, curvatures = problem
    variables = [Variable(f"w{i}", w.astype(dtype)) for i, w in enumerate(initial)]
    for _ in range(steps):
        grads = [(c * (v.value - t)).astype(dtype) for v, t, c in zip(variables, targets,
                                                                         curvatures)]
        optimizer.apply_gradients(zip(grads, variables))
    return variables


def run_torch(torch, make_optimizer, problem, clip=None, steps=STEPS):
    initial, targets, curvatures = problem
    params = [torch.tensor(w, requires_grad=True) for w in initial]
    optimizer = make_optimizer(params)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = sum(0.5 * (torch.from_numpy(c) * (p - torch.from_numpy(t)) ** 2).sum()
                   for p, t, c in zip(params, targets, curvatures))
        loss.backward()
        if clip is not None:
            clip(params)
        optimizer.step()
    return [p.detach().numpy() for p in params]


def _torch_cases(torch):
    """(id, dendrite optimizer, torch optimizer factory, gradient clipping on the torch side)."""
    optim, utils = torch.optim, torch.nn.utils
    return {
        "sgd": (optimizers.SGD(0.1), lambda p: optim.SGD(p, lr=0.1), None),
        "sgd_momentum": (optimizers.SGD(0.1, momentum=0.9),
                         lambda p: optim.SGD(p, lr=0.1, momentum=0.9), None),
        "sgd_nesterov": (optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                         lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), None),
        # Decoupled decay equals PyTorch's L2-coupled decay for momentum-free SGD.
        "sgd_weight_decay": (optimizers.SGD(0.1, weight_decay=0.5),
                             lambda p: optim.SGD(p, lr=0.1, weight_decay=0.5), None),
        "adagrad": (optimizers.Adagrad(0.1, initial_accumulator_value=0.1, epsilon=TINY),
                    lambda p: optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=TINY),
                    None),
        "rmsprop": (optimizers.RMSprop(0.01, rho=0.9, epsilon=TINY),
                    lambda p: optim.RMSprop(p, lr=0.01, alpha=0.9, eps=TINY), None),
        "rmsprop_centered": (optimizers.RMSprop(0.01, rho=0.8, epsilon=TINY, centered=True),
                             lambda p: optim.RMSprop(p, lr=0.01, alpha=0.8, eps=TINY,
                                                     centered=True), None),
        "rmsprop_momentum": (optimizers.RMSprop(0.01, rho=0.9, momentum=0.9, epsilon=TINY),
                             lambda p: optim.RMSprop(p, lr=0.01, alpha=0.9, eps=TINY,
                                                     momentum=0.9), None),
        "rmsprop_centered_momentum": (
            optimizers.RMSprop(0.01, rho=0.9, momentum=0.5, epsilon=TINY, centered=True),
            lambda p: optim.RMSprop(p, lr=0.01, alpha=0.9, eps=TINY, momentum=0.5, centered=True),
            None),
        "adam_paper": (optimizers.Adam(0.05, epsilon=1e-8, epsilon_form="paper"),
                       lambda p: optim.Adam(p, lr=0.05, eps=1e-8), None),
        "adam_paper_betas": (
            optimizers.Adam(0.05, beta_1=0.5, beta_2=0.9, epsilon=1e-3, epsilon_form="paper"),
            lambda p: optim.Adam(p, lr=0.05, betas=(0.5, 0.9), eps=1e-3), None),
        "adam_paper_amsgrad": (
            optimizers.Adam(0.05, epsilon=1e-8, amsgrad=True, epsilon_form="paper"),
            lambda p: optim.Adam(p, lr=0.05, eps=1e-8, amsgrad=True), None),
        "adam_keras_tiny_eps": (optimizers.Adam(0.05, epsilon=TINY),
                                lambda p: optim.Adam(p, lr=0.05, eps=TINY), None),
        "adamw": (optimizers.AdamW(0.05, weight_decay=0.1, epsilon=1e-8, epsilon_form="paper"),
                  lambda p: optim.AdamW(p, lr=0.05, weight_decay=0.1, eps=1e-8), None),
        # Keras's clipnorm is per variable: clip_grad_norm_ on each parameter alone.
        "sgd_clipnorm": (optimizers.SGD(0.01, momentum=0.9, clipnorm=1.0),
                         lambda p: optim.SGD(p, lr=0.01, momentum=0.9),
                         lambda ps: [utils.clip_grad_norm_([p], 1.0) for p in ps]),
        "sgd_global_clipnorm": (optimizers.SGD(0.01, momentum=0.9, global_clipnorm=1.0),
                                lambda p: optim.SGD(p, lr=0.01, momentum=0.9),
                                lambda ps: utils.clip_grad_norm_(ps, 1.0)),
        "sgd_clipvalue": (optimizers.SGD(0.01, momentum=0.9, clipvalue=0.5),
                          lambda p: optim.SGD(p, lr=0.01, momentum=0.9),
                          lambda ps: utils.clip_grad_value_(ps, 0.5)),
        "adam_global_clipnorm": (
            optimizers.Adam(0.05, epsilon=1e-8, epsilon_form="paper", global_clipnorm=2.0),
            lambda p: optim.Adam(p, lr=0.05, eps=1e-8), lambda ps: utils.clip_grad_norm_(ps, 2.0)),
    }


TORCH_CASES = ["sgd", "sgd_momentum", "sgd_nesterov", "sgd_weight_decay", "adagrad", "rmsprop",
               "rmsprop_centered", "rmsprop_momentum", "rmsprop_centered_momentum", "adam_paper",
               "adam_paper_betas", "adam_paper_amsgrad", "adam_keras_tiny_eps", "adamw",
               "sgd_clipnorm", "sgd_global_clipnorm", "sgd_clipvalue", "adam_global_clipnorm"]


@pytest.mark.parametrize("case", TORCH_CASES)
def test_five_steps_match_torch(case):
    """Five steps equal PyTorch's with equivalent hyperparameters.

    Adagrad and RMSprop: both sides get eps = 1e-16, so Keras's sqrt(a + eps) and PyTorch's
    sqrt(a) + eps agree to rounding (and equal initial_accumulator_value for Adagrad); Keras's
    own eps = 1e-7 is checked against NumPy in test_keras_formulas_with_default_epsilon.
    Adam/AdamW: epsilon_form="paper" is PyTorch's formula exactly.

    torch.nn.utils.clip_grad_norm_ divides by (norm + 1e-6), Keras by the norm; the clipping
    cases use gradient norms near 100, where that term changes the result by about 1e-10 relative,
    hence rtol 1e-7 there (still 100x tighter than the 1e-5 requirement)."""
    torch = pytest.importorskip("torch")
    optimizer, make_torch, clip = _torch_cases(torch)[case]
    problem = _problem(seed=1, scale=100.0 if clip else 1.0)
    if clip is not None:  # clipping must be active, or the test could not fail on it
        initial, targets, curvatures = problem
        norms = [np.linalg.norm(c * (w - t)) for w, t, c in zip(initial, targets, curvatures)]
        assert min(norms) > 2.0
    expected = run_torch(torch, make_torch, problem, clip)
    result = run_dendrite(optimizer, problem)
    assert optimizer.iterations == STEPS
    for variable, reference, start in zip(result, expected, problem[0]):
        assert not np.allclose(reference, start)  # the weights moved
        rtol = 1e-7 if "clipnorm" in case else 1e-10
        np.testing.assert_allclose(variable.value, reference, rtol=rtol, atol=1e-12)


# ------------------------------------------------------------------ Keras formulas, eps included


def keras_adam(problem, lr, beta_1=0.9, beta_2=0.999, eps=1e-7, amsgrad=False):
    w, targets, curvatures = ([a.copy() for a in part] for part in problem)
    m = [np.zeros_like(a) for a in w]
    v = [np.zeros_like(a) for a in w]
    v_hat = [np.zeros_like(a) for a in w]
    for t in range(1, STEPS + 1):
        alpha = lr * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        for i in range(len(w)):
            g = curvatures[i] * (w[i] - targets[i])
            m[i] += (g - m[i]) * (1 - beta_1)
            v[i] += (g * g - v[i]) * (1 - beta_2)
            v_hat[i] = np.maximum(v_hat[i], v[i])
            w[i] -= alpha * m[i] / (np.sqrt(v_hat[i] if amsgrad else v[i]) + eps)
    return w


def keras_adagrad(problem, lr, initial_accumulator_value=0.1, eps=1e-7, eps_inside=True):
    w, targets, curvatures = ([a.copy() for a in part] for part in problem)
    a = [np.full_like(x, initial_accumulator_value) for x in w]
    for _ in range(STEPS):
        for i in range(len(w)):
            g = curvatures[i] * (w[i] - targets[i])
            a[i] += g * g
            denominator = np.sqrt(a[i] + eps) if eps_inside else np.sqrt(a[i]) + eps
            w[i] -= lr * g / denominator
    return w


def keras_rmsprop(problem, lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False, eps_inside=True):
    w, targets, curvatures = ([a.copy() for a in part] for part in problem)
    velocity = [np.zeros_like(x) for x in w]
    average = [np.zeros_like(x) for x in w]
    moment = [np.zeros_like(x) for x in w]
    for _ in range(STEPS):
        for i in range(len(w)):
            g = curvatures[i] * (w[i] - targets[i])
            velocity[i] = rho * velocity[i] + (1 - rho) * g * g
            denominator = velocity[i]
            if centered:
                average[i] = rho * average[i] + (1 - rho) * g
                denominator = denominator - average[i] ** 2
            root = np.sqrt(denominator + eps) if eps_inside else np.sqrt(denominator) + eps
            increment = lr * g / root
            if momentum:
                moment[i] = momentum * moment[i] + increment
                w[i] -= moment[i]
            else:
                w[i] -= increment
    return w


def keras_sgd(problem, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    w, targets, curvatures = ([a.copy() for a in part] for part in problem)
    m = [np.zeros_like(x) for x in w]
    for step in range(STEPS):
        rate = lr(step) if callable(lr) else lr
        for i in range(len(w)):
            g = curvatures[i] * (w[i] - targets[i])
            w[i] -= rate * weight_decay * w[i]
            m[i] = momentum * m[i] - rate * g
            w[i] += momentum * m[i] - rate * g if nesterov else m[i]
    return w


KERAS_CASES = {
    "adam": (lambda: optimizers.Adam(0.01), lambda p: keras_adam(p, 0.01),
             lambda p: keras_adam(p, 0.01, eps=0.0)),
    "adam_amsgrad": (lambda: optimizers.Adam(0.01, amsgrad=True),
                     lambda p: keras_adam(p, 0.01, amsgrad=True),
                     lambda p: keras_adam(p, 0.01, amsgrad=True, eps=0.0)),
    "adagrad": (lambda: optimizers.Adagrad(0.01, initial_accumulator_value=1e-6),
                lambda p: keras_adagrad(p, 0.01, 1e-6),
                lambda p: keras_adagrad(p, 0.01, 1e-6, eps_inside=False)),
    "rmsprop": (lambda: optimizers.RMSprop(0.01), lambda p: keras_rmsprop(p, 0.01),
                lambda p: keras_rmsprop(p, 0.01, eps_inside=False)),
    "rmsprop_centered_momentum": (
        lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
        lambda p: keras_rmsprop(p, 0.01, momentum=0.5, centered=True),
        lambda p: keras_rmsprop(p, 0.01, momentum=0.5, centered=True, eps_inside=False)),
    "sgd_schedule": (lambda: optimizers.SGD(lambda step: 0.1 * 0.5**step, momentum=0.9),
                     lambda p: keras_sgd(p, lambda step: 0.1 * 0.5**step, momentum=0.9), None),
    "sgd_nesterov_decay": (
        lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.2),
        lambda p: keras_sgd(p, 0.1, momentum=0.9, nesterov=True, weight_decay=0.2), None),
}


@pytest.mark.parametrize("case", list(KERAS_CASES))
def test_keras_formulas_with_default_epsilon(case):
    make, reference, eps_elsewhere = KERAS_CASES[case]
    problem = _problem(seed=2, scale=1e-3)  # gradients ~1e-3: squares ~1e-6, eps = 1e-7 matters
    expected = reference(problem)
    result = run_dendrite(make(), problem)
    for variable, value in zip(result, expected):
        np.testing.assert_allclose(variable.value, value, rtol=1e-12, atol=1e-15)
    if eps_elsewhere is not None:  # eps elsewhere (or no eps) would give another result
        other = eps_elsewhere(problem)
        assert not all(np.allclose(a, b, rtol=1e-6, atol=0) for a, b in zip(other, expected))


def test_adamw_is_decay_then_adam():
    problem = _problem(seed=3)
    initial, targets, curvatures = problem
    result = run_dendrite(optimizers.AdamW(0.01, weight_decay=0.5), problem)
    # By hand: w <- w - lr * wd * w, then Keras's Adam step.
    w = [a.copy() for a in initial]
    m = [np.zeros_like(a) for a in w]
    v = [np.zeros_like(a) for a in w]
    for t in range(1, STEPS + 1):
        for i in range(len(w)):
            g = curvatures[i] * (w[i] - targets[i])
            w[i] -= 0.01 * 0.5 * w[i]
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            w[i] -= 0.01 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t) * m[i] / (np.sqrt(v[i]) + 1e-7)
    for variable, value in zip(result, w):
        np.testing.assert_allclose(variable.value, value, rtol=1e-12)


# ------------------------------------------------------------------ in place, dtypes


ALL_OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "adagrad": lambda: optimizers.Adagrad(0.1),
    "rmsprop": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adam": lambda: optimizers.Adam(0.01, amsgrad=True),
    "adam_paper": lambda: optimizers.Adam(0.01, epsilon_form="paper"),
    "adamw": lambda: optimizers.AdamW(0.01),
    "sgd_clipped": lambda: optimizers.SGD(0.1, clipnorm=0.5, clipvalue=0.3),
    "sgd_global_clip": lambda: optimizers.SGD(0.1, global_clipnorm=0.5, weight_decay=0.1),
}


@pytest.mark.parametrize("name", list(ALL_OPTIMIZERS))
def test_updates_are_in_place_views_of_one_flat_buffer(name):
    optimizer = ALL_OPTIMIZERS[name]()
    initial, targets, curvatures = _problem(seed=4)
    variables = [Variable(f"w{i}", w.copy()) for i, w in enumerate(initial)]
    optimizer.apply_gradients((c * (v.value - t), v) for v, t, c in
                              zip(variables, targets, curvatures))
    arrays = [v.value for v in variables]
    snapshots = [a.copy() for a in arrays]
    buffer = variables[0].value.base
    assert buffer is not None and buffer.ndim == 1
    for _ in range(3):
        optimizer.apply_gradients([(c * (v.value - t), v) for v, t, c in
                                   zip(variables, targets, curvatures)])
    for variable, array, snapshot in zip(variables, arrays, snapshots):
        assert variable.value is array
        assert np.shares_memory(variable.value, buffer)
        assert not np.array_equal(variable.value, snapshot)


@pytest.mark.parametrize("name", list(ALL_OPTIMIZERS))
def test_float32_parameters_stay_float32(name):
    optimizer = ALL_OPTIMIZERS[name]()
    variables = run_dendrite(optimizer, _problem(seed=5), dtype="float32")
    reference = run_dendrite(ALL_OPTIMIZERS[name](), _problem(seed=5), dtype="float64")
    for variable, exact in zip(variables, reference):
        assert variable.value.dtype == np.float32
        assert variable.grad.dtype == np.float32
        np.testing.assert_allclose(variable.value, exact.value, rtol=1e-4, atol=1e-5)
    for state in ("m", "v", "v_max", "accumulator", "velocity", "average_gradient"):
        array = getattr(optimizer, state, None)
        if array is not None:
            assert array.dtype == np.float32, state


# ------------------------------------------------------------------ names, defaults, errors


@pytest.mark.parametrize("identifier, cls, defaults", [
    ("adam", optimizers.Adam, {"learning_rate": 0.001, "epsilon": 1e-7, "beta_1": 0.9,
                               "beta_2": 0.999, "amsgrad": False}),
    ("Adam", optimizers.Adam, {"learning_rate": 0.001}),
    ("sgd", optimizers.SGD, {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False}),
    ("rmsprop", optimizers.RMSprop, {"learning_rate": 0.001, "rho": 0.9, "epsilon": 1e-7,
                                     "centered": False, "momentum": 0.0}),
    ("adagrad", optimizers.Adagrad, {"learning_rate": 0.001, "initial_accumulator_value": 0.1,
                                     "epsilon": 1e-7}),
    ("adamw", optimizers.AdamW, {"learning_rate": 0.001, "weight_decay": 0.004}),
])
def test_names_resolve_to_keras_defaults(identifier, cls, defaults):
    optimizer = optimizers.get(identifier)
    assert type(optimizer) is cls
    config = optimizer.get_config()
    for key, value in defaults.items():
        assert config[key] == value, key


def test_unknown_name_lists_valid_names():
    expected = r"Unknown optimizer 'adamm'\. Valid names: 'adagrad', 'adam', 'adamw', 'rmsprop'"
    with pytest.raises(ValueError, match=expected):
        optimizers.get("adamm")


@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.Adam, optimizers.RMSprop,
                                 optimizers.Adagrad, optimizers.AdamW])
@pytest.mark.parametrize("lr", [0, -0.01, float("nan"), float("inf"), "0.1", True])
def test_bad_learning_rate_names_the_value(cls, lr):
    expected = rf"{cls.__name__}: learning_rate must be a positive number; got learning_rate="
    with pytest.raises(ValueError, match=expected + re.escape(repr(lr))):
        cls(learning_rate=lr)


@pytest.mark.parametrize("make, match", [
    (lambda: optimizers.SGD(momentum=1.0), r"momentum must be a float in \[0, 1\); got momentum"),
    (lambda: optimizers.Adam(beta_1=1.0), r"beta_1 must be a float in \[0, 1\)"),
    (lambda: optimizers.Adam(epsilon=0), r"epsilon must be a positive number; got epsilon=0"),
    (lambda: optimizers.Adam(epsilon_form="torch"), r"epsilon_form must be 'keras' or 'paper'"),
    (lambda: optimizers.RMSprop(rho=1.5), r"rho must be a float in \[0, 1\)"),
    (lambda: optimizers.SGD(clipnorm=-1.0), r"clipnorm must be a positive number"),
    (lambda: optimizers.SGD(clipnorm=1.0, global_clipnorm=1.0), "at most one of clipnorm"),
])
def test_bad_hyperparameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unknown_keyword_argument_raises_type_error():
    with pytest.raises(TypeError, match=r"Adam: unknown keyword argument\(s\) lr"):
        optimizers.Adam(lr=0.1)


@pytest.mark.parametrize("name", list(ALL_OPTIMIZERS))
def test_config_round_trip(name):
    optimizer = ALL_OPTIMIZERS[name]()
    clone = optimizers.get(optimizers.serialize(optimizer))
    assert type(clone) is type(optimizer)
    assert clone.get_config() == optimizer.get_config()


@pytest.mark.parametrize("grad_shape", [(4,), (4, 3), (1, 4), ()])
def test_apply_gradients_rejects_a_gradient_of_another_shape(grad_shape):
    variable = Variable("kernel", np.zeros((3, 4)))
    optimizer = optimizers.SGD(0.1)
    expected = (r"SGD: gradient for 'kernel' has shape " + re.escape(str(grad_shape))
                + r"; expected \(3, 4\)")
    with pytest.raises(ValueError, match=expected):
        optimizer.apply_gradients([(np.ones(grad_shape), variable)])
    np.testing.assert_array_equal(variable.value, 0.0)
