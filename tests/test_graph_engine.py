"""The graph engine: exact gradients in every topology (issue 8).

Regression tests for the five wrong results the issue reproduced, then a property test: random small
graphs (chains, fan-out, fan-in through merge layers, shared layers, nested models, frozen layers,
several outputs with fused and unfused losses and loss weights) checked end to end with
``check_model_gradients`` on the whole model's loss in float64.
"""

import numpy as np
import pytest

import dendrite as dd
from dendrite import layers, losses, optimizers
from dendrite.testing import check_model_gradients

F64 = "float64"


def _one_hot(rng, n, k):
    return np.eye(k)[rng.integers(0, k, n)]


# ---------------------------------------------------------------------------- 1. fused output


def test_issue8_fused_output_that_also_feeds_another_layer():
    rng = np.random.default_rng(0)
    x = dd.Input(shape=(4,), dtype=F64)
    h = layers.Dense(3, activation="softmax", dtype=F64)(x)
    z = layers.Dense(1, dtype=F64)(h)
    model = dd.Model(x, [h, z])
    model.compile("sgd", loss=["categorical_crossentropy", "mse"])
    model._training_setup()
    assert model.compiled.fused == [True, False]
    check_model_gradients(model, rng.standard_normal((6, 4)),
                          [_one_hot(rng, 6, 3), rng.standard_normal((6, 1))])


def test_issue8_fused_sigmoid_output_read_by_a_merge_layer():
    rng = np.random.default_rng(1)
    x = dd.Input(shape=(3,), dtype=F64)
    p = layers.Dense(2, activation="sigmoid", dtype=F64)(x)
    q = layers.Multiply(dtype=F64)([p, layers.Dense(2, dtype=F64)(x)])
    model = dd.Model(x, [p, q])
    model.compile("sgd", loss=["binary_crossentropy", "mse"], loss_weights=[0.7, 1.3])
    check_model_gradients(model, rng.standard_normal((5, 3)),
                          [rng.integers(0, 2, (5, 2)).astype(F64), rng.standard_normal((5, 2))])


# ----------------------------------------------------------------------- 2. one loss, two outputs


def test_issue8_one_loss_object_serves_several_outputs():
    rng = np.random.default_rng(2)
    x_data = rng.standard_normal((8, 4))
    targets = [rng.standard_normal((8, 2)), rng.standard_normal((8, 3))]

    def gradients(loss):
        dd.utils.set_random_seed(0)
        x = dd.Input(shape=(4,), dtype=F64)
        model = dd.Model(x, [layers.Dense(2, dtype=F64)(x), layers.Dense(3, dtype=F64)(x)])
        model.compile("sgd", loss=loss)
        model._training_setup()
        model.compute_gradients([x_data], targets, None)
        return model._flat.grads.copy()

    shared = gradients(losses.MeanSquaredError())
    np.testing.assert_array_equal(shared, gradients("mse"))
    np.testing.assert_array_equal(shared, gradients([losses.MeanSquaredError(),
                                                     losses.MeanSquaredError()]))


# ---------------------------------------------------------------------------- 3. optimizer state


def _train_alternating(interleave):
    """Train model A (Adam); optionally run model B, which shares A's first layer, in between."""
    dd.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((32, 5)).astype("float32"), rng.standard_normal((32, 1))
    shared = layers.Dense(4, activation="tanh")
    inputs = dd.Input(shape=(5,))
    model_a = dd.Model(inputs, layers.Dense(1)(shared(inputs)))
    model_b = dd.Model(inputs, layers.Dense(2)(shared(inputs)))
    model_a.compile(optimizers.Adam(0.01), "mse")
    model_b.compile(optimizers.Adam(0.01), "mse")
    for _ in range(4):
        model_a.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        if interleave:  # lays out B's own flat buffer, taking the shared layer's weights
            model_b.evaluate(x, np.zeros((32, 2)), verbose=0)
    return model_a.get_weights(), model_a.optimizer


def test_issue8_optimizer_state_survives_flat_rebuilds():
    straight, optimizer = _train_alternating(False)
    alternated, _ = _train_alternating(True)
    for a, b in zip(straight, alternated):
        np.testing.assert_array_equal(a, b)
    assert optimizer.iterations == 16


