"""SRAM tiling: BRAM tile arithmetic, and the LUT/BRAM choice checked against Yosys."""

from __future__ import annotations

import os
import shutil

import pytest

from generator.passes.tiling import Memory, bram_tiles, map_memory

ROM_V = os.path.join(os.path.dirname(__file__), "..", "generator", "backends", "rtl", "lib",
                     "nnfab_rom.v")


@pytest.mark.parametrize("depth,width,units,prim", [
    (1024, 18, 1, "RAMB18"), (512, 36, 1, "RAMB18"), (512, 72, 2, "RAMB18"),
    (16384, 1, 1, "RAMB18"), (2048, 36, 4, "RAMB18"), (1000, 40, 3, "RAMB18"),
])
def test_bram_tiles(depth, width, units, prim) -> None:
    u, p, tiles, (d, w) = bram_tiles(depth, width)
    assert (u, p) == (units, prim)
    assert tiles * d * w >= depth * width


def test_small_rom_stays_in_luts() -> None:
    t = map_memory(Memory("m", 64, 16))
    assert t.impl == "lut" and t.bram18 == 0 and t.luts == 16  # one LUT6 per bit


def _yosys_stat(tmp, depth: int, width: int) -> dict:
    """Yosys's counts for nnfab_rom of this shape (xc7), through estimate.synth."""
    import random

    from generator import estimate

    rnd = random.Random(depth * 1000 + width)  # seeded; full-width words (no constant bits)
    (tmp / f"rom_{depth}_{width}.mem").write_text(
        "\n".join(f"{rnd.getrandbits(width):x}" for _ in range(depth)) + "\n")
    aw = max(1, int(depth - 1).bit_length())
    (tmp / "top.v").write_text(
        f"module top(input wire clk, input wire en, input wire [{aw - 1}:0] addr, "
        f"output wire [{width - 1}:0] dout);\n"
        f"nnfab_rom #(.DEPTH({depth}), .WIDTH({width}), .AW({aw}), "
        f".FILE(\"rom_{depth}_{width}.mem\")) u (.clk(clk), .en(en), .addr(addr), .dout(dout));\n"
        "endmodule\n")
    shutil.copy(ROM_V, tmp / "nnfab_rom.v")
    return estimate.synth(str(tmp), "top", ["nnfab_rom.v", "top.v"], family="xc7")


@pytest.mark.slow
@pytest.mark.parametrize("depth,width", [(100, 8), (512, 17), (2048, 36)])
def test_tiling_matches_yosys(tmp_path, depth, width) -> None:
    """The estimate's BRAM18 count is what Yosys synth_xilinx infers for nnfab_rom: a
    small ROM in LUTs, one just over a BRAM18's 16-bit-wide shape, one tiled in depth and
    width (eleven shapes: benchmarks/estimate_vs_yosys.py --only tiling)."""
    got = _yosys_stat(tmp_path, depth, width)
    measured = got["bram18"]
    t = map_memory(Memory("m", depth, width))
    assert t.bram18 == measured, (got, t)
    if t.impl == "lut":
        assert measured == 0 and got["lut"] > 0
