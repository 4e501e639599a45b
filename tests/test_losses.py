"""Numerics of dendrite.losses against Keras 3's formulas, finite differences and PyTorch.

The references below transcribe keras/src/backend/numpy/nn.py (cross-entropies) and
keras/src/losses/losses.py (element-wise losses, label smoothing, reductions): the categorical
cross-entropies on probabilities renormalize over the class axis and then clip to [eps, 1 - eps];
binary cross-entropy clips; per-sample values are reduced by sum(w * values) / values.size
("sum_over_batch_size") or sum(w * values) ("sum").
"""

import numpy as np
import pytest

from dendrite import activations, losses
from dendrite.testing import check_gradients

EPS = 1e-7


# ------------------------------------------------------------------ Keras 3 reference formulas


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def keras_bce(y, p, from_logits=False, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = _sigmoid(p)
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=-1)


def keras_cce(y, p, from_logits=False, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + label_smoothing / y.shape[-1]
    if from_logits:
        log_prob = _log_softmax(p)
    else:
        log_prob = np.log(np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS))
    return -(y * log_prob).sum(axis=-1)


def keras_scce(labels, p, from_logits=False):
    return keras_cce(np.eye(p.shape[-1])[labels], p, from_logits)


def keras_mse(y, p):
    return ((y - p) ** 2).mean(axis=-1)


def keras_mae(y, p):
    return np.abs(y - p).mean(axis=-1)


def keras_poisson(y, p):
    return (p - y * np.log(p + EPS)).mean(axis=-1)


def keras_reduce(values, reduction, sample_weight=None):
    weighted = values if sample_weight is None else values * sample_weight
    if reduction is None:
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return weighted.sum() / values.size


# ------------------------------------------------------------------ cases

BATCH, CLASSES = 5, 4


def _data(kind, seed=0, dtype="float64"):
    """(y_true, y_pred) for each loss family, with y_pred strictly inside the clipping range."""
    rng = np.random.default_rng(seed)
    shape = (BATCH, CLASSES)
    if kind == "binary_probs":
        y = rng.integers(0, 2, shape).astype(dtype)
        p = rng.uniform(0.05, 0.95, shape)
    elif kind == "binary_soft":
        y = rng.uniform(0, 1, shape)
        p = rng.uniform(0.05, 0.95, shape)
    elif kind == "logits":
        y = np.eye(CLASSES)[rng.integers(0, CLASSES, BATCH)]
        p = 2 * rng.standard_normal(shape)
    elif kind == "unnormalized":  # positive, rows not summing to 1: exercises the renormalization
        y = np.eye(CLASSES)[rng.integers(0, CLASSES, BATCH)]
        p = rng.uniform(0.1, 1.5, shape)
    elif kind == "labels_logits":
        y = rng.integers(0, CLASSES, BATCH)
        p = 2 * rng.standard_normal(shape)
    elif kind == "labels_unnormalized":
        y = rng.integers(0, CLASSES, BATCH)
        p = rng.uniform(0.1, 1.5, shape)
    elif kind == "regression":
        y = rng.standard_normal(shape)
        p = y + rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)  # |y - p| >= 0.1
    elif kind == "counts":
        y = rng.poisson(2.0, shape).astype(np.float64)
        p = rng.uniform(0.5, 4.0, shape)
    else:
        raise KeyError(kind)
    return y, p.astype(dtype)


