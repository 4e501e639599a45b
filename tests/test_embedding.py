"""Embedding, Masking, LayerNormalization, the Orthogonal initializer and pad_sequences."""

import json

import numpy as np
import pytest

from dendrite import initializers
from dendrite.layers import Embedding, LayerNormalization, Masking
from dendrite.testing import check_gradients
from dendrite.utils import pad_sequences

# ---------------------------------------------------------------------------- Embedding


def test_embedding_forward_looks_up_rows_and_keeps_integer_ids():
    layer = Embedding(10, 3, dtype="float64")
    ids = np.array([[1, 0, 9], [4, 4, 2]], dtype="int32")
    y = layer(ids)
    assert y.shape == (2, 3, 3)
    np.testing.assert_array_equal(y[1, 0], layer.embeddings.value[4])
    assert layer._ids.dtype == np.int32  # no float round trip


def test_embedding_backward_sums_repeated_ids():
    rng = np.random.default_rng(0)
    layer = Embedding(6, 2, dtype="float64")
    ids = np.array([[1, 3, 1], [5, 1, 0]])
    layer(ids)
    dy = rng.standard_normal((2, 3, 2))
    assert layer.backward(dy) is None
    expected = np.zeros((6, 2))
    for (b, t), k in np.ndenumerate(ids):
        expected[k] += dy[b, t]
    np.testing.assert_allclose(layer.embeddings.grad, expected, rtol=1e-12)


def test_embedding_gradient_by_finite_differences():
    rng = np.random.default_rng(1)
    layer = Embedding(5, 3, dtype="float64")
    ids = np.array([[0, 2, 2, 4]])
    y = layer(ids)
    dy = rng.standard_normal(y.shape)
    layer.backward(dy)
    numeric = np.zeros((5, 3))
    eps = 1e-6
    flat = layer.embeddings.value.reshape(-1)
    for i in range(flat.size):
        flat[i] += eps
        plus = (dy * layer(ids)).sum()
        flat[i] -= 2 * eps
        minus = (dy * layer(ids)).sum()
        flat[i] += eps
        numeric.reshape(-1)[i] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(layer.embeddings.grad, numeric, rtol=1e-7, atol=1e-9)


def test_embedding_accepts_whole_float_ids_and_mask_zero():
    layer = Embedding(4, 2, mask_zero=True)
    ids = np.array([[3.0, 1.0, 0.0]])
    layer(ids)
    np.testing.assert_array_equal(layer.compute_mask(ids), [[True, True, False]])
    assert Embedding(4, 2).compute_mask(ids) is None


def test_embedding_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    layer = Embedding(7, 4, dtype="float64")
    ids = rng.integers(0, 7, (3, 5))
    y = layer(ids)
    dy = rng.standard_normal(y.shape)
    layer.backward(dy)
    ref = torch.nn.Embedding(7, 4, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(layer.embeddings.value))
    yt = ref(torch.from_numpy(ids))
    (yt * torch.from_numpy(dy)).sum().backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.embeddings.grad, ref.weight.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("bad", [5, -1])
def test_embedding_rejects_ids_out_of_range(bad):
    layer = Embedding(5, 2, name="emb")
    expected = (rf"Embedding\(name='emb'\): token ids must be in \[0, 5\) \(input_dim=5\); "
                rf"got id {bad}\.")
    with pytest.raises(ValueError, match=expected):
        layer(np.array([[0, bad, 1]]))


def test_embedding_rejects_fractional_ids_and_bad_sizes():
    with pytest.raises(ValueError, match=r"token ids must be whole numbers; got 1.5"):
        Embedding(5, 2)(np.array([[0.0, 1.5]]))
    with pytest.raises(ValueError, match=r"input_dim must be a positive integer; got input_dim=0"):
        Embedding(0, 2)


# ---------------------------------------------------------------------------- Masking


def test_masking_zeroes_masked_steps_and_gives_the_mask():
    x = np.array([[[1.0, 2.0], [-1.0, -1.0], [0.0, -1.0]]])
    layer = Masking(mask_value=-1.0, dtype="float64")
    y = layer(x)
    np.testing.assert_array_equal(layer.compute_mask(x), [[True, False, True]])
    np.testing.assert_array_equal(y, [[[1.0, 2.0], [0.0, 0.0], [0.0, -1.0]]])
    check_gradients(layer, np.random.default_rng(3).standard_normal((2, 4, 3)))


# ---------------------------------------------------------------------------- LayerNormalization


@pytest.mark.parametrize("axis", [-1, [1, 2]])
@pytest.mark.parametrize(("center", "scale"), [(True, True), (False, False), (True, False)])
def test_layer_normalization_gradients(axis, center, scale):
    rng = np.random.default_rng(4)
    layer = LayerNormalization(axis=axis, center=center, scale=scale, dtype="float64",
                               gamma_initializer="random_normal", beta_initializer="random_normal")
    check_gradients(layer, rng.standard_normal((3, 4, 5)))


