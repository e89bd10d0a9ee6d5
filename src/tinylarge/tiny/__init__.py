"""TinyML deployment: int8 ``.tflite`` (quantize), runtimes (TFLM oracle, LiteRT fast path),
the device catalog, the profiler, and C code generation.

Import rule: ``tiny`` depends only on ``models`` (and ``data`` for calibration); it never imports
``large``, ``integrate``, ``net`` or above. The heavy converter (``litert_torch``, which pulls in
jax) is imported lazily inside :func:`tinylarge.tiny.quantize.quantize_model` only, so importing
this package is cheap and safe before ``os.fork()``. Submodules are imported explicitly
(``from tinylarge.tiny.runtime import TflmRuntime``); this file re-exports nothing on purpose.
"""
