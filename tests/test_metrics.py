"""Metrics: per-sample functions, stateful metric objects, the confusion matrix, and how
"accuracy" resolves from shapes as in Keras 3."""

import numpy as np
import pytest

import dendrite as dd
from dendrite import layers, metrics

# ------------------------------------------------------------------- per-sample functions


def test_binary_accuracy_per_sample():
    y_true = np.array([[1], [0], [1], [0]])
    y_pred = np.array([[0.7], [0.6], [0.4], [0.1]])
    np.testing.assert_array_equal(metrics.binary_accuracy(y_true, y_pred), [1, 0, 0, 1])


@pytest.mark.parametrize(
    "threshold, expected", [(0.5, [1, 0, 0, 1]), (0.3, [1, 0, 1, 1]), (0.65, [1, 1, 0, 1])]
)
def test_binary_accuracy_threshold(threshold, expected):
    y_true = np.array([[1], [0], [1], [0]])
    y_pred = np.array([[0.7], [0.6], [0.4], [0.1]])
    np.testing.assert_array_equal(metrics.binary_accuracy(y_true, y_pred, threshold), expected)


def test_binary_accuracy_averages_over_last_axis():
    y_true = np.array([[1, 0, 1, 1]])
    y_pred = np.array([[0.9, 0.2, 0.3, 0.8]])
    np.testing.assert_allclose(metrics.binary_accuracy(y_true, y_pred), [0.75])


def test_categorical_accuracy():
    y_true = np.eye(3)[[0, 1, 2, 2]]
    y_pred = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.5, 0.2, 0.3], [0.1, 0.1, 0.8]])
    np.testing.assert_array_equal(metrics.categorical_accuracy(y_true, y_pred), [1, 1, 0, 1])


@pytest.mark.parametrize(
    "labels",
    [np.array([0, 1, 2, 2]), np.array([[0], [1], [2], [2]]), np.array([0.0, 1.0, 2.0, 2.0])],
)
def test_sparse_categorical_accuracy(labels):
    y_pred = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.5, 0.2, 0.3], [0.1, 0.1, 0.8]])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(labels, y_pred), [1, 1, 0, 1])


# scores for 6 classes, classes by rank: row 0: 1, 3, 0, 5, 2, 4; row 1: 2, 4, 3, 0, 5, 1
_SCORES = np.array([[0.20, 0.30, 0.05, 0.25, 0.01, 0.19], [0.10, 0.05, 0.40, 0.15, 0.20, 0.09]])


@pytest.mark.parametrize(
    "k, labels, expected",
    [
        (5, [4, 2], [0, 1]),  # row 0: class 4 is 6th; row 1: class 2 is 1st
        (5, [2, 1], [1, 0]),  # row 0: class 2 is 5th; row 1: class 1 is 6th
        (2, [3, 4], [1, 1]),  # row 0: class 3 is 2nd; row 1: class 4 is 2nd
        (2, [0, 3], [0, 0]),  # class 0 is 3rd in row 0, class 3 is 3rd in row 1
        (1, [1, 2], [1, 1]),
    ],
)
def test_top_k_categorical_accuracy(k, labels, expected):
    one_hot = np.eye(6)[labels]
    np.testing.assert_array_equal(metrics.top_k_categorical_accuracy(one_hot, _SCORES, k), expected)
    np.testing.assert_array_equal(
        metrics.sparse_top_k_categorical_accuracy(np.array(labels), _SCORES, k), expected
    )


def test_top_k_default_k_is_5():
    assert metrics.TopKCategoricalAccuracy().fn_kwargs == {"k": 5}
    metric = metrics.SparseTopKCategoricalAccuracy()
    metric.update_state(np.array([2, 1]), _SCORES)  # ranks 5 and 6
    assert metric.result() == 0.5


# ------------------------------------------------------------------- stateful metrics


