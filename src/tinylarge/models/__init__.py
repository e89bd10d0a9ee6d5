"""PyTorch architecture families: LargeML teachers, TinyML students, their sizes and checkpoints.

Depends on nothing else in tinylarge but ``errors``. Every model is a ``BlockNet`` (``blocks`` then
``head``) built only from ops that convert to int8 TFLite, so any of them can be deployed or split.
"""

from tinylarge.models.blocks import BlockNet
from tinylarge.models.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from tinylarge.models.counting import count_macs, count_params
from tinylarge.models.presets import default_student_spec, default_teacher_spec
from tinylarge.models.registry import Family, build_model, family, list_models
from tinylarge.models.spec import ModelSpec

__all__ = [
    "BlockNet",
    "Checkpoint",
    "CheckpointError",
    "Family",
    "ModelSpec",
    "build_model",
    "count_macs",
    "count_params",
    "default_student_spec",
    "default_teacher_spec",
    "family",
    "list_models",
    "load_checkpoint",
    "save_checkpoint",
]
