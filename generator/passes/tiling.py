"""Map every on-chip memory of the design onto the FPGA's memory primitives (SRAM tiling).

Memories come from the architecture the backends render: the schedule ROM of each folded
Dense layer (``R`` words of ``M`` entries of weight + input index + output index bits, one
word read per cycle), and the lookup tables of Table / Softmax nodes (one read per
element and cycle). Each memory is given one implementation:

* ``lut``   -- small ROMs become LUT logic (one LUT6 per output bit and 64 words);
* ``bram``  -- block RAM tiles: the cheapest arrangement of one BRAM18/BRAM36 aspect ratio
  (RAMB18: 16K x 1 ... 1K x 18, 512 x 36; RAMB36: 32K x 1 ... 1K x 36, 512 x 72), counted in
  BRAM18 units (a RAMB36 is two), with the bits used and wasted;
* URAM is never used for ROMs: it cannot be initialised by the bitstream.

RAMs (the line buffers and row buffers of the streamed CNN architecture) are LUT RAM or
block RAM by the rule of :func:`node_memories` (``impl`` ``lutram`` or ``bram``).

The choice between LUT and BRAM follows the cost model Yosys ``synth_xilinx`` applies
(measured here: a ROM stays in LUTs while ``width x ceil(depth / 64) <= 128 x BRAM18
tiles``), so the
estimate is the count synthesis infers; ``tests/test_tiling.py`` checks it against Yosys.
The plan is written on each node (``tiling`` attribute) and summed against the board: a
design whose BRAM does not fit is refused with one line saying by how much.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..ir import Conv, Dense, Embedding, Graph, Node, Pool, Softmax, Table, Upsample

#: (depth, width) aspect ratios of one RAMB18 and one RAMB36 (7-series / UltraScale(+)).
BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
BRAM36_SHAPES = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))
LUT_BITS = 64
#: a ROM moves from LUTs to block RAM when ceil(bits / 64) exceeds this many LUT6 per BRAM18
LUT_COST_PER_BRAM18 = 128
#: a RAM moves from LUT RAM to block RAM when it needs more LUT-RAM cells than this per
#: BRAM18 of its block-RAM tiling (measured with Yosys synth_xilinx, see node_memories)
LUTRAM_CELLS_PER_BRAM18 = 8


class TilingError(ValueError):
    """A design whose on-chip memories do not fit the board."""


@dataclass(frozen=True)
class Memory:
    """One on-chip memory: ``depth`` words of ``width`` bits, ``ports`` reads per cycle."""

    name: str
    depth: int
    width: int
    ports: int = 1
    kind: str = "rom"  # rom (initialised, read-only) | ram (line/row buffer: 1 write, 1 read)

    @property
    def bits(self) -> int:
        return self.depth * self.width

    @property
    def written(self) -> bool:
        """A line / row buffer the design writes (a RAM), not a ROM."""
        return self.kind == "ram"


@dataclass(frozen=True)
class Tiling:
    memory: str
    impl: str  # lut | lutram | bram
    bram18: int  # BRAM18 units (a RAMB36 counts 2)
    primitive: str  # RAMB18 / RAMB36 / LUT6
    tiles: int  # primitives used
    shape: tuple[int, int]  # (depth, width) of one primitive
    luts: int
    bits_used: int
    bits_wasted: int

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d


def bram_tiles(depth: int, width: int) -> tuple[int, str, int, tuple[int, int]]:
    """Cheapest block-RAM arrangement: (BRAM18 units, primitive, tiles, shape)."""
    best: tuple[int, str, int, tuple[int, int]] | None = None
    for prim, shapes, units in (("RAMB18", BRAM18_SHAPES, 1), ("RAMB36", BRAM36_SHAPES, 2)):
        for d, w in shapes:
            tiles = math.ceil(depth / d) * math.ceil(width / w)
            cand = (tiles * units, prim, tiles, (d, w))
            if best is None or cand[0] < best[0]:
                best = cand
    assert best is not None
    return best


def lutram_cells(depth: int, width: int) -> tuple[int, str]:
    """Simple-dual-port LUT RAM cells of a RAM: RAM32M16 (32 x 14) or RAM64M8 (64 x 7)."""
    if depth <= 32:
        return math.ceil(width / 14), "RAM32M16"
    return math.ceil(depth / 64) * math.ceil(width / 7), "RAM64M8"


def map_memory(m: Memory) -> Tiling:
    """Implementation of one ROM or RAM (see the module docstring for the rules)."""
    if m.kind == "ram":
        units, prim, tiles, shape = bram_tiles(m.depth, m.width)
        cells, cell = lutram_cells(m.depth, m.width)
        if cells <= LUTRAM_CELLS_PER_BRAM18 * units:
            return Tiling(m.name, "lutram", 0, cell, cells, (64 if cell == "RAM64M8" else 32,
                          7 if cell == "RAM64M8" else 14), 8 * cells, m.bits, 0)
        return Tiling(m.name, "bram", units, prim, tiles, shape, 0, m.bits,
                      tiles * shape[0] * shape[1] - m.bits)
    # as logic, each output bit takes one LUT6 per 64 words
    luts = m.width * math.ceil(m.depth / LUT_BITS) * max(1, m.ports)
    units, prim, tiles, shape = bram_tiles(m.depth, m.width)
    # a true dual-port BRAM serves two reads per cycle; more ports replicate it
    copies = math.ceil(max(1, m.ports) / 2)
    units, tiles = units * copies, tiles * copies
    if luts <= LUT_COST_PER_BRAM18 * units:
        return Tiling(m.name, "lut", 0, "LUT6", luts, (LUT_BITS, 1), luts, m.bits, 0)
    cap = tiles * shape[0] * shape[1]
    return Tiling(m.name, "bram", units, prim, tiles, shape, 0, m.bits * copies,
                  cap - m.bits * copies)


def _bits(n: int) -> int:
    return max(1, int(n - 1).bit_length())


def node_memories(n: Node, unrolled: bool = False) -> list[Memory]:
    """The memories the backends build for node ``n`` (``unrolled``: of an unrolled CNN,
    :mod:`generator.passes.unroll`, which has no line or row buffers and folds a Conv's
    whole-frame matrix).

    ROMs: folded Dense schedules, Table / Softmax tables. RAMs of the streamed (CNN)
    RTL architecture (``kind="ram"``, one write and one synchronous read port,
    ``nnfab_ram_sdp``): the line buffer of a Conv/Pool window with ``KH > 1`` (one word
    per padded column holding ``KH-1`` pixels: ``W_padded`` words of
    ``(KH-1) x C x bits``), and the row buffer of an Upsample with a row factor above 1
    (``W`` words of one pixel). A RAM is LUT RAM (RAM32M16 up to 32 words, else
    RAM64M8 cells of 64 x 7 bits) while it needs at most
    :data:`LUTRAM_CELLS_PER_BRAM18` cells per BRAM18 of its block-RAM tiling, else block
    RAM -- the choice Yosys ``synth_xilinx`` makes (probed at 16..1024 words, 4..128
    bits; ``tests/test_rtl_cnn.py`` checks a line buffer end to end). The FIFOs on the
    branches of a forked tensor are not listed: they read asynchronously (distributed
    RAM / registers, never block RAM) and their depths come from the cycle model of
    the whole graph (``generator.backends.rtl.design.size_fifos``); the RTL estimate
    reports them.
    """
    if isinstance(n, Dense) and n["strategy"] == "resource":
        from .folding import pow2_exponent, rom_layout, schedule, skip_schedule

        ww = n.weights["weight"].ftype.width
        if n["skip_zeros"]:  # nnfab_dense_skip: rows x M {weight field, local output}
            k = skip_schedule(n)
            lo = _bits(-(-n["units"] // k.mults))
            addsub = pow2_exponent(k.weight) is not None
            return [Memory(f"{n.name}_schedule", max(1, k.rows),
                           k.mults * ((2 if addsub else ww) + lo))]
        s = schedule(n)
        lay = rom_layout(s, n.input.shape[-1], n["units"], ww)
        return [Memory(f"{n.name}_schedule", s.reuse, s.mults * lay.ew)]
    if isinstance(n, (Table, Embedding)):  # an Embedding's word: a row of the table
        from .folding import table_word_width

        return [Memory(f"{n.name}_table", len(n.weights["table"].data), table_word_width(n),
                       ports=n.input.size)]
    if isinstance(n, Softmax):
        e, i = n.weights["exp_table"], n.weights["inv_table"]
        return [Memory(f"{n.name}_exp", len(e.data), e.ftype.width, ports=n.input.shape[-1]),
                Memory(f"{n.name}_inv", len(i.data), i.ftype.width)]
    if unrolled:
        if isinstance(n, Conv) and int(n["reuse"]) > 1:  # the folded whole-frame matrix
            from .folding import rom_layout, schedule_matrix
            from .unroll import conv_dense

            wm, _ = conv_dense(n)
            s = schedule_matrix(wm, int(n["reuse"]))
            lay = rom_layout(s, wm.shape[0], wm.shape[1], n.weights["weight"].ftype.width)
            return [Memory(f"{n.name}_schedule", s.reuse, s.mults * lay.ew)]
        return []
    mems = []
    if isinstance(n, Conv) and int(n["reuse"]) > 1:  # folded per-pixel matmul's ROM
        from .folding import conv_matrix, rom_layout, schedule_matrix

        wm = conv_matrix(n)
        s = schedule_matrix(wm, int(n["reuse"]))
        lay = rom_layout(s, wm.shape[0], wm.shape[1], n.weights["weight"].ftype.width)
        mems.append(Memory(f"{n.name}_schedule", s.reuse, s.mults * lay.ew))
    if isinstance(n, (Conv, Pool)) and len(n["kernel"]) == 2 and n["kernel"][0] > 1:
        shape = n.input.shape
        wp = shape[1] + n["pads"][2] + n["pads"][3]
        width = (n["kernel"][0] - 1) * shape[-1] * n.input.ftype.width
        return [Memory(f"{n.name}_linebuf", wp, width, kind="ram")] + mems
    if mems:
        return mems
    if isinstance(n, Upsample) and len(n["factors"]) == 2 and n["factors"][0] > 1:
        shape = n.input.shape
        return [Memory(f"{n.name}_rowbuf", shape[1], shape[-1] * n.input.ftype.width,
                       kind="ram")]
    return []


def plan(graph: Graph) -> list[tuple[Node, list[Tiling]]]:
    from .unroll import unrolled

    unr = unrolled(graph)
    return [(n, [map_memory(m) for m in node_memories(n, unr)]) for n in graph.nodes]


def total_bram18(graph: Graph) -> int:
    return int(sum(t.bram18 for _, ts in plan(graph) for t in ts))


def tiling(graph: Graph) -> bool:
    """Write each node's memory plan on it; refuse a design larger than its board."""
    changed = False
    for n, ts in plan(graph):
        doc = [t.to_json() for t in ts] or None
        if n["tiling"] != doc:
            n.set("tiling", doc)
            changed = True
    board = graph.meta.get("board")
    if board:
        from ..boards import load_board

        b = load_board(board)
        need = total_bram18(graph)
        if need > b.bram18:
            raise TilingError(
                f"the design needs {need} BRAM18 for its weight/table memories but board "
                f"{b.name} has {b.bram18} (over by {need - b.bram18}); raise the reuse "
                "factor less, prune more, use fewer bits, or pick a bigger board"
            )
    return changed


def summary(graph: Graph) -> dict[str, Any]:
    ts = [t for _, tl in plan(graph) for t in tl]
    return {
        "bram18": int(sum(t.bram18 for t in ts)),
        "rom_luts": int(sum(t.luts for t in ts)),
        "bits_used": int(sum(t.bits_used for t in ts if t.impl == "bram")),
        "bits_wasted": int(sum(t.bits_wasted for t in ts)),
        "memories": len(ts),
        "fill": float(np.round(
            sum(t.bits_used for t in ts if t.impl == "bram")
            / max(1, sum(t.bits_used + t.bits_wasted for t in ts if t.impl == "bram")), 4)),
    }
