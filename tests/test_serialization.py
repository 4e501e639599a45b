"""The serialization registry (issue 8): one registry behind every get/serialize/deserialize, Keras
3's written form, user classes through register_serializable, and refusals that never import."""

import json
import sys

import numpy as np
import pytest

import dendrite as dd
from dendrite import (
    activations,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    saving,
    schedules,
    utils,
)
from dendrite.saving import serialization

KERAS_FORM_KEYS = ["module", "class_name", "config", "registered_name"]


# ---------------------------------------------------------------------------- built-ins


@pytest.mark.parametrize("module, kind, keras_module, objects", [
    (initializers, "initializers", "keras.initializers",
     [initializers.get(n) for n in sorted(initializers._CLASSES)]),
    (regularizers, "regularizers", "keras.regularizers",
     [regularizers.L1(0.1), regularizers.L2(0.2), regularizers.L1L2(0.1, 0.3)]),
    (losses, "losses", "keras.losses",
     [losses.get(n) for n in sorted(losses._CLASSES)] + [losses.BinaryCrossentropy(True, 0.1)]),
    (optimizers, "optimizers", "keras.optimizers",
     [optimizers.get(n) for n in sorted(optimizers._CLASSES)] + [optimizers.SGD(0.1, 0.9)]),
    (schedules, "schedules", "keras.optimizers.schedules",
     [schedules.ExponentialDecay(0.1, 10, 0.5), schedules.InverseTimeDecay(0.1, 10, 0.5),
      schedules.CosineDecay(0.1, 100)]),
    (metrics, "metrics", "keras.metrics",
     [metrics.get(n) for n in sorted(metrics._CLASSES)]),
])
def test_built_ins_round_trip_in_keras_form(module, kind, keras_module, objects):
    for obj in objects:
        written = module.serialize(obj)
        assert list(written) == KERAS_FORM_KEYS
        assert written["module"] == keras_module
        assert written["class_name"] == type(obj).__name__
        assert written["registered_name"] is None
        json.dumps(written)
        again = serialization.deserialize(kind, written)
        assert type(again) is type(obj)
        assert again.get_config() == obj.get_config()
        # dendrite's short form is read as well
        short = {"class_name": written["class_name"], "config": written["config"]}
        assert serialization.deserialize(kind, short).get_config() == obj.get_config()


def test_optimizer_with_schedule_writes_the_schedule_in_keras_form():
    adam = optimizers.Adam(schedules.ExponentialDecay(0.1, 10, 0.5))
    written = optimizers.serialize(adam)["config"]["learning_rate"]
    assert written["module"] == "keras.optimizers.schedules"
    assert written["class_name"] == "ExponentialDecay"
    again = optimizers.get(optimizers.serialize(adam))
    assert again.learning_rate == adam.learning_rate


@pytest.mark.parametrize("kind, name, cls", [
    ("activations", "swish", activations.SiLU),
    ("initializers", "xavier_uniform", initializers.GlorotUniform),
    ("initializers", "HeNormal", initializers.HeNormal),
    ("losses", "mse", losses.MeanSquaredError),
    ("losses", "MeanAbsoluteError", losses.MeanAbsoluteError),
    ("metrics", "CategoricalAccuracy", metrics.CategoricalAccuracy),
    ("optimizers", "adamw", optimizers.AdamW),
    ("regularizers", "l1_l2", regularizers.L1L2),
])
def test_names_resolve_through_the_registry(kind, name, cls):
    assert type(serialization.deserialize(kind, name)) is cls


def test_activations_keep_their_short_names():
    assert activations.serialize(activations.get("relu")) == "relu"
    assert activations.serialize(activations.get(None)) == "linear"
    assert activations.get(activations.serialize(activations.GELU(True))).approximate is True


# ---------------------------------------------------------------------------- Keras's forms


