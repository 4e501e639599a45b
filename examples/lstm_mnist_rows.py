"""An LSTM reads each MNIST digit row by row: 28 timesteps of 28 pixels, then a softmax.

    LSTM(128) -> Dense(10, softmax)                                     (81,674 parameters)

Trained with Adam (learning rate 1e-3) and sparse categorical cross-entropy, batch 128, with the
last 10% of the training set held out for validation. Figures (seed 0) are in the README's
"Recurrent layers" section.

Run:
    python examples/lstm_mnist_rows.py [--epochs 3] [--units 128] [--cell lstm|gru]
"""

import argparse
import time

import dendrite as dd
from dendrite import layers


def build_model(units=128, cell="lstm"):
    recurrent = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}[cell]
    return dd.Sequential([dd.Input(shape=(28, 28)), recurrent(units),
                          layers.Dense(10, activation="softmax")], name=f"{cell}_mnist_rows")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training set")
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--cell", choices=["lstm", "gru", "simple_rnn"], default="lstm")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    dd.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = dd.datasets.mnist.load_data()
    # (m, 28, 28) uint8 -> float32 in [0, 1]: each image is a sequence of 28 rows of 28 pixels
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255

    model = build_model(args.units, args.cell)
    model.summary()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_split=0.1, verbose=2)
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test accuracy: {test_accuracy:.4f} (loss {test_loss:.4f})")
    print(f"Training took {seconds:.0f} s for {args.epochs} epochs "
          f"({seconds / max(args.epochs, 1):.1f} s per epoch, validation included)")


if __name__ == "__main__":
    main()
