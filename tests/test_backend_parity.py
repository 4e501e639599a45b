"""Layers, losses, optimizers and a fit step on every backend (issue 15), against NumPy.

The NumPy results are the reference (their gradients are checked by finite differences in the
layer tests); here the same computation runs on ``xp`` (the ``xp`` fixture: numpy, the host-guard
double, and cupy where a GPU is present) and must agree in float64.
"""

import numpy as np
import pytest

import dendrite as dd
from dendrite import backend, backend_ops, layers, losses, optimizers
from dendrite.variables import FlatParameters, Variable

CLOSE = {"rtol": 1e-10, "atol": 1e-12}

LAYERS = {
    "dense_relu": (lambda: layers.Dense(4, activation="relu"), (6, 5)),
    "dense_softmax": (lambda: layers.Dense(3, activation="softmax"), (6, 5)),
    "dense_gelu": (lambda: layers.Dense(3, activation="gelu"), (6, 5)),
    "conv2d_same_strided": (lambda: layers.Conv2D(3, 3, strides=2, padding="same",
                                                  activation="tanh"), (2, 7, 7, 2)),
    "conv2d_valid_nobias": (lambda: layers.Conv2D(4, 2, use_bias=False), (2, 5, 5, 3)),
    "max_pooling2d": (lambda: layers.MaxPooling2D(2), (2, 6, 6, 3)),
    "average_pooling2d": (lambda: layers.AveragePooling2D(2, padding="same"), (2, 5, 5, 3)),
    "global_average_pooling2d": (lambda: layers.GlobalAveragePooling2D(), (2, 4, 4, 3)),
    "batch_normalization": (lambda: layers.BatchNormalization(), (8, 5)),
    "flatten": (lambda: layers.Flatten(), (2, 3, 4)),
    "simple_rnn": (lambda: layers.SimpleRNN(4), (3, 5, 2)),
    "lstm": (lambda: layers.LSTM(3, return_sequences=True), (2, 4, 3)),
    "gru": (lambda: layers.GRU(3, go_backwards=True), (2, 4, 3)),
    "bidirectional_lstm": (lambda: layers.Bidirectional(layers.LSTM(2)), (2, 3, 3)),
    "conv1d_causal": (lambda: layers.Conv1D(3, 2, padding="causal", activation="relu"),
                      (2, 6, 2)),
    "global_max_pooling2d": (lambda: layers.GlobalMaxPooling2D(), (2, 4, 4, 3)),
    "sum_pooling2d": (lambda: layers.SumPooling2D(2), (2, 4, 4, 3)),
    "layer_normalization": (lambda: layers.LayerNormalization(), (4, 6)),
    "up_sampling2d": (lambda: layers.UpSampling2D(2), (2, 3, 3, 2)),
    "zero_padding2d": (lambda: layers.ZeroPadding2D(1), (2, 3, 3, 2)),
    "reshape": (lambda: layers.Reshape((6, 2)), (2, 3, 4)),
    "softmax": (lambda: layers.Softmax(), (3, 5)),
    "elu": (lambda: layers.ELU(), (3, 5)),
    "leaky_relu": (lambda: layers.LeakyReLU(), (3, 5)),
    "relu_capped": (lambda: layers.ReLU(max_value=0.5), (3, 5)),
    "time_distributed_dense": (lambda: layers.TimeDistributed(layers.Dense(2)), (2, 3, 4)),
}


def _twin(make, backend_name, shape):
    """The layer built on ``backend_name`` and its NumPy twin with the same weights."""
    reference = make()
    reference.dtype = "float64"
    reference.build(shape)
    with dd.config.backend_scope(backend_name):
        layer = make()
        layer.dtype = "float64"
        layer.build(shape)
    for variable, value in zip(layer.weights, reference.weights):
        variable.assign(value.numpy())
    return layer, reference


MERGE_LAYERS = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