def test_keras_initializer_form_with_axes_is_read():
    initializer = initializers.get({
        "module": "keras.initializers", "class_name": "GlorotUniform",
        "config": {"seed": 3, "input_axes": None, "output_axes": None}, "registered_name": None})
    assert isinstance(initializer, initializers.GlorotUniform) and initializer.seed == 3


@pytest.mark.parametrize("kind, name, cls", [
    ("activations", "relu", activations.ReLU),
    ("losses", "mean_squared_error", losses.MeanSquaredError),
    ("metrics", "categorical_accuracy", metrics.CategoricalAccuracy),
])
def test_keras_function_form_is_read_by_name(kind, name, cls):
    written = {"module": "builtins", "class_name": "function", "config": name,
               "registered_name": "function"}
    assert type(serialization.deserialize(kind, written)) is cls


def test_keras_optimizer_from_an_internal_module_is_read_without_importing_it():
    written = {"module": "keras.src.backend.torch.optimizers.torch_adam", "class_name": "Adam",
               "config": {"name": "adam", "learning_rate": 0.0010000000474974513,
                          "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
                          "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
                          "ema_overwrite_frequency": None, "loss_scale_factor": None,
                          "gradient_accumulation_steps": None, "beta_1": 0.9, "beta_2": 0.999,
                          "epsilon": 1e-07, "amsgrad": False},
               "registered_name": "Adam"}
    adam = optimizers.get(written)
    assert isinstance(adam, optimizers.Adam)
    assert adam.learning_rate == pytest.approx(1e-3)
    assert "keras.src.backend.torch.optimizers.torch_adam" not in sys.modules


def test_keras_only_option_with_another_value_is_refused():
    written = {"class_name": "Adam", "config": {"use_ema": True}}
    with pytest.raises(ValueError, match=r"Adam: the Keras option use_ema=True is not supported"):
        optimizers.get(written)


def test_keras_layer_dtype_policy_is_read():
    written = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
               "config": {"name": "d64", "units": 2, "dtype": {
                   "module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"},
                   "registered_name": None}}}
    layer = serialization.deserialize("layers", written)
    assert layer.dtype == "float64" and layer.name == "d64"


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("kind, identifier, message", [
    ("layers", {"class_name": "Lambda", "config": {"function": "eval"}}, "Unknown layer 'Lambda'"),
    ("layers", {"module": "os", "class_name": "system", "config": {}},
     "Refusing layer 'system' from module 'os'"),
    ("layers", {"class_name": "os.system", "config": {}}, "Unknown layer 'os.system'"),
    ("activations", {"module": "builtins", "class_name": "function", "config": "eval"},
     "Unknown activation 'eval'"),
    ("activations", {"module": "builtins", "class_name": "eval", "config": {}},
     "Refusing activation 'eval' from module 'builtins'"),
    ("losses", {"module": "subprocess", "class_name": "Popen", "config": {}},
     "from module 'subprocess'"),
    ("optimizers", {"class_name": "Adam", "registered_name": "os>system", "config": {}},
     "registered_name 'os>system'.*no class is registered"),
    ("layers", {"class_name": "function", "config": "relu"}, "only built-in activations"),
    ("initializers", {"class_name": "HeNormal", "config": {}, "extra": 1}, "got keys"),
    ("initializers", {"class_name": "HeNormal", "config": "seed=1"}, "config must be a dict"),
    ("metrics", "not_a_metric", "Unknown metric 'not_a_metric'"),
    ("schedules", {"class_name": "NoSuchDecay", "config": {}},
     "Unknown learning-rate schedule 'NoSuchDecay'"),
])
def test_unknown_or_foreign_names_are_refused(kind, identifier, message):
    with pytest.raises(ValueError, match=message):
        serialization.deserialize(kind, identifier)


