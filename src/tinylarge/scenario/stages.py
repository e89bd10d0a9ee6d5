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
