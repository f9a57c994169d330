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
* ``<top>.cpp/.h``  the top function (``io_parallel`` arrays or ``io_stream`` streams).
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
    Binarize,
    Dense,
    Graph,
    Input,
    Node,
    Quantize,
    Relu,
    Reshape,
    ScaleShift,
    Softmax,
    Table,
    Ternarize,
)
from ...passes.folding import schedule
from ...passes.sparsity import nonzero_lists

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
    const_types: list[dict[str, str]] = field(default_factory=list)
    arrays: list[dict[str, Any]] = field(default_factory=list)

    def const_type(self, base: str, t: FixedType) -> str:
        name = self.names.take(base + "_t")
        self.const_types.append({"name": name, "cpp": t.cpp()})
        return name

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
    return {
        "kind": kind,
        "op": node.OP,
        "name": node.name,
        "name_c": c_ident(node.name),
        "fn": ctx.names.take("layer_" + node.name),
        "in_type": ctx.tensor_type[node.input.name],
        "out_type": ctx.tensor_type[node.output.name],
        "n_in": node.input.size,
        "n_out": node.output.size,
        "reuse": 1,
    }


@singledispatch
def layer_data(node: Node, ctx: Ctx) -> dict[str, Any]:
    """Template data of one node's layer function (dispatch on the op class)."""
    raise HlsError(
        f"layer {node.name}: the HLS backend has no kernel for op {node.OP}; supported: "
        "Dense, Quantize, Relu, Binarize, Ternarize, Table, Softmax, ScaleShift, Reshape"
    )


def _elementwise(node: Node, ctx: Ctx, call: str) -> dict[str, Any]:
    d = _base(node, ctx, "elementwise")
    d["call"] = call
    return d


def _targs(node: Node, ctx: Ctx) -> str:
    return f"{ctx.tensor_type[node.input.name]}, {ctx.tensor_type[node.output.name]}, {node.output.size}"


@layer_data.register
def _quantize(node: Quantize, ctx: Ctx) -> dict[str, Any]:
    return _elementwise(node, ctx, f"nnfab::cast<{_targs(node, ctx)}>(x, y)")


@layer_data.register
def _reshape(node: Reshape, ctx: Ctx) -> dict[str, Any]:
    return _elementwise(node, ctx, f"nnfab::copy<{_targs(node, ctx)}>(x, y)")


@layer_data.register
def _relu(node: Relu, ctx: Ctx) -> dict[str, Any]:
    return _elementwise(node, ctx, f"nnfab::relu<{_targs(node, ctx)}>(x, y)")


@layer_data.register
def _binarize(node: Binarize, ctx: Ctx) -> dict[str, Any]:
    return _elementwise(node, ctx, f"nnfab::binarize<{_targs(node, ctx)}>(x, y)")


@layer_data.register
def _ternarize(node: Ternarize, ctx: Ctx) -> dict[str, Any]:
    thr = int(node["threshold_raw"])
    return _elementwise(node, ctx, f"nnfab::ternarize<{_targs(node, ctx)}, {thr}LL>(x, y)")


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
def _softmax(node: Softmax, ctx: Ctx) -> dict[str, Any]:
    et, it = node.weights["exp_table"], node.weights["inv_table"]
    n = node.output.shape[-1]
    if node.output.size != n:
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
            f"{ctx.tensor_type[node.output.name]}, {tsn}, {ttn}, {node.output.size}, {c}>"
            f"(x, y, {sa}, {ta})")
    return _elementwise(node, ctx, call)


