"""The testbench of a generated nnfab top (``OUT/rtl/<top>.v``).

Stimuli come from the files named by environment variables (written by
``generator.backends.rtl.sim``):

* ``NNFAB_SIM_IN``: ``.npz`` with ``x`` (N, inputs) raw input ints and ``y`` (N, outputs)
  expected raw output ints (the NumPy reference);
* ``NNFAB_SIM_CONF``: ``sim.json`` of the design (widths, signedness);
* ``NNFAB_SIM_OUT``: where the results go: ``<path>.npz`` (``y`` raw outputs of the
  stress phase) and ``<path>.json`` (measured cycles, mismatches);
* ``NNFAB_SIM_SEED``, ``NNFAB_SIM_IDLE``, ``NNFAB_SIM_BACKPRESSURE``;
* ``NNFAB_SIM_TIMING_ROWS`` (optional): rows of the timing phase (default: ``frames`` of
  ``sim.json``'s expected cycles, else :data:`TIMING_ROWS`).

A streamed (CNN) design (``frame`` in ``sim.json``: ``in_beats`` / ``out_beats`` per
frame) gets each row as ``in_beats`` pixel beats and returns ``out_beats`` beats per
row; tlast marks the last beat of a frame on both sides. A frame of one beat in and one
out (an MLP with branches) carries tlast through as a whole-vector design does.

Two phases: *timing* streams the first rows at full throughput with the sink always
ready and measures the latency of the first vector (cycles from its input handshake
to its output handshake, pipeline empty) and the steady-state initiation interval;
*stress* streams every row with seeded idle cycles and backpressure. The scoreboard
checks every output vector of both phases exactly.
"""

from __future__ import annotations

import itertools
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


def frame_stats(in_cycles: list[int], out_cycles: list[int], in_beats: int,
                out_beats: int) -> dict[str, Any]:
    """Latency / II of a full-rate run of a streamed design (definitions of
    ``generator.backends.rtl.cycles``: first input beat of frame 0 to its first / last
    output beat; II = largest gap between frame starts in the second half)."""
    starts = in_cycles[::in_beats]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    return {
        "latency_cycles": out_cycles[0] - in_cycles[0] if out_cycles else None,
        "latency_last_cycles": (out_cycles[out_beats - 1] - in_cycles[0]
                                if len(out_cycles) >= out_beats else None),
        "ii_cycles": max(gaps[len(gaps) // 2:]) if gaps else None,
    }


async def run_design(dut: Any) -> None:
    conf = _read_json(os.environ["NNFAB_SIM_CONF"])
    data = np.load(os.environ["NNFAB_SIM_IN"])
    x, y = data["x"], data["y"]
    seed = int(os.environ.get("NNFAB_SIM_SEED", "0"))
    idle = float(os.environ.get("NNFAB_SIM_IDLE", "0.3"))
    bp = float(os.environ.get("NNFAB_SIM_BACKPRESSURE", "0.3"))
    ci, co = conf["input"], conf["output"]
    ii_exp = int(conf["expected"]["ii_cycles"])
    lat_exp = int(conf["expected"].get("latency_last_cycles", conf["expected"]["latency_cycles"]))
    frame = conf.get("frame")
    pin = frame["in_beats"] if frame else 1  # beats per input row (frame)
    pout = frame["out_beats"] if frame else 1

    def decode(word: int) -> list[int]:
        return unpack(word, co["size"], co["width"], co["signed"])

    n = len(x)
    xb = np.asarray(x).reshape(n * pin, ci["size"])
    yb = np.asarray(y).reshape(n * pout, co["size"])
    beats = [pack([int(v) for v in row], ci["width"]) for row in xb]
    expected = [[int(v) for v in row] for row in yb]
    # frames of several beats: tlast on the last pixel in, on the last beat out; frames of
    # one beat (vectors) carry the user's tlast through, as in a whole-vector design
    beat_frames = bool(frame) and (pin, pout) != (1, 1)
    if beat_frames:
        in_lasts = [int(k % pin == pin - 1) for k in range(n * pin)]
        out_lasts = [int(k % pout == pout - 1) for k in range(n * pout)]
    else:
        in_lasts = [int(k == n - 1) for k in range(n)]
        out_lasts = list(in_lasts)

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

    nt = min(n, int(os.environ.get("NNFAB_SIM_TIMING_ROWS")
                    or conf["expected"].get("frames", TIMING_ROWS)))
    if beat_frames:
        t_in_lasts, t_out_lasts = in_lasts[:nt * pin], out_lasts[:nt * pout]
    else:
        t_in_lasts = [int(k == nt - 1) for k in range(nt)]
        t_out_lasts = t_in_lasts
    t_mon = Monitor()
    t_sb = Scoreboard(expected[:nt * pout], t_out_lasts)
    ok_t = await bench.run(AxisDriver(dut, "s_axis", beats[:nt * pin], t_in_lasts, 0.0, seed),
                           AxisSink(dut, "m_axis", 0.0, seed + 1), t_mon, nt * pout, decode,
                           t_sb, budget)
    s_mon = Monitor()
    s_sb = Scoreboard(expected, out_lasts)
    ok_s = ok_t and await bench.run(
        AxisDriver(dut, "s_axis", beats, in_lasts, idle, seed + 2),
        AxisSink(dut, "m_axis", bp, seed + 3), s_mon, n * pout, decode, s_sb, budget)

    out = os.environ["NNFAB_SIM_OUT"]
    got = np.array([decode(w) for w in s_mon.out_beats], dtype=np.int64).reshape(
        -1, pout * co["size"])
    np.savez(out + ".npz", y=got)
    if frame:
        timing = frame_stats(t_mon.in_cycles, t_mon.out_cycles, pin, pout)
    else:
        timing = {"latency_cycles": t_mon.latency(0) if t_mon.out_cycles else None,
                  "ii_cycles": t_mon.initiation_interval(),
                  # cycles between consecutive outputs at full rate: the measured
                  # distribution of data-dependent (zero-skipping) designs
                  "out_gaps": [b - a for a, b in itertools.pairwise(t_mon.out_cycles)]}
    stats = {
        "rows": n,
        "completed": bool(ok_s),
        **timing,
        "expected_latency_cycles": int(conf["expected"]["latency_cycles"]),
        "expected_ii_cycles": ii_exp,
        "timing_rows": nt,
        "timing_mismatches": len(t_sb.mismatches),
        "mismatched_rows": len({k // pout for k in s_sb.mismatches}),
        "tlast_errors": t_sb.last_errors + s_sb.last_errors,
        "stress_cycles": (s_mon.out_cycles[-1] - s_mon.in_cycles[0]) if s_mon.out_cycles else None,
        "cycle_budget": budget,
        "idle": idle,
        "backpressure": bp,
        "seed": seed,
    }
    _write_json(out + ".json", stats)
    assert ok_t and ok_s, (
        f"design stopped producing outputs within {budget} cycles (deadlock?): "
        f"{len(t_mon.out_beats)}/{nt * pout} timing beats, "
        f"{len(s_mon.out_beats)}/{n * pout} stress beats")
    assert not t_sb.mismatches and not s_sb.mismatches, (
        f"{len(t_sb.mismatches)} + {len(s_sb.mismatches)} output beats differ from the reference")
    assert stats["tlast_errors"] == 0, "TLAST does not follow its vector"
