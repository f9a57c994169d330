"""Board flow (``make build BOARD=...``): shared word packing, Vivado/Vitis scripts run
under tclsh with recorded Vivado stubs, host drivers, and the end-to-end build that stops
with exit 3 where the vendor tools are missing — for every board in ``boards/``."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import types
from typing import Any

import numpy as np
import pytest

from generator import packing
from generator.backends import board as bflow
from generator.boards import board_names, load_board
from testbenches import axis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUB = os.path.join(ROOT, "tests", "tcl", "vivado_stub.tcl")
EXAMPLE = os.path.join(ROOT, "examples", "digits_mlp", "digits_mlp.h5")
BOARDS = board_names()
VENDOR_TOOLS = ("vivado", "v++", "vitis_hls", "vivado_hls")


def _read(path: Any) -> str:
    with open(path) as f:
        return f.read()


def _readb(path: Any) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _axis_bytes(raw: np.ndarray, width: int, beat_bits: int) -> np.ndarray:
    """The beats the cocotb driver feeds the RTL (testbenches.axis.pack) as bytes."""
    return np.array([list(axis.pack([int(v) for v in row], width).to_bytes(beat_bits // 8, "little"))
                     for row in raw], dtype=np.uint8).reshape(len(raw), beat_bits // 8)


# -- packing -------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("width", [1, 2, 3, 5, 7, 8, 9, 12, 16, 17, 20, 24, 31, 32, 33, 48, 62])
def test_pack_round_trip_and_axis_layout(width: int, signed: bool) -> None:
    rng = np.random.default_rng(1000 * width + signed)
    for n_elems in (1, 3, 10, 64):
        lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        raw = rng.integers(lo, hi, size=(40, n_elems), endpoint=True, dtype=np.int64)
        raw[0], raw[1] = lo, hi
        bits = packing.beat_bits(n_elems, width)
        assert bits % 8 == 0 and bits - 8 < n_elems * width <= bits
        b = packing.pack(raw, width, bits)
        assert b.dtype == np.uint8 and b.shape == (40, bits // 8)
        np.testing.assert_array_equal(packing.unpack(b, n_elems, width, signed), raw)
        np.testing.assert_array_equal(packing.unpack(b.reshape(-1), n_elems, width, signed), raw)
        np.testing.assert_array_equal(b, _axis_bytes(raw, width, bits))
        # a wider beat (the DMA-padded layout) only appends zero bytes
        wide = packing.pack(raw, width, bits + 64)
        np.testing.assert_array_equal(wide[:, : bits // 8], b)
        assert not wide[:, bits // 8:].any()
        words = [int.from_bytes(r.tobytes(), "little") for r in b[:5]]
        assert [axis.unpack(w, n_elems, width, signed) for w in words] == raw[:5].tolist()


def test_pack_refuses_bad_shapes() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        packing.pack(np.zeros((2, 3), np.int64), 5, 12)
    with pytest.raises(ValueError, match=r"shape \(N, n_elems\)"):
        packing.pack(np.zeros(3, np.int64), 5, 16)
    with pytest.raises(ValueError, match="whole number"):
        packing.unpack(np.zeros(5, np.uint8), 3, 5, True)


def test_pack_matches_rtl_ports_on_zoo(zoo_q: Any, tmp_path: Any) -> None:
    """generator.packing == the beats the cocotb testbench drives into the RTL top, and the
    beat widths equal the RTL's s_axis/m_axis tdata widths, for each quantized zoo model."""
    from generator import config, reference
    from generator.backends import rtl
    from generator.frontends.keras import from_model
    from generator.passes import run_pipeline

    g = from_model(zoo_q.model, config.load(None))
    run_pipeline(g)
    out = str(tmp_path)
    conf = rtl.write(g, out, None)
    assert conf, _read(os.path.join(out, "rtl", "UNSUPPORTED.txt")).strip()
    lay = bflow.layout(g)
    top = _read(os.path.join(out, "rtl", f"{conf['top']}.v"))
    assert f"input  wire [{lay['in_bits'] - 1}:0] s_axis_tdata" in top
    assert f"output wire [{lay['out_bits'] - 1}:0] m_axis_tdata" in top
    x = zoo_q.x[:200]
    xr = reference.quantize_input(g, x).reshape(len(x), -1)
    yr = reference.run(g, x)[g.outputs[0].name].reshape(len(x), -1)
    np.testing.assert_array_equal(packing.pack(xr, lay["in_width"], lay["in_bits"]),
                                  _axis_bytes(xr, lay["in_width"], lay["in_bits"]))
    yb = packing.pack(yr, lay["out_width"], lay["out_bits"])
    np.testing.assert_array_equal(yb, _axis_bytes(yr, lay["out_width"], lay["out_bits"]))
    np.testing.assert_array_equal(
        packing.unpack(yb, lay["out_elems"], lay["out_width"], lay["out_signed"]), yr)


