"""Service metrics: request counts per route and status, latency quantiles, batch sizes.

Per process: each uvicorn worker keeps its own (the service shares nothing between requests), and
an operator sums counts across workers. Latencies and batch sizes keep the most recent ``window``
values, so memory stays bounded however long the service runs.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from threading import Lock

from tinylarge.large.stats import quantiles

# the routes whose latency is "inference latency" (model listing and health are excluded)
INFERENCE_ROUTE_SUFFIXES = ("/infer", "/split/{cut}")


class Metrics:
    """Thread-safe counters and bounded histories, read with :meth:`snapshot`."""

    def __init__(self, window: int = 10_000) -> None:
        self._lock = Lock()
        self.started_s = time.time()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latency_s: deque[float] = deque(maxlen=window)
        self.batch_sizes: deque[int] = deque(maxlen=window)
        self.n_batches = 0
        self.n_samples = 0

    def record_request(self, route: str, status: int, latency_s: float) -> None:
        with self._lock:
            self.requests[(route, status)] += 1
            if status < 400 and route.endswith(INFERENCE_ROUTE_SUFFIXES):
                self.latency_s.append(latency_s)

    def record_batch(self, n_samples: int) -> None:
        with self._lock:
            self.batch_sizes.append(n_samples)
            self.n_batches += 1
            self.n_samples += n_samples

    def snapshot(self) -> dict:
        with self._lock:
            by_route: dict[str, dict[str, int]] = {}
            for (route, status), count in sorted(self.requests.items()):
                by_route.setdefault(route, {})[str(status)] = count
            by_class = Counter()
            for (_, status), count in self.requests.items():
                by_class[f"{status // 100}xx"] += count
            return {
                "uptime_s": time.time() - self.started_s,
                "n_requests": sum(self.requests.values()),
                "requests_by_status_class": dict(by_class),
                "requests": by_route,
                "inference_latency_s": quantiles(list(self.latency_s)),
                "n_batches": self.n_batches,
                "n_samples": self.n_samples,
                "batch_size": quantiles(list(self.batch_sizes)),
            }
