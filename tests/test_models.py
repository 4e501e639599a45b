"""Sequential and functional models: construction, structure, weights, multi-input/output graphs,
shared layers, and the fused output gradient, checked against finite differences in float64."""

import numpy as np
import pytest

import dendrite as dd
from dendrite import layers, losses, optimizers

# ------------------------------------------------------------------- Sequential construction


def _from_list_with_input():
    return dd.Sequential(
        [
            dd.Input(shape=(4,)),
            layers.Dense(8, activation="relu"),
            layers.Dense(2, activation="softmax"),
        ]
    )


def _with_add():
    model = dd.Sequential()
    model.add(dd.Input(shape=(4,)))
    model.add(layers.Dense(8, activation="relu"))
    model.add(layers.Dense(2, activation="softmax"))
    return model


def _with_input_shape():
    return dd.Sequential(
        [
            layers.Dense(8, activation="relu", input_shape=(4,)),
            layers.Dense(2, activation="softmax"),
        ]
    )


def _with_input_dim():
    return dd.Sequential(
        [layers.Dense(8, activation="relu", input_dim=4), layers.Dense(2, activation="softmax")]
    )


def _with_batch_input_shape():
    return dd.Sequential(
        [
            layers.Dense(8, activation="relu", batch_input_shape=(None, 4)),
            layers.Dense(2, activation="softmax"),
        ]
    )


def _with_input_layer():
    return dd.Sequential(
        [
            layers.InputLayer(shape=(4,)),
            layers.Dense(8, activation="relu"),
            layers.Dense(2, activation="softmax"),
        ]
    )


def _with_build():
    model = dd.Sequential(
        [layers.Dense(8, activation="relu"), layers.Dense(2, activation="softmax")]
    )
    model.build((None, 4))
    return model


