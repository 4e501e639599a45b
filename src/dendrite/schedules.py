"""Learning-rate schedules with Keras's names and formulas (``keras.optimizers.schedules``).

A schedule is a callable of the optimizer's step count (0 for the first update) returning the
learning rate; pass it as ``learning_rate`` to any optimizer. Also reachable as
``dendrite.optimizers.schedules``.
"""

import math

from dendrite.errors import check_bool, fraction, positive_int, positive_number
from dendrite.saving import serialization


class LearningRateSchedule:
    """Base class: ``schedule(step) -> float``; ``get_config`` holds the constructor arguments."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _positive(owner, name, value):
    return positive_number(owner, name, value)


class ExponentialDecay(LearningRateSchedule):
    """lr(step) = initial_learning_rate * decay_rate ** (step / decay_steps).

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive int; the rate is multiplied by ``decay_rate`` every this many steps.
        decay_rate: positive float.
        staircase: use the integer part of step / decay_steps. Default False.

    Example:
        >>> ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)(20)
        0.025
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self.initial_learning_rate = _positive("ExponentialDecay", "initial_learning_rate",
                                               initial_learning_rate)
        self.decay_steps = positive_int("ExponentialDecay", "decay_steps", decay_steps)
        self.decay_rate = _positive("ExponentialDecay", "decay_rate", decay_rate)
        self.staircase = check_bool(type(self).__name__, "staircase", staircase)
        self.name = name

    def __call__(self, step):
        progress = step / self.decay_steps
        if self.staircase:
            progress = math.floor(progress)
        return self.initial_learning_rate * self.decay_rate**progress

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(ExponentialDecay):
    """lr(step) = initial_learning_rate / (1 + decay_rate * step / decay_steps).

    Args: as :class:`ExponentialDecay`.
    """

    def __call__(self, step):
        progress = step / self.decay_steps
        if self.staircase:
            progress = math.floor(progress)
        return self.initial_learning_rate / (1 + self.decay_rate * progress)


class CosineDecay(LearningRateSchedule):
    """lr(step) = initial_learning_rate * ((1 - alpha) * (1 + cos(pi * s / decay_steps)) / 2
    + alpha) with s = min(step, decay_steps).

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive int; the step at which the rate reaches alpha * initial.
        alpha: the final fraction of the initial rate. Default 0.0.

    Example:
        >>> [round(CosineDecay(0.001, 100)(step), 6) for step in (0, 50, 100, 150)]
        [0.001, 0.0005, 0.0, 0.0]
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None):
        self.initial_learning_rate = _positive("CosineDecay", "initial_learning_rate",
                                               initial_learning_rate)
        self.decay_steps = positive_int("CosineDecay", "decay_steps", decay_steps)
        self.alpha = fraction("CosineDecay", "alpha", alpha, closed_right=True)
        self.name = name

    def __call__(self, step):
        progress = min(step, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name}


_CLASSES = {cls.__name__: cls for cls in (ExponentialDecay, InverseTimeDecay, CosineDecay)}


serialization.register_builtins("schedules", _CLASSES, base=LearningRateSchedule)


def get(config):
    """A schedule from ``{"class_name": ..., "config": {...}}`` (dendrite's or Keras's form) or
    an instance."""
    if isinstance(config, LearningRateSchedule):
        return config
    return serialization.deserialize("schedules", config)


def serialize(schedule):
    """Keras's form (``{"module": "keras.optimizers.schedules", ...}``). Raises ValueError for a
    plain function or an unregistered class, which a config cannot name."""
    return serialization.serialize(schedule)
