"""Reading IDX files, the format of MNIST and Fashion-MNIST (``*-idx3-ubyte[.gz]``).

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian
uint32 sizes, then the values in C order, big-endian.
"""

import gzip
import os
import zlib

from dendrite.backend import host as np

GZIP_MAGIC = b"\x1f\x8b"
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX dtype code -> dtype of the stored values."""


def open_maybe_gzip(path):
    """Open ``path`` for binary reading, through gzip when it starts with the gzip magic bytes."""
    with open(path, "rb") as file:
        compressed = file.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


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
            message names the file and the expected and received byte counts), or a damaged
            gzip stream.
    """
    name = os.fspath(path)
    try:
        with open_maybe_gzip(path) as file:
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
            values = np.empty(shape, dtype=dtype)
            what = f"the data of shape {shape} and dtype {dtype.name}"
            _read_into(file, values.reshape(-1).view(np.uint8), name, what)
            extra = _count_rest(file, name)
            if extra:
                raise ValueError(
                    f"{name}: expected {values.nbytes} bytes for {what}; got "
                    f"{values.nbytes + extra} ({extra} bytes too many)"
                )
    except (gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{name}: damaged gzip stream ({error})") from error
    return values.astype(dtype.newbyteorder("="), copy=False)


def _read_into(file, buffer, name, what):
    """Fill the uint8 array ``buffer`` from ``file`` or raise a ValueError if the file ends first."""
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


def _count_rest(file, name):
    """Number of bytes left in ``file``; ValueError if a gzip stream lacks its end marker."""
    try:
        return len(file.read())
    except EOFError as error:
        raise ValueError(
            f"{name} is truncated: its gzip stream ends before the end-of-stream marker"
        ) from error
