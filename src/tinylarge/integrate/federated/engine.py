"""Runs a framework's server function on one of Flower's two engines.

- Simulation (default): Flower's simulation runtime on Ray; the ServerApp runs in this process
  (a thread), each ClientApp call in a Ray actor. Actors are small (one CPU each, at most the
  host's cores), so a 2-core machine runs two clients at a time.
- Deployment: a real SuperLink and one SuperNode per client on loopback, the run submitted with
  ``flwr run`` (:mod:`.deployment`). The same ``ClientApp`` object serves both engines.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from tinylarge.integrate.federated.config import Engine, FederatedConfig
from tinylarge.integrate.federated.server import Progress

ServerFn = Callable[[Grid, FederatedConfig, Progress], dict[str, Any]]


def _quiet_flower() -> None:
    # Flower logs every round at INFO on the console and would send telemetry (no internet here)
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    logging.getLogger("flwr").setLevel(logging.WARNING)


def run_federation(
    config: FederatedConfig, serve: ServerFn, progress: Progress = None
) -> tuple[dict[str, Any], float]:
    """``(payload, wall_s)``: the server function's payload from a run on ``config.engine``."""
    _quiet_flower()
    start = time.perf_counter()
    if config.engine is Engine.DEPLOYMENT:
        from tinylarge.integrate.federated.deployment import run_deployment

        return run_deployment(config, progress), time.perf_counter() - start
    if config.engine is Engine.INPROCESS:
        from tinylarge.integrate.federated.inprocess import LocalGrid

        return serve(LocalGrid(config.n_clients), config, progress), time.perf_counter() - start
    return simulate(config, serve, progress), time.perf_counter() - start


def simulate(config: FederatedConfig, serve: ServerFn, progress: Progress) -> dict[str, Any]:
    """One run in Flower's simulation runtime; the server's exception, if any, is re-raised."""
    import warnings

    from flwr.simulation import run_simulation

    from tinylarge.integrate.federated.apps import client_app

    out: dict[str, Any] = {}
    app = ServerApp()

    @app.main()
    def _main(grid: Grid, context: Context) -> None:
        out["payload"] = serve(grid, config, progress)

    n_cpus = max(1, min(os.cpu_count() or 1, 2))
    backend = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {"num_cpus": n_cpus, "num_gpus": 0, "include_dashboard": False},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_simulation(
            server_app=app,
            client_app=client_app,
            num_supernodes=config.n_clients,
            backend_config=backend,
        )
    if "payload" not in out:
        from tinylarge.errors import TinylargeError

        raise TinylargeError("the federated run ended without a result (see the log above)")
    return out["payload"]


def run_pattern(
    config: FederatedConfig,
    serve: ServerFn,
    *,
    dataset: Any = None,
    out_dir: Any = None,
    progress: bool | Progress = False,
) -> Any:
    """The shared body of every ``run_<framework>``: run, wrap the payload, write it to
    ``out_dir/federated.json`` when given. Clients load their data by name on their own node,
    so a ``dataset`` passed in must be the config's (same name and split seed)."""
    from pathlib import Path

    from tinylarge.errors import TinylargeError
    from tinylarge.integrate.federated.result import FederatedResult

    if dataset is not None and (
        dataset.info.name != config.dataset or getattr(dataset, "seed", 0) != config.split_seed
    ):
        raise TinylargeError(
            f"federated clients load {config.dataset!r} (split seed {config.split_seed}) "
            f"themselves; got dataset {dataset.info.name!r}"
        )
    from tinylarge.integrate.federated.clients import check_clients

    check_clients(config)
    callback = progress if callable(progress) else None
    payload, wall_s = run_federation(config, serve, callback)
    result = FederatedResult.from_payload(config, payload, wall_s)
    if out_dir is not None:
        import json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "federated.json").write_text(json.dumps(result.to_dict(), indent=1, default=str))
    return result
