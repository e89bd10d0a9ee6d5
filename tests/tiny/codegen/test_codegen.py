"""End to end: .tflite -> C -> compiled -> every output byte equal to the TFLM interpreter."""

from __future__ import annotations

import re
import subprocess

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from tinylarge.errors import TinylargeError
from tinylarge.tiny import toolchain
from tinylarge.tiny.arena_probe import measure_arena_head_bytes
from tinylarge.tiny.codegen import codegen
from tinylarge.tiny.codegen.emit import generate
from tinylarge.tiny.codegen.lower import LOWERINGS, UnsupportedOpError
from tinylarge.tiny.codegen.verify import run_host_c, verify
from tinylarge.tiny.graph import load_graph
from tinylarge.tiny.runtime import TflmRuntime

from .conftest import MODELS, QEMU_MODELS

# The op list of the issue, each covered by a model of TF's converter and one of litert-torch
OP_LIST = (
    "RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "TANH", "LOGISTIC", "PRELU", "ADD", "SUB",
    "MUL", "CONCATENATION", "STRIDED_SLICE", "SLICE", "SPLIT", "TRANSPOSE", "PAD",
    "RESIZE_NEAREST_NEIGHBOR", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN", "FULLY_CONNECTED",
    "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "QUANTIZE",
)  # fmt: skip


def test_host_bit_exact_with_tflm(model_path):
    code = generate(load_graph(model_path))
    result = verify(code, model_path, "host", n_random=16, seed=3)
    assert result.n_samples == 16
    assert result.bit_exact, result


@pytest.mark.parametrize("name", QEMU_MODELS)
def test_qemu_cortex_m4_bit_exact(name):
    """The DSP kernels (SMLAD, SXTB16, SMMLAR) on an emulated Cortex-M4."""
    code = generate(load_graph(MODELS[name]))
    result = verify(code, MODELS[name], "qemu", target="cortex-m4", n_random=4)
    assert result.bit_exact, result
    assert result.sizes["bss"] >= code.arena_bytes


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cortex-m0plus", "cortex-m7", "cortex-m33"])
@pytest.mark.parametrize("name", ["kws", "torchops", "tf_convnet"])
def test_qemu_other_targets_bit_exact(target, name):
    code = generate(load_graph(MODELS[name]))
    assert verify(code, MODELS[name], "qemu", target=target, n_random=3).bit_exact


# litert-torch never emits these three as int8 ops of their own: it fuses RELU6 into the
# convolution or ADD before it, lowers nn.PReLU to RELU/MUL/SUB and torch.split to SLICEs (all
# covered); TF's converter emits them (tf_convnet, tf_activations, tf_tensor_ops).
TF_ONLY = {"RELU6", "PRELU", "SPLIT"}


def test_both_converters_cover_the_op_list():
    """Every op of the list appears in a TF-converter model and (but for TF_ONLY) in a
    litert-torch model among the fixtures, so the bit-exact tests above exercise each op as both
    converters emit it."""
    tf = {op.opcode for n in MODELS if n.startswith("tf_") for op in load_graph(MODELS[n]).ops}
    torch = {
        op.opcode for n in ("opzoo", "timenet", "student", "torchops", "torchacts")
        for op in load_graph(MODELS[n]).ops
    }  # fmt: skip
    assert set(OP_LIST) <= set(LOWERINGS)
    assert not set(OP_LIST) - tf, set(OP_LIST) - tf
    assert "DEQUANTIZE" in tf
    assert set(OP_LIST) - torch == TF_ONLY


@pytest.mark.parametrize("overlap,fuse", [(False, False), (True, False), (False, True)])
def test_memory_options_never_change_outputs(overlap, fuse):
    """The PAD kernel (unfused) and the plain planner (no overlap) stay bit-exact too."""
    code = generate(load_graph(MODELS["opzoo"]), overlap=overlap, fuse=fuse)
    assert ("tl_pad_s8" in code.kernels) == (not fuse)
    assert verify(code, MODELS["opzoo"], "host", n_random=8, seed=1).bit_exact


