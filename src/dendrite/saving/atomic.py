"""Atomic file writes: a file on disk is always either the old version or the complete new one.

:func:`atomic_write` writes into a temporary file in the target's folder (same file system, so the
final rename is atomic), flushes and fsyncs it, then ``os.replace``-s the target and fsyncs the
folder. If anything fails before the rename (an exception, a full disk, the process being killed)
the previous file is untouched; the temporary file is removed unless the process died.
"""

import contextlib
import os
import tempfile

_TMP_PREFIX = ".dendrite-tmp-"


def _target_path(path):
    path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise ValueError(f"save: the path must be a non-empty string or os.PathLike; got {path!r}")
    return os.path.abspath(os.path.expanduser(path))


@contextlib.contextmanager
def atomic_write(path):
    """Open a temporary binary file that replaces ``path`` when the block exits without error.

    Args:
        path: the file to (re)write.

    Yields:
        A binary file object open for writing (seekable).

    Raises:
        PermissionError / FileNotFoundError / OSError naming ``path`` when its folder is missing or
        not writable, or when ``path`` is a folder.

    Example:
        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "note.txt")
        >>> with atomic_write(target) as f:
        ...     _ = f.write(b"complete")
        >>> open(target, "rb").read()
        b'complete'
    """
    target = _target_path(path)
    folder = os.path.dirname(target)
    if os.path.isdir(target):
        raise IsADirectoryError(f"save: {path!r} is a folder; give a file path")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: the folder {folder!r} of {path!r} does not exist; create "
                                "it first")
    try:
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".part", dir=folder)
    except OSError as error:
        kind = PermissionError if isinstance(error, PermissionError) else OSError
        raise kind(error.errno, f"save: cannot write to {path!r}: the folder {folder!r} is not "
                   f"writable ({error.strerror})") from error
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _copy_mode(target, tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    with atomic_write(path) as handle:
        handle.write(data)


def _copy_mode(target, tmp):
    """Keep the permissions of a file being replaced; new files get the umask's default."""
    try:
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
