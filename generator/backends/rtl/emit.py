"""Render the RTL plan (:mod:`.plan`) as thin Verilog: the top and one module per
fully parallel Dense layer, plus the ``.mem`` ROM images. The arithmetic leaves are
the hand-written library modules in ``lib/`` (copied next to the generated files).
"""

from __future__ import annotations

import numpy as np

from ...ir import Binarize, Dense, Graph, Node, Quantize, Relu, Table, Ternarize
from .plan import (
    LEVELS_PER_STAGE,
    OVF_CODE,
    ROUND_CODE,
    Stage,
    clog2,
    csd,
    fifo_aw,
    ident,
)


def hexlit(width: int, value: int) -> str:
    """A sized Verilog literal of ``value`` modulo ``2**width``."""
    return f"{width}'h{int(value) % (1 << width):x}"


def pack(values: list[int], width: int) -> str:
    """Concatenation literal with element 0 in the lowest bits."""
    v = 0
    for i, x in enumerate(values):
        v |= (int(x) % (1 << width)) << (i * width)
    return hexlit(width * len(values), v)


def _bits(t) -> int:  # type: ignore[no-untyped-def]
    return int(t.size) * t.ftype.width


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, s: str = "") -> None:
        self.lines.append(s)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def dense_parallel_module(top: str, st: Stage) -> tuple[str, str]:
    """Module name and text of a fully parallel Dense layer."""
    n: Dense = st.node  # type: ignore[assignment]
    mod = f"{top}_{ident(n.name)}"
    w = n.weights["weight"]
    b = n.weights.get("bias")
    tx, to = n.input.ftype, n.output.ftype
    xw, aw = tx.width, to.width
    n_in, n_out = w.data.shape
    sh = st.info["shift"]
    nt = st.info["terms"]
    o = _Lines()
    o("`default_nettype none")
    o(f"// {n.name}: fully parallel Dense {n_in} -> {n_out}, {int(np.count_nonzero(w.data))} "
      f"nonzero weights; x {tx.cpp()}, w {w.ftype.cpp()}, y {to.cpp()}")
    o(f"// one shift-add constant multiply per nonzero weight; adder trees of {nt} terms, "
      f"latency {st.latency} cycles, II 1")
    o(f"module {mod} (")
    o("    input  wire clk,")
    o("    input  wire rst,")
    o(f"    input  wire [{n_in * xw - 1}:0] x,")
    o("    input  wire in_valid,")
    o("    output wire in_ready,")
    o(f"    output wire [{n_out * aw - 1}:0] y,")
    o("    output wire out_valid,")
    o("    input  wire out_ready")
    o(");")
    o("    wire ce;")
    o(f"    nnfab_pipe_ctrl #(.S({st.latency})) u_ctrl (.clk(clk), .rst(rst), "
      ".in_valid(in_valid), .in_ready(in_ready), .out_valid(out_valid), "
      ".out_ready(out_ready), .ce(ce));")
    used = sorted({int(i) for i in np.flatnonzero(np.any(w.data != 0, axis=1))})
    for i in used:
        ext = f"x[{i * xw + xw - 1}]" if tx.signed else "1'b0"
        o(f"    wire signed [{xw}:0] x{i} = {{{ext}, x[{i * xw} +: {xw}]}};")
    for j in range(n_out):
        terms: list[str] = []
        for i in np.flatnonzero(w.data[:, j]):
            parts = []
            for sign, k in csd(int(w.data[i, j])):
                e = f"(x{int(i)} <<< {k + sh})" if k + sh else f"x{int(i)}"
                parts.append(("- " if sign < 0 else "+ ") + e)
            expr = " ".join(parts)
            expr = expr.removeprefix("+ ")
            terms.append(expr)
        if b is not None and int(b.data[j]) != 0:
            terms.append(hexlit(aw, int(b.data[j]) << (to.frac - b.ftype.frac)))
        while len(terms) < nt:
            terms.append(f"{aw}'d0")
        o(f"    wire [{nt * aw - 1}:0] t{j};")
        for k, e in enumerate(terms):
            o(f"    assign t{j}[{k * aw} +: {aw}] = {e};")
        o(f"    nnfab_adder_tree #(.N({nt}), .W({aw}), .LPS({LEVELS_PER_STAGE})) u_sum{j} "
          f"(.clk(clk), .ce(ce), .terms(t{j}), .sum(y[{j * aw} +: {aw}]));")
    o("endmodule")
    o("`default_nettype wire")
    return mod, o.text()


