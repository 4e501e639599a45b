"""image_dataset_from_directory on the shipped cat-vs-non-cat images, as class subfolders (#12)."""

import numpy as np
import pytest

import dendrite as dd
from dendrite.datasets import catvnoncat
from dendrite.layers import Dense, Flatten
from dendrite.utils import PyDataset, image_dataset_from_directory

Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def cat_folder(tmp_path_factory):
    """The 209 training images as PNGs in cat/ and non-cat/; returns (folder, x, y) in file order.

    File order within a class is the order of the names, which is the data set's order.
    """
    (x, y), _, _ = catvnoncat.load_data()
    root = tmp_path_factory.mktemp("catvnoncat")
    for name in ("cat", "non-cat"):
        (root / name).mkdir()
    for i, (image, label) in enumerate(zip(x, y)):
        Image.fromarray(image).save(root / ("cat" if label else "non-cat") / f"{i:04d}.png")
    (root / "README.txt").write_text("not an image")  # ignored: not an image extension
    Image.fromarray(x[0]).save(root / "stray.png")  # ignored with labels="inferred": not in a class
    order = np.concatenate([np.flatnonzero(y == 1), np.flatnonzero(y == 0)])
    return root, x[order], y[order]


def _all(dataset):
    batches = [dataset[i] for i in range(len(dataset))]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def test_inferred_labels_and_exact_pixels(cat_folder, capsys):
    root, x, y = cat_folder
    dataset = image_dataset_from_directory(root, image_size=(64, 64), batch_size=50,
                                           shuffle=False)
    assert capsys.readouterr().out == "Found 209 files belonging to 2 classes.\n"
    assert isinstance(dataset, PyDataset)
    assert dataset.class_names == ["cat", "non-cat"]
    assert len(dataset) == 5  # ceil(209 / 50)
    images, labels = _all(dataset)
    assert images.dtype == np.float32 and images.shape == (209, 64, 64, 3)
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(images, x.astype(np.float32))  # PNG is lossless
    np.testing.assert_array_equal(labels, 1 - y)  # class 0 is "cat" (alphanumeric order)
    assert np.bincount(labels).tolist() == [72, 137]


@pytest.mark.parametrize("label_mode, shape, dtype", [
    ("int", (16,), np.int32), ("categorical", (16, 2), np.float32),
    ("binary", (16, 1), np.float32)])
def test_label_modes(cat_folder, label_mode, shape, dtype):
    root, _, y = cat_folder
    dataset = image_dataset_from_directory(root, label_mode=label_mode, image_size=(64, 64),
                                           batch_size=16, shuffle=False, verbose=False)
    labels = dataset[0][1]
    assert labels.shape == shape and labels.dtype == dtype
    if label_mode == "categorical":
        np.testing.assert_array_equal(labels.argmax(axis=1), 1 - y[:16])
    else:
        np.testing.assert_array_equal(labels.reshape(-1), 1 - y[:16])


def test_class_names_set_the_label_order(cat_folder):
    root, _, _ = cat_folder
    dataset = image_dataset_from_directory(root, class_names=["non-cat", "cat"],
                                           image_size=(64, 64), shuffle=False, verbose=False)
    _, labels = _all(dataset)
    assert sorted(labels[:72].tolist()) == [1] * 72  # cat files come first, now labelled 1
    assert dataset.class_names == ["non-cat", "cat"]


def test_no_labels_grayscale_and_resize(cat_folder):
    root, _, _ = cat_folder
    dataset = image_dataset_from_directory(root, labels=None, color_mode="grayscale",
                                           image_size=(32, 48), batch_size=8, shuffle=False,
                                           verbose=False)
    batch = dataset[0]
    assert isinstance(batch, np.ndarray)
    assert batch.shape == (8, 32, 48, 1)
    assert len(dataset.file_paths) == 210  # labels=None takes every image, stray.png included
    assert 0 <= batch.min() and batch.max() <= 255


def test_validation_split_both_subsets_partition_the_files(cat_folder):
    root, _, _ = cat_folder
    training, validation = image_dataset_from_directory(
        root, image_size=(64, 64), validation_split=0.2, subset="both", seed=7, verbose=False)
    assert len(validation.file_paths) == 41  # int(0.2 * 209), the last of the shuffled order
    assert len(training.file_paths) == 168
    assert set(training.file_paths).isdisjoint(validation.file_paths)
    again = image_dataset_from_directory(root, image_size=(64, 64), validation_split=0.2,
                                         subset="validation", seed=7, verbose=False)
    assert again.file_paths == validation.file_paths
    other = image_dataset_from_directory(root, image_size=(64, 64), validation_split=0.2,
                                         subset="validation", seed=8, verbose=False)
    assert other.file_paths != validation.file_paths


