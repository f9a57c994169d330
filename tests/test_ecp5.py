"""The open ECP5 flow (generator.backends.board.ecp5): board files, the UART host link
(cocotb with real bit timing against the reference), and a routed bitstream end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from typing import Any

import numpy as np
import pytest

from generator import config, project, reference
from generator.backends.board import ecp5
from generator.boards import load_board
from generator.fixed import FixedType, Overflow, Rounding
from generator.ir import Dense, Graph, Input, Relu, Weight
from generator.passes import run_pipeline

ECP5_BOARDS = ("ulx3s-12f", "ulx3s-25f", "ulx3s-45f", "ulx3s-85f", "ecpix5-85")


def small_graph(board: str = "ulx3s-85f", n_in: int = 8, n_out: int = 6, reuse: int = 1,
                seed: int = 3) -> Graph:
    """``n_in`` -> ``n_out`` Dense (8-bit signed inputs and weights, half pruned) and a
    ReLU to 8 bits: the smallest design with a real multiply-accumulate."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, size=(n_in, n_out))
    w[rng.random(w.shape) < 0.5] = 0
    g = Graph("tiny")
    t = g.add(Input("input", [], shape=(n_in,)),
              FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT))
    d = Dense("fc", [t], {"weight": Weight(w, FixedType(8, 1))}, units=n_out,
              strategy="resource" if reuse > 1 else "latency", reuse=reuse)
    g.add(d, FixedType(20, 10))
    r = Relu("relu", [d.output])
    g.add(r, FixedType(8, 4, False, Rounding.RND, Overflow.SAT))
    g.outputs = [r.output]
    run_pipeline(g)
    g.meta["board"] = board
    return g


@pytest.fixture(scope="module")
def tiny_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Graph, str]:
    g = small_graph()
    out = str(tmp_path_factory.mktemp("ecp5") / "tiny")
    project.write_project(g, out, config.load(None, None))
    return g, out


def _json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def _driver(out: str) -> Any:
    spec = importlib.util.spec_from_file_location("nnfab_uart", os.path.join(out, "driver",
                                                                            "nnfab_uart.py"))
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ECP5_BOARDS)
def test_ecp5_board_device_and_pins(name: str) -> None:
    b = load_board(name)
    assert b.open_flow and b.flow == "ecp5"
    size = re.search(r"-(\d+)F-", b.part).group(1)
    args = ecp5.device_args(b)
    assert args[0].endswith(f"{size}k") and args[1:] == ["--package", b.package,
                                                          "--speed", str(b.speed)]
    assert args[0] == ("--um5g-85k" if b.part.startswith("LFE5UM5G") else f"--{size}k")
    text = ecp5.lpf(b)
    for port, pin in (("clk_osc", b.clk_pin), ("uart_rx", b.uart_rx_pin),
                      ("uart_tx", b.uart_tx_pin)):
        assert f'LOCATE COMP "{port}" SITE "{pin}";' in text
    assert f'FREQUENCY PORT "clk_osc" {b.osc_mhz:g} MHZ;' in text


def test_project_files_and_driver_framing(tiny_out: tuple[Graph, str]) -> None:
    g, out = tiny_out
    top = _json(os.path.join(out, "sim", "sim.json"))["top"]
    for f in (f"ecp5/{top}_uart.v", "ecp5/nnfab.lpf", "ecp5/flow.json",
              "driver/nnfab_uart.py", "driver/test_inputs.npy", "driver/expected_outputs.npy"):
        assert os.path.isfile(os.path.join(out, f)), f
    drv = _driver(out)
    x = np.load(os.path.join(out, "driver", "test_inputs.npy"))
    raw = drv.to_raw(x)
    np.testing.assert_array_equal(raw, reference.quantize_input(g, x).reshape(len(x), -1))
    data = drv.encode(raw)
    assert len(data) == len(x) * drv.IN_FRAME_BYTES == len(x) * 8
    # the framing is the packing layout: bytes back through unpack give the vectors
    back = drv.unpack(np.frombuffer(data, np.uint8).reshape(len(x), -1), drv.IN_ELEMS,
                      drv.IN_WIDTH, drv.IN_SIGNED)
    np.testing.assert_array_equal(back, raw)


