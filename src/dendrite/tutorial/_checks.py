"""Argument checks shared by the tutorial functions, with messages that say what to do."""

from dendrite.backend import host as np


def as_array(value, who, name):
    """``value`` as an array (no copy for arrays); a clear error for things that are not arrays."""
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{who}: {name} must be an array; got {type(value).__name__}") from error


def check_X(X, n_x, who, source, name="X"):
    """Check that ``X`` is a float array of shape (n_x, m); return it as an array.

    ``source`` says where n_x comes from (``"layers_dims[0]"``, ``"W1 of shape (20, 12288)"``).
    """
    X = as_array(X, who, name)
    layout = f"column layout (n_x, m) = ({n_x}, m)"
    if X.ndim == 1 and X.shape[0] == n_x:
        raise ValueError(
            f"{who}: expected {name} in {layout}; got {X.shape}, a single example: "
            f"pass {name}.reshape(-1, 1)"
        )
    if X.ndim != 2:
        raise ValueError(
            f"{who}: expected {name} as a 2-D array in {layout}; got shape "
            f"{X.shape}. Flatten images with dendrite.datasets.flatten_images(x)."
        )
    if X.shape[0] != n_x:
        if X.shape[1] == n_x:
            raise ValueError(
                f"{who}: expected {name} in {layout}; got {X.shape}, which looks "
                f"like row layout (m, n_x): pass {name}.T"
            )
        raise ValueError(
            f"{who}: expected {name} in {layout}; got {X.shape}: {name} has "
            f"{X.shape[0]} rows (features) but {source} says n_x = {n_x}"
        )
    if X.dtype.kind != "f":
        raise ValueError(
            f"{who}: expected a float {name}; got dtype {X.dtype} (convert it, e.g. "
            f"{name} / 255. for pixels)"
        )
    return X


def check_Y(Y, n_y, m, who, source="the output layer", name="Y"):
    """Check that ``Y`` has shape (n_y, m); return it as an array."""
    Y = as_array(Y, who, name)
    expected = f"({n_y}, m) = ({n_y}, {m})"
    if Y.shape == (n_y, m):
        return Y
    if Y.shape == (m,) and n_y == 1:
        hint = f": pass {name}.reshape(1, -1)"
    elif Y.shape == (m, n_y):
        hint = f", which looks like row layout (m, n_y): pass {name}.T"
    elif Y.shape in ((m,), (1, m)) and n_y > 1:
        hint = (
            f": labels must be one-hot columns for {n_y} classes: pass "
            f"convert_to_one_hot({name}, {n_y})"
        )
    elif Y.ndim == 2 and Y.shape[1] == m:
        hint = f": {name} has {Y.shape[0]} rows but {source} has {n_y} units"
    else:
        hint = f": {name} must have one column per example of X"
    raise ValueError(f"{who}: expected {name} of shape {expected}; got {Y.shape}{hint}")


def check_binary(Y, who, name="Y"):
    """Raise unless every value of ``Y`` is 0 or 1."""
    if not ((Y == 0) | (Y == 1)).all():
        values = np.unique(Y)
        shown = ", ".join(f"{v:g}" for v in values[:8]) + (", ..." if len(values) > 8 else "")
        raise ValueError(
            f"{who}: binary cross-entropy needs {name} with values in {{0, 1}}; got "
            f"values {{{shown}}}. For several classes use one-hot columns and a "
            f"softmax output."
        )


def check_one_hot(Y, who, name="Y"):
    """Raise unless every column of ``Y`` is a probability distribution (one-hot labels are)."""
    sums = Y.sum(axis=0)
    if (Y < 0).any() or (Y > 1).any() or not np.allclose(sums, 1, rtol=0, atol=1e-6):
        column = int(np.argmax(np.abs(sums - 1))) if Y.size else 0
        raise ValueError(
            f"{who}: categorical cross-entropy needs {name} with one-hot columns "
            f"(values in [0, 1], each column summing to 1); column {column} sums "
            f"to {sums[column]:g}. Use convert_to_one_hot(labels, n_y)."
        )


def check_layer_dims(layer_dims, who, name="layer_dims"):
    """Return ``layer_dims`` as a list of at least two positive ints."""
    try:
        dims = list(layer_dims)
    except TypeError:
        dims = None
    if (
        not dims
        or len(dims) < 2
        or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in dims)
    ):
        raise ValueError(
            f"{who}: {name} must be a list of at least two positive ints "
            f"[n_x, n_1, ..., n_y]; got {name}={layer_dims!r}"
        )
    return [int(n) for n in dims]


def check_keep_prob(keep_prob, who):
    if (
        isinstance(keep_prob, bool)
        or not isinstance(keep_prob, (int, float))
        or not (0 < keep_prob <= 1)
    ):
        raise ValueError(f"{who}: keep_prob must be a float in (0, 1]; got keep_prob={keep_prob!r}")
    return float(keep_prob)


def check_non_negative(value, who, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{who}: {name} must be a non-negative number; got {name}={value!r}")
    return float(value)


def check_positive_int(value, who, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive integer; got {name}={value!r}")
    return int(value)


def num_layers(parameters, who):
    """L, the number of layers of ``parameters`` (keys W1, b1, ..., WL, bL)."""
    if not isinstance(parameters, dict):
        raise TypeError(
            f"{who}: parameters must be a dict with keys 'W1', 'b1', ...; got "
            f"{type(parameters).__name__}"
        )
    L = 0
    while f"W{L + 1}" in parameters:
        L += 1
    if L == 0:
        raise ValueError(
            f"{who}: parameters must hold 'W1', 'b1', ...; got keys {sorted(parameters)}"
        )
    missing = [f"b{k}" for k in range(1, L + 1) if f"b{k}" not in parameters]
    if missing:
        raise ValueError(f"{who}: parameters lack {missing}")
    return L
