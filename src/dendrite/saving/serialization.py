"""One registry behind every ``get`` / ``serialize`` / ``deserialize`` in dendrite, in Keras 3's
schema.

Everything a config can name (layers and models, activations, initializers, regularizers, losses,
metrics, optimizers, learning-rate schedules) is found here by name, and only here. dendrite never
imports a module or looks up a function named in a config: the ``module`` field is checked against
a short list (``keras...``, ``dendrite...``, ``builtins`` for Keras's built-in functions) and never
imported. Built-in classes register themselves; user classes register with
:func:`register_serializable`.

Written form (Keras 3's ``serialize_keras_object``)::

    {"module": "keras.initializers", "class_name": "GlorotUniform",
     "config": {"seed": None}, "registered_name": None}

A registered user class is written with ``"module": None`` and
``"registered_name": "Package>Name"``. Layers also get ``"build_config": {"input_shape": [...]}``
when their input shape is known, and their ``dtype`` is written as Keras's ``DTypePolicy``. Objects
are read from a name (``"glorot_uniform"``), dendrite's short
``{"class_name": ..., "config": ...}``, the form above, or Keras's
``{"class_name": "function", "config": "relu"}`` for built-in functions. Keras options that dendrite
lacks are accepted when they hold the value matching dendrite's behaviour (``kernel_constraint:
None``, ``groups: 1`` ...) and refused otherwise, naming the option.

Anything that cannot be written raises an error naming it (ValueError for an unregistered user
class or a NumPy array in a config, TypeError for a plain function); nothing is ever written as
None in its place.
"""

import math

from dendrite.errors import describe

# kind: (label used in messages, Keras module written for built-ins)
_KINDS = {
    "activations": ("activation", "keras.activations"),
    "initializers": ("initializer", "keras.initializers"),
    "regularizers": ("regularizer", "keras.regularizers"),
    "losses": ("loss", "keras.losses"),
    "metrics": ("metric", "keras.metrics"),
    "optimizers": ("optimizer", "keras.optimizers"),
    "schedules": ("learning-rate schedule", "keras.optimizers.schedules"),
    "layers": ("layer", "keras.layers"),
}

# Kinds whose Keras built-ins are functions, written {"class_name": "function", "config": name}.
_FUNCTION_KINDS = ("activations", "losses", "metrics")

# Top-level keys of a serialized object; anything else is refused.
_OBJECT_KEYS = {"module", "class_name", "config", "registered_name", "build_config",
                "compile_config", "name", "inbound_nodes", "shared_object_id"}

_ANY = object()

# Keras options dendrite does not have, keyed by the name of a class in the MRO: the values equal
# to what dendrite does (accepted and dropped when reading); any other value is refused.
_KERAS_ONLY = {
    "Layer": {"autocast": (True,), "activity_regularizer": (None,),
              "quantization_config": (None,)},
    "KernelLayer": {"kernel_constraint": (None,), "bias_constraint": (None,), "lora_rank": (None,),
                    "lora_alpha": _ANY},
    "_Conv": {"groups": (1,)},
    "BatchNormalization": {"beta_constraint": (None,), "gamma_constraint": (None,),
                           "synchronized": _ANY, "renorm": (False,), "renorm_clipping": (None,),
                           "renorm_momentum": _ANY},
    "Dropout": {"noise_shape": (None,)},
    "Embedding": {"embeddings_constraint": (None,)},
    "LayerNormalization": {"beta_constraint": (None,), "gamma_constraint": (None,),
                           "rms_scaling": (False,)},
    **{name: {"kernel_constraint": (None,), "recurrent_constraint": (None,),
              "bias_constraint": (None,)} for name in ("SimpleRNN", "LSTM", "GRU")},
    "Flatten": {"data_format": (None, "channels_last")},
    "InputLayer": {"sparse": (None, False), "ragged": (None, False), "optional": (False,)},
    "Initializer": {"input_axes": (None,), "output_axes": (None,)},
    "Loss": {"dtype": _ANY},
    "Metric": {"dtype": _ANY},
    "Optimizer": {"use_ema": (False,), "ema_momentum": _ANY, "ema_overwrite_frequency": (None,),
                  "loss_scale_factor": (None,), "gradient_accumulation_steps": (None,)},
}

# Arguments of dendrite layers that Keras's class does not take, left out when writing (they
# hold the default there: a SpatialDropout2D has no weights to freeze).
_NOT_IN_KERAS = {"SpatialDropout2D": ("trainable",)}

# Built-in dendrite layers Keras does not have: written with module "dendrite.layers".
_DENDRITE_ONLY_LAYERS = {"SumPooling2D"}


