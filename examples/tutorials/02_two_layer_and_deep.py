"""Deep neural network for image classification: the course's two-layer and L-layer models.

Cat vs non-cat, images flattened to (12288, m) and divided by 255, learning rate 0.0075, 2500
iterations of batch gradient descent, seed 1:

* two-layer model (n_h = 7, weights randn * 0.01): the course reports train 1.0, test 0.72;
* L-layer model [12288, 20, 7, 5, 1] with the application's initialisation randn / sqrt(n[l-1]):
  the course reports train 0.986, test 0.80;
* the vanishing-gradient lesson: the same L-layer model from randn * 0.01 ("scaled") barely
  moves, and from He's initialisation it trains.

Run:
    python examples/tutorials/02_two_layer_and_deep.py [--models two,sqrt,scaled,he_normal]
        [--iterations 2500] [--plot-dir runs/]
"""

import argparse
import time
from pathlib import Path

from dendrite.datasets import catvnoncat, flatten_images
from dendrite.tutorial import L_layer_model, plot_costs, predict, two_layer_model

COURSE = {
    "two": "train 1.0, test 0.72",
    "sqrt": "train 0.986, test 0.80",
    "scaled": "(not in the course)",
    "he_normal": "(not in the course)",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default="two,sqrt,scaled,he_normal",
        help="comma-separated: two (two-layer), or an init of the L-layer model",
    )
    parser.add_argument("--iterations", type=int, default=2500)
    parser.add_argument("--plot-dir", help="save each cost curve as a PNG in this folder")
    args = parser.parse_args()

    (train_x_orig, train_y), (test_x_orig, test_y), _ = catvnoncat.load_data()
    train_x = flatten_images(train_x_orig) / 255.0  # (12288, 209), float64
    test_x = flatten_images(test_x_orig) / 255.0
    train_y, test_y = train_y.reshape(1, -1), test_y.reshape(1, -1)
    print(f"train_x's shape: {train_x.shape}")
    print(f"test_x's shape: {test_x.shape}")

    summary = []
    for name in args.models.split(","):
        start = time.perf_counter()
        if name == "two":
            title = "two-layer model (12288, 7, 1), init randn * 0.01"
            print(f"\n{title}")
            parameters, costs = two_layer_model(
                train_x, train_y, (12288, 7, 1), num_iterations=args.iterations, print_cost=True
            )
        else:
            title = f"L-layer model [12288, 20, 7, 5, 1], init {name!r}"
            print(f"\n{title}")
            parameters, costs = L_layer_model(
                train_x,
                train_y,
                [12288, 20, 7, 5, 1],
                num_iterations=args.iterations,
                print_cost=True,
                init=name,
            )
        seconds = time.perf_counter() - start
        print("train:", end=" ")
        train_predictions = predict(train_x, train_y, parameters)
        print("test: ", end=" ")
        test_predictions = predict(test_x, test_y, parameters)
        summary.append(
            (
                title,
                costs[0],
                costs[-1],
                (train_predictions == train_y).mean(),
                (test_predictions == test_y).mean(),
                COURSE.get(name, ""),
                seconds,
            )
        )
        if args.plot_dir:
            Path(args.plot_dir).mkdir(parents=True, exist_ok=True)
            path = Path(args.plot_dir) / f"02_{name}.png"
            plot_costs(costs, 0.0075, path=path)
            print(f"cost curve saved to {path}")

    print("\nmodel | first cost | cost at the last hundred | train | test | course | seconds")
    for title, first, last, train, test, course, seconds in summary:
        print(
            f"{title} | {first:.6f} | {last:.6f} | {train:.3f} | {test:.2f} | {course} | "
            f"{seconds:.0f}"
        )


if __name__ == "__main__":
    main()
