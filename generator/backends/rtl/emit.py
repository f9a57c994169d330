"""Render the RTL plan (:mod:`.plan`) as thin Verilog: the top and one module per
fully parallel Dense layer, plus the ``.mem`` ROM images. The arithmetic leaves are
the hand-written library modules in ``lib/`` (copied next to the generated files).
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

import numpy as np

from ...fixed import FixedType
from ...ir import (
    Binarize,
    Clip,
    Conv,
    Dense,
    Embedding,
    Graph,
    LeakyRelu,
    Merge,
    Node,
    Quantize,
    Relu,
    Reshape,
    ScaleShift,
    Softmax,
    Table,
    Ternarize,
    Threshold,
)
from ...passes.folding import (
    Schedule,
    aligned_bias,
    pow2_exponent,
    rom_layout,
    shift_code,
    table_word_width,
)
from ...reference import softmax_product_frac
from .design import fifo_aw
from .plan import (
    OVF_CODE,
    ROUND_CODE,
    ConvFolded,
    ConvUnrolled,
    ConvUnrolledFolded,
    ConvUnrolledShared,
    DenseFolded,
    DenseParallel,
    DenseSkip,
    ElementwiseStage,
    Gather,
    InputStage,
    PoolUnrolled,
    ReshapeStage,
    SoftmaxStage,
    Stage,
    clog2,
    credits,
    ident,
    mac_netlist,
    scale_shift_params,
    softmax_tables,
    stream_plan,
    table_words,
    valid_only,
)
from .stream import (
    Block,
    Collect,
    ConvPipe,
    DensePipe,
    Fifo,
    Folded,
    Fork,
    GlobalPoolBlock,
    Join,
    PoolPipe,
    Skid,
    StreamPlan,
    TransposeBlock,
    Unrolled,
    UpsampleBlock,
    Window,
    Wire,
    conv_matrix,
)
from .verilog import Module, Port


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


_CLK = {"clk": "clk", "rst": "rst"}


def _mem(file: str) -> str:
    """A ``.mem`` file parameter: its name under the top's ``MEM_DIR``."""
    return f'{{MEM_DIR, "{file}"}}'


def dense_parallel_module(top: str, st: Stage) -> tuple[str, str]:
    """Module name and text of a fully parallel Dense layer."""
    n: Dense = st.node  # type: ignore[assignment]
    w = n.weights["weight"]
    to = n.output.ftype
    n_in, n_out = w.data.shape
    title = (f"{n.name}: fully parallel Dense {n_in} -> {n_out}, "
             f"{int(np.count_nonzero(w.data))} nonzero weights")
    return mac_module(f"{top}_{ident(n.name)}", title, w.ftype, n.input.ftype, to, st.info,
                      st.latency)


def mac_module(mod: str, title: str, wft: FixedType, tx: FixedType, to: FixedType,
               info: dict, latency: int) -> tuple[str, str]:
    """A one-vector-per-cycle ``y = x @ W + bias`` of shift-add constant multiplies: the
    netlist of its :func:`~.plan.mac_info` (``info``, :func:`~.plan.mac_netlist`); zero
    weights build nothing.
    """
    xw, aw = tx.width, to.width
    n_in, n_out = info["graph"].n_in, len(info["graph"].outputs)
    nt = info["terms"]
    o = Module(mod, [Port("input", "clk"), Port("input", "rst"),
                     Port("input", "x", n_in * xw), Port("input", "in_valid"),
                     Port("output", "in_ready"), Port("output", "y", n_out * aw),
                     Port("output", "out_valid"), Port("input", "out_ready")])
    o.default_nettype_none()
    o.note(f"{title}; x {tx.cpp()}, w {wft.cpp()}, y {to.cpp()}")
    o.note(f"constant multiplies as one shared adder graph ({len(info['graph'].nodes)} "
           f"shared sums of shifted inputs, cmvm.py), then per output a pipelined adder "
           f"tree of its terms (at most {nt}); latency {latency} cycles, II 1")
    if info["sign_inputs"]:  # +-1 inputs: the sum over their sign bits (plan.sign_form)
        o.note("binarized inputs x = 1 - 2 s: the graph adds the sign bits s, weights -2 w, "
               "the column sums folded into the bias (XNOR-popcount for binary weights)")
    o.wire("ce")
    o.instance("nnfab_pipe_ctrl", "u_ctrl", {"S": latency},
               {**_CLK, "in_valid": "in_valid", "in_ready": "in_ready",
                "out_valid": "out_valid", "out_ready": "out_ready", "ce": "ce"})
    net = mac_netlist(info, tx, aw)
    for i in net.inputs:
        if info["sign_inputs"]:
            o.wire(f"x{i}", 2, signed=True, init=f"{{1'b0, x[{i * xw + xw - 1}]}}")
            continue
        ext = f"x[{i * xw + xw - 1}]" if tx.signed else "1'b0"
        o.wire(f"x{i}", xw + 1, signed=True, init=f"{{{ext}, x[{i * xw} +: {xw}]}}")
    for name, w, _src in net.regs:
        o.reg(name, w, signed=True)
    for name, w, e in net.wires:
        o.wire(name, w, signed=True, init=e)
    if net.regs:
        o.always("@(posedge clk) if (ce)", [f"{name} <= {src};" for name, _w, src in net.regs])
    for j, e in enumerate(net.outputs):
        o.assign(f"y[{j * aw} +: {aw}]", e)
    return mod, o.render()


