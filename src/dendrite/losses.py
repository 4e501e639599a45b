"""Losses with Keras's names, formulas and reductions.

A loss object is called as ``loss(y_true, y_pred, sample_weight=None)`` and returns a float. For
training, ``compute(y_true, y_pred, sample_weight)`` returns the same value and a cache, and
``gradient(cache)`` returns d(loss)/d(y_pred): the loss object itself keeps no state, so one object
can serve several outputs of a model. ``forward``/``backward()`` are the same pair keeping the last
cache on the object, for using a loss on its own. Each loss reduces its per-sample values (the mean
over the last axis for element-wise losses) with ``reduction``, documented once here:

* ``"sum_over_batch_size"`` (default): sum(w * values) / number of values,
* ``"sum"``: sum(w * values),
* ``None`` or ``"none"``: the per-sample values unreduced (not for training).

Cross-entropies on probabilities (``from_logits=False``) clip predictions to [eps, 1 - eps] (eps =
:func:`dendrite.config.epsilon`) so log never sees 0, and the categorical ones first renormalize
over the class axis, exactly as Keras does. When the model's output layer ends in the matching
activation (softmax for the categorical ones, sigmoid for binary), ``fuses_with`` is true and the
model asks for ``logit_gradient(cache)``: the exact gradient (p - y) / n with respect to the
pre-activation, which never divides by p.
"""

from dendrite import activations, backend, tracing
from dendrite.backend import epsilon, get_array_module
from dendrite.errors import check_bool, check_choice, fraction
from dendrite.graph import SymbolicTensor as _SymbolicTensor
from dendrite.saving import serialization

_REDUCTIONS = ("sum_over_batch_size", "sum", "none", None)


