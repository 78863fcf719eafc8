"""Publishing a folder atomically: what the Parquet marts and the scorecard pages share.

A publication is built under a temporary name, sealed read-only, renamed into
`publications/`, and then a symlink is switched to it with one `os.replace`: a reader
following the link sees the previous publication or the new one, never a half-written one.
The newest few are kept, so that a reader that resolved the link just before a switch can
finish reading.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def seal(folder: Path) -> None:
    """Makes every file under `folder` read-only (0444) and every folder 0555, whatever the
    umask: readers must never change a publication."""
    for path in sorted(folder.rglob("*"), reverse=True):  # files before their folders
        os.chmod(path, 0o555 if path.is_dir() else 0o444)
    os.chmod(folder, 0o555)


def remove_publication(folder: Path) -> None:
    """Removes a sealed publication folder (each folder must be writable for its files to go)."""
    if not folder.exists() and not folder.is_symlink():
        return
    if folder.is_symlink() or not folder.is_dir():
        folder.unlink(missing_ok=True)
        return
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, 0o755)
    shutil.rmtree(folder, ignore_errors=True)


def switch_link(link: Path, target: Path) -> None:
    """Points the symlink `link` at `target` (relative to the link's folder) atomically."""
    tmp = link.with_name(f".{link.name}.{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, link.parent), tmp)
    os.replace(tmp, link)
    fsync_dir(link.parent)


def fsync_dir(folder: Path) -> None:
    """Makes the renames in `folder` durable."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_stale(publications: Path, link: Path) -> None:
    """Removes what a crashed publish left: temporary folders and an unswitched link."""
    for stale in [*publications.glob(".*.tmp"), *link.parent.glob(f".{link.name}.*.tmp")]:
        remove_publication(stale)


def prune(publications: Path, keep: int, current: str) -> None:
    """Removes all but the `keep` newest publications (names sort by time), never `current`."""
    kept = sorted(p.name for p in publications.iterdir() if not p.name.startswith("."))
    for old in kept[: -max(keep, 1)]:
        if old != current:
            remove_publication(publications / old)
