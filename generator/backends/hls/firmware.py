"""Render the typed, folded graph into HLS C++ firmware (plain data -> Jinja2 templates).

Nothing about arithmetic is decided here: tensor types come from ``infer_precision``,
the nonzero lists from the weights (``passes.sparsity.nonzero_lists``) and the folded
schedules from ``passes.folding.schedule``. This module only turns them into text:

* ``defines.h``  one ``typedef`` per tensor (``FixedType.cpp()``) and per constant array;
* ``weights.h``  constant arrays as raw integers (nonzero weights only; the ``[R][M]``
  ROM schedules of folded layers; tables);
* ``layers/<layer>.h``  one function per node: latency Dense layers are unrolled sums
  over each output's nonzero inputs (a pruned weight emits no multiply); resource Dense
  layers loop ``R`` times over ``M`` multipliers reading the schedule ROMs;
* ``<top>.cpp/.h``  the top function: ``io_parallel`` passes arrays between layer
  functions; ``io_stream`` is a DATAFLOW region of processes connected by streams of
  one word per spatial position (``.dataflow`` models them and sizes the FIFOs).

Conv layers are a window driver (``nnfab::window_array`` / the line-buffer
``nnfab::window_stream``) around a generated per-window kernel: the Dense latency sums
over the window, one multiply per nonzero weight; with reuse ``R > 1`` the kernel is the
folded loop of the per-pixel matmul ``window @ conv_matrix`` (the schedule of
``passes.folding.schedule_matrix``, as a resource Dense: ``R`` iterations of ``M``
multipliers, II ``R`` per window).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from functools import singledispatch
from typing import Any

import jinja2
import numpy as np

from ...fixed import FixedType
from ...ir import (
    Add,
    Binarize,
    Clip,
    Concat,
    Conv,
    Crop,
    Dense,
    Embedding,
    GlobalPool,
    Graph,
    Input,
    LeakyRelu,
    Merge,
    Node,
    Pad,
    Pool,
    Quantize,
    Relu,
    Reshape,
    ScaleShift,
    Softmax,
    Table,
    Tensor,
    Ternarize,
    Threshold,
    Transpose,
    Upsample,
)
from ...passes.folding import (
    Schedule,
    conv_matrix,
    schedule,
    schedule_matrix,
    shift_code,
    shift_mode,
)
from ...passes.sparsity import nonzero_lists
from . import dataflow

#: Latency Dense layers with more nonzero weights than this are C-simulated as loops
#: over the same nonzero arrays (``NNFAB_CSIM_LOOPS``) so the C-sim build stays fast;
#: synthesis always sees the unrolled sums.
CSIM_UNROLL_LIMIT = 2048

#: Constant arrays with at least this many values are written to ``weights/<name>.h``
#: (the C initializer, read by synthesis) and ``weights/<name>.bin`` (the same raw
#: values, little-endian), which the C-sim embeds with the assembler's ``.incbin``
#: (``NNFAB_CSIM_INCBIN``) instead of parsing megabytes of C text.
EXTERNAL_MIN = 16384

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TEMPLATES = os.path.join(ROOT, "hls_templates")

_CPP_KEYWORDS = {
    "and", "auto", "bool", "break", "case", "char", "class", "const", "continue", "default",
    "delete", "do", "double", "else", "enum", "extern", "float", "for", "goto", "if", "int",
    "long", "new", "not", "or", "private", "public", "return", "short", "signed", "sizeof",
    "static", "struct", "switch", "template", "this", "typedef", "union", "unsigned", "void",
    "volatile", "while", "xor", "main", "in", "out",
}


class HlsError(ValueError):
    """A graph the HLS backend cannot render."""


class ConvReuseError(HlsError):
    """A Conv layer with a reuse factor outside ``1..nonzero weights``."""


def c_ident(name: str) -> str:
    """A C identifier for ``name`` (non-identifier characters become ``_``)."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", name)
    if not s or s[0].isdigit():
        s = "n_" + s
    return s


def top_name(g: Graph) -> str:
    """The top function name: the graph name as a C identifier (e.g. ``mlp8``)."""
    s = c_ident(g.name).lower()
    return s if s not in _CPP_KEYWORDS else s + "_top"


class Names:
    """Allocates unique C identifiers."""

    def __init__(self, reserved: set[str]) -> None:
        self.used = set(reserved) | _CPP_KEYWORDS

    def take(self, base: str) -> str:
        name = c_ident(base)
        cand, i = name, 1
        while cand in self.used:
            cand = f"{name}_{i}"
            i += 1
        self.used.add(cand)
        return cand


def ctype_for(data: np.ndarray) -> str:
    """The smallest ``<stdint.h>`` type holding every value of ``data``."""
    lo = int(data.min(initial=0))
    hi = int(data.max(initial=0))
    for bits in (8, 16, 32, 64):
        if lo < 0:
            if -(1 << (bits - 1)) <= lo and hi < (1 << (bits - 1)):
                return f"int{bits}_t"
        elif hi < (1 << bits):
            return f"uint{bits}_t"
    raise HlsError(f"constant values {lo}..{hi} do not fit 64 bits")


_NP_TYPES = {f"{s}int{b}_t": f"{s}int{b}" for s in ("", "u") for b in (8, 16, 32, 64)}


