"""Initialisation, optimizer and regularisation compared on one data set, as the tutorials do.

The data are two interleaving half-moons in 2-D (the optimisation tutorial's ``make_moons``,
rebuilt here in NumPy: 300 training and 300 test points, noise 0.3). Three experiments, each a
set of runs of ``L_layer_model`` that differ in one setting, with the tutorials' networks and
learning rates:

1. initialisation, [2, 10, 5, 1], gradient descent at 0.01 for 15,000 iterations: "zeros"
   (symmetry: every unit of a layer stays the same), "random" (randn * 10: huge initial cost),
   "scaled" (randn * 0.01), "sqrt", "he_normal", "xavier_uniform";
2. optimizer, [2, 5, 2, 1], mini-batches of 64, learning rate 0.0007 for 5,000 epochs, He
   initialisation: gradient descent, momentum (beta 0.9), RMSprop, Adagrad and Adam;
3. regularisation, gradient descent at 0.3 for 20,000 iterations on the first 100 training
   points, with a wider network than the tutorial's [2, 20, 3, 1] so that it can overfit:
   [2, 40, 20, 1], none, L2 (lambd 0.7), dropout (keep_prob 0.86).

It prints the train and test accuracy of every run and saves the three panels of cost curves in
one figure (``--out``, default ``runs/tutorial_comparisons.png``).

Run:
    python examples/tutorials/05_comparisons.py [--out runs/tutorial_comparisons.png] [--quick]
"""

import argparse
import time
from pathlib import Path

from dendrite.backend import host as np
from dendrite.tutorial import L_layer_model, accuracy, plot_costs


def make_moons(n_samples, noise, seed):
    """scikit-learn's make_moons: two half circles, shuffled, plus Gaussian noise; (2, m),
    (1, m)."""
    rng = np.random.RandomState(seed)
    n_out, n_in = n_samples // 2, n_samples - n_samples // 2
    outer = np.linspace(0, np.pi, n_out)
    inner = np.linspace(0, np.pi, n_in)
    X = np.vstack(
        [
            np.append(np.cos(outer), 1 - np.cos(inner)),
            np.append(np.sin(outer), 1 - np.sin(inner) - 0.5),
        ]
    ).T
    y = np.hstack([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    order = rng.permutation(n_samples)
    X, y = X[order], y[order]
    X += rng.normal(scale=noise, size=X.shape)
    return X.T, y.reshape(1, -1)


EXPERIMENTS = [
    (
        "initialisation: [2, 10, 5, 1], GD, lr 0.01",
        {
            "layers_dims": [2, 10, 5, 1],
            "learning_rate": 0.01,
            "num_iterations": 15000,
            "print_every": 1000,
        },
        [
            (init, {"init": init})
            for init in ("zeros", "random", "scaled", "sqrt", "he_normal", "xavier_uniform")
        ],
    ),
    (
        "optimizer: [2, 5, 2, 1], batch 64, lr 0.0007, He init",
        {
            "layers_dims": [2, 5, 2, 1],
            "learning_rate": 0.0007,
            "num_iterations": 5000,
            "mini_batch_size": 64,
            "init": "he_normal",
            "print_every": 100,
        },
        [(name, {"optimizer": name}) for name in ("gd", "momentum", "rmsprop", "adagrad", "adam")],
    ),
    (
        "regularisation: [2, 40, 20, 1], GD, lr 0.3, 100 examples",
        {
            "layers_dims": [2, 40, 20, 1],
            "learning_rate": 0.3,
            "num_iterations": 20000,
            "init": "he_normal",
            "print_every": 1000,
            "examples": 100,
        },
        [
            ("none", {}),
            ("L2, lambd 0.7", {"lambd": 0.7}),
            ("dropout, keep_prob 0.86", {"keep_prob": 0.86}),
        ],
    ),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default="runs/tutorial_comparisons.png", help="PNG file for the figure"
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the iterations")
    args = parser.parse_args()

    X_all, Y_all = make_moons(600, noise=0.3, seed=3)
    X_train, Y_train, X_test, Y_test = (
        X_all[:, :300],
        Y_all[:, :300],
        X_all[:, 300:],
        Y_all[:, 300:],
    )
    print(f"train: X {X_train.shape}, Y {Y_train.shape}; test: X {X_test.shape}")

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FormatStrFormatter

    figure = Figure(figsize=(16, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subplots(1, len(EXPERIMENTS))
    for axes, (title, common, runs) in zip(panels, EXPERIMENTS):
        common = dict(common)
        examples = common.pop("examples", X_train.shape[1])
        if args.quick:
            common["num_iterations"] //= 10
            common["print_every"] = max(1, common["print_every"] // 10)
        print(f"\n{title}")
        curves = {}
        for label, options in runs:
            start = time.perf_counter()
            parameters, costs = L_layer_model(
                X_train[:, :examples], Y_train[:, :examples], seed=3, **common, **options
            )
            train = accuracy(X_train[:, :examples], Y_train[:, :examples], parameters)
            test = accuracy(X_test, Y_test, parameters)
            print(
                f"  {label:<24} cost {costs[0]:9.4f} -> {costs[-1]:.4f}   train {train:.3f}   "
                f"test {test:.3f}   ({time.perf_counter() - start:.1f} s)"
            )
            curves[label] = costs
        plot_costs(curves, print_every=common["print_every"], axes=axes)
        unit = "epochs" if "mini_batch_size" in common else "iterations"
        axes.set_xlabel(f"{unit} (per {common['print_every']})")
        axes.set_title(title)
        if title.startswith("initialisation"):  # "random" starts near 8
            axes.set_yscale("log")
            axes.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            axes.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=100)
    print(f"\nfigure saved to {args.out}")


if __name__ == "__main__":
    main()
