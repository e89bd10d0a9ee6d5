"""Run folders: ``runs/<name>-<timestamp>/`` with ``runs/latest`` pointing at the newest one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def new_run_dir(runs_dir: Path, name: str, now: datetime | None = None) -> Path:
    """Create a fresh ``<runs_dir>/<name>-<YYYYmmdd-HHMMSS>`` (suffixed ``-2``... if taken)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    runs_dir.mkdir(parents=True, exist_ok=True)
    for k in range(1, 1000):
        path = runs_dir / (f"{name}-{stamp}" if k == 1 else f"{name}-{stamp}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free run folder for {name}-{stamp} in {runs_dir}")


@contextmanager
def run_folder(runs_dir: Path, name: str) -> Iterator[Path]:
    """A fresh run folder (:func:`new_run_dir`) for the block, removed again if the block fails:
    nothing half-written stays. Repointing ``latest`` is the caller's, once the run is done."""
    created = not runs_dir.exists()
    run_dir = new_run_dir(runs_dir, name)
    try:
        yield run_dir
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        if created and not any(runs_dir.iterdir()):
            runs_dir.rmdir()
        raise


def point_latest(run_dir: Path) -> Path:
    """Atomically repoint ``<runs_dir>/latest`` (a relative symlink) at ``run_dir``."""
    latest = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, latest)
    return latest


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temporary file in the same folder, then rename: readers never see half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
