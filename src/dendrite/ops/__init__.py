"""``dendrite.ops``: the NumPy-like operations Keras code uses (``keras.ops``).

On arrays an op computes at once; on symbolic tensors (a functional model, or the ``call`` of a
subclassed layer being traced) it records a graph node that the engine differentiates with the op's
own backward. Each family lives in one module (:mod:`~dendrite.ops.elementwise`,
:mod:`~dendrite.ops.reduction`, :mod:`~dendrite.ops.reshaping`, :mod:`~dendrite.ops.linalg`,
:mod:`~dendrite.ops.nn`, :mod:`~dendrite.ops.core`); ``ops.numpy`` and ``ops.nn`` hold the same
names as Keras's.

Example:
    >>> from dendrite import Input, Model, layers, ops
    >>> x = Input(shape=(4,))
    >>> h = layers.Dense(4)(x)
    >>> model = Model(x, ops.relu(h + x) * 2)
    >>> model.output.shape
    (None, 4)
"""

from dendrite.ops import nn as nn
from dendrite.ops import numpy as numpy
from dendrite.ops.core import *
from dendrite.ops.elementwise import *
from dendrite.ops.linalg import *
from dendrite.ops.nn import *
from dendrite.ops.operation import Operation as Operation
from dendrite.ops.operation import ReadVariable as ReadVariable
from dendrite.ops.operation import unbroadcast as unbroadcast
from dendrite.ops.reduction import *
from dendrite.ops.reshaping import *


def _register_for_configs():
    """Name every op class in model configs as ``"dendrite.ops>ClassName"`` (a functional model
    with op nodes round-trips; the names do not collide with the merge layers ``Add`` ...)."""
    import importlib

    from dendrite.saving.serialization import register_serializable

    register = register_serializable(package="dendrite.ops")
    for family in ("core", "elementwise", "linalg", "nn", "reduction", "reshaping"):
        module = importlib.import_module(f"dendrite.ops.{family}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, Operation)
                    and value.__module__ == module.__name__):
                register(value)


_register_for_configs()
