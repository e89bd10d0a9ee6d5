"""LargeML side: backends, the inference service, its client, and the live device agent.

Depends on ``models`` (torch backend), ``tiny.runtime`` (agent) and ``secure`` (tokens). The
service itself lives in ``tinylarge.large.service`` (imported on demand: FastAPI is not needed to
be a client). Pieces:

- ``backends``: ``LargeMLBackend`` protocol; ``TorchBackend`` (default, split-able),
  ``SentenceTransformerBackend``, ``OpenAICompatibleBackend``; ``BackendSpec`` + ``load_backend``.
- ``wire``: request/response bodies shared by both ends.
- ``client``: ``LargeClient`` / ``AsyncLargeClient``.
- ``agent``: ``DeviceAgent`` (TFLM + gate + offload).
- ``fleet``: one service + K agents on loopback (``run_fleet``).
"""

from tinylarge.large.backends import (
    BackendError,
    BackendInfo,
    BackendSpec,
    InputKind,
    LargeMLBackend,
    OpenAICompatibleBackend,
    OutputKind,
    SentenceTransformerBackend,
    TorchBackend,
    load_backend,
)
from tinylarge.large.client import AsyncLargeClient, InferResult, LargeClient, ServiceError

__all__ = [
    "AsyncLargeClient",
    "BackendError",
    "BackendInfo",
    "BackendSpec",
    "InferResult",
    "InputKind",
    "LargeClient",
    "LargeMLBackend",
    "OpenAICompatibleBackend",
    "OutputKind",
    "SentenceTransformerBackend",
    "ServiceError",
    "TorchBackend",
    "load_backend",
]
