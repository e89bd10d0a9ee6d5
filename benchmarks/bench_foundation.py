"""Issue 2: teacher and student accuracy, size and training time with the default presets.

Trains (no cache) the preset LargeML teacher and TinyML student on mnist5k, basic-motions and
italy-power and writes the ``foundation`` section of BENCHMARKS.md. Goals on mnist5k: teacher
>= 98.0 %, student (float, <= 25 k parameters) >= 96.0 %, both together in <= ~150 s.

Usage: ``.venv/bin/python benchmarks/bench_foundation.py [--threads N] [--seed S] [--datasets ...]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# OpenMP threads that spin while waiting slow training ~5x when other processes share the two
# cores; passive waiting costs nothing when the machine is idle. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from tinylarge.data import load_dataset  # noqa: E402
from tinylarge.models import build_model, count_macs, count_params  # noqa: E402
from tinylarge.train import (  # noqa: E402
    Role,
    default_student_spec,
    default_teacher_spec,
    default_train_config,
    fit,
    seed_everything,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

DATASETS = ["mnist5k", "basic-motions", "italy-power"]


def run_one(dataset_name: str, role: Role, seed: int) -> dict:
    ds = load_dataset(dataset_name, seed=seed)
    spec = default_teacher_spec(ds.info) if role is Role.TEACHER else default_student_spec(ds.info)
    config = default_train_config(ds.info, role, seed=seed)
    seed_everything(config.seed)
    model = build_model(spec, ds.info.input_shape, ds.info.n_classes)
    result = fit(model, ds, config, progress=True, name=f"{dataset_name} {role.value}")
    return {
        "dataset": dataset_name,
        "role": role.value,
        "model": spec.name,
        "spec": spec.model_dump(),
        "params": count_params(model),
        "size_bytes_f32": 4 * count_params(model),
        "macs": count_macs(model, ds.info.input_shape),
        "test_accuracy": result.test_accuracy,
        "n_test": int(len(ds.y_test)),
        "epochs": result.n_epochs,
        "best_epoch": result.best_epoch,
        "train_time_s": result.train_time_s,
    }


def markdown(rows: list[dict], threads: int, load_1min: float) -> str:
    lines = [
        "## Foundation: teachers and students (`tinylarge.models` presets, `tinylarge.train.fit`)",
        "",
        "Default presets, float32, trained from scratch (no cache) with a validation split carved",
        "from the training data; accuracy on the held-out test split. Goals on mnist5k: teacher",
        ">= 98.0 %, student (<= 25 k params) >= 96.0 %, both trained in <= ~150 s.",
        "",
        "| dataset | role | model | params | MACs | test acc | epochs (best) | train time (s) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['role']} | {r['model']} | {r['params']:,} | {r['macs']:,} "
            f"| {100 * r['test_accuracy']:.1f} % (n={r['n_test']}) "
            f"| {r['epochs']} ({r['best_epoch']}) | {r['train_time_s']:.1f} |"
        )
    for name in sorted({r["dataset"] for r in rows}):
        pair = {r["role"]: r for r in rows if r["dataset"] == name}
        if len(pair) == 2:
            t, s = pair["teacher"], pair["student"]
            lines.append(
                f"\n{name}: student has {100 * s['params'] / t['params']:.2f} % of the teacher's "
                f"parameters and {100 * s['macs'] / t['macs']:.2f} % of its MACs; both trained "
                f"in {t['train_time_s'] + s['train_time_s']:.0f} s."
            )
    wait_policy = os.environ.get("OMP_WAIT_POLICY")
    lines.append(
        f"\nTorch threads: {threads} (OMP_WAIT_POLICY={wait_policy}); 1-minute load average when "
        f"the run started: {load_1min:.1f} (the machine is shared: times grow with load)."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_1min = os.getloadavg()[0]
    rows = [run_one(name, role, args.seed) for name in args.datasets for role in Role]
    body = markdown(rows, args.threads, load_1min)
    if not args.no_write:
        write_section("foundation", body)
    print(body, file=sys.stderr)
    print(json.dumps({"rows": rows, "threads": args.threads, "load_1min": load_1min}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
