"""Saving and loading: the serialization registry (configs in Keras 3's schema), ``.keras`` files
and weight files (:mod:`dendrite.saving.archive`).

Keep this file's imports light: ``dendrite.activations``, ``initializers`` ... import
:mod:`dendrite.saving.serialization` while ``dendrite`` itself is being imported, so a module
imported here must not import ``dendrite.models`` or ``dendrite.layers`` at its top level.
"""

from dendrite.saving.archive import load_model, load_weights, save_model, save_weights
from dendrite.saving.safety import FileFormatError, UnsafeFileError
from dendrite.saving.serialization import (
    custom_object_scope,
    deserialize_keras_object,
    get_registered_name,
    get_registered_object,
    register_serializable,
    serialize,
)

serialize_keras_object = serialize

__all__ = ["FileFormatError", "UnsafeFileError", "custom_object_scope", "deserialize_keras_object",
           "get_registered_name", "get_registered_object", "load_model", "load_weights",
           "register_serializable", "save_model", "save_weights", "serialize_keras_object"]
