"""The service over real HTTP on 127.0.0.1: answers, auth, validation, split, metrics, schema."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
import torch

from tinylarge.large.client import AsyncLargeClient, LargeClient, ServiceError
from tinylarge.large.wire import encode_tensor

from .conftest import MAX_BODY_BYTES, MAX_SAMPLES, MODEL


def local_logits(backend, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return backend.model(torch.from_numpy(x)).numpy()


def test_health_is_open_and_names_the_models(server, teacher):
    r = httpx.get(f"{server}/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "models": {MODEL: teacher.info.version}}


def test_openapi_schema_lists_every_endpoint(server):
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    for path in (
        "/v1/models/{name}/infer",
        "/v1/models/{name}/split/{cut}",
        "/v1/models",
        "/health",
        "/metrics",
    ):
        assert path in paths
    assert "401" in paths["/v1/models/{name}/infer"]["post"]["responses"]


def test_models_lists_version_and_cut_shapes(server, token, teacher):
    with LargeClient(server, token) as client:
        (info,) = client.models()
        assert client.model(MODEL) == info
    assert info["name"] == MODEL and info["version"] == teacher.info.version
    assert info["input_shape"] == [1, 8, 8] and info["n_outputs"] == 10
    assert [c["shape"] for c in info["cuts"]] == [list(s) for s in teacher.info.cut_shapes]
    assert len(info["cuts"]) == len(teacher.model.blocks) + 1


def test_infer_matches_the_local_model(server, token, teacher, samples):
    with LargeClient(server, token) as client:
        result = client.infer(MODEL, samples)
    expected = local_logits(teacher, samples)
    np.testing.assert_allclose(result.outputs, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(result.labels, expected.argmax(1))
    assert result.n_samples == len(samples) and result.cut == 0
    assert np.all((result.probabilities > 0.0) & (result.probabilities <= 1.0))
    assert 0 < result.server_latency_s < result.latency_s


def test_int8_nhwc_input_is_dequantized_like_the_device_sees_it(server, token, teacher, samples):
    scale, zero_point = 0.05, -10
    q = np.clip(np.round(samples / scale) + zero_point, -128, 127).astype(np.int8)
    with LargeClient(server, token) as client:
        result = client.infer(
            MODEL, q.transpose(0, 2, 3, 1), scale=scale, zero_point=zero_point, layout="NHWC"
        )
    x_seen = (scale * (q.astype(np.float32) - zero_point)).astype(np.float32)
    np.testing.assert_allclose(result.outputs, local_logits(teacher, x_seen), atol=1e-4)
    assert result.request_bytes < 1000  # 8 samples x 64 int8 values, base64, plus framing


def test_split_from_every_cut_finishes_the_same_forward_pass(server, token, teacher, samples):
    features = teacher.model.forward_features(torch.from_numpy(samples))
    expected = local_logits(teacher, samples)
    with LargeClient(server, token) as client:
        for cut in range(1, teacher.info.n_cuts):
            activation = features[cut - 1].detach().numpy()
            result = client.infer_split(MODEL, cut, activation)
            assert result.cut == cut
            np.testing.assert_allclose(result.outputs, expected, rtol=1e-4, atol=1e-4)


def test_concurrent_devices_are_batched_together(server, authority, samples):
    async def main():
        clients = [AsyncLargeClient(server, authority.issue(f"dev-{i}")) for i in range(12)]
        try:
            return await asyncio.gather(*(c.infer(MODEL, samples[:1]) for c in clients))
        finally:
            for c in clients:
                await c.aclose()

    results = asyncio.run(main())
    assert max(r.batch_size for r in results) > 1
    assert all(r.batch_size <= 32 for r in results)


# --- auth -------------------------------------------------------------------------------------


def _post(server, headers, body, path=f"/v1/models/{MODEL}/infer") -> httpx.Response:
    return httpx.post(f"{server}{path}", headers=headers, json=body)


@pytest.fixture()
def body(samples) -> dict:
    return {"tensor": encode_tensor(samples[:1])}


@pytest.mark.parametrize("kind", ["missing", "scheme", "garbage", "expired", "foreign"])
def test_unknown_or_expired_tokens_get_401_with_a_reason(
    server, body, kind, token, expired_token, foreign_token
):
    headers = {
        "missing": {},
        "scheme": {"Authorization": f"Basic {token}"},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "expired": {"Authorization": f"Bearer {expired_token}"},
        "foreign": {"Authorization": f"Bearer {foreign_token}"},
    }[kind]
    r = _post(server, headers, body)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["detail"]
    if kind == "expired":
        assert "expired" in r.json()["detail"]
    with LargeClient(server, None) as client, pytest.raises(ServiceError) as err:
        client.models()
    assert err.value.status_code == 401


# --- validation ------------------------------------------------------------------------------


def _tensor(x, **changes):
    t = encode_tensor(x)
    t.update(changes)
    return {"tensor": t}


@pytest.mark.parametrize(
    ("path", "make_body", "status", "reason"),
    [
        (f"/v1/models/{MODEL}/infer", lambda x: _tensor(x[:, :, :4]), 422, "does not match"),
        (f"/v1/models/{MODEL}/infer", lambda x: _tensor(x, dtype="float64"), 422, "dtype"),
        (f"/v1/models/{MODEL}/infer", lambda x: _tensor(x, data="@@"), 422, "base64"),
        (f"/v1/models/{MODEL}/infer", lambda x: _tensor(x, shape=[2, 1, 8, 8]), 422, "bytes"),
        (f"/v1/models/{MODEL}/infer", lambda x: {"texts": ["seven"]}, 422, "takes a 'tensor'"),
        (f"/v1/models/{MODEL}/infer", lambda x: {**_tensor(x), "x": 1}, 422, "Extra inputs"),
        (f"/v1/models/{MODEL}/infer", lambda x: {"tensor": "abc"}, 422, "tensor"),
        (
            f"/v1/models/{MODEL}/infer",
            lambda x: _tensor(np.zeros((MAX_SAMPLES + 1, 1, 8, 8), np.float32)),
            422,
            f"limit of {MAX_SAMPLES}",
        ),
        (f"/v1/models/{MODEL}/split/-1", lambda x: _tensor(x), 422, "valid: 0.."),
        (f"/v1/models/{MODEL}/split/99", lambda x: _tensor(x), 422, "cut 99 is out of range"),
        (f"/v1/models/{MODEL}/split/one", lambda x: _tensor(x), 422, "cut"),
        (f"/v1/models/{MODEL}/split/1", lambda x: _tensor(x), 422, "does not match"),
        ("/v1/models/nope/infer", lambda x: _tensor(x), 404, f"valid: {MODEL}"),
    ],
)
def test_malformed_requests_get_4xx_with_the_reason(
    server, token, samples, path, make_body, status, reason
):
    r = _post(server, {"Authorization": f"Bearer {token}"}, make_body(samples[:1]), path)
    assert r.status_code == status, r.text
    assert reason in r.json()["detail"]


def test_oversized_and_non_json_bodies_are_rejected(server, token):
    auth = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    url = f"{server}/v1/models/{MODEL}/infer"
    r = httpx.post(url, headers=auth, content=b" " * (MAX_BODY_BYTES + 1))
    assert r.status_code == 413 and "exceeds" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit still holds while streaming
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    assert httpx.post(url, headers=auth, content=chunks()).status_code == 413
    r = httpx.post(url, headers=auth, content=b"\xff\xfe{not json")
    assert r.status_code == 400 and "parsing the body" in r.json()["detail"]
    r = httpx.post(url, headers=auth, content=b"{not json")
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    assert httpx.get(url, headers=auth).status_code == 405


def test_metrics_count_requests_latencies_and_batches(server, token, samples):
    before = httpx.get(f"{server}/metrics").json()
    with LargeClient(server, token) as client:
        client.infer(MODEL, samples[:2])
        with pytest.raises(ServiceError):
            client.infer(MODEL, samples[:, :, :3])
    after = httpx.get(f"{server}/metrics").json()
    route = after["requests"]["/v1/models/{name}/infer"]
    assert route["200"] >= 1 and route["422"] >= 1
    assert after["n_requests"] >= before["n_requests"] + 2
    assert after["n_samples"] >= before["n_samples"] + 2
    assert after["inference_latency_s"]["n"] >= 1
    assert 0 < after["inference_latency_s"]["p50"] <= after["inference_latency_s"]["p99"]
    assert after["batch_size"]["max"] >= 2
