"""Generators, iterators and PyDataset give fit/evaluate/predict the same results as arrays
(#12)."""

import math
import threading
import warnings

import numpy as np
import pytest

import dendrite as dd
from dendrite.layers import Dense
from dendrite.utils import PyDataset, Sequence
from dendrite.utils.pydataset import iterate_batches


def _data(samples=40, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, features)).astype("float32")
    y = rng.integers(0, classes, samples)
    w = rng.uniform(0.5, 2.0, samples).astype("float32")
    return x, y, w


def _model(seed=0):
    dd.utils.set_random_seed(seed)
    model = dd.Sequential([Dense(8, activation="tanh", input_shape=(5,)),
                           Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _generator(x, y, w=None, batch_size=8, repeat=True):
    while True:
        for start in range(0, len(x), batch_size):
            stop = start + batch_size
            yield (x[start:stop], y[start:stop]) if w is None else (
                x[start:stop], y[start:stop], w[start:stop])
        if not repeat:
            return


class ArrayDataset(PyDataset):
    def __init__(self, x, y, w=None, batch_size=8, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.w, self.batch_size = x, y, w, batch_size
        self.epochs_ended = 0
        self.threads = set()

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        self.threads.add(threading.get_ident())
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if self.w is None:
            return self.x[part], self.y[part]
        return self.x[part], self.y[part], self.w[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


def _fit_arrays(x, y, w=None, epochs=3):
    model = _model()
    history = model.fit(x, y, sample_weight=w, batch_size=8, epochs=epochs, shuffle=False,
                        verbose=0)
    return model, history


@pytest.mark.parametrize("weighted", [False, True])
def test_generator_trains_exactly_like_arrays(weighted):
    x, y, w = _data()
    w = w if weighted else None
    reference, expected = _fit_arrays(x, y, w)
    model = _model()
    history = model.fit(_generator(x, y, w), steps_per_epoch=5, epochs=3, verbose=0)
    np.testing.assert_array_equal(history.history["loss"], expected.history["loss"])
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("workers, use_multiprocessing",
                         [(1, False), (3, False), (2, True)])
def test_pydataset_trains_exactly_like_arrays(workers, use_multiprocessing):
    x, y, w = _data()
    reference, expected = _fit_arrays(x, y, w)
    dataset = ArrayDataset(x, y, w, workers=workers, use_multiprocessing=use_multiprocessing,
                           max_queue_size=2)
    model = _model()
    history = model.fit(dataset, epochs=3, verbose=0)
    np.testing.assert_array_equal(history.history["loss"], expected.history["loss"])
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert dataset.epochs_ended == 3
    if workers > 1 and not use_multiprocessing:
        assert threading.get_ident() not in dataset.threads  # loaded by worker threads


def test_sequence_is_pydataset():
    assert Sequence is PyDataset


def test_evaluate_and_predict_on_generators_and_pydataset():
    x, y, w = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0)
    loss, accuracy = model.evaluate(x, y, sample_weight=w, batch_size=8, verbose=0)
    assert model.evaluate(ArrayDataset(x, y, w), verbose=0) == pytest.approx([loss, accuracy],
                                                                           rel=1e-6)
    assert model.evaluate(_generator(x, y, w), steps=5, verbose=0) == pytest.approx(
        [loss, accuracy], rel=1e-6)
    expected = model.predict(x, batch_size=8, verbose=0)
    xs_only = (x[i:i + 8] for i in range(0, 40, 8))
    np.testing.assert_array_equal(model.predict(xs_only, verbose=0), expected)
    np.testing.assert_array_equal(model.predict(ArrayDataset(x, y), verbose=0), expected)
    two_steps = model.predict(_generator(x, y), steps=2, verbose=0)
    np.testing.assert_array_equal(two_steps, expected[:16])
    np.testing.assert_array_equal(model.predict(x, batch_size=8, steps=2, verbose=0),
                                  expected[:16])
    assert model.evaluate(x, y, batch_size=8, steps=2, verbose=0) == pytest.approx(
        model.evaluate(x[:16], y[:16], batch_size=8, verbose=0), rel=1e-6)


def test_validation_data_generator_and_weighted_tuple_match_arrays():
    x, y, _ = _data()
    xv, yv, wv = _data(16, seed=1)
    model = _model()
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                        validation_data=(xv, yv, wv))
    unweighted = _model().fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                              validation_data=(xv, yv))
    # the third element is used, not dropped: weighted and unweighted validation losses differ
    assert history.history["val_loss"] != unweighted.history["val_loss"]
    streamed = _model().fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                            validation_data=_generator(xv, yv, wv), validation_steps=2)
    np.testing.assert_allclose(streamed.history["val_loss"], history.history["val_loss"],
                               rtol=1e-6)


