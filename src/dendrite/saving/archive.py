"""``.keras`` archives and weight files: what ``model.save`` / ``load_model`` read and write.

A ``.keras`` file is Keras 3's zip (members stored uncompressed, as Keras writes them)::

    metadata.json      {"keras_version": ..., "date_saved": ..., "dendrite_version": ...,
                        "dendrite_format_version": 1}
    config.json        the model's config in Keras's schema (module, class_name, config,
                       build_config, compile_config)
    model.weights.h5   weights, optimizer state and random streams (see h5_weights)

so a file written by dendrite loads in Keras 3 and one written by Keras 3 loads in dendrite when
every layer in it exists in dendrite. Loading is safe whatever the file holds (see safety): nothing
named in it is imported or run, nothing is unpickled or extracted to disk, and sizes are checked
before anything is allocated. Writing is atomic (see atomic): a crash or an error mid-save leaves
the previous file as it was.
"""

import datetime
import io
import os
import zipfile

from dendrite.saving import h5_weights, safety
from dendrite.saving.atomic import atomic_write
from dendrite.saving.safety import FileFormatError, UnsafeFileError

FORMAT_VERSION = 1
"""dendrite's own version of the layout; a file from a newer dendrite is refused, not guessed at."""
KERAS_VERSION = "3.15.1"
"""The Keras version whose layout dendrite writes (Keras 3.x reads it)."""
MAX_ARCHIVE_BYTES = 2**40
"""Cap on the declared uncompressed size of all members together."""

_CONFIG = "config.json"
_METADATA = "metadata.json"
_WEIGHTS = "model.weights.h5"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _path_str(filepath):
    path = os.fspath(filepath)
    if not isinstance(path, str):
        raise TypeError(f"expected a file path (str or os.PathLike); got {filepath!r}")
    return path


# ------------------------------------------------------------------ whole models


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Save ``model`` to a ``.keras`` file (config, weights, optimizer state), atomically.

    Args:
        model: a built dendrite model.
        filepath: path ending in ``.keras``.
        overwrite: if False, refuse to replace an existing file. Default True.
        include_optimizer: also store the optimizer's step count and state. Default True.

    Raises:
        ValueError: wrong extension or an unbuilt model; FileExistsError with ``overwrite=False``;
            PermissionError / FileNotFoundError when the folder cannot be written.
    """
    import h5py

    path = _path_str(filepath)
    if not path.endswith(".keras"):
        raise ValueError(f"save_model: the file name must end in .keras; got {path!r} (use "
                         "save_weights for .weights.h5 or .safetensors)")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save_model: {path!r} exists and overwrite=False")
    if not model.built:
        raise ValueError(f"save_model: build the model first (give it an input shape or call it "
                         f"on data); {model.name!r} has no weights yet")
    config_json = _model_config_json(model)
    weights = io.BytesIO()
    with h5py.File(weights, "w") as h5file:
        h5_weights.write_model_weights(h5file, model, include_optimizer)
    with atomic_write(path) as handle, zipfile.ZipFile(handle, "w") as archive:
        archive.writestr(_METADATA, _metadata_json())  # stored uncompressed, as Keras writes
        archive.writestr(_CONFIG, config_json)
        archive.writestr(_WEIGHTS, weights.getbuffer())


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved by :func:`save_model` or by Keras 3 (``.keras``).

    Args:
        filepath: path of a ``.keras`` file.
        custom_objects: accepted for Keras compatibility; user classes are found through
            ``register_serializable`` only, so it must be None or empty.
        compile: compile the model with the saved optimizer, loss and metrics. Default True.
        safe_mode: accepted for Keras compatibility; dendrite has no unsafe mode, so it must stay
            True.

    Raises:
        UnsafeFileError: the file carries code (a Lambda, a function reference, an unsafe flag) or
            archive paths escaping their folder. FileFormatError: a truncated, malformed or
            mismatched file; each message names the file and the part that is wrong.
    """
    if safe_mode is not True:
        raise UnsafeFileError("load_model: safe_mode must be True; dendrite never loads code from "
                              "a file, so there is no unsafe mode")
    if custom_objects:
        raise ValueError("load_model: custom_objects is not supported; register your classes "
                         "with dendrite.utils.register_serializable instead (a file never names "
                         "code that gets resolved)")
    path = _path_str(filepath)
    _check_file(path, b"PK", "a .keras (zip) archive")
    try:
        archive = zipfile.ZipFile(path, "r")
    except zipfile.BadZipFile as error:
        raise FileFormatError(f"{path}: not a readable .keras archive ({error}); the file is "
                              "truncated or not a zip") from None
    with archive:
        safety.check_zip_members(archive, path, (_CONFIG, _WEIGHTS), MAX_ARCHIVE_BYTES)
        metadata = {}
        if _METADATA in archive.namelist():
            metadata = safety.parse_json(
                safety.read_member(archive, _METADATA, path, safety.MAX_CONFIG_BYTES),
                _METADATA, path)
        _check_version(metadata, path)
        config = safety.parse_json(
            safety.read_member(archive, _CONFIG, path, safety.MAX_CONFIG_BYTES), _CONFIG, path)
        safety.check_config(config, path)
        model = _model_from_config(config, path, compile)
        with _open_h5_member(archive, path) as h5file:
            h5_weights.read_model_weights(h5file, model, path, include_optimizer=compile)
    return model


