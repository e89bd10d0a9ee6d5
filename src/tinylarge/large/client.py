"""HTTP clients devices use to reach the LargeML service (``httpx``; sync and async twins).

Both build requests and parse answers with the same pure helpers, so they cannot differ:

    client = LargeClient("http://127.0.0.1:8000", token)
    result = client.infer("teacher", x)                      # float32 NCHW batch
    result = client.infer("teacher", q, scale=s, zero_point=z, layout="NHWC")   # int8 input
    result = client.infer_split("teacher", cut=2, activation=a8, scale=s2, zero_point=z2)
    texts  = client.infer_texts("llm", ["hello"]).texts

A non-2xx answer raises :class:`ServiceError` carrying the status and the service's reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinylarge.errors import TinylargeError
from tinylarge.large.wire import encode_tensor


class ServiceError(TinylargeError):
    """The service answered with an error status; ``status_code`` and ``reason`` say which."""

    def __init__(self, status_code: int, reason: str) -> None:
        self.status_code, self.reason = status_code, reason
        super().__init__(f"service answered {status_code}: {reason}")


@dataclass
class InferResult:
    """One answer: per-sample results plus timings (``latency_s`` measured by the client)."""

    model: str
    version: str
    n_samples: int
    batch_size: int
    server_latency_s: float
    latency_s: float
    request_bytes: int
    cut: int | None = None
    outputs: np.ndarray | None = None
    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    texts: list[str] | None = None


def tensor_body(
    x: np.ndarray, *, scale: float | None, zero_point: int | None, layout: str
) -> dict[str, Any]:
    return {"tensor": encode_tensor(x, layout=layout, scale=scale, zero_point=zero_point)}


def infer_path(model: str, cut: int | None) -> str:
    return f"/v1/models/{model}/infer" if cut is None else f"/v1/models/{model}/split/{cut}"


def response_reason(response: Any) -> str:
    """The service's reason for an error answer (its JSON ``detail``, else the body text)."""
    try:
        return str(response.json().get("detail", response.text))
    except (ValueError, AttributeError):
        return response.text[:500]


def _check(response: Any) -> dict:
    if response.status_code >= 400:
        raise ServiceError(response.status_code, response_reason(response))
    return response.json()


def parse_result(body: dict, latency_s: float, request_bytes: int) -> InferResult:
    def arr(key: str, dtype: Any) -> np.ndarray | None:
        return None if body.get(key) is None else np.asarray(body[key], dtype=dtype)

    return InferResult(
        model=body["model"],
        version=body["version"],
        n_samples=body["n_samples"],
        batch_size=body["batch_size"],
        server_latency_s=body["server_latency_s"],
        latency_s=latency_s,
        request_bytes=request_bytes,
        cut=body.get("cut"),
        outputs=arr("outputs", np.float32),
        labels=arr("labels", np.int64),
        probabilities=arr("probabilities", np.float32),
        texts=body.get("texts"),
    )


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class LargeClient:
    """Blocking client; ``token`` is the device's bearer token from the service's authority."""

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 30.0) -> None:
        import httpx

        self._http = httpx.Client(base_url=base_url, headers=_headers(token), timeout=timeout_s)

    def __enter__(self) -> LargeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: dict) -> InferResult:
        import json

        content = json.dumps(body).encode()
        start_s = time.perf_counter()
        response = self._http.post(
            path, content=content, headers={"content-type": "application/json"}
        )
        data = _check(response)
        return parse_result(data, time.perf_counter() - start_s, len(content))

    def health(self) -> dict:
        return _check(self._http.get("/health"))

    def metrics(self) -> dict:
        return _check(self._http.get("/metrics"))

    def models(self) -> list[dict]:
        return _check(self._http.get("/v1/models"))["models"]

    def model(self, name: str) -> dict:
        return _check(self._http.get(f"/v1/models/{name}"))

    def infer(
        self,
        model: str,
        x: np.ndarray,
        *,
        scale: float | None = None,
        zero_point: int | None = None,
        layout: str = "NCHW",
    ) -> InferResult:
        """Whole-model inference on batch ``x`` (float32, or int8 with ``scale``/``zero_point``)."""
        body = tensor_body(x, scale=scale, zero_point=zero_point, layout=layout)
        return self._post(infer_path(model, None), body)

    def infer_split(
        self,
        model: str,
        cut: int,
        activation: np.ndarray,
        *,
        scale: float | None = None,
        zero_point: int | None = None,
        layout: str = "NCHW",
    ) -> InferResult:
        """Finish inference from the activation after ``blocks[:cut]`` (split computing)."""
        body = tensor_body(activation, scale=scale, zero_point=zero_point, layout=layout)
        return self._post(infer_path(model, cut), body)

    def infer_texts(self, model: str, texts: list[str]) -> InferResult:
        return self._post(infer_path(model, None), {"texts": list(texts)})


class AsyncLargeClient:
    """The same calls as :class:`LargeClient`, awaitable (one connection pool per client)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout_s: float = 30.0,
        verify: bool | str = True,
    ) -> None:
        import httpx

        from tinylarge.secure.tls import client_verify

        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=_headers(token),
            timeout=timeout_s,
            verify=client_verify(verify),
        )

    def set_token(self, token: str) -> None:
        """Use ``token`` from now on (a renewed one, from ``DeviceSession.authenticate``)."""
        self._http.headers["Authorization"] = f"Bearer {token}"

    async def __aenter__(self) -> AsyncLargeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, body: dict) -> InferResult:
        import json

        content = json.dumps(body).encode()
        start_s = time.perf_counter()
        response = await self._http.post(
            path, content=content, headers={"content-type": "application/json"}
        )
        data = _check(response)
        return parse_result(data, time.perf_counter() - start_s, len(content))

    async def health(self) -> dict:
        return _check(await self._http.get("/health"))

    async def metrics(self) -> dict:
        return _check(await self._http.get("/metrics"))

    async def models(self) -> list[dict]:
        return _check(await self._http.get("/v1/models"))["models"]

    async def infer(
        self,
        model: str,
        x: np.ndarray,
        *,
        scale: float | None = None,
        zero_point: int | None = None,
        layout: str = "NCHW",
    ) -> InferResult:
        body = tensor_body(x, scale=scale, zero_point=zero_point, layout=layout)
        return await self._post(infer_path(model, None), body)

    async def infer_split(
        self,
        model: str,
        cut: int,
        activation: np.ndarray,
        *,
        scale: float | None = None,
        zero_point: int | None = None,
        layout: str = "NCHW",
    ) -> InferResult:
        body = tensor_body(activation, scale=scale, zero_point=zero_point, layout=layout)
        return await self._post(infer_path(model, cut), body)

    async def infer_texts(self, model: str, texts: list[str]) -> InferResult:
        return await self._post(infer_path(model, None), {"texts": list(texts)})
