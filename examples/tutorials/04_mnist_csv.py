"""MNIST from CSV files, as the multi-class tutorial: [784, 128, 64, 10] on one-hot columns.

The tutorial reads ``mnist_train.csv`` / ``mnist_test.csv`` (rows ``label,p1,...,p784``). No CSV
ships with dendrite, so this script first writes one from the bundled MNIST into a temporary
folder, then reads it back with ``dendrite.datasets.read_label_first_csv``. By default it uses a
subset (the first 10,000 training and 2,000 test images: writing and parsing 60,000 CSV rows
alone takes about a minute); ``--train-size 60000 --test-size 10000`` uses everything.

Two networks, trained with mini-batches of 10 for a few epochs:

1. the tutorial's: sigmoid in every layer (the 10 outputs are independent sigmoids with a
   binary cross-entropy each), weights randn / sqrt(n[l-1]);
2. the same layers with ReLU, a softmax output (categorical cross-entropy) and He's
   initialisation randn * sqrt(2 / n[l-1]).

Run:
    python examples/tutorials/04_mnist_csv.py [--epochs 3] [--train-size 10000] [--test-size 2000]
"""

import argparse
import tempfile
import time
from pathlib import Path

from dendrite.backend import host as np
from dendrite.datasets import mnist, read_label_first_csv
from dendrite.tutorial import L_layer_model, accuracy, convert_to_one_hot


def write_csv(path, x, y):
    """Rows ``label,p1,...,p784`` under a header line, as the tutorials' CSV files."""
    header = "label," + ",".join(f"pixel{i}" for i in range(x.shape[1] * x.shape[2]))
    table = np.concatenate([y.reshape(-1, 1), x.reshape(len(x), -1)], axis=1)
    np.savetxt(path, table, fmt="%d", delimiter=",", header=header, comments="")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--test-size", type=int, default=2000)
    args = parser.parse_args()

    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    with tempfile.TemporaryDirectory() as folder:
        train_csv, test_csv = Path(folder) / "mnist_train.csv", Path(folder) / "mnist_test.csv"
        write_csv(train_csv, x_train[: args.train_size], y_train[: args.train_size])
        write_csv(test_csv, x_test[: args.test_size], y_test[: args.test_size])
        print(
            f"wrote {train_csv.name} ({args.train_size} rows) and {test_csv.name} "
            f"({args.test_size} rows) from the bundled MNIST "
            f"{'(a subset)' if args.train_size < 60000 else ''}"
        )
        pixels, labels = read_label_first_csv(train_csv, num_classes=10)
        test_pixels, test_labels = read_label_first_csv(test_csv, num_classes=10)

    X = pixels.T / 255.0  # (784, m), column layout
    Y = convert_to_one_hot(labels, 10)  # (10, m), one-hot columns
    X_test, Y_test = test_pixels.T / 255.0, convert_to_one_hot(test_labels, 10)
    print(f"X: {X.shape}, Y: {Y.shape}, X_test: {X_test.shape}")

    runs = [
        (
            "sigmoid layers, sigmoid outputs, init randn / sqrt(n)",
            {
                "hidden_activation": "sigmoid",
                "output_activation": "sigmoid",
                "init": "sqrt",
                "learning_rate": 0.5,
            },
        ),
        (
            "ReLU layers, softmax output, He init",
            {
                "hidden_activation": "relu",
                "output_activation": "softmax",
                "init": "he_normal",
                "learning_rate": 0.05,
            },
        ),
    ]
    results = []
    for title, options in runs:
        print(f"\n{title}, learning rate {options['learning_rate']}, mini-batches of 10")
        start = time.perf_counter()
        parameters, costs = L_layer_model(
            X,
            Y,
            [784, 128, 64, 10],
            num_iterations=args.epochs,
            mini_batch_size=10,
            print_cost=True,
            print_every=1,
            seed=1,
            **options,
        )
        seconds = time.perf_counter() - start
        activations = {key: options[key] for key in ("hidden_activation", "output_activation")}
        train = accuracy(X, Y, parameters, **activations)
        test = accuracy(X_test, Y_test, parameters, **activations)
        print(f"train accuracy: {train:.4f}, test accuracy: {test:.4f} ({seconds:.0f} s)")
        results.append((title, costs[0], costs[-1], train, test, seconds))

    print(f"\nnetwork | cost after epoch 0 | after epoch {args.epochs - 1} | train | test | s")
    for title, first, last, train, test, seconds in results:
        print(f"{title} | {first:.4f} | {last:.4f} | {train:.4f} | {test:.4f} | {seconds:.0f}")


if __name__ == "__main__":
    main()
