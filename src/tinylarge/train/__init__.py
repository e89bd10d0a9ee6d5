"""Training and evaluation: deterministic CPU ``fit``, presets, and an artifact cache.

Depends on ``models`` (and reads ``data.Dataset`` objects by their fields only).
"""

from tinylarge.models.presets import default_student_spec, default_teacher_spec
from tinylarge.train.cache import ArtifactCache, default_cache_root
from tinylarge.train.config import Optimizer, Role, Schedule, TrainConfig
from tinylarge.train.loop import (
    TrainResult,
    evaluate,
    fit,
    predict_logits,
    seed_everything,
    split_validation,
)
from tinylarge.train.presets import default_train_config

__all__ = [
    "ArtifactCache",
    "Optimizer",
    "Role",
    "Schedule",
    "TrainConfig",
    "TrainResult",
    "default_cache_root",
    "default_student_spec",
    "default_teacher_spec",
    "default_train_config",
    "evaluate",
    "fit",
    "predict_logits",
    "seed_everything",
    "split_validation",
]
