"""Pieces every downward pattern shares: datasets views, the teacher, int8 finishing, reports.

- The LargeML / device split: the server trains on its own part of the training data; a device
  holds the rest, of which only a small labelled share is known (:func:`server_device_split`,
  :func:`labelled_subset`). Test data stays the dataset's test split for every model.
- :func:`finish_int8`: post-training quantization through :mod:`tinylarge.tiny.quantize`, and
  quantization-aware training when PTQ loses more than a tolerance, so every accuracy a pattern
  reports for a student is the int8 accuracy measured in the TFLM interpreter. Results are cached
  by the weights' digest, so a rerun does not convert again.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from tinylarge.models import ModelSpec, count_macs, count_params, default_teacher_spec
from tinylarge.train import ArtifactCache, Role, TrainResult, default_train_config
from tinylarge.train.cache import array_digest, cache_key, dataset_fingerprint


def as_dataset(dataset: Any, seed: int = 0) -> Any:
    """A ``tinylarge.data.Dataset``: loaded by name, or passed through."""
    if isinstance(dataset, str):
        from tinylarge.data import load_dataset

        return load_dataset(dataset, seed=seed)
    return dataset


def model_meta(dataset: Any) -> dict[str, Any]:
    """The checkpoint metadata of a model for ``dataset`` (dataset, input_shape, n_classes)."""
    info = dataset.info
    return {
        "dataset": info.name,
        "input_shape": list(info.input_shape),
        "n_classes": int(info.n_classes),
        "split_seed": getattr(dataset, "seed", None),
    }


def model_digest(model: nn.Module) -> str:
    """SHA-256 of a model's state (parameters and buffers), to key what is derived from it."""
    state = model.state_dict()
    return array_digest(*(state[k].detach().cpu().numpy() for k in sorted(state)))


def with_train_subset(dataset: Any, idx: np.ndarray, y: np.ndarray | None = None) -> Any:
    """A copy of ``dataset`` whose training part is ``idx`` (labels replaced by ``y`` if given)."""
    groups = dataset.groups_train
    return dataclasses.replace(
        dataset,
        x_train=dataset.x_train[idx],
        y_train=dataset.y_train[idx] if y is None else np.asarray(y, dtype=np.int64),
        groups_train=None if groups is None else groups[idx],
    )