@pytest.mark.parametrize("name", MERGE_LAYERS)
def test_merge_layer_matches_numpy(xp, name):
    rng = np.random.default_rng(10)
    inputs = [rng.standard_normal((3, 4)) for _ in range(2)]
    dy = rng.standard_normal((3, 8 if name == "Concatenate" else 4))
    reference = getattr(layers, name)(dtype="float64")
    y_ref, dx_ref = reference.forward(inputs), reference.backward(dy)
    layer = getattr(layers, name)(dtype="float64")
    y = layer.forward([backend.to_device(a, xp) for a in inputs])
    dx = layer.backward(backend.to_device(dy, xp))
    np.testing.assert_allclose(backend.to_host(y), y_ref, **CLOSE)
    for got, want in zip(dx, dx_ref):
        np.testing.assert_allclose(backend.to_host(got), want, **CLOSE)


def test_embedding_matches_numpy(xp, backend_name):
    ids = np.random.default_rng(11).integers(0, 7, (3, 5))
    layer, reference = _twin(lambda: layers.Embedding(7, 4), backend_name, ids.shape)
    dy = np.random.default_rng(12).standard_normal((3, 5, 4))
    y_ref = reference.forward(ids)
    reference.backward(dy)
    y = layer.forward(backend.to_device(ids, xp))
    layer.backward(backend.to_device(dy, xp))
    np.testing.assert_allclose(backend.to_host(y), y_ref, **CLOSE)
    np.testing.assert_allclose(backend.to_host(layer.embeddings.grad), reference.embeddings.grad,
                               **CLOSE)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_forward_backward_matches_numpy(xp, backend_name, name):
    make, shape = LAYERS[name]
    layer, reference = _twin(make, backend_name, shape)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    y_ref = reference.forward(x, training=True)
    dy = rng.standard_normal(y_ref.shape)
    dx_ref = reference.backward(dy)
    y = layer.forward(backend.to_device(x, xp), training=True)
    assert backend.get_array_module(y) is xp
    dx = layer.backward(backend.to_device(dy, xp))
    assert backend.get_array_module(dx) is xp
    np.testing.assert_allclose(backend.to_host(y), y_ref, **CLOSE)
    np.testing.assert_allclose(backend.to_host(dx), dx_ref, **CLOSE)
    for variable, expected in zip(layer.trainable_weights, reference.trainable_weights):
        np.testing.assert_allclose(backend.to_host(variable.grad), expected.grad, **CLOSE,
                                   err_msg=variable.name)


LOSSES = {
    "categorical_crossentropy": lambda rng: (np.eye(4)[rng.integers(0, 4, 6)],
                                             _softmax(rng.standard_normal((6, 4)))),
    "sparse_categorical_crossentropy": lambda rng: (rng.integers(0, 4, 6),
                                                    _softmax(rng.standard_normal((6, 4)))),
    "binary_crossentropy": lambda rng: (rng.integers(0, 2, (6, 1)).astype(float),
                                        rng.uniform(0.05, 0.95, (6, 1))),
    "mean_squared_error": lambda rng: (rng.standard_normal((6, 3)), rng.standard_normal((6, 3))),
    "mean_absolute_error": lambda rng: (rng.standard_normal((6, 3)), rng.standard_normal((6, 3))),
    "poisson": lambda rng: (rng.poisson(2.0, (6, 3)).astype(float), rng.uniform(0.5, 3, (6, 3))),
}


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_value_and_gradient_match_numpy(xp, name):
    rng = np.random.default_rng(1)
    y_true, y_pred = LOSSES[name](rng)
    weights = rng.uniform(0.5, 2.0, len(y_true))
    loss = losses.get(name)
    value_ref, cache_ref = loss.compute(y_true, y_pred, weights)
    grad_ref = loss.gradient(cache_ref)
    value, cache = loss.compute(*(backend.to_device(a, xp) for a in (y_true, y_pred, weights)))
    grad = loss.gradient(cache)
    assert backend.get_array_module(grad) is xp
    assert float(value) == pytest.approx(value_ref, rel=1e-12)
    np.testing.assert_allclose(backend.to_host(grad), grad_ref, **CLOSE)


