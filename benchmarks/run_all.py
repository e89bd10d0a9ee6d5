"""Runs every ``bench_*.py`` here in roadmap order; each rewrites its own section of BENCHMARKS.md.

Usage: ``.venv/bin/python benchmarks/run_all.py [NAME ...]`` (names without ``bench_``/``.py``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Roadmap order; anything new runs after these.
ORDER = [
    "demo", "foundation", "structure", "deploy", "mcu", "codegen", "distill", "calibration",
    "offload", "service", "network", "federated", "fl_selection", "security", "robust", "intent",
    "system",
]  # fmt: skip


def main(names: list[str]) -> int:
    found = {p.stem.removeprefix("bench_"): p for p in HERE.glob("bench_*.py")}
    wanted = names or sorted(found, key=lambda n: (ORDER.index(n) if n in ORDER else 99, n))
    failed = []
    for name in wanted:
        if name not in found:
            print(f"unknown benchmark {name!r}; valid: {', '.join(sorted(found))}", file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        print(f"== {name}", file=sys.stderr)
        rc = subprocess.call([sys.executable, str(found[name])])
        print(f"== {name}: rc={rc} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
