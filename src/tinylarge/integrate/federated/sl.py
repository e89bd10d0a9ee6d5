"""Split learning (SL) on Flower's Message API: the device trains the first blocks of a
``splitnet`` (its int8-deployable head: stem, stage 1, bottleneck), the server the rest.

Vanilla SL with label sharing (Gupta & Raskar 2018, "Distributed learning of deep neural network
over multiple agents"; Vepakomma et al. 2018): per batch the device sends the cut activation and
the labels up, the server finishes the forward pass, back-propagates and sends the activation's
gradient down; the device back-propagates through its part. Clients take turns (one at a time);
the device part's weights are relayed through the server from one client to the next (counted as
traffic). Flower has no split learning: each exchange here is one ``train.split`` message whose
reply carries the next activation, so a batch costs one round trip.

The ClientApp is stateless between messages: a client keeps its device part and optimizer state
in ``context.state`` and, when the gradient of a batch arrives, recomputes that batch's forward
pass from the stored weights before back-propagating (a real device keeps the activations; the
price counts one forward and one backward per batch).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from pydantic import Field
from torch import nn

from tinylarge.integrate.federated.apps import config_record
from tinylarge.integrate.federated.clients import ClientShare, evaluation_split, load_split
from tinylarge.integrate.federated.config import FederatedConfig, Framework
from tinylarge.integrate.federated.engine import run_pattern
from tinylarge.integrate.federated.fl import local_seed
from tinylarge.integrate.federated.ledger import Ledger
from tinylarge.integrate.federated.local import _schedule, accuracy
from tinylarge.integrate.federated.pricing import (
    TRAIN_MAC_FACTOR,
    Compute,
    RadioEnvironment,
    airtimes,
    training_memory_bytes,
)
from tinylarge.integrate.federated.server import Progress, client_error, register
from tinylarge.models import ModelSpec, build_model, count_macs
from tinylarge.train import seed_everything


class SLConfig(FederatedConfig):
    """Split learning of a ``splitnet``; ``cut`` blocks run on the device (3: up to the
    bottleneck). ``None`` model: a splitnet sized for the dataset."""

    framework: Literal[Framework.SL, Framework.FSL] = Framework.SL
    cut: int = Field(3, ge=1, description="blocks on the device (3: stem, stage 1, bottleneck)")
    lr: float = Field(0.05, gt=0, description="SGD learning rate (device and server parts)")


def splitnet_spec(config: FederatedConfig) -> ModelSpec:
    info = load_split(config.dataset, config.split_seed).info
    if config.model is not None:
        return config.model
    if info.kind == "image":
        return ModelSpec(name="splitnet2d", width=16, depth=3, kernel_size=3)
    return ModelSpec(name="splitnet1d", width=16, depth=3, kernel_size=5)


def build_splitnet(config: FederatedConfig) -> nn.Module:
    info = load_split(config.dataset, config.split_seed).info
    seed_everything(config.seed)
    net = build_model(splitnet_spec(config), info.input_shape, info.n_classes)
    if not 1 <= config.cut < len(net.blocks):
        from tinylarge.errors import TinylargeError

        raise TinylargeError(f"cut {config.cut} must be in 1..{len(net.blocks) - 1}")
    return net


class ServerPart(nn.Module):
    """``blocks[cut:]`` and the head of a splitnet (shares its modules)."""

    def __init__(self, net: nn.Module, cut: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(net.blocks[cut:])
        self.head = net.head

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            a = block(a)
        return self.head(a)


def parts(config: FederatedConfig) -> tuple[nn.Module, nn.Module, nn.Module]:
    """``(net, device_part, server_part)``, the parts sharing the net's modules."""
    net = build_splitnet(config)
    return net, nn.Sequential(*net.blocks[: config.cut]), ServerPart(net, config.cut)


def _sgd(module: nn.Module, config: FederatedConfig) -> torch.optim.SGD:
    return torch.optim.SGD(module.parameters(), lr=config.lr, momentum=config.momentum)


