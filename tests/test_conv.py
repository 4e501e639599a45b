import math

import numpy as np
import pytest

from dendrite.graph import Graph
from dendrite.layers.base import Input
from dendrite.layers.conv import Conv1D, Conv2D
from dendrite.layers.core import Dense, Flatten
from dendrite.layers.normalization import BatchNormalization
from dendrite.layers.pooling import MaxPooling2D
from dendrite.testing import run_layer_test


def keras_same_pads(n, k, s, d=1):
    """(before, after) for Keras 'same' padding, written out independently of the library."""
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def reference_conv2d(x, w, b, strides, pads, dilation):
    """Direct convolution in plain NumPy, one output pixel at a time (channels last)."""
    xpad = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    kh, kw, _, filters = w.shape
    (sh, sw), (dh, dw) = strides, dilation
    out_h = (xpad.shape[1] - dh * (kh - 1) - 1) // sh + 1
    out_w = (xpad.shape[2] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((x.shape[0], out_h, out_w, filters))
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
            cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
            patch = xpad[:, rows, cols]
            y[:, i, j] = np.tensordot(patch, w, axes=3)
    return y if b is None else y + b


# (input shape (N, H, W, C), Conv2D keyword arguments)
CONV2D_CASES = [
    ((2, 6, 6, 3), {"filters": 4, "kernel_size": 3}),
    ((2, 7, 8, 2), {"filters": 3, "kernel_size": 3, "strides": 2}),
    ((2, 7, 8, 2), {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}),
    ((2, 6, 7, 2), {"filters": 3, "kernel_size": 2, "padding": "same"}),
    ((2, 6, 7, 2), {"filters": 3, "kernel_size": 4, "strides": (2, 3), "padding": "same"}),
    ((2, 8, 9, 2), {"filters": 3, "kernel_size": 3, "dilation_rate": (2, 1)}),
    ((2, 8, 9, 2), {"filters": 3, "kernel_size": (3, 2), "dilation_rate": 2, "padding": "same"}),
    ((2, 5, 9, 3), {"filters": 2, "kernel_size": (2, 4), "use_bias": False}),
]


ACTIVATIONS = {None: (lambda z: z, lambda t: t), "tanh": (np.tanh, lambda t: t.tanh()),
               "relu": (lambda z: np.maximum(z, 0), lambda t: t.relu()),
               "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda t: t.sigmoid())}


def _torch():
    """torch, imported only when the harness runs a torch reference (it skips parity without)."""
    import torch

    return torch


def _same_or_valid_pads(layer, spatial):
    """((before, after) per spatial axis) for ``layer``'s padding on inputs of ``spatial`` size."""
    if layer.padding == "same":
        return tuple(keras_same_pads(n, k, s, d) for n, k, s, d in
                     zip(spatial, layer.kernel_size, layer.strides, layer.dilation_rate))
    if layer.padding == "causal":
        return ((layer.dilation_rate[0] * (layer.kernel_size[0] - 1), 0),)
    return tuple((0, 0) for _ in spatial)


@pytest.mark.parametrize("activation", [None, "tanh", "relu"])
@pytest.mark.parametrize("shape, kwargs", CONV2D_CASES)
def test_conv2d(shape, kwargs, activation):
    """Direct NumPy convolution, float64 gradients, torch conv2d parity (NCHW, explicit Keras
    'same' pads), float32, config round trip and shape inference (run_layer_test)."""
    probe = Conv2D(**kwargs)
    (top, bottom), (left, right) = pads = _same_or_valid_pads(probe, shape[1:3])
    numpy_activation, torch_activation = ACTIVATIONS[activation]

    def reference(x, kernel, bias=None):
        return numpy_activation(reference_conv2d(x, kernel, bias, probe.strides, pads,
                                                 probe.dilation_rate))

    def torch_reference(x, kernel, bias=None):
        functional = _torch().nn.functional
        padded = functional.pad(x.permute(0, 3, 1, 2), (left, right, top, bottom))
        y = functional.conv2d(padded, kernel.permute(3, 2, 0, 1), bias, stride=probe.strides,
                              dilation=probe.dilation_rate)
        return torch_activation(y.permute(0, 2, 3, 1))

    report = run_layer_test(Conv2D, {**kwargs, "activation": activation,
                                     "bias_initializer": "random_normal"}, shape,
                            reference=reference, torch_reference=torch_reference, seed=1)
    assert set(report["gradients"]) == ({"x", "kernel"} | (
        {"bias"} if kwargs.get("use_bias", True) else set()))


@pytest.mark.parametrize("kwargs", [{"kernel_size": 3, "strides": 2, "padding": "same"},
                                    {"kernel_size": (2, 3), "dilation_rate": (1, 2)}])
def test_conv2d_channels_first(kwargs):
    """channels_first equals channels_last on transposed data, plus the harness's checks."""
    last = Conv2D(4, dtype="float64", **kwargs)
    last.ensure_built((None, 7, 6, 3))

    def reference(x, kernel, bias):
        last.set_weights([kernel, bias])
        return last(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)

    run_layer_test(Conv2D, {"filters": 4, "data_format": "channels_first",
                            "bias_initializer": "random_normal", **kwargs}, (2, 3, 7, 6),
                   reference=reference, seed=2)


def test_conv2d_relu_is_fused_and_correct():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 6, 6, 2))
    fused = Conv2D(4, 3, activation="relu", dtype="float64")
    plain = Conv2D(4, 3, dtype="float64")
    y = fused(x)
    plain.ensure_built(x.shape)
    plain.set_weights(fused.get_weights())
    z = plain(x)
    np.testing.assert_array_equal(y, np.maximum(z, 0))
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(fused.backward(dy), plain.backward(dy * (z > 0)), rtol=1e-12)


