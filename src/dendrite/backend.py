"""The one place that chooses the array library.

Every other module asks this one for its array module instead of importing numpy (or, later, cupy)
itself: layers call :func:`get_array_module` on an input to get ``xp``; code that runs on the host
(data sets, file formats) uses :data:`host`.

Also here: the default float dtype (``floatx``, Keras's name), the fuzz factor ``epsilon`` and the
process-wide random generator that :func:`dendrite.utils.set_random_seed` reseeds.

Device policy. The *backend* (``"numpy"``, the default, or ``"cupy"`` for an NVIDIA GPU) is the
array module new weights are created in. It is read once at import from the ``DENDRITE_BACKEND``
environment variable, set with :func:`set_backend`, and chosen per model with
:func:`backend_scope` (``with backend_scope("cupy"): model = make_model()``): a model's weights live
where they were created, and ``fit``/``evaluate``/``predict`` move each batch to the module of the
model's weights (:func:`to_device`) and return host (NumPy) arrays. The CPU path never imports CuPy.
"""

import contextlib
import os

import numpy

host = numpy
"""The host array module: data sets, files and anything the user hands in live here."""

_floatx = "float32"
_epsilon = 1e-7
_FLOAT_DTYPES = ("float16", "float32", "float64")
_global_generator = numpy.random.default_rng()


def get_array_module(*arrays):
    """Return the array module that ``arrays`` belong to: numpy, cupy for a cupy array, or the
    namespace an other array type declares with ``__array_namespace__`` (the array API's
    protocol; :mod:`dendrite.testing_backends` uses it)."""
    for array in arrays:
        kind = type(array)
        if kind is numpy.ndarray:
            continue
        if kind.__module__.startswith("cupy"):
            import cupy  # only reached when the caller already holds a cupy array

            return cupy
        namespace = getattr(array, "__array_namespace__", None)
        if namespace is not None and not kind.__module__.startswith("numpy"):
            return namespace()
    return numpy


# -------------------------------------------------------------------- device policy

CUPY_INSTALL_HINT = "pip install cupy-cuda12x"
_registered = {"numpy": numpy}  # name -> module, once resolved; "cupy" is added on first use
_BUILTIN_BACKENDS = ("numpy", "cupy")


def register_backend(name, module):
    """Make ``module`` selectable as ``set_backend(name)`` (test doubles, see
    :mod:`dendrite.testing_backends`). ``module`` must offer the NumPy functions dendrite uses."""
    if not isinstance(name, str) or name in _BUILTIN_BACKENDS:
        raise ValueError(f"register_backend: name must be a new string, not one of "
                         f"{list(_BUILTIN_BACKENDS)}; got {name!r}")
    _registered[name] = module


def _import_cupy(who):
    """cupy, or an error that says what is missing and how to install it."""
    try:
        import cupy
    except ImportError:
        raise ImportError(f"{who}: the 'cupy' backend needs CuPy, which is not installed; install "
                          f"it with `{CUPY_INSTALL_HINT}` (CUDA 12), or use the 'numpy' "
                          "backend.") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as error:  # no driver, or one too old for CuPy
        raise RuntimeError(f"{who}: the 'cupy' backend needs an NVIDIA GPU; CuPy found none "
                           f"({error}). Check the driver with nvidia-smi, or use the 'numpy' "
                           "backend.") from None
    if count < 1:
        raise RuntimeError(f"{who}: the 'cupy' backend needs an NVIDIA GPU; CuPy found 0 "
                           "devices. Use the 'numpy' backend.")
    return cupy


def _resolve(name, who):
    if name in _registered:
        return _registered[name]
    if name == "cupy":
        _registered["cupy"] = _import_cupy(who)
        return _registered["cupy"]
    raise ValueError(f"{who}: backend must be one of {sorted(set(_registered) | {'cupy'})}; "
                     f"got {name!r}")


_backend_name = os.environ.get("DENDRITE_BACKEND", "numpy").strip().lower() or "numpy"
_device = _resolve(_backend_name, "DENDRITE_BACKEND")


def backend():
    """The current backend's name: ``"numpy"`` (default) or ``"cupy"``."""
    return _backend_name


def set_backend(name):
    """Create new weights with backend ``name`` from now on (``"numpy"`` or ``"cupy"``).

    Models built before keep theirs. Raises ImportError naming ``pip install cupy-cuda12x`` when
    CuPy is missing, RuntimeError when it finds no GPU, ValueError for an unknown name.
    """
    global _backend_name, _device
    _device = _resolve(name, "set_backend")
    _backend_name = name


@contextlib.contextmanager
def backend_scope(name):
    """Within the ``with`` block, :func:`backend` is ``name``: the per-model choice (a model keeps
    the backend it was built with)."""
    previous = _backend_name
    set_backend(name)
    try:
        yield device_module()
    finally:
        set_backend(previous)


def device_module():
    """The array module of the current backend (numpy, cupy, or a registered module)."""
    return _device


def to_device(array, xp=None):
    """``array`` in array module ``xp`` (default: the current backend's), copied only when it lives
    elsewhere: the one explicit host-to-device transfer. None stays None."""
    xp = _device if xp is None else xp
    if array is None or get_array_module(array) is xp:
        return array
    return xp.asarray(array)


def to_host(array):
    """A NumPy array for ``array`` (a device array is copied back: one explicit transfer)."""
    if array is None or type(array) is numpy.ndarray:
        return array
    return array.get() if hasattr(array, "get") else numpy.asarray(array)


def loss_scalar(value):
    """A reduced loss or metric sum: a float for host arrays; on a device a 0-d float64 array that
    stays there (running sums then add up as Python floats do, without waiting for the device)."""
    return float(value) if get_array_module(value) is numpy else value.astype("float64")


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


_device_constants = {}


def device_constant(array, like):
    """``array``, a host array that never changes (gate orders, scales), in the module of
    ``like``: itself on the host; on a device a copy made once and kept with it, so a step does not
    upload it again."""
    return _kept_on_device(_device_constants, array, like, lambda xp: xp.asarray(array))


_device_streams = {}


def random_stream(generator, like):
    """The generator to draw noise for ``like`` from: ``generator`` itself (a host
    ``numpy.random.Generator``) for host arrays; for device arrays a device generator of ``like``'s
    module, seeded once from ``generator`` and kept with it, so masks are drawn on the device."""
    return _kept_on_device(_device_streams, generator, like, lambda xp: xp.random.default_rng(
        int(generator.integers(0, 2**63 - 1))))


def _kept_on_device(cache, host_object, like, make):
    """``host_object`` for host arrays; for ``like``'s device module, ``make(xp)`` made once per
    (object, module) and kept in ``cache`` with the object (an id alone could be reused)."""
    xp = get_array_module(like)
    if xp is numpy:
        return host_object
    key = (id(host_object), xp.__name__)
    entry = cache.get(key)
    if entry is None or entry[0] is not host_object:
        entry = cache[key] = (host_object, make(xp))
    return entry[1]


def make_generator(seed=None):
    """A new ``numpy.random.Generator``.

    With an integer ``seed`` it depends on that seed alone; with ``None`` its seed is drawn from the
    process-wide generator, so :func:`dendrite.utils.set_random_seed` makes every run repeat.
    """
    if seed is None:
        seed = int(_global_generator.integers(0, 2**63 - 1))
    return numpy.random.default_rng(seed)
