"""Downloading a file with urllib, checking its hash, and moving it into place atomically."""

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from dendrite.datasets._integrity import hash_mismatch_error

TIMEOUT_SECONDS = 60


def download_verified(url, destination, expected_sha256, digest):
    """Download ``url`` to ``destination`` if ``digest(file) == expected_sha256``.

    The bytes go to a temporary file in the destination's folder, which is renamed to
    ``destination`` (``os.replace``, atomic) only after the check, so ``destination`` either
    does not exist or holds a verified file, also when several processes download at once.

    Args:
        url: address to fetch.
        destination: final path; its folder is created if missing.
        expected_sha256: hexadecimal digest the file must have.
        digest: function from a file path to its hexadecimal SHA256 (of the raw or of the
            decompressed bytes: the caller's choice).

    Raises:
        OSError: the download failed (the message names the URL).
        ValueError: the digest does not match; the message names the URL and both hashes,
            and no file is left behind.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            try:
                with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
                    shutil.copyfileobj(response, file)
            except (urllib.error.URLError, TimeoutError) as error:
                raise OSError(f"Could not download {url}: {error}") from error
        actual = digest(temporary)
        if actual != expected_sha256:
            raise hash_mismatch_error(url, expected_sha256, actual, " The file was deleted.")
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
