"""Students per device type: a scenario's ``students:`` gives a device type of its fleet its own
student, stated (``spec``/``train``) or found by the device-aware search under a budget
(:mod:`tinylarge.integrate.search`); device types without an entry run the scenario's ``student``.

:func:`plan_students` resolves the entries into the distinct students a run trains: entries that
resolve to the same architecture and recipe become one student that every such device type runs
(the artifact cache would train it once anyway; deploying it once also saves its quantization,
profile, C code and cascade calibration).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tinylarge.errors import TinylargeError
from tinylarge.integrate.search import Budget, SearchSpace
from tinylarge.models import ModelSpec, default_student_spec
from tinylarge.train import ArtifactCache, Role, TrainConfig, default_train_config

PRIMARY = "student"  # the student of the scenario's ``device``: metrics "student", "cascade"...


class StudentSearch(BaseModel):
    """Search the smallest grid that makes sense for this device type: every candidate of
    ``space`` is proxy-trained (``proxy_epochs``), quantized and measured (TFLM arena, flash,
    latency and energy on the device); the most accurate one within ``budget`` (flash and RAM
    default to the device's own memory) becomes the device type's student."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    budget: Budget = Budget()
    space: SearchSpace = SearchSpace()
    proxy_epochs: int | None = Field(None, ge=1, description="default: 3 images, 30 series")
    n_val_int8: int = Field(500, ge=10, description="validation samples run in TFLM to rank")


class DeviceStudent(BaseModel):
    """One device type's student: a ``spec`` (``None``: the dataset's preset) or a ``search``,
    trained with ``train`` (``None``: the student preset's recipe)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: ModelSpec | None = None
    train: TrainConfig | None = None
    search: StudentSearch | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DeviceStudent:
        if self.spec is not None and self.search is not None:
            raise ValueError("give a student spec or a search, not both")
        return self


@dataclass
class StudentPlan:
    """A distinct student of a run: what it is, which fleet device types run it, where its
    cascade is costed, and the search that chose it (if one did)."""

    name: str
    spec: ModelSpec
    train: TrainConfig
    devices: list[str]
    cascade_device: str
    search: dict[str, Any] | None = None
    sources: list[str] = field(default_factory=list)


def device_types(scenario: Any) -> list[str]:
    """The fleet's device types, in fleet order."""
    return list(dict.fromkeys(g.device for g in scenario.fleet))


def searched_spec(
    device: str, search: StudentSearch, scenario: Any, dataset: Any, cache: ArtifactCache,
    progress: bool,
) -> tuple[ModelSpec, dict[str, Any]]:  # fmt: skip
    """The winner of ``search`` on ``device`` (candidates cached by content), or a one-line
    error saying which budgets no candidate meets."""
    from tinylarge.integrate.search import SearchConfig, run_search

    config = SearchConfig(
        dataset=scenario.dataset, split_seed=scenario.seed, devices=[device],
        budget=search.budget, space=search.space, proxy_epochs=search.proxy_epochs,
        n_val_int8=search.n_val_int8, seed=scenario.seed, distill_winner=False,
    )  # fmt: skip
    result = run_search(config, dataset=dataset, cache=cache, out_dir=None, progress=progress)
    found = result.devices[0]
    if found.winner is None:
        raise TinylargeError(f"students.{device}.search: {found.reason}")
    winner = next(c for c in result.candidates if c.label == found.winner)
    row = next(r for r in found.rows if r["candidate"] == found.winner)
    summary = {
        "winner": found.winner,
        "n_candidates": len(found.rows),
        "n_fitting": sum(r["fits"] for r in found.rows),
        "budget": found.budget,
        "val_int8_accuracy": row["val_int8_accuracy"],
        "latency_s": row["latency_s"],
        "ram_bytes": row["ram_bytes"],
        "flash_bytes": row["flash_bytes"],
    }
    return ModelSpec(**winner.spec), summary


def plan_students(
    scenario: Any, dataset: Any, cache: ArtifactCache, progress: bool = False
) -> list[StudentPlan]:
    """The distinct students of ``scenario``, the one its ``device`` runs first (named
    ``student``; the others ``student-<first device type>``). Searches run here, before any
    training, so an impossible budget fails the run early."""
    info = dataset.info
    default_spec = scenario.student.spec or default_student_spec(info)
    default_train = scenario.student.train or default_train_config(
        info, Role.STUDENT, seed=scenario.seed
    )
    resolved: dict[str, tuple[ModelSpec, TrainConfig, dict | None, str]] = {}
    for dev in dict.fromkeys([scenario.device, *device_types(scenario)]):
        entry = scenario.students.get(dev)
        if entry is None:
            resolved[dev] = (default_spec, default_train, None, "student")
            continue
        spec, found = entry.spec or default_spec, None
        if entry.search is not None:
            spec, found = searched_spec(dev, entry.search, scenario, dataset, cache, progress)
        resolved[dev] = (spec, entry.train or default_train, found, f"students.{dev}")
    fleet = set(device_types(scenario))
    plans: dict[str, StudentPlan] = {}
    for dev, (spec, train, found, source) in resolved.items():
        key = spec.model_dump_json() + train.model_dump_json()
        if key not in plans:
            name = PRIMARY if not plans else f"student-{dev}"
            plans[key] = StudentPlan(name, spec, train, [], dev, found)
        plan = plans[key]
        if dev in fleet:
            plan.devices.append(dev)
        if source not in plan.sources:
            plan.sources.append(source)
        if found is not None and plan.search is None:
            plan.search = found
    return list(plans.values())