def _c_literal(v: int, ctype: str) -> str:
    if ctype == "int64_t" and v == -(1 << 63):
        return "(-9223372036854775807LL - 1)"
    suffix = "LL" if ctype.endswith("64_t") else ""
    if ctype.startswith("u") and suffix:
        suffix = "ULL"
    return f"{v}{suffix}"


def array_body(data: np.ndarray, ctype: str) -> str:
    """A C initializer for ``data`` (1-D or 2-D), 24 values per line."""
    def flat(a: np.ndarray) -> str:
        vals = [_c_literal(int(v), ctype) for v in a.reshape(-1).tolist()]
        lines = [", ".join(vals[i:i + 24]) for i in range(0, len(vals), 24)]
        return "{\n    " + ",\n    ".join(lines) + "}" if vals else "{0}"

    if data.ndim == 2:
        return "{\n" + ",\n".join(flat(row) for row in data) + "}"
    return flat(data)


@dataclass
class Ctx:
    """What the templates render: tensors' C names and types, arrays, layers."""

    g: Graph
    io: str
    names: Names
    tensor_type: dict[str, str] = field(default_factory=dict)
    tensor_var: dict[str, str] = field(default_factory=dict)
    word_type: dict[str, str] = field(default_factory=dict)
    const_types: list[dict[str, str]] = field(default_factory=list)
    arrays: list[dict[str, Any]] = field(default_factory=list)

    def const_type(self, base: str, t: FixedType) -> str:
        return self.const_cpp(base, t.cpp())

    def const_cpp(self, base: str, cpp: str) -> str:
        name = self.names.take(base + "_t")
        self.const_types.append({"name": name, "cpp": cpp})
        return name

    def size(self, t: Tensor) -> int:
        """Values one call of a layer function handles: the tensor (parallel), a word (stream)."""
        return dataflow.word_size(t) if self.io == "stream" else t.size

    def array(self, base: str, data: np.ndarray, comment: str, csim_only: bool = False) -> str:
        name = self.names.take(base)
        data = np.asarray(data, dtype=np.int64)
        ctype = ctype_for(data)
        dims = "".join(f"[{max(1, d)}]" for d in data.shape)
        self.arrays.append({
            "name": name, "ctype": ctype, "dims": dims, "comment": comment,
            "body": array_body(data, ctype), "csim_only": csim_only, "data": data,
            "external": data.size >= EXTERNAL_MIN,
        })
        return name


def _base(node: Node, ctx: Ctx, kind: str) -> dict[str, Any]:
    fn = ctx.names.take("layer_" + node.name)
    ins = [{"name": "x" if len(node.inputs) == 1 else f"x{i}", "type": ctx.tensor_type[t.name],
            "w": ctx.word_type.get(t.name, ""), "n": ctx.size(t)} for i, t in enumerate(node.inputs)]
    return {
        "kind": kind,
        "op": node.OP,
        "name": node.name,
        "name_c": c_ident(node.name),
        "fn": fn,
        # the function computing one call's values: the layer itself (parallel) or one
        # word of it, called by the stream process {fn} once per word
        "fn_body": ctx.names.take(fn + "_word") if ctx.io == "stream" else fn,
        "ins": ins,
        "in_type": ctx.tensor_type[node.input.name],
        "out_type": ctx.tensor_type[node.output.name],
        "in_w": ctx.word_type.get(node.input.name, ""),
        "out_w": ctx.word_type.get(node.output.name, ""),
        "n_in": ctx.size(node.input),
        "n_out": ctx.size(node.output),
        "words": dataflow.words(node.output),
        "reuse": 1,
    }


@singledispatch
def layer_data(node: Node, ctx: Ctx) -> dict[str, Any]:
    """Template data of one node's layer function (dispatch on the op class: the
    registered functions below are the HLS view's lowering of each op)."""
    raise HlsError(unsupported(node.name, node.OP))


#: the ops the top function renders itself (:func:`_plan_parallel`,
#: :func:`_plan_stream`), not by a layer function: the input is its argument
PLANNED: tuple[type[Node], ...] = (Input,)


def lowered() -> tuple[type[Node], ...]:
    """The op classes with a layer function (:func:`layer_data`), in registration order."""
    return tuple(c for c in layer_data.registry if c is not object and c is not Node)


def unsupported(name: str, op: str) -> str:
    """The one-line refusal of layer ``name`` of op ``op`` with no layer function."""
    return (f"layer {name}: the HLS backend has no kernel for op {op}; supported: "
            + ", ".join(c.OP for c in lowered()))


def _elementwise(node: Node, ctx: Ctx, call: str) -> dict[str, Any]:
    d = _base(node, ctx, "elementwise")
    d["call"] = call
    return d


def _targs(node: Node, ctx: Ctx) -> str:
    return f"{ctx.tensor_type[node.input.name]}, {ctx.tensor_type[node.output.name]}, {ctx.size(node.output)}"


@layer_data.register
def _quantize(node: Quantize, ctx: Ctx) -> dict[str, Any]:
    return _elementwise(node, ctx, f"nnfab::cast<{_targs(node, ctx)}>(x, y)")