def test_mean_metric_accumulates_over_batches_and_resets():
    metric = metrics.SparseCategoricalAccuracy()
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    metric.update_state(np.array([0, 1, 1]), scores)  # 2 of 3
    metric.update_state(np.array([1]), np.array([[0.3, 0.7]]))  # 1 of 1
    assert metric.result() == pytest.approx(3 / 4)
    metric.reset_state()
    assert metric.result() == 0.0


def test_mean_metric_sample_weight():
    metric = metrics.BinaryAccuracy()
    y_true = np.array([[1], [0], [1]])
    y_pred = np.array([[0.9], [0.8], [0.2]])  # correct, wrong, wrong
    metric.update_state(y_true, y_pred, sample_weight=np.array([3.0, 1.0, 1.0]))
    assert metric.result() == pytest.approx(3 / 5)


# y_pred > 0.5 gives predictions [1, 1, 0, 1, 0, 0]
_BINARY_TRUE = np.array([1, 0, 1, 1, 0, 1])
_BINARY_PRED = np.array([0.9, 0.6, 0.4, 0.7, 0.2, 0.55])


@pytest.mark.parametrize("threshold", [None, 0.3, 0.65])
def test_precision_and_recall_match_hand_counts(threshold):
    cut = 0.5 if threshold is None else threshold
    predicted = _BINARY_PRED > cut
    positive = _BINARY_TRUE == 1
    tp = np.sum(predicted & positive)
    fp = np.sum(predicted & ~positive)
    fn = np.sum(~predicted & positive)
    precision = metrics.Precision(thresholds=threshold)
    recall = metrics.Recall(thresholds=threshold)
    for metric in (precision, recall):
        metric.update_state(_BINARY_TRUE[:3], _BINARY_PRED[:3])
        metric.update_state(_BINARY_TRUE[3:], _BINARY_PRED[3:])
    assert precision.result() == pytest.approx(tp / (tp + fp))
    assert recall.result() == pytest.approx(tp / (tp + fn))


def test_precision_recall_default_threshold_values():
    precision, recall = metrics.Precision(), metrics.Recall()
    precision.update_state(_BINARY_TRUE, _BINARY_PRED)
    recall.update_state(_BINARY_TRUE, _BINARY_PRED)
    # predictions [1, 1, 0, 1, 0, 1]: tp = 3 (0, 3, 5), fp = 1 (1), fn = 1 (2)
    assert precision.result() == pytest.approx(3 / 4)
    assert recall.result() == pytest.approx(3 / 4)


def test_precision_recall_class_id():
    y_true = np.eye(3)[[0, 1, 1, 2, 1]]
    y_pred = np.array(
        [
            [0.1, 0.8, 0.1],  # class 1 predicted, not true: fp
            [0.2, 0.7, 0.1],  # tp
            [0.6, 0.3, 0.1],  # fn
            [0.1, 0.2, 0.7],  # tn
            [0.3, 0.6, 0.1],
        ]
    )  # tp
    precision = metrics.Precision(class_id=1)
    recall = metrics.Recall(class_id=1)
    precision.update_state(y_true, y_pred)
    recall.update_state(y_true, y_pred)
    assert precision.result() == pytest.approx(2 / 3)
    assert recall.result() == pytest.approx(2 / 3)


def test_precision_recall_are_zero_without_positives():
    precision, recall = metrics.Precision(), metrics.Recall()
    precision.update_state(np.array([0, 0]), np.array([0.1, 0.2]))
    recall.update_state(np.array([0, 0]), np.array([0.1, 0.2]))
    assert precision.result() == 0.0
    assert recall.result() == 0.0


# ------------------------------------------------------------------- confusion matrix


def test_confusion_matrix_rows_are_true_classes():
    y_true = [0, 0, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 0, 2]
    expected = [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    result = metrics.confusion_matrix(y_true, y_pred)
    np.testing.assert_array_equal(result, expected)
    assert result.dtype == np.int64


def test_confusion_matrix_one_hot_and_scores():
    y_true = np.eye(3)[[0, 0, 1, 2, 2, 2]]
    scores = np.eye(3)[[0, 1, 1, 2, 0, 2]] * 0.8 + 0.1
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y_true, scores), [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    )


