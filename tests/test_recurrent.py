"""SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed: BPTT gradients, PyTorch parity, masks,
states, errors, configs."""

import functools
import json

import numpy as np
import pytest

from dendrite.layers import GRU, LSTM, Bidirectional, Dense, Layer, SimpleRNN, TimeDistributed
from dendrite.testing import check_gradients

CELLS = [
    pytest.param(SimpleRNN, {}, id="simple_rnn"),
    pytest.param(LSTM, {}, id="lstm"),
    pytest.param(GRU, {}, id="gru"),
    pytest.param(GRU, {"reset_after": False}, id="gru_reset_before"),
]
STATES = {SimpleRNN: 1, LSTM: 2, GRU: 1}


def _x(shape=(3, 5, 4), seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _with_mask(layer, mask):
    """Make ``layer.forward`` receive ``mask`` (as the graph would), for check_gradients."""
    layer.forward = functools.partial(type(layer).forward, layer, mask=mask)
    return layer


def _mask():
    # row 0: post-padding, row 1: pre-padding with a hole, row 2: every step masked
    return np.array([[1, 1, 1, 0, 0], [0, 1, 0, 1, 1], [0, 0, 0, 0, 0]], dtype=bool)


# ---------------------------------------------------------------------------- gradients


@pytest.mark.parametrize(("cls", "kwargs"), CELLS)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gradients(cls, kwargs, return_sequences, go_backwards):
    layer = cls(3, return_sequences=return_sequences, go_backwards=go_backwards, dtype="float64",
                **kwargs)
    report = check_gradients(layer, _x())
    assert set(report) == {"x", "kernel", "recurrent_kernel", "bias"}


@pytest.mark.parametrize(("cls", "kwargs"), CELLS)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_gradients_with_return_state_and_initial_state(cls, kwargs, return_sequences):
    rng = np.random.default_rng(1)
    states = [rng.standard_normal((3, 3)) for _ in range(STATES[cls])]
    layer = cls(3, return_sequences=return_sequences, return_state=True, dtype="float64", **kwargs)
    report = check_gradients(layer, [_x(), *states])
    assert {"x0", "x1"} <= set(report)


@pytest.mark.parametrize(("cls", "kwargs"), CELLS)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gradients_with_mask_including_an_all_masked_row(cls, kwargs, return_sequences,
                                                         go_backwards):
    rng = np.random.default_rng(2)
    states = [rng.standard_normal((3, 3)) for _ in range(STATES[cls])]
    layer = cls(3, return_sequences=return_sequences, go_backwards=go_backwards,
                return_state=True, dtype="float64", **kwargs)
    check_gradients(_with_mask(layer, _mask()), [_x(), *states])


@pytest.mark.parametrize(("cls", "kwargs"), CELLS)
def test_gradients_with_dropout_and_recurrent_dropout(cls, kwargs):
    layer = cls(3, dropout=0.3, recurrent_dropout=0.4, return_sequences=True, seed=3,
                dtype="float64", **kwargs)
    check_gradients(layer, _x(), training=True)


def test_recurrent_dropout_drops_the_same_units_at_every_step_in_training_only():
    layer = GRU(4, recurrent_dropout=0.5, return_sequences=True, seed=1, dtype="float64")
    x = _x()
    inference = layer(x)
    np.testing.assert_array_equal(inference, layer(x))
    trained = layer(x, training=True)
    assert np.abs(trained - inference).max() > 1e-3
    mask = layer._cache["recurrent_mask"]
    assert mask.shape == (3, 4)
    assert set(np.unique(mask)) == {0.0, 2.0}


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "linear"])
def test_gradients_with_other_activations(activation):
    x = _x() * 0.5
    check_gradients(SimpleRNN(3, activation=activation, dtype="float64"), x)
    check_gradients(LSTM(3, activation=activation, recurrent_activation="tanh",
                         dtype="float64"), x)
    check_gradients(GRU(3, activation=activation, dtype="float64"), x)


