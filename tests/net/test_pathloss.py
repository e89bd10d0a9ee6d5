"""TR 38.901 path loss: equal to the spec's formulas at tabulated points (an independent scalar
re-implementation below, written from Table 7.4.1-1 with ``math``), to NVIDIA Sionna's
implementation, and to a few values worked out by hand; errors name the bad value."""

import math

import numpy as np
import pytest

from tinylarge.errors import TinylargeError, UnknownNameError
from tinylarge.net import los_probability, pathloss_db, scenario_model, shadow_fading_sigma_db
from tinylarge.net.sionna_check import SIONNA_SCENARIOS, sionna_pathloss_db

C = 299_792_458.0


def ref_pl(scenario: str, d3: float, fc: float, los: bool, hbs: float, hut: float) -> float:
    """Table 7.4.1-1, one point at a time (d3: 3D distance m, fc: GHz)."""
    d2 = math.sqrt(d3 * d3 - (hbs - hut) ** 2)
    lg = math.log10
    if scenario in ("umi", "uma", "ci-umi"):
        d_bp = 4 * (hbs - 1) * (hut - 1) * fc * 1e9 / C
        if scenario == "uma":
            a, b, c = 28.0, 22.0, 9.0
        else:
            a, b, c = 32.4, 21.0, 9.5
        if d2 <= d_bp:
            pl_los = a + b * lg(d3) + 20 * lg(fc)
        else:
            pl_los = a + 40 * lg(d3) + 20 * lg(fc) - c * lg(d_bp**2 + (hbs - hut) ** 2)
        if los:
            return pl_los
        if scenario == "umi":
            return max(pl_los, 35.3 * lg(d3) + 22.4 + 21.3 * lg(fc) - 0.3 * (hut - 1.5))
        if scenario == "uma":
            return max(pl_los, 13.54 + 39.08 * lg(d3) + 20 * lg(fc) - 0.6 * (hut - 1.5))
        return max(pl_los, 32.4 + 20 * lg(fc) + 31.9 * lg(d3))
    if scenario == "rma":
        h, w = 5.0, 20.0
        d_bp = 2 * math.pi * hbs * hut * fc * 1e9 / C

        def pl1(d):
            return (
                20 * lg(40 * math.pi * d * fc / 3)
                + min(0.03 * h**1.72, 10) * lg(d)
                - min(0.044 * h**1.72, 14.77)
                + 0.002 * lg(h) * d
            )

        pl_los = pl1(d3) if d2 <= d_bp else pl1(d_bp) + 40 * lg(d3 / d_bp)
        if los:
            return pl_los
        nlos = (
            161.04
            - 7.1 * lg(w)
            + 7.5 * lg(h)
            - (24.37 - 3.7 * (h / hbs) ** 2) * lg(hbs)
            + (43.42 - 3.1 * lg(hbs)) * (lg(d3) - 3)
            + 20 * lg(fc)
            - (3.2 * lg(11.75 * hut) ** 2 - 4.97)
        )
        return max(pl_los, nlos)
    if scenario in ("inh", "ci-inh"):
        pl_los = 32.4 + 17.3 * lg(d3) + 20 * lg(fc)
        if los:
            return pl_los
        if scenario == "inh":
            return max(pl_los, 38.3 * lg(d3) + 17.30 + 24.9 * lg(fc))
        return max(pl_los, 32.4 + 20 * lg(fc) + 31.9 * lg(d3))
    pl_los = 31.84 + 21.50 * lg(d3) + 19.00 * lg(fc)
    if los:
        return pl_los
    sl = 33 + 25.5 * lg(d3) + 20 * lg(fc)
    return {
        "inf-sl": max(sl, pl_los),
        "inf-dl": max(18.6 + 35.7 * lg(d3) + 20 * lg(fc), pl_los, sl),
        "inf-sh": max(32.4 + 23.0 * lg(d3) + 20 * lg(fc), pl_los),
        "inf-dh": max(33.63 + 21.9 * lg(d3) + 20 * lg(fc), pl_los),
    }[scenario]


OUTDOOR_D2 = [10.0, 35.0, 120.0, 400.0, 900.0, 2500.0, 4900.0]
INDOOR_D2 = [1.0, 3.0, 8.0, 20.0, 60.0, 140.0]
FREQS = {"rma": [0.7, 3.5, 28.0], "ci-umi": [28.0, 140.0], "ci-inh": [28.0, 140.0]}


def points(scenario):
    m = scenario_model(scenario)
    d2s = OUTDOOR_D2 if m.min_distance_2d_m >= 10 else INDOOR_D2
    for fc in FREQS.get(scenario, [0.8, 3.5, 10.0, 28.0, 70.0]):
        for d2 in d2s:
            yield d2, math.hypot(d2, m.h_bs_default_m - m.h_ut_default_m), fc


ALL = ["umi", "uma", "rma", "inh", "inf-sl", "inf-dl", "inf-sh", "inf-dh", "ci-umi", "ci-inh"]


