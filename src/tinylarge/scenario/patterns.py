"""Early exit and split computing as closed-loop policies: what the deploy stage builds for them
and how one device routes its requests under each.

- ``early-exit`` (:mod:`tinylarge.integrate.early_exit`, BranchyNet-style): the device runs the
  student's int8 ``blocks[:k]`` (A) and exit head (E); a sample whose exit gate score reaches the
  calibrated threshold (Learn then Test, as the cascade's, against the final exit) is answered on
  the device, otherwise the rest of the student (B) runs **on the device too**, as the integrate
  pattern deploys it. Nothing leaves the device: no bytes up, no raw input.
- ``split`` (:mod:`tinylarge.integrate.split`, Neurosurgeon-style): the device runs the
  teacher's int8 ``blocks[:cut]``, sends the int8 activation (its bytes priced by the device's
  uplink like an offload) and the server runs the float tail. Raw input never leaves the device;
  a request the policy keeps local (offload cap, battery saver) is answered by the device's int8
  student instead.

Neither sends raw input up, so LargeML has nothing to label from these devices: re-distillation
(``scenario.update``) still updates the student they fall back to, but the early-exit graphs and
the split head are built once, at deploy time, from the deployed models (see ``FIXED_NOTE``).
Latency and energy are modelled from the catalog profile of the int8 graphs actually run (and the
link); accuracy is measured by running those int8 graphs in TFLM.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinylarge.errors import TinylargeError
from tinylarge.tiny.gates import Gate, gate_scores
from tinylarge.tiny.layout import to_model_layout, to_torch_layout

PATTERN_KINDS = ("early-exit", "split")
FIXED_NOTE = (
    "{kinds}: built once at deploy time from the deployed models and kept fixed; these devices "
    "send no raw input, so LargeML labels nothing from them, and re-distillation updates only "
    "the int8 student they fall back to (local answers)"
)


@dataclass
class PathCost:
    """Modelled cost of one request on one device type: ``first`` always runs, ``further`` only
    for the requests that go on (the rest of the network, on the device or across the link)."""

    first_latency_s: float
    first_energy_j: float
    further_latency_s: float
    further_energy_j: float
    further_bytes: int = 0


@dataclass
class Route:
    """One device's requests under a pattern: the system's answers, what ran further, the cost."""

    correct: np.ndarray
    device_correct: np.ndarray
    further: np.ndarray
    latency_s: np.ndarray
    energy_j: np.ndarray
    bytes_up: np.ndarray
    exited: np.ndarray | None = None


def _runtime(path: Path):
    """TFLM, sample by sample (the exit head's graph has a fixed batch of one, so LiteRT's
    batched resize does not apply), as ``integrate.early_exit`` runs these graphs."""
    from tinylarge.tiny.runtime import TflmRuntime

    return TflmRuntime(path)


def _profile(path: Path, device: str) -> tuple[float, float, bool]:
    from tinylarge.tiny.devices import load_device
    from tinylarge.tiny.profile import analyze_model, profile_facts

    p = profile_facts(analyze_model(path), load_device(device))
    return float(p.latency_s), float(p.energy_j), bool(p.fits)


@dataclass
class ExitDeployment:
    """The student's three int8 graphs (A, E, B), the calibrated exit threshold and their cost."""

    paths: dict[str, Path]
    threshold: float
    gate: Gate
    costs: dict[str, PathCost]
    summary: dict[str, Any]
    _rt: dict[str, Any] = field(default_factory=dict, repr=False)

    def logits(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(exit logits, final logits)`` of the int8 graphs on float NCHW inputs ``x``."""
        from tinylarge.integrate.early_exit import exit_logits

        if not self._rt:
            self._rt.update({k: _runtime(p) for k, p in self.paths.items()})
        return exit_logits(self._rt, x)


@dataclass
class SplitDeployment:
    """The teacher cut at ``cut``: the device's int8 head, the server's float tail, their cost."""

    cut: int
    path: Path
    sent_bytes: int
    teacher: Any
    costs: dict[str, PathCost]
    summary: dict[str, Any]
    _rt: Any = None

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The server's logits from the device's int8 activation on float NCHW inputs ``x``."""
        from tinylarge.tiny.runtime import dequantize, quantize

        if self._rt is None:
            self._rt = _runtime(self.path)
        rt = self._rt
        q = rt.invoke_int8(quantize(to_model_layout(x), rt.input_scale, rt.input_zero_point))
        act = to_torch_layout(dequantize(q, rt.output_scale, rt.output_zero_point))
        with torch.no_grad():
            return self.teacher.forward_from(torch.from_numpy(act.astype(np.float32)), self.cut)


def build_early_exit(ctx: Any) -> ExitDeployment:
    """Train the exit head on the deployed student, deploy A/E/B int8, calibrate the exit gate
    (``policy.gate_max_accuracy_drop`` below the final exit, ``policy.gate_delta``, Learn then
    Test on the validation rows) and cost A+E and B on every device type of the fleet."""
    from tinylarge.integrate.early_exit import EarlyExitConfig, run_early_exit

    sc = ctx.scenario
    pol = sc.policy
    n_blocks = len(ctx.artifacts["student"].blocks)
    if not 1 <= pol.exit_after < n_blocks:
        raise TinylargeError(
            f"policy.exit_after {pol.exit_after} is not a cut inside the student: valid "
            f"1..{n_blocks - 1}"
        )
    config = EarlyExitConfig(
        model=ctx.run_dir / "student.pt",
        exit_after=pol.exit_after,
        epochs=pol.exit_epochs,
        device=sc.fleet[0].device,
        max_accuracy_drop=pol.gate_max_accuracy_drop,
        delta=pol.gate_delta,
        seed=sc.seed,
    )
    out = ctx.run_dir / "early_exit"
    out.mkdir(exist_ok=True)
    result = run_early_exit(config, dataset=ctx.dataset, out_dir=out, progress=False)
    paths = {k: Path(v) for k, v in result.graphs.items()}
    costs, fits = {}, {}
    for g in {g.device for g in sc.fleet}:
        (a_s, a_j, a_ok), (e_s, e_j, e_ok), (b_s, b_j, b_ok) = (
            _profile(paths[k], g) for k in ("A", "E", "B")
        )
        costs[g] = PathCost(a_s + e_s, a_j + e_j, b_s, b_j, 0)
        fits[g] = a_ok and e_ok and b_ok
    summary = {
        "exit_after": pol.exit_after,
        "threshold": result.threshold,
        "gate": str(config.gate),
        "exit_fraction": result.exit_fraction,
        "accuracy": result.accuracy,
        "side_exit_accuracy": result.small_accuracy,
        "final_exit_accuracy": result.big_accuracy,
        "certified": result.certified,
        "graphs": {k: str(p) for k, p in paths.items()},
        "fits": fits,
        "cost_per_device": {g: vars(c) for g, c in costs.items()},
    }
    return ExitDeployment(paths, float(result.threshold), config.gate, costs, summary)


def choose_cut(teacher: Any, input_shape: tuple[int, ...]) -> tuple[int, list[int]]:
    """The cut ``1..n_blocks`` whose activation is smallest (fewest bytes up; the earliest on a
    tie, so the device runs least), and every cut's activation size."""
    sizes = []
    with torch.no_grad():
        x = torch.zeros(1, *input_shape)
        for k in range(1, len(teacher.blocks) + 1):
            sizes.append(int(np.prod(teacher.forward_until(x, k).shape[1:])))
    return 1 + int(np.argmin(sizes)), sizes


def build_split(ctx: Any) -> SplitDeployment:
    """Quantize the teacher's ``blocks[:cut]`` (a copy: PT2E calibration moves BatchNorm
    statistics, NOTES.md) and cost it per device type with the activation's uplink transfer."""
    from tinylarge.integrate.split import server_part
    from tinylarge.models import count_macs
    from tinylarge.net import link_from_band, load_link, transfer_energy_j, transfer_latency_s
    from tinylarge.tiny.devices import load_device
    from tinylarge.tiny.layout import DevicePart
    from tinylarge.tiny.quantize import quantize_model

    sc, ds = ctx.scenario, ctx.dataset
    teacher = ctx.artifacts["teacher"].eval()
    shape = tuple(ds.info.input_shape)
    best, sizes = choose_cut(teacher, shape)
    cut = sc.policy.split_cut if sc.policy.split_cut is not None else best
    n_blocks = len(teacher.blocks)
    if not 1 <= cut <= n_blocks:
        raise TinylargeError(
            f"policy.split_cut {cut} is not a cut of the teacher: valid 1..{n_blocks}"
        )
    rng = np.random.default_rng(sc.seed)
    x_cal = ds.x_train[rng.permutation(len(ds.x_train))[:200]]
    out = ctx.run_dir / "split"
    out.mkdir(exist_ok=True)
    part = DevicePart(copy.deepcopy(teacher), cut, with_head=False)
    path = quantize_model(part, x_cal, out / f"teacher_cut{cut}_int8.tflite", seed=sc.seed)
    sent = int(np.prod(_runtime(path).output_shape[1:]))  # int8: one byte per element
    # the server's float tail: the scenario's per-request teacher time scaled by its MAC share
    with torch.no_grad():
        act_shape = tuple(teacher.forward_until(torch.zeros(1, *shape), cut).shape[1:])
    tail_macs = count_macs(server_part(teacher, cut), act_shape)
    server_s = sc.policy.server_latency_s * tail_macs / max(count_macs(teacher, shape), 1)
    costs, fits = {}, {}
    for g in sc.fleet:
        if g.device in costs:
            continue
        link = link_from_band(g.band, g.snr_db) if g.band else load_link(g.link)
        head_s, head_j, fits[g.device] = _profile(path, g.device)
        send_s = transfer_latency_s(sent, link)
        sleep_w = load_device(g.device).sleep_power_w
        costs[g.device] = PathCost(
            head_s, head_j, send_s + server_s,
            transfer_energy_j(sent, link) + sleep_w * (send_s + server_s), sent,
        )  # fmt: skip
    summary = {
        "cut": cut,
        "activation_bytes": sent,
        "input_bytes": int(np.prod(shape)),
        "activation_elements_by_cut": sizes,
        "server_tail_latency_s": server_s,
        "tflite": str(path),
        "fits": fits,
        "cost_per_device": {g: vars(c) for g, c in costs.items()},
    }
    return SplitDeployment(cut, path, sent, teacher, costs, summary)


def take(outputs: Any, rows: np.ndarray) -> Any:
    """Rows ``rows`` of a pattern's outputs (one array, or the early exit's pair)."""
    if isinstance(outputs, tuple):
        return tuple(o[rows] for o in outputs)
    return outputs[rows]


@dataclass
class Patterns:
    """The patterns a run deployed, with their outputs on the loop's pools computed once."""

    exit: ExitDeployment | None = None
    split: SplitDeployment | None = None
    _out: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    @property
    def available(self) -> tuple[str, ...]:
        return tuple(k for k, d in (("early-exit", self.exit), ("split", self.split)) if d)

    def outputs(self, kind: str, pools: Any, cond: str, pool: str) -> Any:
        key = (kind, cond, pool)
        if key not in self._out:
            x = pools.x[(cond, pool)]
            self._out[key] = self.exit.logits(x) if kind == "early-exit" else self.split.logits(x)
        return self._out[key]

    def stream(self, kind: str, pools: Any, cond: str, idx: np.ndarray, x: np.ndarray | None):
        """The pattern's outputs on stream requests ``idx`` (``x``: fresh noisy frames, run now)."""
        if x is not None:
            return self.exit.logits(x) if kind == "early-exit" else self.split.logits(x)
        return take(self.outputs(kind, pools, cond, "A"), idx)

    def route(self, kind, policy, group, battery, small, y, cost, outputs, gate) -> Route:
        """Route one device's requests (its student logits ``small``, labels ``y``, the pattern's
        ``outputs`` on them) under ``kind``; ``cost`` is the group's cascade :class:`Cost` and
        ``gate`` the cascade's (it orders which split requests an offload cap keeps local)."""
        n = len(y)
        student_ok = small.argmax(1) == y
        if kind == "early-exit":
            ex, fin = outputs
            scores = gate_scores(ex, self.exit.gate)
            further = policy.offload_mask(group, scores, battery)
            c = self.exit.costs[group]
            return Route(
                correct=np.where(further, fin.argmax(1) == y, ex.argmax(1) == y),
                device_correct=ex.argmax(1) == y,
                further=further,
                latency_s=c.first_latency_s + further * c.further_latency_s,
                energy_j=c.first_energy_j + further * c.further_energy_j,
                bytes_up=np.zeros(n),
                exited=~further,
            )
        # split: every request the policy lets go up is split; the rest the student answers
        sent = policy.offload_mask(group, gate_scores(small, gate), battery)
        c = self.split.costs[group]
        split_s = c.first_latency_s + c.further_latency_s + policy.extra_latency_s
        return Route(
            correct=np.where(sent, outputs.argmax(1) == y, student_ok),
            device_correct=student_ok,
            further=sent,
            latency_s=np.where(sent, split_s, cost.infer_latency_s),
            energy_j=np.where(sent, c.first_energy_j + c.further_energy_j, cost.infer_energy_j),
            bytes_up=sent * float(c.further_bytes),
        )


def deploy_patterns(ctx: Any) -> None:
    """Deploy stage hook: build the patterns the scenario's policy names (its ``kind`` and
    ``also_deploy``); nothing (and no time) for a scenario that names none."""
    pol = ctx.scenario.policy
    wanted = [k for k in PATTERN_KINDS if k == pol.kind or k in pol.also_deploy]
    pats = Patterns()
    if "early-exit" in wanted:
        pats.exit = build_early_exit(ctx)
    if "split" in wanted:
        pats.split = build_split(ctx)
    ctx.artifacts["patterns"] = pats
    if wanted:
        ctx.metrics["patterns"] = {
            **({"early-exit": pats.exit.summary} if pats.exit else {}),
            **({"split": pats.split.summary} if pats.split else {}),
            "note": FIXED_NOTE.format(kinds=" and ".join(wanted)),
        }
