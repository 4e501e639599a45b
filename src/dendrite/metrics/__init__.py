"""Metrics with Keras's names: per-sample functions and stateful metric objects.

A metric object accumulates over batches: ``update_state(y_true, y_pred, sample_weight=None)``,
``result()`` (a float) and ``reset_state()``. ``fit`` shows the running result over the epoch.
``get("accuracy", ...)`` resolves the generic name from the shapes of y_true and y_pred as Keras
does: binary accuracy for one output unit, sparse categorical accuracy when y_true has fewer axes
than y_pred (or one column against several), categorical accuracy otherwise.
"""

from dendrite.backend import get_array_module, host
from dendrite.errors import check_number
from dendrite.metrics.base import Mean, MeanMetricWrapper, Metric, Sum, make_wrapper
from dendrite.saving import serialization


def _labels(y):
    return y.reshape(y.shape[:-1]) if y.ndim > 1 and y.shape[-1] == 1 else y


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per-sample mean over the last axis of (y_true == (y_pred > threshold))."""
    xp = get_array_module(y_pred)
    y_pred = xp.asarray(y_pred)
    y_true = xp.asarray(y_true).reshape(y_pred.shape)
    return (y_true == (y_pred > threshold)).mean(axis=-1)


def categorical_accuracy(y_true, y_pred):
    """Per-sample 1.0 where argmax(y_true) == argmax(y_pred), else 0.0.

    y_true must be one-hot, shaped like y_pred; integer labels are refused (they need
    :func:`sparse_categorical_accuracy`, which "accuracy" resolves to on its own).
    """
    xp = get_array_module(y_pred)
    _check_one_hot("categorical_accuracy", y_true, y_pred)
    matches = xp.asarray(y_true).argmax(axis=-1) == xp.asarray(y_pred).argmax(axis=-1)
    return matches.astype("float64")


def _check_one_hot(name, y_true, y_pred):
    true_shape, pred_shape = (tuple(getattr(y, "shape", None) or host.shape(y))
                              for y in (y_true, y_pred))
    if true_shape != pred_shape:
        raise ValueError(f"{name}: y_true must be one-hot, of y_pred's shape {pred_shape}; got "
                         f"y_true of shape {true_shape} (for integer labels use "
                         "sparse_categorical_accuracy, or 'accuracy')")


def sparse_categorical_accuracy(y_true, y_pred):
    """Per-sample 1.0 where the integer label equals argmax(y_pred), else 0.0."""
    xp = get_array_module(y_pred)
    labels = _labels(xp.asarray(y_true))
    return (labels == xp.asarray(y_pred).argmax(axis=-1)).astype("float64")


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Per-sample 1.0 where argmax(y_true) is among the k largest predictions."""
    xp = get_array_module(y_pred)
    _check_one_hot("top_k_categorical_accuracy", y_true, y_pred)
    return sparse_top_k_categorical_accuracy(xp.asarray(y_true).argmax(axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Per-sample 1.0 where the integer label is among the k largest predictions."""
    xp = get_array_module(y_pred)
    y_pred = xp.asarray(y_pred)
    labels = _labels(xp.asarray(y_true)).astype("int64")
    target = xp.take_along_axis(y_pred, labels[..., None], axis=-1)
    # the label is in the top k when fewer than k predictions are strictly larger
    return ((y_pred > target).sum(axis=-1) < k).astype("float64")


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts C[i, j] of examples with true class i predicted as class j.

    Args:
        y_true: integer labels (m,), or one-hot / probabilities (m, num_classes).
        y_pred: integer labels (m,), or scores (m, num_classes) (their argmax is taken).
        num_classes: number of classes; default 1 + the largest label seen.

    Returns:
        int64 array (num_classes, num_classes): rows are true classes, columns predictions.

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 1, 0]).tolist()
        [[1, 0], [1, 1]]
    """
    y_true, y_pred = host.asarray(y_true), host.asarray(y_pred)
    y_true = y_true.argmax(-1) if y_true.ndim == 2 and y_true.shape[-1] > 1 else _labels(y_true)
    y_pred = y_pred.argmax(-1) if y_pred.ndim == 2 and y_pred.shape[-1] > 1 else _labels(y_pred)
    y_true, y_pred = y_true.astype("int64").ravel(), y_pred.astype("int64").ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: y_true and y_pred must hold the same number of "
                         f"labels; got {y_true.size} and {y_pred.size}.")
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            bad = labels.min() if labels.min() < 0 else labels.max()
            raise ValueError(f"confusion_matrix: {name} labels must be in [0, {num_classes}); "
                             f"got {int(bad)}.")
    counts = host.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


BinaryAccuracy = make_wrapper(binary_accuracy, "binary_accuracy", threshold=0.5)
CategoricalAccuracy = make_wrapper(categorical_accuracy, "categorical_accuracy")
SparseCategoricalAccuracy = make_wrapper(sparse_categorical_accuracy, "sparse_categorical_accuracy")
TopKCategoricalAccuracy = make_wrapper(top_k_categorical_accuracy, "top_k_categorical_accuracy",
                                       k=5)
SparseTopKCategoricalAccuracy = make_wrapper(sparse_top_k_categorical_accuracy,
                                         "sparse_top_k_categorical_accuracy", k=5)


class _ConfusionCounts(Metric):
    """True/false positive counts for binary predictions thresholded at ``thresholds`` (0.5).

    With ``class_id``, the column of that class is treated as the binary prediction.
    """

    def __init__(self, thresholds=None, class_id=None, name=None):
        owner = type(self).__name__
        self.thresholds = 0.5 if thresholds is None else check_number(
            owner, "thresholds", thresholds, low=0, high=1, expected="a float in [0, 1] or None")
        self.class_id = check_number(owner, "class_id", class_id, integer=True, low=0,
                                     allow_none=True, expected="a non-negative integer or None")
        super().__init__(name)
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = self.false_negatives = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = get_array_module(y_pred)
        y_pred, y_true = xp.asarray(y_pred), xp.asarray(y_true)
        if self.class_id is not None:
            if self.class_id >= y_pred.shape[-1] or y_true.shape != y_pred.shape:
                raise ValueError(
                    f"{type(self).__name__}: class_id must index a class of the output (one-hot "
                    f"y_true of the same shape, {y_pred.shape[-1]} classes); got "
                    f"class_id={self.class_id} for y_true of shape {tuple(y_true.shape)} and "
                    f"y_pred of shape {tuple(y_pred.shape)}")
            y_pred, y_true = y_pred[..., self.class_id], y_true[..., self.class_id]
        y_true = y_true.reshape(y_pred.shape).astype(bool)
        predicted = y_pred > self.thresholds
        weights = 1.0 if sample_weight is None else xp.asarray(sample_weight).reshape(
            (-1,) + (1,) * (y_pred.ndim - 1))
        self.true_positives += float((weights * (predicted & y_true)).sum())
        self.false_positives += float((weights * (predicted & ~y_true)).sum())
        self.false_negatives += float((weights * (~predicted & y_true)).sum())


class Precision(_ConfusionCounts):
    """TP / (TP + FP) over all samples seen; 0 when nothing was predicted positive."""

    def result(self):
        denominator = self.true_positives + self.false_positives
        return self.true_positives / denominator if denominator else 0.0


class Recall(_ConfusionCounts):
    """TP / (TP + FN) over all samples seen; 0 when there were no positives."""

    def result(self):
        denominator = self.true_positives + self.false_negatives
        return self.true_positives / denominator if denominator else 0.0


from dendrite.metrics.classification import AUC, BinaryIoU, F1Score, FBetaScore
from dendrite.metrics.regression import (
    CosineSimilarity,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    R2Score,
    RootMeanSquaredError,
    cosine_similarity,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
)

_CLASSES = {
    "mean_squared_error": MeanSquaredError, "mean_absolute_error": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "root_mean_squared_error": RootMeanSquaredError, "cosine_similarity": CosineSimilarity,
    "logcosh": LogCoshError, "r2_score": R2Score, "auc": AUC, "f1_score": F1Score,
    "fbeta_score": FBetaScore, "binary_io_u": BinaryIoU, "mean": Mean, "sum": Sum,
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "precision": Precision, "recall": Recall,
}
# Keras's short names for the regression metrics; the metric keeps the short name in the logs
_ALIASES = {"mse": MeanSquaredError, "mae": MeanAbsoluteError,
            "mape": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError,
            "MSE": MeanSquaredError, "MAE": MeanAbsoluteError,
            "MAPE": MeanAbsolutePercentageError, "MSLE": MeanSquaredLogarithmicError}
_BY_CLASS_NAME = {cls.__name__: cls for cls in _CLASSES.values()}
serialization.register_builtins("metrics", _BY_CLASS_NAME,
                                names={**_CLASSES, **_ALIASES, **_BY_CLASS_NAME},
                                base=Metric, listed_extra=("accuracy", "acc"))


def resolve_accuracy(y_true_shape, y_pred_shape):
    """Which accuracy Keras means by "accuracy" for these shapes (see the module docstring)."""
    if y_pred_shape[-1] == 1:
        return "binary_accuracy"
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return "sparse_categorical_accuracy"
    return "categorical_accuracy"


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """A Metric from a name, a function above, a config dict or an instance.

    "accuracy" / "acc" need the shapes and keep the name the user gave.
    """
    if isinstance(identifier, Metric):
        return identifier
    if callable(identifier) and getattr(identifier, "__module__", None) == __name__:
        identifier = identifier.__name__
    if identifier in ("accuracy", "acc"):
        resolved = resolve_accuracy(tuple(y_true_shape), tuple(y_pred_shape))
        return _CLASSES[resolved](name=identifier)
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier](name=identifier)
    if isinstance(identifier, (str, dict)):
        return serialization.deserialize("metrics", identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Unknown metric {identifier!r}. Valid names: "
                     f"{sorted([*_CLASSES, 'accuracy'])}.")


def serialize(metric):
    """Keras's form (``{"module": "keras.metrics", ...}``) of a built-in or registered Metric."""
    return serialization.serialize(metric)


__all__ = ["AUC", "BinaryAccuracy", "BinaryIoU", "CategoricalAccuracy", "CosineSimilarity",
           "F1Score", "FBetaScore", "LogCoshError", "Mean", "MeanAbsoluteError",
           "MeanAbsolutePercentageError", "MeanMetricWrapper", "MeanSquaredError",
           "MeanSquaredLogarithmicError", "Metric", "Precision", "R2Score", "Recall",
           "RootMeanSquaredError", "SparseCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
           "Sum", "TopKCategoricalAccuracy", "binary_accuracy", "categorical_accuracy",
           "confusion_matrix", "cosine_similarity", "get", "log_cosh", "mean_absolute_error",
           "mean_absolute_percentage_error", "mean_squared_error",
           "mean_squared_logarithmic_error", "resolve_accuracy", "serialize",
           "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy",
           "top_k_categorical_accuracy"]
