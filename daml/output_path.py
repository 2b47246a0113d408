"""Where a command writes its result, checked before the work so that a bad --out costs nothing.

`check_output_file` (which makes the file's folder) and `check_output_folder` (which makes
nothing) raise DataError, one line from the CLI, when a path cannot be written; `make_folder` is
mkdir -p with the same errors.
Must not import torch, sim or cv2.
"""

from __future__ import annotations

import os
from pathlib import Path

from daml.errors import DataError


def check_output_file(path: str | Path) -> Path:
    """`path` as a Path once its folder exists (made here if need be) and a file may go there.

    DataError if `path` is a folder, or if its folder cannot be made (see check_output_folder).
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder; give the path of the file to write")
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
