"""Atomic, durable files in the outbox: write a temporary file, fsync, rename, fsync the folder.

Names are ours (claims/spec.py FILE_NAME_FORMAT, the day folder), never taken from data.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lienthong.durable import fsync_dir, sync_filesystem

TMP_PREFIX = ".tmp-"


def day_folder(outbox: Path, day_text: str) -> Path:
    if not (len(day_text) == 8 and day_text.isdigit()):
        raise ValueError(f"bad day folder name {day_text!r}")
    folder = outbox / day_text
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sweep_temporary(folder: Path) -> int:
    """Remove temporary files left by an interrupted run; returns how many."""
    count = 0
    for path in folder.glob(TMP_PREFIX + "*"):
        path.unlink(missing_ok=True)
        count += 1
    return count


def sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def write_atomic(folder: Path, name: str, data: bytes, *, sync_folder: bool = True) -> None:
    """Replace ``folder/name`` with ``data`` so that a crash leaves the old or the new file.

    With ``sync_folder=False`` the caller must ``fsync_dir(folder)`` before relying on the
    rename being durable (the export does it once per batch).
    """
    _check_name(name)
    tmp = folder / f"{TMP_PREFIX}{name}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, folder / name)
    if sync_folder:
        fsync_dir(folder)


def _check_name(name: str) -> None:
    if "/" in name or name.startswith("."):
        raise ValueError(f"bad file name {name!r}")


def stage(folder: Path, name: str, data: bytes) -> None:
    """Write ``data`` as the temporary file of ``name`` (not yet durable, not yet visible).

    Export workers stage their own files; :func:`publish` then makes a batch durable and
    visible. An interrupted run leaves only temporary files, which sweep_temporary removes.
    """
    _check_name(name)
    (folder / f"{TMP_PREFIX}{name}").write_bytes(data)


def publish(folder: Path, names: list[str]) -> None:
    """Make staged files durable and rename them into place with one flush for the batch.

    One flush of the folder's file system (syncfs; os.sync where there is none) instead of
    one fsync per file: thousands of files a day. Then each file is renamed and the folder is
    fsynced. A crash leaves each file old or new, never partial.
    """
    for name in names:
        _check_name(name)
    if not names:
        return
    sync_filesystem(folder)
    for name in names:
        os.replace(folder / f"{TMP_PREFIX}{name}", folder / name)
    fsync_dir(folder)


def write_batch(folder: Path, files: list[tuple[str, bytes]]) -> None:
    """Write several files atomically and durably with one flush for the whole batch."""
    for name, _ in files:
        _check_name(name)
    for name, data in files:
        stage(folder, name, data)
    publish(folder, [name for name, _ in files])
