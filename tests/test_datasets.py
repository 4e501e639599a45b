"""Tests for dendrite.datasets: bundled data, IDX/CSV/image readers and the Fashion-MNIST
download."""

import gzip
import hashlib
import http.server
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from dendrite import datasets
from dendrite.datasets import _integrity, catvnoncat, fashion_mnist, mnist
from dendrite.datasets import idx as idx_module

DATA = Path(__file__).parent / "data"
IDX_CODES = {
    "uint8": 0x08,
    "int8": 0x09,
    "int16": 0x0B,
    "int32": 0x0C,
    "float32": 0x0D,
    "float64": 0x0E,
}


def write_idx(path, array, compress=True):
    """Write ``array`` as an IDX file (gzip-compressed if ``compress``); return its path."""
    array = np.asarray(array)
    header = bytes([0, 0, IDX_CODES[array.dtype.name], array.ndim])
    header += np.array(array.shape, dtype=">u4").tobytes()
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    Path(path).write_bytes(gzip.compress(data) if compress else data)
    return Path(path)


# --- MNIST -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_data():
    return mnist.load_data()


def test_mnist_shapes_and_dtypes(mnist_data):
    (x_train, y_train), (x_test, y_test) = mnist_data
    assert x_train.shape == (60000, 28, 28)
    assert y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28)
    assert y_test.shape == (10000,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8


def test_mnist_first_labels_mean_and_class_counts(mnist_data):
    (x_train, y_train), (_, y_test) = mnist_data
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert x_train.mean() == pytest.approx(33.318421449829934, abs=1e-9)
    train_counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(y_train).tolist() == train_counts
    assert np.bincount(y_test).tolist() == test_counts


@pytest.mark.parametrize("module", [mnist, catvnoncat])
def test_corrupted_bundled_file_raises_hash_error(module, tmp_path, monkeypatch):
    data = bytearray(module.DATA_PATH.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupted = tmp_path / module.DATA_PATH.name
    corrupted.write_bytes(bytes(data))
    monkeypatch.setattr(module, "DATA_PATH", corrupted)
    pattern = (rf"SHA256 mismatch for .*{module.DATA_PATH.name}: expected {module.SHA256}, "
               r"got [0-9a-f]{64}")
    with pytest.raises(ValueError, match=pattern):
        module.load_data()


def test_mnist_hash_is_checked_once_per_process(monkeypatch):
    mnist.load_data()

    def fail(path):
        raise AssertionError(f"hashed {path} again")

    monkeypatch.setattr(_integrity, "sha256_file", fail)
    (x_train, _), _ = mnist.load_data()
    assert x_train.shape == (60000, 28, 28)


def test_mnist_alternative_path(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "y_train": np.array([1, 2, 3, 4], dtype=np.uint8),
        "x_test": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        "y_test": np.array([5, 6], dtype=np.uint8),
    }
    np.savez(tmp_path / "mine.npz", **arrays)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=tmp_path / "mine.npz")
    for key, array in zip(
        ("x_train", "y_train", "x_test", "y_test"), (x_train, y_train, x_test, y_test)
    ):
        np.testing.assert_array_equal(array, arrays[key])
    del arrays["y_test"]
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(ValueError, match=r"partial\.npz: expected arrays .* missing \['y_test'\]"):
        mnist.load_data(path=tmp_path / "partial.npz")
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        mnist.load_data(path=tmp_path / "absent.npz")


# --- cat vs non-cat --------------------------------------------------------------------------


def test_catvnoncat_shapes_counts_and_classes():
    (x_train, y_train), (x_test, y_test), classes = catvnoncat.load_data()
    assert x_train.shape == (209, 64, 64, 3)
    assert x_test.shape == (50, 64, 64, 3)
    assert y_train.shape == (209,)
    assert y_test.shape == (50,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    assert int(y_train.sum()) == 72
    assert int(y_test.sum()) == 33
    assert classes.dtype == np.dtype("S7")
    assert classes.tolist() == [b"non-cat", b"cat"]


def test_catvnoncat_load_h5_equals_npz():
    pytest.importorskip("h5py")
    folder = DATA / "catvnoncat"
    from_h5 = catvnoncat.load_h5(folder / "train_catvnoncat.h5", folder / "test_catvnoncat.h5")
    from_npz = catvnoncat.load_data()
    for h5_array, npz_array in zip(from_h5[0] + from_h5[1], from_npz[0] + from_npz[1]):
        assert h5_array.dtype == npz_array.dtype
        np.testing.assert_array_equal(h5_array, npz_array)
    np.testing.assert_array_equal(from_h5[2], from_npz[2])
    assert from_h5[2].dtype == from_npz[2].dtype


def test_catvnoncat_load_h5_without_h5py(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"pip install h5py .*dendrite\[h5\]"):
        catvnoncat.load_h5("train.h5", "test.h5")


# --- IDX files -------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("dtype", list(IDX_CODES))
def test_read_idx_round_trip(tmp_path, compress, dtype):
    offset = 0 if dtype == "uint8" else -5  # negative values for the signed and float types
    array = (np.arange(24).reshape(2, 3, 4) * 10 + offset).astype(dtype)
    path = write_idx(tmp_path / "data-idx3", array, compress=compress)
    result = datasets.read_idx(path)
    assert result.dtype == np.dtype(dtype)
    assert result.dtype.isnative
    np.testing.assert_array_equal(result, array)
    assert result.flags.writeable


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    plain_named_gz = write_idx(tmp_path / "labels-idx1-ubyte.gz", labels, compress=False)
    gzip_named_plain = write_idx(tmp_path / "labels-idx1-ubyte", labels, compress=True)
    np.testing.assert_array_equal(datasets.read_idx(plain_named_gz), labels)
    np.testing.assert_array_equal(datasets.read_idx(gzip_named_plain), labels)


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_truncated_data(tmp_path, compress):
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    raw = write_idx(tmp_path / "full", images, compress=False).read_bytes()
    cut = raw[:-100]
    path = tmp_path / "cut-idx3-ubyte"
    path.write_bytes(gzip.compress(cut) if compress else cut)
    pattern = (r"cut-idx3-ubyte is truncated: expected 1568 bytes for the data of shape "
               r"\(2, 28, 28\) .* got 1468")
    with pytest.raises(ValueError, match=pattern):
        datasets.read_idx(path)


def test_read_idx_cut_gzip_stream(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    compressed = write_idx(tmp_path / "full.gz", images).read_bytes()
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz is truncated: expected 15680 bytes .* got \d+"):
        datasets.read_idx(path)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(ValueError, match=r"short is truncated: expected 12 bytes .* got 2"):
        datasets.read_idx(path)


def test_read_idx_trailing_bytes(tmp_path):
    raw = write_idx(tmp_path / "full", np.zeros(4, dtype=np.uint8), compress=False).read_bytes()
    path = tmp_path / "long"
    path.write_bytes(raw + b"\x00\x00")
    with pytest.raises(ValueError, match=r"long: expected 4 bytes .* got 6 \(2 bytes too many\)"):
        datasets.read_idx(path)


@pytest.mark.parametrize(
    "header", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00", b"PK\x03\x04"]
)
def test_read_idx_bad_magic(tmp_path, header):
    path = tmp_path / "bad-idx"
    path.write_bytes(header + b"\x00\x00\x00\x01\x07")
    with pytest.raises(
        ValueError, match=rf"bad-idx: bad IDX magic number 0x{header.hex().upper()}"
    ):
        datasets.read_idx(path)


def test_read_idx_is_importable_from_its_module():
    assert idx_module.read_idx is datasets.read_idx


# --- Fashion-MNIST ---------------------------------------------------------------------------


def fake_fashion(folder, train=5, test=3):
    """Write four small Fashion-MNIST-shaped IDX gz files into ``folder``; return the arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    arrays = (
        rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, train, dtype=np.uint8),
        rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, test, dtype=np.uint8),
    )
    for name, array in zip(fashion_mnist.FILES, arrays):
        write_idx(folder / name, array)
    register_hashes(folder)
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


@pytest.fixture(autouse=True)
def own_fashion_hashes(monkeypatch):
    """Each test gets its own copy of the known hashes, which :func:`register_hashes` edits."""
    monkeypatch.setattr(fashion_mnist, "SHA256", dict(fashion_mnist.SHA256))


def register_hashes(folder):
    """Make the fake files in ``folder`` the "known" ones (every local file is hash-checked)."""
    for name in fashion_mnist.FILES:
        fashion_mnist.SHA256[name] = fashion_mnist.content_sha256(folder / name)


def assert_same(result, expected):
    for got, want in zip(result[0] + result[1], expected[0] + expected[1]):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


@pytest.fixture
def no_local_fashion(tmp_path, monkeypatch):
    """Hide $DENDRITE_DATA and the Debian folder so that only the cache or a download remain."""
    monkeypatch.delenv("DENDRITE_DATA", raising=False)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", str(tmp_path / "no-system-dir"))


def test_fashion_mnist_from_path(tmp_path):
    expected = fake_fashion(tmp_path / "fm")
    assert_same(fashion_mnist.load_data(tmp_path / "fm"), expected)


def test_fashion_mnist_path_lacking_files(tmp_path):
    fake_fashion(tmp_path / "fm")
    (tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks \['t10k-labels-idx1-ubyte.gz'\]"):
        fashion_mnist.load_data(tmp_path / "fm")


@pytest.mark.parametrize("subfolder", ["", "fashion-mnist"])
def test_fashion_mnist_from_dendrite_data(tmp_path, monkeypatch, no_local_fashion, subfolder):
    expected = fake_fashion(tmp_path / "data" / subfolder)
    monkeypatch.setenv("DENDRITE_DATA", str(tmp_path / "data"))
    assert_same(
        fashion_mnist.load_data(cache_dir=tmp_path / "unused", base_url="http://0.0.0.0:9/"),
        expected,
    )
    assert not (tmp_path / "unused").exists()


def test_fashion_mnist_checks_shapes(tmp_path):
    fake_fashion(tmp_path / "fm")
    write_idx(tmp_path / "fm" / "train-images-idx3-ubyte.gz", np.zeros((5, 28, 27), dtype=np.uint8))
    register_hashes(tmp_path / "fm")
    with pytest.raises(
        ValueError,
        match=r"train-images-idx3-ubyte.gz: expected uint8 images of shape \(m, 28, 28\)",
    ):
        fashion_mnist.load_data(tmp_path / "fm")
    fake_fashion(tmp_path / "fm")
    write_idx(tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz", np.zeros(4, dtype=np.uint8))
    register_hashes(tmp_path / "fm")
    with pytest.raises(
        ValueError, match=r"t10k-labels-idx1-ubyte.gz: expected uint8 labels of shape \(3,\)"
    ):
        fashion_mnist.load_data(tmp_path / "fm")


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian package dataset-fashion-mnist not installed",
)
def test_fashion_mnist_real_files_from_debian_package(monkeypatch):
    monkeypatch.delenv("DENDRITE_DATA", raising=False)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28)
    assert y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28)
    assert y_test.shape == (10000,)
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(y_train).tolist() == [6000] * 10
    for name in fashion_mnist.FILES:
        path = Path(fashion_mnist.SYSTEM_DIR) / name
        assert fashion_mnist.content_sha256(path) == fashion_mnist.SHA256[name]


@pytest.fixture
def file_server(tmp_path):
    """Serve ``tmp_path / "served"`` over HTTP on 127.0.0.1; yield (base URL, list of request
    paths)."""
    served = tmp_path / "served"
    served.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format, *args):  # keep the test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", served, requests
    server.shutdown()
    server.server_close()
    thread.join()


def content_hashes(folder):
    return {
        name: hashlib.sha256(gzip.decompress((folder / name).read_bytes())).hexdigest()
        for name in fashion_mnist.FILES
    }


def test_fashion_mnist_download_verifies_and_caches(
    file_server, tmp_path, monkeypatch, no_local_fashion
):
    url, served, requests = file_server
    expected = fake_fashion(served)
    monkeypatch.setattr(fashion_mnist, "SHA256", content_hashes(served))
    cache = tmp_path / "cache"
    assert_same(fashion_mnist.load_data(cache_dir=cache, base_url=url), expected)
    assert sorted(requests) == sorted(f"/{name}" for name in fashion_mnist.FILES)
    assert sorted(path.name for path in cache.iterdir()) == sorted(fashion_mnist.FILES)
    assert_same(fashion_mnist.load_data(cache_dir=cache, base_url=url), expected)
    assert len(requests) == 4


def test_fashion_mnist_downloads_only_missing_files(
    file_server, tmp_path, monkeypatch, no_local_fashion
):
    url, served, requests = file_server
    expected = fake_fashion(served)
    monkeypatch.setattr(fashion_mnist, "SHA256", content_hashes(served))
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(served / "train-images-idx3-ubyte.gz", cache)
    assert_same(fashion_mnist.load_data(cache_dir=cache, base_url=url.rstrip("/")), expected)
    assert "/train-images-idx3-ubyte.gz" not in requests
    assert len(requests) == 3


def test_fashion_mnist_default_cache_is_under_dendrite_home(
    file_server, tmp_path, monkeypatch, no_local_fashion
):
    url, served, _ = file_server
    expected = fake_fashion(served)
    monkeypatch.setattr(fashion_mnist, "SHA256", content_hashes(served))
    monkeypatch.setenv("DENDRITE_HOME", str(tmp_path / "home"))
    assert_same(fashion_mnist.load_data(base_url=url), expected)
    cache = tmp_path / "home" / "datasets" / "fashion-mnist"
    assert sorted(path.name for path in cache.iterdir()) == sorted(fashion_mnist.FILES)


def test_fashion_mnist_download_hash_mismatch_leaves_nothing(
    file_server, tmp_path, monkeypatch, no_local_fashion
):
    url, served, _ = file_server
    fake_fashion(served)
    hashes = content_hashes(served)
    name = fashion_mnist.FILES[0]
    actual, hashes[name] = hashes[name], "0" * 64
    monkeypatch.setattr(fashion_mnist, "SHA256", hashes)
    cache = tmp_path / "cache"
    pattern = rf"SHA256 mismatch for {url}{name}: expected {'0' * 64}, got {actual}"
    with pytest.raises(ValueError, match=pattern):
        fashion_mnist.load_data(cache_dir=cache, base_url=url)
    assert list(cache.iterdir()) == []


def test_fashion_mnist_download_failure_names_url(file_server, tmp_path, no_local_fashion):
    url, _, _ = file_server  # serves an empty folder: every request is a 404
    with pytest.raises(OSError, match=rf"Could not download {url}train-images-idx3-ubyte.gz"):
        fashion_mnist.load_data(cache_dir=tmp_path / "cache", base_url=url)
    assert list((tmp_path / "cache").iterdir()) == []


# --- label-first CSV -------------------------------------------------------------------------

ROWS = "5,0,128,255\n0,1,2,3\n9,255,0,7\n"


@pytest.mark.parametrize(
    ("text", "skip_header"),
    [
        (ROWS, "auto"),
        (ROWS, False),
        ("label,1x1,1x2,1x3\n" + ROWS, "auto"),
        ("label,a,b,c\n" + ROWS, True),
    ],
)
def test_read_label_first_csv(tmp_path, text, skip_header):
    path = tmp_path / "digits.csv"
    path.write_text(text)
    x, y = datasets.read_label_first_csv(path, num_classes=10, skip_header=skip_header)
    assert x.dtype == np.uint8
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(x, [[0, 128, 255], [1, 2, 3], [255, 0, 7]])
    np.testing.assert_array_equal(y, [5, 0, 9])


@pytest.mark.parametrize(
    ("bad_row", "pattern"),
    [
        ("1,2,256,4", r"data row 1 .*, column 2: pixel must be an integer in \[0, 255\]; got 256"),
        ("1,2,3,4.5", r"data row 1 .*, column 3: pixel must be an integer in \[0, 255\]; got 4.5"),
        ("1,-1,3,4", r"data row 1 .*, column 1: pixel must be an integer in \[0, 255\]; got -1"),
        ("10,2,3,4", r"data row 1 .*, column 0: label must be an integer in \[0, 9\]; got 10"),
    ],
)
def test_read_label_first_csv_bad_values(tmp_path, bad_row, pattern):
    path = tmp_path / "bad.csv"
    path.write_text(f"label,a,b,c\n0,1,2,3\n{bad_row}\n")
    with pytest.raises(ValueError, match=rf"bad\.csv: {pattern}"):
        datasets.read_label_first_csv(path, num_classes=10)


def test_read_label_first_csv_header_not_skipped_and_bad_arguments(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("label,a,b,c\n" + ROWS)
    with pytest.raises(ValueError, match=r"header\.csv: not a CSV file of numbers"):
        datasets.read_label_first_csv(path, skip_header=False)
    with pytest.raises(
        ValueError, match=r"skip_header must be True, False or \"auto\"; got skip_header='yes'"
    ):
        datasets.read_label_first_csv(path, skip_header="yes")
    with pytest.raises(
        ValueError, match="num_classes must be None or a positive int; got num_classes=0"
    ):
        datasets.read_label_first_csv(path, num_classes=0)


# --- image folders ---------------------------------------------------------------------------


def test_load_image_folder_reproduces_catvnoncat_test_rows():
    folder = DATA / "catvnoncat_images"
    x, y = datasets.load_image_folder(folder)
    _, (x_test, y_test), _ = catvnoncat.load_data()
    names = sorted(path.name for path in folder.iterdir())
    rows = [int(name.split(".")[1]) for name in names]  # cat.0003.png is row 3 of x_test
    assert x.shape == (16, 64, 64, 3)
    assert x.dtype == np.uint8
    assert y.dtype == np.int64
    np.testing.assert_array_equal(x, x_test[rows])
    np.testing.assert_array_equal(y, y_test[rows])
    assert y.tolist() == [int(name.startswith("cat")) for name in names]
    assert 0 < y.sum() < len(y)


def test_load_image_folder_resizes_to_height_width(tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    source = DATA / "catvnoncat_images" / "cat.0000.png"
    shutil.copy(source, tmp_path)
    x, y = datasets.load_image_folder(tmp_path, size=(32, 48))
    assert x.shape == (1, 32, 48, 3)
    with image_module.open(source) as image:
        expected = np.asarray(image.convert("RGB").resize((48, 32)))
    np.testing.assert_array_equal(x[0], expected)
    assert y.tolist() == [1]


def test_load_image_folder_converts_to_rgb_and_is_not_recursive(tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    gray = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)
    image_module.fromarray(gray).save(tmp_path / "noncat.gray.png")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "not-an-image.txt").write_text("ignored: in a subfolder")
    (tmp_path / ".hidden").write_text("ignored: hidden")
    x, y = datasets.load_image_folder(tmp_path)
    assert x.shape == (1, 64, 64, 3)
    for channel in range(3):
        np.testing.assert_array_equal(x[0, :, :, channel], gray)
    assert y.tolist() == [0]


def test_load_image_folder_invalid_file(tmp_path):
    pytest.importorskip("PIL")
    shutil.copy(DATA / "catvnoncat_images" / "cat.0001.png", tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"notes\.txt is not a readable image"):
        datasets.load_image_folder(tmp_path)
    with pytest.warns(UserWarning, match=r"skipping .*notes\.txt"):
        x, y = datasets.load_image_folder(tmp_path, skip_invalid=True)
    assert x.shape == (1, 64, 64, 3)
    assert y.tolist() == [1]


def test_load_image_folder_empty_missing_and_bad_arguments(tmp_path):
    pytest.importorskip("PIL")
    with pytest.raises(ValueError, match="no image files in"):
        datasets.load_image_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        datasets.load_image_folder(tmp_path / "absent")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        datasets.load_image_folder(tmp_path / "file.png")
    with pytest.raises(
        ValueError, match=r"size must be a pair of positive ints \(height, width\); got size=64"
    ):
        datasets.load_image_folder(tmp_path, size=64)
    with pytest.raises(ValueError, match="label must be a callable"):
        datasets.load_image_folder(tmp_path, label="cat")


def test_load_image_folder_label_must_return_int(tmp_path):
    pytest.importorskip("PIL")
    shutil.copy(DATA / "catvnoncat_images" / "cat.0001.png", tmp_path)
    with pytest.raises(TypeError, match=r"label\('cat.0001.png'\) must return an int; got 'cat'"):
        datasets.load_image_folder(tmp_path, label=lambda name: name.split(".")[0])
    _, y = datasets.load_image_folder(tmp_path, label=lambda name: np.int32(7))
    assert y.tolist() == [7]


def test_load_image_folder_without_pillow(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"pip install Pillow .*dendrite\[images\]"):
        datasets.load_image_folder(tmp_path)


def test_prefix_label():
    label = datasets.prefix_label("cat")
    assert label("cat.0001.png") == 1
    assert label("noncat.0001.png") == 0
    assert label(Path("some/folder/cat.7.jpg")) == 1
    assert label("some/cat/noncat.7.jpg") == 0
    assert repr(label) == "prefix_label('cat')"
    with pytest.raises(ValueError, match="prefix must be a non-empty string; got prefix=''"):
        datasets.prefix_label("")


def test_flatten_images():
    x = np.arange(4 * 3 * 2 * 3).reshape(4, 3, 2, 3)
    flat = datasets.flatten_images(x)
    assert flat.shape == (18, 4)
    np.testing.assert_array_equal(flat, x.reshape(x.shape[0], -1).T)
    np.testing.assert_array_equal(flat[:, 2], x[2].ravel())
    assert datasets.flatten_images(np.zeros((0, 2, 2))).shape == (4, 0)
    with pytest.raises(ValueError, match=r"x must be an array of ndim >= 2.*got shape \(5,\)"):
        datasets.flatten_images(np.zeros(5))
