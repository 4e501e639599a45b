"""Core layers: gradients (float64 central differences), PyTorch parity, noise statistics,
config round trips and error messages."""

import math
import re

import numpy as np
import pytest

from dendrite import Sequential, activations, initializers, regularizers
from dendrite.layers import (
    ELU,
    Activation,
    Dense,
    Dropout,
    Flatten,
    GaussianDropout,
    InputLayer,
    LeakyReLU,
    ReLU,
    Reshape,
    Softmax,
)
from dendrite.testing import run_layer_test

ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu",
               "softplus", "softmax", "log_softmax"]


def _torch():
    """torch, imported only when the harness runs a torch reference (it skips parity without)."""
    import torch

    return torch


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _relu(max_value=None, negative_slope=0.0, threshold=0.0):
    def reference(x):
        y = np.where(x > threshold, x, negative_slope * (x - threshold))
        return y if max_value is None else np.minimum(y, max_value)
    return reference


def _torch_activation(name):
    torch = _torch()
    functional = torch.nn.functional
    return {"linear": lambda t: t, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "relu": functional.relu, "leaky_relu": lambda t: functional.leaky_relu(t, 0.2),
            "elu": functional.elu, "gelu": functional.gelu, "silu": functional.silu,
            "softplus": functional.softplus, "softmax": lambda t: functional.softmax(t, -1),
            "log_softmax": lambda t: functional.log_softmax(t, -1)}[name]


# ------------------------------------------------------------------ Dense through the harness


DENSE_SHAPES = {"2d": (5, 3), "3d": (2, 4, 3), "one_example": (1, 3)}


@pytest.mark.parametrize("units", [4, 1])
@pytest.mark.parametrize("shape", list(DENSE_SHAPES))
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense(activation, use_bias, shape, units):
    """Forward against NumPy, float64 gradients of x, kernel and bias, torch.nn.Linear parity,
    float32, config round trip and shape inference (run_layer_test)."""

    def reference(x, kernel, bias=None):
        z = x @ kernel + (0 if bias is None else bias)
        return getattr(activations, activation)(z)

    def torch_reference(x, kernel, bias=None):
        linear = _torch().nn.functional.linear(x, kernel.T, bias)  # torch's weight is (out, in)
        return _torch_activation(activation)(linear)

    report = run_layer_test(
        Dense, {"units": units, "activation": activation, "use_bias": use_bias,
                "kernel_initializer": initializers.GlorotUniform(seed=5),
                "bias_initializer": initializers.RandomNormal(stddev=0.5, seed=6)},
        DENSE_SHAPES[shape], reference=reference, torch_reference=torch_reference,
        expected_output_shape=(*DENSE_SHAPES[shape][:-1], units), seed=4)
    assert set(report["gradients"]) == ({"x", "kernel", "bias"} if use_bias else {"x", "kernel"})


def test_dense_gradients_along_random_directions_for_large_inputs():
    # more than max_elements: x and the kernel are checked along random unit directions
    run_layer_test(Dense, {"units": 20, "activation": "tanh",
                           "bias_initializer": initializers.RandomNormal(seed=8)}, (40, 30),
                   reference=lambda x, kernel, bias: np.tanh(x @ kernel + bias), seed=7)


@pytest.mark.parametrize("activation", [activations.GELU(approximate=True),
                                        activations.LeakyReLU(0.05), activations.ELU(0.3),
                                        "softmax", "swish"])
def test_dense_round_trip_computes_the_same_function(activation):
    run_layer_test(Dense, {"units": 2, "activation": activation}, (4, 3), seed=25)


# ------------------------------------------------------------------ layers without weights


