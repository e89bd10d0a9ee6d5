"""An in-process Flower grid: the same ``ServerApp`` body and ``ClientApp`` on Flower's own
objects (``Message``, ``Context``, ``RecordDict``, strategies), with a direct call instead of a
Ray actor or a gRPC hop as the transport.

Flower's simulation runtime costs ~10-40 s of Ray start per run on a 2-core host; the benchmark
repeats runs over seeds and hyper-parameters, so it uses this grid (``engine="inprocess"``) and
checks once that a run on it gives the same numbers as on the simulation engine. Clients run one
after another; every client keeps its own persistent ``Context`` as on a SuperNode.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import uuid4

from flwr.app import Context, Message, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.task_identity import TaskIdentity

from tinylarge.integrate.federated.apps import client_app


class LocalGrid(Grid):
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
        self.replies: dict[str, Message] = {}  # pushed messages' replies, until pulled

    def set_run(self, run: Any) -> None:  # pragma: no cover - unused
        pass

    @property
    def run(self) -> Any:  # pragma: no cover - unused
        return None

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        """Flower's deprecated constructor path, kept so older ServerApp code runs here too."""
        return Message(
            content=content,
            dst_node_id=dst_node_id,
            message_type=message_type,
            ttl=ttl,
            group_id=group_id,
        )

    def get_node_ids(self) -> Iterable[int]:
        return list(self.nodes)

    def get_nodes(self) -> Any:  # pragma: no cover - unused
        return []

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver each message: its node's ``ClientApp`` runs now; the reply waits to be pulled."""
        ids = []
        for msg in messages:
            message_id = str(uuid4())
            msg.metadata.__dict__["_message_id"] = message_id
            self.sent.append(msg)
            node = msg.metadata.dst_node_id
            reply = client_app(msg, self.contexts[node])
            reply.metadata.__dict__["_src_node_id"] = node
            self.replies[message_id] = reply
            ids.append(message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """The replies to ``message_ids`` that have arrived (all of them here), each once."""
        return [self.replies.pop(i) for i in message_ids if i in self.replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> list[Message]:
        return list(self.pull_messages(self.push_messages(messages)))
