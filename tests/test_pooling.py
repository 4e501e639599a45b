import math

import numpy as np
import pytest

from dendrite.layers.dropout_spatial import SpatialDropout2D
from dendrite.layers.pooling import (
    AveragePooling2D,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling2D,
    SumPooling2D,
    UpSampling2D,
    ZeroPadding2D,
)
from dendrite.testing import run_layer_test


def distinct_values(shape, seed=0):
    """A random permutation of well-separated values: no ties, so max pooling is differentiable."""
    return np.random.default_rng(seed).permutation(math.prod(shape)).reshape(shape) / 10.0


def keras_same_pads(n, k, s):
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def reference_pool(x, pool_size, strides, padding, reduce):
    """Windowed pooling in plain NumPy, one output pixel at a time, over real inputs only."""
    n, h, w, c = x.shape
    if padding == "same":
        (top, _), (left, _) = keras_same_pads(h, pool_size[0], strides[0]), \
            keras_same_pads(w, pool_size[1], strides[1])
        out_h, out_w = math.ceil(h / strides[0]), math.ceil(w / strides[1])
    else:
        top = left = 0
        out_h = (h - pool_size[0]) // strides[0] + 1
        out_w = (w - pool_size[1]) // strides[1] + 1
    y = np.zeros((n, out_h, out_w, c))
    for i in range(out_h):
        for j in range(out_w):
            r0, c0 = i * strides[0] - top, j * strides[1] - left
            window = x[:, max(r0, 0):r0 + pool_size[0], max(c0, 0):c0 + pool_size[1]]
            y[:, i, j] = reduce(window.reshape(n, -1, c), axis=1)
    return y


POOL_CASES = [  # (input shape, pool_size, strides, padding)
    ((2, 6, 6, 3), (2, 2), None, "valid"),
    ((2, 7, 5, 2), (2, 2), None, "valid"),     # windows do not divide the input
    ((2, 7, 8, 2), (3, 3), (2, 2), "valid"),   # overlapping windows
    ((2, 5, 7, 2), (2, 3), (1, 2), "valid"),   # non-square windows and strides
    ((2, 5, 7, 2), (2, 2), None, "same"),      # padding after only
    ((2, 6, 7, 2), (3, 3), (2, 1), "same"),    # overlapping, padding on both sides
    ((1, 5, 5, 1), (2, 2), (3, 3), "same"),    # strides larger than the window
    ((2, 5, 5, 2), (3, 3), (1, 1), "valid"),   # every input in up to nine windows
    ((2, 3, 4, 1), (4, 4), None, "same"),      # a window larger than the input
]

LAYERS = {"max": (MaxPooling2D, np.max), "average": (AveragePooling2D, np.mean),
          "sum": (SumPooling2D, np.sum)}


def _torch():
    """torch, imported only when the harness runs a torch reference (it skips parity without)."""
    import torch

    return torch


def _channels_first(function):
    """``function`` of channels-last arrays applied to channels-first ones."""
    return lambda x: function(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def _torch_window_pool(kind, shape, pool_size, strides, padding):
    """torch pooling of NCHW tensors: max pooling with Keras's 'same' pads filled with -inf;
    average and sum pooling for 'valid' padding only (None otherwise)."""
    if padding == "same":
        if kind != "max":
            return None
        (top, bottom), (left, right) = (keras_same_pads(n, k, s) for n, k, s in
                                        zip(shape[1:3], pool_size, strides))
    else:
        top = bottom = left = right = 0

    def pool(t):
        functional = _torch().nn.functional
        if kind == "max":
            padded = functional.pad(t, (left, right, top, bottom), value=-math.inf)
            return functional.max_pool2d(padded, pool_size, strides)
        y = functional.avg_pool2d(t, pool_size, strides)
        return y * math.prod(pool_size) if kind == "sum" else y
    return pool


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("shape, pool_size, strides, padding", POOL_CASES)
def test_pooling(kind, shape, pool_size, strides, padding, data_format):
    """Windowed NumPy reference, float64 gradients on distinct values (no ties), torch parity,
    float32, config round trip and shape inference (run_layer_test), in both data formats."""
    layer_class, reduce = LAYERS[kind]
    x = distinct_values(shape, seed=1)

    def reference(x):
        return reference_pool(x, pool_size, strides or pool_size, padding, reduce)

    pool = _torch_window_pool(kind, shape, pool_size, strides or pool_size, padding)
    if data_format == "channels_first":
        x, reference = x.transpose(0, 3, 1, 2).copy(), _channels_first(reference)
        torch_reference = pool
    else:
        torch_reference = pool and (lambda t: pool(t.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))
    run_layer_test(layer_class, {"pool_size": pool_size, "strides": strides, "padding": padding,
                                 "data_format": data_format},
                   input_data=x, reference=reference, torch_reference=torch_reference)


# ---------------------------------------------------------------------------- max-pool ties


@pytest.mark.parametrize("pool_size, strides", [((2, 2), None), ((3, 3), (2, 2)), ((2, 3), (1, 1))])
def test_max_pool_tie_goes_to_one_position(pool_size, strides):
    rng = np.random.default_rng(3)
    x = np.zeros((2, 7, 8, 3))  # every window is one big tie
    layer = MaxPooling2D(pool_size, strides, dtype="float64")
    dy = rng.uniform(1, 2, layer(x).shape)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx.sum(), dy.sum(), rtol=1e-12)
    strides = strides or pool_size
    out_h, out_w = dy.shape[1:3]
    # only the first position of each window (its top-left corner) receives gradient
    expected = np.zeros_like(x)
    for i in range(out_h):
        for j in range(out_w):
            expected[:, i * strides[0], j * strides[1]] += dy[:, i, j]
    np.testing.assert_array_equal(dx, expected)


