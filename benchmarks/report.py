"""Writes one benchmark's section of BENCHMARKS.md between its markers, leaving the others alone."""

from __future__ import annotations

import os
import platform
import re
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


# Sections appear in roadmap order whatever order the benchmarks ran in; others go last.
SECTION_ORDER = [
    "demo", "foundation", "structure", "deploy", "mcu", "codegen", "distill", "calibration",
    "offload", "service", "network", "federated", "fl-selection", "security", "robust", "intent",
    "system",
]  # fmt: skip
_SECTION = re.compile(r"<!-- (?P<name>[\w-]+):start -->\n.*?<!-- (?P=name):end -->", re.S)


def write_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace ``<!-- name:start -->...<!-- name:end -->`` in ``path`` (add it if absent) and
    keep every section in :data:`SECTION_ORDER`."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"<!-- {name}:start -->\n{body.rstrip()}\n\n_Measured {stamp} on {machine()}._\n"
        f"<!-- {name}:end -->"
    )
    old = path.read_text() if path.exists() else HEADER
    sections = {m["name"]: m.group(0) for m in _SECTION.finditer(old)}
    match = _SECTION.search(old)
    header = old[: match.start()] if match else old
    sections[name] = block
    order = sorted(sections, key=lambda n: SECTION_ORDER.index(n) if n in SECTION_ORDER else 99)
    text = header.rstrip() + "\n\n" + "\n\n".join(sections[n] for n in order) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".BENCHMARKS.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
