"""AXI-Stream verification components for cocotb 2 (one whole vector per beat).

All components are stepped by one clock loop (:class:`StreamBench`): at the falling
edge the driver and the sink set their outputs, then in the read-only phase the monitor
samples which handshakes happen at the next rising edge. Every random choice comes from
a seeded :class:`random.Random`, so a run is reproducible.

Cycles in which nothing can happen are not stepped one by one: when the driver holds a
beat the design does not take (or has none left), and the design offers no output, the
bench's outputs stay as they are and no handshake can occur until ``s_axis_tready`` or
``m_axis_tvalid`` changes, so the loop waits for that change (or the cycle budget) and
counts the cycles that passed from the simulation time. A folded layer's ``R`` cycles per
vector then cost one wait, not ``R`` steps of Python.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from cocotb.triggers import FallingEdge, First, ReadOnly, Timer
from cocotb.utils import get_sim_time


def _bit(v: Any) -> bool:
    return str(v) == "1"


def pack(values: list[int], width: int) -> int:
    """Element 0 in the lowest bits; negative raw values as two's complement."""
    word = 0
    mask = (1 << width) - 1
    for i, x in enumerate(values):
        word |= (int(x) & mask) << (i * width)
    return word


def unpack(word: int, n: int, width: int, signed: bool) -> list[int]:
    mask = (1 << width) - 1
    out = []
    for i in range(n):
        v = (word >> (i * width)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out


class AxisDriver:
    """Drives ``<prefix>_tdata/tvalid/tlast`` with the given beats; idle with ``idle`` probability."""

    def __init__(self, dut: Any, prefix: str, beats: list[int], lasts: list[int],
                 idle: float = 0.0, seed: int = 0) -> None:
        self.tdata = getattr(dut, f"{prefix}_tdata")
        self.tvalid = getattr(dut, f"{prefix}_tvalid")
        self.tready = getattr(dut, f"{prefix}_tready")
        self.tlast = getattr(dut, f"{prefix}_tlast")
        self.beats, self.lasts = beats, lasts
        self.idle = idle
        self.rng = random.Random(seed)
        self.index = 0  # next beat to present
        self.presenting = False

    @property
    def done(self) -> bool:
        return self.index >= len(self.beats)

    def drive(self) -> None:
        """Called at the falling edge: hold an unaccepted beat, else maybe present the next."""
        if not self.presenting and not self.done and (
            self.idle <= 0 or self.rng.random() >= self.idle
        ):
            self.tdata.value = self.beats[self.index]
            self.tlast.value = self.lasts[self.index]
            self.presenting = True
        self.tvalid.value = int(self.presenting)

    def fires(self) -> bool:
        """In the read-only phase: does the beat transfer at the next rising edge?"""
        return self.presenting and _bit(self.tready.value)

    def accepted(self) -> None:
        self.index += 1
        self.presenting = False


class AxisSink:
    """Drives ``<prefix>_tready``, low with ``backpressure`` probability each cycle."""

    def __init__(self, dut: Any, prefix: str, backpressure: float = 0.0, seed: int = 1) -> None:
        self.tready = getattr(dut, f"{prefix}_tready")
        self.backpressure = backpressure
        self.rng = random.Random(seed)

    def drive(self) -> None:
        low = self.backpressure > 0 and self.rng.random() < self.backpressure
        self.tready.value = 0 if low else 1


@dataclass
class Monitor:
    """Records the cycle of every input and output handshake, and the output beats."""

    in_cycles: list[int] = field(default_factory=list)
    out_cycles: list[int] = field(default_factory=list)
    out_beats: list[int] = field(default_factory=list)
    out_lasts: list[int] = field(default_factory=list)

    def latency(self, k: int = 0) -> int:
        return self.out_cycles[k] - self.in_cycles[k]

    def initiation_interval(self) -> int:
        """Steady-state cycles between accepted inputs (the largest gap in the second half)."""
        c = self.in_cycles
        if len(c) < 2:
            return 1
        gaps = [b - a for a, b in itertools.pairwise(c)]
        return max(gaps[len(gaps) // 2:])


@dataclass
class Scoreboard:
    """Compares each output vector (raw ints) with the expected one, exactly."""

    expected: list[list[int]]
    expected_lasts: list[int]
    mismatches: list[int] = field(default_factory=list)
    last_errors: int = 0

    def check(self, k: int, got: list[int], last: int) -> None:
        if k >= len(self.expected) or got != self.expected[k]:
            self.mismatches.append(k)
        if k < len(self.expected_lasts) and last != self.expected_lasts[k]:
            self.last_errors += 1


class StreamBench:
    """One clock loop around a DUT with ``s_axis`` and ``m_axis`` ports (clock period
    ``period_ns``)."""

    def __init__(self, dut: Any, clk: Any, period_ns: int = 10) -> None:
        self.dut = dut
        self.clk = clk
        self.period = period_ns
        self.cycle = 0
        self._t: float | None = None  # simulation time (ns) of the last falling edge stepped

    async def _falling_edge(self) -> None:
        await FallingEdge(self.clk)
        now = get_sim_time("ns")
        self.cycle += 1 if self._t is None else round((now - self._t) / self.period)
        self._t = now

    async def run(self, driver: AxisDriver, sink: AxisSink, monitor: Monitor, n_out: int,
                  decode: Any, scoreboard: Scoreboard, max_cycles: int) -> bool:
        """Stream every beat of ``driver`` and collect ``n_out`` output beats; return False
        when ``max_cycles`` pass first. A design may emit a frame's last output before it
        has taken the frame's last input beats (a window whose stride grid ends before the
        frame does reads the remaining rows after its last window): the run goes on until
        the driver has handed over every beat, so the next run starts on a frame boundary."""
        dut = self.dut
        start = self.cycle
        while len(monitor.out_beats) < n_out or not driver.done:
            if self.cycle - start > max_cycles:
                return False
            await self._falling_edge()
            driver.drive()
            sink.drive()
            await ReadOnly()
            in_ready = _bit(driver.tready.value)
            out_valid = _bit(dut.m_axis_tvalid.value)
            if driver.fires():
                monitor.in_cycles.append(self.cycle)
                driver.accepted()
            elif (driver.presenting or driver.done) and not out_valid and not in_ready:
                # quiet: until the design raises one of these, every cycle is this one
                left = max_cycles - (self.cycle - start) + 1
                await First(driver.tready.value_change, dut.m_axis_tvalid.value_change,
                            Timer(left * self.period, "ns"))
                continue
            if out_valid and _bit(dut.m_axis_tready.value):
                word = dut.m_axis_tdata.value.to_unsigned()
                last = int(_bit(dut.m_axis_tlast.value))
                k = len(monitor.out_beats)
                monitor.out_cycles.append(self.cycle)
                monitor.out_beats.append(word)
                monitor.out_lasts.append(last)
                scoreboard.check(k, decode(word), last)
        return True
