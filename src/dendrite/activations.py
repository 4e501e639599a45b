"""Activation functions, their derivatives, and the objects layers use to apply them.

Each activation ``f`` comes as
* a public function ``f(x)`` (Keras's ``keras.activations.f``),
* its derivative ``f_derivative(x)``, the element-wise f'(x) (for softmax and log_softmax the
  Jacobian, shape (..., n, n)),
* an :class:`Activation` object with ``forward(x, out=None)`` and ``backward(dy, x, y)``, the
  kernels layers call. ``needs`` says which of x (the input) and y (the output) backward reads, so
  a layer keeps only that one in its cache and may compute ``forward`` in place when only y is
  needed.

Numerics: sigmoid, softmax, log_softmax and softplus never overflow or return NaN, even at
|x| = 1000.
"""

import math

from dendrite import jit_kernels
from dendrite.backend import get_array_module, host
from dendrite.saving import serialization

_SQRT_2 = 1.4142135623730951
_INV_SQRT_2PI = 0.3989422804014327
_GELU_TANH_C = 0.7978845608028654  # sqrt(2 / pi)
_COMPILED_MIN_SIZE = 1 << 16  # below, a compiled loop's start-up costs more than NumPy's pass


# ---------------------------------------------------------------------------- erf


def _interpolating_polynomial(function, degree, low, high):
    """Coefficients a_0..a_degree of the polynomial sum a_k t^k, t = (2u - low - high) /
    (high - low), that interpolates ``function`` at the degree + 1 Chebyshev points of
    [low, high] (pure Python, at import).

    The interpolant is found in the Chebyshev basis, c_k = 2/n sum_j f(cos a_j) cos(k a_j), then
    rewritten in powers of t (T_0 = 1, T_1 = t, T_k+1 = 2t T_k - T_k-1) for Horner's rule; for the
    smooth functions below the power coefficients decay, so this loses no accuracy.
    """
    n = degree + 1
    angles = [math.pi * (j + 0.5) / n for j in range(n)]
    values = [function(0.5 * (high - low) * math.cos(a) + 0.5 * (high + low)) for a in angles]
    chebyshev = [2 / n * sum(v * math.cos(k * a) for v, a in zip(values, angles))
                 for k in range(n)]
    chebyshev[0] /= 2
    power = [0.0] * n
    previous, current = [1.0] + [0.0] * degree, [0.0, 1.0] + [0.0] * (degree - 1)
    for k, c in enumerate(chebyshev):
        basis = previous if k == 0 else current
        if k >= 2:
            basis = [2 * (current[i - 1] if i else 0.0) - previous[i] for i in range(n)]
            previous, current = current, basis
        power = [p + c * b for p, b in zip(power, basis)]
    return power


def _horner(t, coefficients):
    """sum a_k t^k for an array t, two in-place passes per degree."""
    result = t * coefficients[-1]
    for a in reversed(coefficients[1:-1]):
        result += a
        result *= t
    result += coefficients[0]
    return result


def _erf_over_x(u):
    """erf(sqrt(u)) / sqrt(u), smooth in u >= 0 (2 / sqrt(pi) at 0)."""
    return math.erf(math.sqrt(u)) / math.sqrt(u) if u > 0 else 2 / math.sqrt(math.pi)


def _scaled_erfc(x):
    """erfc(x) * exp(x^2), smooth and slowly varying for x >= 2."""
    return math.erfc(x) * math.exp(x * x)


# erf(x) = x f(x^2) for |x| < 2 and sign(x) (1 - exp(-x^2) g(|x|)) for 2 <= |x| < 6 (erf is +-1
# to double precision beyond), with f and g polynomial interpolants fitted once at import from
# math.erf: relative error < 1e-14 with degrees (18, 20), < 2e-7 with (9, 8) for float32.
_ERF_FITS = {
    "float64": (_interpolating_polynomial(_erf_over_x, 18, 0.0, 4.0),
                _interpolating_polynomial(_scaled_erfc, 20, 2.0, 6.0)),
    "float32": (_interpolating_polynomial(_erf_over_x, 9, 0.0, 4.0),
                _interpolating_polynomial(_scaled_erfc, 8, 2.0, 6.0)),
}


