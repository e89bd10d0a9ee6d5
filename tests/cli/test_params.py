"""Shared option types: a device threshold given as a number or read from a cascade run."""

import json

import click
import pytest

from tinylarge.cli.params import THRESHOLD


def convert(value: str) -> float:
    return THRESHOLD.convert(value, None, None)


def test_threshold_is_a_number_or_a_cascade_runs_certified_threshold(tmp_path):
    run = tmp_path / "cascade-run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"threshold": 0.8125, "gate": "max-prob"}))
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"cascade": {"threshold": 0.75, "gate": "max-prob"}}))
    assert convert("0.5") == 0.5
    assert convert(str(run)) == 0.8125  # the run folder
    assert convert(str(run / "metrics.json")) == 0.8125
    assert convert(str(scenario)) == 0.75  # a scenario run's cascade entry


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "is neither a number nor a cascade run (No such file or directory)"),
        ("not json", "is not JSON"),
        ("[1, 2]", "holds no cascade threshold"),
        ('{"threshold": 0.7, "gate": "margin"}', "calibrated for the 'margin' gate"),
        ('{"threshold": -0.5, "gate": "max-prob"}', "is not in the range x>=0.0"),
    ],
)
def test_threshold_from_a_bad_run_is_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "metrics.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(click.BadParameter, match=message.replace("(", r"\(").replace(")", r"\)")):
        convert(str(path))
