"""Models: the functional ``Model`` and ``Sequential``, both run by :mod:`dendrite.graph`."""

from dendrite.models.config import clone_model, model_from_config, model_from_json
from dendrite.models.model import Model
from dendrite.models.sequential import Sequential
from dendrite.saving.archive import load_model, save_model

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_config",
           "model_from_json", "save_model"]