class _Table:
    """The built-ins of one kind: ``classes`` by written class name, ``names`` for strings."""

    def __init__(self, kind):
        self.kind = kind
        self.label, self.module = _KINDS[kind]
        self.classes = {}
        self.names = {}
        self.listed_extra = ()
        self.bases = ()


_TABLES = {kind: _Table(kind) for kind in _KINDS}
_BUILTIN = {}        # class -> (kind, class_name written)
_CUSTOM = {}         # registered name "Package>Name" -> class
_CUSTOM_NAMES = {}   # class -> registered name
_loaded = False


def register_builtins(kind, classes, names=None, base=None, listed_extra=()):
    """Register dendrite's own classes of ``kind`` (called by each module at import).

    Args:
        kind: one of ``"activations"``, ``"initializers"``, ``"regularizers"``, ``"losses"``,
            ``"metrics"``, ``"optimizers"``, ``"schedules"``, ``"layers"``.
        classes: dict ``{class_name: class}``; class_name is what configs carry.
        names: dict ``{string identifier: class}`` accepted by ``get("...")`` (aliases such as
            ``"mse"``); error messages list these.
        base: the base class of the kind (a registered user class must derive from it).
        listed_extra: more names to list in the "Unknown ..." message (handled by the caller).
    """
    table = _TABLES[kind]
    for class_name, cls in classes.items():
        table.classes[class_name] = cls
        _BUILTIN.setdefault(cls, (kind, class_name))
    table.names.update(names or {})
    if base is not None and base not in table.bases:
        table.bases += (base,)
    table.listed_extra = tuple(dict.fromkeys((*table.listed_extra, *listed_extra)))


def _ensure_builtins():
    """Import dendrite's own modules once so that every built-in is registered.

    These are fixed module names of dendrite itself, never names taken from a config.
    """
    global _loaded
    if _loaded:
        return
    _loaded = True
    from dendrite import (  # noqa: F401  (each registers itself)
        activations,
        initializers,
        losses,
        metrics,
        optimizers,
        regularizers,
        schedules,
    )
    from dendrite import layers as layers_module
    from dendrite.models import Model, Sequential

    layer_classes = {}
    for name in layers_module.__all__:
        obj = getattr(layers_module, name)
        if isinstance(obj, type) and issubclass(obj, layers_module.Layer) and name != "Layer":
            layer_classes[obj.__name__] = obj
    register_builtins("layers", layer_classes, base=layers_module.Layer)
    register_builtins("layers", {"Functional": Model, "Sequential": Sequential, "Model": Model},
                      base=Model)


# ---------------------------------------------------------------------------- user classes


def register_serializable(package="Custom", name=None):
    """Class decorator registering a user class so configs can name it (Keras's
    ``register_keras_serializable``).

    The class is written as ``{"module": None, "class_name": cls.__name__, "config":
    obj.get_config(), "registered_name": "package>name"}`` and read back with
    ``cls.from_config(config)``. Registering the same name again replaces the earlier class.

    Args:
        package: the namespace, a non-empty string without ``">"``. Default ``"Custom"``.
        name: the name within the package; default the class's name.

    Example:
        >>> from dendrite import activations, utils
        >>> @utils.register_serializable(package="Docs")
        ... class Cube(activations.Activation):
        ...     name, needs = "cube", "x"
        ...     def forward(self, x, out=None):
        ...         return x**3
        ...     def backward(self, dy, x, y):
        ...         return dy * 3 * x**2
        >>> activations.serialize(Cube())["registered_name"]
        'Docs>Cube'
    """
    for argument, value in (("package", package), ("name", name)):
        if value is None and argument == "name":
            continue
        if not isinstance(value, str) or not value or ">" in value:
            raise ValueError(f"register_serializable: {argument} must be a non-empty string "
                             f"without '>'; got {argument}={value!r}")

    def decorator(cls):
        if not isinstance(cls, type):
            raise TypeError(f"register_serializable registers classes (with get_config and "
                            f"from_config); got {cls!r}. Wrap a function in a class.")
        if not callable(getattr(cls, "get_config", None)):
            raise TypeError(f"register_serializable: {cls.__name__} needs a get_config() method "
                            "returning its constructor arguments")
        registered = f"{package}>{name or cls.__name__}"
        previous = _CUSTOM.get(registered)
        if previous is not None:
            _CUSTOM_NAMES.pop(previous, None)
        _CUSTOM[registered] = cls
        _CUSTOM_NAMES[cls] = registered
        return cls

    return decorator


_SCOPES = []  # the dicts of the active custom_object_scope blocks, innermost last


