"""Every built-in scenario runs end to end (small settings) and writes a report that renders in
headless Chromium with every section and no console message."""

import json
import subprocess
import sys

import pytest

from tinylarge.scenario import run_scenario
from tinylarge.scenario.browser import check_report
from tinylarge.scenario.report import SECTIONS
from tinylarge.scenario.schema import builtin_names, builtin_scenario, with_overrides

SMALL_LOOP = {"duration_ticks": 6, "samples_per_tick": 16, "update_every": 2,
              "min_new_samples": 8, "epochs": 1}  # fmt: skip
FAST_TRAIN = {"epochs": 2, "batch_size": 16}
# the presets train for minutes (mnist5k's teacher has 1.1 M parameters; the series presets run
# hundreds of steps): CI checks the wiring, not the accuracy
SMALL_MODELS = {"teacher": {"train": FAST_TRAIN}, "student": {"train": FAST_TRAIN}}
SMALL_MNIST = {
    "teacher": {"spec": {"name": "resnet2d", "width": 8, "depth": 2}, "train": FAST_TRAIN},
    "student": {"spec": {"name": "cnn2d", "width": 4, "depth": 2}, "train": FAST_TRAIN},
}


def small(name, tmp_path):
    s = builtin_scenario(name)
    fleet = [{**g.model_dump(), "count": 3} for g in s.fleet]
    drift = {**s.drift.model_dump(), "at_tick": 2}
    extra = SMALL_MNIST if s.dataset == "mnist5k" else SMALL_MODELS
    if s.student.spec is not None:  # a built-in with its own (small) models keeps them
        extra = {r: {"spec": getattr(s, r).spec.model_dump(), "train": FAST_TRAIN}
                 for r in ("teacher", "student")}  # fmt: skip
    intents = [{**i.model_dump(), "at_tick": min(i.at_tick, 4)} for i in s.intents]
    students = {  # per-device-type students: the same wiring, trained briefly
        dev: {**st.model_dump(exclude_none=True), "train": FAST_TRAIN}
        | ({"search": {**st.search.model_dump(), "proxy_epochs": 2}} if st.search else {})
        for dev, st in s.students.items()
    }
    loop = {**SMALL_LOOP, "update": s.loop.update, "federated": s.loop.federated.model_dump()}
    return with_overrides(
        s, loop=loop, fleet=fleet, drift=drift, intents=intents, runs_dir=tmp_path / "runs",
        cache_dir=tmp_path / "cache", students=students, **extra,
    )  # fmt: skip


