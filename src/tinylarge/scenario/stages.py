"""The stages of a scenario run, each ``stage(ctx)``: reads the context, adds metrics/artifacts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tinylarge.models import (
    count_macs,
    count_params,
    default_student_spec,
    default_teacher_spec,
    save_checkpoint,
)
from tinylarge.train import ArtifactCache, Role, default_train_config

if TYPE_CHECKING:
    from tinylarge.scenario.runner import RunContext


def train_models(ctx: RunContext) -> None:
    """Train (or load from the cache) the teacher and the student; save both into the run folder."""
    info = ctx.dataset.info
    cache = ArtifactCache(ctx.cache_dir)
    presets = {Role.TEACHER: default_teacher_spec, Role.STUDENT: default_student_spec}
    for role, role_cfg in (
        (Role.TEACHER, ctx.scenario.teacher),
        (Role.STUDENT, ctx.scenario.student),
    ):
        spec = role_cfg.spec or presets[role](info)
        config = role_cfg.train or default_train_config(info, role, seed=ctx.scenario.seed)
        model, result = cache.cached_fit(
            spec, ctx.dataset, config, progress=ctx.progress, name=str(role)
        )
        model.eval()
        path = ctx.run_dir / f"{role}.pt"
        meta = {
            "dataset": info.name,
            "input_shape": list(info.input_shape),
            "n_classes": info.n_classes,
            "seed": ctx.dataset.seed,  # the split seed: quantize re-creates the same test set
        }
        save_checkpoint(path, model, spec, meta)
        params = count_params(model)
        ctx.artifacts[str(role)] = model
        ctx.artifacts[f"{role}_spec"] = spec
        ctx.artifacts[f"{role}_result"] = result
        ctx.metrics[str(role)] = {
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


def deploy_student(ctx: RunContext) -> None:
    """Quantize the student to full-integer int8 (PTQ, QAT if PTQ loses > 1 point), measure it in
    TFLM, profile it on every microcontroller of the catalog and generate its C, checked on the
    host against TFLM. Writes ``student_int8.tflite`` and ``c/`` into the run folder."""
    from tinylarge.integrate.students import describe, finish_int8
    from tinylarge.tiny.codegen import codegen
    from tinylarge.tiny.devices import list_devices, load_device
    from tinylarge.tiny.profile import analyze_model, profile_facts

    tflite = ctx.run_dir / "student_int8.tflite"
    report = describe(
        "student",
        ctx.artifacts["student"],
        ctx.artifacts["student_spec"],
        ctx.dataset,
        ctx.artifacts["student_result"],
    )
    report = finish_int8(
        report, ctx.artifacts["student"], ctx.dataset, ArtifactCache(ctx.cache_dir), tflite
    )
    ctx.artifacts["student_tflite"] = tflite
    ctx.metrics["student"].update(
        {
            "int8_accuracy": report.int8_accuracy,
            "int8_qat": report.qat,
            "int8_size_bytes": report.model_size_bytes,
            "tflm_arena_bytes": report.tflm_arena_bytes,
            "tflite": str(tflite),
        }
    )
    facts = analyze_model(tflite)
    mcus = [d for d in (load_device(n) for n in list_devices()) if d.is_mcu]
    ctx.metrics["profile"] = [profile_facts(facts, d).to_dict() for d in mcus]
    code = codegen(tflite, ctx.run_dir / "c", verify_modes=("host",), n_random=10, seed=0)
    ctx.metrics["codegen"] = {
        "arena_bytes": code.arena_bytes,
        "tflm_arena_bytes": code.tflm_arena_bytes,
        "bit_exact_host": code.bit_exact,
        "files": [str(f) for f in code.files],
    }


def offload_cascade(ctx: RunContext) -> None:
    """The device's int8 student answers when confident, the teacher otherwise: calibrate the
    gate on the validation rows for the scenario's ``policy.gate_max_accuracy_drop`` below the
    teacher (Learn then Test, ``policy.gate_delta``; reported on the test set),
    cost it on the scenario's device."""
    from tinylarge.integrate.cascade import CascadeConfig, run_cascade
    from tinylarge.integrate.plots import plot_cascade

    config = CascadeConfig(
        teacher=ctx.run_dir / "teacher.pt",
        student=ctx.artifacts["student_tflite"],
        device=ctx.scenario.device,
        max_accuracy_drop=ctx.scenario.policy.gate_max_accuracy_drop,
        delta=ctx.scenario.policy.gate_delta,
        seed=ctx.scenario.seed,
    )
    result = run_cascade(config, dataset=ctx.dataset, progress=ctx.progress)
    plot = plot_cascade(result, ctx.run_dir / "plots" / "cascade.png")
    summary = result.to_dict()
    for bulky in ("curve", "splits", "config"):
        summary.pop(bulky)
    summary["plot"] = str(plot)
    summary["device"] = ctx.scenario.device
    summary["student_int8_agreement_with_teacher"] = summary.pop("student_teacher_agreement")
    ctx.metrics["cascade"] = summary


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