@pytest.mark.parametrize(
    "make",
    [
        _from_list_with_input,
        _with_add,
        _with_input_shape,
        _with_input_dim,
        _with_batch_input_shape,
        _with_input_layer,
        _with_build,
    ],
)
def test_sequential_construction(make):
    model = make()
    assert model.count_params() == 4 * 8 + 8 + 8 * 2 + 2
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert model.outputs[0].shape == (None, 2)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    predictions = model.predict(x, verbose=0)
    assert predictions.shape == (5, 2)
    np.testing.assert_allclose(predictions.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("first_use", ["fit", "predict", "call"])
def test_sequential_deferred_build_from_data(first_use):
    model = dd.Sequential([layers.Dense(8, activation="relu"), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"count_params\(\) needs a built model"):
        model.count_params()
    with pytest.raises(ValueError, match=r"summary\(\) needs a built model"):
        model.summary(print_fn=lambda text: None)
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((6, 5), dtype="float32")
    if first_use == "fit":
        model.fit(x, np.zeros((6, 2)), verbose=0)
    elif first_use == "predict":
        model.predict(x, verbose=0)
    else:
        model(x)
    assert model.count_params() == 5 * 8 + 8 + 8 * 2 + 2
    assert model.inputs[0].shape == (None, 5)


def test_sequential_rejects_misplaced_input_and_non_layers():
    model = dd.Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(
        ValueError,
        match=r"Sequential\(name='.*'\): an Input can only be the "
        "first layer",
    ):
        model.add(dd.Input(shape=(3,)))
    with pytest.raises(TypeError, match="add\\(\\) expects a Layer; got 'dense'"):
        model.add("dense")


def test_sequential_without_layers_cannot_run():
    model = dd.Sequential(name="empty")
    with pytest.raises(ValueError, match=r"Sequential\(name='empty'\): the model has no layers"):
        model.predict(np.zeros((2, 3)), verbose=0)


def test_sequential_pop():
    model = _from_list_with_input()
    last = model.pop()
    assert isinstance(last, layers.Dense)
    assert last.units == 2
    assert model.outputs[0].shape == (None, 8)
    assert model.predict(np.zeros((3, 4)), verbose=0).shape == (3, 8)


def test_declared_input_shape_is_checked_when_building():
    with pytest.raises(
        ValueError,
        match=r"Dense\(name='d'\): expected input of shape "
        r"\(batch, 4\); got \(None, 5\)\.",
    ):
        dd.Sequential([dd.Input(shape=(5,)), layers.Dense(2, name="d", input_shape=(4,))])


# ------------------------------------------------------------------- structure


def test_layers_and_get_layer():
    model = dd.Sequential(
        [
            dd.Input(shape=(4,)),
            layers.Dense(8, name="hidden"),
            layers.Dropout(0.5, name="drop"),
            layers.Dense(2, name="out"),
        ]
    )
    assert [layer.name for layer in model.layers] == ["hidden", "drop", "out"]
    assert model.get_layer("drop") is model.layers[1]
    assert model.get_layer(index=2) is model.layers[2]
    with pytest.raises(
        ValueError,
        match=r"no layer named 'nope'; layers are \['hidden', 'drop', "
        r"'out'\]",
    ):
        model.get_layer("nope")


def test_functional_layers_include_the_input_layer():
    x = dd.Input(shape=(3,), name="features")
    model = dd.Model(x, layers.Dense(2, name="out")(layers.Dense(4, name="hidden")(x)))
    assert [layer.name for layer in model.layers] == ["features", "hidden", "out"]
    assert isinstance(model.get_layer("features"), layers.InputLayer)


def test_summary_lists_layers_shapes_and_params():
    model = dd.Sequential(
        [
            dd.Input(shape=(4,)),
            layers.Dense(8, activation="relu", name="hidden"),
            layers.Dropout(0.2, name="drop"),
            layers.Dense(2, name="out"),
        ],
        name="tiny",
    )
    printed = []
    model.summary(print_fn=printed.append)
    text = "\n".join(printed)
    lines = text.splitlines()
    assert lines[0] == 'Model: "tiny"'
    rows = {
        line.split()[0]: line.split()
        for line in lines
        if line.split() and line.split()[0] in ("hidden", "drop", "out")
    }
    assert rows["hidden"] == ["hidden", "(Dense)", "(None,", "8)", "40"]
    assert rows["drop"] == ["drop", "(Dropout)", "(None,", "8)", "0"]
    assert rows["out"] == ["out", "(Dense)", "(None,", "2)", "18"]
    assert " Total params: 58" in lines
    assert " Trainable params: 58" in lines
    assert " Non-trainable params: 0" in lines
    assert "InputLayer" not in text  # Sequential hides its input, as Keras does


def test_summary_of_functional_model_shows_inputs(capsys):
    x = dd.Input(shape=(3,), name="features")
    model = dd.Model(x, layers.Dense(1_000, name="wide")(x), name="fn")
    model.summary()
    out = capsys.readouterr().out
    assert "features (InputLayer)" in out
    assert "(None, 3)" in out
    assert "4,000" in out
    assert "Total params: 4,000" in out


def test_count_params():
    model = dd.Sequential(
        [dd.Input(shape=(28, 28)), layers.Flatten(), layers.Dense(100), layers.Dense(10)]
    )
    assert model.count_params() == 784 * 100 + 100 + 100 * 10 + 10
    assert model.layers[1].count_params() == 78_500


# ------------------------------------------------------------------- weights


def test_get_set_weights_round_trip():
    dd.utils.set_random_seed(0)
    source = _from_list_with_input()
    target = _from_list_with_input()
    x = np.random.default_rng(1).standard_normal((7, 4)).astype("float32")
    assert not np.allclose(source.predict(x, verbose=0), target.predict(x, verbose=0))
    weights = source.get_weights()
    assert [w.shape for w in weights] == [(4, 8), (8,), (8, 2), (2,)]
    target.set_weights(weights)
    np.testing.assert_array_equal(source.predict(x, verbose=0), target.predict(x, verbose=0))
    for a, b in zip(target.get_weights(), weights):
        np.testing.assert_array_equal(a, b)


def test_get_weights_returns_copies():
    model = _from_list_with_input()
    weights = model.get_weights()
    weights[0][...] = 123.0
    assert not np.any(model.get_weights()[0] == 123.0)


def test_set_weights_wrong_count_raises():
    model = _from_list_with_input()
    with pytest.raises(ValueError, match="expected 4 weight arrays; got 3"):
        model.set_weights(model.get_weights()[:3])


def test_set_weights_wrong_shape_raises_and_changes_nothing():
    model = dd.Sequential([dd.Input(shape=(4,)), layers.Dense(8), layers.Dense(2, name="out")])
    before = model.get_weights()
    bad = [np.ones((4, 8)), np.ones(8), np.ones((2, 8)), np.ones(2)]
    with pytest.raises(
        ValueError,
        match=r"Dense\(name='out'\): weight 'kernel' must have shape "
        r"\(8, 2\); got \(2, 8\)",
    ):
        model.set_weights(bad)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_set_weights_after_training_is_used_by_fit():
    x = np.random.default_rng(0).standard_normal((16, 4)).astype("float32")
    y = np.zeros(16, dtype="int64")
    model = _from_list_with_input()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, verbose=0)
    zeros = [np.zeros_like(w) for w in model.get_weights()]
    model.set_weights(zeros)
    np.testing.assert_allclose(model.predict(x, verbose=0), 0.5)


def test_call_matches_predict_and_training_flag_reaches_dropout():
    dd.utils.set_random_seed(0)
    model = dd.Sequential([dd.Input(shape=(20,)), layers.Dense(20), layers.Dropout(0.5)])
    x = np.random.default_rng(0).standard_normal((8, 20)).astype("float32")
    inference = model(x, training=False)
    np.testing.assert_allclose(inference, model.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_array_equal(model(x), inference)
    training = model(x, training=True)
    assert np.mean(training == 0) > 0.2
    kept = training != 0
    np.testing.assert_allclose(training[kept], 2 * inference[kept], rtol=1e-6)


# ------------------------------------------------------------------- gradients (float64)


def _sgd_gradients(model, x, y, loss, loss_weights=None):
    """The parameter gradients of one full-batch step, read from an SGD update with lr = 1."""
    model.compile(optimizer=optimizers.SGD(learning_rate=1.0), loss=loss, loss_weights=loss_weights)
    before = model.get_weights()
    model.fit(
        x, y, batch_size=len(x[0] if isinstance(x, list) else x), epochs=1, shuffle=False, verbose=0
    )
    after = model.get_weights()
    model.set_weights(before)
    return [b - a for b, a in zip(before, after)]


def _numeric_gradients(model, x, y, eps=1e-6):
    """Central differences of the total loss that evaluate reports, weight by weight."""
    weights = model.get_weights()
    size = len(x[0] if isinstance(x, list) else x)

    def total_loss(values):
        model.set_weights(values)
        return model.evaluate(x, y, batch_size=size, verbose=0, return_dict=True)["loss"]

    grads = []
    for index, weight in enumerate(weights):
        grad = np.zeros_like(weight)
        for position in np.ndindex(weight.shape):
            shifted = [w.copy() for w in weights]
            shifted[index][position] = weight[position] + eps
            plus = total_loss(shifted)
            shifted[index][position] = weight[position] - eps
            grad[position] = (plus - total_loss(shifted)) / (2 * eps)
        grads.append(grad)
    model.set_weights(weights)
    return grads


def _assert_gradients_close(actual, expected, rtol=1e-6, atol=1e-9):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


def _unfused(loss_cls, **kwargs):
    """The same loss, but without the fused logit gradient (backward goes through the
    activation's own backward)."""
    cls = type(f"Unfused{loss_cls.__name__}", (loss_cls,), {"fuses_with": lambda self, a: False})
    return cls(**kwargs)


def _rng_targets(kind, rng, m, units):
    if kind == "one_hot":
        return np.eye(units)[rng.integers(0, units, m)]
    if kind == "soft":  # non-negative targets whose rows do not sum to 1
        return rng.random((m, units))
    if kind == "sparse":
        return rng.integers(0, units, m)
    return rng.integers(0, 2, (m, units)).astype("float64")  # binary labels


@pytest.mark.parametrize(
    "activation, loss_cls, units, targets",
    [
        ("softmax", losses.CategoricalCrossentropy, 3, "one_hot"),
        ("softmax", losses.CategoricalCrossentropy, 3, "soft"),
        ("softmax", losses.SparseCategoricalCrossentropy, 4, "sparse"),
        ("sigmoid", losses.BinaryCrossentropy, 1, "binary"),
        ("sigmoid", losses.BinaryCrossentropy, 3, "binary"),
    ],
)
def test_fused_output_gradient_is_exact(activation, loss_cls, units, targets):
    dd.config.set_floatx("float64")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3))
    y = _rng_targets(targets, rng, 6, units)
    dd.utils.set_random_seed(1)
    model = dd.Sequential(
        [
            dd.Input(shape=(3,)),
            layers.Dense(4, activation="tanh"),
            layers.Dense(units, activation=activation),
        ]
    )
    fused = _sgd_gradients(model, x, y, loss_cls())
    assert model.compiled.fused == [True]  # the fused path was taken
    unfused = _sgd_gradients(model, x, y, _unfused(loss_cls))
    assert model.compiled.fused == [False]
    _assert_gradients_close(fused, unfused, rtol=1e-10, atol=1e-13)
    model.compile(optimizer="sgd", loss=loss_cls())
    _assert_gradients_close(fused, _numeric_gradients(model, x, y))