def test_issue8_optimizer_state_survives_add_and_pop():
    def run(add_and_pop):
        dd.utils.set_random_seed(4)
        rng = np.random.default_rng(4)
        x, y = rng.standard_normal((16, 3)).astype("float32"), rng.standard_normal((16, 1))
        model = dd.Sequential([layers.Dense(4, activation="tanh", input_shape=(3,)),
                               layers.Dense(1)])
        model.compile(optimizers.Adam(0.05), "mse")
        model.fit(x, y, batch_size=4, shuffle=False, verbose=0)
        if add_and_pop:
            model.add(layers.Dense(1))
            model.pop()
        model.fit(x, y, batch_size=4, shuffle=False, verbose=0)
        return model.get_weights()

    for a, b in zip(run(False), run(True)):
        np.testing.assert_array_equal(a, b)


def test_variable_state_reads_the_optimizer_state_per_variable():
    model = dd.Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile(optimizers.Adam(0.1), "mse")
    model.fit(np.ones((4, 3), "float32"), np.ones((4, 2)), verbose=0)
    state = model.optimizer.variable_state(model.layers[0].kernel)
    assert set(state) == {"m", "v"} and state["m"].shape == (3, 2)
    assert np.abs(state["m"]).sum() > 0


# ---------------------------------------------------------------------------- 4. trainable


