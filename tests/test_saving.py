"""Saving (#9): weight files in Keras's layout, atomic writes, and crafted files that must not load.

Every crafted file is made inside the test; its payload, if anything ever ran it, would create a
marker file, and each test asserts both a clear error and that the marker does not exist.
"""

import base64
import io
import json
import marshal
import os
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import dendrite
from dendrite import Input, Model, Sequential, layers
from dendrite.saving import archive, atomic
from dendrite.saving.h5_weights import keras_layers, layer_paths, snake_case
from dendrite.saving.safety import FileFormatError, UnsafeFileError

h5py = pytest.importorskip("h5py")


def mlp(seed=0):
    dendrite.utils.set_random_seed(seed)
    model = Sequential([Input((4,)), layers.Dense(5, activation="relu"),
                        layers.BatchNormalization(), layers.Dropout(0.25), layers.Dense(3)])
    model.compile("adam", "mse")
    return model


def data(n=32):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)).astype("float32"), rng.standard_normal((n, 3)).astype(
        "float32")


@pytest.fixture
def trained(tmp_path):
    model = mlp()
    model.fit(*data(), epochs=2, batch_size=8, verbose=0)
    return model


# ------------------------------------------------------------------ layout and round trips


def test_snake_case_matches_keras_names():
    assert [snake_case(n) for n in ("Dense", "Conv2D", "MaxPooling2D", "BatchNormalization",
                                    "InputLayer", "GlobalAveragePooling2D")] == [
        "dense", "conv2d", "max_pooling2d", "batch_normalization", "input_layer",
        "global_average_pooling2d"]


def test_functional_layer_order_follows_keras_depth_order():
    x = Input((4,), name="x")
    h = layers.Dense(3, name="d1")(x)
    shared = layers.Dense(2, name="shared")
    a = shared(h)
    b = layers.Dense(2, name="other")(shared(layers.Dropout(0.5, name="drop")(h)))
    model = Model(x, [a, b])
    # Keras 3.15 lists this model's layers as x, d1, drop, shared, other (checked on Keras)
    assert [layer.name for layer in keras_layers(model)] == ["x", "d1", "drop", "shared", "other"]
    assert [p for p, _ in layer_paths(model)] == [
        "layers/input_layer", "layers/dense", "layers/dropout", "layers/dense_1", "layers/dense_2"]


