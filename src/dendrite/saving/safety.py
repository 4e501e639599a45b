"""Checks that make loading a file safe whatever its content.

Loading never imports a module or resolves a function named in a file (classes come only from
dendrite's registry), never unpickles, never extracts archive members to disk, and checks every
size before allocating: ``config.json`` is capped, archive members are checked for path tricks and
compression bombs, and each HDF5 dataset's declared shape and dtype are compared with the variable
it fills before a byte of it is read.

Every failure raises :class:`UnsafeFileError` or :class:`FileFormatError` (both ``ValueError``)
naming the file and what is wrong.
"""

import json

MAX_CONFIG_BYTES = 16 * 2**20
"""Largest ``config.json`` / ``metadata.json`` read (a real model config is kilobytes)."""
MAX_JSON_DEPTH = 64
MAX_EXPANSION = 200
"""Largest allowed ratio of a compressed member's declared size to its stored size."""

# Names by which Keras and others serialize code: a lambda's marshalled bytecode, a function looked
# up by module and name, a TensorFlow op.
CODE_CLASS_NAMES = frozenset({"Lambda", "__lambda__", "function", "__function__", "TFOpLambda",
                              "SlicingOpLambda", "__numpy__", "__bytes__"})
UNSAFE_KEYS = frozenset({"enable_unsafe_deserialization", "safe_mode", "function_type",
                         "output_shape_type", "bytecode"})


class FileFormatError(ValueError):
    """The file is not a well-formed dendrite/Keras file (truncated, wrong layout, bad sizes)."""


class UnsafeFileError(ValueError):
    """The file asks for something dendrite never does when loading (run code, escape a folder)."""


