"""The data path of ``fit``, ``evaluate`` and ``predict``: every input form Keras accepts.

Arrays: each epoch draws one permutation of indices; each batch is gathered with
``take(..., out=buffer)`` into buffers allocated once per batch size, and converted to the model's
float dtype in that buffer (uint8 images are converted batch by batch, never up front). Without
shuffling, batches of the right dtype are plain views (:class:`Batches`).

Generators, iterators and :class:`~dendrite.utils.PyDataset` yield ``(x, y)`` or
``(x, y, sample_weight)`` batches (``x`` alone, or ``(x,)``, for ``predict``);
:class:`BatchStream` checks and converts each one and stops an epoch after ``steps`` batches. A
source that runs dry before that warns as Keras does and ends training.

Everything else is refused at the door with a message naming the argument, what was expected and
what was received: ``x=None``, complex/string/object/ragged arrays, zero samples, negative or
misshaped sample weights, class weights that are not classes of the output.
"""

import collections.abc
import math
import warnings

from dendrite.backend import host as np
from dendrite.errors import arg_error, check_number, describe
from dendrite.utils.pydataset import PyDataset, iterate_batches

RAN_DRY_WARNING = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or "
    "generator can generate at least `steps_per_epoch * epochs` batches. You may need to use "
    "the `.repeat()` function when building your dataset."
)
"""Keras 3's warning, word for word, when a generator ends before ``steps_per_epoch * epochs``."""

_NUMERIC_KINDS = "biuf"


def as_list(data, what):
    """``data`` (an array or a list/tuple of arrays) as a list of numeric host arrays.

    Raises:
        TypeError: ``data`` is a dict, or an array of complex, string or object dtype.
        ValueError: ``data`` is ragged (rows of different lengths) or a 0-d scalar.
    """
    if data is None:
        return None
    if isinstance(data, dict):
        raise TypeError(f"{what}: pass a list of arrays in the model's input/output order, not a "
                        "dict")
    items = list(data) if isinstance(data, (list, tuple)) and data and hasattr(
        data[0], "shape") else [data]
    return [check_array(item, what) for item in items]


def require_x(x, who):
    """Refuse ``x=None`` (``fit()`` with no data) with a message naming the accepted forms."""
    if x is None:
        raise TypeError(f"{who}: x must be an array, a list of arrays, a generator or a "
                        "PyDataset; got x=None")
    return x


def check_array(item, what):
    """``item`` as a host array with a numeric dtype and at least one axis, or raise."""
    if isinstance(item, np.ndarray):
        array = item
    else:
        try:
            array = np.asarray(item)
        except ValueError as error:  # numpy refuses ragged nested lists
            raise ValueError(f"{what} must be a rectangular array (every sample of the same "
                             f"shape); got a ragged {type(item).__name__} ({error})") from None
    if array.dtype.kind not in _NUMERIC_KINDS:
        kind = {"c": "complex", "U": "string", "S": "bytes", "O": "object (ragged or mixed)"}
        raise TypeError(f"{what} must hold real numbers (bool, int or float); got an array of "
                        f"{kind.get(array.dtype.kind, array.dtype.name)} dtype {array.dtype} and "
                        f"shape {array.shape}")
    if array.ndim == 0:
        raise ValueError(f"{what} must have a batch axis (one entry per sample); got the scalar "
                         f"{item!r}")
    return array


def is_batch_source(data):
    """True for a PyDataset or a generator/iterator of batches (not for arrays or lists)."""
    return isinstance(data, (PyDataset, collections.abc.Iterator))


def check_not_empty(size, who, what="x"):
    """Refuse a data set of zero samples: training or evaluating on nothing is never meant."""
    if size == 0:
        raise ValueError(f"{who}: {what} must hold at least one sample; got 0 samples")


def check_sample_weight(weights, y, who, what="sample_weight"):
    """``weights`` must be finite and >= 0, of shape (m,), (m, 1) or a leading part of y's."""
    if weights is None:
        return None
    shape, y_shape = weights.shape, y.shape
    if not (shape == y_shape[:weights.ndim] or shape == (y_shape[0], 1)):
        raise ValueError(f"{who}: {what} must have shape ({y_shape[0]},) (one weight per "
                         f"sample) or a leading part of y's shape {y_shape}; got shape {shape}")
    if weights.size:
        low, high = weights.min(), weights.max()
        if not (math.isfinite(low) and math.isfinite(high)) or low < 0:
            bad = low if (low < 0 or not math.isfinite(low)) else high
            raise ValueError(f"{who}: {what} must be finite and non-negative; got a weight "
                             f"{bad}")
    return weights


