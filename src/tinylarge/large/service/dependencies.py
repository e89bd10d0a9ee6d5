"""Checks shared by the routers: device auth, model lookup, request decoding (all 4xx on failure).

The state every request reads (``ServiceState``: config, token authority, loaded models, metrics)
is built once in the app's lifespan and stored on ``app.state``; requests never write to it except
the metrics counters, so any number of workers can serve the same traffic.

The dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread
pool, and those hops cost more than the checks themselves (measured: ~12 per request).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from fastapi import Depends, Header, HTTPException, Request

from tinylarge.large.backends import InputKind, LargeMLBackend
from tinylarge.large.service.batching import MicroBatcher
from tinylarge.large.service.config import ServiceConfig
from tinylarge.large.service.guard import Guard
from tinylarge.large.service.metrics import Metrics
from tinylarge.large.service.registry import Registry
from tinylarge.large.wire import InferRequest, WireError, decode_tensor
from tinylarge.secure.tokens import ExpiredTokenError, TokenAuthority, TokenClaims, TokenError


@dataclass
class LoadedModel:
    """A backend and its batchers, one per entry point (cut ``k``; cut 0 = the full input)."""

    backend: LargeMLBackend
    batchers: dict[int, MicroBatcher] = field(default_factory=dict)

    def batcher(self, cut: int, config: ServiceConfig, metrics: Metrics) -> MicroBatcher:
        if cut not in self.batchers:
            backend = self.backend
            run = backend.infer if cut == 0 else (lambda x: backend.infer_from_cut(cut, x))
            self.batchers[cut] = MicroBatcher(
                run, config.max_batch_size, config.max_wait_s, metrics.record_batch
            )
        return self.batchers[cut]


@dataclass
class ServiceState:
    config: ServiceConfig
    authority: TokenAuthority
    models: dict[str, LoadedModel]
    metrics: Metrics
    guard: Guard | None = None
    registry: Registry | None = None
    admin: TokenAuthority | None = None
    bundle_keys: dict = field(default_factory=dict)  # key id -> Ed25519 public key


async def get_state(request: Request) -> ServiceState:
    return request.app.state.service


async def require_device(
    request: Request,
    authorization: str | None = Header(None, description="Bearer <device token>"),
    state: ServiceState = Depends(get_state),
) -> TokenClaims:
    """The calling device's verified claims, or 401 saying why (missing, malformed, expired)."""
    challenge = {"WWW-Authenticate": 'Bearer realm="tinylarge"'}
    identity = request.scope.get("state", {}).get("identity")
    if identity is not None:  # the middleware's guard already checked the token
        if identity.device_id is None:
            raise HTTPException(401, identity.error, challenge)
        return TokenClaims(device_id=identity.device_id, expires_at_s=0)
    if not authorization:
        raise HTTPException(401, "missing 'Authorization: Bearer <token>' header", challenge)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "authorization must be 'Bearer <token>'", challenge)
    try:
        return state.authority.verify(token.strip())
    except ExpiredTokenError as exc:
        raise HTTPException(401, f"expired token: {exc}", challenge) from None
    except TokenError as exc:
        raise HTTPException(401, f"unknown or invalid token: {exc}", challenge) from None


async def require_registry(state: ServiceState = Depends(get_state)) -> Registry:
    """The registry, or 404 saying this service runs without one."""
    if state.registry is None:
        raise HTTPException(404, "this service runs without a device registry (registry_url)")
    return state.registry


async def require_operator(
    request: Request, state: ServiceState = Depends(get_state)
) -> TokenClaims:
    """An operator's verified claims (admin key), or 401/404 saying why."""
    if state.admin is None:
        raise HTTPException(404, "the admin API is off: set admin_secret_file in the config")
    token = request.headers.get("authorization", "")
    scheme, _, token = token.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "operator calls need 'Authorization: Bearer <admin token>'")
    try:
        return state.admin.verify(token.strip())
    except TokenError as exc:
        raise HTTPException(401, f"not an operator token: {exc}") from None


async def get_model(name: str, state: ServiceState = Depends(get_state)) -> LoadedModel:
    """The loaded model called ``name``, or 404 listing the models this service has."""
    model = state.models.get(name)
    if model is None:
        valid = ", ".join(sorted(state.models))
        raise HTTPException(404, f"unknown model {name!r}; valid: {valid}")
    return model


def check_cut(model: LoadedModel, cut: int) -> None:
    info = model.backend.info
    if info.n_cuts == 0:
        raise HTTPException(422, f"model {info.name!r} takes texts and cannot be split")
    if not 0 <= cut < info.n_cuts:
        raise HTTPException(
            422, f"cut {cut} is out of range for model {info.name!r}; valid: 0..{info.n_cuts - 1}"
        )


def decode_inputs(
    body: InferRequest, model: LoadedModel, cut: int, config: ServiceConfig
) -> np.ndarray | list[str]:
    """The batch ``body`` carries, checked against what ``model`` takes at ``cut`` (422 if not)."""
    info = model.backend.info
    if info.input_kind is InputKind.TEXT:
        if body.texts is None:
            raise HTTPException(422, f"model {info.name!r} takes 'texts', not a tensor")
        if len(body.texts) > config.max_samples_per_request:
            raise HTTPException(
                422,
                f"{len(body.texts)} texts exceed the limit of {config.max_samples_per_request}",
            )
        return list(body.texts)
    if body.tensor is None:
        raise HTTPException(422, f"model {info.name!r} takes a 'tensor', not texts")
    try:
        return decode_tensor(
            body.tensor, info.cut_shapes[cut], max_samples=config.max_samples_per_request
        )
    except WireError as exc:
        raise HTTPException(422, str(exc)) from None
