"""Pooling and image-resizing layers: max, average and sum pooling, global pooling, zero padding
and nearest-neighbour up-sampling. All 2-D, channels last by default."""

from dendrite.backend import get_array_module
from dendrite.conv_kernels import PADDINGS, crop2d, output_length, pad2d, padding_amounts
from dendrite.errors import check_bool, shape_error
from dendrite.layers.base import Layer
from dendrite.layers.conv import (
    check_image_shape,
    format_image_shape,
    from_channels_last,
    normalize_choice,
    normalize_data_format,
    normalize_tuple,
    split_image_shape,
    to_channels_last,
)
from dendrite.pooling_kernels import (
    max_pool2d_backward,
    max_pool2d_forward,
    sum_pool2d_backward,
    sum_pool2d_forward,
    window_counts,
)


def _image_output_shape(input_shape, spatial, data_format):
    channels = split_image_shape(input_shape, data_format)[1]
    if data_format == "channels_last":
        return (input_shape[0], *spatial, channels)
    return (input_shape[0], channels, *spatial)


class _Pooling2D(Layer):
    """Shared code of the windowed pooling layers; subclasses write ``_pool`` and ``_unpool``.

    Output size along each spatial axis, with n the input size, p the pool size, s the stride:
    ``"valid"``: out = floor((n - p) / s) + 1; ``"same"``: out = ceil(n / s), with the padding of
    :class:`~dendrite.layers.conv.Conv2D`.
    """

    cache_attributes = ("_x_shape", "_pads")

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.pool_size = normalize_tuple(self, "pool_size", pool_size, 2)
        self.strides = (self.pool_size if strides is None
                        else normalize_tuple(self, "strides", strides, 2))
        self.padding = normalize_choice(self, "padding", padding, PADDINGS)
        self.data_format = normalize_data_format(self, data_format)

    def _geometry(self, input_shape):
        check_image_shape(self, input_shape, 2, self.data_format)
        spatial, channels = split_image_shape(input_shape, self.data_format)
        pads, out = [], []
        for n, p, s in zip(spatial, self.pool_size, self.strides):
            pad = (0, 0) if n is None else padding_amounts(n, p, s, self.padding)
            pads.append(pad)
            out.append(output_length(n, p, s, pad))
        if any(o is not None and o < 1 for o in out):
            names = [f"{name} >= {p}" for name, p in zip(("height", "width"), self.pool_size)]
            raise shape_error(self, f"{format_image_shape(names, channels, self.data_format)} "
                                    f"for pool_size={self.pool_size}, padding={self.padding!r}",
                              tuple(input_shape))
        return tuple(pads), tuple(out)

    def forward(self, x, training=False):
        pads, _ = self._geometry(x.shape)
        x = to_channels_last(x, self.data_format)
        self._x_shape, self._pads = x.shape, pads
        return from_channels_last(self._pool(x, pads, training), self.data_format)

    def backward(self, dy):
        dx = self._unpool(to_channels_last(dy, self.data_format))
        return from_channels_last(dx, self.data_format)

    def compute_output_shape(self, input_shape):
        _, out = self._geometry(input_shape)
        return _image_output_shape(input_shape, out, self.data_format)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding,
                "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """Max pooling: y[n, i, j, c] = max over the window at (i*sh, j*sw) of x_pad[n, ., ., c].

    ``"same"`` padding never wins a window (it is -inf). The gradient of each window goes to one
    input: its first maximum in row-major window order (PyTorch's rule); where windows overlap,
    an input receives the sum over the windows it wins.

    Args:
        pool_size: int or (ph, pw), the window. Default (2, 2).
        strides: int, (sh, sw), or None (default) for ``pool_size``.
        padding: ``"valid"`` (default) or ``"same"``.
        data_format: ``"channels_last"`` (default, for None) or ``"channels_first"``.
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  (batch, height, width, channels) (or channels first).
    Output shape: (batch, out_height, out_width, channels), along each axis
        ``"valid"``: out = floor((n - p) / s) + 1; ``"same"``: out = ceil(n / s).

    Example:
        >>> MaxPooling2D(2).compute_output_shape((None, 26, 26, 32))
        (None, 13, 13, 32)
        >>> MaxPooling2D(3, strides=2, padding="same").compute_output_shape((8, 11, 10, 4))
        (8, 6, 5, 4)
    """

    cache_attributes = ("_x_shape", "_pads", "_x_padded", "_y", "_argmax")

    def _pool(self, x, pads, training):
        # in training, windows that tile the image keep a record of their winners for backward
        y, self._x_padded, self._argmax = max_pool2d_forward(
            x, self.pool_size, self.strides, pads, argmax=training)
        self._y = y
        return y

    def _unpool(self, dy):
        return max_pool2d_backward(dy, self._x_padded, self._y, self.pool_size, self.strides,
                                   self._pads, self._argmax)


class SumPooling2D(_Pooling2D):
    """Sum pooling: y[n, i, j, c] = sum over the window at (i*sh, j*sw) of x[n, ., ., c].

    ``"same"`` padding adds zeros, so a window sums the real inputs it covers.

    Args:
        pool_size, strides, padding, data_format, **kwargs: as :class:`MaxPooling2D`.

    Input shape:  (batch, height, width, channels) (or channels first).
    Output shape: as :class:`MaxPooling2D`.

    Example:
        >>> SumPooling2D((2, 3)).compute_output_shape((None, 6, 7, 2))
        (None, 3, 2, 2)
    """

    def _divisor(self, x_shape, pads, xp, dtype):
        return None

    def _pool(self, x, pads, training):
        y = sum_pool2d_forward(x, self.pool_size, self.strides, pads)
        divisor = self._divisor(x.shape, pads, get_array_module(x), x.dtype)
        if divisor is not None:
            y /= divisor
        return y

    def _unpool(self, dy):
        divisor = self._divisor(self._x_shape, self._pads, get_array_module(dy), dy.dtype)
        if divisor is not None:
            dy = dy / divisor
        return sum_pool2d_backward(dy, self._x_shape, self.pool_size, self.strides, self._pads)


class AveragePooling2D(SumPooling2D):
    """Average pooling: y[n, i, j, c] = mean over the window at (i*sh, j*sw) of x[n, ., ., c].

    With ``"same"`` padding each window averages only the real inputs it covers (Keras's rule;
    PyTorch's ``count_include_pad=False``).

    Args:
        pool_size, strides, padding, data_format, **kwargs: as :class:`MaxPooling2D`.

    Input shape:  (batch, height, width, channels) (or channels first).
    Output shape: as :class:`MaxPooling2D`.

    Example:
        >>> AveragePooling2D(2, padding="same").compute_output_shape((None, 5, 5, 3))
        (None, 3, 3, 3)
    """

    def _divisor(self, x_shape, pads, xp, dtype):
        if any(sum(p) for p in pads):
            return window_counts(x_shape, self.pool_size, self.strides, pads, xp, dtype)
        return self.pool_size[0] * self.pool_size[1]


class _GlobalPooling2D(Layer):
    """Shared code of the global pooling layers: reduce height and width."""

    cache_attributes = ("_x_shape",)

    def __init__(self, keepdims=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = check_bool(self, "keepdims", keepdims)
        self.data_format = normalize_data_format(self, data_format)

    def forward(self, x, training=False):
        check_image_shape(self, x.shape, 2, self.data_format)
        x = to_channels_last(x, self.data_format)
        self._x_shape = x.shape
        return self._output_layout(self._pool(x))

    def backward(self, dy):
        n, _, _, c = self._x_shape
        dy = to_channels_last(dy, self.data_format) if self.keepdims else dy
        return from_channels_last(self._unpool(dy.reshape(n, c)), self.data_format)

    def _output_layout(self, y):
        """(N, C) from ``_pool`` as (N, C), (N, 1, 1, C) or (N, C, 1, 1)."""
        if not self.keepdims:
            return y
        return from_channels_last(y[:, None, None, :], self.data_format)

    def compute_output_shape(self, input_shape):
        check_image_shape(self, input_shape, 2, self.data_format)
        channels = split_image_shape(input_shape, self.data_format)[1]
        if not self.keepdims:
            return (input_shape[0], channels)
        return _image_output_shape(input_shape, (1, 1), self.data_format)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims,
                "data_format": self.data_format}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """y[n, c] = mean over (i, j) of x[n, i, j, c].

    Args:
        keepdims: keep the spatial axes with size 1. Default False.
        data_format: ``"channels_last"`` (default, for None) or ``"channels_first"``.
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  (batch, height, width, channels) (or channels first).
    Output shape: (batch, channels); with keepdims (batch, 1, 1, channels) (or channels first).

    Example:
        >>> GlobalAveragePooling2D().compute_output_shape((None, 7, 7, 64))
        (None, 64)
    """

    def _pool(self, x):
        return x.mean(axis=(1, 2))

    def _unpool(self, dy):
        # dX[n, i, j, c] = dy[n, c] / (height * width)
        xp = get_array_module(dy)
        _n, h, w, _c = self._x_shape
        dx = xp.empty(self._x_shape, dtype=dy.dtype)
        dx[...] = (dy / (h * w))[:, None, None, :]
        return dx


class GlobalMaxPooling2D(_GlobalPooling2D):
    """y[n, c] = max over (i, j) of x[n, i, j, c]; the gradient goes to the first maximum.

    Args:
        keepdims, data_format, **kwargs: as :class:`GlobalAveragePooling2D`.

    Input shape:  (batch, height, width, channels) (or channels first).
    Output shape: as :class:`GlobalAveragePooling2D`.

    Example:
        >>> GlobalMaxPooling2D(keepdims=True).compute_output_shape((None, 7, 7, 64))
        (None, 1, 1, 64)
    """

    cache_attributes = ("_x_shape", "_argmax")

    def _pool(self, x):
        n, h, w, c = x.shape
        flat = x.reshape(n, h * w, c)
        self._argmax = flat.argmax(axis=1)  # first maximum of each (n, c)
        return flat.max(axis=1)

    def _unpool(self, dy):
        xp = get_array_module(dy)
        _n, h, w, _c = self._x_shape
        one_hot = xp.arange(h * w)[None, :, None] == self._argmax[:, None, :]
        return (one_hot * dy[:, None, :]).reshape(self._x_shape)


class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around each image.

    Args:
        padding: int (same on all four sides), (symmetric_height, symmetric_width), or
            ((top, bottom), (left, right)); non-negative ints. Default (1, 1).
        data_format: ``"channels_last"`` (default, for None) or ``"channels_first"``.
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  (batch, height, width, channels) (or channels first).
    Output shape: (batch, height + top + bottom, width + left + right, channels).

    Example:
        >>> ZeroPadding2D(((1, 2), (0, 3))).compute_output_shape((None, 28, 28, 1))
        (None, 31, 31, 1)
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, (list, tuple)) and len(padding) == 2 and all(
                isinstance(p, (list, tuple)) for p in padding):
            pads = tuple(normalize_tuple(self, "padding", p, 2, minimum=0) for p in padding)
        else:
            pads = tuple((p, p) for p in normalize_tuple(self, "padding", padding, 2, minimum=0))
        self.padding = pads
        self.data_format = normalize_data_format(self, data_format)

    def forward(self, x, training=False):
        check_image_shape(self, x.shape, 2, self.data_format)
        x = to_channels_last(x, self.data_format)
        return from_channels_last(pad2d(x, self.padding), self.data_format)

    def backward(self, dy):
        dy = to_channels_last(dy, self.data_format)
        return from_channels_last(crop2d(dy, self.padding), self.data_format)

    def compute_output_shape(self, input_shape):
        check_image_shape(self, input_shape, 2, self.data_format)
        spatial, _ = split_image_shape(input_shape, self.data_format)
        out = [None if n is None else n + sum(p) for n, p in zip(spatial, self.padding)]
        return _image_output_shape(input_shape, out, self.data_format)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding],
                "data_format": self.data_format}


class UpSampling2D(Layer):
    """Nearest-neighbour up-sampling: y[n, i, j, c] = x[n, i // size_h, j // size_w, c].

    The gradient of an input pixel is the sum of dy over its size_h x size_w block.

    Args:
        size: int or (size_h, size_w), positive repeat factors. Default (2, 2).
        data_format: ``"channels_last"`` (default, for None) or ``"channels_first"``.
        interpolation: ``"nearest"``, the only mode implemented. Default "nearest".
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  (batch, height, width, channels) (or channels first).
    Output shape: (batch, height * size_h, width * size_w, channels).

    Example:
        >>> UpSampling2D((2, 3)).compute_output_shape((None, 7, 7, 16))
        (None, 14, 21, 16)
    """

    cache_attributes = ("_x_shape",)

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = normalize_tuple(self, "size", size, 2)
        self.data_format = normalize_data_format(self, data_format)
        self.interpolation = normalize_choice(self, "interpolation", interpolation, ("nearest",))

    def forward(self, x, training=False):
        check_image_shape(self, x.shape, 2, self.data_format)
        xp = get_array_module(x)
        x = to_channels_last(x, self.data_format)
        n, h, w, c = self._x_shape = x.shape
        sh, sw = self.size
        blocks = xp.broadcast_to(x[:, :, None, :, None, :], (n, h, sh, w, sw, c))
        return from_channels_last(blocks.reshape(n, h * sh, w * sw, c), self.data_format)

    def backward(self, dy):
        n, h, w, c = self._x_shape
        sh, sw = self.size
        dy = to_channels_last(dy, self.data_format).reshape(n, h, sh, w, sw, c)
        return from_channels_last(dy.sum(axis=(2, 4)), self.data_format)

    def compute_output_shape(self, input_shape):
        check_image_shape(self, input_shape, 2, self.data_format)
        spatial, _ = split_image_shape(input_shape, self.data_format)
        out = [None if n is None else n * s for n, s in zip(spatial, self.size)]
        return _image_output_shape(input_shape, out, self.data_format)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size),
                "data_format": self.data_format, "interpolation": self.interpolation}
