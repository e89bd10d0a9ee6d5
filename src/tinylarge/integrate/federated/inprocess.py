"""An in-process Flower grid: every object is Flower's own (``ClientApp``, ``Message``,
``Context``, strategies) and only the transport is a direct call instead of Ray actors or gRPC.

Benchmarks that need many runs (robust aggregators x attacks x seeds) use it: a 20-client,
20-round run takes seconds instead of Ray's start-up plus actor round trips. The aggregation,
client code and messages are the ones the real engines run (``engine.run_federation``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import uuid4

from flwr.app import Context, Message, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.task_identity import TaskIdentity


class InProcessGrid(Grid):
    """``n`` nodes, each a ``ClientApp`` call with its own persistent ``Context``."""

    def __init__(self, n: int) -> None:
        # what a ServerApp process has set before its main runs (Messages read it)
        TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = 1, 1, 0
        self.nodes = {1000 + i: i for i in range(n)}
        self.contexts = {
            node: Context(
                run_id=1,
                node_id=node,
                node_config={"partition-id": i, "num-partitions": n},
                state=RecordDict(),
                run_config={},
            )
            for node, i in self.nodes.items()
        }
        self.sent: list[Message] = []

    def set_run(self, run: Any) -> None:  # pragma: no cover - unused
        pass

    @property
    def run(self) -> Any:  # pragma: no cover - unused
        return None

    def create_message(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError("deprecated Grid API")

    def get_node_ids(self) -> Iterable[int]:
        return list(self.nodes)

    def get_nodes(self) -> Any:  # pragma: no cover - unused
        return []

    def push_messages(self, messages: Any) -> Any:  # pragma: no cover - send_and_receive only
        raise NotImplementedError

    def pull_messages(self, message_ids: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> list[Message]:
        from tinylarge.integrate.federated.apps import client_app

        replies = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = str(uuid4())
            self.sent.append(msg)
            node = msg.metadata.dst_node_id
            reply = client_app(msg, self.contexts[node])
            reply.metadata.__dict__["_src_node_id"] = node
            replies.append(reply)
        return replies


def run_in_process(config: Any, progress: Any = None) -> Any:
    """The framework's server on an :class:`InProcessGrid`, as a ``FederatedResult``."""
    import time

    from tinylarge.integrate.federated.engine import _quiet_flower
    from tinylarge.integrate.federated.registry import framework_module
    from tinylarge.integrate.federated.result import FederatedResult

    _quiet_flower()
    start = time.perf_counter()
    payload = framework_module(config.framework).serve(
        InProcessGrid(config.n_clients), config, progress
    )
    return FederatedResult.from_payload(config, payload, time.perf_counter() - start)
