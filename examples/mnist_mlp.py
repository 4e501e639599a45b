"""Quick start, Keras style: a 784-256-128-10 multilayer perceptron on MNIST.

Builds a Sequential model, compiles it with Adam and sparse categorical cross-entropy, trains it
with 10% of the training set held out for validation, evaluates it on the test set, and prints
the confusion matrix. With matplotlib installed it also saves the learning curves and the
confusion-matrix heatmap.

Run:
    python examples/mnist_mlp.py [--epochs 5] [--out runs/examples]
"""

import argparse
import time
from pathlib import Path

import dendrite as dd
from dendrite import layers


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=5, help="passes over the training set")
    parser.add_argument(
        "--out", type=Path, default=Path("runs/examples"), help="folder for the plots"
    )
    args = parser.parse_args()

    dd.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = dd.datasets.mnist.load_data()
    x_train = x_train.reshape(-1, 784).astype("float32") / 255  # (60000, 784) in [0, 1]
    x_test = x_test.reshape(-1, 784).astype("float32") / 255

    model = dd.Sequential(
        [
            dd.Input(shape=(784,)),
            layers.Dense(256, activation="relu"),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ],
        name="mnist_mlp",
    )
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, validation_split=0.1)
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(
        f"Test accuracy: {test_accuracy:.4f} (loss {test_loss:.4f}); training took {seconds:.1f} s"
    )

    probabilities = model.predict(x_test, batch_size=1024)
    cm = dd.metrics.confusion_matrix(y_test, probabilities)
    print("Confusion matrix (rows: true digit, columns: predicted digit):")
    print(cm)

    try:
        from dendrite import plotting

        args.out.mkdir(parents=True, exist_ok=True)
        plotting.plot_history(history, args.out / "mnist_mlp_history.png")
        plotting.plot_confusion_matrix(cm, path=args.out / "mnist_mlp_confusion.png")
        print(
            f"Saved {args.out / 'mnist_mlp_history.png'} and {args.out / 'mnist_mlp_confusion.png'}"
        )
    except ImportError as error:
        print(f"No plots: {error}")


if __name__ == "__main__":
    main()