def test_max_pool_tie_inside_one_window_routes_to_first_maximum():
    x = np.array([[1.0, 3.0], [3.0, 3.0]]).reshape(1, 2, 2, 1)
    layer = MaxPooling2D(2, dtype="float64")
    layer(x)
    dx = layer.backward(np.full((1, 1, 1, 1), 5.0))
    np.testing.assert_array_equal(dx.reshape(2, 2), [[0.0, 5.0], [0.0, 0.0]])


def test_max_pool_ties_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, (2, 8, 9, 2)).astype(np.float64)  # many ties
    layer = MaxPooling2D(3, 2, dtype="float64")
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_()
    yt = torch.nn.functional.max_pool2d(xt, 3, 2)
    yt.backward(torch.from_numpy(dy.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------- PyTorch parity


@pytest.mark.parametrize("shape, pool_size, strides, padding, torch_kwargs", [
    ((2, 6, 6, 3), (2, 2), (2, 2), "valid", {}),
    ((2, 7, 8, 2), (3, 3), (2, 2), "valid", {}),
    ((2, 5, 7, 2), (2, 3), (1, 2), "valid", {}),
    ((2, 5, 5, 2), (3, 3), (1, 1), "same", {"padding": 1, "count_include_pad": False}),
    ((2, 7, 7, 2), (3, 3), (2, 2), "same", {"padding": 1, "count_include_pad": False}),
    # Keras pads (0, 1) here; torch's ceil_mode adds the same partial window at the end
    ((2, 5, 7, 2), (2, 2), (2, 2), "same", {"ceil_mode": True, "count_include_pad": False}),
])
def test_average_pool_matches_torch(shape, pool_size, strides, padding, torch_kwargs):
    def torch_reference(t):
        y = _torch().nn.functional.avg_pool2d(t.permute(0, 3, 1, 2), pool_size, strides,
                                              **torch_kwargs)
        return y.permute(0, 2, 3, 1)

    report = run_layer_test(AveragePooling2D, {"pool_size": pool_size, "strides": strides,
                                               "padding": padding}, shape,
                            torch_reference=torch_reference, seed=7)
    assert report["torch"] is None or report["torch"]["dx"] < 1e-12


def test_sum_pool_matches_torch():
    def torch_reference(t):  # sum pooling is average pooling times the window size
        y = _torch().nn.functional.avg_pool2d(t.permute(0, 3, 1, 2), (2, 3), (1, 2)) * 6
        return y.permute(0, 2, 3, 1)

    run_layer_test(SumPooling2D, {"pool_size": (2, 3), "strides": (1, 2)}, (2, 5, 7, 2),
                   torch_reference=torch_reference, seed=8)


# ---------------------------------------------------------------------------- global pooling


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("layer_class, reduce", [(GlobalAveragePooling2D, np.mean),
                                                 (GlobalMaxPooling2D, np.max)])
def test_global_pooling(layer_class, reduce, data_format, keepdims):
    x = distinct_values((2, 4, 5, 3), seed=9)
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2).copy()
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    run_layer_test(layer_class, {"keepdims": keepdims, "data_format": data_format}, input_data=x,
                   reference=lambda x: reduce(x, axis=axes, keepdims=keepdims))


def test_global_max_pool_tie_goes_to_first_position():
    x = np.zeros((1, 2, 2, 1))
    layer = GlobalMaxPooling2D(dtype="float64")
    layer(x)
    dx = layer.backward(np.full((1, 1), 3.0))
    np.testing.assert_array_equal(dx.reshape(2, 2), [[3.0, 0.0], [0.0, 0.0]])


# ---------------------------------------------------------------------------- padding, up-sampling


@pytest.mark.parametrize("padding, expected_pads", [
    (1, ((1, 1), (1, 1))),
    ((2, 0), ((2, 2), (0, 0))),
    (((1, 2), (0, 3)), ((1, 2), (0, 3))),
])
def test_zero_padding(padding, expected_pads):
    run_layer_test(ZeroPadding2D, {"padding": padding}, (2, 3, 4, 2), seed=10,
                   reference=lambda x: np.pad(x, ((0, 0), *expected_pads, (0, 0))))


def test_zero_padding_channels_first():
    run_layer_test(ZeroPadding2D, {"padding": ((1, 0), (2, 1)), "data_format": "channels_first"},
                   (2, 2, 3, 4), seed=11,
                   reference=lambda x: np.pad(x, ((0, 0), (0, 0), (1, 0), (2, 1))))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_up_sampling(data_format):
    """Against repeat in NumPy and torch's nearest interpolation."""
    axes = (1, 2) if data_format == "channels_last" else (2, 3)

    def torch_reference(t):
        interpolate = _torch().nn.functional.interpolate
        if data_format == "channels_first":
            return interpolate(t, scale_factor=(2, 3), mode="nearest")
        return interpolate(t.permute(0, 3, 1, 2), scale_factor=(2, 3),
                           mode="nearest").permute(0, 2, 3, 1)

    run_layer_test(UpSampling2D, {"size": (2, 3), "data_format": data_format}, (2, 3, 4, 2),
                   seed=12, reference=lambda x: x.repeat(2, axis=axes[0]).repeat(3, axis=axes[1]),
                   torch_reference=torch_reference)


# ---------------------------------------------------------------------------- spatial dropout


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout_drops_whole_channels(data_format):
    x = np.ones((8, 5, 5, 16)) if data_format == "channels_last" else np.ones((8, 16, 5, 5))
    layer = SpatialDropout2D(0.5, seed=0, data_format=data_format, dtype="float64")
    y = layer(x, training=True)
    maps = y if data_format == "channels_last" else y.transpose(0, 2, 3, 1)
    per_channel = maps.reshape(8, 25, 16)
    assert np.all(per_channel == per_channel[:, :1])  # constant over each feature map
    assert set(np.unique(y)) == {0.0, 2.0}           # inverted scaling 1 / (1 - rate)
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), y)
    np.testing.assert_array_equal(layer(x, training=False), x)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout_gradients(data_format):
    run_layer_test(SpatialDropout2D, {"rate": 0.4, "seed": 1, "data_format": data_format},
                   (3, 4, 4, 5), training=True, seed=14)


