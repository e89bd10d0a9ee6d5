"""Poisoning attacks for evaluating robust aggregation (issue 15): what a malicious client does to
its data or to the model it sends back. Pure functions on numpy arrays.

- label flipping (Tolpegin et al., ESORICS 2020): train on ``n_classes - 1 - y``;
- sign-flip / scaled model poisoning (the "sign-flipping" attack of Li et al., RSA, AAAI 2019,
  scaled as in Bhagoji et al., ICML 2019): send ``w_g - scale * (w - w_g)`` instead of ``w``;
- a backdoor trigger (BadNets, Gu et al. 2017): a bright square in the image's corner, labelled
  ``target``; its success rate is the share of triggered test images of other classes the global
  model puts in ``target``.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

TRIGGER_PX = 3  # side of the square trigger, in pixels (bottom-right corner)


class Attack(StrEnum):
    NONE = "none"
    LABEL_FLIP = "label-flip"
    SIGN_FLIP = "sign-flip"
    BACKDOOR = "backdoor"


def malicious_clients(training: list[int], fraction: float, seed: int) -> list[int]:
    """``round(fraction * len(training))`` clients drawn without replacement (seeded), sorted."""
    k = round(fraction * len(training))
    rng = np.random.default_rng([seed, 1515])
    return sorted(int(c) for c in rng.choice(training, size=k, replace=False)) if k else []


def flip_labels(y: np.ndarray, n_classes: int) -> np.ndarray:
    return (n_classes - 1 - np.asarray(y)).astype(np.asarray(y).dtype)


def sign_flip(local: list[np.ndarray], global_: list[np.ndarray], scale: float) -> list[np.ndarray]:
    """``w_g - scale * (w - w_g)`` per float array (integer buffers are sent unchanged)."""
    out = []
    for w, g in zip(local, global_, strict=True):
        if np.issubdtype(w.dtype, np.floating):
            out.append((g - scale * (w - g)).astype(w.dtype))
        else:
            out.append(w)
    return out


def add_trigger(x: np.ndarray) -> np.ndarray:
    """A copy of images ``(N, C, H, W)`` with the bottom-right ``TRIGGER_PX`` square set to the
    batch's maximum value (white on MNIST)."""
    x = np.array(x, copy=True)
    if x.ndim != 4:
        raise ValueError(f"a backdoor trigger needs images (N, C, H, W); got shape {x.shape}")
    x[..., -TRIGGER_PX:, -TRIGGER_PX:] = x.max()
    return x


def poison_backdoor(
    x: np.ndarray, y: np.ndarray, target: int, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A client's data with ``fraction`` of its samples (seeded) triggered and relabelled
    ``target``; the rest stay clean, so the model keeps its main-task accuracy."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y), size=max(1, round(fraction * len(y))), replace=False)
    x, y = np.array(x, copy=True), np.array(y, copy=True)
    x[idx] = add_trigger(x[idx])
    y[idx] = target
    return x, y


def backdoor_inputs(
    x_test: np.ndarray, y_test: np.ndarray, target: int
) -> tuple[np.ndarray, np.ndarray]:
    """The test images whose true class is not ``target``, triggered (for the success rate)."""
    keep = np.asarray(y_test) != target
    return add_trigger(x_test[keep]), np.full(int(keep.sum()), target, dtype=np.int64)
