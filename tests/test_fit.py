"""``compile``, ``fit``, ``evaluate`` and ``predict`` with Keras's semantics, and their errors."""

import math

import numpy as np
import pytest

import dendrite as dd
from dendrite import callbacks, layers, optimizers


class Recorder(layers.Layer):
    """Identity layer that keeps a copy of every batch it sees, with the training flag."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.batches = []

    def forward(self, x, training=False):
        self.batches.append((training, x.copy()))
        return x

    def backward(self, dy):
        return dy

    def seen(self, training):
        return [x for flag, x in self.batches if flag == training]


class BatchCounter(callbacks.Callback):
    """Counts training batches per epoch."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_epoch_begin(self, epoch, logs=None):
        self.steps.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.steps[-1] += 1


def _classification(n=100, features=4, seed=0):
    """Linearly separable-ish two-class data; column 0 is the sample index (an identifier)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype("float32")
    y = (x[:, 1] + 0.5 * x[:, 2] > 0).astype("int64")
    x[:, 0] = np.arange(n)
    return x, y


def _classifier(features=4, recorder=None, optimizer="sgd", metrics=("accuracy",)):
    stack = [dd.Input(shape=(features,))]
    stack += [recorder] if recorder is not None else []
    stack += [layers.Dense(2, activation="softmax")]
    model = dd.Sequential(stack)
    model.compile(
        optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=list(metrics)
    )
    return model


def _ids(batches):
    return [batch[:, 0].astype(int).tolist() for batch in batches]


# ------------------------------------------------------------------- compile and History


def test_compile_default_optimizer_is_rmsprop():
    model = dd.Sequential([dd.Input(shape=(3,)), layers.Dense(1)])
    model.compile(loss="mse")
    assert isinstance(model.optimizer, optimizers.RMSprop)
    assert model.optimizer.learning_rate == pytest.approx(0.001)


def test_compile_without_loss_raises():
    model = dd.Sequential([dd.Input(shape=(3,)), layers.Dense(1)])
    with pytest.raises(ValueError, match="compile: loss is required"):
        model.compile(optimizer="sgd")


def test_fit_before_compile_raises():
    model = dd.Sequential([dd.Input(shape=(3,)), layers.Dense(1)])
    with pytest.raises(RuntimeError, match=r"call compile\(\) before fit\(\)"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 1)), verbose=0)


def test_fit_returns_history_with_keras_keys():
    x, y = _classification()
    history = _classifier().fit(x, y, epochs=3, verbose=0, validation_split=0.2)
    assert isinstance(history, callbacks.History)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 3 for values in history.history.values())
    assert all(isinstance(v, float) for values in history.history.values() for v in values)
    assert history.epoch == [0, 1, 2]


# ------------------------------------------------------------------- batching


@pytest.mark.parametrize(
    "batch_size, steps, sizes",
    [
        (None, 4, [32, 32, 32, 4]),  # Keras's default batch size is 32
        (32, 4, [32, 32, 32, 4]),
        (50, 2, [50, 50]),
        (100, 1, [100]),
        (1000, 1, [100]),
    ],
)
def test_batch_size(batch_size, steps, sizes):
    x, y = _classification(100)
    recorder = Recorder()
    counter = BatchCounter()
    _classifier(recorder=recorder).fit(
        x, y, batch_size=batch_size, epochs=2, verbose=0, callbacks=[counter]
    )
    assert counter.steps == [steps, steps]
    assert [len(b) for b in recorder.seen(training=True)] == sizes * 2


@pytest.mark.parametrize(
    "batch_size, learning_rate, epochs",
    [
        ("all", 0.5, 20),  # batch gradient descent: one step per epoch
        (1, 0.01, 2),  # stochastic gradient descent: one step per example
        (64, 0.1, 5),  # mini-batch gradient descent
    ],
)
def test_gradient_descent_variants(batch_size, learning_rate, epochs):
    x, y = _classification(200, seed=1)
    x[:, 0] = 1.0  # a constant feature instead of the identifier
    batch_size = len(x) if batch_size == "all" else batch_size
    dd.utils.set_random_seed(0)
    model = _classifier(optimizer=optimizers.SGD(learning_rate=learning_rate))
    initial_loss = model.evaluate(x, y, verbose=0)[0]
    counter = BatchCounter()
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[counter])
    assert counter.steps == [math.ceil(len(x) / batch_size)] * epochs
    assert model.optimizer.iterations == math.ceil(len(x) / batch_size) * epochs
    final_loss = model.evaluate(x, y, verbose=0)[0]
    assert final_loss < 0.8 * initial_loss
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("batch_size, steps", [(None, 4), (7, 15), (100, 1)])
def test_predict_batches(batch_size, steps):
    x, _ = _classification(100)
    recorder = Recorder()
    model = _classifier(recorder=recorder)
    predictions = model.predict(x, batch_size=batch_size, verbose=0)
    assert predictions.shape == (100, 2)
    assert predictions.dtype == np.float32
    sizes = [len(b) for b in recorder.seen(training=False)]
    assert len(sizes) == steps
    assert sum(sizes) == 100
    assert max(sizes) == min(batch_size or 32, 100)
    np.testing.assert_allclose(predictions, model(x), rtol=1e-6)


def test_predict_empty_input():
    model = _classifier()
    assert model.predict(np.zeros((0, 4), dtype="float32"), verbose=0).shape == (0, 2)


def test_shuffle_false_keeps_order_and_shuffle_true_permutes():
    x, y = _classification(100)
    recorder = Recorder()
    _classifier(recorder=recorder).fit(x, y, batch_size=25, epochs=2, shuffle=False, verbose=0)
    ordered = [i for batch in _ids(recorder.seen(True)) for i in batch]
    assert ordered == list(range(100)) * 2

    dd.utils.set_random_seed(0)
    recorder = Recorder()
    _classifier(recorder=recorder).fit(x, y, batch_size=25, epochs=2, shuffle=True, verbose=0)
    ids = [i for batch in _ids(recorder.seen(True)) for i in batch]
    first, second = ids[:100], ids[100:]
    assert sorted(first) == sorted(second) == list(range(100))  # each epoch sees every sample once
    assert first != list(range(100))
    assert first != second  # a new permutation each epoch


# ------------------------------------------------------------------- validation


@pytest.mark.parametrize("shuffle", [True, False])
def test_validation_split_takes_the_last_fraction_before_shuffling(shuffle):
    x, y = _classification(100)
    recorder = Recorder()
    model = _classifier(recorder=recorder)
    history = model.fit(
        x, y, batch_size=16, epochs=2, validation_split=0.2, shuffle=shuffle, verbose=0
    )
    trained = [i for batch in _ids(recorder.seen(True)) for i in batch]
    validated = [i for batch in _ids(recorder.seen(False)) for i in batch]
    assert sorted(trained) == sorted(list(range(80)) * 2)  # the tail is never trained on
    assert validated == list(range(80, 100)) * 2  # the tail, in order, after each epoch
    # val_loss is the loss on the tail with the weights at the end of the epoch
    logs = model.evaluate(x[80:], y[80:], batch_size=16, verbose=0, return_dict=True)
    assert history.history["val_loss"][-1] == pytest.approx(logs["loss"], rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(logs["accuracy"])


def test_validation_data():
    x, y = _classification(100)
    x_val, y_val = _classification(30, seed=5)
    model = _classifier()
    history = model.fit(x, y, epochs=2, validation_data=(x_val, y_val), verbose=0)
    logs = model.evaluate(x_val, y_val, verbose=0, return_dict=True)
    assert history.history["val_loss"][-1] == pytest.approx(logs["loss"], rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(logs["accuracy"])
    assert history.history["val_loss"][0] != history.history["val_loss"][1]


def test_validation_data_takes_precedence_over_split():
    x, y = _classification(100)
    recorder = Recorder()
    _classifier(recorder=recorder).fit(
        x, y, epochs=1, validation_split=0.5, validation_data=(x[:10], y[:10]), verbose=0
    )
    assert sum(len(b) for b in recorder.seen(True)) == 100
    assert _ids(recorder.seen(False)) == [list(range(10))]


@pytest.mark.parametrize("split", [-0.1, 1.0, 1.5, True])
def test_bad_validation_split(split):
    x, y = _classification(10)
    with pytest.raises(
        ValueError,
        match=r"fit: validation_split must be a float in \[0, 1\); got "
        rf"validation_split={split}",
    ):
        _classifier().fit(x, y, validation_split=split, verbose=0)


def test_bad_validation_data():
    x, y = _classification(10)
    with pytest.raises(ValueError, match=r"validation_data must be \(x_val, y_val\); got ndarray"):
        _classifier().fit(x, y, validation_data=x, verbose=0)


def test_validation_data_length_mismatch():
    x, y = _classification(10)
    with pytest.raises(
        ValueError, match="x_val and y_val must have the same number of samples; got 10 and 4"
    ):
        _classifier().fit(x, y, validation_data=(x, y[:4]), verbose=0)


# ------------------------------------------------------------------- weighting and epochs


def _weighted_runs(**fit_kwargs):
    x, y = _classification(60, seed=2)
    x[:, 0] = 0.0
    dd.utils.set_random_seed(3)
    model = _classifier(optimizer=optimizers.SGD(learning_rate=0.1))
    model.set_weights([np.full((4, 2), 0.1, "float32") * [[1, -1]], np.zeros(2, "float32")])
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, **fit_kwargs)
    return model.get_weights(), history.history["loss"], y


def test_class_weight_acts_like_sample_weight():
    _, _, y = _weighted_runs()
    weights_cw, loss_cw, _ = _weighted_runs(class_weight={0: 1, 1: 5})
    weights_sw, loss_sw, _ = _weighted_runs(sample_weight=np.where(y == 1, 5.0, 1.0))
    weights_plain, loss_plain, _ = _weighted_runs()
    for a, b in zip(weights_cw, weights_sw):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(loss_cw, loss_sw, rtol=1e-6)
    assert not np.allclose(weights_cw[0], weights_plain[0])
    assert loss_cw[0] > loss_plain[0]


def test_class_weight_with_one_hot_targets():
    x, y = _classification(40)
    x[:, 0] = 0.0
    one_hot = np.eye(2, dtype="float32")[y]
    model = dd.Sequential([dd.Input(shape=(4,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    weights = model.get_weights()
    losses = {}
    for name, kwargs in (
        ("cw", {"class_weight": {1: 3.0}}),
        ("sw", {"sample_weight": np.where(y == 1, 3.0, 1.0)}),
    ):
        model.set_weights(weights)
        losses[name] = model.fit(
            x, one_hot, batch_size=8, epochs=1, shuffle=False, verbose=0, **kwargs
        ).history["loss"]
    np.testing.assert_allclose(losses["cw"], losses["sw"], rtol=1e-6)


def test_sample_weight_zero_ignores_samples():
    x, y = _classification(40)
    x[:, 0] = 0.0
    model = _classifier()
    initial = model.get_weights()
    model.fit(x, y, batch_size=40, sample_weight=np.zeros(40), verbose=0)
    for a, b in zip(model.get_weights(), initial):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "initial_epoch, epochs, expected", [(2, 5, [2, 3, 4]), (0, 2, [0, 1]), (3, 4, [3])]
)
def test_initial_epoch(initial_epoch, epochs, expected):
    x, y = _classification(40)

    class Epochs(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_epoch_begin(self, epoch, logs=None):
            self.seen.append(epoch)

    recorder = Epochs()
    history = _classifier().fit(
        x, y, epochs=epochs, initial_epoch=initial_epoch, verbose=0, callbacks=[recorder]
    )
    assert recorder.seen == expected
    assert history.epoch == expected
    assert len(history.history.get("loss", [])) == len(expected)


def test_fit_twice_continues_training():
    x, y = _classification(100)
    x[:, 0] = 0.0
    dd.utils.set_random_seed(0)
    model = _classifier(optimizer=optimizers.SGD(learning_rate=0.5))
    first = model.fit(x, y, epochs=3, verbose=0).history["loss"]
    second = model.fit(x, y, epochs=3, verbose=0).history["loss"]
    assert second[0] < first[0]
    assert model.optimizer.iterations == 6 * 4


# ------------------------------------------------------------------- evaluate


def test_evaluate_return_types():
    x, y = _classification(50)
    plain = _classifier(metrics=())
    loss = plain.evaluate(x, y, verbose=0)
    assert isinstance(loss, float)
    model = _classifier()
    model.set_weights(plain.get_weights())
    values = model.evaluate(x, y, verbose=0)
    assert isinstance(values, list)
    assert len(values) == 2
    assert values[0] == pytest.approx(loss)
    accuracy = np.mean(model.predict(x, verbose=0).argmax(axis=1) == y)
    assert values[1] == pytest.approx(accuracy)
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {
        "loss": values[0],
        "accuracy": values[1],
    }


def test_evaluate_is_independent_of_batch_size():
    x, y = _classification(50)
    model = _classifier()
    a = model.evaluate(x, y, batch_size=7, verbose=0)
    b = model.evaluate(x, y, batch_size=50, verbose=0)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_evaluate_matches_loss_by_hand():
    x, y = _classification(50)
    model = _classifier(metrics=())
    p = np.clip(model.predict(x, verbose=0), 1e-7, 1 - 1e-7)
    expected = -np.mean(np.log(p[np.arange(50), y]))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_evaluate_with_sample_weight():
    x, y = _classification(50)
    model = _classifier(metrics=())
    weights = np.linspace(0, 2, 50)
    p = np.clip(model.predict(x, verbose=0).astype("float64"), 1e-7, 1 - 1e-7)
    expected = -np.mean(weights * np.log(p[np.arange(50), y]))  # sum_over_batch_size
    got = model.evaluate(x, y, batch_size=50, sample_weight=weights, verbose=0)
    assert got == pytest.approx(expected, rel=1e-5)


# ------------------------------------------------------------------- dtypes


def test_uint8_input_is_converted_batch_by_batch():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 4), dtype=np.uint8)
    y = rng.integers(0, 2, 50)
    recorder = Recorder()
    model = _classifier(recorder=recorder)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    predictions = model.predict(x, batch_size=16, verbose=0)
    assert all(b.dtype == np.float32 for _, b in recorder.batches)
    assert {len(b) for _, b in recorder.batches} == {16, 2}
    assert x.dtype == np.uint8  # the caller's array is untouched
    np.testing.assert_allclose(predictions, model.predict(x.astype("float32"), verbose=0))
    np.testing.assert_allclose(model(x), predictions, rtol=1e-6)


@pytest.mark.parametrize(
    "loss, y",
    [
        ("sparse_categorical_crossentropy", np.array([0, 1, 1, 0] * 5, dtype=np.uint8)),
        ("sparse_categorical_crossentropy", np.array([0, 1, 1, 0] * 5, dtype=np.int32)),
        ("categorical_crossentropy", np.eye(2)[[0, 1, 1, 0] * 5]),  # float64 targets
    ],
)
def test_target_dtypes(loss, y):
    x = np.random.default_rng(0).standard_normal((20, 4))
    model = dd.Sequential([dd.Input(shape=(4,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][0])


def test_floatx_float64_gives_float64_models():
    dd.config.set_floatx("float64")
    x, y = _classification(40)
    model = _classifier()
    assert all(w.dtype == np.float64 for w in model.get_weights())
    model.fit(x.astype("float32"), y, epochs=1, verbose=0)
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(x, verbose=0).dtype == np.float64
    assert model(x).dtype == np.float64


# ------------------------------------------------------------------- errors


def _mnist_like_model():
    model = dd.Sequential(
        [dd.Input(shape=(784,)), layers.Dense(10, activation="softmax", name="first")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict", "__call__"])
@pytest.mark.parametrize(
    "shape, shown", [((32, 785), r"\(32, 785\)"), ((32, 28, 28), r"\(32, 28, 28\)")]
)
def test_data_that_does_not_fit_the_model(method, shape, shown):
    model = _mnist_like_model()
    x = np.zeros(shape, dtype="float32")
    y = np.zeros(32, dtype="int64")
    args = (x,) if method in ("predict", "__call__") else (x, y)
    kwargs = {} if method == "__call__" else {"verbose": 0}
    expected = rf"Dense\(name='first'\): expected input .* of shape \(batch, 784\); got {shown}\."
    with pytest.raises(ValueError, match=expected):
        getattr(model, method)(*args, **kwargs)


def test_wrong_shape_in_validation_data():
    model = _mnist_like_model()
    x = np.zeros((8, 784), dtype="float32")
    y = np.zeros(8, dtype="int64")
    with pytest.raises(
        ValueError,
        match=r"Dense\(name='first'\): expected input \(in "
        r"validation_data .*\(batch, 784\); got \(8, 785\)\.",
    ):
        model.fit(x, y, validation_data=(np.zeros((8, 785)), y), verbose=0)


def test_deferred_sequential_checks_later_data():
    model = dd.Sequential([layers.Dense(3, name="d0"), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((10, 5)), np.zeros((10, 2)), verbose=0)
    with pytest.raises(ValueError, match=r"Dense\(name='d0'\).*\(batch, 5\); got \(10, 6\)\."):
        model.predict(np.zeros((10, 6)), verbose=0)


@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_x_y_length_mismatch(method):
    model = _mnist_like_model()
    with pytest.raises(
        ValueError, match="x and y must have the same number of samples; got 100 and 90"
    ):
        getattr(model, method)(np.zeros((100, 784)), np.zeros(90, dtype="int64"), verbose=0)


def test_sample_weight_length_mismatch():
    model = _mnist_like_model()
    with pytest.raises(
        ValueError, match="x and sample_weight must have the same number of samples; got 10 and 3"
    ):
        model.fit(
            np.zeros((10, 784)), np.zeros(10, dtype="int64"), sample_weight=np.ones(3), verbose=0
        )


@pytest.mark.parametrize("bad", [10, 12, -1])
@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_sparse_labels_out_of_range(method, bad):
    model = _mnist_like_model()
    y = np.arange(20) % 10
    y[13] = bad
    with pytest.raises(ValueError, match=rf"labels must be in \[0, 10\); got label {bad}\.$"):
        getattr(model, method)(np.zeros((20, 784)), y, verbose=0)


def test_non_integer_sparse_labels():
    model = _mnist_like_model()
    with pytest.raises(ValueError, match=r"labels must be integers; got 2\.5"):
        model.fit(np.zeros((4, 784)), np.array([0.0, 1.0, 2.5, 3.0]), verbose=0)


@pytest.mark.parametrize(
    "loss, y_shape, message",
    [
        (
            "categorical_crossentropy",
            (64, 3),
            (r"y_true and y_pred must have the same shape; got y_true \(32, 3\) and "
             r"y_pred \(32, 10\)"),
        ),
        (
            "mse",
            (64,),
            r"y_true and y_pred must have the same shape; got y_true \(32,\) and y_pred \(32, 10\)",
        ),
        (
            "mse",
            (64, 1),
            (r"y_true and y_pred must have the same shape; got y_true \(32, 1\) and "
             r"y_pred \(32, 10\)"),
        ),
        (
            "sparse_categorical_crossentropy",
            (64, 10),
            (r"expected integer labels of shape \(32,\) for y_pred \(32, 10\); "
             r"got y_true \(32, 10\)"),
        ),
    ],
)
def test_targets_are_never_broadcast(loss, y_shape, message):
    model = dd.Sequential([dd.Input(shape=(4,)), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss=loss)
    x = np.zeros((64, 4), dtype="float32")
    y = np.zeros(y_shape, dtype="float32")
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, verbose=0)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: dd.Sequential([dd.Input(shape=(3,)), layers.Dense(1)]).compile(
                "adamm", loss="mse"
            ),
            r"Unknown optimizer 'adamm'\. Valid names: 'adagrad', 'adam', .*'sgd'\.",
        ),
        (
            lambda: layers.Dense(3, activation="rleu"),
            r"Unknown activation 'rleu'\. Valid names: .*'relu', .*'softmax'",
        ),
        (
            lambda: dd.Sequential([dd.Input(shape=(3,)), layers.Dense(1)]).compile(
                "sgd", loss="categorical_crossentropyy"
            ),
            r"Unknown loss 'categorical_crossentropyy'\. Valid names: .*'categorical_crossentropy'",
        ),
        (
            lambda: dd.Sequential([dd.Input(shape=(3,)), layers.Dense(1)]).compile(
                "sgd", loss="mse", metrics=["acuracy"]
            ),
            r"Unknown metric 'acuracy'\. Valid names: .*'binary_accuracy'",
        ),
    ],
)
def test_unknown_identifiers(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("units", [0, -3, 2.5, True])
def test_non_positive_units(units):
    with pytest.raises(
        ValueError,
        match=rf"Dense\(name='d'\): units must be a positive integer; "
        rf"got units={units}",
    ):
        layers.Dense(units, name="d")


@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.Adam, optimizers.RMSprop])
@pytest.mark.parametrize("learning_rate", [0, -0.1, float("nan")])
def test_non_positive_learning_rate(cls, learning_rate):
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: learning_rate must be a positive "
        rf"number; got learning_rate={learning_rate}",
    ):
        cls(learning_rate=learning_rate)


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1])
def test_dropout_rate_outside_unit_interval(rate):
    with pytest.raises(
        ValueError,
        match=rf"Dropout\(name='drop'\): rate must be a float in "
        rf"\[0, 1\); got rate={rate}",
    ):
        layers.Dropout(rate, name="drop")


@pytest.mark.parametrize("batch_size", [0, -4, 2.0])
def test_bad_batch_size(batch_size):
    x, y = _classification(10)
    with pytest.raises(
        ValueError,
        match=rf"batch_size must be a positive integer or None; got "
        rf"batch_size={batch_size}",
    ):
        _classifier().fit(x, y, batch_size=batch_size, verbose=0)


class WeightSnapshots(callbacks.Callback):
    """Keeps the weights at the start of every batch, with (epoch, batch)."""

    def __init__(self):
        super().__init__()
        self.snapshots = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.snapshots.append(((self.epoch, batch), self.model.get_weights()))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_diverging_loss_stops_without_applying_the_bad_update():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32") * 10
    y = rng.standard_normal((64, 1)).astype("float32") * 100
    dd.utils.set_random_seed(0)
    model = dd.Sequential([dd.Input(shape=(4,)), layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(learning_rate=10.0), loss="mse")
    snapshots = WeightSnapshots()
    with pytest.raises(FloatingPointError) as info:
        model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0, callbacks=[snapshots])
    (epoch, batch), before = snapshots.snapshots[-1]
    assert len(snapshots.snapshots) > 1  # some updates were applied before the loss overflowed
    assert rf"the loss became inf at epoch {epoch + 1}, batch {batch + 1};" in str(info.value)
    assert "training stopped before applying that update" in str(info.value)
    assert all(np.isfinite(w).all() for w in before)
    for now, then in zip(model.get_weights(), before):
        np.testing.assert_array_equal(now, then)


def test_nan_in_x_stops_at_its_batch():
    x, y = _classification(64)
    x[:, 0] = 0.0
    x[40, 2] = np.nan  # batch 3 of 16 samples
    model = _classifier()
    initial = model.get_weights()
    snapshots = WeightSnapshots()
    with pytest.raises(
        FloatingPointError,
        match=r"Sequential\(name='.*'\): the loss became nan "
        r"at epoch 1, batch 3;",
    ):
        model.fit(x, y, batch_size=16, shuffle=False, epochs=2, verbose=0, callbacks=[snapshots])
    (position, before) = snapshots.snapshots[-1]
    assert position == (0, 2)
    for now, then, start in zip(model.get_weights(), before, initial):
        np.testing.assert_array_equal(now, then)
        assert not np.array_equal(now, start)  # batches 1 and 2 were applied
