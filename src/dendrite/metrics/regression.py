"""Regression metrics with Keras's names and formulas.

The per-sample functions reduce over the last axis; their metric classes keep the weighted mean
over all samples seen. ``RootMeanSquaredError`` and ``R2Score`` keep sums of their own.
"""

import math
import warnings

from dendrite import backend_ops
from dendrite.backend import epsilon, get_array_module
from dendrite.errors import arg_error, check_number
from dendrite.metrics.base import Mean, Metric, as_weights, make_wrapper


def _pair(y_true, y_pred):
    """y_true and y_pred as float64 arrays of one shape (a trailing axis of 1 added or dropped)."""
    xp = get_array_module(y_pred)
    y_pred = xp.asarray(y_pred, dtype="float64")
    y_true = xp.asarray(y_true, dtype="float64")
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = y_true[..., None]
    elif y_pred.ndim == y_true.ndim - 1 and y_true.shape[-1] == 1:
        y_pred = y_pred[..., None]
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape; got y_true "
                         f"{tuple(y_true.shape)} and y_pred {tuple(y_pred.shape)}")
    return xp, y_true, y_pred


def mean_squared_error(y_true, y_pred):
    """Per-sample mean((y_true - y_pred)^2) over the last axis."""
    _, y_true, y_pred = _pair(y_true, y_pred)
    return ((y_true - y_pred) ** 2).mean(axis=-1)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean(|y_true - y_pred|) over the last axis."""
    xp, y_true, y_pred = _pair(y_true, y_pred)
    return xp.abs(y_true - y_pred).mean(axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """Per-sample 100 * mean(|(y_true - y_pred) / max(|y_true|, eps)|) over the last axis."""
    xp, y_true, y_pred = _pair(y_true, y_pred)
    return 100.0 * xp.abs((y_true - y_pred) / xp.maximum(xp.abs(y_true), epsilon())).mean(-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """Per-sample mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2)."""
    xp, y_true, y_pred = _pair(y_true, y_pred)
    eps = epsilon()
    return ((xp.log1p(xp.maximum(y_pred, eps)) - xp.log1p(xp.maximum(y_true, eps))) ** 2).mean(-1)


def log_cosh(y_true, y_pred):
    """Per-sample mean(log(cosh(y_pred - y_true))), computed as x + softplus(-2x) - log 2."""
    xp, y_true, y_pred = _pair(y_true, y_pred)
    x = y_pred - y_true
    softplus = xp.logaddexp(0.0, -2.0 * x)
    return (x + softplus - math.log(2.0)).mean(axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Per-sample sum(l2_normalize(y_true) * l2_normalize(y_pred)) along ``axis``."""
    xp, y_true, y_pred = _pair(y_true, y_pred)

    def normalize(v):
        norm = xp.sqrt(xp.maximum((v * v).sum(axis=axis, keepdims=True), 1e-12))
        return v / norm

    return (normalize(y_true) * normalize(y_pred)).sum(axis=axis)


MeanSquaredError = make_wrapper(mean_squared_error, "mean_squared_error")
MeanAbsoluteError = make_wrapper(mean_absolute_error, "mean_absolute_error")
MeanAbsolutePercentageError = make_wrapper(mean_absolute_percentage_error,
                                           "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = make_wrapper(mean_squared_logarithmic_error,
                                           "mean_squared_logarithmic_error")
LogCoshError = make_wrapper(log_cosh, "logcosh")
LogCoshError.__name__ = LogCoshError.__qualname__ = "LogCoshError"
CosineSimilarity = make_wrapper(cosine_similarity, "cosine_similarity", axis=-1)


class RootMeanSquaredError(Mean):
    """sqrt(sum(w * (y_true - y_pred)^2) / sum(w)) over every element seen."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        _, y_true, y_pred = _pair(y_true, y_pred)
        super().update_state((y_true - y_pred) ** 2, sample_weight)

    def result(self):
        return math.sqrt(super().result())


_AGGREGATIONS = ("uniform_average", "variance_weighted_average", None)


class R2Score(Metric):
    """Coefficient of determination: 1 - sum(w (y - y_pred)^2) / sum(w (y - mean_w(y))^2).

    Computed per output column (y of shape (batch, outputs)) from running weighted sums, then
    aggregated. With ``num_regressors`` p > 0 it is adjusted: 1 - (1 - R2)(n - 1) / (n - p - 1),
    where n counts every value seen (Keras's choice), falling back to R2 with a warning when
    p >= n - 1.

    Args:
        class_aggregation: "uniform_average" (mean over outputs, default),
            "variance_weighted_average" (weighted by each output's total sum of squares) or None
            (one score per output, an array).
        num_regressors: non-negative int. Default 0.
        name: default "r2_score".
    """

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score",
                 dtype=None):
        super().__init__(name, dtype)
        if class_aggregation not in _AGGREGATIONS:
            raise arg_error("R2Score", "class_aggregation", f"one of {list(_AGGREGATIONS)}",
                            class_aggregation)
        self.class_aggregation = class_aggregation
        self.num_regressors = int(check_number("R2Score", "num_regressors", num_regressors,
                                               integer=True, low=0))
        self.reset_state()

    def reset_state(self):
        self.sums = None  # (sum w y, sum w y^2, sum w (y - y_pred)^2, sum w) per output
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp, y_true, y_pred = _pair(y_true, y_pred)
        if y_true.ndim == 1:
            y_true, y_pred = y_true[:, None], y_pred[:, None]
        weights = as_weights(sample_weight, y_true)
        weights = xp.ones_like(y_true) if weights is None else weights
        sums = [(weights * y_true).sum(0), (weights * y_true * y_true).sum(0),
                (weights * (y_true - y_pred) ** 2).sum(0), weights.sum(0)]
        self.sums = sums if self.sums is None else [a + b for a, b in zip(self.sums, sums)]
        self.num_samples += y_true.size

    def result(self):
        if self.sums is None:
            return 0.0
        weighted_sum, squared_sum, residual, count = self.sums
        xp = get_array_module(weighted_sum)
        total = squared_sum - weighted_sum * (weighted_sum / count)
        with backend_ops.errstate(total, divide="ignore", invalid="ignore"):
            scores = 1 - residual / total
        scores = xp.where(xp.isinf(scores), 0.0, scores)
        if self.class_aggregation == "uniform_average":
            score = float(scores.mean())
        elif self.class_aggregation == "variance_weighted_average":
            score = float((total * scores).sum() / total.sum())
        else:
            score = scores
        p, n = self.num_regressors, self.num_samples
        if p:
            if p >= n - 1:
                warnings.warn(f"R2Score: num_regressors={p} needs more than {p + 1} values; "
                              f"got {n}. Returning the unadjusted R2 score.", stacklevel=2)
            else:
                score = 1 - (1 - score) * (n - 1) / (n - p - 1)
        return score

    def get_config(self):
        return {"name": self.name, "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
