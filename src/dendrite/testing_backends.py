"""A device backend for the CPU that refuses host round trips: the test double of CuPy.

A GPU library keeps arrays in device memory: NumPy cannot read them, mixing them with NumPy arrays
is an error, and reading a value back (``float(loss)``, ``bool(x.all())``) makes the host wait for
the device. :data:`host_guard` behaves the same way on the CPU, so a test without a GPU proves that
a code path keeps its arrays on the device:

- :class:`GuardedArray` wraps a ``numpy.ndarray``. ``numpy.asarray(x)`` and any NumPy function that
  needs a host array raise :class:`HostRoundTripError`; so does mixing it with a plain
  ``numpy.ndarray`` in an operation, as CuPy raises ``TypeError``. Indexing a scalar gives a 0-d
  array, as CuPy does.
- :data:`host_guard` is the array module (``xp``) of these arrays: NumPy's functions, ufuncs,
  ``random.default_rng``, ``lib.stride_tricks``, taking and returning guarded arrays.
  ``xp.asarray(host_array)`` is the explicit upload, ``x.get()`` the explicit download.
- Reading a value on the host (``float``, ``int``, ``bool``, ``item``, ``tolist``) is allowed, as
  in CuPy, but counted in :data:`counters` (``syncs``); uploads and downloads are counted too.
  Inside ``with host_guard.no_syncs():`` a sync raises instead.

Importing this module registers the backend as ``"host_guard"``, so
``dendrite.config.set_backend("host_guard")`` builds models on it.

Example:
    >>> from dendrite.backend import get_array_module
    >>> x = host_guard.asarray([1.0, 2.0])
    >>> get_array_module(x) is host_guard
    True
    >>> float((x * 2).sum())
    6.0
"""

import contextlib
import weakref

from dendrite import backend
from dendrite.backend import host as numpy

__all__ = ["GuardedArray", "HostRoundTripError", "counters", "host_guard"]


class HostRoundTripError(TypeError):
    """A device array was used where only a host (NumPy) array works."""


class Counters:
    """How often the host waited for or exchanged data with the device (reset with :meth:`reset`).

    Attributes:
        syncs: values read on the host (``float``, ``bool``, ``int``, ``item`` ...).
        uploads: explicit host-to-device copies (``xp.asarray`` of a host array).
        downloads: explicit device-to-host copies (``x.get()``).
    """

    def __init__(self):
        self.reset()

    def reset(self):
        self.syncs = self.uploads = self.downloads = 0
        self.forbid_syncs = False

    def sync(self, what):
        if self.forbid_syncs:
            raise HostRoundTripError(f"{what} reads a device value on the host (a GPU would "
                                     "synchronize here) inside host_guard.no_syncs()")
        self.syncs += 1


counters = Counters()
"""The process-wide :class:`Counters` of :data:`host_guard`."""

_wrappers = weakref.WeakValueDictionary()  # id(raw ndarray) -> its GuardedArray


def _wrap(value):
    """Guarded arrays for the NumPy arrays (and scalars) in ``value``."""
    if isinstance(value, numpy.ndarray):
        wrapper = _wrappers.get(id(value))
        if wrapper is None or wrapper._data is not value:
            wrapper = GuardedArray(value)
            _wrappers[id(value)] = wrapper
        return wrapper
    if isinstance(value, numpy.generic):
        return GuardedArray(numpy.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(item) for item in value)
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    if isinstance(value, numpy.random.Generator):
        return _GuardedGenerator(value)
    return value


def _unwrap(value, who, allow_host=False):
    """The NumPy arrays under ``value``; a plain host array is refused unless ``allow_host``."""
    if isinstance(value, GuardedArray):
        return value._data
    if isinstance(value, numpy.ndarray):
        if allow_host:
            counters.uploads += 1
            return value
        raise HostRoundTripError(
            f"{who}: a host numpy.ndarray of shape {value.shape} is mixed with device arrays; "
            "move it with backend.to_device first (CuPy raises TypeError here)")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(item, who, allow_host) for item in value)
    if isinstance(value, dict):
        return {key: _unwrap(item, who, allow_host) for key, item in value.items()}
    return value


