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
from dendrite.testing import check_gradients


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
]

LAYERS = {"max": (MaxPooling2D, np.max), "average": (AveragePooling2D, np.mean),
          "sum": (SumPooling2D, np.sum)}


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("shape, pool_size, strides, padding", POOL_CASES)
def test_pooling_forward_matches_reference(kind, shape, pool_size, strides, padding):
    layer_class, reduce = LAYERS[kind]
    x = np.random.default_rng(1).standard_normal(shape)
    layer = layer_class(pool_size, strides, padding, dtype="float64")
    y = layer(x)
    expected = reference_pool(x, pool_size, strides or pool_size, padding, reduce)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert y.shape[1:] == layer.compute_output_shape((None, *shape[1:]))[1:]


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("shape, pool_size, strides, padding", POOL_CASES)
def test_pooling_gradients(kind, shape, pool_size, strides, padding):
    layer_class, _ = LAYERS[kind]
    check_gradients(layer_class(pool_size, strides, padding, dtype="float64"),
                    distinct_values(shape))


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_pooling_channels_first(kind):
    layer_class, _ = LAYERS[kind]
    x = distinct_values((2, 3, 7, 6), seed=2)
    first = layer_class(3, 2, "same", data_format="channels_first", dtype="float64")
    check_gradients(first, x)
    last = layer_class(3, 2, "same", dtype="float64")
    y = first(x)
    np.testing.assert_allclose(y, last(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2), rtol=1e-12)
    assert y.shape == first.compute_output_shape(x.shape)


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


def _torch_pool_parity(torch_pool, layer, x, tolerance=1e-10):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_()
    yt = torch_pool(xt)
    yt.backward(torch.from_numpy(dy.transpose(0, 3, 1, 2).copy()))
    close = {"rtol": tolerance, "atol": 1e-12}
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), **close)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), **close)


@pytest.mark.parametrize("shape, pool_size, strides, padding", POOL_CASES)
def test_max_pool_matches_torch(shape, pool_size, strides, padding):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    strides = strides or pool_size
    if padding == "same":
        (top, bottom), (left, right) = (keras_same_pads(n, k, s) for n, k, s in
                                        zip(shape[1:3], pool_size, strides))
    else:
        top = bottom = left = right = 0

    def torch_pool(xt):
        padded = functional.pad(xt, (left, right, top, bottom), value=-math.inf)
        return functional.max_pool2d(padded, pool_size, strides)

    layer = MaxPooling2D(pool_size, strides, padding, dtype="float64")
    _torch_pool_parity(torch_pool, layer, distinct_values(shape, seed=6))


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
    torch = pytest.importorskip("torch")

    def torch_pool(xt):
        return torch.nn.functional.avg_pool2d(xt, pool_size, strides, **torch_kwargs)

    layer = AveragePooling2D(pool_size, strides, padding, dtype="float64")
    _torch_pool_parity(torch_pool, layer, np.random.default_rng(7).standard_normal(shape))


def test_sum_pool_matches_torch():
    torch = pytest.importorskip("torch")

    def torch_pool(xt):  # sum pooling is average pooling times the window size
        return torch.nn.functional.avg_pool2d(xt, (2, 3), (1, 2)) * 6

    layer = SumPooling2D((2, 3), (1, 2), dtype="float64")
    _torch_pool_parity(torch_pool, layer, np.random.default_rng(8).standard_normal((2, 5, 7, 2)))


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
    layer = layer_class(keepdims=keepdims, data_format=data_format, dtype="float64")
    y = layer(x)
    np.testing.assert_allclose(y, reduce(x, axis=axes, keepdims=keepdims), rtol=1e-12)
    assert y.shape == layer.compute_output_shape(x.shape)
    check_gradients(layer, x)


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
    x = np.random.default_rng(10).standard_normal((2, 3, 4, 2))
    layer = ZeroPadding2D(padding, dtype="float64")
    y = layer(x)
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), *expected_pads, (0, 0))))
    assert y.shape == layer.compute_output_shape(x.shape)
    check_gradients(layer, x)


def test_zero_padding_channels_first():
    x = np.random.default_rng(11).standard_normal((2, 2, 3, 4))
    layer = ZeroPadding2D(((1, 0), (2, 1)), data_format="channels_first", dtype="float64")
    np.testing.assert_array_equal(layer(x), np.pad(x, ((0, 0), (0, 0), (1, 0), (2, 1))))
    check_gradients(layer, x)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_up_sampling(data_format):
    x = np.random.default_rng(12).standard_normal((2, 3, 4, 2))
    layer = UpSampling2D((2, 3), data_format=data_format, dtype="float64")
    y = layer(x)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    np.testing.assert_array_equal(y, x.repeat(2, axis=axes[0]).repeat(3, axis=axes[1]))
    assert y.shape == layer.compute_output_shape(x.shape)
    check_gradients(layer, x)


def test_up_sampling_matches_torch():
    torch = pytest.importorskip("torch")

    def torch_pool(xt):
        return torch.nn.functional.interpolate(xt, scale_factor=(2, 3), mode="nearest")

    layer = UpSampling2D((2, 3), dtype="float64")
    _torch_pool_parity(torch_pool, layer, np.random.default_rng(13).standard_normal((2, 3, 4, 2)))


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


def test_spatial_dropout_gradients():
    x = np.random.default_rng(14).standard_normal((3, 4, 4, 5))
    check_gradients(SpatialDropout2D(0.4, seed=1, dtype="float64"), x, training=True)


def test_spatial_dropout_rejects_bad_input():
    layer = SpatialDropout2D(0.2, name="sd")
    with pytest.raises(ValueError, match=r"SpatialDropout2D\(name='sd'\): expected input of shape "
                                         r"\(batch, height, width, channels\); got \(4, 10\)\."):
        layer(np.zeros((4, 10), dtype=np.float32), training=True)
    with pytest.raises(ValueError, match=r"rate must be a float in \[0, 1\); got rate=1"):
        SpatialDropout2D(1)


# ---------------------------------------------------------------------------- contract


@pytest.mark.parametrize("layer", [
    MaxPooling2D(3, 2, "same"), AveragePooling2D(3, 2, "same"), AveragePooling2D(2),
    SumPooling2D(2, 1), GlobalAveragePooling2D(), GlobalMaxPooling2D(), ZeroPadding2D(2),
    UpSampling2D(2), SpatialDropout2D(0.5),
])
def test_pooling_keeps_float32(layer):
    x = np.random.default_rng(15).standard_normal((2, 7, 6, 3)).astype(np.float32)
    y = layer(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert dx.shape == x.shape


@pytest.mark.parametrize("layer", [
    MaxPooling2D((2, 3), strides=(1, 2), padding="same", data_format="channels_first", name="p"),
    AveragePooling2D(3), SumPooling2D(), GlobalAveragePooling2D(keepdims=True),
    GlobalMaxPooling2D(data_format="channels_first"), ZeroPadding2D(((1, 2), (3, 4))),
    UpSampling2D((2, 3)), SpatialDropout2D(0.3, seed=4, data_format="channels_first"),
])
def test_pooling_config_round_trip(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config


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
