"""Cost models of RTL building blocks that both the emitter and :mod:`generator.estimate`
read: whether a multiplier is a DSP48, a ROM's BRAM18/LUT cost, and how
``nnfab_dense_folded`` accumulates a folded schedule (the accumulate mode the emitter
writes and the LUT/FF the estimate counts).
"""

from __future__ import annotations

import numpy as np

from ...fixed import FixedType
from ...passes.folding import RomLayout, Schedule
from ...passes.tiling import Memory, map_memory


def _cdiv(a: int, b: int) -> int:
    return -(-int(a) // int(b))


def is_dsp(a_bits: int, b_bits: int) -> bool:
    """Does a multiplier of these operand widths become a DSP48 (see :mod:`generator.estimate`)?"""
    return a_bits >= 2 and b_bits >= 2 and a_bits + b_bits >= 9


def operand_bits(t: FixedType) -> int:
    """Width of a value of type ``t`` as a signed multiplier operand after synthesis
    narrows it: the RTL extends it by one bit (a sign copy or a zero), and a copy of the
    sign bit is dropped again (Yosys ``wreduce``: 4-bit x 4-bit signed, 10 bits as
    written, is an 8-bit product in LUTs, not a DSP48)."""
    return t.width + (0 if t.signed else 1)


def rom_cost(depth: int, width: int, ports: int = 1) -> tuple[int, int]:
    """(BRAM18, LUT) of a ROM of ``depth`` words of ``width`` bits and ``ports`` read
    ports: the SRAM tiling pass's choice (:func:`generator.passes.tiling.map_memory`,
    checked against Yosys)."""
    t = map_memory(Memory("rom", depth, width, ports=ports))
    return t.bram18, t.luts


def in_dsp(lay: RomLayout, tx: FixedType, wft: FixedType, lut_mults: bool) -> bool:
    """Are the multipliers of a folded layer (ROM layout ``lay``) DSP48s? Not when they
    are add/subtracts or shifts (``wmode`` 1, 2), shift-adds in LUTs (``lut_mults``) or
    too narrow for synthesis to map to a DSP."""
    return lay.wmode == 0 and not lut_mults and is_dsp(operand_bits(tx), operand_bits(wft))


def accumulators(sch: Schedule, lay: RomLayout, n_out: int, aw: int,
                 dsp: bool = True) -> dict[str, int]:
    """How ``nnfab_dense_folded`` accumulates schedule ``sch`` (``lay`` its ROM layout,
    ``aw`` the accumulator width, ``dsp``: its multipliers are DSP48s, :func:`in_dsp`):
    ``acc`` = 0 (an accumulator per output, a conditional adder per multiplier reaching
    it) or 1 (an accumulator per multiplier restarting at each output of its run; outputs
    shared by several runs summed on the last row), whichever costs fewer LUTs, and the
    LUT/FF of that accumulate stage."""
    lo, hi, m, ol = lay.out_lo, lay.out_hi, sch.mults, lay.ol
    links = sum(h - low + 1 for low, h in zip(lo, hi))
    reach = np.zeros(n_out, np.int64)
    for low, h in zip(lo, hi):
        reach[low:h + 1] += 1
    shared = reach > 1
    # an output without a nonzero weight (pruned, or a unit nothing reads) is its bias:
    # constant registers, which synthesis drops
    live = int(np.unique(sch.out_idx[sch.valid]).size)
    lut0 = links * (aw + _cdiv(ol, 6)) + n_out * aw
    ff0 = 2 * live * aw
    # per multiplier its restart select / adder (one LUT per bit; Yosys puts the adder of
    # a DSP multiplier in the DSP48); per shared output the sum of its parts, one adder
    # per part (they are added on the last row, outside the DSPs); per output of one run
    # a write enable decoding the local index. Fitted to Yosys xc7 on jet fc3 (32 -> 32,
    # 8 bit) at R = 16, 32, 256: both ways within 10 % of the measured difference.
    # Without a DSP48 the running sum's adder is fabric too: one more LUT per bit (Yosys
    # xc7, 16 -> 16 folded at R = 16 with LUT shift-add, add/subtract and shift
    # multipliers: estimates 0.69x to 0.86x without it, 0.87x to 1.00x with it).
    lut1 = ((m if dsp else 2 * m) * aw + int(np.sum(reach[shared])) * aw
            + int(np.sum(reach == 1)) * _cdiv(ol + 2, 6))
    # per multiplier its running sum; its sum at the first output of its run (``head``)
    # only when that output is shared and the run goes on past it (else nothing reads it)
    heads = sum(1 for low, h in zip(lo, hi) if h > low and reach[low] > 1)
    ff1 = (m + heads + live) * aw + m
    if not bool(sch.valid.any()) or lut0 <= lut1:
        return {"acc": 0, "lut": lut0, "ff": ff0}
    return {"acc": 1, "lut": lut1, "ff": ff1}
