"""``tinylarge intent`` in a real process: one JSON object, exit 0 accepted or refused, 2 on bad
usage before the model loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tinylarge.cli", "intent", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.slow  # two processes each load the foundation model
@pytest.mark.parametrize(
    ("text", "accepted", "kind"),
    [("keep p99 latency under 30 ms", True, "latency_slo"), ("order me a pizza", False, None)],
)
def test_json_reply_exit_0_either_way(text, accepted, kind):
    out = run(text, "--json", "--closest", "2")
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert {"accepted", "kind", "params", "confidence", "closest"} <= set(reply)
    assert reply["accepted"] is accepted and reply["kind"] == kind
    assert len(reply["closest"]) == 2
    if accepted:
        assert reply["params"]["target_s"] == pytest.approx(0.03)
        assert reply["params"]["percentile"] == pytest.approx(0.99)


@pytest.mark.parametrize(
    ("args", "bad"), [(["  "], "the intent is empty"), (["go", "--closest", "9"], "9")]
)
def test_bad_usage_is_one_line_exit_2(args, bad):
    out = run(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and bad in lines[0] and "Traceback" not in out.stderr, out.stderr
    assert out.stdout == ""
