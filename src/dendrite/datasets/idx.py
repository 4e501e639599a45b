"""Reading IDX files, the format of MNIST and Fashion-MNIST (``*-idx3-ubyte[.gz]``).

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian
uint32 sizes, then the values in C order, big-endian.
"""

import gzip
import math
import os
import zlib

from dendrite.backend import host as np

GZIP_MAGIC = b"\x1f\x8b"
MAX_DEFLATE_RATIO = 1032
"""Deflate's largest expansion (258-byte matches in 2 bits): no gzip file of n bytes holds more
than ``MAX_DEFLATE_RATIO * n`` bytes, so a header declaring more is refused before allocating."""
TRAILING_BYTES_READ = 1 << 16
"""How far past the declared data an over-long file is read before it is refused."""
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX dtype code -> dtype of the stored values."""


def is_gzip(path):
    """True when the file at ``path`` starts with the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as file:
        return file.read(2) == GZIP_MAGIC


def open_maybe_gzip(path):
    """Open ``path`` for binary reading, through gzip when it starts with the gzip magic bytes."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def read_idx(path):
    """Read an IDX file, gzip-compressed or not (told apart by its first bytes, not its name).

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns:
        ndarray of the shape declared in the header (``(60000, 28, 28)`` for MNIST training
        images, ``(60000,)`` for its labels) and the declared dtype in native byte order:
        code 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: bad magic number, unknown dtype code, truncated or over-long data (the
            message names the file and the expected and received byte counts), a header that
            declares more data than the file can hold, or a damaged gzip stream.

    Memory stays bounded by the file: the declared shape is checked against the file's size
    (exactly for a plain file; against deflate's largest expansion for gzip) before the array is
    allocated, and at most :data:`TRAILING_BYTES_READ` bytes past the declared data are read.
    """
    name = os.fspath(path)
    compressed = is_gzip(path)
    file_size = os.path.getsize(path)
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as file:
            header = _read_exactly(file, 4, name, "the magic number")
            if header[:2] != b"\x00\x00" or header[2] not in IDX_DTYPES or header[3] == 0:
                codes = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
                raise ValueError(
                    f"{name}: bad IDX magic number 0x{header.hex().upper()}; expected "
                    f"0x0000 followed by a dtype code ({codes}) and ndim >= 1"
                )
            dtype, ndim = IDX_DTYPES[header[2]], header[3]
            sizes = _read_exactly(file, 4 * ndim, name, f"the {ndim} dimension sizes")
            shape = tuple(int(size) for size in np.frombuffer(sizes, dtype=">u4"))
            _check_declared_size(name, shape, dtype, 4 + 4 * ndim, file_size, compressed)
            values = np.empty(shape, dtype=dtype)
            what = f"the data of shape {shape} and dtype {dtype.name}"
            _read_into(file, values.reshape(-1).view(np.uint8), name, what)
            extra = _count_rest(file, name)
            if extra:
                more = "more than " if extra > TRAILING_BYTES_READ else ""
                raise ValueError(
                    f"{name}: expected {values.nbytes} bytes for {what}; got {more}"
                    f"{values.nbytes + min(extra, TRAILING_BYTES_READ)} "
                    f"({more}{min(extra, TRAILING_BYTES_READ)} bytes too many)"
                )
    except (gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{name}: damaged gzip stream ({error})") from error
    return values.astype(dtype.newbyteorder("="), copy=False)


def _read_into(file, buffer, name, what):
    """Fill the uint8 array ``buffer`` from ``file`` or raise a ValueError if the file ends
    first."""
    view = memoryview(buffer)
    received = 0
    try:
        while received < len(view):
            count = file.readinto1(view[received:])
            if not count:
                break
            received += count
    except EOFError:  # a gzip stream cut short
        pass
    if received != len(view):
        raise ValueError(
            f"{name} is truncated: expected {len(view)} bytes for {what}, got {received}"
        )


def _read_exactly(file, count, name, what):
    buffer = np.empty(count, dtype=np.uint8)
    _read_into(file, buffer, name, what)
    return buffer.tobytes()


def _check_declared_size(name, shape, dtype, header_bytes, file_size, compressed):
    """Refuse a header whose shape the file cannot hold, before allocating that shape."""
    declared = math.prod(shape) * dtype.itemsize
    what = f"the data of shape {shape} and dtype {dtype.name}"
    received = file_size - header_bytes
    if not compressed and received < declared:
        raise ValueError(f"{name} is truncated: expected {declared} bytes for {what}, got "
                         f"{received} (file size {file_size} bytes)")
    if not compressed and received > declared:
        raise ValueError(f"{name}: expected {declared} bytes for {what}; got {received} "
                         f"({received - declared} bytes too many)")
    if compressed and header_bytes + declared > MAX_DEFLATE_RATIO * file_size:
        raise ValueError(f"{name}: its header declares {declared} bytes for {what}, more than a "
                         f"gzip file of {file_size} bytes can hold (at most "
                         f"{MAX_DEFLATE_RATIO * file_size}); the file is damaged or not IDX data")


def _count_rest(file, name):
    """Bytes left in ``file``, reading at most :data:`TRAILING_BYTES_READ` of them (a larger
    count is reported as that bound plus one); ValueError if a gzip stream lacks its end."""
    try:
        rest = file.read(TRAILING_BYTES_READ + 1)
    except EOFError as error:
        raise ValueError(
            f"{name} is truncated: its gzip stream ends before the end-of-stream marker"
        ) from error
    return len(rest)
