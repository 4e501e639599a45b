"""Core layers: gradients (float64 central differences), PyTorch parity, noise statistics,
config round trips and error messages."""

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
from dendrite.testing import check_gradients

ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu",
               "softplus", "softmax", "log_softmax"]


def _away_from(shape, kinks=(0.0,), seed=0, gap=0.1, scale=2.0):
    """Normal samples pushed at least ``gap`` away from every kink."""
    x = scale * np.random.default_rng(seed).standard_normal(shape)
    for kink in kinks:
        close = np.abs(x - kink) < gap
        x[close] = kink + np.where(x[close] >= kink, gap, -gap) * 2
    return x


# ------------------------------------------------------------------ forward references


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3)], ids=["2d", "3d"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_forward_matches_numpy(activation, use_bias, shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    layer = Dense(4, activation=activation, use_bias=use_bias, dtype="float64",
                  bias_initializer=initializers.RandomNormal(stddev=1.0, seed=2))
    y = layer(x)
    z = x @ layer.kernel.value + (layer.bias.value if use_bias else 0)
    assert y.shape == (*shape[:-1], 4)
    np.testing.assert_allclose(y, getattr(activations, activation)(z), rtol=1e-12, atol=1e-14)


def test_relu_layer_forward_matches_formula():
    x = np.linspace(-3, 8, 23)
    layer = ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5, dtype="float64")
    expected = np.minimum(np.where(x > 0.5, x, 0.1 * (x - 0.5)), 6.0)
    np.testing.assert_allclose(layer(x[None])[0], expected, rtol=1e-14)


@pytest.mark.parametrize("layer, reference", [
    (LeakyReLU(dtype="float64"), lambda x: np.where(x > 0, x, 0.3 * x)),
    (LeakyReLU(0.05, dtype="float64"), lambda x: np.where(x > 0, x, 0.05 * x)),
    (ELU(0.7, dtype="float64"), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x))),
    (Softmax(dtype="float64"), lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    (Softmax(axis=1, dtype="float64"), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
], ids=["leaky_default", "leaky_0.05", "elu_0.7", "softmax", "softmax_axis1"])
def test_activation_layers_forward(layer, reference):
    x = np.random.default_rng(3).standard_normal((2, 3, 4))
    np.testing.assert_allclose(layer(x), reference(x), rtol=1e-12)


def test_flatten_and_reshape_forward():
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(Flatten(dtype="float64")(x), x.reshape(2, 12))
    np.testing.assert_array_equal(Reshape((-1, 2), dtype="float64")(x), x.reshape(2, 6, 2))
    np.testing.assert_array_equal(Reshape((4, 3), dtype="float64")(x), x.reshape(2, 4, 3))
    assert Reshape((-1, 2)).compute_output_shape((None, 3, 4)) == (None, 6, 2)
    assert Flatten().compute_output_shape((None, 28, 28)) == (None, 784)


# ------------------------------------------------------------------ gradients


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3)], ids=["2d", "3d"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_gradients(activation, use_bias, shape):
    x = np.random.default_rng(4).standard_normal(shape)
    layer = Dense(4, activation=activation, use_bias=use_bias, dtype="float64",
                  kernel_initializer=initializers.GlorotUniform(seed=5),
                  bias_initializer=initializers.RandomNormal(stddev=0.5, seed=6))
    report = check_gradients(layer, x)
    assert set(report) == ({"x", "kernel", "bias"} if use_bias else {"x", "kernel"})


def test_dense_gradients_along_random_directions_for_large_inputs():
    x = np.random.default_rng(7).standard_normal((40, 30))
    layer = Dense(20, activation="tanh", dtype="float64",
                  bias_initializer=initializers.RandomNormal(seed=8))
    check_gradients(layer, x)  # more than max_elements: checked along random unit directions


@pytest.mark.parametrize("make, kinks", [
    (lambda: Activation("tanh", dtype="float64"), ()),
    (lambda: Activation("gelu", dtype="float64"), ()),
    (lambda: Activation(activations.GELU(approximate=True), dtype="float64"), ()),
    (lambda: Activation("softmax", dtype="float64"), ()),
    (lambda: Activation("log_softmax", dtype="float64"), ()),
    (lambda: ReLU(dtype="float64"), (0.0,)),
    (lambda: ReLU(max_value=1.5, dtype="float64"), (0.0, 1.5)),
    (lambda: ReLU(negative_slope=0.2, dtype="float64"), (0.0,)),
    (lambda: ReLU(threshold=0.5, dtype="float64"), (0.5,)),
    (lambda: ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5, dtype="float64"),
     (0.5, 2.0)),
    (lambda: LeakyReLU(dtype="float64"), (0.0,)),
    (lambda: LeakyReLU(0.05, dtype="float64"), (0.0,)),
    (lambda: ELU(dtype="float64"), (0.0,)),
    (lambda: ELU(0.5, dtype="float64"), (0.0,)),
    (lambda: Softmax(dtype="float64"), ()),
    (lambda: Softmax(axis=1, dtype="float64"), ()),
    (lambda: Flatten(dtype="float64"), ()),
    (lambda: Reshape((-1, 2), dtype="float64"), ()),
    (lambda: Reshape((4, 3), dtype="float64"), ()),
], ids=["tanh", "gelu", "gelu_tanh", "softmax", "log_softmax", "relu", "relu_max", "relu_slope",
        "relu_threshold", "relu_all", "leaky", "leaky_0.05", "elu", "elu_0.5", "softmax_layer",
        "softmax_axis1", "flatten", "reshape_minus1", "reshape"])