def test_fused_gradient_with_activation_layer_and_sample_weight():
    dd.config.set_floatx("float64")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3))
    y = np.eye(3)[rng.integers(0, 3, 5)]
    weights = rng.random(5) * 2
    model = dd.Sequential([dd.Input(shape=(3,)), layers.Dense(3), layers.Activation("softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=1.0), loss="categorical_crossentropy")
    before = model.get_weights()
    model.fit(x, y, batch_size=5, sample_weight=weights, shuffle=False, verbose=0)
    fused = [b - a for b, a in zip(before, model.get_weights())]
    model.set_weights(before)
    p = model.predict(x, verbose=0)
    dz = (p - y) * weights[:, None] / 5  # d(loss)/d(logits) of the weighted mean
    np.testing.assert_allclose(fused[0], x.T @ dz, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fused[1], dz.sum(axis=0), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(
    "activation, loss, y",
    [
        ("softmax", "sparse_categorical_crossentropy", np.array([1, 1])),
        ("softmax", "categorical_crossentropy", np.eye(2)[[1, 1]]),
    ],
)
def test_reported_softmax_loss_is_keras_clipped_value(activation, loss, y):
    model = dd.Sequential([dd.Input(shape=(2,)), layers.Dense(2, activation=activation)])
    model.set_weights([np.array([[60.0, -60.0], [-60.0, 60.0]]), np.zeros(2)])
    x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype="float32")  # first row: p(class 1) ~ e^-120
    model.compile(optimizer="sgd", loss=loss)
    p = model.predict(x, verbose=0)
    assert p[0, 1] < 1e-30
    eps = np.float32(1e-7)
    clipped = np.clip(p / p.sum(axis=1, keepdims=True), eps, 1 - eps)  # Keras's formula
    expected = float(np.mean(-np.log(clipped[[0, 1], [1, 1]])))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx((-np.log(1e-7)) / 2, rel=1e-3)
    history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_reported_sigmoid_loss_is_keras_clipped_value():
    model = dd.Sequential([dd.Input(shape=(1,)), layers.Dense(1, activation="sigmoid")])
    model.set_weights([np.array([[100.0]]), np.zeros(1)])
    x = np.array([[1.0], [-1.0]], dtype="float32")
    y = np.array([[0.0], [1.0]])  # both predictions confidently wrong
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    p = model.predict(x, verbose=0)
    eps = np.float32(1e-7)
    clipped = np.clip(p, eps, 1 - eps)  # in float32, as Keras computes it
    expected = float(np.mean(-(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))))
    reported = model.evaluate(x, y, verbose=0)
    assert reported == pytest.approx(expected, rel=1e-5)
    assert 15 < reported < 17  # clipped, not the exact value 100 nor inf


# ------------------------------------------------------------------- functional API


def _two_output_model():
    features = dd.Input(shape=(3,), name="features")
    hidden = layers.Dense(4, activation="tanh", name="hidden")(features)
    label = layers.Dense(3, activation="softmax", name="label")(hidden)
    value = layers.Dense(1, name="value")(hidden)
    return dd.Model(features, [label, value])


def _two_output_data(m=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, 3)), [rng.integers(0, 3, m), rng.standard_normal((m, 1))]


@pytest.mark.parametrize(
    "loss",
    [
        ["sparse_categorical_crossentropy", "mse"],
        {"label": "sparse_categorical_crossentropy", "value": "mse"},
    ],
)
@pytest.mark.parametrize("loss_weights", [None, [1.0, 0.25], {"value": 0.25}])
def test_two_outputs_log_per_output_losses(loss, loss_weights):
    x, ys = _two_output_data()
    model = _two_output_model()
    model.compile(
        optimizer="sgd", loss=loss, loss_weights=loss_weights, metrics={"label": ["accuracy"]}
    )
    history = model.fit(x, ys, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "label_loss", "value_loss", "label_accuracy"}
    logs = model.evaluate(x, ys, verbose=0, return_dict=True)
    weight = 1.0 if loss_weights is None else 0.25
    assert logs["loss"] == pytest.approx(logs["label_loss"] + weight * logs["value_loss"])
    label_p, value_p = model.predict(x, verbose=0)
    expected_mse = np.mean((value_p - ys[1]) ** 2)
    assert logs["value_loss"] == pytest.approx(expected_mse, rel=1e-5)
    assert logs["label_accuracy"] == pytest.approx(np.mean(label_p.argmax(axis=1) == ys[0]))


def test_two_outputs_evaluate_list_order():
    x, ys = _two_output_data()
    model = _two_output_model()
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    values = model.evaluate(x, ys, verbose=0)
    logs = model.evaluate(x, ys, verbose=0, return_dict=True)
    assert values == [logs["loss"], logs["label_loss"], logs["value_loss"]]


def test_loss_list_must_match_outputs():
    model = _two_output_model()
    with pytest.raises(
        ValueError,
        match=r"compile: loss must have one entry per output \(2\); "
        "got 3",
    ):
        model.compile(optimizer="sgd", loss=["mse", "mse", "mse"])
    with pytest.raises(
        ValueError,
        match=r"compile: loss names unknown outputs \['lable'\]; the "
        r"model's outputs are \['label', 'value'\]",
    ):
        model.compile(optimizer="sgd", loss={"lable": "mse", "value": "mse"})


def test_two_outputs_need_two_targets():
    x, ys = _two_output_data()
    model = _two_output_model()
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    with pytest.raises(ValueError, match=r"expected 2 target array\(s\); got 1"):
        model.fit(x, [ys[0]], verbose=0)


def test_two_inputs():
    left, right = dd.Input(shape=(3,), name="left"), dd.Input(shape=(2,), name="right")
    out_left = layers.Dense(1, name="out_left")(left)
    out_right = layers.Dense(2, activation="softmax", name="out_right")(right)
    model = dd.Model([left, right], [out_left, out_right])
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((10, 3)), rng.standard_normal((10, 2))]
    ys = [rng.standard_normal((10, 1)), rng.integers(0, 2, 10)]
    model.compile(optimizer="adam", loss=["mse", "sparse_categorical_crossentropy"])
    history = model.fit(xs, ys, epochs=2, batch_size=4, verbose=0)
    assert len(history.history["out_left_loss"]) == 2
    predictions = model.predict(xs, verbose=0)
    assert [p.shape for p in predictions] == [(10, 1), (10, 2)]
    np.testing.assert_allclose(predictions[0], model(xs)[0], rtol=1e-6)
    with pytest.raises(ValueError, match=r"expected 2 input array\(s\); got 1"):
        model.predict(xs[0], verbose=0)
    with pytest.raises(
        ValueError,
        match=r"Dense\(name='out_right'\): expected input .*of shape "
        r"\(batch, 2\); got \(10, 3\)",
    ):
        model.predict([xs[0], xs[0]], verbose=0)


