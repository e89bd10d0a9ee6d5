"""TFLM's tree, its make's compile commands, the op resolver table and the per-model selection
(no compiling here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinylarge.errors import TinylargeError, UnknownNameError
from tinylarge.tiny.graph import load_graph
from tinylarge.tiny.mcu import build, tree

from .conftest import KWS


@pytest.fixture(scope="module")
def src() -> Path:
    return tree.writable_copy(tree.find_tree(), tree.default_cache_root())


def test_the_tree_is_found_from_the_package_and_not_from_elsewhere(tmp_path):
    assert (tree.find_tree() / tree.MAKEFILE).is_file()
    with pytest.raises(TinylargeError, match="TFLM source tree not found"):
        tree.find_tree(tmp_path)


def test_the_writable_copy_has_the_same_content_and_the_toolchain_link(src):
    assert tree.tree_hash(tree.find_tree())[:16] in src.name
    assert (src / tree.DOWNLOADS / "gcc_embedded" / "bin" / "arm-none-eabi-gcc").exists()


def test_make_lists_cmsis_nn_kernels_only_when_asked(src):
    cmsis = tree.build_plan("cortex-m4", "cmsis_nn", src)
    ref = tree.build_plan("cortex-m4", "reference", src)
    sources = {c.source for c in cmsis.commands}
    assert "tensorflow/lite/micro/kernels/cmsis_nn/conv.cc" in sources
    assert "tensorflow/lite/micro/kernels/conv.cc" not in sources
    assert any(c.group == "third_party" for c in cmsis.commands)  # CMSIS-NN's own C
    assert "tensorflow/lite/micro/kernels/conv.cc" in {c.source for c in ref.commands}
    assert not any(c.group == "third_party" for c in ref.commands)
    assert "-DCMSIS_NN" in cmsis.cxx_flags and "-DCMSIS_NN" not in ref.cxx_flags
    for flag in ("-mcpu=cortex-m4", "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_STRIP_ERROR_STRINGS"):
        assert flag in cmsis.cxx_flags


def test_bad_core_or_kernel_set_names_the_valid_ones():
    with pytest.raises(UnknownNameError, match="cortex-m33"):
        tree.make_args("cortex-m99", "cmsis_nn")
    with pytest.raises(UnknownNameError, match="reference"):
        tree.make_args("cortex-m4", "fast")


def test_the_op_resolver_table_is_read_from_tflm(src):
    table = build.op_bindings(src)
    assert len(table) >= 90
    conv = table["CONV_2D"]
    assert (conv.add_method, conv.register_fn, conv.takes_registration) == (
        "AddConv2D",
        "Register_CONV_2D",
        True,
    )
    assert table["RESIZE_NEAREST_NEIGHBOR"].takes_registration is False
    with pytest.raises(UnknownNameError, match="'NOT_AN_OP'"):
        build.bindings_for(["CONV_2D", "NOT_AN_OP"], src)


def test_a_model_compiles_only_its_kernels(src):
    plan = tree.build_plan("cortex-m4", "cmsis_nn", src)
    bindings = build.bindings_for(load_graph(KWS).opcodes, src)
    chosen = build.select(plan, src, [b.register_fn for b in bindings])
    kernels = {Path(c.source).name for c in chosen if c.group == "kernel"}
    ops = {"conv", "depthwise_conv", "fully_connected", "pooling", "reshape", "softmax"}
    assert kernels == {f"{o}.cc" for o in ops} | {f"{o}_common.cc" for o in ops} | {
        "kernel_util.cc"
    }
    assert not any(c.source.startswith("signal/") for c in chosen)
    assert len(chosen) < len(plan.commands) / 1.8
    # widening never drops a command and ends at everything make builds
    wider = build.widen(plan, chosen, 1)
    assert {c.source for c in chosen} <= {c.source for c in wider}
    assert len(build.widen(plan, wider, 2)) == len(plan.commands)


def test_object_keys_follow_the_flags():
    cmd = tree.CompileCommand("a.cc", ("arm-none-eabi-g++", "-Os"), "core")
    other = tree.CompileCommand("a.cc", ("arm-none-eabi-g++", "-O2"), "core")
    assert build.object_key(cmd, "t") == build.object_key(cmd, "t")
    assert build.object_key(cmd, "t") != build.object_key(other, "t")
    assert build.object_key(cmd, "t") != build.object_key(cmd, "u")
