"""Operations endpoints, open without a token: liveness for balancers, metrics for operators."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tinylarge.large.service.dependencies import ServiceState, get_state

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health(state: ServiceState = Depends(get_state)) -> dict:
    """``{"status": "ok", "models": {name: version}}`` once the models are loaded."""
    return {
        "status": "ok",
        "models": {name: m.backend.info.version for name, m in state.models.items()},
    }


@router.get("/metrics")
async def metrics(state: ServiceState = Depends(get_state)) -> dict:
    """Request counts by route and status, inference latency quantiles, batch sizes."""
    return state.metrics.snapshot()
