"""A device's authenticated, self-healing connection to the service.

The device holds an Ed25519 identity key (registered by an operator). :class:`DeviceSession`
trades a signed ``auth_message`` for a bearer token, renews it when the service says it expired
or was lost, and retries calls that failed because the service was unreachable (restarting,
overloaded: connection errors, 502/503/504, 429) with capped exponential backoff and full jitter
(Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog 2015), so a fleet reconnecting
after a restart does not stampede. Refusals that retrying cannot fix (403, 404, 422, a revoked
device) raise :class:`ServiceError` at once.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import Iterator
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinylarge.large.client import ServiceError, response_reason
from tinylarge.secure.tls import client_verify
from tinylarge.secure.tokens import auth_message

RETRY_STATUS = {429, 502, 503, 504}


def backoff_delays(
    base_s: float, cap_s: float, rng: random.Random | None = None
) -> Iterator[float]:
    """Full-jitter delays: attempt ``n`` sleeps ``uniform(0, min(cap_s, base_s * 2**n))``."""
    rng = rng or random.Random()
    n = 0
    while True:
        yield rng.uniform(0.0, min(cap_s, base_s * 2**n))
        n += 1


class DeviceSession:
    """Authenticated HTTP calls for one device, with token renewal and reconnect backoff.

    Parameters
    ----------
    base_url : the service, ``http://`` or ``https://``.
    device_id, private_key : the device's registered identity.
    verify : TLS verification: ``True``, or a CA bundle path (a self-signed service cert).
    max_retry_s : give up (raise the last error) after retrying this long.
    """

    def __init__(
        self,
        base_url: str,
        device_id: str,
        private_key: Ed25519PrivateKey,
        *,
        verify: bool | str = True,
        timeout_s: float = 10.0,
        base_backoff_s: float = 0.05,
        max_backoff_s: float = 2.0,
        max_retry_s: float = 60.0,
        seed: int | None = None,
    ) -> None:
        import httpx

        self.device_id = device_id
        self.private_key = private_key
        self.base_backoff_s, self.max_backoff_s = base_backoff_s, max_backoff_s
        self.max_retry_s = max_retry_s
        self.rng = random.Random(seed)
        self.token: str | None = None
        self._last_counter_ms = 0
        self.n_retries = 0
        self.n_auth = 0
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout_s, verify=client_verify(verify)
        )

    async def __aenter__(self) -> DeviceSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _auth_body(self) -> dict:
        counter_ms = max(int(time.time() * 1000), self._last_counter_ms + 1)
        self._last_counter_ms = counter_ms
        signature = self.private_key.sign(auth_message(self.device_id, counter_ms))
        return {
            "device_id": self.device_id,
            "counter_ms": counter_ms,
            "signature": base64.b64encode(signature).decode("ascii"),
        }

    async def authenticate(self) -> str:
        """A fresh token from ``/v1/auth/token`` (retried like any call)."""
        response = await self._send("POST", "/v1/auth/token", auth=False, json=self._auth_body)
        self.token = response.json()["token"]
        self.n_auth += 1
        return self.token

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """``method path`` with this device's token; renews it once on 401, retries outages."""
        if self.token is None:
            await self.authenticate()
        try:
            return await self._send(method, path, auth=True, **kwargs)
        except ServiceError as exc:
            if exc.status_code != 401:
                raise
        await self.authenticate()  # expired, revoked-token or a lost token table: try once more
        return await self._send(method, path, auth=True, **kwargs)

    async def get_json(self, path: str) -> dict:
        return (await self.request("GET", path)).json()

    async def post_json(self, path: str, body: dict) -> dict:
        return (await self.request("POST", path, json=body)).json()

    async def _send(self, method: str, path: str, *, auth: bool, **kwargs: Any) -> Any:
        import httpx

        delays = backoff_delays(self.base_backoff_s, self.max_backoff_s, self.rng)
        deadline_s = time.monotonic() + self.max_retry_s
        while True:
            call = dict(kwargs)
            if callable(call.get("json")):  # a fresh signed body per attempt (counter rises)
                call["json"] = call["json"]()
            headers = {"Authorization": f"Bearer {self.token}"} if auth and self.token else {}
            try:
                response = await self._http.request(method, path, headers=headers, **call)
            except httpx.TransportError as exc:
                error: Exception = exc
            else:
                if response.status_code < 400:
                    return response
                error = ServiceError(response.status_code, response_reason(response))
                if response.status_code not in RETRY_STATUS:
                    raise error
            delay_s = next(delays)
            if time.monotonic() + delay_s > deadline_s:
                raise error
            self.n_retries += 1
            await asyncio.sleep(delay_s)
