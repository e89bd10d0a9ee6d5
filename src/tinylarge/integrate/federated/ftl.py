"""Federated transfer learning (FTL): a LargeML-derived backbone, frozen and deployed as int8 on
every device; only a small float head is trained on the device and federated.

After TinyFedTL (Kopparapu, Lin & Zhao 2022, "TinyFedTL: Federated Transfer Learning on
Ubiquitous Tiny IoT Devices"): training the whole network does not fit a microcontroller, but a
frozen int8 feature extractor plus a fully-connected head trained with SGD does. Here the
LargeML server trains the teacher on its own share of the data and distils the student's
architecture from it (:mod:`tinylarge.integrate.distill`); the student's blocks + global pooling
become the backbone, quantized to int8 (:mod:`tinylarge.tiny.quantize`). Devices run it in TFLM
(the same int8 bytes as the generated C, :mod:`.ftl_device`) and train ``Linear(features,
classes)`` on the dequantized features; FedAvg averages the heads. Only the head crosses the
network.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from flwr.app import ArrayRecord
from pydantic import Field
from torch import nn

from tinylarge.integrate.federated.clients import (
    ClientShare,
    evaluation_split,
    load_split,
    server_and_device_indices,
)
from tinylarge.integrate.federated.config import FederatedConfig, Framework
from tinylarge.integrate.federated.engine import run_pattern
from tinylarge.integrate.federated.fl import configured_update, personalise_report, report
from tinylarge.integrate.federated.local import accuracy
from tinylarge.integrate.federated.pricing import Compute, training_memory_bytes
from tinylarge.integrate.federated.server import Progress, ServerTask, serve_rounds
from tinylarge.models import ModelSpec, default_student_spec
from tinylarge.train import ArtifactCache


class FTLConfig(FederatedConfig):
    """FTL: ``backbone_*`` are filled in by :func:`run_ftl` once the backbone is built."""

    framework: Literal[Framework.FTL] = Framework.FTL
    teacher: ModelSpec | None = None
    pretrain_epochs: int | None = Field(None, ge=1, description="server-side backbone epochs")
    pretrain_seed: int | None = Field(
        None, ge=0, description="seed of the server-side teacher and backbone (default: seed)"
    )
    momentum: float = Field(0.0, ge=0, lt=1, description="head SGD momentum (device C: none)")
    lr: float = Field(0.1, gt=0, description="head SGD learning rate")
    backbone_path: str | None = None
    backbone_sha256: str | None = None
    backbone_arena_bytes: int | None = None


def backbone_module(student: nn.Module, input_shape: tuple[int, ...]) -> nn.Module:
    """The student's blocks + global average pooling: what the device runs frozen, in int8.
    (When the blocks already end at 1 x 1, only a flatten: the converter would otherwise emit a
    SUM over one element, an op the code generator does not have.)"""
    blocks = nn.Sequential(*student.blocks).eval()
    with torch.no_grad():
        spatial = blocks(torch.zeros(1, *input_shape)).shape[2:]
    pool = [] if tuple(spatial) == (1, 1) else [nn.AdaptiveAvgPool2d(1)]
    return nn.Sequential(*student.blocks, *pool, nn.Flatten()).eval()


def build_backbone(config: FTLConfig, cache: ArtifactCache, progress: bool = False) -> dict:
    """Teacher -> distilled student -> int8 backbone on the server's data (cached by content).

    Returns ``{"path", "sha256", "arena_bytes", "features", "teacher_accuracy",
    "student_accuracy"}``.
    """
    from tinylarge.integrate.distill import student_train_config
    from tinylarge.integrate.server_device import train_teacher, with_train_subset
    from tinylarge.integrate.students import StudentRun, describe, model_digest, train_student
    from tinylarge.train import DistillObjective

    ds = load_split(config.dataset, config.split_seed)
    server_idx, _ = server_and_device_indices(ds, config)
    if len(server_idx) == 0:
        from tinylarge.errors import TinylargeError

        raise TinylargeError("FTL needs server_fraction > 0: the LargeML side trains the backbone")
    seed = config.seed if config.pretrain_seed is None else config.pretrain_seed
    server_ds = with_train_subset(ds, server_idx)
    teacher, teacher_result, teacher_spec = train_teacher(
        server_ds, cache, config.teacher, seed=seed, progress=progress
    )
    spec = config.model or default_student_spec(ds.info)
    run = StudentRun(
        role="backbone",
        data=server_ds,
        config=student_train_config(ds.info, seed, config.pretrain_epochs),
        objective=DistillObjective(alpha=0.9, temperature=4.0),
        teacher=teacher,
    )
    student, report = train_student(run, spec, cache, int8=None, progress=progress)
    entry = cache.root / "ftl" / f"{model_digest(student)}-v2"
    path, meta_path = entry / "backbone_int8.tflite", entry / "backbone.json"
    if not meta_path.is_file():
        from tinylarge.tiny.quantize import quantize_model
        from tinylarge.tiny.runtime import TflmRuntime

        entry.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        x_cal = server_ds.x_train[rng.permutation(len(server_ds.y_train))[:300]]
        quantize_model(backbone_module(student, ds.info.input_shape), x_cal, path, seed=seed)
        runtime = TflmRuntime(path)
        meta = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "arena_bytes": runtime.arena_bytes,
            "features": int(runtime.output_shape[-1]),
            "teacher_accuracy": describe(
                "teacher", teacher, teacher_spec, ds, teacher_result
            ).float_accuracy,
            "student_accuracy": report.float_accuracy,
        }
        meta_path.write_text(json.dumps(meta))
    return {"path": str(path), **json.loads(meta_path.read_text())}


@lru_cache(maxsize=8)
def _runtime(path: str, sha256: str, arena_bytes: int) -> Any:
    from tinylarge.tiny.runtime import TflmRuntime

    data = Path(path).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        from tinylarge.errors import TinylargeError

        raise TinylargeError(f"backbone {path} does not match its sha256 {sha256[:12]}")
    return TflmRuntime(data, arena_bytes=arena_bytes)


def int8_features(config: FTLConfig, x: np.ndarray) -> np.ndarray:
    """Dequantized int8 backbone features ``(n, F)`` of NCHW inputs ``x``, computed in TFLM."""
    from tinylarge.tiny.quantize import to_model_layout

    rt = _runtime(
        str(config.backbone_path), str(config.backbone_sha256), int(config.backbone_arena_bytes)
    )
    return rt.predict(to_model_layout(x)).reshape(len(x), -1).astype(np.float32)


@lru_cache(maxsize=64)
def _client_features(config_json: str, client: int, which: str) -> np.ndarray:
    from tinylarge.integrate.federated.clients import client_share

    config = FTLConfig.model_validate_json(config_json)
    share = client_share(config, client)
    return int8_features(config, share.x if which == "train" else share.x_query)


def _features(config: FTLConfig, share: ClientShare, which: str = "train") -> np.ndarray:
    # the backbone is frozen: compute once per (backbone, client) and process
    key = config.model_copy(update={"rounds": 1}).to_json()
    return _client_features(key, share.client, which)


def head_module(config: FTLConfig) -> nn.Linear:
    info = load_split(config.dataset, config.split_seed).info
    torch.manual_seed(config.seed)
    meta_features = _n_features(config)
    return nn.Linear(meta_features, info.n_classes)


def _n_features(config: FTLConfig) -> int:
    return int(
        _runtime(
            str(config.backbone_path), str(config.backbone_sha256), int(config.backbone_arena_bytes)
        ).output_shape[-1]
    )


def _head(config: FTLConfig, arrays: ArrayRecord) -> nn.Linear:
    head = head_module(config)
    head.load_state_dict(arrays.to_torch_state_dict())
    return head


def client_train(
    config: FTLConfig, share: ClientShare, arrays: ArrayRecord, round_: int
) -> tuple[ArrayRecord, dict[str, Any]]:
    head = _head(config, arrays)
    res = configured_update(config, head, _features(config, share), share.y, round_, share.client)
    return ArrayRecord(head.state_dict()), report(res)


def client_personalise(config: FTLConfig, share: ClientShare, arrays: ArrayRecord) -> dict:
    feats = ClientShare(
        share.client,
        _features(config, share),
        share.y,
        _features(config, share, "query"),
        share.y_query,
    )
    return personalise_report(config, feats, _head(config, arrays))


def ftl_task(config: FTLConfig) -> ServerTask:
    from tinylarge.integrate.federated.fl import expected_samples
    from tinylarge.tiny.profile import profile

    x_eval, y_eval = evaluation_split(config)
    feats_eval = int8_features(config, x_eval)
    head = head_module(config)
    n_feat, n_cls = head.in_features, head.out_features
    prof = profile(Path(str(config.backbone_path)), config.device)
    compute = Compute.of(config.device)
    # per sample on the device: the int8 backbone (catalog cost model) + the head's forward and
    # backward (TRAIN_MAC_FACTOR x its MACs)
    per_sample_s = prof.latency_s + float(compute.train_seconds(n_feat * n_cls, 1))
    per_sample_j = prof.energy_j + float(compute.energy_j(compute.train_seconds(n_feat * n_cls, 1)))
    memory = training_memory_bytes(
        head,
        torch.zeros(1, n_feat),
        config.batch_size,
        optimizer_buffers=int(config.momentum > 0),
        frozen_bytes=prof.ram_bytes,
    )

    def evaluate(arrays: ArrayRecord) -> float:
        head.load_state_dict(arrays.to_torch_state_dict())
        return accuracy(head, feats_eval, y_eval)

    return ServerTask(
        initial=ArrayRecord(head.state_dict()),
        evaluate=evaluate,
        compute_s=lambda c, m: per_sample_s * float(m["samples"]),
        expected_compute_s=lambda n: per_sample_s * expected_samples(config, n),
        memory=memory,
        extras={
            "backbone_int8_latency_s": prof.latency_s,
            "backbone_int8_energy_j": prof.energy_j,
            "backbone_ram_bytes": prof.ram_bytes,
            "backbone_flash_bytes": prof.flash_bytes,
            "head_params": n_feat * n_cls + n_cls,
            "features": n_feat,
            "per_sample_energy_j": per_sample_j,
        },
    )


def serve(grid: Any, config: FederatedConfig, progress: Progress) -> dict[str, Any]:
    return serve_rounds(grid, config, ftl_task(config), progress)


def run(config: FTLConfig | None = None, **io: Any) -> Any:
    """``run_ftl``: build (or load) the int8 backbone on the server, then federate the head."""
    from tinylarge.integrate.federated.clients import check_clients

    config = config or FTLConfig()
    check_clients(config)
    cache = io.pop("cache", None) or ArtifactCache()
    if config.backbone_path is None:
        meta = build_backbone(config, cache, progress=bool(io.get("progress") is True))
        config = config.model_copy(
            update={
                "backbone_path": meta["path"],
                "backbone_sha256": meta["sha256"],
                "backbone_arena_bytes": meta["arena_bytes"],
            }
        )
    else:
        meta = {}
    result = run_pattern(config, serve, **io)
    result.summary.update(
        {
            f"backbone_{k}": v
            for k, v in meta.items()
            if k in ("teacher_accuracy", "student_accuracy")
        }
    )
    return result


run_ftl = run
