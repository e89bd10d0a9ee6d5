"""The LargeML service app: assembles routers, loads models once in ``lifespan``.

``create_app(config)`` builds an app object (tests, in-process use); ``app_from_env`` is the
factory uvicorn imports when it runs several worker processes (``tinylarge serve --workers N``),
reading the config JSON that ``serve`` puts in ``TINYLARGE_SERVICE_CONFIG``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tinylarge import __version__
from tinylarge.errors import TinylargeError
from tinylarge.large.backends import LargeMLBackend, load_backend
from tinylarge.large.service.config import ServiceConfig
from tinylarge.large.service.dependencies import LoadedModel, ServiceState
from tinylarge.large.service.guard import Guard
from tinylarge.large.service.metrics import Metrics
from tinylarge.large.service.middleware import ServiceMiddleware
from tinylarge.large.service.ratelimit import RateLimiter
from tinylarge.large.service.registry import Registry
from tinylarge.large.service.routers import devices, inference, models, ops, updates
from tinylarge.secure.keys import key_id, load_public_key
from tinylarge.secure.tokens import TokenAuthority, read_secret

CONFIG_ENV = "TINYLARGE_SERVICE_CONFIG"


def validation_reason(exc: RequestValidationError) -> str:
    """One line per problem, ``body.tensor.shape.0: Input should be ...`` (never the input)."""
    lines = []
    for err in exc.errors()[:10]:
        where = ".".join(str(part) for part in err.get("loc", ()))
        lines.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(lines) or "invalid request"


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": validation_reason(exc)})


def create_app(
    config: ServiceConfig,
    authority: TokenAuthority | None = None,
    backends: dict[str, LargeMLBackend] | None = None,
    registry: Registry | None = None,
) -> FastAPI:
    """The service for ``config``; pass ``authority`` / ``backends`` to reuse ones already built.

    Without ``authority`` the token key is read from ``config.secret_file`` (auth is never off).
    Without ``backends`` every ``config.models`` entry is loaded when the app starts. Without
    ``registry`` one is opened from ``config.registry_url`` (if set) and closed with the app.
    """
    owns_registry = registry is None
    if authority is None:
        if config.secret_file is None:
            raise TinylargeError("the service needs a token key: set 'secret_file' in its config")
        authority = TokenAuthority(read_secret(config.secret_file), config.known_devices)
    metrics = Metrics()
    registry = registry or (Registry(config.registry_url) if config.registry_url else None)
    limiter = (
        RateLimiter(config.rate_limit_rps, config.rate_limit_burst)
        if config.rate_limit_rps is not None
        else None
    )
    guard = Guard(authority, registry, limiter, config.revocation_refresh_s)
    admin = None
    if config.admin_secret_file is not None:
        admin = TokenAuthority(read_secret(config.admin_secret_file))
    bundle_keys = {key_id(k): k for k in map(load_public_key, config.bundle_public_keys)}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if config.torch_threads is not None:
            import torch

            torch.set_num_threads(config.torch_threads)
        owned = backends is None
        loaded = backends if backends is not None else {}
        if owned:
            for spec in config.models:
                loaded[spec.name] = load_backend(spec)
        state = ServiceState(
            config=config,
            authority=authority,
            models={name: LoadedModel(backend) for name, backend in loaded.items()},
            metrics=metrics,
            guard=guard,
            registry=registry,
            admin=admin,
            bundle_keys=bundle_keys,
        )
        app.state.service = state
        refresher = (
            asyncio.get_running_loop().create_task(guard.refresh_forever())
            if registry is not None
            else None
        )
        try:
            yield
        finally:
            if refresher is not None:
                refresher.cancel()
            if guard.audit is not None:
                await guard.audit.aclose()
            if registry is not None and owns_registry:
                registry.close()
            for model in state.models.values():
                for batcher in model.batchers.values():
                    await batcher.aclose()
                if owned:
                    model.backend.close()

    app = FastAPI(
        title="tinylarge LargeML service",
        version=__version__,
        description=(
            "Devices offload inputs (cascade) or split activations (split computing) to LargeML "
            "models. Every /v1 call needs 'Authorization: Bearer <device token>'."
        ),
        lifespan=lifespan,
    )
    app.include_router(inference.router)
    app.include_router(models.router)
    app.include_router(ops.router)
    app.include_router(devices.router)
    app.include_router(devices.admin)
    app.include_router(updates.device_router)
    app.include_router(updates.admin)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_middleware(
        ServiceMiddleware,
        metrics=metrics,
        max_body_bytes=config.max_body_bytes,
        guard=guard,
        max_bundle_bytes=config.max_bundle_bytes,
        rate_limit_delay_s=config.rate_limit_delay_s,
    )
    return app


def app_from_env() -> FastAPI:
    """uvicorn ``--factory`` entry point for multi-worker runs.

    Worker processes are started by uvicorn, not by us, so the parent (``tinylarge serve``) hands
    them the config as JSON in ``TINYLARGE_SERVICE_CONFIG``: no temporary file to leave behind
    when the server is killed. The JSON holds the path of the token key, never the key itself.
    """
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise TinylargeError(f"{CONFIG_ENV} must hold the service config as JSON")
    try:
        config = ServiceConfig.model_validate_json(text)
    except ValueError as exc:
        raise TinylargeError(f"invalid service config in {CONFIG_ENV}: {exc}") from None
    return create_app(config)
