"""Merge layers: combine a list of tensors into one (Keras's merging layers and their functions).

Element-wise merges (:class:`Add`, :class:`Subtract`, :class:`Multiply`, :class:`Average`,
:class:`Maximum`, :class:`Minimum`) broadcast as Keras does: the batch sizes must be equal; the
other axes are aligned from the right and each pair must be equal or 1; an input with fewer axes
reads as if size-1 axes were inserted right after its batch axis, so (batch, 5) against
(batch, 3, 5) reads as (batch, 1, 5). :class:`Concatenate` needs equal shapes except along its
axis; :class:`Dot` contracts one axis of each of two inputs per example. Every shape error names
the layer and lists every input shape.

``backward(dy)`` returns the list of input gradients, in input order, each shaped like its input;
where an input was broadcast, its gradient is summed over the broadcast axes.
"""

from dendrite import backend
from dendrite.errors import arg_error, check_bool, describe, is_integer
from dendrite.layers.base import Layer

__all__ = ["Add", "Average", "Concatenate", "Dot", "Maximum", "Merge", "Minimum", "Multiply",
           "Subtract", "add", "average", "concatenate", "dot", "maximum", "minimum", "multiply",
           "subtract"]


def _format_shapes(shapes):
    return ", ".join(str(tuple(shape)) for shape in shapes)


class Merge(Layer):
    """Base of the merge layers: a list of ``min_inputs`` (to ``max_inputs``) tensors in, one out.

    Subclasses implement ``output_shape(shapes)`` (validating the shapes), ``merge(inputs)`` and
    ``merge_backward(dy)``. Arguments: the base :class:`~dendrite.layers.base.Layer` ones.
    """

    min_inputs = 2
    max_inputs = None
    supports_masking = True

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # validation only: merge layers have no weights

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, list) or not all(
                isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"{describe(self)}: expected a list of {self._count_wording()} "
                             f"inputs; got a single input of shape {tuple(input_shape)}.")
        shapes = [tuple(s) for s in input_shape]
        self._check_count(shapes)
        return self.output_shape(shapes)

    def forward(self, inputs, training=False):
        if not isinstance(inputs, (list, tuple)):  # ValueError, as Keras and the build path raise
            raise ValueError(f"{describe(self)}: expected a list of {self._count_wording()} "  # noqa: TRY004
                             f"inputs; got a single input of shape {tuple(inputs.shape)}.")
        inputs = list(inputs)
        shapes = [tuple(x.shape) for x in inputs]
        self._check_count(shapes)
        self.output_shape(shapes)
        return self.merge(inputs)

    def backward(self, dy, need_dx=True):
        """The list of input gradients (None when the graph passes ``need_dx=False``)."""
        return self.merge_backward(dy) if need_dx else None

    def _check_count(self, shapes):
        count = len(shapes)
        if count < self.min_inputs or (self.max_inputs is not None and count > self.max_inputs):
            raise ValueError(f"{describe(self)}: expected a list of {self._count_wording()} "
                             f"inputs; got {count} with shapes {_format_shapes(shapes)}.")

    def _count_wording(self):
        if self.max_inputs == self.min_inputs:
            return f"exactly {self.min_inputs}"
        return f"at least {self.min_inputs}"

    def shape_error(self, shapes, rule):
        return ValueError(f"{describe(self)}: {rule}; got input shapes {_format_shapes(shapes)}.")

    def compute_mask(self, inputs, mask=None):
        """The element-wise OR of the inputs' masks; None unless every input has one (Keras)."""
        if mask is None or any(m is None for m in mask):
            return None
        result = mask[0]
        for m in mask[1:]:
            result = result | m
        return result


# ---------------------------------------------------------------------------- element-wise


def _expand(x, rank):
    """Insert size-1 axes after the batch axis up to ``rank`` axes (Keras's rule for lower
    ranks)."""
    missing = rank - x.ndim
    return x if missing <= 0 else x.reshape(x.shape[0], *([1] * missing), *x.shape[1:])


