"""A fleet on loopback: one LargeML service process and K live device agents, measured.

The service runs as its own uvicorn process (``workers`` processes) so it does not share the
agents' interpreter lock; the K agents run concurrently as asyncio tasks in this process, each with
its own TFLM interpreter, its own token and its own HTTP connection. Every agent walks its share
of the test set closed-loop (next sample after the previous answer). Reported: throughput,
end-to-end latency quantiles over all requests and over offloaded ones, failures, accuracy, and
the service's own metrics (batch sizes). With ``cut`` the agents do split computing instead of a
cascade (``DeviceAgent(cut=...)``).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tinylarge.errors import TinylargeError
from tinylarge.large.agent import AgentResult, DeviceAgent
from tinylarge.large.backends import BackendSpec
from tinylarge.large.client import AsyncLargeClient, LargeClient
from tinylarge.large.service.config import ServiceConfig
from tinylarge.large.service.runner import serve_in_subprocess
from tinylarge.large.stats import quantiles
from tinylarge.secure.tokens import TokenAuthority, new_secret, write_secret

MODEL_NAME = "teacher"


class FleetConfig(BaseModel):
    """One fleet run: the models, how many agents, how much traffic, the gate and the batcher."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str = Field(description="LargeML tinylarge checkpoint the service runs")
    tflite: str = Field(description="the devices' int8 .tflite")
    dataset: str | None = Field(None, description="samples to play; default: checkpoint's")
    n_agents: int = Field(8, ge=1, le=1000)
    n_requests: int = Field(50, ge=1, description="samples each agent plays")
    threshold: float = Field(
        0.9, ge=0.0, description="offload when the max probability is below this (> 1: all)"
    )
    cut: int | None = Field(
        None, ge=0, description="split mode: tflite is blocks[:cut], the server runs the rest"
    )
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    max_batch_size: int = Field(32, ge=1)
    max_wait_s: float = Field(0.005, ge=0.0, le=1.0)
    torch_threads: int | None = Field(1, ge=1)
    seed: int = 0


@dataclass
class FleetResult:
    """Headline numbers of a fleet run (latencies in seconds, throughput in requests/s)."""

    n_agents: int
    n_requests: int
    n_offloaded: int
    n_failed: int
    wall_s: float
    throughput_rps: float
    offload_throughput_rps: float
    latency_s: dict
    offload_latency_s: dict
    accuracy: float
    device_accuracy: float
    offload_fraction: float
    server: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(results: list[AgentResult], wall_s: float, server: dict) -> FleetResult:
    """Pool every agent's records into fleet-wide numbers."""
    records = [r for res in results for r in res.records]
    offloaded = [r for r in records if r.offloaded]
    labelled = [r for r in records if r.true_label is not None]
    n = len(records)
    return FleetResult(
        n_agents=len(results),
        n_requests=n,
        n_offloaded=len(offloaded),
        n_failed=sum(r.error is not None for r in records),
        wall_s=wall_s,
        throughput_rps=n / wall_s if wall_s > 0 else 0.0,
        offload_throughput_rps=len(offloaded) / wall_s if wall_s > 0 else 0.0,
        latency_s=quantiles([r.latency_s for r in records]),
        offload_latency_s=quantiles([r.offload_latency_s for r in offloaded]),
        accuracy=float(np.mean([r.label == r.true_label for r in labelled])) if labelled else 0.0,
        device_accuracy=(
            float(np.mean([r.device_label == r.true_label for r in labelled])) if labelled else 0.0
        ),
        offload_fraction=len(offloaded) / n if n else 0.0,
        server=server,
        failures=sorted({r.error for r in records if r.error})[:10],
    )


async def run_agents(
    base_url: str,
    authority: TokenAuthority,
    tflite: bytes,
    x: np.ndarray,
    y: np.ndarray,
    config: FleetConfig,
) -> tuple[list[AgentResult], float]:
    """K agents at once against ``base_url``; returns their results and the wall time."""
    from tinylarge.tiny.runtime import TflmRuntime

    arena_bytes = TflmRuntime(tflite).arena_bytes  # measure once, reuse for every device
    agents, clients = [], []
    for i in range(config.n_agents):
        device_id = f"device-{i}"
        client = AsyncLargeClient(base_url, authority.issue(device_id))
        clients.append(client)
        runtime = TflmRuntime(tflite, arena_bytes=arena_bytes)
        agents.append(
            DeviceAgent(runtime, client, MODEL_NAME, config.threshold, device_id, cut=config.cut)
        )
    n_test = len(x)
    try:
        jobs = []
        for i, agent in enumerate(agents):
            idx = (i * config.n_requests + np.arange(config.n_requests)) % n_test
            jobs.append(agent.run(x[idx], y[idx]))
        start_s = time.perf_counter()
        results = await asyncio.gather(*jobs)
        wall_s = time.perf_counter() - start_s
    finally:
        for client in clients:
            await client.aclose()
    return list(results), wall_s


def run_fleet(config: FleetConfig) -> FleetResult:
    """Start the service, run ``n_agents`` live agents against it, stop it, report."""
    from tinylarge.data import load_dataset
    from tinylarge.models import load_checkpoint

    ckpt = load_checkpoint(config.checkpoint)
    name = config.dataset or ckpt.meta.get("dataset")
    ds = load_dataset(name, seed=config.seed)
    if tuple(ds.info.input_shape) != tuple(ckpt.input_shape):
        raise TinylargeError(
            f"dataset {name!r} has input shape {tuple(ds.info.input_shape)} but the checkpoint "
            f"takes {tuple(ckpt.input_shape)}"
        )
    tflite_path = Path(config.tflite)
    if not tflite_path.is_file():
        raise TinylargeError(f"device model {str(tflite_path)!r} does not exist")
    with tempfile.TemporaryDirectory(prefix="tinylarge-fleet-") as tmp:
        secret_file = Path(tmp) / "secret.hex"
        secret = write_secret(secret_file, new_secret())
        service = ServiceConfig(
            models=[BackendSpec(name=MODEL_NAME, path=str(Path(config.checkpoint).resolve()))],
            secret_file=str(secret_file),
            max_batch_size=config.max_batch_size,
            max_wait_s=config.max_wait_s,
            max_samples_per_request=min(32, config.max_batch_size),
            torch_threads=config.torch_threads,
        )
        authority = TokenAuthority(secret)
        with serve_in_subprocess(service, workers=config.workers) as base_url:
            results, wall_s = asyncio.run(
                run_agents(
                    base_url, authority, tflite_path.read_bytes(), ds.x_test, ds.y_test, config
                )
            )
            with LargeClient(base_url) as client:
                server = client.metrics()
    return summarize(results, wall_s, server)
