"""The fast kernels give the numbers of the plain ones (issue 13), in float64 and float32.

Convolution: im2col with the bias column and the one-product col2im against a direct loop over
output pixels. Max pooling: the tiled kernels against the window kernels, ties included. The
compiled (numba) kernels against the NumPy ones, when numba is installed. The vectorized erf
against math.erf.
"""

import math

import numpy as np
import pytest

from dendrite import conv_kernels as ck
from dendrite import jit_kernels
from dendrite import pooling_kernels as pk

DTYPES = ["float64", "float32"]
TOLERANCE = {"float64": {"rtol": 1e-12, "atol": 1e-12}, "float32": {"rtol": 1e-4, "atol": 1e-4}}


def direct_conv(x, w, b, strides, pads, dilation):
    """z[n, i, j, f] = b[f] + sum over (a, c, ch) of x_pad[n, i*s + a*d, j*s + c*d, ch]
    w[a, c, ch, f], one output pixel at a time (float64)."""
    x = ck.pad2d(x.astype("float64"), pads)
    kh, kw, _, filters = w.shape
    out_h = (x.shape[1] - dilation[0] * (kh - 1) - 1) // strides[0] + 1
    out_w = (x.shape[2] - dilation[1] * (kw - 1) - 1) // strides[1] + 1
    z = np.zeros((x.shape[0], out_h, out_w, filters))
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(i * strides[0], i * strides[0] + dilation[0] * (kh - 1) + 1, dilation[0])
            cols = slice(j * strides[1], j * strides[1] + dilation[1] * (kw - 1) + 1, dilation[1])
            z[:, i, j] = np.einsum("nabc,abcf->nf", x[:, rows, cols], w.astype("float64"))
    return z if b is None else z + b


def direct_conv_grads(x, w, dz, strides, pads, dilation):
    """dX, dW and db of :func:`direct_conv`, by the adjoint loop over output pixels (float64)."""
    xp_ = ck.pad2d(x.astype("float64"), pads)
    kh, kw = w.shape[:2]
    dx = np.zeros_like(xp_)
    dw = np.zeros(w.shape)
    for i in range(dz.shape[1]):
        for j in range(dz.shape[2]):
            rows = slice(i * strides[0], i * strides[0] + dilation[0] * (kh - 1) + 1, dilation[0])
            cols = slice(j * strides[1], j * strides[1] + dilation[1] * (kw - 1) + 1, dilation[1])
            dx[:, rows, cols] += np.einsum("nf,abcf->nabc", dz[:, i, j], w.astype("float64"))
            dw += np.einsum("nabc,nf->abcf", xp_[:, rows, cols], dz[:, i, j].astype("float64"))
    return ck.crop2d(dx, pads), dw, dz.sum(axis=(0, 1, 2))


CONV_CASES = [  # (x shape, kernel shape, strides, pads, dilation)
    ((3, 9, 8, 1), (3, 3, 1, 4), (1, 1), ((0, 0), (0, 0)), (1, 1)),   # one channel (MNIST layer 1)
    ((3, 9, 8, 5), (3, 3, 5, 4), (1, 1), ((0, 0), (0, 0)), (1, 1)),
    ((2, 9, 10, 3), (3, 2, 3, 6), (2, 3), ((1, 1), (0, 1)), (1, 1)),  # strided, padded
    ((2, 11, 9, 2), (2, 3, 2, 3), (1, 2), ((2, 1), (1, 1)), (2, 2)),  # dilated
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_kernels_match_direct_loops(case, use_bias, dtype):
    x_shape, w_shape, strides, pads, dilation = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[-1]).astype(dtype) if use_bias else None
    z, cols = ck.conv2d_forward(x, w, b, strides, pads, dilation)
    assert z.dtype == dtype and cols.dtype == dtype
    np.testing.assert_allclose(z, direct_conv(x, w, b, strides, pads, dilation), **TOLERANCE[dtype])

    dz = rng.standard_normal(z.shape).astype(dtype)
    dw = np.full(w.shape, 0.5, dtype=dtype)  # gradients are added into what is there
    db = np.full(w.shape[-1], 0.5, dtype=dtype) if use_bias else None
    dx = ck.conv2d_backward(dz, cols, w, x.shape, strides, pads, dilation, dw, db)
    dx_ref, dw_ref, db_ref = direct_conv_grads(x, w, dz, strides, pads, dilation)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, dx_ref, **TOLERANCE[dtype])
    np.testing.assert_allclose(dw, dw_ref + 0.5, **TOLERANCE[dtype])
    if use_bias:
        np.testing.assert_allclose(db, db_ref + 0.5, **TOLERANCE[dtype])
    assert ck.conv2d_backward(dz, cols, w, x.shape, strides, pads, dilation, dw, db,
                              need_dx=False) is None