def test_layer_normalization_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 6))
    layer = LayerNormalization(epsilon=1e-5, dtype="float64", gamma_initializer="random_normal",
                               beta_initializer="random_normal")
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    ref = torch.nn.LayerNorm(6, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(layer.gamma.value))
        ref.bias.copy_(torch.from_numpy(layer.beta.value))
    xt = torch.from_numpy(x).requires_grad_()
    yt = ref(xt)
    (yt * torch.from_numpy(dy)).sum().backward()
    close = {"rtol": 1e-9, "atol": 1e-12}
    np.testing.assert_allclose(y, yt.detach().numpy(), **close)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **close)
    np.testing.assert_allclose(layer.gamma.grad, ref.weight.grad.numpy(), **close)
    np.testing.assert_allclose(layer.beta.grad, ref.bias.grad.numpy(), **close)


def test_layer_normalization_normalizes_each_example_and_rejects_bad_input():
    x = np.random.default_rng(6).standard_normal((4, 8)) * 3 + 2
    y = LayerNormalization(epsilon=1e-12, dtype="float64")(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=-1), 1, rtol=1e-9)
    layer = LayerNormalization(name="ln")
    layer(np.zeros((2, 8), dtype="float32"))
    with pytest.raises(ValueError, match=r"LayerNormalization\(name='ln'\): expected input of "
                                         r"shape \(batch, 8\); got \(2, 7\)\."):
        layer(np.zeros((2, 7), dtype="float32"))
    with pytest.raises(ValueError, match=r"axis must index non-batch axes"):
        LayerNormalization(axis=0)(np.zeros((2, 3), dtype="float32"))


def test_layer_normalization_config_round_trip():
    layer = LayerNormalization(axis=[1, 2], epsilon=1e-4, center=False)
    config = json.loads(json.dumps(layer.get_config()))
    assert LayerNormalization.from_config(config).get_config() == layer.get_config()


# ---------------------------------------------------------------------------- Orthogonal


@pytest.mark.parametrize("shape", [(6, 6), (4, 10), (10, 4), (2, 3, 5)])
def test_orthogonal_initializer(shape):
    init = initializers.get("orthogonal")
    w = init(shape, dtype="float64")
    flat = w.reshape(-1, shape[-1])
    gram = flat @ flat.T if flat.shape[0] < flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, np.eye(min(flat.shape)), atol=1e-12)
    assert w.flags.c_contiguous
    scaled = initializers.Orthogonal(gain=2.0, seed=1)((3, 3), dtype="float64")
    np.testing.assert_allclose(scaled.T @ scaled, 4 * np.eye(3), atol=1e-12)
    np.testing.assert_array_equal(scaled, initializers.Orthogonal(gain=2.0, seed=1)((3, 3),
                                                                                    "float64"))


# ---------------------------------------------------------------------------- pad_sequences


def test_pad_sequences_keras_semantics():
    sequences = [[1, 2, 3, 4], [5], []]
    np.testing.assert_array_equal(pad_sequences(sequences),
                                  [[1, 2, 3, 4], [0, 0, 0, 5], [0, 0, 0, 0]])
    np.testing.assert_array_equal(pad_sequences(sequences, maxlen=2, padding="post"),
                                  [[3, 4], [5, 0], [0, 0]])
    np.testing.assert_array_equal(pad_sequences(sequences, maxlen=2, truncating="post",
                                                value=-1), [[1, 2], [-1, 5], [-1, -1]])
    out = pad_sequences([[0.5, 1.5]], maxlen=3, dtype="float32", value=9.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[9.0, 0.5, 1.5]])
    assert pad_sequences(sequences).dtype == np.int32
    vectors = pad_sequences([np.ones((2, 3)), np.ones((1, 3))], dtype="float32")
    assert vectors.shape == (2, 2, 3)


def test_pad_sequences_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"padding must be one of .*; got padding='middle'"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match=r"maxlen must be a non-negative integer or None"):
        pad_sequences([[1]], maxlen=-1)
    with pytest.raises(ValueError, match=r"sequences\[1\] must be a sequence; got 3"):
        pad_sequences([[1], 3])


def test_embedding_first_in_sequential_with_keras2_input_length():
    import dendrite as dd
    from dendrite.layers import LSTM, Dense

    model = dd.Sequential([Embedding(50, 8, input_length=10, mask_zero=True), LSTM(4),
                           Dense(1, activation="sigmoid")])
    assert model.count_params() == 50 * 8 + 4 * 4 * (8 + 4 + 1) + 5
    model.compile("adam", "binary_crossentropy")
    ids = np.random.default_rng(7).integers(0, 50, (16, 10))
    model.fit(ids, ids[:, 0] % 2, epochs=1, verbose=0)
    assert model.predict(ids[:2], verbose=0).shape == (2, 1)
