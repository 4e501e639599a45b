"""Layers with explicit forward and backward passes (Keras names and defaults)."""

from dendrite.layers.base import Input, InputLayer, Layer
from dendrite.layers.core import (
                                  ELU,
                                  Activation,
                                  Dense,
                                  Dropout,
                                  Flatten,
                                  GaussianDropout,
                                  LeakyReLU,
                                  ReLU,
                                  Reshape,
                                  Softmax,
)

__all__ = ["ELU", "Activation", "Dense", "Dropout", "Flatten", "GaussianDropout", "Input",
           "InputLayer", "Layer", "LeakyReLU", "ReLU", "Reshape", "Softmax"]

from dendrite.layers.conv import Conv1D, Conv2D
from dendrite.layers.dropout_spatial import SpatialDropout2D
from dendrite.layers.normalization import BatchNormalization
from dendrite.layers.pooling import (
    AveragePooling2D,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling2D,
    SumPooling2D,
    UpSampling2D,
    ZeroPadding2D,
)

__all__ += ["AveragePooling2D", "BatchNormalization", "Conv1D", "Conv2D", "GlobalAveragePooling2D",
            "GlobalMaxPooling2D", "MaxPooling2D", "SpatialDropout2D", "SumPooling2D",
            "UpSampling2D", "ZeroPadding2D"]

from dendrite.layers.merge import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)

__all__ += ["Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract",
            "add", "average", "concatenate", "dot", "maximum", "minimum", "multiply", "subtract"]

from dendrite.layers.embedding import Embedding, Masking
from dendrite.layers.normalization import LayerNormalization
from dendrite.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed

__all__ += ["GRU", "LSTM", "Bidirectional", "Embedding", "LayerNormalization", "Masking",
            "SimpleRNN", "TimeDistributed"]


def serialize(layer):
    """A layer (or model) in Keras 3's serialized form; see :mod:`dendrite.saving.serialization`."""
    from dendrite.saving import serialization

    return serialization.serialize(layer)


def deserialize(config):
    """A new layer (or model) from :func:`serialize`'s output or Keras's; classes come only from
    dendrite's registry (built-ins and ``register_serializable`` classes)."""
    from dendrite.saving import serialization

    return serialization.deserialize_layer(config)