def schedule_mem(st: Stage) -> tuple[list[str], int]:
    """Hex lines of the folded schedule ROM and its word width."""
    n: Dense = st.node  # type: ignore[assignment]
    sch = st.info["schedule"]
    ww = n.weights["weight"].ftype.width
    ia = max(1, clog2(n.input.size))
    oa = max(1, clog2(n.output.size))
    ew = ww + ia + oa
    lines = []
    for r in range(sch.reuse):
        word = 0
        for m in range(sch.mults):
            e = ((int(sch.weight[r, m]) % (1 << ww)) << (ia + oa)) | (
                int(sch.in_idx[r, m]) << oa) | int(sch.out_idx[r, m])
            word |= e << (m * ew)
        lines.append(f"{word:x}")
    return lines, ew * sch.mults


def _elementwise(o: _Lines, n: Node, xin: str, yout: str) -> None:
    ti, to = n.input.ftype, n.output.ftype
    size = n.output.size
    nm = ident(n.name)
    if isinstance(n, (Quantize, Relu)):
        o(f"    nnfab_quantize_vec #(.N({size}), .IN_W({ti.width}), .IN_S({int(ti.signed)}), "
          f".OUT_W({to.width}), .OUT_S({int(to.signed)}), .SHIFT({ti.frac - to.frac}), "
          f".ROUND({ROUND_CODE[to.rounding]}), .OVF({OVF_CODE[to.overflow]}), "
          f".RELU({int(isinstance(n, Relu))})) u_{nm} (.x({xin}), .y({yout}));")
    elif isinstance(n, Binarize):
        o(f"    nnfab_binarize_vec #(.N({size}), .IN_W({ti.width}), .IN_S({int(ti.signed)}), "
          f".OUT_W({to.width})) u_{nm} (.x({xin}), .y({yout}));")
    elif isinstance(n, Ternarize):
        o(f"    nnfab_ternarize_vec #(.N({size}), .IN_W({ti.width}), .IN_S({int(ti.signed)}), "
          f".OUT_W({to.width}), .THR({int(n['threshold_raw'])})) u_{nm} "
          f"(.x({xin}), .y({yout}));")
    elif isinstance(n, Table):
        tab = n.weights["table"]
        o(f"    nnfab_table_vec #(.N({size}), .IN_W({ti.width}), .IN_S({int(ti.signed)}), "
          f".OUT_W({to.width}), .DEPTH({len(tab.data)}), .SHIFT({int(n['index_shift'])}), "
          f".OFFSET({int(n['index_offset'])}), .FILE({{MEM_DIR, \"{nm}_table.mem\"}})) "
          f"u_{nm} (.x({xin}), .y({yout}));")
    else:  # pragma: no cover - plan() refuses the rest
        raise TypeError(f"no element-wise RTL for {n.OP}")


