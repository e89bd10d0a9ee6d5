"""The harness source: every op added once; timed ops wrapped only in the ``ops`` build."""

from __future__ import annotations

from tinylarge.tiny.mcu.build import OpBinding
from tinylarge.tiny.mcu.harness import add_ops_code, data_source, harness_source

CONV = OpBinding("CONV_2D", "AddConv2D", "Register_CONV_2D", True)
RESIZE = OpBinding("RESIZE_NEAREST_NEIGHBOR", "AddResizeNearestNeighbor", "Register_X", False)


def test_timed_ops_are_wrapped_only_under_tl_time_ops():
    code = add_ops_code([CONV, RESIZE])
    assert code.count("AddConv2D") == 2  # timed (registration) and plain
    assert "r.invoke = tl_timed<0>;" in code and "tflite::Register_CONV_2D()" in code
    assert code.count("AddResizeNearestNeighbor") == 1  # no overload that takes a registration
    plain = code.split("#else")[1].split("#endif")[0]
    assert "tl_timed" not in plain


def test_the_harness_sizes_its_resolver_by_op_types_and_reads_sizes_from_the_blob():
    src = harness_source([CONV, RESIZE])
    assert "MicroMutableOpResolver<2>" in src
    assert "input->bytes != tl_input_bytes" in src
    blob = data_source("/m.tflite", "/x.bin", 3, 490, 12)
    assert '.incbin "/m.tflite"' in blob and ".word 490" in blob and ".word 12" in blob