@pytest.mark.parametrize("col2im", [ck.col2im, ck.col2im_numpy])
@pytest.mark.parametrize("bias_column", [False, True])
@pytest.mark.parametrize("channels", [1, 3])
def test_col2im_is_the_adjoint_of_im2col(channels, bias_column, col2im):
    """<im2col(x), D> = <x, col2im(D)> for every x and D (the defining property of col2im)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 6, channels))
    kernel, strides, dilation, out = (3, 2), (2, 1), (1, 2), (3, 4)
    cols = ck.im2col(x, kernel, strides, dilation, out, bias_column=bias_column)
    size = kernel[0] * kernel[1] * channels
    assert cols.shape == (2 * 3 * 4, size + bias_column)
    if bias_column:
        np.testing.assert_array_equal(cols[:, -1], 1.0)
    d = rng.standard_normal((cols.shape[0], size))
    dx = col2im(d, x.shape, kernel, strides, dilation, ((0, 0), (0, 0)))
    assert math.isclose(np.sum(cols[:, :size] * d), np.sum(x * dx), rel_tol=1e-12)


# ---------------------------------------------------------------------------- max pooling

TILED_CASES = [  # (x shape, pool_size, pads)
    ((3, 8, 6, 4), (2, 2), ((0, 0), (0, 0))),
    ((3, 11, 11, 5), (2, 2), ((0, 0), (0, 0))),   # trailing row and column outside every window
    ((2, 7, 5, 3), (2, 2), ((0, 1), (0, 1))),     # "same": -inf padding after
    ((2, 9, 7, 2), (3, 3), ((0, 0), (1, 1))),
    ((2, 6, 9, 2), (2, 3), ((0, 0), (0, 0))),
]


def tied_values(shape, dtype, seed=0):
    """Values from a handful of levels: most windows hold ties (as ReLU outputs hold zeros)."""
    return np.random.default_rng(seed).integers(-1, 3, size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("values", ["continuous", "tied"])
@pytest.mark.parametrize("case", TILED_CASES)
def test_tiled_max_pooling_matches_window_kernels(case, values, dtype):
    shape, pool, pads = case
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(shape).astype(dtype) if values == "continuous"
         else tied_values(shape, dtype))
    assert pk.is_tiled(pool, pool)
    y, x_padded, argmax = pk.max_pool2d_forward(x, pool, pool, pads, argmax=True)
    y_ref = pk.max_pool2d_windows_forward(x_padded, pool, pool)
    np.testing.assert_array_equal(y, y_ref)
    assert argmax.dtype == np.uint8 and argmax.shape == y.shape
    assert argmax.max() < pool[0] * pool[1]

    dy = rng.standard_normal(y.shape).astype(dtype)
    dx_ref = ck.crop2d(pk.max_pool2d_windows_backward(dy, x_padded, y_ref, pool, pool), pads)
    dx = pk.max_pool2d_backward(dy, x_padded, y, pool, pool, pads, argmax)
    np.testing.assert_array_equal(dx, dx_ref)
    # without the record from forward (inference-mode forward), backward computes it
    y_inference, _, none = pk.max_pool2d_forward(x, pool, pool, pads)
    assert none is None
    np.testing.assert_array_equal(y_inference, y)
    np.testing.assert_array_equal(pk.max_pool2d_backward(dy, x_padded, y, pool, pool, pads), dx)
    # each window sends its whole gradient to exactly one input: sums are kept
    np.testing.assert_allclose(dx.sum(), dy.sum(), rtol=1e-5)


def test_tiled_max_pooling_routes_ties_to_the_first_maximum():
    x = np.zeros((1, 2, 4, 1))
    x[0, 1, 3, 0] = x[0, 0, 3, 0] = 1.0   # second window: tie between (0, 1) and (1, 1)
    dy = np.array([[[[2.0], [3.0]]]])
    y, x_padded, argmax = pk.max_pool2d_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0)), argmax=True)
    np.testing.assert_array_equal(argmax.ravel(), [0, 1])
    dx = pk.max_pool2d_backward(dy, x_padded, y, (2, 2), (2, 2), ((0, 0), (0, 0)), argmax)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[2.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]])


# ---------------------------------------------------------------------------- erf (exact GELU)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vectorized_erf_matches_math_erf(dtype):
    from dendrite.activations import erf

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(2000) * 3, [0.0, 1e-300, -1e-8, 1.9999999, 2.0,
                                                        -2.0, 5.99, 6.0, 9.0, -40.0]])
    x = x.astype(dtype)
    reference = np.array([math.erf(v) for v in x.astype("float64")])
    y = erf(x)
    assert y.dtype == dtype and y.shape == x.shape
    rtol = 1e-13 if dtype == "float64" else 5e-7
    np.testing.assert_allclose(y, reference, rtol=rtol, atol=1e-300)
    np.testing.assert_array_equal(erf(np.array([np.inf, -np.inf], dtype=dtype)), [1.0, -1.0])
    assert np.isnan(erf(np.array([np.nan], dtype=dtype)))[0]


def test_erf_keeps_float16_and_empty_arrays():
    from dendrite.activations import erf

    half = erf(np.array([0.5, -3.0], dtype="float16"))
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, [math.erf(0.5), math.erf(-3.0)], rtol=1e-3)
    assert erf(np.zeros((0, 3))).shape == (0, 3)


# ---------------------------------------------------------------------------- compiled (numba)

needs_numba = pytest.mark.skipif(not jit_kernels.usable(np.zeros(1)),
                                 reason="numba not installed (pip install dendrite[fast])")


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_compiled_col2im_matches_numpy(case, dtype):
    x_shape, w_shape, strides, pads, dilation = case
    kernel = w_shape[:2]
    out = [ck.output_length(x_shape[1 + a], kernel[a], strides[a], pads[a], dilation[a])
           for a in (0, 1)]
    rng = np.random.default_rng(4)
    dcols = rng.standard_normal((x_shape[0] * out[0] * out[1],
                                 kernel[0] * kernel[1] * x_shape[3])).astype(dtype)
    compiled = ck.col2im(dcols, x_shape, kernel, strides, dilation, pads)
    plain = ck.col2im_numpy(dcols, x_shape, kernel, strides, dilation, pads)
    assert compiled.dtype == dtype and compiled.shape == x_shape
    np.testing.assert_allclose(compiled, plain, **TOLERANCE[dtype])


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("values", ["continuous", "tied"])
@pytest.mark.parametrize("case", TILED_CASES)
def test_compiled_tiled_max_pooling_matches_numpy(case, values, dtype):
    shape, pool, pads = case
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(shape).astype(dtype) if values == "continuous"
         else tied_values(shape, dtype, seed=5))
    x_padded = ck.pad2d(x, pads, value=-np.inf)
    y, argmax = pk.max_pool2d_tiled_forward(x_padded, pool, argmax=True)
    y_ref, argmax_ref = pk.max_pool2d_tiled_forward_numpy(x_padded, pool, argmax=True)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    assert pk.max_pool2d_tiled_forward(x_padded, pool)[1] is None
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = pk.max_pool2d_tiled_backward(dy, argmax, x_padded.shape, pool)
    np.testing.assert_array_equal(
        dx, pk.max_pool2d_tiled_backward_numpy(dy, argmax, x_padded.shape, pool))


def test_numpy_tiled_max_pooling_matches_window_kernels():
    """The NumPy tiled kernels against the window kernels (whether or not numba runs above)."""
    x = tied_values((3, 11, 11, 5), "float32", seed=6)
    y, argmax = pk.max_pool2d_tiled_forward_numpy(x, (2, 2), argmax=True)
    np.testing.assert_array_equal(y, pk.max_pool2d_windows_forward(x, (2, 2), (2, 2)))
    dy = np.random.default_rng(6).standard_normal(y.shape).astype("float32")
    np.testing.assert_array_equal(pk.max_pool2d_tiled_backward_numpy(dy, argmax, x.shape, (2, 2)),
                                  pk.max_pool2d_windows_backward(dy, x, y, (2, 2), (2, 2)))


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_relu_backward_matches_numpy(dtype):
    from dendrite.activations import ReLU

    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 130, 130, 1)).astype(dtype)  # above the compiled size threshold
    x[0, 0, :5] = 0.0  # the kink: gradient 0
    relu = ReLU()
    y = relu.forward(x)
    dy = rng.standard_normal(x.shape).astype(dtype)
    dz = relu.backward(dy, None, y)
    assert dz.dtype == dtype
    np.testing.assert_array_equal(dz, dy * (y > 0))
    assert not dz[0, 0, :5].any()


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_lstm_step_backward_matches_numpy(dtype, monkeypatch):
    from dendrite import activations
    from dendrite.recurrent_kernels import lstm_step_backward

    rng = np.random.default_rng(9)
    batch, units = 5, 7
    sigmoid = rng.uniform(0.05, 0.95, (batch, 3 * units))
    gates = np.concatenate([sigmoid, np.tanh(rng.standard_normal((batch, units)))], 1)
    arrays = [rng.standard_normal((batch, units)) for _ in range(4)]  # dh, dc, c_prev, c
    dh, dc, c_prev, c = (a.astype(dtype) for a in arrays)
    gates, tanh_c = gates.astype(dtype), np.tanh(c)
    kernel_t = rng.standard_normal((4 * units, units)).astype(dtype)
    tanh, sigmoid_act = activations.get("tanh"), activations.get("sigmoid")

    def run():
        dgates, dh_prev, grad_c = np.empty_like(gates), np.empty_like(dh), dc.copy()
        lstm_step_backward(dh, grad_c, gates, c_prev, tanh_c, kernel_t, dgates, dh_prev, tanh,
                           sigmoid_act)
        return dgates, dh_prev, grad_c

    compiled = run()
    monkeypatch.setattr(jit_kernels, "_kernels", False)  # the NumPy reference
    reference = run()
    for got, expected in zip(compiled, reference):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == "float32" else 1e-13,
                                   atol=1e-6 if dtype == "float32" else 1e-14)