# (id, constructor, reference per-sample function, data kind)
CASES = [
    ("bce", lambda **k: losses.BinaryCrossentropy(**k), keras_bce, "binary_probs"),
    ("bce_soft", lambda **k: losses.BinaryCrossentropy(**k), keras_bce, "binary_soft"),
    ("bce_smooth", lambda **k: losses.BinaryCrossentropy(label_smoothing=0.2, **k),
     lambda y, p: keras_bce(y, p, label_smoothing=0.2), "binary_probs"),
    ("bce_logits", lambda **k: losses.BinaryCrossentropy(from_logits=True, **k),
     lambda y, p: keras_bce(y, p, from_logits=True), "logits"),
    ("bce_logits_smooth",
     lambda **k: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, **k),
     lambda y, p: keras_bce(y, p, from_logits=True, label_smoothing=0.1), "logits"),
    ("cce", lambda **k: losses.CategoricalCrossentropy(**k), keras_cce, "unnormalized"),
    ("cce_smooth", lambda **k: losses.CategoricalCrossentropy(label_smoothing=0.3, **k),
     lambda y, p: keras_cce(y, p, label_smoothing=0.3), "unnormalized"),
    ("cce_logits", lambda **k: losses.CategoricalCrossentropy(from_logits=True, **k),
     lambda y, p: keras_cce(y, p, from_logits=True), "logits"),
    ("cce_logits_smooth",
     lambda **k: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3, **k),
     lambda y, p: keras_cce(y, p, from_logits=True, label_smoothing=0.3), "logits"),
    ("scce", lambda **k: losses.SparseCategoricalCrossentropy(**k), keras_scce,
     "labels_unnormalized"),
    ("scce_logits", lambda **k: losses.SparseCategoricalCrossentropy(from_logits=True, **k),
     lambda y, p: keras_scce(y, p, from_logits=True), "labels_logits"),
    ("mse", lambda **k: losses.MeanSquaredError(**k), keras_mse, "regression"),
    ("mae", lambda **k: losses.MeanAbsoluteError(**k), keras_mae, "regression"),
    ("poisson", lambda **k: losses.Poisson(**k), keras_poisson, "counts"),
]
CASE_IDS = [case[0] for case in CASES]


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_values_match_keras_formulas(case, reduction, weighted):
    _, make, reference, kind = case
    y, p = _data(kind, seed=1)
    weights = np.random.default_rng(2).uniform(0.2, 2.0, BATCH) if weighted else None
    result = make(reduction=reduction)(y, p, sample_weight=weights)
    expected = keras_reduce(reference(y, p), reduction, weights)
    if reduction is None:
        assert result.shape == (BATCH,)
    else:
        assert isinstance(result, float)
    np.testing.assert_allclose(result, expected, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_backward_passes_check_gradients(case, reduction):
    _, make, _, kind = case
    y, p = _data(kind, seed=3)
    check_gradients(make(reduction=reduction), p, y)


def _numeric_gradient(f, x, h=1e-6):
    grad = np.empty_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + h
        plus = f()
        flat[i] = saved - h
        minus = f()
        flat[i] = saved
        out[i] = (plus - minus) / (2 * h)
    return grad


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_backward_with_sample_weights_matches_central_differences(case):
    _, make, _, kind = case
    y, p = _data(kind, seed=4)
    weights = np.random.default_rng(5).uniform(0.2, 2.0, BATCH)
    loss = make()
    loss.forward(y, p, weights)
    analytic = loss.backward()
    numeric = _numeric_gradient(lambda: loss.forward(y, p, weights), p)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ fused logit gradients

FUSED = [
    ("bce", losses.BinaryCrossentropy, activations.Sigmoid, "binary_soft", {}),
    ("bce_smooth", losses.BinaryCrossentropy, activations.Sigmoid, "binary_probs",
     {"label_smoothing": 0.2}),
    ("cce", losses.CategoricalCrossentropy, activations.Softmax, "logits", {}),
    ("cce_smooth", losses.CategoricalCrossentropy, activations.Softmax, "logits",
     {"label_smoothing": 0.3}),
    ("scce", losses.SparseCategoricalCrossentropy, activations.Softmax, "labels_logits", {}),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
@pytest.mark.parametrize("case", FUSED, ids=[c[0] for c in FUSED])
def test_logit_gradient_is_gradient_through_the_activation(case, reduction, weighted):
    _, loss_class, activation_class, kind, options = case
    y, z = _data(kind, seed=6)
    z = 1.5 * np.random.default_rng(7).standard_normal(z.shape)  # logits, probabilities interior
    weights = np.random.default_rng(8).uniform(0.2, 2.0, BATCH) if weighted else None
    loss, activation = loss_class(reduction=reduction, **options), activation_class()
    assert loss.fuses_with(activation)
    _, cache = loss.compute(y, activation.forward(z), weights)
    analytic = loss.logit_gradient(cache)
    numeric = _numeric_gradient(lambda: loss.forward(y, activation.forward(z), weights), z)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("loss, activation, fuses", [
    (losses.BinaryCrossentropy(), activations.Sigmoid(), True),
    (losses.BinaryCrossentropy(from_logits=True), activations.Sigmoid(), False),
    (losses.BinaryCrossentropy(), activations.Softmax(), False),
    (losses.CategoricalCrossentropy(), activations.Softmax(), True),
    (losses.CategoricalCrossentropy(), activations.Sigmoid(), False),
    (losses.CategoricalCrossentropy(from_logits=True), activations.Softmax(), False),
    (losses.SparseCategoricalCrossentropy(), activations.Softmax(), True),
    (losses.MeanSquaredError(), activations.Linear(), False),
])
def test_fuses_only_with_the_matching_activation(loss, activation, fuses):
    assert loss.fuses_with(activation) is fuses


def test_categorical_on_sigmoid_outputs_renormalizes_like_keras():
    rng = np.random.default_rng(9)
    y = np.eye(CLASSES)[rng.integers(0, CLASSES, BATCH)]
    p = activations.sigmoid(rng.standard_normal((BATCH, CLASSES)))  # rows do not sum to 1
    assert not np.allclose(p.sum(axis=-1), 1)
    np.testing.assert_allclose(losses.categorical_crossentropy(y, p), keras_cce(y, p), rtol=1e-12)
    assert not np.allclose(keras_cce(y, p), -(y * np.log(p)).sum(axis=-1))


# ------------------------------------------------------------------ no NaN at p = 0 or 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss_class, y, p", [
    (losses.BinaryCrossentropy, [[1.0, 0.0]], [[0.0, 1.0]]),
    (losses.CategoricalCrossentropy, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]),
    (losses.SparseCategoricalCrossentropy, [0], [[0.0, 1.0, 0.0]]),
], ids=["bce", "cce", "scce"])
def test_saturated_probabilities_give_minus_log_eps(loss_class, y, p, dtype):
    y, p = np.array(y), np.array(p, dtype=dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        values = loss_class(reduction=None)(y, p)
        loss = loss_class(reduction="sum")
        loss.forward(y, p)
        grad = loss.backward()
    assert np.isfinite(values).all() and np.isfinite(grad).all()
    # float32 cannot hold 1 - 1e-7 exactly (it rounds to 1 - 2^-23), hence the looser rtol.
    np.testing.assert_allclose(values, -np.log(EPS), rtol=1e-9 if dtype == "float64" else 0.02)


@pytest.mark.parametrize("from_logits", [False, True])
def test_bce_extreme_logits_and_probabilities_stay_finite(from_logits):
    y = np.array([[1.0, 0.0, 1.0, 0.0]])
    p = np.array([[-1000.0, 1000.0, 1000.0, -1000.0]]) if from_logits else \
        np.array([[0.0, 1.0, 1.0, 0.0]])
    loss = losses.BinaryCrossentropy(from_logits=from_logits)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value = loss.forward(y, p)
        grad = loss.backward()
    assert np.isfinite(value) and np.isfinite(grad).all()
    expected = 500.0 if from_logits else -np.log(EPS) / 2  # two wrong of four, each 1000 / -log eps
    np.testing.assert_allclose(value, expected, rtol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_float32_stays_float32(case):
    _, make, _, kind = case
    y, p = _data(kind, seed=10, dtype="float32")
    loss = make()
    loss.forward(y, p)
    assert loss.backward().dtype == np.float32
    assert make(reduction=None)(y, p).dtype == np.float32


# ------------------------------------------------------------------ names and functions


@pytest.mark.parametrize("identifier, cls", [
    ("mse", losses.MeanSquaredError), ("mae", losses.MeanAbsoluteError),
    ("MSE", losses.MeanSquaredError), ("mean_squared_error", losses.MeanSquaredError),
    ("poisson", losses.Poisson), ("binary_crossentropy", losses.BinaryCrossentropy),
    ("categorical_crossentropy", losses.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
    ("CategoricalCrossentropy", losses.CategoricalCrossentropy),
    (losses.mean_absolute_error, losses.MeanAbsoluteError),
])
def test_get_resolves_names(identifier, cls):
    assert type(losses.get(identifier)) is cls


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown loss 'msee'.*'mean_squared_error'"):
        losses.get("msee")


@pytest.mark.parametrize("function, reference, kind", [
    (losses.mse, keras_mse, "regression"),
    (losses.mae, keras_mae, "regression"),
    (losses.mean_squared_error, keras_mse, "regression"),
    (losses.mean_absolute_error, keras_mae, "regression"),
    (losses.poisson, keras_poisson, "counts"),
    (losses.binary_crossentropy, keras_bce, "binary_probs"),
    (losses.categorical_crossentropy, keras_cce, "unnormalized"),
    (losses.sparse_categorical_crossentropy, keras_scce, "labels_unnormalized"),
])
def test_functions_return_per_sample_values(function, reference, kind):
    y, p = _data(kind, seed=11)
    values = function(y, p)
    assert values.shape == (BATCH,)
    np.testing.assert_allclose(values, reference(y, p), rtol=1e-12)


def test_from_logits_functions_match_reference():
    y, z = _data("logits", seed=12)
    np.testing.assert_allclose(losses.categorical_crossentropy(y, z, from_logits=True),
                               keras_cce(y, z, from_logits=True), rtol=1e-12)
    np.testing.assert_allclose(losses.binary_crossentropy(y, z, from_logits=True),
                               keras_bce(y, z, from_logits=True), rtol=1e-12)
    labels = y.argmax(axis=-1)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels, z, from_logits=True),
                               keras_scce(labels, z, from_logits=True), rtol=1e-12)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("labels, bad", [([0, 1, 2, 3, 7], "7"), ([0, -1, 2, 3, 1], "-1"),
                                         ([0.0, 1.0, 4.0, 2.0, 1.0], "4")])
@pytest.mark.parametrize("from_logits", [False, True])
def test_scce_label_out_of_range_names_the_value(labels, bad, from_logits):
    p = np.full((BATCH, CLASSES), 0.25)
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    with pytest.raises(ValueError, match=rf"\[0, {CLASSES}\); got label {bad}\b"):
        loss(np.array(labels), p)


@pytest.mark.parametrize("loss", [
    losses.MeanSquaredError(), losses.MeanAbsoluteError(), losses.Poisson(),
    losses.BinaryCrossentropy(), losses.CategoricalCrossentropy(),
], ids=["mse", "mae", "poisson", "bce", "cce"])
@pytest.mark.parametrize("y_shape, p_shape", [((4, 3), (4, 1)), ((4,), (4, 3)), ((4, 1), (4, 3)),
                                              ((3, 3), (4, 3)), ((4, 3, 1), (4, 3))])
def test_shape_mismatch_raises_instead_of_broadcasting(loss, y_shape, p_shape):
    with pytest.raises(ValueError, match=r"same shape; got y_true"):
        loss(np.ones(y_shape), np.full(p_shape, 0.5))


def test_trailing_unit_axis_of_y_true_is_accepted():
    y, p = np.array([1.0, 0.0, 1.0]), np.array([[0.9], [0.2], [0.6]])
    np.testing.assert_allclose(losses.BinaryCrossentropy()(y, p),
                               keras_bce(y[:, None], p).mean(), rtol=1e-12)


def test_scce_label_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"expected integer labels of shape \(4,\)"):
        losses.SparseCategoricalCrossentropy()(np.zeros(3, dtype=int), np.full((4, 3), 1 / 3))


