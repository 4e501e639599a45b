"""Numerics of dendrite.activations: references, derivatives, gradients, stability, dtypes,
torch."""

import math
import warnings

import numpy as np
import pytest

from dendrite import activations
from dendrite.testing import check_gradients

ELEMENTWISE = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "gelu_tanh",
               "silu", "swish", "softplus"]
ALL = ELEMENTWISE + ["softmax", "log_softmax"]


def _scalar_reference(name):
    """A plain-Python (``math``) definition of each element-wise activation."""
    return {
        "linear": lambda t: t,
        "sigmoid": lambda t: 1 / (1 + math.exp(-t)),
        "tanh": math.tanh,
        "relu": lambda t: max(t, 0.0),
        "leaky_relu": lambda t: t if t > 0 else 0.2 * t,
        "elu": lambda t: t if t > 0 else math.exp(t) - 1,
        "gelu": lambda t: 0.5 * t * (1 + math.erf(t / math.sqrt(2))),
        "gelu_tanh": lambda t: 0.5 * t * (
            1 + math.tanh(math.sqrt(2 / math.pi) * (t + 0.044715 * t**3))),
        "silu": lambda t: t / (1 + math.exp(-t)),
        "swish": lambda t: t / (1 + math.exp(-t)),
        "softplus": lambda t: math.log(1 + math.exp(t)),
    }[name]


def _function(name):
    if name == "gelu_tanh":
        return lambda x: activations.gelu(x, approximate=True)
    return getattr(activations, name)


def _derivative(name):
    if name == "gelu_tanh":
        return lambda x: activations.gelu_derivative(x, approximate=True)
    return getattr(activations, f"{name}_derivative")


def _object(name):
    if name == "gelu_tanh":
        return activations.GELU(approximate=True)
    return activations.get(name)


