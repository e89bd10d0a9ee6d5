"""A content-addressed cache of trained models, so re-running the same experiment is instant.

The key is the SHA-256 of a canonical JSON document naming the dataset (name, split seed and a
digest of its arrays), the ``ModelSpec``, the ``TrainConfig`` and the code versions. An entry is a
directory ``<root>/<key>/`` holding ``model.pt`` (a regular tinylarge checkpoint) and
``result.json``; each is written to a temp file and renamed, ``result.json`` last, so an entry
without it is incomplete and ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import tinylarge
from tinylarge.models import ModelSpec, build_model, load_checkpoint, save_checkpoint
from tinylarge.train.config import TrainConfig
from tinylarge.train.loop import TrainResult, fit, seed_everything

CACHE_FORMAT = 1  # bump when training code changes in a way that alters results


def default_cache_root() -> Path:
    """``~/.cache/tinylarge``: where trained models live unless a root is passed explicitly."""
    return Path.home() / ".cache" / "tinylarge"


def array_digest(*arrays: np.ndarray) -> str:
    """SHA-256 over the dtype, shape and bytes of each array."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def dataset_fingerprint(dataset: Any) -> dict[str, Any]:
    """Name, split seed and a digest of the arrays of a ``tinylarge.data.Dataset``."""
    info = getattr(dataset, "info", None)
    return {
        "name": getattr(info, "name", None),
        "seed": getattr(dataset, "seed", None),
        "sha256": array_digest(dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test),
    }


def cache_key(parts: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``parts`` as canonical JSON, plus the code versions."""
    doc = {
        **parts,
        "cache_format": CACHE_FORMAT,
        "tinylarge": tinylarge.__version__,
        "torch": torch.__version__,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ArtifactCache:
    """Trained models under ``root`` (default ``~/.cache/tinylarge``), keyed by config hash."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_root()

    def entry_dir(self, key: str) -> Path:
        return self.root / key

    def load(self, key: str) -> tuple[nn.Module, TrainResult] | None:
        """The cached ``(model, result)`` for ``key``, or ``None`` if absent or incomplete."""
        entry = self.entry_dir(key)
        result_path, model_path = entry / "result.json", entry / "model.pt"
        if not (result_path.is_file() and model_path.is_file()):
            return None
        result = TrainResult.from_dict(json.loads(result_path.read_text()))
        result.from_cache = True
        return load_checkpoint(model_path).model, result

    def store(
        self, key: str, model: nn.Module, spec: ModelSpec, result: TrainResult, meta: dict[str, Any]
    ) -> Path:
        """Write an entry (model first, ``result.json`` last); returns its directory."""
        entry = self.entry_dir(key)
        entry.mkdir(parents=True, exist_ok=True)
        save_checkpoint(entry / "model.pt", model, spec, {**meta, "cache_key": key})
        _atomic_write_text(entry / "result.json", json.dumps(result.to_dict(), indent=1))
        return entry

    def get_or_train(
        self,
        key_parts: dict[str, Any],
        spec: ModelSpec,
        meta: dict[str, Any],
        train: Callable[[nn.Module], TrainResult],
        seed: int = 0,
    ) -> tuple[nn.Module, TrainResult]:
        """Load the entry for ``key_parts`` or build ``spec`` (seeded), ``train`` it and store it.

        ``meta`` must name ``dataset``, ``input_shape`` and ``n_classes`` (checkpoint contract).
        Later training recipes (distillation, transfer) call this with their own ``train``.
        """
        key = cache_key({**key_parts, "spec": spec.model_dump(), "init_seed": seed})
        hit = self.load(key)
        if hit is not None:
            return hit
        seed_everything(seed)
        model = build_model(spec, tuple(meta["input_shape"]), int(meta["n_classes"]))
        result = train(model)
        self.store(key, model, spec, result, meta)
        model.eval()
        return model, result

    def cached_fit(
        self,
        spec: ModelSpec,
        dataset: Any,
        config: TrainConfig | None = None,
        progress: bool = True,
        name: str = "train",
    ) -> tuple[nn.Module, TrainResult]:
        """``fit`` a fresh ``spec`` model on ``dataset`` unless the same run is cached already."""
        config = config or TrainConfig()
        info = dataset.info
        meta = {
            "dataset": info.name,
            "input_shape": list(info.input_shape),
            "n_classes": int(info.n_classes),
        }
        parts = {"dataset": dataset_fingerprint(dataset), "config": config.model_dump(mode="json")}
        return self.get_or_train(
            parts,
            spec,
            meta,
            lambda model: fit(model, dataset, config, progress=progress, name=name),
            seed=config.seed,
        )
