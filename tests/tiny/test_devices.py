"""The device catalog: YAML data validated into DeviceProfile, one cost model per core."""

from __future__ import annotations

import pytest

from tinylarge.errors import UnknownNameError
from tinylarge.tiny.devices import (
    CATALOG_DIR,
    CYCLE_FIELDS,
    CostModel,
    DeviceProfile,
    list_devices,
    load_device,
    load_devices,
)

REQUIRED = {
    "rp2040": "cortex-m0plus",
    "nrf52840": "cortex-m4f",
    "stm32l4r5": "cortex-m4f",
    "stm32h7a3": "cortex-m7",
    "stm32f746": "cortex-m7",
    "nrf5340": "cortex-m33",
    "esp32s3": "xtensa-lx7",
}


def test_catalog_covers_the_required_microcontrollers_and_servers():
    names = list_devices()
    for name, core in REQUIRED.items():
        assert load_device(name).core == core
    kinds = {load_device(n).kind for n in names}
    assert {"mcu", "sbc", "edge_gpu", "cloud_gpu"} <= kinds
    assert names == sorted(names)


def test_every_file_states_its_sources():
    for name in list_devices():
        d = load_device(name)
        assert isinstance(d, DeviceProfile)
        assert {"memory", "clock_hz", "power"} <= set(d.sources)
        assert d.cost_model.source
        assert (CATALOG_DIR / f"{name}.yaml").is_file()


def test_datasheet_numbers_of_the_mlperf_boards():
    l4 = load_device("stm32l4r5")
    assert (l4.sram_bytes, l4.flash_bytes, l4.clock_hz) == (640 * 1024, 2 * 1024**2, 120e6)
    h7 = load_device("stm32h7a3")
    assert h7.clock_hz == 280e6


def test_cores_qemu_runs_have_no_cycle_constants_and_the_others_have_all():
    """Cortex-M cores are measured (QEMU target, no cycles-per-unit table); the rest are modelled
    with the full table, depthwise costlier than convolution per MAC."""
    for name in list_devices():
        cm = load_device(name).cost_model
        if cm.qemu_target:
            assert all(getattr(cm, f) is None for f in CYCLE_FIELDS), name
        else:
            assert cm.depthwise_cycles_per_mac > cm.conv_cycles_per_mac
    assert load_device("rp2040").cost_model.qemu_target == "cortex-m0plus"
    assert load_device("esp32s3").cost_model.qemu_target is None


def test_a_cost_model_must_pick_one_path():
    with pytest.raises(ValueError, match="no cycles-per-unit"):
        CostModel(qemu_target="cortex-m4", conv_cycles_per_mac=2.0, source="x")
    with pytest.raises(ValueError, match="missing"):
        CostModel(conv_cycles_per_mac=2.0, source="x")
    with pytest.raises(UnknownNameError, match="cortex-m33"):
        CostModel(qemu_target="cortex-m99", source="x")


def test_boards_with_the_same_core_share_one_cost_model():
    assert load_device("nrf52840").cost_model == load_device("stm32l4r5").cost_model
    assert load_device("stm32f746").cost_model == load_device("stm32h7a3").cost_model


def test_unknown_device_lists_the_valid_names():
    with pytest.raises(UnknownNameError) as info:
        load_device("esp8266")
    assert "unknown device 'esp8266'" in str(info.value)
    assert "stm32l4r5" in str(info.value)


def test_load_devices_selections():
    assert [d.name for d in load_devices("all")] == list_devices()
    assert [d.name for d in load_devices("rp2040, stm32h7a3")] == ["rp2040", "stm32h7a3"]
    with pytest.raises(UnknownNameError):
        load_devices("rp2040,nope")
