"""Shared fixtures: the array-module fixture and isolation of global settings."""

import importlib.util

import numpy as np
import pytest

import dendrite as dd

_BACKENDS = ["numpy"] + (["cupy"] if importlib.util.find_spec("cupy") else [])


@pytest.fixture(params=_BACKENDS)
def xp(request):
    """The array module a test runs on: numpy always, cupy where a GPU is present."""
    if request.param == "numpy":
        return np
    cupy = pytest.importorskip("cupy")
    try:
        cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no driver or no device
        pytest.skip("no GPU")
    return cupy


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