def _reduce_to(grad, shape):
    """Sum ``grad`` over the axes along which an input of ``shape`` was broadcast."""
    if tuple(grad.shape) == tuple(shape):
        return grad
    expanded = (shape[0], *([1] * (grad.ndim - len(shape))), *shape[1:])
    axes = tuple(i for i, (e, g) in enumerate(zip(expanded, grad.shape)) if e == 1 and g != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


class _ElementwiseMerge(Merge):
    """An element-wise merge with Keras's broadcasting (see the module docstring)."""

    cache_attributes = ("_shapes",)

    def output_shape(self, shapes):
        rule = ("expected inputs with equal batch sizes whose other axes broadcast (aligned from "
                "the right, each pair equal or 1)")
        if any(len(s) < 1 for s in shapes):
            raise self.shape_error(shapes, rule)
        batch = {s[0] for s in shapes} - {None}
        if len(batch) > 1:
            raise self.shape_error(shapes, rule)
        rank = max(len(s) for s in shapes)
        output = [batch.pop() if batch else None]
        for axis in range(1, rank):
            dims = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 1]
            known = {d for d in dims if d is not None and d != 1}
            if len(known) > 1:
                raise self.shape_error(shapes, rule)
            output.append(known.pop() if known else (None if None in dims else 1))
        return tuple(output)

    def merge(self, inputs):
        self._shapes = [tuple(x.shape) for x in inputs]
        rank = max(x.ndim for x in inputs)
        return self.combine([_expand(x, rank) for x in inputs])

    def merge_backward(self, dy):
        return [_reduce_to(g, s) for g, s in zip(self.combine_backward(dy), self._shapes)]


class Add(_ElementwiseMerge):
    """Element-wise sum of a list of inputs: y = x_1 + x_2 + ... + x_n.

    Gradient: dx_i = dy (summed over the axes along which x_i was broadcast). Args: the base
    :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  a list of n >= 2 tensors (batch, ...) of one shape, or shapes that broadcast.
    Output shape: the broadcast shape.

    Example:
        >>> import numpy as np
        >>> Add()([np.ones((2, 3)), np.full((2, 3), 2.0)])[0].tolist()
        [3.0, 3.0, 3.0]
    """

    def combine(self, inputs):
        result = inputs[0] + inputs[1]
        for x in inputs[2:]:
            result = result + x
        return result

    def combine_backward(self, dy):
        return [dy] * len(self._shapes)


class Subtract(_ElementwiseMerge):
    """Difference of exactly two inputs: y = x_1 - x_2.

    Gradient: dx_1 = dy, dx_2 = -dy. Args: the base Layer arguments.

    Input shape:  a list of 2 tensors (batch, ...) of one shape, or shapes that broadcast.
    Output shape: the broadcast shape.

    Example:
        >>> import numpy as np
        >>> Subtract()([np.ones((1, 2)), np.full((1, 2), 3.0)]).tolist()
        [[-2.0, -2.0]]
    """

    min_inputs = max_inputs = 2

    def combine(self, inputs):
        return inputs[0] - inputs[1]

    def combine_backward(self, dy):
        return [dy, -dy]


class Multiply(_ElementwiseMerge):
    """Element-wise product of a list of inputs: y = x_1 * x_2 * ... * x_n.

    Gradient: dx_i = dy * prod_{j != i} x_j (from prefix and suffix products, so zeros are exact).
    Args: the base Layer arguments.

    Input shape:  a list of n >= 2 tensors (batch, ...) of one shape, or shapes that broadcast.
    Output shape: the broadcast shape.

    Example:
        >>> import numpy as np
        >>> Multiply()([np.full((1, 2), 2.0), np.full((1, 2), 3.0)]).tolist()
        [[6.0, 6.0]]
    """

    cache_attributes = ("_shapes", "_inputs")

    def combine(self, inputs):
        self._inputs = inputs
        result = inputs[0] * inputs[1]
        for x in inputs[2:]:
            result = result * x
        return result

    def combine_backward(self, dy):
        inputs = self._inputs
        n = len(inputs)
        # prefix[i] = x_0 ... x_{i-1}, suffix[i] = x_{i+1} ... x_{n-1}
        prefix = [None] * n
        for i in range(1, n):
            prefix[i] = inputs[0] if i == 1 else prefix[i - 1] * inputs[i - 1]
        grads, suffix = [None] * n, None
        for i in reversed(range(n)):
            others = prefix[i] if suffix is None else (
                suffix if prefix[i] is None else prefix[i] * suffix)
            grads[i] = dy * others
            suffix = inputs[i] if suffix is None else suffix * inputs[i]
        return grads


