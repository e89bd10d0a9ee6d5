"""Runs a scenario end to end as a list of stages sharing one ``RunContext``.

Each stage reads what earlier stages left in the context and adds its metrics; later roadmap items
(quantize, profile, codegen, sign, offload, federate) are new stages appended to ``STAGES``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinylarge.data import Dataset, load_dataset
from tinylarge.scenario.patterns import deploy_patterns
from tinylarge.scenario.rundir import point_latest, run_folder, write_json_atomic
from tinylarge.scenario.schema import Scenario
from tinylarge.scenario.stages import (
    closed_loop,
    deploy_student,
    offload_cascade,
    train_models,
    write_report,
)


@dataclass
class RunContext:
    """What one run knows so far: the scenario, its data, its folder and the metrics gathered."""

    scenario: Scenario
    dataset: Dataset
    run_dir: Path
    cache_dir: Path
    progress: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)


Stage = Callable[[RunContext], None]
# (name, stage, runs only when the scenario's ``deploy`` is on)
STAGES: list[tuple[str, Stage, bool]] = [
    ("train", train_models, False),
    ("deploy", deploy_student, True),
    ("cascade", offload_cascade, True),
    ("patterns", deploy_patterns, True),  # early exit / split, only when the policy names them
    ("loop", closed_loop, True),
    ("report", write_report, False),
]


@dataclass
class RunResult:
    """The outcome of a run: where it lives and the metrics written to ``metrics.json``."""

    run_dir: Path
    metrics: dict[str, Any]


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "tinylarge"


def run_scenario(scenario: Scenario, progress: bool = True) -> RunResult:
    """Run every stage of ``scenario``; write ``metrics.json`` last and repoint ``runs/latest``
    (a failed run leaves no folder behind)."""
    started = time.perf_counter()
    dataset = load_dataset(scenario.dataset, seed=scenario.seed)
    with run_folder(Path(scenario.runs_dir), scenario.name) as run_dir:
        ctx = RunContext(
            scenario=scenario,
            dataset=dataset,
            run_dir=run_dir,
            cache_dir=Path(scenario.cache_dir) if scenario.cache_dir else default_cache_dir(),
            progress=progress,
        )
        ctx.metrics["scenario"] = scenario.model_dump(mode="json")
        timings: dict[str, float] = {}
        for name, stage, needs_deploy in STAGES:
            if needs_deploy and not scenario.deploy:
                continue
            t0 = time.perf_counter()
            stage(ctx)
            timings[name] = round(time.perf_counter() - t0, 3)
        ctx.metrics["timings_s"] = {**timings, "total": round(time.perf_counter() - started, 3)}
        ctx.metrics["run_dir"] = str(run_dir)
        write_json_atomic(run_dir / "metrics.json", ctx.metrics)
    point_latest(run_dir)
    return RunResult(run_dir=run_dir, metrics=ctx.metrics)
