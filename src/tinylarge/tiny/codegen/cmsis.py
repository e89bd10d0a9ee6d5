"""``--kernels cmsis-nn``: the generated C calls Arm's CMSIS-NN for the ops it has.

CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE/MAX_POOL_2D, SOFTMAX and same-shape ADD/MUL go
to CMSIS-NN's s8 functions with the arguments TFLM's ``kernels/cmsis_nn`` wrappers pass (original
weight layouts, per-channel multipliers and shifts); every other op keeps tinylarge's kernels. The
scratch each call needs (``ctx.buf``) is asked of CMSIS-NN itself -- its ``*_get_buffer_size_dsp``
functions, compiled and run on the host -- and planned in the arena like any tensor. CMSIS-NN's
kernels do not overwrite their inputs in a planned order, so these outputs never overlap inputs.

The user points at a CMSIS-NN tree (``Include/arm_nnfunctions.h``, ``Source/``); for Cortex-M
runs the s8 sources are built once per target into a static library cached by content hash.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tinylarge.errors import TinylargeError
from tinylarge.tiny import toolchain
from tinylarge.tiny.codegen import quantmath as qm
from tinylarge.tiny.codegen.lower_common import (
    SCRATCH,
    Context,
    Lowered,
    act_range,
    bias_data,
    c_array,
    const_data,
    scale,
    zero_point,
)
from tinylarge.tiny.codegen.lower_conv import conv_geometry
from tinylarge.tiny.graph import Op

CMSIS_OPS = (
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D",
    "SOFTMAX", "ADD", "MUL",
)  # fmt: skip
_SKIP = ("_f16", "_f32")  # float kernels need FP16 support; everything int is built


SHARED_CMSIS_NN = Path(
    "shared/third_party/tflite-micro/tensorflow/lite/micro/tools/make/downloads/cmsis_nn"
)


def find_shared_tree(start: Path | None = None) -> Path | None:
    """The CMSIS-NN copy in the project's ``../shared`` tree (TFLM's downloads, fixed commit):
    the first ancestor of ``start`` (this file) holding ``shared/third_party/...``."""
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        candidate = parent / SHARED_CMSIS_NN
        if (candidate / "Include" / "arm_nnfunctions.h").is_file():
            return candidate
    return None


def check_tree(path: str | Path) -> Path:
    root = Path(path)
    if not (root / "Include" / "arm_nnfunctions.h").is_file() or not (root / "Source").is_dir():
        raise TinylargeError(
            f"{str(root)!r} is not a CMSIS-NN tree (Include/arm_nnfunctions.h and Source/ expected)"
        )
    return root


def _sources(root: Path) -> list[Path]:
    return sorted(
        p for p in (root / "Source").glob("*/*.c")
        if p.parent.name != "Bindings" and not any(s in p.name for s in _SKIP)
    )  # fmt: skip


def library(path: str | Path, target: str, opt: str = "-O2") -> Path:
    """``libcmsis-nn.a`` for ``target``, built once and cached by a hash of the sources."""
    root = check_tree(path)
    tgt = toolchain.get_target(target)
    srcs = _sources(root)
    digest = hashlib.sha256()
    for p in srcs + sorted((root / "Include").rglob("*.h")):
        digest.update(p.name.encode() + p.read_bytes())
    digest.update(" ".join((*tgt.cpu_flags, opt)).encode())
    out = Path.home() / ".cache" / "tinylarge" / "cmsis_nn" / digest.hexdigest()[:16]
    lib = out / "libcmsis-nn.a"
    if lib.is_file():
        return lib
    out.mkdir(parents=True, exist_ok=True)
    cc, ar = toolchain.require_tool("arm-none-eabi-gcc"), toolchain.require_tool("arm-none-eabi-ar")
    with tempfile.TemporaryDirectory(prefix="cmsis_nn_", dir=out) as tmp:
        objs = []
        for i, src in enumerate(srcs):
            obj = Path(tmp) / f"{i}_{src.stem}.o"
            cmd = [cc, *tgt.cpu_flags, opt, "-ffunction-sections", "-fdata-sections",
                   f"-I{root / 'Include'}", "-c", str(src), "-o", str(obj)]  # fmt: skip
            res = subprocess.run(cmd, capture_output=True, timeout=300)
            if res.returncode != 0:
                raise TinylargeError(f"CMSIS-NN {src.name} failed to build: {res.stderr[-800:]!r}")
            objs.append(str(obj))
        partial = Path(tmp) / "lib.a"
        subprocess.run([ar, "rcs", str(partial), *objs], check=True, capture_output=True)
        partial.replace(lib)  # atomic: concurrent builders see a whole library or none
    return lib


def cmsis_build_inputs(path: str | Path, target: str) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """(sources to link, include directories) for a firmware using the CMSIS-NN backend."""
    root = check_tree(path)
    return (library(root, target),), (root / "Include",)


def _dims(name: str, n: int, h: int, w: int, c: int) -> str:
    return f"static const cmsis_nn_dims {name} = {{{n}, {h}, {w}, {c}}};"


def lower_cmsis(op: Op, ctx: Context) -> tuple[Lowered, str] | None:
    """(Lowered with a ``scratch_bytes`` to fill, C expression of the scratch size) for an op
    CMSIS-NN handles, or ``None`` (the op keeps tinylarge's kernel)."""
    fn = {
        "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _conv, "FULLY_CONNECTED": _fc,
        "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool, "SOFTMAX": _softmax,
        "ADD": _binary, "MUL": _binary,
    }.get(op.opcode)  # fmt: skip
    return fn(op, ctx) if fn else None


def _conv(op: Op, ctx: Context) -> tuple[Lowered, str] | None:
    x, w, y = ctx.t(op.inputs[0]), ctx.t(op.inputs[1]), ctx.t(op.outputs[0])
    depthwise = op.opcode == "DEPTHWISE_CONV_2D"
    if len(x.shape) != 4 or (not depthwise and w.shape[3] != x.shape[3]):
        return None  # grouped convolutions stay with tinylarge
    n, ih, iw, ic = x.shape
    _, oh, ow, oc = y.shape
    kh, kw = w.shape[1], w.shape[2]
    sh, sw, dh, dw, pad_h, pad_w = conv_geometry(op, ih, iw, kh, kw, oh, ow)
    wscale = w.scale if w.scale.size == oc else np.full(oc, w.scale[0], dtype=np.float32)
    mult, shift = qm.conv_multipliers(scale(x), wscale, scale(y))
    act_min, act_max = act_range(op, y)
    bias = bias_data(op, ctx, oc)
    name = f"op{op.index}"
    tiles = f"{{{sw}, {sh}}}, {{{pad_w}, {pad_h}}}, {{{dw}, {dh}}}, {{{act_min}, {act_max}}}"
    if depthwise:
        params = (
            f"static const cmsis_nn_dw_conv_params {name}_params = "
            f"{{{-zero_point(x)}, {zero_point(y)}, {oc // ic}, {tiles}}};"
        )
        fdims = _dims(f"{name}_fdims", 1, kh, kw, oc)
        fn, ptype = "arm_depthwise_conv_wrapper_s8", "dw_conv"
    else:
        params = (
            f"static const cmsis_nn_conv_params {name}_params = "
            f"{{{-zero_point(x)}, {zero_point(y)}, {tiles}}};"
        )
        fdims = _dims(f"{name}_fdims", oc, kh, kw, ic)
        fn, ptype = "arm_convolve_wrapper_s8", "conv"
    b = np.zeros(oc, np.int32) if bias is None else bias
    decls = [
        f"/* node {op.index}: {op.opcode} -> CMSIS-NN {fn} */",
        params,
        _dims(f"{name}_idims", n, ih, iw, ic), fdims, _dims(f"{name}_bdims", 1, 1, 1, oc),
        _dims(f"{name}_odims", n, oh, ow, oc),
        c_array("int8_t", f"{name}_filter", const_data(op, w, "filter"), 16),
        c_array("int32_t", f"{name}_bias", b, 8),
        c_array("int32_t", f"{name}_mult", mult, 8),
        c_array("int32_t", f"{name}_shift", shift, 16),
    ]  # fmt: skip
    call = (
        f"{{\n        cmsis_nn_context c = {{{SCRATCH}, @SB@}};\n"
        f"        cmsis_nn_per_channel_quant_params q = {{(int32_t *){name}_mult, "
        f"(int32_t *){name}_shift}};\n"
        f"        {fn}(&c, &{name}_params, &q, &{name}_idims, {ctx.ptr(x.index)}, "
        f"&{name}_fdims, {name}_filter, &{name}_bdims, {name}_bias, &{name}_odims, "
        f"{ctx.ptr(y.index)});\n    }}"
    )
    query = f"{fn}_get_buffer_size_dsp(&p, &i, &f, &o)"
    setup = (
        f"{{ cmsis_nn_{ptype}_params p; cmsis_nn_dims i = {{{n}, {ih}, {iw}, {ic}}}, "
        f"f = {{{oc if not depthwise else 1}, {kh}, {kw}, {ic if not depthwise else oc}}}, "
        f"o = {{{n}, {oh}, {ow}, {oc}}}; "
        f"memset(&p, 0, sizeof p); p.input_offset = {-zero_point(x)}; "
        f"p.output_offset = {zero_point(y)}; p.stride.w = {sw}; p.stride.h = {sh}; "
        f"p.padding.w = {pad_w}; p.padding.h = {pad_h}; p.dilation.w = {dw}; "
        f"p.dilation.h = {dh}; p.activation.min = {act_min}; p.activation.max = {act_max}; "
        + ("" if not depthwise else f"p.ch_mult = {oc // ic}; ")
        + f'printf("%ld\\n", (long){query}); }}'
    )
    return Lowered(fn, decls, call), setup


def _fc(op: Op, ctx: Context) -> tuple[Lowered, str] | None:
    x, w, y = ctx.t(op.inputs[0]), ctx.t(op.inputs[1]), ctx.t(op.outputs[0])
    out_depth, accum = w.shape
    batches = x.n_elements // accum
    per_channel = w.scale.size > 1
    if per_channel:
        mult, shift = qm.conv_multipliers(scale(x), w.scale, scale(y))
    else:
        m, s = qm.fc_multiplier(scale(x), float(w.scale[0]), scale(y))
        mult, shift = [m], [s]
    act_min, act_max = act_range(op, y)
    bias = bias_data(op, ctx, out_depth)
    name = f"op{op.index}"
    b = np.zeros(out_depth, np.int32) if bias is None else bias
    filter_offset = 0 if per_channel else -zero_point(w)
    decls = [
        f"/* node {op.index}: FULLY_CONNECTED -> CMSIS-NN arm_fully_connected_wrapper_s8 */",
        f"static const cmsis_nn_fc_params {name}_params = {{{-zero_point(x)}, "
        f"{filter_offset}, {zero_point(y)}, {{{act_min}, {act_max}}}}};",
        _dims(f"{name}_idims", batches, 1, 1, accum),
        _dims(f"{name}_fdims", accum, 1, 1, out_depth),
        _dims(f"{name}_bdims", 1, 1, 1, out_depth),
        _dims(f"{name}_odims", batches, 1, 1, out_depth),
        c_array("int8_t", f"{name}_filter", const_data(op, w, "filter"), 16),
        c_array("int32_t", f"{name}_bias", b, 8),
        c_array("int32_t", f"{name}_mult", mult, 8),
        c_array("int32_t", f"{name}_shift", shift, 16),
    ]  # fmt: skip
    call = (
        f"{{\n        cmsis_nn_context c = {{{SCRATCH}, @SB@}};\n"
        f"        cmsis_nn_quant_params q = {{(int32_t *){name}_mult, (int32_t *){name}_shift, "
        f"{int(per_channel)}}};\n"
        f"        arm_fully_connected_wrapper_s8(&c, &{name}_params, &q, &{name}_idims, "
        f"{ctx.ptr(x.index)}, &{name}_fdims, {name}_filter, &{name}_bdims, {name}_bias, "
        f"&{name}_odims, {ctx.ptr(y.index)});\n    }}"
    )
    setup = (
        f"{{ cmsis_nn_dims f = {{{accum}, 1, 1, {out_depth}}}; "
        f'printf("%ld\\n", (long)arm_fully_connected_s8_get_buffer_size_dsp(&f)); }}'
    )
    return Lowered("arm_fully_connected_wrapper_s8", decls, call), setup


def _pool(op: Op, ctx: Context) -> tuple[Lowered, str] | None:
    from tinylarge.tiny.codegen.lower_common import same_padding

    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    if len(x.shape) != 4:
        return None
    o = op.options
    n, ih, iw, c = x.shape
    _, oh, ow, _ = y.shape
    fh, fw, sh, sw = o["filter_h"], o["filter_w"], o["stride_h"], o["stride_w"]
    act_min, act_max = act_range(op, y)
    pad_h, pad_w = same_padding(op, sh, 1, ih, fh, oh), same_padding(op, sw, 1, iw, fw, ow)
    is_avg = op.opcode == "AVERAGE_POOL_2D"
    fn = "arm_avgpool_s8" if is_avg else "arm_max_pool_s8"
    name = f"op{op.index}"
    decls = [
        f"/* node {op.index}: {op.opcode} -> CMSIS-NN {fn} */",
        f"static const cmsis_nn_pool_params {name}_params = {{{{{sw}, {sh}}}, "
        f"{{{pad_w}, {pad_h}}}, {{{act_min}, {act_max}}}}};",
        _dims(f"{name}_idims", n, ih, iw, c), _dims(f"{name}_fdims", 1, fh, fw, 1),
        _dims(f"{name}_odims", n, oh, ow, c),
    ]  # fmt: skip
    call = (
        f"{{\n        cmsis_nn_context c = {{{SCRATCH}, @SB@}};\n"
        f"        {fn}(&c, &{name}_params, &{name}_idims, {ctx.ptr(x.index)}, &{name}_fdims, "
        f"&{name}_odims, {ctx.ptr(y.index)});\n    }}"
    )
    size = f"arm_avgpool_s8_get_buffer_size_dsp({ow}, {c})" if is_avg else "0"
    return Lowered(fn, decls, call), f'printf("%ld\\n", (long)({size}));'


def _softmax(op: Op, ctx: Context) -> tuple[Lowered, str] | None:
    x, y = ctx.t(op.inputs[0]), ctx.t(op.outputs[0])
    m, s, diff_min = qm.softmax_params(scale(x), float(op.options.get("beta", 1.0)))
    depth = x.shape[-1]
    call = (
        f"arm_softmax_s8({ctx.ptr(x.index)}, {x.n_elements // depth}, {depth}, {m}, {s}, "
        f"{diff_min}, {ctx.ptr(y.index)});"
    )
    decls = [f"/* node {op.index}: SOFTMAX -> CMSIS-NN arm_softmax_s8 */"]
    return Lowered("arm_softmax_s8", decls, call), 'printf("0\\n");'


def _binary(op: Op, ctx: Context) -> tuple[Lowered, str] | None:
    a, b, y = ctx.t(op.inputs[0]), ctx.t(op.inputs[1]), ctx.t(op.outputs[0])
    if not (tuple(a.shape) == tuple(b.shape) == tuple(y.shape)) or a.data is not None:
        return None  # broadcasting and constant operands stay with tinylarge
    if b.data is not None:
        return None
    act_min, act_max = act_range(op, y)
    args = f"{ctx.ptr(a.index)}, {ctx.ptr(b.index)}"
    if op.opcode == "ADD":
        mult, shift = qm.add_params(scale(a), scale(b), scale(y))
        call = (
            f"arm_elementwise_add_s8({args}, {-zero_point(a)}, {mult[0]}, {shift[0]}, "
            f"{-zero_point(b)}, {mult[1]}, {shift[1]}, 20, {ctx.ptr(y.index)}, {zero_point(y)}, "
            f"{mult[2]}, {shift[2]}, {act_min}, {act_max}, {y.n_elements});"
        )
    else:
        m, s = qm.mul_params(scale(a), scale(b), scale(y))
        call = (
            f"arm_elementwise_mul_s8({args}, {-zero_point(a)}, {-zero_point(b)}, "
            f"{ctx.ptr(y.index)}, {zero_point(y)}, {m}, {s}, {act_min}, {act_max}, "
            f"{y.n_elements});"
        )
    decls = [f"/* node {op.index}: {op.opcode} -> CMSIS-NN */"]
    return Lowered(call.split("(")[0], decls, call), 'printf("0\\n");'


def lower_all(path: str | Path, ops: list[Op], ctx: Context, fallback) -> list[Lowered]:
    """Lower ``ops``: CMSIS-NN where it has the op, ``fallback`` (tinylarge) elsewhere; then ask
    CMSIS-NN for every call's scratch size in one host run."""
    check_tree(path)
    lowered: list[Lowered] = []
    setups: list[tuple[int, str]] = []
    for i, op in enumerate(ops):
        got = lower_cmsis(op, ctx)
        if got is None:
            lowered.append(fallback(op, ctx))
            continue
        low, setup = got
        lowered.append(low)
        setups.append((i, setup))
    sizes = _run_setups(path, [s for _, s in setups])
    for (i, _), size in zip(setups, sizes, strict=True):
        low = lowered[i]
        low.scratch_bytes = (size + 3) // 4 * 4
        low.call = low.call.replace("@SB@", str(size))
        if size == 0:
            low.call = low.call.replace(SCRATCH, "NULL")
    return lowered


def _run_setups(path: str | Path, setups: list[str]) -> list[int]:
    if not setups:
        return []
    root = check_tree(path)
    srcs = list((root / "Source").glob("*/*get_buffer_size*s8*.c"))
    srcs += list((root / "Source").glob("PoolingFunctions/arm_avgpool_s8.c"))
    body = "\n".join(f"  {s}" for s in setups)
    with tempfile.TemporaryDirectory(prefix="cmsis_sizes_") as tmp:
        main = Path(tmp) / "main.c"
        main.write_text(
            '#include <stdio.h>\n#include <string.h>\n#include "arm_nnfunctions.h"\n'
            f"int main(void) {{\n{body}\n  return 0;\n}}\n"
        )
        exe = Path(tmp) / "sizes"
        cmd = [toolchain.require_tool("gcc"), "-O1", f"-I{root / 'Include'}", str(main),
               *map(str, srcs), "-o", str(exe)]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, timeout=300)
        if res.returncode != 0:
            raise TinylargeError(f"CMSIS-NN buffer sizes: {res.stderr.decode()[-800:]}")
        out = subprocess.run([str(exe)], capture_output=True, check=True, timeout=60)
    return [max(int(v), 0) for v in out.stdout.split()]