@pytest.mark.parametrize("use_bias", [False, True])
def test_gradients_without_bias(use_bias):
    for cls in (SimpleRNN, LSTM, GRU):
        report = check_gradients(cls(2, use_bias=use_bias, dtype="float64"), _x())
        assert ("bias" in report) == use_bias


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_gradients(merge_mode, return_sequences):
    layer = Bidirectional(LSTM(3, return_sequences=return_sequences, dtype="float64"),
                          merge_mode=merge_mode)
    report = check_gradients(layer, _x())
    assert len([name for name in report if name == "kernel"]) == 1  # names collide in the dict
    assert len(layer.trainable_weights) == 6


@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_gradients_with_mask_states_and_gru(merge_mode):
    rng = np.random.default_rng(4)
    states = [rng.standard_normal((3, 3)) for _ in range(2)]
    layer = Bidirectional(GRU(3, return_sequences=True, return_state=True, dtype="float64"),
                          merge_mode=merge_mode)
    check_gradients(_with_mask(layer, _mask()), [_x(), *states])


def test_time_distributed_dense_gradients():
    layer = TimeDistributed(Dense(4, activation="tanh", dtype="float64"))
    report = check_gradients(layer, _x())
    assert set(report) == {"x", "kernel", "bias"}
    assert layer.compute_output_shape((None, 5, 4)) == (None, 5, 4)


class _Stack(Layer):
    """Two recurrent layers and a TimeDistributed Dense chained by hand, for a stacked check."""

    def __init__(self, layers, **kwargs):
        super().__init__(dtype="float64", **kwargs)
        self.layers = layers

    def build(self, input_shape):
        shape = input_shape
        for layer in self.layers:
            layer.ensure_built(shape)
            shape = layer.compute_output_shape(shape)
            self._variables += layer.weights

    def forward(self, x, training=False):
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy


def test_stacked_recurrent_layers_gradients():
    stack = _Stack([LSTM(3, return_sequences=True, dtype="float64"),
                    GRU(2, return_sequences=True, go_backwards=True, dtype="float64"),
                    SimpleRNN(2, dtype="float64")])
    report = check_gradients(stack, _x())
    assert len(stack.trainable_weights) == 9
    assert report["x"] < 1e-6


# ---------------------------------------------------------------------------- PyTorch parity