def test_overlap_planning_lowers_the_arena():
    """On KWS, outputs written over the rows their inputs no longer need save a 8000-byte
    activation: the arena drops below TFLM's planned activation memory by far."""
    graph = load_graph(MODELS["kws"])
    overlapped, plain = generate(graph), generate(graph, overlap=False)
    assert overlapped.plan.n_overlapping >= 8
    assert overlapped.arena_bytes < plain.arena_bytes - 6000
    head = measure_arena_head_bytes(MODELS["kws"].read_bytes())
    assert head == 16000  # TFLM's x86 printout (tool facts in DESIGN.md)
    assert overlapped.arena_bytes <= 0.6 * head


def test_streamed_first_stage_never_materialises_its_largest_tensor():
    """MCUNetV2-style: on the mnist student, its first convolution (28x28x12 = 9408 B out) runs
    row by row into the stride-2 convolution after it; the arena halves, the bytes stay
    TFLM's on the host and on the Cortex-M4."""
    graph = load_graph(MODELS["student"])
    streamed, plain = generate(graph), generate(graph, stream=False)
    assert streamed.streamed_ops == [0]
    assert streamed.arena_bytes < 0.5 * plain.arena_bytes
    assert streamed.arena_bytes < 9408
    for mode in ("host", "qemu"):
        assert verify(streamed, MODELS["student"], mode, n_random=4).bit_exact


def test_arena_never_above_tflm_planned_memory(model_path):
    """(our arena, I/O included) <= TFLM's arena head (I/O included) on every fixture."""
    code = generate(load_graph(model_path))
    assert code.arena_bytes <= measure_arena_head_bytes(model_path.read_bytes())


def test_pad_before_strided_conv_is_folded():
    """PT2E emits PAD -> CONV(VALID); folding it removes the padded copy from the arena."""
    graph = load_graph(MODELS["opzoo"])
    fused, plain = generate(graph), generate(graph, fuse=False)
    assert [graph.ops[i].opcode for i in fused.fused_ops] == ["PAD", "PAD"]
    assert "PAD" not in fused.ops
    assert fused.arena_bytes <= plain.arena_bytes


def test_host_bit_exact_on_extreme_inputs():
    """All -128 / all 127 inputs push every clamp and saturation path."""
    for name in ("kws", "opzoo", "tf_activations"):
        rt = TflmRuntime(MODELS[name])
        shape = rt.input_shape[1:]
        x = np.stack([np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)])
        got = run_host_c(generate(load_graph(MODELS[name])), x)
        np.testing.assert_array_equal(got, rt.invoke_int8(x).reshape(2, -1))


def test_float_io_model_quantizes_and_dequantizes_like_tflm():
    """QUANTIZE in and DEQUANTIZE out at the edges: float bits equal TFLM's."""
    code = generate(load_graph(MODELS["tf_float_io"]))
    assert code.input.float_index is not None and code.output.float_index is not None
    assert "int tl_model_invoke_f32(const float *input, float *output);" in code.files["tl_model.h"]
    assert verify(code, MODELS["tf_float_io"], "host", n_random=32).bit_exact