PARAMETERLESS = {  # id: (class, kwargs, kinks, NumPy reference, torch reference or None)
    "tanh": (Activation, {"activation": "tanh"}, (), np.tanh, lambda t: t.tanh()),
    "gelu": (Activation, {"activation": "gelu"}, (), _gelu,
             lambda t: _torch().nn.functional.gelu(t)),
    "gelu_tanh": (Activation, {"activation": activations.GELU(approximate=True)}, (), _gelu_tanh,
                  lambda t: _torch().nn.functional.gelu(t, approximate="tanh")),
    "sigmoid": (Activation, {"activation": "sigmoid"}, (), lambda x: 1 / (1 + np.exp(-x)),
                lambda t: t.sigmoid()),
    "softmax": (Activation, {"activation": "softmax"}, (), _softmax, lambda t: t.softmax(-1)),
    "log_softmax": (Activation, {"activation": "log_softmax"}, (),
                    lambda x: np.log(_softmax(x)), lambda t: t.log_softmax(-1)),
    "relu": (ReLU, {}, (0.0,), _relu(), lambda t: t.relu()),
    "relu6": (ReLU, {"max_value": 6.0}, (0.0, 6.0), _relu(6.0),
              lambda t: _torch().nn.functional.relu6(t)),
    "relu_max": (ReLU, {"max_value": 1.5}, (0.0, 1.5), _relu(1.5), lambda t: t.clamp(0, 1.5)),
    "relu_slope": (ReLU, {"negative_slope": 0.2}, (0.0,), _relu(negative_slope=0.2),
                   lambda t: _torch().nn.functional.leaky_relu(t, 0.2)),
    "relu_threshold": (ReLU, {"threshold": 0.5}, (0.5,), _relu(threshold=0.5), None),
    "relu_all": (ReLU, {"max_value": 2.0, "negative_slope": 0.1, "threshold": 0.5}, (0.5, 2.0),
                 _relu(2.0, 0.1, 0.5),
                 lambda t: _torch().clamp(_torch().where(t > 0.5, t, 0.1 * (t - 0.5)), max=2.0)),
    "leaky": (LeakyReLU, {}, (0.0,), lambda x: np.where(x > 0, x, 0.3 * x),
              lambda t: _torch().nn.functional.leaky_relu(t, 0.3)),
    "leaky_0.05": (LeakyReLU, {"negative_slope": 0.05}, (0.0,),
                   lambda x: np.where(x > 0, x, 0.05 * x), None),
    "elu": (ELU, {}, (0.0,), lambda x: np.where(x > 0, x, np.expm1(x)),
            lambda t: _torch().nn.functional.elu(t)),
    "elu_0.5": (ELU, {"alpha": 0.5}, (0.0,), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)),
                None),
    "elu_0.7": (ELU, {"alpha": 0.7}, (0.0,), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)),
                lambda t: _torch().nn.functional.elu(t, alpha=0.7)),
    "softmax_layer": (Softmax, {}, (), _softmax, lambda t: t.softmax(-1)),
    "softmax_axis1": (Softmax, {"axis": 1}, (), lambda x: _softmax(x, 1), lambda t: t.softmax(1)),
    "flatten": (Flatten, {}, (), lambda x: x.reshape(len(x), -1),
                lambda t: t.reshape(t.shape[0], -1)),
    "reshape_minus1": (Reshape, {"target_shape": (-1, 2)}, (),
                       lambda x: x.reshape(len(x), -1, 2), lambda t: t.reshape(t.shape[0], -1, 2)),
    "reshape": (Reshape, {"target_shape": (4, 3)}, (), lambda x: x.reshape(len(x), 4, 3),
                lambda t: t.reshape(t.shape[0], 4, 3)),
}


@pytest.mark.parametrize("shape", [(2, 3, 4), (3, 4, 3)], ids=["2x3x4", "3x4x3"])
@pytest.mark.parametrize("case", list(PARAMETERLESS))
def test_parameterless_layers(case, shape):
    """Forward against NumPy, float64 dx with inputs kept away from kinks, torch parity where torch
    has the function, float32, config round trip and shape inference (run_layer_test)."""
    layer_class, kwargs, kinks, reference, torch_function = PARAMETERLESS[case]
    report = run_layer_test(layer_class, kwargs, shape, kinks=kinks, scale=3.0, seed=9,
                            reference=reference, torch_reference=torch_function)
    assert report["gradients"].keys() == {"x"}


@pytest.mark.parametrize("layer_class", [Dropout, GaussianDropout],
                         ids=["dropout", "gaussian_dropout"])
@pytest.mark.parametrize("training", [True, False])
def test_noise_layers(layer_class, training):
    # training: one frozen noise draw for every evaluation of the gradient check
    report = run_layer_test(layer_class, {"rate": 0.4, "seed": 1}, (4, 6), training=training,
                            seed=10, reference=None if training else (lambda x: x))
    assert report["gradients"].keys() == {"x"}


def test_dropout_backward_uses_the_latest_mask():
    x = np.random.default_rng(11).standard_normal((6, 5))
    layer = Dropout(0.5, seed=12, dtype="float64")
    first = layer.forward(x, training=True)
    second = layer.forward(x, training=True)  # a new mask
    assert not np.array_equal(first, second)
    dy = np.random.default_rng(13).standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dy), dy * (second / x), rtol=1e-12)


