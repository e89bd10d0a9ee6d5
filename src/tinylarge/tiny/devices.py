"""The device catalog: microcontrollers, a single-board computer, an edge GPU and a cloud GPU.

Devices are data: one YAML file per device in ``tiny/devices/`` (memory, clock, power, each with
its source), and the per-core cost models in ``tiny/devices/cores.yaml``, so every board with the
same core shares one. :func:`load_device` joins the two into a
validated :class:`DeviceProfile`.

``yaml.safe_load`` reads exponents like ``120.0e6`` as floats but ``120e6`` as a string (YAML 1.1);
the pydantic models coerce either.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from tinylarge.errors import TinylargeError, UnknownNameError

CATALOG_DIR = Path(__file__).parent / "devices"
CORES_FILE = CATALOG_DIR / "cores.yaml"

DeviceKind = Literal["mcu", "sbc", "edge_gpu", "cloud_gpu"]


class CostModel(BaseModel):
    """How a core's time is obtained (see cores.yaml).

    Cores QEMU runs name their ``qemu_target``: their instructions are measured (or predicted by
    the instruction model fitted to measurements) and turned into time by a calibrated
    cycles-per-instruction factor (``tinylarge.tiny.mcu.costmodel``). The others keep estimated
    cycles per unit of work by op type plus a fixed overhead per op: a modelled path, so labelled.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    qemu_target: str | None = None
    conv_cycles_per_mac: PositiveFloat | None = None
    depthwise_cycles_per_mac: PositiveFloat | None = None
    fully_connected_cycles_per_mac: PositiveFloat | None = None
    elementwise_cycles_per_element: PositiveFloat | None = None
    pooling_cycles_per_element: PositiveFloat | None = None
    other_cycles_per_element: PositiveFloat | None = None
    op_overhead_cycles: float | None = Field(default=None, ge=0)
    source: str

    @model_validator(mode="after")
    def _one_path(self) -> CostModel:
        cycles = {k: getattr(self, k) for k in CYCLE_FIELDS}
        if self.qemu_target is not None:
            from tinylarge.tiny.toolchain import TARGETS

            if self.qemu_target not in TARGETS:
                raise UnknownNameError("QEMU target", self.qemu_target, TARGETS)
            if any(v is not None for v in cycles.values()):
                raise ValueError("a core QEMU runs takes no cycles-per-unit constants")
        elif any(v is None for v in cycles.values()):
            missing = sorted(k for k, v in cycles.items() if v is None)
            raise ValueError(f"a core QEMU cannot run needs every cycles field; missing {missing}")
        return self


CYCLE_FIELDS = (
    "conv_cycles_per_mac",
    "depthwise_cycles_per_mac",
    "fully_connected_cycles_per_mac",
    "elementwise_cycles_per_element",
    "pooling_cycles_per_element",
    "other_cycles_per_element",
    "op_overhead_cycles",
)


class DeviceProfile(BaseModel):
    """One device of the catalog.

    ``sram_bytes`` is the memory activations can use (on-chip SRAM on a microcontroller, DRAM or
    HBM elsewhere); ``flash_bytes`` is where the model and code live. Powers are whole-chip (MCU)
    or whole-board/module figures while running inference (``active_power_w``) and in the lowest
    state that keeps RAM (``sleep_power_w``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    kind: DeviceKind
    core: str
    sram_bytes: PositiveInt
    flash_bytes: PositiveInt
    clock_hz: PositiveFloat
    active_power_w: PositiveFloat
    sleep_power_w: float = Field(ge=0)
    cost_model: CostModel
    sources: dict[str, str]

    @property
    def is_mcu(self) -> bool:
        return self.kind == "mcu"


def list_devices() -> list[str]:
    """Names of all devices in the catalog, sorted."""
    return sorted(_catalog())


def load_device(name: str) -> DeviceProfile:
    """The :class:`DeviceProfile` called ``name``; :class:`UnknownNameError` lists valid names."""
    catalog = _catalog()
    if name not in catalog:
        raise UnknownNameError("device", name, catalog)
    return catalog[name]


def load_devices(names: str | list[str]) -> list[DeviceProfile]:
    """Devices for a CLI-style selection: a name, ``"all"``, a comma list, or a list of names."""
    if isinstance(names, str):
        names = list_devices() if names == "all" else [n.strip() for n in names.split(",")]
    return [load_device(n) for n in names if n]


@cache
def _catalog() -> dict[str, DeviceProfile]:
    """Read and validate every device file once per process (the files ship with the package)."""
    cores = _read_yaml(CORES_FILE)
    devices: dict[str, DeviceProfile] = {}
    for path in sorted(CATALOG_DIR.glob("*.yaml")):
        if path == CORES_FILE:
            continue
        raw = _read_yaml(path)
        core = raw.get("core")
        if core not in cores:
            raise UnknownNameError(f"core (in {path.name})", str(core), cores)
        try:
            device = DeviceProfile(**raw, cost_model=CostModel(**cores[core]))
        except (TypeError, ValueError) as exc:
            raise TinylargeError(f"invalid device file {path.name}: {exc}") from None
        if device.name != path.stem:
            raise TinylargeError(f"device file {path.name} names itself {device.name!r}")
        devices[device.name] = device
    return devices


def _read_yaml(path: Path) -> dict:
    with path.open() as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise TinylargeError(f"device catalog file {path.name} is not a mapping")
    return data
