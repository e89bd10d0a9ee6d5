"""Property: every malformed request gets a 4xx with a reason, and the service still answers
correctly afterwards (hypothesis drives the faults; real uvicorn on 127.0.0.1)."""

from __future__ import annotations

from collections import Counter

import httpx
import numpy as np
import torch
from hypothesis import HealthCheck, given, settings

from tinylarge.large.client import LargeClient
from tinylarge.large.fuzz import FuzzRequest, Target, malformed_requests

from .conftest import MAX_BODY_BYTES, MAX_SAMPLES, MODEL

STATUSES: Counter = Counter()


def test_malformed_requests_only_ever_get_4xx(
    server, token, expired_token, foreign_token, teacher, samples
):
    target = Target(
        model=MODEL,
        sample_shape=teacher.info.input_shape,
        n_cuts=teacher.info.n_cuts,
        token=token,
        expired_token=expired_token,
        foreign_token=foreign_token,
        max_samples=MAX_SAMPLES,
        max_body_bytes=MAX_BODY_BYTES,
    )
    http = httpx.Client(base_url=server, timeout=10.0)

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(malformed_requests(target))
    def check(req: FuzzRequest) -> None:
        r = http.request(req.method, req.path, headers=req.headers, content=req.body)
        STATUSES[r.status_code] += 1
        assert 400 <= r.status_code < 500, (req.why, r.status_code, r.text[:200])
        assert r.json()["detail"], req.why

    try:
        check()
    finally:
        http.close()
    assert sum(STATUSES.values()) >= 200
    assert {401, 404, 413, 422} <= set(STATUSES)  # every kind of fault was exercised

    # still serving, and still right
    with LargeClient(server, token) as client:
        result = client.infer(MODEL, samples)
    with torch.inference_mode():
        expected = teacher.model(torch.from_numpy(samples)).numpy()
    np.testing.assert_allclose(result.outputs, expected, rtol=1e-5, atol=1e-5)
    assert httpx.get(f"{server}/health").json()["status"] == "ok"