def test_fused_softmax_crossentropy_gradient_matches_numpy(xp):
    rng = np.random.default_rng(2)
    y_true, probabilities = np.eye(5)[rng.integers(0, 5, 7)], _softmax(rng.standard_normal((7, 5)))
    loss = losses.get("categorical_crossentropy")
    _, cache_ref = loss.compute(y_true, probabilities)
    _, cache = loss.compute(backend.to_device(y_true, xp), backend.to_device(probabilities, xp))
    np.testing.assert_allclose(backend.to_host(loss.logit_gradient(cache)),
                               loss.logit_gradient(cache_ref), **CLOSE)


OPTIMIZERS = {
    "sgd_nesterov": lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "adagrad": lambda: optimizers.Adagrad(0.1),
    "rmsprop_centered_momentum": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adam_amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True),
    "adam_paper_clipnorm": lambda: optimizers.Adam(0.01, epsilon_form="paper", clipnorm=0.5),
    "adamw_clipvalue": lambda: optimizers.AdamW(0.01, clipvalue=0.1),
    "sgd_global_clipnorm": lambda: optimizers.SGD(0.1, global_clipnorm=0.3),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_steps_match_numpy(xp, name):
    rng = np.random.default_rng(3)
    shapes = [(3, 4), (4,), (2, 2, 3)]
    values = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(3)]
    results = []
    for module in (np, xp):
        variables = [Variable(f"w{i}", backend.to_device(v.copy(), module))
                     for i, v in enumerate(values)]
        flat = FlatParameters(variables)
        optimizer = OPTIMIZERS[name]()
        for step_grads in grads:
            for variable, grad in zip(variables, step_grads):
                variable.grad[...] = backend.to_device(grad, module)
            optimizer.step(flat)
        assert backend.get_array_module(flat.values) is module
        results.append(backend.to_host(flat.values))
    np.testing.assert_allclose(results[1], results[0], **CLOSE)


def test_fit_matches_numpy(xp, backend_name):
    """Two epochs of a small MLP with dropout off: the same losses and weights on every backend."""
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((24, 6)), rng.integers(0, 3, 24)
    histories, weights = [], []
    for name in ("numpy", backend_name):
        dd.utils.set_random_seed(5)
        with dd.config.backend_scope(name):
            model = dd.Sequential([layers.Input((6,), dtype="float64"),
                                   layers.Dense(8, activation="relu", dtype="float64"),
                                   layers.Dense(3, activation="softmax", dtype="float64")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        histories.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False,
                                   verbose=0).history)
        weights.append(model.get_weights())
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=1e-12)
    assert histories[1]["accuracy"] == histories[0]["accuracy"]
    for a, b in zip(weights[1], weights[0]):
        np.testing.assert_allclose(a, b, **CLOSE)


# ---- the fused operations of dendrite.backend_ops: NumPy is the reference; on cupy these run the
# ElementwiseKernels (adam_update and sgd_momentum_update also run in the optimizer tests above)


def test_fused_bias_relu_matches_numpy(xp):
    rng = np.random.default_rng(6)
    z, b = rng.standard_normal((5, 7)), rng.standard_normal(7)
    result = backend_ops.bias_relu(backend.to_device(z.copy(), xp), backend.to_device(b, xp))
    np.testing.assert_array_equal(backend.to_host(result), np.maximum(z + b, 0))


def test_fused_softmax_crossentropy_sparse_gradient_matches_the_loss(xp):
    rng = np.random.default_rng(7)
    labels, p = rng.integers(0, 4, 6), _softmax(rng.standard_normal((6, 4)))
    weights = rng.uniform(0.5, 2.0, 6)
    loss = losses.SparseCategoricalCrossentropy()
    _, cache = loss.compute(labels, p, weights)
    expected = loss.logit_gradient(cache)
    result = backend_ops.softmax_crossentropy_sparse_gradient(
        *(backend.to_device(a, xp) for a in (p, labels, cache[2])))
    np.testing.assert_allclose(backend.to_host(result), expected, **CLOSE)


