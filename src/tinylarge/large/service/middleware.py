"""One ASGI middleware around the whole app: identity, rate limit, body-size limit, audit, metrics,
and a last-resort 500.

- With a :class:`Guard`, the bearer token is checked once here and the outcome put in the
  request's state (``identity``) for the routes; a caller over its rate gets 429 with
  ``Retry-After`` before its body is read, held ``rate_limit_delay_s`` first (a tarpit: a
  client flooding over N connections gets at most N refusals per delay, for no CPU).
- Bodies larger than the limit get 413 before the app reads them: the declared
  ``Content-Length`` is checked first, and a chunked body is buffered only up to the limit.
  Bundle uploads (``/v1/admin/bundles``) have their own, larger limit.
- Every 4xx answer is an audit record, committed before the answer leaves (its id goes back in
  ``X-Audit-Id``); if the registry cannot commit it the answer is sent without that header.
- Every request's route template, status and latency go to :class:`Metrics`.
- An exception that escapes the app becomes a JSON 500 (if nothing was sent yet) and is logged;
  the server process keeps serving either way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from typing import Any

from tinylarge.large.service.guard import Guard, Identity
from tinylarge.large.service.metrics import Metrics
from tinylarge.large.service.registry import AuditRecord

log = logging.getLogger("tinylarge.large.service")

OPEN_PATHS = ("/health", "/metrics")  # never rate limited (balancers and operators poll them)
BUNDLE_UPLOAD_PREFIX = "/v1/admin/bundles"


def _json_message(status: int, detail: str, headers: list | None = None) -> list[dict]:
    body = json.dumps({"detail": detail}).encode()
    return [
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
                *(headers or []),
            ],
        },
        {"type": "http.response.body", "body": body},
    ]


def _detail(body: bytes) -> str:
    try:
        detail = json.loads(body).get("detail", "")
    except (ValueError, AttributeError):
        detail = body[:200].decode("utf-8", "replace")
    return str(detail)[:500]


class ServiceMiddleware:
    """Pure ASGI (no ``BaseHTTPMiddleware``: that buffers responses and costs latency)."""

    def __init__(
        self,
        app: Any,
        metrics: Metrics,
        max_body_bytes: int,
        guard: Guard | None = None,
        max_bundle_bytes: int | None = None,
        rate_limit_delay_s: float = 0.0,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.max_bundle_bytes = max_bundle_bytes or max_body_bytes
        self.guard = guard
        self.rate_limit_delay_s = rate_limit_delay_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start_s = time.perf_counter()
        status = {"code": 500, "started": False}
        identity = Identity()
        held: list[dict] = []  # a 4xx answer waits here until its audit record is committed

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                if 400 <= message["status"] < 500 and self.guard and self.guard.audit:
                    held.append(message)
                    return
            if held:
                held.append(message)
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    await self._audited(scope, identity, held, send)
                    held.clear()
                return
            await send(message)

        try:
            path = scope.get("path", "")
            if self.guard is not None:
                identity = self.guard.identify(scope.get("headers", []))
                scope.setdefault("state", {})["identity"] = identity
                if self.guard.limiter is not None and path not in OPEN_PATHS:
                    client = scope.get("client") or ("?", 0)
                    key = identity.device_id or f"ip:{client[0]}"
                    wait_s = self.guard.limiter.take(key)
                    if wait_s > 0:
                        if self.rate_limit_delay_s > 0:  # tarpit: a sleeping task, no CPU
                            await asyncio.sleep(self.rate_limit_delay_s)
                        retry = [(b"retry-after", b"%d" % max(1, math.ceil(wait_s)))]
                        for m in _json_message(429, f"rate limit exceeded for {key}", retry):
                            await send_wrapper(m)
                        return
            limit = self.max_bundle_bytes if path.startswith(BUNDLE_UPLOAD_PREFIX) else None
            receive = await self._limited(scope, receive, limit or self.max_body_bytes)
            if receive is None:
                limit = limit or self.max_body_bytes
                for m in _json_message(413, f"request body exceeds {limit} bytes"):
                    await send_wrapper(m)
            else:
                await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not status["started"]:
                held.clear()
                for m in _json_message(500, "internal error; the service keeps running"):
                    await send(m)
                status["code"] = 500
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.record_request(template, status["code"], time.perf_counter() - start_s)

    async def _audited(self, scope: dict, identity: Identity, held: list, send: Any) -> None:
        """Commit the audit record of the held 4xx answer, then send it with ``X-Audit-Id``."""
        start = held[0]
        body = b"".join(m.get("body", b"") for m in held[1:])
        client = scope.get("client") or ("?", 0)
        record = AuditRecord(
            at_s=time.time(),
            method=scope.get("method", "?")[:8],
            path=scope.get("path", "")[:200],
            status=start["status"],
            reason=_detail(body),
            device_id=identity.device_id,
            claimed=identity.claimed,
            remote=str(client[0])[:64],
        )
        assert self.guard is not None and self.guard.audit is not None
        try:
            audit_id = await self.guard.audit.submit(record)
            start = {**start, "headers": [*start["headers"], (b"x-audit-id", b"%d" % audit_id)]}
        except Exception as exc:
            log.error("refused request not audited: %s", exc)
        await send(start)
        for m in held[1:]:
            await send(m)

    async def _limited(self, scope: dict, receive: Any, limit: int) -> Any:
        """A ``receive`` replaying the body if it fits ``limit`` bytes, else ``None``."""
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return receive
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    if int(value) > limit:
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
            if size > limit:
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
