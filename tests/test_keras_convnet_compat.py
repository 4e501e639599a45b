"""Keras's "Simple MNIST convnet" example runs with only the import changed.

The example (keras-io ``examples/vision/mnist_convnet.py``, Keras 3) as written, except for the
import and three settings that keep it fast: 3,000 training and 1,000 test images of the bundled
MNIST, and 1 epoch instead of 15. Its summary, history keys and ``evaluate`` result are checked.
"""

import re

import numpy as np
import pytest

import dendrite as keras
from dendrite import layers

TRAIN_SUBSET = 3000
TEST_SUBSET = 1000


def test_keras3_mnist_convnet_example(capsys):
    keras.utils.set_random_seed(0)

    # --- the example, as written for Keras 3 ---
    # Model / data parameters
    num_classes = 10
    input_shape = (28, 28, 1)

    # Load the data and split it between train and test sets
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    (x_train, y_train) = x_train[:TRAIN_SUBSET], y_train[:TRAIN_SUBSET]  # (not in the example)
    (x_test, y_test) = x_test[:TEST_SUBSET], y_test[:TEST_SUBSET]  # (not in the example)

    # Scale images to the [0, 1] range
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    # Make sure images have shape (28, 28, 1)
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    print("x_train shape:", x_train.shape)
    print(x_train.shape[0], "train samples")
    print(x_test.shape[0], "test samples")

    # convert class vectors to binary class matrices
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)

    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )

    model.summary()

    batch_size = 128
    epochs = 1  # 15 in the example

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

    history = model.fit(
        x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1
    )

    score = model.evaluate(x_test, y_test, verbose=0)
    print("Test loss:", score[0])
    print("Test accuracy:", score[1])

    # --- checks ---
    out = capsys.readouterr().out
    assert "x_train shape: (3000, 28, 28, 1)" in out
    summary_rows = [
        ("Conv2D", "(None, 26, 26, 32)", "320"),
        ("MaxPooling2D", "(None, 13, 13, 32)", "0"),
        ("Conv2D", "(None, 11, 11, 64)", "18,496"),
        ("MaxPooling2D", "(None, 5, 5, 64)", "0"),
        ("Flatten", "(None, 1600)", "0"),
        ("Dropout", "(None, 1600)", "0"),
        ("Dense", "(None, 10)", "16,010"),
    ]
    row = re.compile(r"^\S+ \((\w+)\)\s+(\(.*\))\s+([\d,]+)$")  # name (Type)  shape  params
    rows = [match.groups() for match in map(row.match, out.splitlines()) if match]
    assert rows == summary_rows
    assert "Total params: 34,826" in out
    assert "Epoch 1/1" in out
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert isinstance(score, list)
    assert len(score) == 2
    loss, accuracy = score
    assert np.isfinite(loss)
    assert accuracy > 0.5  # chance is 0.1; 0.667 after these 22 steps (seed 0)
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    assert accuracy == pytest.approx(np.mean(predicted == y_test.argmax(axis=1)))