def _rtl_equals_reference_and_model(g: Graph, out: str, x: Any, seed: int) -> None:
    """Verilator on ``x``: the outputs (varying) equal the reference, no testbench
    finding, and the measured latency and II are the estimate's."""
    from conftest import assert_outputs_vary

    from generator import estimate
    from generator.backends.rtl import sim

    want = reference.predict(g, x)
    assert_outputs_vary(want, g.outputs[0].ftype)
    y, stats = sim.run(g, out, x, seed=seed)
    np.testing.assert_array_equal(y, want)
    assert stats["findings"] == [], stats["findings"]
    tot = estimate.estimate(g)["total"]
    assert (stats["latency_cycles"], stats["ii_cycles"]) == (tot["latency_cycles"],
                                                            tot["ii_cycles"])


def folded_pair(signed: bool, seed: int = 5) -> Graph:
    """Two folded Dense layers: 16 -> 12 on 8-bit inputs (``signed`` or not; reuse 4), a
    ReLU to unsigned 8 bits, 12 -> 6 (reuse 3). fc1's products are nnfab_mul's MULT18X18D
    form under NNFAB_ECP5 (both operands signed, or an unsigned one zero-extended);
    fc2 reads the ReLU fused on its 18-bit input: the behavioural form."""
    rng = np.random.default_rng(seed)
    g = Graph("pair")
    t = g.add(Input("input", [], shape=(16,)),
              FixedType(8, 3, signed, Rounding.RND_CONV, Overflow.SAT))
    for name, n_out, reuse, wt in (("fc1", 12, 4, FixedType(8, 1)),
                                   ("fc2", 6, 3, FixedType(6, 1))):
        w = rng.integers(-(1 << (wt.width - 1)), 1 << (wt.width - 1), size=(t.shape[0], n_out))
        w[rng.random(w.shape) < 0.3] = 0
        d = Dense(name, [t], {"weight": Weight(w, wt)}, units=n_out, strategy="resource",
                  reuse=reuse)
        g.add(d, FixedType(20, 10))
        r = Relu(f"{name}_relu", [d.output])
        g.add(r, FixedType(8, 4, False, Rounding.RND, Overflow.SAT))
        t = r.output
    g.outputs = [t]
    g.meta["board"] = "ulx3s-85f"  # ECP5: the folded layers' PIPE 1, fc1_relu registered
    run_pipeline(g)
    return g


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_ecp5_multiplier_form_bit_exact(signed: bool, tmp_path: Any) -> None:
    """nnfab_mul's ECP5 form (an explicit MULT18X18D with its input and output registers,
    synthesised only under NNFAB_ECP5) in Verilator: the folded layers of
    :func:`folded_pair` read with the define and a behavioural MULT18X18D
    (``testbenches/sim_models/ecp5_mult18x18d.v``) equal the reference exactly, with the
    cycle model's latency and II."""
    import shutil

    from generator.backends import rtl
    from generator.backends.rtl import sim

    g = folded_pair(signed)
    out = str(tmp_path / "pair")
    rtl.write(g, out, None)
    model = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "testbenches", "sim_models", "ecp5_mult18x18d.v")
    shutil.copy(model, os.path.join(out, "rtl"))
    conf_path = os.path.join(out, "sim", "sim.json")
    conf = _json(conf_path)
    conf["sources"].append(os.path.basename(model))
    conf["defines"] = {ecp5.ECP5_DEFINE: 1}
    with open(conf_path, "w") as f:
        json.dump(conf, f)
    x = np.random.default_rng(11).uniform(-16 if signed else 0, 16, size=(64, 16))
    _rtl_equals_reference_and_model(g, out, x, seed=2)
    # the build holds the MULT18X18D instances (the define took the ECP5 form)
    _, bdir, built = sim.build(out)
    assert not built
    text = ""
    for name in os.listdir(bdir):
        if name.endswith((".h", ".cpp")):
            with open(os.path.join(bdir, name), errors="replace") as f:
                text += f.read()
    fabric = set(re.findall(r"u_(fc\d)__DOT__g_mul__BRA__\d+__KET____DOT__g_mult__DOT__u_mul"
                            r"__DOT__g_fabric", text))
    assert "g_ecp5" in text and fabric == {"fc2"}, fabric


