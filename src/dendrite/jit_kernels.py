"""Compiled versions of the memory-bound convolution and pooling kernels (optional: numba).

NumPy runs each element-wise pass one at a time, through temporaries; these loops make one pass
each. Installed with ``pip install dendrite[fast]``; without numba (or
for arrays that are not NumPy's) the NumPy kernels in :mod:`dendrite.conv_kernels` and
:mod:`dendrite.pooling_kernels` run, and they stay the reference: tests check both give the same
numbers. Measured at batch 128 (float32, CPU time):

* col2im of the MNIST convnet's second layer: 0.79 ms (NumPy 5.1 ms);
* 2x2 max pooling of (128, 26, 26, 32): forward with the winners' record 0.60 ms (NumPy 2.9 ms),
  backward 0.66 ms (NumPy 2.2 ms);
* ReLU's backward on the convolutions' outputs: 1.04 ms for (128, 26, 26, 32) (NumPy 1.66 ms);
* the element-wise part of an LSTM step (tanh/sigmoid), forward and backward, in one pass each
  instead of about 8 and 12 NumPy passes with temporaries (:mod:`dendrite.recurrent_kernels`).

The loops run on one thread (see ``_compile``). The first call of each kernel compiles it
(seconds); the machine code is cached on disk (``cache=True``), so later processes load it.
"""


from dendrite.backend import host

_kernels = None


def kernels():
    """The compiled kernels (a namespace), or None when numba is not installed."""
    global _kernels
    if _kernels is None:
        try:
            import numba
        except ImportError:
            _kernels = False
        else:
            _kernels = _compile(numba)
    return _kernels or None


def usable(*arrays):
    """Whether the compiled kernels can take ``arrays``: NumPy float arrays, and numba present."""
    return all(isinstance(a, host.ndarray) and a.dtype.kind == "f" for a in arrays) and \
        kernels() is not None


class _Namespace:
    pass


def _compile(numba):
    # single-threaded on purpose: numba's parallel loops (OpenMP threads that spin after each
    # region) next to OpenBLAS's threads made a 2-thread convnet step 2.2x slower (44.5 ms
    # against 20.0 ms), and an MLP step at batch 512 4.6x; BLAS keeps the second core
    jit = numba.njit(cache=True, nogil=True)

    @jit
    def col2im(dcols, dx, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, dilation_h,
               dilation_w):
        # dx[n, i*sh + a*dh, j*sw + e*dw, c] += dcols[(n, i, j), (a, e, c)], dx zeroed first
        channels = dx.shape[3]
        for n in range(dx.shape[0]):
            dx[n] = 0.0
            for i in range(out_h):
                for j in range(out_w):
                    row = (n * out_h + i) * out_w + j
                    for a in range(kernel_h):
                        p = i * stride_h + a * dilation_h
                        for e in range(kernel_w):
                            q = j * stride_w + e * dilation_w
                            base = (a * kernel_w + e) * channels
                            for c in range(channels):
                                dx[n, p, q, c] += dcols[row, base + c]

    @jit
    def max_pool_tiled_forward(x, y, argmax, pool_h, pool_w):
        # y = the first maximum of each pool_h x pool_w tile, argmax its row-major offset; the
        # channel loop innermost (contiguous), so it compiles to vector instructions
        out_h, out_w, channels = y.shape[1], y.shape[2], y.shape[3]
        for n in range(x.shape[0]):
            for i in range(out_h):
                for j in range(out_w):
                    for c in range(channels):
                        y[n, i, j, c] = x[n, i * pool_h, j * pool_w, c]
                        argmax[n, i, j, c] = 0
                    for a in range(pool_h):
                        for e in range(pool_w):
                            k = a * pool_w + e
                            if k == 0:
                                continue
                            for c in range(channels):
                                value = x[n, i * pool_h + a, j * pool_w + e, c]
                                if value > y[n, i, j, c]:
                                    y[n, i, j, c] = value
                                    argmax[n, i, j, c] = k

    @jit
    def max_pool_tiled_backward(dy, argmax, dx, pool_h, pool_w):
        # dx = dy at each tile's recorded winner, 0 elsewhere (rows/columns past the tiles too)
        out_h, out_w, channels = dy.shape[1], dy.shape[2], dy.shape[3]
        for n in range(dx.shape[0]):
            dx[n, out_h * pool_h:] = 0.0
            dx[n, :, out_w * pool_w:] = 0.0
            for i in range(out_h):
                for j in range(out_w):
                    for a in range(pool_h):
                        for e in range(pool_w):
                            k = a * pool_w + e
                            for c in range(channels):
                                dx[n, i * pool_h + a, j * pool_w + e, c] = \
                                    dy[n, i, j, c] if argmax[n, i, j, c] == k else 0.0

    @jit
    def relu_backward(dy, y, dz):
        # dz = dy where y > 0, else 0 (ReLU's backward from its output), one pass
        flat_dy, flat_y, flat_dz = dy.reshape(-1), y.reshape(-1), dz.reshape(-1)
        for i in range(flat_dz.size):
            flat_dz[i] = flat_dy[i] if flat_y[i] > 0 else 0.0

    @jit
    def lstm_gates_backward(dh, dc, gates, c_prev, tanh_c, dgates):
        # dc_t = dc + dh o (1 - tanh_c^2); dz_i = dc_t g i (1 - i); dz_f = dc_t c_prev f (1 - f);
        # dz_o = dh tanh_c o (1 - o); dz_g = dc_t i (1 - g^2); dc <- dc_t f (d/dc_{t-1})
        units = dh.shape[1]
        for b in range(dh.shape[0]):
            for k in range(units):
                i, f = gates[b, k], gates[b, units + k]
                o, g = gates[b, 2 * units + k], gates[b, 3 * units + k]
                squashed = tanh_c[b, k]
                grad_h = dh[b, k]
                grad_c = dc[b, k] + grad_h * o * (1 - squashed * squashed)
                dgates[b, k] = grad_c * g * i * (1 - i)
                dgates[b, units + k] = grad_c * c_prev[b, k] * f * (1 - f)
                dgates[b, 2 * units + k] = grad_h * squashed * o * (1 - o)
                dgates[b, 3 * units + k] = grad_c * i * (1 - g * g)
                dc[b, k] = grad_c * f

    namespace = _Namespace()
    namespace.lstm_gates_backward = lstm_gates_backward
    namespace.relu_backward = relu_backward
    namespace.col2im = col2im
    namespace.max_pool_tiled_forward = max_pool_tiled_forward
    namespace.max_pool_tiled_backward = max_pool_tiled_backward
    return namespace
