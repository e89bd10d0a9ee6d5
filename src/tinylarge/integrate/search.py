"""Device-aware student search: the most accurate int8 student that fits a device's budgets.

A small grid over the student families' width, depth and input resolution (the stem stride) is
trained briefly (a proxy for ranking, as in hardware-aware NAS: MCUNet, Lin et al., NeurIPS 2020;
"once-for-all" style ranking by short training), each candidate is quantized to int8 and measured
for real: its accuracy in TFLM on a held-out validation split, its *measured* TFLM arena
(:class:`tinylarge.tiny.runtime.TflmRuntime`), its flash, and its latency and energy from the
profiler's per-core cost model (:mod:`tinylarge.tiny.profile`). Candidates are trained and measured
once and profiled on every requested device. Per device, those within every budget (flash, RAM,
latency, energy; flash and RAM default to the device's own memory) form a Pareto front over
accuracy, latency and RAM; the most accurate fitting one wins and is distilled from the teacher
(:func:`tinylarge.integrate.distill.run_distill`), and the distilled int8 model is profiled again
to confirm it is within budget. A device on which nothing fits gets the reasons instead.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Unpack

from pydantic import BaseModel, ConfigDict, Field

from tinylarge.integrate.distill import DistillConfig, run_distill, student_train_config
from tinylarge.integrate.pattern import PatternIO, PatternResult, pattern_io
from tinylarge.integrate.students import StudentRun, train_student
from tinylarge.models import ModelSpec, count_params
from tinylarge.tiny.devices import DeviceProfile, list_devices, load_device
from tinylarge.tiny.graph import graph_macs, load_graph
from tinylarge.tiny.profile import ModelFacts, ProfileResult, profile_facts
from tinylarge.train import ArtifactCache, fit_split
from tinylarge.train.cache import cache_key


class Budget(BaseModel):
    """Per-inference limits; ``None``: the device's own (flash, RAM) or no limit (time, energy)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flash_bytes: int | None = Field(None, gt=0)
    ram_bytes: int | None = Field(None, gt=0)
    latency_s: float | None = Field(None, gt=0)
    energy_j: float | None = Field(None, gt=0)

    def for_device(self, device: DeviceProfile) -> Budget:
        """This budget with flash and RAM capped by ``device``'s memory."""
        return self.model_copy(
            update={
                "flash_bytes": min(self.flash_bytes or device.flash_bytes, device.flash_bytes),
                "ram_bytes": min(self.ram_bytes or device.sram_bytes, device.sram_bytes),
            }
        )

    def violations(self, p: ProfileResult) -> list[str]:
        """Why the profiled model breaks this budget (empty: within budget)."""
        checks = [
            ("RAM", p.ram_bytes, self.ram_bytes, "B", f" (TFLM arena {p.tflm_arena_bytes} B)"),
            ("flash", p.flash_bytes, self.flash_bytes, "B", ""),
            ("latency", p.latency_s, self.latency_s, "s", ""),
            ("energy", p.energy_j, self.energy_j, "J", ""),
        ]
        return [
            f"{name} {value:.4g} {unit}{detail} > budget {limit:.4g} {unit}"
            for name, value, limit, unit, detail in checks
            if limit is not None and value > limit
        ]