# --- the device side ---------------------------------------------------------------------------


def _save(context: Context, part: nn.Module, opt: torch.optim.SGD, pos: int, epoch: int) -> None:
    state = context.state
    state["sl-dev"] = ArrayRecord(part.state_dict())
    mom = {}
    for i, p in enumerate(part.parameters()):
        buf = opt.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            mom[str(i)] = Array(buf.detach().numpy().copy())
    state["sl-mom"] = ArrayRecord(mom)
    state["sl-pos"] = ConfigRecord({"pos": pos, "epoch": epoch})


def _restore(context: Context, part: nn.Module, config: FederatedConfig) -> torch.optim.SGD:
    part.load_state_dict(context.state["sl-dev"].to_torch_state_dict())
    opt = _sgd(part, config)
    mom = context.state["sl-mom"]
    for i, p in enumerate(part.parameters()):
        if str(i) in mom:
            opt.state[p]["momentum_buffer"] = torch.from_numpy(mom[str(i)].numpy().copy())
    return opt


def client_step(
    config: FederatedConfig, share: ClientShare, content: RecordDict, context: Context
) -> RecordDict:
    """One exchange: apply the gradient of the previous batch (if any), then send the next
    batch's activation and labels; after the last batch send the device part's weights."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    cfg = content["config"]
    epoch = int(cfg["epoch"])
    _, part, _ = parts(config)
    if "arrays" in content:  # a turn starts: the current device part arrives
        part.load_state_dict(content["arrays"].to_torch_state_dict())
        opt, pos = _sgd(part, config), 0
    else:
        opt = _restore(context, part, config)
        pos = int(context.state["sl-pos"]["pos"])
    x = torch.as_tensor(share.x, dtype=torch.float32)
    y = np.asarray(share.y)
    batches = _schedule(
        len(y),
        min(config.batch_size, len(y)),
        config.local_epochs,
        None,
        torch.Generator().manual_seed(local_seed(config, epoch, share.client)),
    )
    part.train()
    if "grad" in content:
        idx = batches[pos - 1]
        out = part(x[idx])
        grad = torch.from_numpy(content["grad"]["g"].numpy().copy())
        opt.zero_grad(set_to_none=True)
        out.backward(grad)
        opt.step()
    if pos < len(batches):
        idx = batches[pos]
        before = copy.deepcopy(part.state_dict())  # the recompute must start from these
        with torch.no_grad():
            act = part(x[idx])
        part.load_state_dict(before)
        _save(context, part, opt, pos + 1, epoch)
        up = ArrayRecord({"a": Array(act.numpy()), "y": Array(y[idx.numpy()].astype(np.int64))})
        metrics = MetricRecord({"done": 0, "batch": len(idx), "n-batches": len(batches)})
        return RecordDict({"act": up, "metrics": metrics})
    metrics = MetricRecord({"done": 1, "num-examples": len(y), "n-batches": len(batches)})
    return RecordDict({"arrays": ArrayRecord(part.state_dict()), "metrics": metrics})


# --- the server side ---------------------------------------------------------------------------


def step_message(
    config: FederatedConfig,
    node: int,
    epoch: int,
    arrays: ArrayRecord | None = None,
    grad: np.ndarray | None = None,
) -> Message:
    content = RecordDict({"config": config_record(config, epoch=epoch)})
    if arrays is not None:
        content["arrays"] = arrays
    if grad is not None:
        content["grad"] = ArrayRecord({"g": Array(grad)})
    return Message(content, dst_node_id=node, message_type="train.split")


def server_step(
    server: nn.Module, opt: torch.optim.Optimizer, reply: RecordDict
) -> tuple[np.ndarray, float]:
    """Finish the forward pass on one activation, back-propagate, step; ``(grad, loss)``."""
    a = torch.from_numpy(reply["act"]["a"].numpy().copy()).requires_grad_(True)
    y = torch.from_numpy(reply["act"]["y"].numpy().copy())
    server.train()
    loss = F.cross_entropy(server(a), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return a.grad.numpy().copy(), loss.item()


def exchange(grid: Any, messages: list[Message]) -> list[Message]:
    replies = list(grid.send_and_receive(messages))
    for r in replies:
        if r.has_error():
            from tinylarge.errors import TinylargeError

            raise TinylargeError(f"a split-learning client failed: {client_error(r.error.reason)}")
    return replies


class SplitPrice:
    """Per-batch prices of the split: device and server compute, payload sizes."""

    def __init__(self, config: FederatedConfig, device_part: nn.Module, server: nn.Module) -> None:
        info = load_split(config.dataset, config.split_seed).info
        shape = tuple(info.input_shape)
        with torch.no_grad():
            act_shape = tuple(device_part.eval()(torch.zeros(1, *shape)).shape[1:])
        self.device_macs = count_macs(device_part, shape)
        self.server_macs = count_macs(server, act_shape)
        self.device = Compute.of(config.device)
        self.server = Compute.of(config.server_device)
        self.memory = training_memory_bytes(device_part, torch.zeros(1, *shape), config.batch_size)
        self.act_elements = int(np.prod(act_shape))

    def device_s(self, batch: int, fraction: float) -> float:
        """Device seconds for ``fraction`` of a batch's training pass (forward: 1/3)."""
        return float(self.device.train_seconds(self.device_macs, batch)) * fraction

    def server_s(self, batch: int) -> float:
        return float(self.server.train_seconds(self.server_macs, batch))


