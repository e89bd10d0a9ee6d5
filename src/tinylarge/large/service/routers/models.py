"""Model listing: names, versions, what each takes and gives, and its split points."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tinylarge.large.service.dependencies import (
    LoadedModel,
    ServiceState,
    get_model,
    get_state,
    require_device,
)

router = APIRouter(prefix="/v1", tags=["models"], dependencies=[Depends(require_device)])


@router.get("/models")
async def list_models(state: ServiceState = Depends(get_state)) -> dict:
    """Every model this service runs, with its version and cut shapes."""
    return {"models": [m.backend.info.to_dict() for m in state.models.values()]}


@router.get("/models/{name}", responses={404: {"description": "unknown model"}})
async def describe_model(model: LoadedModel = Depends(get_model)) -> dict:
    """One model: kind, version, input shape, outputs, cuts ``[{cut, shape}]``."""
    return model.backend.info.to_dict()