# -- generated trees (one graph, written for every board) ----------------------------------


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """digits_mlp converted once, written for every board: {board: OUT}."""
    from generator import config, project

    cfg = config.load(None)
    g, _ = project.build_graph(EXAMPLE, cfg)
    base = tmp_path_factory.mktemp("boards")
    outs = {}
    for b in BOARDS:
        g.meta["board"] = b
        outs[b] = str(base / b)
        project.write_project(g, outs[b], cfg)
    return outs


def run_stub(script: str, tmp: Any, board_parts: str = "") -> list[list[str]]:
    """Run a generated Tcl script under tclsh with the recorded Vivado stubs."""
    from conftest import require

    require("tclsh")
    log = os.path.join(str(tmp), "calls.log")
    runner = os.path.join(str(tmp), "run.tcl")
    with open(runner, "w") as f:
        f.write(f"source {{{STUB}}}\nsource {{{script}}}\nexit 0\n")
    env = {**os.environ, "NNFAB_STUB_LOG": log, "NNFAB_STUB_BOARD_PARTS": board_parts}
    r = subprocess.run(["tclsh", runner], capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 0, r.stderr + r.stdout
    with open(log) as f:
        return [ln.rstrip("\n").split("\t") for ln in f if ln.strip()]


def calls(log: list[list[str]], cmd: str) -> list[list[str]]:
    return [c[1:] for c in log if c[0] == cmd]


#: pins of the Xilinx IPs the block design connects (PG021 axi_dma, PG164 proc_sys_reset,
#: PG247 smartconnect, PG085 axis_infrastructure, PG082 processing_system7, PG201
#: zynq_ultra_ps_e); the accelerator's come from its Verilog port list
KNOWN_PINS = {
    "processing_system7": {"FCLK_CLK0", "FCLK_RESET0_N", "M_AXI_GP0", "M_AXI_GP0_ACLK",
                           "S_AXI_HP0", "S_AXI_HP0_ACLK"},
    "zynq_ultra_ps_e": {"pl_clk0", "pl_resetn0", "M_AXI_HPM0_FPD", "maxihpm0_fpd_aclk",
                        "S_AXI_HP0_FPD", "saxihp0_fpd_aclk"},
    "axi_dma": {"s_axi_lite_aclk", "m_axi_mm2s_aclk", "m_axi_s2mm_aclk", "axi_resetn",
                "S_AXI_LITE", "M_AXI_MM2S", "M_AXI_S2MM", "M_AXIS_MM2S", "S_AXIS_S2MM"},
    "proc_sys_reset": {"slowest_sync_clk", "ext_reset_in", "peripheral_aresetn",
                       "peripheral_reset", "interconnect_aresetn"},
    "smartconnect": {"aclk", "aresetn", "S00_AXI", "S01_AXI", "M00_AXI"},
    "axis_dwidth_converter": {"aclk", "aresetn", "S_AXIS", "M_AXIS"},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", [b for b in BOARDS if load_board(b).flow in ("zynq", "zynqmp")])
def test_block_design_tcl(name: str, trees: dict[str, str], tmp_path: Any) -> None:
    b = load_board(name)
    out = trees[name]
    man = json.loads(_read(os.path.join(out, "board.json")))
    top = man["top"]
    lay = man["layout"]
    tcl = os.path.join(out, "vivado", "build_bd.tcl")
    assert _read(tcl) == _read(os.path.join(bflow.TEMPLATES, "build_bd.tcl"))  # static
    log = run_stub(tcl, tmp_path)
    seq = [c[0] for c in log]
    order = ["create_project", "add_files", "create_bd_design", "create_bd_cell",
             "apply_bd_automation", "connect_bd_intf_net", "connect_bd_net", "assign_bd_address",
             "validate_bd_design", "save_bd_design", "generate_target", "make_wrapper",
             "launch_runs", "wait_on_run", "open_run", "report_utilization",
             "report_timing_summary", "write_hw_platform"]
    firsts = [seq.index(c) for c in order]
    assert firsts == sorted(firsts), [order[i] for i in np.argsort(firsts)]
    assert calls(log, "create_project")[0][1:] == [
        os.path.join(out, "vivado", f"nnfab_{name.replace('-', '_')}"), "-part", b.part, "-force"]
    # the verified RTL files, all of them
    added = " ".join(calls(log, "add_files")[0]).split()
    assert sorted(os.path.basename(p) for p in added if p.endswith(".v")) == sorted(
        f for f in os.listdir(os.path.join(out, "rtl")) if f.endswith(".v"))
    cells: dict[str, str] = {}
    for c in calls(log, "create_bd_cell"):
        opts = dict(zip(c[0:-1:2], c[1:-1:2]))
        cells[c[-1]] = opts.get("-vlnv") or "module:" + opts["-reference"]
    ps = "xilinx.com:ip:processing_system7:5.5" if b.flow == "zynq" else "xilinx.com:ip:zynq_ultra_ps_e:3.5"
    assert cells["ps"] == ps
    assert cells["dma"] == "xilinx.com:ip:axi_dma:7.1"
    assert cells["rst"] == "xilinx.com:ip:proc_sys_reset:5.0"
    assert cells["ctrl_sc"] == cells["mem_sc"] == "xilinx.com:ip:smartconnect:1.0"
    assert cells["accel"] == f"module:{top}"
    rule = calls(log, "apply_bd_automation")[0]
    assert rule[:2] == ["-rule", "xilinx.com:bd_rule:" + ("processing_system7" if b.flow == "zynq"
                                                         else "zynq_ultra_ps_e")]
    props = {}
    for c in calls(log, "set_property"):
        if c[0] == "-dict":
            kv = c[1].split()
            props.setdefault(c[2], {}).update(zip(kv[0::2], kv[1::2]))
        else:
            props.setdefault(c[2], {})[c[0]] = c[1]
    clk = props["ps"]["CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ" if b.flow == "zynq"
                      else "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"]
    assert float(clk) == b.clock_mhz
    assert props["dma"]["CONFIG.c_include_sg"] == "0"  # simple mode
    assert int(props["dma"]["CONFIG.c_m_axis_mm2s_tdata_width"]) == 8 * bflow.dma_bytes(lay["in_bytes"])
    assert props["accel/rst"]["CONFIG.POLARITY"] == "ACTIVE_HIGH"
    # every connected pin exists on its IP (or on the accelerator's port list)
    ports = set(re.findall(r"(?:input|output)\s+wire\s+(?:\[[^\]]+\]\s+)?(\w+)",
                           _read(os.path.join(out, "rtl", f"{top}.v"))))
    known = {n: KNOWN_PINS[v.split(":")[2]] for n, v in cells.items() if v.startswith("xilinx")}
    known["accel"] = ports | {"s_axis", "m_axis"}
    nets = calls(log, "connect_bd_net")
    intf = calls(log, "connect_bd_intf_net")
    for pin in [p for c in nets + intf for p in c]:
        cell, port = pin.split("/")
        assert port in known[cell], pin
    # stream path DMA -> (converter) -> accel -> (converter) -> DMA; control and memory paths
    pairs = {tuple(c) for c in intf}
    chain = [("dma/M_AXIS_MM2S", "in_conv/S_AXIS"), ("in_conv/M_AXIS", "accel/s_axis")] \
        if "in_conv" in cells else [("dma/M_AXIS_MM2S", "accel/s_axis")]
    chain += [("accel/m_axis", "out_conv/S_AXIS"), ("out_conv/M_AXIS", "dma/S_AXIS_S2MM")] \
        if "out_conv" in cells else [("accel/m_axis", "dma/S_AXIS_S2MM")]
    assert set(chain) <= pairs
    assert ("ctrl_sc/M00_AXI", "dma/S_AXI_LITE") in pairs
    assert {("dma/M_AXI_MM2S", "mem_sc/S00_AXI"), ("dma/M_AXI_S2MM", "mem_sc/S01_AXI")} <= pairs
    # one clock net from the PS fabric clock reaches every clock pin; resets from rst
    clock = next(c for c in nets if c[0] in ("ps/FCLK_CLK0", "ps/pl_clk0"))
    assert {"accel/clk", "dma/s_axi_lite_aclk", "dma/m_axi_mm2s_aclk", "dma/m_axi_s2mm_aclk",
            "rst/slowest_sync_clk", "ctrl_sc/aclk", "mem_sc/aclk"} <= set(clock)
    assert ["rst/peripheral_reset", "accel/rst"] in nets
    assert any(c[0] == "rst/peripheral_aresetn" and "dma/axi_resetn" in c for c in nets)
    assert calls(log, "launch_runs")[0][:3] == ["impl_1", "-to_step", "write_bitstream"]
    assert any("utilization.rpt" in c[-1] for c in calls(log, "report_utilization"))
    assert any("timing_summary.rpt" in c[-1] for c in calls(log, "report_timing_summary"))
    assert any(c[-1].endswith("nnfab.bit") for c in calls(log, "file copy"))


@pytest.mark.slow
def test_block_design_uses_board_files_when_present(trees: dict[str, str], tmp_path: Any) -> None:
    log = run_stub(os.path.join(trees["zcu104"], "vivado", "build_bd.tcl"), tmp_path,
                   board_parts="xilinx.com:zcu104:part0:1.1 xilinx.com:zcu102:part0:3.4")
    assert ["board_part", "xilinx.com:zcu104:part0:1.1", "nnfab_zcu104"] in calls(log, "set_property")
    assert "apply_board_preset 1" in calls(log, "apply_bd_automation")[0][3]


@pytest.mark.slow
@pytest.mark.parametrize("name", [b for b in BOARDS if load_board(b).flow == "part-only"])
def test_part_only_synthesis_tcl(name: str, trees: dict[str, str], tmp_path: Any) -> None:
    b = load_board(name)
    out = trees[name]
    top = json.loads(_read(os.path.join(out, "board.json")))["top"]
    assert not os.path.exists(os.path.join(out, "driver"))
    log = run_stub(os.path.join(out, "vivado", "synth_ooc.tcl"), tmp_path)
    seq = [c[0] for c in log]
    assert seq.index("read_verilog") < seq.index("synth_design") < seq.index("create_clock") \
        < seq.index("report_utilization") < seq.index("report_timing_summary")
    assert calls(log, "synth_design")[0] == ["-top", top, "-part", b.part, "-mode", "out_of_context"]
    period = calls(log, "create_clock")[0]
    assert float(period[period.index("-period") + 1]) == pytest.approx(1000.0 / b.clock_mhz, abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("name", [b for b in BOARDS if load_board(b).flow == "alveo"])
def test_vitis_flow_files(name: str, trees: dict[str, str], tmp_path: Any) -> None:
    from generator import ir, reference

    out = trees[name]
    d = os.path.join(out, "vitis")
    plat = bflow.ALVEO_PLATFORMS[name]
    k = bflow.KERNEL
    cfgtext = _read(os.path.join(d, "connectivity.cfg"))
    mem = "HBM[0]" if name == "alveo-u50" else "DDR[0]"
    assert plat["memory"] == mem
    assert "[connectivity]" in cfgtext and f"nk={k}:1:{k}_1" in cfgtext
    assert f"sp={k}_1.in_bytes:{mem}" in cfgtext and f"sp={k}_1.out_bytes:{mem}" in cfgtext
    mk = _read(os.path.join(d, "Makefile"))
    assert f"PLATFORM ?= {plat['platform']}" in mk
    assert re.search(r"v\+\+ -c -t \$\(TARGET\) --platform \$\(PLATFORM\) -k \$\(KERNEL\)", mk)
    assert re.search(r"v\+\+ -l -t \$\(TARGET\) --platform \$\(PLATFORM\) --config connectivity.cfg", mk)
    assert "TARGET   ?= hw" in mk
    # make -n prints the exact v++ commands
    from conftest import require

    r = subprocess.run([require("make"), "-n", "-C", d, "all"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert f"v++ -c -t hw --platform {plat['platform']} -k {k}" in r.stdout
    assert f"v++ -l -t hw --platform {plat['platform']} --config connectivity.cfg" in r.stdout
    kern = _read(os.path.join(d, f"{k}.cpp"))
    top = bflow.hls_top(ir.load(out), out)
    assert f'#include "{top}.h"' in kern and f"{top}(x, y);" in kern
    assert "#pragma HLS INTERFACE m_axi port=in_bytes" in kern
    host = _read(os.path.join(d, "host.cpp"))
    for api in ("xrt::device device(0)", "load_xclbin", "xrt::kernel kernel(device, uuid",
                "xrt::bo bo_in", "sync(XCL_BO_SYNC_BO_TO_DEVICE)", "sync(XCL_BO_SYNC_BO_FROM_DEVICE)",
                "xrt::run run = kernel(bo_in, bo_out, n)"):
        assert api in host, api
    _host_syntax(os.path.join(d, "host.cpp"), tmp_path)
    # packed reference data, readable by the standalone nnfab_io.py
    g = ir.load(out)
    lay = bflow.layout(g)
    x, xr, y, _ = bflow.reference_data(g)
    raw_in = np.fromfile(os.path.join(d, "data", "inputs.bin"), dtype=np.uint8)
    np.testing.assert_array_equal(raw_in.reshape(len(xr), -1),
                                  packing.pack(xr, lay["in_width"], lay["in_bits"]))
    np.testing.assert_array_equal(y, reference.predict(g, x))
    sys_py = sys.executable
    xin, binf = str(tmp_path / "x.npy"), str(tmp_path / "in.bin")
    np.save(xin, x)
    assert subprocess.run([sys_py, os.path.join(d, "nnfab_io.py"), "pack", xin, binf],
                          check=False).returncode == 0
    assert _readb(binf) == raw_in.tobytes()
    yout = str(tmp_path / "y.npy")
    assert subprocess.run([sys_py, os.path.join(d, "nnfab_io.py"), "unpack",
                           os.path.join(d, "data", "expected.bin"), yout],
                          check=False).returncode == 0
    np.testing.assert_array_equal(np.load(yout), y)


#: minimal stand-ins for the XRT native API headers (the real ones come with XRT); only
#: the signatures host.cpp uses, to catch typos and type errors with g++ -fsyntax-only
XRT_STANDIN = {
    "xrt/xrt_uuid.h": "#pragma once\nnamespace xrt { class uuid {}; }\n",
    "xrt/xrt_device.h": "#pragma once\n#include <string>\n#include \"xrt/xrt_uuid.h\"\n"
    "namespace xrt { class device { public: explicit device(unsigned int index);\n"
    "  uuid load_xclbin(const std::string& path); }; }\n",
    "xrt/xrt_bo.h": "#pragma once\n#include <cstddef>\n#include <cstdint>\n"
    "#include \"xrt/xrt_device.h\"\n"
    "enum xclBOSyncDirection { XCL_BO_SYNC_BO_TO_DEVICE, XCL_BO_SYNC_BO_FROM_DEVICE };\n"
    "namespace xrt { using memory_group = uint32_t; class bo { public:\n"
    "  bo(const device& d, size_t size, memory_group grp);\n"
    "  void write(const void* src); void read(void* dst); void sync(xclBOSyncDirection dir); }; }\n",
    "xrt/xrt_kernel.h": "#pragma once\n#include <string>\n#include \"xrt/xrt_bo.h\"\n"
    "namespace xrt { class run { public: void wait(); };\n"
    "class kernel { public: kernel(const device& d, const uuid& id, const std::string& name);\n"
    "  int group_id(int argno) const;\n"
    "  template <typename... Args> run operator()(Args&&... args); }; }\n",
}


def _host_syntax(host: str, tmp: Any) -> None:
    from conftest import require

    require("g++")
    inc = os.path.join(str(tmp), "xrt_standin")
    for name, text in XRT_STANDIN.items():
        os.makedirs(os.path.dirname(os.path.join(inc, name)), exist_ok=True)
        with open(os.path.join(inc, name), "w") as f:
            f.write(text)
    r = subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", "-fsyntax-only", f"-I{inc}", host],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("io", ["parallel", "stream"])
def test_vitis_kernel_wrapper_csim(io: str, trees: dict[str, str], tmp_path: Any) -> None:
    """The Vitis kernel wrapper, compiled with g++ against ap_types with the HLS firmware,
    turns data/inputs.bin into exactly data/expected.bin (the reference, packed)."""
    from generator import config, ir, project
    from generator.backends.hls.csim import DEFINES, ap_types_dir

    out = trees["alveo-u50"]
    if io == "stream":  # the same graph written with streaming HLS I/O
        g = ir.load(out)
        out = str(tmp_path / "stream")
        project.write_project(g, out, config.load(None, io="stream"))
    d = os.path.join(out, "vitis")
    top = bflow.hls_top(ir.load(out), out)
    fw = os.path.join(out, "hls", "firmware")
    main = tmp_path / "main.cpp"
    main.write_text(
        "#include <cstdio>\n#include <vector>\n#include <ap_int.h>\n"
        f'extern "C" void {bflow.KERNEL}(const ap_uint<8>*, ap_uint<8>*, int);\n'
        "int main(int argc, char** argv) {\n"
        "  FILE* f = std::fopen(argv[1], \"rb\"); std::vector<unsigned char> in(1 << 20);\n"
        "  size_t n = std::fread(in.data(), 1, in.size(), f); std::fclose(f);\n"
        "  int in_bytes = std::atoi(argv[3]), out_bytes = std::atoi(argv[4]);\n"
        "  int rows = int(n) / in_bytes;\n"
        "  std::vector<ap_uint<8> > a(in.begin(), in.begin() + n), b(size_t(rows) * out_bytes);\n"
        f"  {bflow.KERNEL}(a.data(), b.data(), rows);\n"
        "  FILE* g = std::fopen(argv[2], \"wb\");\n"
        "  for (auto& v : b) std::fputc(int(v), g);\n"
        "  std::fclose(g); return 0; }\n")
    exe = str(tmp_path / "krnl")
    from conftest import require

    r = subprocess.run([require("g++"), "-O1", "-std=c++14", *DEFINES, f"-I{ap_types_dir()}", f"-I{fw}",
                        os.path.join(d, f"{bflow.KERNEL}.cpp"), os.path.join(fw, f"{top}.cpp"),
                        str(main), "-pthread", "-o", exe], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    lay = json.loads(_read(os.path.join(out, "board.json")))["layout"]
    got = str(tmp_path / "out.bin")
    subprocess.run([exe, os.path.join(d, "data", "inputs.bin"), got, str(lay["in_bytes"]),
                    str(lay["out_bytes"])], check=True)
    assert _readb(got) == _readb(os.path.join(d, "data", "expected.bin"))


# -- PYNQ driver -------------------------------------------------------------------------------


def _fake_pynq(g: Any, lay: dict[str, Any]) -> types.ModuleType:
    """A stand-in ``pynq``: the 'DMA' decodes the input beats with testbenches.axis (what the
    RTL consumes), runs the reference, and encodes the outputs with testbenches.axis."""
    from generator import reference

    class Buffer(np.ndarray):
        def flush(self) -> None: ...
        def invalidate(self) -> None: ...
        def freebuffer(self) -> None: ...

    class Channel:
        def __init__(self) -> None:
            self.buf: Any = None

        def transfer(self, buf: Any) -> None:
            assert isinstance(buf, Buffer) and buf.dtype == np.uint8
            self.buf = buf

        def wait(self) -> None:
            pass

    class Dma:
        def __init__(self) -> None:
            self.sendchannel, self.recvchannel = Channel(), Channel()
            self.sendchannel.wait = self._compute  # type: ignore[method-assign]

        def _compute(self) -> None:
            src = self.sendchannel.buf.reshape(-1, lay["in_bytes"])
            raw = [axis.unpack(int.from_bytes(r.tobytes(), "little"), lay["in_elems"],
                               lay["in_width"], lay["in_signed"]) for r in src]
            t = g.inputs[0]
            x = t.ftype.to_float(np.array(raw, dtype=np.int64)).reshape(len(raw), *t.shape)
            yr = reference.run(g, x)[g.outputs[0].name].reshape(len(raw), -1)
            dst = self.recvchannel.buf.reshape(-1, lay["out_bytes"])
            assert len(dst) == len(src)
            dst[:] = _axis_bytes(yr, lay["out_width"], lay["out_bits"])

    class Overlay:
        def __init__(self, bitfile: str) -> None:
            self.bitfile = bitfile
            self.dma = Dma()

    def allocate(shape: Any, dtype: Any) -> Buffer:
        return np.zeros(shape, dtype=dtype).view(Buffer)

    mod = types.ModuleType("pynq")
    mod.Overlay, mod.allocate = Overlay, allocate  # type: ignore[attr-defined]
    return mod


def _load_driver(path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("nnfab_driver_under_test", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pynq-z2", "kv260"])
def test_pynq_driver(name: str, trees: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from generator import ir

    out = trees[name]
    g = ir.load(out)
    lay = bflow.layout(g)
    path = os.path.join(out, "driver", "nnfab_driver.py")
    text = _read(path)
    assert "nnfab" not in re.findall(r"^(?:from|import) (\w+)", text, re.MULTILINE)  # standalone
    assert bflow.packing_source() in text
    drv = _load_driver(path)  # imports without pynq (pynq is imported by NnfabAccel)
    rng = np.random.default_rng(7)
    for width, signed in ((lay["in_width"], lay["in_signed"]), (lay["out_width"], True), (3, False)):
        raw = rng.integers(0 if not signed else -(1 << (width - 1)), (1 << (width - 1)) - 1,
                           size=(50, 13), endpoint=True)
        bits = packing.beat_bits(13, width)
        np.testing.assert_array_equal(drv.pack(raw, width, bits), packing.pack(raw, width, bits))
        b = packing.pack(raw, width, bits)
        np.testing.assert_array_equal(drv.unpack(b, 13, width, signed),
                                      packing.unpack(b, 13, width, signed))
    monkeypatch.setitem(sys.modules, "pynq", _fake_pynq(g, lay))
    assert drv.self_test("nnfab.bit", os.path.join(out, "driver")) == 0
    with pytest.raises(ValueError, match="grid"):
        drv.NnfabAccel("nnfab.bit").predict(np.full((1, *lay["input_shape"]), 1e-3))


# -- nnfab build / make build end to end --------------------------------------------------------


def test_build_without_board_names_vitis_hls(tmp_path: Any, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.cli import main

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    out = tmp_path / "proj"
    out.mkdir()
    assert main(["build", str(out)]) == bflow.EXIT_TOOL_MISSING
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [(f"nnfab: vitis_hls not found on PATH; on a machine with it run: cd {out} && "
                    "make hls HLS=vitis_hls")]


def _missing_line(out: str) -> str:
    s = bflow.vendor_step(out)
    assert s is not None
    return f"nnfab: {s.tool} not found on PATH; on a machine with it run: {s.command(out)}"


def _target(board: str) -> tuple[str, float]:
    """The (family, clock MHz) a board's RTL is pipelined for."""
    b = load_board(board)
    return str(b.family), float(b.clock_mhz)


@pytest.mark.slow
def test_make_build_every_board(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """One real ``make build`` (pynq-z2: convert, verify all views, vendor step) and the
    same commands in-process for every other vendor-flow board; each ends with exit 3 and
    one line."""
    from generator import ir
    from generator.cli import main

    if any(shutil.which(t) for t in VENDOR_TOOLS):
        pytest.skip("a vendor tool is on PATH: this test checks the missing-tool path")
    from conftest import require

    require("make")
    ref_out = str(tmp_path / "pynq-z2")
    # -o: never re-run the venv install step from the test
    make = subprocess.Popen(
        ["make", "-s", "-C", ROOT, "-o", ".venv/.installed", "build", "BOARD=pynq-z2",
         f"MODEL={EXAMPLE}", f"OUT={ref_out}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the RTL is pipelined for the board's family and clock: the first board of each
    # (family, clock) other than pynq-z2's verifies its RTL here, the others of its group
    # must give the same files (checked below)
    ref_target = _target("pynq-z2")
    rtl_of: dict[tuple[str, float], str] = {}
    try:
        results = {}
        for b in BOARDS:
            if b == "pynq-z2" or load_board(b).open_flow:  # ECP5 builds here: test_ecp5.py
                continue
            out = str(tmp_path / b)
            assert main(["convert", EXAMPLE, "-o", out, "--board", b]) == 0
            # C-sim (and pynq-z2's target's RTL) are verified by the make build above, on the
            # same files (below)
            views = ["reference", "source"]
            if _target(b) != ref_target and _target(b) not in rtl_of:
                rtl_of[_target(b)] = out
                views.append("rtl")
            code_v = main(["verify", out, "--samples", "200", "--views", ",".join(views[1:]),
                           "--json"])
            doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
            assert code_v == 0 and doc["ok"], doc
            assert {v["view"] for v in doc["views"]} == set(views)
            code_b = main(["build", out])
            results[b] = (code_b, capsys.readouterr().err.strip().splitlines())
        stdout, stderr = make.communicate(timeout=600)
    finally:
        if make.poll() is None:
            make.kill()
    # make: every view bit-exact, then the one missing-tool line; make reports "Error 3"
    assert "verify: PASS" in stdout, stdout + stderr
    for view in ("csim", "rtl", "source"):
        assert re.search(rf"^{view}\s+200\s+0\s.*bit-exact$", stdout, re.MULTILINE), stdout
    lines = [ln for ln in stderr.splitlines() if ln.startswith("nnfab:")]
    assert lines == [_missing_line(ref_out)], stderr
    assert "vivado -mode batch -source build_bd.tcl" in lines[0]
    assert make.returncode == 2 and re.search(r"\[.*build\] Error 3", stderr), stderr
    for f in ("vivado/build_bd.tcl", "vivado/board.tcl", "driver/nnfab_driver.py", "board.json"):
        assert os.path.isfile(os.path.join(ref_out, f)), f
    # every board: the tree, exit 3 and exactly the one line; the same RTL and HLS firmware
    # as verified (reference = C-sim = RTL) by the make build
    def files(root: str) -> dict[str, bytes]:
        got = {}
        for sub in ("rtl", os.path.join("hls", "firmware")):
            for dirpath, _, names in os.walk(os.path.join(root, sub)):
                for n in names:
                    p = os.path.join(dirpath, n)
                    got[os.path.relpath(p, root)] = _readb(p)
        return got

    verified = files(ref_out)
    assert any(k.endswith(".v") for k in verified) and any(k.endswith(".cpp") for k in verified)
    for b, (code, err) in results.items():
        out = str(tmp_path / b)
        flow = load_board(b).flow
        assert code == bflow.EXIT_TOOL_MISSING, (b, err)
        assert err == [_missing_line(out)], (b, err)
        expect = {"zynq": "vivado/build_bd.tcl", "zynqmp": "vivado/build_bd.tcl",
                  "part-only": "vivado/synth_ooc.tcl", "alveo": "vitis/host.cpp"}[flow]
        assert os.path.isfile(os.path.join(out, expect)), (b, expect)
        assert ("v++ not found" in err[0]) == (flow == "alveo")
        got, ref = files(out), verified
        if _target(b) != ref_target:  # its RTL: that of its group's verified board
            group = files(rtl_of[_target(b)])
            ref = {**{k: v for k, v in ref.items() if not k.startswith("rtl")},
                   **{k: v for k, v in group.items() if k.startswith("rtl")}}
        assert got == ref, b
        assert ir.load(out).meta["board"] == b


@pytest.mark.slow
def test_zynq_board_without_rtl_design_is_one_line(trees: dict[str, str], tmp_path: Any,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from generator import ir
    from generator.cli import main

    out = str(tmp_path / "p")
    shutil.copytree(trees["pynq-z2"], out)
    shutil.rmtree(os.path.join(out, "vivado"))
    os.remove(os.path.join(out, "sim", "sim.json"))
    with open(os.path.join(out, "rtl", "UNSUPPORTED.txt"), "w") as f:
        f.write("layer conv1: Conv2D is not supported by the RTL backend yet\n")
    bflow.write(ir.load(out), out, None)
    assert not os.path.exists(os.path.join(out, "vivado"))
    with pytest.raises(bflow.BoardFlowError, match="no board project for pynq-z2: layer conv1"):
        bflow.vendor_step(out)
    assert main(["build", out]) == 2
    assert capsys.readouterr().err.startswith("nnfab: error: no board project for pynq-z2")
