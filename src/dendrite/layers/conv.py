"""Convolution layers: Conv2D and Conv1D (a Conv2D over an image of height 1).

Also the helpers the other image layers (pooling, spatial dropout) share: argument normalization,
channels-first/last conversion and the input-shape check.
"""

from dendrite import config
from dendrite.conv_kernels import (
    PADDINGS,
    conv2d_backward,
    conv2d_forward,
    output_length,
    padding_amounts,
)
from dendrite.errors import arg_error, is_integer, positive_int, shape_error
from dendrite.layers.core import KernelLayer

DATA_FORMATS = ("channels_last", "channels_first")


# ---------------------------------------------------------------------------- shared helpers


def normalize_tuple(owner, argument, value, rank, minimum=1):
    """``value`` (an int or ``rank`` ints, each >= ``minimum``) as a tuple of ``rank`` ints."""
    items = (value,) * rank if is_integer(value) else value
    try:
        items = tuple(items)
    except TypeError:
        items = ()
    if len(items) != rank or any(not is_integer(v) or v < minimum for v in items):
        kind = "positive" if minimum == 1 else "non-negative"
        expected = f"a {kind} int" + (f" or a tuple of {rank} {kind} ints" if rank > 1 else "")
        raise arg_error(owner, argument, expected, value)
    return tuple(int(v) for v in items)


def normalize_choice(owner, argument, value, valid):
    """``value`` lower-cased if it is one of the strings ``valid``; else raise listing them."""
    name = value.lower() if isinstance(value, str) else value
    if name not in valid:
        raise arg_error(owner, argument, f"one of {list(valid)}", value)
    return name


def normalize_data_format(owner, value):
    """``"channels_last"`` (the default, for None) or ``"channels_first"``."""
    if value is None:
        return config.image_data_format()
    return normalize_choice(owner, "data_format", value, DATA_FORMATS)


def to_channels_last(x, data_format):
    """A view of ``x`` with the channels on the last axis."""
    if data_format == "channels_last":
        return x
    return x.transpose(0, *range(2, x.ndim), 1)


def from_channels_last(x, data_format):
    """A view of the channels-last ``x`` in ``data_format``."""
    if data_format == "channels_last":
        return x
    return x.transpose(0, x.ndim - 1, *range(1, x.ndim - 1))


def spatial_names(rank):
    return ("steps",) if rank == 1 else ("height", "width")


def format_image_shape(spatial, channels, data_format):
    """``(batch, height, width, 3)`` or ``(batch, 3, height, width)``."""
    inner = (*spatial, channels) if data_format == "channels_last" else (channels, *spatial)
    return "(batch, " + ", ".join(str(d) for d in inner) + ")"


def split_image_shape(shape, data_format):
    """(spatial sizes, channels) of a batch-first image shape."""
    if data_format == "channels_last":
        return tuple(shape[1:-1]), shape[-1]
    return tuple(shape[2:]), shape[1]


def check_image_shape(owner, shape, rank, data_format, channels=None):
    """Raise a shape error unless ``shape`` has ``rank`` spatial axes (and ``channels``)."""
    shape = tuple(shape)
    if len(shape) == rank + 2:
        _, received = split_image_shape(shape, data_format)
        if channels is None or received is None or received == channels:
            return
    expected = "channels" if channels is None else channels
    raise shape_error(owner, format_image_shape(spatial_names(rank), expected, data_format), shape)


# ---------------------------------------------------------------------------- convolution


