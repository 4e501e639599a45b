"""Learning-rate schedules: Keras's formulas, validation, and use by optimizers."""

import math

import numpy as np
import pytest

from dendrite import optimizers
from dendrite.optimizers import schedules
from dendrite.variables import Variable


@pytest.mark.parametrize("step", [0, 1, 7, 10, 25])
def test_formulas(step):
    assert schedules.ExponentialDecay(0.1, 10, 0.5)(step) == pytest.approx(0.1 * 0.5 ** (step / 10))
    assert schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)(step) == pytest.approx(
        0.1 * 0.5 ** (step // 10))
    assert schedules.InverseTimeDecay(0.1, 10, 0.5)(step) == pytest.approx(
        0.1 / (1 + 0.5 * step / 10))
    capped = min(step, 10) / 10
    assert schedules.CosineDecay(0.1, 10, alpha=0.2)(step) == pytest.approx(
        0.1 * (0.8 * 0.5 * (1 + math.cos(math.pi * capped)) + 0.2))


def test_optimizer_uses_the_rate_of_the_current_step():
    variable = Variable("w", np.zeros(1))
    sgd = optimizers.SGD(learning_rate=schedules.ExponentialDecay(1.0, 1, 0.5))
    for _ in range(3):
        sgd.apply_gradients([(np.ones(1), variable)])
    assert variable.value[0] == pytest.approx(-(1.0 + 0.5 + 0.25))  # steps 0, 1, 2
    assert sgd.learning_rate == pytest.approx(0.125)


def test_schedule_survives_the_optimizer_config():
    adam = optimizers.Adam(learning_rate=schedules.CosineDecay(0.01, 100, alpha=0.1))
    config = optimizers.serialize(adam)
    rebuilt = optimizers.get(config)
    assert isinstance(rebuilt._learning_rate, schedules.CosineDecay)
    assert rebuilt._learning_rate.get_config() == adam._learning_rate.get_config()


@pytest.mark.parametrize("make, message", [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "decay_steps must be a positive integer"),
    (lambda: schedules.ExponentialDecay(-0.1, 10, 0.5), "initial_learning_rate must be a positive"),
    (lambda: schedules.CosineDecay(0.1, 10, alpha=1.5), r"alpha must be a float in \[0, 1\]"),
])
def test_bad_arguments_name_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()