def render(g: Graph, stages: list[Stage]) -> tuple[str, dict[str, str]]:
    """Top module name and ``{file name: text}`` of every generated file."""
    top = ident(g.name)
    files: dict[str, str] = {}
    tin, tout = g.inputs[0], g.outputs[0]
    in_bits, out_bits = _bits(tin), _bits(tout)
    in_pad = -(-in_bits // 8) * 8
    out_pad = -(-out_bits // 8) * 8
    o = _Lines()
    o("// Generated by nnfab: thin wiring of the nnfab_* library modules. Do not edit.")
    o(f"// input  {tin.name}: {tin.size} x {tin.ftype.cpp()}, element i at tdata[i*{tin.ftype.width} +: "
      f"{tin.ftype.width}] (one vector per beat)")
    o(f"// output {tout.name}: {tout.size} x {tout.ftype.cpp()}, element i at tdata[i*"
      f"{tout.ftype.width} +: {tout.ftype.width}]")
    o("`default_nettype none")
    o(f"module {top} #(")
    o("    parameter MEM_DIR = \"\"  // directory prefix of the .mem ROM images (with '/')")
    o(") (")
    o("    input  wire clk,")
    o("    input  wire rst,  // synchronous, active high")
    o(f"    input  wire [{in_pad - 1}:0] s_axis_tdata,")
    o("    input  wire s_axis_tvalid,")
    o("    output wire s_axis_tready,")
    o("    input  wire s_axis_tlast,")
    o(f"    output wire [{out_pad - 1}:0] m_axis_tdata,")
    o("    output wire m_axis_tvalid,")
    o("    input  wire m_axis_tready,")
    o("    output wire m_axis_tlast")
    o(");")
    sig = {}
    for s in stages:
        t = s.node.output
        nm = ident(t.name)
        sig[t.name] = nm
        o(f"    wire [{_bits(t) - 1}:0] {nm}_d;")
        o(f"    wire {nm}_v, {nm}_r;")
    i0 = sig[tin.name]
    o(f"    nnfab_axis_skid #(.W({in_bits})) u_skid (.clk(clk), .rst(rst), "
      f".s_data(s_axis_tdata[{in_bits - 1}:0]), .s_valid(s_axis_tvalid), "
      f".s_ready(s_axis_tready), .m_data({i0}_d), .m_valid({i0}_v), .m_ready({i0}_r));")
    for s in stages:
        n = s.node
        if s.kind == "input":
            continue
        a = sig[n.input.name]
        y = sig[n.output.name]
        nm = ident(n.name)
        o(f"    // {n.OP} {n.name}: latency {s.latency}, II {s.ii}")
        if s.kind in ("elementwise", "reshape"):
            o(f"    assign {y}_v = {a}_v;")
            o(f"    assign {a}_r = {y}_r;")
            if s.kind == "reshape":
                o(f"    assign {y}_d = {a}_d;")
            else:
                _elementwise(o, n, f"{a}_d", f"{y}_d")
            if isinstance(n, Table):
                tab = n.weights["table"]
                files[f"{nm}_table.mem"] = "\n".join(
                    f"{int(v) % (1 << tab.ftype.width):x}" for v in tab.data) + "\n"
        elif s.kind == "dense_parallel":
            mod, text = dense_parallel_module(top, s)
            files[f"{mod}.v"] = text
            o(f"    {mod} u_{nm} (.clk(clk), .rst(rst), .x({a}_d), .in_valid({a}_v), "
              f".in_ready({a}_r), .y({y}_d), .out_valid({y}_v), .out_ready({y}_r));")
        elif s.kind == "dense_folded":
            lines, _ = schedule_mem(s)
            mem = f"{nm}_schedule.mem"
            files[mem] = "\n".join(lines) + "\n"
            dn: Dense = n  # type: ignore[assignment]
            w = dn.weights["weight"]
            b = dn.weights.get("bias")
            to = dn.output.ftype
            bias = [0] * dn.output.size
            if b is not None:
                bias = [int(v) << (to.frac - b.ftype.frac) for v in b.data]
            sch = s.info["schedule"]
            o(f"    nnfab_dense_folded #(.N_IN({dn.input.size}), .XW({dn.input.ftype.width}), "
              f".XS({int(dn.input.ftype.signed)}), .N_OUT({dn.output.size}), .ACC_W({to.width}), "
              f".WW({w.ftype.width}), .WS({int(w.ftype.signed)}), .PSH({s.info['shift']}), "
              f".R({sch.reuse}), .M({sch.mults}), .IA({max(1, clog2(dn.input.size))}), "
              f".OA({max(1, clog2(dn.output.size))}), .RA({max(1, clog2(sch.reuse))}), "
              f".FILE({{MEM_DIR, \"{mem}\"}}), .BIAS({pack(bias, to.width)})) u_{nm} "
              f"(.clk(clk), .rst(rst), .x({a}_d), .in_valid({a}_v), .in_ready({a}_r), "
              f".y({y}_d), .out_valid({y}_v), .out_ready({y}_r));")
        else:  # pragma: no cover
            raise AssertionError(s.kind)
    yo = sig[tout.name]
    pad = out_pad - out_bits
    data = f"{{{pad}'d0, {yo}_d}}" if pad else f"{yo}_d"
    o(f"    assign m_axis_tdata = {data};")
    o(f"    assign m_axis_tvalid = {yo}_v;")
    o(f"    assign {yo}_r = m_axis_tready;")
    o("    // TLAST travels beside the datapath in a FIFO (vectors stay in order)")
    o(f"    nnfab_fifo_bit #(.AW({fifo_aw(stages)})) u_last (.clk(clk), .rst(rst), "
      ".push(s_axis_tvalid & s_axis_tready), .din(s_axis_tlast), "
      ".pop(m_axis_tvalid & m_axis_tready), .dout(m_axis_tlast));")
    o("endmodule")
    o("`default_nettype wire")
    files[f"{top}.v"] = o.text()
    return top, files