def check_targets(losses, ys, who):
    """Refuse targets outside a loss's ``target_range`` (binary cross-entropy: [0, 1])."""
    for loss, y in zip(losses, ys):
        bounds = getattr(loss, "target_range", None)
        if bounds is not None and y.size:
            low, high = y.min(), y.max()
            if low < bounds[0] or high > bounds[1]:
                raise ValueError(f"{who}: {type(loss).__name__} needs targets y in "
                                 f"[{bounds[0]}, {bounds[1]}]; got values from {low} to {high}")


def class_weight_table(class_weight, model):
    """A lookup array ``table[class] -> weight`` from Keras's ``class_weight`` dict, or None.

    Keys must be classes of the single output (``0 .. units - 1``, or 0 and 1 for one sigmoid
    unit); values finite non-negative numbers; classes not named get weight 1.
    """
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise arg_error("fit", "class_weight", "a dict mapping class index to weight",
                        class_weight)
    if len(model.outputs) > 1:
        raise ValueError(f"fit: class_weight is only supported for models with a single output; "
                         f"{describe(model)} has {len(model.outputs)} outputs (pass "
                         "sample_weight instead)")
    units = model.outputs[0].shape[-1]
    classes = 2 if units == 1 else units
    table = np.ones(classes)
    for key, value in class_weight.items():
        key = check_number("fit", "class_weight key", key, integer=True, low=0, high=classes - 1,
                           expected=f"a class index in [0, {classes - 1}]")
        table[key] = check_number("fit", f"class_weight[{key}]", value, low=0,
                                  expected="a non-negative number")
    return table


def apply_class_weight(table, y, sample_weight):
    """Per-sample weights ``table[label]`` (times ``sample_weight``) for a batch of targets."""
    if y.ndim > 1 and y.shape[-1] > 1:
        labels = y.argmax(axis=-1)
    else:
        labels = np.rint(y.reshape(len(y))).astype("int64")
    if labels.size and (labels.min() < 0 or labels.max() >= len(table)):
        raise ValueError(f"fit: class_weight covers classes 0..{len(table) - 1}; got label "
                         f"{labels.max() if labels.max() >= len(table) else labels.min()}")
    weights = table[labels]
    return weights if sample_weight is None else weights * sample_weight.reshape(len(y), -1)[:, 0]


def check_lengths(arrays, names):
    """Raise if the arrays do not all have the same number of samples (both lengths named)."""
    lengths = [(name, len(a)) for name, a in zip(names, arrays) if a is not None]
    first_name, first = lengths[0]
    for name, length in lengths[1:]:
        if length != first:
            raise ValueError(f"{first_name} and {name} must have the same number of samples; got "
                             f"{first} and {length}.")
    return first


def target_dtype(array, floatx):
    """The dtype batches of ``array`` reach the model in: floats become ``floatx``, ints stay."""
    return floatx if array.dtype.kind == "f" else array.dtype


class Batches:
    """Iterates over batches of several aligned arrays (inputs, targets, sample weights).

    Args:
        arrays: list of host arrays with the same first axis, or None entries (passed through).
        dtypes: dtype each array's batches are delivered in.
        batch_size: samples per batch; the last batch may be smaller.
        rng: numpy Generator for shuffling, or None for the stored order.
    """

    def __init__(self, arrays, dtypes, batch_size, rng=None, steps=None):
        self.arrays, self.dtypes = arrays, [np.dtype(d) if d is not None else None for d in dtypes]
        self.size = len(next(a for a in arrays if a is not None))
        self.batch_size = min(batch_size, self.size) if self.size else batch_size
        self.rng = rng
        self.steps = steps
        self.ran_dry = False
        self._buffers = {}

    def __len__(self):
        batches = math.ceil(self.size / self.batch_size) if self.size else 0
        return batches if self.steps is None else self.steps

    @property
    def epoch_steps(self):
        """Batches per epoch (as :class:`BatchStream` names it)."""
        return len(self)

    def warn_if_dry(self):
        """Warn as Keras does and return True when ``steps`` asked for more batches than exist."""
        if self.ran_dry:
            warnings.warn(RAN_DRY_WARNING, stacklevel=3)
        return self.ran_dry

    def __iter__(self):
        order = self.rng.permutation(self.size) if self.rng is not None else None
        stop_at = self.size if self.steps is None else min(self.size,
                                                           self.steps * self.batch_size)
        self.ran_dry = self.steps is not None and self.steps > math.ceil(self.size /
                                                                         self.batch_size)
        for start in range(0, stop_at, self.batch_size):
            stop = min(start + self.batch_size, self.size)
            if order is None:
                yield [self._slice(i, a, start, stop) for i, a in enumerate(self.arrays)]
            else:
                index = order[start:stop]
                yield [self._gather(i, a, index) for i, a in enumerate(self.arrays)]

    def _buffer(self, i, rows, dtype):
        key = (i, rows, dtype)
        if key not in self._buffers:
            self._buffers[key] = np.empty((rows, *self.arrays[i].shape[1:]), dtype=dtype)
        return self._buffers[key]

    def _slice(self, i, array, start, stop):
        if array is None:
            return None
        view = array[start:stop]
        if view.dtype == self.dtypes[i]:
            return view
        out = self._buffer(i, stop - start, self.dtypes[i])
        np.copyto(out, view, casting="unsafe")
        return out

    def _gather(self, i, array, index):
        if array is None:
            return None
        rows = len(index)
        if array.dtype == self.dtypes[i]:
            return _take_rows(array, index, self._buffer(i, rows, array.dtype))
        raw = _take_rows(array, index, self._buffer(i, rows, array.dtype))
        out = self._buffer(i, rows, self.dtypes[i])
        np.copyto(out, raw, casting="unsafe")
        return out


