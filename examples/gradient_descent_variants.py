"""Batch, stochastic and mini-batch gradient descent, compared with ``fit``'s ``batch_size``.

The tutorials' three variants differ only in how many examples each step looks at:

- batch gradient descent: the whole training set per step (``batch_size=len(x)``), one step
  per epoch; smooth but slow progress per epoch;
- stochastic gradient descent: one example per step (``batch_size=1``), len(x) steps per epoch;
  much progress per epoch but noisy, and slow in wall-clock time (no vectorization);
- mini-batch gradient descent: 64 examples per step, the usual compromise.

Each variant trains the same 784-64-10 network from the same initial weights with plain SGD
(learning rate 0.05) on the first 2000 MNIST training images for a few epochs. The script prints
the steps per epoch, the loss after each epoch and the time, and (with matplotlib) plots the
three loss curves against epochs and against seconds.

Run:
    python examples/gradient_descent_variants.py [--epochs 10] [--samples 2000]
"""

import argparse
import time
from pathlib import Path

import dendrite as dd
from dendrite import layers


class EpochTimer(dd.callbacks.Callback):
    """Records the seconds elapsed since the start of training at the end of each epoch."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.seconds = []

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def make_model(learning_rate):
    dd.utils.set_random_seed(0)  # the same initial weights for every variant
    model = dd.Sequential(
        [
            dd.Input(shape=(784,)),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=dd.optimizers.SGD(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs per variant")
    parser.add_argument("--samples", type=int, default=2000, help="training images used")
    parser.add_argument("--learning-rate", type=float, default=0.05, help="SGD learning rate")
    parser.add_argument(
        "--out", type=Path, default=Path("runs/examples"), help="folder for the plot"
    )
    args = parser.parse_args()

    (x, y), (x_test, y_test) = dd.datasets.mnist.load_data()
    x = x[: args.samples].reshape(-1, 784).astype("float32") / 255
    y = y[: args.samples]
    x_test = x_test.reshape(-1, 784).astype("float32") / 255

    variants = {"batch": len(x), "stochastic": 1, "mini-batch (64)": 64}
    results = {}
    for name, batch_size in variants.items():
        model = make_model(args.learning_rate)
        timer = EpochTimer()
        history = model.fit(
            x, y, batch_size=batch_size, epochs=args.epochs, verbose=0, callbacks=[timer]
        )
        _, test_accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
        steps = -(-len(x) // batch_size)
        results[name] = (history.history["loss"], timer.seconds)
        losses = " ".join(f"{loss:.3f}" for loss in history.history["loss"])
        print(
            f"{name:>16}: batch_size={batch_size:<5} {steps:>5} steps/epoch, "
            f"{timer.seconds[-1]:6.2f} s, test accuracy {test_accuracy:.4f}"
        )
        print(f"{'':>16}  loss per epoch: {losses}")

    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("No plot: matplotlib is not installed (pip install dendrite[plot]).")
        return
    figure = Figure(figsize=(11, 4), layout="constrained")
    by_epoch, by_time = figure.subplots(1, 2)
    for name, (losses, seconds) in results.items():
        epochs = range(1, len(losses) + 1)
        by_epoch.plot(epochs, losses, "o-", markersize=3, label=name)
        by_time.plot(seconds, losses, "o-", markersize=3, label=name)
    by_epoch.set(xlabel="epoch", ylabel="training loss", title="Loss per epoch")
    by_epoch.xaxis.get_major_locator().set_params(integer=True)
    by_time.set(
        xlabel="seconds (log scale)",
        ylabel="training loss",
        title="Loss against wall-clock time",
        xscale="log",
    )
    for ax in (by_epoch, by_time):
        ax.grid(True, alpha=0.3)
        ax.legend()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gradient_descent_variants.png"
    figure.savefig(path, dpi=100)
    print(f"Saved {path}")


if __name__ == "__main__":
    main()
