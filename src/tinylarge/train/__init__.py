"""Training and evaluation: the one deterministic CPU ``fit`` loop, its objectives, presets,
the artifact cache and the statistics every comparison over seeds reports.

Depends on ``models`` (and reads ``data.Dataset`` objects by their fields only).
"""

from tinylarge.models.presets import default_student_spec, default_teacher_spec
from tinylarge.train.cache import ArtifactCache, default_cache_root
from tinylarge.train.config import Optimizer, Role, Schedule, TrainConfig
from tinylarge.train.loop import (
    TrainArrays,
    TrainResult,
    evaluate,
    fit,
    fit_split,
    predict_logits,
    seed_everything,
    split_validation,
)
from tinylarge.train.objectives import DistillObjective
from tinylarge.train.presets import default_train_config, few_label_config

__all__ = [
    "ArtifactCache",
    "DistillObjective",
    "Optimizer",
    "Role",
    "Schedule",
    "TrainArrays",
    "TrainConfig",
    "TrainResult",
    "default_cache_root",
    "default_student_spec",
    "default_teacher_spec",
    "default_train_config",
    "evaluate",
    "few_label_config",
    "fit",
    "fit_split",
    "predict_logits",
    "seed_everything",
    "split_validation",
]
