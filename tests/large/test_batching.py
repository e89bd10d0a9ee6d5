"""The batcher: concurrent requests share a batch, never beyond max_batch_size, and a lone request
waits at most max_wait_s for company."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from tinylarge.large.service.batching import MicroBatcher


class Recorder:
    """A real batch function (doubles its input) that remembers each batch it ran."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, x):
        self.batches.append(len(x))
        if isinstance(x, list):
            return [s.upper() for s in x]
        return x * 2.0


def test_concurrent_requests_share_one_batch_and_get_their_own_rows_back():
    rec = Recorder()

    async def main():
        batcher = MicroBatcher(rec, max_batch_size=64, max_wait_s=0.05)
        xs = [np.full((i + 1, 3), i, dtype=np.float32) for i in range(5)]
        outs = await asyncio.gather(*(batcher.submit(x) for x in xs))
        await batcher.aclose()
        return xs, outs

    xs, outs = asyncio.run(main())
    assert rec.batches == [15]  # 1+2+3+4+5 samples, one forward pass
    for x, (out, batch_size) in zip(xs, outs, strict=True):
        np.testing.assert_array_equal(out, x * 2.0)
        assert batch_size == 15


def test_batches_never_exceed_max_batch_size_and_requests_are_never_split():
    rec = Recorder()

    async def main():
        batcher = MicroBatcher(rec, max_batch_size=8, max_wait_s=0.02)
        outs = await asyncio.gather(
            *(batcher.submit(np.zeros((3, 2), dtype=np.float32)) for _ in range(10))
        )
        await batcher.aclose()
        return outs

    outs = asyncio.run(main())
    assert sum(rec.batches) == 30
    assert max(rec.batches) <= 8
    assert all(b % 3 == 0 for b in rec.batches)  # whole requests only
    assert all(out.shape == (3, 2) for out, _ in outs)


@pytest.mark.parametrize("max_wait_s", [0.0, 0.03, 0.1])
def test_a_lone_request_is_dispatched_after_max_wait_s(max_wait_s):
    rec = Recorder()

    async def main():
        batcher = MicroBatcher(rec, max_batch_size=32, max_wait_s=max_wait_s)
        start_s = time.perf_counter()
        await batcher.submit(np.zeros((1, 2), dtype=np.float32))
        elapsed_s = time.perf_counter() - start_s
        await batcher.aclose()
        return elapsed_s

    elapsed_s = asyncio.run(main())
    assert elapsed_s >= max_wait_s * 0.9
    assert elapsed_s < max_wait_s + 0.2  # the bound, plus scheduling slack on a busy machine


def test_a_full_batch_goes_at_once_without_waiting_out_max_wait_s():
    rec = Recorder()

    async def main():
        batcher = MicroBatcher(rec, max_batch_size=4, max_wait_s=5.0)
        start_s = time.perf_counter()
        await asyncio.gather(*(batcher.submit(np.zeros((1, 2))) for _ in range(4)))
        elapsed_s = time.perf_counter() - start_s
        await batcher.aclose()
        return elapsed_s

    assert asyncio.run(main()) < 1.0
    assert rec.batches == [4]


def test_texts_batch_like_arrays():
    rec = Recorder()

    async def main():
        batcher = MicroBatcher(rec, max_batch_size=8, max_wait_s=0.02)
        outs = await asyncio.gather(batcher.submit(["a", "b"]), batcher.submit(["c"]))
        await batcher.aclose()
        return outs

    (first, _), (second, _) = asyncio.run(main())
    assert first == ["A", "B"] and second == ["C"]


def test_a_failing_batch_fails_its_callers_and_the_batcher_keeps_working():
    calls = []

    def flaky(x):
        calls.append(len(x))
        if len(calls) == 1:
            raise ValueError("backend hiccup")
        return x

    async def main():
        batcher = MicroBatcher(flaky, max_batch_size=8, max_wait_s=0.01)
        with pytest.raises(ValueError, match="hiccup"):
            await batcher.submit(np.ones((1, 2)))
        out, _ = await batcher.submit(np.ones((2, 2)))
        await batcher.aclose()
        return out

    assert asyncio.run(main()).shape == (2, 2)


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="max_batch_size"):
        MicroBatcher(lambda x: x, max_batch_size=0)
    with pytest.raises(ValueError, match="max_wait_s"):
        MicroBatcher(lambda x: x, max_wait_s=-1)