def test_model_needs_both_inputs_and_outputs():
    with pytest.raises(ValueError, match="give both inputs and outputs"):
        dd.Model(dd.Input(shape=(3,)))


def test_output_not_reachable_from_inputs():
    a, b = dd.Input(shape=(3,), name="a"), dd.Input(shape=(3,), name="b")
    with pytest.raises(
        ValueError,
        match=r"Graph: output depends on .*'b'.*not one of the model's "
        r"inputs \['a'\]",
    ):
        dd.Model(a, layers.Dense(1)(b))


def _shared_in_sequence():
    x = dd.Input(shape=(3,))
    shared = layers.Dense(3, activation="tanh", name="shared")
    out = layers.Dense(2, activation="softmax")(shared(shared(x)))
    return dd.Model(x, out), "sparse_categorical_crossentropy", None


def _shared_across_inputs():
    a, b = dd.Input(shape=(3,)), dd.Input(shape=(3,))
    shared = layers.Dense(2, activation="tanh", name="shared")
    return (
        dd.Model([a, b], [layers.Dense(1)(shared(a)), layers.Dense(1)(shared(b))]),
        ["mse", "mse"],
        [1.0, 0.5],
    )


def _shared_as_both_outputs():
    a, b = dd.Input(shape=(3,)), dd.Input(shape=(3,))
    shared = layers.Dense(2, activation="softmax", name="shared")
    return dd.Model([a, b], [shared(a), shared(b)]), ["categorical_crossentropy", "mse"], None