def test_shuffle_reorders_each_epoch_and_keeps_pairs(cat_folder):
    root, x, y = cat_folder
    dataset = image_dataset_from_directory(root, image_size=(64, 64), batch_size=209, seed=3,
                                           verbose=False)
    first_images, first_labels = dataset[0]
    dataset.on_epoch_end()
    second_images, second_labels = dataset[0]
    assert not np.array_equal(first_labels, second_labels) or not np.array_equal(
        first_images, second_images)
    # every image still carries its own label
    key = {x[i].tobytes(): 1 - y[i] for i in range(len(x))}
    for images, labels in ((first_images, first_labels), (second_images, second_labels)):
        assert [key[im.astype(np.uint8).tobytes()] for im in images] == labels.tolist()


def test_images_are_read_lazily(cat_folder, tmp_path):
    _, x, _ = cat_folder
    folder = tmp_path / "lazy"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    for i in range(4):
        Image.fromarray(x[i]).save(folder / ("a" if i < 2 else "b") / f"{i}.png")
    dataset = image_dataset_from_directory(folder, image_size=(64, 64), batch_size=2,
                                           shuffle=False, verbose=False)
    (folder / "b" / "3.png").write_bytes(b"not a png")  # damaged after indexing
    assert dataset[0][0].shape == (2, 64, 64, 3)  # batch 0 never touches the damaged file
    with pytest.raises(ValueError, match=r"3\.png is not a readable image"):
        dataset[1]


@pytest.mark.parametrize("workers", [1, 3])
def test_fit_on_the_dataset_matches_fit_on_arrays(cat_folder, workers):
    root, x, y = cat_folder
    dataset = image_dataset_from_directory(root, label_mode="binary", image_size=(64, 64),
                                           batch_size=32, shuffle=False, verbose=False)
    dataset.workers = workers  # settable, as in Keras 3: images decoded by 3 threads

    def model():
        dd.utils.set_random_seed(0)
        net = dd.Sequential([Flatten(input_shape=(64, 64, 3)), Dense(1, activation="sigmoid")])
        net.compile(optimizer=dd.optimizers.SGD(1e-6), loss="binary_crossentropy",
                    metrics=["accuracy"])
        return net

    from_folder = model().fit(dataset, epochs=2, verbose=0)
    from_arrays = model().fit(x.astype(np.float32), (1 - y).astype(np.float32)[:, None],
                              batch_size=32, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(from_folder.history["loss"], from_arrays.history["loss"],
                               rtol=1e-6)
    assert from_folder.history["accuracy"] == from_arrays.history["accuracy"]


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"label_mode": "binary", "class_names": None, "subfolders": 3}, ValueError,
     r'label_mode="binary" needs exactly 2 classes; got class_names=\[.a., .b., .c.\]'),
    ({"label_mode": "sparse"}, ValueError,
     (r"label_mode must be one of \['int', 'categorical', 'binary', None\]; "
      r"got label_mode='sparse'")),
    ({"color_mode": "RGB"}, ValueError, r"color_mode must be one of .*; got color_mode='RGB'"),
    ({"image_size": 64}, ValueError, r"image_size must be a pair of positive integers"),
    ({"batch_size": 0}, ValueError, r"batch_size must be a positive integer or None; got batch"),
    ({"validation_split": 0.2, "subset": "training"}, ValueError,
     r"seed must be an integer when validation_split shuffles"),
    ({"subset": "training"}, ValueError, r"subset must be None without validation_split"),
    ({"validation_split": 1.0, "subset": "both", "seed": 1}, ValueError,
     r"validation_split must be a float in \(0, 1\) or None; got validation_split=1.0"),
    ({"validation_split": 0.2, "subset": "test", "seed": 1}, ValueError,
     r"subset must be one of \['training', 'validation', 'both'\]; got subset='test'"),
    ({"labels": [0, 1]}, ValueError, r"labels must have one entry per image file; got 2 labels"),
    ({"labels": "folders"}, ValueError, r"labels must be \"inferred\", None or a list"),
    ({"class_names": ["a", "z"]}, ValueError, r"class_names must list exactly the subfolders"),
    ({"shuffle": "no"}, ValueError, r"shuffle must be True or False; got shuffle='no'"),
])
def test_bad_arguments(tmp_path, cat_folder, kwargs, error, pattern):
    _, x, _ = cat_folder
    kwargs = dict(kwargs)
    for i in range(kwargs.pop("subfolders", 2)):
        (tmp_path / "abc"[i]).mkdir()
    for i, name in enumerate(["a", "b", "a"]):
        Image.fromarray(x[i]).save(tmp_path / name / f"{i}.png")
    with pytest.raises(error, match=pattern):
        image_dataset_from_directory(tmp_path, verbose=False, **kwargs)


def test_missing_folder_and_no_images(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"directory must be an existing folder; got "
                                                r"directory='.*nowhere'"):
        image_dataset_from_directory(tmp_path / "nowhere")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no images found in directory .*empty .*allowed "
                                         r"formats: \.bmp"):
        image_dataset_from_directory(tmp_path / "empty")