def test_float_io_tensors_live_in_the_arena_within_tflm_planned_bytes(tmp_path):
    """As TFLM plans its float input(0)/output(0) inside its arena, the float tensors are arena
    tensors: <prefix>_input()/_output() are float pointers into it (the caller writes and reads in
    place, as verify's harness does), nothing lies outside, and the arena holding them is no
    larger than TFLM's planned activation memory (I/O included)."""
    path = MODELS["tf_float_io"]
    graph = load_graph(path)
    code = generate(graph)
    f_in, f_out = code.input.float_index, code.output.float_index
    for t in (f_in, f_out):
        assert graph.tensors[t].dtype == np.float32
        assert code.plan.location[t] + graph.tensors[t].size_bytes <= code.arena_bytes
    src, header = code.files["tl_model.c"], code.files["tl_model.h"]
    assert "float *tl_model_input(void);" in header and "float *tl_model_output(void);" in header
    for name, t in (("input", f_in), ("output", f_out)):
        assert (
            f"float *tl_model_{name}(void) {{\n"
            f"    return (float *)((int8_t *)tl_model_arena_words + {code.plan.location[t]});"
        ) in src
    result = codegen(path, tmp_path / "c", measure_tflm_arena=True)
    assert result.io_bytes_outside_arena == 0
    assert result.arena_bytes == code.arena_bytes <= result.tflm_arena_head_bytes
    assert result.memory_ratio <= 1.0
    # in place both ways (int8 input over the float input, float output over the int8 output)
    assert code.plan.location[f_in] == code.plan.location[code.input.index]
    assert code.plan.location[f_out] == code.plan.location[code.output.index]
    assert verify(code, path, "qemu", n_random=4).bit_exact  # in place, via the harness
    # the caller's own buffers give the same float bits as in place (host, -Werror)
    main = tmp_path / "main.c"
    main.write_text(FLOAT_IO_MAIN)
    cc = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{tmp_path / 'c'}"]
    srcs = sorted(str(p) for p in (tmp_path / "c").glob("*.c"))
    subprocess.run([*cc, *srcs, str(main), "-o", str(tmp_path / "app")], check=True)
    assert subprocess.run([str(tmp_path / "app")]).returncode == 0


FLOAT_IO_MAIN = r"""
#include <string.h>
#include "tl_model.h"
int main(void) {
  static float in[TL_MODEL_INPUT_SIZE], out[TL_MODEL_OUTPUT_SIZE];
  int i;
  for (i = 0; i < TL_MODEL_INPUT_SIZE; ++i) in[i] = (float)((i * 37) % 101 - 50) / 25.0f;
  if (tl_model_invoke_f32(in, out) != 0) return 1;
  memcpy(tl_model_input(), in, sizeof in);
  if (tl_model_invoke_f32(NULL, NULL) != 0) return 2;
  return memcmp(out, tl_model_output(), sizeof out) == 0 ? 0 : 3;
}
"""


def test_directory_compiles_with_callers_main(tmp_path):
    """DIR holds only .c/.h files; `cc -std=c99 -Wall -Wextra -Werror DIR/*.c main.c` builds; the
    header gives shapes, scales and zero points; weights are const and the arena is the only
    mutable array."""
    out = tmp_path / "kws_c"
    result = codegen(MODELS["kws"], out, prefix="kws", measure_tflm_arena=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["kws.c", "kws.h", "kws_kernels.h", "kws_arith.h", "kws_conv.c", "kws_pool.c",
         "kws_elementwise.c", "kws_softmax.c", "kws_data.c"]
    )  # fmt: skip
    header = (out / "kws.h").read_text()
    rt = TflmRuntime(MODELS["kws"])
    for define in (
        "KWS_INPUT_SIZE 490",
        "KWS_OUTPUT_SIZE 12",
        "KWS_INPUT_SHAPE {1, 49, 10, 1}",
        f"KWS_INPUT_ZERO_POINT {rt.input_zero_point}",
        f"KWS_OUTPUT_ZERO_POINT {rt.output_zero_point}",
        f"KWS_ARENA_BYTES {result.arena_bytes}",
    ):
        assert f"#define {define}" in header
    scale = re.search(r"#define KWS_INPUT_SCALE (\S+)f", header).group(1)
    assert np.float32(float(scale)) == np.float32(rt.input_scale)
    for decl in (
        "int kws_invoke(const int8_t *input, int8_t *output);",
        "int8_t *kws_input(void);",
        "int8_t *kws_output(void);",
    ):
        assert decl in header
    source = (out / "kws.c").read_text()
    assert "generated - do not edit" in source and load_graph(MODELS["kws"]).sha256 in source
    assert "static const uint32_t op0_filter[" in source
    assert len(re.findall(r"^static (?!const)\w", source, flags=re.M)) == 1  # the arena
    kernels = "".join(p.read_text() for p in out.glob("kws_*.c"))
    for banned in ("malloc", "stdio", "printf"):
        assert banned not in source + kernels
    main = tmp_path / "main.c"
    main.write_text(
        '#include "kws.h"\nint main(void) {\n  static int8_t in[KWS_INPUT_SIZE];\n'
        "  static int8_t out[KWS_OUTPUT_SIZE];\n  int r = kws_invoke(in, out);\n"
        "  return r + kws_invoke(kws_input(), kws_output());\n}\n"
    )
    cc = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{out}"]
    srcs = sorted(str(p) for p in out.glob("*.c"))
    subprocess.run([*cc, *srcs, str(main), "-o", str(tmp_path / "app")], check=True)
    assert subprocess.run([str(tmp_path / "app")]).returncode == 0