def folded_quantized(board: str, seed: int = 7) -> Graph:
    """Two folded Dense layers (16 -> 12, reuse 4; 12 -> 6, reuse 3) with a ReLU and a
    Quantize to unsigned 8 bits (it rounds and saturates) between them, converted for
    ``board``."""
    from generator.ir import Quantize

    rng = np.random.default_rng(seed)
    g = Graph("quant_pair")
    t = g.add(Input("input", [], shape=(16,)),
              FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT))
    for name, n_out, reuse in (("fc1", 12, 4), ("fc2", 6, 3)):
        w = rng.integers(-128, 128, size=(t.shape[0], n_out))
        w[rng.random(w.shape) < 0.3] = 0
        d = Dense(name, [t], {"weight": Weight(w, FixedType(8, 1))}, units=n_out,
                  strategy="resource", reuse=reuse)
        g.add(d, FixedType(20, 10))
        t = d.output
        if name == "fc1":
            r = Relu("relu1", [t])
            g.add(r, FixedType(20, 10, False))
            q = Quantize("q1", [r.output])
            g.add(q, FixedType(8, 5, False, Rounding.RND_CONV, Overflow.SAT))
            t = q.output
    g.outputs = [t]
    g.meta["board"] = board
    run_pipeline(g)
    return g


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("board", ["pynq-z2", "ulx3s-85f"])
def test_folded_chain_per_family_bit_exact(board: str, tmp_path: Any) -> None:
    """:func:`folded_quantized` in Verilator equals the reference exactly, with the cycle
    model's latency and II, in each family's form: on a Xilinx board the folded layers'
    PIPE 0 (latency R + 2) and the Quantize combinational; on ECP5 PIPE 1 (R + 6) and
    the Quantize, which feeds a folded layer, rounded, registered, saturated, registered
    (two cycles, plan.split_cast)."""

    from generator.backends import rtl
    from generator.backends.rtl.design import plan
    from generator.backends.rtl.plan import FOLDED_DEPTH

    g = folded_quantized(board)
    apart = load_board(board).family == "ecp5"
    st = {s.node.name: s for s in plan(g)}
    for name, r in (("fc1", 4), ("fc2", 3)):
        assert (st[name].pipe, st[name].latency) == (
            int(apart), r + FOLDED_DEPTH[int(apart)])
    assert st["q1"].latency == (2 if apart else 0)
    assert ("mid" in st["q1"].info) == apart
    out = str(tmp_path / "pair")
    rtl.write(g, out, None)
    x = np.random.default_rng(13).uniform(-16, 16, size=(64, 16))
    _rtl_equals_reference_and_model(g, out, x, seed=3)


