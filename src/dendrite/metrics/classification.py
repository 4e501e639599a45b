"""Classification metrics built on counts: AUC, F-scores and binary IoU (Keras's definitions)."""

from dendrite.backend import epsilon, get_array_module, host, to_host
from dendrite.errors import arg_error, check_bool, check_number
from dendrite.metrics.base import Metric, as_weights


def _choice(owner, argument, value, valid):
    name = value.upper() if isinstance(value, str) and argument == "curve" else value
    if name not in valid:
        raise arg_error(owner, argument, f"one of {list(valid)}", value)
    return name


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from counts at fixed thresholds.

    Predictions are compared with ``num_thresholds`` thresholds: 0 - eps, (i + 1) / (n - 1) for
    i < n - 2, and 1 + eps; a prediction counts as positive when it is strictly greater. The
    true/false positive/negative counts at each threshold give the curve's points, and the area is
    a Riemann sum over consecutive points: ``"interpolation"`` averages the heights (for the PR
    curve Davis & Goadrich's interpolation of precision, as Keras does), ``"minoring"`` takes the
    smaller, ``"majoring"`` the larger.

    Args:
        num_thresholds: int > 1. Default 200.
        curve: "ROC" (default) or "PR".
        summation_method: "interpolation" (default), "minoring" or "majoring".
        thresholds: optional list of thresholds in [0, 1] used instead of the even ones.
        from_logits: predictions are logits (a sigmoid is applied first). Default False.
        name: default "auc".

    Labels are treated as one binary problem (Keras's ``multi_label=False``): every element of
    y_true (0 or 1) against the matching element of y_pred.
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name="auc", dtype=None, thresholds=None, from_logits=False):
        super().__init__(name, dtype)
        self.curve = _choice("AUC", "curve", curve, ("ROC", "PR"))
        self.summation_method = _choice("AUC", "summation_method", summation_method,
                                        ("interpolation", "minoring", "majoring"))
        if thresholds is not None:
            inner = sorted(float(check_number("AUC", "thresholds", t, low=0, high=1))
                           for t in thresholds)
        else:
            count = int(check_number("AUC", "num_thresholds", num_thresholds, integer=True, low=2,
                                     expected="an integer > 1"))
            inner = [(i + 1) / (count - 1) for i in range(count - 2)]
        self.num_thresholds = len(inner) + 2
        self._explicit_thresholds = thresholds is not None
        self.thresholds = [0.0 - epsilon(), *inner, 1.0 + epsilon()]
        self.from_logits = check_bool("AUC", "from_logits", from_logits)
        self.reset_state()

    def reset_state(self):
        shape = (self.num_thresholds,)
        self.true_positives, self.false_positives = host.zeros(shape), host.zeros(shape)
        self.true_negatives, self.false_negatives = host.zeros(shape), host.zeros(shape)

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = get_array_module(y_pred)
        y_pred = xp.asarray(y_pred, dtype="float64")
        y_true = xp.asarray(y_true, dtype="float64").reshape(y_pred.shape)
        if self.from_logits:
            y_pred = 1 / (1 + xp.exp(-y_pred))
        weights = as_weights(sample_weight, y_pred)
        weights = (xp.ones_like(y_pred) if weights is None else weights).ravel()
        positive, predictions = y_true.ravel() > 0.5, y_pred.ravel()
        # (thresholds, values): is each prediction above each threshold
        above = predictions[None, :] > xp.asarray(self.thresholds)[:, None]
        # the counts live on the host: one explicit copy per update from a device
        self.true_positives += to_host((above & positive) @ weights)
        self.false_positives += to_host((above & ~positive) @ weights)
        self.false_negatives += to_host((~above & positive) @ weights)
        self.true_negatives += to_host((~above & ~positive) @ weights)

    def result(self):
        tp, fp, fn, tn = (self.true_positives, self.false_positives, self.false_negatives,
                          self.true_negatives)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolated_pr_auc()
        recall = _divide(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide(fp, fp + tn), recall
        else:
            x, y = recall, _divide(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = host.minimum(y[:-1], y[1:])
        else:
            heights = host.maximum(y[:-1], y[1:])
        return float(((x[:-1] - x[1:]) * heights).sum())

    def _interpolated_pr_auc(self):
        # Precision varies between thresholds A and B as TP and P = TP + FP vary linearly:
        # area = slope * (dTP + intercept * log(P_A / P_B)) / total positives.
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        d_tp = tp[:-1] - tp[1:]
        p = tp + fp
        d_p = p[:-1] - p[1:]
        slope = _divide(d_tp, host.maximum(d_p, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = host.where(both, _divide(p[:-1], host.maximum(p[1:], 0)), 1.0)
        with host.errstate(divide="ignore"):
            log_ratio = host.where(ratio > 0, host.log(host.where(ratio > 0, ratio, 1.0)), 0.0)
        increments = _divide(slope * (d_tp + intercept * log_ratio),
                             host.maximum(tp[1:] + fn[1:], 0))
        return float(increments.sum())

    def get_config(self):
        config = {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "from_logits": self.from_logits}
        if self._explicit_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


def _divide(a, b):
    """a / b, 0 where b == 0 (Keras's divide_no_nan)."""
    with host.errstate(divide="ignore", invalid="ignore"):
        return host.where(b != 0, a / host.where(b != 0, b, 1.0), 0.0)


_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """F-beta score per class: (1 + b^2) P R / (b^2 P + R), from running per-class counts.

    y_true is one-hot (batch, classes). A prediction is positive where y_pred is the row's
    maximum (``threshold=None``) or where it exceeds ``threshold``.

    Args:
        average: None (one score per class, an array), "micro" (counts summed over classes
            first), "macro" (mean of the class scores) or "weighted" (mean weighted by each
            class's support). Default None.
        beta: positive float. Default 1.0.
        threshold: None or a float in [0, 1]. Default None.
        name: default "fbeta_score".
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name, dtype)
        owner = type(self).__name__
        if average not in _AVERAGES:
            raise arg_error(owner, "average", f"one of {list(_AVERAGES)}", average)
        self.average = average
        self.beta = float(check_number(owner, "beta", beta, low=0, low_open=True,
                                       expected="a positive number"))
        self.threshold = check_number(owner, "threshold", threshold, low=0, high=1,
                                      allow_none=True, expected="a float in [0, 1] or None")
        self.reset_state()

    def reset_state(self):
        self.counts = None  # true positives, false positives, false negatives, support

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = get_array_module(y_pred)
        y_pred = xp.asarray(y_pred, dtype="float64")
        y_true = xp.asarray(y_true, dtype="float64")
        if y_true.shape != y_pred.shape or y_pred.ndim != 2:
            raise ValueError(f"{type(self).__name__}: expected one-hot y_true and y_pred of one "
                             f"shape (batch, classes); got {tuple(y_true.shape)} and "
                             f"{tuple(y_pred.shape)}")
        if self.threshold is None:
            predicted = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (xp.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype("float64")
        weights = as_weights(sample_weight, y_pred)
        weights = 1.0 if weights is None else weights
        axis = None if self.average == "micro" else 0
        counts = [to_host((weights * v).sum(axis=axis)) for v in (
            predicted * y_true, predicted * (1 - y_true), (1 - predicted) * y_true, y_true)]
        self.counts = counts if self.counts is None else [a + b for a, b in zip(self.counts,
                                                                                   counts)]

    def result(self):
        if self.counts is None:
            return 0.0
        tp, fp, fn, support = self.counts
        eps, b2 = epsilon(), self.beta ** 2
        precision = tp / (tp + fp + eps)
        recall = tp / (tp + fn + eps)
        score = (1 + b2) * precision * recall / (b2 * precision + recall + eps)
        if self.average == "weighted":
            return float((score * support / (support.sum() + eps)).sum())
        if self.average is not None:
            return float(score.mean())
        return score

    def get_config(self):
        return {"name": self.name, "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """F1 score: :class:`FBetaScore` with beta = 1. Args: average, threshold, name ("f1_score")."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average, 1.0, threshold, name, dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class BinaryIoU(Metric):
    """Intersection over union for binary predictions: mean over ``target_class_ids`` of
    TP / (TP + FP + FN) per class, from a running 2x2 confusion matrix; a prediction is class 1
    where y_pred >= ``threshold``. Classes never seen (zero denominator) count 0.

    Args:
        target_class_ids: the classes (0 and/or 1) averaged. Default (0, 1).
        threshold: default 0.5. name: default "binary_io_u" (Keras's automatic name).
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name="binary_io_u", dtype=None):
        super().__init__(name, dtype)
        ids = list(target_class_ids)
        if not ids or any(i not in (0, 1) for i in ids):
            raise arg_error("BinaryIoU", "target_class_ids", "a non-empty list of 0 and 1",
                            target_class_ids)
        self.target_class_ids = ids
        self.threshold = float(check_number("BinaryIoU", "threshold", threshold))
        self.reset_state()

    def reset_state(self):
        self.matrix = host.zeros((2, 2))  # rows: true class, columns: predicted class

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = get_array_module(y_pred)
        y_pred = xp.asarray(y_pred, dtype="float64")
        y_true = xp.asarray(y_true, dtype="float64").reshape(y_pred.shape)
        predicted = (y_pred >= self.threshold).astype("int64").ravel()
        actual = (y_true > 0.5).astype("int64").ravel()
        weights = as_weights(sample_weight, y_pred)
        weights = None if weights is None else to_host(weights).ravel()
        self.matrix += host.bincount(to_host(actual * 2 + predicted), weights=weights,
                                     minlength=4).reshape(2, 2)

    def result(self):
        m = self.matrix
        tp = host.diag(m)
        denominator = m.sum(axis=0) + m.sum(axis=1) - tp
        ids = self.target_class_ids
        valid = denominator[ids] > 1e-9
        iou = host.where(valid, tp[ids] / (denominator[ids] + epsilon()), 0.0)
        return float(iou.sum() / valid.sum()) if valid.any() else 0.0

    def get_config(self):
        return {"name": self.name, "target_class_ids": self.target_class_ids,
                "threshold": self.threshold}
