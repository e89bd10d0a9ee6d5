"""Confidence gates: how sure the device's model is of each answer (higher = surer).

A sample scoring below a calibrated threshold goes on: to the LargeML model (cascade), or through
the rest of the network (early exit). The device applies the gate, so it lives here, below the
device agent (``large``) and the patterns that calibrate it (``integrate.calibration``).

Gates: max softmax probability (Big/LITTLE DNN, Park et al. 2015), top-2 margin, and negative
entropy (BranchyNet, Teerapittayanon et al. 2016), plus a small learned gate: a logistic regression
on the sorted top probabilities and the entropy that predicts whether the small model is right (in
the spirit of learned deferral rules, e.g. Mozannar & Sontag, ICML 2020).
"""

from __future__ import annotations

from collections.abc import Callable
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


GateLike = Gate | LearnedGate | Callable[[np.ndarray], np.ndarray]


def gate_scores(logits: np.ndarray, gate: GateLike) -> np.ndarray:
    """Score ``(n,)`` of each row of ``logits`` ``(n, k)`` under a fixed or fitted gate, or any
    ``logits -> score`` callable (higher = surer)."""
    if not isinstance(gate, Gate | LearnedGate):
        return np.asarray(gate(logits), dtype=np.float64)
    probs = softmax(np.asarray(logits, dtype=np.float64).reshape(len(logits), -1))
    return gate.score(probs) if isinstance(gate, LearnedGate) else confidence(probs, gate)
