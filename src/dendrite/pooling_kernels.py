"""Kernel functions for pooling: the math the pooling layers call.

Layout and geometry as in :mod:`dendrite.conv_kernels`: ``x`` is (batch, height, width, channels),
spatial arguments are pairs ``(along height, along width)``, ``pads`` is
``((top, bottom), (left, right))``.

Two implementations of max pooling:

* the window kernels (``max_pool2d_windows_*``), for any strides: one strided operation per window
  offset over the whole batch;
* the tiled kernels (``max_pool2d_tiled_*``), for windows that tile the image (strides equal to
  the pool size, the common ``MaxPooling2D(2)``): forward records which element of each window
  won (a small integer array, ``argmax``), and backward writes each input element exactly once,
  from that record. About 2.5x faster over forward and backward with NumPy, 5-10x with the
  compiled loops of :mod:`dendrite.jit_kernels` (numba); tests check all of them agree.

:func:`max_pool2d_forward` and :func:`max_pool2d_backward` choose between them.
"""

from dendrite import jit_kernels
from dendrite.backend import get_array_module, host
from dendrite.conv_kernels import _windows, crop2d, output_length, pad2d


def pool_output_size(x_shape, pool_size, strides, pads):
    return tuple(output_length(x_shape[1 + a], pool_size[a], strides[a], pads[a]) for a in (0, 1))


def is_tiled(pool_size, strides):
    """Whether the windows tile the image: strides equal to the pool size."""
    return tuple(strides) == tuple(pool_size)


def _tiles(x_padded, pool_size, out_size):
    """A view (N, out_h, ph, out_w, pw, C) of the tiled windows (trailing rows/columns dropped)."""
    (ph, pw), (out_h, out_w) = pool_size, out_size
    n, _, _, c = x_padded.shape
    return x_padded[:, : out_h * ph, : out_w * pw].reshape(n, out_h, ph, out_w, pw, c)


# ---------------------------------------------------------------------------- max pooling


def max_pool2d_forward(x, pool_size, strides, pads, argmax=False):
    """y = the maximum of each window; padding never wins (it is -inf).

    Args:
        x: (N, H, W, C). pool_size, strides: pairs of positive ints. pads: as the module says.
        argmax: also return the tiled kernel's record of winners (for backward), when the windows
            tile the image; None otherwise.

    Returns:
        (y, x_padded, argmax): y is (N, out_h, out_w, C); x_padded is what backward reads.
    """
    xp = get_array_module(x)
    x_padded = pad2d(x, pads, value=-xp.inf)
    if is_tiled(pool_size, strides):
        y, record = max_pool2d_tiled_forward(x_padded, pool_size, argmax)
        return y, x_padded, record
    return max_pool2d_windows_forward(x_padded, pool_size, strides), x_padded, None


def max_pool2d_backward(dy, x_padded, y, pool_size, strides, pads, argmax=None):
    """dX of :func:`max_pool2d_forward`: each window's gradient goes to its first maximum in
    row-major window order (PyTorch's rule); where windows overlap, contributions add up.

    ``argmax`` is the record forward returned, or None (then it is computed here when needed).
    """
    if is_tiled(pool_size, strides):
        if argmax is None:
            argmax = max_pool2d_tiled_forward(x_padded, pool_size, argmax=True)[1]
        dx = max_pool2d_tiled_backward(dy, argmax, x_padded.shape, pool_size)
    else:
        dx = max_pool2d_windows_backward(dy, x_padded, y, pool_size, strides)
    return crop2d(dx, pads)


def max_pool2d_windows_forward(x_padded, pool_size, strides):
    """Max pooling of the padded input for any strides: one ``maximum`` per window offset."""
    xp = get_array_module(x_padded)
    out_size = pool_output_size(x_padded.shape, pool_size, strides, ((0, 0), (0, 0)))
    y = None
    for _, _, index in _windows(pool_size, out_size, strides):
        if y is None:
            y = x_padded[index].copy()
        else:
            xp.maximum(y, x_padded[index], out=y)
    return y


def max_pool2d_windows_backward(dy, x_padded, y, pool_size, strides):
    """dX (padded) for any strides: per window offset, compare with y and pass on what is left.

    ``remaining`` holds the gradient of the windows whose first maximum is not found yet.
    """
    xp = get_array_module(dy)
    disjoint = strides[0] >= pool_size[0] and strides[1] >= pool_size[1]
    dx = xp.zeros(x_padded.shape, dtype=dy.dtype)
    remaining = dy.copy()
    last = pool_size[0] * pool_size[1] - 1
    for k, (_, _, index) in enumerate(_windows(pool_size, dy.shape[1:3], strides)):
        hit = x_padded[index] == y
        if disjoint:
            xp.multiply(remaining, hit, out=dx[index])
        else:
            dx[index] += remaining * hit
        if k < last:
            remaining *= ~hit
    return dx