def test_parameterless_layer_gradients(make, kinks):
    x = _away_from((2, 3, 4), kinks, seed=9)
    assert check_gradients(make(), x).keys() == {"x"}


@pytest.mark.parametrize("make", [lambda: Dropout(0.4, seed=1, dtype="float64"),
                                  lambda: GaussianDropout(0.4, seed=1, dtype="float64")],
                         ids=["dropout", "gaussian_dropout"])
@pytest.mark.parametrize("training", [True, False])
def test_noise_layer_gradients(make, training):
    x = np.random.default_rng(10).standard_normal((4, 6))
    check_gradients(make(), x, training=training)


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


# ------------------------------------------------------------------ PyTorch parity


def _torch_activation(name, torch):
    functional = torch.nn.functional
    return {"linear": lambda t: t, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "relu": functional.relu, "leaky_relu": lambda t: functional.leaky_relu(t, 0.2),
            "elu": functional.elu, "gelu": functional.gelu, "silu": functional.silu,
            "softplus": functional.softplus, "softmax": lambda t: functional.softmax(t, -1),
            "log_softmax": lambda t: functional.log_softmax(t, -1)}[name]


CLOSE = {"rtol": 1e-10, "atol": 1e-12}


@pytest.mark.parametrize("shape", [(8, 3), (2, 5, 3)], ids=["2d", "3d"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_matches_torch_linear(activation, use_bias, shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(21)
    x, dy = rng.standard_normal(shape), rng.standard_normal((*shape[:-1], 4))
    layer = Dense(4, activation=activation, use_bias=use_bias, dtype="float64",
                  bias_initializer=initializers.RandomNormal(stddev=0.5, seed=22))
    y = layer(x)
    dx = layer.backward(dy)
    reference = torch.nn.Linear(3, 4, bias=use_bias, dtype=torch.float64)
    with torch.no_grad():  # torch stores the kernel as (out, in)
        reference.weight.copy_(torch.from_numpy(layer.kernel.value.T))
        if use_bias:
            reference.bias.copy_(torch.from_numpy(layer.bias.value))
    xt = torch.from_numpy(x).requires_grad_()
    yt = _torch_activation(activation, torch)(reference(xt))
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), **CLOSE)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **CLOSE)
    np.testing.assert_allclose(layer.kernel.grad, reference.weight.grad.numpy().T, **CLOSE)
    if use_bias:
        np.testing.assert_allclose(layer.bias.grad, reference.bias.grad.numpy(), **CLOSE)


