"""The Flower apps every framework runs in: one ``ClientApp`` and one ``ServerApp``.

The ClientApp is stateless and generic: each message carries the run's config (a JSON string in
its ConfigRecord, never counted as traffic), the client rebuilds its own data share from it and
its ``partition-id`` (node config), and the framework module does the work:

- ``query``: "which client are you, how much data do you hold" (the server's registration);
- ``train``: one local update of the arrays received (FL, FedProx, FTL, FML, FFM);
- ``evaluate``: few-shot personalisation of a held-out client;
- ``train.split``: one split-learning step (activations up, gradients down).

The ServerApp (used by the deployment engine; the simulation builds its own around the same
server function) reads the config and where to write the result from its run config.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from tinylarge.integrate.federated.clients import client_share
from tinylarge.integrate.federated.config import FederatedConfig, config_from_json
from tinylarge.integrate.federated.registry import framework_module

CONFIG_KEY = "tl-config"
client_app = ClientApp()


def config_record(config: FederatedConfig, **values: int | float | str) -> ConfigRecord:
    return ConfigRecord({CONFIG_KEY: config.to_json(), **values})


def _config(message: Message) -> FederatedConfig:
    record = next(r for r in message.content.config_records.values() if CONFIG_KEY in r)
    return config_from_json(str(record[CONFIG_KEY]))


def _client(context: Context) -> int:
    torch.set_num_threads(1)  # several ClientApps share the host's cores
    return int(context.node_config["partition-id"])


@client_app.query()
def query(message: Message, context: Context) -> Message:
    client, config = _client(context), _config(message)
    share = client_share(config, client)
    metrics = MetricRecord({"client": client, "n-examples": share.n_examples})
    return Message(RecordDict({"metrics": metrics}), reply_to=message)


@client_app.train()
def train(message: Message, context: Context) -> Message:
    client, config = _client(context), _config(message)
    round_ = int(message.content["config"].get("server-round", 0))
    arrays, metrics = framework_module(config.framework).client_train(
        config, client_share(config, client), message.content["arrays"], round_
    )
    return Message(
        RecordDict({"arrays": arrays, "metrics": MetricRecord(metrics)}), reply_to=message
    )


@client_app.evaluate()
def evaluate(message: Message, context: Context) -> Message:
    client, config = _client(context), _config(message)
    metrics = framework_module(config.framework).client_personalise(
        config, client_share(config, client), message.content["arrays"]
    )
    return Message(RecordDict({"metrics": MetricRecord(metrics)}), reply_to=message)


@client_app.train("split")
def split_step(message: Message, context: Context) -> Message:
    client, config = _client(context), _config(message)
    content = framework_module(config.framework).client_step(
        config, client_share(config, client), message.content, context
    )
    return Message(content, reply_to=message)


server_app = ServerApp()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    """Deployment engine entry: run the framework's server, write its payload as JSON."""
    config = config_from_json(str(context.run_config[CONFIG_KEY]))
    payload = framework_module(config.framework).serve(grid, config, None)
    out = Path(str(context.run_config["result-path"]))
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(out)
