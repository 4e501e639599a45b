"""The device policy (issue 15): choosing the backend, where weights live, clear errors."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dendrite as dd
from dendrite import backend, layers
from dendrite.testing_backends import GuardedArray, host_guard

HAS_CUPY = __import__("importlib.util").util.find_spec("cupy") is not None


def _run(code, **env):
    """Run ``code`` in a fresh interpreter (import-time behaviour); return the completed process."""
    environment = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=environment, timeout=120, check=False)


def test_default_backend_is_numpy():
    assert dd.config.backend() == "numpy"
    assert backend.device_module() is np


def test_cpu_path_never_imports_cupy():
    result = _run("""
        import sys
        import numpy as np
        import dendrite as dd
        from dendrite import layers
        model = dd.Sequential([layers.Input((4,)), layers.Dense(3, activation="relu"),
                               layers.Dropout(0.5), layers.Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        model.fit(rng.standard_normal((16, 4)), rng.integers(0, 2, 16), epochs=1, verbose=0)
        model.predict(rng.standard_normal((4, 4)), verbose=0)
        assert "cupy" not in sys.modules, sorted(m for m in sys.modules if "cupy" in m)
        print("ok", dd.config.backend())
    """, DENDRITE_BACKEND="numpy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "numpy"]


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed here")
def test_set_backend_cupy_without_cupy_names_the_install_command():
    with pytest.raises(ImportError, match=r"set_backend: the 'cupy' backend needs CuPy, which is "
                                          r"not installed; install it with `pip install "
                                          r"cupy-cuda12x`"):
        dd.config.set_backend("cupy")
    assert dd.config.backend() == "numpy"  # a failed switch changes nothing


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed here")
def test_environment_variable_cupy_without_cupy_fails_at_import():
    result = _run("import dendrite", DENDRITE_BACKEND="cupy")
    assert result.returncode == 1
    assert ("ImportError: DENDRITE_BACKEND: the 'cupy' backend needs CuPy, which is not "
            "installed; install it with `pip install cupy-cuda12x`") in result.stderr


def test_environment_variable_is_read_once_at_import_and_never_written():
    result = _run("""
        import os
        import dendrite as dd
        import dendrite.testing_backends
        os.environ["DENDRITE_BACKEND"] = "tpu"  # read once: a later change has no effect
        print(dd.config.backend())
        dd.config.set_backend("host_guard")
        print(dd.config.backend(), os.environ["DENDRITE_BACKEND"])
    """, DENDRITE_BACKEND=" NumPy ")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["numpy", "host_guard", "tpu"]


def test_environment_variable_unknown_name():
    result = _run("import dendrite", DENDRITE_BACKEND="tpu")
    assert result.returncode == 1
    assert "ValueError: DENDRITE_BACKEND: backend must be one of" in result.stderr
    assert "got 'tpu'" in result.stderr


def test_set_backend_rejects_unknown_name():
    with pytest.raises(ValueError, match=r"set_backend: backend must be one of \[.*'cupy'.*"
                                         r"'numpy'.*\]; got 'gpu'"):
        dd.config.set_backend("gpu")
    assert dd.config.backend() == "numpy"


def test_register_backend_refuses_builtin_names():
    with pytest.raises(ValueError, match=r"register_backend: name must be a new string, not one "
                                         r"of \['numpy', 'cupy'\]; got 'cupy'"):
        backend.register_backend("cupy", host_guard)


def test_set_backend_switches_where_new_weights_live():
    dd.config.set_backend("host_guard")
    try:
        assert dd.config.backend() == "host_guard"
        layer = layers.Dense(3)
        layer.build((None, 4))
        assert isinstance(layer.kernel.value, GuardedArray)
    finally:
        dd.config.set_backend("numpy")
    layer = layers.Dense(3)
    layer.build((None, 4))
    assert type(layer.kernel.value) is np.ndarray


def test_backend_scope_is_a_per_model_choice_with_identical_initial_weights():
    def make():
        dd.utils.set_random_seed(7)
        return dd.Sequential([layers.Input((5,)), layers.Dense(4), layers.Dense(2)])

    with dd.config.backend_scope("host_guard") as xp:
        assert xp is host_guard
        device_model = make()
    assert dd.config.backend() == "numpy"  # restored after the block
    host_model = make()
    assert all(isinstance(v.value, GuardedArray) for v in device_model.weights)
    assert all(type(v.value) is np.ndarray for v in host_model.weights)
    for a, b in zip(device_model.get_weights(), host_model.get_weights()):
        assert type(a) is np.ndarray  # get_weights returns host arrays
        np.testing.assert_array_equal(a, b)


def test_backend_scope_restores_after_an_error():
    with pytest.raises(RuntimeError, match="inside"), dd.config.backend_scope("host_guard"):
        raise RuntimeError("inside")
    assert dd.config.backend() == "numpy"


def test_to_device_and_to_host():
    x = np.arange(6.0).reshape(2, 3)
    assert backend.to_device(x, np) is x  # no copy on the host
    assert backend.to_device(None, host_guard) is None
    device = backend.to_device(x, host_guard)
    assert isinstance(device, GuardedArray)
    assert backend.to_device(device, host_guard) is device
    back = backend.to_host(device)
    assert type(back) is np.ndarray
    np.testing.assert_array_equal(back, x)
    assert backend.to_host(x) is x


def test_loss_scalar_is_a_float_on_the_host_and_stays_on_the_device():
    assert backend.loss_scalar(np.float32(1.5)) == 1.5
    assert type(backend.loss_scalar(np.asarray(2.0))) is float
    device = backend.loss_scalar(host_guard.asarray(np.asarray(3.0, dtype="float32")))
    assert isinstance(device, GuardedArray)
    assert device.dtype == np.float64


def test_random_stream_is_the_host_generator_on_the_host_and_one_device_stream_per_generator():
    generator = np.random.default_rng(3)
    host_x = np.zeros(2)
    assert backend.random_stream(generator, host_x) is generator
    device_x = host_guard.zeros(2)
    stream = backend.random_stream(generator, device_x)
    assert backend.random_stream(generator, device_x) is stream
    sample = stream.random((3,), dtype="float32")
    assert isinstance(sample, GuardedArray)
    assert sample.dtype == np.float32


def test_model_predict_returns_numpy_and_call_stays_on_the_device():
    with dd.config.backend_scope("host_guard"):
        model = dd.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    x = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    predicted = model.predict(x, batch_size=2, verbose=0)
    assert type(predicted) is np.ndarray
    assert predicted.shape == (5, 2)
    called = model(x)
    assert isinstance(called, GuardedArray)
    np.testing.assert_allclose(backend.to_host(called), predicted, rtol=1e-6)
