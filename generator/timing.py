"""The delay model of each FPGA family: what one logic level, one carry bit and a register
cost, and how many adder levels fit between two registers at a target clock.

One :class:`Delays` record per family (:data:`DELAYS`) holds the facts, each with its
source or the assumption behind it. Everything else is arithmetic on them:

* a path between two registers costs ``clk_to_q + setup`` plus, per logic level, one
  LUT and one routed net (``lut_ns + net_ns``), plus the carry chain of the widest adder
  on it (``width * carry_ns``: the carries of chained ripple adders overlap, so a path
  through ``L`` adders of ``w`` bits is ``L`` levels and one ``w``-bit ripple, not
  ``L`` ripples);
* a budget of ``MARGIN`` of the clock period is kept for what the model does not see
  (clock skew and jitter, a long net to a far register, fan-out);
* :func:`adder_levels` is the most adder levels whose path fits the budget (at least 1),
  :func:`requant_levels` and :func:`table_levels` what a requantizer (round, saturate)
  and a LUT ROM cost in the same levels.

These are predictions. Lattice ECP5 is placed and routed here (nextpnr) and its routed
Fmax measured (``docs/timing.md``); for the Xilinx families no place and route runs
here, so the report calls the logic depth it shows a prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: target clock when neither ``--clock`` nor a board gives one (MHz)
DEFAULT_CLOCK_MHZ = 200.0
#: family when the project has no board
DEFAULT_FAMILY = "xcup"
#: fraction of the clock period the modelled logic and nets may use
MARGIN = 0.85
#: families whose folded layers keep every register a multiplier reads apart
#: (nnfab_dense_folded's PIPE 1, latency R + 7) and whose element-wise logic before a
#: folded layer is registered (:mod:`generator.passes.timing`): routed here (ECP5),
#: where a register shared by several multipliers, or a fabric path into or out of the
#: DSP column, limits the clock. A Xilinx DSP48 absorbs the product register of PIPE 0
#: (latency R + 2), so the Xilinx families keep it.
FOLDED_APART = ("ecp5",)


class ClockError(ValueError):
    """A target clock nnfab cannot pipeline for (one line naming the option)."""


@dataclass(frozen=True)
class Delays:
    """Delays of one family (ns; the slowest speed grade nnfab's boards use)."""

    family: str
    lut_ns: float  # one LUT, input to output
    net_ns: float  # one routed net between two logic levels (typical, not worst)
    carry_ns: float  # carry chain, per bit
    clk_to_q_ns: float  # flip-flop clock to output
    setup_ns: float  # flip-flop setup
    lut_inputs: int  # inputs of a LUT (a ROM of 2^k words is one level)
    source: str


DELAYS: dict[str, Delays] = {
    # 7-series -1 (Artix-7 / Zynq-7000 fabric, the xc7 boards): DS181 / DS187 CLB
    # switching characteristics: T_ILO 0.12 ns (LUT), T_CKO 0.46 ns, setup ~0.1 ns,
    # T_CINCO 0.11 ns per CARRY4 (4 bits). Net: assumption, a local net as Vivado
    # reports it after routing (0.3 - 0.6 ns).
    "xc7": Delays("xc7", 0.12, 0.45, 0.11 / 4, 0.46, 0.10, 6,
                  "DS181/DS187 (-1); net delay assumed"),
    # UltraScale -1 (xcu): DS892 CLB characteristics: LUT ~0.07 ns, T_CKO ~0.1 ns, CARRY8
    # ~0.1 ns per 8 bits; net assumed 0.35 ns.
    "xcu": Delays("xcu", 0.07, 0.35, 0.10 / 8, 0.10, 0.05, 6,
                  "DS892 (-1); net delay assumed"),
    # UltraScale+ -1 (xcup): DS923 CLB characteristics: LUT ~0.05 ns, T_CKO ~0.08 ns,
    # CARRY8 ~0.08 ns per 8 bits; net assumed 0.30 ns.
    "xcup": Delays("xcup", 0.05, 0.30, 0.08 / 8, 0.08, 0.05, 6,
                   "DS923 (-1); net delay assumed"),
    # Lattice ECP5 speed 6: the prjtrellis timing database nextpnr-ecp5 uses -- LUT4
    # 0.24 ns (a PFU's A..D to F), CCU2C 2 bits per cell, carry ~0.06 ns per bit,
    # TRELLIS_FF clock to Q 0.4 ns, setup ~0.1 ns. Net: nextpnr's routed nets on the
    # measured designs average ~0.9 ns per hop (docs/timing.md).
    "ecp5": Delays("ecp5", 0.24, 0.90, 0.06, 0.40, 0.10, 4,
                   "prjtrellis / nextpnr-ecp5 speed 6; net delay measured"),
}


def delays(family: str) -> Delays:
    """The :class:`Delays` of ``family`` (ValueError naming the supported ones)."""
    try:
        return DELAYS[family]
    except KeyError:
        raise ValueError(f"family {family!r} has no delay model; supported: "
                         f"{', '.join(DELAYS)}") from None


def level_ns(d: Delays) -> float:
    """One logic level: a LUT and the net to the next."""
    return d.lut_ns + d.net_ns


def path_ns(d: Delays, levels: int, carry_bits: int = 0) -> float:
    """A register-to-register path through ``levels`` logic levels and a
    ``carry_bits``-bit carry chain."""
    return d.clk_to_q_ns + d.setup_ns + levels * level_ns(d) + carry_bits * d.carry_ns


def budget_ns(clock_mhz: float) -> float:
    """The part of the clock period the modelled path may take."""
    return MARGIN * 1000.0 / float(clock_mhz)


def adder_levels(family: str, clock_mhz: float, width: int) -> int:
    """Adder levels between two registers of an adder tree of ``width``-bit sums at
    ``clock_mhz`` (at least 1: an adder always fits into a stage of its own)."""
    d = delays(family)
    free = budget_ns(clock_mhz) - path_ns(d, 0, width)
    return max(1, math.floor(free / level_ns(d)))


def requant_levels(family: str, width: int) -> int:
    """Levels a requantizer costs (round: an increment, one level and the carry chain
    of ``width`` bits, read as levels; saturate: a compare of the top bits and a
    select, two levels)."""
    d = delays(family)
    return 3 + math.ceil(width * d.carry_ns / level_ns(d))


def table_levels(family: str, depth: int) -> int:
    """Levels of a LUT ROM of ``depth`` words (one LUT level reads ``2^k`` words; every
    further address bit a 2:1 select level, two per level where the family has wide
    multiplexers) plus its index arithmetic (one level)."""
    d = delays(family)
    extra = max(0, math.ceil(math.log2(max(2, depth))) - d.lut_inputs)
    return 2 + math.ceil(extra / 2)


def predicted_mhz(family: str, levels: int, carry_bits: int) -> float:
    """The clock a path of ``levels`` levels and a ``carry_bits`` carry chain meets (the
    whole period, no margin)."""
    return 1000.0 / path_ns(delays(family), levels, carry_bits)


def target(g: Any) -> tuple[str, float]:
    """The ``(family, clock MHz)`` graph ``g`` is pipelined for: its board's family
    (:data:`DEFAULT_FAMILY` without a board) and ``g.meta["clock_mhz"]`` (``--clock``,
    else the board's clock, else :data:`DEFAULT_CLOCK_MHZ`)."""
    family, clock = DEFAULT_FAMILY, DEFAULT_CLOCK_MHZ
    name = g.meta.get("board")
    if name:
        from .boards import load_board

        b = load_board(name)
        family, clock = str(b.family), float(b.clock_mhz)
    return family, float(g.meta.get("clock_mhz") or clock)
