"""The functional API: one model, two outputs, a shared layer, one loss per output.

From a 784-pixel image the model predicts the digit (10-way softmax) and whether the digit is
even (one sigmoid unit). Both heads read the same trunk, and the layer ``shared`` is called
twice (at two nodes, with the same weights): once to feed the "even" head, and again on its own
output to feed the "digit" head. Its weight gradients from both calls are summed.

    image -> trunk Dense(64, relu) -> shared Dense(64, relu) -> even Dense(1, sigmoid)
                                          |
                                          +-> shared (again) -> digit Dense(10, softmax)

compile takes a list of losses (one per output, in output order) and ``loss_weights`` for the
total loss = 1.0 * digit loss + 0.5 * even loss; metrics are given per output by name.

Run:
    python examples/functional_api.py [--epochs 5]
"""

import argparse
import time

import dendrite as dd
from dendrite import layers


def build_model():
    image = dd.Input(shape=(784,), name="image")
    features = layers.Dense(64, activation="relu", name="trunk")(image)
    shared = layers.Dense(64, activation="relu", name="shared")
    first = shared(features)
    second = shared(first)  # the same layer again (64 -> 64): same kernel and bias
    even = layers.Dense(1, activation="sigmoid", name="even")(first)
    digit = layers.Dense(10, activation="softmax", name="digit")(second)
    return dd.Model(inputs=image, outputs=[digit, even], name="digit_and_parity")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=5, help="passes over the training set")
    args = parser.parse_args()

    dd.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = dd.datasets.mnist.load_data()
    x_train = x_train.reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255
    even_train = (y_train % 2 == 0).astype("float32").reshape(-1, 1)
    even_test = (y_test % 2 == 0).astype("float32").reshape(-1, 1)

    model = build_model()
    model.summary()
    model.compile(
        optimizer="adam",
        loss=["sparse_categorical_crossentropy", "binary_crossentropy"],
        loss_weights=[1.0, 0.5],
        metrics={"digit": ["accuracy"], "even": ["accuracy"]},
    )

    start = time.perf_counter()
    model.fit(
        x_train,
        [y_train, even_train],
        batch_size=128,
        epochs=args.epochs,
        validation_split=0.1,
        verbose=2,
    )
    seconds = time.perf_counter() - start

    results = model.evaluate(x_test, [y_test, even_test], verbose=0, return_dict=True)
    print(f"Test results after {seconds:.1f} s of training:")
    for name, value in results.items():
        print(f"  {name:>16}: {value:.4f}")

    digit_probabilities, even_probabilities = model.predict(x_test[:8])
    print("First 8 test images:")
    print("  true digit     ", " ".join(f"{d:>4}" for d in y_test[:8]))
    print("  predicted digit", " ".join(f"{d:>4}" for d in digit_probabilities.argmax(axis=1)))
    print("  P(even)        ", " ".join(f"{p:4.2f}" for p in even_probabilities[:, 0]))


if __name__ == "__main__":
    main()
