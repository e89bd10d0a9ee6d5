"""Threshold calibration for the confidence gates, shared by the cascade, early exit and the fleet
simulator's cascade policy.

Both patterns have a *local* answer (the device's int8 student, or the side exit) and a *further*
one (the LargeML model, or the final exit); a gate (:mod:`tinylarge.tiny.gates`) scores the local
answer and samples scoring below a threshold go further. :func:`choose_threshold` is the one rule:
by default Learn then Test (:mod:`tinylarge.integrate.risk_control`), which certifies the risk
(accuracy drop vs the further model, or the offload share) at ``level`` with probability
``1 - delta`` over the calibration draw; ``method="point"`` is the older point estimate (the least
offloading whose calibration accuracy meets the target), kept for comparison.

The patterns calibrate on the validation split their models' training held out and report on the
test set (:func:`calibrate_on_validation`); without validation data, :func:`calibrate_gate`
calibrates on a seeded part of the test set and reports on the rest, repeated over ``n_splits``
splits with 95 % intervals corrected for their overlap (:mod:`tinylarge.train.stats`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tinylarge.errors import TinylargeError
from tinylarge.integrate.risk_control import Certified, Risk, certify_threshold
from tinylarge.tiny.gates import Gate, LearnedGate, gate_scores, softmax
from tinylarge.train.stats import mean_ci, paired


class Method(StrEnum):
    RISK_CONTROL = "risk-control"  # Learn then Test: certified with probability 1 - delta
    POINT = "point"  # the calibration data's own best point, no guarantee


class GateCalibration(BaseModel):
    """How to calibrate a gate: exactly one of ``max_accuracy_drop`` (vs the further model alone,
    as a fraction: 0.002 = 0.2 points) or ``offload_budget`` (fraction of inputs sent further),
    certified with probability ``1 - delta`` (``method="risk-control"``) or met on the
    calibration data only (``method="point"``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gate: Gate = Gate.MAX_PROB
    max_accuracy_drop: float | None = Field(0.002, ge=0.0, le=1.0)
    offload_budget: float | None = Field(None, ge=0.0, le=1.0)
    method: Method = Method.RISK_CONTROL
    delta: float = Field(0.1, gt=0.0, lt=1.0, description="allowed chance the risk exceeds it")
    calibration_fraction: float = Field(0.5, gt=0.0, lt=1.0)
    seed: int = Field(
        0, description="training seed whose held-out rows calibrate (else: first test split)"
    )
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

    @property
    def risk(self) -> Risk:
        return Risk.ACCURACY_DROP if self.offload_budget is None else Risk.OFFLOAD

    @property
    def level(self) -> float:
        return self.max_accuracy_drop if self.offload_budget is None else self.offload_budget


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


def choose_threshold(
    score: np.ndarray, small_correct: np.ndarray, big_correct: np.ndarray, config: GateCalibration
) -> Certified:
    """The one calibration rule: the threshold (offload if ``score < t``) for ``config``'s risk
    and level from calibration scores ``(n,)`` and per-sample correctness of both models."""
    small_ok, big_ok = np.asarray(small_correct, bool), np.asarray(big_correct, bool)
    risk, level, n = config.risk, config.level, len(score)
    if config.method is Method.RISK_CONTROL:
        return certify_threshold(score, small_ok, big_ok, risk, level, config.delta)
    target = float(big_ok.mean()) - level if risk is Risk.ACCURACY_DROP else None
    budget = level if risk is Risk.OFFLOAD else None
    t = calibrate_threshold(offload_curve(score, small_ok, big_ok), target, budget)
    further = score < t
    if risk is Risk.ACCURACY_DROP:
        empirical = float(big_ok.mean() - np.where(further, big_ok, small_ok).mean())
    else:
        empirical = float(further.mean())
    return Certified(t, str(risk), level, None, None, empirical, n, False)


def gate_on(
    logits: np.ndarray, small_ok: np.ndarray, cal: np.ndarray, config: GateCalibration, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(n,)`` of every row of ``logits`` under ``config.gate`` and the calibration rows
    the threshold may be chosen on. The learned gate is fitted on calibration rows: under risk
    control on a seeded half of them, certified on the other half (a test on the data the gate
    was fitted to would not be valid); the point method fits and calibrates on all of them."""
    gate = config.gate
    if gate is not Gate.LEARNED:
        return gate_scores(logits, gate), cal
    fit_rows, rest = cal, cal
    if config.method is Method.RISK_CONTROL:
        shuffled = np.random.default_rng(seed).permutation(cal)
        fit_rows, rest = np.sort(shuffled[: len(cal) // 2]), np.sort(shuffled[len(cal) // 2 :])
    learned = LearnedGate(seed).fit(softmax(logits[fit_rows]), small_ok[fit_rows])
    return gate_scores(logits, learned), rest


@dataclass
class OperatingPoint:
    """A threshold chosen on calibration rows and what it gives on evaluation rows.
    ``offload_fraction``: share of inputs sent further; ``certified``: what the calibration
    certifies (:class:`~tinylarge.integrate.risk_control.Certified`, ``delta`` ``None`` for the
    point method); ``accuracy_gap_vs_large``: accuracy minus the further model's alone."""

    seed: int
    threshold: float
    offload_fraction: float
    accuracy: float
    small_accuracy: float
    big_accuracy: float
    n_calibration: int
    n_eval: int
    certified: dict[str, Any] | None = None
    accuracy_gap_vs_large: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibrate_rows(
    small_logits: np.ndarray, y: np.ndarray, big_correct: np.ndarray, cal: np.ndarray,
    ev: np.ndarray, config: GateCalibration, seed: int,
) -> tuple[OperatingPoint, OffloadCurve]:  # fmt: skip
    """Calibrate on rows ``cal``, evaluate on rows ``ev``; also the evaluation rows' whole
    accuracy/offload curve. ``small_logits`` ``(n, k)``: the local model's outputs."""
    point, curve, _, _ = _calibrate_rows(small_logits, y, big_correct, cal, ev, config, seed)
    return point, curve


def _calibrate_rows(
    small_logits: np.ndarray, y: np.ndarray, big_correct: np.ndarray, cal: np.ndarray,
    ev: np.ndarray, config: GateCalibration, seed: int,
) -> tuple[OperatingPoint, OffloadCurve, np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`calibrate_rows` plus, per evaluation row, whether it went further and whether the
    system was right."""
    n = len(y)
    logits = small_logits.reshape(n, -1).astype(np.float64)
    small_ok = logits.argmax(1) == y
    big_ok = np.asarray(big_correct, dtype=bool)
    score, rows = gate_on(logits, small_ok, cal, config, seed)
    chosen = choose_threshold(score[rows], small_ok[rows], big_ok[rows], config)
    further = score[ev] < chosen.threshold
    system_ok = np.where(further, big_ok[ev], small_ok[ev])
    accuracy = float(system_ok.mean())
    point = OperatingPoint(
        seed=seed,
        threshold=chosen.threshold,
        offload_fraction=float(further.mean()),
        accuracy=accuracy,
        small_accuracy=float(small_ok[ev].mean()),
        big_accuracy=float(big_ok[ev].mean()),
        n_calibration=len(cal),
        n_eval=len(ev),
        certified=chosen.to_dict(),
        accuracy_gap_vs_large=accuracy - float(big_ok[ev].mean()),
    )
    curve = offload_curve(score[ev], small_ok[ev], big_ok[ev])
    return point, curve, further, system_ok


def calibrate_split(
    small_logits: np.ndarray, y: np.ndarray, big_correct: np.ndarray, config: GateCalibration,
    seed: int,
) -> tuple[OperatingPoint, OffloadCurve]:  # fmt: skip
    """:func:`calibrate_rows` on one seeded ``calibration_fraction`` of the rows, evaluated on
    the rest."""
    n = len(y)
    order = np.random.default_rng(seed).permutation(n)
    n_cal = int(round(config.calibration_fraction * n))
    return calibrate_rows(small_logits, y, big_correct, order[:n_cal], order[n_cal:], config, seed)


def calibrate_on_validation(
    val: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: GateCalibration,
    local: str,
    further: str,
) -> tuple[OperatingPoint, OffloadCurve, dict[str, Any]]:
    """Calibrate on validation ``(small_logits, y, big_correct)``, report on the test set: the
    operating point, the test curve and a summary with 95 % intervals over the test samples
    (accuracy, offload share, the system paired sample by sample with the ``further`` model
    alone and with the ``local`` one, ``vs_<name>``)."""
    n_val = len(val[1])
    logits = np.concatenate([v.reshape(len(v), -1) for v in (val[0], test[0])])
    y, big_ok = np.concatenate([val[1], test[1]]), np.concatenate([val[2], test[2]])
    rows = np.arange(len(y))
    cal, ev = rows[:n_val], rows[n_val:]
    point, curve, sent, ok = _calibrate_rows(logits, y, big_ok, cal, ev, config, config.seed)
    system_ok, small_ok = ok.astype(float), (logits[ev].argmax(1) == y[ev]).astype(float)
    summary = {
        "calibrated_on": "validation",
        "n_splits": 1,
        "certified": point.certified,
        "accuracy": mean_ci(system_ok).to_dict(),
        "offload_fraction": mean_ci(sent.astype(float)).to_dict(),
        f"vs_{further}": paired(system_ok, big_ok[ev].astype(float)).to_dict(),
        f"vs_{local}": paired(system_ok, small_ok).to_dict(),
    }
    return point, curve, summary


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
        "calibrated_on": "test-splits",
        "n_splits": len(points),
        "certified": points[0].certified,
        "accuracy": mean_ci(acc, test_train_ratio=ratio).to_dict(),
        "offload_fraction": mean_ci(offload, test_train_ratio=ratio).to_dict(),
        f"vs_{further}": paired(acc, [p.big_accuracy for p in points], test_train_ratio=ratio),
        f"vs_{local}": paired(acc, [p.small_accuracy for p in points], test_train_ratio=ratio),
    }
    for name in (f"vs_{further}", f"vs_{local}"):
        summary[name] = summary[name].to_dict()
    return points, runs[0][1], summary