def _torch_layer_cases(torch):
    """(layer, torch reference, kinks to keep inputs away from) by case id."""
    functional = torch.nn.functional
    return {
        "relu": (ReLU(dtype="float64"), functional.relu, (0.0,)),
        "relu6": (ReLU(max_value=6.0, dtype="float64"), functional.relu6, (0.0, 6.0)),
        "relu_all": (ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5, dtype="float64"),
                     lambda t: torch.clamp(torch.where(t > 0.5, t, 0.1 * (t - 0.5)), max=2.0),
                     (0.5, 2.0)),
        "leaky": (LeakyReLU(dtype="float64"), lambda t: functional.leaky_relu(t, 0.3), (0.0,)),
        "elu": (ELU(0.7, dtype="float64"), lambda t: functional.elu(t, alpha=0.7), (0.0,)),
        "softmax": (Softmax(dtype="float64"), lambda t: functional.softmax(t, dim=-1), ()),
        "softmax_axis1": (Softmax(axis=1, dtype="float64"),
                          lambda t: functional.softmax(t, dim=1), ()),
        "gelu": (Activation("gelu", dtype="float64"), functional.gelu, ()),
        "gelu_tanh": (Activation(activations.GELU(approximate=True), dtype="float64"),
                      lambda t: functional.gelu(t, approximate="tanh"), ()),
        "sigmoid": (Activation("sigmoid", dtype="float64"), torch.sigmoid, ()),
        "log_softmax": (Activation("log_softmax", dtype="float64"),
                        lambda t: functional.log_softmax(t, -1), ()),
    }


TORCH_LAYER_CASES = ["relu", "relu6", "relu_all", "leaky", "elu", "softmax", "softmax_axis1",
                     "gelu", "gelu_tanh", "sigmoid", "log_softmax"]


@pytest.mark.parametrize("case", TORCH_LAYER_CASES)
def test_activation_layers_match_torch(case):
    torch = pytest.importorskip("torch")
    layer, reference, kinks = _torch_layer_cases(torch)[case]
    x = _away_from((3, 4, 5), kinks, seed=23, scale=3.0)
    dy = np.random.default_rng(24).standard_normal(x.shape)
    y = layer(x)
    dx = layer.backward(dy)
    xt = torch.from_numpy(x).requires_grad_()
    yt = reference(xt)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), **CLOSE)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **CLOSE)


# ------------------------------------------------------------------ config round trips


def _all_layers():
    return [
        Dense(3), Dense(5, activation="relu", use_bias=False, name="d",
                        kernel_initializer="he_normal", bias_initializer="ones"),
        Dense(2, activation=activations.GELU(approximate=True),
              kernel_regularizer=regularizers.L2(0.01), bias_regularizer="l1",
              kernel_initializer=initializers.GlorotNormal(seed=3), input_shape=(784,)),
        Dense(2, activation=activations.ELU(0.5), dtype="float64", trainable=False),
        Activation("tanh"), Activation(activations.LeakyReLU(0.05)), ReLU(),
        ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5), LeakyReLU(), LeakyReLU(0.1),
        ELU(), ELU(0.3), Softmax(), Softmax(axis=1), Dropout(0.3), Dropout(0.5, seed=4),
        GaussianDropout(0.2, seed=5), Flatten(), Flatten(input_shape=(28, 28)), Reshape((-1, 2)),
        Reshape((4, 3)), InputLayer(shape=(3, 4)),
    ]


@pytest.mark.parametrize("index", range(len(_all_layers())))
def test_config_round_trip(index):
    layer = _all_layers()[index]
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert type(clone) is type(layer)


@pytest.mark.parametrize("activation", [activations.GELU(approximate=True),
                                        activations.LeakyReLU(0.05), activations.ELU(0.3),
                                        "softmax", "swish"])
def test_dense_round_trip_computes_the_same_function(activation):
    x = np.random.default_rng(25).standard_normal((4, 3))
    layer = Dense(2, activation=activation, dtype="float64")
    y = layer(x)
    clone = Dense.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x), y, rtol=1e-14)


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


@pytest.mark.parametrize("target_shape, match", [((5,), r"with 5 elements per example; got \(2, 3, 4\)"),
                                                  ((-1, 5), "divisible by 5")])
def test_reshape_rejects_incompatible_inputs(target_shape, match):
    with pytest.raises(ValueError, match=match):
        Reshape(target_shape, name="r")(np.zeros((2, 3, 4)))
