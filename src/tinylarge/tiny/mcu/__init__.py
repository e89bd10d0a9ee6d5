"""TinyML measured on the device: TFLM (CMSIS-NN or reference kernels) and the generated C run on
emulated Cortex-M cores (QEMU, ``-icount``), and the cost model that turns instructions into time.

Modules, lowest first: ``tree`` (find TFLM's source, ask its make for the compile commands),
``build`` (compile what a model needs, one content-cached object at a time; the op resolver
table), ``harness`` / ``firmware`` (the C++ harness and its empty twin, compile, link),
``tflm`` (:func:`~tinylarge.tiny.mcu.tflm.measure_tflm`: outputs, flash, RAM, instructions per
op), ``generated`` (:func:`~tinylarge.tiny.mcu.generated.measure_generated`: the same for
``tinylarge.tiny.codegen``'s C), ``costmodel`` (cycles-per-instruction factors calibrated on
published MLPerf Tiny points, leave-one-out, the instruction model; pure). The profiler
(``tinylarge.tiny.profile``) is the one user of all of them.
"""
