"""End to end: .tflite -> C -> compiled -> every output byte equal to the TFLM interpreter."""

from __future__ import annotations

import subprocess

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from tinylarge.errors import TinylargeError
from tinylarge.tiny.codegen import codegen
from tinylarge.tiny.codegen.emit import generate
from tinylarge.tiny.codegen.lower import UnsupportedOpError
from tinylarge.tiny.codegen.verify import run_host_c, verify
from tinylarge.tiny.graph import load_graph
from tinylarge.tiny.runtime import TflmRuntime

from .conftest import MODELS


def test_host_bit_exact_with_tflm(model_path):
    code = generate(load_graph(model_path))
    result = verify(code, model_path, "host", n_random=16, seed=3)
    assert result.n_samples == 16
    assert result.bit_exact, result


@pytest.mark.parametrize("in_place,fuse", [(False, False), (True, False), (False, True)])
def test_memory_options_never_change_outputs(in_place, fuse):
    """The PAD kernel (unfused), copies (no in-place) and the plain planner stay bit-exact too."""
    code = generate(load_graph(MODELS["opzoo"]), in_place=in_place, fuse=fuse)
    assert ("tl_pad_s8" in code.kernels) == (not fuse)
    assert verify(code, MODELS["opzoo"], "host", n_random=8, seed=1).bit_exact


def test_pad_before_strided_conv_is_folded():
    """PT2E emits PAD -> CONV(VALID); folding it removes the padded copy from the arena."""
    graph = load_graph(MODELS["opzoo"])
    fused, plain = generate(graph), generate(graph, fuse=False)
    assert [graph.ops[i].opcode for i in fused.fused_ops] == ["PAD", "PAD"]
    assert "PAD" not in fused.ops
    assert fused.arena_bytes <= plain.arena_bytes


def test_host_bit_exact_on_extreme_inputs():
    """All -128 / all 127 inputs push every clamp and saturation path."""
    for name in ("kws", "opzoo"):
        rt = TflmRuntime(MODELS[name])
        shape = rt.input_shape[1:]
        x = np.stack([np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)])
        got = run_host_c(generate(load_graph(MODELS[name])), x)
        np.testing.assert_array_equal(got, rt.invoke_int8(x).reshape(2, -1))


def test_directory_compiles_with_callers_main(tmp_path):
    """DIR holds only .c/.h files; `cc -std=c99 -Wall -Wextra -Werror DIR/*.c main.c` builds."""
    out = tmp_path / "kws_c"
    result = codegen(MODELS["kws"], out, prefix="kws", measure_tflm_arena=False)
    assert sorted(p.name for p in out.iterdir()) == [
        "kws.c",
        "kws.h",
        "tl_kernels.c",
        "tl_kernels.h",
    ]
    header = (out / "kws.h").read_text()
    for define in (
        "KWS_INPUT_SIZE 490",
        "KWS_OUTPUT_SIZE 12",
        f"KWS_ARENA_BYTES {result.arena_bytes}",
    ):
        assert f"#define {define}" in header
    assert "int kws_invoke(const int8_t *input, int8_t *output);" in header
    source = (out / "kws.c").read_text()
    assert "generated - do not edit" in source and load_graph(MODELS["kws"]).sha256 in source
    # weights stay const (flash); the arena is the only mutable array
    assert "static const int8_t op0_filter[2560]" in source
    assert source.count("static int8_t ") == 1
    for banned in ("malloc", "stdio", "printf"):
        assert banned not in source + (out / "tl_kernels.c").read_text()
    main = tmp_path / "main.c"
    main.write_text(
        '#include "kws.h"\nint main(void) {\n  static int8_t in[KWS_INPUT_SIZE];\n'
        "  static int8_t out[KWS_OUTPUT_SIZE];\n  return kws_invoke(in, out);\n}\n"
    )
    cc = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{out}"]
    srcs = sorted(str(p) for p in out.glob("*.c"))
    subprocess.run([*cc, *srcs, str(main), "-o", str(tmp_path / "app")], check=True)
    assert subprocess.run([str(tmp_path / "app")]).returncode == 0


def test_arena_beats_tflm_by_a_quarter(model_path):
    code = generate(load_graph(model_path))
    assert code.arena_bytes <= 0.75 * TflmRuntime(model_path).arena_bytes


def _with_opcode(model_path, old: int, new: int) -> bytes:
    """The model's bytes with every ``old`` op turned into ``new`` (flatbuffer object API)."""
    m = schema.ModelT.InitFromPackedBuf(model_path.read_bytes(), 0)
    for code in m.operatorCodes:
        if max(code.builtinCode, code.deprecatedBuiltinCode) == old:
            code.builtinCode, code.deprecatedBuiltinCode = new, min(new, 127)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_unsupported_op_names_op_and_node_and_writes_nothing(tmp_path):
    model = _with_opcode(
        MODELS["timenet"], schema.BuiltinOperator.MEAN, schema.BuiltinOperator.REDUCE_PROD
    )
    out = tmp_path / "c"
    with pytest.raises(UnsupportedOpError, match=r"REDUCE_PROD \(node 4\)") as info:
        codegen(model, out, measure_tflm_arena=False)
    assert info.value.node == 4
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_unsupported_parameter_is_named():
    g = load_graph(MODELS["kws"])
    g.ops[0].options["fused_activation"] = "TANH"
    with pytest.raises(UnsupportedOpError, match=r"CONV_2D \(node 0\): fused activation TANH"):
        generate(g)


def test_bad_prefix_and_foreign_output_dir(tmp_path):
    with pytest.raises(TinylargeError, match="not a C identifier"):
        generate(load_graph(MODELS["ad"]), prefix="2bad")
    out = tmp_path / "c"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(TinylargeError, match="notes.txt"):
        codegen(MODELS["ad"], out, measure_tflm_arena=False)
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("name", ["kws", "opzoo"])
def test_qemu_cortex_m4_bit_exact(name):
    code = generate(load_graph(MODELS[name]))
    result = verify(code, MODELS[name], "qemu", target="cortex-m4", n_random=4)
    assert result.bit_exact, result
    assert result.sizes["text"] > load_graph(MODELS[name]).weight_bytes  # weights in flash
    assert result.sizes["bss"] >= code.arena_bytes


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cortex-m0plus", "cortex-m7", "cortex-m33"])
def test_qemu_other_targets_bit_exact(target):
    code = generate(load_graph(MODELS["opzoo"]))
    assert verify(code, MODELS["opzoo"], "qemu", target=target, n_random=3).bit_exact
