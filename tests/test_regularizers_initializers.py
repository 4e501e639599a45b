"""Regularizers (Keras scaling, gradients, in a compiled model) and initializers (shapes, dtypes,
seeding, statistics, validation, names)."""

import math

import numpy as np
import pytest

from dendrite import Sequential, config, initializers, regularizers, utils
from dendrite.layers import Dense
from dendrite.optimizers import SGD
from dendrite.testing import check_gradients

# ------------------------------------------------------------------ regularizers


def _weights(seed=0, shape=(4, 3)):
    """Weights at least 0.1 away from 0, where |w| has its kink."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape)


@pytest.mark.parametrize("regularizer, penalty", [
    (regularizers.L1(0.01), lambda w: 0.01 * np.abs(w).sum()),
    (regularizers.L1(), lambda w: 0.01 * np.abs(w).sum()),
    (regularizers.L2(0.03), lambda w: 0.03 * (w**2).sum()),
    (regularizers.L2(), lambda w: 0.01 * (w**2).sum()),
    (regularizers.L1L2(l1=0.02, l2=0.05), lambda w: 0.02 * np.abs(w).sum() + 0.05 * (w**2).sum()),
    (regularizers.L1L2(), lambda w: 0.0),
], ids=["l1", "l1_default", "l2", "l2_default", "l1l2", "l1l2_default"])
def test_penalty_uses_keras_scaling(regularizer, penalty):
    w = _weights(1)
    value = regularizer(w)
    assert isinstance(value, float)
    np.testing.assert_allclose(value, penalty(w), rtol=1e-14)


@pytest.mark.parametrize("regularizer", [regularizers.L1(0.01), regularizers.L2(0.03),
                                         regularizers.L1L2(l1=0.02, l2=0.05)],
                         ids=["l1", "l2", "l1l2"])
@pytest.mark.parametrize("shape", [(4, 3), (3, 3, 2, 4)], ids=["dense", "conv"])
def test_regularizer_gradients(regularizer, shape):
    check_gradients(regularizer, _weights(2, shape))


def test_l2_gradient_has_no_half():
    w = _weights(3)
    np.testing.assert_allclose(regularizers.L2(0.01).gradient(w), 0.02 * w, rtol=1e-14)


@pytest.mark.parametrize("identifier, cls, config_", [
    ("l2", regularizers.L2, {"l2": 0.01}), ("L1", regularizers.L1, {"l1": 0.01}),
    ("l1_l2", regularizers.L1L2, {"l1": 0.0, "l2": 0.0}),
    ({"class_name": "L2", "config": {"l2": 0.5}}, regularizers.L2, {"l2": 0.5}),
])
def test_regularizer_get(identifier, cls, config_):
    regularizer = regularizers.get(identifier)
    assert type(regularizer) is cls
    assert regularizer.get_config() == config_


def test_regularizer_get_none_and_unknown():
    assert regularizers.get(None) is None
    with pytest.raises(ValueError, match=r"Unknown regularizer 'l3'\. Valid names:.*'l2'"):
        regularizers.get("l3")


@pytest.mark.parametrize("make, match", [
    (lambda: regularizers.L2(-0.1), r"L2: l2 must be a non-negative number; got l2=-0.1"),
    (lambda: regularizers.L1("0.1"), r"L1: l1 must be a non-negative number; got l1='0.1'"),
    (lambda: regularizers.L1L2(l1=True), r"l1 must be a non-negative number; got l1=True"),
])
def test_regularizer_rejects_bad_factors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("regularizer", [regularizers.L1(0.3), regularizers.L2(0.2),
                                         regularizers.L1L2(0.1, 0.4)], ids=["l1", "l2", "l1l2"])
def test_regularizer_config_round_trip(regularizer):
    clone = regularizers.get(regularizers.serialize(regularizer))
    assert type(clone) is type(regularizer)
    assert clone.get_config() == regularizer.get_config()


def _regularized_model(l2=0.01):
    model = Sequential([Dense(3, kernel_regularizer=regularizers.L2(l2), input_shape=(4,),
                              dtype="float64",
                              bias_initializer=initializers.RandomNormal(seed=1))])
    model.compile(optimizer=SGD(0.1), loss="mse")
    return model


def test_evaluate_reports_data_loss_plus_penalty():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((10, 4)), rng.standard_normal((10, 3))
    model = _regularized_model(0.01)
    kernel, bias = model.layers[0].get_weights()
    expected = ((x @ kernel + bias - y) ** 2).mean() + 0.01 * (kernel**2).sum()
    loss = model.evaluate(x, y, batch_size=4, verbose=0)  # 4 + 4 + 2 rows: uneven batches
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    assert 0.01 * (kernel**2).sum() > 1e-3  # the penalty is not negligible


def test_training_step_adds_penalty_gradient():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((10, 4)), rng.standard_normal((10, 3))
    model = _regularized_model(0.05)
    kernel, bias = model.layers[0].get_weights()
    history = model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    error = x @ kernel + bias - y
    d_kernel = x.T @ (2 * error / error.size) + 2 * 0.05 * kernel  # bias is not regularized
    d_bias = (2 * error / error.size).sum(axis=0)
    new_kernel, new_bias = model.layers[0].get_weights()
    np.testing.assert_allclose(new_kernel, kernel - 0.1 * d_kernel, rtol=1e-12)
    np.testing.assert_allclose(new_bias, bias - 0.1 * d_bias, rtol=1e-12)
    np.testing.assert_allclose(history.history["loss"][0],
                               (error**2).mean() + 0.05 * (kernel**2).sum(), rtol=1e-12)


# ------------------------------------------------------------------ initializers

NAMES = ["zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal",
         "variance_scaling", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
         "lecun_normal", "lecun_uniform"]
RANDOM = NAMES[3:]


@pytest.mark.parametrize("shape", [(5,), (4, 3), (3, 3, 2, 4)])
@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_dtypes(name, shape):
    initializer = initializers.get(name)
    default = initializer(shape)
    assert default.shape == shape and default.dtype == np.float32
    assert initializer(shape, dtype="float64").dtype == np.float64
    config.set_floatx("float64")
    assert initializer(shape).dtype == np.float64


@pytest.mark.parametrize("name", RANDOM)
def test_seeded_initializers_repeat_keras3_semantics(name):
    cls = type(initializers.get(name))
    first = cls(seed=7)
    np.testing.assert_array_equal(first((20, 10)), first((20, 10)))  # same on every call
    np.testing.assert_array_equal(first((20, 10)), cls(seed=7)((20, 10)))
    assert not np.array_equal(first((20, 10)), cls(seed=8)((20, 10)))
    unseeded = cls()
    assert not np.array_equal(unseeded((20, 10)), unseeded((20, 10)))


@pytest.mark.parametrize("name", RANDOM)
def test_set_random_seed_makes_unseeded_draws_repeat(name):
    utils.set_random_seed(11)
    first = initializers.get(name)((8, 6))
    utils.set_random_seed(11)
    np.testing.assert_array_equal(initializers.get(name)((8, 6)), first)


def test_compute_fans():
    assert initializers.compute_fans((784, 128)) == (784, 128)
    assert initializers.compute_fans((3, 3, 16, 32)) == (144, 288)
    assert initializers.compute_fans((5, 8, 4)) == (40, 20)
    assert initializers.compute_fans((7,)) == (7, 7)


LARGE = (400, 500)
CONV = (3, 3, 16, 32)  # fan_in 144, fan_out 288


@pytest.mark.parametrize("initializer, shape, limit", [
    (initializers.GlorotUniform(seed=1), LARGE, math.sqrt(6 / (400 + 500))),
    (initializers.GlorotUniform(seed=2), CONV, math.sqrt(6 / (144 + 288))),
    (initializers.HeUniform(seed=3), LARGE, math.sqrt(6 / 400)),
    (initializers.HeUniform(seed=4), CONV, math.sqrt(6 / 144)),
    (initializers.LecunUniform(seed=5), LARGE, math.sqrt(3 / 400)),
    (initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=6), LARGE,
     math.sqrt(3 * 2.0 / 500)),
], ids=["glorot", "glorot_conv", "he", "he_conv", "lecun", "variance_scaling_fan_out"])
def test_uniform_statistics(initializer, shape, limit):
    values = initializer(shape, dtype="float64")
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.99 * limit
    assert abs(values.mean()) < 5 * limit / math.sqrt(3 * values.size)
    np.testing.assert_allclose(values.std(), limit / math.sqrt(3), rtol=0.02)


@pytest.mark.parametrize("initializer, shape, std", [
    (initializers.HeNormal(seed=1), LARGE, math.sqrt(2 / 400)),
    (initializers.HeNormal(seed=2), CONV, math.sqrt(2 / 144)),
    (initializers.GlorotNormal(seed=3), LARGE, math.sqrt(2 / (400 + 500))),
    (initializers.GlorotNormal(seed=4), CONV, math.sqrt(2 / (144 + 288))),
    (initializers.LecunNormal(seed=5), LARGE, math.sqrt(1 / 400)),
    (initializers.VarianceScaling(3.0, "fan_avg", seed=6), LARGE, math.sqrt(3 / 450)),
], ids=["he", "he_conv", "glorot", "glorot_conv", "lecun", "variance_scaling_fan_avg"])
def test_truncated_variance_scaling_statistics(initializer, shape, std):
    """The truncated draws are rescaled so the *sample* std is sqrt(scale / n); no value lies
    beyond two standard deviations of the underlying (untruncated) normal."""
    values = initializer(shape, dtype="float64")
    untruncated_std = std / 0.87962566103423978
    assert np.abs(values).max() <= 2 * untruncated_std
    assert np.abs(values).max() > 1.9 * untruncated_std
    assert abs(values.mean()) < 5 * std / math.sqrt(values.size)
    np.testing.assert_allclose(values.std(), std, rtol=0.02)


@pytest.mark.parametrize("initializer, mean, std, bound", [
    (initializers.TruncatedNormal(mean=0.5, stddev=0.1, seed=1), 0.5, 0.1 * 0.87962566, 0.2),
    (initializers.TruncatedNormal(seed=2), 0.0, 0.05 * 0.87962566, 0.1),
    (initializers.RandomNormal(mean=-1.0, stddev=0.3, seed=3), -1.0, 0.3, None),
    (initializers.RandomNormal(seed=4), 0.0, 0.05, None),
    (initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=5), 0.0,
     math.sqrt(2 / 400), None),
    (initializers.RandomUniform(-0.2, 0.6, seed=6), 0.2, 0.8 / math.sqrt(12), None),
], ids=["truncated", "truncated_default", "normal", "normal_default", "untruncated", "uniform"])
def test_normal_and_uniform_statistics(initializer, mean, std, bound):
    values = initializer(LARGE, dtype="float64")
    assert abs(values.mean() - mean) < 5 * std / math.sqrt(values.size)
    np.testing.assert_allclose(values.std(), std, rtol=0.02)
    if bound is not None:
        assert np.abs(values - mean).max() <= bound


def test_random_uniform_bounds():
    values = initializers.RandomUniform(-0.2, 0.6, seed=7)(LARGE, dtype="float64")
    assert values.min() >= -0.2 and values.max() < 0.6


@pytest.mark.parametrize("initializer, value", [(initializers.Zeros(), 0.0),
                                                (initializers.Ones(), 1.0),
                                                (initializers.Constant(2.5), 2.5)])
def test_constant_initializers(initializer, value):
    np.testing.assert_array_equal(initializer((3, 2)), np.full((3, 2), value, dtype="float32"))


@pytest.mark.parametrize("kwargs, match", [
    ({"scale": 0.0}, r"VarianceScaling: scale must be a positive number; got scale=0.0"),
    ({"scale": -1.0}, r"scale must be a positive number; got scale=-1.0"),
    ({"mode": "fan_sum"}, r"mode must be one of \('fan_in', 'fan_out', 'fan_avg'\); got mode="),
    ({"distribution": "gamma"}, r"distribution must be one of .*; got distribution='gamma'"),
    ({"seed": 1.5}, r"seed must be an integer or None; got seed=1.5"),
    ({"seed": True}, r"seed must be an integer or None; got seed=True"),
])
def test_variance_scaling_validates_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        initializers.VarianceScaling(**kwargs)


def test_random_uniform_rejects_empty_interval():
    with pytest.raises(ValueError, match=r"maxval must be greater than minval=0.5; got maxval=0.5"):
        initializers.RandomUniform(0.5, 0.5)


@pytest.mark.parametrize("identifier, cls", [
    ("xavier_normal", initializers.GlorotNormal), ("xavier_uniform", initializers.GlorotUniform),
    ("glorot_uniform", initializers.GlorotUniform), ("HeNormal", initializers.HeNormal),
    ({"class_name": "HeUniform", "config": {"seed": 3}}, initializers.HeUniform),
])
def test_initializer_get(identifier, cls):
    assert type(initializers.get(identifier)) is cls


def test_variance_scaling_normal_alias_is_truncated():
    assert initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"


def test_initializer_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown initializer 'glorot'\. Valid names:.*"
                                         r"'glorot_uniform'"):
        initializers.get("glorot")


@pytest.mark.parametrize("initializer", [
    initializers.GlorotUniform(seed=1), initializers.HeNormal(), initializers.Constant(0.7),
    initializers.Zeros(), initializers.RandomNormal(0.1, 0.2, seed=2),
    initializers.TruncatedNormal(0.0, 0.3), initializers.RandomUniform(-1.0, 2.0, seed=3),
    initializers.VarianceScaling(0.5, "fan_out", "uniform", seed=4),
], ids=lambda i: type(i).__name__)
def test_initializer_config_round_trip(initializer):
    clone = initializers.get(initializers.serialize(initializer))
    assert type(clone) is type(initializer)
    assert clone.get_config() == initializer.get_config()
    if initializer.seed is not None:
        np.testing.assert_array_equal(clone((5, 4)), initializer((5, 4)))