def _fan_out():
    x = dd.Input(shape=(3,))
    hidden = layers.Dense(4, activation="tanh", name="hidden")(x)  # read by two consumers
    return (
        dd.Model(x, [layers.Dense(2, activation="softmax")(hidden), layers.Dense(1)(hidden)]),
        ["sparse_categorical_crossentropy", "mse"],
        [1.0, 0.3],
    )


def _fan_out_chain():
    x = dd.Input(shape=(3,))
    hidden = layers.Dense(4, activation="tanh")(x)
    left = layers.Dense(4, activation="relu")(hidden)
    out_a = layers.Dense(1)(left)
    out_b = layers.Dense(1)(layers.Dense(2, activation="sigmoid")(hidden))
    return dd.Model(x, [out_a, out_b, left]), ["mse", "mse", "mse"], [1.0, 2.0, 0.1]


def _inputs_for(model, rng, m=7):
    return [rng.standard_normal((m, *t.shape[1:])) for t in model.inputs]


def _targets_for(model, losses_, rng, m=7):
    ys = []
    for tensor, loss in zip(model.outputs, losses_ if isinstance(losses_, list) else [losses_]):
        units = tensor.shape[-1]
        if loss == "sparse_categorical_crossentropy":
            ys.append(rng.integers(0, units, m))
        elif loss == "categorical_crossentropy":
            ys.append(np.eye(units)[rng.integers(0, units, m)])
        else:
            ys.append(rng.standard_normal((m, units)))
    return ys