def _torch_module(torch, layer, features):
    units = layer.units
    if isinstance(layer, LSTM):
        module = torch.nn.LSTM(features, units, batch_first=True, dtype=torch.float64)
        order = np.arange(4 * units)  # i, f, g, o in both
    elif isinstance(layer, GRU):
        module = torch.nn.GRU(features, units, batch_first=True, dtype=torch.float64)
        # Keras z, r, h -> PyTorch r, z, n
        order = np.concatenate([np.arange(units, 2 * units), np.arange(units),
                                np.arange(2 * units, 3 * units)])
    else:
        module = torch.nn.RNN(features, units, batch_first=True, dtype=torch.float64)
        order = np.arange(units)
    kernel, recurrent = layer.kernel.value, layer.recurrent_kernel.value
    bias = layer.bias.value
    bias_ih, bias_hh = (bias[0], bias[1]) if bias.ndim == 2 else (bias, np.zeros_like(bias))
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(kernel[:, order].T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(recurrent[:, order].T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(bias_ih[order].copy()))
        module.bias_hh_l0.copy_(torch.from_numpy(bias_hh[order].copy()))
    return module, order


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_matches_torch(cls):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    batch, timesteps, features, units = 4, 7, 5, 6
    x = rng.standard_normal((batch, timesteps, features))
    states = [rng.standard_normal((batch, units)) for _ in range(STATES[cls])]
    layer = cls(units, return_sequences=True, return_state=True, dtype="float64",
                bias_initializer="random_normal")
    outputs = layer([x, *states])
    dys = [rng.standard_normal(o.shape) for o in outputs]
    grads = layer.backward(dys)

    module, order = _torch_module(torch, layer, features)
    xt = torch.from_numpy(x).requires_grad_()
    st = [torch.from_numpy(s[None]).requires_grad_() for s in states]
    yt, final = module(xt, tuple(st) if cls is LSTM else st[0])
    final = list(final) if cls is LSTM else [final]
    loss = (yt * torch.from_numpy(dys[0])).sum() + sum(
        (f[0] * torch.from_numpy(d)).sum() for f, d in zip(final, dys[1:]))
    loss.backward()

    close = {"rtol": 1e-6, "atol": 1e-10}
    np.testing.assert_allclose(outputs[0], yt.detach().numpy(), **close)
    for ours, theirs in zip(outputs[1:], final):
        np.testing.assert_allclose(ours, theirs[0].detach().numpy(), **close)
    np.testing.assert_allclose(grads[0], xt.grad.numpy(), **close)
    for ours, theirs in zip(grads[1:], st):
        np.testing.assert_allclose(ours, theirs.grad[0].numpy(), **close)
    inverse = np.argsort(order)
    np.testing.assert_allclose(layer.kernel.grad, module.weight_ih_l0.grad.numpy().T[:, inverse],
                               **close)
    np.testing.assert_allclose(layer.recurrent_kernel.grad,
                               module.weight_hh_l0.grad.numpy().T[:, inverse], **close)
    bias_ih = module.bias_ih_l0.grad.numpy()[inverse]
    bias_hh = module.bias_hh_l0.grad.numpy()[inverse]
    if cls is GRU:
        np.testing.assert_allclose(layer.bias.grad, np.stack([bias_ih, bias_hh]), **close)
    else:  # one bias: d/db of b_ih + b_hh is either gradient
        np.testing.assert_allclose(layer.bias.grad, bias_ih, **close)
        np.testing.assert_allclose(layer.bias.grad, bias_hh, **close)


def test_bidirectional_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 6, 4))
    layer = Bidirectional(LSTM(5, return_sequences=True, dtype="float64"))
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    module = torch.nn.LSTM(4, 5, batch_first=True, bidirectional=True, dtype=torch.float64)
    with torch.no_grad():
        for suffix, sub in (("", layer.forward_layer), ("_reverse", layer.backward_layer)):
            getattr(module, f"weight_ih_l0{suffix}").copy_(torch.from_numpy(sub.kernel.value.T))
            getattr(module, f"weight_hh_l0{suffix}").copy_(
                torch.from_numpy(sub.recurrent_kernel.value.T))
            getattr(module, f"bias_ih_l0{suffix}").copy_(torch.from_numpy(sub.bias.value))
            getattr(module, f"bias_hh_l0{suffix}").zero_()
    xt = torch.from_numpy(x).requires_grad_()
    yt, _ = module(xt)
    (yt * torch.from_numpy(dy)).sum().backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(layer.backward_layer.recurrent_kernel.grad,
                               module.weight_hh_l0_reverse.grad.numpy().T, rtol=1e-6, atol=1e-10)


# ---------------------------------------------------------------------------- semantics


@pytest.mark.parametrize(("cls", "kwargs"), CELLS)
def test_post_padding_mask_gives_the_states_of_the_unpadded_sequence(cls, kwargs):
    x = _x((2, 6, 3))
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
    layer = cls(4, return_sequences=True, return_state=True, dtype="float64", **kwargs)
    masked = layer(x, mask=mask)
    short = layer(x[:1, :4])
    # batch 2 against batch 1: BLAS may round the products differently (1e-16 seen)
    np.testing.assert_allclose(masked[1][0], short[1][0], rtol=1e-12, atol=1e-14)
    # a masked step repeats the previous output
    np.testing.assert_allclose(masked[0][0, 4], masked[0][0, 3], rtol=1e-12)
    np.testing.assert_allclose(masked[0][0, 5], masked[0][0, 3], rtol=1e-12)
    np.testing.assert_allclose(masked[0][0, :4], short[0][0], rtol=1e-12, atol=1e-14)


