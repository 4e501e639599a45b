"""``image_dataset_from_directory``: a folder of class subfolders as a lazily loaded PyDataset.

Keras's ``keras.utils.image_dataset_from_directory`` with its arguments and semantics, returning a
:class:`~dendrite.utils.PyDataset` (Keras returns a ``tf.data.Dataset``) that ``fit``,
``evaluate`` and ``predict`` consume. Images are read with Pillow when a batch is requested,
never all at once. (The tutorials' loader, which labels files by a name prefix, is
:func:`dendrite.datasets.load_image_folder`.)
"""

import math
import os
from pathlib import Path

from dendrite.backend import host as np
from dendrite.errors import arg_error, check_bool, check_choice, check_number, seed_value
from dendrite.utils.pydataset import PyDataset

ALLOWED_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
"""File extensions read as images (Keras's list), case-insensitive."""

_CHANNELS = {"grayscale": ("L", 1), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}
_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5")
_WHO = "image_dataset_from_directory"


class ImageFolderDataset(PyDataset):
    """Batches of images read on demand from a list of files (what
    :func:`image_dataset_from_directory` returns).

    Attributes:
        file_paths: the image files, in the order of the first epoch.
        class_names: the class names in label order (None without labels).
        labels: int array of shape (samples,) or None.

    ``dataset[i]`` is ``(images, labels)`` (``images`` alone without labels): ``images`` float32
    of shape (batch, height, width, channels) with values in [0, 255]; labels int32 (batch,) for
    ``label_mode="int"``, float32 (batch, classes) for "categorical", float32 (batch, 1) for
    "binary". With ``shuffle`` the order is drawn again after every epoch.
    """

    def __init__(self, file_paths, labels, class_names, label_mode, color_mode, batch_size,
                 image_size, interpolation, shuffle, seed):
        super().__init__()
        self.file_paths, self.labels = list(file_paths), labels
        self.class_names, self.label_mode = class_names, label_mode
        self.color_mode, self.batch_size, self.image_size = color_mode, batch_size, image_size
        self.interpolation = interpolation
        self._rng = np.random.default_rng(seed) if shuffle else None
        self._order = np.arange(len(self.file_paths))  # file_paths come shuffled for epoch 1

    def __len__(self):
        if self.batch_size is None:
            return len(self.file_paths)
        return math.ceil(len(self.file_paths) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"{_WHO}: batch index {index} out of range [0, {len(self)})")
        if self.batch_size is None:
            rows = self._order[index:index + 1]
        else:
            rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        height, width = self.image_size
        channels = _CHANNELS[self.color_mode][1]
        images = np.empty((len(rows), height, width, channels), dtype="float32")
        for out, row in zip(images, rows):
            out[...] = self._load(self.file_paths[row])
        if self.labels is None or self.label_mode is None:
            return images[0] if self.batch_size is None else images
        labels = self._encode(self.labels[rows])
        if self.batch_size is None:
            return images[0], labels[0]
        return images, labels

    def on_epoch_end(self):
        if self._rng is not None:
            self._order = self._rng.permutation(len(self.file_paths))

    def _load(self, path):
        from PIL import Image

        mode, channels = _CHANNELS[self.color_mode]
        height, width = self.image_size
        try:
            with Image.open(path) as opened:
                image = opened.convert(mode)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            raise ValueError(f"{_WHO}: {path} is not a readable image ({error})") from error
        if image.size != (width, height):
            image = image.resize((width, height), _pillow_filter(Image, self.interpolation))
        return np.asarray(image, dtype="float32").reshape(height, width, channels)

    def _encode(self, labels):
        if self.label_mode == "int":
            return labels.astype("int32")
        if self.label_mode == "binary":
            return labels.astype("float32").reshape(-1, 1)
        one_hot = np.zeros((len(labels), len(self.class_names)), dtype="float32")
        one_hot[np.arange(len(labels)), labels] = 1
        return one_hot