@pytest.mark.parametrize("make, match", [
    (lambda: losses.MeanSquaredError(reduction="mean"), "reduction must be one of"),
    (lambda: losses.CategoricalCrossentropy(label_smoothing=1.5), "label_smoothing"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=-0.1), "label_smoothing"),
])
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_training_with_unreduced_loss_raises():
    with pytest.raises(ValueError, match="scalar reduction"):
        losses.MeanSquaredError(reduction=None).forward(np.zeros((2, 2)), np.ones((2, 2)))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_config_round_trip(case):
    _, make, _, _ = case
    loss = make(reduction="sum")
    clone = type(loss).from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    assert losses.get(losses.serialize(loss)).get_config() == loss.get_config()


# ------------------------------------------------------------------ PyTorch parity


def _torch_case(name, torch):
    """(dendrite loss, torch function of (y_pred, y_true) tensors, data kind)."""
    functional = torch.nn.functional
    return {
        "bce": (losses.BinaryCrossentropy(), functional.binary_cross_entropy, "binary_soft"),
        "bce_logits": (losses.BinaryCrossentropy(from_logits=True),
                       functional.binary_cross_entropy_with_logits, "binary_soft_logits"),
        "cce_logits": (losses.CategoricalCrossentropy(from_logits=True), functional.cross_entropy,
                       "soft_targets_logits"),
        "scce_logits": (losses.SparseCategoricalCrossentropy(from_logits=True),
                        functional.cross_entropy, "labels_logits"),
        "mse": (losses.MeanSquaredError(), functional.mse_loss, "regression"),
        "mae": (losses.MeanAbsoluteError(), functional.l1_loss, "regression"),
        # torch's eps enters as log(input + eps), exactly like Keras's; pass Keras's 1e-7.
        "poisson": (losses.Poisson(),
                    lambda p, y: functional.poisson_nll_loss(p, y, log_input=False, eps=EPS),
                    "counts"),
    }[name]


