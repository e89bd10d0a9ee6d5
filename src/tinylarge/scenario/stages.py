"""The stages of a scenario run, each ``stage(ctx)``: reads the context, adds metrics/artifacts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tinylarge.models import (
    count_macs,
    count_params,
    default_teacher_spec,
    save_checkpoint,
)
from tinylarge.scenario.students import PRIMARY
from tinylarge.train import ArtifactCache, Role, default_train_config

if TYPE_CHECKING:
    from tinylarge.scenario.runner import RunContext


def _meta(ctx: RunContext) -> dict:
    info = ctx.dataset.info
    return {
        "dataset": info.name,
        "input_shape": list(info.input_shape),
        "n_classes": info.n_classes,
        "seed": ctx.dataset.seed,  # the split seed: quantize re-creates the same test set
    }


def _train(ctx: RunContext, name: str, spec, config, cache: ArtifactCache) -> dict:
    """Train (or load) one model, save ``<name>.pt`` and return its metrics."""
    info = ctx.dataset.info
    model, result = cache.cached_fit(spec, ctx.dataset, config, progress=ctx.progress, name=name)
    model.eval()
    path = ctx.run_dir / f"{name}.pt"
    save_checkpoint(path, model, spec, _meta(ctx))
    params = count_params(model)
    ctx.artifacts[name] = model
    ctx.artifacts[f"{name}_spec"] = spec
    ctx.artifacts[f"{name}_result"] = result
    return {
        "arch": spec.name,
        "spec": spec.model_dump(mode="json"),
        "params": params,
        "size_bytes_float32": 4 * params,
        "macs": count_macs(model, info.input_shape),
        "accuracy": result.test_accuracy,
        "best_val_accuracy": result.best_val_accuracy,
        "epochs": result.n_epochs,
        "train_time_s": result.train_time_s,
        "cached": result.from_cache,
        "checkpoint": str(path),
    }


def train_models(ctx: RunContext) -> None:
    """Train (or load from the cache) the teacher and every distinct student (one per entry of
    the scenario's ``students``, searched ones chosen first, plus ``student``); save them into the
    run folder. ``metrics["student"]`` is the student of the scenario's ``device``;
    ``metrics["students"]`` holds every student with the fleet device types that run it."""
    from tinylarge.scenario.students import plan_students

    info = ctx.dataset.info
    cache = ArtifactCache(ctx.cache_dir)
    plans = plan_students(ctx.scenario, ctx.dataset, cache, progress=ctx.progress)
    teacher = ctx.scenario.teacher
    spec = teacher.spec or default_teacher_spec(info)
    config = teacher.train or default_train_config(info, Role.TEACHER, seed=ctx.scenario.seed)
    ctx.metrics[str(Role.TEACHER)] = _train(ctx, str(Role.TEACHER), spec, config, cache)
    ctx.artifacts["student_plans"] = plans
    ctx.metrics["students"] = {}
    for plan in plans:
        m = _train(ctx, plan.name, plan.spec, plan.train, cache)
        m.update({"devices": plan.devices, "from": plan.sources, "search": plan.search})
        ctx.metrics["students"][plan.name] = m
    ctx.metrics["student"] = ctx.metrics["students"][PRIMARY]


def _tflite_name(name: str) -> str:
    return f"{name}_int8.tflite"


def deploy_student(ctx: RunContext) -> None:
    """Quantize each student to full-integer int8 (PTQ, QAT if PTQ loses > 1 point), measure it
    in TFLM, profile it on every microcontroller of the catalog and generate its C, checked on
    the host against TFLM. Writes ``student_int8.tflite`` and ``c/`` into the run folder (other
    students: ``student-<device>_int8.tflite`` and ``c-student-<device>/``)."""
    from tinylarge.integrate.students import describe, finish_int8
    from tinylarge.tiny.codegen import codegen
    from tinylarge.tiny.devices import list_devices, load_device
    from tinylarge.tiny.profile import analyze_model, profile_facts

    mcus = [d for d in (load_device(n) for n in list_devices()) if d.is_mcu]
    cache = ArtifactCache(ctx.cache_dir)
    for plan in ctx.artifacts["student_plans"]:
        name = plan.name
        tflite = ctx.run_dir / _tflite_name(name)
        model, spec = ctx.artifacts[name], ctx.artifacts[f"{name}_spec"]
        report = describe("student", model, spec, ctx.dataset, ctx.artifacts[f"{name}_result"])
        report = finish_int8(report, model, ctx.dataset, cache, tflite)
        ctx.artifacts[f"{name}_tflite"] = tflite
        m = ctx.metrics["students"][name]
        m.update(
            {
                "int8_accuracy": report.int8_accuracy,
                "int8_qat": report.qat,
                "int8_size_bytes": report.model_size_bytes,
                "tflm_arena_bytes": report.tflm_arena_bytes,
                "tflite": str(tflite),
            }
        )
        facts = analyze_model(tflite)
        m["profile"] = [profile_facts(facts, d).to_dict() for d in mcus]
        c_dir = ctx.run_dir / ("c" if name == PRIMARY else f"c-{name}")
        code = codegen(tflite, c_dir, verify_modes=("host",), n_random=10, seed=0)
        m["codegen"] = {
            "arena_bytes": code.arena_bytes,
            "tflm_arena_bytes": code.tflm_arena_bytes,
            "bit_exact_host": code.bit_exact,
            "files": [str(f) for f in code.files],
        }
    primary = ctx.metrics["students"][PRIMARY]
    ctx.metrics["profile"] = primary["profile"]
    ctx.metrics["codegen"] = primary["codegen"]


def offload_cascade(ctx: RunContext) -> None:
    """Each device's int8 student answers when confident, the teacher otherwise: calibrate each
    student's gate on the validation rows for the scenario's ``policy.gate_max_accuracy_drop``
    below the teacher (Learn then Test, ``policy.gate_delta``; reported on the test set), cost it
    on the scenario's device (other students: the first device type that runs them)."""
    from tinylarge.integrate.cascade import CascadeConfig, run_cascade
    from tinylarge.integrate.plots import plot_cascade

    for plan in ctx.artifacts["student_plans"]:
        device = ctx.scenario.device if plan.name == PRIMARY else plan.cascade_device
        config = CascadeConfig(
            teacher=ctx.run_dir / "teacher.pt",
            student=ctx.artifacts[f"{plan.name}_tflite"],
            device=device,
            max_accuracy_drop=ctx.scenario.policy.gate_max_accuracy_drop,
            delta=ctx.scenario.policy.gate_delta,
            seed=ctx.scenario.seed,
        )
        result = run_cascade(config, dataset=ctx.dataset, progress=ctx.progress)
        png = "cascade.png" if plan.name == PRIMARY else f"cascade-{plan.name}.png"
        plot = plot_cascade(result, ctx.run_dir / "plots" / png)
        summary = result.to_dict()
        for bulky in ("curve", "splits", "config"):
            summary.pop(bulky)
        summary["plot"] = str(plot)
        summary["device"] = device
        summary["student_int8_agreement_with_teacher"] = summary.pop("student_teacher_agreement")
        ctx.metrics["students"][plan.name]["cascade"] = summary
    ctx.metrics["cascade"] = ctx.metrics["students"][PRIMARY]["cascade"]


def closed_loop(ctx: RunContext) -> None:
    """The closed loop over simulated time (:mod:`tinylarge.scenario.loop`); off when the
    scenario's ``loop`` is null."""
    if ctx.scenario.loop is None:
        return
    from tinylarge.scenario.loop import run_loop

    mapper = None
    if ctx.scenario.intents:  # the foundation model loads only when a scenario has intents
        from tinylarge.scenario.intent import map_intent

        def mapper(text: str) -> dict:
            return map_intent(text).to_dict()

    ctx.metrics["loop"] = run_loop(ctx, intent_mapper=mapper)


def write_report(ctx: RunContext) -> None:
    """``report.html`` (self-contained) and ``plots/*.png`` beside it."""
    from tinylarge.scenario.report import write_html_report

    ctx.metrics["report"] = str(write_html_report(ctx.metrics, ctx.run_dir))
