"""Copies of a database that runs from node-local /tmp (MSPASS_DB_PATH=tmp) to MSPASS_DB_DIR.

A copy is made every MSPASS_DB_SYNC_INTERVAL while the server runs and once more after it
stopped, so a crash (SIGKILL at walltime, OOM, a stop grace that ran out) loses at most
what was written since the last complete copy, never the session. Each copy:

- is consistent while the server writes: FerretDB's SQLite files through SQLite's online
  backup (a snapshot in one read transaction; its -wal/-shm files are folded in), mongod's
  files under fsyncLock (MongoDB's documented way to copy a running server's files);
- is incremental: a file whose size and mtime did not change since the last copy is not
  copied again (the manifest, DIR/.mspass-copy.json, records what was seen);
- never renames or replaces DIR itself, which may be a mount point (a named volume, a bind
  mount, a tmpfs): the changed files are staged inside it, in DIR/.mspass-incoming, and
  the staged manifest, written last, commits them; then each one is renamed over its old
  version. `recover()` finishes a commit a crash interrupted, or drops a copy that never
  completed, so DIR always holds the last complete copy. A copy that fails (a full disk)
  leaves that copy as it was and raises.

Sessions: the live directory's mark (LIVE.session) says which copy of DIR it started from
and which session it belongs to. A live directory left behind by a server that was killed
(docker kill, OOM: a container's /tmp survives until `docker rm`) is newer than DIR's copy
when it descends from it: `Copier.restore()` keeps it and copies it first, instead of
overwriting it with the older copy. One that does not descend (DIR moved on in a session
elsewhere) is set aside, not deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

MANIFEST = ".mspass-copy.json"
STAGE = ".mspass-incoming"
#: SQLite's companions of a database file; the online backup already contains their data
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
SQLITE_JOURNALS = ("-wal", "-journal")
#: file times tick coarsely (a few ms): younger files are copied again next time
RECENT_NS = 2_000_000_000


@dataclass
class Report:
    copied: int
    unchanged: int
    copied_bytes: int
    seconds: float

    def __str__(self) -> str:
        return (f"{self.copied} file(s) copied ({self.copied_bytes / 1e6:.1f} MB), "
                f"{self.unchanged} unchanged, in {self.seconds:.1f} s")


def stage(dest: Path) -> Path:
    return dest / STAGE


def mark(live: Path) -> Path:
    """The live directory's session mark, beside it (the server owns what is inside)."""
    return live.with_name(live.name + ".session")


def read_manifest(directory: Path) -> dict:
    """A copy's manifest: {"files": {path: fingerprint}, "copy": id, "session": id, "at": time};
    {} when there is none."""
    try:
        data = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recover(dest: Path) -> str | None:
    """Finish a commit a crash interrupted (the staged manifest exists: every staged file is
    complete), or drop a copy that never completed. Returns what was done, for the log."""
    staged = stage(dest)
    if not staged.is_dir():
        return None
    if (staged / MANIFEST).is_file():
        _commit(dest)
        return f"finished the copy to {dest} that an interrupted stop left staged"
    shutil.rmtree(staged)
    return f"removed the incomplete copy {staged}"