def test_layer_used_twice_sums_gradients():
    rng = np.random.default_rng(14)
    x1, x2 = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    dy1, dy2 = rng.standard_normal((3, 2)), rng.standard_normal((5, 2))
    shared = Dense(2, activation="tanh", dtype="float64",
                   bias_initializer=initializers.RandomNormal(seed=15))
    single = Dense(2, activation="tanh", dtype="float64")
    shared(x1)
    single(x1)
    single.set_weights(shared.get_weights())
    expected_kernel, expected_bias = np.zeros((4, 2)), np.zeros(2)
    for x, dy in ((x1, dy1), (x2, dy2)):
        shared.forward(x)
        shared.backward(dy)  # no zeroing in between: contributions accumulate
        single.kernel.grad[...] = 0
        single.bias.grad[...] = 0
        single.forward(x)
        single.backward(dy)
        expected_kernel += single.kernel.grad
        expected_bias += single.bias.grad
    np.testing.assert_allclose(shared.kernel.grad, expected_kernel, rtol=1e-12)
    np.testing.assert_allclose(shared.bias.grad, expected_bias, rtol=1e-12)
    assert not np.allclose(shared.kernel.grad, single.kernel.grad)


# ------------------------------------------------------------------ dropout statistics


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_statistics(rate, dtype):
    x = np.ones((500, 1000), dtype=dtype)
    layer = Dropout(rate, seed=16, dtype=dtype)
    y = layer(x, training=True)
    assert y.dtype == dtype
    dropped = y == 0
    n = x.size
    assert abs(dropped.mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    np.testing.assert_allclose(y[~dropped], 1 / (1 - rate), rtol=1e-6)
    dy = np.full_like(x, 2.0)
    np.testing.assert_array_equal(layer.backward(dy), 2.0 * y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_gaussian_dropout_statistics(rate, dtype):
    x = np.ones((500, 1000), dtype=dtype)
    y = GaussianDropout(rate, seed=17, dtype=dtype)(x, training=True)
    assert y.dtype == dtype
    variance = rate / (1 - rate)
    assert abs(y.mean() - 1) < 5 * np.sqrt(variance / x.size)
    np.testing.assert_allclose(y.var(), variance, rtol=0.01)


@pytest.mark.parametrize("layer_class", [Dropout, GaussianDropout])
def test_noise_layers_are_identity_at_inference(layer_class):
    x = np.random.default_rng(18).standard_normal((4, 5))
    layer = layer_class(0.5, dtype="float64")
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    dy = np.random.default_rng(19).standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy)
    assert not np.array_equal(layer(x, training=True), x)


@pytest.mark.parametrize("layer_class", [Dropout, GaussianDropout])
def test_noise_layers_with_equal_seeds_draw_equal_noise(layer_class):
    x = np.ones((10, 10))
    first = layer_class(0.5, seed=20, dtype="float64")(x, training=True)
    second = layer_class(0.5, seed=20, dtype="float64")(x, training=True)
    other = layer_class(0.5, seed=21, dtype="float64")(x, training=True)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


# ------------------------------------------------------------------ config round trips


CONFIG_CASES = [  # (class, constructor arguments, input shape, kinks)
    (Dense, {"units": 3}, (2, 4), ()),
    (Dense, {"units": 5, "activation": "relu", "use_bias": False, "name": "d",
             "kernel_initializer": "he_normal", "bias_initializer": "ones"}, (2, 4), ()),
    (Dense, {"units": 2, "activation": activations.GELU(approximate=True),
             "kernel_regularizer": regularizers.L2(0.01), "bias_regularizer": "l1",
             "kernel_initializer": initializers.GlorotNormal(seed=3), "input_shape": (784,)},
     (2, 784), ()),
    (Dense, {"units": 2, "activation": activations.ELU(0.5), "trainable": False}, (2, 3), ()),
    (Activation, {"activation": "tanh"}, (2, 3), ()),
    (Activation, {"activation": activations.LeakyReLU(0.05)}, (2, 3), (0.0,)),
    (ReLU, {}, (2, 3), (0.0,)),
    (ReLU, {"max_value": 6.0, "negative_slope": 0.1, "threshold": 0.5}, (2, 3), (0.5, 6.0)),
    (LeakyReLU, {}, (2, 3), (0.0,)),
    (LeakyReLU, {"negative_slope": 0.1}, (2, 3), (0.0,)),
    (ELU, {}, (2, 3), (0.0,)),
    (ELU, {"alpha": 0.3}, (2, 3), (0.0,)),
    (Softmax, {}, (2, 3), ()),
    (Softmax, {"axis": 1}, (2, 3, 2), ()),
    (Dropout, {"rate": 0.3}, (2, 3), ()),
    (Dropout, {"rate": 0.5, "seed": 4}, (2, 3), ()),
    (GaussianDropout, {"rate": 0.2, "seed": 5}, (2, 3), ()),
    (Flatten, {}, (2, 3, 4), ()),
    (Flatten, {"input_shape": (28, 28)}, (2, 28, 28), ()),
    (Reshape, {"target_shape": (-1, 2)}, (2, 3, 4), ()),
    (Reshape, {"target_shape": (4, 3)}, (2, 3, 4), ()),
]


@pytest.mark.parametrize("layer_class, kwargs, shape, kinks", CONFIG_CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, *_) in enumerate(CONFIG_CASES)])
def test_config_round_trip(layer_class, kwargs, shape, kinks):
    """The harness round-trips the config (JSON-safe, equal, identical outputs with the same
    weights) and runs its other checks on these less common constructor arguments."""
    run_layer_test(layer_class, kwargs, shape, kinks=kinks, scale=3.0, seed=11)


