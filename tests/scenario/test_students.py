"""Students per device type: validation, one student per distinct entry (trained once), a
search budget resolved to the best student that fits, and a loop where every device runs its
type's student line."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tinylarge.errors import TinylargeError
from tinylarge.scenario import run_scenario
from tinylarge.scenario.fleet import start_rollout
from tinylarge.scenario.schema import load_scenario
from tinylarge.secure.rollout import RolloutPolicy

FAST = {"epochs": 2, "batch_size": 16}
TINY = {"name": "cnn1d", "width": 4, "depth": 2}


def scenario_file(tmp_path, **extra):
    data = {
        "name": "students",
        "dataset": "italy-power",
        "teacher": {"spec": {"name": "cnn1d", "width": 8, "depth": 2}, "train": FAST},
        "student": {"spec": TINY, "train": FAST},
        "fleet": [{"device": "nrf52840", "count": 3}, {"device": "rp2040", "count": 2}],
        "loop": {"duration_ticks": 4, "samples_per_tick": 16, "update_every": 2,
                 "min_new_samples": 8, "epochs": 1},
        "policy": {"audit_fraction": 0.3},
        "runs_dir": str(tmp_path / "runs"),
        "cache_dir": str(tmp_path / "cache"),
        **extra,
    }  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("students", "message"),
    [
        ({"esp32s3": {"spec": TINY}},
         "students: 'esp32s3' is not a device type of the fleet; valid: nrf52840, rp2040"),
        ({"rp2040": {"spek": TINY}},
         "students.rp2040.spek: unknown key 'spek'; valid: spec, train, search"),
        ({"rp2040": {"spec": TINY, "search": {}}},
         "students.rp2040: give a student spec or a search, not both"),
        ({"rp2040": {"search": {"budget": {"ram_kb": 3}}}},
         "students.rp2040.search.budget.ram_kb: unknown key 'ram_kb'; valid: flash_bytes,"
         " ram_bytes, latency_s, energy_j"),
    ],
)  # fmt: skip
def test_bad_students_entries_are_one_line_errors(tmp_path, students, message):
    path = scenario_file(tmp_path, students=students)
    with pytest.raises(TinylargeError) as err:
        load_scenario(path)
    assert str(err.value) == f"invalid scenario {str(path)!r}: {message}"


def test_an_identical_student_is_one_student_trained_once(tmp_path):
    # rp2040's entry states the default student again; esp32s3 has no entry: all run one student
    fleet = [{"device": "nrf52840", "count": 2}, {"device": "rp2040", "count": 2},
             {"device": "esp32s3", "count": 2}]  # fmt: skip
    same = {"rp2040": {"spec": TINY, "train": FAST}}
    path = scenario_file(tmp_path, fleet=fleet, students=same, deploy=False)
    first = run_scenario(load_scenario(path), progress=False).metrics
    assert list(first["students"]) == ["student"]
    assert first["students"]["student"]["devices"] == ["nrf52840", "rp2040", "esp32s3"]
    assert first["students"]["student"]["from"] == ["student", "students.rp2040"]
    assert not first["student"]["cached"]
    # a different student for rp2040 trains; the one it shares with the others comes from the cache
    other = {"rp2040": {"spec": {**TINY, "width": 6}, "train": FAST}}
    path = scenario_file(tmp_path, fleet=fleet, students=other, deploy=False)
    second = run_scenario(load_scenario(path), progress=False).metrics
    assert list(second["students"]) == ["student", "student-rp2040"]
    assert second["students"]["student"]["devices"] == ["nrf52840", "esp32s3"]
    assert second["students"]["student"]["cached"]
    assert not second["students"]["student-rp2040"]["cached"]
    assert second["students"]["student-rp2040"]["spec"]["width"] == 6


def test_an_impossible_budget_is_a_one_line_error_and_leaves_no_run(tmp_path):
    search = {"budget": {"flash_bytes": 1000}, "proxy_epochs": 1,
              "space": {"families": ["cnn1d"], "widths": [4], "depths": [1],
                        "stem_strides": [1]}}  # fmt: skip
    path = scenario_file(tmp_path, students={"rp2040": {"search": search}})
    out = subprocess.run([sys.executable, "-m", "tinylarge.cli", "run", str(path)],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr
    assert lines[-1].startswith(
        "error: tinylarge run: students.rp2040.search: no candidate fits rp2040: budgets broken:"
        " flash (1 of 1); the closest, cnn1d w4 d1 s1, has flash "
    )
    assert lines[-1].endswith("> budget 1000 B")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_line_of_two_devices_is_all_canaries():
    policy = RolloutPolicy(canary_fraction=0.2, min_canary_reports=2)
    rollout = start_rollout("s", 1, 2, policy, ["a", "b"])
    assert rollout.is_canary("a") and rollout.is_canary("b")
    rollout = start_rollout("s", 1, 2, policy, [f"d{i}" for i in range(10)])
    assert 2 <= sum(rollout.is_canary(f"d{i}") for i in range(10)) < 10


@pytest.mark.slow
def test_two_device_types_run_two_students_through_the_loop(tmp_path):
    # nrf52840 runs the stated tiny student; rp2040 the search's winner under a latency budget
    search = {"budget": {"latency_s": 0.5}, "proxy_epochs": 2,
              "space": {"families": ["cnn1d"], "widths": [16], "depths": [2],
                        "stem_strides": [1]}}  # fmt: skip
    path = scenario_file(tmp_path, students={"rp2040": {"search": search, "train": FAST}})
    m = run_scenario(load_scenario(path), progress=False).metrics
    a, b = m["students"]["student"], m["students"]["student-rp2040"]
    assert (a["devices"], b["devices"]) == (["nrf52840"], ["rp2040"])
    assert (a["spec"]["width"], b["spec"]["width"]) == (4, 16)
    assert b["search"]["winner"] == "cnn1d w16 d2 s1" and b["params"] > a["params"]
    assert b["search"]["latency_s"] <= 0.5
    # both deployed: own int8 file, C code, profile and calibrated cascade
    digests = {hashlib.sha256(Path(s["tflite"]).read_bytes()).hexdigest() for s in (a, b)}
    assert len(digests) == 2
    for s in (a, b):
        assert s["codegen"]["bit_exact_host"]
        assert {p["device"] for p in s["profile"]} >= {"nrf52840", "rp2040"}
        assert "threshold" in s["cascade"]
    assert b["cascade"]["device"] == "rp2040" and m["cascade"]["device"] == "nrf52840"
    # the loop: each type's devices run versions of its own student line, and only those
    loop = m["loop"]
    lines = loop["students"]
    assert (lines["student"]["first_version"], lines["student-rp2040"]["first_version"]) == (1, 2)
    assert loop["ticks"][0]["versions"] == {"1": 3, "2": 2}
    for device, version in loop["device_versions"].items():
        line = "student-rp2040" if device.startswith("rp2040") else "student"
        assert version in lines[line]["versions"]
    signed = [e for e in loop["events"] if e["event"] == "update signed"]
    assert {e["student"] for e in signed} == {"student", "student-rp2040"}
    installed = {(e["device"].split("-")[0], e["version"]) for e in loop["events"]
                 if e.get("event") == "trial"}  # fmt: skip
    for device_type, version in installed:
        line = "student-rp2040" if device_type == "rp2040" else "student"
        assert any(e["version"] == version and e["student"] == line for e in signed)
    html = Path(m["report"]).read_text()
    assert "each device type's student" in html and "student-rp2040" in html
