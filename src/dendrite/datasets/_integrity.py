"""SHA256 checks for data files, remembered per process so that a file is hashed once."""

import hashlib
import os
from pathlib import Path

_CHUNK_BYTES = 1 << 20
_verified = set()  # (resolved path, size, mtime_ns, expected hash) of files that matched


def sha256_file(path):
    """Return the hexadecimal SHA256 digest of the bytes of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_mismatch_error(path, expected, actual, hint="", origin=None):
    """A ValueError naming the file (and where it was found) and both digests."""
    where = f" (found via {origin})" if origin else ""
    return ValueError(
        f"SHA256 mismatch for {os.fspath(path)}{where}: expected {expected}, got {actual}.{hint}"
    )


def verify_sha256(path, expected, hint="", digest=sha256_file, origin=None):
    """Raise :func:`hash_mismatch_error` unless ``digest(path)`` is ``expected``.

    A file that matched once is not hashed again in this process while its size and
    modification time stay the same.

    Args:
        path: file to check.
        expected: hexadecimal SHA256 digest.
        hint: sentence appended to the error message (what to do about it).
        digest: function from a path to its hexadecimal SHA256; default: of the raw bytes.
        origin: where the file was found (``"$DENDRITE_DATA"``, ``"the cache folder"`` ...),
            named in the message.
    """
    path = Path(path).resolve()
    status = path.stat()
    key = (str(path), status.st_size, status.st_mtime_ns, expected)
    if key in _verified:
        return
    actual = digest(path)
    if actual != expected:
        raise hash_mismatch_error(path, expected, actual, hint, origin)
    _verified.add(key)