class SearchSpace(BaseModel):
    """The candidate grid: every combination of families x widths x depths x stem strides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    families: list[str] | None = Field(None, description="default: the dataset kind's students")
    widths: list[int] = Field(default_factory=lambda: [8, 16, 32], min_length=1)
    depths: list[int] = Field(default_factory=lambda: [2, 3], min_length=1)
    stem_strides: list[int] = Field(
        default_factory=lambda: [1, 2], min_length=1, description="resolution: 2 halves it"
    )
    kernel_size: int | None = Field(None, description="default: 3 for images, 5 for time series")

    def candidates(self, kind: str) -> list[ModelSpec]:
        families = self.families or (
            ["cnn2d", "dscnn2d"] if kind == "image" else ["cnn1d", "dscnn1d"]
        )
        k = self.kernel_size or (3 if kind == "image" else 5)
        return [
            ModelSpec(name=f, width=w, depth=d, stem_stride=s, kernel_size=k)
            for f in families
            for w in self.widths
            for d in self.depths
            for s in self.stem_strides
        ]


class SearchConfig(BaseModel):
    """A search: dataset, devices (names, ``mcu`` or ``all``), budgets, grid, proxy training."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "mnist5k"
    split_seed: int = 0
    devices: list[str] = Field(default_factory=lambda: ["mcu"], min_length=1)
    budget: Budget = Budget()
    space: SearchSpace = SearchSpace()
    proxy_epochs: int | None = Field(None, ge=1, description="default: 3 images, 30 series")
    n_val_int8: int = Field(500, ge=10, description="validation samples run in TFLM to rank")
    seed: int = 0
    distill_winner: bool = True
    teacher: ModelSpec | None = Field(None, description="default: the dataset's preset teacher")
    distill_epochs: int | None = Field(None, ge=1, description="default: the student preset's")
    temperature: float = Field(4.0, gt=0.0)
    alpha: float = Field(0.9, ge=0.0, le=1.0)

    def device_names(self) -> list[str]:
        names: list[str] = []
        for name in self.devices:
            if name == "all":
                names += list_devices()
            elif name == "mcu":
                names += [d for d in list_devices() if load_device(d).is_mcu]
            else:
                names.append(load_device(name).name)  # UnknownNameError lists the valid ones
        return list(dict.fromkeys(names))


@dataclass
class Candidate:
    """One trained, quantized and measured candidate (device-independent facts)."""

    spec: dict[str, Any]
    params: int
    val_int8_accuracy: float
    val_float_accuracy: float
    tflite_path: str
    model_size_bytes: int
    tflm_arena_bytes: int
    macs: int

    @property
    def label(self) -> str:
        s = self.spec
        return f"{s['name']} w{s['width']} d{s['depth']} s{s['stem_stride']}"


@dataclass
class DeviceSearch:
    """The search on one device: every candidate's profile, the Pareto front and the winner."""

    device: str
    budget: dict[str, Any]
    rows: list[dict[str, Any]]  # one per candidate: label, accuracy, profile, fits, reasons
    pareto: list[str]  # labels of the fitting, non-dominated candidates
    winner: str | None
    reason: str | None = None  # why nothing fits
    final: dict[str, Any] | None = None  # the distilled winner, profiled again on this device
    plot_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class SearchResult(PatternResult):
    config: SearchConfig
    dataset: str
    candidates: list[Candidate]
    devices: list[DeviceSearch] = field(default_factory=list)