class _Conv(KernelLayer):
    """Shared code of Conv1D and Conv2D; ``rank`` spatial axes, computed by the 2-D kernels."""

    rank = 2
    paddings = PADDINGS
    cache_attributes = ("_cols", "_x_shape", "_pads", "_z", "_y")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, **kwargs)
        self.filters = positive_int(self, "filters", filters)
        self.kernel_size = normalize_tuple(self, "kernel_size", kernel_size, self.rank)
        self.strides = normalize_tuple(self, "strides", strides, self.rank)
        self.padding = normalize_choice(self, "padding", padding, self.paddings)
        self.data_format = normalize_data_format(self, data_format)
        self.dilation_rate = normalize_tuple(self, "dilation_rate", dilation_rate, self.rank)

    # ------------------------------------------------------------ geometry

    def _geometry(self, spatial):
        """Padding and output size of each spatial axis; raise if the kernel does not fit."""
        pads, out = [], []
        for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate):
            pad = (0, 0) if n is None else padding_amounts(n, k, s, self.padding, d)
            pads.append(pad)
            out.append(output_length(n, k, s, pad, d))
        return tuple(pads), tuple(out)

    def _check_shape(self, shape):
        channels = self.kernel.shape[-2] if self.built else None
        check_image_shape(self, shape, self.rank, self.data_format, channels)
        spatial, channels = split_image_shape(shape, self.data_format)
        pads, out = self._geometry(spatial)
        if any(o is not None and o < 1 for o in out):
            extent = [d * (k - 1) + 1 - sum(p)
                      for k, d, p in zip(self.kernel_size, self.dilation_rate, pads)]
            names = [f"{name} >= {e}" for name, e in zip(spatial_names(self.rank), extent)]
            raise shape_error(
                self,
                f"{format_image_shape(names, channels, self.data_format)} for "
                f"kernel_size={self.kernel_size}, dilation_rate={self.dilation_rate}, "
                f"padding={self.padding!r}",
                tuple(shape),
            )
        return pads, out

    def _as_2d(self, values, fill):
        """A per-axis tuple extended to two axes (height 1 for Conv1D)."""
        return tuple(values) if self.rank == 2 else (fill, *values)

    # ------------------------------------------------------------ the contract

    def build(self, input_shape):
        check_image_shape(self, input_shape, self.rank, self.data_format)
        _, channels = split_image_shape(input_shape, self.data_format)
        if channels is None:
            raise shape_error(self, format_image_shape(spatial_names(self.rank),
                                                       "channels (known)", self.data_format),
                              tuple(input_shape))
        self._check_shape(input_shape)
        self.add_kernel_and_bias((*self.kernel_size, channels, self.filters), self.filters)

    def forward(self, x, training=False):
        pads, _ = self._check_shape(x.shape)
        x = to_channels_last(x, self.data_format)
        if self.rank == 1:
            x = x[:, None]
        kernel = self.kernel.value if self.rank == 2 else self.kernel.value[None]
        z, self._cols = conv2d_forward(x, kernel, self.bias_value, self._as_2d(self.strides, 1),
                                       self._as_2d(pads, (0, 0)),
                                       self._as_2d(self.dilation_rate, 1))
        self._x_shape, self._pads = x.shape, pads
        return self._output_layout(self.activate(z))

    def backward(self, dy, need_dx=True, logit_grad=None):
        dy, logit_grad = (None if g is None else self._as_kernel_layout(g)
                          for g in (dy, logit_grad))
        dz = self.pre_activation_gradient(dy, logit_grad)
        rank2 = self.rank == 2
        dx = conv2d_backward(
            dz, self._cols, self.kernel.value if rank2 else self.kernel.value[None],
            self._x_shape, self._as_2d(self.strides, 1), self._as_2d(self._pads, (0, 0)),
            self._as_2d(self.dilation_rate, 1),
            dw=self.kernel.grad if rank2 else self.kernel.grad[None],
            db=self.bias_grad,
            need_dx=need_dx,
        )
        return None if dx is None else self._output_layout(dx)

    def _as_kernel_layout(self, dy):
        """A gradient in this layer's layout as the 2-D kernels' (N, h, w, c)."""
        dy = to_channels_last(dy, self.data_format)
        return dy[:, None] if self.rank == 1 else dy

    def _output_layout(self, y):
        """A (N, h, w, c) array from the 2-D kernels as this layer's layout."""
        return from_channels_last(y if self.rank == 2 else y[:, 0], self.data_format)

    def compute_output_shape(self, input_shape):
        _, out = self._check_shape(input_shape)
        if self.data_format == "channels_last":
            return (input_shape[0], *out, self.filters)
        return (input_shape[0], self.filters, *out)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate)}


