"""`.keras` files both ways with real Keras 3 (#9), run on its torch backend in a subprocess.

Keras is never imported into the pytest process (its default backend would be TensorFlow): each
check runs a small script with ``KERAS_BACKEND=torch``. The four models are built from one source
text by both libraries (``import dendrite as keras`` runs Keras code unchanged).
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dendrite
from dendrite.saving.archive import load_model

h5py = pytest.importorskip("h5py")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None,
    reason="needs keras and torch (pip install keras torch)")]

BUILDERS = textwrap.dedent("""
    def build(keras, name, opt="adam"):
        layers = keras.layers
        if name == "mlp":
            model = keras.Sequential([keras.Input((20,)), layers.Dense(16, activation="relu"),
                                      layers.Dense(10, activation="softmax")])
            loss = "sparse_categorical_crossentropy"
        elif name == "convnet":
            model = keras.Sequential([
                keras.Input((28, 28, 1)), layers.Conv2D(8, 3, activation="relu"),
                layers.MaxPooling2D(2), layers.Conv2D(16, 3, activation="relu"),
                layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.5),
                layers.Dense(10, activation="softmax")])
            loss = "sparse_categorical_crossentropy"
        elif name == "two_outputs":
            x = keras.Input((6,), name="x")
            h = layers.Dense(8, activation="relu", name="h")(x)
            shared = layers.Dense(4, name="shared")
            a = shared(h)
            b = layers.Dense(3, name="b")(shared(layers.Dense(8, name="g")(h)))
            model = keras.Model(x, [a, b], name="two")
            loss = ["mse", "mse"]
        elif name == "rnn":
            model = keras.Sequential([keras.Input((5, 3)), layers.LSTM(4, return_sequences=True),
                                      layers.GRU(3, return_sequences=True), layers.SimpleRNN(2)])
            loss = "mse"
        else:
            model = keras.Sequential([keras.Input((5,)), layers.Dense(8),
                                      layers.BatchNormalization(), layers.Activation("relu"),
                                      layers.Dense(2)])
            loss = "mse"
        optimizers = keras.optimizers
        optimizer = {"adam": lambda: optimizers.Adam(learning_rate=0.01),
                     "amsgrad": lambda: optimizers.Adam(learning_rate=0.01, amsgrad=True),
                     "adamw": lambda: optimizers.AdamW(learning_rate=0.01),
                     "sgd": lambda: optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                     "rmsprop": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
                     "adagrad": lambda: optimizers.Adagrad(0.01)}[opt]()
        model.compile(optimizer=optimizer, loss=loss)
        return model

    def sample(name, n=16):
        import numpy as np
        rng = np.random.default_rng(0)
        shape = {"mlp": (20,), "convnet": (28, 28, 1), "two_outputs": (6,), "bn": (5,),
                 "rnn": (5, 3)}[name]
        x = rng.standard_normal((n, *shape)).astype("float32")
        if name in ("mlp", "convnet"):
            y = rng.integers(0, 10, n)
        elif name == "two_outputs":
            y = [rng.standard_normal((n, 4)).astype("float32"),
                 rng.standard_normal((n, 3)).astype("float32")]
        else:
            y = rng.standard_normal((n, 2)).astype("float32")
        return x, y
