"""Shared fixtures: the array-module fixture and isolation of global settings."""

import numpy as np
import pytest

import dendrite as dd

# ---- backends (issue 15): numpy always; the host-guard double (a device that refuses host round
# trips, on the CPU); cupy where CuPy and a GPU are present, else skipped
_BACKENDS = ["numpy", "host_guard", "cupy"]


def _cupy_or_skip():
    cupy = pytest.importorskip("cupy")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError:  # no driver
        count = 0
    if count < 1:
        pytest.skip("no GPU")
    return cupy


@pytest.fixture(params=_BACKENDS)
def xp(request):
    """The array module a test runs on; ``dd.backend.to_device(a, xp)`` moves host data there and
    ``dd.backend.to_host`` reads results back."""
    if request.param == "numpy":
        return np
    if request.param == "host_guard":
        from dendrite.testing_backends import host_guard

        return host_guard
    return _cupy_or_skip()


@pytest.fixture
def backend_name(xp):
    """The backend name of ``xp`` for ``dd.config.backend_scope`` (models built on that device)."""
    return {np: "numpy"}.get(xp, getattr(xp, "__name__", "cupy"))


@pytest.fixture(autouse=True)
def _restore_globals():
    """Every test starts with float32 and Keras's epsilon, and leaves them so."""
    yield
    dd.config.set_floatx("float32")
    dd.config.set_epsilon(1e-7)


@pytest.fixture(scope="session")
def mnist_flat():
    """MNIST as float32 (m, 784) in [0, 1] and uint8 labels: ((x, y), (x_test, y_test))."""
    (x, y), (x_test, y_test) = dd.datasets.mnist.load_data()
    return ((x.reshape(-1, 784).astype("float32") / 255, y),
            (x_test.reshape(-1, 784).astype("float32") / 255, y_test))