class Conv2D(_Conv):
    """2-D convolution (cross-correlation, as in Keras and PyTorch) over images.

        y[n, i, j, f] = activation(bias[f] + sum over (a, b, c) of
                        x_pad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, f])

    computed as one matrix product of the im2col matrix (every receptive field as a row) with the
    kernel reshaped to (kh*kw*in_channels, filters); see :mod:`dendrite.conv_kernels`.

    Args:
        filters: positive int, number of output channels.
        kernel_size: int or (kh, kw), the window's height and width.
        strides: int or (sh, sw). Default (1, 1).
        padding: ``"valid"`` (no padding, default) or ``"same"`` (Keras/TensorFlow rule: along
            each axis total = max((ceil(n/s) - 1)*s + d*(k - 1) + 1 - n, 0), split as
            before = total // 2, after = total - before; the extra element goes after).
        data_format: ``"channels_last"`` (default, for None) or ``"channels_first"``.
        dilation_rate: int or (dh, dw), spacing between kernel taps. Default (1, 1).
        activation: name or Activation; None means identity. Default None.
        use_bias: add a learned bias per filter. Default True.
        kernel_initializer: name or Initializer. Default "glorot_uniform".
        bias_initializer: name or Initializer. Default "zeros".
        kernel_regularizer, bias_regularizer: name or Regularizer, or None (default).
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  (batch, height, width, in_channels), or (batch, in_channels, height, width)
        with ``data_format="channels_first"``.
    Output shape: (batch, out_height, out_width, filters) (or channels first), where along each
        spatial axis, with n the input size, k the kernel size, s the stride, d the dilation:
        ``"valid"``: out = floor((n - d*(k - 1) - 1) / s) + 1; ``"same"``: out = ceil(n / s).

    Attributes:
        kernel: Variable (kh, kw, in_channels, filters). bias: Variable (filters,) or None.

    Example:
        >>> Conv2D(32, 3).compute_output_shape((None, 28, 28, 1))
        (None, 26, 26, 32)
        >>> Conv2D(8, (3, 5), strides=2, padding="same").compute_output_shape((4, 28, 27, 3))
        (4, 14, 14, 8)
    """


class Conv1D(_Conv):
    """1-D convolution over sequences, run as a :class:`Conv2D` on an image of height 1.

        y[n, t, f] = activation(bias[f] + sum over (a, c) of
                     x_pad[n, t*s + a*d, c] * kernel[a, c, f])

    Args:
        filters: positive int, number of output channels.
        kernel_size: int (or a 1-tuple), the window's length.
        strides: int. Default 1.
        padding: ``"valid"`` (default), ``"same"`` (as :class:`Conv2D`) or ``"causal"`` (d*(k - 1)
            zeros before the sequence, none after, so y[t] never reads x beyond t).
        data_format: ``"channels_last"`` (default, for None) or ``"channels_first"``.
        dilation_rate: int. Default 1.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, **kwargs: as :class:`Conv2D`.

    Input shape:  (batch, steps, in_channels), or (batch, in_channels, steps) channels first.
    Output shape: (batch, out_steps, filters) (or channels first), with ``"valid"``:
        out_steps = floor((steps - d*(k - 1) - 1) / s) + 1; ``"same"`` and ``"causal"``:
        out_steps = ceil(steps / s).

    Attributes:
        kernel: Variable (kernel_size, in_channels, filters). bias: Variable (filters,) or None.

    Example:
        >>> Conv1D(16, 5, padding="causal").compute_output_shape((None, 100, 8))
        (None, 100, 16)
    """

    rank = 1
    paddings = (*PADDINGS, "causal")
