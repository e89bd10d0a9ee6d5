"""Interpreter-less C code generation from full-integer int8 ``.tflite`` models.

``graph -> lower (per-op C: const data + one kernel call) -> plan (one static arena) -> emit``;
``verify`` proves the result bit-exact with TFLM on the host and under QEMU Cortex-M.

Public API::

    from tinylarge.tiny.codegen import codegen, CodegenResult
    result = codegen("model.tflite", "out_dir", prefix="tl_model")

Modules: ``quantmath`` (pure integer arithmetic), ``lower`` (ops), ``planner`` (memory),
``emit`` (files), ``verify`` (against TFLM),
``kernels/`` (the hand-written C kernel library). Instructions, flash and RAM on an emulated
Cortex-M are measured by :mod:`tinylarge.tiny.mcu.generated`, the same way as TFLM's.
"""

from tinylarge.tiny.codegen.api import CodegenResult, codegen

__all__ = ["CodegenResult", "codegen"]
