"""The audit log writer: refused requests are committed to the registry before they are answered,
in batches (group commit, as PostgreSQL's ``commit_delay`` and SQLite's WAL users do).

:meth:`AuditWriter.submit` queues a record and waits until the batch holding it is committed,
then returns its audit id (the service sends it back as ``X-Audit-Id``). One transaction per
batch keeps a flood of refusals from costing one disk flush each; the refused caller waits for
the commit, which also slows a closed-loop flood down at no cost to anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tinylarge.large.service.registry import AuditRecord, Registry

log = logging.getLogger("tinylarge.large.service")


class AuditWriter:
    """Batches :class:`AuditRecord` writes into one registry transaction each."""

    def __init__(self, registry: Registry, max_batch: int = 512) -> None:
        self.registry = registry
        self.max_batch = max_batch
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None

    async def submit(self, record: AuditRecord) -> int:
        """Queue ``record``; returns its audit id once committed (raises if the commit failed)."""
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((record, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < self.max_batch:
                batch.append(self._queue.get_nowait())
            try:
                ids = await asyncio.to_thread(self.registry.audit_many, [r for r, _ in batch])
            except Exception as exc:  # the database is down: the callers learn it, the loop lives
                log.error("audit write failed: %s", exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), audit_id in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(audit_id)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