""")
namespace = {}
exec(BUILDERS, namespace)  # noqa: S102 (our own source text, shared with the Keras script)
build, sample = namespace["build"], namespace["sample"]
CASES = [("mlp", "adam"), ("convnet", "adam"), ("two_outputs", "adam"), ("bn", "adam"),
         ("rnn", "adam"), ("mlp", "amsgrad"), ("mlp", "adamw"), ("mlp", "sgd"),
         ("mlp", "rmsprop"), ("mlp", "adagrad")]


def run_keras(script, *args):
    env = {**os.environ, "KERAS_BACKEND": "torch", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-c", BUILDERS + textwrap.dedent(script), *args],
                            check=False, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def layer_arrays(h5file):
    """{path: array} for every layer weight in a Keras-layout HDF5 file."""
    arrays = {}
    h5file["layers"].visititems(lambda name, item: arrays.__setitem__(name, item[()])
                                if isinstance(item, h5py.Dataset) else None)
    return arrays


def outputs(model, x):
    result = model.predict(x, verbose=0)
    return result if isinstance(result, list) else [result]


def assert_same_layers(mine, theirs, case):
    assert sorted(mine) == sorted(theirs), case
    for key in mine:
        np.testing.assert_array_equal(mine[key], theirs[key], err_msg=f"{case}: {key}")


def test_dendrite_files_load_in_keras(tmp_path):
    """Each model trained a step in dendrite, saved, loaded by Keras: same predictions, weights
    and optimizer state bitwise (Keras saves what it loaded; its slot count must match ours)."""
    models = {}
    for name, opt in CASES:
        dendrite.utils.set_random_seed(0)
        model = build(dendrite, name, opt)
        x, y = sample(name)
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        model.save(tmp_path / f"{name}-{opt}.keras")
        np.save(tmp_path / f"{name}-{opt}.x.npy", x)
        models[name, opt] = model
    run_keras("""
        import sys, os, warnings
        import keras, numpy as np
        # e.g. "Skipping variable loading for optimizer"
        warnings.simplefilter("error", UserWarning)
        folder, cases = sys.argv[1], sys.argv[2:]
        for case in cases:
            model = keras.saving.load_model(os.path.join(folder, case + ".keras"))
            x = np.load(os.path.join(folder, case + ".x.npy"))
            out = model.predict(x, verbose=0)
            out = out if isinstance(out, list) else [out]
            np.savez(os.path.join(folder, case + ".keras_out.npz"), *[np.asarray(o) for o in out])
            model.save_weights(os.path.join(folder, case + ".keras.weights.h5"))
    """, str(tmp_path), *[f"{name}-{opt}" for name, opt in CASES])
    for (name, opt), model in models.items():
        case = f"{name}-{opt}"
        x = np.load(tmp_path / f"{case}.x.npy")
        with np.load(tmp_path / f"{case}.keras_out.npz") as keras_out:
            theirs = [keras_out[k] for k in sorted(keras_out)]
        for mine, other in zip(outputs(model, x), theirs):
            np.testing.assert_allclose(mine, other, rtol=1e-5, atol=1e-6, err_msg=case)
        model.save_weights(tmp_path / f"{case}.mine.weights.h5")
        with h5py.File(tmp_path / f"{case}.mine.weights.h5") as a, \
                h5py.File(tmp_path / f"{case}.keras.weights.h5") as b:
            assert_same_layers(layer_arrays(a), layer_arrays(b), case)
            assert int(b["optimizer/vars/0"][()]) == model.optimizer.iterations == 2, case
            assert len(a["optimizer/vars"]) == len(b["optimizer/vars"]), case
            for index in range(2, len(a["optimizer/vars"])):
                np.testing.assert_array_equal(a[f"optimizer/vars/{index}"][()],
                                              b[f"optimizer/vars/{index}"][()], err_msg=case)


def test_keras_files_load_in_dendrite(tmp_path):
    """Each model trained a step in Keras and saved; dendrite loads it: same predictions,
    weights and optimizer slots bitwise, same step count."""
    run_keras("""
        import sys, os
        import keras, numpy as np
        folder, cases = sys.argv[1], sys.argv[2:]
        for case in cases:
            name, opt = case.split("-")
            keras.utils.set_random_seed(0)
            model = build(keras, name, opt)
            x, y = sample(name)
            model.fit(x, y, epochs=1, batch_size=8, verbose=0)
            model.save(os.path.join(folder, case + ".keras"))
            out = model.predict(x, verbose=0)
            out = out if isinstance(out, list) else [out]
            np.savez(os.path.join(folder, case + ".keras_out.npz"), *[np.asarray(o) for o in out])
    """, str(tmp_path), *[f"{name}-{opt}" for name, opt in CASES])
    import io
    import zipfile

    for name, opt in CASES:
        case = f"{name}-{opt}"
        model = load_model(tmp_path / f"{case}.keras")
        x, _ = sample(name)
        with np.load(tmp_path / f"{case}.keras_out.npz") as keras_out:
            theirs = [keras_out[k] for k in sorted(keras_out)]
        for mine, other in zip(outputs(model, x), theirs):
            np.testing.assert_allclose(mine, other, rtol=1e-5, atol=1e-6, err_msg=case)
        assert model.optimizer.iterations == 2, case
        model.save_weights(tmp_path / f"{case}.mine.weights.h5")
        with zipfile.ZipFile(tmp_path / f"{case}.keras") as archive:
            keras_weights = io.BytesIO(archive.read("model.weights.h5"))
        with h5py.File(tmp_path / f"{case}.mine.weights.h5") as a, h5py.File(keras_weights) as b:
            assert_same_layers(layer_arrays(a), layer_arrays(b), case)
            first_slot = 2 if "1" in b["optimizer/vars"] and b["optimizer/vars/1"].shape == () \
                else 1
            for index in range(first_slot, len(b["optimizer/vars"])):
                np.testing.assert_array_equal(a[f"optimizer/vars/{index}"][()],
                                              b[f"optimizer/vars/{index}"][()], err_msg=case)
