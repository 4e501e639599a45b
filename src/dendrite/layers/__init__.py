"""Layers with explicit forward and backward passes (Keras names and defaults)."""

from dendrite.layers.base import Input, InputLayer, Layer
from dendrite.layers.core import (ELU, Activation, Dense, Dropout, Flatten, GaussianDropout,
                                  LeakyReLU, ReLU, Reshape, Softmax)

__all__ = ["ELU", "Activation", "Dense", "Dropout", "Flatten", "GaussianDropout", "Input",
           "InputLayer", "Layer", "LeakyReLU", "ReLU", "Reshape", "Softmax"]
