import numpy as np
import pytest

from dendrite.layers.normalization import BatchNormalization
from dendrite.testing import run_layer_test


def _randomize(layer, rng):
    for variable in layer.weights:
        low = 0.5 if variable.name in ("gamma", "moving_variance") else -1.0
        variable.assign(rng.uniform(low, 1.5, variable.shape))


def _random_weights(layer):
    """Random weights for the harness: gamma and the moving variance in [0.5, 1.5)."""
    _randomize(layer, np.random.default_rng(0))
    return layer.get_weights()


def _reference(axis, training, center=True, scale=True, epsilon=1e-3):
    """Batch normalization in NumPy; weights in the layer's order (gamma, beta, mean, variance,
    without the ones that center/scale switch off)."""
    def reference(x, *weights):
        names = ["gamma"] * scale + ["beta"] * center + ["mean", "variance"]
        w = dict(zip(names, weights, strict=True))
        shape = [1] * x.ndim
        shape[axis] = x.shape[axis]
        others = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
        mean = x.mean(axis=others) if training else w["mean"]
        variance = x.var(axis=others) if training else w["variance"]  # biased, as Keras
        y = (x - mean.reshape(shape)) / np.sqrt(variance.reshape(shape) + epsilon)
        if scale:
            y = y * w["gamma"].reshape(shape)
        if center:
            y = y + w["beta"].reshape(shape)
        return y
    return reference


def _torch_reference(axis, ndim, training, epsilon):
    """torch's functional batch norm (features on axis 1) applied in dendrite's layout."""
    to_torch = (lambda t: t) if axis == 1 or ndim == 2 else (lambda t: t.permute(0, 3, 1, 2))
    from_torch = (lambda t: t) if axis == 1 or ndim == 2 else (lambda t: t.permute(0, 2, 3, 1))

    def reference(x, gamma, beta, mean, variance):
        import torch

        y = torch.nn.functional.batch_norm(to_torch(x), mean.clone(), variance.clone(), gamma,
                                           beta, training=training, eps=epsilon)
        return from_torch(y)
    return reference


SHAPES = [  # (input shape, axis)
    ((6, 4), -1),           # after Dense
    ((3, 4, 5, 2), -1),     # after Conv2D, channels last
    ((3, 2, 4, 5), 1),      # after Conv2D, channels first
    ((3, 4, 3), 1),         # after Conv1D, channels first
]


@pytest.mark.parametrize("shape, axis", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm(shape, axis, training):
    """Batch statistics (training) or moving ones (inference) against NumPy and torch, float64
    gradients of x, gamma and beta, float32, config round trip (run_layer_test)."""
    report = run_layer_test(
        BatchNormalization, {"axis": axis, "momentum": 0.8, "epsilon": 1e-5}, shape,
        training=training, weights=_random_weights, scale=2.0,
        reference=_reference(axis, training, epsilon=1e-5),
        torch_reference=_torch_reference(axis, len(shape), training, 1e-5))
    assert set(report["gradients"]) == {"x", "gamma", "beta"}


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("center, scale", [(False, True), (True, False), (False, False)])
def test_batch_norm_without_center_or_scale(center, scale, training):
    report = run_layer_test(BatchNormalization, {"center": center, "scale": scale},
                            (5, 3, 3, 2), training=training, weights=_random_weights,
                            reference=_reference(-1, training, center, scale))
    assert len(report["gradients"]) == 1 + center + scale


def test_batch_norm_config_round_trip():
    run_layer_test(BatchNormalization, {"axis": 1, "momentum": 0.9, "epsilon": 1e-5,
                                        "center": False, "gamma_initializer": "random_normal",
                                        "gamma_regularizer": "l2", "name": "bn"},
                   (3, 4, 2), training=True)


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
def test_batch_norm_moving_statistics_match_torch(shape, axis):
    """Outputs and gradients are compared in test_batch_norm; here the moving statistics."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    layer = BatchNormalization(axis=axis, momentum=0.8, epsilon=1e-5, dtype="float64")
    layer.ensure_built((None, *shape[1:]))
    _randomize(layer, rng)
    moving_mean, moving_var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    x = rng.standard_normal(shape) * 2 + 1
    layer(x, training=True)

    # torch wants the features on axis 1
    to_torch = (lambda a: a) if axis == 1 or len(shape) == 2 else (
        lambda a: a.transpose(0, 3, 1, 2))
    running_mean, running_var = torch.from_numpy(moving_mean), torch.from_numpy(moving_var.copy())
    torch_momentum = 1 - 0.8  # torch weighs the new statistic by its momentum
    torch.nn.functional.batch_norm(torch.from_numpy(to_torch(x).copy()), running_mean,
                                   running_var, training=True, momentum=torch_momentum, eps=1e-5)
    close = {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(layer.moving_mean.value, running_mean.numpy(), **close)
    # torch updates the running variance with the unbiased batch variance: undo that to compare
    m = x.size // x.shape[axis]
    torch_batch_var = (running_var.numpy() - (1 - torch_momentum) * moving_var) / torch_momentum
    expected_var = 0.8 * moving_var + 0.2 * torch_batch_var * (m - 1) / m
    np.testing.assert_allclose(layer.moving_variance.value, expected_var, **close)


# ---------------------------------------------------------------------------- contract


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
