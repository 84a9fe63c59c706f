"""The supervisor's runtime state, kept in a small JSON file under MSPASS_RUN_DIR.

It is the interface between processes: `mspass-role health` reads it to find which
services to probe (and `health --json` prints it, with each service's URLs, for launchers
such as `mspass-desktop`); `mspass-role --batch` in an all-in-one container reads it to
run against the services already running there.

A state file is live while its supervisor holds the lock on `FILE.lock` (flock). The kernel
drops that lock when the process ends, however it ends (docker kill, OOM, reboot), so a file
left behind by a crash is never taken for a live one, even when the new supervisor gets the
same PID, as it often does as a container's first process. Where the file system has no
flock, the PID is the only evidence.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from .settings import Settings


def state_path(settings: Settings, role: str | None = None) -> Path:
    return settings.run_dir / f"{role or settings.role}-{settings.node_name}.json"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


#: a reader holds the lock only while it tests it: a starting supervisor waits that long
LOCK_WAIT = 5.0


def hold(path: Path) -> int | None:
    """Take the lock of state file `path` for the rest of this process's life (the fd is
    never closed; children do not inherit it); None when a live supervisor holds it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.05)
        except OSError:  # no flock on this file system: the PID stays the evidence
            return fd


def held(path: Path) -> bool | None:
    """Whether a live process holds the lock of state file `path`; None when unknown (no
    lock file: written by an older version; or no flock on this file system)."""
    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # releases the shared lock at once


def write(path: Path, data: dict) -> None:
    """Replace the file at once (readers never see half of it); private: it holds the
    Jupyter URL with its token."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def read(path: Path) -> dict | None:
    """The state of a live supervisor, or None (missing, unreadable or stale file)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    alive = held(path)
    if alive is None:
        alive = pid_alive(int(data.get("pid", 0)))
    return data if alive else None


def live_on_node(settings: Settings) -> list[dict]:
    """The states of every live supervisor of this node, whatever its role."""
    found = []
    for path in sorted(settings.run_dir.glob(f"*-{settings.node_name}.json")):
        data = read(path)
        if data is not None and data.get("node") == settings.node_name:
            found.append(data)
    return found


def remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