CONV1D_CASES = [
    ((2, 9, 3), {"filters": 4, "kernel_size": 3}),
    ((2, 9, 3), {"filters": 4, "kernel_size": 4, "strides": 2, "padding": "same"}),
    ((2, 9, 3), {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "causal"}),
    ((2, 10, 2), {"filters": 3, "kernel_size": 2, "strides": 3, "dilation_rate": 2}),
]


@pytest.mark.parametrize("activation", [None, "sigmoid", "relu"])
@pytest.mark.parametrize("shape, kwargs", CONV1D_CASES)
def test_conv1d(shape, kwargs, activation):
    """Conv1D as a NumPy 2-D convolution of height 1, torch conv1d parity (valid, same and
    causal padding), and the harness's other checks."""
    probe = Conv1D(**kwargs)
    (pads,) = _same_or_valid_pads(probe, shape[1:2])
    (s,), (d,) = probe.strides, probe.dilation_rate
    numpy_activation, torch_activation = ACTIVATIONS[activation]

    def reference(x, kernel, bias):
        y = reference_conv2d(x[:, None], kernel[None], bias, (1, s), ((0, 0), pads), (1, d))
        return numpy_activation(y[:, 0])

    def torch_reference(x, kernel, bias):
        functional = _torch().nn.functional
        padded = functional.pad(x.permute(0, 2, 1), pads)
        y = functional.conv1d(padded, kernel.permute(2, 1, 0), bias, stride=s, dilation=d)
        return torch_activation(y.permute(0, 2, 1))

    run_layer_test(Conv1D, {**kwargs, "activation": activation,
                            "bias_initializer": "random_normal"}, shape,
                   reference=reference, torch_reference=torch_reference, seed=4)


def test_conv1d_channels_first():
    last = Conv1D(2, 3, padding="same", dtype="float64")
    last.ensure_built((None, 8, 3))

    def reference(x, kernel, bias):
        last.set_weights([kernel, bias])
        return last(x.transpose(0, 2, 1)).transpose(0, 2, 1)

    run_layer_test(Conv1D, {"filters": 2, "kernel_size": 3, "padding": "same",
                            "data_format": "channels_first", "bias_initializer": "random_normal"},
                   (2, 3, 8), reference=reference, expected_output_shape=(2, 2, 8), seed=5)


def test_conv1d_causal_output_never_reads_the_future():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 10, 2))
    layer = Conv1D(3, 3, padding="causal", dilation_rate=2, dtype="float64")
    y = layer(x)
    x_later_changed = x.copy()
    x_later_changed[:, 6:] += 1.0
    np.testing.assert_array_equal(layer(x_later_changed)[:, :6], y[:, :6])


