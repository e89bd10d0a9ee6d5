"""The one adapter between the integration patterns and the fleet simulator.

A :class:`Workload` holds per-sample arrays computed once from real models on a real dataset: the
device's int8 student run in TFLM (correct or not, and its gate score), the LargeML teacher run in
torch on the int8 input the device would send, every split cut of the teacher (device part as a real
int8 ``.tflite`` in TFLM, tail in torch) with its per-sample correctness, and what each of those
costs per catalog device (the profiler) and on the edge and cloud servers (their catalog cost
models). The simulator samples a test item per request and reads these arrays; the policies only
ever see arrays. Everything reached from ``integrate``/``tiny``/``train`` goes through this module,
so a change there (gate scoring moving, a new threshold calibration) is a change here only.

Test-set items are split once, with a seed, into a calibration half (what policies may learn from:
the cascade threshold, P(correct | gate score)) and an evaluation half (what requests draw from).
Built workloads are cached in the artifact cache under a content hash of everything they depend on.
"""

from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

WORKLOAD_FORMAT = 3  # bump when what a workload holds or how it is computed changes

DEFAULT_DEVICES = (
    "nrf52840",
    "nrf5340",
    "esp32s3",
    "stm32l4r5",
    "stm32f746",
    "stm32h7a3",
    "rp2040",
)