def erf(x):
    """The error function, element-wise and vectorized: erf(x) = 2/sqrt(pi) int_0^x exp(-t^2) dt.

    Piecewise polynomial interpolants (see ``_ERF_FITS``) evaluated with array operations, in the
    dtype of ``x`` (float16 is computed in float32); the tail |x| >= 2 only where it occurs.
    """
    xp = get_array_module(x)
    work = x if x.dtype.name in _ERF_FITS else x.astype("float32")
    small_fit, large_fit = _ERF_FITS[work.dtype.name]
    u = work * work
    xp.minimum(u, 4.0, out=u)
    u *= 0.5
    u -= 1.0
    y = _horner(u, small_fit)
    y *= work
    tail = ~(xp.abs(work) < 2)  # NaN stays in the first branch, where it propagates
    if xp is not host:  # on a device: the tail everywhere, selected, so nothing is read back
        a = xp.minimum(xp.abs(work), 6.0)
        y = xp.where(tail, xp.sign(work) * (1 - xp.exp(-a * a) * _horner(a / 2 - 2, large_fit)), y)
    elif tail.any():
        a = xp.minimum(xp.abs(work[tail]), 6.0)
        y[tail] = xp.sign(work[tail]) * (1 - xp.exp(-a * a) * _horner(a / 2 - 2, large_fit))
    return y.astype(x.dtype, copy=False)


# ---------------------------------------------------------------------------- functions


def linear(x):
    """Identity: f(x) = x."""
    return x


def sigmoid(x):
    """f(x) = 1 / (1 + exp(-x)), computed from exp(-|x|) so it cannot overflow."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1, e) / (1 + e)


def tanh(x):
    """f(x) = tanh(x)."""
    return get_array_module(x).tanh(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """f(x) = x if x > threshold else negative_slope * (x - threshold); capped at ``max_value``."""
    xp = get_array_module(x)
    if negative_slope == 0 and threshold == 0:
        y = xp.maximum(x, 0)
    else:
        y = xp.where(x > threshold, x, negative_slope * (x - threshold)).astype(x.dtype)
    return y if max_value is None else xp.minimum(y, max_value)


def leaky_relu(x, negative_slope=0.2):
    """f(x) = x if x > 0 else negative_slope * x (Keras's function default slope 0.2)."""
    xp = get_array_module(x)
    return xp.where(x > 0, x, x * negative_slope)


def elu(x, alpha=1.0):
    """f(x) = x if x > 0 else alpha * (exp(x) - 1)."""
    xp = get_array_module(x)
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))


def softplus(x):
    """f(x) = log(1 + exp(x)), as max(x, 0) + log1p(exp(-|x|)) so it cannot overflow."""
    xp = get_array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def silu(x):
    """f(x) = x * sigmoid(x) (also called swish)."""
    return x * sigmoid(x)


swish = silu


