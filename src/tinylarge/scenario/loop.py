"""The closed loop over simulated time (DESIGN.md "Closed loop"): serve, offload, label, update,
sign, roll out, drift, recover.

Each tick every device serves ``samples_per_tick`` requests drawn from the *stream* half of the
test split (drifted for the drifting devices once the drift starts) with the int8 model it runs,
and offloads what its policy sends up. The LargeML side labels every offloaded sample with the
teacher; every ``update_every`` ticks it makes a new student (``loop.update``: re-distils it on
them, or runs federated rounds in which each device trains on its own labelled offloads, see
:mod:`~.update_federated`), quantizes and signs it and starts a rollout (canaries, then all, or
back). Fleet accuracy is measured each tick on the other, never-trained-on *evaluation* half, per
device (its model version, its data condition, its policy), and averaged over devices. Device
answers are the int8 models run by LiteRT's reference kernels; latency and energy are modelled
from the catalog profile and the link (see ``cost``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinylarge.errors import TinylargeError
from tinylarge.large.updater import probe_accuracy
from tinylarge.scenario.drift import class_weights, drifted_inputs
from tinylarge.scenario.fleet import (
    Device,
    Lineage,
    RuntimePool,
    is_open,
    provision,
    sign_for,
    start_rollout,
)
from tinylarge.scenario.metrics import measure_tick, summarize
from tinylarge.scenario.patterns import PATTERN_KINDS, Patterns
from tinylarge.scenario.policy import PolicyState, apply_change
from tinylarge.scenario.schema import Scenario
from tinylarge.scenario.update import ModelVersion, redistill, tamper
from tinylarge.scenario.update_federated import DeviceLabels, federated_update, update_band
from tinylarge.secure.keys import load_private_key, new_keypair
from tinylarge.secure.rollout import Phase, RolloutPolicy
from tinylarge.tiny.gates import Gate, gate_scores
from tinylarge.tiny.layout import to_model_layout
from tinylarge.train import ArtifactCache, predict_logits

CONDITIONS = ("clean", "drifted")


@dataclass(frozen=True)
class Cost:
    """Modelled per-request cost on one device type: local inference (catalog profile) and the
    extra of an offloaded request (uplink transfer, waiting asleep, LargeML inference)."""

    infer_latency_s: float
    infer_energy_j: float
    offload_latency_s: float
    offload_energy_j: float
    offload_bytes: int = 0  # the raw int8 input an offload sends up


def device_costs(
    scenario: Scenario, profile_rows: dict[str, list[dict]], input_bytes: int
) -> dict[str, Cost]:
    """Per device type, from the catalog profile of the student that type runs
    (``profile_rows``: device type -> that student's profile rows)."""
    from tinylarge.net import link_from_band, load_link, transfer_energy_j, transfer_latency_s
    from tinylarge.tiny.devices import load_device

    costs = {}
    for g in scenario.fleet:
        link = link_from_band(g.band, g.snr_db) if g.band else load_link(g.link)
        send_s = transfer_latency_s(input_bytes, link)
        sleep_w = load_device(g.device).sleep_power_w
        rows = {r["device"]: r for r in profile_rows.get(g.device, [])}
        row = rows.get(g.device)
        if row is None:
            raise TinylargeError(f"no profile of the student on {g.device!r}")
        costs[g.device] = Cost(
            infer_latency_s=row["latency_s"],
            infer_energy_j=row["energy_j"],
            offload_latency_s=send_s + scenario.policy.server_latency_s,
            offload_energy_j=transfer_energy_j(input_bytes, link) + sleep_w * send_s,
            offload_bytes=input_bytes,
        )
    return costs


class Pools:
    """The stream (``A``) and evaluation (``B``) halves of the test split, clean and drifted,
    with every model's outputs on them computed once."""

    def __init__(self, dataset: Any, scenario: Scenario, teacher: Any) -> None:
        rng = np.random.default_rng([scenario.seed, 0x5EED])
        order = rng.permutation(len(dataset.y_test))
        self.idx = {"A": np.sort(order[0::2]), "B": np.sort(order[1::2])}
        self.y = {p: dataset.y_test[i] for p, i in self.idx.items()}
        n_classes = dataset.info.n_classes
        drift = scenario.drift
        self.x: dict[tuple[str, str], np.ndarray] = {}
        self.weights: dict[tuple[str, str], np.ndarray] = {}
        for k, (p, i) in enumerate(self.idx.items()):
            clean = dataset.x_test[i]
            self.x[("clean", p)] = clean
            self.x[("drifted", p)] = drifted_inputs(clean, drift, scenario.seed * 7 + k)
            self.weights[("clean", p)] = class_weights(self.y[p], n_classes, None)
            self.weights[("drifted", p)] = class_weights(self.y[p], n_classes, drift)
        self.teacher = {key: predict_logits(teacher, x) for key, x in self.x.items()}
        self._small: dict[tuple[int, str, str], np.ndarray] = {}

    def stream(self, version, runtimes, cond: str, idx: np.ndarray, rng, drift):
        """One device's requests ``idx`` of the stream half: ``(x, outputs)``; ``x`` is ``None``
        when the inputs are the pool's fixed copies (no fresh noise), else the noisy frames."""
        if cond == "drifted" and drift.kind == "noise":
            clean = self.x[("clean", "A")][idx]
            x = (clean + drift.noise_std * rng.standard_normal(clean.shape)).astype(np.float32)
            return x, runtimes(version.tflite).predict(to_model_layout(x))
        return None, self.small(version, runtimes, cond, "A")[idx]

    def eval_index(self, cond: str) -> np.ndarray:
        """Rows of the evaluation half as a device under ``cond`` sees them: all of them, or, for
        a shifted class mix, a seeded resample (4x) drawn with the mix, so per-device caps such as
        an offload budget hold on the traffic itself."""
        w = self.weights[(cond, "B")]
        if np.allclose(w, w[0]):
            return np.arange(len(w))
        rng = np.random.default_rng([len(w), 0xE7A1])
        return np.sort(rng.choice(len(w), size=4 * len(w), p=w))

    def small(self, version: ModelVersion, runtimes: RuntimePool, cond: str, pool: str):
        key = (version.version, cond, pool)
        if key not in self._small:
            runtime = runtimes(version.tflite)
            self._small[key] = runtime.predict(to_model_layout(self.x[(cond, pool)]))
        return self._small[key]


def _keys(scenario: Scenario, run_dir: Path):
    if scenario.security.keys_dir:
        return load_private_key(Path(scenario.security.keys_dir) / "private.pem")
    private, _ = new_keypair(run_dir / "keys")
    return load_private_key(private)


def run_loop(ctx: Any, intent_mapper=None) -> dict[str, Any]:
    """Run the closed loop of ``ctx.scenario`` (a :class:`RunContext` after the cascade stage)."""
    sc: Scenario = ctx.scenario
    loop, drift, sec = sc.loop, sc.drift, sc.security
    ds, teacher = ctx.dataset, ctx.artifacts["teacher"]
    cache = ArtifactCache(ctx.cache_dir)
    runtimes = RuntimePool()
    pools = Pools(ds, sc, teacher)
    input_bytes = int(np.prod(ds.info.input_shape))
    students = {n: m for n, m in ctx.metrics["students"].items() if m["devices"]}
    of_group = {g: n for n, m in students.items() for g in m["devices"]}
    profiles = {g: students[n]["profile"] for g, n in of_group.items()}
    costs = device_costs(sc, profiles, input_bytes)
    gate = Gate(ctx.metrics["cascade"]["gate"])  # one gate kind for the run (the policy's)
    groups = [g.device for g in sc.fleet]
    policy = PolicyState.initial(
        groups,
        sc.policy.kind,
        {g: float(students[n]["cascade"]["threshold"]) for g, n in of_group.items()},
        sc.policy.max_offload_fraction,
        sec.canary_fraction,
    )
    policy.audit_fraction = sc.policy.audit_fraction
    pats = ctx.artifacts.get("patterns") or Patterns()  # early exit / split, when deployed
    policy.available = pats.available
    policy.exit_threshold = pats.exit.threshold if pats.exit else None
    key = _keys(sc, ctx.run_dir)
    bundles_dir = ctx.run_dir / "bundle"
    bundles_dir.mkdir(exist_ok=True)

    versions: dict[int, ModelVersion] = {}
    bundles: dict[int, dict[str, bytes]] = {}
    lineages: dict[str, Lineage] = {}
    for v, (name, m) in enumerate(students.items(), start=1):
        tflite = Path(ctx.artifacts[f"{name}_tflite"]).read_bytes()
        source = "deployed" if len(students) == 1 else f"deployed ({name})"
        versions[v] = ModelVersion(v, ctx.artifacts[name], tflite, source)
        versions[v].int8_accuracy = m.get("int8_accuracy")
        bundles[v] = sign_for(tflite, key, v, m["devices"])
        lineages[name] = Lineage(name, m["devices"], ctx.artifacts[f"{name}_spec"], v,
                                 float(m["cascade"]["threshold"]), history=[v])  # fmt: skip
    clock = {"now_s": 0.0}
    rng = np.random.default_rng([sc.seed, 0x100F])
    probe_n = min(sec.probe_samples, len(pools.y["A"]))
    probe = (pools.x[("clean", "A")][:probe_n], pools.y["A"][:probe_n])
    floors = {  # the self-test floor of each student: its own factory accuracy minus the margin
        n: probe_accuracy(runtimes(versions[lin.fleet_version].tflite), *probe)
        - sec.self_test_margin
        for n, lin in lineages.items()
    }
    devices: list[Device] = []
    for gi, g in enumerate(sc.fleet):
        lin = lineages[of_group[g.device]]
        for k in range(g.count):
            did = f"{g.device}-{gi}-{k:04d}"
            updater = provision(
                did, g.device, bundles[lin.fleet_version][g.device], key, runtimes, probe,
                loop.tick_s, min(20, loop.samples_per_tick), lambda: clock["now_s"],
                floors[lin.name],
            )  # fmt: skip
            devices.append(Device(did, g.device, False, float(rng.uniform(0.05, 1.0)), updater))
    line_of = {d.device_id: lineages[of_group[d.group]] for d in devices}
    n_drift = int(np.ceil(drift.fraction * len(devices))) if drift.kind != "none" else 0
    for d in (devices[i] for i in rng.permutation(len(devices))[:n_drift]):
        d.drifts = True

    pool_x: list[np.ndarray] = []
    pool_y: list[np.ndarray] = []
    labels = DeviceLabels(loop.federated.buffer_samples)  # what each device got answers for
    seen: set[tuple[str, int]] = set()
    n_updates = 0
    ticks, events, intents_log = [], [], []
    latency_samples: dict[str, list[np.ndarray]] = {"pre-drift": [], "after drift": []}
    intents = sorted(sc.intents, key=lambda i: i.at_tick)

    for tick in range(loop.duration_ticks):
        t0 = tick * loop.tick_s
        drifting = drift.kind != "none" and tick >= drift.at_tick
        for intent in [i for i in intents if i.at_tick == tick]:
            intents_log.append(_apply_intent(intent, policy, costs, intent_mapper, tick, pats))
        for d in devices:  # 1. devices follow the rollout of their student's line
            lin = line_of[d.device_id]
            rollout = lin.rollout
            want = rollout.target_version(d.device_id) if is_open(rollout) else lin.fleet_version
            if want == d.version or want in d.failed or d.updater.slots.trial is not None:
                continue
            clock["now_s"] = t0
            data = bundles[want][d.group]
            if (
                rollout is not None
                and sec.tamper_update == lin.update_no
                and want == rollout.to_version
            ):
                data = tamper(data)
            outcome = d.updater.install(data)
            events.append(
                {
                    "tick": tick,
                    "device": d.device_id,
                    "event": outcome.status,
                    "version": want,
                    "reason": outcome.reason,
                }  # fmt: skip
            )
            if not outcome.ok:
                d.failed.add(want)
                if is_open(rollout):
                    rollout.report(d.report(want, failed=True, detail=outcome.reason or ""))
        for d in devices:  # 2. devices serve their traffic
            cond = "drifted" if (drifting and d.drifts) else "clean"
            version = versions[d.version]
            w = pools.weights[(cond, "A")]
            idx = rng.choice(len(w), size=loop.samples_per_tick, p=w)
            x, small = pools.stream(version, runtimes, cond, idx, rng, sc.drift)
            scores = gate_scores(small, gate)
            audit = rng.random(len(idx)) < policy.audit_fraction if policy.audit_fraction else None
            mask = policy.offload_mask(d.group, scores, d.battery, audit=audit)
            c = costs[d.group]
            latency = c.infer_latency_s + mask * (c.offload_latency_s + policy.extra_latency_s)
            kind = policy.effective_kind(d.group, d.battery)
            if kind in PATTERN_KINDS:  # no raw input goes up: nothing for LargeML to label
                outputs = pats.stream(kind, pools, cond, idx, x)
                r = pats.route(kind, policy, d.group, d.battery, small, pools.y["A"][idx], c,
                               outputs, gate)  # fmt: skip
                mask, latency = np.zeros(len(idx), dtype=bool), r.latency_s
            correct = small.argmax(1) == pools.y["A"][idx]
            running = d.version
            for i in range(len(idx)):
                clock["now_s"] = t0 + (i + 1) * loop.tick_s / (len(idx) + 1)
                event = d.updater.observe(bool(correct[i]), float(latency[i]))
                if event is not None:
                    events.append(
                        {"tick": tick, "device": d.device_id, "event": event, "version": running}
                    )
                    if event == "reverted":
                        d.failed.add(running)
            # the rollout judges the model: its own answers and its on-device inference latency
            d.record(running, correct, np.full(len(idx), c.infer_latency_s))
            up = np.flatnonzero(mask)  # 3. LargeML labels what came up
            if x is not None:  # fresh sensor noise: every offloaded frame is new
                if len(up):
                    answers = predict_logits(teacher, x[up]).argmax(1)
                    pool_x.extend(x[up])
                    pool_y.extend(answers.tolist())
                    labels.add(d.device_id, x[up], answers)
                    for lin in lineages.values():
                        lin.new_since_update += len(up)
            else:
                if len(up):
                    labels.add(d.device_id, pools.x[(cond, "A")][idx[up]],
                               pools.teacher[(cond, "A")][idx[up]].argmax(1))  # fmt: skip
                for j in up:
                    if (cond, int(idx[j])) not in seen:
                        seen.add((cond, int(idx[j])))
                        pool_x.append(pools.x[(cond, "A")][idx[j]])
                        pool_y.append(int(pools.teacher[(cond, "A")][idx[j]].argmax()))
                        for lin in lineages.values():
                            lin.new_since_update += 1
            rollout = line_of[d.device_id].rollout
            if is_open(rollout) and running in (rollout.from_version, rollout.to_version):
                rollout.report(d.report(running, failed=running in d.failed))
        for lin in lineages.values():  # 4. each line's rollout decides
            _close_rollout(lin, [d for d in devices if line_of[d.device_id] is lin], versions,
                           bundles, key, events, tick)  # fmt: skip
        ticks.append(measure_tick(tick, devices, versions, pools, runtimes, gate, policy, costs,
                              drifting, latency_samples, pats))  # fmt: skip
        # 5. LargeML updates each student on what it labelled (all offloads, every line)
        due = tick > 0 and (tick + 1) % loop.update_every == 0 and tick + 1 < loop.duration_ticks
        for lin in lineages.values():
            if not due or is_open(lin.rollout) or lin.new_since_update < loop.min_new_samples:
                continue
            parent, v = versions[lin.fleet_version], max(versions)
            if (policy.update or loop.update) == "federated":  # no raw input used: weights only
                line_devices = [d for d in devices if line_of[d.device_id] is lin]
                new = federated_update(parent, lin.spec, ds, labels, line_devices, loop.federated,
                                       update_band(loop.federated, sc.fleet), cache, bundles_dir,
                                       v + 1, sc.seed)  # fmt: skip
            else:
                new = redistill(parent, lin.spec, teacher, ds, np.stack(pool_x), np.array(pool_y),
                                loop, cache, bundles_dir, v + 1, sc.seed)  # fmt: skip
            if new is None:  # fewer than two devices hold labelled samples: nothing to federate
                continue
            n_updates += 1
            versions[new.version] = new
            bundles[new.version] = sign_for(new.tflite, key, new.version, lin.groups)
            lin_ids = [i for i, li in line_of.items() if li is lin]
            for g, data in bundles[new.version].items():
                (bundles_dir / f"v{new.version}-{g}.bundle").write_bytes(data)
            policy_obj = RolloutPolicy(
                canary_fraction=policy.canary_fraction,
                min_canary_reports=min(sec.min_canary_reports, len(lin_ids)),
                min_canary_samples=sec.min_canary_samples,
                max_accuracy_drop=sec.max_accuracy_drop,
            )
            lin.rollout = start_rollout(sc.name, lin.fleet_version, new.version, policy_obj,
                                        lin_ids)  # fmt: skip
            if all(lin.rollout.is_canary(i) for i in lin_ids):  # a small line: all canaries,
                for d in devices:  # so its baseline is what they measured on the current version
                    if line_of[d.device_id] is lin and d.version == lin.fleet_version:
                        lin.rollout.report(d.report(d.version))
            lin.closed, lin.new_since_update, lin.update_no = False, 0, n_updates
            events.append({"tick": tick, "event": "update signed", "version": new.version,
                           "reason": new.source, "cached": new.cached,
                           "student": lin.name, **new.meta})  # fmt: skip
    first = next(iter(lineages.values()))
    out = summarize(sc, ticks, events, intents_log, versions, pools, runtimes, gate, policy,
                    latency_samples, first.fleet_version)  # fmt: skip
    out["students"] = {n: lin.to_dict() for n, lin in lineages.items()}
    out["device_versions"] = {d.device_id: d.version for d in devices}  # what each one runs now
    return out


def _close_rollout(lin, devices, versions, bundles, key, events, tick) -> None:
    """When ``lin``'s rollout has decided: log it; its line moves to the new version (full) or
    back (rolled back)."""
    rollout = lin.rollout
    if is_open(rollout):
        rollout.decide()
    if rollout is None or rollout.phase is Phase.CANARY or lin.closed:
        return
    events.append({"tick": tick, "event": f"rollout {rollout.phase.value}",
                   "version": rollout.to_version, "reason": rollout.reason,
                   "student": lin.name})  # fmt: skip
    if rollout.phase is Phase.FULL:
        lin.fleet_version = rollout.to_version
    else:
        lin.fleet_version = _roll_back(rollout, devices, versions, bundles, key, lin.groups,
                                       events, tick)  # fmt: skip
    if lin.fleet_version != lin.history[-1]:
        lin.history.append(lin.fleet_version)
    lin.closed = True


def _roll_back(rollout, devices, versions, bundles, key, groups, events, tick) -> int:
    """Everyone back on ``from_version``; devices that already confirmed the bad version get the
    old model re-signed under a new, higher version (the anti-rollback counter only goes up)."""
    stuck = [d for d in devices if d.version == rollout.to_version]
    if not stuck:
        return rollout.from_version
    old = versions[rollout.from_version]
    v = max(versions) + 1
    versions[v] = ModelVersion(v, old.model, old.tflite, f"re-release of v{old.version}")
    bundles[v] = sign_for(old.tflite, key, v, groups)
    events.append({"tick": tick, "event": "re-release", "version": v,
                   "reason": f"v{old.version} re-signed: {len(stuck)} devices confirmed "
                             f"v{rollout.to_version}"})  # fmt: skip
    return v  # everyone moves to it: a device never installs a lower counter again


def _apply_intent(intent, policy, costs, mapper, tick, pats=None) -> dict[str, Any]:
    if mapper is None:
        raise TinylargeError("this scenario has intents, but no intent mapper is available")
    mapped = mapper(intent.text)
    entry = {"tick": tick, "text": intent.text, **mapped}
    if mapped.get("accepted"):
        offload_s = {g: c.offload_latency_s for g, c in costs.items()}
        if pats is not None and pats.split is not None:  # a split request's slower path
            for g, k in policy.kind.items():
                if k == "split":
                    sc = pats.split.costs[g]
                    offload_s[g] = sc.first_latency_s + sc.further_latency_s
        entry["effect"] = apply_change(policy, mapped["kind"], mapped["params"], offload_s)
    else:
        entry["effect"] = "refused"
    return entry
