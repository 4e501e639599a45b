import numpy as np
import pytest

from dendrite.layers.normalization import BatchNormalization
from dendrite.testing import check_gradients


def _randomize(layer, rng):
    for variable in layer.weights:
        low = 0.5 if variable.name in ("gamma", "moving_variance") else -1.0
        variable.assign(rng.uniform(low, 1.5, variable.shape))


SHAPES = [  # (input shape, axis)
    ((6, 4), -1),           # after Dense
    ((3, 4, 5, 2), -1),     # after Conv2D, channels last
    ((3, 2, 4, 5), 1),      # after Conv2D, channels first
]


@pytest.mark.parametrize("shape, axis", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients(shape, axis, training):
    rng = np.random.default_rng(0)
    layer = BatchNormalization(axis=axis, dtype="float64")
    layer.ensure_built((None, *shape[1:]))
    _randomize(layer, rng)
    check_gradients(layer, rng.standard_normal(shape) * 2 + 1, training=training)


@pytest.mark.parametrize("center, scale", [(False, True), (True, False), (False, False)])
def test_batch_norm_gradients_without_center_or_scale(center, scale):
    rng = np.random.default_rng(1)
    layer = BatchNormalization(center=center, scale=scale, dtype="float64")
    check_gradients(layer, rng.standard_normal((5, 3, 3, 2)), training=True)
    assert len(layer.trainable_weights) == center + scale


def test_batch_norm_training_output_is_normalized():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 5, 5, 3)) * 3 + 2
    layer = BatchNormalization(epsilon=1e-3, dtype="float64")
    y = layer(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-12)
    var = x.var(axis=(0, 1, 2))  # biased
    np.testing.assert_allclose(y.var(axis=(0, 1, 2)), var / (var + 1e-3), rtol=1e-12)


def test_batch_norm_moving_statistics_follow_keras():
    rng = np.random.default_rng(3)
    layer = BatchNormalization(momentum=0.9, dtype="float64")
    expected_mean, expected_var = np.zeros(4), np.ones(4)
    for _ in range(3):
        x = rng.standard_normal((10, 4)) * 2 + 1
        layer(x, training=True)
        expected_mean = 0.9 * expected_mean + 0.1 * x.mean(axis=0)
        expected_var = 0.9 * expected_var + 0.1 * x.var(axis=0)  # biased, as Keras
    np.testing.assert_allclose(layer.moving_mean.value, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.value, expected_var, rtol=1e-12)
    x = rng.standard_normal((7, 4))
    before = layer.moving_mean.value.copy()
    y = layer(x, training=False)  # inference: moving statistics, no update
    np.testing.assert_array_equal(layer.moving_mean.value, before)
    np.testing.assert_allclose(y, (x - expected_mean) / np.sqrt(expected_var + 1e-3), rtol=1e-12)


def test_batch_norm_weights():
    layer = BatchNormalization()
    layer.ensure_built((None, 8, 8, 16))
    assert [v.name for v in layer.trainable_weights] == ["gamma", "beta"]
    assert [v.name for v in layer.non_trainable_weights] == ["moving_mean", "moving_variance"]
    assert all(v.shape == (16,) for v in layer.weights)
    assert layer.count_params() == 64


def test_frozen_batch_norm_runs_in_inference_mode():
    rng = np.random.default_rng(4)
    layer = BatchNormalization(trainable=False, dtype="float64")
    x = rng.standard_normal((6, 3)) + 5
    y = layer(x, training=True)
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-12)
    np.testing.assert_array_equal(layer.moving_mean.value, 0)
    dx = layer.backward(np.ones_like(y))
    np.testing.assert_allclose(dx, np.full_like(x, 1 / np.sqrt(1 + 1e-3)), rtol=1e-12)
    assert layer.trainable_weights == []


def test_batch_norm_skips_dx_when_not_required():
    rng = np.random.default_rng(5)
    layer = BatchNormalization(dtype="float64")
    x = rng.standard_normal((6, 3))
    layer(x, training=True)
    assert layer.backward(rng.standard_normal((6, 3)), need_dx=False) is None
    assert np.abs(layer.gamma.grad).sum() > 0


# ---------------------------------------------------------------------------- PyTorch parity


