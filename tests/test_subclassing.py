"""Subclassed layers and models (issue 11): the patterns of Keras's subclassing guides, traced into
graphs and trained by explicit backward passes; add_weight, add_loss, custom losses."""

import numpy as np
import pytest

import dendrite as dd
from dendrite import layers, losses, ops
from dendrite.testing import check_gradients, check_model_gradients
from dendrite.tracing import TracingError

# ---------------------------------------------------------------------------- the guides' patterns


class Linear(layers.Layer):
    """y = x @ w + b, weights created in __init__ from a known input size."""

    def __init__(self, units=32, input_dim=32, **kwargs):
        super().__init__(**kwargs)
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal",
                                 trainable=True, name="w")
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True, name="b")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class LazyLinear(layers.Layer):
    """The same, weights created in build() once the input size is known."""

    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", name="b")

    def call(self, inputs):
        return inputs @ self.w + self.b


class MLPBlock(layers.Layer):
    """Three nested LazyLinear layers with ReLU between them."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.linear_1 = LazyLinear(8, dtype=self.dtype)
        self.linear_2 = LazyLinear(8, dtype=self.dtype)
        self.linear_3 = LazyLinear(1, dtype=self.dtype)

    def call(self, inputs):
        x = ops.relu(self.linear_1(inputs))
        x = ops.relu(self.linear_2(x))
        return self.linear_3(x)


class ActivityRegularization(layers.Layer):
    """Adds rate * sum(x^2) to the model's loss; passes x through."""

    def __init__(self, rate=1e-2, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.sum(ops.square(inputs)))
        return inputs


class ResidualNet(dd.Model):
    """A model subclass: Dense, a residual connection, dropout in training, activity loss."""

    def __init__(self, classes=3, dtype=None, **kwargs):
        super().__init__(**kwargs)
        self.dense_1 = layers.Dense(8, activation="relu", dtype=dtype)
        self.dense_2 = layers.Dense(8, activation="tanh", dtype=dtype)
        self.regularize = ActivityRegularization(1e-3, dtype=dtype)
        self.classifier = layers.Dense(classes, activation="softmax", dtype=dtype)

    def call(self, inputs, training=False):
        x = self.dense_1(inputs)
        x = x + self.dense_2(x)
        x = self.regularize(x)
        return self.classifier(x)


def _functional_twin(classes=3, dtype=None):
    """ResidualNet written as a functional model (same layers, same ops)."""
    inputs = dd.Input(shape=(5,), dtype=dtype)
    x = layers.Dense(8, activation="relu", dtype=dtype)(inputs)
    x = x + layers.Dense(8, activation="tanh", dtype=dtype)(x)
    x = ActivityRegularization(1e-3, dtype=dtype)(x)
    return dd.Model(inputs, layers.Dense(classes, activation="softmax", dtype=dtype)(x))


def _data(rows=32, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 5)).astype(dd.config.floatx())
    y = np.eye(classes, dtype=x.dtype)[x[:, :classes].argmax(axis=1)]
    return x, y


@pytest.fixture
def float64():
    dd.config.set_floatx("float64")  # the conftest fixture restores float32


# ---------------------------------------------------------------------------- layers


def test_linear_with_add_weight_computes_and_has_exact_gradients():
    layer = Linear(4, 3, dtype="float64")
    assert [v.name for v in layer.weights] == ["w", "b"]
    assert layer.w.shape == (3, 4) and layer.trainable_weights == layer.weights
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(layer(x), x @ layer.w.value + layer.b.value, rtol=1e-15)
    report = check_gradients(layer, x)
    assert set(report) == {"x", "w", "b"} and max(report.values()) < 1e-8


def test_weights_created_in_build_and_nested_layers_are_tracked():
    block = MLPBlock(dtype="float64")
    assert block.weights == []
    x = np.random.default_rng(1).standard_normal((6, 4))
    y = block(x)
    assert y.shape == (6, 1)
    assert len(block.weights) == 6 and len(block.trainable_weights) == 6
    assert block.count_params() == (4 * 8 + 8) + (8 * 8 + 8) + (8 + 1)
    check_gradients(block, x)
    reference = np.maximum(x @ block.linear_1.w.value + block.linear_1.b.value, 0)
    reference = np.maximum(reference @ block.linear_2.w.value + block.linear_2.b.value, 0)
    np.testing.assert_allclose(y, reference @ block.linear_3.w.value + block.linear_3.b.value,
                               rtol=1e-12)