@pytest.mark.parametrize("scenario", ALL)
@pytest.mark.parametrize("los", [True, False])
def test_equals_the_spec_formulas_at_tabulated_points(scenario, los):
    m = scenario_model(scenario)
    pts = list(points(scenario))
    d3 = np.array([p[1] for p in pts])
    fc = np.array([p[2] for p in pts])
    got = pathloss_db(scenario, d3, fc, los)
    want = [ref_pl(scenario, p[1], p[2], los, m.h_bs_default_m, m.h_ut_default_m) for p in pts]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


@pytest.mark.parametrize("scenario", SIONNA_SCENARIOS)
@pytest.mark.parametrize("los", [True, False])
def test_equals_sionna(scenario, los):
    m = scenario_model(scenario)
    d2 = np.array(OUTDOOR_D2 if m.min_distance_2d_m >= 10 else INDOOR_D2)
    d3 = np.hypot(d2, m.h_bs_default_m - m.h_ut_default_m)
    for fc in (0.8, 3.5, 28.0):
        ours = pathloss_db(scenario, d3, fc, los)
        theirs = sionna_pathloss_db(scenario, d2, fc, los, m.h_bs_default_m, m.h_ut_default_m)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)


def test_values_worked_out_by_hand():
    # UMi LOS before the breakpoint: 32.4 + 21 log10(100) + 20 log10(3.5) = 32.4 + 42 + 10.8814
    assert pathloss_db("umi", 100.0, 3.5, True, 10.0, 1.5) == pytest.approx(85.2814, abs=1e-4)
    # InH NLOS at 10 m, 28 GHz: max(32.4+17.3+28.9432, 38.3+17.3+36.0342) = 91.6342
    assert pathloss_db("inh", 10.0, 28.0, False, 3.0, 1.0) == pytest.approx(91.6342, abs=1e-4)
    # UMa: beyond d'BP = 4*24*0.5*3.5e9/c = 560.4 m the LOS slope is 40 dB/decade
    a = pathloss_db("uma", [1000.0, 2000.0], 3.5, True)
    assert a[1] - a[0] == pytest.approx(40 * math.log10(2), abs=0.01)


def test_broadcasts_and_nlos_is_never_below_los():
    d = np.linspace(40, 3000, 50)[:, None]
    fc = np.array([0.8, 3.5, 28.0])[None, :]
    for s in ("umi", "uma", "rma"):
        los, nlos = pathloss_db(s, d, fc, True), pathloss_db(s, d, fc, False)
        assert los.shape == nlos.shape == (50, 3)
        assert np.all(nlos >= los) and np.all(np.diff(los, axis=0) > 0)
    mixed = pathloss_db("umi", [100.0, 100.0], 3.5, [True, False])
    assert mixed[1] > mixed[0]


def test_los_probability_table():
    assert los_probability("umi", [5.0, 18.0])[0] == 1.0
    # UMi at 100 m: 18/100 + exp(-100/36) (1 - 18/100)
    assert los_probability("umi", 100.0) == pytest.approx(0.18 + math.exp(-100 / 36) * 0.82)
    assert los_probability("rma", 1010.0) == pytest.approx(math.exp(-1.0))
    assert los_probability("inh", 10.0) == pytest.approx(0.32 * math.exp(-3.5 / 32.6))
    # InF-DH: k = -2/ln(0.4) * (8-1.5)/(6-1.5)
    k = -2 / math.log(0.4) * 6.5 / 4.5
    assert los_probability("inf", 5.0) == pytest.approx(math.exp(-5 / k))
    p = los_probability("uma", np.linspace(0, 2000, 100))
    assert np.all((p >= 0) & (p <= 1)) and np.all(np.diff(p) <= 1e-12)


def test_shadow_fading_sigmas():
    assert list(shadow_fading_sigma_db("umi", [True, False])) == [4.0, 7.82]
    assert list(shadow_fading_sigma_db("inf-dl", [True, False])) == [4.3, 7.2]
    # RMa LOS: 4 dB before the breakpoint (2 pi 35 1.5 3.5e9/c = 3851 m), 6 dB after
    assert list(shadow_fading_sigma_db("rma", True, [1000.0, 5000.0], 3.5)) == [4.0, 6.0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("lte", 100.0, 3.5, True), "unknown path-loss scenario 'lte'; valid: ci-inh, ci-umi, inf"),
        (("umi", [100.0, -5.0], 3.5, True), "distance_m must be a positive 3D distance, got -5"),
        (
            ("umi", 100.0, 140.0, True),
            "fc_ghz 140 is outside the umi model's validity range 0.5-100",
        ),
        (("rma", 100.0, 60.0, True), "fc_ghz 60 is outside the rma model's validity range 0.5-30"),
        (("uma", 100.0, 3.5, True, 25.0, 40.0), "h_ut_m 40 is outside the uma model's validity"),
        (
            ("uma", 10.0, 3.5, True),
            "distance_m 10 is shorter than the antenna height difference 23.5",
        ),
    ],
)
def test_bad_input_is_named(args, message):
    with pytest.raises(TinylargeError, match=message.replace("(", r"\(")):
        pathloss_db(*args)


def test_unknown_scenario_is_a_key_error_too():
    with pytest.raises(UnknownNameError):
        los_probability("indoor", 10.0)
