"""Where a command writes its result, checked before the work so that a bad --out costs nothing,
and how every file is written: atomically (a temp file beside it, then os.replace).

`check_output_file` (which makes the file's folder) and `check_output_folder` (which makes
nothing) raise DataError, one line from the CLI, when a path cannot be written; `make_folder` is
mkdir -p with the same errors; `atomic_output` / `write_bytes_atomic` write a file whole or not
at all.
Must not import torch, sim or cv2.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from daml.errors import DataError


def check_output_file(path: str | Path) -> Path:
    """`path` as a Path once its folder exists (made here if need be) and a file may go there.

    DataError if `path` is a folder, or if its folder cannot be made (see check_output_folder).
    """
    try:
        is_folder = str(path).endswith(("/", os.sep)) or Path(path).is_dir()
    except OSError as error:  # e.g. a name too long for the file system
        raise DataError(f"cannot write {path}: {error.strerror or error}") from None
    if is_folder:
        raise DataError(f"{path} is a folder; give the path of the file to write")
    path = Path(path)
    make_folder(path.parent, what=f"cannot write {path}")
    return path


def check_output_folder(folder: str | Path, what: str = "") -> Path:
    """`folder` as a Path if it is, or could be made as, a writable folder; nothing is created.

    DataError if it or one of its parents exists but is not a folder, or if the nearest existing
    parent is not writable.
    """
    folder = Path(folder)
    prefix = f"{what}: " if what else ""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == folder else f" (in the way of {folder})"
        raise DataError(f"{prefix}{existing} is a file, not a folder{where}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"{prefix}folder {existing} is not writable")
    return folder


def make_folder(folder: str | Path, what: str = "") -> Path:
    """mkdir -p `folder`; DataError instead of an OSError when it cannot be made."""
    folder = check_output_folder(folder, what)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        prefix = f"{what}: " if what else ""
        raise DataError(f"{prefix}cannot make folder {folder}: {error.strerror or error}") from None
    return folder


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """Open a temp file beside `path`; on success it replaces `path`, on error it is removed.

    DataError (before anything is written) if `path` is a folder or its folder cannot be made.
    """
    path = check_output_file(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise DataError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        replace_with_temp(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_with_temp(temp: Path, path: Path) -> None:
    """Move the finished temp file `temp` onto `path` (os.replace, atomic on one filesystem).

    mkstemp creates owner-only files; `temp` first gets the mode a new file gets under the umask.
    DataError naming `path` if the move fails.
    """
    try:
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except OSError as error:  # the caller removes `temp`; name the file that was not written
        raise DataError(f"cannot write {path}: {error.strerror or error}") from None


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file in the same directory and os.replace."""
    with atomic_output(path) as handle:
        handle.write(data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