def max_pool2d_tiled_forward(x_padded, pool_size, argmax=False):
    """Max pooling of windows that tile the padded input; optionally the record of winners.

    Returns (y, argmax): y is (N, out_h, out_w, C); argmax (uint8, same shape) the row-major
    position a * pw + b in its window of each first maximum, or None if not asked for.
    Runs the compiled loop of :mod:`dendrite.jit_kernels` when numba is installed, else
    :func:`max_pool2d_tiled_forward_numpy`.
    """
    if not jit_kernels.usable(x_padded):
        return max_pool2d_tiled_forward_numpy(x_padded, pool_size, argmax)
    ph, pw = pool_size
    n, _, _, c = x_padded.shape
    y = host.empty((n, x_padded.shape[1] // ph, x_padded.shape[2] // pw, c), x_padded.dtype)
    record = host.empty(y.shape, dtype=host.uint8)
    jit_kernels.kernels().max_pool_tiled_forward(x_padded, y, record, ph, pw)
    return y, record if argmax else None


def max_pool2d_tiled_forward_numpy(x_padded, pool_size, argmax=False):
    """:func:`max_pool2d_tiled_forward` with array operations, one window offset at a time.

    The record is kept without ``where`` or fancy indexing (both slow in NumPy): with ``better``
    the 0/1 array "offset k beats the running maximum", ``argmax += better * (k - argmax)`` sets
    argmax to k exactly where k wins (uint8 wraparound makes the difference exact). A strict
    comparison keeps the first maximum on ties.
    """
    xp = get_array_module(x_padded)
    ph, pw = pool_size
    out_size = (x_padded.shape[1] // ph, x_padded.shape[2] // pw)
    tiles = _tiles(x_padded, pool_size, out_size)
    y = tiles[:, :, 0, :, 0].copy()
    record = xp.zeros(y.shape, dtype=xp.uint8) if argmax else None
    for k in range(1, ph * pw):
        candidate = tiles[:, :, k // pw, :, k % pw]
        if argmax:
            better = (candidate > y).view(xp.uint8)
            record += better * (xp.uint8(k) - record)
        xp.maximum(y, candidate, out=y)
    return y, record


def max_pool2d_tiled_backward(dy, argmax, padded_shape, pool_size):
    """dX (padded) for tiled windows: offset k of every window receives dy where argmax == k,
    every other element 0 (compiled loop with numba, else :func:`max_pool2d_tiled_backward_numpy`).
    """
    if not jit_kernels.usable(dy):
        return max_pool2d_tiled_backward_numpy(dy, argmax, padded_shape, pool_size)
    dx = host.empty(padded_shape, dtype=dy.dtype)
    jit_kernels.kernels().max_pool_tiled_backward(dy, argmax, dx, *pool_size)
    return dx


def max_pool2d_tiled_backward_numpy(dy, argmax, padded_shape, pool_size):
    """:func:`max_pool2d_tiled_backward` with array operations: each element of dX is written
    once (trailing rows/columns outside every window get zeros)."""
    xp = get_array_module(dy)
    ph, pw = pool_size
    dx = xp.empty(padded_shape, dtype=dy.dtype)
    out_h, out_w = dy.shape[1:3]
    dx[:, out_h * ph:] = 0
    dx[:, : out_h * ph, out_w * pw:] = 0
    tiles = _tiles(dx, pool_size, (out_h, out_w))
    for k in range(ph * pw):
        xp.multiply(dy, argmax == k, out=tiles[:, :, k // pw, :, k % pw])
    return dx


# ---------------------------------------------------------------------------- sum pooling


def sum_pool2d_forward(x, pool_size, strides, pads):
    """y = the sum of each window; padding adds zeros. Returns y, (N, out_h, out_w, C)."""
    out_size = pool_output_size(x.shape, pool_size, strides, pads)
    x_padded = pad2d(x, pads)
    y = None
    for _, _, index in _windows(pool_size, out_size, strides):
        if y is None:
            y = x_padded[index].copy()
        else:
            y += x_padded[index]
    return y


def sum_pool2d_backward(dy, x_shape, pool_size, strides, pads):
    """dX: every input element receives the dy of each window that contains it."""
    xp = get_array_module(dy)
    (top, bottom), (left, right) = pads
    padded_shape = (x_shape[0], x_shape[1] + top + bottom, x_shape[2] + left + right, x_shape[3])
    disjoint = strides[0] >= pool_size[0] and strides[1] >= pool_size[1]
    dx = xp.zeros(padded_shape, dtype=dy.dtype)
    for _, _, index in _windows(pool_size, dy.shape[1:3], strides):
        if disjoint:
            dx[index] = dy
        else:
            dx[index] += dy
    return crop2d(dx, pads)


def window_counts(x_shape, pool_size, strides, pads, xp, dtype):
    """Real (unpadded) inputs in each window, shape (out_h, out_w, 1), for 'same' averaging."""
    out_size = pool_output_size(x_shape, pool_size, strides, pads)
    counts = []
    for a in (0, 1):
        start = xp.arange(out_size[a]) * strides[a] - pads[a][0]
        stop = xp.minimum(start + pool_size[a], x_shape[1 + a])
        counts.append(stop - xp.maximum(start, 0))
    return (counts[0][:, None] * counts[1][None, :])[:, :, None].astype(dtype)