def test_leading_masked_steps_output_zeros_and_carry_the_initial_state():
    x = _x((1, 4, 3))
    h0 = np.full((1, 2), 0.5)
    layer = SimpleRNN(2, return_sequences=True, return_state=True, dtype="float64")
    mask = np.array([[0, 0, 1, 1]], dtype=bool)
    y, h = layer([x, h0], mask=mask)
    np.testing.assert_array_equal(y[0, :2], 0)
    np.testing.assert_allclose(y[0, 2:], layer([x[:, 2:], h0], mask=None)[0][0], rtol=1e-12)
    np.testing.assert_allclose(h, y[:, -1], rtol=1e-12)


def test_zero_output_for_mask():
    x = _x((1, 4, 3))
    layer = LSTM(2, return_sequences=True, zero_output_for_mask=True, dtype="float64")
    y = layer(x, mask=np.array([[1, 0, 1, 0]], dtype=bool))
    np.testing.assert_array_equal(y[0, [1, 3]], 0)
    assert np.all(y[0, [0, 2]] != 0)


def test_go_backwards_reverses_processing_and_output_order():
    x = _x((2, 5, 3))
    forward = GRU(4, return_sequences=True, dtype="float64")
    backward = GRU(4, return_sequences=True, go_backwards=True, dtype="float64")
    forward(x)
    backward.ensure_built(x.shape)
    backward.set_weights(forward.get_weights())
    np.testing.assert_allclose(backward(x), forward(x[:, ::-1]), rtol=1e-12)


def test_stateful_carries_states_until_reset():
    x = _x((2, 6, 3))
    stateful = LSTM(4, stateful=True, dtype="float64")
    plain = LSTM(4, dtype="float64")
    stateful(x[:, :3])
    plain.ensure_built(x.shape)
    plain.set_weights(stateful.get_weights())
    np.testing.assert_allclose(stateful(x[:, 3:]), plain(x), rtol=1e-12)
    stateful.reset_states()
    np.testing.assert_allclose(stateful(x[:, 3:]), plain(x[:, 3:]), rtol=1e-12)
    with pytest.raises(ValueError, match=r"same batch size in every call .* expected 2, got 1"):
        stateful(x[:1])


def test_lstm_bias_initialises_forget_gate_to_one_and_keras_layout():
    layer = LSTM(3)
    layer.build((None, 4, 2))
    assert [w.shape for w in layer.get_weights()] == [(2, 12), (3, 12), (12,)]
    np.testing.assert_array_equal(layer.bias.value, [0] * 3 + [1] * 3 + [0] * 6)
    gru = GRU(3)
    gru.build((None, 4, 2))
    assert [w.shape for w in gru.get_weights()] == [(2, 9), (3, 9), (2, 9)]
    assert GRU(3, reset_after=False).compute_output_shape((None, 4, 2)) == (None, 3)
    recurrent = layer.recurrent_kernel.value
    assert recurrent.dtype == np.float32


def test_float32_end_to_end():
    layer = LSTM(4, return_sequences=True)
    y = layer(_x().astype("float32"))
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32


def test_bidirectional_first_in_sequential_takes_the_wrapped_layers_input_shape():
    import dendrite as dd

    model = dd.Sequential([Bidirectional(LSTM(3, input_shape=(5, 2))), Dense(1)])
    assert model.count_params() == 2 * 4 * 3 * (2 + 3 + 1) + 7
    assert model.predict(_x((4, 5, 2)).astype("float32"), verbose=0).shape == (4, 1)


def test_time_distributed_shares_weights_across_timesteps():
    dense = Dense(2, dtype="float64")
    layer = TimeDistributed(dense)
    x = _x((2, 3, 4))
    y = layer(x)
    np.testing.assert_allclose(y[:, 1], dense(x[:, 1]), rtol=1e-12)
    assert layer.weights == dense.weights


# ---------------------------------------------------------------------------- errors