def _softmax_reference(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _reference(name, x):
    if name == "softmax":
        return _softmax_reference(x)
    if name == "log_softmax":
        return np.log(_softmax_reference(x))
    return np.vectorize(_scalar_reference(name), otypes=[np.float64])(x)


def _away_from_kinks(shape, seed=0, low=0.1, high=3.0):
    """Samples with |x| in [low, high]: no element sits near the kink at 0 of
    relu/leaky_relu/elu."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)


@pytest.mark.parametrize("name", ALL)
def test_function_matches_plain_reference(name):
    x = _away_from_kinks((4, 6), seed=1, low=0.0, high=5.0)
    np.testing.assert_allclose(_function(name)(x), _reference(name, x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_derivative_matches_central_differences(name):
    x = _away_from_kinks((3, 5), seed=2)
    h = 1e-6
    f = _function(name)
    numeric = (f(x + h) - f(x - h)) / (2 * h)
    np.testing.assert_allclose(_derivative(name)(x), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_jacobian_derivative_matches_central_differences(name):
    x = np.random.default_rng(3).standard_normal((2, 4))
    h = 1e-6
    f = _function(name)
    jacobian = _derivative(name)(x)
    assert jacobian.shape == (2, 4, 4)
    for j in range(4):
        step = np.zeros_like(x)
        step[:, j] = h
        column = (f(x + step) - f(x - step)) / (2 * h)  # d f_i / d x_j for every i
        np.testing.assert_allclose(jacobian[:, :, j], column, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_activation_object_backward_passes_check_gradients(name):
    x = _away_from_kinks((4, 5), seed=4)
    report = check_gradients(_object(name), x)
    assert set(report) == {"x"}


@pytest.mark.parametrize("name", ALL)
def test_activation_object_forward_equals_function(name):
    x = _away_from_kinks((3, 4), seed=5)
    np.testing.assert_array_equal(_object(name).forward(x.copy()), _function(name)(x))


# ------------------------------------------------------------------ stability at |z| = 1000


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, expected", [
    ("sigmoid", [0.0, 1.0]),
    ("softplus", [0.0, 1000.0]),
    ("softmax", [0.0, 1.0]),
    ("log_softmax", [-2000.0, 0.0]),
])
def test_extreme_inputs_give_finite_limits_without_warnings(name, expected, dtype):
    x = np.array([-1000.0, 1000.0], dtype=dtype)
    # Underflow of exp(-1000) to 0 is the correct limit; overflow, 0/0 and log(0) are not.
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        y = _function(name)(x)
        dy = _object(name).backward(np.ones_like(x), x, y)
    assert y.dtype == dtype
    assert np.isfinite(y).all() and np.isfinite(dy).all()
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, expected", [
    ("sigmoid", [0.0, 0.0]), ("tanh", [0.0, 0.0]), ("softplus", [0.0, 1.0]), ("silu", [0.0, 1.0]),
    ("elu", [0.0, 1.0]), ("gelu", [0.0, 1.0]), ("gelu_tanh", [0.0, 1.0]),
])
def test_elementwise_derivatives_are_finite_at_extremes(name, expected, dtype):
    x = np.array([-1000.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        derivative = _derivative(name)(x)
    assert np.isfinite(derivative).all()
    assert derivative.dtype == dtype
    np.testing.assert_allclose(derivative, expected, atol=1e-6)


def test_softmax_extreme_row_matches_limit():
    x = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, -1000.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = activations.softmax(x)
    np.testing.assert_allclose(y, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], atol=1e-300)


# ------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("name", ALL)
def test_float32_stays_float32(name):
    x = _away_from_kinks((3, 4), seed=6).astype("float32")
    y = _function(name)(x)
    assert y.dtype == np.float32
    assert _derivative(name)(x).dtype == np.float32
    activation = _object(name)
    forward = activation.forward(x.copy())
    assert forward.dtype == np.float32
    dy = np.ones_like(forward)
    assert activation.backward(dy, x, forward).dtype == np.float32


# ------------------------------------------------------------------ lookup


def test_unknown_name_raises_listing_valid_names():
    with pytest.raises(ValueError, match=r"'rleu'.*Valid names:.*'relu'.*'sigmoid'"):
        activations.get("rleu")


@pytest.mark.parametrize("identifier, cls", [
    (None, activations.Linear), ("swish", activations.SiLU), ("silu", activations.SiLU),
    (activations.relu, activations.ReLU), ("softmax", activations.Softmax),
])
def test_get_resolves_identifiers(identifier, cls):
    assert type(activations.get(identifier)) is cls


def test_get_returns_activation_instances_unchanged():
    gelu = activations.GELU(approximate=True)
    assert activations.get(gelu) is gelu


# ------------------------------------------------------------------ PyTorch parity


def _torch_function(name, torch):
    functional = torch.nn.functional
    return {
        "linear": lambda t: t,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": functional.relu,
        "leaky_relu": lambda t: functional.leaky_relu(t, negative_slope=0.2),
        "elu": lambda t: functional.elu(t, alpha=1.0),
        "gelu": functional.gelu,
        "gelu_tanh": lambda t: functional.gelu(t, approximate="tanh"),
        "silu": functional.silu,
        "swish": functional.silu,
        "softplus": functional.softplus,
        "softmax": lambda t: functional.softmax(t, dim=-1),
        "log_softmax": lambda t: functional.log_softmax(t, dim=-1),
    }[name]


@pytest.mark.parametrize("name", ALL)
def test_matches_torch_forward_and_input_gradient(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = _away_from_kinks((5, 6), seed=8, high=6.0)
    dy = rng.standard_normal(x.shape)
    activation = _object(name)
    y = activation.forward(x.copy())
    dx = activation.backward(dy, x, y)
    xt = torch.from_numpy(x).requires_grad_()
    yt = _torch_function(name, torch)(xt)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation, serialized", [
    (activations.GELU(), "gelu"),
    (activations.GELU(approximate=True), {"class_name": "gelu", "config": {"approximate": True}}),
    (activations.ELU(0.5), {"class_name": "elu", "config": {"alpha": 0.5}}),
    (activations.LeakyReLU(0.1), {"class_name": "leaky_relu", "config": {"negative_slope": 0.1}}),
    (activations.Softmax(axis=1), {"class_name": "softmax", "config": {"axis": 1}}),
    (activations.get("swish"), "silu"), (activations.get(None), "linear"),
])
def test_serialize_round_trip_keeps_parameters(activation, serialized):
    assert activations.serialize(activation) == serialized
    clone = activations.get(activations.serialize(activation))
    assert type(clone) is type(activation) and vars(clone) == vars(activation)
