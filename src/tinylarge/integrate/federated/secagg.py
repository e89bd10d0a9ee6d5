"""Secure aggregation: FedAvg of the student under Flower's SecAgg+ (Bell et al., CCS 2020), on the
deployment engine (SuperLink + SuperNodes, :mod:`.deployment`).

Flower 1.42 ships SecAgg+ only on its older API: the server runs ``DefaultWorkflow`` with a
``SecAggPlusWorkflow`` around a legacy ``FedAvg`` (``LegacyContext``), and each ClientApp wraps a
``NumPyClient`` in ``secaggplus_mod``, which masks the (quantised, weighted) update with pairwise
and self masks secret-shared among the clients; the server only unmasks the sum. The local step
is the FL framework's own (:func:`.fl.client_train`, same seeds), so the result differs from
plain FedAvg only by SecAgg+'s quantisation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import Array, ArrayRecord
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.common import Context, ndarrays_to_parameters
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

from tinylarge.integrate.federated.apps import CONFIG_KEY
from tinylarge.integrate.federated.clients import client_share
from tinylarge.integrate.federated.config import FederatedConfig, config_from_json
from tinylarge.integrate.federated.fl import build_student
from tinylarge.integrate.federated.registry import framework_module

ROUND_KEY = "server-round"


def _record(keys: list[str], arrays: list[np.ndarray]) -> ArrayRecord:
    return ArrayRecord({k: Array(np.asarray(a)) for k, a in zip(keys, arrays, strict=True)})


class _Client(NumPyClient):
    def __init__(self, config: FederatedConfig, client: int) -> None:
        self.config, self.client = config, client
        self.module = framework_module(config.framework)
        self.keys = list(build_student(config).state_dict().keys())

    def fit(self, parameters: list[np.ndarray], config: dict[str, Any]) -> Any:
        share = client_share(self.config, self.client)
        out, _ = self.module.client_train(
            self.config, share, _record(self.keys, parameters), int(config[ROUND_KEY])
        )
        return out.to_numpy_ndarrays(), share.n_examples, {}


def client_fn(context: Context) -> Any:
    torch.set_num_threads(1)
    config = config_from_json(str(context.run_config[CONFIG_KEY]))
    return _Client(config, int(context.node_config["partition-id"])).to_client()


client_app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
server_app = ServerApp()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    """FedAvg under SecAgg+ for ``config.rounds``; writes ``{"accuracy": [...per round]}``."""
    from tinylarge.integrate.federated import fl

    config = config_from_json(str(context.run_config[CONFIG_KEY]))
    task = fl.student_task(config)
    keys = list(task.initial.keys())
    accuracy: list[float] = []

    def evaluate_fn(round_: int, arrays: list[np.ndarray], _: dict) -> Any:
        if round_ == 0:
            return None
        accuracy.append(task.evaluate(_record(keys, arrays)))
        return 0.0, {"accuracy": accuracy[-1]}

    n = config.n_clients
    strategy = FedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=n,
        min_evaluate_clients=0,
        min_available_clients=n,
        initial_parameters=ndarrays_to_parameters(task.initial.to_numpy_ndarrays()),
        on_fit_config_fn=lambda r: {ROUND_KEY: r},
        evaluate_fn=evaluate_fn,
    )
    legacy = LegacyContext(
        context=context, config=ServerConfig(num_rounds=config.rounds), strategy=strategy
    )
    # every client shares its mask keys with all others; any n - 1 of them can unmask
    secagg = SecAggPlusWorkflow(num_shares=n, reconstruction_threshold=max(2, n - 1))
    DefaultWorkflow(fit_workflow=secagg)(grid, legacy)
    out = Path(str(context.run_config["result-path"]))
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps({"accuracy": accuracy, "protocol": "SecAgg+"}))
    tmp.replace(out)


def run_secagg(config: FederatedConfig) -> dict[str, Any]:
    """FedAvg of ``config`` under SecAgg+ on the loopback deployment engine: per-round accuracy
    and the ids of every process it started (all stopped)."""
    from tinylarge.integrate.federated.clients import check_clients
    from tinylarge.integrate.federated.deployment import run_deployment
    from tinylarge.integrate.federated.engine import _quiet_flower

    check_clients(config)
    _quiet_flower()
    return run_deployment(config, apps=__name__)