def serve(grid: Any, config: SLConfig, progress: Progress) -> dict[str, Any]:
    """Vanilla SL: per epoch every training client takes one turn over its data."""
    nodes, n_examples = register(grid, config)
    net, device_part, server = parts(config)
    price = SplitPrice(config, device_part, server)
    radio = RadioEnvironment(config.radio, config.n_clients, config.seed)
    clients = config.training_clients
    ledger = Ledger(radio, price.device, {c: n_examples[c] for c in clients}, progress)
    opt = _sgd(server, config)
    x_eval, y_eval = evaluation_split(config)
    rng = np.random.default_rng([config.seed, 31])
    for epoch in range(1, config.rounds + 1):
        order = [int(c) for c in rng.permutation(clients)]
        book = Book(len(order))
        for k, c in enumerate(order):
            weights = ArrayRecord(device_part.state_dict())
            replies = exchange(grid, [step_message(config, nodes[c], epoch, arrays=weights)])
            book.weights(k, weights.count_bytes(), radio, [c], epoch, 1.0, phase=1000 * k)
            step = 0
            while not int(replies[0].content["metrics"]["done"]):
                reply = replies[0].content
                grad, loss = server_step(server, opt, reply)
                n = int(reply["metrics"]["batch"])
                book.batch(
                    k,
                    reply["act"].count_bytes(),
                    grad,
                    n,
                    loss,
                    price,
                    radio,
                    [c],
                    epoch,
                    1000 * k + step + 1,
                    share=1.0,
                    parallel_server=True,
                )
                replies = exchange(grid, [step_message(config, nodes[c], epoch, grad=grad)])
                step += 1
            final = replies[0].content["arrays"]
            device_part.load_state_dict(final.to_torch_state_dict())
            book.weights_up(k, final.count_bytes(), radio, [c], epoch, 1.0, phase=1000 * k + 999)
        book.close(ledger, epoch, order, sequential=True)
        ledger.close(epoch, accuracy(net, x_eval, y_eval))
    return split_payload(config, ledger, price)


