"""NVIDIA Sionna's TR 38.901 scenarios as an independent reference for :func:`pathloss_db`.

Sionna (``sionna-no-rt``, PyTorch) is a development dependency: the tests and the ``network``
benchmark compare our path loss with its ``basic_pathloss`` (path loss without shadow fading) at the
same geometry, LOS state forced. Sionna covers UMi, UMa, RMa, InH and InF; the close-in sub-THz
extensions have no Sionna counterpart. It is imported lazily, only here.
"""

from __future__ import annotations

import numpy as np

from tinylarge.net.pathloss import scenario_model

SIONNA_SCENARIOS = ("umi", "uma", "rma", "inh", "inf-sl", "inf-dl", "inf-sh", "inf-dh")


def sionna_pathloss_db(
    scenario: str, distance_2d_m: np.ndarray, fc_ghz: float, los: bool, h_bs_m: float, h_ut_m: float
) -> np.ndarray:
    """Sionna's basic path loss (dB) for UTs at ``distance_2d_m`` from one BS (float64)."""
    import torch
    from sionna.phy.channel.tr38901 import (
        InFScenario,
        InHScenario,
        PanelArray,
        RMaScenario,
        UMaScenario,
        UMiScenario,
    )

    name = scenario_model(scenario).name
    fc_hz = fc_ghz * 1e9
    array = PanelArray(
        num_rows_per_panel=1,
        num_cols_per_panel=1,
        polarization="single",
        polarization_type="V",
        antenna_pattern="omni",
        carrier_frequency=fc_hz,
        precision="double",
    )
    common = {"enable_shadow_fading": False, "precision": "double"}
    if name == "umi":
        sc = UMiScenario(fc_hz, "low", array, array, "downlink", **common)
    elif name == "uma":
        sc = UMaScenario(fc_hz, "low", array, array, "downlink", **common)
    elif name == "rma":
        sc = RMaScenario(fc_hz, array, array, "downlink", **common)
    elif name == "inh":
        sc = InHScenario(fc_hz, "mixed", array, array, "downlink", **common)
    elif name.startswith("inf-"):
        sc = InFScenario(fc_hz, name.removeprefix("inf-"), array, array, "downlink", **common)
    else:
        raise ValueError(f"Sionna has no counterpart of scenario {scenario!r}")
    d2 = torch.as_tensor(np.asarray(distance_2d_m, dtype=float))
    n = d2.numel()
    ut = torch.stack(
        [d2, torch.zeros(n, dtype=d2.dtype), torch.full((n,), h_ut_m, dtype=d2.dtype)], -1
    )[None]
    bs = torch.tensor([[[0.0, 0.0, h_bs_m]]], dtype=d2.dtype)
    zeros = torch.zeros(1, n, 3, dtype=d2.dtype)
    sc.set_topology(
        ut,
        bs,
        zeros,
        torch.zeros(1, 1, 3, dtype=d2.dtype),
        zeros,
        torch.full((1, n), name.startswith("in"), dtype=torch.bool),  # InH/InF UTs are indoor
        los=bool(los),
    )
    return sc.basic_pathloss.detach().numpy().reshape(n)