# ---------------------------------------------------------------------------- contract


def test_conv_skips_dx_when_not_required_but_keeps_weight_gradients():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 6, 6, 1))
    layer = Conv2D(2, 3, dtype="float64")
    dy = rng.standard_normal(layer(x).shape)
    layer.backward(dy)
    expected = layer.kernel.grad.copy()
    layer.kernel.grad[...] = 0
    assert layer.backward(dy, need_dx=False) is None
    np.testing.assert_allclose(layer.kernel.grad, expected, rtol=1e-12)


def test_conv_gradients_accumulate():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 5, 5, 2))
    layer = Conv2D(2, 3, dtype="float64")
    dy = rng.standard_normal(layer(x).shape)
    layer.backward(dy)
    once = layer.kernel.grad.copy()
    layer.backward(dy)
    np.testing.assert_allclose(layer.kernel.grad, 2 * once, rtol=1e-12)


@pytest.mark.parametrize("layer_class, kwargs, shape", [
    (Conv2D, {"filters": 8, "kernel_size": (3, 5), "strides": 2, "padding": "same",
              "dilation_rate": 1, "activation": "relu", "use_bias": False,
              "kernel_regularizer": "l2", "name": "c2"}, (2, 7, 9, 2)),
    (Conv2D, {"filters": 4, "kernel_size": 3, "data_format": "channels_first",
              "kernel_initializer": "he_normal"}, (2, 2, 5, 6)),
    (Conv1D, {"filters": 16, "kernel_size": 5, "padding": "causal", "dilation_rate": 2,
              "bias_regularizer": "l1"}, (2, 12, 3)),
], ids=["conv2d_regularized", "conv2d_channels_first", "conv1d_causal"])
def test_conv_config_round_trip(layer_class, kwargs, shape):
    """Config round trip with equal outputs (and the harness's other checks) on less common
    constructor arguments."""
    run_layer_test(layer_class, kwargs, shape, seed=12)


@pytest.mark.parametrize("layer, input_shape, expected", [
    (Conv2D(32, 3), (None, 28, 28, 1), (None, 26, 26, 32)),
    (Conv2D(8, 3, strides=2, padding="same"), (None, 28, 27, 1), (None, 14, 14, 8)),
    (Conv2D(8, 3, dilation_rate=2), (4, 9, 10, 2), (4, 5, 6, 8)),
    (Conv2D(8, 2, data_format="channels_first"), (None, 3, 5, 6), (None, 8, 4, 5)),
    (Conv2D(8, 3), (None, None, None, 3), (None, None, None, 8)),
    (Conv1D(4, 3, strides=2), (None, 11, 2), (None, 5, 4)),
    (Conv1D(4, 3, padding="causal"), (None, 11, 2), (None, 11, 4)),
])
def test_conv_compute_output_shape(layer, input_shape, expected):
    assert layer.compute_output_shape(input_shape) == expected


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, match", [
    ({"filters": 0, "kernel_size": 3}, (r"Conv2D\(name='c'\): filters must be a positive integer; "
                                     r"got filters=0")),
    ({"filters": 2, "kernel_size": 0}, (r"kernel_size must be a positive int or a tuple of 2 "
                                     r"positive ints; got kernel_size=0")),
    ({"filters": 2, "kernel_size": (3, 3, 3)}, r"got kernel_size=\(3, 3, 3\)"),
    ({"filters": 2, "kernel_size": 3, "strides": 0}, r"strides must be .*; got strides=0"),
    ({"filters": 2, "kernel_size": 3, "strides": (1, -2)}, r"got strides=\(1, -2\)"),
    ({"filters": 2, "kernel_size": 3, "dilation_rate": 0}, r"got dilation_rate=0"),
    ({"filters": 2, "kernel_size": 3, "padding": "full"},
     r"padding must be one of \['valid', 'same'\]; got padding='full'"),
    ({"filters": 2, "kernel_size": 3, "padding": "causal"}, r"padding must be one of"),
    ({"filters": 2, "kernel_size": 3, "data_format": "NHWC"},
     r"data_format must be one of \['channels_last', 'channels_first'\]"),
])
def test_conv2d_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv2D(**kwargs, name="c")