def _elementwise(o: Module, n: Node, xin: str, yout: str, size: int | None = None) -> None:
    ti, to = n.input.ftype, n.output.ftype
    size = n.output.size if size is None else size
    nm = ident(n.name)
    params: dict[str, object]
    common: dict[str, object] = {"N": size, "IN_W": ti.width, "IN_S": int(ti.signed)}
    if isinstance(n, (Quantize, Relu)):
        mod = "nnfab_quantize_vec"
        params = {**common, "OUT_W": to.width, "OUT_S": int(to.signed),
                  "SHIFT": ti.frac - to.frac, "ROUND": ROUND_CODE[to.rounding],
                  "OVF": OVF_CODE[to.overflow], "RELU": int(isinstance(n, Relu))}
    elif isinstance(n, LeakyRelu):
        tn = n["neg"]
        mod = "nnfab_leaky_vec"
        params = {**common, "OUT_W": to.width, "NEG_W": tn.width,
                  "SHIFT_P": ti.frac - to.frac, "SHIFT_N": ti.frac - tn.frac,
                  "ROUND_P": ROUND_CODE[to.rounding], "OVF_P": OVF_CODE[to.overflow],
                  "ROUND_N": ROUND_CODE[tn.rounding], "OVF_N": OVF_CODE[tn.overflow]}
    elif isinstance(n, Clip):
        mod = "nnfab_clip_vec"
        params = {**common, "LO": hexlit(ti.width, n["lo_raw"]),
                  "HI": hexlit(ti.width, n["hi_raw"]), "OUT_W": to.width,
                  "OUT_S": int(to.signed), "SHIFT": ti.frac - to.frac,
                  "ROUND": ROUND_CODE[to.rounding], "OVF": OVF_CODE[to.overflow]}
    elif isinstance(n, Binarize):
        mod = "nnfab_binarize_vec"
        params = {**common, "OUT_W": to.width}
    elif isinstance(n, Ternarize):
        mod = "nnfab_ternarize_vec"
        params = {**common, "OUT_W": to.width, "THR": int(n["threshold_raw"])}
    elif isinstance(n, Threshold):
        t2, l2 = n.tables()
        thr, lev = t2.reshape(-1), l2.reshape(-1)
        mod = "nnfab_threshold_vec"
        params = {**common, "OUT_W": to.width, "T": t2.shape[1], "C": t2.shape[0],
                  "THR": pack(list(thr), ti.width) if len(thr) else hexlit(ti.width * len(t2), 0),
                  "LEV": pack(list(lev), to.width)}
    elif isinstance(n, (Table, Embedding)):
        tab = n.weights["table"]
        if isinstance(n, Embedding):  # a word (a row of the table) per input element (a
            size = n.input.size  # chain design's: a design with branches refuses it)
        mod = "nnfab_table_vec"
        params = {**common, "N": size, "OUT_W": table_word_width(n), "DEPTH": len(tab.data),
                  "SHIFT": int(n["index_shift"]), "OFFSET": int(n["index_offset"]),
                  "FILE": _mem(f"{nm}_table.mem")}
    elif isinstance(n, ScaleShift):
        p = scale_shift_params(n)
        mod = "nnfab_scale_shift_vec"
        params = {"N": size, "C": n.input.shape[-1], "IN_W": ti.width,
                  "IN_S": int(ti.signed), "SW": p["SW"], "TW": p["TW"], "SCALE": pack(p["scale"], p["SW"]),
                  "SHIFTV": pack(p["shift"], p["TW"]), "LP": p["LP"], "LT": p["LT"],
                  "ACC_W": p["ACC_W"], "OUT_W": to.width, "OUT_S": int(to.signed),
                  "SHIFT": p["SHIFT"], "ROUND": ROUND_CODE[to.rounding],
                  "OVF": OVF_CODE[to.overflow]}
    else:  # pragma: no cover - plan() refuses the rest
        raise TypeError(f"no element-wise RTL for {n.OP}")
    o.instance(mod, f"u_{nm}", params, {"x": xin, "y": yout})


def folded_instance(o: Module, files: dict[str, str], nm: str, sch: Schedule, n_in: int,
                    wft: FixedType, bias: list[int], tx: FixedType, to: FixedType,
                    shift: int, ports: dict[str, str], mul_lut: bool = False,
                    pipe: int = 0) -> None:
    """Instance ``u_{nm}`` of nnfab_dense_folded computing ``y = x @ W + bias`` for an
    ``n_in``-input layer by the folded schedule ``sch`` of ``W`` (``bias`` aligned to the
    output fraction, one per output); its ROM image goes to ``files``; ``ports`` is the
    port connection list; ``mul_lut``: shift-add multipliers in LUTs instead of DSP48s;
    ``pipe``: its ``PIPE`` (the stage's ``info["pipe"]``, :func:`.plan.folded_pipe`)."""
    from .costs import accumulators, in_dsp, rom_cost

    n_out = len(bias)
    lay = rom_layout(sch, n_in, n_out, wft.width)
    acc = accumulators(sch, lay, n_out, to.width, in_dsp(lay, tx, wft, mul_lut))["acc"]
    mem = f"{nm}_schedule.mem"
    files[mem] = "\n".join(f"{w:x}" for w in lay.words) + "\n"
    ia, oa = max(1, clog2(n_in)), max(1, clog2(n_out))
    params: dict[str, object] = {
        "N_IN": n_in, "XW": tx.width, "XS": int(tx.signed), "N_OUT": n_out,
        "ACC_W": to.width, "WW": wft.width, "WS": int(wft.signed), "PSH": shift,
        "R": sch.reuse, "M": sch.mults, "IA": ia, "OA": oa,
        "RA": max(1, clog2(sch.reuse)), "WMODE": lay.wmode, "WK": lay.wk, "WF": lay.wf,
        "LOCAL": int(lay.local_in), "U": lay.u, "LA": lay.la, "OL": lay.ol,
        "MUL_LUT": int(mul_lut), "ACC": acc, "PIPE": pipe,
    }
    if pipe and not rom_cost(sch.reuse, sch.mults * lay.ew)[0]:
        # a LUT ROM: each multiplier's own, from the words given as a parameter
        params.update(ROM_LUT=1, ROM=pack(lay.words, sch.mults * lay.ew))
    if lay.local_in:
        params["IN_LIST"] = pack([i for li in lay.in_list for i in li], ia)
    params.update(OLO=pack(lay.out_lo, oa), OHI=pack(lay.out_hi, oa), FILE=_mem(mem),
                  BIAS=pack(bias, to.width))
    if acc:  # the outputs with a nonzero weight; the others are their bias
        has = np.zeros(n_out, np.int64)
        has[sch.out_idx[sch.valid]] = 1
        params["HAS"] = pack([int(v) for v in has], 1)
    o.instance("nnfab_dense_folded", f"u_{nm}", params, ports)


def _folded(o: Module, files: dict[str, str], s: DenseFolded, nm: str, a: str, y: str,
            yr: str) -> None:
    """Instance of nnfab_dense_folded for stage ``s`` (input stream ``a``, output ``y``;
    ``yr`` what its ``out_ready`` reads)."""
    dn: Dense = s.node  # type: ignore[assignment]
    w = dn.weights["weight"]
    to = dn.output.ftype
    n_in, n_out = w.data.shape
    ab = aligned_bias(dn)
    bias = [0] * n_out if ab is None else [int(v) for v in ab]
    folded_instance(o, files, nm, s.schedule, n_in, w.ftype, bias, dn.input.ftype,
                    to, s.shift,
                    _frame_ports(a, y, yr), mul_lut=dn["multipliers"] == "lut", pipe=s.pipe)