def parse_json(data, what, path):
    """Parse ``data`` (bytes) as a JSON object of at most :data:`MAX_CONFIG_BYTES`, nesting capped.

    Rejects NaN/Infinity constants and duplicate keys, which hide what a config really sets.
    """
    if len(data) > MAX_CONFIG_BYTES:
        raise FileFormatError(f"{path}: {what} is larger than the {MAX_CONFIG_BYTES}-byte limit "
                              f"({len(data)} bytes or more)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileFormatError(f"{path}: {what} is not UTF-8 text ({error})") from None
    if _nesting(text) > MAX_JSON_DEPTH:
        raise FileFormatError(f"{path}: {what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except ValueError as error:
        raise FileFormatError(f"{path}: {what} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise FileFormatError(f"{path}: {what} must hold a JSON object; got "
                              f"{type(value).__name__}")
    return value


def _nesting(text):
    """Maximum bracket depth, counted outside strings (so json.loads cannot exhaust the stack)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _unique_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name):
    raise ValueError(f"the constant {name} is not JSON")


def check_config(config, path):
    """Raise :class:`UnsafeFileError` if the config carries code or asks for unsafe loading.

    The registry would refuse unknown classes anyway; this names the reason plainly before
    anything is built: a ``Lambda`` layer or serialized code, a ``module`` outside Keras and
    dendrite (``os``, ``subprocess`` ...), a function other than a built-in named by a string, or
    a flag such as ``enable_unsafe_deserialization``.
    """
    for where, node in _walk(config, "config"):
        if not isinstance(node, dict):
            continue
        class_name, module = node.get("class_name"), node.get("module")
        if module is not None and not _allowed_module(module, class_name):
            raise UnsafeFileError(
                f"{path}: {where} names module {module!r} (class_name={class_name!r}); dendrite "
                "never imports a module named in a file and only reads Keras and dendrite classes")
        if isinstance(class_name, str) and class_name in CODE_CLASS_NAMES and not (
                class_name == "function" and isinstance(node.get("config"), str)):
            kind = "a Lambda layer" if "Lambda" in class_name else "serialized code"
            raise UnsafeFileError(
                f"{path}: {where} is {kind} (class_name={class_name!r}); dendrite never loads "
                "code from a file. Rebuild that part in Python and load the weights only.")
        for key in node:
            if key in UNSAFE_KEYS:
                raise UnsafeFileError(
                    f"{path}: {where} sets {key!r}, which asks to run or trust code from the file; "
                    "dendrite refuses it (there is no unsafe mode)")


def _allowed_module(module, class_name):
    return isinstance(module, str) and (
        module in ("keras", "dendrite") or module.startswith(("keras.", "dendrite."))
        or (module == "builtins" and class_name == "function"))


def _walk(node, where):
    stack = [(where, node)]
    while stack:
        where, node = stack.pop()
        yield where, node
        if isinstance(node, dict):
            inner_config = node.get("config")
            label = node.get("name")
            if not isinstance(label, str):
                label = inner_config.get("name") if isinstance(inner_config, dict) else None
            label = label if isinstance(label, str) else None
            for key, value in node.items():
                if isinstance(value, (dict, list)):
                    inner = f"{where}[{key!r}]" if label is None else f"{label!r}[{key!r}]"
                    stack.append((inner, value))
        elif isinstance(node, list):
            stack.extend((f"{where}[{i}]", value) for i, value in enumerate(node)
                         if isinstance(value, (dict, list)))


def check_zip_members(archive, path, required, max_total_bytes):
    """Check every member name and size of an open ``zipfile.ZipFile`` before reading any.

    Args:
        archive: the open ZipFile.
        path: the archive's path, for messages.
        required: member names that must be present.
        max_total_bytes: cap on the sum of declared uncompressed sizes.
    """
    names = set()
    total = 0
    for info in archive.infolist():
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if (name.startswith(("/", "\\")) or ".." in parts or ":" in name or "\x00" in name
                or "\\" in name):
            raise UnsafeFileError(f"{path}: archive member {name!r} has an unsafe path (absolute, "
                                  "'..' or a drive); refusing the archive")
        if name in names:
            raise UnsafeFileError(f"{path}: archive member {name!r} appears twice")
        names.add(name)
        if info.flag_bits & 0x1:
            raise FileFormatError(f"{path}: archive member {name!r} is encrypted")
        if info.compress_type != 0 and info.file_size > 2**20 and \
                info.file_size > MAX_EXPANSION * max(info.compress_size, 1):
            raise UnsafeFileError(
                f"{path}: archive member {name!r} declares {info.file_size} bytes from "
                f"{info.compress_size} compressed bytes (more than {MAX_EXPANSION}x): a "
                "compression bomb")
        total += info.file_size
    if total > max_total_bytes:
        raise UnsafeFileError(f"{path}: archive members declare {total} bytes in all, more than "
                              f"the limit of {max_total_bytes}")
    missing = [name for name in required if name not in names]
    if missing:
        raise FileFormatError(f"{path}: the archive has no {', '.join(missing)} (members: "
                              f"{sorted(names)}); it is not a complete .keras file")


def read_member(archive, name, path, limit):
    """The bytes of archive member ``name``, reading at most ``limit`` bytes whatever it
    declares."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise FileFormatError(f"{path}: {name} declares {info.file_size} bytes, more than the "
                              f"{limit}-byte limit")
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileFormatError(f"{path}: {name} is larger than the {limit}-byte limit")
    return data


def check_dataset(dataset, shape, dtype, where, path):
    """Check an h5py dataset's declared layout against the target before reading it.

    Refuses external or virtual storage (which would read other files) and any shape or dtype
    other than ``shape`` and ``dtype``; nothing is read or allocated here.
    """
    import h5py

    if not isinstance(dataset, h5py.Dataset):
        raise FileFormatError(f"{path}: {where} should be an array; got a "
                              f"{type(dataset).__name__}")
    if dataset.external or dataset.is_virtual:
        raise UnsafeFileError(f"{path}: {where} stores its data in other files (external or "
                              "virtual dataset); refusing it")
    if tuple(dataset.shape or ()) != tuple(shape):
        raise FileFormatError(f"{path}: {where} has shape {tuple(dataset.shape or ())}; the model "
                              f"expects {tuple(shape)}")
    if dataset.dtype != dtype:
        raise FileFormatError(f"{path}: {where} has dtype {dataset.dtype}; the model expects "
                              f"{dtype}")


def get_member(group, name, where, path):
    """``group[name]`` without following soft or external links (None if absent)."""
    import h5py

    link = group.get(name, getlink=True)
    if link is None:
        return None
    if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
        raise UnsafeFileError(f"{path}: {where} is a link ({type(link).__name__}); dendrite "
                              "reads no links")
    return group[name]
