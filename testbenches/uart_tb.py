"""cocotb test of an nnfab UART top (``<top>_uart``, :mod:`generator.backends.board.ecp5`):
a host model drives ``uart_rx`` with real 8N1 bit timing and decodes ``uart_tx`` bit by bit.

The configuration file named by ``NNFAB_UART_CONF`` (JSON) gives ``clks_per_bit``,
``idle_bits``, ``junk`` (hex bytes of a partial beat sent first: the bridge must drop it
after ``idle_bits`` quiet bit times), ``send`` (hex bytes of whole input vectors, sent with
seeded random quiet bit times between bytes, up to ``max_gap``), ``expect`` (bytes to
receive), ``window`` (whole vectors sent before the host waits for their answers, as the
driver does: ``in_frame`` / ``out_frame`` bytes per vector) and ``result`` (where the received bytes are written as hex, with the
bridge's ``overrun`` flag).
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, with_timeout


async def send_byte(dut, value: int, cpb: int) -> None:
    """One 8N1 frame on ``uart_rx``: start bit, 8 data bits LSB first, stop bit."""
    for bit in [0] + [(value >> i) & 1 for i in range(8)] + [1]:
        dut.uart_rx.value = bit
        await ClockCycles(dut.clk, cpb)


async def receive(dut, n: int, cpb: int, got: list[int]) -> None:
    """Decode ``n`` 8N1 frames from ``uart_tx``, sampling each bit at its middle."""
    while len(got) < n:
        await FallingEdge(dut.uart_tx)
        await ClockCycles(dut.clk, cpb // 2)
        assert int(dut.uart_tx.value) == 0, "start bit not low at its middle"
        v = 0
        for i in range(8):
            await ClockCycles(dut.clk, cpb)
            v |= int(dut.uart_tx.value) << i
        await ClockCycles(dut.clk, cpb)
        assert int(dut.uart_tx.value) == 1, f"byte {len(got)}: stop bit low"
        got.append(v)


def _load(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def _save(path: str, doc: dict) -> None:
    with open(path, "w") as f:
        json.dump(doc, f)


@cocotb.test()
async def uart_round_trip(dut) -> None:
    cfg = _load(os.environ["NNFAB_UART_CONF"])
    cpb, idle = int(cfg["clks_per_bit"]), int(cfg["idle_bits"])
    rng = random.Random(int(cfg.get("seed", 0)))
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.uart_rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 5)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 3 * cpb)
    got: list[int] = []
    n = int(cfg["expect"])
    rx = cocotb.start_soon(receive(dut, n, cpb, got))
    for b in bytes.fromhex(cfg["junk"]):  # a partial beat, then silence: dropped
        await send_byte(dut, b, cpb)
    await ClockCycles(dut.clk, (idle + 20) * cpb)
    send = bytes.fromhex(cfg["send"])
    chunk = int(cfg["window"]) * int(cfg["in_frame"])
    per = int(cfg["out_frame"]) / int(cfg["in_frame"])
    try:
        for k in range(0, len(send), chunk):
            waited = 0  # bit times waiting for the answers of the windows sent so far
            while len(got) < round(k * per):
                await ClockCycles(dut.clk, cpb)
                waited += 1
                assert waited < chunk * per * 10 + 200, f"no answer after {waited} bit times"
            for b in send[k:k + chunk]:
                await send_byte(dut, b, cpb)
                gap = rng.randint(0, int(cfg.get("max_gap", 0)))
                if gap:
                    await ClockCycles(dut.clk, gap * cpb + rng.randint(0, cpb - 1))
        # every answer arrives within its frames' time after the last byte sent
        await with_timeout(rx, (int(cfg["window"]) * int(cfg["out_frame"]) * 10 + 200)
                           * cpb * 10 + 100_000, "ns")
    finally:  # what arrived, also when not all of it did
        _save(cfg["result"], {"bytes": bytes(got).hex(), "overrun": int(dut.overrun.value),
                              "complete": len(got) == n})