def test_confusion_matrix_num_classes_pads():
    result = metrics.confusion_matrix([0, 1], [1, 1], num_classes=4)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[0, 1] = expected[1, 1] = 1
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([0, 3], [0, 1], r"y_true labels must be in \[0, 3\); got 3\."),
        ([0, 1], [0, -1], r"y_pred labels must be in \[0, 3\); got -1\."),
    ],
)
def test_confusion_matrix_out_of_range(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        metrics.confusion_matrix(y_true, y_pred, num_classes=3)


def test_confusion_matrix_length_mismatch():
    with pytest.raises(ValueError, match="same number of labels; got 3 and 2"):
        metrics.confusion_matrix([0, 1, 1], [0, 1])


# ------------------------------------------------------------------- "accuracy" resolution


@pytest.mark.parametrize(
    "y_true_shape, y_pred_shape, expected",
    [
        ((8, 1), (8, 1), "binary_accuracy"),
        ((8,), (8, 1), "binary_accuracy"),
        ((8,), (8, 10), "sparse_categorical_accuracy"),
        ((8, 1), (8, 10), "sparse_categorical_accuracy"),
        ((8, 10), (8, 10), "categorical_accuracy"),
        ((8, 3), (8, 3), "categorical_accuracy"),
    ],
)
def test_accuracy_resolves_from_shapes_like_keras(y_true_shape, y_pred_shape, expected):
    assert metrics.resolve_accuracy(y_true_shape, y_pred_shape) == expected
    metric = metrics.get("accuracy", y_true_shape, y_pred_shape)
    assert isinstance(metric, metrics._CLASSES[expected])
    assert metric.name == "accuracy"


@pytest.mark.parametrize("name", ["accuracy", "acc"])
@pytest.mark.parametrize(
    "loss, output_units, make_y",
    [
        ("binary_crossentropy", 1, lambda labels: labels.reshape(-1, 1).astype("float32")),
        ("sparse_categorical_crossentropy", 3, lambda labels: labels),
        ("categorical_crossentropy", 3, lambda labels: np.eye(3, dtype="float32")[labels]),
    ],
)
def test_accuracy_log_key_is_the_name_the_user_wrote(name, loss, output_units, make_y):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype("float32")
    labels = rng.integers(0, output_units if output_units > 1 else 2, 40)
    activation = "sigmoid" if output_units == 1 else "softmax"
    model = dd.Sequential([dd.Input(shape=(4,)), layers.Dense(output_units, activation=activation)])
    model.compile(optimizer="sgd", loss=loss, metrics=[name])
    history = model.fit(x, make_y(labels), epochs=1, verbose=0)
    assert set(history.history) == {"loss", name}
    predictions = model.predict(x, verbose=0)
    if output_units == 1:
        expected = np.mean((predictions[:, 0] > 0.5) == labels)
    else:
        expected = np.mean(predictions.argmax(axis=1) == labels)
    logs = model.evaluate(x, make_y(labels), verbose=0, return_dict=True)
    assert logs[name] == pytest.approx(expected)


@pytest.mark.parametrize(
    "identifier, cls",
    [
        ("binary_accuracy", metrics.BinaryAccuracy),
        ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
        ("CategoricalAccuracy", metrics.CategoricalAccuracy),
        ("precision", metrics.Precision),
        (metrics.top_k_categorical_accuracy, metrics.TopKCategoricalAccuracy),
    ],
)
def test_get_by_name_class_name_and_function(identifier, cls):
    assert isinstance(metrics.get(identifier), cls)


def test_get_unknown_metric_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'\. Valid names: .*'accuracy'"):
        metrics.get("acuracy")
