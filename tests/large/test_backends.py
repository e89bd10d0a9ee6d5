"""Backends: the torch tail from any cut equals the full forward pass; the sentence encoder and an
OpenAI-compatible server (a real FastAPI peer on loopback) answer through the same protocol."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
import torch
from fastapi import FastAPI, HTTPException

from tinylarge.errors import TinylargeError
from tinylarge.large.backends import (
    BackendError,
    BackendSpec,
    LargeMLBackend,
    OpenAICompatibleBackend,
    OutputKind,
    SentenceTransformerBackend,
    file_version,
    load_backend,
)
from tinylarge.large.client import LargeClient, ServiceError
from tinylarge.large.service import ServiceConfig, create_app
from tinylarge.large.service.runner import serve_in_thread
from tinylarge.secure.tokens import TokenAuthority, new_secret


def test_torch_backend_reports_cut_shapes_and_version(teacher, teacher_checkpoint):
    assert isinstance(teacher, LargeMLBackend)
    info = teacher.info
    assert info.output_kind is OutputKind.LOGITS and info.n_outputs == 10
    assert info.cut_shapes[0] == (1, 8, 8)
    assert info.n_cuts == len(teacher.model.blocks) + 1
    assert info.version == file_version(teacher_checkpoint)


def test_the_tail_from_every_cut_equals_the_full_model(teacher, samples):
    x = torch.from_numpy(samples)
    full = teacher.infer(samples)
    with torch.inference_mode():
        np.testing.assert_allclose(full, teacher.model(x).numpy(), rtol=1e-6, atol=1e-6)
        features = teacher.model.forward_features(x)
    for cut in range(1, teacher.info.n_cuts):
        tail = teacher.infer_from_cut(cut, features[cut - 1].numpy())
        np.testing.assert_allclose(tail, full, rtol=1e-5, atol=1e-5)
    with pytest.raises(BackendError, match="out of range"):
        teacher.infer_from_cut(teacher.info.n_cuts, samples)


def test_load_backend_names_what_is_missing(tmp_path):
    with pytest.raises(BackendError, match="needs 'path'"):
        load_backend(BackendSpec(name="t", kind="torch"))
    with pytest.raises(TinylargeError, match="does not exist"):
        load_backend(BackendSpec(name="t", kind="torch", path=str(tmp_path / "none.pt")))
    with pytest.raises(BackendError, match="base_url"):
        load_backend(BackendSpec(name="l", kind="openai"))


# --- an OpenAI-compatible LLM server: a real FastAPI app on loopback ----------------------------


def stand_in_llm() -> FastAPI:
    """Deterministic OpenAI-style server: chat echoes the prompt reversed; embeddings are counts."""
    app = FastAPI()
    app.state.calls = []

    @app.post("/v1/chat/completions")
    async def chat(body: dict) -> dict:
        app.state.calls.append(body)
        prompt = body["messages"][-1]["content"]
        if prompt == "fail":
            raise HTTPException(500, "model crashed")
        return {
            "id": "x",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": prompt[::-1]}}],
        }

    @app.post("/v1/embeddings")
    async def embeddings(body: dict) -> dict:
        data = [
            {"index": i, "embedding": [float(len(t)), float(t.count("a"))]}
            for i, t in enumerate(body["input"])
        ]
        return {"object": "list", "data": data[::-1], "model": body["model"]}

    return app


@pytest.fixture(scope="module")
def llm_server():
    app = stand_in_llm()
    with serve_in_thread(app) as url:
        yield url, app


def test_openai_chat_backend_talks_to_a_real_server(llm_server):
    url, app = llm_server
    backend = OpenAICompatibleBackend(url, "tiny-llm", api_key="k", system_prompt="be brief")
    try:
        assert backend.infer(["hello", "6G"]) == ["olleh", "G6"]
        assert app.state.calls[-1]["messages"][0] == {"role": "system", "content": "be brief"}
        assert app.state.calls[-1]["model"] == "tiny-llm"
        with pytest.raises(BackendError, match="500"):
            backend.infer(["fail"])
    finally:
        backend.close()


def test_openai_embeddings_backend_keeps_input_order(llm_server):
    url, _ = llm_server
    backend = OpenAICompatibleBackend(url, "emb", mode="embeddings")
    try:
        out = backend.infer(["a", "banana", "xy"])
        np.testing.assert_array_equal(out, [[1, 1], [6, 3], [2, 0]])
    finally:
        backend.close()


def test_an_unreachable_llm_server_is_a_backend_error():
    backend = OpenAICompatibleBackend("http://127.0.0.1:9", "m", timeout_s=2.0)
    try:
        with pytest.raises(BackendError, match="unreachable"):
            backend.infer(["hi"])
    finally:
        backend.close()


def test_the_service_fronts_an_llm_and_maps_its_failures_to_502(llm_server):
    url, _ = llm_server
    authority = TokenAuthority(new_secret())
    spec = BackendSpec(name="llm", kind="openai", base_url=url, remote_model="tiny-llm")
    app = create_app(ServiceConfig(models=[spec]), authority=authority)
    with serve_in_thread(app) as service, LargeClient(service, authority.issue("d1")) as client:
        assert client.infer_texts("llm", ["abc"]).texts == ["cba"]
        with pytest.raises(ServiceError) as err:
            client.infer_texts("llm", ["fail"])
        assert err.value.status_code == 502 and "500" in err.value.reason
        with pytest.raises(ServiceError) as err:
            client.infer("llm", np.zeros((1, 1, 8, 8), np.float32))
        assert err.value.status_code == 422 and "texts" in err.value.reason
        r = httpx.post(
            f"{service}/v1/models/llm/split/1",
            headers={"Authorization": f"Bearer {authority.issue('d1')}"},
            json={"texts": ["x"]},
        )
        assert r.status_code == 422 and "cannot be split" in r.json()["detail"]
        assert client.infer_texts("llm", ["still up"]).texts == ["pu llits"]


# --- the bundled sentence encoder --------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerBackend:
    start_s = time.perf_counter()
    backend = SentenceTransformerBackend()
    assert time.perf_counter() - start_s < 60
    return backend


@pytest.mark.slow  # loading the 22 M-parameter encoder takes ~20 s on 2 cores
def test_sentence_backend_embeds_offline_and_ranks_paraphrases_closer(minilm):
    out = minilm.infer(
        ["turn on the lights", "switch the lamp on", "what is the temperature outside"]
    )
    assert out.shape == (3, minilm.info.n_outputs) == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert out[0] @ out[1] > out[0] @ out[2] + 0.1
    with pytest.raises(BackendError, match="texts"):
        minilm.infer(np.zeros((1, 3), np.float32))
