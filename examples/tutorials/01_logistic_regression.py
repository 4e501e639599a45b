"""Logistic regression with a neural network mindset: cat vs non-cat (the course's first exercise).

One sigmoid unit on the flattened 64x64x3 images, weights initialised to zeros, 2000 iterations
of gradient descent at learning rate 0.005. The course reports "train accuracy: 99.04306220095694
%" and "test accuracy: 70.0 %"; this script prints the same lines, then the course's comparison
of three learning rates (1500 iterations each).

Run:
    python examples/tutorials/01_logistic_regression.py [--plot costs.png]
"""

import argparse

from dendrite.datasets import catvnoncat, flatten_images
from dendrite.tutorial import logistic_regression_model, plot_costs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", help="save the cost curve to this PNG file")
    parser.add_argument(
        "--skip-learning-rates",
        action="store_true",
        help="skip the comparison of three learning rates",
    )
    args = parser.parse_args()

    (train_set_x_orig, train_y), (test_set_x_orig, test_y), classes = catvnoncat.load_data()
    train_set_y, test_set_y = train_y.reshape(1, -1), test_y.reshape(1, -1)
    m_train, m_test, num_px = train_set_x_orig.shape[0], test_set_x_orig.shape[0], 64
    print(f"Number of training examples: m_train = {m_train}")
    print(f"Number of testing examples: m_test = {m_test}")
    print(f"Height/Width of each image: num_px = {num_px}")
    print(f"Each image is of size: ({num_px}, {num_px}, 3)")
    print(f"train_set_x shape: {train_set_x_orig.shape}")
    print(f"train_set_y shape: {train_set_y.shape}")
    print(f"test_set_x shape: {test_set_x_orig.shape}")
    print(f"test_set_y shape: {test_set_y.shape}")

    train_set_x_flatten = flatten_images(train_set_x_orig)  # x.reshape(m, -1).T
    test_set_x_flatten = flatten_images(test_set_x_orig)
    print(f"train_set_x_flatten shape: {train_set_x_flatten.shape}")
    print(f"test_set_x_flatten shape: {test_set_x_flatten.shape}")
    train_set_x = train_set_x_flatten / 255.0
    test_set_x = test_set_x_flatten / 255.0

    d = logistic_regression_model(
        train_set_x,
        train_set_y,
        test_set_x,
        test_set_y,
        num_iterations=2000,
        learning_rate=0.005,
        print_cost=True,
    )
    print("course:        train accuracy: 99.04306220095694 %, test accuracy: 70.0 %")
    index = 1
    label = classes[int(d["Y_prediction_test"][0, index])].decode("utf-8")
    print(f'y = {test_set_y[0, index]}, you predicted that it is a "{label}" picture.')
    if args.plot:
        plot_costs(d["costs"], d["learning_rate"], path=args.plot)
        print(f"cost curve saved to {args.plot}")

    if not args.skip_learning_rates:
        for learning_rate in (0.01, 0.001, 0.0001):
            print(f"\nlearning rate is: {learning_rate}")
            result = logistic_regression_model(
                train_set_x,
                train_set_y,
                test_set_x,
                test_set_y,
                num_iterations=1500,
                learning_rate=learning_rate,
            )
            train_accuracy = (result["Y_prediction_train"] == train_set_y).mean() * 100
            test_accuracy = (result["Y_prediction_test"] == test_set_y).mean() * 100
            print(f"train accuracy: {train_accuracy} %")
            print(f"test accuracy: {test_accuracy} %")
            print(f"final cost (iteration 1400): {result['costs'][-1]:f}")


if __name__ == "__main__":
    main()