@layer_data.register
def _reshape(node: Reshape, ctx: Ctx) -> dict[str, Any]:
    if ctx.io == "stream":  # regroup the words (Flatten collects the tensor into one)
        ti, to = node.input, node.output
        return _call(node, ctx, f"nnfab::regroup<{ctx.tensor_type[ti.name]}, {ctx.tensor_type[to.name]}, "
                                f"{dataflow.words(ti)}, {dataflow.word_size(ti)}, "
                                f"{dataflow.word_size(to)}>(x, y)")
    return _elementwise(node, ctx, f"nnfab::copy<{_targs(node, ctx)}>(x, y)")


@layer_data.register
def _relu(node: Relu, ctx: Ctx) -> dict[str, Any]:
    return _elementwise(node, ctx, f"nnfab::relu<{_targs(node, ctx)}>(x, y)")


@layer_data.register
def _clip(node: Clip, ctx: Ctx) -> dict[str, Any]:
    lo, hi = node["lo_raw"], node["hi_raw"]
    return _elementwise(node, ctx, f"nnfab::clip<{_targs(node, ctx)}, {lo}LL, {hi}LL>(x, y)")


@layer_data.register
def _leaky_relu(node: LeakyRelu, ctx: Ctx) -> dict[str, Any]:
    # (the shift is the IR's invariant out.frac == neg.frac + shift: raw values agree)
    tn = ctx.const_type(f"{node.name}_neg", node["neg"])
    ti, to = ctx.tensor_type[node.input.name], ctx.tensor_type[node.output.name]
    return _elementwise(node, ctx, f"nnfab::leaky_relu<{ti}, {to}, {tn}, "
                                   f"{ctx.size(node.output)}>(x, y)")


@layer_data.register
def _binarize(node: Binarize, ctx: Ctx) -> dict[str, Any]:
    return _elementwise(node, ctx, f"nnfab::binarize<{_targs(node, ctx)}>(x, y)")


@layer_data.register
def _ternarize(node: Ternarize, ctx: Ctx) -> dict[str, Any]:
    thr = int(node["threshold_raw"])
    return _elementwise(node, ctx, f"nnfab::ternarize<{_targs(node, ctx)}, {thr}LL>(x, y)")


@layer_data.register
def _threshold(node: Threshold, ctx: Ctx) -> dict[str, Any]:
    thr, lev = node.weights["thresholds"], node.weights["levels"]
    t2, l2 = node.tables()
    c, n = t2.shape
    ta = ctx.array(f"{node.name}_thr", t2.reshape(-1),
                   f"{node.name}: {node['function']} thresholds, raw {thr.ftype.cpp()}")
    la = ctx.array(f"{node.name}_lev", l2.reshape(-1),
                   f"{node.name}: {node['function']} levels, raw {lev.ftype.cpp()}")
    call = f"nnfab::threshold<{_targs(node, ctx)}, {n}, {c}>(x, y, {ta}, {la})"
    return _elementwise(node, ctx, call)


@layer_data.register
def _table(node: Table, ctx: Ctx) -> dict[str, Any]:
    w = node.weights["table"]
    if w.ftype != node.output.ftype:
        raise HlsError(f"layer {node.name}: table type {w.ftype} differs from its output type")
    tab = ctx.array(f"{node.name}_table", w.data, f"{node.name}: {node['function']} table, {w.ftype.cpp()}")
    call = (f"nnfab::table<{_targs(node, ctx)}, {int(node['index_shift'])}, "
            f"{int(node['index_offset'])}LL, {len(w.data)}>(x, y, {tab})")
    return _elementwise(node, ctx, call)


@layer_data.register
def _embedding(node: Embedding, ctx: Ctx) -> dict[str, Any]:
    w = node.weights["table"]
    if ctx.io == "stream":
        raise HlsError(f"layer {node.name}: Embedding is supported with io parallel")
    if w.ftype != node.output.ftype:
        raise HlsError(f"layer {node.name}: table type {w.ftype} differs from its output type")
    rows, d = w.data.shape
    tab = ctx.array(f"{node.name}_table", w.data.reshape(-1),
                    f"{node.name}: embedding table, {rows} rows of {d}, {w.ftype.cpp()}")
    call = (f"nnfab::embedding<{ctx.tensor_type[node.input.name]}, "
            f"{ctx.tensor_type[node.output.name]}, {ctx.size(node.input)}, {d}, "
            f"{int(node['index_shift'])}, {int(node['index_offset'])}LL, {rows}>(x, y, {tab})")
    return _elementwise(node, ctx, call)


@layer_data.register
def _softmax(node: Softmax, ctx: Ctx) -> dict[str, Any]:
    et, it = node.weights["exp_table"], node.weights["inv_table"]
    n = node.output.shape[-1]
    if ctx.size(node.output) != n:
        raise HlsError(f"layer {node.name}: softmax over a multi-dimensional tensor is not supported")
    te = ctx.const_type(f"{node.name}_exp", et.ftype)
    ti = ctx.const_type(f"{node.name}_inv", it.ftype)
    grow = max(1, int(n - 1).bit_length()) + 1
    ts = ctx.const_type(
        f"{node.name}_sum",
        FixedType(et.ftype.width + grow, et.ftype.integer + grow, et.ftype.signed),
    )
    ea = ctx.array(f"{node.name}_exp_table", et.data, f"{node.name}: exp table, {et.ftype.cpp()}")
    ia = ctx.array(f"{node.name}_inv_table", it.data, f"{node.name}: 1/x table, {it.ftype.cpp()}")
    call = (f"nnfab::softmax<{ctx.tensor_type[node.input.name]}, {ctx.tensor_type[node.output.name]}, "
            f"{te}, {ti}, {ts}, {n}, {int(node['exp_shift'])}, {len(et.data)}, "
            f"{int(node['inv_shift'])}, {len(it.data)}>(x, y, {ea}, {ia})")
    return _elementwise(node, ctx, call)


