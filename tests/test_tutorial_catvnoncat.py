"""The course's cat vs non-cat figures, reproduced by dendrite.tutorial in float64 (issue #4).

Each model uses the course's settings and seed; the first printed cost must agree to 6 decimals
and the accuracies exactly. The 12288-input networks take tens of seconds each: marked slow,
still run in CI.
"""

import numpy as np
import pytest

from dendrite import datasets
from dendrite import tutorial as tut


@pytest.fixture(scope="module")
def cat_data():
    """The course's preprocessing: x.reshape(m, -1).T / 255., labels as (1, m)."""
    (x_train, y_train), (x_test, y_test), _ = datasets.catvnoncat.load_data()
    train_x = x_train.reshape(x_train.shape[0], -1).T / 255.0
    test_x = x_test.reshape(x_test.shape[0], -1).T / 255.0
    return train_x, y_train.reshape(1, -1), test_x, y_test.reshape(1, -1)


def printed_costs(text):
    """{iteration: cost} from "Cost after iteration i: c" lines."""
    costs = {}
    for line in text.splitlines():
        if line.startswith("Cost after iteration "):
            iteration, cost = line[len("Cost after iteration ") :].split(": ")
            costs[int(iteration)] = float(cost)
    return costs


def test_logistic_regression_reproduces_the_course(cat_data, capsys):
    train_x, train_y, test_x, test_y = cat_data
    d = tut.logistic_regression_model(
        train_x, train_y, test_x, test_y, num_iterations=2000, learning_rate=0.005, print_cost=True
    )
    out = capsys.readouterr().out
    assert "Cost after iteration 0: 0.693147" in out
    assert "Cost after iteration 100: 0.584508" in out
    assert "Cost after iteration 1900: 0.140872" in out
    assert "train accuracy: 99.04306220095694 %" in out
    assert "test accuracy: 70.0 %" in out
    assert len(d["costs"]) == 20
    assert (d["Y_prediction_train"] == train_y).mean() == 207 / 209
    assert (d["Y_prediction_test"] == test_y).mean() == 0.70
    assert d["w"].shape == (12288, 1) and d["w"].dtype == np.float64


@pytest.mark.slow
def test_two_layer_model_reproduces_the_course(cat_data, capsys):
    train_x, train_y, test_x, test_y = cat_data
    parameters, costs = tut.two_layer_model(
        train_x,
        train_y,
        (12288, 7, 1),
        learning_rate=0.0075,
        num_iterations=2500,
        print_cost=True,
        seed=1,
    )
    printed = printed_costs(capsys.readouterr().out)
    assert sorted(printed) == [*range(0, 2500, 100), 2499]
    assert round(printed[0], 6) == 0.693050
    assert round(printed[2499], 6) == 0.044215
    assert len(costs) == 25 and costs[0] == printed[0]
    assert tut.accuracy(train_x, train_y, parameters) == 1.0
    assert tut.accuracy(test_x, test_y, parameters) == 0.72
    tut.predict(test_x, test_y, parameters)
    assert capsys.readouterr().out == "Accuracy: 0.72\n"


@pytest.mark.slow
def test_L_layer_model_sqrt_init_reproduces_the_course(cat_data, capsys):
    train_x, train_y, test_x, test_y = cat_data
    parameters, costs = tut.L_layer_model(
        train_x,
        train_y,
        [12288, 20, 7, 5, 1],
        learning_rate=0.0075,
        num_iterations=2500,
        print_cost=True,
        init="sqrt",
        seed=1,
    )
    printed = printed_costs(capsys.readouterr().out)
    assert round(printed[0], 6) == 0.771749
    assert round(printed[2400], 6) == 0.092878
    assert round(printed[2499], 6) == 0.088440
    assert len(costs) == 25 and costs[0] == printed[0] and costs[-1] == printed[2400]
    assert tut.accuracy(train_x, train_y, parameters) == 206 / 209  # 0.986
    assert tut.accuracy(test_x, test_y, parameters) == 0.80


@pytest.mark.slow
def test_L_layer_model_scaled_init_vanishes(cat_data):
    """randn * 0.01 in a deep network: the signal and the gradients vanish, the network only
    learns the cat frequency (cost -> its entropy, 0.644) and calls every image non-cat."""
    train_x, train_y, test_x, test_y = cat_data
    parameters, costs = tut.L_layer_model(
        train_x,
        train_y,
        [12288, 20, 7, 5, 1],
        learning_rate=0.0075,
        num_iterations=2500,
        init="scaled",
        seed=1,
    )
    assert round(costs[0], 6) == 0.693149
    assert all(abs(cost - 0.644) < 0.001 for cost in costs[-10:])
    cat_rate = train_y.mean()
    entropy = -(cat_rate * np.log(cat_rate) + (1 - cat_rate) * np.log(1 - cat_rate))
    assert abs(costs[-1] - entropy) < 1e-4
    assert not tut.predict(test_x, None, parameters).any()
    assert tut.accuracy(train_x, train_y, parameters) == 137 / 209
    assert tut.accuracy(test_x, test_y, parameters) == 0.34
