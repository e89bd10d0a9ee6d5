"""PyTorch -> full-integer int8 ``.tflite`` with ``litert-torch`` (PT2E static quantization).

The recipe (DESIGN.md, measured to give int8 input/output with every op int8):

1. ``litert_torch.to_channel_last_io(model, args=[0])``: 4-D models take NHWC input, the TFLite
   layout, so no TRANSPOSE is left at the input.
2. ``PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))``:
   per-channel symmetric int8 weights, asymmetric int8 activations, int32 bias (the TFLite int8
   spec). BatchNorm and ReLU fold into the convolutions.
3. ``torch.export`` -> torchao ``prepare_pt2e`` -> calibrate on training samples ->
   ``convert_pt2e(fold_quantize=False)`` -> ``move_exported_model_to_eval``.
   With ``qat=True``, ``prepare_qat_pt2e`` instead, and a short fine-tune with fake quantization
   before converting (:mod:`tinylarge.tiny.quantize_qat`).
4. ``litert_torch.convert(..., quant_config=QuantConfig(pt2e_quantizer=q))``.

``litert_torch`` imports jax (multithreaded), and a later ``os.fork()`` (Ray, multiprocessing)
may deadlock, so it is imported only inside :func:`quantize_model`.
The converted model is checked against the int8 spec (:func:`int8_violations`) and its accuracy
measured in the TFLM interpreter on the whole test set (the oracle).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from tinylarge.errors import TinylargeError
from tinylarge.tiny.graph import load_graph
from tinylarge.tiny.int8check import int8_violations
from tinylarge.tiny.layout import to_model_layout
from tinylarge.tiny.runtime import TflmRuntime, quiet_native_stderr

# Leaf module types this recipe turns into int8 TFLite ops; any other leaf is named as a suspect
# when conversion fails or leaves float ops (Conv1d is listed by DESIGN.md as unreliable).
INT8_FRIENDLY_MODULES: tuple[type[nn.Module], ...] = (
    nn.Conv2d,
    nn.Linear,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.AdaptiveAvgPool2d,
    nn.AvgPool2d,
    nn.MaxPool2d,
    nn.Flatten,
    nn.Dropout,
    nn.Identity,
)
_QUIET_LOGGERS = ("torchao", "torch.utils._pytree", "torch._export", "absl", "litert_torch")


class QuantizationError(TinylargeError):
    """A model that does not convert to full-integer int8 TFLite (names the layers to blame)."""


@dataclass
class QuantizeResult:
    """A quantized model and how it compares with its float original.

    ``int8_accuracy`` is measured in TFLM (the deployed model's truth) on the whole test set;
    ``agreement`` is the fraction of test samples where float and int8 predict the same class.
    """

    tflite_path: str
    float_accuracy: float
    int8_accuracy: float
    agreement: float
    all_ops_int8: bool
    size_bytes: int
    n_calibration: int
    n_test: int
    qat: bool
    input_scale: float
    input_zero_point: int
    tflm_arena_bytes: int
    violations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def suspect_layers(model: nn.Module) -> list[str]:
    """Leaf modules outside :data:`INT8_FRIENDLY_MODULES`, as ``"name (Type)"``."""
    return [
        f"{name} ({type(module).__name__})"
        for name, module in model.named_modules()
        if name and not list(module.children()) and not isinstance(module, INT8_FRIENDLY_MODULES)
    ]


def quantize_model(
    model: nn.Module,
    x_calibration: np.ndarray,
    output_path: str | Path,
    *,
    qat: bool = False,
    train_data: tuple[np.ndarray, np.ndarray] | None = None,
    qat_epochs: int = 2,
    qat_lr: float = 1e-4,
    seed: int = 0,
    allow_float: bool = False,
) -> Path:
    """Quantize ``model`` to a full-integer int8 ``.tflite`` at ``output_path``.

    Parameters
    ----------
    model : float model taking NCHW ``(n, C, H, W)`` float32 input.
    x_calibration : array of shape (n_samples, C, H, W), a few hundred training inputs.
    qat : fine-tune with fake quantization (``train_data`` = ``(x, y)`` needed) before converting.
    allow_float : keep a model whose conversion left float ops (else :class:`QuantizationError`
        and no file is left behind).
    """
    output_path = Path(output_path)
    model = model.eval()
    if qat and train_data is None:
        raise QuantizationError("qat=True needs train_data=(x, y) for the fine-tune")
    lt, pt2e = _import_converter()
    if qat:
        from tinylarge.tiny.quantize_qat import fold_batchnorm

        model = fold_batchnorm(model)
    channels_last = x_calibration.ndim == 4
    wrapped = lt.to_channel_last_io(model, args=[0]) if channels_last else model
    x_cal = torch.from_numpy(to_model_layout(np.asarray(x_calibration, dtype=np.float32)))
    example = (x_cal[:2],)  # batch 2 with a dynamic batch dim: calibrate in batches, not 1 by 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantizer = pt2e.PT2EQuantizer().set_global(
                pt2e.get_symmetric_quantization_config(is_per_channel=True, is_qat=qat)
            )
            if qat:
                from tinylarge.tiny.quantize_qat import qat_prepare

                prepared = qat_prepare(
                    wrapped, example, quantizer, train_data, qat_epochs, qat_lr, seed
                )
            else:
                exported = torch.export.export(
                    wrapped.eval(), example, dynamic_shapes=(({0: torch.export.Dim.AUTO},),)
                ).module()
                prepared = pt2e.prepare_pt2e(exported, quantizer)
                with torch.no_grad():
                    for start in range(0, len(x_cal), 64):
                        prepared(x_cal[start : start + 64])
            converted = pt2e.convert_pt2e(prepared, fold_quantize=False)
            pt2e.move_exported_model_to_eval(converted)
            converted.training = False  # the flag litert_torch checks; the graph is already eval
            edge_model = lt.convert(
                converted, (x_cal[:1],), quant_config=pt2e.QuantConfig(pt2e_quantizer=quantizer)
            )
    except Exception as exc:  # torch.export / torchao / the MLIR converter raise many types
        raise QuantizationError(_failure_message(model, exc)) from exc
    output_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_path.with_name(f".{output_path.name}.tmp")
    edge_model.export(str(tmp))
    problems = int8_violations(load_graph(tmp))
    if problems and not allow_float:
        tmp.unlink(missing_ok=True)
        suspects = ", ".join(suspect_layers(model)) or "none found among the leaf modules"
        raise QuantizationError(
            f"the model did not quantize to full int8 ({problems[0]}; {len(problems)} such "
            f"tensor uses); layers not known to convert to int8: {suspects}"
        )
    os.replace(tmp, output_path)
    return output_path


def evaluate_int8(
    tflite_path: str | Path, x_test: np.ndarray, y_test: np.ndarray
) -> tuple[float, np.ndarray, int]:
    """TFLM accuracy on NCHW ``x_test``: ``(accuracy, predicted classes, TFLM arena bytes)``."""
    accuracy, pred, runtime = _evaluate_in_tflm(tflite_path, x_test, y_test)
    return accuracy, pred, runtime.arena_bytes


def _evaluate_in_tflm(
    tflite_path: str | Path, x_test: np.ndarray, y_test: np.ndarray
) -> tuple[float, np.ndarray, TflmRuntime]:
    runtime = TflmRuntime(tflite_path)
    logits = runtime.predict(to_model_layout(np.asarray(x_test, dtype=np.float32)))
    pred = logits.reshape(len(logits), -1).argmax(axis=1)
    return float(np.mean(pred == y_test)), pred, runtime


def quantize_and_evaluate(
    model: nn.Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    output_path: str | Path,
    *,
    n_calibration: int = 300,
    qat: bool = False,
    qat_epochs: int = 2,
    seed: int = 0,
) -> QuantizeResult:
    """Calibrate on ``n_calibration`` seeded training samples, convert, verify in TFLM."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x_train))[:n_calibration]
    path = quantize_model(
        model,
        x_train[idx],
        output_path,
        qat=qat,
        train_data=(x_train, y_train) if qat else None,
        qat_epochs=qat_epochs,
        seed=seed,
    )
    from tinylarge.train import predict_logits

    float_pred = predict_logits(model.eval(), x_test).argmax(axis=1)
    int8_acc, int8_pred, runtime = _evaluate_in_tflm(path, x_test, y_test)
    problems = int8_violations(load_graph(path))
    return QuantizeResult(
        tflite_path=str(path),
        float_accuracy=float(np.mean(float_pred == y_test)),
        int8_accuracy=int8_acc,
        agreement=float(np.mean(float_pred == int8_pred)),
        all_ops_int8=not problems,
        size_bytes=path.stat().st_size,
        n_calibration=len(idx),
        n_test=len(y_test),
        qat=qat,
        input_scale=runtime.input_scale,
        input_zero_point=runtime.input_zero_point,
        tflm_arena_bytes=runtime.arena_bytes,
        violations=problems,
    )


def quantize_checkpoint(
    checkpoint_path: str | Path,
    output_path: str | Path,
    dataset: str | None = None,
    *,
    qat: bool = False,
    n_calibration: int = 300,
    seed: int = 0,
) -> QuantizeResult:
    """Quantize a ``tinylarge`` checkpoint on its dataset (``dataset`` overrides the one saved)."""
    from tinylarge.data import load_dataset
    from tinylarge.models import load_checkpoint

    ckpt = load_checkpoint(checkpoint_path)
    name = dataset or ckpt.meta.get("dataset")
    ds = load_dataset(name, seed=int(ckpt.meta.get("seed", seed)))
    if tuple(ds.info.input_shape) != tuple(ckpt.input_shape):
        raise TinylargeError(
            f"dataset {name!r} has input shape {tuple(ds.info.input_shape)} but the checkpoint "
            f"expects {tuple(ckpt.input_shape)} (it was trained on {ckpt.meta.get('dataset')!r})"
        )
    return quantize_and_evaluate(
        ckpt.model,
        ds.x_train,
        ds.y_train,
        ds.x_test,
        ds.y_test,
        output_path,
        n_calibration=n_calibration,
        qat=qat,
        seed=seed,
    )


def _failure_message(model: nn.Module, exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    first = text[0][:300] if text else type(exc).__name__
    named = [s for s in suspect_layers(model) if s.split(" ")[0] in str(exc)]
    suspects = named or suspect_layers(model)
    where = f"; layers not known to convert to int8: {', '.join(suspects)}" if suspects else ""
    return f"the model does not convert to int8 TFLite ({type(exc).__name__}: {first}){where}"


def _import_converter() -> tuple[Any, Any]:
    """Import litert_torch and torchao's PT2E API here only (jax + fork, see the module doc)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # Importing prints absl/oneDNN/torchao notices from C++ that no env var turns off; errors
    # still raise as Python exceptions, so silencing fd 2 for the import hides only noise.
    with warnings.catch_warnings(), quiet_native_stderr():
        warnings.simplefilter("ignore")
        import litert_torch
        from litert_torch.quantize.pt2e_quantizer import (
            PT2EQuantizer,
            get_symmetric_quantization_config,
        )
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e import move_exported_model_to_eval
        from torchao.quantization.pt2e.quantize_pt2e import (
            convert_pt2e,
            prepare_pt2e,
            prepare_qat_pt2e,
        )
    pt2e = SimpleNamespace(
        PT2EQuantizer=PT2EQuantizer,
        get_symmetric_quantization_config=get_symmetric_quantization_config,
        QuantConfig=QuantConfig,
        prepare_pt2e=prepare_pt2e,
        prepare_qat_pt2e=prepare_qat_pt2e,
        convert_pt2e=convert_pt2e,
        move_exported_model_to_eval=move_exported_model_to_eval,
    )
    return litert_torch, pt2e