def _check_file(path, signature, what):
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"load: {path!r} is a folder; expected {what}")
    with open(path, "rb") as handle:
        head = handle.read(len(signature))
    if not head:
        raise FileFormatError(f"{path}: the file is empty; expected {what}")
    if head != signature:
        kind = ""
        if head[:1] == b"\x80":
            kind = " (it looks like a pickle, which dendrite never loads)"
        elif signature == b"PK" and head == _HDF5_SIGNATURE[:2]:
            kind = (" (it is an HDF5 file: a Keras 2 model file is not read; re-save it from"
                    " Keras 3 as .keras, or load a .weights.h5 file with load_weights)")
        raise FileFormatError(f"{path}: not {what}{kind}; it starts with {head!r}")


class _StoredMember(io.RawIOBase):
    """A read-only, seekable view of an uncompressed (stored) zip member's bytes in the archive.

    ``ZipFile.open`` re-reads a member from its start on every backward seek, which h5py does
    often; this view seeks in O(1) and reads only inside the member's byte range.
    """

    def __init__(self, path, info):
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 (closed with the view)
        self._file.seek(info.header_offset)
        header = self._file.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            self._file.close()
            raise FileFormatError(f"{path}: the local header of {info.filename} is damaged")
        name_length = int.from_bytes(header[26:28], "little")
        extra_length = int.from_bytes(header[28:30], "little")
        self._start = info.header_offset + 30 + name_length + extra_length
        self._size = info.file_size
        self._position = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer):
        count = max(0, min(len(buffer), self._size - self._position))
        self._file.seek(self._start + self._position)
        read = self._file.readinto(memoryview(buffer)[:count])
        self._position += read
        return read

    def close(self):
        self._file.close()
        super().close()


class _open_h5_member:
    """h5py File over a zip member, read in place (never extracted to disk)."""

    def __init__(self, archive, path):
        self.archive, self.path = archive, path

    def __enter__(self):
        import h5py

        info = self.archive.getinfo(_WEIGHTS)
        self.handle = _StoredMember(self.path, info) if info.compress_type == \
            zipfile.ZIP_STORED else self.archive.open(_WEIGHTS, "r")
        head = self.handle.read(len(_HDF5_SIGNATURE))
        if head != _HDF5_SIGNATURE:
            kind = " (a pickle, which dendrite never loads)" if head[:1] == b"\x80" else ""
            self.handle.close()
            raise FileFormatError(f"{self.path}: {_WEIGHTS} is not an HDF5 file{kind}")
        self.handle.seek(0)
        try:
            self.h5file = h5py.File(self.handle, "r")
        except (OSError, ValueError) as error:
            self.handle.close()
            raise FileFormatError(f"{self.path}: {_WEIGHTS} is not a readable HDF5 file "
                                  f"({error})") from None
        return self.h5file

    def __exit__(self, *exc):
        self.h5file.close()
        self.handle.close()


def _metadata_json():
    import json

    import dendrite

    return json.dumps({"keras_version": KERAS_VERSION,
                       "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                       "dendrite_version": dendrite.__version__,
                       "dendrite_format_version": FORMAT_VERSION})


def _check_version(metadata, path):
    version = metadata.get("dendrite_format_version")
    if version is not None and (not isinstance(version, int) or version > FORMAT_VERSION):
        raise FileFormatError(f"{path}: written by a newer dendrite (format version {version!r}; "
                              f"this one reads up to {FORMAT_VERSION}); upgrade dendrite")
    keras_version = metadata.get("keras_version")
    if keras_version is not None:
        major = str(keras_version).split(".")[0]
        if not major.isdigit() or int(major) != 3:
            raise FileFormatError(f"{path}: written by Keras {keras_version!r}; dendrite reads the "
                                  "Keras 3 format")


# ------------------------------------------------------------------ configs


def _model_config_json(model):
    """config.json: the model's Keras-schema config plus Keras's ``compile_config``."""
    import json

    from dendrite.models.config import serialize_model

    config = serialize_model(model)
    config["compile_config"] = _compile_config(model)
    return json.dumps(config)


_KERAS_COMPILE_DEFAULTS = {"weighted_metrics": None, "run_eagerly": False,
                           "steps_per_execution": 1, "jit_compile": False}


