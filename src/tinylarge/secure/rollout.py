"""Staged over-the-air rollout: canaries first, then everyone, or back when the canaries regress.

A pure state machine (no clock, no I/O, JSON-serialisable), so the live service stores it in its
registry and the fleet simulator drives the same object with simulated reports.

- Canaries are chosen by hashing ``rollout_id:device_id`` into [0, 1): stable across restarts
  and hosts, about ``canary_fraction`` of any fleet, and unpredictable to a device that does not
  know the rollout id in advance (the selection of canary testing in Google's and Meta's release
  processes; Flagger/Argo do the same by traffic weight).
- Devices report per version: samples seen, correct answers (labelled feedback), median latency
  and whether the update failed on the device (refused or reverted by its self-test).
- :meth:`Rollout.decide` compares the canaries on the new version with every report on the old
  one: roll back if the canaries' failure share, accuracy drop (points) or latency ratio passes
  its threshold (latency within each device type: a canary on a fast core against a baseline on
  a slow one would say nothing about the model); promote to the whole fleet once
  ``min_canary_reports`` canaries reported healthy. A rolled-back rollout sends everyone
  (canaries included) the old version again.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from statistics import median

from pydantic import BaseModel, ConfigDict, Field


class Phase(StrEnum):
    CANARY = "canary"
    FULL = "full"
    ROLLED_BACK = "rolled_back"


class RolloutPolicy(BaseModel):
    """Thresholds of one rollout (accuracy in [0, 1] points, latency as a ratio)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    canary_fraction: float = Field(0.1, gt=0.0, le=1.0)
    min_canary_reports: int = Field(3, ge=1, description="healthy canaries needed to promote")
    min_canary_samples: int = Field(20, ge=1, description="samples a canary report must cover")
    max_accuracy_drop: float = Field(0.05, ge=0.0, le=1.0)
    max_latency_ratio: float = Field(1.5, ge=1.0)
    max_failure_fraction: float = Field(0.0, ge=0.0, le=1.0, description="refused or reverted")


@dataclass(frozen=True)
class DeviceReport:
    """What one device saw on one version since it started running it."""

    device_id: str
    version: int
    n_samples: int = 0
    n_correct: int = 0
    latency_s: float = 0.0  # median end-to-end latency over those samples
    failed: bool = False  # the update was refused or reverted on the device
    detail: str = ""
    device_type: str = ""  # latency is compared only between reports of the same type


def canary_score(rollout_id: str, device_id: str) -> float:
    """A device's stable position in [0, 1) for ``rollout_id`` (first 8 bytes of SHA-256)."""
    digest = hashlib.sha256(f"{rollout_id}:{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class Rollout:
    """One rollout from ``from_version`` to ``to_version``; see the module docstring."""

    rollout_id: str
    from_version: int
    to_version: int
    policy: RolloutPolicy = field(default_factory=RolloutPolicy)
    phase: Phase = Phase.CANARY
    reason: str = ""
    reports: dict[str, DeviceReport] = field(default_factory=dict)  # key: f"{device}@{version}"

    def is_canary(self, device_id: str) -> bool:
        return canary_score(self.rollout_id, device_id) < self.policy.canary_fraction

    def target_version(self, device_id: str) -> int:
        """The version ``device_id`` should run now."""
        if self.phase is Phase.FULL:
            return self.to_version
        if self.phase is Phase.CANARY and self.is_canary(device_id):
            return self.to_version
        return self.from_version

    def report(self, report: DeviceReport) -> Phase:
        """Record ``report`` (the latest per device and version wins) and :meth:`decide`."""
        self.reports[f"{report.device_id}@{report.version}"] = report
        return self.decide()

    def _on(self, version: int, canaries_only: bool = False) -> list[DeviceReport]:
        return [
            r
            for r in self.reports.values()
            if r.version == version and (not canaries_only or self.is_canary(r.device_id))
        ]

    def decide(self) -> Phase:
        """Apply the policy to the reports so far; only the canary phase ever changes."""
        if self.phase is not Phase.CANARY:
            return self.phase
        p = self.policy
        canary = self._on(self.to_version, canaries_only=True)
        failed = [r for r in canary if r.failed]
        if canary and len(failed) / len(canary) > p.max_failure_fraction:
            details = "; ".join(f"{r.device_id}: {r.detail}" for r in failed[:3])
            return self._roll_back(f"{len(failed)}/{len(canary)} canaries failed ({details})")
        healthy = [r for r in canary if not r.failed and r.n_samples >= p.min_canary_samples]
        baseline = [r for r in self._on(self.from_version) if not r.failed and r.n_samples > 0]
        if healthy and baseline:
            acc_new = _accuracy(healthy)
            acc_old = _accuracy(baseline)
            if acc_old - acc_new > p.max_accuracy_drop:
                return self._roll_back(
                    f"canary accuracy {acc_new:.3f} vs {acc_old:.3f} on version "
                    f"{self.from_version} (drop > {p.max_accuracy_drop:g})"
                )
            for kind in sorted({r.device_type for r in healthy}):
                lat_new = median(r.latency_s for r in healthy if r.device_type == kind)
                old = [r.latency_s for r in baseline if r.device_type == kind]
                lat_old = median(old) if old else 0.0
                if lat_old > 0 and lat_new / lat_old > p.max_latency_ratio:
                    on = f" on {kind}" if kind else ""
                    return self._roll_back(
                        f"canary latency{on} {lat_new * 1e3:.2f} ms vs {lat_old * 1e3:.2f} ms "
                        f"(ratio > {p.max_latency_ratio:g})"
                    )
        if len(healthy) >= p.min_canary_reports and baseline:
            self.phase = Phase.FULL
            self.reason = f"{len(healthy)} healthy canaries"
        return self.phase

    def _roll_back(self, reason: str) -> Phase:
        self.phase, self.reason = Phase.ROLLED_BACK, reason
        return self.phase

    def to_dict(self) -> dict:
        return {
            "rollout_id": self.rollout_id,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "policy": self.policy.model_dump(),
            "phase": self.phase.value,
            "reason": self.reason,
            "reports": [asdict(r) for r in self.reports.values()],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Rollout:
        rollout = cls(
            rollout_id=data["rollout_id"],
            from_version=data["from_version"],
            to_version=data["to_version"],
            policy=RolloutPolicy.model_validate(data["policy"]),
            phase=Phase(data["phase"]),
            reason=data.get("reason", ""),
        )
        for r in data.get("reports", []):
            report = DeviceReport(**r)
            rollout.reports[f"{report.device_id}@{report.version}"] = report
        return rollout


def _accuracy(reports: list[DeviceReport]) -> float:
    """Sample-weighted accuracy over ``reports``."""
    n = sum(r.n_samples for r in reports)
    return sum(r.n_correct for r in reports) / n if n else 0.0