def stratified_fraction(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``fraction`` of each class (at least one per class), seeded."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        chosen.append(idx[: max(1, round(fraction * len(idx)))])
    return np.sort(np.concatenate(chosen))


def server_device_split(
    y: np.ndarray, server_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(server, device)`` of the training data: disjoint, stratified, seeded."""
    server = stratified_fraction(y, server_fraction, seed)
    device = np.setdiff1d(np.arange(len(y)), server)
    return server, device


def train_teacher(
    dataset: Any,
    cache: ArtifactCache,
    spec: ModelSpec | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[nn.Module, TrainResult, ModelSpec]:
    """The LargeML teacher for ``dataset`` (preset spec and recipe), from the cache if trained."""
    spec = spec or default_teacher_spec(dataset.info)
    config = default_train_config(dataset.info, Role.TEACHER, seed=seed)
    model, result = cache.cached_fit(spec, dataset, config, progress=progress, name="teacher")
    return model.eval(), result, spec


@dataclass
class ModelReport:
    """One trained model: its size and its accuracies (``int8_*`` measured in TFLM)."""

    role: str
    spec: dict[str, Any]
    params: int
    macs: int
    float_accuracy: float
    int8_accuracy: float | None = None
    qat: bool = False
    ptq_accuracy: float | None = None
    tflite_path: str | None = None
    model_size_bytes: int | None = None
    tflm_arena_bytes: int | None = None
    train_time_s: float = 0.0
    from_cache: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def accuracy(self) -> float:
        """The deployed accuracy: int8 when quantized, float otherwise."""
        return self.float_accuracy if self.int8_accuracy is None else self.int8_accuracy


def describe(
    role: str, model: nn.Module, spec: ModelSpec, dataset: Any, result: TrainResult
) -> ModelReport:
    """A :class:`ModelReport` of a float model (int8 fields filled by :func:`finish_int8`)."""
    return ModelReport(
        role=role,
        spec=spec.model_dump(mode="json"),
        params=count_params(model),
        macs=count_macs(model, tuple(dataset.info.input_shape)),
        float_accuracy=result.test_accuracy,
        train_time_s=result.train_time_s,
        from_cache=result.from_cache,
    )


def finish_int8(
    report: ModelReport,
    model: nn.Module,
    dataset: Any,
    cache: ArtifactCache,
    out_path: str | Path | None = None,
    max_ptq_drop: float = 0.01,
    qat_epochs: int = 2,
    n_calibration: int = 300,
    seed: int = 0,
) -> ModelReport:
    """Quantize ``model`` to int8 and fill ``report``'s int8 fields (TFLM accuracy on the test set).

    Post-training quantization first (Jacob et al., CVPR 2018); when it loses more than
    ``max_ptq_drop`` (absolute accuracy) against the float model, quantization-aware training for
    ``qat_epochs`` is tried and kept if it is better. The ``.tflite`` is copied to ``out_path``.
    """
    from tinylarge.tiny.quantize import QuantizeResult, quantize_and_evaluate

    key = cache_key(
        {
            "pattern": "int8",
            "model": model_digest(model),
            "dataset": dataset_fingerprint(dataset),
            "max_ptq_drop": max_ptq_drop,
            "qat_epochs": qat_epochs,
            "n_calibration": n_calibration,
            "seed": seed,
        }
    )
    entry = cache.root / "int8" / key
    result_path, tflite_path = entry / "result.json", entry / "model_int8.tflite"
    if result_path.is_file() and tflite_path.is_file():
        result = QuantizeResult(**json.loads(result_path.read_text()))
        ptq_accuracy = json.loads(result_path.with_name("ptq.json").read_text())["ptq_accuracy"]
    else:
        entry.mkdir(parents=True, exist_ok=True)
        args = (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test)
        result = quantize_and_evaluate(
            model, *args, tflite_path, n_calibration=n_calibration, seed=seed
        )
        ptq_accuracy = result.int8_accuracy
        if result.float_accuracy - result.int8_accuracy > max_ptq_drop and qat_epochs > 0:
            qat_path = entry / "model_int8_qat.tflite"
            qat = quantize_and_evaluate(
                model, *args, qat_path, n_calibration=n_calibration, qat=True,
                qat_epochs=qat_epochs, seed=seed,
            )  # fmt: skip
            if qat.int8_accuracy > result.int8_accuracy:
                qat_path.replace(tflite_path)
                result = dataclasses.replace(qat, tflite_path=str(tflite_path))
            else:
                qat_path.unlink(missing_ok=True)
        (entry / "ptq.json").write_text(json.dumps({"ptq_accuracy": ptq_accuracy}))
        result_path.write_text(json.dumps(result.to_dict(), indent=1))  # last: marks complete
    path = Path(result.tflite_path)
    if out_path is not None:
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out_path)
        path = out_path
    return dataclasses.replace(
        report,
        int8_accuracy=result.int8_accuracy,
        ptq_accuracy=ptq_accuracy,
        qat=result.qat,
        tflite_path=str(path),
        model_size_bytes=result.size_bytes,
        tflm_arena_bytes=result.tflm_arena_bytes,
    )


def mean_std(values: list[float]) -> dict[str, float]:
    """``{"mean", "std", "n"}`` of ``values`` (population std over the seeds, 0 for one value)."""
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std()), "n": int(a.size)}


def few_label_config(base: Any, n_samples: int, min_steps: int = 300, lr_scale: float = 1.0) -> Any:
    """``base`` (a ``TrainConfig``) adapted to a few labelled samples.

    No validation split (a 1 % share of mnist5k is two samples per class: none can be spared),
    a batch no larger than a quarter of the data, and enough epochs for ``min_steps`` steps.
    """
    from tinylarge.integrate.trainer import epochs_for_steps

    batch_size = max(2, min(base.batch_size, n_samples // 4))
    return base.model_copy(
        update={
            "val_fraction": 0.0,
            "batch_size": batch_size,
            "epochs": epochs_for_steps(n_samples, batch_size, min_steps, base.epochs),
            "lr": base.lr * lr_scale,
        }
    )


@dataclass
class ServerSide:
    """The LargeML side of a few-label experiment: its data, its teacher, and the device's part."""

    server_dataset: Any
    device_idx: np.ndarray  # indices into the full dataset's training part
    teacher: nn.Module
    teacher_report: ModelReport


def server_side(
    dataset: Any,
    server_fraction: float,
    split_seed: int,
    cache: ArtifactCache,
    teacher_spec: ModelSpec | None = None,
    teacher_seed: int = 0,
    progress: bool = False,
) -> ServerSide:
    """Split the training data server/device and train the teacher on the server's part only."""
    server_idx, device_idx = server_device_split(dataset.y_train, server_fraction, split_seed)
    server_ds = with_train_subset(dataset, server_idx)
    teacher, result, spec = train_teacher(
        server_ds, cache, teacher_spec, seed=teacher_seed, progress=progress
    )
    report = describe("teacher", teacher, spec, server_ds, result)
    return ServerSide(server_ds, device_idx, teacher, report)
