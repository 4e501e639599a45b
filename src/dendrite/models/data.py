"""The data path of ``fit``, ``evaluate`` and ``predict``: batches without copying the data set.

Each epoch draws one permutation of indices; each batch is gathered with ``take(..., out=buffer)``
into buffers allocated once per batch size, and converted to the model's float dtype in that buffer
(uint8 images are converted batch by batch, never up front). Without shuffling, batches of the right
dtype are plain views.
"""

import math

from dendrite.backend import host as np


def as_list(data, what):
    """``data`` (an array or a list/tuple of arrays) as a list of host arrays."""
    if data is None:
        return None
    if isinstance(data, dict):
        raise TypeError(f"{what}: pass a list of arrays in the model's input/output order, not a "
                        "dict")
    items = list(data) if isinstance(data, (list, tuple)) and data and hasattr(
        data[0], "shape") else [data]
    return [item if isinstance(item, np.ndarray) else np.asarray(item) for item in items]


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

    def __init__(self, arrays, dtypes, batch_size, rng=None):
        self.arrays, self.dtypes = arrays, [np.dtype(d) if d is not None else None for d in dtypes]
        self.size = len(next(a for a in arrays if a is not None))
        self.batch_size = min(batch_size, self.size) if self.size else batch_size
        self.rng = rng
        self._buffers = {}

    def __len__(self):
        return math.ceil(self.size / self.batch_size) if self.size else 0

    def __iter__(self):
        order = self.rng.permutation(self.size) if self.rng is not None else None
        for start in range(0, self.size, self.batch_size):
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
            return np.take(array, index, axis=0, out=self._buffer(i, rows, array.dtype))
        raw = np.take(array, index, axis=0, out=self._buffer(i, rows, array.dtype))
        out = self._buffer(i, rows, self.dtypes[i])
        np.copyto(out, raw, casting="unsafe")
        return out
