"""One format for every user-facing error.

Messages name the object (``Dense(name='dense_1')``), the argument, what was expected and what was
received, e.g. ``Dense(name='d'): units must be a positive integer; got units=0``.
"""


def describe(obj):
    """``ClassName(name='...')`` for objects with a name, else ``ClassName``."""
    name = getattr(obj, "name", None)
    return f"{type(obj).__name__}(name={name!r})" if name else type(obj).__name__


def arg_error(owner, argument, expected, value):
    """A ValueError saying that ``argument`` of ``owner`` must be ``expected`` but was ``value``.

    ``owner`` is an object (described with :func:`describe`) or a string such as ``"Dense"``.
    """
    who = owner if isinstance(owner, str) else describe(owner)
    return ValueError(f"{who}: {argument} must be {expected}; got {argument}={value!r}")


def shape_error(owner, expected, received, what="input"):
    """A ValueError for data of the wrong shape: ``Dense(name='d'): expected input of shape
    (batch, 784); got (32, 785).``"""
    who = owner if isinstance(owner, str) else describe(owner)
    return ValueError(f"{who}: expected {what} of shape {expected}; got {received}.")


def check_unknown_kwargs(owner, kwargs, valid=()):
    """Raise TypeError naming any keyword argument that ``owner`` does not accept."""
    if kwargs:
        names = ", ".join(sorted(kwargs))
        hint = f"; valid keyword arguments: {', '.join(sorted(valid))}" if valid else ""
        raise TypeError(f"{owner}: unknown keyword argument(s) {names}{hint}")


def lookup(kind, identifier, table):
    """Resolve a string identifier in ``table`` or raise a ValueError listing the valid names.

    Example:
        >>> lookup("activation", "rleu", {"relu": 1})
        Traceback (most recent call last):
        ...
        ValueError: Unknown activation 'rleu'. Valid names: 'relu'.
    """
    try:
        return table[identifier]
    except KeyError:
        valid = ", ".join(repr(name) for name in sorted(table))
        raise ValueError(f"Unknown {kind} {identifier!r}. Valid names: {valid}.") from None


def positive_int(owner, argument, value):
    """Return ``value`` if it is a positive int (not bool), else raise :func:`arg_error`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise arg_error(owner, argument, "a positive integer", value)
    return value


def fraction(owner, argument, value, closed_right=False):
    """Return ``value`` if it is a float in [0, 1) (or [0, 1] with ``closed_right``)."""
    high_ok = value <= 1 if closed_right else value < 1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value and high_ok):
        interval = "[0, 1]" if closed_right else "[0, 1)"
        raise arg_error(owner, argument, f"a float in {interval}", value)
    return float(value)
