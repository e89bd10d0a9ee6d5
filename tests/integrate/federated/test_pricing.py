"""Round prices come from tinylarge.net and the device catalog, by the formulas they state."""

import numpy as np
import pytest
import torch
from torch import nn

from tinylarge.integrate.federated.config import RadioConfig
from tinylarge.integrate.federated.pricing import (
    TRAIN_MAC_FACTOR,
    Compute,
    RadioEnvironment,
    training_memory_bytes,
)
from tinylarge.net import downlink_rate_bps, load_band, radio_energy_j, uplink_rate_bps


def test_farther_clients_have_weaker_channels():
    env = RadioEnvironment(RadioConfig(min_distance_m=20, max_distance_m=1000), 300, seed=1)
    rho = np.corrcoef(
        np.argsort(np.argsort(env.distance_3d_m)), np.argsort(np.argsort(env.mean_ul_snr_db))
    )[0, 1]
    assert rho < -0.6
    ul1, _ = env.snr_db(1)
    ul2, _ = env.snr_db(2)
    assert not np.allclose(ul1, ul2)  # fading is drawn per round
    np.testing.assert_array_equal(env.snr_db(1)[0], ul1)  # and reproducibly


def test_an_exchange_costs_airtime_compute_and_radio_energy_as_net_says():
    env = RadioEnvironment(RadioConfig(band="lte-m"), 4, seed=0)
    band = load_band("lte-m")
    compute = Compute.of("stm32h7a3")
    ex = env.exchange([0, 2], 3, 10_000, 20_000, [0.5, 0.1], compute)
    ul_snr, dl_snr = env.snr_db(3)
    ul = 8 * 20_000 / uplink_rate_bps(band, ul_snr[[0, 2]], 0.5)
    dl = 8 * 10_000 / downlink_rate_bps(band, dl_snr[[0, 2]], 0.5)
    np.testing.assert_allclose(ex.uplink_s, ul)
    np.testing.assert_allclose(ex.downlink_s, dl)
    prop = env.distance_3d_m[[0, 2]] / 299_792_458.0
    np.testing.assert_allclose(
        ex.time_s, 2 * (band.scheduling_delay_s + prop) + dl + ul + np.array([0.5, 0.1])
    )
    np.testing.assert_allclose(
        ex.radio_energy_j, radio_energy_j(band, ul, dl, 2 * band.scheduling_delay_s)
    )
    np.testing.assert_allclose(ex.compute_energy_j, compute.device.active_power_w * ex.compute_s)
    alone = env.exchange([0], 3, 10_000, 20_000, 0.5, compute)
    assert alone.uplink_s[0] < ex.uplink_s[0]  # a whole band beats half of it


def test_training_compute_is_three_forward_passes_at_the_core_price():
    from tinylarge.tiny.figures import core_factor
    from tinylarge.tiny.mcu.costmodel import load_calibration

    c = Compute.of("stm32h7a3")  # a Cortex-M7 QEMU runs: instruction model x calibrated CPI
    target = c.device.cost_model.qemu_target
    per_mac = load_calibration().instruction_models[target].per_unit["conv"]
    cycles_per_mac = per_mac * core_factor(target).cpi
    assert 0.5 < cycles_per_mac < 20
    assert TRAIN_MAC_FACTOR == 3.0
    assert c.train_seconds(1000, 10) == pytest.approx(
        3 * 1000 * 10 * cycles_per_mac / c.device.clock_hz
    )
    gpu = Compute.of("a100")  # no emulator: the catalog's cycles per MAC
    assert gpu.cycles_per_mac == gpu.device.cost_model.conv_cycles_per_mac


def test_training_memory_of_a_linear_head_by_hand():
    head = nn.Linear(10, 3)  # 33 parameters
    mem = training_memory_bytes(
        head, torch.zeros(1, 10), batch_size=4, optimizer_buffers=0, frozen_bytes=1000
    )
    assert mem == {
        "trainable_bytes": 33 * 4 * 2,
        "activation_bytes": 3 * 4 * 4,
        "frozen_bytes": 1000,
        "peak_bytes": 264 + 48 + 1000,
    }