@layer_data.register
def _scaleshift(node: ScaleShift, ctx: Ctx) -> dict[str, Any]:
    s, t = node.weights["scale"], node.weights["shift"]
    c = node.output.shape[-1]
    tsn = ctx.const_type(f"{node.name}_scale", s.ftype)
    ttn = ctx.const_type(f"{node.name}_shift", t.ftype)
    sa = ctx.array(f"{node.name}_scale", np.broadcast_to(s.data, (c,)), f"{node.name}: scale")
    ta = ctx.array(f"{node.name}_shift", np.broadcast_to(t.data, (c,)), f"{node.name}: shift")
    call = (f"nnfab::scale_shift<{ctx.tensor_type[node.input.name]}, "
            f"{ctx.tensor_type[node.output.name]}, {tsn}, {ttn}, {ctx.size(node.output)}, {c}>"
            f"(x, y, {sa}, {ta})")
    return _elementwise(node, ctx, call)


def _check_dense_types(node: Dense | Conv) -> None:
    w = node.weights["weight"]
    b = node.weights.get("bias")
    out, x = node.output.ftype, node.input.ftype
    if out.frac < x.frac + w.ftype.frac or (b is not None and out.frac < b.ftype.frac):
        raise HlsError(
            f"layer {node.name}: output type {out} has fewer fraction bits than its products "
            "or bias; re-run the pass pipeline (infer_precision)"
        )


@layer_data.register
def _dense(node: Dense, ctx: Ctx) -> dict[str, Any]:
    _check_dense_types(node)
    w = node.weights["weight"]
    b = node.weights.get("bias")
    fan_in, units = w.data.shape
    rows = ctx.size(node.input) // fan_in
    folded = node["strategy"] == "resource"
    d = _base(node, ctx, "dense_resource" if folded else "dense_latency")
    d.update({
        "fan_in": fan_in, "units": units, "rows": rows, "n_weights": int(w.data.size),
        "w_type": ctx.const_type(f"{node.name}_w", w.ftype), "w_cpp": w.ftype.cpp(),
        "bias": b is not None,
    })
    if b is not None:
        d["b_type"] = ctx.const_type(f"{node.name}_b", b.ftype)
        d["b"] = ctx.array(f"{node.name}_b", b.data, f"{node.name}: bias, {b.ftype.cpp()}")
    if folded:
        _folded_arrays(d, node, schedule(node), ctx)
        d["mul_lut"] = node["multipliers"] == "lut"
        return d
    lists = nonzero_lists(node)
    _latency_sums(d, node, lists, [w.data[li, j] for j, li in enumerate(lists)], w.data.size, ctx)
    return d


def _folded_arrays(d: dict[str, Any], node: Dense | Conv, s: Schedule, ctx: Ctx) -> None:
    """Fill ``d`` with the ``[R][M]`` schedule ROMs of a folded matmul (Dense resource,
    Conv with reuse > 1): multiplier ``m`` in cycle ``r`` adds ``x[ii[r][m]] * w[r][m]``
    into output ``oi[r][m]`` (padding entries have weight 0)."""
    name, wt = node.name, node.weights["weight"].ftype
    d["reuse"], d["mults"] = s.reuse, s.mults
    d["nnz"] = int(s.valid.sum())
    wmode, wk, eb = shift_mode(s.weight[s.valid])
    d["shift"] = bool(wmode)
    if wmode:  # every weight +-2^k: {nonzero, negative, k - wk} codes, a shift (no multiply)
        d["wk"], d["eb"] = wk, eb
        codes = np.vectorize(lambda w: shift_code(int(w), wk, eb), otypes=[np.int64])(s.weight)
        d["w"] = ctx.array(f"{name}_wc", codes,
                           f"{name}: folded power-of-two weights [R={s.reuse}][M={s.mults}] as "
                           f"{{nonzero, negative, k - {wk} ({eb} bits)}}, w = +-2^k raw "
                           f"{wt.cpp()} ({d['nnz']} nonzero)")
    else:
        d["w"] = ctx.array(f"{name}_w", s.weight,
                           f"{name}: folded weights [R={s.reuse}][M={s.mults}], {wt.cpp()} "
                           f"({d['nnz']} nonzero, {s.reuse * s.mults - d['nnz']} padding)")
    d["ii"] = ctx.array(f"{name}_in_idx", s.in_idx, f"{name}: input index per multiplier")
    d["oi"] = ctx.array(f"{name}_out_idx", s.out_idx, f"{name}: output index per multiplier")


