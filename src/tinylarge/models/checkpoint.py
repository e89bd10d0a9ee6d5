"""Checkpoints: weights plus the spec and metadata needed to rebuild the model anywhere.

A file holds ``{"format", "spec", "meta", "state_dict"}`` and loads with ``weights_only=True``
(no pickled code runs). ``meta`` holds at least ``dataset``, ``input_shape`` and ``n_classes``, so
``tinylarge quantize MODEL.pt --dataset NAME`` can rebuild the exact module.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tinylarge.errors import TinylargeError
from tinylarge.models.registry import build_model
from tinylarge.models.spec import ModelSpec

CHECKPOINT_FORMAT = "tinylarge-checkpoint/1"
REQUIRED_META = ("dataset", "input_shape", "n_classes")


class CheckpointError(TinylargeError):
    """A checkpoint file that is missing, unreadable or not a tinylarge checkpoint."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt ``model`` (eval mode), its ``spec`` and ``meta``."""

    model: nn.Module
    spec: ModelSpec
    meta: dict[str, Any]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.meta["input_shape"])

    @property
    def n_classes(self) -> int:
        return int(self.meta["n_classes"])


def atomic_torch_save(obj: object, path: Path) -> None:
    """``torch.save`` to a temp file in the same directory, then rename: readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path: str | Path, model: nn.Module, spec: ModelSpec, meta: dict[str, Any]
) -> Path:
    """Write ``model``'s weights, ``spec`` and ``meta`` (needs dataset, input_shape, n_classes)."""
    missing = [key for key in REQUIRED_META if key not in meta]
    if missing:
        raise ValueError(
            f"checkpoint meta lacks {', '.join(missing)}; it needs {', '.join(REQUIRED_META)}"
        )
    meta = {
        **meta,
        "input_shape": [int(d) for d in meta["input_shape"]],
        "n_classes": int(meta["n_classes"]),
    }
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save(
        {"format": CHECKPOINT_FORMAT, "spec": spec.model_dump(), "meta": meta, "state_dict": state},
        path,
    )
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Rebuild the model saved at ``path`` and load its weights; the model is in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt or foreign file
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a tinylarge checkpoint ({CHECKPOINT_FORMAT})")
    spec = ModelSpec(**blob["spec"])
    meta = dict(blob["meta"])
    model = build_model(spec, tuple(meta["input_shape"]), int(meta["n_classes"]))
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return Checkpoint(model=model, spec=spec, meta=meta)
