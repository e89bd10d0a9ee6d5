"""The hardened service, live on loopback: device identities and tokens from a real registry,
revocation, audit records committed before answers, per-device rate limits, size limits, TLS,
and two service hosts sharing one PostgreSQL registry."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinylarge.large.client import LargeClient, ServiceError
from tinylarge.large.operator import OperatorClient
from tinylarge.large.service import ServiceConfig, create_app
from tinylarge.large.service.registry import Registry
from tinylarge.large.service.runner import serve_in_thread
from tinylarge.large.session import DeviceSession, backoff_delays
from tinylarge.secure.tls import client_verify, self_signed_cert
from tinylarge.secure.tokens import TokenAuthority, auth_message, write_secret

from .conftest import MODEL


def make_config(service_config, tmp_path, url, **kw) -> ServiceConfig:
    write_secret(tmp_path / "secret.hex")
    write_secret(tmp_path / "admin.hex")
    return service_config.model_copy(
        update={
            "secret_file": str(tmp_path / "secret.hex"),
            "admin_secret_file": str(tmp_path / "admin.hex"),
            "registry_url": url,
            "revocation_refresh_s": 0.1,
            **kw,
        }
    )


def admin_token(tmp_path) -> str:
    from tinylarge.secure.tokens import read_secret

    return TokenAuthority(read_secret(tmp_path / "admin.hex")).issue("operator")


@pytest.fixture()
def secured(service_config, teacher, tmp_path):
    """A service with a SQLite registry, an operator client and a registered device key."""
    cfg = make_config(
        service_config,
        tmp_path,
        f"sqlite:///{tmp_path / 'reg.db'}",
        rate_limit_rps=20.0,
        rate_limit_burst=5,
        rate_limit_delay_s=0.0,
    )
    app = create_app(cfg, backends={MODEL: teacher})
    with serve_in_thread(app) as url, OperatorClient(url, admin_token(tmp_path)) as op:
        key = Ed25519PrivateKey.generate()
        op.register("dev-1", key.public_key(), "nrf52840")
        yield url, op, key, cfg


def get_token(url: str, device: str, key: Ed25519PrivateKey, counter_ms: int | None = None):
    counter_ms = int(time.time() * 1000) if counter_ms is None else counter_ms
    body = {
        "device_id": device,
        "counter_ms": counter_ms,
        "signature": base64.b64encode(key.sign(auth_message(device, counter_ms))).decode(),
    }
    return httpx.post(f"{url}/v1/auth/token", json=body)


def test_a_registered_device_gets_a_token_that_works(secured, samples):
    url, op, key, cfg = secured
    r = get_token(url, "dev-1", key)
    assert r.status_code == 200
    with LargeClient(url, r.json()["token"]) as client:
        assert client.infer(MODEL, samples[:2]).n_samples == 2
    assert Registry(cfg.registry_url).token_count("dev-1") == 1


def test_refused_auth_is_named_and_audited_before_the_answer(secured):
    url, op, key, cfg = secured
    counter = int(time.time() * 1000)
    assert get_token(url, "dev-1", key, counter).status_code == 200
    replay = get_token(url, "dev-1", key, counter)
    stranger = get_token(url, "dev-1", Ed25519PrivateKey.generate())
    unknown = get_token(url, "dev-9", key)
    stale = get_token(url, "dev-1", key, counter - 3_600_000)
    reasons = {
        "counter did not increase": replay,
        "does not verify under the registered key": stranger,
        "'dev-9' is not registered": unknown,
        "off the service clock": stale,
    }
    audit = {a["audit_id"]: a for a in op.audit()}
    for text, r in reasons.items():
        assert r.status_code == 401 and text in r.json()["detail"]
        record = audit[int(r.headers["x-audit-id"])]  # committed before we got the answer
        assert record["status"] == 401 and text in record["reason"]


def test_revoking_a_device_stops_its_token_at_once(secured, samples):
    url, op, key, _ = secured
    token = get_token(url, "dev-1", key).json()["token"]
    op.revoke("dev-1", "stolen")
    with LargeClient(url, token) as client, pytest.raises(ServiceError) as info:
        client.infer(MODEL, samples[:1])
    assert info.value.status_code == 401 and "'dev-1' is revoked" in info.value.reason
    assert "is revoked" in get_token(url, "dev-1", key).json()["detail"]


def test_revoking_one_token_leaves_the_device(secured, samples):
    url, op, key, _ = secured
    old = get_token(url, "dev-1", key).json()["token"]
    op.revoke_token(old)
    new = get_token(url, "dev-1", key).json()["token"]
    with LargeClient(url, old) as a, LargeClient(url, new) as b:
        with pytest.raises(ServiceError, match="token has been revoked"):
            a.infer(MODEL, samples[:1])
        assert b.infer(MODEL, samples[:1]).n_samples == 1


def test_the_flooding_device_alone_is_rate_limited(secured, samples, authority):
    url, op, key, cfg = secured
    from tinylarge.secure.tokens import read_secret

    tokens = TokenAuthority(read_secret(cfg.secret_file))
    flood, calm = tokens.issue("flood"), tokens.issue("calm")
    statuses, refused = [], None
    with httpx.Client(base_url=url) as http:
        for _ in range(30):
            r = http.get(f"/v1/models/{MODEL}", headers={"Authorization": f"Bearer {flood}"})
            statuses.append(r.status_code)
            refused = r if r.status_code == 429 else refused
        calm_r = http.get(f"/v1/models/{MODEL}", headers={"Authorization": f"Bearer {calm}"})
    assert statuses[:5] == [200] * 5 and statuses.count(429) >= 20
    assert calm_r.status_code == 200
    # the last 429 (on a loaded machine the tarpit's delays refill the bucket, so the very last
    # request may be served again)
    assert int(refused.headers["retry-after"]) >= 1
    assert "rate limit exceeded for flood" in refused.text
    records = [a for a in op.audit() if a["status"] == 429]
    assert sum(a["n"] for a in records) == statuses.count(429)
    assert {a["device_id"] for a in records} == {"flood"}


def test_oversized_bodies_and_operator_checks(secured):
    url, op, key, cfg = secured
    r = httpx.post(f"{url}/v1/auth/token", content=b"x" * (cfg.max_body_bytes + 1))
    assert r.status_code == 413 and "x-audit-id" in r.headers
    with pytest.raises(ServiceError, match="not an operator token"):
        OperatorClient(url, "tl1.operator.1.x").devices()
    with pytest.raises(ServiceError, match="already registered"):
        op.register("dev-1", key.public_key(), "nrf52840")
    with pytest.raises(ServiceError, match="public_key must be 32 bytes"):
        op.register("dev-2", base64.b64encode(b"short").decode(), "nrf52840")


def test_device_session_backs_off_and_renews(secured, samples):
    url, op, key, _ = secured

    async def main():
        async with DeviceSession(url, "dev-1", key, seed=0) as s:
            first = await s.get_json("/v1/models")
            op.revoke_token(s.token)  # the session notices the 401 and authenticates again
            await asyncio.sleep(0.05)
            second = await s.get_json("/v1/models")
            return first, second, s.n_auth

    first, second, n_auth = asyncio.run(main())
    assert first == second and n_auth == 2
    delays = list(zip(range(8), backoff_delays(0.1, 1.0), strict=False))
    assert all(0 <= d <= min(1.0, 0.1 * 2**n) for n, d in delays)


def test_tls_with_a_self_signed_certificate(service_config, teacher, tmp_path, samples):
    cert, key = self_signed_cert(tmp_path / "cert.pem", tmp_path / "key.pem")
    cfg = make_config(service_config, tmp_path, None)
    app = create_app(cfg, backends={MODEL: teacher})
    with serve_in_thread(app, tls_cert_file=str(cert), tls_key_file=str(key)) as url:
        assert url.startswith("https://")
        assert httpx.get(f"{url}/health", verify=client_verify(cert)).status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{url}/health")
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(url.replace("https", "http") + "/health")


@pytest.mark.slow
def test_two_hosts_share_one_postgresql_registry(
    service_config, teacher, tmp_path, postgres_url, samples
):
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    cfg = make_config(service_config, tmp_path, postgres_url)
    host_a = create_app(cfg, backends={MODEL: teacher})
    host_b = create_app(cfg, backends={MODEL: teacher})
    with serve_in_thread(host_a) as a, serve_in_thread(host_b) as b:
        key = Ed25519PrivateKey.generate()
        OperatorClient(a, admin_token(tmp_path)).register("dev-pg", key.public_key(), "t")
        token = get_token(b, "dev-pg", key).json()["token"]  # registered on A, served by B
        with LargeClient(a, token) as ca, LargeClient(b, token) as cb:
            assert cb.infer(MODEL, samples[:1]).n_samples == 1
            OperatorClient(a, admin_token(tmp_path)).revoke("dev-pg")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # B picks it up within revocation_refresh_s
                try:
                    cb.infer(MODEL, samples[:1])
                    time.sleep(0.02)
                except ServiceError as exc:
                    assert "revoked" in exc.reason
                    break
            else:
                pytest.fail("host B never saw the revocation made on host A")
            with pytest.raises(ServiceError, match="revoked"):
                ca.infer(MODEL, samples[:1])
        audit_b = OperatorClient(b, admin_token(tmp_path)).audit()
        assert any("revoked" in r["reason"] for r in audit_b)


def test_registry_free_services_keep_stateless_tokens(server, token, samples):
    from tinylarge.large.client import _check

    with LargeClient(server, token) as client:
        assert client.infer(MODEL, samples[:1]).n_samples == 1
        with pytest.raises(ServiceError, match="without a device registry"):
            _check(client._http.get("/v1/updates"))


@pytest.mark.slow
def test_a_sigkilled_service_keeps_what_it_acknowledged(service_config, tmp_path):
    """Registration, revocation and an audit record answered before a SIGKILL survive it."""
    import os
    import signal

    from tinylarge.large.service.runner import free_port, start_service, wait_healthy

    cfg = make_config(service_config, tmp_path, f"sqlite:///{tmp_path / 'reg.db'}")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_service(cfg, port)
    try:
        wait_healthy(url, proc)
        with OperatorClient(url, admin_token(tmp_path)) as op:
            op.register("dev-k", Ed25519PrivateKey.generate().public_key(), "t")
            op.register("dev-r", Ed25519PrivateKey.generate().public_key(), "t")
            op.revoke("dev-r", "stolen")
        refused = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer x.y"})
        audit_id = int(refused.headers["x-audit-id"])
        os.killpg(proc.pid, signal.SIGKILL)  # no shutdown hook runs
        proc.wait(timeout=30)
        proc = start_service(cfg, port)
        wait_healthy(url, proc)
        with OperatorClient(url, admin_token(tmp_path)) as op:
            devices = {d["device_id"]: d for d in op.devices()}
            audit = {a["audit_id"]: a for a in op.audit()}
        assert set(devices) == {"dev-k", "dev-r"}
        assert devices["dev-r"]["revoked_reason"] == "stolen"
        assert audit[audit_id]["status"] == 401
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