class custom_object_scope:
    """Within the block, configs may also name the classes of ``custom_objects``
    (``{"MyLayer": MyLayer}``, keyed by class name or registered name), which take precedence
    over the registry, as Keras's ``custom_object_scope`` and ``custom_objects=`` arguments do.

    Example:
        >>> from dendrite import layers
        >>> class Twice(layers.Dense):
        ...     pass
        >>> with custom_object_scope({"Twice": Twice}):
        ...     layer = layers.deserialize({"class_name": "Twice", "config": {"units": 2}})
        >>> type(layer).__name__
        'Twice'
    """

    def __init__(self, custom_objects):
        objects = dict(custom_objects or {})
        for name, cls in objects.items():
            if not isinstance(name, str) or not isinstance(cls, type):
                raise TypeError(f"custom_object_scope: expected {{name: class}}; got "
                                f"{name!r}: {cls!r} (functions cannot be read from a config)")
        self.custom_objects = objects

    def __enter__(self):
        _SCOPES.append(self.custom_objects)
        return self

    def __exit__(self, *exc_info):
        _SCOPES.remove(self.custom_objects)


def _scoped(*names):
    for objects in reversed(_SCOPES):
        for name in names:
            if isinstance(name, str) and name in objects:
                return objects[name]
    return None


def get_registered_name(cls):
    """``"Package>Name"`` for a registered user class, the class name for a built-in, else None."""
    _ensure_builtins()
    if cls in _CUSTOM_NAMES:
        return _CUSTOM_NAMES[cls]
    return _BUILTIN[cls][1] if cls in _BUILTIN else None


def get_registered_object(registered_name):
    """The user class registered as ``registered_name`` (``"Package>Name"``), or None."""
    return _CUSTOM.get(registered_name)


# ---------------------------------------------------------------------------- writing


def serialize(obj):
    """The Keras 3 form of ``obj`` (see the module docstring); None stays None.

    Raises ValueError naming ``obj`` when its class is neither built in nor registered.
    """
    if obj is None:
        return None
    _ensure_builtins()
    from dendrite.layers.base import Layer
    from dendrite.models import Model

    if isinstance(obj, Model):
        from dendrite.models.config import serialize_model

        return serialize_model(obj)
    if isinstance(obj, Layer):
        return serialize_layer(obj)
    module, class_name, registered = _identity(obj)
    return {"module": module, "class_name": class_name,
            "config": json_safe(obj.get_config(), f"{describe(obj)}.get_config()"),
            "registered_name": registered}


def _identity(obj):
    """(module, class_name, registered_name) to write for ``obj``, or a ValueError."""
    cls = type(obj)
    if cls in _CUSTOM_NAMES:
        return None, cls.__name__, _CUSTOM_NAMES[cls]
    if cls in _BUILTIN:
        kind, class_name = _BUILTIN[cls]
        module = _TABLES[kind].module
        if kind == "layers" and class_name in _DENDRITE_ONLY_LAYERS:
            module = "dendrite.layers"
        return module, class_name, None
    if isinstance(obj, type) or not callable(getattr(obj, "get_config", None)):
        raise TypeError(f"Cannot serialize {obj!r}: only objects with get_config() can be "
                        "written to a config (a plain function cannot). Use a class with "
                        "get_config() registered with dendrite.utils.register_serializable().")
    raise ValueError(f"Cannot serialize {describe(obj)}: its class {cls.__qualname__} (module "
                     f"{cls.__module__}) is not registered. Decorate the class with "
                     "@dendrite.utils.register_serializable() so that a config can name it.")


def serialize_layer(layer, input_shape=None, in_model=False):
    """A layer in Keras 3's form, with ``build_config`` when ``input_shape`` is given.

    ``in_model`` drops ``input_shape`` from the config (a model's config carries its inputs).
    """
    module, class_name, registered = _identity(layer)
    try:
        config = dict(layer.get_config())
    except (TypeError, ValueError) as error:  # say which layer holds the unwritable object
        raise type(error)(f"{describe(layer)}: {error}") from None
    if class_name == "InputLayer" and registered is None:
        config = {"batch_shape": [config.get("batch_size"), *config["shape"]],
                  "dtype": config["dtype"], "sparse": False, "name": config["name"]}
    else:
        if in_model:
            config.pop("input_shape", None)
        if registered is None:
            for key in _NOT_IN_KERAS.get(class_name, ()):
                config.pop(key, None)
        if isinstance(config.get("dtype"), str):
            config["dtype"] = dtype_policy(config["dtype"])
    result = {"module": module, "class_name": class_name,
              "config": json_safe(config, f"{describe(layer)}.get_config()"),
              "registered_name": registered}
    if input_shape is not None and class_name != "InputLayer":
        result["build_config"] = {"input_shape": json_safe(input_shape, "input_shape")}
    return result


