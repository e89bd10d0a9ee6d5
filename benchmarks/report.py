"""Writes one benchmark's section of BENCHMARKS.md between its markers, leaving the others alone."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\n"
    "Measured by `benchmarks/` on the machine named in each section; regenerate everything with\n"
    "`.venv/bin/python benchmarks/run_all.py` or one section with `benchmarks/bench_<name>.py`.\n"
    "Ratios are measured side by side in one run; times are medians.\n"
)


def machine() -> str:
    """A one-line description of where a number was measured."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def write_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace ``<!-- name:start -->...<!-- name:end -->`` in ``path`` (append it if absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = f"{start}\n{body.rstrip()}\n\n_Measured {stamp} on {machine()}._\n{end}"
    text = path.read_text() if path.exists() else HEADER
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".BENCHMARKS.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