TWO_MODELS_MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "kws.h"
#include "ad.h"
int main(void) {
  int i;
  memset(kws_input(), 7, KWS_INPUT_SIZE);
  memset(ad_input(), -3, AD_INPUT_SIZE);
  if (kws_invoke(NULL, NULL) || ad_invoke(NULL, NULL)) return 3;
  for (i = 0; i < KWS_OUTPUT_SIZE; ++i) printf("%02x", (unsigned)(uint8_t)kws_output()[i]);
  printf("\n");
  for (i = 0; i < AD_OUTPUT_SIZE; ++i) printf("%02x", (unsigned)(uint8_t)ad_output()[i]);
  printf("\n");
  return 0;
}
"""


def test_two_models_link_into_one_cortex_m4_firmware(tmp_path):
    """Everything each model defines carries its prefix (or is static): KWS and AD link into one
    firmware, run on QEMU, and both answer like TFLM."""
    srcs = []
    for prefix in ("kws", "ad"):
        code = generate(load_graph(MODELS[prefix]), prefix=prefix)
        for name, text in code.files.items():
            (tmp_path / name).write_text(text)
            if name.endswith(".c"):
                srcs.append(tmp_path / name)
    (tmp_path / "main.c").write_text(TWO_MODELS_MAIN)
    tgt = toolchain.get_target("cortex-m4")
    elf = toolchain.compile_target(tgt, [*srcs, tmp_path / "main.c"], tmp_path / "app.elf")
    rc, out = toolchain.run_qemu(tgt, elf)
    assert rc == 0, out
    lines = out.split()
    for name, fill, line in (("kws", 7, lines[0]), ("ad", -3, lines[1])):
        rt = TflmRuntime(MODELS[name])
        x = np.full((1, *rt.input_shape[1:]), fill, np.int8)
        assert bytes.fromhex(line) == rt.invoke_int8(x).astype(np.int8).tobytes()


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
    assert "RELU6" in str(info.value)  # the valid ops are listed
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_unsupported_parameter_is_named():
    g = load_graph(MODELS["kws"])
    g.ops[0].options["fused_activation"] = "TANH"
    with pytest.raises(UnsupportedOpError, match=r"CONV_2D \(node 0\): fused activation TANH"):
        generate(g)


def test_bad_prefix_backend_and_foreign_output_dir(tmp_path):
    with pytest.raises(TinylargeError, match="not a C identifier"):
        generate(load_graph(MODELS["ad"]), prefix="2bad")
    with pytest.raises(TinylargeError, match="unknown kernels 'cudnn'.*cmsis-nn"):
        generate(load_graph(MODELS["ad"]), kernels="cudnn")
    out = tmp_path / "c"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(TinylargeError, match="notes.txt"):
        codegen(MODELS["ad"], out, measure_tflm_arena=False)
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("name", ["kws", "tf_transpose_conv", "tf_activations"])
def test_reference_fallbacks_are_bit_exact_too(monkeypatch, name):
    """When a requantization does not fit the one-multiply form the generator falls back to
    TFLM's loops (conv, depthwise, FC, transpose conv, binary ops): forced here everywhere."""
    from tinylarge.tiny.codegen import quantmath

    monkeypatch.setattr(quantmath, "fast_requant_table", lambda *a, **k: None)
    code = generate(load_graph(MODELS[name]))
    assert {"tl_conv_ref_s8", "tl_fully_connected_ref_s8"} & set(code.kernels) or name != "kws"
    assert verify(code, MODELS[name], "host", n_random=6).bit_exact
