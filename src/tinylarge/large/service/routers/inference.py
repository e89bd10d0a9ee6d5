"""Inference: a full input (``/infer``) or a split activation entering at cut ``k`` (``/split/k``).

Both go through the model's batcher for that entry point, so concurrent devices share forward
passes. Malformed or mismatched inputs are rejected with 422 and a reason before any compute.
"""

from __future__ import annotations

import time

import numpy as np
from fastapi import APIRouter, Depends, HTTPException

from tinylarge.large.backends import BackendError, OutputKind
from tinylarge.large.service.dependencies import (
    LoadedModel,
    ServiceState,
    check_cut,
    decode_inputs,
    get_model,
    get_state,
    require_device,
)
from tinylarge.large.wire import InferRequest, InferResponse
from tinylarge.tiny.gates import softmax

ERRORS = {
    401: {"description": "missing, unknown or expired device token"},
    404: {"description": "unknown model"},
    413: {"description": "request body too large"},
    422: {"description": "malformed input: shape, dtype, size, cut index or JSON types"},
    502: {"description": "the remote backend (LLM server) failed"},
}

router = APIRouter(prefix="/v1", tags=["inference"], dependencies=[Depends(require_device)])


async def run(model: LoadedModel, body: InferRequest, cut: int, state: ServiceState) -> dict:
    start_s = time.perf_counter()
    inputs = decode_inputs(body, model, cut, state.config)
    try:
        outputs, batch_size = await model.batcher(cut, state.config, state.metrics).submit(inputs)
    except BackendError as exc:
        raise HTTPException(502, str(exc)) from None
    info = model.backend.info
    result: dict = {
        "model": info.name,
        "version": info.version,
        "cut": cut if body.tensor is not None else None,
        "n_samples": len(outputs),
        "batch_size": batch_size,
    }
    if info.output_kind is OutputKind.TEXT:
        result["texts"] = list(outputs)
    else:
        result["outputs"] = np.asarray(outputs, dtype=np.float64).tolist()
        if info.output_kind is OutputKind.LOGITS:
            probs = softmax(np.asarray(outputs, dtype=np.float64))
            result["labels"] = probs.argmax(axis=1).tolist()
            result["probabilities"] = probs.max(axis=1).tolist()
    result["server_latency_s"] = time.perf_counter() - start_s
    return result


@router.post("/models/{name}/infer", response_model=InferResponse, responses=ERRORS)
async def infer(
    body: InferRequest,
    model: LoadedModel = Depends(get_model),
    state: ServiceState = Depends(get_state),
) -> dict:
    """Run the whole model on a batch of inputs (a tensor, or texts for text models)."""
    return await run(model, body, 0, state)


@router.post("/models/{name}/split/{cut}", response_model=InferResponse, responses=ERRORS)
async def infer_split(
    cut: int,
    body: InferRequest,
    model: LoadedModel = Depends(get_model),
    state: ServiceState = Depends(get_state),
) -> dict:
    """Finish the forward pass from the activation a device computed up to cut ``cut``.

    Cut ``k`` means the device ran ``blocks[0:k]``; the tensor's per-sample shape must be the one
    ``GET /v1/models/{name}`` lists for that cut (NCHW, or NHWC with ``layout``).
    """
    check_cut(model, cut)
    if body.tensor is None:
        raise HTTPException(422, "a split request carries a 'tensor' (the activation)")
    return await run(model, body, cut, state)
