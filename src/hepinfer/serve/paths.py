"""Containment: model names and every file the server opens stay inside their model folder.

A model name comes from a client (RepositoryModelLoad) and becomes a folder name; a config
(``config.pbtxt`` or a client's JSON override) names files (``label_filename``,
``default_model_filename``). None of these may reach outside the model's folder: names are
checked against Triton's folder-name rules, and file paths are resolved (symlinks followed)
and must stay inside the resolved model folder.

The server's temporary folders (models loaded from client files) are named with the owning
process id, so a server that starts can remove those that a crashed server left behind.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from hepinfer.errors import ProtocolError, UnsafePathError

MAX_NAME_LENGTH = 255
TEMP_PREFIX = "hepinfer-load-"
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")


def check_model_name(name: str) -> str:
    """`name` if it can be a model folder's name; ProtocolError (INVALID_ARGUMENT) otherwise.

    Triton's rule: a model name is the name of its folder in the repository, so it cannot
    hold a path separator, cannot be ``.`` or ``..`` (nor start with ``.``: hidden folders are
    not models), and is at most 255 characters long.
    """
    if not name:
        msg = "model name is empty; give the name of a model folder in the repository"
        raise ProtocolError(msg)
    if len(name) > MAX_NAME_LENGTH:
        msg = (
            f"model name {name[:40]!r}... is {len(name)} characters long; "
            f"a model name is a folder name of at most {MAX_NAME_LENGTH} characters"
        )
        raise ProtocolError(msg)
    if name.startswith(".") or _BAD_NAME.search(name):
        msg = (
            f"model name {name!r} is not a valid folder name: it must not start with '.' or "
            "hold '/', '\\' or control characters (model names are folder names in the "
            "repository, e.g. 'particlenet')"
        )
        raise ProtocolError(msg)
    return name


def relative_file(folder: Path, name: str, what: str) -> Path:
    """``folder / name`` for a file named by a config, checked to stay inside `folder`.

    `name` must be a relative path without ``..``; the result, with symlinks resolved, must
    lie inside the resolved `folder`. Raises UnsafePathError naming `what` (e.g. "label_filename
    of output 'OUT'") otherwise.
    """
    pure = PurePosixPath(name.replace("\\", "/"))
    if not name or pure.is_absolute() or ".." in pure.parts or "\x00" in name:
        msg = (
            f"{what} {name!r} must be a file name relative to the model folder {folder.name!r} "
            "(no absolute path, no '..'); files outside the model folder are never opened"
        )
        raise UnsafePathError(msg)
    return inside(folder / pure, folder, what)


def inside(path: Path, folder: Path, what: str) -> Path:
    """`path` resolved (symlinks followed), if it stays inside the resolved `folder`."""
    resolved = path.resolve()
    if not resolved.is_relative_to(folder.resolve()):
        msg = (
            f"{what} {str(path)!r} resolves to a path outside its model folder "
            f"{folder.name!r} (through a symlink or '..'); files outside the model folder are "
            "never opened"
        )
        raise UnsafePathError(msg)
    return resolved


def make_temp_folder() -> Path:
    """A fresh private folder for one client-loaded model, named after this process."""
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_folders(root: Path | None = None) -> list[Path]:
    """Remove temporary model folders whose server process is gone; return them."""
    base = Path(root or tempfile.gettempdir())
    removed: list[Path] = []
    for child in base.glob(f"{TEMP_PREFIX}*"):
        pid_text = child.name.removeprefix(TEMP_PREFIX).split("-", 1)[0]
        if not pid_text.isdigit() or child.is_symlink() or not child.is_dir():
            continue
        if int(pid_text) != os.getpid() and not _alive(int(pid_text)):
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    return removed
