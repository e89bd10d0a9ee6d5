"""The server's books: one :class:`RoundRecord` per round (accuracy, bytes each way, simulated time,
device energy) and one :class:`ClientState` per client, priced by :mod:`.pricing`.

Bytes are Flower's own count of what crosses the network (``ArrayRecord.count_bytes()``: the
serialized arrays and their keys); configuration strings and metrics are not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tinylarge.integrate.federated.pricing import Compute, Exchange, RadioEnvironment
from tinylarge.integrate.federated.selection import ClientState


@dataclass
class RoundRecord:
    """One round (SL/FSL: one epoch) as the interface of ``tinylarge federate --json`` has it."""

    round: int
    accuracy: float | None
    bytes_up: int  # summed over the round's clients
    bytes_down: int
    sim_time_s: float  # this round's simulated wall time
    device_energy_j: float  # radio + compute, summed over the round's clients
    radio_energy_j: float = 0.0
    compute_energy_j: float = 0.0
    device_compute_s: float = 0.0  # summed over the round's clients
    n_clients: int = 0
    clients: list[int] = field(default_factory=list)
    cum_sim_time_s: float = 0.0
    train_loss: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Ledger:
    """Keeps the records and client states of one run and prices each phase."""

    def __init__(
        self,
        radio: RadioEnvironment,
        compute: Compute,
        n_examples: dict[int, int],
        on_round: Callable[[RoundRecord], None] | None = None,
    ) -> None:
        self.radio, self.compute = radio, compute
        self.records: list[RoundRecord] = []
        self.states = {
            c: ClientState(
                client=c,
                n_examples=n,
                ul_snr_db=float(radio.mean_ul_snr_db[c]),
                dl_snr_db=float(radio.mean_dl_snr_db[c]),
                expected_time_s=0.0,
            )
            for c, n in sorted(n_examples.items())
        }
        self.on_round = on_round
        self._pending: RoundRecord | None = None

    def expect(
        self, bytes_down: int, bytes_up: int, compute_s: dict[int, float], share: float
    ) -> None:
        """Set each state's expected round time (mean SNR, ``share`` of the band)."""
        for c, state in self.states.items():
            ul = self.radio.mean_uplink_rate_bps(share)[c]
            dl = self.radio.mean_downlink_rate_bps(share)[c]
            state.expected_time_s = float(
                2 * self.radio.band.scheduling_delay_s
                + 8 * bytes_down / dl
                + compute_s[c]
                + 8 * bytes_up / ul
            )

    def client_states(self, clients: Sequence[int]) -> list[ClientState]:
        return [self.states[c] for c in clients]

    def price(
        self,
        round_: int,
        clients: list[int],
        bytes_down: Sequence[int],
        bytes_up: Sequence[int],
        compute_s: Sequence[float],
        loss: float | None = None,
    ) -> Exchange:
        """Price a synchronous round of ``clients`` (sharing the band) and open its record."""
        ex = self.radio.exchange(
            clients,
            round_,
            np.asarray(bytes_down),
            np.asarray(bytes_up),
            np.asarray(compute_s),
            self.compute,
        )
        self.add(
            round_,
            clients,
            int(sum(bytes_down)),
            int(sum(bytes_up)),
            ex,
            float(ex.time_s.max(initial=0.0)),
            loss,
        )
        return ex

    def add(
        self,
        round_: int,
        clients: list[int],
        bytes_down: int,
        bytes_up: int,
        ex: Exchange | None,
        sim_time_s: float,
        loss: float | None = None,
        radio_j: float | None = None,
        compute_j: float | None = None,
        compute_s: float | None = None,
    ) -> RoundRecord:
        """Open the record of a round whose costs were priced elsewhere (SL/FSL add theirs)."""
        radio_j = float(ex.radio_energy_j.sum()) if radio_j is None and ex else (radio_j or 0.0)
        compute_j = (
            float(ex.compute_energy_j.sum()) if compute_j is None and ex else (compute_j or 0.0)
        )
        compute_s = float(ex.compute_s.sum()) if compute_s is None and ex else (compute_s or 0.0)
        prev = self.records[-1].cum_sim_time_s if self.records else 0.0
        rec = RoundRecord(
            round=round_,
            accuracy=None,
            bytes_up=bytes_up,
            bytes_down=bytes_down,
            sim_time_s=sim_time_s,
            device_energy_j=radio_j + compute_j,
            radio_energy_j=radio_j,
            compute_energy_j=compute_j,
            device_compute_s=compute_s,
            n_clients=len(clients),
            clients=sorted(clients),
            cum_sim_time_s=prev + sim_time_s,
            train_loss=loss,
        )
        chosen = set(clients)
        for c, state in self.states.items():
            state.rounds_since_selected = 0 if c in chosen else state.rounds_since_selected + 1
            state.times_selected += c in chosen
        if ex is not None:
            for c, e in zip(clients, ex.energy_j, strict=True):
                self.states[c].energy_spent_j += float(e)
        self.records.append(rec)
        return rec

    def close(self, round_: int, accuracy: float | None) -> None:
        """Attach the round's test accuracy and report it."""
        rec = next((r for r in reversed(self.records) if r.round == round_), None)
        if rec is None:
            return
        rec.accuracy = accuracy
        if self.on_round:
            self.on_round(rec)