def test_spatial_dropout_rejects_bad_input():
    layer = SpatialDropout2D(0.2, name="sd")
    with pytest.raises(ValueError, match=r"SpatialDropout2D\(name='sd'\): expected input of shape "
                                         r"\(batch, height, width, channels\); got \(4, 10\)\."):
        layer(np.zeros((4, 10), dtype=np.float32), training=True)
    with pytest.raises(ValueError, match=r"rate must be a float in \[0, 1\); got rate=1"):
        SpatialDropout2D(1)


# ---------------------------------------------------------------------------- more configurations


@pytest.mark.parametrize("layer_class, kwargs", [
    (MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}),
    (AveragePooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}),
    (AveragePooling2D, {"pool_size": 2}),
    (SumPooling2D, {"pool_size": 2, "strides": 1}),
    (GlobalAveragePooling2D, {}),
    (GlobalMaxPooling2D, {}),
    (ZeroPadding2D, {"padding": 2}),
    (UpSampling2D, {"size": 2}),
    (SpatialDropout2D, {"rate": 0.5, "seed": 3}),
], ids=["max_same", "average_same", "average", "sum", "global_average", "global_max",
        "zero_padding", "up_sampling", "spatial_dropout"])
def test_pooling_layers_in_training_mode(layer_class, kwargs):
    """Every layer of the family through the harness (float32 kept, gradients, config) with
    training=True, as a training step calls them."""
    run_layer_test(layer_class, kwargs, input_data=distinct_values((2, 7, 6, 3), seed=15),
                   training=True)