def _latency_sums(d: dict[str, Any], node: Dense | Conv, lists: list[np.ndarray],
                  values: list[np.ndarray], n_weights: int, ctx: Ctx) -> None:
    """Fill ``d`` with fully parallel sums: output ``j`` adds ``x[lists[j][t]] * values[j][t]``.

    Only nonzero weights are listed, so a pruned weight emits no multiply. Layers with
    more than :data:`CSIM_UNROLL_LIMIT` terms also get index arrays for C-sim loops.
    """
    name = node.name
    ins = np.concatenate([np.asarray(li, np.int64) for li in lists]) if lists else np.zeros(0, np.int64)
    nz = np.concatenate([np.asarray(v, np.int64) for v in values]) if lists else ins
    assert np.all(nz != 0)
    d["nnz"] = len(nz)
    d["w"] = ctx.array(f"{name}_w", nz,
                       f"{name}: {len(nz)} nonzero weights of {n_weights} (by output, then input), "
                       f"{d['w_cpp']}")
    outputs = []
    k = 0
    for j, li in enumerate(lists):
        terms = [(int(i), k + t) for t, i in enumerate(li)]
        k += len(li)
        outputs.append({"j": j, "terms": terms})
    d["outputs"] = outputs
    d["csim_loop"] = len(nz) > CSIM_UNROLL_LIMIT
    # the unrolled sums of a large layer go to their own file, which the C-sim never reads
    d["unrolled_file"] = f"{c_ident(name)}_unrolled.h" if d["csim_loop"] else None
    if d["csim_loop"]:
        # the loops sum raw integers in int64: every partial sum lies in the accumulator's
        # range (the other inputs at 0 are a valid input), which is at most 62 bits
        xt, wt, ot = node.input.ftype, node.weights["weight"].ftype, node.output.ftype
        d["psh"] = ot.frac - (xt.frac + wt.frac)
        bias = node.weights.get("bias")
        d["bsh"] = ot.frac - bias.ftype.frac if bias is not None else 0
        ends = np.cumsum([len(li) for li in lists]).astype(np.int64)
        d["nz_in"] = ctx.array(f"{name}_nz_in", ins, f"{name}: input index of each nonzero (C-sim loops)", True)
        d["nz_end"] = ctx.array(f"{name}_nz_end", ends, f"{name}: end of each output's nonzeros (C-sim loops)", True)


def _call(node: Node, ctx: Ctx, call: str) -> dict[str, Any]:
    """A layer whose whole function body is one library call on x / y (arrays or streams)."""
    d = _base(node, ctx, "call")
    d["call"] = call
    return d


def _geom_args(g: dict[str, int], keys: str) -> str:
    return ", ".join(str(g[k]) for k in keys.split())


@layer_data.register
def _conv(node: Conv, ctx: Ctx) -> dict[str, Any]:
    _check_dense_types(node)
    w = node.weights["weight"]
    b = node.weights.get("bias")
    geo = dataflow.window_geometry(node)
    c, f = geo["C"], int(node["filters"])
    kk = geo["KH"] * geo["KW"]
    reuse = int(node["reuse"])
    # io parallel, strategy latency, reuse R > 1: the constant-weight window kernels stay
    # (the top's PIPELINE II=R lets the scheduler share each among R output pixels, as
    # the unrolled RTL does); otherwise reuse R > 1 folds the per-pixel matmul
    folded = reuse > 1 and not (ctx.io == "parallel" and node["strategy"] != "resource")
    d = _base(node, ctx, "conv_folded" if folded else "conv")
    d.update({
        "fan_in": kk * c, "units": f, "rows": 1, "n_weights": int(w.data.size),
        "w_type": ctx.const_type(f"{node.name}_w", w.ftype), "w_cpp": w.ftype.cpp(),
        "bias": b is not None, "depthwise": bool(node["depthwise"]),
        "kernel_struct": ctx.names.take(f"{node.name}_kernel"),
    })
    if b is not None:
        d["b_type"] = ctx.const_type(f"{node.name}_b", b.ftype)
        d["b"] = ctx.array(f"{node.name}_b", b.data, f"{node.name}: bias, {b.ftype.cpp()}")
    # the window is x[(kh * KW + kw) * C + ch], the order of Keras's (*kernel, C, F) weights
    wm = conv_matrix(node)
    hi = max(1, int(np.count_nonzero(wm)))
    if not 1 <= reuse <= hi:
        raise ConvReuseError(
            f"layer {node['source'] or node.name}: reuse factor {reuse} is not possible; "
            f"valid: 1..{hi} (the conv has {hi} nonzero weights)"
        )
    if folded:
        # the per-pixel matmul window @ conv_matrix folded: R cycles x M multipliers
        _folded_arrays(d, node, schedule_matrix(wm, reuse), ctx)
    elif node["depthwise"]:
        wd = w.data.reshape(kk, c)
        lists = [np.flatnonzero(wd[:, ch]) * c + ch for ch in range(c)]
        values = [wd[wd[:, ch] != 0, ch] for ch in range(c)]
    else:
        wm = w.data.reshape(kk * c, f)
        lists = [np.flatnonzero(wm[:, j]) for j in range(f)]
        values = [wm[li, j] for j, li in enumerate(lists)]
    if not folded:
        _latency_sums(d, node, lists, values, int(w.data.size), ctx)
        d["reuse"] = reuse  # shared kernels: the top's II
    tin, tout = ctx.tensor_type[node.input.name], ctx.tensor_type[node.output.name]
    if ctx.io == "stream":
        # a folded kernel takes R cycles per window: the scan loop's II (hls4ml's rule)
        d["call"] = (f"nnfab::window_stream<{d['kernel_struct']}, {tin}, {tout}, "
                     f"{_geom_args(geo, 'H W C KH KW SH SW PT PB PL PR')}, {f}, {reuse}>(x, y)")
    else:
        d["call"] = (f"nnfab::window_array<{d['kernel_struct']}, {tin}, {tout}, "
                     f"{_geom_args(geo, 'H W C KH KW SH SW PT PL OH OW')}, {f}>(x, y)")
    return d


