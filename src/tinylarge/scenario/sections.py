"""The sections of a scenario that drive the closed loop: fleet, policy, loop, security, drift.

Every section is a frozen pydantic model with defaults, so a scenario only states what it changes;
unknown keys are refused (``extra="forbid"``) and :mod:`tinylarge.scenario.schema` turns that into
an error naming the key and listing the valid ones.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceGroup(_Section):
    """``count`` devices of one catalog MCU type on one uplink (a ``links.yaml`` preset, or a
    ``band`` from ``bands.yaml`` at ``snr_db``)."""

    device: str = "nrf52840"
    count: int = Field(10, ge=1, le=10_000)
    link: str = Field("nb-iot", description="uplink preset (tinylarge.net.list_links)")
    band: str | None = Field(None, description="instead of link: a band at snr_db")
    snr_db: float = Field(10.0, ge=-20.0, le=60.0)

    @field_validator("device", "link", "band")
    @classmethod
    def _known(cls, name: str | None, info: ValidationInfo) -> str | None:
        if name is None:
            return name
        from tinylarge.net import list_bands, list_links
        from tinylarge.tiny.devices import list_devices

        valid = {"device": list_devices, "link": list_links, "band": list_bands}[info.field_name]()
        if name not in valid:
            raise ValueError(f"unknown {info.field_name} {name!r}; valid: {', '.join(valid)}")
        return name


class PolicyConfig(_Section):
    """Where each request runs: ``cascade`` (the device answers when its gate is sure enough, the
    threshold calibrated by the deploy stage), ``local`` (never offload), ``offload-all``,
    ``early-exit`` (the student's int8 exit head answers sure samples, the rest of the student
    runs on the device) or ``split`` (the teacher's int8 head on the device, its activation up,
    the tail on the server; :mod:`tinylarge.scenario.patterns`); ``max_offload_fraction`` caps
    what one device sends further per tick (its surest samples stay)."""

    kind: Literal["cascade", "local", "offload-all", "early-exit", "split"] = "cascade"
    also_deploy: list[Literal["early-exit", "split"]] = Field(
        default_factory=list,
        description="patterns the deploy stage also builds so an intent can switch to them"
        " (data_stays_on_device picks split when it is built)",
    )
    exit_after: int = Field(1, ge=1, description="early-exit: student blocks before the exit")
    exit_epochs: int = Field(15, ge=1, le=200, description="early-exit: exit head epochs")
    split_cut: int | None = Field(
        None, ge=1,
        description="split: teacher blocks run on the device (default: the cut with the"
        " smallest activation)",
    )  # fmt: skip
    max_offload_fraction: float | None = Field(None, ge=0.0, le=1.0)
    audit_fraction: float = Field(
        0.0, ge=0.0, le=1.0,
        description="share of requests sent up whatever the gate says, so LargeML keeps labelling"
        " traffic (and can re-distil) even where the device is sure",
    )  # fmt: skip
    server_latency_s: float = Field(
        0.005, ge=0.0, description="LargeML inference time per offloaded sample (modelled)"
    )
    # 1 point, not the cascade command's 0.2: Learn then Test cannot certify 0.2 points at
    # delta 0.1 on fewer than 1,151 validation rows (mnist5k holds 400), so 0.2 would offload
    # every sample and the loop would have nothing to learn from (BENCHMARKS.md, calibration)
    gate_max_accuracy_drop: float = Field(
        0.01, gt=0.0, le=1.0,
        description="the cascade gate's target: at most this far below the teacher (0.01 = 1"
        " point), certified on the validation rows with probability 1 - gate_delta",
    )  # fmt: skip
    gate_delta: float = Field(0.1, gt=0.0, lt=1.0)


class FederatedUpdateConfig(_Section):
    """How a ``loop.update: federated`` update runs (:mod:`tinylarge.scenario.update_federated`):
    ``rounds`` of Flower's ``strategy`` among the devices that hold labelled samples (at most
    ``max_clients`` of them, a seeded sample, as cross-device FL samples its clients), each
    training ``local_epochs`` of SGD on its own last ``buffer_samples`` offloaded samples labelled
    by LargeML's answers. Exchanges are priced on ``band`` (default: the first fleet group's band,
    or its link when that is also a band, else nr-fr1)."""

    rounds: int = Field(3, ge=1, le=100)
    strategy: Literal["fedavg", "fedprox"] = "fedprox"
    proximal_mu: float = Field(0.01, ge=0.0, le=10.0, description="FedProx proximal term")
    local_epochs: int = Field(2, ge=1, le=50)
    lr: float = Field(0.01, gt=0.0, le=1.0, description="local SGD learning rate")
    batch_size: int = Field(16, ge=2, le=1024)
    max_clients: int = Field(100, ge=2, le=1000)
    buffer_samples: int = Field(
        256, ge=2, le=100_000, description="labelled samples a device keeps (oldest dropped)"
    )
    band: str | None = Field(None, description="band the rounds are priced on (bands.yaml)")

    @field_validator("band")
    @classmethod
    def _band(cls, name: str | None) -> str | None:
        from tinylarge.net import list_bands

        if name is not None and name not in list_bands():
            raise ValueError(f"unknown band {name!r}; valid: {', '.join(list_bands())}")
        return name


class LoopConfig(_Section):
    """The closed loop over simulated time: ``duration_ticks`` ticks of ``tick_s`` seconds; each
    device serves ``samples_per_tick`` requests a tick; every ``update_every`` ticks the LargeML
    side turns the offloaded samples it labelled into a new student (``update``) when it holds at
    least ``min_new_samples`` new ones, and rolls it out: ``redistill`` fine-tunes on the server
    (``epochs``, ``lr``, ``alpha``, ``pool_share``), ``federated`` runs rounds among the devices
    (``federated``; no raw input goes up for the update, only weights)."""

    duration_ticks: int = Field(24, ge=2, le=10_000)
    tick_s: float = Field(3600.0, gt=0.0)
    samples_per_tick: int = Field(32, ge=1, le=10_000)
    update: Literal["redistill", "federated"] = Field(
        "redistill", description="how the large side updates the fleet's model"
    )
    update_every: int = Field(4, ge=1)
    min_new_samples: int = Field(64, ge=1)
    epochs: int = Field(3, ge=1, le=100, description="fine-tuning epochs per re-distillation")
    lr: float = Field(1e-3, gt=0.0)
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="weight of the teacher's soft targets")
    pool_share: float = Field(
        0.3, ge=0.0, lt=1.0, description="least share of an epoch the labelled offloads make up"
    )
    recover_window_ticks: int = Field(
        3, ge=1, description="ticks averaged for the pre-drift and final accuracy"
    )
    federated: FederatedUpdateConfig = Field(default_factory=FederatedUpdateConfig)


class SecurityConfig(_Section):
    """Signed bundles and the staged rollout: canaries first, then all, rolled back when the
    canaries fail or regress. ``keys_dir``: an Ed25519 key pair (``tinylarge keygen``); default a
    fresh pair in the run folder. ``tamper_update``: the n-th update's bundle is altered in transit
    (exercises refusal and rollback)."""

    keys_dir: str | None = None
    canary_fraction: float = Field(0.2, gt=0.0, le=1.0)
    min_canary_reports: int = Field(2, ge=1)
    min_canary_samples: int = Field(16, ge=1)
    max_accuracy_drop: float = Field(0.05, ge=0.0, le=1.0)
    probe_samples: int = Field(50, ge=1, description="labelled samples of the device self-test")
    self_test_margin: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="self-test floor: factory model's probe accuracy minus this",
    )
    tamper_update: int | None = Field(None, ge=1)


class DriftConfig(_Section):
    """From tick ``at_tick`` the data of a ``fraction`` of the fleet drifts: ``noise`` (Gaussian
    sensor noise of ``noise_std`` in normalised units), ``class_mix`` (``classes`` become
    ``weight`` of the traffic) or ``subject`` (a new wearer/site: per-channel gain and offset of
    ``noise_std`` spread)."""

    kind: Literal["none", "noise", "class_mix", "subject"] = "none"
    at_tick: int = Field(8, ge=1)
    fraction: float = Field(0.5, gt=0.0, le=1.0)
    noise_std: float = Field(0.3, ge=0.0, le=10.0)
    classes: list[int] = Field(default_factory=list)
    weight: float = Field(0.8, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _classes(self) -> DriftConfig:
        if self.kind == "class_mix" and not self.classes:
            raise ValueError("drift kind class_mix needs classes (the class ids that take over)")
        return self


class IntentAt(_Section):
    """An operator intent in plain English, applied at tick ``at_tick``."""

    at_tick: int = Field(..., ge=0)
    text: str = Field(..., min_length=1, max_length=500)
