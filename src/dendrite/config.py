"""Global settings, with Keras's names: ``floatx``, ``set_floatx``, ``epsilon``, ``set_epsilon``."""

from dendrite.backend import epsilon, floatx, set_epsilon, set_floatx


def image_data_format():
    """Always ``"channels_last"``: layers default to (batch, height, width, channels)."""
    return "channels_last"


__all__ = ["epsilon", "floatx", "image_data_format", "set_epsilon", "set_floatx"]
