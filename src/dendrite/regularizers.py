"""Weight penalties with Keras's scaling: L1 adds l1 * sum|w|, L2 adds l2 * sum(w^2).

The model adds ``regularizer(w)`` to the reported loss and ``regularizer.gradient(w)`` into
``w.grad`` on every training step.
"""

from dendrite.backend import get_array_module
from dendrite.errors import positive_number
from dendrite.saving import serialization


class Regularizer:
    """Base class: ``__call__(w)`` is the penalty (a float), ``gradient(w)`` its gradient."""

    def __call__(self, w):
        raise NotImplementedError

    def gradient(self, w):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _factor(owner, name, value):
    return positive_number(owner, name, value, allow_zero=True)


class L1L2(Regularizer):
    """penalty = l1 * sum(|w|) + l2 * sum(w^2); gradient = l1 * sign(w) + 2 * l2 * w.

    Args:
        l1: L1 factor. Default 0.0.
        l2: L2 factor. Default 0.0.
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(type(self).__name__, "l1", l1)
        self.l2 = _factor(type(self).__name__, "l2", l2)

    def __call__(self, w):
        xp = get_array_module(w)
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(xp.abs(w).sum())
        if self.l2:
            penalty += self.l2 * float((w * w).sum())
        return penalty

    def gradient(self, w):
        xp = get_array_module(w)
        grad = xp.zeros_like(w)
        if self.l1:
            grad += self.l1 * xp.sign(w)
        if self.l2:
            grad += (2 * self.l2) * w
        return grad

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """penalty = l1 * sum(|w|). Default l1=0.01."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """penalty = l2 * sum(w^2). Default l2=0.01."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


_CLASSES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "L1": L1, "L2": L2, "L1L2": L1L2}


serialization.register_builtins("regularizers", {"L1": L1, "L2": L2, "L1L2": L1L2},
                                names=_CLASSES, base=Regularizer)


def get(identifier):
    """A Regularizer from None, a name (``"l2"``), a config dict or an instance."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, (str, dict)):
        return serialization.deserialize("regularizers", identifier)
    raise ValueError(f"Unknown regularizer {identifier!r}. Valid names: {sorted(_CLASSES)}.")


def serialize(regularizer):
    """Keras's form (``{"module": "keras.regularizers", ...}``); None for None."""
    return serialization.serialize(regularizer)