def _skip(o: Module, files: dict[str, str], s: DenseSkip, nm: str, a: str, y: str) -> None:
    """Instance of nnfab_dense_skip (zero-input skipping) for stage ``s``."""
    dn: Dense = s.node  # type: ignore[assignment]
    w = dn.weights["weight"]
    tx, to = dn.input.ftype, dn.output.ftype
    n_in, n_out = w.data.shape
    ab = aligned_bias(dn)
    bias = [0] * n_out if ab is None else [int(v) for v in ab]
    sk = s.skip
    m = sk.mults
    k2 = pow2_exponent(sk.weight)
    wmode, wk = (0, 0) if k2 is None else (1, k2)
    wf = 2 if wmode else w.ftype.width
    lo = max(1, clog2(-(-n_out // m)))
    ew = wf + lo
    lines = []
    for row in range(max(1, sk.rows)):
        word = 0
        for k in range(m):
            wv = int(sk.weight[row, k]) if row < sk.rows else 0
            field = shift_code(wv, wk, 0) if wmode else wv % (1 << w.ftype.width)
            ol = int(sk.out_local[row, k]) if row < sk.rows else 0
            word |= ((field << lo) | ol) << (k * ew)
        lines.append(f"{word:x}")
    mem = f"{nm}_schedule.mem"
    files[mem] = "\n".join(lines) + "\n"
    t = max(1, sk.rows)
    ra = max(1, clog2(t + 1))
    starts = [min(v, t - 1) for v in sk.start[:-1]]
    lasts = [max(0, e - 1) for e in sk.start[1:]]
    has = [int(e > st) for st, e in zip(sk.start[:-1], sk.start[1:])]
    params = {
        "N_IN": n_in, "XW": tx.width, "XS": int(tx.signed), "N_OUT": n_out,
        "ACC_W": to.width, "WW": w.ftype.width, "WS": int(w.ftype.signed), "PSH": s.shift,
        "M": m, "T": t, "RA": ra, "IA": max(1, clog2(n_in)), "LO": lo, "WMODE": wmode,
        "WK": wk, "WF": wf, "START": pack(starts, ra), "LAST": pack(lasts, ra),
        "HAS": pack(has, 1), "FILE": _mem(mem), "BIAS": pack(bias, to.width),
    }
    o.instance("nnfab_dense_skip", f"u_{nm}", params, _frame_ports(a, y, f"{y}_r"))


def _top(top: str, in_pad: int, out_pad: int) -> Module:
    """The generated top: MEM_DIR, clock/reset and the two AXI-Stream ports."""
    return Module(top, [
        Port("input", "clk"), Port("input", "rst", comment="synchronous, active high"),
        Port("input", "s_axis_tdata", in_pad), Port("input", "s_axis_tvalid"),
        Port("output", "s_axis_tready"), Port("input", "s_axis_tlast"),
        Port("output", "m_axis_tdata", out_pad), Port("output", "m_axis_tvalid"),
        Port("input", "m_axis_tready"), Port("output", "m_axis_tlast"),
    ], params=[("MEM_DIR", '""', "directory prefix of the .mem ROM images (with '/')")])


def pool_win(n: Node, k: int, c: int) -> dict[str, object]:
    """The parameters of ``nnfab_pool_win`` for Pool/GlobalPool ``n`` over ``k`` pixels
    of ``c`` channels."""
    ti, to = n.input.ftype, n.output.ftype
    return {"K": k, "C": c, "IN_W": ti.width, "IN_S": int(ti.signed),
            "AVG": int(n["mode"] == "avg"), "OUT_W": to.width, "OUT_S": int(to.signed),
            "D": to.frac - ti.frac, "ROUND": ROUND_CODE[to.rounding],
            "OVF": OVF_CODE[to.overflow]}


def _select(x: str, idx: list[int], w: int, fill: int) -> str:
    """Verilog concatenation of elements ``idx`` of bus ``x`` (``w`` bits each; ``-1`` is
    the constant ``fill``), element ``idx[0]`` in the least significant bits."""
    parts = [f"{x}[{i * w} +: {w}]" if i >= 0 else hexlit(w, fill) for i in reversed(idx)]
    return parts[0] if len(parts) == 1 else "{" + ", ".join(parts) + "}"


@singledispatch
def _frame(s: Stage, o: Module, files: dict[str, str], top: str, nm: str, a: str, y: str,
           yr: str) -> None:
    """One whole-vector stage: a layer of an unrolled CNN (whole frames per beat; see
    :mod:`.plan`), a gather, or a softmax (``yr``: what its ``out_ready`` reads)."""
    raise AssertionError(s.kind)  # pragma: no cover


def _frame_ports(a: str, y: str, yr: str) -> dict[str, str]:
    """The handshake and data ports of a module from stream ``a`` to ``y``."""
    return {**_CLK, "x": f"{a}_d", "in_valid": f"{a}_v", "in_ready": f"{a}_r",
            "y": f"{y}_d", "out_valid": f"{y}_v", "out_ready": yr}


@_frame.register
def _(s: SoftmaxStage, o: Module, files: dict[str, str], top: str, nm: str, a: str,
      y: str, yr: str) -> None:
    n = s.node
    ports = _frame_ports(a, y, yr)
    assert isinstance(n, Softmax)  # plan.stage_of makes a softmax stage of a Softmax only
    et, it = n.weights["exp_table"], n.weights["inv_table"]
    ti, to = n.input.ftype, n.output.ftype
    exp, inv = softmax_tables(n)
    for words, suffix in ((exp, "exp"), (inv, "inv")):
        files[f"{nm}_{suffix}.mem"] = "\n".join(f"{v:x}" for v in words) + "\n"
    o.instance("nnfab_softmax", f"u_{nm}", {
        "N": n.input.size, "IN_W": ti.width, "IN_S": int(ti.signed), "EW": et.ftype.width,
        "ED": len(exp), "ES": n["exp_shift"], "EFILE": _mem(f"{nm}_exp.mem"),
        "IW": it.ftype.width, "ID": len(inv), "IS": n["inv_shift"],
        "IFILE": _mem(f"{nm}_inv.mem"), "OUT_W": to.width, "OUT_S": int(to.signed),
        "SHIFT": softmax_product_frac(n) - to.frac, "ROUND": ROUND_CODE[to.rounding],
        "OVF": OVF_CODE[to.overflow]}, ports)


@_frame.register
def _(s: ConvUnrolled, o: Module, files: dict[str, str], top: str, nm: str, a: str,
      y: str, yr: str) -> None:
    n = s.node
    ports = _frame_ports(a, y, yr)
    w = s.info["matrix"]
    title = (f"{n.name}: {'depthwise ' if n['depthwise'] else ''}conv {tuple(n['kernel'])}"
             f" unrolled over the frame, {w.shape[0]} -> {w.shape[1]}, "
             f"{int(np.count_nonzero(w))} nonzero weight x pixel products")
    mod, text = mac_module(f"{top}_{nm}", title, n.weights["weight"].ftype,
                           n.input.ftype, n.output.ftype, s.info, s.latency)
    files[f"{mod}.v"] = text
    o.instance(mod, f"u_{nm}", ports=ports)


@_frame.register
def _(s: ConvUnrolledFolded, o: Module, files: dict[str, str], top: str, nm: str, a: str,
      y: str, yr: str) -> None:
    n = s.node
    ports = _frame_ports(a, y, yr)
    bias = s.info["bias"]
    o.line(f"// {n.name}: {s.mults} multipliers x {s.reuse} cycles per frame")
    folded_instance(o, files, nm, s.schedule, s.info["n_in"],
                    n.weights["weight"].ftype,
                    [0] * s.info["n_out"] if bias is None else [int(v) for v in bias],
                    n.input.ftype, n.output.ftype, s.shift, ports, pipe=s.pipe)


@_frame.register
def _(s: ConvUnrolledShared, o: Module, files: dict[str, str], top: str, nm: str, a: str,
      y: str, yr: str) -> None:
    n = s.node
    r, k, idx = s.info["reuse"], s.info["instances"], s.info["windows"]
    tx, to = n.input.ftype, n.output.ftype
    f = n.output.shape[-1]
    win = idx.shape[1]
    bw, pw = k * win * tx.width, k * f * to.width
    title = (f"{n.name}: {k} window kernels of a {'depthwise ' if n['depthwise'] else ''}"
             f"conv {tuple(n['kernel'])}, each shared by {r} output pixels")
    mod, text = mac_module(f"{top}_{nm}", title, n.weights["weight"].ftype, tx, to,
                           s.info, s.info["stages"])
    files[f"{mod}.v"] = text
    ka = max(1, clog2(r))
    fb = n.input.size * tx.width
    order = s.info["order"]
    how = ("raster order" if order[:len(idx)] == list(range(len(idx)))
           else "pixels grouped by the padding their windows read")
    o.line(f"// {n.name}: beat t of a frame holds the windows of {k} pixels, kernel j the "
      f"pixel order[t*{k}+j] ({how})")
    o.line(f"wire [{fb - 1}:0] {nm}_xq;")
    o.line(f"wire [{ka - 1}:0] {nm}_k;")
    o.line(f"wire {nm}_wv, {nm}_wr, {nm}_pv, {nm}_pr;")
    o.line(f"nnfab_serialize #(.N({r}), .FB({fb}), .KA({ka})) u_{nm}_ser (.clk(clk), "
      f".rst(rst), .x({a}_d), .in_valid({a}_v), .in_ready({a}_r), .xq({nm}_xq), "
      f".k({nm}_k), .out_valid({nm}_wv), .out_ready({nm}_wr));")
    beats: list[int] = []
    for p in order:  # a slot past the last pixel reads a zero window
        beats += [int(v) for v in idx[p]] if p >= 0 else [-1] * win
    o.line(f"wire [{r * bw - 1}:0] {nm}_beats = {_select(nm + '_xq', beats, tx.width, 0)};")
    o.line(f"wire [{pw - 1}:0] {nm}_p;")
    o.line(f"{mod} u_{nm} (.clk(clk), .rst(rst), .x({nm}_beats[{nm}_k * {bw} +: {bw}]), "
      f".in_valid({nm}_wv), .in_ready({nm}_wr), .y({nm}_p), .out_valid({nm}_pv), "
      f".out_ready({nm}_pr));")
    px = f"{nm}_p"
    if "fused" in s.info:  # the following Quantize / Relu on each beat's k pixels
        e = s.info["fused"]
        to = e.output.ftype
        px = f"{nm}_pq"
        o.line(f"wire [{k * f * to.width - 1}:0] {px};")
        _elementwise(o, e, f"{nm}_p", px, k * f)
        pw = k * f * to.width
    o.line(f"wire [{r * pw - 1}:0] {nm}_c;")
    o.line(f"nnfab_collect #(.N({r}), .PB({pw})) u_{nm}_col (.clk(clk), .rst(rst), "
      f".x({px}), .in_valid({nm}_pv), .in_ready({nm}_pr), .y({nm}_c), "
      f".out_valid({y}_v), .out_ready({yr}));")
    slot = {p: i for i, p in enumerate(order) if p >= 0}  # the collected frame, by slot
    pick = [slot[p] * f + c for p in range(len(idx)) for c in range(f)]
    o.line(f"assign {y}_d = {_select(nm + '_c', pick, to.width, 0)};")


@_frame.register
def _(s: Gather, o: Module, files: dict[str, str], top: str, nm: str, a: str,
      y: str, yr: str) -> None:
    n = s.node
    wd = n.output.ftype.width
    o.line(f"assign {y}_v = {a}_v;")
    o.line(f"assign {a}_r = {y}_r;")
    o.line(f"assign {y}_d = {_select(a + '_d', [int(i) for i in s.info['gather'][:, 0]], wd, 0)};")


@_frame.register
def _(s: PoolUnrolled, o: Module, files: dict[str, str], top: str, nm: str, a: str,
      y: str, yr: str) -> None:
    n = s.node
    gi = s.info["gather"]  # (outputs, k): output = position * C + channel
    ti = n.input.ftype
    c = n.input.shape[-1]
    k = gi.shape[1]
    # per output position, its window as nnfab_pool_win wants it: pixel p, channel ch
    # at (p*C + ch); padding (max pooling only) reads the type minimum, never the max
    wins = gi.reshape(-1, c, k).transpose(0, 2, 1).reshape(-1, k * c)
    params = pool_win(n, k, c)
    tw = n.output.ftype.width
    o.line(f"wire [{len(wins) - 1}:0] {nm}_iv, {nm}_ov;")
    for p, row in enumerate(wins):
        xs = _select(f"{a}_d", [int(i) for i in row], ti.width, ti.min_raw)
        o.instance("nnfab_pool_win", f"u_{nm}_{p}", params, {
            **_CLK, "x": xs, "in_valid": f"{a}_v", "in_ready": f"{nm}_iv[{p}]",
            "y": f"{y}_d[{p * c * tw} +: {c * tw}]", "out_valid": f"{nm}_ov[{p}]",
            "out_ready": yr})
    o.line(f"assign {a}_r = {nm}_iv[0];  // every window's control is the same")
    o.line(f"assign {y}_v = {nm}_ov[0];")


@singledispatch
def _stage(s: Stage, o: Module, files: dict[str, str], top: str, nm: str, a: str, y: str,
           yr: str) -> None:
    """Stage ``s`` of a chain design, from stream ``a`` to ``y`` (``yr``: what its
    ``out_ready`` reads); a whole-vector stage's module (:func:`_frame`) by default."""
    _frame(s, o, files, top, nm, a, y, yr)


@_stage.register
def _(s: ElementwiseStage, o: Module, files: dict[str, str], top: str, nm: str, a: str,
      y: str, yr: str) -> None:
    n = s.node
    if "mid" in s.info:  # rounded | saturated (split_cast)
        mid: FixedType = s.info["mid"]
        size = n.output.size
        ti, to = n.input.ftype, n.output.ftype
        mb, bits = size * mid.width, _bits(n.output)
        o.line(f"wire [{mb - 1}:0] {nm}_m, {nm}_md;")
        o.line(f"wire [{bits - 1}:0] {nm}_c;")
        o.line(f"wire {nm}_mv, {nm}_mr;")
        o.line(f"nnfab_quantize_vec #(.N({size}), .IN_W({ti.width}), "
          f".IN_S({int(ti.signed)}), .OUT_W({mid.width}), .OUT_S({int(mid.signed)}), "
          f".SHIFT({ti.frac - mid.frac}), .ROUND({ROUND_CODE[mid.rounding]}), "
          f".OVF({OVF_CODE[mid.overflow]}), .RELU({int(isinstance(n, Relu))})) "
          f"u_{nm}_round (.x({a}_d), .y({nm}_m));")
        o.line(f"nnfab_reg #(.W({mb})) u_{nm}_mq (.clk(clk), .rst(rst), .x({nm}_m), "
          f".in_valid({a}_v), .in_ready({a}_r), .y({nm}_md), .out_valid({nm}_mv), "
          f".out_ready({nm}_mr));")
        o.line(f"nnfab_quantize_vec #(.N({size}), .IN_W({mid.width}), "
          f".IN_S({int(mid.signed)}), .OUT_W({to.width}), .OUT_S({int(to.signed)}), "
          f".SHIFT(0), .ROUND(0), .OVF({OVF_CODE[to.overflow]}), .RELU(0)) "
          f"u_{nm}_sat (.x({nm}_md), .y({nm}_c));")
        o.line(f"nnfab_reg #(.W({bits})) u_{nm}_q (.clk(clk), .rst(rst), .x({nm}_c), "
          f".in_valid({nm}_mv), .in_ready({nm}_mr), .y({y}_d), .out_valid({y}_v), "
          f".out_ready({yr}));")
    elif s.latency:  # registered (passes.timing)
        bits = _bits(n.output)
        o.line(f"wire [{bits - 1}:0] {nm}_c;")
        _elementwise(o, n, f"{a}_d", f"{nm}_c")
        o.line(f"nnfab_reg #(.W({bits})) u_{nm}_q (.clk(clk), .rst(rst), .x({nm}_c), "
          f".in_valid({a}_v), .in_ready({a}_r), .y({y}_d), .out_valid({y}_v), "
          f".out_ready({yr}));")
        if isinstance(n, (Table, Embedding)):
            files[f"{nm}_table.mem"] = "\n".join(f"{v:x}" for v in table_words(n)) + "\n"
    else:
        o.line(f"assign {y}_v = {a}_v;")
        o.line(f"assign {a}_r = {y}_r;")
        _elementwise(o, n, f"{a}_d", f"{y}_d")
        if isinstance(n, (Table, Embedding)):
            files[f"{nm}_table.mem"] = "\n".join(f"{v:x}" for v in table_words(n)) + "\n"


@_stage.register
def _(s: ReshapeStage, o: Module, files: dict[str, str], top: str, nm: str, a: str,
      y: str, yr: str) -> None:
    o.line(f"assign {y}_v = {a}_v;")
    o.line(f"assign {a}_r = {y}_r;")
    o.line(f"assign {y}_d = {a}_d;")


@_stage.register
def _(s: DenseParallel, o: Module, files: dict[str, str], top: str, nm: str, a: str,
      y: str, yr: str) -> None:
    mod, text = dense_parallel_module(top, s)
    files[f"{mod}.v"] = text
    o.line(f"{mod} u_{nm} (.clk(clk), .rst(rst), .x({a}_d), .in_valid({a}_v), "
      f".in_ready({a}_r), .y({y}_d), .out_valid({y}_v), .out_ready({yr}));")


@_stage.register
def _(s: DenseFolded, o: Module, files: dict[str, str], top: str, nm: str, a: str,
      y: str, yr: str) -> None:
    _folded(o, files, s, nm, a, y, yr)


@_stage.register
def _(s: DenseSkip, o: Module, files: dict[str, str], top: str, nm: str, a: str,
      y: str, yr: str) -> None:
    _skip(o, files, s, nm, a, y)


@_stage.register
def _(s: ConvFolded, o: Module, files: dict[str, str], top: str, nm: str, a: str,
      y: str, yr: str) -> None:
    # the conv's per-pixel matmul folded by its reuse factor, on the window vector
    n = s.node
    cw = n.weights["weight"]
    o.line(f"// {n.name}: {s.mults} multipliers x {s.reuse} cycles "
      f"per output pixel over {int(s.schedule.valid.sum())} nonzero weights")
    folded_instance(o, files, nm, s.schedule, s.info["n_in"], cw.ftype,
                    s.info["bias"], n.input.ftype, n.output.ftype, s.shift,
                    _frame_ports(a, y, yr), pipe=s.pipe)


def render(g: Graph, stages: list[Stage]) -> tuple[str, dict[str, str]]:
    """Top module name and ``{file name: text}`` of every generated file."""
    top = ident(g.name)
    files: dict[str, str] = {}
    tin, tout = g.inputs[0], g.outputs[0]
    in_bits, out_bits = _bits(tin), _bits(tout)
    in_pad = -(-in_bits // 8) * 8
    out_pad = -(-out_bits // 8) * 8
    o = _top(top, in_pad, out_pad)
    o.note("Generated by nnfab: thin wiring of the nnfab_* library modules. Do not edit.")
    o.note(f"input  {tin.name}: {tin.size} x {tin.ftype.cpp()}, element i at "
           f"tdata[i*{tin.ftype.width} +: {tin.ftype.width}] (one vector per beat)")
    o.note(f"output {tout.name}: {tout.size} x {tout.ftype.cpp()}, element i at tdata[i*"
           f"{tout.ftype.width} +: {tout.ftype.width}]")
    o.default_nettype_none()
    sig = {}
    for s in stages:
        t = s.node.output
        nm = o.stem(t.name)
        sig[t.name] = nm
        if "fused" in s.info:  # drives its requantizer's output directly
            continue
        o.wire(f"{nm}_d", _bits(t))
        o.wires([f"{nm}_v", f"{nm}_r"])
    for s in stages:
        if "fused" in s.info:
            sig[s.node.output.name] = sig[s.info["fused"].output.name]
    i0 = sig[tin.name]
    vo = valid_only(stages)
    if vo:
        ii = max(s.ii for s in stages)
        o.line(f"// valid-only pipeline: no layer stalls (every out_ready is 1); the input "
          f"admits a vector while the {credits(stages)}-slot output FIFO has room for it")
        o.line("wire nnfab_pop = m_axis_tvalid & m_axis_tready;")
        o.line(f"nnfab_admit #(.W({in_bits}), .CREDITS({credits(stages)}), .II({ii})) "
          f"u_nnfab_admit (.clk(clk), .rst(rst), .s_data(s_axis_tdata[{in_bits - 1}:0]), "
          f".s_valid(s_axis_tvalid), .s_ready(s_axis_tready), .m_data({i0}_d), "
          f".m_valid({i0}_v), .pop(nnfab_pop));")
    else:
        o.line(f"nnfab_axis_skid #(.W({in_bits})) u_skid (.clk(clk), .rst(rst), "
          f".s_data(s_axis_tdata[{in_bits - 1}:0]), .s_valid(s_axis_tvalid), "
          f".s_ready(s_axis_tready), .m_data({i0}_d), .m_valid({i0}_v), .m_ready({i0}_r));")
    for s in stages:
        n = s.node
        if isinstance(s, InputStage):  # the admission or skid buffer above
            continue
        a = sig[n.input.name]
        y = sig[n.output.name]
        yr = "1'b1" if vo else f"{y}_r"
        nm = ident(n.name)
        if "fused_into" in s.info:
            o.line(f"// {n.OP} {n.name}: applied per beat inside {s.info['fused_into']}")
            continue
        o.line(f"// {n.OP} {n.name}: latency {s.latency}, II {s.ii}")
        _stage(s, o, files, top, nm, a, y, yr)
    yo = sig[tout.name]
    pad = out_pad - out_bits
    if vo:
        o.line(f"wire [{out_bits - 1}:0] nnfab_out_q;")
        o.line("wire nnfab_room;  // always 1: the admission keeps a slot for every vector")
        o.line(f"nnfab_fifo #(.DEPTH({credits(stages)}), .PB({out_bits})) u_nnfab_out "
          f"(.clk(clk), .rst(rst), .x({yo}_d), .in_valid({yo}_v), .in_ready(nnfab_room), "
          ".y(nnfab_out_q), "
          ".out_valid(m_axis_tvalid), .out_ready(m_axis_tready));")
        o.line(f"assign {yo}_r = 1'b1;")
        data = f"{{{pad}'d0, nnfab_out_q}}" if pad else "nnfab_out_q"
        o.line(f"assign m_axis_tdata = {data};")
    else:
        data = f"{{{pad}'d0, {yo}_d}}" if pad else f"{yo}_d"
        o.line(f"assign m_axis_tdata = {data};")
        o.line(f"assign m_axis_tvalid = {yo}_v;")
        o.line(f"assign {yo}_r = m_axis_tready;")
    o.line("// TLAST travels beside the datapath in a FIFO (vectors stay in order)")
    o.line(f"nnfab_fifo_bit #(.AW({fifo_aw(stages)})) u_last (.clk(clk), .rst(rst), "
      ".push(s_axis_tvalid & s_axis_tready), .din(s_axis_tlast), "
      ".pop(m_axis_tvalid & m_axis_tready), .dout(m_axis_tlast));")
    files[f"{top}.v"] = o.render()
    return top, files


# -- streamed (pixel-per-beat) designs ---------------------------------------------------


def _bitvec(bits: list[bool]) -> str:
    """Verilog literal with bits[i] at bit i."""
    v = sum(1 << i for i, b in enumerate(bits) if b)
    return hexlit(len(bits), v)


def _join(o: Module, blk: Block) -> None:
    n = blk.node
    assert n is not None
    to = n.output.ftype
    y = blk.outs[0]
    ins = blk.ins
    vs = " & ".join(f"{a}_v" for a in ins)
    o.line(f"assign {y}_v = {vs};")
    for a in ins:
        o.line(f"assign {a}_r = {y}_r & {y}_v;")
    ch = blk.p["elems"]  # channels of a pixel, or a whole vector
    aw = to.width

    def elem(a: str, x: Any, k: int) -> str:
        """Element ``k`` of beat ``a`` (input tensor ``x``) sign-extended to ``aw`` bits and
        aligned: to the output's fraction bits, or a Merge's own grid (:meth:`Merge.align`)."""
        t = x.ftype
        ext = f"{a}_d[{k * t.width + t.width - 1}]" if t.signed else "1'b0"
        e = f"{{{{{aw - t.width}{{{ext}}}}}, {a}_d[{k * t.width} +: {t.width}]}}" \
            if aw > t.width else f"{a}_d[{k * t.width} +: {t.width}]"
        sh = n.align(x) if isinstance(n, Merge) else to.frac - t.frac
        return f"({e} << {sh})" if sh else e

    op = blk.p["op"]
    if op in ("add", "avg", "sub"):  # an avg's sum is read with k more fraction bits
        sign = " - " if op == "sub" else " + "
        for k in range(ch):
            terms = sign.join(elem(a, t, k) for a, t in zip(ins, n.inputs))
            o.line(f"assign {y}_d[{k * aw} +: {aw}] = {terms};")
    elif op == "mul":  # signed products of the operands at their own widths (a sign or
        # zero bit on top), each exact modulo 2^aw, so the last is the exact product
        for k in range(ch):
            e = ""
            for i, (a, t) in enumerate(zip(ins, n.inputs)):
                w = t.ftype.width
                v = f"{y}_p{i}_{k}"
                top = f"{a}_d[{k * w + w - 1}]" if t.ftype.signed else "1'b0"
                o.line(f"wire signed [{w}:0] {v} = {{{top}, {a}_d[{k * w} +: {w}]}};")
                if e:
                    o.line(f"wire signed [{aw - 1}:0] {v}_m = {e} * {v};")
                    e = f"{v}_m"
                else:
                    e = v
            o.line(f"assign {y}_d[{k * aw} +: {aw}] = {e};")
    elif op in ("max", "min"):  # compares of the aligned values (signed if the type is)
        cmp = ">" if op == "max" else "<"
        sg = "signed " if to.signed else ""
        for k in range(ch):
            e = elem(ins[0], n.inputs[0], k)
            for i, (a, t) in enumerate(zip(ins[1:], n.inputs[1:])):
                v = f"{y}_m{i}_{k}"
                o.line(f"wire {sg}[{aw - 1}:0] {v}_a = {e};")
                o.line(f"wire {sg}[{aw - 1}:0] {v}_b = {elem(a, t, k)};")
                e = f"(({v}_b {cmp} {v}_a) ? {v}_b : {v}_a)"
            o.line(f"assign {y}_d[{k * aw} +: {aw}] = {e};")
    else:  # along the channels of each of the beat's positions (a pixel, or a frame's)
        cout = n.output.shape[-1]
        base = 0
        for a, t in zip(ins, n.inputs):
            c = t.shape[-1]
            for p in range(ch // cout):
                for k in range(c):
                    o.line(f"assign {y}_d[{(p * cout + base + k) * aw} +: {aw}] = "
                      f"{elem(a, t, p * c + k)};")
            base += c


@singledispatch
def _block(blk: Block, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    """The Verilog of block ``blk`` of the block-level plan ``sp`` (its streams' wires are
    declared already)."""
    raise AssertionError(blk.kind)  # pragma: no cover


@_block.register
def _(blk: Skid, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    y = blk.outs[0]
    bits = sp.streams[sp.input].bits
    o.line(f"nnfab_axis_skid #(.W({bits})) u_skid (.clk(clk), .rst(rst), "
      f".s_data(s_axis_tdata[{bits - 1}:0]), .s_valid(s_axis_tvalid), "
      f".s_ready(s_axis_tready), .m_data({y}_d), .m_valid({y}_v), .m_ready({y}_r));")


@_block.register
def _(blk: Wire, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    n: Any = blk.node
    a = blk.ins[0]
    y = blk.outs[0]
    o.line(f"assign {y}_v = {a}_v;")
    o.line(f"assign {a}_r = {y}_r;")
    if isinstance(n, Reshape):
        o.line(f"assign {y}_d = {a}_d;")
    else:
        _elementwise(o, n, f"{a}_d", f"{y}_d", sp.streams[y].elems)
        if isinstance(n, (Table, Embedding)):
            files[f"{ident(n.name)}_table.mem"] = "\n".join(
                f"{v:x}" for v in table_words(n)) + "\n"


def _pipe(blk: Block, o: Module, mod: str, params: dict[str, object] | None = None) -> None:
    """The instance of ``mod``, a one-window-per-cycle pipeline module, for ``blk``."""
    nm, a, y = blk.name, blk.ins[0], blk.outs[0]
    o.instance(mod, f"u_{nm}", params, _frame_ports(a, y, f"{y}_r"))


@_block.register
def _(blk: DensePipe, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    mod, text = dense_parallel_module(top, blk.p["stage"])
    files[f"{mod}.v"] = text
    _pipe(blk, o, mod)


@_block.register
def _(blk: ConvPipe, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    cn: Conv = blk.node  # type: ignore[assignment]
    title = (f"{cn.name}: {'depthwise ' if cn['depthwise'] else ''}conv "
             f"{tuple(cn['kernel'])} over a {blk.p['K']}-pixel window, "
             f"{int(np.count_nonzero(conv_matrix(cn)))} nonzero weights")
    mod, text = mac_module(f"{top}_{ident(cn.name)}", title,
                           cn.weights["weight"].ftype, cn.input.ftype,
                           cn.output.ftype, blk.p["mac"], blk.p["S"])
    files[f"{mod}.v"] = text
    _pipe(blk, o, mod)


@_block.register
def _(blk: PoolPipe, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    n: Any = blk.node
    _pipe(blk, o, "nnfab_pool_win", pool_win(n, blk.p["K"], n.input.shape[-1]))


@_block.register(Folded)
@_block.register(Unrolled)
def _(blk: Block, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    # a folded Dense or Conv, or a layer of an unrolled CNN with branches: its stage
    y = blk.outs[0]
    _stage(blk.p["stage"], o, files, top, blk.name, blk.ins[0], y, f"{y}_r")


@_block.register
def _(blk: Window, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    n: Any = blk.node
    nm = blk.name
    a = blk.ins[0]
    y = blk.outs[0]
    p = blk.p
    ti = n.input.ftype
    fill = pack([p["FILL"]] * p["C"], ti.width)
    o.line(f"nnfab_window #(.C({p['C']}), .DW({ti.width}), .KH({p['KH']}), "
      f".KW({p['KW']}), .HP({p['HP']}), .WP({p['WP']}), .FILL({fill}), "
      f".ROWR({_bitvec(p['ROWR'])}), .COLR({_bitvec(p['COLR'])}), "
      f".ROWV({_bitvec(p['ROWV'])}), .COLV({_bitvec(p['COLV'])})) u_{nm} "
      f"(.clk(clk), .rst(rst), .x({a}_d), .in_valid({a}_v), .in_ready({a}_r), "
      f".win({y}_d), .out_valid({y}_v), .out_ready({y}_r));")


@_block.register
def _(blk: GlobalPoolBlock, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    n: Any = blk.node
    nm = blk.name
    a = blk.ins[0]
    y = blk.outs[0]
    ti, to = n.input.ftype, n.output.ftype
    avg = int(n["mode"] == "avg")
    o.line(f"nnfab_global_pool #(.N({blk.p['N']}), .C({n.input.shape[-1]}), "
      f".IN_W({ti.width}), .IN_S({int(ti.signed)}), .AVG({avg}), .OUT_W({to.width}), "
      f".OUT_S({int(to.signed)}), .D({to.frac - ti.frac}), "
      f".ROUND({ROUND_CODE[to.rounding]}), .OVF({OVF_CODE[to.overflow]})) u_{nm} "
      f"(.clk(clk), .rst(rst), .x({a}_d), .in_valid({a}_v), .in_ready({a}_r), "
      f".y({y}_d), .out_valid({y}_v), .out_ready({y}_r));")


@_block.register
def _(blk: Collect, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    nm = blk.name
    a = blk.ins[0]
    y = blk.outs[0]
    o.line(f"nnfab_collect #(.N({blk.p['N']}), .PB({sp.streams[a].bits})) u_{nm} "
      f"(.clk(clk), .rst(rst), .x({a}_d), .in_valid({a}_v), .in_ready({a}_r), "
      f".y({y}_d), .out_valid({y}_v), .out_ready({y}_r));")


@_block.register
def _(blk: TransposeBlock, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    n: Any = blk.node
    nm = blk.name
    a = blk.ins[0]
    y = blk.outs[0]
    p, bi, bo = blk.p, sp.streams[a].bits, sp.streams[y].bits
    w = n.input.ftype.width
    fb, ka = p["NO"] * bo, max(1, clog2(p["NO"]))
    o.line(f"wire [{p['NI'] * bi - 1}:0] {nm}_c;")
    o.line(f"wire [{fb - 1}:0] {nm}_xq;")
    o.line(f"wire [{ka - 1}:0] {nm}_k;")
    o.line(f"wire {nm}_cv, {nm}_cr;")
    o.line(f"nnfab_collect #(.N({p['NI']}), .PB({bi})) u_{nm}_col (.clk(clk), .rst(rst), "
      f".x({a}_d), .in_valid({a}_v), .in_ready({a}_r), .y({nm}_c), "
      f".out_valid({nm}_cv), .out_ready({nm}_cr));")
    o.line(f"nnfab_serialize #(.N({p['NO']}), .FB({fb}), .KA({ka})) u_{nm}_ser "
      f"(.clk(clk), .rst(rst), .x({_select(nm + '_c', p['gather'], w, 0)}), "
      f".in_valid({nm}_cv), .in_ready({nm}_cr), .xq({nm}_xq), .k({nm}_k), "
      f".out_valid({y}_v), .out_ready({y}_r));")
    o.line(f"assign {y}_d = {nm}_xq[{nm}_k * {bo} +: {bo}];")


@_block.register
def _(blk: UpsampleBlock, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    nm = blk.name
    a = blk.ins[0]
    y = blk.outs[0]
    p = blk.p
    o.line(f"nnfab_upsample #(.W({p['W']}), .PB({sp.streams[a].bits}), .FX({p['FX']}), "
      f".FY({p['FY']})) u_{nm} (.clk(clk), .rst(rst), .x({a}_d), .in_valid({a}_v), "
      f".in_ready({a}_r), .y({y}_d), .out_valid({y}_v), .out_ready({y}_r));")


@_block.register
def _(blk: Fork, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    nm = blk.name
    a = blk.ins[0]
    outs = blk.outs
    o.line(f"wire [{sp.streams[a].bits - 1}:0] {nm}_y;")
    for f in outs:
        o.line(f"assign {f}_d = {nm}_y;")
    vs = ", ".join(f"{f}_v" for f in reversed(outs))
    rs = ", ".join(f"{f}_r" for f in reversed(outs))
    o.line(f"nnfab_fork #(.N({len(outs)}), .PB({sp.streams[a].bits})) u_{nm} "
      f"(.clk(clk), .rst(rst), .x({a}_d), .in_valid({a}_v), .in_ready({a}_r), "
      f".y({nm}_y), .out_valid({{{vs}}}), .out_ready({{{rs}}}));")


@_block.register
def _(blk: Fifo, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    nm, a, y = blk.name, blk.ins[0], blk.outs[0]
    if blk.p["DEPTH"] == 0:  # the branch needs no buffer
        o.line(f"assign {y}_d = {a}_d;")
        o.line(f"assign {y}_v = {a}_v;")
        o.line(f"assign {a}_r = {y}_r;")
    else:
        o.line(f"nnfab_fifo #(.DEPTH({blk.p['DEPTH']}), .PB({sp.streams[a].bits})) u_{nm} "
          f"(.clk(clk), .rst(rst), .x({a}_d), .in_valid({a}_v), .in_ready({a}_r), "
          f".y({y}_d), .out_valid({y}_v), .out_ready({y}_r));")


@_block.register
def _(blk: Join, o: Module, files: dict[str, str], top: str, sp: StreamPlan) -> None:
    _join(o, blk)


def render_stream(g: Graph, stages: list[Stage]) -> tuple[str, dict[str, str]]:
    """Top module name and generated files of a block-level design (see :mod:`.stream`;
    ``stages`` from :func:`.design.plan`, the block plan in ``stages[0]``)."""
    sp = stream_plan(stages)
    top = ident(g.name)
    files: dict[str, str] = {}
    tin, tout = g.inputs[0], g.outputs[0]
    si, so = sp.streams[sp.input], sp.streams[sp.output]
    in_pad = -(-si.bits // 8) * 8
    out_pad = -(-so.bits // 8) * 8
    o = _top(top, in_pad, out_pad)
    o.note("Generated by nnfab: thin wiring of the nnfab_* library modules. Do not edit.")
    vectors = si.beats == so.beats == 1  # one beat in, one out per inference
    if vectors:
        o.note(f"input  {tin.name} {tuple(tin.shape)} {tin.ftype.cpp()}: one beat per frame "
          f"(element i at tdata[i*{si.width} +: {si.width}])")
    else:
        o.note(f"input  {tin.name} {tuple(tin.shape)} {tin.ftype.cpp()}: one beat per pixel "
          f"({si.beats} per frame, row-major), channel c at tdata[c*{si.width} +: "
          f"{si.width}]; s_axis_tlast is not used (positions are counted)")
    if vectors:
        o.note(f"output {tout.name} {tuple(tout.shape)} {tout.ftype.cpp()}: one beat per frame "
          f"(element i at tdata[i*{so.width} +: {so.width}]); TLAST follows its frame")
    elif so.beats > 1:
        o.note(f"output {tout.name} {tuple(tout.shape)} {tout.ftype.cpp()}: one beat per pixel "
          f"({so.beats} per frame), tlast on the last pixel of a frame")
    else:
        o.note(f"output {tout.name} {tuple(tout.shape)} {tout.ftype.cpp()}: one beat per frame "
          f"(element i at tdata[i*{so.width} +: {so.width}]), tlast on every beat")
    o.default_nettype_none()
    for st in sp.streams.values():
        o.wire(f"{st.name}_d", st.bits)
        o.wires([f"{st.name}_v", f"{st.name}_r"])
    for blk in sp.blocks:
        n = blk.node  # every block but fork/fifo renders one node
        with o.section(f"{blk.kind} {blk.name}"
                       + (f" ({n.OP} {n.name})" if n is not None else "")):
            _block(blk, o, files, top, sp)
    yo = sp.output
    pad = out_pad - so.bits
    data = f"{{{pad}'d0, {yo}_d}}" if pad else f"{yo}_d"
    o.line(f"assign m_axis_tdata = {data};")
    o.line(f"assign m_axis_tvalid = {yo}_v;")
    o.line(f"assign {yo}_r = m_axis_tready;")
    if vectors:
        o.line("// TLAST travels beside the datapath in a FIFO (frames stay in order)")
        o.line(f"nnfab_fifo_bit #(.AW({fifo_aw(stages)})) u_last (.clk(clk), "
          ".rst(rst), .push(s_axis_tvalid & s_axis_tready), .din(s_axis_tlast), "
          ".pop(m_axis_tvalid & m_axis_tready), .dout(m_axis_tlast));")
    elif so.beats > 1:
        ca = max(1, clog2(so.beats))
        o.line("// TLAST on the last pixel of each output frame")
        o.line(f"reg [{ca - 1}:0] out_pos;")
        o.line("always @(posedge clk) begin")
        o.line(f"    if (rst) out_pos <= {ca}'d0;")
        o.line("    else if (m_axis_tvalid && m_axis_tready)")
        o.line(f"        out_pos <= (out_pos == {so.beats - 1}) ? {ca}'d0 : out_pos + 1'b1;")
        o.line("end")
        o.line(f"assign m_axis_tlast = (out_pos == {so.beats - 1});")
    else:
        o.line("assign m_axis_tlast = 1'b1;  // one beat per frame")
    files[f"{top}.v"] = o.render()
    return top, files
