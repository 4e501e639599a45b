"""Recurrent layers inside models: masks through the graph, integer inputs through fit's data path,
initial_state and return_state as graph inputs and outputs, whole-model gradient checks."""

import numpy as np
import pytest

import dendrite as dd
from dendrite import layers
from dendrite.testing import check_model_gradients

F64 = "float64"


def _padded_ids(rng, batch=6, timesteps=7, vocab=12):
    """Pre-padded token ids (0 is padding), one row of each length."""
    ids = np.zeros((batch, timesteps), dtype="int32")
    for row in range(batch):
        length = 1 + row % timesteps
        ids[row, timesteps - length:] = rng.integers(1, vocab, length)
    return ids


def test_integer_input_reaches_embedding_as_integers_through_fit_evaluate_predict():
    rng = np.random.default_rng(0)
    x = dd.Input(shape=(7,), dtype="int32")
    embedding = layers.Embedding(12, 4, mask_zero=True)
    y = layers.Dense(2, activation="softmax")(layers.LSTM(5)(embedding(x)))
    model = dd.Model(x, y)
    assert model.dtype == "float32"
    assert model.input_dtypes == ["int32"]
    model.compile("adam", "sparse_categorical_crossentropy")
    ids = _padded_ids(rng).astype("int64")
    labels = rng.integers(0, 2, len(ids))
    model.fit(ids, labels, epochs=1, batch_size=4, verbose=0)
    assert embedding._ids.dtype == np.int32
    model.evaluate(ids, labels, verbose=0)
    assert model.predict(ids, verbose=0).dtype == np.float32
    assert embedding._ids.dtype == np.int32
    config = x.node.layer.get_config()
    assert config["dtype"] == "int32"
    assert layers.InputLayer.from_config(config).dtype == "int32"


def test_mask_from_embedding_makes_padding_invisible_to_the_lstm():
    rng = np.random.default_rng(1)
    x = dd.Input(shape=(7,), dtype="int32")
    embedding = layers.Embedding(12, 3, mask_zero=True, dtype=F64)
    lstm = layers.LSTM(4, dtype=F64)
    model = dd.Model(x, lstm(embedding(x)))
    ids = _padded_ids(rng)
    out = model.predict(ids, verbose=0)
    for row in range(len(ids)):
        real = ids[row][ids[row] != 0][None]
        np.testing.assert_allclose(out[row], lstm(embedding(real))[0], rtol=1e-12)


@pytest.mark.parametrize("merge_mode", ["concat", "ave"])
def test_masking_layer_and_bidirectional_in_a_model(merge_mode):
    rng = np.random.default_rng(2)
    x_data = rng.standard_normal((5, 6, 3))
    x_data[:, 4:] = -1.0  # post-padding
    x = dd.Input(shape=(6, 3), dtype=F64)
    masked = layers.Masking(mask_value=-1.0, dtype=F64)(x)
    bi = layers.Bidirectional(layers.GRU(4, dtype=F64), merge_mode=merge_mode)
    model = dd.Model(x, bi(masked))
    out = model.predict(x_data, verbose=0)
    np.testing.assert_allclose(out, bi(x_data[:, :4]), rtol=1e-12)


def test_model_gradients_with_masks_bidirectional_and_time_distributed():
    rng = np.random.default_rng(3)
    x = dd.Input(shape=(5,), dtype="int32")
    h = layers.Embedding(9, 3, mask_zero=True, dtype=F64)(x)
    h = layers.Bidirectional(layers.LSTM(3, return_sequences=True, dtype=F64))(h)
    h = layers.TimeDistributed(layers.Dense(2, activation="tanh", dtype=F64))(h)
    out = layers.GRU(2, dtype=F64)(h)
    model = dd.Model(x, out)
    model.compile("sgd", "mse")
    ids = _padded_ids(rng, batch=4, timesteps=5, vocab=9)
    check_model_gradients(model, ids, rng.standard_normal((4, 2)))


def test_initial_state_is_a_graph_input_and_its_gradient_trains_the_encoder():
    rng = np.random.default_rng(4)
    source = dd.Input(shape=(4, 3), dtype=F64)
    target = dd.Input(shape=(6, 2), dtype=F64)
    _, h, c = layers.LSTM(5, return_state=True, dtype=F64, name="encoder")(source)
    decoded = layers.LSTM(5, return_sequences=True, dtype=F64)(target, initial_state=[h, c])
    model = dd.Model([source, target], layers.TimeDistributed(layers.Dense(1, dtype=F64))(decoded))
    model.compile("sgd", "mse")
    xs = [rng.standard_normal((3, 4, 3)), rng.standard_normal((3, 6, 2))]
    report = check_model_gradients(model, xs, rng.standard_normal((3, 6, 1)))
    # the encoder reaches the loss only through the decoder's initial-state gradients
    assert {"encoder/kernel", "encoder/recurrent_kernel", "encoder/bias"} <= set(report)


def test_return_state_outputs_in_a_model():
    rng = np.random.default_rng(5)
    x = dd.Input(shape=(4, 3), dtype=F64)
    output, _, c = layers.LSTM(2, return_state=True, dtype=F64)(x)
    model = dd.Model(x, [output, c])
    model.compile("sgd", ["mse", "mse"])
    x_data = rng.standard_normal((3, 4, 3))
    predicted = model.predict(x_data, verbose=0)
    lstm = model.layers[1]
    reference = lstm(x_data)
    np.testing.assert_allclose(predicted[0], reference[0], rtol=1e-12)
    np.testing.assert_allclose(predicted[1], reference[2], rtol=1e-12)
    check_model_gradients(model, x_data, [rng.standard_normal((3, 2)), rng.standard_normal((3, 2))])


def test_stacked_lstms_in_sequential_train():
    dd.utils.set_random_seed(0)
    rng = np.random.default_rng(6)
    model = dd.Sequential([layers.LSTM(8, return_sequences=True, input_shape=(5, 2)),
                           layers.LSTM(8), layers.Dense(1)])
    model.compile(dd.optimizers.Adam(0.01), "mse")
    x = rng.standard_normal((64, 5, 2)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None]
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    assert model.count_params() == 4 * 8 * (2 + 8 + 1) + 4 * 8 * (8 + 8 + 1) + 9
