"""dendrite: deep learning from first principles on NumPy.

Every layer writes its forward and backward pass explicitly; the API follows Keras, so Keras code
runs with ``import dendrite as keras``.
"""

from dendrite import (
    activations,
    backend,
    callbacks,
    config,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    regularizers,
    testing,
    utils,
)
from dendrite.layers import Input
from dendrite.models import Model, Sequential

__version__ = "0.1.0"

_LAZY_SUBMODULES = ("plotting", "tutorial")


def __getattr__(name):
    """``dendrite.plotting`` and ``dendrite.tutorial`` load on first use (matplotlib stays
    unimported until a plot is asked for)."""
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"dendrite.{name}")
    raise AttributeError(f"module 'dendrite' has no attribute {name!r}")

__all__ = ["Input", "Model", "Sequential", "activations", "backend", "callbacks", "config",
           "datasets", "initializers", "layers", "losses", "metrics", "models", "ops", "optimizers",
           "plotting", "regularizers", "testing", "tutorial", "utils"]