def _torch_data(kind):
    rng = np.random.default_rng(13)
    if kind == "binary_soft_logits":
        return rng.uniform(0, 1, (BATCH, CLASSES)), 3 * rng.standard_normal((BATCH, CLASSES))
    if kind == "soft_targets_logits":
        y = rng.uniform(0, 1, (BATCH, CLASSES))
        return y / y.sum(axis=-1, keepdims=True), 3 * rng.standard_normal((BATCH, CLASSES))
    return _data(kind, seed=13)


@pytest.mark.parametrize("name", ["bce", "bce_logits", "cce_logits", "scce_logits", "mse", "mae",
                                  "poisson"])
def test_matches_torch_value_and_gradient(name):
    torch = pytest.importorskip("torch")
    loss, reference, kind = _torch_case(name, torch)
    y, p = _torch_data(kind)
    value = loss.forward(y, p)
    grad = loss.backward()
    pt = torch.from_numpy(p).requires_grad_()
    expected = reference(pt, torch.from_numpy(y))
    expected.backward()
    np.testing.assert_allclose(value, expected.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
def test_weighted_cce_from_logits_matches_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    labels, z = rng.integers(0, CLASSES, BATCH), rng.standard_normal((BATCH, CLASSES))
    weights = rng.uniform(0.2, 2.0, BATCH)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    value = loss.forward(labels, z, weights)
    grad = loss.backward()
    zt = torch.from_numpy(z).requires_grad_()
    per_sample = torch.nn.functional.cross_entropy(zt, torch.from_numpy(labels), reduction="none")
    expected = (per_sample * torch.from_numpy(weights)).sum()
    if reduction == "sum_over_batch_size":
        expected = expected / BATCH
    expected.backward()
    np.testing.assert_allclose(value, expected.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-10, atol=1e-14)