class Loss:
    """Base class. Subclasses define ``values(y_true, y_pred)`` and ``values_gradient``.

    ``target_range``: ``(low, high)`` that ``fit``/``evaluate`` require of y_true, or None.
    """

    target_range = None

    def __init__(self, reduction="sum_over_batch_size", name=None):
        self.reduction = check_choice(type(self).__name__, "reduction", reduction, _REDUCTIONS)
        self.name = name or _snake(type(self).__name__)
        self._cache = None

    # -------------------------------------------------------------- public

    def __call__(self, y_true, y_pred, sample_weight=None):
        if any(isinstance(a, _SymbolicTensor) for a in (y_true, y_pred, sample_weight)):
            return self._symbolic_call(y_true, y_pred, sample_weight)
        y_true, y_pred = self.prepare(y_true, y_pred)
        values = self.call(y_true, y_pred) if self._custom else self.values(y_true, y_pred)
        if self.reduction in ("none", None):
            return values if sample_weight is None else values * _as_weights(sample_weight, values)
        weights = self._reduction_weights(values, sample_weight)
        return float((values * weights).sum())

    def _symbolic_call(self, y_true, y_pred, sample_weight):
        """The loss as ops on symbolic tensors (inside a custom loss or a traced ``call``)."""
        from dendrite import ops

        values = (self.call(y_true, y_pred) if self._custom
                  else ops.nn.loss_values(self, y_true, y_pred))
        if sample_weight is not None:
            values = values * sample_weight
        if self.reduction in ("none", None):
            return values
        return ops.mean(values) if self.reduction == "sum_over_batch_size" else ops.sum(values)

    def compute(self, y_true, y_pred, sample_weight=None):
        """The reduced loss (a float; a 0-d array on a device) and the cache :meth:`gradient`
        needs."""
        if self.reduction in ("none", None):
            raise ValueError(f"{type(self).__name__}: training needs a scalar reduction; got "
                             f"reduction={self.reduction!r}")
        y_true, y_pred = self.prepare(y_true, y_pred)
        if self._custom:
            return tracing.compute_loss(self, y_true, y_pred, sample_weight)
        values = self.values(y_true, y_pred)
        weights = self._reduction_weights(values, sample_weight)
        return backend.loss_scalar((values * weights).sum()), (y_true, y_pred, weights)

    def gradient(self, cache):
        """d(loss)/d(y_pred) for the :meth:`compute` call that returned ``cache``."""
        if self._custom:
            return tracing.loss_gradient(cache)
        y_true, y_pred, weights = cache
        return self.values_gradient(y_true, y_pred) * weights[..., None]

    def fuses_with(self, activation):
        """Whether :meth:`logit_gradient` can replace ``activation``'s backward."""
        return False

    def logit_gradient(self, cache):
        """d(loss)/d(z) where y_pred = activation(z), for an activation that ``fuses_with``."""
        raise NotImplementedError

    def forward(self, y_true, y_pred, sample_weight=None):
        """:meth:`compute`, keeping the cache on the object for :meth:`backward`."""
        value, self._cache = self.compute(y_true, y_pred, sample_weight)
        return value

    def backward(self):
        """d(loss)/d(y_pred) for the last :meth:`forward`, shaped like y_pred."""
        return self.gradient(self._cache)

    @property
    def _custom(self):
        """A user's subclass that defines ``call(y_true, y_pred)`` with :mod:`dendrite.ops`
        (Keras's way): differentiated through its traced ops (:mod:`dendrite.tracing`)."""
        return getattr(self, "call", None) is not None

    def prepare(self, y_true, y_pred):
        """Convert and check y_true against y_pred; never broadcast silently. (A custom loss's
        ``call`` receives y_true converted to y_pred's dtype, its shape unchecked.)"""
        xp = get_array_module(y_pred)
        y_pred = xp.asarray(y_pred)
        y_true = xp.asarray(y_true)
        if y_pred.dtype.kind != "f":
            y_pred = y_pred.astype("float32")
        if self._custom:
            return y_true.astype(y_pred.dtype, copy=False), y_pred
        if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
            y_true = y_true.reshape(*y_true.shape, 1)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{type(self).__name__}: y_true and y_pred must have the same shape; "
                             f"got y_true {tuple(y_true.shape)} and y_pred {tuple(y_pred.shape)}.")
        return y_true.astype(y_pred.dtype, copy=False), y_pred

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -------------------------------------------------------------- helpers

    def _reduction_weights(self, values, sample_weight):
        scale = 1.0 / max(values.size, 1) if self.reduction == "sum_over_batch_size" else 1.0
        if sample_weight is None:
            return get_array_module(values).full(values.shape, scale, dtype=values.dtype)
        return _as_weights(sample_weight, values) * scale


def _as_weights(sample_weight, values):
    xp = get_array_module(values)
    weights = xp.asarray(sample_weight, dtype=values.dtype)
    if weights.shape != values.shape:
        weights = weights.reshape(weights.shape + (1,) * (values.ndim - weights.ndim))
        if weights.shape[0] != values.shape[0]:
            raise ValueError(f"sample_weight must have one entry per sample; got shape "
                             f"{tuple(xp.asarray(sample_weight).shape)} for {values.shape[0]} "
                             "samples.")
        weights = xp.broadcast_to(weights, values.shape)
    return weights


def _snake(name):
    import re

    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()


# ------------------------------------------------------------------- element-wise losses


class MeanSquaredError(Loss):
    """values = mean((y_true - y_pred)^2) over the last axis."""

    def values(self, y_true, y_pred):
        return ((y_pred - y_true) ** 2).mean(axis=-1)

    def values_gradient(self, y_true, y_pred):
        return (2.0 / y_pred.shape[-1]) * (y_pred - y_true)


class MeanAbsoluteError(Loss):
    """values = mean(|y_true - y_pred|) over the last axis."""

    def values(self, y_true, y_pred):
        return get_array_module(y_pred).abs(y_pred - y_true).mean(axis=-1)

    def values_gradient(self, y_true, y_pred):
        return get_array_module(y_pred).sign(y_pred - y_true) / y_pred.shape[-1]


