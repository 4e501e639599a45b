"""Utilities: seeding for bitwise-repeatable training, ``to_categorical`` and ``normalize``."""

import numpy as np
import pytest

import dendrite as dd
from dendrite import layers
from dendrite.utils import normalize, set_random_seed, to_categorical

# ------------------------------------------------------------------- set_random_seed


def _train_once(seed):
    """Build and fit one epoch with shuffling and dropout; return the weights."""
    set_random_seed(seed)
    rng = np.random.default_rng(0)  # the data is the same in every run
    x = rng.standard_normal((96, 8)).astype("float32")
    y = rng.integers(0, 3, 96)
    model = dd.Sequential(
        [
            dd.Input(shape=(8,)),
            layers.Dense(16, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, shuffle=True, verbose=0)
    return model.get_weights()


def test_same_seed_gives_bitwise_identical_training():
    first, second = _train_once(42), _train_once(42)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_different_seeds_differ():
    first, second = _train_once(1), _train_once(2)
    assert not np.array_equal(first[0], second[0])


def test_seed_also_seeds_numpy_and_python():
    import random

    set_random_seed(3)
    a = (np.random.rand(), random.random())
    set_random_seed(3)
    assert (np.random.rand(), random.random()) == a


@pytest.mark.parametrize("seed", [-1, 1.5, "1", True, None])
def test_bad_seed(seed):
    with pytest.raises(
        ValueError,
        match=r"set_random_seed: seed must be a non-negative integer; "
        rf"got {seed!r}",
    ):
        set_random_seed(seed)


# ------------------------------------------------------------------- to_categorical


def test_to_categorical_basic():
    result = to_categorical([0, 2, 1, 2])
    np.testing.assert_array_equal(result, [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]])
    assert result.dtype == np.float32


def test_to_categorical_num_classes():
    result = to_categorical(np.array([1, 3]), num_classes=6)
    assert result.shape == (2, 6)
    np.testing.assert_array_equal(result.argmax(axis=1), [1, 3])
    np.testing.assert_array_equal(result.sum(axis=1), [1, 1])


@pytest.mark.parametrize(
    "labels, shape",
    [
        (np.array([[0], [2], [1]]), (3, 3)),  # trailing axis of 1 is dropped, as in Keras
        (np.array([[0, 1], [2, 0]]), (2, 2, 3)),  # other shapes get a new last axis
        (np.array(2), (3,)),
        (np.array([], dtype=np.int64), (0, 3)),
    ],
)
def test_to_categorical_shapes(labels, shape):
    result = to_categorical(labels, num_classes=3)
    assert result.shape == shape
    np.testing.assert_array_equal(result.argmax(axis=-1), np.asarray(labels).reshape(shape[:-1]))


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.float32])
def test_to_categorical_input_dtypes(dtype):
    result = to_categorical(np.array([3, 0, 9], dtype=dtype), 10)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result.argmax(axis=1), [3, 0, 9])


def test_to_categorical_follows_floatx():
    dd.config.set_floatx("float64")
    assert to_categorical([1, 0]).dtype == np.float64


@pytest.mark.parametrize(
    "labels, num_classes, message",
    [
        ([0, 3], 3, r"labels must be in \[0, 3\); got label 3"),
        ([0, -1], 3, r"labels must be in \[0, 3\); got label -1"),
        ([0.5, 1.0], 3, "labels must be integers"),
    ],
)
def test_to_categorical_errors(labels, num_classes, message):
    with pytest.raises(ValueError, match=rf"to_categorical: {message}"):
        to_categorical(labels, num_classes)


def test_to_categorical_matches_keras_on_mnist_labels(mnist_flat):
    (_, y), _ = mnist_flat
    one_hot = to_categorical(y[:1000], 10)
    assert one_hot.shape == (1000, 10)
    np.testing.assert_array_equal(one_hot.argmax(axis=1), y[:1000])
    assert one_hot.sum() == 1000


# ------------------------------------------------------------------- normalize


def test_normalize_rows_to_unit_l2_norm():
    x = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]])
    result = normalize(x)
    np.testing.assert_allclose(result, [[0.6, 0.8], [1.0, 0.0], [0.0, 0.0]])  # zero row unchanged


def test_normalize_axis_0():
    x = np.array([[3.0, 0.0], [4.0, 2.0]])
    np.testing.assert_allclose(normalize(x, axis=0), [[0.6, 0.0], [0.8, 1.0]])


def test_normalize_order_1():
    np.testing.assert_allclose(normalize(np.array([[1.0, -3.0]]), order=1), [[0.25, -0.75]])


def test_normalize_random_rows_have_unit_norm():
    x = np.random.default_rng(0).standard_normal((10, 5))
    np.testing.assert_allclose(np.linalg.norm(normalize(x), axis=1), 1.0)


def test_normalize_integers_become_floatx():
    result = normalize(np.array([[3, 4]]))
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, [[0.6, 0.8]])