def _pillow_filter(image_module, interpolation):
    resampling = getattr(image_module, "Resampling", image_module)
    return {"bilinear": resampling.BILINEAR, "nearest": resampling.NEAREST,
            "bicubic": resampling.BICUBIC, "area": resampling.BOX,
            "lanczos3": resampling.LANCZOS, "lanczos5": resampling.LANCZOS}[interpolation]


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, verbose=True):
    """Images from ``directory`` as a PyDataset of ``(images, labels)`` batches (Keras's semantics).

    With ``labels="inferred"`` the directory holds one subfolder per class (``main/cat/...``,
    ``main/dog/...``); class ``i`` is the ``i``-th subfolder name in alphanumeric order (or in
    ``class_names`` order), and files directly in ``directory`` are ignored. Images are found
    recursively with the extensions in :data:`ALLOWED_FORMATS`, sorted by path within each class.

    Args:
        directory: the folder.
        labels: "inferred" (from the subfolders), None (no labels), or a list/tuple of integer
            labels, one per image file in alphanumeric order of the paths under ``directory``.
        label_mode: "int" (int32 labels, for sparse_categorical_crossentropy), "categorical"
            (float32 one-hot), "binary" (float32 of shape (batch, 1); exactly 2 classes) or None
            (images only). Default "int".
        class_names: with labels="inferred", the subfolder names to use, in label order.
        color_mode: "grayscale", "rgb" or "rgba" (1, 3 or 4 channels). Default "rgb".
        batch_size: images per batch, or None for single images. Default 32.
        image_size: ``(height, width)`` every image is resized to (Pillow, ``interpolation``).
            Default (256, 256).
        shuffle: shuffle the files (once with ``seed``, then again after every epoch). Default
            True; False keeps the alphanumeric order.
        seed: int seed of the shuffling and of the validation split.
        validation_split: float in (0, 1): the fraction kept for validation (the last files of
            the shuffled order, as Keras takes them).
        subset: with ``validation_split``: "training", "validation" or "both" (a list
            ``[training, validation]``).
        interpolation: "bilinear" (default), "nearest", "bicubic", "area", "lanczos3" or
            "lanczos5" (Pillow's filters; Pillow antialiases when shrinking, TensorFlow does not,
            so pixels may differ slightly from Keras's).
        follow_links: descend into symbolic links to folders. Default False.
        verbose: print "Found N files belonging to C classes." as Keras does. Default True.

    Returns:
        An :class:`ImageFolderDataset` (a PyDataset) with ``class_names`` and ``file_paths``, or
        a list of two with ``subset="both"``. Batches hold float32 images of shape
        (batch, height, width, channels) in [0, 255] and labels as ``label_mode`` says.

    Raises:
        ImportError: Pillow is not installed.
        FileNotFoundError: ``directory`` is not a folder.
        ValueError: a bad argument (named, with the received value), no images found, labels
            not matching the files, ``class_names`` not matching the subfolders, or
            ``label_mode="binary"`` with other than 2 classes.
    """
    try:
        import PIL  # noqa: F401
    except ImportError as error:
        raise ImportError(f"{_WHO} needs Pillow: pip install Pillow (or pip install "
                          "dendrite[images])") from error
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"{_WHO}: directory must be an existing folder; got "
                                f"directory={os.fspath(directory)!r}")
    if not (labels in ("inferred", None) or isinstance(labels, (list, tuple))):
        raise arg_error(_WHO, "labels", '"inferred", None or a list/tuple of integer labels',
                        labels)
    label_mode = check_choice(_WHO, "label_mode", label_mode,
                              ("int", "categorical", "binary", None))
    color_mode = check_choice(_WHO, "color_mode", color_mode, tuple(_CHANNELS))
    interpolation = check_choice(_WHO, "interpolation", interpolation, _INTERPOLATIONS)
    batch_size = check_number(_WHO, "batch_size", batch_size, integer=True, low=1,
                              allow_none=True, expected="a positive integer or None")
    image_size = _image_size(image_size)
    shuffle = check_bool(_WHO, "shuffle", shuffle)
    follow_links = check_bool(_WHO, "follow_links", follow_links)
    seed = seed_value(_WHO, seed)
    if validation_split is not None:
        validation_split = check_number(_WHO, "validation_split", validation_split, low=0,
                                        high=1, low_open=True, high_open=True,
                                        expected="a float in (0, 1) or None")
        subset = check_choice(_WHO, "subset", subset, ("training", "validation", "both"))
        if shuffle and seed is None:
            raise arg_error(_WHO, "seed", "an integer when validation_split shuffles the files "
                            "(both subsets must come from one order)", seed)
    elif subset is not None:
        raise arg_error(_WHO, "subset", "None without validation_split", subset)
    if labels is None or label_mode is None:
        labels, label_mode = None, None

    paths, label_array, names = _index(folder, labels, class_names, follow_links)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f'{_WHO}: label_mode="binary" needs exactly 2 classes; got '
                         f"class_names={names}")
    if verbose:
        classes = f" belonging to {len(names)} classes" if label_array is not None else ""
        print(f"Found {len(paths)} files{classes}.")
    if label_array is not None and label_mode is None:
        label_array = None
    # one shuffled order (seeded) from which both subsets are cut, as Keras does
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(paths))
        paths = [paths[i] for i in order]
        label_array = None if label_array is None else label_array[order]

    def make(part):
        part_labels = None if label_array is None else label_array[part]
        return ImageFolderDataset([paths[i] for i in range(len(paths))[part]], part_labels,
                                  names if label_array is not None else None, label_mode,
                                  color_mode, batch_size, image_size, interpolation, shuffle,
                                  seed)

    if validation_split is None:
        return make(slice(None))
    validation_count = int(validation_split * len(paths))
    split = len(paths) - validation_count
    if validation_count == 0 or split == 0:
        raise ValueError(f"{_WHO}: validation_split={validation_split} of {len(paths)} files "
                         f"leaves {validation_count} validation and {split} training files; "
                         "both need at least one")
    if verbose and subset in ("training", "both"):
        print(f"Using {split} files for training.")
    if verbose and subset in ("validation", "both"):
        print(f"Using {validation_count} files for validation.")
    training, validation = slice(0, split), slice(split, None)
    if subset == "both":
        return [make(training), make(validation)]
    return make(training if subset == "training" else validation)


