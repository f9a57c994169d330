"""The testbench of a generated nnfab top (``OUT/rtl/<top>.v``).

Stimuli come from the files named by environment variables (written by
``generator.backends.rtl.sim``):

* ``NNFAB_SIM_IN``: ``.npz`` with ``x`` (N, inputs) raw input ints and ``y`` (N, outputs)
  expected raw output ints (the NumPy reference);
* ``NNFAB_SIM_CONF``: ``sim.json`` of the design (widths, signedness);
* ``NNFAB_SIM_OUT``: where the results go: ``<path>.npz`` (``y`` raw outputs of the
  stress phase) and ``<path>.json`` (measured cycles, mismatches);
* ``NNFAB_SIM_SEED``, ``NNFAB_SIM_IDLE``, ``NNFAB_SIM_BACKPRESSURE``.

Two phases: *timing* streams the first rows at full throughput with the sink always
ready and measures the latency of the first vector (cycles from its input handshake
to its output handshake, pipeline empty) and the steady-state initiation interval;
*stress* streams every row with seeded idle cycles and backpressure. The scoreboard
checks every output vector of both phases exactly.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from .axis import AxisDriver, AxisSink, Monitor, Scoreboard, StreamBench, pack, unpack

TIMING_ROWS = 32


def _read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def _write_json(path: str, obj: Any) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


async def run_design(dut: Any) -> None:
    conf = _read_json(os.environ["NNFAB_SIM_CONF"])
    data = np.load(os.environ["NNFAB_SIM_IN"])
    x, y = data["x"], data["y"]
    seed = int(os.environ.get("NNFAB_SIM_SEED", "0"))
    idle = float(os.environ.get("NNFAB_SIM_IDLE", "0.3"))
    bp = float(os.environ.get("NNFAB_SIM_BACKPRESSURE", "0.3"))
    ci, co = conf["input"], conf["output"]
    ii_exp = int(conf["expected"]["ii_cycles"])
    lat_exp = int(conf["expected"]["latency_cycles"])

    def decode(word: int) -> list[int]:
        return unpack(word, co["size"], co["width"], co["signed"])

    beats = [pack([int(v) for v in row], ci["width"]) for row in x]
    expected = [[int(v) for v in row] for row in y]
    n = len(beats)
    lasts = [int(k == n - 1) for k in range(n)]

    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.s_axis_tlast.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(4):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    bench = StreamBench(dut, dut.clk)
    budget = 200 + 20 * (lat_exp + ii_exp * (n + 2))

    nt = min(n, TIMING_ROWS)
    t_lasts = [int(k == nt - 1) for k in range(nt)]
    t_mon = Monitor()
    t_sb = Scoreboard(expected[:nt], t_lasts)
    ok_t = await bench.run(AxisDriver(dut, "s_axis", beats[:nt], t_lasts, 0.0, seed),
                           AxisSink(dut, "m_axis", 0.0, seed + 1), t_mon, nt, decode, t_sb,
                           budget)
    s_mon = Monitor()
    s_sb = Scoreboard(expected, lasts)
    ok_s = ok_t and await bench.run(
        AxisDriver(dut, "s_axis", beats, lasts, idle, seed + 2),
        AxisSink(dut, "m_axis", bp, seed + 3), s_mon, n, decode, s_sb, budget)

    out = os.environ["NNFAB_SIM_OUT"]
    got = np.array([decode(w) for w in s_mon.out_beats], dtype=np.int64).reshape(-1, co["size"])
    np.savez(out + ".npz", y=got)
    stats = {
        "rows": n,
        "completed": bool(ok_s),
        "latency_cycles": t_mon.latency(0) if t_mon.out_cycles else None,
        "ii_cycles": t_mon.initiation_interval(),
        "expected_latency_cycles": lat_exp,
        "expected_ii_cycles": ii_exp,
        "timing_rows": nt,
        "timing_mismatches": len(t_sb.mismatches),
        "mismatched_rows": len(s_sb.mismatches),
        "tlast_errors": t_sb.last_errors + s_sb.last_errors,
        "stress_cycles": (s_mon.out_cycles[-1] - s_mon.in_cycles[0]) if s_mon.out_cycles else None,
        "idle": idle,
        "backpressure": bp,
        "seed": seed,
    }
    _write_json(out + ".json", stats)
    assert ok_s, f"design stopped producing outputs ({len(s_mon.out_beats)}/{n} rows)"
    assert not t_sb.mismatches and not s_sb.mismatches, (
        f"{len(t_sb.mismatches)} + {len(s_sb.mismatches)} output vectors differ from the reference")
    assert stats["tlast_errors"] == 0, "TLAST does not follow its vector"
