"""Learning threshold of issue #5: the Keras MNIST convnet after one epoch on the full MNIST.

Conv2D(32, 3, relu) -> MaxPooling2D(2) -> Conv2D(64, 3, relu) -> MaxPooling2D(2) -> Flatten
-> Dropout(0.5) -> Dense(10, softmax); Adam (1e-3), batch 128, 60,000 training images, 1 epoch,
accuracy on the 10,000 test images. Keras 3 reaches 97.5-97.6% with this recipe; dendrite reaches
97.55% with seed 0 (97.58% with seed 1). Training takes about 30 CPU seconds (one thread).
"""

import numpy as np
import pytest

import dendrite as dd
from dendrite import layers


@pytest.mark.slow
def test_mnist_convnet_reaches_97_percent_in_one_epoch(mnist_flat):
    (x, y), (x_test, y_test) = mnist_flat
    x, x_test = x.reshape(-1, 28, 28, 1), x_test.reshape(-1, 28, 28, 1)
    dd.utils.set_random_seed(0)
    model = dd.Sequential(
        [
            dd.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert accuracy >= 0.970
