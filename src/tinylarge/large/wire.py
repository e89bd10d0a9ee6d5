"""What crosses the link between a device and the LargeML service: request and response bodies.

A tensor travels as raw little-endian bytes in base64 with its shape and dtype, not as a JSON list
of numbers: an int8 activation of 1,024 values is 1,368 characters instead of ~4,000, and the bytes
on air are what a 6G link budget counts. int8 tensors carry their TFLite quantization parameters
(``real = scale * (q - zero_point)``, the TFLite int8 spec) so the server dequantizes exactly what
the device's int8 model produced. ``layout`` says whether a 4-D tensor is NCHW (PyTorch) or NHWC
(what a converted ``.tflite`` reads and writes).

Decoding is strict and every failure is a :class:`WireError` whose message names the bad value:
the service turns it into a 4xx with that reason. Both the client and the service use this module,
so the two ends cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from tinylarge.errors import TinylargeError

DTYPES: dict[str, np.dtype] = {"float32": np.dtype("<f4"), "int8": np.dtype("i1")}
MAX_RANK = 6
MAX_TEXT_CHARS = 8192

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class WireError(TinylargeError):
    """A request body that is well-formed JSON but not a valid tensor or text batch."""


class TensorPayload(BaseModel):
    """One batch tensor: ``shape`` (batch first), ``dtype``, base64 ``data``, int8 qparams."""

    model_config = ConfigDict(extra="forbid", strict=True)

    shape: list[Annotated[StrictInt, Field(ge=1)]] = Field(min_length=1, max_length=MAX_RANK)
    dtype: Literal["float32", "int8"]
    data: StrictStr = Field(description="raw little-endian bytes, standard base64")
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    scale: Annotated[FiniteFloat, Field(gt=0.0)] | None = Field(
        None, description="int8 only: real = scale * (q - zero_point)"
    )
    zero_point: Annotated[StrictInt, Field(ge=-128, le=127)] | None = None

    @model_validator(mode="after")
    def _qparams_match_dtype(self) -> TensorPayload:
        has_q = self.scale is not None and self.zero_point is not None
        if self.dtype == "int8" and not has_q:
            raise ValueError("int8 tensors need both 'scale' and 'zero_point'")
        if self.dtype == "float32" and (self.scale is not None or self.zero_point is not None):
            raise ValueError("'scale'/'zero_point' are only for int8 tensors")
        return self


class InferRequest(BaseModel):
    """Exactly one of ``tensor`` (numeric models) or ``texts`` (text models)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    tensor: TensorPayload | None = None
    texts: list[Annotated[StrictStr, Field(max_length=MAX_TEXT_CHARS)]] | None = Field(
        None, min_length=1
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> InferRequest:
        if (self.tensor is None) == (self.texts is None):
            raise ValueError("give exactly one of 'tensor' or 'texts'")
        return self


class InferResponse(BaseModel):
    """Per-sample results; which fields are set depends on the backend's output kind."""

    model: str
    version: str
    cut: int | None = Field(None, description="split point the request entered at; None = input")
    n_samples: int
    outputs: list[list[float]] | None = Field(None, description="logits or embeddings")
    labels: list[int] | None = Field(None, description="argmax class (logits only)")
    probabilities: list[float] | None = Field(None, description="max softmax probability")
    texts: list[str] | None = Field(None, description="generated text (text-to-text backends)")
    batch_size: int = Field(description="samples in the server batch this request rode in")
    server_latency_s: float = Field(description="time inside the service for this request")


def encode_tensor(
    x: np.ndarray,
    *,
    layout: str = "NCHW",
    scale: float | None = None,
    zero_point: int | None = None,
) -> dict:
    """The JSON body part for batch tensor ``x`` (float32, or int8 with its quantization)."""
    x = np.asarray(x)
    if x.dtype == np.int8:
        if scale is None or zero_point is None:
            raise WireError("int8 tensors need their scale and zero_point to travel with them")
        dtype = "int8"
    else:
        x = x.astype(np.float32, copy=False)
        dtype = "float32"
    body = {
        "shape": [int(d) for d in x.shape],
        "dtype": dtype,
        "data": base64.b64encode(np.ascontiguousarray(x, dtype=DTYPES[dtype]).tobytes()).decode(),
        "layout": layout,
    }
    if dtype == "int8":
        body["scale"], body["zero_point"] = float(scale), int(zero_point)
    return body


def payload_size_bytes(payload: TensorPayload) -> int:
    """Bytes the tensor's raw data must have: ``prod(shape) * itemsize``."""
    return math.prod(payload.shape) * DTYPES[payload.dtype].itemsize


def decode_tensor(
    payload: TensorPayload,
    sample_shape: tuple[int, ...],
    *,
    max_samples: int,
) -> np.ndarray:
    """The float32 NCHW batch ``(n, *sample_shape)`` the payload describes, validated.

    Checks, in order: rank and per-sample shape (after undoing NHWC), batch size, that the decoded
    byte count matches the shape, and (float32) that every value is finite. int8 data is
    dequantized with the payload's scale and zero point.
    """
    shape = tuple(payload.shape)
    want = (len(sample_shape) + 1, sample_shape)
    if len(shape) != want[0]:
        raise WireError(
            f"tensor has rank {len(shape)} {list(shape)}; this model takes rank {want[0]} "
            f"[n, {', '.join(map(str, sample_shape))}]"
        )
    nhwc = payload.layout == "NHWC" and len(shape) == 4
    per_sample = (shape[3], shape[1], shape[2]) if nhwc else shape[1:]
    if per_sample != sample_shape:
        layout = payload.layout if len(shape) == 4 else "NCHW"
        raise WireError(
            f"tensor sample shape {list(shape[1:])} ({layout}) does not match this model's "
            f"{list(sample_shape)} (NCHW)"
        )
    if shape[0] > max_samples:
        raise WireError(f"batch of {shape[0]} samples exceeds the limit of {max_samples}")
    expected_bytes = payload_size_bytes(payload)
    # base64 is 4 characters per 3 bytes: reject a wrong length before decoding anything big
    if len(payload.data) > 4 * (expected_bytes // 3 + 1):
        raise WireError(f"data is longer than {expected_bytes} bytes of {payload.dtype}")
    try:
        raw = base64.b64decode(payload.data, validate=True)
    except (binascii.Error, ValueError):
        raise WireError("data is not valid standard base64") from None
    if len(raw) != expected_bytes:
        raise WireError(
            f"data holds {len(raw)} bytes; shape {list(shape)} of {payload.dtype} needs "
            f"{expected_bytes}"
        )
    x = np.frombuffer(raw, dtype=DTYPES[payload.dtype]).reshape(shape)
    if payload.dtype == "int8":
        x = np.float32(payload.scale) * (x.astype(np.float32) - np.float32(payload.zero_point))
    elif not np.isfinite(x).all():
        raise WireError("float32 data contains NaN or infinity")
    if nhwc:
        x = x.transpose(0, 3, 1, 2)
    # a writable copy: np.frombuffer's view is read-only and torch warns on such arrays
    return np.array(x, dtype=np.float32, order="C", copy=True)