def gelu(x, approximate=False):
    """f(x) = x * Phi(x) with Phi the standard normal CDF; ``approximate`` uses the tanh formula."""
    xp = get_array_module(x)
    if approximate:
        return 0.5 * x * (1 + xp.tanh(_GELU_TANH_C * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + erf(x / _SQRT_2))


def softmax(x, axis=-1):
    """f(x)_i = exp(x_i) / sum_j exp(x_j) over ``axis``, shifted by the max so exp cannot
    overflow."""
    xp = get_array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax(x, axis=-1):
    """f(x)_i = x_i - log(sum_j exp(x_j)), computed with the max shift."""
    xp = get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


# ---------------------------------------------------------------------------- derivatives


def linear_derivative(x):
    return get_array_module(x).ones_like(x)


def sigmoid_derivative(x):
    """f'(x) = s (1 - s) with s = sigmoid(x)."""
    s = sigmoid(x)
    return s * (1 - s)


def tanh_derivative(x):
    """f'(x) = 1 - tanh(x)^2."""
    return 1 - tanh(x) ** 2


def relu_derivative(x):
    """f'(x) = 1 where x > 0, else 0 (0 at the kink, as PyTorch and Keras)."""
    return (x > 0).astype(x.dtype)


def leaky_relu_derivative(x, negative_slope=0.2):
    xp = get_array_module(x)
    return xp.where(x > 0, 1, negative_slope).astype(x.dtype)


def elu_derivative(x, alpha=1.0):
    """f'(x) = 1 where x > 0, else alpha * exp(x)."""
    xp = get_array_module(x)
    return xp.where(x > 0, 1, alpha * xp.exp(xp.minimum(x, 0))).astype(x.dtype)


def softplus_derivative(x):
    """f'(x) = sigmoid(x)."""
    return sigmoid(x)


def silu_derivative(x):
    """f'(x) = s (1 + x (1 - s)) with s = sigmoid(x)."""
    s = sigmoid(x)
    return s * (1 + x * (1 - s))


swish_derivative = silu_derivative


def gelu_derivative(x, approximate=False):
    """f'(x) = Phi(x) + x phi(x) (exact) or the derivative of the tanh formula."""
    xp = get_array_module(x)
    if approximate:
        inner = _GELU_TANH_C * (x + 0.044715 * x**3)
        t = xp.tanh(inner)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * _GELU_TANH_C * (1 + 3 * 0.044715 * x**2)
    return 0.5 * (1 + erf(x / _SQRT_2)) + x * _INV_SQRT_2PI * xp.exp(-0.5 * x * x)


def softmax_derivative(x, axis=-1):
    """The Jacobian J[..., i, j] = s_i (delta_ij - s_j) over the last axis; shape (..., n, n)."""
    xp = get_array_module(x)
    s = softmax(x, axis=axis)
    return s[..., :, None] * (xp.eye(s.shape[-1], dtype=s.dtype) - s[..., None, :])


def log_softmax_derivative(x, axis=-1):
    """The Jacobian J[..., i, j] = delta_ij - s_j over the last axis; shape (..., n, n)."""
    xp = get_array_module(x)
    s = softmax(x, axis=axis)
    return xp.eye(s.shape[-1], dtype=s.dtype) - s[..., None, :]


# ---------------------------------------------------------------------------- kernels for layers


class Activation:
    """An activation as layers use it: ``forward(x, out=None)`` and ``backward(dy, x, y)``.

    ``backward`` returns dL/dx from dL/dy = ``dy``, the input ``x`` and output ``y`` of the matching
    forward call; ``needs`` is ``"x"`` or ``"y"``, the one backward reads (the other may be None).
    With ``out=`` forward writes in place when the activation allows it. Objects are stateless,
    so one may serve many layers.
    """

    name = None
    needs = "x"

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x, out=None):
        raise NotImplementedError

    def backward(self, dy, x, y):
        raise NotImplementedError

    def get_config(self):
        """Constructor arguments (empty for parameter-free activations)."""
        return {key: value for key, value in vars(self).items() if not key.startswith("_")}

    def __repr__(self):
        return f"<activation {self.name}>"


class Linear(Activation):
    name, needs = "linear", "y"

    def forward(self, x, out=None):
        return x

    def backward(self, dy, x, y):
        return dy


class Sigmoid(Activation):
    name, needs = "sigmoid", "y"

    def forward(self, x, out=None):
        return sigmoid(x)

    def backward(self, dy, x, y):
        return dy * y * (1 - y)  # s' = s (1 - s)


class Tanh(Activation):
    name, needs = "tanh", "y"

    def forward(self, x, out=None):
        return get_array_module(x).tanh(x, out=out)

    def backward(self, dy, x, y):
        return dy * (1 - y * y)  # tanh' = 1 - tanh^2


