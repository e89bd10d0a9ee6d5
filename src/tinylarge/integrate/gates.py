"""Confidence gates for offloading and early exit, and the threshold calibration they share.

A gate scores each sample (higher = the small model is surer); samples scoring below a threshold go
to the big model. Gates: max softmax probability (Big/LITTLE DNN, Park et al. 2015), top-2 margin,
and negative entropy (BranchyNet, Teerapittayanon et al. 2016), plus a small learned gate: a
logistic regression on the sorted top probabilities and the entropy that predicts whether the small
model is right (in the spirit of learned deferral rules, e.g. Mozannar & Sontag, ICML 2020).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from tinylarge.errors import TinylargeError


class Gate(StrEnum):
    MAX_PROB = "max-prob"
    MARGIN = "margin"
    ENTROPY = "entropy"
    LEARNED = "learned"


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(n, k)`` logits, stable for large values."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def gate_features(probs: np.ndarray) -> np.ndarray:
    """``(n, 4)`` features for the learned gate: top-3 probabilities (sorted) and the entropy."""
    top = np.sort(probs, axis=1)[:, ::-1][:, :3]
    if top.shape[1] < 3:
        top = np.pad(top, ((0, 0), (0, 3 - top.shape[1])))
    p = np.clip(probs, 1e-12, 1.0)
    return np.column_stack([top, -(p * np.log(p)).sum(axis=1)])


class LearnedGate:
    """Logistic regression predicting P(small model correct) from :func:`gate_features`."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, probs: np.ndarray, small_correct: np.ndarray) -> LearnedGate:
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(small_correct, dtype=int)
        if y.min() == y.max():  # one class only: every sample alike, fall back to max-prob
            self.model_ = None
            return self
        self.model_ = LogisticRegression(random_state=self.seed).fit(gate_features(probs), y)
        return self

    def score(self, probs: np.ndarray) -> np.ndarray:
        if self.model_ is None:
            return probs.max(axis=1)
        return self.model_.predict_proba(gate_features(probs))[:, 1]


def confidence(probs: np.ndarray, gate: Gate | str) -> np.ndarray:
    """Per-sample confidence ``(n,)`` of ``(n, k)`` class probabilities under a fixed ``gate``."""
    gate = Gate(gate)
    if gate is Gate.LEARNED:
        raise TinylargeError("the learned gate must be fitted: use LearnedGate(...).fit(...)")
    if gate is Gate.MAX_PROB:
        return probs.max(axis=1)
    if gate is Gate.MARGIN:
        top2 = np.sort(probs, axis=1)[:, -2:]
        return top2[:, 1] - top2[:, 0]
    p = np.clip(probs, 1e-12, 1.0)
    return (p * np.log(p)).sum(axis=1)  # negative entropy: 0 when certain


@dataclass
class OffloadCurve:
    """Accuracy of the combined system for every number of offloaded samples, least sure first.

    ``offload_fraction[i]`` of the inputs (the ``i`` least confident) go to the big model;
    ``thresholds[i]`` is a gate threshold that offloads exactly those (offload if score < t).
    """

    offload_fraction: np.ndarray
    accuracy: np.ndarray
    thresholds: np.ndarray


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
