"""Risk-controlling gate thresholds: Learn then Test with exact binomial p-values.

A gate offloads a sample when its score is below a threshold ``t``. Each candidate ``t`` is a
hypothesis ``H_t: R(t) > alpha`` about a risk ``R`` that is a mean of per-sample 0/1 losses, tested
on ``n`` calibration samples with the exact binomial p-value ``P(Binom(n, alpha) <= k)`` (``k``
losses observed); the hypotheses are tested in a fixed sequence from the safe end and the first
that cannot be rejected stops it (Angelopoulos, Bates, Candes, Jordan, Lei, "Learn then Test",
2021, fixed-sequence testing). Because every loss here is monotone in ``t`` the family-wise error
is the chance of rejecting the one boundary hypothesis, at most ``delta``: the chosen threshold has
``R(t) <= alpha`` with probability at least ``1 - delta`` over the calibration draw (the same
argument as risk-controlling prediction sets, Bates et al., JACM 2021). The bound reported is the
one-sided Clopper-Pearson upper limit at the chosen threshold.

Risks (per sample, for the samples a threshold keeps local or sends on):

- ``accuracy-drop``: kept local, the local model wrong and the further one right. Its mean bounds
  the accuracy drop against the further model alone from above (the drop also subtracts the kept
  samples the local model gets right and the further one wrong), so a certified bound on it
  certifies the drop. Offloading everything has no loss at all: when nothing can be certified the
  calibration falls back to ``t = +inf``.
- ``offload``: sent on. Offloading nothing has no loss; the threshold certified is the one
  offloading most.

Pure functions over arrays; exact tails come from ``scipy.stats``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from scipy import stats as sps


class Risk(StrEnum):
    ACCURACY_DROP = "accuracy-drop"
    OFFLOAD = "offload"


def binomial_p_value(n_loss: int | np.ndarray, n: int, alpha: float) -> np.ndarray:
    """Exact p-value of ``H0: risk > alpha`` after ``n_loss`` losses in ``n`` Bernoulli draws:
    ``P(Binom(n, alpha) <= n_loss)`` (valid: the tail only grows as the risk falls to alpha)."""
    return np.asarray(sps.binom.cdf(n_loss, n, alpha), dtype=np.float64)


def upper_bound(n_loss: int, n: int, delta: float) -> float:
    """One-sided ``1 - delta`` Clopper-Pearson upper confidence limit of a Bernoulli risk:
    the ``alpha`` at which :func:`binomial_p_value` equals ``delta`` (1 with every draw a loss)."""
    if n_loss >= n:
        return 1.0
    return float(sps.beta.ppf(1.0 - delta, n_loss + 1, n - n_loss))


def fixed_sequence(p_values: np.ndarray, delta: float) -> int:
    """How many leading hypotheses fixed-sequence testing rejects at level ``delta``: it walks
    ``p_values`` in order and stops at the first above ``delta`` (family-wise error <= delta)."""
    above = np.flatnonzero(np.asarray(p_values) > delta)
    return int(above[0]) if len(above) else len(p_values)


@dataclass(frozen=True)
class Certified:
    """A calibrated threshold and what it certifies: ``risk <= level`` with probability at least
    ``1 - delta`` over the calibration draw; ``upper_bound`` is the Clopper-Pearson limit at the
    threshold (0 when the threshold is safe by construction), ``empirical`` the calibration
    data's own value, ``n`` the calibration samples the test used."""

    threshold: float
    risk: str
    level: float
    delta: float
    upper_bound: float
    empirical: float
    n: int
    fallback: bool  # nothing could be certified: the safe end was chosen (offload all / none)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def certify_threshold(
    score: np.ndarray,
    small_correct: np.ndarray,
    big_correct: np.ndarray,
    risk: Risk | str,
    level: float,
    delta: float,
) -> Certified:
    """The threshold (offload if ``score < t``) that Learn then Test certifies for ``risk`` at
    ``level`` with error ``delta``, from calibration scores ``(n,)`` and per-sample correctness of
    the local (``small_correct``) and further (``big_correct``) models.

    ``accuracy-drop`` returns the least offloading certified (``+inf``: offload all, if none is);
    ``offload`` the most offloading certified (``-inf``: offload none, if none is).
    """
    risk = Risk(risk)
    n = len(score)
    order = np.argsort(score, kind="stable")
    s = np.asarray(score, dtype=np.float64)[order]
    # candidate i offloads the i least confident samples; only cuts between distinct scores
    # can be realised by a threshold, so ties move together
    cut = np.concatenate([[True], s[1:] > s[:-1], [True]])
    thresholds = np.concatenate([[-np.inf], (s[:-1] + s[1:]) / 2, [np.inf]])
    if risk is Risk.ACCURACY_DROP:
        bad = (~np.asarray(small_correct, bool) & np.asarray(big_correct, bool))[order]
        losses = np.concatenate([np.cumsum(bad[::-1])[::-1], [0]])  # kept = [i, n)
        walk = np.flatnonzero(cut)[::-1]  # from offloading everything down
        safe = np.inf
    else:
        losses = np.arange(n + 1)  # offloaded = [0, i)
        walk = np.flatnonzero(cut)  # from offloading nothing up
        safe = -np.inf
    p = binomial_p_value(losses[walk], n, level)
    n_ok = fixed_sequence(p, delta)
    if n_ok == 0:
        return Certified(safe, str(risk), level, delta, 0.0, 0.0, n, True)
    i = int(walk[n_ok - 1])
    threshold = float(thresholds[i]) if 0 < i < n else (-np.inf if i == 0 else np.inf)
    k = int(losses[i])
    return Certified(threshold, str(risk), level, delta, upper_bound(k, n, delta), k / n, n, False)


def min_samples(level: float, delta: float) -> int:
    """The fewest calibration samples with which any threshold can be certified at ``level``:
    even with no loss observed, ``(1 - level)^n <= delta`` needs ``n >= ln(delta)/ln(1-level)``."""
    return int(np.ceil(np.log(delta) / np.log1p(-level)))