def _compile_config(model):
    """Keras's ``compile_config`` (optimizer, loss, loss_weights, metrics), or None."""
    from dendrite.saving.serialization import serialize

    if model.optimizer is None or model.compiled is None:
        return None
    loss, loss_weights, metrics = model._compile_args

    def written(value):
        if value is None or isinstance(value, (str, int, float, bool)):
            return value
        if isinstance(value, (list, tuple)):
            return [written(item) for item in value]
        if isinstance(value, dict):
            return {key: written(item) for key, item in value.items()}
        return serialize(value)

    optimizer = serialize(model.optimizer)
    if optimizer["config"].get("epsilon_form") == "keras":
        del optimizer["config"]["epsilon_form"]  # dendrite's default; Keras has no such argument
    return {"optimizer": optimizer, "loss": written(loss),
            "loss_weights": written(loss_weights), "metrics": written(metrics),
            **_KERAS_COMPILE_DEFAULTS}


def _model_from_config(config, path, compile):
    """Build (and compile) a model from a parsed, safety-checked config.json."""
    from dendrite.models.config import model_from_config

    compile_config = config.get("compile_config")
    config = {key: value for key, value in config.items() if key != "compile_config"}
    try:
        model = model_from_config(config)
    except (ValueError, TypeError, KeyError) as error:
        raise FileFormatError(f"{path}: {_CONFIG} describes a model dendrite cannot build: "
                              f"{error}") from None
    if compile and compile_config:
        try:
            _compile_from_config(model, compile_config)
        except (ValueError, TypeError, KeyError) as error:
            raise FileFormatError(f"{path}: {_CONFIG} has a compile_config dendrite cannot use: "
                                  f"{error}") from None
    return model


def _compile_from_config(model, config):
    from dendrite.saving.serialization import deserialize

    if not isinstance(config, dict):
        raise TypeError(f"compile_config must be a dict; got {type(config).__name__}")
    allowed = {"optimizer", "loss", "loss_weights", "metrics", *_KERAS_COMPILE_DEFAULTS}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(f"unknown compile_config keys {unknown}")
    if config.get("weighted_metrics"):
        raise ValueError("weighted_metrics are not supported")

    def read(kind, value):
        if value is None or isinstance(value, (str, int, float)):
            return value
        if isinstance(value, list):
            return [read(kind, item) for item in value]
        if isinstance(value, dict) and "class_name" not in value:
            return {key: read(kind, item) for key, item in value.items()}
        return deserialize(kind, value)

    optimizer = config.get("optimizer")
    model.compile(optimizer=deserialize("optimizers", optimizer) if optimizer else "rmsprop",
                  loss=read("losses", config.get("loss")),
                  loss_weights=config.get("loss_weights"),
                  metrics=read("metrics", config.get("metrics")))


# ------------------------------------------------------------------ weights only


def save_weights(model, filepath, overwrite=True):
    """Save the weights (and optimizer state) to ``.weights.h5`` (Keras's layout) or
    ``.safetensors`` (weights only), atomically."""
    path = _path_str(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save_weights: {path!r} exists and overwrite=False")
    if path.endswith(".safetensors"):
        from dendrite.saving import safetensors_io

        safetensors_io.save_weights(model, path)
        return
    if not path.endswith(".weights.h5"):
        raise ValueError(f"save_weights: the file name must end in .weights.h5 or .safetensors; "
                         f"got {path!r}")
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5file:
        h5_weights.write_model_weights(h5file, model, include_optimizer=True)
    with atomic_write(path) as handle:
        handle.write(buffer.getbuffer())


def load_weights(model, filepath):
    """Load weights from ``.weights.h5`` (dendrite or Keras 3), ``.safetensors`` or ``.keras``.

    Every array's shape and dtype is checked against its variable before any is read; on error the
    model is unchanged.
    """
    path = _path_str(filepath)
    if path.endswith(".safetensors"):
        from dendrite.saving import safetensors_io

        safetensors_io.load_weights(model, path)
        return
    if path.endswith(".keras"):
        _check_file(path, b"PK", "a .keras (zip) archive")
        try:
            archive = zipfile.ZipFile(path, "r")
        except zipfile.BadZipFile as error:
            raise FileFormatError(f"{path}: not a readable .keras archive ({error})") from None
        with archive:
            safety.check_zip_members(archive, path, (_WEIGHTS,), MAX_ARCHIVE_BYTES)
            with _open_h5_member(archive, path) as h5file:
                h5_weights.read_model_weights(h5file, model, path)
        return
    if not path.endswith(".weights.h5"):
        raise ValueError(f"load_weights: the file name must end in .weights.h5, .safetensors or "
                         f".keras; got {path!r}")
    import h5py

    _check_file(path, _HDF5_SIGNATURE, "an HDF5 weights file")
    try:
        h5file = h5py.File(path, "r")
    except (OSError, ValueError) as error:
        raise FileFormatError(f"{path}: not a readable HDF5 file ({error})") from None
    with h5file:
        h5_weights.read_model_weights(h5file, model, path)
