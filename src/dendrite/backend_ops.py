"""Array operations that NumPy and CuPy spell differently, under one name.

:mod:`dendrite.backend` chooses the array module; this module holds the few functions that live
outside both libraries' shared namespace (``numpy.lib.stride_tricks``), so kernel modules never
import numpy themselves.
"""

from dendrite.backend import get_array_module, host


def as_strided(x, shape, strides):
    """A read-only view of ``x`` with the given ``shape`` and byte ``strides``.

    NumPy: ``numpy.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)``.
    CuPy: ``cupy.lib.stride_tricks.as_strided(x, shape, strides)`` (CuPy views are always writable,
    so callers must not write through the view: overlapping windows alias one element many times).
    """
    xp = get_array_module(x)
    if xp is host:
        return host.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(x, shape, strides)
