"""Shared CLI output rules: one JSON object on stdout with ``--json``; humans read stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

# Everything for humans (tables, progress bars, logs) goes to stderr: stdout stays machine-readable.
# Wide enough for the tables when stderr is a file or a pipe (rich would assume 80 columns).
console = Console(stderr=True, width=None if sys.stderr.isatty() else 132)

JSON_OPTION = typer.Option(
    False, "--json", help="Print one JSON object on stdout (humans: stderr)."
)


def emit_json(payload: dict[str, Any]) -> None:
    """Write ``payload`` as exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(payload, default=_jsonable) + "\n")
    sys.stdout.flush()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """A rich table with right-aligned numeric-looking columns."""
    t = Table(title=title)
    for col in columns:
        t.add_column(
            col,
            justify="left" if col in ("name", "device", "model", "op", "link", "arch") else "right",
        )
    for row in rows:
        t.add_row(*[_cell(v) for v in row])
    return t


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def finish_run(run_dir: Path, payload: dict[str, Any], json_out: bool) -> None:
    """Write ``metrics.json`` (which marks the run complete), then repoint ``runs/latest`` at the
    run, then print the payload (``--json``) or where it went."""
    from tinylarge.scenario.rundir import point_latest, write_json_atomic

    payload = {**payload, "run_dir": str(run_dir)}
    write_json_atomic(run_dir / "metrics.json", payload)
    point_latest(run_dir)
    if json_out:
        emit_json(payload)
    else:
        console.print(f"metrics: {run_dir / 'metrics.json'}")
