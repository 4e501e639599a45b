"""The host-round-trip double (issue 15): it refuses what a GPU refuses, and the training step of
an MLP and of a small convnet (Adam, dropout, fused softmax + cross-entropy) runs on it without
ever falling back to the host."""

import numpy as np
import pytest

import dendrite as dd
from dendrite import backend, layers
from dendrite.testing_backends import GuardedArray, HostRoundTripError, counters, host_guard


@pytest.fixture(autouse=True)
def _fresh_counters():
    counters.reset()
    yield
    counters.reset()


# ------------------------------------------------------------------ the double itself


def test_implicit_conversion_to_numpy_raises():
    x = host_guard.asarray(np.arange(4.0))
    with pytest.raises(HostRoundTripError, match=r"a device array of shape \(4,\) was converted "
                                                 r"to NumPy implicitly"):
        np.asarray(x)
    with pytest.raises(HostRoundTripError):
        np.array(x)


def test_mixing_with_a_host_array_raises_as_cupy_does():
    x = host_guard.asarray(np.arange(3.0))
    with pytest.raises(HostRoundTripError, match=r"numpy.add: a host numpy.ndarray of shape "
                                                 r"\(3,\) is mixed with device arrays"):
        x + np.ones(3)
    with pytest.raises(HostRoundTripError, match=r"host_guard.concatenate: a host numpy.ndarray"):
        host_guard.concatenate([x, np.ones(2)])
    with pytest.raises(HostRoundTripError, match="item assignment"):
        x[...] = np.zeros(3)


def test_numpy_only_functions_are_missing():
    with pytest.raises(AttributeError, match=r"host_guard.errstate: NumPy-only"):
        host_guard.errstate  # noqa: B018


def test_operations_stay_on_the_device_and_match_numpy():
    raw = np.arange(12.0).reshape(3, 4)
    x = host_guard.asarray(raw)
    results = {
        "arithmetic": (x * 2 + 1) / 3 - x**2,
        "matmul": x @ x.T,
        "reduction": x.sum(axis=0),
        "transpose": x.T,
        "ufunc method": host_guard.add.reduceat(x.ravel(), host_guard.asarray(np.array([0, 5]))),
        "strided": host_guard.lib.stride_tricks.as_strided(x, (2, 2), (32, 8)),
        "scalar index": x[1, 2],
        "numpy function": np.concatenate([x, x]),
    }
    expected = {
        "arithmetic": (raw * 2 + 1) / 3 - raw**2, "matmul": raw @ raw.T, "reduction": raw.sum(0),
        "transpose": raw.T, "ufunc method": np.add.reduceat(raw.ravel(), [0, 5]),
        "strided": np.lib.stride_tricks.as_strided(raw, (2, 2), (32, 8)),
        "scalar index": np.asarray(raw[1, 2]), "numpy function": np.concatenate([raw, raw]),
    }
    for name, value in results.items():
        assert isinstance(value, GuardedArray), name
        np.testing.assert_array_equal(value.get(), expected[name], err_msg=name)
    x += 1  # in place: the same device array
    assert backend.get_array_module(x) is host_guard
    np.testing.assert_array_equal(x.get(), raw)  # raw was updated through the wrapper
    assert counters.syncs == 0


def test_reads_are_counted_and_can_be_forbidden():
    x = host_guard.asarray(np.array([1.0, 2.0]))
    assert counters.uploads == 1
    assert float(x.sum()) == 3.0
    assert bool(x.all())
    assert x[1].item() == 2.0
    assert counters.syncs == 3
    x.get()
    assert counters.downloads == 1
    with host_guard.no_syncs(), pytest.raises(HostRoundTripError, match=r"float\(\) reads a "
                                                                          r"device value"):
        float(x.sum())
    assert float(x[0]) == 1.0  # allowed again after the block


def test_device_generator_draws_device_arrays():
    generator = host_guard.random.default_rng(0)
    sample = generator.random((2, 3), dtype="float32")
    assert isinstance(sample, GuardedArray)
    np.testing.assert_array_equal(sample.get(), np.random.default_rng(0).random((2, 3),
                                                                              dtype="float32"))