def test_traced_layer_in_a_sequential_model_trains():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((128, 4)).astype("float32")
    y = (x[:, :1] * 2 - x[:, 1:2]).astype("float32")
    model = dd.Sequential([dd.Input(shape=(4,)), MLPBlock()])
    model.compile(dd.optimizers.Adam(0.01), "mse")
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0).history["loss"]
    assert len(model.trainable_weights) == 6
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert history[-1] < 0.4 * history[0]


def test_a_shared_traced_layer_keeps_one_cache_per_call():
    inputs = dd.Input(shape=(3,), dtype="float64")
    shared = Linear(3, 3, dtype="float64")
    outputs = shared(ops.tanh(shared(inputs)))
    model = dd.Model(inputs, outputs)
    check_gradients(model, np.random.default_rng(3).standard_normal((4, 3)))


def test_variables_in_expressions_become_graph_leaves():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * (self.scale + 1) - ops.sum(self.scale * self.scale)

    layer = Scale(dtype="float64")
    x = np.random.default_rng(4).standard_normal((3, 2))
    np.testing.assert_allclose(layer(x), 2 * x - 2)
    check_gradients(layer, x)


def test_call_with_training_argument_is_traced_per_value():
    class Noisy(layers.Layer):
        def call(self, x, training=False):
            if training:
                return x * 3
            return x

    layer = Noisy(dtype="float64")
    x = np.ones((2, 2))
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=True), 3 * x)
    np.testing.assert_array_equal(layer.backward(np.ones((2, 2))), 3 * np.ones((2, 2)))
    assert len(layer._call_graphs.graphs) == 2


def test_several_inputs_and_outputs():
    class SumAndDifference(layers.Layer):
        def call(self, inputs):
            a, b = inputs[0], inputs[1]
            return [a + b, a - b]

    a, b = dd.Input(shape=(3,), dtype="float64"), dd.Input(shape=(3,), dtype="float64")
    total, difference = SumAndDifference(dtype="float64")([a, b])
    model = dd.Model([a, b], ops.concatenate([total * difference, total], axis=-1))
    rng = np.random.default_rng(5)
    check_gradients(model, [rng.standard_normal((2, 3)), rng.standard_normal((2, 3))])


def test_data_dependent_control_flow_raises_a_clear_error():
    class Branchy(layers.Layer):
        def call(self, x):
            if ops.sum(x) > 0:
                return x
            return -x

    expected = (r"Branchy\(name='branchy'\): call\(\) cannot be traced: it needs the value of "
                r"<SymbolicTensor shape=\(\) dtype=bool from='greater.*'> \(bool\(\) of it, e\.g\. "
                r"in `if`, `while`, `and`, `or`\).*use ops\.where\(\.\.\.\) for element-wise "
                r"choices, or write forward\(x, training=False\) and backward\(dy\) explicitly")
    with pytest.raises(TracingError, match=expected):
        Branchy(name="branchy")(np.ones((2, 3)))
    with pytest.raises(TracingError, match=r"NumPy converting it to an array"):
        class UsesNumpy(layers.Layer):
            def call(self, x):
                return np.asarray(x) * 2

        UsesNumpy()(np.ones((2, 3)))


def test_a_layer_with_explicit_forward_and_backward_is_used_as_written():
    class Double(layers.Layer):
        def call(self, x):  # never used: forward/backward are the layer's math
            raise AssertionError("call() must not be traced")

        def forward(self, x, training=False):
            return 2 * x

        def backward(self, dy):
            return 2 * dy

    layer = Double()
    np.testing.assert_array_equal(layer(np.ones(3, "float32")), [2, 2, 2])
    assert "_call_graphs" not in vars(layer)


def test_add_weight_follows_keras():
    layer = layers.Layer(name="holder", dtype="float64")
    kernel = layer.add_weight(shape=(30, 20))
    assert kernel.name == "variable" and kernel.dtype == np.float64
    limit = np.sqrt(6 / 50)  # glorot_uniform, Keras's default for float weights
    assert np.abs(kernel.value).max() <= limit and kernel.value.std() > limit / 3
    counter = layer.add_weight(shape=(), initializer="zeros", dtype="int32", trainable=False,
                               name="count")
    assert counter.dtype == np.int32 and counter.grad is None
    assert layer.trainable_weights == [kernel] and layer.non_trainable_weights == [counter]
    scale = layer.add_weight(shape=3, initializer="ones", regularizer="l2", name="scale")
    assert scale.shape == (3,) and scale.regularizer is not None
    with pytest.raises(ValueError, match=r"Layer\(name='holder'\): constraint must be None"):
        layer.add_weight(shape=(2,), constraint="non_neg")


# ---------------------------------------------------------------------------- models