def test_steps_per_epoch_takes_that_many_batches():
    x, y, _ = _data()
    seen = []

    class Counter(dd.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    _model().fit(_generator(x, y), steps_per_epoch=3, epochs=2, verbose=0, callbacks=[Counter()])
    assert seen == [0, 1, 2, 0, 1, 2]


def test_generator_that_runs_dry_warns_like_keras_and_stops():
    x, y, _ = _data()
    model = _model()
    with pytest.warns(UserWarning, match=r"Your input ran out of data; interrupting training\. "
                                         r"Make sure that your dataset or generator can generate "
                                         r"at least `steps_per_epoch \* epochs` batches"):
        history = model.fit(_generator(x, y, repeat=False), steps_per_epoch=3, epochs=4,
                            verbose=0)
    # 5 batches: epoch 1 takes 3, epoch 2 gets 2, runs dry, is logged, and training stops
    assert history.epoch == [0, 1]


def test_generator_without_steps_runs_one_epoch_then_warns():
    x, y, _ = _data()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = _model().fit(_generator(x, y, repeat=False), epochs=3, verbose=0)
    assert history.epoch == [0]


def test_array_steps_per_epoch_larger_than_data_warns():
    x, y, _ = _data()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = _model().fit(x, y, batch_size=8, steps_per_epoch=6, epochs=2, verbose=0)
    assert history.epoch == [0]


def test_iterate_batches_keeps_order_with_workers():
    class Slow(PyDataset):
        def __len__(self):
            return 7

        def __getitem__(self, index):
            return np.full((2, 1), index, dtype="float32"), np.array([index, -index])

    for use_multiprocessing in (False, True):
        batches = list(iterate_batches(Slow(workers=3, use_multiprocessing=use_multiprocessing,
                                            max_queue_size=2)))
        assert [int(b[0][0, 0]) for b in batches] == list(range(7))
        assert [b[1].tolist() for b in batches][3] == [3, -3]


def test_processes_carry_dicts_lists_and_none():
    class Nested(PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return ({"a": np.full((2, 2), index, "float32"), "b": [np.arange(index + 1), None]},
                    np.array([index], dtype=">i4"))

    batches = list(iterate_batches(Nested(workers=2, use_multiprocessing=True)))
    for index, (x, y) in enumerate(batches):
        assert sorted(x) == ["a", "b"] and x["b"][1] is None
        np.testing.assert_array_equal(x["a"], np.full((2, 2), index, "float32"))
        np.testing.assert_array_equal(x["b"][0], np.arange(index + 1))
        assert y.dtype == np.dtype(">i4") and y.tolist() == [index]


def test_worker_error_names_the_batch():
    class Broken(PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            if index == 1:
                raise KeyError("missing file")
            return np.zeros((1, 1)), np.zeros(1)

    with pytest.raises(RuntimeError, match=r"batch 1 with KeyError"):
        list(iterate_batches(Broken(workers=2, use_multiprocessing=True)))
    with pytest.raises(KeyError):
        list(iterate_batches(Broken(workers=2)))


def test_no_warning_when_generator_is_long_enough():
    x, y, _ = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _model().fit(_generator(x, y), steps_per_epoch=5, epochs=3, verbose=0)


def test_sequential_without_input_shape_builds_on_the_first_batch():
    x, y, _ = _data()
    for run in ("fit", "evaluate", "predict"):
        dd.utils.set_random_seed(0)
        model = dd.Sequential([Dense(8, activation="tanh"), Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        if run == "fit":
            assert len(model.fit(_generator(x, y), steps_per_epoch=5, verbose=0).epoch) == 1
        elif run == "evaluate":
            assert model.evaluate(ArrayDataset(x, y), verbose=0) > 0
        else:
            assert model.predict(ArrayDataset(x, y), verbose=0).shape == (40, 3)