def test_issue8_trainable_false_after_construction_freezes_the_layer():
    rng = np.random.default_rng(5)
    first, second = layers.Dense(4, input_shape=(3,)), layers.Dense(1)
    model = dd.Sequential([first, second])
    model.compile("adam", "mse")
    model.fit(rng.standard_normal((16, 3)), rng.standard_normal((16, 1)), verbose=0)
    first.trainable = False
    frozen = first.get_weights()
    assert first.trainable_weights == [] and len(first.non_trainable_weights) == 2
    assert [v.name for v in model.trainable_weights] == ["kernel", "bias"]
    before = second.get_weights()
    model.fit(rng.standard_normal((16, 3)), rng.standard_normal((16, 1)), verbose=0)
    for a, b in zip(frozen, first.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(before[0], second.get_weights()[0])
    first.trainable = True
    model.fit(rng.standard_normal((16, 3)), rng.standard_normal((16, 1)), verbose=0)
    assert not np.array_equal(frozen[0], first.get_weights()[0])


def test_issue8_frozen_nested_model_and_batch_norm_inference_mode():
    rng = np.random.default_rng(6)
    inner_in = dd.Input(shape=(3,))
    norm = layers.BatchNormalization()
    base = dd.Model(inner_in, layers.Dense(4)(norm(inner_in)), name="base")
    base.trainable = False
    model = dd.Sequential([base, layers.Dense(1)])
    assert model.trainable_weights == model.layers[1].trainable_weights
    weights = base.get_weights()
    model.compile("adam", "mse")
    model.fit(rng.standard_normal((16, 3)) * 3 + 1, rng.standard_normal((16, 1)), verbose=0)
    for a, b in zip(weights, base.get_weights()):  # moving statistics included
        np.testing.assert_array_equal(a, b)


def test_trainable_must_be_a_bool():
    with pytest.raises(ValueError, match=r"trainable must be True or False; got trainable=1"):
        layers.Dense(2).trainable = 1


# ---------------------------------------------------------------------------- 5. output names


def test_issue8_a_layer_used_as_two_outputs_gets_two_names():
    rng = np.random.default_rng(7)
    x = dd.Input(shape=(3,))
    head = layers.Dense(2, name="head")
    model = dd.Model(x, [head(x), head(layers.Dense(3)(x))])
    assert model.output_names == ["head", "head_1"]
    model.compile("sgd", loss={"head": "mse", "head_1": "mae"})
    history = model.fit(rng.standard_normal((8, 3)), [np.zeros((8, 2)), np.ones((8, 2))],
                        verbose=0)
    assert {"loss", "head_loss", "head_1_loss"} <= set(history.history)


def test_dict_outputs_name_the_outputs():
    rng = np.random.default_rng(8)
    x = dd.Input(shape=(3,), name="features")
    model = dd.Model(x, {"score": layers.Dense(1)(x),
                         "label": layers.Dense(2, activation="softmax")(x)})
    assert model.output_names == ["score", "label"]
    model.compile("adam", loss={"score": "mse", "label": "sparse_categorical_crossentropy"})
    model.fit({"features": rng.standard_normal((8, 3))},
              {"score": np.zeros((8, 1)), "label": rng.integers(0, 2, 8)}, verbose=0)
    out = model.predict({"features": rng.standard_normal((4, 3))}, verbose=0)
    assert set(out) == {"score", "label"} and out["label"].shape == (4, 2)


def test_dict_inputs_must_have_exactly_the_input_names():
    x = dd.Input(shape=(3,), name="a")
    model = dd.Model(x, layers.Dense(1)(x))
    with pytest.raises(ValueError, match=r"must have exactly the keys \['a'\]; got \['b'\]"):
        model({"b": np.ones((2, 3))})


# ---------------------------------------------------------------------------- models as layers


def test_model_as_layer_trains_with_the_outer_model():
    rng = np.random.default_rng(9)
    inner_in = dd.Input(shape=(4,), dtype=F64)
    encoder = dd.Model(inner_in, layers.Dense(3, activation="tanh", dtype=F64)(inner_in))
    x = dd.Input(shape=(4,), dtype=F64)
    outer = dd.Model(x, layers.Dense(2, dtype=F64)(encoder(x)))
    assert len(outer.trainable_weights) == 4
    outer.compile("sgd", "mse")
    check_model_gradients(outer, rng.standard_normal((5, 4)), rng.standard_normal((5, 2)))


def test_model_called_twice_keeps_one_cache_per_call():
    rng = np.random.default_rng(10)
    inner_in = dd.Input(shape=(3,), dtype=F64)
    block = dd.Model(inner_in, layers.Dense(3, activation="tanh", dtype=F64)(inner_in))
    x = dd.Input(shape=(3,), dtype=F64)
    y = block(block(x))  # the same sub-model at two nodes
    model = dd.Model(x, layers.Dense(1, dtype=F64)(y))
    model.compile("sgd", "mse")
    check_model_gradients(model, rng.standard_normal((4, 3)), rng.standard_normal((4, 1)))


def test_sequential_of_a_model_and_a_layer():
    base = dd.Sequential([layers.Dense(5, activation="relu", input_shape=(4,))])
    model = dd.Sequential([base, layers.Dense(2)])
    assert model.count_params() == 25 + 12
    assert model(np.ones((3, 4))).shape == (3, 2)


def test_feature_extractor_from_an_inner_layer_output():
    model = dd.Sequential([dd.Input(shape=(4,)), layers.Dense(3, name="hidden"),
                           layers.Dense(2, name="top")])
    extractor = dd.Model(model.input, model.get_layer("hidden").output)
    x = np.random.default_rng(11).standard_normal((2, 4)).astype("float32")
    hidden = model.get_layer("hidden")
    np.testing.assert_allclose(extractor(x), x @ hidden.kernel.value + hidden.bias.value,
                               rtol=1e-6)


def test_layer_output_of_a_layer_called_twice_is_ambiguous():
    dense = layers.Dense(2)
    a, b = dd.Input(shape=(2,)), dd.Input(shape=(2,))
    dense(a), dense(b)
    with pytest.raises(ValueError, match=r"called exactly once .* called 2 times"):
        _ = dense.output


# ---------------------------------------------------------------------------- property test


ACTIVATIONS = [None, "tanh", "sigmoid", "softplus"]


class _RandomGraph:
    """A random small functional model, float64, from one seed.

    Tensors all have shape (batch, width). Each step applies one of: a Dense (random activation),
    a shared Dense reused on another tensor of the same width, a merge layer over two or three
    tensors of one width, a Concatenate, BatchNormalization, a nested sub-model (called once or
    twice), a Dropout (training mode, frozen mask). Some layers are frozen. Two to three outputs
    get heads with fused (softmax + CCE, sigmoid + BCE) or unfused (MSE, MAE-free) losses, loss
    weights, a shared loss object, and sometimes an output that also feeds another output.
    """

    def __init__(self, seed):
        rng = self.rng = np.random.default_rng(seed)
        self.inputs = [dd.Input(shape=(int(rng.integers(2, 5)),), dtype=F64)
                       for _ in range(int(rng.integers(1, 3)))]
        self.pool = list(self.inputs)
        self.dense_layers = []
        self.kinds = set()
        for _ in range(int(rng.integers(3, 8))):
            self._step()
        self._heads()

    def _pick(self, width=None):
        pool = [t for t in self.pool if width is None or t.shape[1] == width]
        return pool[int(self.rng.integers(len(pool)))] if pool else None

    def _dense(self, tensor, units=None, activation="random"):
        rng = self.rng
        units = int(rng.integers(2, 5)) if units is None else units
        if activation == "random":
            activation = ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))]
        layer = layers.Dense(units, activation=activation, dtype=F64)
        if rng.random() < 0.15:
            layer.trainable = False
            self.kinds.add("frozen")
        self.dense_layers.append(layer)
        return layer(tensor)

    def _step(self):
        rng = self.rng
        kind = ["dense", "dense", "shared", "merge", "concat", "norm", "nested", "dropout"][
            int(rng.integers(8))]
        source = self._pick()
        if kind == "shared" and self.dense_layers:
            layer = self.dense_layers[int(rng.integers(len(self.dense_layers)))]
            other = self._pick(layer.kernel.shape[0])
            out = layer(other) if other is not None else self._dense(source)
        elif kind in ("merge", "concat"):
            out = self._dense(source)
            partners = [t for t in self.pool if t.shape[1] == out.shape[1]]
            if not partners:
                partners = [self._dense(self._pick(), units=out.shape[1])]
            group = [out, *partners[:int(rng.integers(1, 3))]]
            if kind == "concat":
                out = layers.Concatenate(dtype=F64)([out, self._pick()])
            else:
                merge = [layers.Add, layers.Subtract, layers.Multiply, layers.Average,
                         layers.Maximum, layers.Minimum][int(rng.integers(6))]
                group = group[:2] if merge is layers.Subtract else group
                out = merge(dtype=F64)(group)
        elif kind == "norm":
            out = layers.BatchNormalization(dtype=F64)(self._dense(source))
        elif kind == "nested":
            inner_in = dd.Input(shape=(source.shape[1],), dtype=F64)
            inner = dd.Model(inner_in, layers.Dense(source.shape[1], activation="tanh",
                                                    dtype=F64)(inner_in))
            out = inner(source)
            if rng.random() < 0.5:
                out = inner(out)
        elif kind == "dropout":
            out = layers.Dropout(0.3, seed=int(rng.integers(100)), dtype=F64)(source)
        else:
            out = self._dense(source)
        self.kinds.add(kind)
        self.pool.append(out)

    def _heads(self):
        rng = self.rng
        self.outputs, self.losses, self.targets = [], [], []
        shared_mse = losses.MeanSquaredError()
        n, feed = int(rng.integers(2, 4)), None
        for i in range(n):
            source = feed if feed is not None else (
                self.pool[-1 - i] if i < len(self.pool) else self._pick())
            kind = int(rng.integers(3))
            if kind == 0:
                k = int(rng.integers(2, 4))
                out = self._dense(source, k, "softmax")
                loss = "categorical_crossentropy"
                target = lambda m, k=k: _one_hot(rng, m, k)
            elif kind == 1:
                out = self._dense(source, 2, "sigmoid")
                loss = losses.BinaryCrossentropy()
                target = lambda m: rng.uniform(0.05, 0.95, (m, 2))
            else:
                out = self._dense(source, 2, None)
                loss = shared_mse
                target = lambda m: rng.standard_normal((m, 2))
            self.outputs.append(out)
            self.losses.append(loss)
            self.targets.append(target)
            feed = None
            if rng.random() < 0.3 and i < n - 1:  # an output that also feeds the next head
                feed = out
                self.kinds.add("output feeds a layer")

    def model(self):
        model = dd.Model(self.inputs, self.outputs)
        weights = [float(w) for w in self.rng.uniform(0.3, 2.0, len(self.outputs))]
        model.compile("sgd", loss=self.losses, loss_weights=weights)
        return model

    def batch(self, m=5):
        xs = [self.rng.standard_normal((m, t.shape[1])) for t in self.inputs]
        return xs, [target(m) for target in self.targets]


