"""Device identity: a registered device trades an Ed25519-signed request for a bearer token;
operators register and revoke devices and tokens and read the audit log.

Every write is committed to the registry before the answer is sent (run in a worker thread: the
database calls block). Device ids and keys are checked before they reach the database.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from tinylarge.large.service.dependencies import (
    ServiceState,
    get_state,
    require_operator,
    require_registry,
)
from tinylarge.large.service.registry import Registry, RegistryError
from tinylarge.secure.tokens import DEVICE_ID_PATTERN, auth_message

ID = Field(pattern=DEVICE_ID_PATTERN.pattern)

router = APIRouter(prefix="/v1", tags=["devices"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_operator)])


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: StrictStr = ID
    counter_ms: StrictInt = Field(ge=0, description="Unix ms; must rise between requests")
    signature: StrictStr = Field(max_length=200, description="base64 Ed25519 signature")


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: StrictStr = ID
    public_key: StrictStr = Field(max_length=64, description="base64 raw Ed25519 public key")
    target: StrictStr = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="device kind")


class Revocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: StrictStr = Field("revoked by operator", max_length=500)


class TokenRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: StrictStr = Field(max_length=500)


def _b64(text: str, what: str, n: int | None = None) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise HTTPException(422, f"{what} is not base64") from None
    if n is not None and len(raw) != n:
        raise HTTPException(422, f"{what} must be {n} bytes, got {len(raw)}")
    return raw


@router.post("/auth/token")
async def issue_token(
    body: TokenRequest,
    state: ServiceState = Depends(get_state),
    registry: Registry = Depends(require_registry),
) -> dict:
    """A bearer token for a registered, unrevoked device that signed ``auth_message``."""
    device = await asyncio.to_thread(registry.device, body.device_id)
    if device is None:
        raise HTTPException(401, f"device {body.device_id!r} is not registered")
    if device["revoked_at_s"] is not None:
        raise HTTPException(401, f"device {body.device_id!r} is revoked")
    skew_s = abs(body.counter_ms / 1000 - time.time())
    if skew_s > state.config.auth_skew_s:
        raise HTTPException(401, f"auth counter is {skew_s:.0f} s off the service clock")
    key = Ed25519PublicKey.from_public_bytes(_b64(device["public_key"], "stored key", 32))
    try:
        key.verify(
            _b64(body.signature, "signature", 64), auth_message(body.device_id, body.counter_ms)
        )
    except InvalidSignature:
        raise HTTPException(
            401, "auth signature does not verify under the registered key"
        ) from None
    if not await asyncio.to_thread(registry.advance_auth, body.device_id, body.counter_ms):
        raise HTTPException(401, "auth counter did not increase (replayed request?)")
    ttl_s = state.config.token_ttl_s
    now_s = time.time()
    token = state.authority.issue(body.device_id, ttl_s=ttl_s, now_s=now_s)
    await asyncio.to_thread(registry.record_token, body.device_id, token, now_s + ttl_s)
    return {"device_id": body.device_id, "token": token, "expires_at_s": int(now_s + ttl_s)}


@admin.post("/devices", status_code=201)
async def register_device(
    body: Registration, registry: Registry = Depends(require_registry)
) -> dict:
    """Register a device identity (its Ed25519 public key) and kind."""
    _b64(body.public_key, "public_key", 32)
    try:
        row = await asyncio.to_thread(
            registry.register, body.device_id, body.public_key, body.target
        )
    except RegistryError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"device_id": row["device_id"], "created_at_s": row["created_at_s"]}


@admin.get("/devices")
async def list_devices(registry: Registry = Depends(require_registry)) -> dict:
    return {"devices": await asyncio.to_thread(registry.devices)}


@admin.post("/devices/{device_id}/revoke")
async def revoke_device(
    device_id: str,
    body: Revocation,
    state: ServiceState = Depends(get_state),
    registry: Registry = Depends(require_registry),
) -> dict:
    """Revoke a device: every token it holds stops working (here at once, elsewhere within
    ``revocation_refresh_s``) and it can get no new one."""
    try:
        at_s = await asyncio.to_thread(registry.revoke, device_id, body.reason)
    except RegistryError as exc:
        raise HTTPException(404, str(exc)) from None
    if state.guard is not None:
        state.guard.revoked_devices.add(device_id)
    return {"device_id": device_id, "revoked_at_s": at_s}


@admin.post("/tokens/revoke")
async def revoke_token(
    body: TokenRevocation,
    state: ServiceState = Depends(get_state),
    registry: Registry = Depends(require_registry),
) -> dict:
    """Revoke one issued token (the device keeps its identity and may authenticate again)."""
    from tinylarge.large.service.registry import token_hash

    try:
        await asyncio.to_thread(registry.revoke_token, body.token)
    except RegistryError as exc:
        raise HTTPException(404, str(exc)) from None
    if state.guard is not None:
        state.guard.revoked_tokens.add(token_hash(body.token))
    return {"revoked": True}


@admin.get("/audit")
async def audit_log(
    since_id: int = 0, limit: int = 1000, registry: Registry = Depends(require_registry)
) -> dict:
    """Refused requests after ``since_id`` (at most ``limit``, up to 10,000)."""
    limit = max(1, min(limit, 10_000))
    return {"records": await asyncio.to_thread(registry.audit_log, since_id, limit)}
