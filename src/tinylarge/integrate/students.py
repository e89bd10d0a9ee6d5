"""Train a student and report it as deployed int8: the step distill, transfer and label share.

A :class:`StudentRun` says what a student learns from; :func:`train_student` trains it through
``tinylarge.train.fit`` (or loads it from the cache, keyed by everything the run says), writes it
and finishes it as int8 (:func:`finish_int8`: post-training quantization, QAT when PTQ loses more
than a tolerance; accuracy measured in TFLM, cached by the weights' digest); :func:`compare`
pairs two methods seed by seed.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from tinylarge.models import ModelSpec, count_macs, count_params, save_checkpoint
from tinylarge.train import ArtifactCache, DistillObjective, TrainConfig, TrainResult, fit
from tinylarge.train.cache import array_digest, cache_key, dataset_fingerprint
from tinylarge.train.stats import mean_ci, paired

INT8_RECIPE = "ptq-then-qat-via-fit"  # in the cache key: QAT fine-tunes through train.fit


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


@dataclass
class ModelReport:
    """One trained model: its size and its accuracies (``int8_*`` measured in TFLM).

    ``val_accuracy`` is on the validation split ``fit`` held out of the training data (``None``
    when there was none): the number model and hyper-parameter choices may be made on.
    """

    role: str
    spec: dict[str, Any]
    params: int
    macs: int
    float_accuracy: float
    val_accuracy: float | None = None
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
    role: str,
    model: nn.Module,
    spec: ModelSpec,
    dataset: Any,
    result: TrainResult,
    has_validation: bool = True,
) -> ModelReport:
    """A :class:`ModelReport` of a float model (int8 fields filled by :func:`finish_int8`)."""
    return ModelReport(
        role=role,
        spec=spec.model_dump(mode="json"),
        params=count_params(model),
        macs=count_macs(model, tuple(dataset.info.input_shape)),
        float_accuracy=result.test_accuracy,
        val_accuracy=result.best_val_accuracy if has_validation else None,
        train_time_s=result.train_time_s,
        from_cache=result.from_cache,
    )


@dataclass(frozen=True)
class Int8Recipe:
    """How :func:`finish_int8` quantizes: PTQ, then QAT for ``qat_epochs`` when PTQ loses more
    than ``max_ptq_drop`` (absolute accuracy); ``n_calibration`` training inputs calibrate."""

    max_ptq_drop: float = 0.01
    qat_epochs: int = 2
    n_calibration: int = 300


def finish_int8(
    report: ModelReport,
    model: nn.Module,
    dataset: Any,
    cache: ArtifactCache,
    out_path: str | Path | None = None,
    recipe: Int8Recipe = Int8Recipe(),
    seed: int = 0,
) -> ModelReport:
    """Quantize ``model`` to int8 and fill ``report``'s int8 fields (TFLM accuracy on the test set).

    Post-training quantization first (Jacob et al., CVPR 2018); when it loses more than
    ``recipe.max_ptq_drop`` against the float model, quantization-aware training is tried and kept
    if it is better. Calibration and QAT use ``dataset``'s training part only. The ``.tflite`` is
    copied to ``out_path``.
    """
    from tinylarge.tiny.quantize import QuantizeResult, quantize_and_evaluate

    key = cache_key(
        {
            "pattern": "int8",
            "recipe": INT8_RECIPE,
            "model": model_digest(model),
            "dataset": dataset_fingerprint(dataset),
            **asdict(recipe),
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
        n_cal = recipe.n_calibration
        result = quantize_and_evaluate(model, *args, tflite_path, n_calibration=n_cal, seed=seed)
        ptq_accuracy = result.int8_accuracy
        drop = result.float_accuracy - result.int8_accuracy
        if drop > recipe.max_ptq_drop and recipe.qat_epochs > 0:
            qat_path = entry / "model_int8_qat.tflite"
            qat = quantize_and_evaluate(
                model, *args, qat_path, n_calibration=n_cal, qat=True,
                qat_epochs=recipe.qat_epochs, seed=seed,
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


FIT_VERSION = 2  # in student cache keys: 2 = the one train.fit loop and its best-epoch rule


@dataclass(frozen=True, eq=False)
class StudentRun:
    """One student to train: ``data``'s training part, by ``config``, with ``objective``.

    ``teacher`` is the module an objective that distils reads; ``backbone``'s blocks are copied
    in before training (transfer), and frozen with ``freeze_backbone`` (a linear probe).
    ``tag`` tells apart files of runs with the same role and seed.
    """

    role: str
    data: Any
    config: TrainConfig
    objective: DistillObjective = DistillObjective()
    teacher: nn.Module | None = None
    backbone: nn.Module | None = None
    freeze_backbone: bool = False
    tag: str = ""

    @property
    def name(self) -> str:
        return f"{self.role}{self.tag}_seed{self.config.seed}"

    def key_parts(self) -> dict[str, Any]:
        """Everything the trained weights depend on (the spec and init seed are added later)."""
        return {
            "fit": FIT_VERSION,
            "dataset": dataset_fingerprint(self.data),
            "config": self.config.model_dump(mode="json"),
            "objective": asdict(self.objective),
            "teacher": model_digest(self.teacher) if self.objective.needs_teacher else None,
            "backbone": None if self.backbone is None else model_digest(self.backbone),
            "freeze_backbone": self.freeze_backbone,
        }

    def train(self, model: nn.Module, progress: bool = False) -> TrainResult:
        frozen = None
        if self.backbone is not None:
            model.blocks.load_state_dict(self.backbone.blocks.state_dict())
            frozen = model.blocks if self.freeze_backbone else None
        return fit(
            model, self.data, self.config, objective=self.objective, teacher=self.teacher,
            frozen=frozen, progress=progress, name=self.name,
        )  # fmt: skip


def train_student(
    run: StudentRun,
    spec: ModelSpec,
    cache: ArtifactCache,
    *,
    int8: Int8Recipe | None = Int8Recipe(),
    out_dir: Path | None = None,
    progress: bool = False,
) -> tuple[nn.Module, ModelReport]:
    """Train (or load) ``spec`` as ``run`` says; report it, int8 in TFLM unless ``int8`` is None.

    With ``out_dir``: ``<name>.pt`` (checkpoint) and ``<name>_int8.tflite`` are written there.
    """
    seed = run.config.seed
    model, result = cache.get_or_train(
        run.key_parts(), spec, model_meta(run.data), lambda m: run.train(m, progress), seed=seed
    )
    report = describe(run.role, model, spec, run.data, result, run.config.val_fraction > 0)
    if out_dir is not None:
        save_checkpoint(out_dir / f"{run.name}.pt", model, spec, model_meta(run.data))
    if int8 is not None:
        out_path = out_dir / f"{run.name}_int8.tflite" if out_dir is not None else None
        report = finish_int8(report, model, run.data, cache, out_path, int8, seed)
    return model, report


def train_per_seed(
    seeds: Iterable[int],
    make_runs: Callable[[int], list[StudentRun]],
    spec: ModelSpec,
    cache: ArtifactCache,
    *,
    int8: Int8Recipe | None = Int8Recipe(),
    out_dir: Path | None = None,
    progress: bool = False,
) -> dict[str, list[ModelReport]]:
    """:func:`train_student` for every run ``make_runs(seed)`` gives; reports grouped by role,
    in seed order (so two roles pair up seed by seed)."""
    reports: dict[str, list[ModelReport]] = defaultdict(list)
    for seed in seeds:
        for run in make_runs(seed):
            _, report = train_student(
                run, spec, cache, int8=int8, out_dir=out_dir, progress=progress
            )
            reports[run.role].append(report)
    return reports


def accuracy_ci(reports: list[ModelReport]) -> dict[str, Any]:
    """Mean deployed accuracy over seeds with its 95 % t-interval."""
    return mean_ci([r.accuracy for r in reports]).to_dict()


def compare(a: list[ModelReport], b: list[ModelReport]) -> dict[str, Any]:
    """``a`` minus ``b`` in deployed accuracy, paired by seed: mean, 95 % interval, p-value."""
    return paired([r.accuracy for r in a], [r.accuracy for r in b]).to_dict()