def test_conv2d_rejects_unknown_keyword():
    with pytest.raises(TypeError, match="kernel_sise"):
        Conv2D(2, 3, kernel_sise=3)


def test_conv2d_rejects_3d_input():
    layer = Conv2D(2, 3, name="c")
    expected = r"Conv2D\(name='c'\): expected input of shape \(batch, height, width, channels\); " \
               r"got \(8, 28, 28\)\."
    with pytest.raises(ValueError, match=expected):
        layer(np.zeros((8, 28, 28), dtype=np.float32))


def test_conv2d_rejects_channel_mismatch():
    layer = Conv2D(2, 3, name="c")
    layer(np.zeros((1, 5, 5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"Conv2D\(name='c'\): expected input of shape "
                                         r"\(batch, height, width, 3\); got \(1, 3, 5, 5\)\."):
        layer(np.zeros((1, 3, 5, 5), dtype=np.float32))
    first = Conv2D(2, 3, data_format="channels_first", name="f")
    first(np.zeros((1, 3, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(batch, 3, height, width\); got \(1, 5, 5, 3\)"):
        first(np.zeros((1, 5, 5, 3), dtype=np.float32))


def test_conv_rejects_kernel_larger_than_input():
    layer = Conv2D(2, (5, 3), dilation_rate=(1, 2), name="c")
    match = (r"Conv2D\(name='c'\): expected input of shape \(batch, height >= 5, width >= 5, 1\) "
             r"for kernel_size=\(5, 3\), dilation_rate=\(1, 2\), padding='valid'; "
             r"got \(2, 4, 6, 1\)\.")
    with pytest.raises(ValueError, match=match):
        layer(np.zeros((2, 4, 6, 1), dtype=np.float32))
    with pytest.raises(ValueError, match=match.replace(r"\(2, 4", r"\(None, 4")):
        layer.compute_output_shape((None, 4, 6, 1))
    built = Conv2D(2, 3, name="c")
    built(np.zeros((1, 5, 5, 1), dtype=np.float32))
    with pytest.raises(ValueError, match=r"height >= 3, width >= 3, 1\) .*got \(1, 2, 5, 1\)"):
        built(np.zeros((1, 2, 5, 1), dtype=np.float32))


def test_conv1d_rejects_bad_input():
    layer = Conv1D(2, 3, name="c1")
    with pytest.raises(ValueError, match=r"Conv1D\(name='c1'\): expected input of shape "
                                         r"\(batch, steps, channels\); got \(2, 5, 5, 1\)\."):
        layer(np.zeros((2, 5, 5, 1), dtype=np.float32))
    with pytest.raises(ValueError, match=r"kernel_size must be a positive int; got kernel_size="
                                         r"\(3, 3\)"):
        Conv1D(2, (3, 3))


# ---------------------------------------------------------------------------- in a graph


def test_convnet_runs_through_the_graph_engine():
    """Conv2D -> MaxPooling2D -> BatchNormalization -> Flatten -> Dense, built with a None batch."""
    rng = np.random.default_rng(12)
    inputs = Input(shape=(9, 9, 1))
    conv = Conv2D(4, 3, activation="relu", dtype="float64")
    pool = MaxPooling2D(2, dtype="float64")
    norm = BatchNormalization(dtype="float64")
    dense = Dense(3, dtype="float64")
    hidden = norm(pool(conv(inputs)))
    outputs = dense(Flatten(dtype="float64")(hidden))
    assert hidden.shape == (None, 3, 3, 4)
    assert outputs.shape == (None, 3)
    graph = Graph([inputs], [outputs])
    x = rng.standard_normal((5, 9, 9, 1))
    (y,) = graph.forward([x], training=True)
    assert y.shape == (5, 3)
    graph.backward([rng.standard_normal(y.shape)])
    assert np.abs(conv.kernel.grad).sum() > 0
    assert np.abs(norm.gamma.grad).sum() > 0
