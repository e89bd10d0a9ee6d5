"""A live device on a staged rollout: serve with TFLM, poll for updates, install, report.

:class:`OtaDevice` joins the pieces a real device has: a :class:`DeviceAgent` (TFLM inference
and offload), a :class:`DeviceUpdater` (verify, self-test, trial, confirm/revert) and a
:class:`DeviceSession` (signed auth, token renewal, reconnect backoff). Every ``check_every``
samples it asks the service which version to run (``GET /v1/updates``); if that is not what it
runs, it downloads the bundle and installs it. It reports how each version does
(``POST /v1/updates/report``: samples, correct answers on labelled samples, median latency) every
``report_every`` samples, and at once when an update is refused, fails its self-test or reverts.
The service's rollout state machine turns those reports into promotion or rollback.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from statistics import median

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tinylarge.large.agent import DeviceAgent
from tinylarge.large.client import ServiceError
from tinylarge.large.session import DeviceSession
from tinylarge.large.updater import DeviceUpdater
from tinylarge.tiny.runtime import Int8Runtime


@dataclass
class VersionStats:
    n: int = 0
    n_correct: int = 0
    latencies_s: list[float] = field(default_factory=list)


@dataclass
class OtaLog:
    """What happened on one device: versions over samples, installs, reports."""

    versions: list[int | None] = field(default_factory=list)  # version used per sample
    events: list[dict] = field(default_factory=list)


class OtaDevice:
    """One device following the service's rollout (see the module docstring)."""

    def __init__(
        self,
        agent: DeviceAgent,
        updater: DeviceUpdater,
        session: DeviceSession,
        *,
        check_every: int = 10,
        report_every: int = 20,
    ) -> None:
        self.agent, self.updater, self.session = agent, updater, session
        self.check_every, self.report_every = check_every, report_every
        self.rollout_id: str | None = None
        self.stats: dict[int, VersionStats] = {}
        self.failed_versions: set[int] = set()
        self.log = OtaLog()

    async def _report(self, version: int, *, failed: bool = False, detail: str = "") -> None:
        if self.rollout_id is None:
            return
        s = self.stats.get(version, VersionStats())
        body = {
            "rollout_id": self.rollout_id,
            "version": version,
            "n_samples": s.n,
            "n_correct": s.n_correct,
            "latency_s": median(s.latencies_s) if s.latencies_s else 0.0,
            "failed": failed,
            "detail": detail[:500],
        }
        answer = await self.session.post_json("/v1/updates/report", body)
        self.log.events.append({"kind": "report", "version": version, **answer})

    async def check(self) -> None:
        """Ask which version to run; install it if it differs (and has not failed here)."""
        want = await self.session.get_json("/v1/updates")
        self.rollout_id = want["rollout_id"]
        version = want["version"]
        if version is None or version == self.updater.version or version in self.failed_versions:
            return
        if self.updater.slots.trial is not None:
            return  # finish the running trial first
        response = await self.session.request("GET", f"/v1/updates/bundles/{version}")
        outcome = self.updater.install(response.content)
        self.agent.runtime = self.updater.runtime
        self.log.events.append(
            {"kind": outcome.status, "version": version, "reason": outcome.reason}
        )
        if not outcome.ok:
            self.failed_versions.add(version)
            await self._report(version, failed=True, detail=f"{outcome.status}: {outcome.reason}")

    async def play(self, x: np.ndarray, y: np.ndarray, interval_s: float = 0.0) -> OtaLog:
        """Serve samples ``x`` (labels ``y``) one by one, following the rollout as it goes."""
        for i in range(len(x)):
            if i % self.check_every == 0:
                try:
                    await self.check()
                except ServiceError as exc:  # no registry, revoked...: keep serving as is
                    self.log.events.append({"kind": "check_failed", "reason": str(exc)})
            record = await self.agent.step(i, x[i], int(y[i]))
            version = self.updater.version
            self.log.versions.append(version)
            s = self.stats.setdefault(version, VersionStats())
            s.n += 1
            # the device model's own answer: offloading would hide a regressed tiny model
            correct = record.device_label == record.true_label
            s.n_correct += int(correct)
            s.latencies_s.append(record.latency_s)
            event = self.updater.observe(correct, record.latency_s, record.error is not None)
            if event is not None:
                self.agent.runtime = self.updater.runtime
                self.log.events.append({"kind": event, "version": version})
                if event == "reverted":
                    self.failed_versions.add(version)
                    await self._report(version, failed=True, detail="reverted: health check")
            elif s.n % self.report_every == 0 and version is not None:
                await self._report(version)
            await asyncio.sleep(interval_s)
        return self.log


async def play_live_device(
    url: str,
    runtime: Int8Runtime,
    x: np.ndarray,
    y: np.ndarray,
    *,
    model: str,
    device_id: str,
    threshold: float = 0.9,
    cut: int | None = None,
    token: str | None = None,
    key: Ed25519PrivateKey | None = None,
    trusted: list[Ed25519PublicKey] | None = None,
    target: str | None = None,
    probe: tuple[np.ndarray, np.ndarray] | None = None,
    verify: bool | str = True,
) -> dict:
    """One device against ``url`` (what ``tinylarge device`` runs); returns its summary.

    With ``token`` or ``key`` alone it plays the cascade (or split) loop; with ``key``,
    ``trusted`` and ``target`` it also follows the service's rollout, starting from ``runtime``.
    """
    from tinylarge.large.client import AsyncLargeClient
    from tinylarge.secure.keys import key_id
    from tinylarge.secure.slots import UpdateSlots
    from tinylarge.tiny.runtime import TflmRuntime

    async with AsyncLargeClient(url, token, verify=verify) as client:
        agent = DeviceAgent(runtime, client, model, threshold, device_id, cut=cut)
        if key is None:
            return (await agent.run(x, y)).summary()
        async with DeviceSession(url, device_id, key, verify=verify) as session:
            client.set_token(await session.authenticate())
            if not trusted or target is None:
                return (await agent.run(x, y)).summary()
            slots = UpdateSlots({key_id(k): k for k in trusted}, target)
            probe_x, probe_y = probe if probe is not None else (x[:50], y[:50])
            updater = DeviceUpdater(slots, runtime, TflmRuntime, probe_x, probe_y)
            device = OtaDevice(agent, updater, session)
            log = await device.play(x, y)
            n = len(log.versions)
            return {
                "device_id": device_id,
                "n_requests": n,
                "version": updater.version,
                "versions_used": sorted({v for v in log.versions if v is not None}),
                "events": log.events,
                "device_accuracy": sum(s.n_correct for s in device.stats.values()) / max(n, 1),
            }
