"""Global settings, with Keras's names: ``floatx``, ``set_floatx``, ``epsilon``, ``set_epsilon``;
the device backend: ``backend`` / ``set_backend`` / ``backend_scope`` ("numpy" or "cupy", see
:mod:`dendrite.backend`); and the BLAS threads of training and inference: ``set_num_threads`` /
``get_num_threads`` (None, the default, lets :mod:`dendrite.threads` choose by measurement)."""

from dendrite.backend import (
    backend,
    backend_scope,
    epsilon,
    floatx,
    set_backend,
    set_epsilon,
    set_floatx,
)
from dendrite.threads import get_num_threads, set_num_threads


def image_data_format():
    """Always ``"channels_last"``: layers default to (batch, height, width, channels)."""
    return "channels_last"


__all__ = ["backend", "backend_scope", "epsilon", "floatx", "get_num_threads", "image_data_format",
           "set_backend", "set_epsilon", "set_floatx", "set_num_threads"]
