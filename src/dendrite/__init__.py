"""dendrite: deep learning from first principles on NumPy.

Every layer writes its forward and backward pass explicitly; the API follows Keras, so Keras code
runs with ``import dendrite as keras``.
"""

from dendrite import (activations, backend, callbacks, config, datasets, initializers, layers,
                      losses, metrics, models, optimizers, regularizers, testing, utils)
from dendrite.layers import Input
from dendrite.models import Model, Sequential

__version__ = "0.1.0"

__all__ = ["Input", "Model", "Sequential", "activations", "backend", "callbacks", "config",
           "datasets", "initializers", "layers", "losses", "metrics", "models", "optimizers",
           "regularizers", "testing", "utils"]
