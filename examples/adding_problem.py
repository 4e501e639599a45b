"""The adding problem (Hochreiter & Schmidhuber, 1997): why LSTMs exist.

Each sequence has ``timesteps`` steps of two features: a random value in [0, 1) and a marker.
Exactly two steps are marked, one among the first 10 and one in the second half; the target is the
sum of their two values. Predicting the mean scores an MSE of about 0.167, so a model has to carry
the first value across 40 or more steps to do better. An LSTM and a SimpleRNN of the same size are
trained on the same data (generated from a seed, no download); the LSTM's test MSE falls to about
0.001 while the SimpleRNN's stays at the baseline.

Run:
    python examples/adding_problem.py [--timesteps 50] [--units 32] [--epochs 8]
"""

import argparse
import time

import numpy as np

import dendrite as dd
from dendrite import layers


def adding_problem(n, timesteps, seed):
    """(x, y): x (n, timesteps, 2) float32 values and markers, y (n, 1) the marked values' sum."""
    rng = np.random.default_rng(seed)
    values = rng.random((n, timesteps))
    markers = np.zeros((n, timesteps))
    rows = np.arange(n)
    markers[rows, rng.integers(0, 10, n)] = 1
    markers[rows, rng.integers(timesteps // 2, timesteps, n)] = 1
    x = np.stack([values, markers], axis=-1).astype("float32")
    y = (values * markers).sum(axis=1, keepdims=True).astype("float32")
    return x, y


def train(cell, x, y, x_test, y_test, units, epochs, seed):
    dd.utils.set_random_seed(seed)
    model = dd.Sequential([dd.Input(shape=x.shape[1:]), cell(units), layers.Dense(1)])
    model.compile(dd.optimizers.Adam(0.01), "mse")
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=64, epochs=epochs, verbose=0,
                        validation_data=(x_test, y_test))
    seconds = time.perf_counter() - start
    return history.history["val_loss"], seconds


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--timesteps", type=int, default=50)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--samples", type=int, default=6400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    x, y = adding_problem(args.samples, args.timesteps, seed=args.seed)
    x_test, y_test = adding_problem(1000, args.timesteps, seed=args.seed + 1)
    baseline = float(((y_test - y.mean()) ** 2).mean())
    print(f"Adding problem, {args.timesteps} steps; predicting the mean: test MSE {baseline:.4f}")
    for name, cell in (("LSTM", layers.LSTM), ("SimpleRNN", layers.SimpleRNN)):
        losses, seconds = train(cell, x, y, x_test, y_test, args.units, args.epochs, args.seed)
        curve = " ".join(f"{loss:.4f}" for loss in losses)
        print(f"{name:>9}({args.units}): test MSE per epoch {curve}  ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