def _wide_type(node: Node, ctx: Ctx, area: int) -> str:
    """The ``nnfab::div_cast`` intermediate type of an average over ``area`` values."""
    tin, tout = node.input.ftype, node.output.ftype
    d = tout.frac - tin.frac
    big = area * max(abs(tin.min_raw), abs(tin.max_raw)) << max(d, 0)
    if big >= 1 << 59 or area << max(-d, 0) >= 1 << 59:
        raise HlsError(
            f"layer {node.name}: average of {area} values of {tin} into {tout} needs more than "
            "64-bit intermediates; use narrower types"
        )
    return ctx.const_cpp(f"{node.name}_wide", f"ap_fixed<64, {64 - (tout.frac + 2)}>")


@layer_data.register
def _pool(node: Pool, ctx: Ctx) -> dict[str, Any]:
    geo = dataflow.window_geometry(node)
    tin, tout = ctx.tensor_type[node.input.name], ctx.tensor_type[node.output.name]
    c = geo["C"]
    if node["mode"] == "max":
        kern = f"nnfab::PoolMax<{tin}, {tout}, {geo['KH']}, {geo['KW']}, {c}, " \
               f"{_geom_args(geo, 'H W PT PL')}>"
    else:
        wide = _wide_type(node, ctx, geo["KH"] * geo["KW"])
        kern = (f"nnfab::PoolAvg<{tin}, {tout}, {wide}, {geo['KH']}, {geo['KW']}, {c}, "
                f"{node.input.ftype.frac}, {node.output.ftype.frac}>")
    if ctx.io == "stream":
        call = (f"nnfab::window_stream<{kern}, {tin}, {tout}, "
                f"{_geom_args(geo, 'H W C KH KW SH SW PT PB PL PR')}, {c}>(x, y)")
    else:
        call = (f"nnfab::window_array<{kern}, {tin}, {tout}, "
                f"{_geom_args(geo, 'H W C KH KW SH SW PT PL OH OW')}, {c}>(x, y)")
    return _call(node, ctx, call)


@layer_data.register
def _global_pool(node: GlobalPool, ctx: Ctx) -> dict[str, Any]:
    tin, tout = ctx.tensor_type[node.input.name], ctx.tensor_type[node.output.name]
    n, c = dataflow.words(node.input), dataflow.word_size(node.input)
    suffix = "stream" if ctx.io == "stream" else "array"
    if node["mode"] == "max":
        return _call(node, ctx, f"nnfab::global_max_{suffix}<{tin}, {tout}, {n}, {c}>(x, y)")
    wide = _wide_type(node, ctx, n)
    return _call(node, ctx, f"nnfab::global_avg_{suffix}<{tin}, {tout}, {wide}, {n}, {c}, "
                            f"{node.input.ftype.frac}, {node.output.ftype.frac}>(x, y)")


@layer_data.register(Pad)
@layer_data.register(Crop)
def _pad_crop(node: Pad | Crop, ctx: Ctx) -> dict[str, Any]:
    tin, tout = ctx.tensor_type[node.input.name], ctx.tensor_type[node.output.name]
    h, w = dataflow.spatial(node.input.shape)
    kind = "pad" if isinstance(node, Pad) else "crop"
    t, b, left, r = dataflow.pad_geometry(node[f"{kind}s"])
    suffix = "stream" if ctx.io == "stream" else "array"
    return _call(node, ctx, f"nnfab::{kind}_{suffix}<{tin}, {tout}, {h}, {w}, "
                            f"{dataflow.word_size(node.input)}, {t}, {b}, {left}, {r}>(x, y)")


@layer_data.register
def _transpose(node: Transpose, ctx: Ctx) -> dict[str, Any]:
    tin, tout = ctx.tensor_type[node.input.name], ctx.tensor_type[node.output.name]
    shape, perm = tuple(node.input.shape), tuple(node["perm"])
    if len(shape) > 3:
        raise HlsError(f"layer {node.name}: a Permute of {len(shape)} axes; supported: "
                       "up to 3")
    k = 3 - len(shape)  # as a D0 x D1 x D2 tensor: leading axes of size 1
    d = (1,) * k + shape
    p = tuple(range(k)) + tuple(k + a for a in perm)
    if ctx.io == "stream":
        return _call(node, ctx, f"nnfab::transpose_stream<{tin}, {tout}, {d[0]}, {d[1]}, "
                                f"{d[2]}, {p[0]}, {p[1]}, {p[2]}, "
                                f"{dataflow.word_size(node.output)}>(x, y)")
    return _call(node, ctx, f"nnfab::transpose_array<{tin}, {tout}, {d[0]}, {d[1]}, {d[2]}, "
                            f"{p[0]}, {p[1]}, {p[2]}>(x, y)")


