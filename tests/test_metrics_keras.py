"""The regression and classification metrics of issue 11 against real Keras 3.

``tests/data/keras_metric_values.json`` holds the inputs and the results that Keras 3.15.1 (torch
backend, float32) computed for them (``keras.metrics.X().update_state(...); result()``); dendrite
computes in float64, so values agree to float32 precision.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import dendrite as dd
from dendrite import metrics

REFERENCE = json.loads((Path(__file__).parent / "data" / "keras_metric_values.json").read_text())
DATA = {key: np.asarray(value) for key, value in REFERENCE["data"].items()}
KERAS = REFERENCE["out"]
CLOSE = {"rtol": 2e-5, "atol": 2e-6}

REGRESSION = [
    ("mse", metrics.MeanSquaredError), ("mae", metrics.MeanAbsoluteError),
    ("rmse", metrics.RootMeanSquaredError), ("mape", metrics.MeanAbsolutePercentageError),
    ("msle", metrics.MeanSquaredLogarithmicError), ("cos", metrics.CosineSimilarity),
    ("logcosh", metrics.LogCoshError), ("r2", metrics.R2Score),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("key, cls", REGRESSION, ids=[k for k, _ in REGRESSION])
def test_regression_metric_equals_keras(key, cls, weighted):
    metric = cls()
    weights = DATA["sw"] if weighted else None
    # two batches: the running state must give the same result as Keras's one update
    metric.update_state(DATA["yt"][:4], DATA["yp"][:4], None if weights is None else weights[:4])
    metric.update_state(DATA["yt"][4:], DATA["yp"][4:], None if weights is None else weights[4:])
    np.testing.assert_allclose(metric.result(), KERAS[key + ("_w" if weighted else "")], **CLOSE)


@pytest.mark.parametrize("key, options", [
    ("r2_var", {"class_aggregation": "variance_weighted_average"}),
    ("r2_none", {"class_aggregation": None}), ("r2_adj", {"num_regressors": 2})])
def test_r2_score_options_equal_keras(key, options):
    np.testing.assert_allclose(metrics.R2Score(**options)(DATA["yt"], DATA["yp"]), KERAS[key],
                               **CLOSE)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("summation", ["interpolation", "minoring", "majoring"])
def test_auc_equals_keras(curve, summation):
    auc = metrics.AUC(curve=curve, summation_method=summation)
    np.testing.assert_allclose(auc(DATA["yb"], DATA["pb"]), KERAS[f"auc_{curve}_{summation}"],
                               **CLOSE)


def test_auc_weights_and_thresholds_equal_keras():
    weights = [*DATA["sw"][:6], 1.0, 2.0]
    np.testing.assert_allclose(metrics.AUC()(DATA["yb"], DATA["pb"], weights),
                               KERAS["auc_roc_w"], **CLOSE)
    np.testing.assert_allclose(metrics.AUC(num_thresholds=10)(DATA["yb"], DATA["pb"]),
                               KERAS["auc_10"], **CLOSE)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f_scores_equal_keras(average):
    np.testing.assert_allclose(metrics.F1Score(average=average)(DATA["yc"], DATA["pc"]),
                               KERAS[f"f1_{average}"], **CLOSE)
    np.testing.assert_allclose(
        metrics.FBetaScore(average=average, beta=2.0)(DATA["yc"], DATA["pc"]),
        KERAS[f"fb2_{average}"], **CLOSE)
    np.testing.assert_allclose(
        metrics.F1Score(average="macro", threshold=0.4)(DATA["yc"], DATA["pc"]), KERAS["f1_thr"],
        **CLOSE)


def test_binary_iou_mean_and_sum_equal_keras():
    np.testing.assert_allclose(metrics.BinaryIoU()(DATA["yb"], DATA["pb"]), KERAS["iou"], **CLOSE)
    iou = metrics.BinaryIoU(target_class_ids=[1], threshold=0.3)
    np.testing.assert_allclose(iou(DATA["yb"], DATA["pb"]), KERAS["iou1"], **CLOSE)
    weights = [1.0, 0.5, 2.0]
    np.testing.assert_allclose(metrics.Mean()([1.0, 2.0, 3.0], weights), KERAS["mean"], **CLOSE)
    np.testing.assert_allclose(metrics.Sum()([1.0, 2.0, 3.0], weights), KERAS["sum"], **CLOSE)


def test_string_names_keep_keras_log_keys():
    model = dd.Sequential([dd.layers.Dense(2, input_shape=(3,))])
    model.compile("sgd", "mse", metrics=["mae", "mse", "mape", "msle", "mean_squared_error",
                                         metrics.RootMeanSquaredError(), "cosine_similarity"])
    history = model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    # the keys real Keras 3 gives for the same compile call
    assert sorted(history.history) == ['cosine_similarity', 'loss', 'mae', 'mape',
                                       'mean_squared_error', 'mse', 'msle',
                                       'root_mean_squared_error']


def test_metrics_reset_between_epochs_and_serialize():
    for name in ["auc", "r2_score", "f1_score", "binary_io_u", "logcosh"]:
        metric = metrics.get(name)
        clone = metrics.get(metrics.serialize(metric))
        assert type(clone) is type(metric) and clone.get_config() == metric.get_config()
    auc = metrics.AUC()
    auc.update_state([0, 1], [0.9, 0.1])
    auc.reset_state()
    auc.update_state([0, 1], [0.1, 0.9])
    assert auc.result() == pytest.approx(1.0)


def test_bad_metric_arguments_name_the_argument():
    with pytest.raises(ValueError,
                       match=r"AUC: curve must be one of \['ROC', 'PR'\]; got curve='ROCK'"):
        metrics.AUC(curve="ROCK")
    with pytest.raises(ValueError, match=r"F1Score: average must be one of"):
        metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match=r"R2Score: class_aggregation must be one of"):
        metrics.R2Score(class_aggregation="sum")


# ---------------------------------------------------------------------------- custom metrics


class CountCorrect(metrics.Metric):
    """The guides' pattern: state from add_variable, assign_add in update_state."""

    def __init__(self, name="count_correct", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")

    def update_state(self, y_true, y_pred, sample_weight=None):
        hits = np.asarray(y_true).reshape(-1) == np.asarray(y_pred).argmax(axis=-1)
        self.correct.assign_add(hits.sum())

    def result(self):
        return self.correct


def test_issue11_custom_metric_subclass_trains_and_resets_each_epoch():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 4)), rng.integers(0, 3, 20)
    model = dd.Sequential([dd.layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[CountCorrect()])
    history = model.fit(x, y, batch_size=5, epochs=2, verbose=0)
    counts = history.history["count_correct"]
    assert len(counts) == 2 and all(0 <= c <= 20 and float(c).is_integer() for c in counts)
    probabilities = model.predict(x, verbose=0)
    metric = CountCorrect()
    assert float(metric(y, probabilities)) == float((probabilities.argmax(1) == y).sum())
    metric.reset_state()
    assert float(metric.result()) == 0.0
