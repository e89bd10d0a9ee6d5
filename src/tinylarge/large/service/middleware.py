"""One ASGI middleware around the whole app: body-size limit, metrics, and a last-resort 500.

- Bodies larger than ``max_body_bytes`` get 413 before the app reads them: the declared
  ``Content-Length`` is checked first, and a chunked body is buffered only up to the limit.
- Every request's route template, status and latency go to :class:`Metrics`.
- An exception that escapes the app becomes a JSON 500 (if nothing was sent yet) and is logged;
  the server process keeps serving either way.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from tinylarge.large.service.metrics import Metrics

log = logging.getLogger("tinylarge.large.service")


async def _send_json(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ServiceMiddleware:
    """Pure ASGI (no ``BaseHTTPMiddleware``: that buffers responses and costs latency)."""

    def __init__(self, app: Any, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start_s = time.perf_counter()
        status = {"code": 500, "started": False}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        try:
            receive = await self._limited(scope, receive)
            if receive is None:
                await _send_json(
                    send_wrapper, 413, f"request body exceeds {self.max_body_bytes} bytes"
                )
            else:
                await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not status["started"]:
                await _send_json(send_wrapper, 500, "internal error; the service keeps running")
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.record_request(template, status["code"], time.perf_counter() - start_s)

    async def _limited(self, scope: dict, receive: Any) -> Any:
        """A ``receive`` replaying the body if it fits the limit, else ``None``."""
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return receive
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    if int(value) > self.max_body_bytes:
                        return None
                except ValueError:
                    return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client disconnected: let the app see it
                chunks.append(message)
                break
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return None
            chunks.append(message)
            if not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in chunks if m["type"] == "http.request")
        replay = [{"type": "http.request", "body": body, "more_body": False}]
        replay += [m for m in chunks if m["type"] != "http.request"]

        async def replay_receive() -> dict:
            if replay:
                return replay.pop(0)
            return await receive()

        return replay_receive
