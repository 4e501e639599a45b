"""Array operations that NumPy and CuPy spell differently, under one name.

:mod:`dendrite.backend` chooses the array module; this module holds the few functions that live
outside both libraries' shared namespace (``numpy.lib.stride_tricks``), so kernel modules never
import numpy themselves.
"""

import contextlib

from dendrite.backend import get_array_module, host


def as_strided(x, shape, strides):
    """A read-only view of ``x`` with the given ``shape`` and byte ``strides``.

    NumPy: ``numpy.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)``.
    CuPy: ``cupy.lib.stride_tricks.as_strided(x, shape, strides)`` (CuPy views are always writable,
    so callers must not write through the view: overlapping windows alias one element many times).
    """
    xp = get_array_module(x)
    if xp is host:
        return host.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(x, shape, strides)


# -------------------------------------------------------------------- fused updates (issue 15)
#
# One name per fused operation. On NumPy (and any module but CuPy) the body is a few in-place
# array operations: the reference. On CuPy the same formula runs as one ``cupy.ElementwiseKernel``
# launch over the whole flat buffer (PyTorch's fused optimizers), compiled on first use.
# UNVERIFIED until run on a GPU: the kernel sources below have not been compiled or executed.

_KERNEL_SOURCES = {
    # Adam over the flat buffer; denominator sqrt(v) * scale + eps (scale 1: Keras's form,
    # 1 / sqrt(1 - b2^t): the paper's), w -= alpha * m / denominator
    "adam": ("T g, T b1, T b2, T eps, T alpha, T scale", "T w, T m, T v",
             ("m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g * g; "
              "w -= alpha * m / (sqrt(v) * scale + eps);")),
    # SGD with momentum (Keras's form): m = momentum m - lr g; w += m, or with Nesterov
    # w += momentum m - lr g
    "sgd_momentum": ("T g, T lr, T momentum, bool nesterov", "T w, T m",
                     "m = momentum * m - lr * g; w += nesterov ? momentum * m - lr * g : m;"),
    # z += b (b broadcast along the last axis of length units), then relu: one pass, in place
    "bias_relu": ("raw T b, int64 units", "T z",
                  "T s = z + b[i % units]; z = s > (T)0 ? s : (T)0;"),
    # fused softmax + cross-entropy gradient with integer labels: dz = (p - onehot(label)) * w_row
    "softmax_xent_sparse": ("T p, raw I labels, raw T weights, int64 classes", "T dz",
                            ("long long row = i / classes; "
                             "dz = (p - (labels[row] == i % classes ? (T)1 : (T)0)) "
                             "* weights[row];")),
}
_compiled = {}


def _uses_cupy(array):
    return get_array_module(array).__name__ == "cupy"


def _kernel(name):
    """The CuPy kernel ``name``, compiled on first use (CuPy is imported only here, only once a
    CuPy array reached a fused operation)."""
    kernel = _compiled.get(name)
    if kernel is None:
        import cupy

        in_params, out_params, body = _KERNEL_SOURCES[name]
        kernel = _compiled[name] = cupy.ElementwiseKernel(in_params, out_params, body,
                                                          f"dendrite_{name}")
    return kernel


def adam_update(w, g, m, v, scratch, b1, b2, eps, alpha, scale, v_max=None):
    """One Adam step over flat arrays, in place: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    w -= alpha * m / (sqrt(v) * scale + eps). With ``v_max`` (AMSGrad), v_max = max(v_max, v)
    replaces v in the step. ``scratch`` is a work array like ``w`` (unused by the fused kernel,
    which serves the case without ``v_max``)."""
    if _uses_cupy(w) and v_max is None:
        _kernel("adam")(g, b1, b2, eps, alpha, scale, w, m, v)
        return
    xp = get_array_module(w)
    m *= b1
    m += xp.multiply(g, 1 - b1, out=scratch)
    v *= b2
    xp.multiply(g, g, out=scratch)
    scratch *= 1 - b2
    v += scratch
    if v_max is not None:
        xp.maximum(v_max, v, out=v_max)
        v = v_max
    xp.sqrt(v, out=scratch)
    if scale != 1:
        scratch *= scale
    scratch += eps
    xp.divide(m, scratch, out=scratch)
    scratch *= alpha
    w -= scratch


def sgd_momentum_update(w, g, m, scratch, lr, momentum, nesterov):
    """One SGD step with momentum over flat arrays, in place: m = momentum m - lr g; then
    w += m, or w += momentum m - lr g with Nesterov."""
    if _uses_cupy(w):
        _kernel("sgd_momentum")(g, lr, momentum, nesterov, w, m)
        return
    xp = get_array_module(w)
    m *= momentum
    m -= xp.multiply(g, lr, out=scratch)
    if nesterov:
        scratch *= -1
        scratch += momentum * m
        w += scratch
    else:
        w += m


def bias_relu(z, b):
    """z = max(z + b, 0) in place (``b`` along the last axis); returns ``z``. One kernel on CuPy.
    Not yet called by the layers (they add the bias, then apply the activation)."""
    if _uses_cupy(z):
        return _kernel("bias_relu")(b, b.shape[0], z)
    xp = get_array_module(z)
    z += b
    return xp.maximum(z, 0, out=z)


def softmax_crossentropy_sparse_gradient(p, labels, weights):
    """d(loss)/dz of softmax + sparse cross-entropy, (p - onehot(labels)) * weights[:, None], for
    p (batch, classes), integer labels (batch,) and per-row weights (batch,). One kernel on CuPy.
    Not yet called by the losses."""
    if _uses_cupy(p):
        return _kernel("softmax_xent_sparse")(p, labels, weights, p.shape[-1])
    xp = get_array_module(p)
    dz = p.copy()
    dz[xp.arange(len(labels)), labels] -= 1
    dz *= weights[:, None]
    return dz


def errstate(array, **kwargs):
    """``numpy.errstate(**kwargs)`` for host arrays; a no-op context for device arrays (CuPy has no
    errstate: its kernels never warn)."""
    xp = get_array_module(array)
    if xp is host:
        return host.errstate(**kwargs)
    return contextlib.nullcontext()