def test_model_subclass_compiles_fits_evaluates_and_predicts():
    x, y = _data(256)
    model = ResidualNet()
    model.compile(dd.optimizers.Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0).history
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > 0.5 and np.isfinite(loss)
    predictions = model.predict(x, verbose=0)
    assert predictions.shape == (256, 3)
    np.testing.assert_allclose(predictions.sum(axis=1), 1, rtol=1e-5)
    assert len(model.trainable_weights) == 6
    assert model.losses and model.losses[0] > 0  # the activity loss of the last forward


def test_traced_model_with_residual_and_add_loss_has_exact_gradients(float64):
    x, y = _data(6)
    model = ResidualNet(dtype="float64")
    model.compile("sgd", "categorical_crossentropy")
    report = check_model_gradients(model, x, y)
    assert len(report) == 6 and max(report.values()) < 1e-7


def test_add_loss_is_part_of_the_loss():
    x, y = _data(16)
    model = ResidualNet()
    model.compile("sgd", "categorical_crossentropy")
    total = model.evaluate(x, y, verbose=0)
    outputs = model.predict(x, verbose=0)
    crossentropy = losses.CategoricalCrossentropy()(y, outputs)
    assert total == pytest.approx(crossentropy + float(sum(model.losses)), rel=1e-5)
    assert float(sum(model.losses)) > 1e-3


def test_traced_model_equals_the_same_functional_model_in_outputs_and_training():
    x, y = _data(64, seed=7)
    traced, functional = ResidualNet(), _functional_twin()
    traced(x)  # traces the graph and creates the weights
    functional.set_weights(traced.get_weights())
    np.testing.assert_array_equal(traced.predict(x, verbose=0), functional.predict(x, verbose=0))
    for model in (traced, functional):
        model.compile(dd.optimizers.Adam(0.01), "categorical_crossentropy")
    h1 = traced.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"]
    h2 = functional.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"]
    assert h1 == h2
    for a, b in zip(traced.get_weights(), functional.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_subclass_used_as_a_layer():
    x, _ = _data(8)
    inner = ResidualNet()
    inputs = dd.Input(shape=(5,))
    outer = dd.Model(inputs, layers.Dense(2)(inner(inputs)))
    assert outer(x).shape == (8, 2)
    assert len(outer.trainable_weights) == 8


# ---------------------------------------------------------------------------- custom losses


def weighted_error(y_true, y_pred):
    """Per-sample mean squared error plus a small absolute term."""
    return ops.mean(ops.square(y_true - y_pred), axis=-1) + 0.1 * ops.mean(ops.abs(y_pred), -1)


class Huber(losses.Loss):
    def __init__(self, delta=0.5, **kwargs):
        super().__init__(**kwargs)
        self.delta = delta

    def call(self, y_true, y_pred):
        error = y_pred - y_true
        small = ops.abs(error) <= self.delta
        quadratic = 0.5 * ops.square(error)
        linear = self.delta * (ops.abs(error) - 0.5 * self.delta)
        return ops.mean(ops.where(small, quadratic, linear), axis=-1)


def test_custom_loss_function_values_and_gradients():
    rng = np.random.default_rng(8)
    y_true, y_pred = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    loss = losses.get(weighted_error)
    assert loss.name == "weighted_error"
    expected = ((y_true - y_pred) ** 2).mean(-1) + 0.1 * np.abs(y_pred).mean(-1)
    assert loss(y_true, y_pred) == pytest.approx(expected.mean(), rel=1e-12)
    check_gradients(loss, y_pred, y_true)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
def test_custom_loss_subclass_values_and_gradients(reduction):
    rng = np.random.default_rng(9)
    y_true, y_pred = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    loss = Huber(reduction=reduction)
    error = y_pred - y_true
    values = np.where(np.abs(error) <= 0.5, 0.5 * error ** 2, 0.5 * (np.abs(error) - 0.25))
    expected = values.mean(-1).sum() / (6 if reduction == "sum_over_batch_size" else 1)
    assert loss(y_true, y_pred) == pytest.approx(expected, rel=1e-12)
    check_gradients(loss, y_pred, y_true)


def test_custom_losses_train_a_model_with_exact_gradients(float64):
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 2))
    inputs = dd.Input(shape=(4,))
    model = dd.Model(inputs, layers.Dense(2)(layers.Dense(4, activation="tanh")(inputs)))
    for loss in (weighted_error, Huber()):
        model.compile("sgd", loss=loss)
        check_model_gradients(model, x, y, sample_weight=rng.random(8))
    model.compile(dd.optimizers.SGD(0.1), loss=weighted_error)
    history = model.fit(x, y, epochs=30, verbose=0).history["loss"]
    assert history[-1] < 0.7 * history[0]


