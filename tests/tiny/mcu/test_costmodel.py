"""Cost model: cycles-per-instruction factors, leave-one-out, the instruction model (pure)."""

from __future__ import annotations

import math

import pytest

from tinylarge.tiny.mcu import costmodel
from tinylarge.tiny.mcu.costmodel import (
    KRAI_CMSIS_NN,
    VENDOR_REFERENCE,
    PublishedPoint,
    fit_factors,
    fit_instruction_model,
    leave_one_out,
)


def _point(model, core, latency_s, device=None):
    return PublishedPoint(
        model, device or f"board-{core}", "board", core, latency_s, "stack", "src"
    )


def test_the_calibration_points_are_the_published_krai_results():
    """MLPerf Tiny v1.1 closed, Krai microTVM + CMSIS-NN: the four medians the issue names."""
    got = {(p.model, p.device): p.latency_s for p in KRAI_CMSIS_NN}
    assert got == {
        ("mlperf_kws_dscnn_int8", "stm32l4r5"): pytest.approx(99.81e-3),
        ("mlperf_ad_autoencoder_int8", "stm32l4r5"): pytest.approx(8.60e-3),
        ("mlperf_kws_dscnn_int8", "nrf5340"): pytest.approx(76.49e-3),
        ("mlperf_ad_autoencoder_int8", "nrf5340"): pytest.approx(6.29e-3),
    }
    assert all("CMSIS-NN" in p.stack for p in KRAI_CMSIS_NN)
    assert [p.stack for p in VENDOR_REFERENCE] == ["ST X-CUBE-AI"]


def test_a_core_factor_is_the_geometric_mean_of_what_its_points_imply():
    pts = [_point("a", "m4", 2.0), _point("b", "m4", 8.0)]
    instr = {("a", "m4"): 1_000_000, ("b", "m4"): 1_000_000}
    clocks = {"board-m4": 1e6}
    f = fit_factors(pts, instr, clocks, ["m7"])
    assert f["m4"].cpi == pytest.approx(math.sqrt(2.0 * 8.0))
    assert f["m4"].n_points == 2 and f["m4"].basis == "fitted on this core"
    # a core with no point takes the pooled factor, and says so
    assert f["m7"].cpi == pytest.approx(4.0) and f["m7"].basis.startswith("pooled")


def test_leave_one_out_is_exact_when_one_factor_explains_every_point():
    """If latency = instructions x 1.5 / clock everywhere, every held-out point is predicted."""
    instr = {("a", "m4"): 7_000_000, ("b", "m4"): 800_000, ("a", "m33"): 6_900_000}
    instr[("b", "m33")] = 790_000
    clocks = {"board-m4": 120e6, "board-m33": 128e6}
    pts = [_point(m, c, instr[(m, c)] * 1.5 / clocks[f"board-{c}"]) for m, c in sorted(instr)]
    rows = leave_one_out(pts, instr, clocks)
    assert len(rows) == 4
    for row in rows:
        assert row["error"] == pytest.approx(0.0, abs=1e-12)
        assert row["factor_basis"] == "fitted on this core"


def test_leave_one_out_sees_an_op_mix_the_factor_does_not_explain():
    """Two models whose cycles per instruction differ 2x on one core: each held-out point is
    predicted from the other, so the error is the full 2x (up, then down)."""
    instr = {("a", "m4"): 1_000_000, ("b", "m4"): 1_000_000}
    pts = [_point("a", "m4", 1.0), _point("b", "m4", 2.0)]
    rows = leave_one_out(pts, instr, {"board-m4": 1e6})
    assert [r["error"] for r in rows] == pytest.approx([1.0, -0.5])


def test_the_instruction_model_recovers_known_per_op_costs():
    """Samples made from 3 instructions/MAC (conv), 9/MAC (depthwise) and 500 per op."""
    truth = {"conv": 3.0, "depthwise": 9.0, "elementwise": 2.0}
    samples = [
        (cls, work, int(truth[cls] * work + 500))
        for cls in truth
        for work in (1_000, 20_000, 300_000)
    ]
    model = fit_instruction_model("m4", samples)
    assert model.per_op == pytest.approx(500, rel=1e-3)
    for cls, value in truth.items():
        assert model.per_unit[cls] == pytest.approx(value, rel=1e-4)
    assert "fully_connected" not in model.per_unit  # no sample: nothing to say


def test_the_stored_calibration_has_every_point_measured():
    cal = costmodel.load_calibration()
    for p in KRAI_CMSIS_NN:
        assert cal.instructions[(p.model, p.core)] > 0
    assert set(cal.instruction_models) >= {"cortex-m4", "cortex-m7", "cortex-m33", "cortex-m0plus"}
