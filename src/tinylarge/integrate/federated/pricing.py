"""What every round costs, from :mod:`tinylarge.net` (radio) and :mod:`tinylarge.tiny` (device).

Radio (modelled): each client sits at a seeded distance from one base station; its LOS state and
shadowing (TR 38.901 Tables 7.4.1-1 / 7.4.2-1) are drawn once, fast fading (Rician in LOS,
Rayleigh otherwise) anew for every round. Clients that transmit in the same phase share the band
equally (OFDMA), so a client's rate is ``uplink_rate_bps(band, snr, share=1/n)``. One exchange
costs scheduling + airtime + propagation each way; the device's radio energy is wake-up + transmit
+ receive + connected-idle while waiting for grants (:func:`tinylarge.net.radio_energy_j`).

Compute (modelled): a training pass costs ``TRAIN_MAC_FACTOR`` x the forward MACs (backward
computes activation and weight gradients, each about one forward's worth), priced with the
device's per-core cycles per MAC (``tiny/devices/cores.yaml``, int8 kernel figures: optimistic for
float training) at its clock and active power.

Memory (modelled): float32 trainable parameters, their gradients and optimizer state, plus every
layer output of a batch kept for the backward pass (an upper estimate: in-place ReLUs share it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import nn

from tinylarge.integrate.federated.config import RadioConfig
from tinylarge.net import (
    downlink_rate_bps,
    downlink_snr_db,
    fading_power_gain,
    load_band,
    los_probability,
    pathloss_db,
    radio_energy_j,
    scenario_model,
    shadow_fading_sigma_db,
    uplink_rate_bps,
    uplink_snr_db,
)
from tinylarge.net.radio import SPEED_OF_LIGHT_M_S, airtime_s
from tinylarge.tiny.devices import DeviceProfile, load_device

TRAIN_MAC_FACTOR = 3.0
FLOAT_BYTES = 4


@dataclass(frozen=True)
class Compute:
    """A device's compute price: seconds and joules for a number of MACs."""

    device: DeviceProfile

    @classmethod
    def of(cls, name: str) -> Compute:
        return cls(load_device(name))

    @cached_property
    def cycles_per_mac(self) -> float:
        """The core's cycles per convolution MAC: its catalog constant, or for a core QEMU runs
        the instruction model's instructions per conv MAC (fitted to measured TFLM + CMSIS-NN
        ops) times the calibrated cycles per instruction (``tinylarge.tiny.figures``). Modelled:
        training is priced as int8-inference-speed MACs (a lower bound for float training)."""
        cost = self.device.cost_model
        if cost.conv_cycles_per_mac is not None:
            return float(cost.conv_cycles_per_mac)
        from tinylarge.tiny.figures import core_factor
        from tinylarge.tiny.mcu.costmodel import load_calibration

        model = load_calibration().instruction_models[cost.qemu_target]
        return model.per_unit["conv"] * core_factor(cost.qemu_target).cpi

    def seconds(self, macs: float | np.ndarray) -> np.ndarray:
        cycles = np.asarray(macs, dtype=float) * self.cycles_per_mac
        return cycles / self.device.clock_hz

    def train_seconds(self, forward_macs: float, n_samples: float | np.ndarray) -> np.ndarray:
        return self.seconds(TRAIN_MAC_FACTOR * forward_macs * np.asarray(n_samples, dtype=float))

    def energy_j(self, seconds: float | np.ndarray) -> np.ndarray:
        return self.device.active_power_w * np.asarray(seconds, dtype=float)


@dataclass
class Exchange:
    """One phase of a round for the clients in it (arrays in the clients' order)."""

    downlink_s: np.ndarray
    compute_s: np.ndarray
    uplink_s: np.ndarray
    time_s: np.ndarray  # finish time of each client, from the phase start
    radio_energy_j: np.ndarray
    compute_energy_j: np.ndarray

    @property
    def energy_j(self) -> np.ndarray:
        return self.radio_energy_j + self.compute_energy_j


