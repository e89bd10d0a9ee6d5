"""Threshold calibration for the confidence gates, shared by the cascade and early exit.

Both patterns have a *local* answer (the device's int8 student, or the side exit) and a *further*
one (the LargeML model, or the final exit); a gate (:mod:`tinylarge.tiny.gates`) scores the local
answer and samples scoring below a threshold go further. The threshold is calibrated on a seeded
part of the held-out data and every reported number is measured on the rest, so the operating
point is honest; this is repeated over ``n_splits`` seeded splits, and the comparisons (system vs
the further model, system vs the local one) carry 95 % intervals and paired tests corrected for
the overlap of repeated splits (:mod:`tinylarge.train.stats`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tinylarge.errors import TinylargeError
from tinylarge.tiny.gates import Gate, LearnedGate, gate_scores, softmax
from tinylarge.train.stats import mean_ci, paired


class GateCalibration(BaseModel):
    """How to calibrate a gate: exactly one of ``max_accuracy_drop`` (vs the further model alone,
    as a fraction: 0.002 = 0.2 points) or ``offload_budget`` (fraction of inputs sent further)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gate: Gate = Gate.MAX_PROB
    max_accuracy_drop: float | None = Field(0.002, ge=0.0, le=1.0)
    offload_budget: float | None = Field(None, ge=0.0, le=1.0)
    calibration_fraction: float = Field(0.5, gt=0.0, lt=1.0)
    seed: int = Field(0, description="seed of the first calibration/evaluation split")
    n_splits: int = Field(5, ge=1, description="repeated calibration/evaluation splits")

    @model_validator(mode="before")
    @classmethod
    def _one_target(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("offload_budget") is not None:  # a budget replaces the accuracy target
            return {**data, "max_accuracy_drop": None}
        if "max_accuracy_drop" in data and data["max_accuracy_drop"] is None:
            raise ValueError("set max_accuracy_drop or offload_budget")
        return data


@dataclass
class OffloadCurve:
    """Accuracy of the combined system for every number of offloaded samples, least sure first.

    ``offload_fraction[i]`` of the inputs (the ``i`` least confident) go further;
    ``thresholds[i]`` is a gate threshold that offloads exactly those (offload if score < t).
    """

    offload_fraction: np.ndarray
    accuracy: np.ndarray
    thresholds: np.ndarray

    def points(self, max_points: int = 200) -> list[dict[str, float]]:
        """At most about ``max_points`` ``{"offload_fraction", "accuracy"}`` rows, to store."""
        step = max(1, (len(self.accuracy) - 1) // max_points)
        return [
            {"offload_fraction": float(f), "accuracy": float(a)}
            for f, a in zip(self.offload_fraction[::step], self.accuracy[::step], strict=True)
        ]


def offload_curve(
    score: np.ndarray, small_correct: np.ndarray, big_correct: np.ndarray
) -> OffloadCurve:
    """Every operating point of a cascade, in one pass (sort by score, prefix sums)."""
    n = len(score)
    order = np.argsort(score, kind="stable")
    s, small, big = score[order], small_correct[order], big_correct[order]
    # offloading the first i samples: big answers [0, i), small answers [i, n)
    big_prefix = np.concatenate([[0], np.cumsum(big)])
    small_suffix = np.concatenate([np.cumsum(small[::-1])[::-1], [0]])
    accuracy = (big_prefix + small_suffix) / n
    # a threshold between s[i-1] and s[i] offloads exactly i samples (ties move together)
    thresholds = np.concatenate([[-np.inf], (s[:-1] + s[1:]) / 2, [np.inf]])
    return OffloadCurve(np.arange(n + 1) / n, accuracy, thresholds)


def calibrate_threshold(
    curve: OffloadCurve,
    target_accuracy: float | None = None,
    offload_budget: float | None = None,
) -> float:
    """The threshold meeting a target: the least offloading that reaches ``target_accuracy``, or
    the most accurate point offloading at most ``offload_budget`` of the inputs."""
    if (target_accuracy is None) == (offload_budget is None):
        raise TinylargeError("give exactly one of target_accuracy or offload_budget")
    if target_accuracy is not None:
        ok = np.flatnonzero(curve.accuracy >= target_accuracy)
        i = int(ok[0]) if len(ok) else int(np.argmax(curve.accuracy))
    else:
        if not 0.0 <= offload_budget <= 1.0:  # type: ignore[operator]
            raise TinylargeError(f"offload_budget must be in [0, 1], got {offload_budget}")
        allowed = np.flatnonzero(curve.offload_fraction <= offload_budget)
        i = int(allowed[np.argmax(curve.accuracy[allowed])])
    return float(curve.thresholds[i])


@dataclass
class OperatingPoint:
    """One calibration/evaluation split: the threshold (from the calibration part) and what it
    gives on the evaluation part. ``offload_fraction``: share of inputs sent further."""

    seed: int
    threshold: float
    offload_fraction: float
    accuracy: float
    small_accuracy: float
    big_accuracy: float
    n_calibration: int
    n_eval: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibrate_split(
    small_logits: np.ndarray, y: np.ndarray, big_correct: np.ndarray, config: GateCalibration,
    seed: int,
) -> tuple[OperatingPoint, OffloadCurve]:  # fmt: skip
    """Calibrate on one seeded part of the data, evaluate on the rest; also the evaluation part's
    whole accuracy/offload curve. ``small_logits`` ``(n, k)``: the local model's outputs."""
    n = len(y)
    logits = small_logits.reshape(n, -1).astype(np.float64)
    order = np.random.default_rng(seed).permutation(n)
    n_cal = int(round(config.calibration_fraction * n))
    cal, ev = order[:n_cal], order[n_cal:]
    small_ok = logits.argmax(1) == y
    big_ok = np.asarray(big_correct, dtype=bool)
    gate = config.gate
    if gate is Gate.LEARNED:  # fitted on the calibration part only
        gate = LearnedGate(seed).fit(softmax(logits[cal]), small_ok[cal])
    score = gate_scores(logits, gate)
    target = None
    if config.max_accuracy_drop is not None:
        target = float(big_ok[cal].mean()) - config.max_accuracy_drop
    threshold = calibrate_threshold(
        offload_curve(score[cal], small_ok[cal], big_ok[cal]), target, config.offload_budget
    )
    further = score[ev] < threshold
    point = OperatingPoint(
        seed=seed,
        threshold=threshold,
        offload_fraction=float(further.mean()),
        accuracy=float(np.where(further, big_ok[ev], small_ok[ev]).mean()),
        small_accuracy=float(small_ok[ev].mean()),
        big_accuracy=float(big_ok[ev].mean()),
        n_calibration=len(cal),
        n_eval=len(ev),
    )
    return point, offload_curve(score[ev], small_ok[ev], big_ok[ev])


def calibrate_gate(
    small_logits: np.ndarray, y: np.ndarray, big_correct: np.ndarray, config: GateCalibration,
    local: str, further: str,
) -> tuple[list[OperatingPoint], OffloadCurve, dict[str, Any]]:  # fmt: skip
    """:func:`calibrate_split` for seeds ``seed .. seed + n_splits - 1``: every split's point, the
    first split's evaluation curve (its threshold is the one to deploy) and a summary: means and
    95 % intervals over the splits, and the system paired with the ``further`` model alone and
    with the ``local`` one alone (``vs_<name>``), corrected for the overlap of the splits."""
    runs = [
        calibrate_split(small_logits, y, big_correct, config, config.seed + i)
        for i in range(config.n_splits)
    ]
    points = [p for p, _ in runs]
    ratio = points[0].n_eval / max(points[0].n_calibration, 1)
    acc = [p.accuracy for p in points]
    offload = [p.offload_fraction for p in points]
    summary = {
        "n_splits": len(points),
        "accuracy": mean_ci(acc, test_train_ratio=ratio).to_dict(),
        "offload_fraction": mean_ci(offload, test_train_ratio=ratio).to_dict(),
        f"vs_{further}": paired(acc, [p.big_accuracy for p in points], test_train_ratio=ratio),
        f"vs_{local}": paired(acc, [p.small_accuracy for p in points], test_train_ratio=ratio),
    }
    for name in (f"vs_{further}", f"vs_{local}"):
        summary[name] = summary[name].to_dict()
    return points, runs[0][1], summary