@pytest.mark.parametrize("seed", range(60))
def test_random_graphs_have_exact_gradients(seed):
    graph = _RandomGraph(seed)
    model = graph.model()
    xs, ys = graph.batch()
    # Maximum/Minimum and ReLU-free activations: inputs are generic, ties have probability 0
    check_model_gradients(model, xs, ys, rtol=1e-5, atol=1e-7)


def test_random_graphs_cover_every_topology():
    kinds, fused = set(), 0
    for seed in range(60):
        graph = _RandomGraph(seed)
        kinds |= graph.kinds
        model = graph.model()
        model._training_setup()
        fused += sum(model.compiled.fused)
    assert kinds >= {"dense", "shared", "merge", "concat", "norm", "nested", "dropout",
                     "frozen", "output feeds a layer"}
    assert fused > 20


# ---------------------------------------------------------------------------- masks


class _MaskZeroSteps(layers.Layer):
    """Marks the time steps whose features are all zero as masked; passes x through."""

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy

    def compute_mask(self, inputs, mask=None):
        return (inputs != 0).any(axis=-1)


class _MaskedMean(layers.Layer):
    """Mean over the unmasked time steps: (batch, steps, features) -> (batch, features)."""

    cache_attributes = ("_weights",)

    def forward(self, x, training=False, mask=None):
        keep = np.ones(x.shape[:2]) if mask is None else mask.astype(x.dtype)
        self._weights = (keep / keep.sum(axis=1, keepdims=True))[..., None]
        return (x * self._weights).sum(axis=1)

    def backward(self, dy):
        return dy[:, None, :] * self._weights

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def test_masks_flow_from_the_layer_that_makes_them_to_the_layer_that_reads_them():
    rng = np.random.default_rng(12)
    x_data = rng.standard_normal((3, 4, 2))
    x_data[0, 2:] = 0  # the last two steps of the first sequence are padding
    x = dd.Input(shape=(4, 2), dtype=F64)
    dense = layers.Dense(3, activation="tanh", dtype=F64)  # passes the mask on (Keras does too)
    y = _MaskedMean(dtype=F64)(dense(_MaskZeroSteps(dtype=F64)(x)))
    model = dd.Model(x, y)
    hidden = np.tanh(x_data @ dense.kernel.value + dense.bias.value)
    expected = np.stack([hidden[0, :2].mean(0), hidden[1].mean(0), hidden[2].mean(0)])
    np.testing.assert_allclose(model(x_data), expected, rtol=1e-12)
    model.compile("sgd", "mse")
    check_model_gradients(model, x_data, rng.standard_normal((3, 3)))