def test_the_four_builtins_are_listed_with_descriptions():
    assert builtin_names() == ["keypad", "smart-camera", "smart-grid", "voice", "wearable-health"]
    assert all(builtin_scenario(n).description for n in builtin_names())
    assert builtin_scenario("smart-camera").dataset == "mnist5k"


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["keypad", "smart-camera", "smart-grid", "voice", "wearable-health"]
)
def test_builtin_runs_and_its_report_renders(name, tmp_path):
    result = run_scenario(small(name, tmp_path), progress=False)
    loop = result.metrics["loop"]
    assert len(loop["accuracy_over_time"]) == 6
    assert all(0.0 <= a <= 1.0 for a in loop["accuracy_over_time"])
    assert any(e["event"] == "update signed" for e in loop["events"])
    page = check_report(result.run_dir / "report.html")
    assert page.console == []
    assert page.rendered == "ok"
    assert list(page.sections) == list(SECTIONS)
    for sid, title in SECTIONS.items():
        assert page.sections[sid]["heading"] == title
        assert (
            page.sections[sid]["images"] + page.sections[sid]["rows"] + page.sections[sid]["text"]
        )
    for sid in ("over-time", "offload", "latency-cdf", "rollout"):
        assert page.sections[sid]["images"] == 1
        assert (result.run_dir / "plots").is_dir()
    html = (result.run_dir / "report.html").read_text()
    assert "http://" not in html and "https://" not in html  # nothing to fetch: opens offline
    # intents: mapped by the foundation model, applied from their tick on, visible in the metrics
    applied = {i["kind"]: i for i in loop["intents"] if i["accepted"]}
    assert len(loop["intents"]) == len(builtin_scenario(name).intents)
    assert page.sections["intents"]["rows"] == len(loop["intents"]) + (1 if loop["intents"] else 0)
    after = loop["ticks"][4:]
    if name == "voice":
        assert applied["offload_budget"]["params"] == {"max_offload_fraction": 0.1}
        assert all(t["offload_fraction"] <= 0.1 + 1e-9 for t in after)
    if name == "smart-grid":  # raw readings stay on the meters: split computing from then on
        assert (
            "data_stays_on_device" in applied
            and "-> split" in applied["data_stays_on_device"]["effect"]
        )
        act = result.metrics["patterns"]["split"]["activation_bytes"]
        assert all(t["offload_fraction"] == 1.0 for t in after)
        assert all(t["bytes_up_per_request"] == act for t in after)  # activations, not readings
    if name == "wearable-health":
        assert "latency_slo" in applied
        refused = [i for i in loop["intents"] if not i["accepted"]]
        assert len(refused) == 1 and refused[0]["effect"] == "refused"
    if name == "keypad":  # federated updates: only weights crossed, priced by the ledger
        check_federated_updates(result, loop)
    if name == "smart-grid":  # its first update is tampered with in transit: refused, rolled back
        kinds = [e["event"] for e in loop["events"]]
        assert "refused" in kinds and "rollout rolled_back" in kinds


def check_federated_updates(result, loop):
    from flwr.app import ArrayRecord

    from tinylarge.data import load_dataset
    from tinylarge.models import ModelSpec, build_model

    spec = ModelSpec(**result.metrics["scenario"]["student"]["spec"])
    info = load_dataset(result.metrics["scenario"]["dataset"]).info
    model = build_model(spec, tuple(info.input_shape), info.n_classes)
    model_bytes = ArrayRecord(model.state_dict()).count_bytes()  # the student, independently
    signed = [e for e in loop["events"] if e["event"] == "update signed"]
    assert signed and all("federated" in e for e in signed)
    for e in signed:
        fed = e["federated"]
        assert fed["model_bytes"] == model_bytes
        # each round every client gets the model and sends it back; no raw input goes up
        sent = model_bytes * fed["n_clients"] * fed["rounds"]
        assert fed["bytes_up"] == fed["bytes_down"] == sent
        assert fed["raw_input_bytes_up"] == 0 and 2 <= fed["n_clients"] <= loop["n_devices"]
        assert fed["sim_time_s"] > 0 and len(fed["round_accuracy"]) == fed["rounds"]
        assert loop["versions"][e["version"]]["federated"] == fed
    assert "kB up" in (result.run_dir / "report.html").read_text()


def test_a_page_with_a_script_error_is_caught(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><section id='a'><h2>A</h2></section>"
                   "<script>undefinedFn()</script></body></html>")  # fmt: skip
    page = check_report(bad)
    assert page.rendered is None and any("undefinedFn" in c for c in page.console)


def test_scenarios_command_lists_the_builtins():
    out = subprocess.run([sys.executable, "-m", "tinylarge.cli", "scenarios", "--json"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    names = [s["name"] for s in json.loads(out.stdout)["scenarios"]]
    assert names == builtin_names()


def test_run_refuses_an_unknown_key_with_the_valid_ones(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: digits\nloop: {durations: 3}\n")
    out = subprocess.run([sys.executable, "-m", "tinylarge.cli", "run", str(bad)],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 2
    last = out.stderr.strip().splitlines()[-1]
    expected = f"error: tinylarge run: invalid scenario '{bad}': loop.durations: unknown key"
    assert last.startswith(f"{expected} 'durations'; valid: duration_ticks, tick_s")
    assert not (tmp_path / "runs").exists()
