"""Early exit and split as closed-loop policies: the routing rules, a tiny loop of each end to end
(real int8 graphs, real report), split sending activations and never raw input, and the exit
share following the exit threshold."""

from pathlib import Path

import numpy as np
import pytest

from tinylarge.errors import TinylargeError
from tinylarge.scenario.policy import PolicyState, apply_change
from tinylarge.scenario.schema import load_scenario, with_overrides

DATA = Path(__file__).parent / "data"


def state(kind):
    s = PolicyState.initial(["nrf52840"], kind, 0.8, None, 0.2)
    s.exit_threshold = 0.6
    return s


def test_a_bad_policy_kind_lists_the_valid_ones():
    with pytest.raises(TinylargeError) as err:
        with_overrides(load_scenario(DATA / "split.yaml"), policy={"kind": "early-exits"})
    assert str(err.value) == (
        "invalid scenario (with overrides): policy.kind: Input should be 'cascade', 'local',"
        " 'offload-all', 'early-exit' or 'split'"
    )


def test_early_exit_runs_on_below_its_own_threshold_and_never_audits_raw_input():
    s = state("early-exit")
    scores = np.array([0.5, 0.65, 0.7, 0.9])  # the cascade threshold (0.8) plays no part
    audit = np.array([True, True, True, True])
    assert s.offload_mask("nrf52840", scores, audit=audit).tolist() == [True, False, False, False]
    s.exit_threshold = 0.75  # a stricter exit: fewer samples exit
    assert s.offload_mask("nrf52840", scores).tolist() == [True, True, True, False]
    s.battery_below = 0.5  # a low battery answers with the plain student: nothing runs further
    assert not s.offload_mask("nrf52840", scores, battery=0.2).any()


def test_split_sends_every_request_under_its_cap_and_audit_adds_no_raw_input():
    s = state("split")
    scores = np.array([0.9, 0.1, 0.5, 0.7])
    assert s.offload_mask("nrf52840", scores, audit=np.zeros(4, bool)).all()
    s.max_offload["nrf52840"] = 0.5  # the cap keeps the surest (by the student's gate) local
    assert s.offload_mask("nrf52840", scores).tolist() == [False, True, True, False]


def test_data_stays_on_device_picks_split_when_it_is_deployed_and_local_otherwise():
    plain = state("cascade")
    what = apply_change(plain, "data_stays_on_device", {}, {"nrf52840": 0.1})
    assert plain.kind == {"nrf52840": "local"} and "-> local" in what
    built = state("cascade")
    built.available = ("split",)
    what = apply_change(built, "data_stays_on_device", {}, {"nrf52840": 0.1})
    assert built.kind == {"nrf52840": "split"} and "-> split" in what
    exits = state("early-exit")
    exits.available = ("split",)
    apply_change(exits, "data_stays_on_device", {}, {"nrf52840": 0.1})
    assert exits.kind == {"nrf52840": "early-exit"}  # already keeps its input: unchanged


def _deployed(name, tmp_path):
    from tinylarge.data import load_dataset
    from tinylarge.scenario.patterns import deploy_patterns
    from tinylarge.scenario.runner import RunContext
    from tinylarge.scenario.stages import deploy_student, offload_cascade, train_models

    s = with_overrides(load_scenario(DATA / f"{name}.yaml"), cache_dir=tmp_path / "cache")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    ctx = RunContext(s, load_dataset(s.dataset, seed=s.seed), run_dir, tmp_path / "cache", False)
    for stage in (train_models, deploy_student, offload_cascade, deploy_patterns):
        stage(ctx)
    return ctx


@pytest.mark.slow
def test_early_exit_loop_exits_on_device_and_its_exit_share_follows_the_threshold(tmp_path):
    from tinylarge.scenario.loop import Pools, run_loop
    from tinylarge.tiny.gates import gate_scores

    ctx = _deployed("early-exit", tmp_path)
    ee = ctx.artifacts["patterns"].exit
    assert set(ee.paths) == {"A", "E", "B"} and all(p.exists() for p in ee.paths.values())
    cost = ee.costs["nrf52840"]
    assert cost.first_latency_s > 0 and cost.further_latency_s > 0 and cost.further_bytes == 0
    loop = run_loop(ctx)
    ticks = loop["ticks"]
    assert len(ticks) == 3
    for t in ticks:
        assert t["offload_fraction"] == 0.0 and t["bytes_up_per_request"] == 0.0
        assert 0.0 < t["exit_fraction"] <= 1.0
        assert 0.0 < t["accuracy"] <= 1.0
        # an exited request costs A+E only, one that runs on A+E+B: the mean lies between
        lo, hi = cost.first_energy_j, cost.first_energy_j + cost.further_energy_j
        assert lo <= t["energy_j"] <= hi
    assert not any(e["event"] == "update signed" for e in loop["events"])  # nothing labelled
    # on the real int8 exit outputs: a higher exit threshold lets fewer samples exit
    pools = Pools(ctx.dataset, ctx.scenario, ctx.artifacts["teacher"])
    exit_logits, _ = ctx.artifacts["patterns"].outputs("early-exit", pools, "clean", "B")
    scores = gate_scores(exit_logits, ee.gate)
    s = PolicyState.initial(["nrf52840"], "early-exit", 0.0, None, 0.2)
    shares = []
    for threshold in (0.3, 0.6, 0.9, 0.99):
        s.exit_threshold = threshold
        shares.append(1.0 - s.offload_mask("nrf52840", scores).mean())
    assert shares == sorted(shares, reverse=True) and shares[0] > shares[-1]


@pytest.mark.slow
def test_split_loop_sends_activations_never_raw_input_and_reports(tmp_path):
    from tinylarge.scenario import run_scenario
    from tinylarge.scenario.browser import check_report
    from tinylarge.scenario.report import SECTIONS

    s = with_overrides(
        load_scenario(DATA / "split.yaml"), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "c"
    )
    result = run_scenario(s, progress=False)
    m = result.metrics
    split = m["patterns"]["split"]
    act, raw = split["activation_bytes"], split["input_bytes"]
    assert act == split["activation_elements_by_cut"][split["cut"] - 1]
    for t in m["loop"]["ticks"]:
        assert t["offload_fraction"] > 0.0 and t["exit_fraction"] is None
        # every request sent up carries the int8 activation (never the input's bytes)
        assert t["bytes_up_per_request"] == pytest.approx(act * t["offload_fraction"])
    assert raw == 24  # ItalyPowerDemand: 24 int8 readings, the payload a cascade would send
    # audit_fraction is set, yet no raw input went up: LargeML had nothing to re-distil on
    assert not any(e["event"] == "update signed" for e in m["loop"]["events"])
    page = check_report(result.run_dir / "report.html")
    assert page.console == [] and page.rendered == "ok"
    assert list(page.sections) == list(SECTIONS)
    html = (result.run_dir / "report.html").read_text()
    assert "Split after block" in html and "never sent" in html