def _image_size(image_size):
    ok = isinstance(image_size, (tuple, list)) and len(image_size) == 2
    if ok:
        try:
            return tuple(check_number(_WHO, "image_size", n, integer=True, low=1)
                         for n in image_size)
        except ValueError:
            pass
    raise arg_error(_WHO, "image_size", "a pair of positive integers (height, width)", image_size)


def _images_under(folder, follow_links):
    found = []
    for root, dirs, files in os.walk(folder, followlinks=follow_links):
        dirs.sort()
        found += [Path(root) / name for name in files
                  if name.lower().endswith(ALLOWED_FORMATS) and not name.startswith(".")]
    return sorted(found, key=lambda path: os.fspath(path))


def _index(folder, labels, class_names, follow_links):
    """(image paths, int labels or None, class names) as Keras's ``index_directory`` gives them."""
    if labels != "inferred":
        if class_names is not None:
            raise arg_error(_WHO, "class_names", 'None unless labels="inferred"', class_names)
        paths = _images_under(folder, follow_links)
        _require_images(paths, folder)
        if labels is None:
            return paths, None, []
        if len(labels) != len(paths):
            raise ValueError(f"{_WHO}: labels must have one entry per image file; got "
                             f"{len(labels)} labels for {len(paths)} files in {folder}")
        label_array = np.asarray(labels)
        if label_array.dtype.kind not in "iu" or (label_array.size and label_array.min() < 0):
            raise arg_error(_WHO, "labels", "non-negative integers", labels)
        count = int(label_array.max()) + 1 if label_array.size else 0
        return paths, label_array.astype("int64"), [str(i) for i in range(count)]
    subfolders = sorted(entry.name for entry in folder.iterdir()
                        if entry.is_dir() and not entry.name.startswith("."))
    if class_names is None:
        names = subfolders
    else:
        if not isinstance(class_names, (list, tuple)) or sorted(class_names) != subfolders:
            raise ValueError(f"{_WHO}: class_names must list exactly the subfolders of "
                             f"{folder} ({subfolders}); got class_names={class_names!r}")
        names = list(class_names)
    paths, label_list = [], []
    for name in subfolders:  # files in folder order, labels in class_names order (as Keras)
        files = _images_under(folder / name, follow_links)
        paths += files
        label_list += [names.index(name)] * len(files)
    _require_images(paths, folder, names)
    return paths, np.asarray(label_list, dtype="int64"), names


def _require_images(paths, folder, names=None):
    if not paths:
        where = f" (in the class subfolders {names})" if names is not None else ""
        raise ValueError(f"{_WHO}: no images found in directory {os.fspath(folder)}{where}; "
                         f"allowed formats: {', '.join(ALLOWED_FORMATS)}")