class Average(_ElementwiseMerge):
    """Element-wise mean of a list of inputs: y = (x_1 + ... + x_n) / n.

    Gradient: dx_i = dy / n. Args: the base Layer arguments.

    Input shape:  a list of n >= 2 tensors (batch, ...) of one shape, or shapes that broadcast.
    Output shape: the broadcast shape.

    Example:
        >>> import numpy as np
        >>> Average()([np.ones((1, 2)), np.full((1, 2), 3.0)]).tolist()
        [[2.0, 2.0]]
    """

    def combine(self, inputs):
        result = inputs[0] + inputs[1]
        for x in inputs[2:]:
            result = result + x
        result *= 1.0 / len(inputs)
        return result

    def combine_backward(self, dy):
        return [dy * (1.0 / len(self._shapes))] * len(self._shapes)


class _Extremum(_ElementwiseMerge):
    """Element-wise maximum or minimum; the gradient goes to the winning input only.

    On a tie the first of the tied inputs (in list order) wins and takes the whole gradient, as
    TensorFlow's maximum does; PyTorch splits a tie evenly, so the two differ exactly at ties.
    """

    cache_attributes = ("_shapes", "_winner")

    def combine(self, inputs):
        xp = backend.get_array_module(*inputs)
        best, winner = inputs[0], None
        dtype = "int8" if len(inputs) < 128 else "int32"
        for i, x in enumerate(inputs[1:], 1):
            wins = self.beats(x, best)  # strict: ties stay with the earlier input
            winner = wins.astype(dtype) if winner is None else xp.where(wins, winner.dtype.type(i),
                                                                        winner)
            best = xp.where(wins, x, best)
        self._winner = winner
        result = self.reduce(xp, inputs[0], inputs[1])  # NaN propagates, as in Keras
        for x in inputs[2:]:
            result = self.reduce(xp, result, x)
        return result

    def combine_backward(self, dy):
        xp = backend.get_array_module(dy)
        return [xp.where(self._winner == i, dy, 0) for i in range(len(self._shapes))]


class Maximum(_Extremum):
    """Element-wise maximum of a list of inputs: y = max(x_1, ..., x_n).

    Gradient: dy goes to the input holding the maximum; on a tie, to the first of the tied inputs.
    Args: the base Layer arguments.

    Input shape:  a list of n >= 2 tensors (batch, ...) of one shape, or shapes that broadcast.
    Output shape: the broadcast shape.

    Example:
        >>> import numpy as np
        >>> Maximum()([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])]).tolist()
        [[3.0, 5.0]]
    """

    @staticmethod
    def beats(x, best):
        return x > best

    @staticmethod
    def reduce(xp, a, b):
        return xp.maximum(a, b)


class Minimum(_Extremum):
    """Element-wise minimum of a list of inputs: y = min(x_1, ..., x_n).

    Gradient: dy goes to the input holding the minimum; on a tie, to the first of the tied inputs.
    Args: the base Layer arguments.

    Input shape:  a list of n >= 2 tensors (batch, ...) of one shape, or shapes that broadcast.
    Output shape: the broadcast shape.

    Example:
        >>> import numpy as np
        >>> Minimum()([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])]).tolist()
        [[1.0, 2.0]]
    """

    @staticmethod
    def beats(x, best):
        return x < best

    @staticmethod
    def reduce(xp, a, b):
        return xp.minimum(a, b)


# ---------------------------------------------------------------------------- concatenate