def _commit(dest: Path) -> None:
    """Move the staged files over their old versions, drop the files the new copy has not,
    then the manifest: each step is a rename or unlink inside DIR, and repeating the whole is
    harmless (recover() does after a crash)."""
    staged = stage(dest)
    new = read_manifest(staged)
    for src in list(_files(staged)):
        rel = src.relative_to(staged)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest / rel)
    keep = set(new.get("files", {}))
    for path in list(_files(dest)):
        if str(path.relative_to(dest)) not in keep:
            path.unlink()  # the server removed it (a dropped database): DIR mirrors the live directory
    os.replace(staged / MANIFEST, dest / MANIFEST)
    _fsync_dir(dest)
    shutil.rmtree(staged)


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

    def __init__(self, live: Path, dest: Path, *, freeze: Callable[[], contextlib.AbstractContextManager] | None = None,
                 node: str = ""):
        self.live = live
        self.dest = dest
        #: holds the server's writes while files are copied (mongod: fsyncLock); None: not needed
        self.freeze = freeze
        self.node = node
        self.session = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._final_done = False
        #: when the last complete copy was made (time.time()), for messages
        self.last_copy: float | None = None

    def restore(self) -> str | None:
        """Start a session: the live directory becomes a copy of DIR's last complete copy,
        unless it holds a newer database (a killed server's), which is kept and copied to
        DIR first. Returns what was done beyond the ordinary, for the log."""
        said = [recover(self.dest)]
        copy = read_manifest(self.dest)
        self.last_copy = copy.get("at")
        if _has_files(self.live):
            if self._descends(copy):
                _write_mark(self.live, self.session, copy.get("copy"), self.dest)
                report = self.copy(running=False, final=False)
                said.append(f"kept the database a stopped session left in {self.live} (newer than the copy in "
                            f"{self.dest}) and copied it there: {report}")
                return "; ".join(filter(None, said))
            aside = self.live.with_name(self.live.name + ".stale")
            _remove_mark(self.live)
            shutil.rmtree(aside, ignore_errors=True)
            self.live.rename(aside)
            said.append(f"WARNING: {self.live} held a database that {self.dest} has moved on from (a later session "
                        f"copied there); set it aside as {aside} and started from {self.dest}")
        _remove_mark(self.live)  # until the copy below is complete, the live directory is nobody's
        shutil.rmtree(self.live, ignore_errors=True)
        self.live.mkdir(parents=True, mode=0o700)  # the database's files are its owner's alone
        if self.dest.is_dir():
            try:
                # copy2 keeps mtimes, so the first copy back finds every unchanged file unchanged
                shutil.copytree(self.dest, self.live, dirs_exist_ok=True,
                                ignore=lambda d, names: [n for n in names if n in (MANIFEST, STAGE)]
                                if d == str(self.dest) else [])
            except shutil.Error as err:  # one entry per file that failed: the first says why
                raise OSError(f"cannot copy the database from {self.dest} to {self.live}: {err.args[0][0][2]}; "
                              f"{self.dest} is unchanged") from None
        _write_mark(self.live, self.session, copy.get("copy"), self.dest)
        return "; ".join(filter(None, said)) or None

    def _descends(self, copy: dict) -> bool:
        """Whether the live directory holds DIR's copy or a later state of it: it was started
        from that copy, or DIR's copy was made from it (its session)."""
        try:
            found = json.loads(mark(self.live).read_text())
        except (OSError, ValueError):
            return False  # no mark: whose it is cannot be told
        return isinstance(found, dict) and found.get("dest") == str(self.dest) and (
            found.get("from") == copy.get("copy") or (bool(copy.get("session"))
                                                      and found.get("session") == copy.get("session")))

    def copy(self, *, running: bool, final: bool | None = None) -> Report:
        """One copy; `running=False` after the server stopped. The final one (by default,
        the one after the server stopped) ends the session: a periodic copy that waited for
        it does nothing (the live directory may be gone)."""
        final = not running if final is None else final
        with self._lock:
            if self._final_done:
                return Report(0, 0, 0, 0.0)
            if not self.live.is_dir():  # never commit an empty copy over the last good one
                raise FileNotFoundError(f"{self.live}: the running database's directory is missing")
            since = time.monotonic()
            recover(self.dest)
            self.dest.mkdir(parents=True, exist_ok=True, mode=0o700)
            staged = stage(self.dest)
            staged.mkdir(mode=0o700)
            try:
                frozen = self.freeze() if running and self.freeze else contextlib.nullcontext()
                with frozen:
                    report, files = self._fill(staged, read_manifest(self.dest).get("files", {}))
                _fsync_tree(staged)
                now = time.time()
                # written last: the commit point (recover() finishes a copy once it exists)
                _write_durably(staged / MANIFEST, json.dumps(
                    {"files": files, "copy": uuid.uuid4().hex, "session": self.session, "at": now,
                     "node": self.node}))
            except BaseException:
                shutil.rmtree(staged, ignore_errors=True)  # the room it took, for the next try
                raise
            _commit(self.dest)
            self.last_copy = now
            report.seconds = time.monotonic() - since
            self._final_done = final
            return report

    def _fill(self, staged: Path, seen: dict) -> tuple[Report, dict]:
        report = Report(0, 0, 0, 0.0)
        files: dict[str, list[int] | None] = {}
        fresh = time.time_ns() - RECENT_NS
        for src in _files(self.live):
            rel = str(src.relative_to(self.live))
            if src.name.endswith(SQLITE_COMPANIONS) and src.with_name(src.name.rsplit("-", 1)[0]).exists():
                continue  # folded into its database's copy
            fingerprint = _fingerprint(src)
            if not fingerprint:
                continue  # the server removed it (e.g. a dropped database) while we walked
            if seen.get(rel) == fingerprint and (self.dest / rel).is_file():
                report.unchanged += 1
            else:
                dst = staged / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                if _is_sqlite(src):
                    _sqlite_backup(src, dst)
                else:
                    shutil.copy2(src, dst)
                report.copied += 1
                report.copied_bytes += dst.stat().st_size
            # a file changed within the clock's granularity of now may change again with the
            # same size and mtime: do not trust it as unchanged next time
            files[rel] = fingerprint if max(fingerprint[1::2]) < fresh else None
        return report, files

    def finish(self) -> Report:
        """The last copy, after the server stopped; then the live directory goes (only once
        the copy is complete: when it fails, the next start on this node finds it)."""
        report = self.copy(running=False)
        _remove_mark(self.live)  # first: a half-removed live directory must never count as a database
        shutil.rmtree(self.live, ignore_errors=True)
        return report


def _write_mark(live: Path, session: str, copy: str | None, dest: Path) -> None:
    _write_durably(mark(live), json.dumps({"session": session, "from": copy, "dest": str(dest)}))


def _remove_mark(live: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        mark(live).unlink()
    _fsync_dir(live.parent)


def _has_files(directory: Path) -> bool:
    try:
        return any(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return False


def _files(root: Path) -> Iterator[Path]:
    for dirpath, dirs, names in os.walk(root):
        if Path(dirpath) == root:
            dirs[:] = [d for d in dirs if d != STAGE]
        for name in sorted(names):
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink() and not (name == MANIFEST and Path(dirpath) == root):
                yield path


def _write_durably(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """The commit must not become visible before the data it points to is on disk."""
    for path in _files(root):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for dirpath, _dirs, _names in os.walk(root):
        _fsync_dir(Path(dirpath))
