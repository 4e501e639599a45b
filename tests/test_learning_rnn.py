"""Recurrent layers learn (issue 10): an LSTM reading MNIST row by row, and the adding problem over
50 steps, which an LSTM solves and a SimpleRNN of the same size does not."""

import numpy as np
import pytest

import dendrite as dd
from dendrite import layers


def adding_problem(n, timesteps, seed):
    """The adding problem (Hochreiter & Schmidhuber, 1997): each step holds a value in [0, 1) and a
    marker; two steps are marked, one in the first 10 and one in the second half, and the target is
    the sum of their values. Predicting the mean scores an MSE of about 1/6."""
    rng = np.random.default_rng(seed)
    values = rng.random((n, timesteps))
    markers = np.zeros((n, timesteps))
    rows = np.arange(n)
    markers[rows, rng.integers(0, 10, n)] = 1
    markers[rows, rng.integers(timesteps // 2, timesteps, n)] = 1
    x = np.stack([values, markers], axis=-1).astype("float32")
    y = (values * markers).sum(axis=1, keepdims=True).astype("float32")
    return x, y


def _adding_mse(cell):
    x, y = adding_problem(6400, 50, seed=0)
    x_test, y_test = adding_problem(1000, 50, seed=1)
    dd.utils.set_random_seed(0)
    model = dd.Sequential([cell(32, input_shape=(50, 2)), layers.Dense(1)])
    model.compile(dd.optimizers.Adam(0.01), "mse")
    model.fit(x, y, batch_size=64, epochs=8, verbose=0)
    return model.evaluate(x_test, y_test, batch_size=1000, verbose=0)


@pytest.mark.slow
def test_lstm_solves_the_adding_problem_over_50_steps_and_simple_rnn_does_not():
    lstm_mse = _adding_mse(layers.LSTM)
    rnn_mse = _adding_mse(layers.SimpleRNN)
    assert lstm_mse < 0.01  # measured 0.0012 (8 epochs of 100 batches)
    assert rnn_mse > 0.1  # measured 0.161: no better than predicting the mean
    assert rnn_mse > 10 * lstm_mse


@pytest.mark.slow
def test_lstm_reads_mnist_row_by_row_to_97_percent():
    (x, y), (x_test, y_test) = dd.datasets.mnist.load_data()
    x = x.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    dd.utils.set_random_seed(0)
    model = dd.Sequential([layers.LSTM(64, input_shape=(28, 28)),
                           layers.Dense(10, activation="softmax")])
    model.compile(dd.optimizers.Adam(0.003), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=128, epochs=3, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    assert accuracy >= 0.97  # measured 0.9780 (0.956, 0.967 after epochs 1 and 2)