def test_weights_h5_layout_and_round_trip(tmp_path, trained):
    path = tmp_path / "m.weights.h5"
    trained.save_weights(path)
    with h5py.File(path, "r") as f:
        assert f["layers/dense/vars"].attrs["name"] == trained.layers[0].name
        assert f["layers/dense/vars/0"].shape == (4, 5)
        assert [f[f"layers/batch_normalization/vars/{i}"].shape for i in range(4)] == [(5,)] * 4
        assert int(f["optimizer/vars/0"][()]) == 8  # iterations: 2 epochs x 4 batches
        # Adam: iterations, learning rate, then (m, v) per trainable variable: 6 variables
        assert len(f["optimizer/vars"]) == 2 + 2 * 6
    other = mlp(seed=1)
    other.load_weights(path)
    for a, b in zip(trained.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert other.optimizer.iterations == 8
    x, _ = data()
    np.testing.assert_array_equal(trained.predict(x, verbose=0), other.predict(x, verbose=0))


def test_optimizer_slots_round_trip_bitwise(tmp_path, trained):
    path = tmp_path / "m.weights.h5"
    trained.save_weights(path)
    other = mlp(seed=1)
    other.load_weights(path)
    for a, b in zip(trained.trainable_weights, other.trainable_weights):
        for name, value in trained.optimizer.variable_state(a).items():
            np.testing.assert_array_equal(value, other.optimizer.variable_state(b)[name])
    x, y = data()
    trained.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    other.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(trained.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_safetensors_round_trip(tmp_path, trained):
    pytest.importorskip("safetensors")
    from safetensors.numpy import load_file

    path = tmp_path / "m.safetensors"
    trained.save_weights(path)
    tensors = load_file(str(path))
    assert sorted(tensors) == sorted(
        ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias",
         "batch_normalization/gamma", "batch_normalization/beta", "batch_normalization/moving_mean",
         "batch_normalization/moving_variance"])
    np.testing.assert_array_equal(tensors["dense/kernel"], trained.layers[0].kernel.numpy())
    other = mlp(seed=1)
    other.load_weights(path)
    for a, b in zip(trained.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_safetensors_shape_checked_before_reading(tmp_path, trained):
    pytest.importorskip("safetensors")
    from safetensors.numpy import save_file

    path = tmp_path / "bad.safetensors"
    from dendrite.saving.safetensors_io import tensor_names

    tensors = {key: v.numpy() for key, v in tensor_names(trained)}
    tensors["dense/kernel"] = np.zeros((7, 5), "float32")
    save_file(tensors, str(path))
    other = mlp(seed=1)
    before = other.get_weights()
    with pytest.raises(FileFormatError, match=r"kernel.*\(7, 5\).*\(4, 5\)"):
        other.load_weights(path)
    for a, b in zip(before, other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_unknown_extension_is_refused(tmp_path, trained):
    with pytest.raises(ValueError, match=r"must end in \.weights\.h5 or \.safetensors"):
        trained.save_weights(tmp_path / "m.h5")


# ------------------------------------------------------------------ atomic writes


def test_atomic_write_keeps_old_file_on_exception(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic.atomic_write(target) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]  # the temporary file is gone


def test_save_interrupted_by_an_exception_keeps_previous_weights(tmp_path, trained, monkeypatch):
    path = tmp_path / "m.weights.h5"
    trained.save_weights(path)
    good = path.read_bytes()
    from dendrite.saving import h5_weights

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")  # a full disk, simulated

    monkeypatch.setattr(h5_weights, "write_model_weights", fail)
    with pytest.raises(OSError, match="No space left"):
        trained.save_weights(path)
    assert path.read_bytes() == good
    monkeypatch.undo()
    mlp(seed=1).load_weights(path)


def test_disk_full_during_the_write_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    real_fsync = os.fsync

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"), atomic.atomic_write(target) as handle:
        handle.write(b"new")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_unwritable_folder_gives_a_clear_error(tmp_path, trained):
    if os.geteuid() == 0:  # root writes anywhere but in sysfs (permission or read-only error)
        if not os.path.isdir("/sys/kernel"):
            pytest.skip("needs a non-root user or Linux's /sys")
        with pytest.raises(OSError, match=r"cannot write to '/sys/kernel/m\.keras': the "
                                                  r"folder '/sys/kernel' is not writable"):
            trained.save("/sys/kernel/m.keras")
        return
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            trained.save_weights(folder / "m.weights.h5")
    finally:
        folder.chmod(0o700)


def test_missing_folder_gives_a_clear_error(tmp_path, trained):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        trained.save_weights(tmp_path / "nope" / "m.weights.h5")


@pytest.mark.slow
def test_sigkill_during_a_large_save_leaves_previous_file_loadable(tmp_path):
    """A child process saves a ~200 MB model over a good file and is killed mid-write."""
    path = tmp_path / "big.weights.h5"
    script = textwrap.dedent(f"""
        import sys
        import dendrite
        from dendrite import Input, Sequential, layers
        dendrite.utils.set_random_seed(0)
        model = Sequential([Input((4000,)), layers.Dense(12500)])
        model.save_weights({str(path)!r})
        print("saved", flush=True)
        sys.stdin.readline()
        from dendrite.saving import atomic
        real = atomic.os.fsync
        def slow_fsync(fd):
            print("writing", flush=True)
            import time
            time.sleep(30)
        atomic.os.fsync = slow_fsync
        model.layers[0].kernel.value[...] = 1.0
        model.save_weights({str(path)!r})
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "saved"
        good = os.path.getsize(path)
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "writing"  # the new file is written, not renamed
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.kill()
    assert os.path.getsize(path) == good
    dendrite.utils.set_random_seed(0)
    model = Sequential([Input((4000,)), layers.Dense(12500)])
    expected = model.layers[0].kernel.numpy()
    model.layers[0].kernel.value[...] = 0
    model.load_weights(path)
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), expected)
    leftovers = [name for name in os.listdir(tmp_path) if name.startswith(".dendrite-tmp-")]
    assert len(leftovers) == 1  # the killed write's temporary file; the target is intact


# ------------------------------------------------------------------ crafted files


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "a payload in a crafted file ran"


def good_weights_bytes(model):
    buffer = io.BytesIO()
    from dendrite.saving.h5_weights import write_model_weights

    with h5py.File(buffer, "w") as f:
        write_model_weights(f, model)
    return buffer.getvalue()


def keras_zip(path, config, weights=b"", metadata=None, extra=(), compression=zipfile.ZIP_STORED):
    metadata = metadata if metadata is not None else {"keras_version": "3.15.1"}
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("metadata.json", json.dumps(metadata))
        zf.writestr("config.json", config if isinstance(config, (bytes, str)) else
                    json.dumps(config))
        zf.writestr("model.weights.h5", weights)
        for name, content in extra:
            zf.writestr(name, content)
    return path


def sequential_config(layer_configs):
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "s", "trainable": True, "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                 "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "in"}},
                *layer_configs]}}


def dense_config(**overrides):
    config = {"name": "d", "units": 3, "activation": "linear", "use_bias": True}
    config.update(overrides)
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": config}


def shell(marker):
    return f"touch {marker}"


def test_config_naming_os_system_is_refused(tmp_path, marker, trained):
    layer = {"module": "os", "class_name": "system", "config": shell(marker),
             "registered_name": None}
    path = keras_zip(tmp_path / "a.keras", sequential_config([layer]),
                     good_weights_bytes(trained))
    with pytest.raises(UnsafeFileError, match=r"module 'os'.*never imports"):
        dendrite.saving.archive.load_model(path)


def test_activation_naming_builtins_eval_is_refused(tmp_path, marker, trained):
    activation = {"module": "builtins.eval", "class_name": "function",
                  "config": f"__import__('os').system('{shell(marker)}')"}
    path = keras_zip(tmp_path / "a.keras", sequential_config([dense_config(
        activation=activation)]), good_weights_bytes(trained))
    with pytest.raises(UnsafeFileError, match=r"module 'builtins\.eval'"):
        archive.load_model(path)


def test_config_naming_subprocess_popen_is_refused(tmp_path, marker, trained):
    layer = {"module": "subprocess", "class_name": "Popen",
             "config": {"args": ["touch", str(marker)]}}
    path = keras_zip(tmp_path / "a.keras", sequential_config([layer]),
                     good_weights_bytes(trained))
    with pytest.raises(UnsafeFileError, match="module 'subprocess'"):
        archive.load_model(path)


def test_lambda_with_marshalled_bytecode_is_refused(tmp_path, marker, trained):
    code = compile(f"open({str(marker)!r}, 'w').close()", "payload", "exec")
    lam = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
           "config": {"name": "lam", "function": {
               "class_name": "__lambda__",
               "config": {"code": base64.b64encode(marshal.dumps(code)).decode(),
                          "defaults": None, "closure": None}}}}
    path = keras_zip(tmp_path / "a.keras", sequential_config([lam]), good_weights_bytes(trained))
    with pytest.raises(UnsafeFileError, match=r"Lambda layer.*never loads code"):
        archive.load_model(path)


def test_enable_unsafe_deserialization_in_config_is_refused(tmp_path, marker, trained):
    config = sequential_config([dense_config()])
    config["config"]["enable_unsafe_deserialization"] = True
    path = keras_zip(tmp_path / "a.keras", config, good_weights_bytes(trained))
    with pytest.raises(UnsafeFileError, match="enable_unsafe_deserialization"):
        archive.load_model(path)


def test_safe_mode_false_is_refused(tmp_path, trained):
    with pytest.raises(UnsafeFileError, match="no unsafe mode"):
        archive.load_model(tmp_path / "x.keras", safe_mode=False)


def pickle_payload(marker):
    # a protocol-0 pickle calling os.system: written by hand, never unpickled
    return f"cos\nsystem\n(S'{shell(marker)}'\ntR.".encode()


def test_pickle_where_the_hdf5_should_be(tmp_path, marker):
    path = keras_zip(tmp_path / "a.keras", sequential_config([dense_config()]),
                     b"\x80\x04" + pickle_payload(marker))
    with pytest.raises(FileFormatError, match=r"model\.weights\.h5 is not an HDF5 file.*pickle"):
        archive.load_model(path)


def test_pickle_as_a_weights_file(tmp_path, marker, trained):
    path = tmp_path / "w.weights.h5"
    path.write_bytes(b"\x80\x04" + pickle_payload(marker))
    with pytest.raises(FileFormatError, match="pickle, which dendrite never loads"):
        trained.load_weights(path)


def test_zip_member_escaping_with_dotdot_is_refused(tmp_path, marker, trained):
    path = keras_zip(tmp_path / "a.keras", sequential_config([dense_config()]),
                     good_weights_bytes(trained), extra=[("../../PWNED", b"x")])
    with pytest.raises(UnsafeFileError, match=r"'\.\./\.\./PWNED' has an unsafe path"):
        archive.load_model(path)
    assert not (tmp_path.parent / "PWNED").exists()


def test_zip_bomb_is_refused_before_decompressing(tmp_path, marker, trained):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", "{}")
        zf.writestr("config.json", b" " * (300 * 2**20))  # 300 MB of spaces, ~300 KB stored
        zf.writestr("model.weights.h5", good_weights_bytes(trained))
    assert os.path.getsize(path) < 2 * 2**20
    with pytest.raises(UnsafeFileError, match="compression bomb"):
        archive.load_model(path)


def test_oversized_config_is_refused(tmp_path, trained):
    big = json.dumps(sequential_config([dense_config()]))[:-1] + ', "pad": "' + \
        "x" * (17 * 2**20) + '"}'
    path = keras_zip(tmp_path / "a.keras", big, good_weights_bytes(trained))
    with pytest.raises(FileFormatError, match="config.json declares .* bytes, more than"):
        archive.load_model(path)


def test_deeply_nested_config_is_refused(tmp_path, trained):
    path = keras_zip(tmp_path / "a.keras", "[" * 100000 + "]" * 100000,
                     good_weights_bytes(trained))
    with pytest.raises(FileFormatError, match="nests deeper than 64"):
        archive.load_model(path)


def crafted_weights(path, trained, edit):
    """A weights file written by dendrite, then changed by ``edit(h5file)``."""
    trained.save_weights(path)
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def test_dataset_declaring_a_trillion_elements_is_never_read(tmp_path, trained):
    def edit(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=(10**6, 10**6), dtype="float32")

    path = crafted_weights(tmp_path / "w.weights.h5", trained, edit)
    assert os.path.getsize(path) < 2**20  # declared, never written
    model = mlp(seed=1)
    before = model.get_weights()
    with pytest.raises(FileFormatError, match=r"has shape \(1000000, 1000000\); the model "
                                              r"expects \(4, 5\)"):
        model.load_weights(path)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_wrong_shape_names_layer_variable_and_shapes(tmp_path, trained):
    def edit(f):
        del f["layers/dense_1/vars/1"]
        f["layers/dense_1/vars"].create_dataset("1", data=np.zeros(4, "float32"))

    path = crafted_weights(tmp_path / "w.weights.h5", trained, edit)
    with pytest.raises(FileFormatError, match=r"Dense .*layers/dense_1/vars/1, variable 'bias'\) "
                                              r"has shape \(4,\); the model expects \(3,\)"):
        mlp(seed=1).load_weights(path)


def test_wrong_dtype_is_refused(tmp_path, trained):
    def edit(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars"].create_dataset("1", data=np.zeros(5, "float64"))

    path = crafted_weights(tmp_path / "w.weights.h5", trained, edit)
    with pytest.raises(FileFormatError, match="dtype float64; the model expects float32"):
        mlp(seed=1).load_weights(path)


def test_missing_weights_are_refused(tmp_path, trained):
    path = crafted_weights(tmp_path / "w.weights.h5", trained,
                           lambda f: f.__delitem__("layers/batch_normalization"))
    with pytest.raises(FileFormatError, match="no weights of BatchNormalization"):
        mlp(seed=1).load_weights(path)


def test_missing_variable_is_refused(tmp_path, trained):
    path = crafted_weights(tmp_path / "w.weights.h5", trained,
                           lambda f: f.__delitem__("layers/batch_normalization/vars/3"))
    with pytest.raises(FileFormatError, match="holds 3 arrays; the layer has 4"):
        mlp(seed=1).load_weights(path)


def test_extra_weights_are_refused(tmp_path, trained):
    def edit(f):
        f["layers/dense/vars"].create_dataset("2", data=np.zeros(5, "float32"))

    path = crafted_weights(tmp_path / "w.weights.h5", trained, edit)
    with pytest.raises(FileFormatError, match="holds 3 arrays; the layer has 2"):
        mlp(seed=1).load_weights(path)


def test_weights_of_a_layer_the_model_lacks_are_refused(tmp_path, trained):
    def edit(f):
        f.create_group("layers/dense_7/vars").create_dataset("0", data=np.zeros(2, "float32"))

    path = crafted_weights(tmp_path / "w.weights.h5", trained, edit)
    with pytest.raises(FileFormatError, match="layers/dense_7 .*does not have"):
        mlp(seed=1).load_weights(path)


def test_external_dataset_reading_another_file_is_refused(tmp_path, trained):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(20, dtype="float32").tobytes())

    def edit(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=(4, 5), dtype="float32",
                                              external=[(str(secret), 0, 80)])

    path = crafted_weights(tmp_path / "w.weights.h5", trained, edit)
    with pytest.raises(UnsafeFileError, match="external or virtual"):
        mlp(seed=1).load_weights(path)


def test_soft_link_in_weights_is_refused(tmp_path, trained):
    def edit(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.SoftLink("/layers/dense_1/vars/0")

    path = crafted_weights(tmp_path / "w.weights.h5", trained, edit)
    with pytest.raises(UnsafeFileError, match="is a link"):
        mlp(seed=1).load_weights(path)


def test_truncated_archive(tmp_path, trained):
    full = keras_zip(tmp_path / "a.keras", sequential_config([dense_config()]),
                     good_weights_bytes(trained))
    cut = tmp_path / "cut.keras"
    cut.write_bytes(full.read_bytes()[: os.path.getsize(full) // 2])
    with pytest.raises(FileFormatError, match="truncated or not a zip"):
        archive.load_model(cut)


def test_truncated_weights_file(tmp_path, trained):
    path = tmp_path / "w.weights.h5"
    trained.save_weights(path)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(FileFormatError, match="not a readable HDF5 file"):
        mlp(seed=1).load_weights(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "r.keras"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(FileFormatError, match=r"not a \.keras \(zip\) archive"):
        archive.load_model(path)


def test_empty_file(tmp_path, trained):
    (tmp_path / "e.keras").write_bytes(b"")
    (tmp_path / "e.weights.h5").write_bytes(b"")
    with pytest.raises(FileFormatError, match="the file is empty"):
        archive.load_model(tmp_path / "e.keras")
    with pytest.raises(FileFormatError, match="the file is empty"):
        trained.load_weights(tmp_path / "e.weights.h5")


@pytest.mark.parametrize("metadata, message", [
    ({"keras_version": "3.15.1", "dendrite_format_version": 2}, "newer dendrite"),
    ({"keras_version": "4.0.0"}, "Keras '4.0.0'"),
])
def test_newer_format_version_is_refused(tmp_path, trained, metadata, message):
    path = keras_zip(tmp_path / "a.keras", sequential_config([dense_config()]),
                     good_weights_bytes(trained), metadata=metadata)
    with pytest.raises(FileFormatError, match=message):
        archive.load_model(path)


def test_archive_without_weights_member(tmp_path):
    path = tmp_path / "a.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
    with pytest.raises(FileFormatError, match=r"no model\.weights\.h5"):
        archive.load_model(path)


def test_duplicate_json_keys_are_refused(tmp_path, trained):
    text = '{"class_name": "Sequential", "class_name": "Functional", "config": {}}'
    path = keras_zip(tmp_path / "a.keras", text, good_weights_bytes(trained))
    with pytest.raises(FileFormatError, match="duplicate key 'class_name'"):
        archive.load_model(path)



def test_builtins_eval_named_as_a_function_is_refused_by_the_registry(tmp_path, marker, trained):
    activation = {"module": "builtins", "class_name": "function", "config": "eval",
                  "registered_name": None}
    path = keras_zip(tmp_path / "a.keras", sequential_config([dense_config(
        activation=activation)]), good_weights_bytes(trained))
    with pytest.raises(FileFormatError, match="'eval'"):
        archive.load_model(path)


def test_custom_objects_are_refused(tmp_path):
    with pytest.raises(ValueError, match="register_serializable"):
        archive.load_model(tmp_path / "x.keras", custom_objects={"f": print})


# ------------------------------------------------------------------ whole models


def two_output_model():
    dendrite.utils.set_random_seed(3)
    x = Input((6,), name="x")
    h = layers.Dense(8, activation="relu", name="h")(x)
    shared = layers.Dense(4, name="shared")
    inner_in = Input((4,))
    inner = Model(inner_in, layers.Dense(3)(layers.Dropout(0.2)(inner_in)), name="inner")
    model = Model(x, [shared(h), inner(shared(layers.Dense(8, name="g")(h)))], name="two")
    model.compile(dendrite.optimizers.RMSprop(0.01, momentum=0.5, centered=True), ["mse", "mse"])
    return model


def test_keras_archive_round_trip_with_shared_layer_and_nested_model(tmp_path):
    model = two_output_model()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 6)).astype("float32")
    y = [rng.standard_normal((16, 4)).astype("float32"),
         rng.standard_normal((16, 3)).astype("float32")]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "two.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())
        config = json.loads(zf.read("config.json"))
        assert config["class_name"] == "Functional"
        assert config["compile_config"]["optimizer"]["class_name"] == "RMSprop"
        assert json.loads(zf.read("metadata.json"))["dendrite_format_version"] == 1
    loaded = dendrite.models.load_model(path)
    assert loaded.optimizer.iterations == 4
    for a, b in zip(model.predict(x, verbose=0), loaded.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)  # optimizer state, shuffling and dropout resumed
    other = two_output_model()
    other.load_weights(path)  # weights straight from a .keras archive


def test_load_model_without_compile(tmp_path, trained):
    trained.save(tmp_path / "m.keras")
    loaded = archive.load_model(tmp_path / "m.keras", compile=False)
    assert loaded.optimizer is None
    x, _ = data()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), trained.predict(x, verbose=0))


def test_save_refuses_wrong_extension_and_overwrite(tmp_path, trained):
    with pytest.raises(ValueError, match=r"must end in \.keras"):
        trained.save(tmp_path / "m.h5")
    trained.save(tmp_path / "m.keras")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        trained.save(tmp_path / "m.keras", overwrite=False)


def test_import_dendrite_does_not_import_h5py():
    code = "import sys, dendrite; print('h5py' in sys.modules, 'safetensors' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.strip() == "False False", result.stderr


def test_untrained_optimizer_writes_only_its_counter_and_rate(tmp_path):
    model = mlp()
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5") as f:
        assert sorted(f["optimizer/vars"]) == ["0", "1"]  # as Keras writes an unbuilt optimizer
        assert int(f["optimizer/vars/0"][()]) == 0 and float(f["optimizer/vars/1"][()]) == 0.001
    other = mlp(seed=1)
    other.load_weights(tmp_path / "w.weights.h5")
    assert other.optimizer.iterations == 0


def test_stored_member_reader_seeks_inside_its_member(tmp_path, trained):
    import zipfile as zf

    trained.save(tmp_path / "m.keras")
    with zf.ZipFile(tmp_path / "m.keras") as archive_file:
        info = archive_file.getinfo("model.weights.h5")
        expected = archive_file.read(info)
    view = archive._StoredMember(str(tmp_path / "m.keras"), info)
    assert view.read(8) == expected[:8]
    view.seek(-5, io.SEEK_END)
    assert view.read(100) == expected[-5:]  # never past the member's end
    view.seek(100)
    assert view.read(50) == expected[100:150]
    view.close()


def test_hdf5_file_given_to_load_model_gets_a_pointer(tmp_path, trained):
    trained.save_weights(tmp_path / "w.weights.h5")
    legacy = tmp_path / "legacy.keras"
    legacy.write_bytes((tmp_path / "w.weights.h5").read_bytes())
    with pytest.raises(FileFormatError, match="HDF5 file: a Keras 2 model file is not read"):
        archive.load_model(legacy)


def test_recurrent_weights_follow_keras_paths(tmp_path):
    def build():
        dendrite.utils.set_random_seed(0)
        model = Sequential([Input((5, 3)), layers.LSTM(4, return_sequences=True),
                            layers.Bidirectional(layers.GRU(2, return_sequences=True)),
                            layers.TimeDistributed(layers.Dense(2))])
        model.compile("adam", "mse")
        return model

    model = build()
    x = np.random.default_rng(0).standard_normal((8, 5, 3)).astype("float32")
    model.fit(x, np.zeros((8, 5, 2), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "r.keras")
    with zipfile.ZipFile(tmp_path / "r.keras") as zf, \
            h5py.File(io.BytesIO(zf.read("model.weights.h5"))) as f:
        assert f["layers/lstm/cell/vars/1"].shape == (4, 16)  # Keras: weights live in the cell
        assert f["layers/bidirectional/forward_layer/cell/vars/2"].shape == (2, 6)
        assert f["layers/bidirectional/backward_layer/cell/vars/0"].shape == (4, 6)
        assert f["layers/time_distributed/layer/vars/0"].shape == (4, 2)
    loaded = archive.load_model(tmp_path / "r.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_optimizer_state_of_another_optimizer_is_skipped_with_a_warning(tmp_path, trained):
    trained.save_weights(tmp_path / "w.weights.h5")
    other = mlp(seed=1)
    other.compile(dendrite.optimizers.SGD(0.1, momentum=0.9), "mse")
    with pytest.warns(UserWarning, match=r"holds 14 arrays; SGD for this model needs 8 .* skipped"):
        other.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(trained.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert other.optimizer.iterations == 0
