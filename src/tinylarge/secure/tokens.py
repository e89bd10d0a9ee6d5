"""Per-device bearer tokens: issue and verify, with expiry, under one HMAC-SHA256 key.

A token is ``tl2.<device_id>.<expires_at_s>.<nonce>.<signature>`` where the signature is
HMAC-SHA256 (RFC 2104) over everything before it with the service's secret, base64url without
padding. The random nonce makes every token distinct, so one can be revoked alone (the registry
stores revoked tokens' hashes). Version ``tl1`` tokens (no nonce) still verify. Verification
needs only the secret (no table of issued tokens), so every uvicorn worker or host that shares the
secret accepts the same tokens: the service stays stateless per request.
An optional allow-list of device ids rejects devices that were never enrolled or were revoked.

Comparisons are constant-time (``hmac.compare_digest``) so the signature cannot be guessed byte
by byte from response timings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tinylarge.errors import TinylargeError

TOKEN_VERSION = "tl2"
LEGACY_VERSION = "tl1"  # tl1.<device>.<expiry>.<sig>: still accepted, no longer issued
NONCE_BYTES = 9  # a random token id: two tokens issued in the same second still differ
SECRET_BYTES = 32  # 256-bit key, the HMAC-SHA256 block-size recommendation of RFC 2104 sec. 3
# device ids travel inside the token: keep them to a safe alphabet with no '.' separator
DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class TokenError(TinylargeError):
    """A token that does not verify: malformed, forged, expired, or for an unknown device."""


class ExpiredTokenError(TokenError):
    """A well-signed token whose expiry time has passed."""


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says: which device it is and until when (Unix seconds)."""

    device_id: str
    expires_at_s: int


def new_secret() -> bytes:
    """A fresh random signing key (``SECRET_BYTES`` bytes from the OS CSPRNG)."""
    return secrets.token_bytes(SECRET_BYTES)


def write_secret(path: str | Path, secret: bytes | None = None) -> bytes:
    """Store ``secret`` (a new one if ``None``) as hex in ``path``, readable by the owner only."""
    secret = new_secret() if secret is None else secret
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(secret.hex() + "\n")
    path.chmod(0o600)
    return secret


def read_secret(path: str | Path) -> bytes:
    """The key stored by :func:`write_secret`; a clear error if the file is missing or garbled."""
    path = Path(path)
    if not path.is_file():
        raise TinylargeError(f"token secret file {str(path)!r} does not exist")
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise TinylargeError(f"token secret file {str(path)!r} does not hold a hex key") from None
    if len(secret) < 16:
        raise TinylargeError(f"token secret in {str(path)!r} is {len(secret)} bytes; need >= 16")
    return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signature(secret: bytes, message: str) -> str:
    return _b64(hmac.new(secret, message.encode("ascii"), hashlib.sha256).digest())


def check_device_id(device_id: str) -> str:
    """``device_id`` unchanged, or a :class:`TokenError` naming it and the allowed alphabet."""
    if not isinstance(device_id, str) or not DEVICE_ID_PATTERN.match(device_id):
        raise TokenError(
            f"device id {device_id!r} is not valid; use 1-64 characters from A-Z a-z 0-9 _ -"
        )
    return device_id


def issue_token(secret: bytes, device_id: str, ttl_s: float, now_s: float | None = None) -> str:
    """A token for ``device_id`` valid for ``ttl_s`` seconds from ``now_s`` (default: now)."""
    check_device_id(device_id)
    if ttl_s <= 0:
        raise TokenError(f"token lifetime must be positive, got ttl_s={ttl_s}")
    now_s = time.time() if now_s is None else now_s
    expires_at_s = int(now_s + ttl_s)
    nonce = _b64(secrets.token_bytes(NONCE_BYTES))
    message = f"{TOKEN_VERSION}.{device_id}.{expires_at_s}.{nonce}"
    return f"{message}.{_signature(secret, message)}"


def verify_token(
    secret: bytes,
    token: str,
    now_s: float | None = None,
    known_devices: Iterable[str] | None = None,
) -> TokenClaims:
    """The claims of ``token`` if it is well-formed, correctly signed, unexpired and known.

    Raises :class:`ExpiredTokenError` for an expired token and :class:`TokenError` for anything
    else; the message says which check failed but never echoes the expected signature.
    """
    parts = token.split(".") if isinstance(token, str) else []
    if not (
        (len(parts) == 5 and parts[0] == TOKEN_VERSION)
        or (len(parts) == 4 and parts[0] == LEGACY_VERSION)
    ):
        raise TokenError(
            f"malformed token: expected '{TOKEN_VERSION}.<device>.<expiry>.<nonce>.<sig>'"
        )
    device_id, expiry, signature = parts[1], parts[2], parts[-1]
    if not DEVICE_ID_PATTERN.match(device_id) or not expiry.isdigit():
        raise TokenError("malformed token: bad device id or expiry field")
    expected = _signature(secret, ".".join(parts[:-1]))
    if not hmac.compare_digest(expected.encode(), signature.encode("ascii", "replace")):
        raise TokenError("token signature does not verify (unknown issuer or altered token)")
    now_s = time.time() if now_s is None else now_s
    if int(expiry) <= now_s:
        raise ExpiredTokenError(f"token for device {device_id!r} expired at {expiry} (Unix s)")
    if known_devices is not None and device_id not in set(known_devices):
        raise TokenError(f"device {device_id!r} is not enrolled with this service")
    return TokenClaims(device_id=device_id, expires_at_s=int(expiry))


class TokenAuthority:
    """Issues and verifies device tokens under one secret, with an optional device allow-list.

    ``known_devices=None`` accepts any device holding a valid token; a set restricts the service
    to enrolled devices, and :meth:`revoke` removes one (tokens already issued stop working).
    """

    def __init__(
        self, secret: bytes, known_devices: Iterable[str] | None = None, ttl_s: float = 3600.0
    ) -> None:
        if len(secret) < 16:
            raise TinylargeError(f"token secret is {len(secret)} bytes; need >= 16")
        self.secret = secret
        self.known_devices = None if known_devices is None else set(known_devices)
        self.ttl_s = ttl_s

    def enroll(self, device_id: str) -> None:
        if self.known_devices is not None:
            self.known_devices.add(check_device_id(device_id))

    def revoke(self, device_id: str) -> None:
        if self.known_devices is None:
            self.known_devices = set()
        self.known_devices.discard(device_id)

    def issue(self, device_id: str, ttl_s: float | None = None, now_s: float | None = None) -> str:
        self.enroll(device_id)
        return issue_token(self.secret, device_id, self.ttl_s if ttl_s is None else ttl_s, now_s)

    def verify(self, token: str, now_s: float | None = None) -> TokenClaims:
        return verify_token(self.secret, token, now_s, self.known_devices)


def auth_message(device_id: str, counter_ms: int) -> bytes:
    """What a device signs with its Ed25519 key to get a token: its id and a counter (Unix ms)
    that must rise from one request to the next, so a captured request cannot be replayed."""
    return f"tinylarge-auth/1:{check_device_id(device_id)}:{int(counter_ms)}".encode()
