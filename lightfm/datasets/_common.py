"""Where datasets live on disk, and how a missing one is fetched."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request


def get_data_home(data_home=None) -> str:
    """The dataset folder: ``data_home``, else ``$LIGHTFM_DATA_HOME``, else ``~/lightfm_data``."""
    if data_home is None:
        data_home = os.environ.get("LIGHTFM_DATA_HOME") or os.path.join(os.path.expanduser("~"), "lightfm_data")
    return os.path.abspath(os.path.expanduser(str(data_home)))


def _download(url: str, dest_path: str) -> None:
    """Download ``url`` to ``dest_path`` through a temporary file, so a failure leaves nothing behind."""
    os.makedirs(os.path.dirname(dest_path), exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=os.path.dirname(dest_path), suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out, length=2**20)
        os.replace(tmp_path, dest_path)
    except (urllib.error.URLError, OSError) as error:
        raise OSError(
            f"Could not download {url} to {dest_path}: {error}. Check your network connection, or "
            f"place the file there by hand."
        ) from error
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)


def get_data(data_home, url: str, dest_subdir: str, dest_filename: str, download_if_missing: bool):
    """Path of a dataset file, downloading it first when missing and allowed.

    Returns
    -------
    (path, downloaded) :
        Where the file is, and whether this call downloaded it.

    Raises
    ------
    OSError
        When the file is missing and ``download_if_missing`` is False, or the
        download fails.
    """
    dest_path = os.path.join(get_data_home(data_home), dest_subdir, dest_filename)
    if os.path.isfile(dest_path):
        return dest_path, False
    if not download_if_missing:
        raise OSError(
            f"Dataset missing: {dest_path} does not exist and download_if_missing is False. "
            f"Pass data_home= or set LIGHTFM_DATA_HOME to the folder holding {dest_subdir}/{dest_filename}."
        )
    _download(url, dest_path)
    return dest_path, True


def corrupt_archive(path: str, downloaded: bool, what: str, error: Exception) -> ValueError:
    """The error for an archive that cannot be read.

    One this call downloaded is removed, so that the next call downloads it
    again; one that was already there may be the user's own, and is left alone.
    """
    if downloaded:
        with contextlib.suppress(OSError):
            os.unlink(path)
        advice = "the download was removed; call again to download it anew"
    else:
        advice = "delete or replace it (a missing archive is downloaded anew)"
    return ValueError(f"Corrupted {what} archive at {path} ({error}): {advice}.")
