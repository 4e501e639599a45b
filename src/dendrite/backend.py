"""The one place that chooses the array library.

Every other module asks this one for its array module instead of importing numpy (or, later, cupy)
itself: layers call :func:`get_array_module` on an input to get ``xp``; code that runs on the host
(data sets, file formats) uses :data:`host`.

Also here: the default float dtype (``floatx``, Keras's name), the fuzz factor ``epsilon`` and the
process-wide random generator that :func:`dendrite.utils.set_random_seed` reseeds.
"""

import numpy

host = numpy
"""The host array module: data sets, files and anything the user hands in live here."""

_floatx = "float32"
_epsilon = 1e-7
_FLOAT_DTYPES = ("float16", "float32", "float64")
_global_generator = numpy.random.default_rng()


def get_array_module(*arrays):
    """Return the array module (numpy, or cupy for a cupy array) that ``arrays`` belong to."""
    for array in arrays:
        module = type(array).__module__
        if module.startswith("cupy"):
            import cupy  # only reached when the caller already holds a cupy array

            return cupy
    return numpy


def floatx():
    """The default float dtype name: ``"float32"`` unless :func:`set_floatx` changed it."""
    return _floatx


def set_floatx(value):
    """Set the default float dtype for new weights and converted inputs."""
    global _floatx
    name = numpy.dtype(value).name if value in _FLOAT_DTYPES else value
    if name not in _FLOAT_DTYPES:
        raise ValueError(f"set_floatx: value must be one of {list(_FLOAT_DTYPES)}; got {value!r}")
    _floatx = name


def epsilon():
    """The fuzz factor used by losses to clip probabilities (Keras default 1e-7)."""
    return _epsilon


def set_epsilon(value):
    """Set the fuzz factor returned by :func:`epsilon`."""
    global _epsilon
    if not isinstance(value, (int, float)) or not 0 < value < 0.5:
        raise ValueError(f"set_epsilon: value must be a float in (0, 0.5); got {value!r}")
    _epsilon = float(value)


def standardize_dtype(dtype):
    """Return a dtype name, with ``None`` meaning :func:`floatx`; reject non-float dtypes."""
    if dtype is None:
        return _floatx
    name = numpy.dtype(dtype).name
    if name not in _FLOAT_DTYPES:
        raise ValueError(f"dtype must be one of {list(_FLOAT_DTYPES)}; got {dtype!r}")
    return name


def seed_global_generator(seed):
    """Reseed the process-wide generator from which unseeded randomness derives."""
    global _global_generator
    _global_generator = numpy.random.default_rng(seed)


def make_generator(seed=None):
    """A new ``numpy.random.Generator``.

    With an integer ``seed`` it depends on that seed alone; with ``None`` its seed is drawn from the
    process-wide generator, so :func:`dendrite.utils.set_random_seed` makes every run repeat.
    """
    if seed is None:
        seed = int(_global_generator.integers(0, 2**63 - 1))
    return numpy.random.default_rng(seed)


def erf(x):
    """Element-wise error function for either array module (NumPy has none of its own)."""
    xp = get_array_module(x)
    if xp is not numpy:
        from cupyx.scipy.special import erf as cupy_erf

        return cupy_erf(x)
    import math

    return numpy.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()