def pareto_front(points: list[tuple[float, float, float]]) -> list[int]:
    """Indices of points ``(accuracy, latency_s, ram_bytes)`` no other point dominates.

    ``q`` dominates ``p`` when it is at least as accurate, as fast and as small, and strictly
    better in one of the three.
    """
    front = []
    for i, (acc, lat, ram) in enumerate(points):
        dominated = any(
            a >= acc and t <= lat and r <= ram and (a > acc or t < lat or r < ram)
            for j, (a, t, r) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return front


def evaluate_candidate(
    spec: ModelSpec, ds: Any, cache: ArtifactCache, config: SearchConfig
) -> Candidate:
    """Proxy-train ``spec`` (cached), quantize it, measure val int8 accuracy and TFLM arena."""
    from tinylarge.tiny.quantize import quantize_and_evaluate

    info = ds.info
    epochs = config.proxy_epochs or (3 if info.kind == "image" else 30)
    run = StudentRun("candidate", ds, student_train_config(info, config.seed, epochs))
    key = cache_key({**run.key_parts(), "spec": spec.model_dump(), "n_val_int8": config.n_val_int8})
    record = cache.root / "search" / f"{key}.json"
    if record.is_file():
        cand = Candidate(**json.loads(record.read_text()))
        if Path(cand.tflite_path).is_file():
            return cand
    model, _ = train_student(run, spec, cache, int8=None)
    _, val_idx = fit_split(ds, run.config)
    val_idx = val_idx[: config.n_val_int8]
    args = (ds.x_train, ds.y_train, ds.x_train[val_idx], ds.y_train[val_idx])
    q = quantize_and_evaluate(model, *args, record.with_suffix(".tflite"), seed=config.seed)
    cand = Candidate(
        spec=spec.model_dump(mode="json"),
        params=count_params(model),
        val_int8_accuracy=q.int8_accuracy,
        val_float_accuracy=q.float_accuracy,
        tflite_path=q.tflite_path,
        model_size_bytes=q.size_bytes,
        tflm_arena_bytes=q.tflm_arena_bytes,
        macs=graph_macs(load_graph(q.tflite_path)),
    )
    record.write_text(json.dumps(asdict(cand), indent=1))
    return cand


def facts_of(tflite_path: str | Path, arena_bytes: int) -> ModelFacts:
    """Profiler facts of a model whose TFLM arena is already measured."""
    path = Path(tflite_path)
    return ModelFacts(
        graph=load_graph(path), model_size_bytes=path.stat().st_size, tflm_arena_bytes=arena_bytes
    )


def search_device(
    device: DeviceProfile, candidates: list[Candidate], budget: Budget
) -> DeviceSearch:
    """Profile every candidate on ``device``, keep those within ``budget``, rank, explain."""
    limit = budget.for_device(device)
    rows, fitting = [], []
    for cand in candidates:
        prof = profile_facts(facts_of(cand.tflite_path, cand.tflm_arena_bytes), device)
        reasons = limit.violations(prof)
        row = {
            "candidate": cand.label,
            "params": cand.params,
            "val_int8_accuracy": cand.val_int8_accuracy,
            "latency_s": prof.latency_s,
            "energy_j": prof.energy_j,
            "ram_bytes": prof.ram_bytes,
            "tflm_arena_bytes": prof.tflm_arena_bytes,
            "flash_bytes": prof.flash_bytes,
            "fits": not reasons,
            "reasons": reasons,
        }
        rows.append(row)
        if not reasons:
            fitting.append(row)
    points = [(r["val_int8_accuracy"], r["latency_s"], r["ram_bytes"]) for r in fitting]
    pareto = [fitting[i]["candidate"] for i in pareto_front(points)]
    for row in rows:
        row["pareto"] = row["candidate"] in pareto
    winner = max(fitting, key=lambda r: (r["val_int8_accuracy"], -r["latency_s"]), default=None)
    return DeviceSearch(
        device=device.name,
        budget=limit.model_dump(),
        rows=rows,
        pareto=pareto,
        winner=winner["candidate"] if winner else None,
        reason=None if winner else nothing_fits_reason(device.name, rows),
    )


def nothing_fits_reason(device: str, rows: list[dict[str, Any]]) -> str:
    """Why no candidate fits: how many break each budget, and the closest one's reasons."""
    counts: dict[str, int] = {}
    for row in rows:
        for reason in row["reasons"]:
            kind = reason.split(" ", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
    closest = min(rows, key=lambda r: (len(r["reasons"]), r["ram_bytes"], r["flash_bytes"]))
    broken = ", ".join(f"{k} ({n} of {len(rows)})" for k, n in counts.items())
    return (
        f"no candidate fits {device}: budgets broken: {broken}; the closest, "
        f"{closest['candidate']}, has {'; '.join(closest['reasons'])}"
    )


def run_search(config: SearchConfig | None = None, **io: Unpack[PatternIO]) -> SearchResult:
    """Search every device of ``config``; distil each distinct winner once; plot per device."""
    from tinylarge.integrate.plots import plot_device

    config = config or SearchConfig()
    devices = [load_device(n) for n in config.device_names()]
    ds, cache, out, progress = pattern_io(config, io)
    specs = config.space.candidates(ds.info.kind)
    candidates = []
    for i, spec in enumerate(specs):
        candidates.append(evaluate_candidate(spec, ds, cache, config))
        if progress:
            from rich.console import Console

            c = candidates[-1]
            Console(stderr=True).print(
                f"candidate {i + 1}/{len(specs)} {c.label}: val int8 {c.val_int8_accuracy:.4f}, "
                f"arena {c.tflm_arena_bytes} B, {c.model_size_bytes} B"
            )
    by_label = {c.label: c for c in candidates}
    results = [search_device(dev, candidates, config.budget) for dev in devices]
    distilled: dict[str, Any] = {}
    for dev, res in zip(devices, results, strict=True):
        if res.winner and config.distill_winner:
            if res.winner not in distilled:
                spec = ModelSpec(**by_label[res.winner].spec)
                dcfg = DistillConfig(
                    dataset=ds.info.name, split_seed=config.split_seed, student=spec,
                    teacher=config.teacher,
                    seeds=[config.seed], epochs=config.distill_epochs, compare_baseline=False,
                    temperature=config.temperature, alpha=config.alpha,
                )  # fmt: skip
                tag = res.winner.replace(" ", "_")
                distilled[res.winner] = run_distill(
                    dcfg, dataset=ds, cache=cache, out_dir=out / tag if out else None,
                    progress=progress,
                )  # fmt: skip
            res.final = final_check(distilled[res.winner], dev, Budget(**res.budget))
        if out is not None:
            res.plot_path = str(plot_device(res, out / f"search_{dev.name}.png"))
    return SearchResult(
        dataset=ds.info.name,
        config=config,
        candidates=candidates,
        devices=results,
        summary=summarize(results),
    )


def final_check(distilled: Any, device: DeviceProfile, budget: Budget) -> dict[str, Any]:
    """The distilled winner's int8 accuracy and its profile on ``device`` against ``budget``."""
    student = distilled.students[0]
    prof = profile_facts(facts_of(student.tflite_path, student.tflm_arena_bytes), device)
    reasons = budget.violations(prof)
    return {
        "spec": student.spec,
        "params": student.params,
        "int8_accuracy": student.int8_accuracy,
        "float_accuracy": student.float_accuracy,
        "qat": student.qat,
        "teacher_accuracy": distilled.teacher.accuracy,
        "tflite_path": student.tflite_path,
        "tflm_arena_bytes": prof.tflm_arena_bytes,
        "ram_bytes": prof.ram_bytes,
        "flash_bytes": prof.flash_bytes,
        "latency_s": prof.latency_s,
        "energy_j": prof.energy_j,
        "within_budget": not reasons,
        "reasons": reasons,
    }


def summarize(results: list[DeviceSearch]) -> dict[str, Any]:
    """Per device: the winner and its headline numbers, or why nothing fits."""
    per_device = {}
    for r in results:
        entry: dict[str, Any] = {"winner": r.winner, "reason": r.reason}
        if r.final:
            entry.update(
                {k: r.final[k] for k in ("int8_accuracy", "tflm_arena_bytes", "ram_bytes",
                                         "flash_bytes", "latency_s", "energy_j", "within_budget")}
            )  # fmt: skip
            entry["ram_budget_bytes"] = r.budget["ram_bytes"]
            entry["flash_budget_bytes"] = r.budget["flash_bytes"]
        per_device[r.device] = entry
    return {
        "n_devices": len(results),
        "n_with_winner": sum(r.winner is not None for r in results),
        "all_within_budget": all(r.final["within_budget"] for r in results if r.final),
        "devices": per_device,
    }
