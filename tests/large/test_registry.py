"""The device registry on SQLite and on a real PostgreSQL cluster: the same behaviour on both."""

from __future__ import annotations

import time

import pytest

from tinylarge.large.service.registry import AuditRecord, Registry, RegistryError, token_hash
from tinylarge.secure.rollout import DeviceReport, Phase, RolloutPolicy

KEY = "A" * 43 + "="


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request, tmp_path) -> Registry:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        from sqlalchemy import create_engine, text

        engine = create_engine(url)  # each test gets an empty schema
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    r = Registry(url)
    yield r
    r.close()


def test_register_once_revoke_and_list(registry):
    registry.register("dev-1", KEY, "nrf52840")
    with pytest.raises(RegistryError, match="'dev-1' is already registered"):
        registry.register("dev-1", KEY, "nrf52840")
    registry.revoke("dev-1", "lost")
    with pytest.raises(RegistryError, match="unknown device 'nope'"):
        registry.revoke("nope", "x")
    row = registry.device("dev-1")
    assert row["revoked_reason"] == "lost" and row["revoked_at_s"] <= time.time()
    assert registry.revoked()[0] == {"dev-1"}


def test_auth_counter_only_rises(registry):
    registry.register("dev-1", KEY, "t")
    assert registry.advance_auth("dev-1", 100) is True
    assert registry.advance_auth("dev-1", 100) is False  # replay
    assert registry.advance_auth("dev-1", 99) is False
    assert registry.advance_auth("dev-1", 101) is True


def test_tokens_are_stored_hashed_and_revocable(registry):
    registry.record_token("dev-1", "tl1.dev-1.9999999999.sig", time.time() + 60)
    registry.record_token("dev-1", "tl1.dev-1.9999999999.old", time.time() - 1)
    registry.revoke_token("tl1.dev-1.9999999999.sig")
    registry.revoke_token("tl1.dev-1.9999999999.old")
    assert registry.revoked()[1] == {token_hash("tl1.dev-1.9999999999.sig")}  # expired: dropped
    with pytest.raises(RegistryError, match="never issued"):
        registry.revoke_token("tl1.other")
    assert registry.token_count("dev-1") == 2


def test_audit_batches_merge_identical_refusals(registry):
    a = AuditRecord(1.0, "POST", "/v1/x", 429, "rate limit", device_id="d")
    b = AuditRecord(1.0, "POST", "/v1/x", 401, "bad token", claimed="e")
    ids = registry.audit_many([a, b, a, a])
    assert ids[0] == ids[2] == ids[3] != ids[1]
    counts = registry.audit_counts()
    assert counts[ids[0]] == 3 and counts[ids[1]] == 1
    log = registry.audit_log()
    assert [r["reason"] for r in log] == ["rate limit", "bad token"]


def test_rollout_reports_drive_the_stored_phase(registry):
    for v in (1, 2):
        registry.add_bundle(v, "0" * 64, "t", 1, b"zip")
    with pytest.raises(RegistryError, match="already stored"):
        registry.add_bundle(1, "0" * 64, "t", 1, b"zip")
    with pytest.raises(RegistryError, match=r"no bundle version 7; stored: \[1, 2\]"):
        registry.start_rollout("r", "t", 1, 7, RolloutPolicy())
    policy = RolloutPolicy(canary_fraction=1.0, min_canary_reports=1, min_canary_samples=1)
    registry.start_rollout("r", "t", 1, 2, policy)
    registry.report("r", DeviceReport("a", 1, 100, 95, 0.01))
    rollout = registry.report("r", DeviceReport("a", 2, 100, 60, 0.01))
    assert rollout.phase is Phase.ROLLED_BACK
    again = registry.rollout("r")
    assert again.phase is Phase.ROLLED_BACK and "canary accuracy 0.600" in again.reason
    assert registry.latest_rollout("t").rollout_id == "r" and registry.latest_rollout("u") is None
    with pytest.raises(RegistryError, match="unknown rollout 'zz'"):
        registry.report("zz", DeviceReport("a", 2))


def test_bad_urls_are_named():
    with pytest.raises(RegistryError, match="unsupported registry URL 'mysql://x'"):
        Registry("mysql://x")
