"""Copies of a database that runs from node-local /tmp (MSPASS_DB_PATH=tmp) to MSPASS_DB_DIR.

A copy is made every MSPASS_DB_SYNC_INTERVAL while the server runs and once more after it
stopped, so a crash (SIGKILL at walltime, OOM, a stop grace that ran out) loses at most
what was written since the last copy, never the session. Each copy:

- is consistent while the server writes: FerretDB's SQLite files through SQLite's online
  backup (a snapshot in one read transaction; its -wal/-shm files are folded in), mongod's
  files under fsyncLock (MongoDB's documented way to copy a running server's files);
- is incremental: a file whose size and mtime did not change since the last copy is
  hard-linked from that copy instead of copied again (MANIFEST records what was seen);
- replaces the previous copy only when complete: it is built in DIR.incoming and swapped
  in with two renames; `recover()` finishes or undoes a swap a crash interrupted, so
  DIR always holds the last complete copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

MANIFEST = ".mspass-copy.json"
#: SQLite's companions of a database file; the online backup already contains their data
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
SQLITE_JOURNALS = ("-wal", "-journal")
#: file times tick coarsely (a few ms): younger files are copied again next time
RECENT_NS = 2_000_000_000


@dataclass
class Report:
    copied: int
    linked: int
    copied_bytes: int
    seconds: float

    def __str__(self) -> str:
        return (f"{self.copied} file(s) copied ({self.copied_bytes / 1e6:.1f} MB), "
                f"{self.linked} unchanged, in {self.seconds:.1f} s")


def incoming(dest: Path) -> Path:
    return dest.with_name(dest.name + ".incoming")


def previous(dest: Path) -> Path:
    return dest.with_name(dest.name + ".previous")


def recover(dest: Path) -> str | None:
    """Make `dest` the last complete copy after a crash in the middle of a copy or swap.
    Returns what was done (for the log), or None when there was nothing to do."""
    done = None
    if incoming(dest).exists():
        shutil.rmtree(incoming(dest))  # a copy that never completed
        done = f"removed the incomplete copy {incoming(dest)}"
    if previous(dest).exists():
        if dest.exists():  # the swap completed; only the clean-up did not
            shutil.rmtree(previous(dest))
        else:  # crashed between the two renames: the previous copy is the last complete one
            previous(dest).rename(dest)
            done = f"restored the last complete copy {dest} from {previous(dest)}"
    return done


def restore(dest: Path, live: Path) -> str | None:
    """Start a session: the live directory becomes a copy of the last complete copy.
    Returns what recover() did, if anything."""
    recovered = recover(dest)
    shutil.rmtree(live, ignore_errors=True)
    live.mkdir(parents=True, mode=0o700)  # the database's files are its owner's alone
    if dest.is_dir():
        # copy2 keeps mtimes, so the first copy back links every file that stays unchanged
        shutil.copytree(dest, live, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MANIFEST))
    return recovered


def _fingerprint(path: Path) -> list[int]:
    """Size and mtime of a file and of its SQLite journal (writes land in the -wal first).
    The -shm file changes on reads, and an empty -wal appears when we open a database
    read-only: neither is a change of data."""
    out = []
    for p in [path, *(path.with_name(path.name + c) for c in SQLITE_JOURNALS)]:
        with contextlib.suppress(FileNotFoundError):
            st = p.stat()
            if p == path or st.st_size:
                out += [st.st_size, st.st_mtime_ns]
    return out


def _is_sqlite(path: Path) -> bool:
    return path.suffix == ".sqlite"


def _sqlite_backup(src: Path, dst: Path) -> None:
    # read-only: this connection must never checkpoint or delete the server's WAL
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)  # one step: a consistent snapshot
        finally:
            target.close()
    finally:
        source.close()


class Copier:
    """Copies `live` to `dest`; one copy at a time (the periodic one and the final one
    may overlap when a stop arrives during a periodic copy)."""

    def __init__(self, live: Path, dest: Path, *, freeze: Callable[[], contextlib.AbstractContextManager] | None = None):
        self.live = live
        self.dest = dest
        #: holds the server's writes while files are copied (mongod: fsyncLock); None: not needed
        self.freeze = freeze
        self._lock = threading.Lock()
        self._final_done = False

    def copy(self, *, running: bool) -> Report:
        """One copy; `running=False` is the last one, after the server stopped: a periodic
        copy that waited for it does nothing (the live directory may be gone)."""
        with self._lock:
            if self._final_done and running:
                return Report(0, 0, 0, 0.0)
            if not self.live.is_dir():  # never swap an empty copy over the last good one
                raise FileNotFoundError(f"{self.live}: the running database's directory is missing")
            since = time.monotonic()
            recover(self.dest)
            new = incoming(self.dest)
            new.mkdir(parents=True, mode=0o700)
            seen = self._manifest()
            frozen = self.freeze() if running and self.freeze else contextlib.nullcontext()
            with frozen:
                report, manifest = self._fill(new, seen)
            (new / MANIFEST).write_text(json.dumps(manifest))
            _fsync_tree(new)
            old = previous(self.dest)
            if self.dest.exists():
                self.dest.rename(old)
            new.rename(self.dest)
            shutil.rmtree(old, ignore_errors=True)
            report.seconds = time.monotonic() - since
            self._final_done = self._final_done or not running
            return report

    def _manifest(self) -> dict:
        try:
            return json.loads((self.dest / MANIFEST).read_text())
        except (OSError, ValueError):
            return {}

    def _fill(self, new: Path, seen: dict) -> tuple[Report, dict]:
        report = Report(0, 0, 0, 0.0)
        manifest: dict[str, list[int] | None] = {}
        fresh = time.time_ns() - RECENT_NS
        for src in _files(self.live):
            rel = str(src.relative_to(self.live))
            if src.name.endswith(SQLITE_COMPANIONS) and src.with_name(src.name.rsplit("-", 1)[0]).exists():
                continue  # folded into its database's copy
            dst = new / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            fingerprint = _fingerprint(src)
            if not fingerprint:
                continue  # the server removed it (e.g. a dropped database) while we walked
            old = self.dest / rel
            if seen.get(rel) == fingerprint and old.is_file():
                os.link(old, dst)
                report.linked += 1
            else:
                if _is_sqlite(src):
                    _sqlite_backup(src, dst)
                else:
                    shutil.copy2(src, dst)
                report.copied += 1
                report.copied_bytes += dst.stat().st_size
            # a file changed within the clock's granularity of now may change again with the
            # same size and mtime: do not trust it as unchanged next time
            manifest[rel] = fingerprint if max(fingerprint[1::2]) < fresh else None
        return report, manifest


def _files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, names in os.walk(root):
        for name in sorted(names):
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path


def _fsync_tree(root: Path) -> None:
    """The swap must not become visible before the data it points to is on disk."""
    for path in _files(root):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