@pytest.mark.parametrize("shape, axis", SHAPES)
def test_batch_norm_training_matches_torch(shape, axis):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    layer = BatchNormalization(axis=axis, momentum=0.8, epsilon=1e-5, dtype="float64")
    layer.ensure_built((None, *shape[1:]))
    _randomize(layer, rng)
    moving_mean, moving_var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    x = rng.standard_normal(shape) * 2 + 1
    y = layer(x, training=True)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)

    # torch wants the features on axis 1
    to_torch = (lambda a: a) if axis == 1 or len(shape) == 2 else (
        lambda a: a.transpose(0, 3, 1, 2))
    from_torch = (lambda a: a) if axis == 1 or len(shape) == 2 else (
        lambda a: a.transpose(0, 2, 3, 1))
    xt = torch.from_numpy(to_torch(x).copy()).requires_grad_()
    gamma = torch.from_numpy(layer.gamma.numpy()).requires_grad_()
    beta = torch.from_numpy(layer.beta.numpy()).requires_grad_()
    running_mean, running_var = torch.from_numpy(moving_mean), torch.from_numpy(moving_var.copy())
    torch_momentum = 1 - 0.8  # torch weighs the new statistic by its momentum
    yt = torch.nn.functional.batch_norm(xt, running_mean, running_var, gamma, beta, training=True,
                                        momentum=torch_momentum, eps=1e-5)
    yt.backward(torch.from_numpy(to_torch(dy).copy()))
    close = {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(y, from_torch(yt.detach().numpy()), **close)
    np.testing.assert_allclose(dx, from_torch(xt.grad.numpy()), **close)
    np.testing.assert_allclose(layer.gamma.grad, gamma.grad.numpy(), **close)
    np.testing.assert_allclose(layer.beta.grad, beta.grad.numpy(), **close)
    np.testing.assert_allclose(layer.moving_mean.value, running_mean.numpy(), **close)
    # torch updates the running variance with the unbiased batch variance: undo that to compare
    m = x.size // x.shape[axis]
    torch_batch_var = (running_var.numpy() - (1 - torch_momentum) * moving_var) / torch_momentum
    expected_var = 0.8 * moving_var + 0.2 * torch_batch_var * (m - 1) / m
    np.testing.assert_allclose(layer.moving_variance.value, expected_var, **close)


def test_batch_norm_inference_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    layer = BatchNormalization(axis=1, epsilon=1e-5, dtype="float64")
    layer.ensure_built((None, 3, 4, 4))
    _randomize(layer, rng)
    x = rng.standard_normal((2, 3, 4, 4))
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    xt = torch.from_numpy(x).requires_grad_()
    gamma = torch.from_numpy(layer.gamma.numpy()).requires_grad_()
    beta = torch.from_numpy(layer.beta.numpy()).requires_grad_()
    yt = torch.nn.functional.batch_norm(xt, torch.from_numpy(layer.moving_mean.numpy()),
                                        torch.from_numpy(layer.moving_variance.numpy()), gamma,
                                        beta, training=False, eps=1e-5)
    yt.backward(torch.from_numpy(dy))
    close = {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(y, yt.detach().numpy(), **close)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **close)
    np.testing.assert_allclose(layer.gamma.grad, gamma.grad.numpy(), **close)
    np.testing.assert_allclose(layer.beta.grad, beta.grad.numpy(), **close)


# ---------------------------------------------------------------------------- contract


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_keeps_float32(training):
    x = np.random.default_rng(8).standard_normal((4, 5, 5, 3)).astype(np.float32)
    layer = BatchNormalization()
    y = layer(x, training=training)
    dx = layer.backward(np.ones_like(y))
    for array in (y, dx, layer.gamma.grad, layer.beta.grad, layer.moving_mean.value,
                  layer.moving_variance.value):
        assert array.dtype == np.float32


def test_batch_norm_config_round_trip():
    layer = BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False,
                               gamma_initializer="random_normal", gamma_regularizer="l2", name="bn")
    config = layer.get_config()
    assert BatchNormalization.from_config(config).get_config() == config


def test_batch_norm_compute_output_shape():
    assert BatchNormalization().compute_output_shape((None, 26, 26, 32)) == (None, 26, 26, 32)
    assert BatchNormalization(axis=1).compute_output_shape((None, 10)) == (None, 10)


@pytest.mark.parametrize("kwargs, match", [
    ({"momentum": 1.5}, (r"BatchNormalization\(name='bn'\): momentum must be a float in \[0, 1\]; "
                         r"got momentum=1.5")),
    ({"epsilon": 0}, r"epsilon must be a positive float; got epsilon=0"),
    ({"axis": "channels"}, r"axis must be an integer; got axis='channels'"),
])
def test_batch_norm_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchNormalization(**kwargs, name="bn")


def test_batch_norm_rejects_bad_input():
    with pytest.raises(ValueError, match=r"BatchNormalization\(name='bn'\): axis must index a "
                                         r"non-batch axis of the input shape \(None, 4\); "
                                         r"got axis=0\."):
        BatchNormalization(axis=0, name="bn").compute_output_shape((None, 4))
    with pytest.raises(ValueError, match=r"got axis=3\."):
        BatchNormalization(axis=3).compute_output_shape((None, 4))
    layer = BatchNormalization(name="bn")
    layer(np.zeros((2, 5, 5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"BatchNormalization\(name='bn'\): expected input of "
                                         r"shape \(batch, \.\.\., \.\.\., 3\); got \(2, 3, 5, 5\)"):
        layer(np.zeros((2, 3, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"got \(2, 3\)"):
        layer(np.zeros((2, 3), dtype=np.float32))
