"""Issue 2: `tinylarge demo` wall time, first run (empty cache) vs second run (cached).

Goals: first run <= 240 s, second <= 15 s on a 2-core machine. Runs the real console script in a
temporary folder with a fresh cache, so nothing a previous run left can help.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

TINYLARGE = Path(sys.executable).parent / "tinylarge"


def timed_demo(cwd: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [str(TINYLARGE), "demo", "--json", "--cache-dir", "cache", "--runs-dir", "runs"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - t0, json.loads(out.stdout)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first_s, m = timed_demo(Path(tmp))
        second_s, m2 = timed_demo(Path(tmp))
    assert m2["teacher"]["cached"] and m2["student"]["cached"]
    rows = "\n".join(
        f"| {role} | {r['arch']} | {r['params']:,} | {r['macs']:,} "
        f"| {100 * r['accuracy']:.2f}% | {goal} |"
        for role, r, goal in (
            ("teacher", m["teacher"], ">= 98.0%"),
            ("student", m["student"], ">= 96.0% (<= 25k params)"),
        )
    )
    body = f"""## Foundation: `tinylarge demo` (issue 2)

| run | wall time | goal |
|---|---:|---:|
| first (empty cache: trains teacher + student) | {first_s:.1f} s | <= 240 s |
| second (cached) | {second_s:.1f} s | <= 15 s |

| model | arch | params | MACs | mnist5k accuracy | goal |
|---|---|---:|---:|---:|---:|
{rows}
"""
    write_section("demo", body)
    print(body)


if __name__ == "__main__":
    main()