class RadioEnvironment:
    """Per-client large-scale channel (fixed for the run) and per-round fading, seeded."""

    def __init__(self, radio: RadioConfig, n_clients: int, seed: int) -> None:
        self.band = load_band(radio.band)
        self.model = scenario_model(radio.scenario or self.band.channel_scenario)
        self.seed = seed
        m = self.model
        rng = np.random.default_rng([seed, 38901])
        d2 = rng.uniform(radio.min_distance_m, radio.max_distance_m, n_clients)
        d2 = np.maximum(d2, m.min_distance_2d_m)
        h_bs = float(np.clip(self.band.h_bs_m, *m.h_bs_range_m))
        h_ut = m.h_ut_default_m
        self.distance_3d_m = np.sqrt(d2**2 + (h_bs - h_ut) ** 2)
        self.los = rng.uniform(size=n_clients) < los_probability(m.name, d2, h_ut, h_bs)
        sigma = shadow_fading_sigma_db(m.name, self.los, d2, self.band.fc_ghz, h_bs, h_ut)
        pl = pathloss_db(m.name, self.distance_3d_m, self.band.fc_ghz, self.los, h_bs, h_ut)
        pl = pl + sigma * rng.standard_normal(n_clients)
        self.mean_ul_snr_db = uplink_snr_db(self.band, pl)
        self.mean_dl_snr_db = downlink_snr_db(self.band, pl)
        self.k_factor_db = np.where(self.los, m.k_factor_db, -np.inf)

    @property
    def n_clients(self) -> int:
        return len(self.los)

    def snr_db(self, round_: int, phase: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Uplink and downlink SNR of every client in ``round_`` (fading drawn per round)."""
        rng = np.random.default_rng([self.seed, round_, phase, 7])
        n = self.n_clients
        g_ul = fading_power_gain(self.k_factor_db, rng.standard_normal(n), rng.standard_normal(n))
        g_dl = fading_power_gain(self.k_factor_db, rng.standard_normal(n), rng.standard_normal(n))
        return self.mean_ul_snr_db + 10 * np.log10(g_ul), self.mean_dl_snr_db + 10 * np.log10(g_dl)

    def mean_uplink_rate_bps(self, share: float = 1.0) -> np.ndarray:
        """Rate at the large-scale SNR (no fading): what a scheduler knows in advance."""
        return uplink_rate_bps(self.band, self.mean_ul_snr_db, share)

    def mean_downlink_rate_bps(self, share: float = 1.0) -> np.ndarray:
        return downlink_rate_bps(self.band, self.mean_dl_snr_db, share)

    def exchange(
        self,
        clients: list[int],
        round_: int,
        bytes_down: np.ndarray | float,
        bytes_up: np.ndarray | float,
        compute_s: np.ndarray | float,
        compute: Compute,
        share: float | None = None,
        phase: int = 0,
        wakeup: bool = True,
    ) -> Exchange:
        """Download, compute, upload for ``clients`` at once, each with ``share`` of the band
        (default: an equal share among them)."""
        idx = np.asarray(clients, dtype=int)
        share = 1.0 / max(len(idx), 1) if share is None else share
        ul_snr, dl_snr = self.snr_db(round_, phase)
        dl_s = airtime_s(bytes_down, downlink_rate_bps(self.band, dl_snr[idx], share))
        ul_s = airtime_s(bytes_up, uplink_rate_bps(self.band, ul_snr[idx], share))
        compute_s = np.broadcast_to(np.asarray(compute_s, dtype=float), idx.shape).copy()
        sched = self.band.scheduling_delay_s
        prop = self.distance_3d_m[idx] / SPEED_OF_LIGHT_M_S
        time_s = 2 * (sched + prop) + dl_s + compute_s + ul_s
        radio_j = radio_energy_j(self.band, ul_s, dl_s, 2 * sched, wakeup)
        return Exchange(
            downlink_s=np.asarray(dl_s, dtype=float),
            compute_s=compute_s,
            uplink_s=np.asarray(ul_s, dtype=float),
            time_s=np.asarray(time_s, dtype=float),
            radio_energy_j=np.broadcast_to(radio_j, idx.shape).astype(float),
            compute_energy_j=compute.energy_j(compute_s),
        )


def activation_elements(model: nn.Module, example: torch.Tensor | dict) -> int:
    """Elements of every leaf module's output for one sample (what backprop keeps)."""
    total = 0

    def hook(_m: nn.Module, _i: tuple, out: object) -> None:
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out[0].numel()

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            model.eval()
            model(**example) if isinstance(example, dict) else model(example)
    finally:
        for h in handles:
            h.remove()
    return total


def training_memory_bytes(
    model: nn.Module,
    example: torch.Tensor | dict,
    batch_size: int,
    optimizer_buffers: int = 1,
    frozen_bytes: int | None = None,
) -> dict[str, int]:
    """Device memory of local training: trainable parameters + gradients + ``optimizer_buffers``
    (SGD momentum: 1) per trainable value, stored activations of a batch, and the frozen part
    (``frozen_bytes``: e.g. its int8 inference arena; default its float32 weights)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    acts = activation_elements(model, example)
    out = {
        "trainable_bytes": FLOAT_BYTES * trainable * (2 + optimizer_buffers),
        "activation_bytes": FLOAT_BYTES * acts * batch_size,
        "frozen_bytes": FLOAT_BYTES * frozen if frozen_bytes is None else int(frozen_bytes),
    }
    out["peak_bytes"] = sum(out.values())
    return out


def airtimes(
    radio: RadioEnvironment,
    clients: list[int],
    round_: int,
    phase: int,
    bytes_down: np.ndarray | float,
    bytes_up: np.ndarray | float,
    share: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Downlink and uplink airtime of ``clients`` in one phase, each with ``share`` of the band."""
    idx = np.asarray(clients, dtype=int)
    ul_snr, dl_snr = radio.snr_db(round_, phase)
    dl = airtime_s(bytes_down, downlink_rate_bps(radio.band, dl_snr[idx], share))
    ul = airtime_s(bytes_up, uplink_rate_bps(radio.band, ul_snr[idx], share))
    return np.asarray(dl, dtype=float), np.asarray(ul, dtype=float)
