"""The supervisor's runtime state, kept in a small JSON file under MSPASS_RUN_DIR.

`mspass-role health` reads it to find which services to probe; `mspass-role --batch` in an
all-in-one container reads it to run against the services already running there.
"""

from __future__ import annotations

import json
import os
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


def write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def read(path: Path) -> dict | None:
    """The state of a live supervisor, or None (missing, unreadable or stale file)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not pid_alive(int(data.get("pid", 0))):
        return None
    return data


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