@dataclass(frozen=True)
class Workload:
    """Per-sample outcomes and per-device costs; shapes in comments (c: device classes, k: cuts)."""

    dataset: str
    input_bytes: int  # the int8 input a device sends for full offload
    devices: tuple[str, ...]  # (c,)
    # evaluation half: what requests sample
    student_ok: np.ndarray  # (n,) bool: int8 student in TFLM
    gate_score: np.ndarray  # (n,) max softmax probability of the student's dequantized logits
    teacher_ok: np.ndarray  # (n,) bool: teacher on the int8 input (what a full offload sees)
    cut_ok: np.ndarray  # (k, n) bool: the split pipeline through cut k (device int8, tail torch)
    # calibration half: what policies may learn from
    cal_student_ok: np.ndarray
    cal_gate_score: np.ndarray
    cal_teacher_ok: np.ndarray
    cal_cut_ok: np.ndarray
    cascade_threshold: float  # the cascade pattern's calibrated threshold (offload if score < it)
    # device costs
    infer_latency_s: np.ndarray  # (c,) student on each device
    infer_energy_j: np.ndarray  # (c,)
    infer_fits: np.ndarray  # (c,) bool
    sleep_power_w: np.ndarray  # (c,)
    cuts: np.ndarray  # (k,) cut ids: blocks[:cut] on the device; n_blocks + 1 = all on the device
    cut_device_latency_s: np.ndarray  # (c, k)
    cut_device_energy_j: np.ndarray  # (c, k)
    cut_fits: np.ndarray  # (c, k) bool
    cut_sent_bytes: np.ndarray  # (k,) int8 activation sent up (0: nothing, all on device)
    cut_tail_macs: np.ndarray  # (k,) MACs of the float tail a server runs (cut 0: the teacher)
    cut_tail_layers: np.ndarray  # (k,) blocks + head of that tail

    @property
    def n_eval(self) -> int:
        return len(self.student_ok)

    def device_index(self, name: str) -> int:
        from tinylarge.errors import UnknownNameError

        if name not in self.devices:
            raise UnknownNameError("device (in this workload)", name, self.devices)
        return self.devices.index(name)

    def server_latency_s(self, server: str) -> np.ndarray:
        """Seconds each cut's tail takes on a catalog ``server`` (its cost model; 0 when nothing
        is sent)."""
        from tinylarge.integrate.split import server_latency_s

        return np.array(
            [
                server_latency_s(int(m), int(n), server) if sent else 0.0
                for m, n, sent in zip(
                    self.cut_tail_macs, self.cut_tail_layers, self.cut_sent_bytes, strict=True
                )
            ]
        )

    def save(self, path: str | Path) -> None:
        """Write to ``path`` (.npz) atomically."""
        path = Path(path)
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        arrays["devices"] = np.array(self.devices)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        os.close(fd)
        np.savez(tmp, **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> Workload:
        with np.load(path) as z:
            kw = {f.name: z[f.name] for f in fields(cls)}
        kw["dataset"] = str(kw["dataset"])
        kw["input_bytes"] = int(kw["input_bytes"])
        kw["cascade_threshold"] = float(kw["cascade_threshold"])
        kw["devices"] = tuple(str(d) for d in kw["devices"])
        return cls(**kw)

    def summary(self) -> dict[str, object]:
        """Accuracies and per-device costs, for reports."""
        return {
            "dataset": self.dataset,
            "n_eval": self.n_eval,
            "student_accuracy": float(self.student_ok.mean()),
            "teacher_accuracy": float(self.teacher_ok.mean()),
            "cut_accuracy": {
                int(c): float(a) for c, a in zip(self.cuts, self.cut_ok.mean(1), strict=True)
            },
            "cascade_threshold": self.cascade_threshold,
            "student_on": {
                d: {"latency_s": float(t), "energy_j": float(e), "fits": bool(f)}
                for d, t, e, f in zip(
                    self.devices,
                    self.infer_latency_s,
                    self.infer_energy_j,
                    self.infer_fits,
                    strict=True,
                )
            },
            "cut_sent_bytes": [int(b) for b in self.cut_sent_bytes],
        }


@dataclass(frozen=True)
class WorkloadSpec:
    """Which real models a workload is built from (all cached by content)."""

    dataset: str = "mnist5k"
    data_seed: int = 0
    split_seed: int = 0  # calibration/evaluation halves of the test set
    devices: tuple[str, ...] = DEFAULT_DEVICES


def load_workload(spec: WorkloadSpec | None = None, progress: bool = False) -> Workload:
    """The workload for ``spec``: from the artifact cache, or built once and stored there."""
    from tinylarge.tiny.devices import load_device
    from tinylarge.train.cache import cache_key, dataset_fingerprint, default_cache_root

    spec = spec or WorkloadSpec()
    for name in spec.devices:
        load_device(name)  # unknown devices fail here, naming the valid ones
    ds = _dataset(spec)
    key = cache_key(
        {
            "kind": "orchestrate-workload",
            "format": WORKLOAD_FORMAT,
            "spec": asdict(spec),
            "dataset": dataset_fingerprint(ds),
        }
    )
    path = default_cache_root() / f"workload-{key[:32]}.npz"
    if path.is_file():
        return Workload.load(path)
    workload = build_workload(spec, ds, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    workload.save(path)
    return workload


def _dataset(spec: WorkloadSpec):
    from tinylarge.data import load_dataset

    return load_dataset(spec.dataset, seed=spec.data_seed)


def _models(ds, progress: bool):
    """Teacher and student with the demo's presets, through the artifact cache."""
    from tinylarge.models import default_student_spec, default_teacher_spec
    from tinylarge.train import ArtifactCache, default_train_config

    cache = ArtifactCache()
    out = {}
    for role, make in (("teacher", default_teacher_spec), ("student", default_student_spec)):
        cfg = default_train_config(ds.info, role, seed=0)
        out[role], _ = cache.cached_fit(make(ds.info), ds, cfg, progress=progress, name=role)
    return out["teacher"].eval(), out["student"].eval()


def build_workload(spec: WorkloadSpec, ds, progress: bool = False) -> Workload:
    """Run the real models once: student in TFLM, teacher in torch, each split cut in TFLM+torch."""
    from tinylarge.integrate.cascade import cascade_inputs
    from tinylarge.integrate.split import SplitConfig, profile_cuts, reprofile
    from tinylarge.tiny.devices import load_device
    from tinylarge.tiny.gates import confidence, softmax
    from tinylarge.tiny.profile import profile
    from tinylarge.tiny.quantize import quantize_and_evaluate

    teacher, student = _models(ds, progress)
    y = ds.y_test
    n = len(y)
    order = np.random.default_rng(spec.split_seed).permutation(n)
    cal, ev = np.sort(order[: n // 2]), np.sort(order[n // 2 :])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        q = quantize_and_evaluate(
            student, ds.x_train, ds.y_train, ds.x_test, ds.y_test, work / "student.tflite"
        )
        small, _, cost = cascade_inputs(q.tflite_path, teacher, ds, spec.devices[0])
        score = confidence(softmax(small.reshape(n, -1).astype(np.float64)), "max-prob")
        student_ok = small.reshape(n, -1).argmax(1) == y
        profiles = [profile(q.tflite_path, d) for d in spec.devices]

        # the config names a checkpoint file; the cuts are profiled from the teacher in memory
        marker = work / "teacher.pt"
        marker.touch()
        split_cfg = SplitConfig(model=marker, device=spec.devices[0], n_eval=0)
        # on a copy: quantizing the device parts updates the shared BatchNorm running statistics
        # in place (seen with litert-torch 0.10), which would degrade the teacher used below
        cuts = profile_cuts(copy.deepcopy(teacher), ds, split_cfg, work)
        cut_ok = np.stack([_cut_correct(teacher, c, ds, cuts[-1].tflite_path) for c in cuts])
        per_device = [reprofile(cuts, d) for d in spec.devices]
    tails = [_tail_work(teacher, ds, c.cut) for c in cuts]
    teacher_ok = cut_ok[0]  # cut 0: the teacher on the int8 input the device sends
    threshold = calibrate_cascade_threshold(score[cal], student_ok[cal], teacher_ok[cal])
    return Workload(
        dataset=spec.dataset,
        input_bytes=cost.input_size_bytes,
        devices=tuple(spec.devices),
        student_ok=student_ok[ev],
        gate_score=score[ev],
        teacher_ok=teacher_ok[ev],
        cut_ok=cut_ok[:, ev],
        cal_student_ok=student_ok[cal],
        cal_gate_score=score[cal],
        cal_teacher_ok=teacher_ok[cal],
        cal_cut_ok=cut_ok[:, cal],
        cascade_threshold=threshold,
        infer_latency_s=np.array([p.latency_s for p in profiles]),
        infer_energy_j=np.array([p.energy_j for p in profiles]),
        infer_fits=np.array([p.fits for p in profiles]),
        sleep_power_w=np.array([load_device(d).sleep_power_w for d in spec.devices]),
        cuts=np.array([c.cut for c in cuts]),
        cut_device_latency_s=np.array([[c.device_latency_s for c in pd] for pd in per_device]),
        cut_device_energy_j=np.array([[c.device_energy_j for c in pd] for pd in per_device]),
        cut_fits=np.array([[c.fits for c in pd] for pd in per_device]),
        cut_sent_bytes=np.array([c.sent_bytes for c in cuts]),
        cut_tail_macs=np.array([m for m, _ in tails]),
        cut_tail_layers=np.array([n for _, n in tails]),
    )


def calibrate_cascade_threshold(
    score: np.ndarray,
    student_ok: np.ndarray,
    teacher_ok: np.ndarray,
    max_accuracy_drop: float = 0.002,
) -> float:
    """The cascade pattern's threshold on the calibration half: the least offloading whose accuracy
    is within ``max_accuracy_drop`` of the teacher alone (``tinylarge cascade``'s default rule).
    The risk-controlling calibration of issue 10 replaces this function, and nothing else here."""
    from tinylarge.integrate.calibration import calibrate_threshold, offload_curve

    curve = offload_curve(score, student_ok, teacher_ok)
    return calibrate_threshold(curve, float(teacher_ok.mean()) - max_accuracy_drop)


def cascade_threshold_within_budget(workload: Workload, max_offload_fraction: float) -> float:
    """The cascade threshold that offloads at most ``max_offload_fraction`` of the calibration
    half: the pattern's calibrated threshold when that already stays within the budget, else the
    most accurate point within it (``tinylarge cascade --offload-budget``'s rule)."""
    from tinylarge.integrate.calibration import calibrate_threshold, offload_curve

    curve = offload_curve(workload.cal_gate_score, workload.cal_student_ok, workload.cal_teacher_ok)
    within = calibrate_threshold(curve, offload_budget=max_offload_fraction)
    return min(workload.cascade_threshold, within)


def _cut_correct(net, cut, ds, full_model_path: str) -> np.ndarray:
    """Per-test-sample correctness of the split pipeline through ``cut`` (int8 head in TFLM, tail
    in torch). Cut 0 sends the int8 input, quantized with the whole int8 model's input scale."""
    import torch

    from tinylarge.tiny.quantize import to_model_layout
    from tinylarge.tiny.runtime import TflmRuntime, dequantize, quantize

    y = ds.y_test
    if cut.tflite_path is None:
        full = TflmRuntime(full_model_path)
        xq = quantize(ds.x_test, full.input_scale, full.input_zero_point)
        act = dequantize(xq, full.input_scale, full.input_zero_point).astype(np.float32)
    else:
        runtime = TflmRuntime(cut.tflite_path)
        xq = quantize(to_model_layout(ds.x_test), runtime.input_scale, runtime.input_zero_point)
        out = dequantize(runtime.invoke_int8(xq), runtime.output_scale, runtime.output_zero_point)
        if cut.sent_bytes == 0:  # all on the device
            return out.reshape(len(y), -1).argmax(1) == y
        act = np.ascontiguousarray(out.transpose(0, 3, 1, 2)).astype(np.float32)  # NHWC -> NCHW
    with torch.no_grad():
        logits = net.eval().forward_from(torch.from_numpy(act), cut.cut)
    return logits.argmax(1).numpy() == y


def _tail_work(net, ds, cut: int) -> tuple[int, int]:
    """MACs and layer count of what a server runs for ``cut``: ``blocks[cut:]`` + head."""
    import torch

    from tinylarge.integrate.split import server_part
    from tinylarge.models import count_macs

    k = min(cut, len(net.blocks))
    with torch.no_grad():
        shape = tuple(net.forward_until(torch.zeros(1, *ds.info.input_shape), k).shape[1:])
    return int(count_macs(server_part(net, k), shape)), len(net.blocks) - k + 1