def test_input_layer_config_round_trip():
    layer = InputLayer(shape=(3, 4))
    config = layer.get_config()
    clone = InputLayer.from_config(config)
    assert clone.get_config() == config
    assert type(clone) is InputLayer


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("units", [0, -3, 2.5, True, "4", None])
def test_dense_rejects_bad_units(units):
    expected = r"Dense\(name='d'\): units must be a positive integer; got units=" + re.escape(
        repr(units))
    with pytest.raises(ValueError, match=expected):
        Dense(units, name="d")


@pytest.mark.parametrize("layer_class", [Dropout, GaussianDropout])
@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_noise_layers_reject_bad_rate(layer_class, rate):
    expected = (rf"{layer_class.__name__}\(name='n'\): rate must be a float in \[0, 1\); "
                rf"got rate={rate}")
    with pytest.raises(ValueError, match=expected):
        layer_class(rate, name="n")


@pytest.mark.parametrize("make", [
    lambda: Dense(3, foo=1), lambda: Dropout(0.5, keep_prob=0.5), lambda: Flatten(data_format=1),
    lambda: ReLU(alpha=0.1), lambda: Activation("relu", bogus=True), lambda: Reshape((2,), x=1),
], ids=["dense", "dropout", "flatten", "relu", "activation", "reshape"])
def test_unknown_keyword_arguments_raise_type_error(make):
    with pytest.raises(TypeError, match="unknown keyword argument"):
        make()


def test_dense_fed_wrong_feature_count_names_layer_and_both_shapes():
    layer = Dense(10, name="classifier")
    layer(np.zeros((2, 784)))
    expected = r"Dense\(name='classifier'\): expected input of shape \(batch, 784\); got \(2, 785\)"
    with pytest.raises(ValueError, match=expected):
        layer(np.zeros((2, 785)))


def test_dense_with_declared_input_shape_rejects_other_features():
    layer = Dense(10, input_shape=(784,), name="first")
    expected = r"Dense\(name='first'\): expected input of shape \(batch, 784\); got \(2, 785\)"
    with pytest.raises(ValueError, match=expected):
        layer(np.zeros((2, 785)))


def test_first_layers_accept_keras_input_shape():
    model = Sequential([Flatten(input_shape=(28, 28)), Dense(10, input_shape=(784,))])
    assert model.count_params() == 784 * 10 + 10
    assert model(np.zeros((3, 28, 28))).shape == (3, 10)
    dense = Dense(4, input_shape=(784,))
    assert Sequential([dense]).count_params() == 784 * 4 + 4
    assert dense.kernel.shape == (784, 4)


@pytest.mark.parametrize("make, match", [
    (lambda: Reshape((2, -1, -1)), "target_shape must be positive ints with at most one -1"),
    (lambda: Reshape((0, 3)), "target_shape"),
    (lambda: ReLU(max_value=-1.0), "max_value must be None or >= 0; got max_value=-1.0"),
    (lambda: ReLU(negative_slope=-0.5), "negative_slope must be >= 0"),
    (lambda: LeakyReLU(-0.1), "negative_slope must be >= 0"),
    (lambda: Dense(3, activation="rleu"), r"Unknown activation 'rleu'"),
    (lambda: Dense(3, kernel_initializer="glorot"), r"Unknown initializer 'glorot'"),
    (lambda: Dense(3, dtype="int32"), "dtype must be one of"),
])
def test_bad_constructor_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("target_shape, match",
                         [((5,), r"with 5 elements per example; got \(2, 3, 4\)"),
                          ((-1, 5), "divisible by 5")])
def test_reshape_rejects_incompatible_inputs(target_shape, match):
    with pytest.raises(ValueError, match=match):
        Reshape(target_shape, name="r")(np.zeros((2, 3, 4)))