# ------------------------------------------------------------------ the training step


def _mlp(dropout):
    return dd.Sequential([layers.Input((20,)), layers.Dense(16, activation="relu"),
                          layers.Dropout(dropout), layers.Dense(8, activation="tanh"),
                          layers.Dense(5, activation="softmax")])


def _convnet(dropout):
    return dd.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                          layers.MaxPooling2D(2), layers.Conv2D(6, 2, padding="same"),
                          layers.Flatten(), layers.Dropout(dropout),
                          layers.Dense(5, activation="softmax")])


def _data(model_name, rows=16):
    rng = np.random.default_rng(1)
    shape = (rows, 20) if model_name == "mlp" else (rows, 8, 8, 1)
    x = rng.standard_normal(shape).astype("float32")
    y = np.eye(5, dtype="float32")[rng.integers(0, 5, rows)]
    return x, y


def _build(model_name, backend_name, dropout):
    dd.utils.set_random_seed(3)
    with dd.config.backend_scope(backend_name):
        model = (_mlp if model_name == "mlp" else _convnet)(dropout)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model._training_setup()
    return model


@pytest.mark.parametrize("model_name", ["mlp", "convnet"])
def test_training_step_never_falls_back_to_the_host(model_name):
    model = _build(model_name, "host_guard", dropout=0.25)
    assert model.compiled.fused == [True]  # softmax + cross-entropy fused
    x, y = _data(model_name)
    xs, ys = [host_guard.asarray(x)], [host_guard.asarray(y)]
    weights = host_guard.asarray(np.ones(len(x), dtype="float32"))
    flat = model._flat
    assert isinstance(flat.values, GuardedArray) and isinstance(flat.grads, GuardedArray)
    counters.reset()
    for _ in range(3):
        loss = model.train_on_batch_arrays(xs, ys, weights)
        assert np.isfinite(loss)
    assert all(isinstance(getattr(model.optimizer, name), GuardedArray) for name in ("m", "v"))
    # per step: one read (the loss, for the NaN guard); no copy in either direction
    assert (counters.syncs, counters.uploads, counters.downloads) == (3, 0, 0)
    for variable in model.trainable_weights:
        assert isinstance(variable.value, GuardedArray)
        assert isinstance(variable.grad, GuardedArray)


@pytest.mark.parametrize("model_name", ["mlp", "convnet"])
def test_training_on_the_double_matches_numpy_exactly(model_name):
    """Same seeds, no dropout: three epochs of Adam give the same losses and weights on both:
    bitwise for the MLP; within float32 rounding for the convnet, whose input gradient runs
    numba's col2im on the host and the array-operations col2im (what CuPy runs) on the device."""
    x, y = _data(model_name)
    losses = {}
    final = {}
    for name in ("numpy", "host_guard"):
        model = _build(model_name, name, dropout=0.0)
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        losses[name] = history.history["loss"]
        final[name] = model.get_weights()
    assert all(type(v) is float for v in losses["host_guard"])
    assert losses["host_guard"] == losses["numpy"]
    for a, b in zip(final["host_guard"], final["numpy"]):
        if model_name == "mlp":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_fit_reads_the_device_once_per_batch_unless_a_callback_reads_the_logs():
    """fit with one metric and no callback reading batch logs: per batch only the NaN guard reads
    the device (1 sync); the epoch's logs are read once at its end; batches are uploaded once each
    (x and y)."""
    model = _build("mlp", "host_guard", dropout=0.25)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = _data("mlp", rows=32)
    counters.reset()
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    batches = 4
    assert counters.uploads == 2 * batches
    assert counters.syncs == batches + 1  # + the end-of-epoch weights check
    assert counters.downloads == 2  # the epoch's loss and accuracy
    assert set(history.history) == {"loss", "accuracy"}
    assert all(type(v) is float for values in history.history.values() for v in values)


