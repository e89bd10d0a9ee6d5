"""Who is calling, may they, and how often: token check, revocations, rate limit, audit.

One :class:`Guard` per service process, used by the middleware before any route runs:

- :meth:`identify` verifies the bearer token once per request (HMAC, expiry) and checks it against
  the revocation sets (revoked devices, revoked tokens). The sets are cached here and refreshed
  from the registry every ``revocation_refresh_s`` (:meth:`refresh_forever`), so a revocation made
  on another host takes effect within that bound and one made here at once, with no database
  read on the inference path.
- :attr:`limiter` keys requests by verified device (else remote address) and refuses the excess.
- :attr:`audit` commits every refused request before it is answered.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from tinylarge.large.service.audit import AuditWriter
from tinylarge.large.service.ratelimit import RateLimiter
from tinylarge.large.service.registry import Registry, token_hash
from tinylarge.secure.tokens import DEVICE_ID_PATTERN, ExpiredTokenError, TokenAuthority, TokenError

log = logging.getLogger("tinylarge.large.service")


@dataclass(frozen=True)
class Identity:
    """The outcome of checking one request's token: a device, or why not (``error``)."""

    device_id: str | None = None
    claimed: str | None = None  # the device id an unverified token names (for the audit log)
    error: str | None = None
    token: str | None = None


def bearer(headers: list[tuple[bytes, bytes]]) -> str | None | bool:
    """The bearer token of ASGI ``headers``; ``None`` when absent, ``False`` when malformed."""
    for key, value in headers:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return False
            return token.strip()
    return None


class Guard:
    """Token checks with cached revocations, a rate limiter and an audit writer (see module)."""

    def __init__(
        self,
        authority: TokenAuthority,
        registry: Registry | None = None,
        limiter: RateLimiter | None = None,
        refresh_s: float = 0.5,
    ) -> None:
        self.authority = authority
        self.registry = registry
        self.limiter = limiter
        self.audit = AuditWriter(registry) if registry is not None else None
        self.refresh_s = refresh_s
        self.revoked_devices: set[str] = set()
        self.revoked_tokens: set[str] = set()
        if registry is not None:
            self.revoked_devices, self.revoked_tokens = registry.revoked()

    def identify(self, headers: list[tuple[bytes, bytes]]) -> Identity:
        token = bearer(headers)
        if token is None:
            return Identity(error="missing 'Authorization: Bearer <token>' header")
        if token is False:
            return Identity(error="authorization must be 'Bearer <token>'")
        parts = token.split(".")
        claimed = parts[1] if len(parts) == 4 and DEVICE_ID_PATTERN.match(parts[1]) else None
        try:
            claims = self.authority.verify(token)
        except ExpiredTokenError as exc:
            return Identity(claimed=claimed, error=f"expired token: {exc}")
        except TokenError as exc:
            return Identity(claimed=claimed, error=f"unknown or invalid token: {exc}")
        if claims.device_id in self.revoked_devices:
            return Identity(claimed=claimed, error=f"device {claims.device_id!r} is revoked")
        if self.revoked_tokens and token_hash(token) in self.revoked_tokens:
            return Identity(claimed=claimed, error="this token has been revoked")
        return Identity(device_id=claims.device_id, claimed=claimed, token=token)

    async def refresh_forever(self) -> None:
        """Reload the revocation sets from the registry every ``refresh_s`` (other hosts' too)."""
        assert self.registry is not None
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                devices, tokens = await asyncio.to_thread(self.registry.revoked)
            except Exception as exc:  # keep the last known sets; say so
                log.warning("revocation refresh failed: %s", exc)
                continue
            # a union: a revocation made here while the query ran must not be undone by it
            self.revoked_devices = devices | self.revoked_devices
            self.revoked_tokens = tokens | self.revoked_tokens
