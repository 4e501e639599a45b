"""The metric contract (Keras 3's): ``update_state``, ``result``, ``reset_state``, ``add_variable``.

A metric accumulates over batches. Built-in metrics keep their running sums as Python floats; a
user's subclass may instead create state with :meth:`Metric.add_variable` (a non-trainable
:class:`~dendrite.variables.Variable` with ``assign``/``assign_add``), which the base
``reset_state`` sets back to its initial value. Calling a metric updates it and returns
``result()``.
"""

import re

from dendrite import backend, initializers
from dendrite.backend import get_array_module
from dendrite.errors import check_number, check_unknown_kwargs, positive_int
from dendrite.variables import Variable


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class Metric:
    """Base class of stateful metrics.

    Args:
        name: the name shown in logs. Default: the class name in snake case.
        dtype: dtype of the variables made by :meth:`add_variable`. Default ``floatx()``.

    Unlike Keras 2, the base ``__init__`` does not call ``reset_state()``: subclasses create their
    state (with :meth:`add_variable` or plain attributes) after ``super().__init__``.
    """

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = backend.standardize_dtype(dtype)
        self._metric_variables = []

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A non-trainable state Variable of ``shape``, reset to its initial value by
        :meth:`reset_state`. ``aggregation`` is accepted for Keras compatibility."""
        value = initializers.get(initializer)(tuple(shape), dtype=dtype or self.dtype)
        variable = Variable(name or f"variable_{len(self._metric_variables)}", value,
                            trainable=False)
        self._metric_variables.append((variable, value.copy()))
        return variable

    add_weight = add_variable

    @property
    def variables(self):
        return [variable for variable, _ in self._metric_variables]

    def reset_state(self):
        """Set every variable made by :meth:`add_variable` back to its initial value."""
        for variable, initial in self._metric_variables:
            variable.assign(initial)

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError(f"{type(self).__name__} does not implement update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement result")

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def as_weights(sample_weight, values):
    """Per-value weights (float64) shaped like ``values`` (batch first), or None."""
    if sample_weight is None:
        return None
    xp = get_array_module(values)
    weights = xp.asarray(sample_weight, dtype="float64")
    weights = weights.reshape(weights.shape + (1,) * (values.ndim - weights.ndim))
    return xp.broadcast_to(weights, values.shape)


class Mean(Metric):
    """The weighted mean of all values seen: sum(w * value) / sum(w)."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self):
        self.total, self.count = 0.0, 0.0

    def update_state(self, values, sample_weight=None):
        values = backend.host.asarray(values, dtype="float64") if not hasattr(
            values, "dtype") else values
        weights = as_weights(sample_weight, values)
        # on a device the sums stay there (0-d arrays): read once, by result()
        if weights is None:
            self.total += backend.loss_scalar(values.sum())
            self.count += values.size
        else:
            self.total += backend.loss_scalar((values * weights).sum())
            self.count += backend.loss_scalar(weights.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


class Sum(Mean):
    """The weighted sum of all values seen: sum(w * value)."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name, dtype)

    def result(self):
        return self.total


class MeanMetricWrapper(Mean):
    """The weighted mean over all samples seen of a per-sample function ``fn(y_true, y_pred)``."""

    def __init__(self, fn, name=None, dtype=None, **fn_kwargs):
        if "k" in fn_kwargs:
            fn_kwargs["k"] = positive_int(name or fn.__name__, "k", fn_kwargs["k"])
        if "threshold" in fn_kwargs:
            fn_kwargs["threshold"] = check_number(name or fn.__name__, "threshold",
                                                  fn_kwargs["threshold"])
        self.fn, self.fn_kwargs = fn, fn_kwargs
        super().__init__(name or fn.__name__, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self.fn(y_true, y_pred, **self.fn_kwargs), sample_weight)


def make_wrapper(fn, default_name, **defaults):
    """A :class:`MeanMetricWrapper` subclass named after ``default_name`` (``"mean_squared_error"``
    gives ``MeanSquaredError``), taking ``name`` and the keyword ``defaults`` of ``fn``."""

    class Wrapped(MeanMetricWrapper):
        def __init__(self, name=default_name, dtype=None, **kwargs):
            check_unknown_kwargs(Wrapped.__name__, {k: v for k, v in kwargs.items()
                                                    if k not in defaults}, ["name", *defaults])
            super().__init__(fn, name=name, dtype=dtype, **{**defaults, **kwargs})

        def get_config(self):
            return {"name": self.name, **{k: self.fn_kwargs[k] for k in defaults}}

    Wrapped.__name__ = Wrapped.__qualname__ = "".join(p.title() for p in default_name.split("_"))
    Wrapped.__doc__ = f"Running mean of :func:`{fn.__name__}`."
    return Wrapped
