"""Over-the-air updates: operators upload signed bundles and start staged rollouts; devices ask
which version to run, download its bundle, and report how it does.

The rollout logic is :class:`tinylarge.secure.rollout.Rollout` (the same object the fleet
simulator drives); the registry stores it, so every service host sharing the database hands out
the same versions and any host's reports can roll the fleet back. The service checks an uploaded
bundle's signature against its configured keys, but the device verifies it again: the service is
a distribution point, not a root of trust.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from tinylarge.large.service.dependencies import (
    ServiceState,
    get_state,
    require_device,
    require_operator,
    require_registry,
)
from tinylarge.large.service.registry import Registry, RegistryError
from tinylarge.secure.bundle import BundleError, verify_bundle
from tinylarge.secure.rollout import DeviceReport, RolloutPolicy
from tinylarge.secure.tokens import TokenClaims

device_router = APIRouter(prefix="/v1/updates", tags=["updates"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_operator)])

ZIP = "application/zip"


class RolloutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rollout_id: StrictStr = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    target: StrictStr = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    from_version: StrictInt = Field(ge=0)
    to_version: StrictInt = Field(ge=0)
    policy: RolloutPolicy = Field(default_factory=RolloutPolicy)


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rollout_id: StrictStr = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    version: StrictInt = Field(ge=0)
    n_samples: StrictInt = Field(0, ge=0)
    n_correct: StrictInt = Field(0, ge=0)
    latency_s: float = Field(0.0, ge=0.0, allow_inf_nan=False)
    failed: StrictBool = False
    detail: StrictStr = Field("", max_length=500)


@admin.put("/bundles", status_code=201)
async def upload_bundle(
    request: Request,
    state: ServiceState = Depends(get_state),
    registry: Registry = Depends(require_registry),
) -> dict:
    """Store a signed bundle (raw zip body) under its manifest's version."""
    if not state.bundle_keys:
        raise HTTPException(409, "no bundle_public_keys configured: cannot check uploads")
    data = await request.body()
    try:
        verified = verify_bundle(data, state.bundle_keys)
    except BundleError as exc:
        raise HTTPException(422, f"bundle refused ({exc.reason.value}): {exc.detail}") from None
    m = verified.manifest
    try:
        await asyncio.to_thread(
            registry.add_bundle, m.version, verified.sha256, m.target, m.security_counter, data
        )
    except RegistryError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"version": m.version, "target": m.target, "security_counter": m.security_counter}


@admin.post("/rollouts", status_code=201)
async def start_rollout(
    body: RolloutRequest, registry: Registry = Depends(require_registry)
) -> dict:
    """Start rolling ``to_version`` out to ``target`` devices, canaries first."""
    try:
        await asyncio.to_thread(
            registry.start_rollout,
            body.rollout_id,
            body.target,
            body.from_version,
            body.to_version,
            body.policy,
        )
    except RegistryError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"rollout_id": body.rollout_id, "phase": "canary"}


@admin.get("/rollouts/{rollout_id}")
async def rollout_status(rollout_id: str, registry: Registry = Depends(require_registry)) -> dict:
    rollout = await asyncio.to_thread(registry.rollout, rollout_id)
    if rollout is None:
        raise HTTPException(404, f"unknown rollout {rollout_id!r}")
    return rollout.to_dict()


async def _device_row(registry: Registry, claims: TokenClaims) -> dict:
    device = await asyncio.to_thread(registry.device, claims.device_id)
    if device is None:
        raise HTTPException(403, f"device {claims.device_id!r} is not registered")
    return device


@device_router.get("")
async def which_version(
    claims: TokenClaims = Depends(require_device),
    registry: Registry = Depends(require_registry),
) -> dict:
    """The version this device should run (``null`` when no rollout targets its kind)."""
    device = await _device_row(registry, claims)
    rollout = await asyncio.to_thread(registry.latest_rollout, device["target"])
    if rollout is None:
        return {"rollout_id": None, "version": None, "phase": None, "sha256": None}
    version = rollout.target_version(claims.device_id)
    bundle = await asyncio.to_thread(registry.bundle, version)
    return {
        "rollout_id": rollout.rollout_id,
        "version": version,
        "phase": rollout.phase.value,
        "sha256": None if bundle is None else bundle["sha256"],
    }


@device_router.get("/bundles/{version}", response_class=Response)
async def download_bundle(
    version: int,
    claims: TokenClaims = Depends(require_device),
    registry: Registry = Depends(require_registry),
) -> Response:
    """The signed bundle of ``version`` (only for devices of the bundle's kind)."""
    device = await _device_row(registry, claims)
    bundle = await asyncio.to_thread(registry.bundle, version)
    if bundle is None or bundle["target"] != device["target"]:
        raise HTTPException(404, f"no bundle version {version} for {device['target']!r}")
    return Response(content=bundle["data"], media_type=ZIP)


@device_router.post("/report")
async def report(
    body: Report,
    claims: TokenClaims = Depends(require_device),
    registry: Registry = Depends(require_registry),
) -> dict:
    """How this device does on ``version``; may promote or roll back the rollout."""
    if body.n_correct > body.n_samples:
        raise HTTPException(422, f"n_correct {body.n_correct} exceeds n_samples {body.n_samples}")
    r = DeviceReport(
        device_id=claims.device_id,
        version=body.version,
        n_samples=body.n_samples,
        n_correct=body.n_correct,
        latency_s=body.latency_s,
        failed=body.failed,
        detail=body.detail,
    )
    try:
        rollout = await asyncio.to_thread(registry.report, body.rollout_id, r)
    except RegistryError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"phase": rollout.phase.value, "reason": rollout.reason}