def test_batch_logs_kept_by_a_callback_hold_their_batch_values():
    kept = []
    keeper = dd.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: kept.append(logs))
    model = _build("mlp", "host_guard", dropout=0.0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = _data("mlp", rows=32)
    counters.reset()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[keeper])
    # kept logs are read before the next batch updates the totals (batches 1-3), the last batch's
    # when read (below), the epoch's logs at its end
    assert counters.downloads == 2 * 3 + 2
    reference = _build("mlp", "numpy", dropout=0.0)
    reference.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    expected = []
    recorder = dd.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: expected.append(dict(logs)))
    reference.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[recorder])
    assert [dict(logs) for logs in kept] == expected
    assert len({logs["loss"] for logs in kept}) == 4  # each batch its own running loss


def test_evaluate_and_predict_on_the_double():
    model = _build("convnet", "host_guard", dropout=0.5)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = _data("convnet")
    loss, accuracy = model.evaluate(x, y, batch_size=8, verbose=0)
    predicted = model.predict(x, batch_size=8, verbose=0)
    assert type(predicted) is np.ndarray and predicted.shape == (16, 5)
    reference = _build("convnet", "numpy", dropout=0.5)
    reference.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    np.testing.assert_array_equal(predicted, reference.predict(x, batch_size=8, verbose=0))
    assert [loss, accuracy] == reference.evaluate(x, y, batch_size=8, verbose=0)


def test_sparse_labels_on_the_double_cost_one_read_for_the_range_check():
    model = _build("mlp", "host_guard", dropout=0.0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model._training_setup()
    x, _ = _data("mlp")
    labels = host_guard.asarray(np.arange(16) % 5)
    counters.reset()
    model.train_on_batch_arrays([host_guard.asarray(x)], [labels], None)
    assert counters.syncs == 2  # labels in [0, 5): one read; the NaN guard: one
    bad = host_guard.asarray(np.full(16, 5))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 5\); got label 5"):
        model.train_on_batch_arrays([host_guard.asarray(x)], [bad], None)


def test_weights_and_optimizer_state_round_trip_through_files_on_the_double(tmp_path):
    model = _build("mlp", "host_guard", dropout=0.25)
    x, y = _data("mlp")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    saved = model.get_weights()
    state = {name: backend.to_host(value).copy() for name, value in
             model.optimizer.variable_state(model.trainable_weights[0]).items()}
    for path in (tmp_path / "m.weights.h5", tmp_path / "m.safetensors", tmp_path / "m.keras"):
        (model.save if path.suffix == ".keras" else model.save_weights)(path)
        model.load_weights(path)
        for variable, expected in zip(model.weights, saved):
            assert isinstance(variable.value, GuardedArray)
            np.testing.assert_array_equal(variable.numpy(), expected)
        for name, value in model.optimizer.variable_state(model.trainable_weights[0]).items():
            assert isinstance(value, GuardedArray), name
            np.testing.assert_array_equal(value.get(), state[name])
    with dd.config.backend_scope("host_guard"):
        loaded = dd.models.load_model(tmp_path / "m.keras")
    assert all(isinstance(v.value, GuardedArray) for v in loaded.weights)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_training_step_with_dropout_stays_on_the_device(cell):
    dd.utils.set_random_seed(4)
    with dd.config.backend_scope("host_guard"):
        model = dd.Sequential([layers.Input((5, 3)),
                               getattr(layers, cell)(4, dropout=0.2, recurrent_dropout=0.3),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model._training_setup()
    rng = np.random.default_rng(5)
    x = host_guard.asarray(rng.standard_normal((6, 5, 3)).astype("float32"))
    y = host_guard.asarray(np.eye(2, dtype="float32")[rng.integers(0, 2, 6)])
    model.train_on_batch_arrays([x], [y], None)  # LSTM copies its gate order/scale over once
    counters.reset()
    for _ in range(2):
        assert np.isfinite(model.train_on_batch_arrays([x], [y], None))
    # masks drawn on the device, constants kept there: no upload; one read per step (NaN guard)
    assert (counters.syncs, counters.uploads, counters.downloads) == (2, 0, 0)
