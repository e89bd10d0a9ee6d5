"""The simulated fleet's update path: real signed bundles, real slots, staged rollouts.

Each device holds :class:`tinylarge.secure.slots.UpdateSlots` inside a
:class:`tinylarge.large.updater.DeviceUpdater` (verify the Ed25519 bundle, self-test on labelled
probe samples, trial, confirm or revert); the LargeML side drives
:class:`tinylarge.secure.rollout.Rollout` (canaries, then everyone, or roll back) with the reports
the devices send. Only the clock is simulated.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from statistics import median

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinylarge.large.updater import DeviceUpdater
from tinylarge.secure.bundle import sign_bundle
from tinylarge.secure.keys import key_id
from tinylarge.secure.rollout import DeviceReport, Phase, Rollout, RolloutPolicy
from tinylarge.secure.slots import UpdateSlots
from tinylarge.tiny.runtime import LiteRtRuntime


class RuntimePool:
    """One LiteRT interpreter (reference kernels, the TFLM-like path) per distinct ``.tflite``:
    a thousand devices running the same image share it."""

    def __init__(self) -> None:
        self._by_sha: dict[str, LiteRtRuntime] = {}

    def __call__(self, model: bytes) -> LiteRtRuntime:
        sha = hashlib.sha256(model).hexdigest()
        if sha not in self._by_sha:
            self._by_sha[sha] = LiteRtRuntime(model, reference=True)
        return self._by_sha[sha]


@dataclass
class Device:
    """One simulated device: its type (``group``), drift, battery and update machinery."""

    device_id: str
    group: str
    drifts: bool
    battery: float
    updater: DeviceUpdater
    failed: set[int] = field(default_factory=set)
    stats: dict[int, list] = field(default_factory=dict)  # version -> [n, n_correct, latencies]

    @property
    def version(self) -> int:
        return int(self.updater.version or 0)

    def record(self, version: int, correct: np.ndarray, latency_s: np.ndarray) -> None:
        s = self.stats.setdefault(version, [0, 0, []])
        s[0] += len(correct)
        s[1] += int(np.sum(correct))
        s[2].extend(float(v) for v in latency_s)

    def report(self, version: int, failed: bool = False, detail: str = "") -> DeviceReport:
        n, n_correct, lat = self.stats.get(version, [0, 0, []])
        return DeviceReport(
            device_id=self.device_id,
            version=version,
            n_samples=n,
            n_correct=n_correct,
            latency_s=median(lat) if lat else 0.0,
            failed=failed,
            detail=detail,
            device_type=self.group,
        )


def sign_for(
    model: bytes, key: Ed25519PrivateKey, version: int, targets: list[str]
) -> dict[str, bytes]:
    """One signed bundle of ``model`` per device type (the manifest names its target)."""
    return {
        t: sign_bundle(model, key, version=version, target=t, created_at_s=0)
        for t in sorted(set(targets))
    }


def provision(
    device_id: str,
    group: str,
    bundle: bytes,
    key: Ed25519PrivateKey,
    runtimes: RuntimePool,
    probe: tuple[np.ndarray, np.ndarray],
    trial_window_s: float,
    trial_samples: int,
    clock,
    min_accuracy: float,
) -> DeviceUpdater:
    """A device leaving the factory: slots that trust ``key``, the first bundle confirmed."""
    slots = UpdateSlots({key_id(key.public_key()): key.public_key()}, group)
    slots.trial_window_s = trial_window_s
    image = slots.stage(bundle, 0.0)
    slots.confirm(0.0)
    return DeviceUpdater(
        slots,
        runtimes(image.model),
        runtimes,
        probe[0],
        probe[1],
        min_accuracy=min_accuracy,
        trial_samples=trial_samples,
        clock=clock,
    )


def start_rollout(
    name: str, from_version: int, to_version: int, policy: RolloutPolicy, device_ids: list[str]
) -> Rollout:
    """A rollout whose hash-chosen canaries include at least ``policy.min_canary_reports``
    devices and leave some for the second phase (small fleets: the rollout id gets a suffix until
    they do; deterministic). A fleet no larger than that minimum is all canaries."""
    need = min(policy.min_canary_reports, len(device_ids))
    for k in range(1000):
        rollout_id = f"{name}-v{to_version}" + (f"-{k}" if k else "")
        rollout = Rollout(rollout_id, from_version, to_version, policy)
        n_canaries = sum(rollout.is_canary(d) for d in device_ids)
        if need <= n_canaries < len(device_ids) or n_canaries == need == len(device_ids):
            return rollout
    return rollout


def is_open(rollout: Rollout | None) -> bool:
    return rollout is not None and rollout.phase is Phase.CANARY


@dataclass
class Lineage:
    """One student's line of model versions and its rollouts, over the device types that run
    it (a scenario with ``students`` has one per distinct student; versions are numbered across
    the run, so a version number names one model)."""

    name: str
    groups: list[str]
    spec: object
    fleet_version: int
    threshold: float
    rollout: Rollout | None = None
    closed: bool = True
    update_no: int = 0  # the run's update count when this line's current rollout started
    new_since_update: int = 0
    history: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "devices": self.groups,
            "first_version": self.history[0],
            "final_version": self.fleet_version,
            "versions": self.history,
            "threshold": self.threshold,
        }
