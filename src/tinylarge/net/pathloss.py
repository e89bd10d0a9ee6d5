"""Large-scale channel of 3GPP TR 38.901 (V17): path loss, LOS probability, shadow fading.

Every formula is the spec's, vectorised with numpy broadcasting:

- path loss: Table 7.4.1-1 (UMi street canyon, UMa, RMa, InH office, InF), LOS and NLOS, with the
  breakpoint distances of its notes 1 (RMa) and 1/2 (UMa, UMi: effective heights h' = h - 1 m);
- LOS probability: Table 7.4.2-1 (InH: the mixed-office variant);
- shadow-fading standard deviations: Table 7.4.1-1; Ricean K-factors and shadow-fading decorrelation
  distances: Table 7.5-6.

InF sub-scenarios: ``inf-sl``, ``inf-dl``, ``inf-sh``, ``inf-dh`` (sparse/dense clutter,
low/high base station); ``inf`` is InF-DH (a factory hall full of machines, antennas above the
clutter). Their clutter parameters (density r, size d_clutter, height h_c) are our choice inside
Table 7.2-4's ranges (the same as Sionna's defaults): sparse r = 0.2, d_clutter = 10 m,
h_c = 2 m; dense r = 0.6, d_clutter = 2 m, h_c = 6 m.

UMa: the effective environment height h_E is 1 m for h_UT < 13 m; above that the spec draws it at
random (note 1), so this deterministic mean path loss uses h_E = 1 m throughout.

Beyond TR 38.901's 100 GHz: ``ci-umi`` and ``ci-inh`` are the close-in free-space-reference forms
the table itself lists (UMi LOS PL1 ``32.4 + 21 log10 d + 20 log10 fc``; the optional NLOS models
``32.4 + 20 log10 fc + 31.9 log10 d``, sigma 8.2 dB UMi / 8.29 dB InH), extended to 150 GHz on the
finding of Xing & Rappaport, "Millimeter Wave and Terahertz Urban Microcell Propagation Measurements
and Models" (IEEE Comm. Letters, 2021), that 1-m-referenced path-loss exponents are essentially the
same from 28 to 142 GHz. Gaseous absorption near 140 GHz (about 1 dB/km, ITU-R P.676) is below
0.5 dB over these cell sizes and left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinylarge.errors import TinylargeError, UnknownNameError

SPEED_OF_LIGHT_M_S = 299_792_458.0


@dataclass(frozen=True)
class ScenarioModel:
    """Validity ranges and default geometry of one path-loss scenario."""

    name: str
    description: str
    fc_range_ghz: tuple[float, float]
    h_bs_range_m: tuple[float, float]
    h_ut_range_m: tuple[float, float]
    h_bs_default_m: float
    h_ut_default_m: float
    sf_los_db: float
    sf_nlos_db: float
    k_factor_db: float  # mean Ricean K in LOS, Table 7.5-6
    sf_corr_los_m: float  # shadow-fading decorrelation distance, Table 7.5-6
    sf_corr_nlos_m: float
    min_distance_2d_m: float  # smallest 2D distance the table covers


_IND_H = (1.0, 10.0)  # indoor UT heights we accept (the tables fix 1-1.5 m)
MODELS: dict[str, ScenarioModel] = {
    m.name: m
    for m in (
        ScenarioModel(
            "umi", "UMi street canyon", (0.5, 100.0), (3.0, 30.0), (1.5, 22.5),
            10.0, 1.5, 4.0, 7.82, 9.0, 10.0, 13.0, 10.0,
        ),
        ScenarioModel(
            "uma", "UMa", (0.5, 100.0), (10.0, 50.0), (1.5, 22.5),
            25.0, 1.5, 4.0, 6.0, 9.0, 37.0, 50.0, 10.0,
        ),
        ScenarioModel(
            "rma", "RMa", (0.5, 30.0), (10.0, 150.0), (1.0, 10.0),
            35.0, 1.5, 4.0, 8.0, 7.0, 37.0, 120.0, 10.0,
        ),
        ScenarioModel(
            "inh", "InH office (mixed)", (0.5, 100.0), (2.0, 6.0), _IND_H,
            3.0, 1.0, 3.0, 8.03, 7.0, 10.0, 6.0, 1.0,
        ),
        ScenarioModel(
            "inf-sl", "InF sparse clutter, low BS", (0.5, 100.0), (1.0, 2.0), _IND_H,
            1.5, 1.5, 4.3, 5.7, 7.0, 10.0, 10.0, 1.0,
        ),
        ScenarioModel(
            "inf-dl", "InF dense clutter, low BS", (0.5, 100.0), (1.0, 6.0), _IND_H,
            1.5, 1.5, 4.3, 7.2, 7.0, 10.0, 10.0, 1.0,
        ),
        ScenarioModel(
            "inf-sh", "InF sparse clutter, high BS", (0.5, 100.0), (2.5, 25.0), (1.0, 1.99),
            8.0, 1.5, 4.3, 5.9, 7.0, 10.0, 10.0, 1.0,
        ),
        ScenarioModel(
            "inf-dh", "InF dense clutter, high BS", (0.5, 100.0), (6.5, 25.0), (1.0, 5.99),
            8.0, 1.5, 4.3, 4.0, 7.0, 10.0, 10.0, 1.0,
        ),
        ScenarioModel(
            "ci-umi", "close-in UMi, extended to sub-THz", (0.5, 150.0), (3.0, 30.0), (1.5, 22.5),
            10.0, 1.5, 4.0, 8.2, 9.0, 10.0, 13.0, 10.0,
        ),
        ScenarioModel(
            "ci-inh", "close-in InH, extended to sub-THz", (0.5, 150.0), (2.0, 6.0), _IND_H,
            3.0, 1.0, 3.0, 8.29, 7.0, 10.0, 6.0, 1.0,
        ),
    )
}  # fmt: skip
ALIASES = {"inf": "inf-dh"}
# Table 7.2-4 clutter parameters we use: (density r, size d_clutter m, height h_c m)
_CLUTTER = {
    "inf-sl": (0.2, 10.0, 2.0),
    "inf-dl": (0.6, 2.0, 6.0),
    "inf-sh": (0.2, 10.0, 2.0),
    "inf-dh": (0.6, 2.0, 6.0),
}


def scenario_names() -> list[str]:
    """Valid ``scenario`` arguments (aliases included)."""
    return sorted([*MODELS, *ALIASES])


def scenario_model(scenario: str) -> ScenarioModel:
    """The :class:`ScenarioModel` named ``scenario``; an unknown name lists the valid ones."""
    name = ALIASES.get(scenario, scenario)
    if name not in MODELS:
        raise UnknownNameError("path-loss scenario", scenario, scenario_names())
    return MODELS[name]


def _check_range(what: str, value: np.ndarray, lo: float, hi: float, model: ScenarioModel) -> None:
    bad = ~((value >= lo) & (value <= hi))
    if np.any(bad):
        v = float(np.asarray(value)[bad].flat[0]) if np.ndim(value) else float(value)
        raise TinylargeError(
            f"{what} {v:g} is outside the {model.name} model's validity range {lo:g}-{hi:g}"
        )


def _geometry(
    model: ScenarioModel, distance_m, fc_ghz, h_bs_m, h_ut_m
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    d3 = np.asarray(distance_m, dtype=float)
    fc = np.asarray(fc_ghz, dtype=float)
    hbs = np.asarray(model.h_bs_default_m if h_bs_m is None else h_bs_m, dtype=float)
    hut = np.asarray(model.h_ut_default_m if h_ut_m is None else h_ut_m, dtype=float)
    if np.any(np.isnan(d3)) or np.any(d3 <= 0):
        bad = d3[np.isnan(d3) | (d3 <= 0)].flat[0]
        raise TinylargeError(f"distance_m must be a positive 3D distance, got {bad:g}")
    _check_range("fc_ghz", fc, *model.fc_range_ghz, model)
    _check_range("h_bs_m", hbs, *model.h_bs_range_m, model)
    _check_range("h_ut_m", hut, *model.h_ut_range_m, model)
    dh = np.abs(hbs - hut)
    short = d3 < dh
    if np.any(short):
        d, h = np.broadcast_arrays(d3, dh)
        raise TinylargeError(
            f"distance_m {d[short].flat[0]:g} is shorter than the antenna height difference "
            f"{h[short].flat[0]:g} m (distance_m is the 3D distance)"
        )
    d2 = np.sqrt(np.maximum(d3 * d3 - dh * dh, 0.0))
    return d3, d2, fc, hbs, hut


def _umi_los(d3, d2, fc, hbs, hut):
    d_bp = 4.0 * (hbs - 1.0) * (hut - 1.0) * fc * 1e9 / SPEED_OF_LIGHT_M_S  # note 1: h_E = 1 m
    pl1 = 32.4 + 21.0 * np.log10(d3) + 20.0 * np.log10(fc)
    pl2 = (
        32.4
        + 40.0 * np.log10(d3)
        + 20.0 * np.log10(fc)
        - 9.5 * np.log10(d_bp**2 + (hbs - hut) ** 2)
    )
    return np.where(d2 <= d_bp, pl1, pl2)


def _uma_los(d3, d2, fc, hbs, hut):
    d_bp = 4.0 * (hbs - 1.0) * (hut - 1.0) * fc * 1e9 / SPEED_OF_LIGHT_M_S
    pl1 = 28.0 + 22.0 * np.log10(d3) + 20.0 * np.log10(fc)
    pl2 = (
        28.0
        + 40.0 * np.log10(d3)
        + 20.0 * np.log10(fc)
        - 9.0 * np.log10(d_bp**2 + (hbs - hut) ** 2)
    )
    return np.where(d2 <= d_bp, pl1, pl2)


_RMA_H_M, _RMA_W_M = 5.0, 20.0  # average building height and street width (Table 7.4.1-1 defaults)


def _rma_pl1(d, fc, h=_RMA_H_M):
    return (
        20.0 * np.log10(40.0 * np.pi * d * fc / 3.0)
        + min(0.03 * h**1.72, 10.0) * np.log10(d)
        - min(0.044 * h**1.72, 14.77)
        + 0.002 * np.log10(h) * d
    )


def _rma_bp(fc, hbs, hut):
    return 2.0 * np.pi * hbs * hut * fc * 1e9 / SPEED_OF_LIGHT_M_S  # note 5 of Table 7.4.1-1


def _rma_los(d3, d2, fc, hbs, hut):
    d_bp = _rma_bp(fc, hbs, hut)
    pl2 = _rma_pl1(d_bp, fc) + 40.0 * np.log10(d3 / d_bp)
    return np.where(d2 <= d_bp, _rma_pl1(d3, fc), pl2)


def _rma_nlos(d3, d2, fc, hbs, hut):
    h, w = _RMA_H_M, _RMA_W_M
    pl = (
        161.04
        - 7.1 * np.log10(w)
        + 7.5 * np.log10(h)
        - (24.37 - 3.7 * (h / hbs) ** 2) * np.log10(hbs)
        + (43.42 - 3.1 * np.log10(hbs)) * (np.log10(d3) - 3.0)
        + 20.0 * np.log10(fc)
        - (3.2 * np.log10(11.75 * hut) ** 2 - 4.97)
    )
    return np.maximum(_rma_los(d3, d2, fc, hbs, hut), pl)


def _inh_los(d3, d2, fc, hbs, hut):
    return 32.4 + 17.3 * np.log10(d3) + 20.0 * np.log10(fc)


def _inf_los(d3, d2, fc, hbs, hut):
    return 31.84 + 21.50 * np.log10(d3) + 19.00 * np.log10(fc)


def _inf_sl(d3, fc):
    return 33.0 + 25.5 * np.log10(d3) + 20.0 * np.log10(fc)


_NLOS = {
    "umi": lambda d3, d2, fc, hbs, hut: np.maximum(
        _umi_los(d3, d2, fc, hbs, hut),
        35.3 * np.log10(d3) + 22.4 + 21.3 * np.log10(fc) - 0.3 * (hut - 1.5),
    ),
    "uma": lambda d3, d2, fc, hbs, hut: np.maximum(
        _uma_los(d3, d2, fc, hbs, hut),
        13.54 + 39.08 * np.log10(d3) + 20.0 * np.log10(fc) - 0.6 * (hut - 1.5),
    ),
    "rma": _rma_nlos,
    "inh": lambda d3, d2, fc, hbs, hut: np.maximum(
        _inh_los(d3, d2, fc, hbs, hut), 17.30 + 38.3 * np.log10(d3) + 24.9 * np.log10(fc)
    ),
    "inf-sl": lambda d3, d2, fc, hbs, hut: np.maximum(
        _inf_los(d3, d2, fc, hbs, hut), _inf_sl(d3, fc)
    ),
    "inf-dl": lambda d3, d2, fc, hbs, hut: np.maximum.reduce(
        [
            _inf_los(d3, d2, fc, hbs, hut),
            _inf_sl(d3, fc),
            18.6 + 35.7 * np.log10(d3) + 20.0 * np.log10(fc),
        ]
    ),
    "inf-sh": lambda d3, d2, fc, hbs, hut: np.maximum(
        _inf_los(d3, d2, fc, hbs, hut), 32.4 + 23.0 * np.log10(d3) + 20.0 * np.log10(fc)
    ),
    "inf-dh": lambda d3, d2, fc, hbs, hut: np.maximum(
        _inf_los(d3, d2, fc, hbs, hut), 33.63 + 21.9 * np.log10(d3) + 20.0 * np.log10(fc)
    ),
    # optional NLOS models of Table 7.4.1-1 (close-in form, 1 m reference)
    "ci-umi": lambda d3, d2, fc, hbs, hut: np.maximum(
        _umi_los(d3, d2, fc, hbs, hut), 32.4 + 20.0 * np.log10(fc) + 31.9 * np.log10(d3)
    ),
    "ci-inh": lambda d3, d2, fc, hbs, hut: np.maximum(
        _inh_los(d3, d2, fc, hbs, hut), 32.4 + 20.0 * np.log10(fc) + 31.9 * np.log10(d3)
    ),
}
_LOS = {
    "umi": _umi_los,
    "uma": _uma_los,
    "rma": _rma_los,
    "inh": _inh_los,
    "inf-sl": _inf_los,
    "inf-dl": _inf_los,
    "inf-sh": _inf_los,
    "inf-dh": _inf_los,
    "ci-umi": _umi_los,
    "ci-inh": _inh_los,
}


def pathloss_db(
    scenario: str,
    distance_m: np.ndarray | float,
    fc_ghz: np.ndarray | float,
    los: np.ndarray | bool,
    h_bs_m: np.ndarray | float | None = None,
    h_ut_m: np.ndarray | float | None = None,
) -> np.ndarray:
    """Mean path loss in dB (shadow fading excluded), TR 38.901 Table 7.4.1-1.

    ``distance_m`` is the 3D distance; every argument broadcasts (numpy rules). Heights default to
    the scenario's nominal ones. Errors name the bad value: an unknown scenario (listing the valid
    ones), a non-positive distance, a 3D distance shorter than the height difference, or a
    frequency or height outside the model's validity range.
    """
    model = scenario_model(scenario)
    d3, d2, fc, hbs, hut = _geometry(model, distance_m, fc_ghz, h_bs_m, h_ut_m)
    los = np.asarray(los, dtype=bool)
    pl_los = _LOS[model.name](d3, d2, fc, hbs, hut)
    if not np.any(~los):
        return np.broadcast_to(pl_los, np.broadcast_shapes(pl_los.shape, los.shape)).copy()
    return np.where(los, pl_los, _NLOS[model.name](d3, d2, fc, hbs, hut))


def los_probability(
    scenario: str,
    distance_2d_m: np.ndarray | float,
    h_ut_m: np.ndarray | float | None = None,
    h_bs_m: np.ndarray | float | None = None,
) -> np.ndarray:
    """Probability of line of sight at a 2D distance, TR 38.901 Table 7.4.2-1 (outdoor UTs)."""
    model = scenario_model(scenario)
    d = np.asarray(distance_2d_m, dtype=float)
    if np.any(d < 0) or np.any(np.isnan(d)):
        raise TinylargeError(f"distance_2d_m must be >= 0, got {d[~(d >= 0)].flat[0]:g}")
    hut = np.asarray(model.h_ut_default_m if h_ut_m is None else h_ut_m, dtype=float)
    hbs = np.asarray(model.h_bs_default_m if h_bs_m is None else h_bs_m, dtype=float)
    safe = np.maximum(d, 1e-9)
    name = model.name
    if name in ("umi", "ci-umi"):
        p = 18.0 / safe + np.exp(-safe / 36.0) * (1.0 - 18.0 / safe)
        return np.where(d <= 18.0, 1.0, p)
    if name == "uma":
        c = np.where(hut <= 13.0, 0.0, ((np.maximum(hut, 13.0) - 13.0) / 10.0) ** 1.5)
        p = (18.0 / safe + np.exp(-safe / 63.0) * (1.0 - 18.0 / safe)) * (
            1.0 + c * 1.25 * (safe / 100.0) ** 3 * np.exp(-safe / 150.0)
        )
        return np.where(d <= 18.0, 1.0, p)
    if name == "rma":
        return np.where(d <= 10.0, 1.0, np.exp(-(d - 10.0) / 1000.0))
    if name in ("inh", "ci-inh"):  # mixed office
        return np.where(
            d <= 1.2,
            1.0,
            np.where(d < 6.5, np.exp(-(d - 1.2) / 4.7), 0.32 * np.exp(-(d - 6.5) / 32.6)),
        )
    r, d_clutter, h_c = _CLUTTER[name]
    k = -d_clutter / np.log(1.0 - r)
    if name in ("inf-sh", "inf-dh"):
        k = k * (hbs - hut) / (h_c - hut)
    return np.exp(-d / k)


def shadow_fading_sigma_db(
    scenario: str,
    los: np.ndarray | bool,
    distance_2d_m: np.ndarray | float | None = None,
    fc_ghz: np.ndarray | float = 3.5,
    h_bs_m: np.ndarray | float | None = None,
    h_ut_m: np.ndarray | float | None = None,
) -> np.ndarray:
    """Log-normal shadow-fading standard deviation (dB), Table 7.4.1-1.

    Only RMa LOS depends on distance (4 dB before the breakpoint, 6 dB after); ``distance_2d_m``
    is needed for it alone.
    """
    model = scenario_model(scenario)
    los = np.asarray(los, dtype=bool)
    sigma = np.where(los, model.sf_los_db, model.sf_nlos_db)
    if model.name == "rma" and distance_2d_m is not None:
        hbs = model.h_bs_default_m if h_bs_m is None else h_bs_m
        hut = model.h_ut_default_m if h_ut_m is None else h_ut_m
        beyond = np.asarray(distance_2d_m) > _rma_bp(np.asarray(fc_ghz), hbs, hut)
        sigma = np.where(los & beyond, 6.0, sigma)
    return sigma