def _take_rows(array, index, out):
    """out[k] = array[index[k]]: the rows of ``array`` at ``index``, written into ``out``.

    ``numpy.take`` gathers straight into ``out``, but for a non-contiguous source (a column slice
    such as image halves) it first copies the whole array (94 MB and 25 ms per batch measured on
    a (60000, 392) view); fancy indexing reads only the chosen rows, through one batch-sized
    temporary.
    """
    if array.flags.c_contiguous:
        return np.take(array, index, axis=0, out=out)
    np.copyto(out, array[index])
    return out


class BatchStream:
    """Batches from a generator/iterator or a PyDataset, delivered like :class:`Batches` rows.

    Args:
        source: a :class:`~dendrite.utils.PyDataset`, or an iterator yielding batches.
        steps: batches per epoch; None means ``len(source)`` for a PyDataset and "until the
            iterator ends" for an iterator.
        convert: function from one raw batch to the list ``[*xs, *ys, sample_weight]`` (``[*xs]``
            for predict), checked and in the model's dtypes.
        who: the argument named in messages, e.g. "fit: x".

    After an epoch, ``ran_dry`` tells whether the source ended before ``steps`` batches.
    """

    def __init__(self, source, steps, convert, who):
        self.source, self.convert, self.who = source, convert, who
        self.steps = steps
        self.ran_dry = False
        self.epochs_seen = 0
        if isinstance(source, PyDataset):
            length = source.num_batches
            check_number(who, "len(x)", length, integer=True, low=0, expected="an integer >= 0")
            check_not_empty(length, who.split(":")[0], "the PyDataset (len)")

    @property
    def epoch_steps(self):
        """Batches per epoch, or None while an iterator's length is unknown."""
        if self.steps is not None:
            return self.steps
        return len(self.source) if isinstance(self.source, PyDataset) else None

    def __iter__(self):
        count = 0
        if isinstance(self.source, PyDataset):
            self.source.on_epoch_begin()
            for batch in iterate_batches(self.source, self.steps):
                count += 1
                yield self.convert(batch)
            self.source.on_epoch_end()
        else:
            while self.steps is None or count < self.steps:
                try:
                    batch = next(self.source)
                except StopIteration:
                    break
                count += 1
                yield self.convert(batch)
        self.epochs_seen += 1
        if count == 0 and self.epochs_seen == 1:
            raise ValueError(f"{self.who} yielded no batches; expected at least one")
        expected = self.steps if self.steps is not None else (
            len(self.source) if isinstance(self.source, PyDataset) else None)
        self.ran_dry = count == 0 or (expected is not None and count < expected)

    def warn_if_dry(self):
        """Warn as Keras does and return True if the last epoch ran out of data."""
        if self.ran_dry:
            warnings.warn(RAN_DRY_WARNING, stacklevel=3)
        return self.ran_dry


def refuse_with_stream(who, x, **arguments):
    """With a generator or PyDataset as ``x``, its batches give y, sample weights and the batch
    size: refuse any of them given separately rather than ignore it."""
    if not is_batch_source(x):
        return
    for name, value in arguments.items():
        if value is not None:
            shown = (f"an array of shape {value.shape}" if hasattr(value, "shape")
                     else repr(value))
            raise ValueError(f"{who}: {name} must be None when x is a generator or PyDataset "
                             f"(its batches give it); got {name}={shown}")


def split_batch(batch, with_targets, who):
    """``(x, y, sample_weight)`` of one raw batch; a tuple is a structure, a list is inputs."""
    if isinstance(batch, tuple):
        if with_targets and len(batch) not in (2, 3):
            raise ValueError(f"{who} must yield (x, y) or (x, y, sample_weight) tuples; got a "
                             f"tuple of {len(batch)} items")
        if not with_targets and not 1 <= len(batch) <= 3:
            raise ValueError(f"{who} must yield x, (x,) or (x, y) batches; got a tuple of "
                             f"{len(batch)} items")
        return (*batch, None, None)[:3]
    if with_targets:
        raise ValueError(f"{who} must yield (x, y) or (x, y, sample_weight) tuples; got "
                         f"{type(batch).__name__}")
    return batch, None, None


