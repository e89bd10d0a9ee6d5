"""The LargeML side of the loop: label what devices offloaded, re-distil the student, sign it.

The teacher labels each offloaded sample (soft targets; nobody hands it ground truth). The new
student starts from the fleet's current one and is fine-tuned (``train.fit``, distillation
objective, teacher on the same batches) on the original labelled training set plus the labelled
offloads, quantized to int8 (PTQ, calibrated on that same mix) and signed once per device type.
Fine-tuned models and their int8 files are cached by content (parent weights, pool, recipe), so a
second run of the same scenario replays the loop without training.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from tinylarge.integrate.students import Int8Recipe, describe, finish_int8, model_digest
from tinylarge.scenario.sections import LoopConfig
from tinylarge.train import ArtifactCache, DistillObjective, Role, default_train_config, fit
from tinylarge.train.cache import array_digest

# Loop updates quantize by PTQ only: QAT would multiply an update's cost for a few tenths of a point
LOOP_INT8 = Int8Recipe(max_ptq_drop=1.0, qat_epochs=0)


@dataclass
class ModelVersion:
    """One deployable student: its float weights, int8 ``.tflite`` bytes and where it came from."""

    version: int
    model: nn.Module
    tflite: bytes
    source: str
    int8_accuracy: float | None = None
    train_time_s: float = 0.0
    cached: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoopData:
    """What ``fit`` and ``finish_int8`` read: the original train set plus the labelled offloads."""

    info: Any
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    seed: int


def redistill(
    parent: ModelVersion,
    spec: Any,
    teacher: nn.Module,
    dataset: Any,
    pool_x: np.ndarray,
    pool_y_teacher: np.ndarray,
    loop: LoopConfig,
    cache: ArtifactCache,
    out_dir: Path,
    version: int,
    seed: int,
) -> ModelVersion:
    """A new student version from ``parent``, fine-tuned on the train set plus the offloaded pool
    (labels: the teacher's argmax; soft targets: the teacher's logits, weight ``loop.alpha``)."""
    # the offloads are few next to the training set: repeat them up to ``pool_share`` of an epoch
    n_train, n_pool = len(dataset.y_train), len(pool_y_teacher)
    share = loop.pool_share
    repeat = max(1, int(np.ceil(share * n_train / ((1.0 - share) * max(n_pool, 1)))))
    data = LoopData(
        info=dataset.info,
        x_train=np.concatenate([dataset.x_train, *[pool_x] * repeat]).astype(np.float32),
        y_train=np.concatenate([dataset.y_train, *[pool_y_teacher] * repeat]).astype(np.int64),
        x_test=dataset.x_test,
        y_test=dataset.y_test,
        seed=dataset.seed,
    )
    config = default_train_config(dataset.info, Role.STUDENT, seed=seed).model_copy(
        update={"epochs": loop.epochs, "lr": loop.lr}
    )
    objective = DistillObjective(alpha=loop.alpha, temperature=4.0)
    parent_state = copy.deepcopy(parent.model.state_dict())

    def train(model: nn.Module):
        model.load_state_dict(parent_state)
        return fit(
            model, data, config, objective=objective, teacher=teacher, progress=False,
            name=f"re-distil v{version}",
        )  # fmt: skip

    info = dataset.info
    meta = {
        "dataset": info.name,
        "input_shape": list(info.input_shape),
        "n_classes": int(info.n_classes),
    }
    parts = {
        "pattern": "loop-redistill",
        "parent": model_digest(parent.model),
        "teacher": model_digest(teacher),
        "pool": array_digest(pool_x, pool_y_teacher),
        "dataset": array_digest(dataset.x_train, dataset.y_train),
        "config": config.model_dump(mode="json"),
        "alpha": loop.alpha,
        "repeat": repeat,
    }
    model, result = cache.get_or_train(parts, spec, meta, train, seed=seed)
    model.eval()
    report = describe("student", model, spec, data, result)
    tflite_path = out_dir / f"student_v{version}_int8.tflite"
    report = finish_int8(report, model, data, cache, tflite_path, recipe=LOOP_INT8, seed=seed)
    return ModelVersion(
        version=version,
        model=model,
        tflite=tflite_path.read_bytes(),
        source=f"re-distilled from v{parent.version} on {len(pool_x)} offloaded samples",
        int8_accuracy=report.int8_accuracy,
        train_time_s=result.train_time_s,
        cached=result.from_cache,
    )


def tamper(bundle: bytes) -> bytes:
    """``bundle`` with one byte of its model payload flipped, as an attacker in transit would."""
    data = bytearray(bundle)
    data[len(data) // 2] ^= 0x01
    return bytes(data)