def _check_dense_types(node: Dense) -> None:
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
    rows = node.input.size // fan_in
    folded = node["strategy"] == "resource"
    d = _base(node, ctx, "dense_resource" if folded else "dense_latency")
    d.update({
        "fan_in": fan_in, "units": units, "rows": rows, "n_weights": int(w.data.size),
        "w_type": ctx.const_type(f"{node.name}_w", w.ftype), "bias": b is not None,
    })
    if b is not None:
        d["b_type"] = ctx.const_type(f"{node.name}_b", b.ftype)
        d["b"] = ctx.array(f"{node.name}_b", b.data, f"{node.name}: bias, {b.ftype.cpp()}")
    if folded:
        s = schedule(node)
        d["reuse"], d["mults"] = s.reuse, s.mults
        d["nnz"] = int(s.valid.sum())
        d["w"] = ctx.array(f"{node.name}_w", s.weight,
                           f"{node.name}: folded weights [R={s.reuse}][M={s.mults}], {w.ftype.cpp()} "
                           f"({d['nnz']} nonzero, {s.reuse * s.mults - d['nnz']} padding)")
        d["ii"] = ctx.array(f"{node.name}_in_idx", s.in_idx, f"{node.name}: input index per multiplier")
        d["oi"] = ctx.array(f"{node.name}_out_idx", s.out_idx, f"{node.name}: output index per multiplier")
        return d
    lists = nonzero_lists(node)
    ins = np.concatenate([np.asarray(li, np.int64) for li in lists]) if lists else np.zeros(0, np.int64)
    outs = np.concatenate([np.full(len(li), j, np.int64) for j, li in enumerate(lists)]) if lists else ins
    nz = w.data[ins, outs]
    d["nnz"] = len(nz)
    d["w"] = ctx.array(f"{node.name}_w", nz,
                       f"{node.name}: {len(nz)} nonzero weights of {w.data.size} (by output, then input), "
                       f"{w.ftype.cpp()}")
    outputs = []
    k = 0
    for j, li in enumerate(lists):
        terms = [(int(i), k + t) for t, i in enumerate(li)]
        k += len(li)
        outputs.append({"j": j, "terms": terms})
    d["outputs"] = outputs
    d["csim_loop"] = len(nz) > CSIM_UNROLL_LIMIT
    # the unrolled sums of a large layer go to their own file, which the C-sim never reads
    d["unrolled_file"] = f"{c_ident(node.name)}_unrolled.h" if d["csim_loop"] else None
    if d["csim_loop"]:
        ends = np.cumsum([len(li) for li in lists]).astype(np.int64)
        d["nz_in"] = ctx.array(f"{node.name}_nz_in", ins, f"{node.name}: input index of each nonzero (C-sim loops)", True)
        d["nz_end"] = ctx.array(f"{node.name}_nz_end", ends, f"{node.name}: end of each output's nonzeros (C-sim loops)", True)
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
    names = Names({top, "input_t", "result_t", "in", "out", "v_in", "v_out", "nnfab", "x", "y", "acc"})
    ctx = Ctx(g, io, names)
    tensor_types = []
    for n in g.nodes:
        t = n.output
        tn = names.take(t.name + "_t")
        ctx.tensor_type[t.name] = tn
        tensor_types.append({"name": tn, "cpp": t.ftype.cpp(), "tensor": t.name,
                             "shape": "x".join(map(str, t.shape))})
    tin, tout = g.inputs[0], g.outputs[0]
    for n in g.nodes:
        t = n.output
        if t is tout:
            ctx.tensor_var[t.name] = "out" if io == "parallel" else "v_out"
        elif isinstance(n, Input):
            ctx.tensor_var[t.name] = "in" if io == "parallel" else "v_in"
        else:
            ctx.tensor_var[t.name] = names.take("v_" + t.name)
    layers = []
    buffers = []
    for n in g.nodes:
        if isinstance(n, Input):
            continue
        d = layer_data(n, ctx)
        d["x"] = ctx.tensor_var[n.input.name]
        d["y"] = ctx.tensor_var[n.output.name]
        d["file"] = f"{c_ident(n.name)}.h"
        d["guard"] = f"{top.upper()}_LAYER_{c_ident(n.name).upper()}_H_"
        layers.append(d)
        if n.output is not tout or io == "stream":
            buffers.append({"type": ctx.tensor_type[n.output.name],
                            "var": ctx.tensor_var[n.output.name], "size": n.output.size})
    if isinstance(tout.producer, Input):
        raise HlsError("the graph output is its input: nothing to build")
    return {
        "top": top,
        "guard": top.upper(),
        "graph_name": g.name,
        "io": io,
        "tensor_types": tensor_types,
        "const_types": ctx.const_types,
        "arrays": ctx.arrays,
        "layers": layers,
        "buffers": buffers,
        "out_var": ctx.tensor_var[tout.name],
        "input_type": ctx.tensor_type[tin.name],
        "result_type": ctx.tensor_type[tout.name],
        "n_input": tin.size,
        "n_output": tout.size,
        "ii": max([int(d["reuse"]) for d in layers] + [1]),
    }


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
