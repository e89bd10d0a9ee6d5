"""Dynamic batching across devices: concurrent requests for one model and cut share a forward pass.

The rule (as in Triton's dynamic batcher and Clipper, Crankshaw et al., NSDI 2017): a batch is
dispatched as soon as it holds ``max_batch_size`` samples, or ``max_wait_s`` after its first
request arrived, whichever comes first. So no request waits for company longer than
``max_wait_s``; the bound does not include the forward pass of the batch before it, which runs in
a worker thread while the next batch gathers. A request is never split across batches, and one
larger than ``max_batch_size`` (the service rejects those) would run on its own.

Inputs are float32 arrays (concatenated along axis 0) or lists of texts; outputs come back the
same way and are split per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Batch = np.ndarray | list


@dataclass
class _Pending:
    inputs: Batch
    n: int
    future: asyncio.Future
    arrived_s: float


def concat(parts: list[Batch]) -> Batch:
    """Join request inputs (arrays along axis 0, or lists) into one batch."""
    if isinstance(parts[0], np.ndarray):
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    return [item for part in parts for item in part]


def split(outputs: Batch, sizes: list[int]) -> list[Batch]:
    """Cut a batch's outputs back into per-request pieces of ``sizes`` samples."""
    if len(outputs) != sum(sizes):
        raise RuntimeError(f"backend returned {len(outputs)} results for {sum(sizes)} samples")
    pieces, start = [], 0
    for n in sizes:
        pieces.append(outputs[start : start + n])
        start += n
    return pieces


class MicroBatcher:
    """Collects concurrent :meth:`submit` calls into batches for one synchronous ``run``.

    Parameters
    ----------
    run : batch -> outputs, called in a worker thread (``asyncio.to_thread``).
    max_batch_size : samples per batch at most (>= 1).
    max_wait_s : longest a batch's first request waits for others before dispatch (>= 0).
    on_batch : called with each dispatched batch's sample count (metrics).
    """

    def __init__(
        self,
        run: Callable[[Batch], Batch],
        max_batch_size: int = 32,
        max_wait_s: float = 0.005,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        self.run = run
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task | None = None
        self._carry: _Pending | None = None

    async def submit(self, inputs: Batch) -> tuple[Batch, int]:
        """Run ``inputs`` (one request) in the next batch: ``(its outputs, batch sample count)``."""
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._serve())
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(inputs, len(inputs), future, time.perf_counter()))
        return await future

    async def _next_batch(self) -> list[_Pending]:
        assert self._queue is not None
        first = self._carry or await self._queue.get()
        self._carry = None
        batch, n = [first], first.n
        deadline_s = first.arrived_s + self.max_wait_s
        while n < self.max_batch_size:
            if self._queue.empty():
                remaining_s = deadline_s - time.perf_counter()
                if remaining_s <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining_s):
                        item = await self._queue.get()
                except TimeoutError:
                    break
            else:
                item = self._queue.get_nowait()
            if n + item.n > self.max_batch_size:
                self._carry = item  # starts the next batch; never split a request
                break
            batch.append(item)
            n += item.n
        return batch

    async def _serve(self) -> None:
        while True:
            batch = await self._next_batch()
            live = [p for p in batch if not p.future.done()]  # drop requests whose client left
            if not live:
                continue
            n = sum(p.n for p in live)
            if self.on_batch is not None:
                self.on_batch(n)
            try:
                outputs = await asyncio.to_thread(self.run, concat([p.inputs for p in live]))
                pieces = split(outputs, [p.n for p in live])
            except Exception as exc:  # the backend's error goes to each caller, the loop lives on
                for p in live:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            for p, piece in zip(live, pieces, strict=True):
                if not p.future.done():
                    p.future.set_result((piece, n))

    async def aclose(self) -> None:
        """Stop the worker; requests still queued get a ``RuntimeError``."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker
            self._worker = None
        pending: list[Any] = [self._carry] if self._carry else []
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for p in pending:
            if not p.future.done():
                p.future.set_exception(RuntimeError("service is shutting down"))