def test_a_layer_without_mask_support_drops_the_mask():
    x = dd.Input(shape=(4, 2), dtype=F64)
    flat = layers.Flatten(dtype=F64)(_MaskZeroSteps(dtype=F64)(x))
    model = dd.Model(x, flat)
    model(np.zeros((1, 4, 2)))
    assert model._graph.output_masks == [None]


def test_losses_and_metrics_honour_the_output_mask_as_keras_does():
    """Keras: masked time steps weigh 0 and the loss is the mean over the unmasked steps."""
    rng = np.random.default_rng(13)
    ids = rng.integers(1, 6, (4, 5))
    ids[0, 3:] = 0
    ids[2, 1:] = 0  # padding (id 0) is masked by Embedding(mask_zero=True)
    targets = rng.integers(0, 3, (4, 5))
    tokens = dd.Input(shape=(5,), dtype="int32")
    hidden = layers.Embedding(6, 4, mask_zero=True, dtype=F64)(tokens)
    hidden = layers.SimpleRNN(3, return_sequences=True, dtype=F64)(hidden)
    probabilities = layers.Dense(3, activation="softmax", dtype=F64)(hidden)
    model = dd.Model(tokens, probabilities)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    p = model.predict(ids, verbose=0)
    keep = ids != 0
    picked = np.take_along_axis(p, targets[..., None], axis=-1)[..., 0]
    loss, accuracy = model.evaluate(ids, targets, verbose=0)
    # (Keras divides by valid + epsilon: 14 + 1e-7 here)
    np.testing.assert_allclose(loss, -np.log(picked)[keep].mean(), rtol=1e-8)
    np.testing.assert_allclose(accuracy, (p.argmax(-1) == targets)[keep].mean(), rtol=1e-12)
    check_model_gradients(model, ids, targets)