@pytest.mark.parametrize("layer_class, kwargs, shape", [
    (MaxPooling2D, {"pool_size": (2, 3), "strides": (1, 2), "padding": "same",
                    "data_format": "channels_first", "name": "p"}, (2, 2, 5, 7)),
    (AveragePooling2D, {"pool_size": 3}, (2, 6, 6, 2)),
    (SumPooling2D, {}, (2, 4, 4, 2)),
    (GlobalAveragePooling2D, {"keepdims": True}, (2, 3, 4, 2)),
    (GlobalMaxPooling2D, {"data_format": "channels_first"}, (2, 3, 4, 5)),
    (ZeroPadding2D, {"padding": ((1, 2), (3, 4))}, (2, 3, 3, 2)),
    (UpSampling2D, {"size": (2, 3)}, (2, 2, 3, 2)),
    (SpatialDropout2D, {"rate": 0.3, "seed": 4, "data_format": "channels_first"}, (2, 3, 4, 4)),
], ids=["max", "average", "sum", "global_average", "global_max", "zero_padding", "up_sampling",
        "spatial_dropout"])
def test_pooling_config_round_trip(layer_class, kwargs, shape):
    run_layer_test(layer_class, kwargs, input_data=distinct_values(shape, seed=16))


# ---------------------------------------------------------------------------- contract


@pytest.mark.parametrize("layer, input_shape, expected", [
    (MaxPooling2D(2), (None, 26, 26, 32), (None, 13, 13, 32)),
    (MaxPooling2D(2), (None, 11, 11, 64), (None, 5, 5, 64)),
    (MaxPooling2D(3, 2, "same"), (8, 11, 10, 4), (8, 6, 5, 4)),
    (AveragePooling2D(2, data_format="channels_first"), (None, 3, 9, 8), (None, 3, 4, 4)),
    (SumPooling2D(2), (None, None, None, 3), (None, None, None, 3)),
    (GlobalMaxPooling2D(), (None, 5, 5, 7), (None, 7)),
    (GlobalAveragePooling2D(keepdims=True, data_format="channels_first"), (None, 7, 5, 5),
     (None, 7, 1, 1)),
    (ZeroPadding2D(1), (None, 28, None, 1), (None, 30, None, 1)),
])
def test_pooling_compute_output_shape(layer, input_shape, expected):
    assert layer.compute_output_shape(input_shape) == expected


@pytest.mark.parametrize("make, match", [
    (lambda: MaxPooling2D(0, name="p"),
     (r"MaxPooling2D\(name='p'\): pool_size must be a positive int or a tuple of 2 positive ints; "
     r"got pool_size=0")),
    (lambda: AveragePooling2D(2, strides=(2, 0)), r"got strides=\(2, 0\)"),
    (lambda: SumPooling2D(2, padding="full"),
     r"padding must be one of \['valid', 'same'\]; got padding='full'"),
    (lambda: MaxPooling2D(data_format="channels_middle"), r"data_format must be one of"),
    (lambda: ZeroPadding2D(-1), (r"padding must be a non-negative int or a tuple of 2 "
                                r"non-negative ints; got padding=-1")),
    (lambda: ZeroPadding2D(((1, 2), (3,))), r"got padding=\(3,\)"),
    (lambda: UpSampling2D(interpolation="bilinear"),
     r"interpolation must be one of \['nearest'\]; got interpolation='bilinear'"),
    (lambda: UpSampling2D(0), r"size must be a positive int"),
])
def test_pooling_rejects_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_pooling_rejects_bad_input():
    layer = MaxPooling2D(3, name="p")
    with pytest.raises(ValueError, match=r"MaxPooling2D\(name='p'\): expected input of shape "
                                         r"\(batch, height, width, channels\); got \(2, 9, 9\)\."):
        layer(np.zeros((2, 9, 9), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, height >= 3, "
                                         r"width >= 3, 1\) for pool_size=\(3, 3\), "
                                         r"padding='valid'; got \(2, 2, 9, 1\)\."):
        layer(np.zeros((2, 2, 9, 1), dtype=np.float32))
    with pytest.raises(ValueError, match=r"GlobalAveragePooling2D\(name='g'\): expected input"):
        GlobalAveragePooling2D(name="g")(np.zeros((2, 9), dtype=np.float32))
