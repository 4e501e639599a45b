"""Spatial dropout: drops whole feature maps instead of single activations."""

from dendrite.kernels import dropout_mask
from dendrite.layers.conv import check_image_shape, normalize_data_format
from dendrite.layers.core import _NoiseLayer


class SpatialDropout2D(_NoiseLayer):
    """Inverted dropout of entire channels: in training y[n, i, j, c] = x[n, i, j, c] * mask[n, c],
    mask[n, c] = 0 with probability ``rate``, else 1 / (1 - rate). Identity at inference.

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels barely
    regularizes a convolution; dropping the whole map does (Tompson et al., 2015).

    Args:
        rate: float in [0, 1), the fraction of channels dropped.
        seed: int or None (default), seeds this layer's generator.
        data_format: ``"channels_last"`` (default, for None) or ``"channels_first"``.
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  (batch, height, width, channels) (or channels first).
    Output shape: same as input.

    Example:
        >>> SpatialDropout2D(0.2).compute_output_shape((None, 26, 26, 32))
        (None, 26, 26, 32)
    """

    def __init__(self, rate, seed=None, data_format=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = normalize_data_format(self, data_format)

    def forward(self, x, training=False):
        check_image_shape(self, x.shape, 2, self.data_format)
        return super().forward(x, training=training)

    def sample_noise(self, shape, dtype, rng):
        if self.data_format == "channels_last":
            noise_shape = (shape[0], 1, 1, shape[3])
        else:
            noise_shape = (shape[0], shape[1], 1, 1)
        return dropout_mask(rng, noise_shape, self.rate, dtype)

    def compute_output_shape(self, input_shape):
        check_image_shape(self, input_shape, 2, self.data_format)
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