class Book:
    """Accumulates one epoch's bytes, airtime, compute and energy per client (index ``k``)."""

    def __init__(self, n: int) -> None:
        self.up = np.zeros(n)
        self.down = np.zeros(n)
        self.time_s = np.zeros(n)  # each client's own busy time (airtime + compute)
        self.server_s = 0.0
        self.radio_j = np.zeros(n)
        self.compute_s = np.zeros(n)
        self.losses: list[float] = []

    def weights(self, k, nbytes, radio, clients, epoch, share, phase) -> None:
        dl, _ = airtimes(radio, clients, epoch, phase, nbytes, 0, share)
        self._air(k, dl[0], 0.0, radio)
        self.down[k] += nbytes

    def weights_up(self, k, nbytes, radio, clients, epoch, share, phase) -> None:
        _, ul = airtimes(radio, clients, epoch, phase, 0, nbytes, share)
        self._air(k, 0.0, ul[0], radio)
        self.up[k] += nbytes

    def _air(self, k: int, dl_s: float, ul_s: float, radio: RadioEnvironment) -> None:
        band = radio.band
        self.time_s[k] += dl_s + ul_s + band.scheduling_delay_s
        self.radio_j[k] += band.ue_tx_electrical_w * ul_s + band.ue_rx_electrical_w * dl_s
        self.radio_j[k] += band.ue_connected_idle_w * band.scheduling_delay_s

    def batch(
        self,
        k,
        act_bytes,
        grad,
        n,
        loss,
        price,
        radio,
        clients,
        epoch,
        phase,
        share,
        parallel_server,
    ) -> float:
        """One batch of client ``k``: forward, up, server, down, backward. Returns the server
        seconds (the caller decides whether servers run in parallel)."""
        grad_bytes = ArrayRecord({"g": Array(grad)}).count_bytes()
        dl, ul = airtimes(radio, clients, epoch, phase, grad_bytes, act_bytes, share)
        fwd, bwd = (
            price.device_s(n, 1 / TRAIN_MAC_FACTOR),
            price.device_s(n, 1 - 1 / TRAIN_MAC_FACTOR),
        )
        server_s = price.server_s(n)
        self._air(k, dl[0], ul[0], radio)
        self._air(k, 0.0, 0.0, radio)  # the second direction's grant
        self.time_s[k] += fwd + bwd + (server_s if parallel_server else 0.0)
        self.radio_j[k] += radio.band.ue_connected_idle_w * server_s  # waits, connected
        self.compute_s[k] += fwd + bwd
        self.up[k] += act_bytes
        self.down[k] += grad_bytes
        self.losses.append(loss)
        if not parallel_server:
            self.server_s += server_s
        return server_s

    def close(self, ledger: Ledger, epoch: int, order: list[int], sequential: bool) -> None:
        """Clients one after another (SL: times add up) or side by side (FSL: the slowest one
        sets the pace, plus the server's sequential work in v2)."""
        sim_s = float(self.time_s.sum() if sequential else self.time_s.max()) + self.server_s
        band = ledger.radio.band
        radio_j = float(self.radio_j.sum()) + band.wakeup_energy_j * len(order)
        compute_j = float(ledger.compute.energy_j(self.compute_s).sum())
        ledger.add(
            epoch,
            order,
            int(self.down.sum()),
            int(self.up.sum()),
            None,
            sim_s,
            float(np.mean(self.losses)) if self.losses else None,
            radio_j,
            compute_j,
            float(self.compute_s.sum()),
        )


def split_payload(config: FederatedConfig, ledger: Ledger, price: SplitPrice) -> dict[str, Any]:
    from tinylarge.integrate.federated.server import payload

    extras = {
        "cut": config.cut,
        "device_forward_macs": price.device_macs,
        "server_forward_macs": price.server_macs,
        "activation_elements": price.act_elements,
        "variant": getattr(config, "variant", "sl"),
    }
    return payload(config, ledger, price.memory, None, extras)


def run(config: SLConfig | None = None, **io: Any) -> Any:
    """``run_sl``: vanilla split learning, clients in turn."""
    io.pop("cache", None)
    return run_pattern(config or SLConfig(), serve, **io)


run_sl = run
