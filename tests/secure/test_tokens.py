"""Device tokens: a token verifies only under its secret, before its expiry, for a known device."""

from __future__ import annotations

import stat

import pytest

from tinylarge.errors import TinylargeError
from tinylarge.secure.tokens import (
    ExpiredTokenError,
    TokenAuthority,
    TokenError,
    issue_token,
    new_secret,
    read_secret,
    verify_token,
    write_secret,
)

NOW_S = 1_800_000_000.0


def test_a_token_verifies_to_its_device_and_expiry():
    secret = new_secret()
    token = issue_token(secret, "sensor-7", ttl_s=60, now_s=NOW_S)
    claims = verify_token(secret, token, now_s=NOW_S + 59)
    assert claims.device_id == "sensor-7"
    assert claims.expires_at_s == int(NOW_S + 60)


def test_a_token_is_rejected_at_and_after_its_expiry():
    secret = new_secret()
    token = issue_token(secret, "sensor-7", ttl_s=60, now_s=NOW_S)
    for t in (NOW_S + 60, NOW_S + 3600):
        with pytest.raises(ExpiredTokenError, match="expired"):
            verify_token(secret, token, now_s=t)


def test_another_secret_or_any_altered_field_fails_verification():
    secret = new_secret()
    token = issue_token(secret, "sensor-7", ttl_s=60, now_s=NOW_S)
    with pytest.raises(TokenError, match="signature"):
        verify_token(new_secret(), token, now_s=NOW_S)
    version, device, expiry, nonce, sig = token.split(".")
    altered = [
        f"{version}.sensor-8.{expiry}.{nonce}.{sig}",  # another device
        f"{version}.{device}.{int(expiry) + 3600}.{nonce}.{sig}",  # extended lifetime
        f"{version}.{device}.{expiry}.{nonce}x.{sig}",  # another token id
        f"{version}.{device}.{expiry}.{nonce}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}",
    ]
    for bad in altered:
        with pytest.raises(TokenError):
            verify_token(secret, bad, now_s=NOW_S)


@pytest.mark.parametrize(
    "bad", ["", "tl1", "tl1.a.b", "tl2.dev.123.sig", "tl1.dev.notanumber.sig", "tl1.d e v.1.s"]
)
def test_malformed_tokens_are_rejected_with_a_reason(bad):
    with pytest.raises(TokenError, match="malformed"):
        verify_token(new_secret(), bad, now_s=NOW_S)


def test_the_allow_list_rejects_unenrolled_and_revoked_devices():
    authority = TokenAuthority(new_secret(), known_devices={"a"}, ttl_s=60)
    token_b = issue_token(authority.secret, "b", ttl_s=60)
    with pytest.raises(TokenError, match="not enrolled"):
        authority.verify(token_b)
    token_c = authority.issue("c")  # issuing enrolls
    assert authority.verify(token_c).device_id == "c"
    authority.revoke("c")
    with pytest.raises(TokenError, match="not enrolled"):
        authority.verify(token_c)


def test_device_ids_and_lifetimes_are_checked_when_issuing():
    with pytest.raises(TokenError, match="device id"):
        issue_token(new_secret(), "has.dot", ttl_s=60)
    with pytest.raises(TokenError, match="ttl_s"):
        issue_token(new_secret(), "ok", ttl_s=0)


def test_secret_files_round_trip_and_are_private(tmp_path):
    path = tmp_path / "keys" / "secret.hex"
    secret = write_secret(path)
    assert read_secret(path) == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("zz-not-hex")
    with pytest.raises(TinylargeError, match="hex"):
        read_secret(path)
    with pytest.raises(TinylargeError, match="does not exist"):
        read_secret(tmp_path / "missing.hex")


def test_tokens_issued_in_the_same_second_differ_and_legacy_tokens_still_verify():
    import hashlib
    import hmac as hmac_mod

    from tinylarge.secure.tokens import _b64

    secret = new_secret()
    a = issue_token(secret, "d", ttl_s=60, now_s=NOW_S)
    b = issue_token(secret, "d", ttl_s=60, now_s=NOW_S)
    assert a != b and a.startswith("tl2.d.")
    message = f"tl1.d.{int(NOW_S + 60)}"
    legacy = f"{message}.{_b64(hmac_mod.new(secret, message.encode(), hashlib.sha256).digest())}"
    assert verify_token(secret, legacy, now_s=NOW_S).device_id == "d"