class Poisson(Loss):
    """values = mean(y_pred - y_true * log(y_pred + eps)) over the last axis."""

    def values(self, y_true, y_pred):
        xp = get_array_module(y_pred)
        return (y_pred - y_true * xp.log(y_pred + epsilon())).mean(axis=-1)

    def values_gradient(self, y_true, y_pred):
        return (1 - y_true / (y_pred + epsilon())) / y_pred.shape[-1]


# ------------------------------------------------------------------- cross-entropies


def _clip(xp, p):
    eps = epsilon()
    return xp.clip(p, eps, 1 - eps), (p > eps) & (p < 1 - eps)


class BinaryCrossentropy(Loss):
    """values = -mean(y log p + (1 - y) log(1 - p)) over the last axis.

    Args:
        from_logits: y_pred are logits z, p = sigmoid(z), computed stably as
            max(z, 0) - z y + log(1 + exp(-|z|)). Default False (p clipped to [eps, 1 - eps]).
        label_smoothing: y -> y (1 - s) + s / 2. Default 0.
        reduction, name: see the module docstring.
    """

    target_range = (0, 1)  # probabilities; fit refuses other targets

    def __init__(self, from_logits=False, label_smoothing=0.0, reduction="sum_over_batch_size",
                 name=None):
        super().__init__(reduction, name)
        self.from_logits = check_bool(type(self).__name__, "from_logits", from_logits)
        self.label_smoothing = _smoothing(self, label_smoothing)

    def prepare(self, y_true, y_pred):
        y_true, y_pred = super().prepare(y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return y_true, y_pred

    def values(self, y_true, y_pred):
        xp = get_array_module(y_pred)
        if self.from_logits:
            z = y_pred
            return (xp.maximum(z, 0) - z * y_true + xp.log1p(xp.exp(-xp.abs(z)))).mean(axis=-1)
        p, _ = _clip(xp, y_pred)
        return -(y_true * xp.log(p) + (1 - y_true) * xp.log(1 - p)).mean(axis=-1)

    def values_gradient(self, y_true, y_pred):
        xp = get_array_module(y_pred)
        n = y_pred.shape[-1]
        if self.from_logits:
            return (activations.sigmoid(y_pred) - y_true) / n
        p, inside = _clip(xp, y_pred)
        return inside * (-y_true / p + (1 - y_true) / (1 - p)) / n

    def fuses_with(self, activation):
        return not self.from_logits and isinstance(activation, activations.Sigmoid)

    def logit_gradient(self, cache):
        y_true, p, weights = cache
        return (p - y_true) * (weights[..., None] / p.shape[-1])  # d/dz = (p - y) / n

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(Loss):
    """values = -sum(y log p) over the class axis (last), y one-hot (or a distribution).

    Args:
        from_logits: y_pred are logits z and log p = log_softmax(z). Default False: p is first
            renormalized to sum to 1 over the classes, then clipped to [eps, 1 - eps].
        label_smoothing: y -> y (1 - s) + s / num_classes. Default 0.
        reduction, name: see the module docstring.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, reduction="sum_over_batch_size",
                 name=None):
        super().__init__(reduction, name)
        self.from_logits = check_bool(type(self).__name__, "from_logits", from_logits)
        self.label_smoothing = _smoothing(self, label_smoothing)

    def prepare(self, y_true, y_pred):
        y_true, y_pred = super().prepare(y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1 - self.label_smoothing) + self.label_smoothing / y_pred.shape[-1]
        return y_true, y_pred

    def values(self, y_true, y_pred):
        xp = get_array_module(y_pred)
        if self.from_logits:
            return -(y_true * activations.log_softmax(y_pred)).sum(axis=-1)
        p, _ = _clip(xp, y_pred / y_pred.sum(axis=-1, keepdims=True))
        return -(y_true * xp.log(p)).sum(axis=-1)

    def values_gradient(self, y_true, y_pred):
        xp = get_array_module(y_pred)
        if self.from_logits:
            # d/dz of -sum y log_softmax(z) = softmax(z) sum(y) - y
            return activations.softmax(y_pred) * y_true.sum(axis=-1, keepdims=True) - y_true
        total = y_pred.sum(axis=-1, keepdims=True)
        q = y_pred / total
        p, inside = _clip(xp, q)
        dq = inside * (-y_true / p)
        # q = p / sum(p): dL/dp_k = (dq_k - sum_j dq_j q_j) / sum(p)
        return (dq - (dq * q).sum(axis=-1, keepdims=True)) / total

    def fuses_with(self, activation):
        return (not self.from_logits and isinstance(activation, activations.Softmax)
                and activation.axis in (-1,))

    def logit_gradient(self, cache):
        y_true, p, weights = cache
        # d/dz = p sum(y) - y, which is p - y for one-hot targets
        return (p * y_true.sum(axis=-1, keepdims=True) - y_true) * weights[..., None]

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class SparseCategoricalCrossentropy(Loss):
    """values = -log p[label], labels integer class indices of shape (batch,) or (batch, 1).

    Args:
        from_logits: y_pred are logits. Default False (renormalized and clipped as
            CategoricalCrossentropy).
        reduction, name: see the module docstring.

    Labels outside [0, num_classes) raise ValueError naming the offending value.
    """

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.from_logits = check_bool(type(self).__name__, "from_logits", from_logits)

    def prepare(self, y_true, y_pred):
        xp = get_array_module(y_pred)
        y_pred = xp.asarray(y_pred)
        labels = xp.asarray(y_true)
        if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
            labels = labels.reshape(labels.shape[:-1])
        if labels.shape != y_pred.shape[:-1]:
            raise ValueError(f"{type(self).__name__}: expected integer labels of shape "
                             f"{tuple(y_pred.shape[:-1])} for y_pred {tuple(y_pred.shape)}; "
                             f"got y_true {tuple(xp.asarray(y_true).shape)}.")
        if labels.dtype.kind == "f":
            if labels.size and not bool((labels == xp.floor(labels)).all()):
                bad = labels[labels != xp.floor(labels)].ravel()[0]
                raise ValueError(f"{type(self).__name__}: labels must be integers; got {bad}.")
        elif labels.dtype.kind not in "iu":
            raise ValueError(f"{type(self).__name__}: labels must be integers; got dtype "
                             f"{labels.dtype}.")
        num_classes = y_pred.shape[-1]
        if labels.size:
            low, high = labels.min(), labels.max()
            if bool((low < 0) | (high >= num_classes)):  # one read of a device value
                bad = int(low if low < 0 else high)
                raise ValueError(f"{type(self).__name__}: labels must be in [0, {num_classes}); "
                                 f"got label {bad}.")
        return labels.astype("int64", copy=False), y_pred

    def _picked(self, labels, values):
        xp = get_array_module(values)
        return xp.take_along_axis(values, labels[..., None], axis=-1)[..., 0]

    def values(self, labels, y_pred):
        xp = get_array_module(y_pred)
        if self.from_logits:
            return -self._picked(labels, activations.log_softmax(y_pred))
        q = y_pred / y_pred.sum(axis=-1, keepdims=True)
        p, _ = _clip(xp, self._picked(labels, q))
        return -xp.log(p)

    def values_gradient(self, labels, y_pred):
        xp = get_array_module(y_pred)
        if self.from_logits:
            grad = activations.softmax(y_pred)
            _add_at_labels(grad, labels, -1.0)
            return grad
        total = y_pred.sum(axis=-1, keepdims=True)
        q = y_pred / total
        q_label = self._picked(labels, q)
        p, inside = _clip(xp, q_label)
        dq_label = inside * (-1.0 / p)  # gradient w.r.t. q at the label, zero elsewhere
        # dL/dp_k = (dq_k - dq_label q_label) / sum(p)
        grad = (-(dq_label * q_label))[..., None] * xp.ones_like(y_pred)
        _add_at_labels(grad, labels, dq_label)
        return grad / total

    def fuses_with(self, activation):
        return (not self.from_logits and isinstance(activation, activations.Softmax)
                and activation.axis in (-1,))

    def logit_gradient(self, cache):
        labels, p, weights = cache
        grad = p.copy()
        _add_at_labels(grad, labels, -1.0)  # d/dz = p - onehot(label)
        grad *= weights[..., None]
        return grad

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


def _add_at_labels(array, labels, value):
    """array[..., labels] += value, for labels of shape array.shape[:-1]."""
    xp = get_array_module(array)
    flat = array.reshape(-1, array.shape[-1])
    rows = xp.arange(flat.shape[0])
    values = value.reshape(-1) if hasattr(value, "reshape") else value
    flat[rows, labels.reshape(-1)] += values


def _smoothing(loss, value):
    return fraction(type(loss).__name__, "label_smoothing", value, closed_right=True)


# ------------------------------------------------------------------- functions (per-sample values)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean((y_true - y_pred)^2) over the last axis."""
    return MeanSquaredError(reduction=None)(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean(|y_true - y_pred|) over the last axis."""
    return MeanAbsoluteError(reduction=None)(y_true, y_pred)


def poisson(y_true, y_pred):
    """Per-sample mean(y_pred - y_true log(y_pred + eps)) over the last axis."""
    return Poisson(reduction=None)(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Per-sample binary cross-entropy (see :class:`BinaryCrossentropy`)."""
    return BinaryCrossentropy(from_logits, label_smoothing, reduction=None)(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Per-sample categorical cross-entropy (see :class:`CategoricalCrossentropy`)."""
    return CategoricalCrossentropy(from_logits, label_smoothing, reduction=None)(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Per-sample sparse categorical cross-entropy (see :class:`SparseCategoricalCrossentropy`)."""
    return SparseCategoricalCrossentropy(from_logits, reduction=None)(y_true, y_pred)


class LossFunctionWrapper(Loss):
    """A loss from a function ``fn(y_true, y_pred, **kwargs)`` returning per-sample values, written
    with :mod:`dendrite.ops`; ``compile(loss=fn)`` wraps a function so. Its gradient comes from
    the function's ops, traced once per shape signature (see :mod:`dendrite.tracing`).

    Args:
        fn: the function. reduction, name: see the module docstring (name defaults to the
            function's name). kwargs: more arguments passed to ``fn``.

    Example:
        >>> import numpy as np
        >>> from dendrite import ops
        >>> loss = LossFunctionWrapper(lambda t, p: ops.mean(ops.abs(t - p), axis=-1))
        >>> loss(np.zeros((2, 3)), np.ones((2, 3)))
        1.0
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, **kwargs):
        super().__init__(reduction=reduction, name=name or getattr(fn, "__name__", None))
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self):
        return {**super().get_config(), "fn": serialization.serialize(self.fn), **self.fn_kwargs}


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_CLASSES = {
    "mean_squared_error": MeanSquaredError, "mean_absolute_error": MeanAbsoluteError,
    "poisson": Poisson, "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_BY_CLASS_NAME = {cls.__name__: cls for cls in _CLASSES.values()}
_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
            "MSE": "mean_squared_error", "MAE": "mean_absolute_error"}


serialization.register_builtins(
    "losses", _BY_CLASS_NAME,
    names={**_CLASSES, **_BY_CLASS_NAME, **{a: _CLASSES[n] for a, n in _ALIASES.items()}},
    base=Loss)


def get(identifier):
    """A Loss from a name (``"categorical_crossentropy"``, ``"mse"``, ``"MeanSquaredError"``),
    one of the functions above, a config dict (dendrite's or Keras's form) or an instance."""
    if isinstance(identifier, Loss):
        return identifier
    if callable(identifier) and getattr(identifier, "__module__", None) == __name__:
        identifier = identifier.__name__
    if isinstance(identifier, (str, dict)):
        return serialization.deserialize("losses", identifier)
    if callable(identifier) and not isinstance(identifier, type):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Unknown loss {identifier!r}. Valid names: {sorted(_CLASSES)}.")


def serialize(loss):
    """Keras's form (``{"module": "keras.losses", ...}``) of a built-in or registered Loss."""
    return serialization.serialize(loss)