class GuardedArray(numpy.lib.mixins.NDArrayOperatorsMixin):
    """A device array double: a ``numpy.ndarray`` that NumPy may not read implicitly.

    Args:
        data: the wrapped ``numpy.ndarray`` (kept, not copied).
    """

    __slots__ = ("__weakref__", "_data")
    __array_priority__ = 100

    def __init__(self, data):
        self._data = data

    def __array_namespace__(self, api_version=None):
        return host_guard

    def __array__(self, dtype=None, copy=None):
        raise HostRoundTripError(
            f"a device array of shape {self._data.shape} was converted to NumPy implicitly "
            "(numpy.asarray, a NumPy function, or a host array operation); on a GPU this fails "
            "or copies it back. Use the array's own module (get_array_module) or an explicit "
            "backend.to_host.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        who = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        raw = _unwrap(inputs, who)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = _unwrap(out, who)
        result = getattr(ufunc, method)(*raw, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        who = f"numpy.{func.__name__}"
        return _wrap(func(*_unwrap(args, who), **_unwrap(kwargs, who)))

    # ------------------------------------------------------------ explicit transfers and syncs

    def get(self):
        """A host copy (CuPy's ``ndarray.get``): the explicit download."""
        counters.downloads += 1
        return self._data.copy()

    def _read(self, what):
        counters.sync(what)
        return self._data

    def __float__(self):
        return float(self._read("float()"))

    def __int__(self):
        return int(self._read("int()"))

    def __index__(self):
        return self._read("operator.index()").__index__()

    def __bool__(self):
        return bool(self._read("bool()"))

    def __complex__(self):
        return complex(self._read("complex()"))

    def item(self, *args):
        return self._read("item()").item(*args)

    def tolist(self):
        return self._read("tolist()").tolist()

    # ------------------------------------------------------------ array protocol

    def __len__(self):
        return len(self._data)

    def __iter__(self):
        return (_wrap(row) for row in self._data)

    def __getitem__(self, key):
        return _wrap(self._data[_unwrap(key, "indexing", allow_host=True)])

    def __setitem__(self, key, value):
        self._data[_unwrap(key, "indexing", allow_host=True)] = _unwrap(value, "item assignment")

    def __getattr__(self, name):
        if name.startswith("__"):  # __array_interface__ and the like would hand NumPy the data
            raise AttributeError(name)
        value = getattr(self._data, name)
        if not callable(value):
            return _wrap(value)
        who = f"ndarray.{name}"

        def method(*args, **kwargs):
            return _wrap(value(*_unwrap(args, who), **_unwrap(kwargs, who)))

        return method

    @property
    def shape(self):
        return self._data.shape

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def ndim(self):
        return self._data.ndim

    @property
    def size(self):
        return self._data.size

    def __copy__(self):
        return GuardedArray(self._data.copy())

    def __deepcopy__(self, memo):
        return GuardedArray(self._data.copy())

    def __repr__(self):
        return f"GuardedArray(shape={self._data.shape}, dtype={self._data.dtype})"


class _GuardedFunction:
    """A NumPy function taking and returning guarded arrays."""

    __slots__ = ("_allow_host", "_function", "_who")

    def __init__(self, function, who, allow_host=False):
        self._function, self._who, self._allow_host = function, who, allow_host

    def __call__(self, *args, **kwargs):
        return _wrap(self._function(*_unwrap(args, self._who, self._allow_host),
                                    **_unwrap(kwargs, self._who, self._allow_host)))

    def __getattr__(self, name):  # ufunc methods: reduce, reduceat, accumulate, outer, at
        return _GuardedFunction(getattr(self._function, name), f"{self._who}.{name}")


class _GuardedGenerator:
    """A ``numpy.random.Generator`` that draws guarded arrays (CuPy's device generator)."""

    def __init__(self, generator):
        self._generator = generator

    def __getattr__(self, name):
        return _GuardedFunction(getattr(self._generator, name), f"Generator.{name}")


# names NumPy has and CuPy lacks: using them on device arrays would fail on a GPU
_HOST_ONLY = frozenset({"errstate", "seterr", "geterr", "vectorize", "frompyfunc"})
# the explicit uploads: these accept a host array
_UPLOADS = frozenset({"asarray", "array", "asanyarray"})


class HostGuardModule:
    """The ``xp`` of :class:`GuardedArray`: NumPy's namespace, guarded (see the module doc)."""

    def __init__(self, module, name):
        self._module = module
        self.__name__ = name

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "ndarray":
            return GuardedArray
        if name in _HOST_ONLY:
            raise AttributeError(f"{self.__name__}.{name}: NumPy-only (CuPy has no {name}); "
                                 "device code must not use it")
        value = getattr(self._module, name)
        if isinstance(value, type(numpy)):
            return HostGuardModule(value, f"{self.__name__}.{name}")
        if isinstance(value, type) or not callable(value):
            return value  # dtypes, scalar types, constants
        return _GuardedFunction(value, f"{self.__name__}.{name}", allow_host=name in _UPLOADS)

    @contextlib.contextmanager
    def no_syncs(self):
        """Within the block, reading a device value on the host raises HostRoundTripError."""
        previous = counters.forbid_syncs
        counters.forbid_syncs = True
        try:
            yield counters
        finally:
            counters.forbid_syncs = previous


host_guard = HostGuardModule(numpy, "host_guard")
"""The guarded array module; selectable as ``dendrite.config.set_backend("host_guard")``."""

backend.register_backend("host_guard", host_guard)