def test_a_config_naming_a_module_never_imports_it(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "evil_payload.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n\ndef system(*args, **kwargs):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for kind in ("layers", "activations", "losses", "optimizers", "initializers"):
        for identifier in (
            {"module": "evil_payload", "class_name": "system", "config": {}},
            {"module": "evil_payload", "class_name": "function", "config": "system"},
            {"class_name": "evil_payload.system", "config": {}},
            {"module": None, "class_name": "system", "registered_name": "evil_payload>system",
             "config": {}},
        ):
            with pytest.raises(ValueError):
                serialization.deserialize(kind, identifier)
    x = dd.Input((4,), name="x")
    written = json.loads(dd.Model(x, layers.Dense(2)(x)).to_json())
    written["config"]["layers"][1].update(module="evil_payload", class_name="system")
    with pytest.raises(ValueError, match="never imports"):
        models.model_from_config(written)
    assert "evil_payload" not in sys.modules
    assert not marker.exists()


# ----------------------------------------------------------------------- what cannot be written


def test_unregistered_activation_class_raises_naming_it():
    class Cube(activations.Activation):
        name, needs = "cube", "x"

        def forward(self, x, out=None):
            return x**3

        def backward(self, dy, x, y):
            return dy * 3 * x**2

    layer = layers.Dense(2, activation=Cube(), name="cubic")
    with pytest.raises(ValueError, match=r"Cannot serialize Cube\(name='cube'\): its class "
                                         r".*Cube .*not registered.*register_serializable"):
        layer.get_config()
    x = dd.Input((3,))
    with pytest.raises(ValueError, match=r"^Dense\(name='cubic'\): Cannot serialize Cube"):
        dd.Model(x, layer(x)).to_json()


def test_plain_function_learning_rate_raises_instead_of_writing_none():
    def halving(step):
        return 0.1 / (1 + step)

    adam = optimizers.Adam(learning_rate=halving)
    with pytest.raises(TypeError, match=r"Cannot serialize <function .*halving.*plain function"):
        adam.get_config()
    with pytest.raises(TypeError, match="halving"):
        optimizers.serialize(adam)


def test_unregistered_loss_and_initializer_subclasses_raise():
    class MyLoss(losses.MeanSquaredError):
        pass

    class MyInit(initializers.Zeros):
        pass

    with pytest.raises(ValueError, match="MyLoss.*not registered"):
        losses.serialize(MyLoss())
    with pytest.raises(ValueError, match="MyInit.*not registered"):
        layers.Dense(2, kernel_initializer=MyInit()).get_config()


def test_json_safe_converts_numpy_scalars_and_refuses_arrays():
    layer = layers.Dense(np.int64(3))
    assert serialization.serialize(layer)["config"]["units"] == 3
    assert serialization.json_safe({"a": (1, np.float32(0.5))}, "x") == {"a": [1, 0.5]}
    with pytest.raises(ValueError, match=r"Cannot serialize where\['w'\]: array"):
        serialization.json_safe({"w": np.zeros(3)}, "where")
    with pytest.raises(ValueError, match="not a finite number"):
        serialization.json_safe(float("nan"), "value")


# ---------------------------------------------------------------------------- user classes


@utils.register_serializable(package="TestPkg")
class Scale(layers.Layer):
    """Multiplies by a constant factor (a user layer for these tests)."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def forward(self, x, training=False):
        return x * self.factor

    def backward(self, dy):
        return dy * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@utils.register_serializable(package="TestPkg", name="cube")
class Cube(activations.Activation):
    name, needs = "cube", "x"

    def forward(self, x, out=None):
        return x**3

    def backward(self, dy, x, y):
        return dy * 3 * x**2


def test_register_serializable_is_exposed_twice():
    assert utils.register_serializable is saving.register_serializable


def test_registered_user_classes_round_trip_through_a_model():
    x = dd.Input((3,), name="x")
    y = Scale(3.0, name="scale")(layers.Dense(2, activation=Cube(), name="d")(x))
    model = dd.Model(x, y)
    written = json.loads(model.to_json())
    entries = {e["name"]: e for e in written["config"]["layers"]}
    assert entries["scale"]["module"] is None
    assert entries["scale"]["class_name"] == "Scale"
    assert entries["scale"]["registered_name"] == "TestPkg>Scale"
    assert entries["d"]["config"]["activation"] == {
        "module": None, "class_name": "Cube", "config": {}, "registered_name": "TestPkg>cube"}
    clone = models.model_from_json(model.to_json())
    assert isinstance(clone.get_layer("scale"), Scale) and clone.get_layer("scale").factor == 3.0
    assert isinstance(clone.get_layer("d").activation, Cube)
    clone.set_weights(model.get_weights())
    data = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    np.testing.assert_array_equal(model(data), clone(data))


def test_registered_names_and_lookups():
    assert saving.get_registered_name(Scale) == "TestPkg>Scale"
    assert saving.get_registered_name(layers.Dense) == "Dense"
    assert saving.get_registered_object("TestPkg>cube") is Cube
    assert isinstance(activations.get("TestPkg>cube"), Cube)
    assert isinstance(saving.deserialize_keras_object(saving.serialize_keras_object(Scale())),
                      Scale)


def test_a_registered_class_of_another_kind_is_refused():
    written = {"module": None, "class_name": "Cube", "config": {},
               "registered_name": "TestPkg>cube"}
    with pytest.raises(ValueError, match="'TestPkg>cube' is registered as Cube, which is not a "
                                         "layer class"):
        serialization.deserialize("layers", written)


def test_unknown_registered_name_says_how_to_register():
    written = {"module": None, "class_name": "Gone", "config": {},
               "registered_name": "TestPkg>Gone"}
    with pytest.raises(ValueError, match="no class is registered under that name.*"
                                         "register_serializable"):
        serialization.deserialize("layers", written)


@pytest.mark.parametrize("kwargs, message", [
    ({"package": ""}, "package must be a non-empty string"),
    ({"package": "a>b"}, "without '>'"),
    ({"name": 3}, "name must be a non-empty string"),
])
def test_register_serializable_checks_its_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        utils.register_serializable(**kwargs)


def test_register_serializable_refuses_functions_and_classes_without_get_config():
    with pytest.raises(TypeError, match="registers classes"):
        utils.register_serializable()(lambda x: x)

    class NoConfig:
        pass

    with pytest.raises(TypeError, match="needs a get_config"):
        utils.register_serializable()(NoConfig)


def test_layers_serialize_and_deserialize():
    written = layers.serialize(layers.Conv2D(4, 3, name="c"))
    assert written["module"] == "keras.layers" and written["class_name"] == "Conv2D"
    layer = layers.deserialize(written)
    assert isinstance(layer, layers.Conv2D) and layer.name == "c" and layer.filters == 4
    x = dd.Input((4,))
    assert isinstance(layers.deserialize(layers.serialize(dd.Model(x, layers.Dense(2)(x)))),
                      dd.Model)


def test_custom_objects_name_unregistered_classes_for_one_call():
    class Doubler(layers.Layer):
        def forward(self, x, training=False):
            return 2 * x

    x = dd.Input((3,), name="x")
    written = json.loads(dd.Model(x, layers.Dense(2, name="d")(x)).to_json())
    written["config"]["layers"][1]["class_name"] = "Doubler"
    written["config"]["layers"][1]["config"] = {"name": "d"}
    model = models.model_from_json(json.dumps(written), custom_objects={"Doubler": Doubler})
    assert isinstance(model.get_layer("d"), Doubler)
    with pytest.raises(ValueError, match="Unknown layer 'Doubler'"):
        models.model_from_config(written)  # the scope ended with the call
    with saving.custom_object_scope({"Doubler": Doubler}):
        assert isinstance(layers.deserialize({"class_name": "Doubler", "config": {}}), Doubler)
    with pytest.raises(TypeError, match="expected \\{name: class\\}"):
        saving.custom_object_scope({"relu": lambda x: x})
