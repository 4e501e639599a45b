"""Weight initializers with Keras 3's names, defaults and formulas.

Every initializer is called as ``init(shape, dtype=None)`` and returns a new array. With an integer
``seed`` an initializer returns the same values on every call (Keras 3 semantics); with
``seed=None`` each call draws a fresh seed from the process-wide generator, which
:func:`dendrite.utils.set_random_seed` resets.

Fans (Keras's rule): for a kernel of shape (..., fan_in_axis, fan_out_axis) the receptive field is
the product of the leading axes, fan_in = shape[-2] * receptive, fan_out = shape[-1] * receptive;
a 1-D shape has fan_in = fan_out = shape[0].
"""

import math

from dendrite import backend
from dendrite.errors import arg_error, check_number, positive_number
from dendrite.saving import serialization

# Standard deviation of a unit normal truncated to [-2, 2]; dividing by it restores the variance.
_TRUNCATION_STD = 0.87962566103423978


def compute_fans(shape):
    """(fan_in, fan_out) of a weight ``shape`` by Keras's rule above."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class. ``seed`` (int or None) is documented in the module docstring."""

    def __init__(self, seed=None):
        self.seed = check_number(type(self).__name__, "seed", seed, integer=True, allow_none=True,
                                 expected="an integer or None")

    def __call__(self, shape, dtype=None):
        dtype = backend.standardize_dtype(dtype)
        values = self.generate(tuple(shape), backend.make_generator(self.seed))
        return backend.host.asarray(values, dtype=dtype)

    def generate(self, shape, rng):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Constant(Initializer):
    """Every element equals ``value`` (default 0.0)."""

    def __init__(self, value=0.0):
        super().__init__()
        self.value = check_number(type(self).__name__, "value", value)

    def generate(self, shape, rng):
        return backend.host.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class Zeros(Constant):
    """Every element is 0."""

    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    """Every element is 1."""

    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


def _truncated_normal(rng, shape, mean, stddev):
    """Normal samples redrawn until they lie within 2 standard deviations of the mean."""
    values = rng.standard_normal(shape)
    outside = backend.host.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = backend.host.abs(values) > 2
    return mean + stddev * values


class RandomNormal(Initializer):
    """Samples from N(mean, stddev^2). Defaults mean=0.0, stddev=0.05."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean = check_number(type(self).__name__, "mean", mean)
        self.stddev = positive_number(type(self).__name__, "stddev", stddev, allow_zero=True)

    def generate(self, shape, rng):
        return self.mean + self.stddev * rng.standard_normal(shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """N(mean, stddev^2) with samples beyond two standard deviations redrawn."""

    def generate(self, shape, rng):
        return _truncated_normal(rng, shape, self.mean, self.stddev)


class RandomUniform(Initializer):
    """Samples from U[minval, maxval). Defaults -0.05, 0.05."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        minval = check_number("RandomUniform", "minval", minval)
        maxval = check_number("RandomUniform", "maxval", maxval, low=minval, low_open=True,
                              expected=f"greater than minval={minval}")
        self.minval, self.maxval = minval, maxval

    def generate(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class VarianceScaling(Initializer):
    """Samples whose variance is ``scale / n``, n = fan_in, fan_out or their mean (``mode``).

    distribution "truncated_normal": stddev = sqrt(scale / n) / 0.8796 truncated at 2 stddev;
    "untruncated_normal": stddev = sqrt(scale / n);
    "uniform": U[-limit, limit], limit = sqrt(3 scale / n).
    Defaults: scale=1.0, mode="fan_in", distribution="truncated_normal".
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        name = type(self).__name__
        scale = positive_number(name, "scale", scale)
        if mode not in self._MODES:
            raise arg_error(name, "mode", f"one of {self._MODES}", mode)
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise arg_error(name, "distribution", f"one of {self._DISTRIBUTIONS}", distribution)
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def generate(self, shape, rng):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            return _truncated_normal(rng, shape, 0.0, math.sqrt(variance) / _TRUNCATION_STD)
        if self.distribution == "untruncated_normal":
            return math.sqrt(variance) * rng.standard_normal(shape)
        limit = math.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, shape)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


def _preset(class_name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(class_name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                                 "__doc__": doc})


GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                       "Xavier normal: truncated normal, stddev = sqrt(2 / (fan_in + fan_out)).")
GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform",
                        "Xavier uniform: U[-l, l], l = sqrt(6 / (fan_in + fan_out)).")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal",
                   "He normal: truncated normal, stddev = sqrt(2 / fan_in).")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform",
                    "He uniform: U[-l, l], l = sqrt(6 / fan_in).")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal",
                      "LeCun normal: truncated normal, stddev = sqrt(1 / fan_in).")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform",
                       "LeCun uniform: U[-l, l], l = sqrt(3 / fan_in).")

class Orthogonal(Initializer):
    """A (scaled) random orthogonal matrix (Saxe et al., 2014), Keras's recurrent default.

    The shape is flattened to (prod(shape[:-1]), shape[-1]); a normal matrix of that shape (or
    its transpose, whichever is taller) is QR-factorized and Q, with the signs of diag(R) folded
    in so the distribution is uniform, is multiplied by ``gain`` (default 1.0).
    """

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = check_number("Orthogonal", "gain", gain)

    def generate(self, shape, rng):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: shape must have at least 2 axes; got shape={shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = backend.host.linalg.qr(a)
        q *= backend.host.sign(backend.host.diag(r))
        if rows < cols:
            q = q.T
        return backend.host.ascontiguousarray(self.gain * q).reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


_CLASSES = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_normal": GlorotNormal,
    "glorot_uniform": GlorotUniform, "he_normal": HeNormal, "he_uniform": HeUniform,
    "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform, "orthogonal": Orthogonal,
}
_BY_CLASS_NAME = {cls.__name__: cls for cls in _CLASSES.values()}
_ALIASES = {"xavier_normal": "glorot_normal", "xavier_uniform": "glorot_uniform",
            "uniform": "random_uniform", "normal": "random_normal"}


serialization.register_builtins(
    "initializers", _BY_CLASS_NAME,
    names={**_CLASSES, **_BY_CLASS_NAME, **{a: _CLASSES[n] for a, n in _ALIASES.items()}},
    base=Initializer)


def get(identifier):
    """An Initializer from a name (``"he_normal"`` or ``"HeNormal"``), a config dict (dendrite's or
    Keras's form) or an instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, (str, dict)):
        return serialization.deserialize("initializers", identifier)
    raise ValueError(f"Unknown initializer {identifier!r}. Valid names: {sorted(_CLASSES)}.")


def serialize(initializer):
    """Keras's form: ``{"module": "keras.initializers", "class_name", "config",
    "registered_name"}``."""
    return serialization.serialize(initializer)