def test_rejects_2d_input():
    layer = LSTM(4, name="lstm")
    expected = (r"LSTM\(name='lstm'\): expected input of shape \(batch, timesteps, features\); "
                r"got \(32, 28\)\.")
    with pytest.raises(ValueError, match=expected):
        layer(np.zeros((32, 28)))


def test_rejects_wrong_feature_count_after_build():
    layer = GRU(4, name="gru")
    layer(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match=r"GRU\(name='gru'\): expected input of shape "
                                         r"\(batch, timesteps, 5\); got \(2, 3, 6\)"):
        layer(np.zeros((2, 3, 6)))


def test_rejects_mask_of_wrong_shape():
    layer = SimpleRNN(4, name="rnn")
    with pytest.raises(ValueError, match=r"SimpleRNN\(name='rnn'\): expected mask of shape "
                                         r"\(2, 3\); got \(2, 4\)\."):
        layer(np.zeros((2, 3, 5)), mask=np.ones((2, 4), dtype=bool))


def test_rejects_initial_state_of_wrong_shape_or_count():
    layer = LSTM(4, name="lstm")
    with pytest.raises(ValueError, match=r"LSTM\(name='lstm'\): expected initial_state\[1\] of "
                                         r"shape \(2, 4\); got \(2, 3\)\."):
        layer(np.zeros((2, 3, 5)), initial_state=[np.zeros((2, 4)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"initial_state must be a list of 2 array\(s\) \(h, c\); "
                                         r"got 1\."):
        LSTM(4)(np.zeros((2, 3, 5)), initial_state=[np.zeros((2, 4))])


def test_bidirectional_rejects_non_recurrent_layer_and_bad_merge_mode():
    with pytest.raises(ValueError, match=r"Bidirectional\(name='bi'\): layer must be a recurrent "
                                         r"layer \(SimpleRNN, LSTM or GRU\); "
                                         r"got layer=\"Dense\(name='d'\)\""):
        Bidirectional(Dense(3, name="d"), name="bi")
    with pytest.raises(ValueError, match=r"merge_mode must be one of .*; got merge_mode='max'"):
        Bidirectional(LSTM(3), merge_mode="max")


@pytest.mark.parametrize(("make", "match"), [
    (lambda: LSTM(0), r"units must be a positive integer; got units=0"),
    (lambda: GRU(3, dropout=1.0), r"dropout must be a float in \[0, 1\); got dropout=1.0"),
    (lambda: SimpleRNN(3, activation="softmax"), r"activation must be an element-wise"),
    (lambda: GRU(3, recurrent_dropout=1.0), r"recurrent_dropout must be a float in \[0, 1\)"),
    (lambda: LSTM(3, return_sequences="yes"), r"return_sequences must be True or False"),
])
def test_rejects_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ---------------------------------------------------------------------------- config


@pytest.mark.parametrize("make", [
    lambda: SimpleRNN(3, activation="relu", return_sequences=True, go_backwards=True),
    lambda: LSTM(4, recurrent_activation="tanh", unit_forget_bias=False, dropout=0.1, seed=2),
    lambda: GRU(5, reset_after=False, return_state=True, stateful=True),
    lambda: Bidirectional(LSTM(3, return_sequences=True), merge_mode="sum"),
    lambda: TimeDistributed(Dense(3, activation="relu")),
])
def test_config_round_trip(make):
    layer = make()
    config = json.loads(json.dumps(layer.get_config()))
    clone = type(layer).from_config(config)
    assert clone.get_config() == layer.get_config()
    x = _x((2, 4, 3)).astype("float32")
    layer(x)
    clone(x)
    clone.set_weights(layer.get_weights())
    for model in (layer, clone):
        if hasattr(model, "reset_states"):
            model.reset_states()
    first = layer(x)
    second = clone(x)
    for a, b in zip(first if isinstance(first, list) else [first],
                    second if isinstance(second, list) else [second]):
        np.testing.assert_array_equal(a, b)
