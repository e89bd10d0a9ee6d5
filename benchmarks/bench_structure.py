"""Issue 9: the size of ``src/`` and how much of it repeats itself, against a base revision.

Counts the ``.py`` files under ``src/`` (lines and bytes, as ``find src -name '*.py' | xargs cat |
wc -l -c`` does) and the pairs of places sharing runs of six or more lines, as the ``duplicates``
tool reports them (``cd src && duplicates --most 60 --seconds 60``), for the working tree and for
``--base`` (default: where this branch left ``main``, so work merged into main meanwhile does not
count; extracted with ``git archive``). Goal: fewer pairs and no more lines or bytes than the base.

Usage: ``.venv/bin/python benchmarks/bench_structure.py [--base REV]``; writes ``structure``.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def size(src: Path) -> tuple[int, int, int]:
    """``(files, lines, bytes)`` of the ``.py`` files under ``src``."""
    files = sorted(src.rglob("*.py"))
    data = [f.read_bytes() for f in files]
    return len(files), sum(d.count(b"\n") for d in data), sum(len(d) for d in data)


def duplicate_pairs(src: Path) -> tuple[int | None, str]:
    """The number of pairs ``duplicates`` reports in ``src`` (None if the tool is missing)."""
    if shutil.which("duplicates") is None:
        return None, "the `duplicates` tool is not installed here"
    out = subprocess.run(
        ["duplicates", "--most", "60", "--seconds", "60"],
        cwd=src, capture_output=True, text=True, timeout=300, check=False,
    ).stdout  # fmt: skip
    if out.startswith("no duplicates"):
        return 0, out
    match = re.match(r"(\d+) pairs?", out)
    return (int(match.group(1)) if match else None), out


def base_tree(rev: str, into: Path) -> Path:
    """``src/`` of revision ``rev``, extracted under ``into`` (a plain folder, no git)."""
    blob = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=None, help="[git merge-base HEAD main]")
    args = parser.parse_args()
    if args.base is None:
        args.base = subprocess.run(
            ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True,
            check=True,
        ).stdout.strip()[:12]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        base_src = base_tree(args.base, Path(tmp))
        before = size(base_src), duplicate_pairs(base_src)
    after = size(ROOT / "src"), duplicate_pairs(ROOT / "src")
    (f0, l0, b0), (p0, _) = before
    (f1, l1, b1), (p1, listing) = after
    ok = p0 is not None and p1 is not None and p1 < p0 and l1 <= l0 and b1 <= b0
    rows = listing.strip().splitlines()
    body = f"""## Structure: size of `src/` and repeated blocks (issue 9)

`benchmarks/bench_structure.py`: `.py` files under `src/` (lines and bytes as `wc -l -c` counts
them) and the pairs of places that share runs of 6 or more identical or same-shape lines
(`cd src && duplicates --most 60 --seconds 60`), base `{args.base}` against this tree.
Goal (fewer pairs, no more lines or bytes): **{"met" if ok else "NOT met"}**.

| | {args.base} | this tree | change |
|---|---:|---:|---:|
| `.py` files | {f0} | {f1} | {f1 - f0:+d} |
| lines | {l0:,} | {l1:,} | {l1 - l0:+,} |
| bytes | {b0:,} | {b1:,} | {b1 - b0:+,} |
| repeated-block pairs | {p0} | {p1} | {"-" if None in (p0, p1) else f"{p1 - p0:+d}"} |

What still repeats in this tree (`duplicates` output):

```
{chr(10).join(rows)}
```
"""
    write_section("structure", body)
    print(body)


if __name__ == "__main__":
    main()
