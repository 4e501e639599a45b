"""One format for every user-facing error.

Messages name the object (``Dense(name='dense_1')``), the argument, what was expected and what was
received, e.g. ``Dense(name='d'): units must be a positive integer; got units=0``.
"""

import math
import numbers

from dendrite.backend import host as _np


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


def is_integer(value):
    """True for Python and NumPy integers, False for bools (``True`` is not a count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, _np.bool_))


def is_real(value):
    """True for Python and NumPy integers and floats, False for bools, complex and strings."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, _np.bool_))


def _interval(low, high, low_open, high_open):
    if low is None:
        return f"{'<' if high_open else '<='} {high}"
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_number(owner, argument, value, *, integer=False, low=None, high=None, low_open=False,
                 high_open=False, allow_none=False, finite=True, expected=None):
    """Return ``value`` as a Python int (``integer=True``) or float if it is a number in range.

    The one check behind every numeric hyperparameter: NumPy scalars (``np.int64(32)``) are
    accepted like Python numbers; bools, strings, complex numbers and NaN are refused with
    :func:`arg_error` naming ``owner``, ``argument``, what was expected and the received value.

    Args:
        owner: object or string named in the message.
        argument: the argument's name.
        value: the received value.
        integer: require an integer (a float such as 2.0 is refused).
        low, high: bounds, None for unbounded; ``low_open``/``high_open`` exclude them.
        allow_none: return None for None instead of refusing it.
        finite: refuse inf (NaN is always refused).
        expected: the wording of the expectation; by default built from the other arguments.

    Example:
        >>> check_number("Dense", "units", 0, integer=True, low=1)
        Traceback (most recent call last):
        ...
        ValueError: Dense: units must be an integer >= 1; got units=0
    """
    if value is None and allow_none:
        return None
    ok = is_integer(value) if integer else is_real(value)
    if ok:
        number = int(value) if integer else float(value)
        ok = not math.isnan(number) and (not finite or math.isfinite(number))
        if ok and low is not None:
            ok = number > low if low_open else number >= low
        if ok and high is not None:
            ok = number < high if high_open else number <= high
    if not ok:
        if expected is None:
            expected = "an integer" if integer else "a number"
            if low is not None or high is not None:
                expected += " " + _interval(low, high, low_open, high_open)
            if allow_none:
                expected += " or None"
        raise arg_error(owner, argument, expected, value)
    return number


def check_choice(owner, argument, value, choices):
    """Return ``value`` if it is one of ``choices`` (compared with ==, types kept), else raise.

    Example:
        >>> check_choice("Conv2D", "padding", "full", ("valid", "same"))
        Traceback (most recent call last):
        ...
        ValueError: Conv2D: padding must be one of ['valid', 'same']; got padding='full'
    """
    for choice in choices:
        same_kind = type(value) is type(choice) or (is_integer(value) and is_integer(choice))
        if same_kind and value == choice:
            return choice
    raise arg_error(owner, argument, f"one of {list(choices)}", value)


def check_bool(owner, argument, value):
    """Return ``bool(value)`` for a Python or NumPy bool; refuse anything else ("False" is True)."""
    if not isinstance(value, (bool, _np.bool_)):
        raise arg_error(owner, argument, "True or False", value)
    return bool(value)


def positive_int(owner, argument, value):
    """Return ``value`` as an int if it is a positive integer (not bool), else raise."""
    return check_number(owner, argument, value, integer=True, low=1, expected="a positive integer")


def non_negative_int(owner, argument, value, allow_none=False):
    """Return ``value`` as an int if it is an integer >= 0 (or None with ``allow_none``)."""
    expected = "a non-negative integer" + (" or None" if allow_none else "")
    return check_number(owner, argument, value, integer=True, low=0, allow_none=allow_none,
                        expected=expected)


def positive_number(owner, argument, value, allow_zero=False, allow_none=False):
    """Return ``value`` as a float if it is a finite number > 0 (>= 0 with ``allow_zero``)."""
    expected = "a non-negative number" if allow_zero else "a positive number"
    return check_number(owner, argument, value, low=0, low_open=not allow_zero,
                        allow_none=allow_none, expected=expected + (" or None" * allow_none))


def fraction(owner, argument, value, closed_right=False):
    """Return ``value`` as a float if it is in [0, 1) (or [0, 1] with ``closed_right``)."""
    interval = "[0, 1]" if closed_right else "[0, 1)"
    return check_number(owner, argument, value, low=0, high=1, high_open=not closed_right,
                        expected=f"a float in {interval}")


def seed_value(owner, value):
    """Return ``seed`` as an int >= 0, or None."""
    return non_negative_int(owner, "seed", value, allow_none=True)