def dtype_policy(dtype):
    """Keras 3's form of a dtype policy for the dtype name ``dtype``."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype},
            "registered_name": None}


def json_safe(value, where):
    """``value`` with tuples as lists and NumPy scalars as Python numbers; raise ValueError naming
    ``where`` and the object for anything JSON cannot hold (arrays, objects, NaN)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"Cannot serialize {where}: {value!r} is not a finite number.")
        return value
    if isinstance(value, (list, tuple)):
        return [json_safe(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"Cannot serialize {where}: key {key!r} is not a string.")
        return {key: json_safe(item, f"{where}[{key!r}]") for key, item in value.items()}
    if getattr(value, "shape", None) == () and hasattr(value, "item"):  # a NumPy scalar
        return json_safe(value.item(), where)
    raise ValueError(f"Cannot serialize {where}: {value!r} ({type(value).__name__}) cannot be "
                     "written to a config; get_config() must return JSON-safe values.")


# ---------------------------------------------------------------------------- reading


def deserialize(kind, identifier):
    """An object of ``kind`` from a name or a config dict (any of the forms in the module
    docstring). Raises ValueError naming the identifier and listing the valid names."""
    _ensure_builtins()
    table = _TABLES[kind]
    if isinstance(identifier, str):
        return resolve_name(kind, identifier)()
    if isinstance(identifier, dict):
        cls, config = resolve(kind, identifier)
        if config is None:  # Keras's form of a built-in function: the name alone
            return cls()
        if kind == "layers":
            return deserialize_layer(identifier)
        from_config = getattr(cls, "from_config", None)
        return from_config(config) if from_config is not None else cls(**config)
    raise ValueError(f"Unknown {table.label} {identifier!r}. Valid names: "
                     f"{_valid(table.names or table.classes, table)}.")


def deserialize_keras_object(config):
    """Any built-in or registered object from its serialized form (Keras's
    ``deserialize_keras_object``); its kind follows from its class."""
    _ensure_builtins()
    if isinstance(config, dict) and isinstance(config.get("class_name"), str):
        registered = config.get("registered_name")
        custom = _CUSTOM.get(registered) if isinstance(registered, str) else None
        for kind, table in _TABLES.items():
            if (issubclass(custom, table.bases) if custom is not None and table.bases
                    else config["class_name"] in table.classes):
                return deserialize(kind, config)
    raise ValueError(f"Cannot deserialize {config!r}: not the config of a built-in or "
                     "registered class.")


def resolve_name(kind, name):
    """The class registered under string ``name`` for ``kind`` (an alias, a class name or a
    ``"Package>Name"``)."""
    _ensure_builtins()
    table = _TABLES[kind]
    scoped = _scoped(name)
    if scoped is not None:
        return _check_base(table, scoped, name)
    if name in _CUSTOM:
        return _check_base(table, _CUSTOM[name], name)
    cls = table.names.get(name) or table.classes.get(name)
    if cls is None:
        raise ValueError(f"Unknown {table.label} {name!r}. Valid names: "
                         f"{_valid(table.names or table.classes, table)}.")
    return cls


def resolve(kind, identifier):
    """``(class, config)`` for a serialized object of ``kind``; ``config`` has Keras-only options
    removed (or is None for Keras's function form). Nothing is imported or instantiated."""
    _ensure_builtins()
    table = _TABLES[kind]
    unknown = set(identifier) - _OBJECT_KEYS
    if unknown or "class_name" not in identifier:
        raise ValueError(f"A serialized {table.label} must be a dict with 'class_name' and "
                         f"'config'; got keys {sorted(identifier)}.")
    class_name = identifier["class_name"]
    module = identifier.get("module")
    registered = identifier.get("registered_name")
    if not isinstance(class_name, str):
        message = f"A serialized {table.label} needs a string class_name; got {class_name!r}."
        raise ValueError(message)  # noqa: TRY004 (a malformed config, like any other)
    _check_module(table, class_name, module)
    config = identifier.get("config", {})
    if class_name == "function":
        if kind not in _FUNCTION_KINDS or not isinstance(config, str):
            raise ValueError(f"Unknown {table.label} {identifier!r}: only built-in activations, "
                             "losses and metrics may be given as functions.")
        return resolve_name(kind, config), None
    scoped = _scoped(registered, class_name)
    if scoped is not None:
        cls = _check_base(table, scoped, class_name)
    elif isinstance(registered, str) and ">" in registered:
        cls = _CUSTOM.get(registered)
        if cls is None:
            raise ValueError(f"Unknown {table.label} {class_name!r} (registered_name "
                             f"{registered!r}): no class is registered under that name. Import "
                             "the module defining it, decorated with "
                             "@dendrite.utils.register_serializable().")
        cls = _check_base(table, cls, registered)
    elif class_name in _CUSTOM:
        cls = _check_base(table, _CUSTOM[class_name], class_name)
    else:
        cls = table.classes.get(class_name)
        if cls is None:
            raise ValueError(f"Unknown {table.label} {class_name!r}. Valid class names: "
                             f"{_valid(table.classes, table)}; user classes need "
                             "@dendrite.utils.register_serializable().")
    if not isinstance(config, dict):
        raise ValueError(f"{class_name}: config must be a dict; got {config!r}.")  # noqa: TRY004
    return cls, strip_keras_only(cls, config)


def _check_module(table, class_name, module):
    if module is None:
        return
    ok = isinstance(module, str) and (
        module in ("keras", "dendrite") or module.startswith(("keras.", "dendrite."))
        or (module == "builtins" and class_name == "function"))
    if not ok:
        raise ValueError(f"Refusing {table.label} {class_name!r} from module {module!r}: dendrite "
                         "never imports modules named in a config; classes come only from its "
                         "registry (built-ins and classes registered with "
                         "dendrite.utils.register_serializable()).")


def _check_base(table, cls, name):
    if table.bases and not issubclass(cls, table.bases):
        raise ValueError(f"{name!r} is registered as {cls.__qualname__}, which is not a "
                         f"{table.label} class.")
    return cls


def _valid(names, table):
    return ", ".join(repr(name) for name in sorted({*names, *table.listed_extra}))


def strip_keras_only(cls, config):
    """``config`` without the Keras-only options of ``cls`` that hold dendrite's behaviour; a
    ValueError naming the option if one holds anything else."""
    config = dict(config)
    for klass in cls.__mro__:
        for key, allowed in _KERAS_ONLY.get(klass.__name__, {}).items():
            if key not in config:
                continue
            value = config.pop(key)
            if allowed is not _ANY and not any(value == a and type(value) is type(a)
                                               for a in allowed):
                choices = " or ".join(repr(a) for a in allowed)
                raise ValueError(f"{cls.__name__}: the Keras option {key}={value!r} is not "
                                 f"supported by dendrite (only {choices}).")
    return config


def deserialize_layer(identifier):
    """A layer (or model) from its serialized form; builds it from ``build_config`` if given."""
    cls, config = resolve("layers", identifier)
    if config is None:
        raise ValueError(f"Unknown layer {identifier!r}.")
    from dendrite.models import Model

    if issubclass(cls, Model):
        from dendrite.models.config import model_from_inner_config

        return model_from_inner_config(cls, config)
    config = layer_config_from_keras(cls, config)
    layer = cls.from_config(config)
    build = identifier.get("build_config") or {}
    input_shape = build.get("input_shape") if isinstance(build, dict) else None
    if input_shape is not None and not layer.built:
        layer.ensure_built(as_shape(input_shape))
    return layer


def layer_config_from_keras(cls, config):
    """dendrite constructor arguments from a (Keras-option-free) layer config: the dtype policy
    becomes its dtype name, InputLayer's ``batch_shape`` becomes ``shape`` and ``batch_size``."""
    config = dict(config)
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        if dtype.get("class_name") not in ("DTypePolicy", "FloatDTypePolicy"):
            raise ValueError(f"{cls.__name__}: unsupported dtype policy {dtype!r}.")
        _check_module(_TABLES["layers"], "DTypePolicy", dtype.get("module"))
        config["dtype"] = (dtype.get("config") or {}).get("name")
    if cls.__name__ == "InputLayer" and "batch_shape" in config:
        batch_shape = config.pop("batch_shape")
        if not isinstance(batch_shape, (list, tuple)) or not batch_shape:
            raise ValueError(f"InputLayer: batch_shape must be a list (batch, ...); got "
                             f"{batch_shape!r}.")
        config["batch_size"], config["shape"] = batch_shape[0], list(batch_shape[1:])
    return config


def as_shape(value):
    """A shape (tuple) or a list of shapes from JSON lists."""
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, (list, tuple)) for v in value):
        return [as_shape(v) for v in value]
    if not isinstance(value, (list, tuple)) or any(
            d is not None and (isinstance(d, bool) or not isinstance(d, int)) for d in value):
        raise ValueError(f"A shape must be a list of integers or None; got {value!r}.")
    return tuple(value)
