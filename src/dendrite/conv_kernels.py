"""Kernel functions for convolution: the math the conv layers call (pooling: pooling_kernels).

Layout: channels last. ``x`` is (batch, height, width, channels), a convolution kernel ``w`` is
(kernel_h, kernel_w, in_channels, filters) as in Keras. Spatial arguments are pairs
``(along height, along width)``; ``pads`` is ``((top, bottom), (left, right))``.

Everything is vectorized over the batch, the output pixels and the channels; the only Python loops
run over the kernel_h * kernel_w window offsets, each iteration one strided-slice operation.

Output size along one axis, for input length ``n``, window ``k``, stride ``s``, dilation ``d`` and
padding ``p_before + p_after``::

    out = floor((n + p_before + p_after - d * (k - 1) - 1) / s) + 1
"""

from dendrite import jit_kernels
from dendrite.backend import get_array_module, host
from dendrite.backend_ops import as_strided

PADDINGS = ("valid", "same")


# ---------------------------------------------------------------------------- geometry


def padding_amounts(length, kernel_size, stride, padding, dilation=1):
    """(before, after) padding of one spatial axis.

    ``"valid"``: none. ``"same"`` (Keras/TensorFlow): total = max((ceil(n/s) - 1) * s + d * (k - 1)
    + 1 - n, 0), before = total // 2, after = total - before, so the output has ceil(n/s) elements.
    ``"causal"`` (1-D): d * (k - 1) before, none after.
    """
    extent = dilation * (kernel_size - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return extent - 1, 0
    total = max((-(-length // stride) - 1) * stride + extent - length, 0)
    return total // 2, total - total // 2


def output_length(length, kernel_size, stride, pads, dilation=1):
    """Output elements along one axis (formula in the module docstring); None if length is None."""
    if length is None:
        return None
    extent = dilation * (kernel_size - 1) + 1
    return (length + pads[0] + pads[1] - extent) // stride + 1


def _window_slice(offset, count, stride):
    """The slice of a padded axis that a window offset reads for ``count`` outputs."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


def _windows(kernel_size, out_size, strides, dilation=(1, 1)):
    """Yield (i, j, index) for each window offset (row-major); index selects the strided slice."""
    for i in range(kernel_size[0]):
        rows = _window_slice(i * dilation[0], out_size[0], strides[0])
        for j in range(kernel_size[1]):
            cols = _window_slice(j * dilation[1], out_size[1], strides[1])
            yield i, j, (slice(None), rows, cols, slice(None))


def pad2d(x, pads, value=0.0):
    """``x`` (batch, h, w, c) padded with ``value``; ``x`` itself when ``pads`` are all zero."""
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x
    xp = get_array_module(x)
    n, h, w, c = x.shape
    out = xp.empty((n, h + top + bottom, w + left + right, c), dtype=x.dtype)
    out[:, :top] = value
    out[:, top + h:] = value
    out[:, top:top + h, :left] = value
    out[:, top:top + h, left + w:] = value
    out[:, top:top + h, left:left + w] = x
    return out


def crop2d(x, pads):
    """The inverse of :func:`pad2d`: a view of ``x`` without the padding."""
    (top, bottom), (left, right) = pads
    return x[:, top:x.shape[1] - bottom, left:x.shape[2] - right]


# ---------------------------------------------------------------------------- convolution


def im2col(x, kernel_size, strides, dilation, out_size, bias_column=False):
    """Gather every receptive field of the (already padded) ``x`` into one row.

    # im2col: (N, H, W, C) -> (N*out_h*out_w, kh*kw*C), row (n, i, j) holding the window at (i, j)

    A strided view (no copy) presents the windows as (N, out_h, out_w, kh, kw, C); one copy writes
    them into the matrix. A single-channel input is copied one window offset at a time into the
    transposed matrix instead (long contiguous runs: 3x faster for MNIST), and the result is its
    (Fortran-ordered) transpose view; matrix products accept either order.

    With ``bias_column`` the matrix gets one more column of ones, so that a product with the kernel
    stacked on the bias adds the bias for free (a whole pass over the output saved).
    """
    xp = get_array_module(x)
    kh, kw = kernel_size
    out_h, out_w = out_size
    n, _, _, c = x.shape
    extra = 1 if bias_column else 0
    if c == 1:
        cols_t = xp.empty((kh * kw + extra, n * out_h * out_w), dtype=x.dtype)
        cells = cols_t[: kh * kw].reshape(kh, kw, n, out_h, out_w)
        for i, j, index in _windows(kernel_size, out_size, strides, dilation):
            cells[i, j] = x[index][..., 0]
        if bias_column:
            cols_t[-1] = 1
        return cols_t.T
    s_n, s_h, s_w, s_c = x.strides
    windows = as_strided(
        x,
        (n, out_h, out_w, kh, kw, c),
        (s_n, s_h * strides[0], s_w * strides[1], s_h * dilation[0], s_w * dilation[1], s_c),
    )
    cols = xp.empty((n * out_h * out_w, kh * kw * c + extra), dtype=x.dtype)
    cols[:, : kh * kw * c].reshape(n, out_h, out_w, kh, kw, c)[...] = windows  # a view: no copy
    if bias_column:
        cols[:, -1] = 1
    return cols


def col2im(dcols, x_shape, kernel_size, strides, dilation, pads):
    """The adjoint of :func:`im2col`: add each row's window back onto the pixels it was read from.

    ``dcols`` is (N*out_h*out_w, kh*kw*C); returns dX, (N, H, W, C) for the unpadded ``x_shape``.
    Runs the compiled loop of :mod:`dendrite.jit_kernels` when numba is installed (one pass, each
    pixel summed in place), else :func:`col2im_numpy`.
    """
    if not jit_kernels.usable(dcols):
        return col2im_numpy(dcols, x_shape, kernel_size, strides, dilation, pads)
    (top, bottom), (left, right) = pads
    n, h, w, c = x_shape
    dx = host.empty((n, h + top + bottom, w + left + right, c), dtype=dcols.dtype)
    out_h = output_length(h, kernel_size[0], strides[0], pads[0], dilation[0])
    out_w = output_length(w, kernel_size[1], strides[1], pads[1], dilation[1])
    jit_kernels.kernels().col2im(dcols, dx, out_h, out_w, *kernel_size, *strides, *dilation)
    return crop2d(dx, pads)


def col2im_numpy(dcols, x_shape, kernel_size, strides, dilation, pads):
    """:func:`col2im` with array operations: one strided ``+=`` per window offset, each over the
    whole batch (the reference the compiled loop is tested against)."""
    xp = get_array_module(dcols)
    (top, bottom), (left, right) = pads
    n, h, w, c = x_shape
    kh, kw = kernel_size
    dx = xp.zeros((n, h + top + bottom, w + left + right, c), dtype=dcols.dtype)
    out_size = (output_length(h, kh, strides[0], pads[0], dilation[0]),
                output_length(w, kw, strides[1], pads[1], dilation[1]))
    cells = dcols.reshape(n, *out_size, kh, kw, c)
    for i, j, index in _windows(kernel_size, out_size, strides, dilation):
        dx[index] += cells[:, :, :, i, j]
    return crop2d(dx, pads)


def conv2d_forward(x, w, b, strides, pads, dilation):
    """z = conv(x, w) + b, by im2col and one matrix product.

    With a bias, the im2col matrix carries a column of ones and the product is with the kernel
    stacked on the bias: z = [cols, 1] @ [[W], [b]] (no separate pass adding b).

    Args:
        x: (N, H, W, C). w: (kh, kw, C, F). b: (F,) or None.
        strides, dilation: pairs of positive ints. pads: ((top, bottom), (left, right)).

    Returns:
        (z, cols): z is (N, out_h, out_w, F), a new array; cols the im2col matrix backward needs,
        (N*out_h*out_w, kh*kw*C), with the column of ones last when ``b`` is given.
    """
    xp = get_array_module(x)
    kh, kw, _, filters = w.shape
    out_size = (output_length(x.shape[1], kh, strides[0], pads[0], dilation[0]),
                output_length(x.shape[2], kw, strides[1], pads[1], dilation[1]))
    cols = im2col(pad2d(x, pads), (kh, kw), strides, dilation, out_size, bias_column=b is not None)
    kernel = w.reshape(-1, filters)
    if b is not None:
        kernel = xp.concatenate([kernel, b.reshape(1, filters)])
    z = cols @ kernel  # (N*out_h*out_w, kh*kw*C [+ 1]) @ (kh*kw*C [+ 1], F)
    return z.reshape(x.shape[0], *out_size, filters), cols


def conv2d_backward(dz, cols, w, x_shape, strides, pads, dilation, dw, db=None, need_dx=True):
    """Gradients of :func:`conv2d_forward` given dz = dL/dz, (N, out_h, out_w, F).

    dW = cols^T @ dz (with the column of ones, its last row is db = the sum of dz over batch and
    pixels, in the same product), and dX = col2im(dz @ W^T): one matrix product for all window
    offsets (one large product is about twice as fast as one per offset), then :func:`col2im`.
    dW and db are added into ``dw`` and ``db`` (``+=``); returns dX, (N, H, W, C), or None when
    ``need_dx`` is false.
    """
    xp = get_array_module(dz)
    kh, kw, channels, filters = w.shape
    size = kh * kw * channels
    dz2 = dz.reshape(-1, filters)
    grads = cols.T @ dz2  # (kh*kw*C [+ 1], F)
    dw += grads[:size].reshape(dw.shape)
    if db is not None:
        if cols.shape[1] > size:
            db += grads[size]
        else:
            # db = sum of dz's rows, as the matrix-vector product ones @ dz (7x faster than .sum(0))
            db += xp.ones(dz2.shape[0], dtype=dz.dtype) @ dz2
    if not need_dx:
        return None
    dcols = dz2 @ w.reshape(size, filters).T  # (N*out_h*out_w, kh*kw*C)
    return col2im(dcols, x_shape, (kh, kw), strides, dilation, pads)