class Concatenate(Merge):
    """Concatenates a list of inputs along ``axis``.

    Gradient: dy split along ``axis`` into pieces of the inputs' sizes.

    Args:
        axis: int, the axis to join along (not the batch axis). Default -1.
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  a list of n >= 2 tensors of one rank and equal sizes except along ``axis``.
    Output shape: that shape, with the sum of the inputs' sizes along ``axis``.

    Example:
        >>> Concatenate().compute_output_shape([(None, 3), (None, 4)])
        (None, 7)
    """

    cache_attributes = ("_sizes",)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not is_integer(axis):
            raise arg_error(self, "axis", "an integer", axis)
        self.axis = int(axis)

    def output_shape(self, shapes):
        rank = len(shapes[0])
        axis = self.axis + rank if self.axis < 0 else self.axis
        if any(len(s) != rank for s in shapes) or not 1 <= axis < rank:
            raise self.shape_error(shapes, f"expected inputs of one rank with axis={self.axis} "
                                           "a non-batch axis")
        output = []
        for i in range(rank):
            dims = [s[i] for s in shapes]
            if i == axis:
                output.append(None if None in dims else sum(dims))
                continue
            known = {d for d in dims if d is not None}
            if len(known) > 1:
                raise self.shape_error(shapes, "expected inputs with equal sizes on every axis "
                                               f"but axis={self.axis}")
            output.append(known.pop() if known else None)
        return tuple(output)

    def merge(self, inputs):
        xp = backend.get_array_module(*inputs)
        axis = self.axis % inputs[0].ndim
        self._sizes = [x.shape[axis] for x in inputs]
        return xp.concatenate(inputs, axis=axis)

    def merge_backward(self, dy):
        xp = backend.get_array_module(dy)
        bounds, total = [], 0
        for size in self._sizes[:-1]:
            total += size
            bounds.append(total)
        return xp.split(dy, bounds, axis=self.axis % dy.ndim)

    def compute_mask(self, inputs, mask=None):
        """Keras's rule: masks (an unmasked input counts as all True) joined along ``axis``, then
        OR-ed over the last axis; None when no input has a mask."""
        if mask is None or all(m is None for m in mask):
            return None
        xp = backend.get_array_module(*[m for m in mask if m is not None])
        full = []
        for x, m in zip(inputs, mask):
            if m is None:
                full.append(xp.ones(x.shape, dtype=bool))
            elif m.ndim < x.ndim:
                full.append(xp.broadcast_to(m[..., None], x.shape))
            else:
                full.append(m)
        return xp.concatenate(full, axis=self.axis % inputs[0].ndim).any(axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


# ---------------------------------------------------------------------------- dot


def _l2_normalize(x, axis):
    """x / max(||x||, epsilon) along ``axis`` (Keras's normalize); returns (x_hat, denominator)."""
    xp = backend.get_array_module(x)
    norm = xp.sqrt((x * x).sum(axis=axis, keepdims=True))
    denominator = xp.maximum(norm, backend.epsilon())
    return x / denominator, denominator


def _l2_normalize_backward(g, x_hat, denominator, axis):
    """dx for x_hat = x / max(||x||, eps): (g - x_hat * sum(g * x_hat)) / ||x|| where the norm
    exceeds eps, and g / eps where the clamp holds the denominator constant."""
    eps = backend.epsilon()
    projection = (g * x_hat).sum(axis=axis, keepdims=True) * (denominator > eps)
    return (g - x_hat * projection) / denominator


class Dot(Merge):
    """Per-example dot product of two inputs along one axis of each (Keras's ``Dot``).

    For each example b: y[b] = tensordot(x_1[b], x_2[b], axes=(a_1 - 1, a_2 - 1)), the product of
    x_1's axis a_1 with x_2's axis a_2 (as ``batch_dot``). With ``normalize=True`` both inputs are
    first L2-normalised along those axes, x / max(||x||, epsilon), so y is the cosine proximity.

    Gradient: with X (batch, m, d) and Y (batch, d, n) the inputs with the contracted axis moved,
    dX = dY_out @ Y^T and dY = X^T @ dY_out per example, then through the normalisation,
    dx = (g - x_hat * sum(g * x_hat)) / ||x||.

    Args:
        axes: int, or a pair of ints (one axis per input); negative counts from the end; never the
            batch axis 0.
        normalize: bool, L2-normalise along ``axes`` first. Default False.
        **kwargs: the base :class:`~dendrite.layers.base.Layer` arguments.

    Input shape:  a list of 2 tensors (batch, ...) with equal sizes along their ``axes``.
    Output shape: x_1's shape without axis a_1, then x_2's without its batch axis and a_2;
        (batch, 1) if that leaves only the batch axis.

    Example:
        >>> Dot(axes=1).compute_output_shape([(None, 8), (None, 8)])
        (None, 1)
        >>> Dot(axes=(1, 2)).compute_output_shape([(None, 3, 5), (None, 4, 3)])
        (None, 5, 4)
    """

    min_inputs = max_inputs = 2
    cache_attributes = ("_x3", "_y3", "_moved", "_axes", "_normalized")

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if is_integer(axes):
            axes = int(axes)
        elif (isinstance(axes, (list, tuple)) and len(axes) == 2
              and all(is_integer(a) for a in axes)):
            axes = [int(a) for a in axes]
        else:
            raise arg_error(self, "axes", "an integer or a pair of integers", axes)
        self.axes = axes
        self.normalize = check_bool(self, "normalize", normalize)

    def _resolve_axes(self, shapes):
        pair = [self.axes, self.axes] if isinstance(self.axes, int) else self.axes
        if any(len(s) < 2 for s in shapes):
            raise self.shape_error(shapes, "expected inputs with at least 2 axes")
        resolved = [a % len(s) if a < 0 else a for a, s in zip(pair, shapes)]
        if any(not 1 <= a < len(s) for a, s in zip(resolved, shapes)):
            raise self.shape_error(shapes, f"axes={self.axes} must name a non-batch axis of each "
                                           "input")
        return resolved

    def output_shape(self, shapes):
        a1, a2 = self._resolve_axes(shapes)
        (s1, s2) = shapes
        d1, d2 = s1[a1], s2[a2]
        if d1 is not None and d2 is not None and d1 != d2:
            raise self.shape_error(shapes, f"expected equal sizes along axes={self.axes} "
                                           f"(axis {a1} of the first input has {d1}, axis {a2} "
                                           f"of the second {d2})")
        if s1[0] is not None and s2[0] is not None and s1[0] != s2[0]:
            raise self.shape_error(shapes, "expected inputs with equal batch sizes")
        batch = s1[0] if s1[0] is not None else s2[0]
        rest = [d for i, d in enumerate(s1) if i not in (0, a1)]
        rest += [d for i, d in enumerate(s2) if i not in (0, a2)]
        return (batch, *rest) if rest else (batch, 1)

    def merge(self, inputs):
        xp = backend.get_array_module(*inputs)
        x, y = inputs
        a1, a2 = self._axes = self._resolve_axes([x.shape, y.shape])
        if self.normalize:
            x, x_denominator = _l2_normalize(x, a1)
            y, y_denominator = _l2_normalize(y, a2)
            self._normalized = (x, x_denominator, y, y_denominator)
        else:
            self._normalized = None
        batch = x.shape[0]
        x_moved = xp.moveaxis(x, a1, -1)  # (batch, ..., d)
        y_moved = xp.moveaxis(y, a2, 1)   # (batch, d, ...)
        self._moved = (x_moved.shape, y_moved.shape)
        self._x3 = x_moved.reshape(batch, -1, x.shape[a1])   # (batch, m, d)
        self._y3 = y_moved.reshape(batch, y.shape[a2], -1)   # (batch, d, n)
        z = self._x3 @ self._y3                               # (batch, m, n)
        out_shape = (batch, *x_moved.shape[1:-1], *y_moved.shape[2:])
        return z.reshape(out_shape if len(out_shape) > 1 else (batch, 1))

    def merge_backward(self, dy):
        xp = backend.get_array_module(dy)
        x3, y3 = self._x3, self._y3
        dz = dy.reshape(x3.shape[0], x3.shape[1], y3.shape[2])
        x_shape, y_shape = self._moved
        a1, a2 = self._axes
        dx = xp.moveaxis((dz @ y3.transpose(0, 2, 1)).reshape(x_shape), -1, a1)  # dX = dZ Y^T
        dy2 = xp.moveaxis((x3.transpose(0, 2, 1) @ dz).reshape(y_shape), 1, a2)  # dY = X^T dZ
        if self._normalized is not None:
            x_hat, x_denominator, y_hat, y_denominator = self._normalized
            dx = _l2_normalize_backward(dx, x_hat, x_denominator, a1)
            dy2 = _l2_normalize_backward(dy2, y_hat, y_denominator, a2)
        return [dx, dy2]

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        axes = self.axes if isinstance(self.axes, int) else list(self.axes)
        return {**super().get_config(), "axes": axes, "normalize": self.normalize}


# ---------------------------------------------------------------------------- functions


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``: the element-wise sum of symbolic tensors or arrays."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``: inputs[0] - inputs[1]."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``: the element-wise product."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``: the element-wise mean."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``: the element-wise maximum."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``: the element-wise minimum."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis, **kwargs)(inputs)``: the inputs joined along ``axis``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """``Dot(axes, normalize, **kwargs)(inputs)``: per-example dot products (Keras's default
    ``axes=-1``)."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
