"""The functional API: two inputs, two outputs, a shared frozen sub-model, a residual Add, a
Concatenate.

Each MNIST image is cut into its top and bottom halves (two inputs of 392 pixels). One encoder,
a small model of its own, reads both halves (a shared model, called at two nodes with the same
weights). It is first pretrained on its own for one epoch, then frozen (``trainable = False``) and
reused inside the main model, whose new layers train on top of it:

    top ----> encoder (frozen) --+
                                 +-> Concatenate -> Dense(128, relu) -+-> block -> Add --+
    bottom -> encoder (frozen) --+                                    |             ^    |
                                                                      +-------------+    |
    +------------------------------------------------------------------------------------+
    +-> digit Dense(10, softmax)
    +-> even Dense(1, sigmoid)

where ``block`` is Dense(128, relu) followed by Dense(128), added back to its input (a residual
connection). The model predicts the digit and whether it is even; ``compile`` takes one loss per
output by name, ``loss_weights`` makes the total loss 1.0 * digit + 0.5 * even, and ``fit``
takes the inputs and targets as dicts keyed by the input and output names.

Run:
    python examples/functional_api.py [--epochs 5] [--pretrain-epochs 1]
"""

import argparse
import time

import dendrite as dd
from dendrite import layers


def build_encoder():
    """392 pixels -> 128 features, as a model of its own (so it can be called as a layer)."""
    half = dd.Input(shape=(392,), name="half")
    hidden = layers.Dense(256, activation="relu", name="encoder_hidden")(half)
    features = layers.Dense(128, activation="relu", name="encoder_features")(hidden)
    return dd.Model(half, features, name="encoder")


def build_pretraining_model(encoder):
    """The encoder on both halves and a softmax on top: what pretrains the encoder."""
    top, bottom = dd.Input(shape=(392,), name="top"), dd.Input(shape=(392,), name="bottom")
    both = layers.concatenate([encoder(top), encoder(bottom)])
    digit = layers.Dense(10, activation="softmax", name="digit")(both)
    return dd.Model([top, bottom], digit, name="pretraining")


def build_model(encoder):
    """Two inputs, two outputs, around the (frozen) encoder."""
    top, bottom = dd.Input(shape=(392,), name="top"), dd.Input(shape=(392,), name="bottom")
    both = layers.Concatenate(name="both_halves")([encoder(top), encoder(bottom)])
    x = layers.Dense(128, activation="relu", name="mix")(both)
    residual = layers.Dense(128, activation="relu", name="block_1")(x)
    residual = layers.Dense(128, name="block_2")(residual)
    x = layers.Add(name="residual")([x, residual])
    digit = layers.Dense(10, activation="softmax", name="digit")(x)
    even = layers.Dense(1, activation="sigmoid", name="even")(x)
    return dd.Model(inputs=[top, bottom], outputs=[digit, even], name="halves")


def halves(images):
    """(n, 28, 28) uint8 -> top and bottom halves as (n, 392) float32 in [0, 1]."""
    flat = images.reshape(len(images), 784).astype("float32") / 255
    return {"top": flat[:, :392], "bottom": flat[:, 392:]}


def train(epochs=5, pretrain_epochs=1, seed=0, verbose=2):
    """Pretrain, freeze and reuse the encoder; return (model, test results dict, seconds)."""
    dd.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = dd.datasets.mnist.load_data()
    train_inputs, test_inputs = halves(x_train), halves(x_test)
    train_targets = {"digit": y_train, "even": (y_train % 2 == 0).astype("float32")[:, None]}
    test_targets = {"digit": y_test, "even": (y_test % 2 == 0).astype("float32")[:, None]}

    start = time.perf_counter()
    encoder = build_encoder()
    pretraining = build_pretraining_model(encoder)
    pretraining.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    pretraining.fit(train_inputs, y_train, batch_size=128, epochs=pretrain_epochs, verbose=verbose)
    encoder.trainable = False  # the pretrained weights stay as they are from here on

    model = build_model(encoder)
    model.compile(
        optimizer="adam",
        loss={"digit": "sparse_categorical_crossentropy", "even": "binary_crossentropy"},
        loss_weights={"digit": 1.0, "even": 0.5},
        metrics={"digit": ["accuracy"], "even": ["accuracy"]},
    )
    if verbose:
        model.summary()
    frozen_before = encoder.get_weights()
    model.fit(train_inputs, train_targets, batch_size=128, epochs=epochs, validation_split=0.1,
              verbose=verbose)
    seconds = time.perf_counter() - start
    unchanged = all((a == b).all() for a, b in zip(frozen_before, encoder.get_weights()))
    results = model.evaluate(test_inputs, test_targets, verbose=0, return_dict=True)
    results["encoder_unchanged"] = unchanged
    return model, results, seconds


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the main model")
    parser.add_argument("--pretrain-epochs", type=int, default=1, help="epochs of pretraining")
    args = parser.parse_args()

    model, results, seconds = train(args.epochs, args.pretrain_epochs)
    print(f"Test results after {seconds:.1f} s of training (pretraining included):")
    for name, value in results.items():
        print(f"  {name:>18}: {value if isinstance(value, bool) else f'{value:.4f}'}")

    (_, _), (x_test, y_test) = dd.datasets.mnist.load_data()
    predictions = model.predict(halves(x_test[:8]), verbose=0)
    digit_probabilities, even_probabilities = predictions
    print("First 8 test images:")
    print("  true digit     ", " ".join(f"{d:>4}" for d in y_test[:8]))
    print("  predicted digit", " ".join(f"{d:>4}" for d in digit_probabilities.argmax(axis=1)))
    print("  P(even)        ", " ".join(f"{p:4.2f}" for p in even_probabilities[:, 0]))


if __name__ == "__main__":
    main()
