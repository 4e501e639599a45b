"""``pad_sequences``: a list of variable-length sequences as one padded array (Keras's function)."""

from dendrite.backend import host as np
from dendrite.errors import check_choice


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pad (or truncate) every sequence to ``maxlen`` and stack them: (num_sequences, maxlen, ...).

    Args:
        sequences: list of sequences (lists or arrays); each item may itself be a vector, as long
            as all items share that shape.
        maxlen: length of the output; default the longest sequence's length.
        dtype: dtype of the output. Default "int32".
        padding: "pre" (default) pads at the start, "post" at the end.
        truncating: "pre" (default) drops values from the start of longer sequences, "post" from
            the end.
        value: the padding value. Default 0.0.

    Returns:
        Array (num_sequences, maxlen, *item_shape) of ``dtype``.

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
        [[2, 3], [0, 4]]
        >>> pad_sequences([[1], [2, 3]], padding="post").tolist()
        [[1, 0], [2, 3]]
    """
    check_choice("pad_sequences", "padding", padding, ("pre", "post"))
    check_choice("pad_sequences", "truncating", truncating, ("pre", "post"))
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: sequences must be a list of sequences; got "
                         f"{type(sequences).__name__}")
    arrays = []
    for i, sequence in enumerate(sequences):
        if not hasattr(sequence, "__len__"):
            raise ValueError(f"pad_sequences: sequences[{i}] must be a sequence; got "
                             f"{sequence!r}")
        arrays.append(np.asarray(sequence))
    item_shape = next((a.shape[1:] for a in arrays if len(a)), ())
    for i, a in enumerate(arrays):
        if len(a) and a.shape[1:] != item_shape:
            raise ValueError(f"pad_sequences: every item must have shape {item_shape}; "
                             f"sequences[{i}] has items of shape {a.shape[1:]}.")
    if maxlen is None:
        maxlen = max((len(a) for a in arrays), default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be a non-negative integer or None; got "
                         f"maxlen={maxlen!r}")
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and isinstance(value, float) and not value.is_integer():
        raise ValueError(f"pad_sequences: value={value!r} cannot be stored in dtype {dtype.name}")
    out = np.full((len(arrays), maxlen, *item_shape), value, dtype=dtype)
    for i, a in enumerate(arrays):
        if not len(a) or not maxlen:
            continue
        kept = a[-maxlen:] if truncating == "pre" else a[:maxlen]
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, -len(kept):] = kept
    return out