class ReLU(Activation):
    name, needs = "relu", "y"

    def forward(self, x, out=None):
        return get_array_module(x).maximum(x, 0, out=out)

    def backward(self, dy, x, y):
        # y > 0 exactly where x > 0; large arrays (convolution outputs) in one compiled pass
        if (dy.size >= _COMPILED_MIN_SIZE and dy.shape == y.shape and dy.dtype == y.dtype
                and dy.flags.c_contiguous and y.flags.c_contiguous and jit_kernels.usable(dy, y)):
            dz = get_array_module(dy).empty_like(dy)
            jit_kernels.kernels().relu_backward(dy, y, dz)
            return dz
        return dy * (y > 0)


class LeakyReLU(Activation):
    name, needs = "leaky_relu", "x"

    def __init__(self, negative_slope=0.2):
        self.negative_slope = negative_slope

    def forward(self, x, out=None):
        return leaky_relu(x, self.negative_slope)

    def backward(self, dy, x, y):
        return dy * leaky_relu_derivative(x, self.negative_slope)


class ELU(Activation):
    name, needs = "elu", "x"

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def forward(self, x, out=None):
        return elu(x, self.alpha)

    def backward(self, dy, x, y):
        return dy * elu_derivative(x, self.alpha)


class Softplus(Activation):
    name, needs = "softplus", "x"

    def forward(self, x, out=None):
        return softplus(x)

    def backward(self, dy, x, y):
        return dy * sigmoid(x)


class SiLU(Activation):
    name, needs = "silu", "x"

    def forward(self, x, out=None):
        return silu(x)

    def backward(self, dy, x, y):
        return dy * silu_derivative(x)


class GELU(Activation):
    name, needs = "gelu", "x"

    def __init__(self, approximate=False):
        self.approximate = approximate

    def forward(self, x, out=None):
        return gelu(x, self.approximate)

    def backward(self, dy, x, y):
        return dy * gelu_derivative(x, self.approximate)


class Softmax(Activation):
    name, needs = "softmax", "y"

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x, out=None):
        return softmax(x, self.axis)

    def backward(self, dy, x, y):
        # dx = y * (dy - sum(dy * y)), the Jacobian-vector product of softmax
        return y * (dy - (dy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Activation):
    name, needs = "log_softmax", "y"

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x, out=None):
        return log_softmax(x, self.axis)

    def backward(self, dy, x, y):
        xp = get_array_module(y)
        # dx = dy - softmax(x) * sum(dy), with softmax(x) = exp(y)
        return dy - xp.exp(y) * dy.sum(axis=self.axis, keepdims=True)


_CLASSES = {
    cls.name: cls
    for cls in (Linear, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus, SiLU, GELU, Softmax,
                LogSoftmax)
}
_ALIASES = {"swish": "silu", None: "linear"}
serialization.register_builtins("activations", _CLASSES, names={**_CLASSES, "swish": SiLU},
                                base=Activation)


def get(identifier):
    """Return an :class:`Activation` for a name, an Activation, None (linear), a function above or
    a dict from :func:`serialize` (or Keras's ``{"class_name": "function", "config": name}``).

    Raises ValueError naming the bad identifier and listing the valid names.
    """
    if isinstance(identifier, Activation):
        return identifier
    if callable(identifier) and getattr(identifier, "__module__", None) == __name__:
        identifier = identifier.__name__
    if isinstance(identifier, dict):
        return serialization.deserialize("activations", identifier)
    if identifier is None or isinstance(identifier, str):
        return serialization.deserialize("activations", _ALIASES.get(identifier, identifier))
    raise ValueError(f"Unknown activation {identifier!r}. Valid names: {sorted(_CLASSES)}.")


def serialize(activation):
    """What :func:`get` turns back into ``activation``: its name (Keras's form), or
    ``{"class_name": name, "config": {...}}`` when its parameters (gelu's ``approximate``, elu's
    ``alpha`` ...) differ from the defaults; a registered user class in Keras's form.

    Raises ValueError for an Activation whose class is not registered."""
    cls = _CLASSES.get(activation.name)
    if type(activation) is not cls:
        return serialization.serialize(activation)
    params = vars(activation)
    if params == vars(cls()):
        return activation.name
    return {"class_name": activation.name, "config": dict(params)}
