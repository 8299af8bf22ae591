"""Swap: write a file or a folder whole (a kill leaves the old one); finish a folder swap a kill cut short."""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path

SWAP_WAIT_SECONDS = 5.0  # a reader waits this long for a live build's swap to finish


def replace_file(path: Path, write: Callable[[Path], object], *, suffix: str = ".tmp") -> None:
    """``write(tmp)`` fills a temp file beside ``path``, which then takes its name: ``path`` is
    whole or absent, never half written. ``suffix`` ends the temp file's name, for writers that
    add their own (``np.save``: ".tmp.npy")."""
    tmp = path.with_suffix(f".{os.getpid()}{suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomically(root: Path, write) -> None:
    """Fill a temp folder beside ``root`` (``write(folder)``), then swap it in; a kill leaves the
    old folder (an index, or ``qa train``'s model). The new folder has the old one's mode, or the
    mode any folder made there gets (mkdtemp's would be 0700: no other user could read it)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    _clear_dead_builds(root)
    tmp = root.parent / f".{root.name}.building-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()  # under the umask, as any folder made there
    try:
        if root.is_dir():
            tmp.chmod(root.stat().st_mode & 0o777)
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    backup = root.parent / f".{root.name}.previous"
    if root.exists():
        os.rename(root, backup)
    os.rename(tmp, root)
    shutil.rmtree(backup, ignore_errors=True)


def recover(root: Path) -> None:
    """Finish a swap that a kill interrupted between its two renames.

    While a live build is swapping, the index is missing for an instant: wait for it
    rather than move the old one back under the build's feet.
    """
    backup = root.parent / f".{root.name}.previous"
    waited = 0.0
    while backup.is_dir() and not root.exists() and _live_build(root) and waited < SWAP_WAIT_SECONDS:
        time.sleep(0.05)
        waited += 0.05
    if backup.is_dir() and not _live_build(root):
        if root.exists():
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.rename(backup, root)


def _live_build(root: Path) -> bool:
    """Whether a running process is building ``root`` (its temp folder is there)."""
    return any(pid is not None and _alive(pid) for _, pid in _builds(root))


def _clear_dead_builds(root: Path) -> None:
    for tmp, pid in _builds(root):
        if pid is not None and not _alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


def _builds(root: Path) -> list[tuple[Path, int | None]]:
    """The temp folders of builds of ``root``, each with the id of the process that made it."""
    found = []
    for tmp in root.parent.glob(f".{root.name}.building-*"):
        pid = tmp.name.rsplit(".building-", 1)[1].split("-")[0]
        found.append((tmp, int(pid) if pid.isdigit() else None))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
