"""Models: the functional ``Model`` and ``Sequential``, both run by :mod:`dendrite.graph`."""

from dendrite.models.model import Model
from dendrite.models.sequential import Sequential

__all__ = ["Model", "Sequential"]
