"""Shared CLI output rules: one JSON object on stdout with ``--json``; humans read stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

# Everything for humans (tables, progress bars, logs) goes to stderr: stdout stays machine-readable.
# Wide enough for the tables when stderr is a file or a pipe (rich would assume 80 columns).
console = Console(stderr=True, width=None if sys.stderr.isatty() else 132)

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON object on stdout (humans: stderr)")


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


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's user-facing errors into a one-line message and exit status 2."""
    from tinylarge.errors import TinylargeError

    try:
        yield
    except TinylargeError as exc:
        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(code=2) from None
