"""Train a student and report it as deployed int8: the step distill, transfer and label share.

A :class:`StudentRun` says what a student learns from; :func:`train_student` trains it through
``tinylarge.train.fit`` (or loads it from the cache, keyed by everything the run says), writes it
and finishes it as int8 in TFLM; :func:`compare` pairs two methods seed by seed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from tinylarge.integrate.deployed import (
    Int8Recipe,
    ModelReport,
    describe,
    finish_int8,
    model_digest,
    model_meta,
)
from tinylarge.models import ModelSpec, save_checkpoint
from tinylarge.train import ArtifactCache, DistillObjective, TrainConfig, TrainResult, fit
from tinylarge.train.cache import dataset_fingerprint
from tinylarge.train.stats import mean_ci, paired

FIT_VERSION = 2  # in student cache keys: 2 = the one train.fit loop and its best-epoch rule


@dataclass(frozen=True, eq=False)
class StudentRun:
    """One student to train: ``data``'s training part, by ``config``, with ``objective``.

    ``teacher`` is the module an objective that distils reads; ``backbone``'s blocks are copied
    in before training (transfer), and frozen with ``freeze_backbone`` (a linear probe).
    ``tag`` tells apart files of runs with the same role and seed.
    """

    role: str
    data: Any
    config: TrainConfig
    objective: DistillObjective = DistillObjective()
    teacher: nn.Module | None = None
    backbone: nn.Module | None = None
    freeze_backbone: bool = False
    tag: str = ""

    @property
    def name(self) -> str:
        return f"{self.role}{self.tag}_seed{self.config.seed}"

    def key_parts(self) -> dict[str, Any]:
        """Everything the trained weights depend on (the spec and init seed are added later)."""
        return {
            "fit": FIT_VERSION,
            "dataset": dataset_fingerprint(self.data),
            "config": self.config.model_dump(mode="json"),
            "objective": asdict(self.objective),
            "teacher": model_digest(self.teacher) if self.objective.needs_teacher else None,
            "backbone": None if self.backbone is None else model_digest(self.backbone),
            "freeze_backbone": self.freeze_backbone,
        }

    def train(self, model: nn.Module, progress: bool = False) -> TrainResult:
        frozen = None
        if self.backbone is not None:
            model.blocks.load_state_dict(self.backbone.blocks.state_dict())
            frozen = model.blocks if self.freeze_backbone else None
        return fit(
            model, self.data, self.config, objective=self.objective, teacher=self.teacher,
            frozen=frozen, progress=progress, name=self.name,
        )  # fmt: skip


def train_student(
    run: StudentRun,
    spec: ModelSpec,
    cache: ArtifactCache,
    *,
    int8: Int8Recipe | None = Int8Recipe(),
    out_dir: Path | None = None,
    progress: bool = False,
) -> tuple[nn.Module, ModelReport]:
    """Train (or load) ``spec`` as ``run`` says; report it, int8 in TFLM unless ``int8`` is None.

    With ``out_dir``: ``<name>.pt`` (checkpoint) and ``<name>_int8.tflite`` are written there.
    """
    seed = run.config.seed
    model, result = cache.get_or_train(
        run.key_parts(), spec, model_meta(run.data), lambda m: run.train(m, progress), seed=seed
    )
    report = describe(run.role, model, spec, run.data, result, run.config.val_fraction > 0)
    if out_dir is not None:
        save_checkpoint(out_dir / f"{run.name}.pt", model, spec, model_meta(run.data))
    if int8 is not None:
        out_path = out_dir / f"{run.name}_int8.tflite" if out_dir is not None else None
        report = finish_int8(report, model, run.data, cache, out_path, int8, seed)
    return model, report


def train_per_seed(
    seeds: Iterable[int],
    make_runs: Callable[[int], list[StudentRun]],
    spec: ModelSpec,
    cache: ArtifactCache,
    *,
    int8: Int8Recipe | None = Int8Recipe(),
    out_dir: Path | None = None,
    progress: bool = False,
) -> dict[str, list[ModelReport]]:
    """:func:`train_student` for every run ``make_runs(seed)`` gives; reports grouped by role,
    in seed order (so two roles pair up seed by seed)."""
    reports: dict[str, list[ModelReport]] = defaultdict(list)
    for seed in seeds:
        for run in make_runs(seed):
            _, report = train_student(
                run, spec, cache, int8=int8, out_dir=out_dir, progress=progress
            )
            reports[run.role].append(report)
    return reports


def accuracy_ci(reports: list[ModelReport]) -> dict[str, Any]:
    """Mean deployed accuracy over seeds with its 95 % t-interval."""
    return mean_ci([r.accuracy for r in reports]).to_dict()


def compare(a: list[ModelReport], b: list[ModelReport]) -> dict[str, Any]:
    """``a`` minus ``b`` in deployed accuracy, paired by seed: mean, 95 % interval, p-value."""
    return paired([r.accuracy for r in a], [r.accuracy for r in b]).to_dict()
