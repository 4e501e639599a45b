"""Dtype discipline: float32 by default end to end, float64 when floatx or dtype asks for it."""

import numpy as np
import pytest

from dendrite import Sequential, config, optimizers
from dendrite.layers import (
    ELU,
    Activation,
    Dense,
    Dropout,
    Flatten,
    GaussianDropout,
    LeakyReLU,
    ReLU,
    Reshape,
    Softmax,
)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, 2, 3))  # float64 input: the model converts it
    y = np.eye(3)[rng.integers(0, 3, 16)]
    return x, y


def _model(optimizer):
    model = Sequential([Flatten(input_shape=(2, 3)), Dense(8, activation="relu"), Dropout(0.2),
                        Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    return model


def test_set_floatx_float64_makes_new_dense_float64():
    config.set_floatx("float64")
    layer = Dense(3)
    y = layer(np.ones((2, 4), dtype="float32"))
    assert layer.dtype == "float64"
    assert layer.kernel.value.dtype == np.float64 and layer.bias.value.dtype == np.float64
    assert layer.kernel.grad.dtype == np.float64
    assert y.dtype == np.float64


def test_explicit_dtype_overrides_floatx():
    config.set_floatx("float64")
    layer = Dense(3, dtype="float32")
    assert layer(np.ones((2, 4))).dtype == np.float32
    assert layer.kernel.value.dtype == np.float32


def test_default_dense_converts_float64_inputs_to_float32():
    layer = Dense(3)
    y = layer(np.ones((2, 4), dtype="float64"))
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32
    assert layer.kernel.grad.dtype == np.float32


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad", "adamw"])
def test_default_float32_end_to_end_through_fit(optimizer):
    x, y = _data()
    model = _model(optimizer)
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for variable, old in zip(model.trainable_weights, before):
        assert variable.value.dtype == np.float32, variable.name
        assert variable.grad.dtype == np.float32, variable.name
        assert not np.array_equal(variable.value, old)
    for state in ("m", "v", "accumulator", "velocity"):
        array = getattr(model.optimizer, state, None)
        if array is not None:
            assert array.dtype == np.float32, state
    assert model.predict(x, verbose=0).dtype == np.float32
    assert model(x).dtype == np.float32


def test_float64_end_to_end_when_floatx_is_float64():
    config.set_floatx("float64")
    x, y = _data(1)
    model = _model(optimizers.Adam(0.01))
    model.fit(x.astype("float32"), y, batch_size=8, epochs=1, verbose=0)
    for variable in model.trainable_weights:
        assert variable.value.dtype == np.float64 and variable.grad.dtype == np.float64
    assert model.optimizer.m.dtype == np.float64
    assert model.predict(x, verbose=0).dtype == np.float64


def test_float32_and_float64_training_agree():
    """One step in float32 stays within float32 rounding of the same step in float64."""
    x, y = _data(2)
    results = {}
    for dtype in ("float32", "float64"):
        model = Sequential([Dense(4, activation="tanh", input_shape=(6,), dtype=dtype),
                            Dense(3, activation="softmax", dtype=dtype)])
        model.compile(optimizer=optimizers.SGD(0.1), loss="categorical_crossentropy")
        if dtype == "float64":
            model.set_weights(results["float32"][0])
        weights = [w.copy() for w in model.get_weights()]
        model.fit(x.reshape(16, 6), y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        results[dtype] = (weights, model.get_weights())
    for low, high in zip(results["float32"][1], results["float64"][1]):
        assert low.dtype == np.float32 and high.dtype == np.float64
        np.testing.assert_allclose(low, high, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [
    *[lambda a=a: Dense(4, activation=a) for a in
      ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "softplus",
       "softmax", "log_softmax")],
    lambda: ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2), lambda: LeakyReLU(),
    lambda: ELU(0.5), lambda: Softmax(), lambda: Activation("gelu"), lambda: Dropout(0.3),
    lambda: GaussianDropout(0.3), lambda: Flatten(), lambda: Reshape((-1,)),
])
def test_every_core_layer_keeps_float32(make):
    layer = make()
    x = np.random.default_rng(3).standard_normal((5, 6)).astype("float32")
    y = layer(x, training=True)
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32
    for variable in layer.weights:
        assert variable.value.dtype == np.float32 and variable.grad.dtype == np.float32