def test_one_custom_loss_object_serves_two_outputs(float64):
    rng = np.random.default_rng(11)
    inputs = dd.Input(shape=(3,))
    hidden = layers.Dense(4, activation="tanh")(inputs)
    model = dd.Model(inputs, [layers.Dense(2)(hidden), layers.Dense(2)(hidden)])
    model.compile("sgd", loss=Huber())
    x = rng.standard_normal((5, 3))
    check_model_gradients(model, x, [rng.standard_normal((5, 2)), rng.standard_normal((5, 2))])


def test_a_custom_train_step_is_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match=r"Stepper defines train_step: dendrite's fit/evaluate/"
                                        r"predict do not call custom steps \(there is no "
                                        r"GradientTape"):
        class Stepper(dd.Model):
            def train_step(self, data):
                return {}


def test_a_hand_written_training_loop_with_explicit_backward():
    x, y = _data(64, seed=12, classes=2)
    inputs = dd.Input(shape=(5,))
    hidden = layers.Dense(8, activation="relu")(inputs)
    model = dd.Model(inputs, layers.Dense(2, activation="softmax")(hidden))
    loss_fn, optimizer = losses.CategoricalCrossentropy(), dd.optimizers.Adam(0.01)
    values = []
    for _ in range(60):
        for variable in model.trainable_weights:
            variable.grad[...] = 0
        values.append(loss_fn.forward(y, model(x, training=True)))
        model.backward(loss_fn.backward())
        optimizer.apply_gradients([(v.grad, v) for v in model.trainable_weights])
    assert values[-1] < 0.3 * values[0]


def test_model_build_traces_the_call_for_summary():
    model = ResidualNet()
    model.build((None, 5))
    lines = []
    model.summary(print_fn=lines.append)
    assert "Total params: 147" in lines[0] and " (Add) " in lines[0]
    assert model.count_params() == (5 * 8 + 8) + (8 * 8 + 8) + (8 * 3 + 3)


def test_built_in_losses_inside_a_custom_loss_and_a_layer(float64):
    def mixed(y_true, y_pred):
        return (losses.mean_squared_error(y_true, y_pred)
                + 0.5 * losses.categorical_crossentropy(y_true, ops.softmax(y_pred)))

    rng = np.random.default_rng(13)
    y_true, y_pred = np.eye(3)[rng.integers(0, 3, 5)], rng.standard_normal((5, 3))
    softmax = np.exp(y_pred) / np.exp(y_pred).sum(-1, keepdims=True)
    expected = ((y_true - y_pred) ** 2).mean(-1) - 0.5 * (y_true * np.log(softmax)).sum(-1)
    assert losses.get(mixed)(y_true, y_pred) == pytest.approx(expected.mean(), rel=1e-12)
    check_gradients(losses.get(mixed), y_pred, y_true)

    class LogisticEndpoint(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.loss_fn = losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits, sample_weights=None):  # tensors as positional arguments
            self.add_loss(self.loss_fn(targets, logits, sample_weights))
            return ops.sigmoid(logits)

    inputs, targets = dd.Input(shape=(3,)), dd.Input(shape=(2,))
    model = dd.Model([inputs, targets], LogisticEndpoint()(targets, layers.Dense(2)(inputs)))
    model.compile("sgd", loss=lambda t, p: ops.mean(p * 0, axis=-1))
    x, t = rng.standard_normal((6, 3)), (rng.random((6, 2)) > 0.5).astype("float64")
    check_model_gradients(model, [x, t], np.zeros((6, 2)))
    model([x, t])  # the losses of this forward
    dense = next(layer for layer in model.layers if isinstance(layer, layers.Dense))
    logits = x @ dense.kernel.value + dense.bias.value
    expected = losses.BinaryCrossentropy(from_logits=True)(t, logits)
    assert len(model.losses) == 1 and float(model.losses[0]) == pytest.approx(expected, rel=1e-12)


def test_a_shared_layer_with_add_loss_counts_each_call(float64):
    inputs = dd.Input(shape=(4,))
    regularize = ActivityRegularization(0.5)
    hidden = layers.Dense(4, activation="tanh")(regularize(inputs))
    model = dd.Model(inputs, layers.Dense(2)(regularize(hidden)))
    rng = np.random.default_rng(14)
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    model.compile("sgd", "mse")
    check_model_gradients(model, x, y)
    model(x)
    dense = model.layers[2]
    h = np.tanh(x @ dense.kernel.value + dense.bias.value)
    np.testing.assert_allclose(model.losses, [0.5 * (x ** 2).sum(), 0.5 * (h ** 2).sum()],
                               rtol=1e-12)