@layer_data.register
def _upsample(node: Upsample, ctx: Ctx) -> dict[str, Any]:
    tin, tout = ctx.tensor_type[node.input.name], ctx.tensor_type[node.output.name]
    h, w = dataflow.spatial(node.input.shape)
    f = node["factors"]
    fh, fw = (1, f[0]) if len(f) == 1 else (f[0], f[1])
    suffix = "stream" if ctx.io == "stream" else "array"
    return _call(node, ctx, f"nnfab::upsample_{suffix}<{tin}, {tout}, {h}, {w}, "
                            f"{dataflow.word_size(node.input)}, {fh}, {fw}>(x, y)")


@layer_data.register
def _add(node: Add, ctx: Ctx) -> dict[str, Any]:
    return _base(node, ctx, "add")


@layer_data.register
def _merge(node: Merge, ctx: Ctx) -> dict[str, Any]:
    d = _base(node, ctx, "merge")
    d["expr_word"] = _merge_expr(node, [f"a{k}.v[ch]" for k in range(len(d["ins"]))],
                                 d["out_type"])
    d["expr_array"] = _merge_expr(node, [f"{i['name']}[i]" for i in d["ins"]], d["out_type"])
    return d


def _merge_expr(node: Merge, xs: list[str], out_type: str) -> str:
    """C++ of one element of a Merge over operands ``xs`` (exact in ``out_type``)."""
    mode, k = node["mode"], node.shift
    if mode == "sub":
        return f"{xs[0]} - {xs[1]}"
    if mode == "avg":  # times 2^-k, an ap_ufixed<k, 0> holding it exactly
        return f"({' + '.join(xs)}) * ap_ufixed<{k}, 0>({0.5 ** k!r})"
    if mode == "mul":  # ap_fixed products are full precision
        return " * ".join(xs)
    e = xs[0]
    for x in xs[1:]:
        e = f"nnfab::{mode}_of<{out_type}>({e}, {x})"
    return e


@layer_data.register
def _concat(node: Concat, ctx: Ctx) -> dict[str, Any]:
    d = _base(node, ctx, "concat")
    off = 0
    for i, t in zip(d["ins"], node.inputs):
        i["off"] = off
        i["c"] = dataflow.word_size(t)
        off += i["c"]
    d["c_out"] = off
    d["positions"] = dataflow.words(node.output)
    return d


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def render(g: Graph, io: str) -> dict[str, Any]:
    """Everything the firmware templates need (also used by tests and the C-sim)."""
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise HlsError("the HLS backend supports graphs with one input and one output")
    if io not in ("parallel", "stream"):
        raise HlsError(f"io type {io!r} is not supported; use parallel or stream")
    top = top_name(g)
    names = Names({top, "input_t", "result_t", "in", "out", "v_in", "v_out", "nnfab", "x", "y", "acc",
                   "df", "a", "b", "i", "ch"})
    ctx = Ctx(g, io, names)
    tensor_types = []
    for n in g.nodes:
        t = n.output
        tn = names.take(t.name + "_t")
        ctx.tensor_type[t.name] = tn
        tensor_types.append({"name": tn, "cpp": t.ftype.cpp(), "tensor": t.name,
                             "shape": "x".join(map(str, t.shape))})
    tin, tout = g.inputs[0], g.outputs[0]
    if isinstance(tout.producer, Input):
        raise HlsError("the graph output is its input: nothing to build")
    if tout.users:
        raise HlsError(f"the graph output {tout.name} is also used by other layers; not supported")
    data: dict[str, Any] = {
        "top": top,
        "guard": top.upper(),
        "graph_name": g.name,
        "io": io,
        "tensor_types": tensor_types,
        "input_type": ctx.tensor_type[tin.name],
        "result_type": ctx.tensor_type[tout.name],
        "n_input": tin.size,
        "n_output": tout.size,
    }
    if io == "stream":
        for t in g.tensors.values():
            ctx.word_type[t.name] = names.take(t.name + "_word")
        data.update(_plan_stream(g, ctx))
    else:
        data.update(_plan_parallel(g, ctx))
    data["const_types"] = ctx.const_types
    data["arrays"] = ctx.arrays
    data["word_types"] = [{"name": ctx.word_type[t.name], "type": ctx.tensor_type[t.name],
                           "n": dataflow.word_size(t), "words": dataflow.words(t), "tensor": t.name}
                          for t in g.tensors.values() if t.name in ctx.word_type]
    data["ii"] = max([int(d["reuse"]) for d in data["layers"]] + [1])
    return data


def _layer(n: Node, ctx: Ctx, args: list[str]) -> dict[str, Any]:
    d = layer_data(n, ctx)
    top = top_name(ctx.g)
    d["args"] = args
    d["file"] = f"{c_ident(n.name)}.h"
    d["guard"] = f"{top.upper()}_LAYER_{c_ident(n.name).upper()}_H_"
    return d