@pytest.mark.parametrize(
    "make",
    [_shared_in_sequence, _shared_across_inputs, _shared_as_both_outputs, _fan_out, _fan_out_chain],
)
def test_graph_gradients_match_finite_differences(make):
    dd.config.set_floatx("float64")
    dd.utils.set_random_seed(0)
    model, loss, loss_weights = make()
    rng = np.random.default_rng(1)
    xs = _inputs_for(model, rng)
    ys = _targets_for(model, loss, rng)
    x = xs if len(xs) > 1 else xs[0]
    y = ys if len(ys) > 1 else ys[0]
    analytic = _sgd_gradients(model, x, y, loss, loss_weights)
    assert all(np.abs(g).max() > 1e-6 for g in analytic)  # every weight gets a gradient
    _assert_gradients_close(analytic, _numeric_gradients(model, x, y))


def test_shared_layer_matches_torch():
    torch = pytest.importorskip("torch")
    dd.config.set_floatx("float64")
    dd.utils.set_random_seed(0)
    model, loss, _ = _shared_in_sequence()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 3))
    y = rng.integers(0, 2, 7)
    grads = _sgd_gradients(model, x, y, loss)
    shared_w, shared_b, out_w, out_b = [
        torch.tensor(w, requires_grad=True) for w in model.get_weights()
    ]
    h = torch.tanh(torch.from_numpy(x) @ shared_w + shared_b)
    h = torch.tanh(h @ shared_w + shared_b)
    total = torch.nn.functional.cross_entropy(h @ out_w + out_b, torch.from_numpy(y))
    total.backward()
    for ours, reference in zip(grads, (shared_w, shared_b, out_w, out_b)):
        np.testing.assert_allclose(ours, reference.grad.numpy(), rtol=1e-10, atol=1e-13)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(total.item(), rel=1e-10)


def test_shared_layer_trains_and_counts_params_once():
    model, loss, _ = _shared_in_sequence()
    assert model.count_params() == (3 * 3 + 3) + (3 * 2 + 2)
    assert [layer.name for layer in model.layers].count("shared") == 1
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 3)), rng.integers(0, 2, 32)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss=loss)
    history = model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_built_layer_rejects_a_symbolic_input_of_another_width():
    shared = layers.Dense(4, name="shared")
    shared(dd.Input(shape=(8,)))
    with pytest.raises(ValueError, match=r"Dense\(name='shared'\): expected input of shape "
                                         r"\(batch, 8\); got \(None, 6\)"):
        shared(dd.Input(shape=(6,)))


def test_summary_counts_a_shared_layer_once():
    inputs = [dd.Input(shape=(3,)), dd.Input(shape=(3,))]
    shared = layers.Dense(2, name="twice")
    model = dd.Model(inputs, [shared(inputs[0]), shared(inputs[1])])
    lines = []
    model.summary(print_fn=lines.append)
    rows = [line for line in lines[0].splitlines() if line.startswith("twice")]
    assert len(rows) == 1  # one row per layer, every call in "Connected to" (Keras's layout)
    first, second = (t.node.layer.name for t in inputs)
    assert rows[0].split()[2:] == ["(None,", "2)", "8", f"{first}[0][0],", f"{second}[0][0]"]
    assert "Connected to" in lines[0] and "Total params: 8" in lines[0]
