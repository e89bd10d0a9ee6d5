"""Staged rollout: canaries first, promotion when healthy, rollback when they regress."""

from __future__ import annotations

import pytest

from tinylarge.secure.rollout import DeviceReport, Phase, Rollout, RolloutPolicy, canary_score

DEVICES = [f"device-{i}" for i in range(200)]
POLICY = RolloutPolicy(canary_fraction=0.1, min_canary_reports=3, min_canary_samples=10)


def report(device: str, version: int, acc: float = 0.95, latency_s: float = 0.01, **kw):
    return DeviceReport(device, version, 100, round(100 * acc), latency_s, **kw)


@pytest.fixture()
def rollout() -> Rollout:
    r = Rollout("r1", from_version=1, to_version=2, policy=POLICY)
    for d in DEVICES[:20]:
        r.report(report(d, 1))
    return r


def canaries(r: Rollout) -> list[str]:
    return [d for d in DEVICES if r.is_canary(d)]


def test_canaries_are_about_the_fraction_and_stable():
    r = Rollout("r1", 1, 2, POLICY)
    share = len(canaries(r)) / len(DEVICES)
    assert 0.05 < share < 0.16
    assert canaries(r) == canaries(Rollout("r1", 1, 2, POLICY))
    assert canaries(r) != canaries(Rollout("r2", 1, 2, POLICY))
    assert all(0 <= canary_score("r", d) < 1 for d in DEVICES)


def test_only_canaries_get_the_new_version_until_promotion(rollout):
    c = canaries(rollout)
    others = [d for d in DEVICES if d not in c]
    assert {rollout.target_version(d) for d in c} == {2}
    assert {rollout.target_version(d) for d in others} == {1}
    for d in c[:2]:
        assert rollout.report(report(d, 2)) is Phase.CANARY
    assert rollout.report(report(c[2], 2)) is Phase.FULL
    assert {rollout.target_version(d) for d in DEVICES} == {2}


def test_an_accuracy_regression_rolls_back_everyone(rollout):
    c = canaries(rollout)
    assert rollout.report(report(c[0], 2, acc=0.80)) is Phase.ROLLED_BACK
    assert "canary accuracy 0.800 vs 0.950" in rollout.reason
    assert {rollout.target_version(d) for d in DEVICES} == {1}
    assert rollout.report(report(c[1], 2)) is Phase.ROLLED_BACK  # final


def test_a_latency_regression_rolls_back(rollout):
    c = canaries(rollout)
    assert rollout.report(report(c[0], 2, latency_s=0.02)) is Phase.ROLLED_BACK
    assert "ratio > 1.5" in rollout.reason


def test_a_small_change_within_thresholds_promotes(rollout):
    c = canaries(rollout)
    for d in c[:3]:
        rollout.report(report(d, 2, acc=0.93, latency_s=0.013))
    assert rollout.phase is Phase.FULL


def test_a_failed_canary_update_rolls_back(rollout):
    c = canaries(rollout)
    phase = rollout.report(DeviceReport(c[0], 2, failed=True, detail="reverted: self-test"))
    assert phase is Phase.ROLLED_BACK and "self-test" in rollout.reason


def test_small_canary_reports_do_not_decide(rollout):
    c = canaries(rollout)
    for d in c[:5]:
        rollout.report(DeviceReport(d, 2, n_samples=5, n_correct=0, latency_s=0.01))
    assert rollout.phase is Phase.CANARY


def test_round_trips_through_json(rollout):
    import json

    c = canaries(rollout)
    rollout.report(report(c[0], 2))
    back = Rollout.from_dict(json.loads(json.dumps(rollout.to_dict())))
    assert back.to_dict() == rollout.to_dict()


def test_latency_is_compared_within_each_device_type():
    """A line shared by a fast and a slow core: canaries that happen to be slow cores must not
    look like a latency regression against a baseline of fast ones, and a real regression on
    one type still rolls back, naming the type."""
    r = Rollout("r1", from_version=1, to_version=2, policy=POLICY)
    c = canaries(r)
    for i, d in enumerate(d for d in DEVICES[:40] if d not in c):
        kind, lat = ("m4", 0.030) if i % 4 == 0 else ("m7", 0.010)
        r.report(report(d, 1, latency_s=lat, device_type=kind))
    for d in c[:3]:  # every canary is a slow core, at its type's usual latency
        r.report(report(d, 2, latency_s=0.031, device_type="m4"))
    assert r.phase is Phase.FULL  # pooled, 31 ms vs a 10 ms median would have rolled back

    r = Rollout("r1", from_version=1, to_version=2, policy=POLICY)
    for i, d in enumerate(d for d in DEVICES[:40] if d not in c):
        kind, lat = ("m4", 0.030) if i % 4 == 0 else ("m7", 0.010)
        r.report(report(d, 1, latency_s=lat, device_type=kind))
    r.report(report(c[0], 2, latency_s=0.020, device_type="m7"))
    assert r.phase is Phase.ROLLED_BACK
    assert "canary latency on m7 20.00 ms vs 10.00 ms" in r.reason


def test_reports_without_a_device_type_still_compare_latency_as_one_group(rollout):
    old = Rollout.from_dict(rollout.to_dict())  # a stored rollout round-trips
    assert old.reports == rollout.reports
    data = rollout.to_dict()
    for rep in data["reports"]:
        rep.pop("device_type")  # stored before the field existed
    assert Rollout.from_dict(data).reports == rollout.reports