def _plan_parallel(g: Graph, ctx: Ctx) -> dict[str, Any]:
    """io_parallel: one array per tensor, layer functions called in graph order."""
    tin, tout = g.inputs[0], g.outputs[0]
    for n in g.nodes:
        t = n.output
        if t is tout:
            ctx.tensor_var[t.name] = "out"
        elif t is tin:
            ctx.tensor_var[t.name] = "in"
        else:
            ctx.tensor_var[t.name] = ctx.names.take("v_" + t.name)
    layers, buffers = [], []
    for n in g.nodes:
        if isinstance(n, Input):
            continue
        layers.append(_layer(n, ctx, [ctx.tensor_var[t.name] for t in [*n.inputs, n.output]]))
        if n.output is not tout:
            buffers.append({"type": ctx.tensor_type[n.output.name],
                            "var": ctx.tensor_var[n.output.name], "size": n.output.size})
    return {"layers": layers, "buffers": buffers, "out_var": "out"}


def _plan_stream(g: Graph, ctx: Ctx) -> dict[str, Any]:
    """io_stream: streams, fork processes and FIFO depths (rule: :mod:`.dataflow`)."""
    tin, tout = g.inputs[0], g.outputs[0]
    depths = dataflow.fifo_depths(g)
    streams: list[dict[str, Any]] = []
    edge_var: dict[tuple[str, str, int], str] = {}
    forks: list[dict[str, Any]] = []

    def stream(base: str, t: Tensor, depth: int, why: str) -> str:
        var = ctx.names.take(base)
        streams.append({"var": var, "word": ctx.word_type[t.name], "depth": depth, "why": why})
        return var

    for t in g.tensors.values():
        src = stream("s_" + t.name, t, dataflow.CHAIN_DEPTH, "chain")
        ctx.tensor_var[t.name] = src
        edges = dataflow.edges_of(g, t)
        if len(edges) < 2:
            for e in edges:
                edge_var[(t.name, e.consumer.name, e.port)] = src
            continue
        outs = []
        for k, e in enumerate(edges):
            depth, why = depths[(t.name, k)]
            var = stream(f"s_{t.name}_to_{e.consumer.name}", t, depth,
                         f"fork {t.name} -> {e.consumer.name}: {why}")
            edge_var[(t.name, e.consumer.name, e.port)] = var
            outs.append(var)
        forks.append({"fn": ctx.names.take("fork_" + t.name), "w": ctx.word_type[t.name],
                      "words": dataflow.words(t), "x": src, "ys": outs, "after": t.name})
    def forks_of(t: Tensor) -> list[str]:
        return [f"{f['fn']}({', '.join([f['x'], *f['ys']])})" for f in forks if f["after"] == t.name]

    layers = []
    pack = f"nnfab::pack<input_t, {dataflow.words(tin)}, {dataflow.word_size(tin)}>"
    procs = [f"{pack}(in, {ctx.tensor_var[tin.name]})", *forks_of(tin)]
    for n in g.nodes:
        if isinstance(n, Input):
            continue
        args = [edge_var[(t.name, n.name, p)] for p, t in enumerate(n.inputs)] + [ctx.tensor_var[n.output.name]]
        d = _layer(n, ctx, args)
        layers.append(d)
        procs += [f"{d['fn']}({', '.join(args)})", *forks_of(n.output)]
    procs.append(f"nnfab::unpack<result_t, {dataflow.words(tout)}, {dataflow.word_size(tout)}>"
                 f"({ctx.tensor_var[tout.name]}, out)")
    return {"layers": layers, "streams": streams, "forks": forks, "procs": procs,
            "out_var": ctx.tensor_var[tout.name]}


def write_firmware(data: dict[str, Any], fw_dir: str) -> list[str]:
    """Write ``fw_dir`` (firmware sources + a copy of the nnfab kernel library)."""
    env = _env()
    os.makedirs(os.path.join(fw_dir, "layers"), exist_ok=True)
    written = []

    def put(rel: str, text: str) -> None:
        path = os.path.join(fw_dir, rel)
        with open(path, "w") as f:
            f.write(text)
        written.append(path)

    top = data["top"]
    put("defines.h", env.get_template("firmware/defines.h.j2").render(**data))
    put("weights.h", env.get_template("firmware/weights.h.j2").render(**data))
    for a in data["arrays"]:
        if a["external"]:
            os.makedirs(os.path.join(fw_dir, "weights"), exist_ok=True)
            put(os.path.join("weights", a["name"] + ".h"), a["body"] + "\n")
            raw = np.ascontiguousarray(a["data"], dtype=np.dtype(_NP_TYPES[a["ctype"]]).newbyteorder("<"))
            path = os.path.join(fw_dir, "weights", a["name"] + ".bin")
            raw.tofile(path)
            written.append(path)
    put(f"{top}.h", env.get_template("firmware/top.h.j2").render(**data))
    put(f"{top}.cpp", env.get_template("firmware/top.cpp.j2").render(**data))
    lt = env.get_template("firmware/layers/layer.h.j2")
    for layer in data["layers"]:
        put(os.path.join("layers", layer["file"]), lt.render(l=layer, io=data["io"]))
        if layer.get("unrolled_file"):
            ut = env.get_template("firmware/layers/unrolled.h.j2")
            put(os.path.join("layers", layer["unrolled_file"]), ut.render(l=layer, io=data["io"]))
    lib = os.path.join(fw_dir, "nnfab")
    os.makedirs(lib, exist_ok=True)
    for f in sorted(os.listdir(os.path.join(TEMPLATES, "nnfab"))):
        if f.endswith(".h"):
            shutil.copyfile(os.path.join(TEMPLATES, "nnfab", f), os.path.join(lib, f))
            written.append(os.path.join(lib, f))
    return written
