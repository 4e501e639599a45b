"""Saving and loading: the serialization registry (configs in Keras 3's schema).

Keep this file's imports light: ``dendrite.activations``, ``initializers`` ... import
:mod:`dendrite.saving.serialization` while ``dendrite`` itself is being imported, so a module
imported here must not import ``dendrite.models`` or ``dendrite.layers`` at its top level.
"""

from dendrite.saving.serialization import (
    deserialize_keras_object,
    get_registered_name,
    get_registered_object,
    register_serializable,
    serialize,
)

serialize_keras_object = serialize

__all__ = ["deserialize_keras_object", "get_registered_name", "get_registered_object",
           "register_serializable", "serialize_keras_object"]