@pytest.mark.parametrize("form", ["keras", "paper"])
def test_fused_adam_update_matches_the_unfused_amsgrad_free_formula(xp, form):
    rng = np.random.default_rng(8)
    w, g = rng.standard_normal(50), rng.standard_normal(50)
    m, v = rng.standard_normal(50) * 0.1, rng.uniform(0, 0.1, 50)
    b1, b2, eps, lr, t = 0.9, 0.999, 1e-7, 0.01, 3
    m_next, v_next = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    if form == "keras":
        alpha, scale = lr * np.sqrt(1 - b2**t) / (1 - b1**t), 1.0
    else:
        alpha, scale = lr / (1 - b1**t), 1 / np.sqrt(1 - b2**t)
    expected = w - alpha * m_next / (np.sqrt(v_next) * scale + eps)
    arrays = [backend.to_device(a.copy(), xp) for a in (w, g, m, v)]
    backend_ops.adam_update(*arrays, xp.empty_like(arrays[0]), b1, b2, eps, alpha, scale)
    for got, want in zip((arrays[0], arrays[2], arrays[3]), (expected, m_next, v_next)):
        np.testing.assert_allclose(backend.to_host(got), want, **CLOSE)


METRICS = {
    "AUC": (lambda: dd.metrics.AUC(), "binary"),
    "BinaryAccuracy": (lambda: dd.metrics.BinaryAccuracy(), "binary"),
    "BinaryIoU": (lambda: dd.metrics.BinaryIoU(), "binary"),
    "Precision": (lambda: dd.metrics.Precision(), "binary"),
    "Recall": (lambda: dd.metrics.Recall(), "binary"),
    "CategoricalAccuracy": (lambda: dd.metrics.CategoricalAccuracy(), "onehot"),
    "TopKCategoricalAccuracy": (lambda: dd.metrics.TopKCategoricalAccuracy(k=2), "onehot"),
    "F1Score": (lambda: dd.metrics.F1Score(average="macro"), "onehot"),
    "SparseCategoricalAccuracy": (lambda: dd.metrics.SparseCategoricalAccuracy(), "sparse"),
    "SparseTopKCategoricalAccuracy": (lambda: dd.metrics.SparseTopKCategoricalAccuracy(k=2),
                                      "sparse"),
    "MeanSquaredError": (lambda: dd.metrics.MeanSquaredError(), "regression"),
    "RootMeanSquaredError": (lambda: dd.metrics.RootMeanSquaredError(), "regression"),
    "CosineSimilarity": (lambda: dd.metrics.CosineSimilarity(), "regression"),
    "LogCoshError": (lambda: dd.metrics.LogCoshError(), "regression"),
    "R2Score": (lambda: dd.metrics.R2Score(), "regression"),
}


def _metric_data(kind, rng):
    if kind == "binary":
        return rng.integers(0, 2, (12, 1)).astype(float), rng.uniform(0, 1, (12, 1))
    probabilities = _softmax(rng.standard_normal((12, 4)))
    if kind == "onehot":
        return np.eye(4)[rng.integers(0, 4, 12)], probabilities
    if kind == "sparse":
        return rng.integers(0, 4, 12), probabilities
    return rng.standard_normal((12, 3)), rng.standard_normal((12, 3))


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metric_matches_numpy(xp, name):
    """Two batches of updates with sample weights; the result as NumPy computes it."""
    make, kind = METRICS[name]
    results = []
    for module in (np, xp):
        rng = np.random.default_rng(9)
        metric = make()
        for _ in range(2):
            y_true, y_pred = _metric_data(kind, rng)
            weights = rng.uniform(0.5, 2.0, len(y_true))
            metric.update_state(*(backend.to_device(a, module) for a in (y_true, y_pred, weights)))
        results.append(backend.to_host(getattr(metric.result(), "value", metric.result())))
    np.testing.assert_allclose(np.asarray(results[1], dtype=float),
                               np.asarray(results[0], dtype=float), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_erf_matches_numpy_without_reading_the_device(xp, dtype):
    from dendrite.activations import erf
    from dendrite.testing_backends import host_guard

    x = np.linspace(-8, 8, 101).astype(dtype)
    with host_guard.no_syncs():  # the tail |x| >= 2 is selected on the device, not read back
        result = erf(backend.to_device(x, xp))
    assert result.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(backend.to_host(result), erf(x))
