"""Statistics of comparisons over seeds: mean, 95 % Student-t interval, paired t-test.

Every headline comparison runs two methods on the same seeds and reports the mean difference, its
t-interval (sample standard deviation) and the two-sided paired t-test p-value; with five seeds a
Wilcoxon test cannot reach p < 0.05 (its smallest p is 2/32). Repeated calibration/evaluation
splits of one test set overlap, so they use the corrected resampled t (Nadeau & Bengio, Machine
Learning 52, 2003): variance of the mean ``s^2 (1/J + n_eval/n_cal)`` for ``J`` splits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95


@dataclass(frozen=True)
class MeanCI:
    """A mean over ``n`` runs with its ``CONFIDENCE`` interval (NaN bounds for one run)."""

    mean: float
    ci_low: float
    ci_high: float
    std: float  # sample standard deviation (ddof=1); 0.0 for one run
    n: int

    @property
    def excludes_zero(self) -> bool:
        return bool(self.ci_low > 0.0 or self.ci_high < 0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scale(values: np.ndarray, test_train_ratio: float | None) -> float:
    """Standard error of the mean (Nadeau-Bengio corrected when ``test_train_ratio`` is given)."""
    n = len(values)
    factor = 1.0 / n if test_train_ratio is None else 1.0 / n + test_train_ratio
    return float(np.std(values, ddof=1) * np.sqrt(factor))


def mean_ci(
    values: list[float] | np.ndarray,
    confidence: float = CONFIDENCE,
    test_train_ratio: float | None = None,
) -> MeanCI:
    """Mean and Student-t interval of ``values`` (one per seed or per split)."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(a.mean())
    if a.size < 2:
        return MeanCI(mean, float("nan"), float("nan"), 0.0, 1)
    half = float(sps.t.ppf(0.5 + confidence / 2, df=a.size - 1)) * _scale(a, test_train_ratio)
    return MeanCI(mean, mean - half, mean + half, float(np.std(a, ddof=1)), int(a.size))


@dataclass(frozen=True)
class Paired:
    """Method ``a`` against method ``b`` run on the same seeds: both means and the difference."""

    a: MeanCI
    b: MeanCI
    difference: MeanCI  # a - b
    p_value: float  # two-sided paired t-test of "no difference"
    test: str

    def to_dict(self) -> dict[str, Any]:
        """The difference (``mean``, ``ci_low``, ``ci_high``, ``std``, ``n``) with its test."""
        return {
            **self.difference.to_dict(),
            "p_value": self.p_value,
            "test": self.test,
            "excludes_zero": self.difference.excludes_zero,
        }


def paired(
    a: list[float] | np.ndarray,
    b: list[float] | np.ndarray,
    confidence: float = CONFIDENCE,
    test_train_ratio: float | None = None,
) -> Paired:
    """Compare paired runs ``a[i]`` and ``b[i]`` (same seed / same split ``i``).

    ``test_train_ratio`` (``n_eval / n_cal``) marks repeated splits of one data set and applies
    the Nadeau-Bengio correction to both the interval and the test.
    """
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"paired runs differ in number: {a_arr.shape} vs {b_arr.shape}")
    diff = a_arr - b_arr
    d = mean_ci(diff, confidence, test_train_ratio)
    if d.n < 2:
        p = float("nan")
    elif d.std == 0.0:  # identical differences: no spread to test against
        p = 1.0 if d.mean == 0.0 else 0.0
    else:
        t = d.mean / _scale(diff, test_train_ratio)
        p = float(2 * sps.t.sf(abs(t), df=d.n - 1))
    test = "paired t" if test_train_ratio is None else "corrected resampled t (Nadeau-Bengio)"
    return Paired(
        mean_ci(a_arr, confidence, test_train_ratio),
        mean_ci(b_arr, confidence, test_train_ratio),
        d,
        p,
        test,
    )


def format_ci(m: MeanCI | dict[str, Any], scale: float = 100.0, unit: str = "%") -> str:
    """``"97.83% [97.61, 98.05]"``: a mean and its interval, for tables and the CLI."""
    m = m if isinstance(m, dict) else m.to_dict()
    if m["n"] < 2:
        return f"{scale * m['mean']:.2f}{unit}"
    return f"{scale * m['mean']:.2f}{unit} [{scale * m['ci_low']:.2f}, {scale * m['ci_high']:.2f}]"