def steps_argument(who, name, steps):
    """``steps_per_epoch`` / ``validation_steps`` / ``steps``: a positive integer or None."""
    return check_number(who, name, steps, integer=True, low=1, allow_none=True,
                        expected="a positive integer or None")


def batch_converter(model, who, with_targets):
    """A function turning one raw generator/PyDataset batch into ``[*xs, *ys, sample_weight]``
    (``[*xs]`` without targets), checked like arrays given to ``fit`` and in the model's dtypes."""

    def convert(batch):
        x, y, weights = split_batch(batch, with_targets, who)
        xs = [a if a.dtype == dtype else a.astype(dtype) for a, dtype in
              zip(model._prepare_inputs(require_x(x, who), who), model.input_dtypes)]
        if not with_targets:
            return xs
        ys = model._prepare_targets(y, who)
        ys = [a if a.dtype == target_dtype(a, model.dtype) else a.astype(model.dtype) for a in ys]
        weights = None if weights is None else check_array(weights, f"{who}: sample_weight")
        check_lengths([*xs, *ys, weights], ["x"] * len(xs) + ["y"] * len(ys) + ["sample_weight"])
        check_not_empty(len(xs[0]), who, "each batch")
        check_sample_weight(weights, ys[0], who)
        if model.compiled is not None:
            check_targets(model.compiled.losses, ys, who)
        if weights is not None and weights.dtype != model.dtype:
            weights = weights.astype(model.dtype)
        return [*xs, *ys, weights]

    return convert


def prepare_arrays(model, x, y, sample_weight, who, suffix=""):
    """Checked host arrays ``(xs, ys, sample_weight)`` for ``fit``/``evaluate`` on arrays
    (``suffix`` "_val" names them ``x_val``, ``y_val`` ... in messages)."""
    xs = model._prepare_inputs(require_x(x, who), who)
    ys = model._prepare_targets(y, who)
    weights = as_list(sample_weight, f"{who}: sample_weight")
    weights = weights[0] if weights else None
    check_lengths([*xs, *ys, weights], [f"x{suffix}"] * len(xs) + [f"y{suffix}"] * len(ys)
                  + [f"sample_weight{suffix}"])
    check_not_empty(len(xs[0]), who)
    check_sample_weight(weights, ys[0], who)
    if model.compiled is not None:
        check_targets(model.compiled.losses, ys, who)
    return xs, ys, weights


def array_batches(model, xs, ys, weights, batch_size, rng=None, steps=None):
    """:class:`Batches` over ``[*xs, *ys, weights]`` in the dtypes the model takes them in."""
    dtypes = (list(model.input_dtypes) + [target_dtype(a, model.dtype) for a in ys]
              + [model.dtype])
    return Batches([*xs, *ys, weights], dtypes, batch_size, rng, steps)


def validation_batches(model, validation_data, batch_size, steps):
    """Batches for ``validation_data``: ``(x, y)``, ``(x, y, sample_weight)``, a generator or a
    PyDataset; an empty set is refused."""
    who = "validation_data"
    if is_batch_source(validation_data):
        return BatchStream(validation_data, steps, batch_converter(model, who, True), who)
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        items = (f" of {len(validation_data)} items"
                 if isinstance(validation_data, (tuple, list)) else "")
        raise ValueError(f"{who} must be (x_val, y_val); got {type(validation_data).__name__}"
                         f"{items} (also accepted: (x_val, y_val, sample_weight_val), a "
                         "generator or a PyDataset)")
    weights = validation_data[2] if len(validation_data) == 3 else None
    xs, ys, weights = prepare_arrays(model, validation_data[0], validation_data[1], weights, who,
                                     "_val")
    return array_batches(model, xs, ys, weights, batch_size, steps=steps)


def split_validation(xs, ys, weights, validation_split):
    """Keras's ``validation_split``: the last fraction of the samples, taken before shuffling.

    Returns ``(xs, ys, weights)`` for training and the same for validation (views); refuses a
    split that leaves either part empty.
    """
    size = len(xs[0])
    split = int(size * (1 - validation_split))
    if split == 0 or split == size:
        part = "training" if split == 0 else "validation"
        raise ValueError(f"fit: validation_split={validation_split} of {size} samples leaves 0 "
                         f"{part} samples; use a split that keeps at least one of each")
    def head(arrays):
        return [None if a is None else a[:split] for a in arrays]

    def tail(arrays):
        return [None if a is None else a[split:] for a in arrays]

    return ((head(xs), head(ys), head([weights])[0]), (tail(xs), tail(ys), tail([weights])[0]))
