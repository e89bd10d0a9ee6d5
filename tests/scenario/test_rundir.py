"""Run folders are unique, ``latest`` follows the newest, JSON is written whole or not at all."""

import json
from datetime import UTC, datetime

import pytest

from tinylarge.scenario.rundir import new_run_dir, point_latest, run_folder, write_json_atomic

NOW = datetime(2026, 11, 27, 4, 5, 6, tzinfo=UTC)


def test_run_dirs_are_timestamped_and_never_reused(tmp_path):
    a = new_run_dir(tmp_path, "demo", NOW)
    b = new_run_dir(tmp_path, "demo", NOW)
    assert a.name == "demo-20261127-040506"
    assert b.name == "demo-20261127-040506-2"


def test_latest_points_at_the_newest_run(tmp_path):
    a = new_run_dir(tmp_path, "demo", NOW)
    point_latest(a)
    b = new_run_dir(tmp_path, "demo", NOW)
    latest = point_latest(b)
    assert latest.resolve() == b.resolve()
    assert not latest.readlink().is_absolute()  # relative: the runs folder can move


def test_atomic_json_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "metrics.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object.__new__(type("X", (), {"__str__": None}))})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_failed_run_leaves_no_folder_and_latest_unmoved(tmp_path):
    runs = tmp_path / "runs"
    with run_folder(runs, "demo") as done:
        (done / "metrics.json").write_text("{}")
    point_latest(done)
    with pytest.raises(RuntimeError, match="stage failed"), run_folder(runs, "demo") as failed:
        (failed / "student.pt").write_bytes(b"half")
        raise RuntimeError("stage failed")
    assert not failed.exists()
    assert sorted(p.name for p in runs.iterdir()) == [done.name, "latest"]
    assert (runs / "latest").resolve() == done.resolve()
    with pytest.raises(KeyboardInterrupt), run_folder(tmp_path / "fresh", "demo"):
        raise KeyboardInterrupt
    assert not (tmp_path / "fresh").exists()  # a runs folder this run created goes too
