"""Student search: Pareto front and budgets by hand; an end-to-end search on digits."""

import json
from pathlib import Path

import pytest

from tinylarge.data import load_dataset
from tinylarge.errors import UnknownNameError
from tinylarge.integrate import Budget, SearchConfig, SearchSpace, run_search
from tinylarge.integrate.search import facts_of, nothing_fits_reason, pareto_front
from tinylarge.models import ModelSpec
from tinylarge.tiny.devices import load_device
from tinylarge.tiny.profile import profile_facts
from tinylarge.train import ArtifactCache


def test_pareto_front_keeps_only_non_dominated_points():
    points = [
        (0.90, 0.010, 1000),  # front: fastest and smallest
        (0.95, 0.020, 2000),  # front: more accurate
        (0.94, 0.030, 3000),  # dominated by the second
        (0.95, 0.020, 2500),  # dominated: same accuracy and speed, more RAM
        (0.97, 0.050, 1500),  # front: most accurate
    ]
    assert pareto_front(points) == [0, 1, 4]


def test_budget_defaults_to_the_device_and_can_only_tighten_it():
    dev = load_device("nrf52840")
    assert Budget().for_device(dev).ram_bytes == dev.sram_bytes
    assert Budget().for_device(dev).flash_bytes == dev.flash_bytes
    assert Budget(ram_bytes=10**9).for_device(dev).ram_bytes == dev.sram_bytes
    assert Budget(ram_bytes=1000).for_device(dev).ram_bytes == 1000


def test_unknown_device_is_named_with_the_valid_ones():
    with pytest.raises(UnknownNameError, match="nrf52840"):
        SearchConfig(devices=["toaster"]).device_names()
    assert "a100" not in SearchConfig(devices=["mcu"]).device_names()


def test_nothing_fits_says_which_budget_breaks():
    rows = [
        {"candidate": "a", "reasons": ["RAM 9000 B > budget 1000 B"], "ram_bytes": 9000,
         "flash_bytes": 1},
        {"candidate": "b", "reasons": ["RAM 5000 B > budget 1000 B", "latency 2 s > budget 1 s"],
         "ram_bytes": 5000, "flash_bytes": 1},
    ]  # fmt: skip
    reason = nothing_fits_reason("dev", rows)
    assert "RAM (2 of 2)" in reason and "latency (1 of 2)" in reason
    assert "the closest, a," in reason


@pytest.mark.slow
def test_search_picks_a_fitting_model_per_device_and_explains_the_rest(tmp_path):
    digits = load_dataset("digits")
    space = SearchSpace(families=["cnn2d"], widths=[4, 8], depths=[2], stem_strides=[1])
    cache = ArtifactCache(tmp_path / "cache")
    config = SearchConfig(
        dataset="digits", devices=["nrf52840", "rp2040"], space=space, proxy_epochs=2,
        distill_epochs=2, teacher=ModelSpec(name="resnet2d", width=8, depth=2),
    )  # fmt: skip
    result = run_search(config, dataset=digits, cache=cache, out_dir=tmp_path / "out")
    assert len(result.candidates) == 2
    for dev in result.devices:
        assert dev.winner is not None and dev.final is not None
        f = dev.final
        assert f["within_budget"] and f["ram_bytes"] <= dev.budget["ram_bytes"]
        assert f["flash_bytes"] <= dev.budget["flash_bytes"]
        # the reported arena is TFLM's: the distilled model runs in exactly that many bytes
        from tinylarge.tiny.runtime import TflmRuntime

        assert TflmRuntime(f["tflite_path"]).arena_bytes == f["tflm_arena_bytes"]
        best = max(r["val_int8_accuracy"] for r in dev.rows if r["fits"])
        assert next(r for r in dev.rows if r["candidate"] == dev.winner)[
            "val_int8_accuracy"
        ] == pytest.approx(best)
        assert Path(dev.plot_path).stat().st_size > 1000
    json.dumps(result.to_dict())  # JSON-ready

    # a budget nothing meets: no winner, and the reason names the broken budget
    tight = config.model_copy(update={"budget": Budget(ram_bytes=512), "devices": ["nrf52840"]})
    again = run_search(tight, dataset=digits, cache=cache)
    assert again.devices[0].winner is None
    assert "RAM (2 of 2)" in again.devices[0].reason
    # candidates came from the cache: same measured facts
    assert [c.tflm_arena_bytes for c in again.candidates] == [
        c.tflm_arena_bytes for c in result.candidates
    ]
    rows = again.devices[0].rows
    first = result.candidates[0]
    prof = profile_facts(
        facts_of(first.tflite_path, first.tflm_arena_bytes), load_device("nrf52840")
    )
    assert rows[0]["ram_bytes"] == prof.ram_bytes
