"""Weights as ``.safetensors`` (the optional ``safetensors`` package), for PyTorch and Hugging Face.

Each variable is stored under its layer's Keras weight path and its name (``dense/kernel``,
``dense_1/bias``, ``functional/dense/kernel`` in a nested model: the class name in snake case,
numbered in layer order, as in ``.weights.h5``, so the keys do not depend on generated layer names),
with Keras's layouts (a Dense kernel is ``(in, out)``; PyTorch's Linear weight is its transpose).
The format holds raw arrays and a JSON header only, so it cannot carry code; loading still checks
every tensor's declared shape and dtype against its variable before reading it.
"""

from dendrite.backend import host as np
from dendrite.saving.atomic import atomic_write
from dendrite.saving.h5_weights import layer_paths, own_weights
from dendrite.saving.safety import FileFormatError


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError("saving .safetensors needs the safetensors package: pip install "
                          "safetensors (or pip install 'dendrite[safetensors]')") from None
    import safetensors

    return safetensors


def tensor_names(model):
    """``[(key, variable)]`` for every weight of ``model`` (keys as in the module docstring)."""
    names, seen = [], set()
    for path, layer in layer_paths(model):
        for variable in own_weights(layer):
            if id(variable) in seen:
                continue
            seen.add(id(variable))
            key = path.removeprefix("layers/").replace("/layers/", "/")
            names.append((f"{key}/{variable.name}", variable))
    return names


def save_weights(model, path):
    """Write every weight of ``model`` to ``path`` (``.safetensors``), atomically."""
    _safetensors()
    from safetensors.numpy import save

    tensors = {key: np.ascontiguousarray(variable.numpy()) for key, variable in tensor_names(model)}
    data = save(tensors, metadata={"format": "np", "writer": "dendrite"})
    with atomic_write(path) as handle:
        handle.write(data)


def load_weights(model, path):
    """Read ``path`` into ``model``; every name, shape and dtype is checked before any is read."""
    _safetensors()
    from safetensors import safe_open

    try:
        handle = safe_open(path, framework="numpy")
    except FileNotFoundError:
        raise
    except Exception as error:  # noqa: BLE001 (the package has its own error types)
        raise FileFormatError(f"{path}: not a readable .safetensors file ({error})") from None
    expected = tensor_names(model)
    with handle:
        keys = set(handle.keys())
        wanted = {key for key, _ in expected}
        missing, extra = sorted(wanted - keys), sorted(keys - wanted)
        if missing or extra:
            raise FileFormatError(f"{path}: the tensors do not match the model: missing "
                                  f"{missing or 'none'}, not in the model {extra or 'none'}")
        for key, variable in expected:
            view = handle.get_slice(key)
            shape, dtype = tuple(view.get_shape()), _numpy_dtype(view.get_dtype())
            if shape != tuple(variable.shape) or dtype != variable.dtype:
                raise FileFormatError(f"{path}: tensor {key!r} is {dtype} {shape}; the model "
                                      f"expects {variable.dtype} {tuple(variable.shape)}")
        values = [(variable, handle.get_tensor(key)) for key, variable in expected]
    for variable, value in values:
        variable.assign(value)


_DTYPES = {"F16": "float16", "F32": "float32", "F64": "float64", "BF16": "bfloat16",
           "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
           "BOOL": "bool"}


def _numpy_dtype(name):
    if name not in _DTYPES or name == "BF16":
        return name
    return np.dtype(_DTYPES[name])
