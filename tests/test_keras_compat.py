"""Keras code runs with only the import changed: the Keras MNIST examples, old and new spellings.

Each example trains 1 epoch on a 2,000-image subset of the bundled MNIST to stay fast.
"""

import numpy as np
import pytest

import dendrite as keras
from dendrite import layers

SUBSET = 2000


@pytest.fixture(scope="module")
def mnist_subset():
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    return (x_train[:SUBSET], y_train[:SUBSET]), (x_test[:SUBSET], y_test[:SUBSET])


def test_keras3_mnist_mlp_example(mnist_subset, capsys):
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = mnist_subset
    # --- the example, as written for Keras 3 ---
    num_classes = 10
    x_train = x_train.reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    model.summary()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=128, epochs=1, validation_split=0.1)
    score = model.evaluate(x_test, y_test, verbose=0)
    # --- checks ---
    out = capsys.readouterr().out
    assert "Total params: 669,706" in out
    assert "Epoch 1/1" in out
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert isinstance(score, list)
    assert len(score) == 2
    loss, accuracy = score
    assert loss < 1.2
    assert accuracy > 0.6  # chance is 0.1; about 0.78 after these 15 steps
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    assert accuracy == pytest.approx(np.mean(predicted == y_test.argmax(axis=1)))


def test_classic_keras2_mnist_mlp_example(mnist_subset, capsys):
    from dendrite.layers import Dense, Dropout
    from dendrite.models import Sequential
    from dendrite.optimizers import RMSprop

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = mnist_subset
    # --- the example, as written for Keras 2 (examples/mnist_mlp.py) ---
    batch_size = 128
    num_classes = 10
    epochs = 1
    x_train = x_train.reshape(SUBSET, 784)
    x_test = x_test.reshape(SUBSET, 784)
    x_train = x_train.astype("float32")
    x_test = x_test.astype("float32")
    x_train /= 255
    x_test /= 255
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    model = Sequential()
    model.add(Dense(512, activation="relu", input_shape=(784,)))
    model.add(Dropout(0.2))
    model.add(Dense(512, activation="relu"))
    model.add(Dropout(0.2))
    model.add(Dense(num_classes, activation="softmax"))
    model.summary()
    model.compile(loss="categorical_crossentropy", optimizer=RMSprop(), metrics=["accuracy"])
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        verbose=1,
        validation_data=(x_test, y_test),
    )
    score = model.evaluate(x_test, y_test, verbose=0)
    # --- checks ---
    assert "Total params: 669,706" in capsys.readouterr().out
    assert len(history.history["val_accuracy"]) == 1
    assert score[0] == pytest.approx(history.history["val_loss"][0], rel=1e-5)
    assert score[1] > 0.6


def test_tensorflow_quickstart_flatten_and_logits(mnist_subset):
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = mnist_subset
    # --- the TensorFlow beginner quickstart (keras.models / keras.layers / from_logits) ---
    x_train, x_test = x_train / 255.0, x_test / 255.0
    model = keras.models.Sequential(
        [
            keras.layers.Flatten(input_shape=(28, 28)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10),
        ]
    )
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=1, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    # --- checks ---
    assert model.count_params() == 784 * 128 + 128 + 128 * 10 + 10
    assert accuracy > 0.6
    logits = model.predict(x_test[:5], verbose=0)
    assert logits.shape == (5, 10)
    assert logits.dtype == np.float32


def test_functional_api_guide_example(mnist_subset):
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = mnist_subset
    # --- from the Keras functional API guide ---
    inputs = keras.Input(shape=(784,))
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    x_train = x_train.reshape(SUBSET, 784).astype("float32") / 255
    x_test = x_test.reshape(SUBSET, 784).astype("float32") / 255
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=1, validation_split=0.2, verbose=0)
    test_scores = model.evaluate(x_test, y_test, verbose=2)
    # --- checks ---
    assert model.name == "mnist_model"
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert test_scores[1] > 0.6


@pytest.mark.parametrize(
    "first_layer",
    [
        lambda: layers.Dense(32, activation="relu", input_shape=(784,)),
        lambda: layers.Dense(32, activation="relu", input_dim=784),
        lambda: layers.Dense(32, activation="relu", batch_input_shape=(None, 784)),
    ],
)
def test_keras2_first_layer_spellings(first_layer):
    from dendrite.layers import Dense
    from dendrite.models import Sequential

    model = Sequential([first_layer(), Dense(10, activation="softmax")])
    assert model.count_params() == 784 * 32 + 32 + 32 * 10 + 10
    assert model.predict(np.zeros((3, 784), dtype="float32"), verbose=0).shape == (3, 10)


def test_uint8_images_through_flatten(mnist_subset):
    from dendrite.layers import Dense, Flatten
    from dendrite.models import Sequential

    (x_train, y_train), _ = mnist_subset
    model = Sequential([Flatten(input_shape=(28, 28)), Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["acc"])
    history = model.fit(x_train[:256], y_train[:256], epochs=1, verbose=0)  # raw uint8 pixels
    assert set(history.history) == {"loss", "acc"}
    assert np.isfinite(history.history["loss"][0])


def test_top_level_names_match_keras():
    for name in (
        "Sequential",
        "Model",
        "Input",
        "layers",
        "models",
        "optimizers",
        "losses",
        "metrics",
        "callbacks",
        "utils",
        "datasets",
        "config",
        "activations",
        "initializers",
        "regularizers",
    ):
        assert hasattr(keras, name), name
    for name in (
        "Dense",
        "Dropout",
        "Flatten",
        "Activation",
        "Input",
        "InputLayer",
        "Reshape",
        "ReLU",
        "Softmax",
    ):
        assert hasattr(keras.layers, name), name
    for name in ("SGD", "Adam", "RMSprop", "Adagrad", "AdamW"):
        assert hasattr(keras.optimizers, name), name
    for name in ("to_categorical", "normalize", "set_random_seed"):
        assert hasattr(keras.utils, name), name
    assert keras.config.floatx() == "float32"
    assert keras.config.image_data_format() == "channels_last"