@pytest.mark.rtl
def test_uart_top_bit_exact_with_real_bit_timing(tiny_out: tuple[Graph, str]) -> None:
    """The UART top (bridge + network) in Verilator: the host model sends a partial beat
    (dropped after the quiet time), then 24 vectors with random gaps, as 8N1 frames at 8
    clocks per bit; the bytes it decodes from uart_tx, read by the driver, equal the
    reference outputs bit for bit."""
    from cocotb_tools.runner import VerilatorControlFile, get_runner

    from generator.backends.rtl.sim import (
        BUILD_ARGS,
        MAKEFLAGS,
        RUN_ENV,
        _environment,
        find_verilator,
    )

    g, out = tiny_out
    drv = _driver(out)
    x = np.load(os.path.join(out, "driver", "test_inputs.npy"))[:24]
    yr = reference.run(g, x)[g.outputs[0].name].reshape(len(x), -1)
    conf = _json(os.path.join(out, "sim", "sim.json"))
    top = f"{conf['top']}_uart"
    rtl = os.path.abspath(os.path.join(out, "rtl"))
    d = os.path.abspath(os.path.join(out, "ecp5", "uart_sim"))
    os.makedirs(d, exist_ok=True)
    cfg = {"clks_per_bit": 8, "idle_bits": 40, "junk": "a55a03", "max_gap": 3, "seed": 7,
           "send": drv.encode(drv.to_raw(x)).hex(), "expect": len(x) * drv.OUT_FRAME_BYTES,
           "window": drv.WINDOW, "in_frame": drv.IN_FRAME_BYTES, "out_frame": drv.OUT_FRAME_BYTES,
           "result": os.path.join(d, "result.json")}
    with open(os.path.join(d, "uart.json"), "w") as f:
        json.dump(cfg, f)
    vlt = os.path.join(d, "public.vlt")  # the top's ports visible to cocotb
    with open(vlt, "w") as f:
        f.write(f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n')
    verilator = find_verilator()
    tb = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with _environment([str(verilator.parent), os.path.dirname(__import__("sys").executable)],
                      {"MAKEFLAGS": MAKEFLAGS}, tb):
        runner = get_runner("verilator")
        runner.build(sources=[VerilatorControlFile(vlt)]
                     + [os.path.join(rtl, s) for s in conf["sources"]]
                     + [os.path.join(out, "ecp5", f"{top}.v")],
                     hdl_toplevel=top, build_dir=os.path.join(d, "build"),
                     build_args=BUILD_ARGS, log_file=os.path.join(d, "build.log"),
                     parameters={"CLKS_PER_BIT": 8, "IDLE_BITS": 40, "MEM_DIR": f'"{rtl}/"'})
        runner.test(test_module="testbenches.uart_tb", hdl_toplevel=top,
                    hdl_toplevel_lang="verilog", build_dir=os.path.join(d, "build"),
                    test_dir=d, extra_env={"NNFAB_UART_CONF": os.path.join(d, "uart.json"), **RUN_ENV},
                    results_xml=os.path.join(d, "results.xml"), log_file=os.path.join(d, "sim.log"))
    res = _json(cfg["result"])
    assert res["overrun"] == 0
    assert res["complete"], f"{len(res['bytes']) // 2} of {cfg['expect']} bytes received"
    got = drv.decode(bytes.fromhex(res["bytes"]), len(x))
    np.testing.assert_array_equal(got, yr)
    np.testing.assert_array_equal(drv.from_raw(got).reshape(len(x), -1),
                                  g.outputs[0].ftype.to_float(yr))


def _board_file(tmp: Any, base: str, clock_mhz: float) -> str:
    """A copy of board ``base`` whose fabric clock is ``clock_mhz``."""
    import yaml

    from generator.boards import boards_dir

    data = yaml.safe_load((boards_dir() / f"{base}.yaml").read_text())
    data["clock_mhz"] = clock_mhz
    path = os.path.join(str(tmp), f"{base}-{clock_mhz:g}mhz.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(data, f)
    return path


@pytest.mark.slow
def test_routed_bitstream_end_to_end(tmp_path: Any) -> None:
    """The smallest design through the whole open flow on an LFE5U-12F: ecppll,
    synth_ecp5, nextpnr-ecp5, ecppack. At a clock it meets, ``nnfab build`` exits 0 and
    writes the bitstream, the SVF and the routed report; at 400 MHz it exits 2 with the
    achieved Fmax and the critical path in one line, and writes no bitstream."""
    import subprocess
    import sys

    for mhz in (40.0, 400.0):
        g = small_graph(board=_board_file(tmp_path, "ulx3s-12f", mhz))
        out = str(tmp_path / f"tiny{mhz:g}")
        project.write_project(g, out, config.load(None, None))
        p = subprocess.run([sys.executable, "-m", "generator.cli", "build", out],
                           check=False, capture_output=True, text=True)
        bit = os.path.join(out, "ecp5", "nnfab.bit")
        rep = _json(os.path.join(out, "ecp5", "report.json"))
        t = rep["timing"]
        assert t["clock_mhz"] == pytest.approx(mhz) and t["fmax_mhz"] > 0
        # (the LFE5U-12F is the 25F die: nextpnr offers 24288 LUT4 sites, Lattice specifies 12 k)
        assert rep["utilization"]["TRELLIS_COMB"]["available"] >= load_board("ulx3s-12f").lut
        if mhz == 40.0:
            assert p.returncode == 0, p.stderr
            assert t["met"] and t["fmax_mhz"] >= mhz
            with open(bit, "rb") as f:
                data = f.read()
            assert len(data) > 10_000 and b"LFE5U-12F" in data[:200]  # ecppack's header
            assert os.path.getsize(os.path.join(out, "ecp5", "nnfab.svf")) > 0
            assert "nnfab.bit" in p.stdout
            with open(os.path.join(out, "ecp5", "report.md")) as f:
                assert "-- met" in f.read()
            # report --pnr: the routed results of these inputs (no second P&R)
            r = subprocess.run([sys.executable, "-m", "generator.cli", "report", out, "--pnr"],
                               check=False, capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            assert (f"routed on LFE5U-12F-6BG381C (nextpnr-ecp5): Fmax {t['fmax_mhz']:.1f} MHz, "
                    "target 40 MHz (met)") in r.stdout
            assert "routed results of the same design" in r.stderr
        else:
            assert p.returncode == 2 and not os.path.exists(bit)
            err = p.stderr.strip().splitlines()
            assert len(err) == 1, p.stderr
            assert re.match(r"nnfab: error: routed Fmax [\d.]+ MHz < the 400 MHz clock on "
                            r"LFE5U-12F-6BG381C \(critical path \S+ -> \S+, ", err[0]), err[0]
            assert f"{t['fmax_mhz']:.1f}" in err[0] and not t["met"]


@pytest.mark.slow
@pytest.mark.parametrize("kw", [
    {"prune": 0.0, "n": 8},
    {"prune": 0.25, "strategy": "resource", "reuse": 4, "n": 16},
    {"prune": 0.25, "strategy": "resource", "reuse": 4, "n": 16, "bits": 4},
], ids=["parallel8", "folded16_r4", "folded16_r4_4bit"])
def test_ecp5_estimate_against_synth_ecp5(kw: dict[str, Any], tmp_path: Any) -> None:
    """With an ECP5 board the estimate counts ECP5 primitives: MULT18X18D and DP16KD
    exactly as Yosys synth_ecp5 maps them (4-bit x 4-bit products too: LUTs on a DSP48
    family, multipliers here), LUT4 sites (LUT4 + 2 per CCU2C) within 25 % and FFs within
    15 % (``nnfab report --synth`` path)."""
    from test_estimate import dense_graph

    from generator import estimate
    from generator.backends import rtl

    g = dense_graph(**kw)
    g.meta["board"] = "ulx3s-85f"
    out = str(tmp_path / "out")
    rtl.write(g, out, None)
    rep = estimate.report(g, out, synth=True)
    est, got = rep["total"], rep["synth"]
    print({k: (est[k], got[k]) for k in ("lut", "ff", "dsp", "bram18")})
    assert rep["family"] == got["family"] == "ecp5"
    assert (est["dsp"], est["bram18"]) == (got["dsp"], got["bram18"])
    assert (est["dsp"] > 0) == ("reuse" in kw)
    assert 0.75 <= est["lut"] / got["lut"] <= 1.25
    assert 0.85 <= est["ff"] / got["ff"] <= 1.15
    assert "MULT18X18D" in estimate.text(rep)


def test_report_pnr_on_a_vendor_board_runs_no_pnr(tmp_path: Any,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``nnfab report --pnr`` on a Xilinx board: the estimate, then one line saying that no
    P&R runs here for that family (and --json carries it as ``pnr.ran = false``)."""
    from generator.cli import main

    g = small_graph(board="pynq-z2")
    out = str(tmp_path / "tiny")
    project.write_project(g, out, config.load(None, None))
    assert main(["report", out, "--pnr"]) == 0
    text = capsys.readouterr().out
    assert "no P&R runs here for pynq-z2 (xc7: vendor flow, see 'nnfab build'); open-flow " \
           "families: ecp5" in text
    assert main(["report", out, "--pnr", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["pnr"]["ran"] is False and doc["total"]["lut"] > 0
    assert not os.path.exists(os.path.join(out, "ecp5"))


def test_uart_driver_self_test_over_a_pty(tiny_out: tuple[Graph, str]) -> None:
    """The emitted driver's self-test through pyserial on a pseudo-terminal, behind which a
    device model answers each input vector (unpacked with generator.packing) with the
    reference outputs (packed with it): 200 vectors, 0 mismatched, exit 0."""
    import threading

    from generator import packing

    g, out = tiny_out
    drv = _driver(out)
    master, slave = os.openpty()
    tin, tout = g.inputs[0].ftype, g.outputs[0].ftype
    stop = threading.Event()

    def device() -> None:
        buf = b""
        while not stop.is_set():
            try:
                buf += os.read(master, 4096)
            except OSError:
                return
            while len(buf) >= drv.IN_FRAME_BYTES:
                frame, buf = buf[:drv.IN_FRAME_BYTES], buf[drv.IN_FRAME_BYTES:]
                xr = packing.unpack(np.frombuffer(frame, np.uint8)[None], drv.IN_ELEMS,
                                    tin.width, tin.signed)
                y = reference.run(g, tin.to_float(xr))[g.outputs[0].name].reshape(1, -1)
                os.write(master, packing.pack(y, tout.width, drv.BEAT_OUT_BITS).tobytes())

    t = threading.Thread(target=device, daemon=True)
    t.start()
    try:
        assert drv.self_test(os.ttyname(slave), os.path.join(out, "driver")) == 0
    finally:
        stop.set()
        os.close(slave)
        os.close(master)


def test_parse_pnr_report_picks_the_clock_path() -> None:
    """nextpnr's --report JSON: utilisation of the used BELs, Fmax per clock, and the
    critical path of the fabric clock's registers even when an I/O path is longer."""
    def step(kind: str, delay: float, cell: str = "c", port: str = "Q") -> dict[str, Any]:
        return {"type": kind, "delay": delay, "from": {"cell": cell, "port": port},
                "to": {"cell": cell + "_next", "port": "DI"}}

    rep = {"utilization": {"TRELLIS_COMB": {"used": 10, "available": 100},
                           "DP16KD": {"used": 0, "available": 208}},
           "fmax": {"$glbnet$clk": {"achieved": 80.5, "constraint": 100}},
           "critical_paths": [
               {"from": "<async>", "to": "posedge $glbnet$clk",
                "path": [step("routing", 20.0, "uart_rx")]},
               {"from": "posedge $glbnet$clk", "to": "posedge $glbnet$clk",
                "path": [step("clk-to-q", 0.5, "a"), step("routing", 8.0, "b"),
                         step("logic", 3.5, "c")]}]}
    p = ecp5.parse_pnr(rep)
    assert p["utilization"] == {"TRELLIS_COMB": {"used": 10, "available": 100}}
    assert p["fmax"] == {"$glbnet$clk": {"achieved_mhz": 80.5, "constraint_mhz": 100.0}}
    assert p["critical_paths"][0]["from"] == "uart_rx.Q"  # the longest of all
    cp = ecp5.clock_paths(p, "$glbnet$clk")[0]
    assert (cp["from"], cp["to"]) == ("a.Q", "c_next.DI")
    assert (cp["delay_ns"], cp["logic_ns"], cp["routing_ns"], cp["steps"]) == (12.0, 4.0, 8.0, 3)
