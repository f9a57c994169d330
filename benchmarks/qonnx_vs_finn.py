"""nnfab's fitted throughput and resources on FINN's own networks, next to FINN's
published finn-examples numbers.

For each QONNX model (default: ``examples/qonnx_zoo/TFC_2W2A.onnx`` and
``kwsmlp_w3a3.onnx``, the public QONNX model zoo files) the script

1. runs ``nnfab convert MODEL --board BOARD --fit throughput`` (default board
   ``ultra96v2``: an XCZU3EG, the part of FINN's AUP-ZU3 numbers) into ``WORK/<model>``;
2. reads the fit plan (``nnfab.json``: II in cycles, clock, LUT / FF / DSP / BRAM18
   estimates) and measures the II in RTL simulation (cocotb + Verilator, ``--rows``
   seeded inputs back to back, no idle cycles or back-pressure);
3. checks the reference equals qonnx's ``execute_onnx`` on those inputs (2^-6 grid in
   [-1.5, 1.5]);
4. with ``--synth``, synthesises the RTL top with Yosys (``nnfab report --synth``;
   ``synth_xilinx -family xcup``) -- minutes to hours on the unrolled layers;
5. prints nnfab's inferences/s (clock / measured II) next to FINN's published figure and
   the ratio.

What is comparable and what is not:

* Same network files, same arithmetic (nnfab's outputs equal qonnx's execution; FINN's
  streamlined MultiThresholds compute the same integers up to float rounding).
* FINN's numbers are *measured on the board* (AUP-ZU3 at its build clock, including the
  DMA and the driver); nnfab's are the accelerator alone: clock / II of the RTL at the
  board YAML's clock, II measured in simulation. nnfab's clock is a target, not a timing
  closure result (Xilinx timing needs Vivado).
* Resources: FINN's are Vivado post-implementation (not republished here); nnfab's are
  its estimate and, with ``--synth``, Yosys ``synth_xilinx`` (no placement).
* Accuracy: FINN reports 96.60 % (TFC-w2a2, MNIST) and 87.9 % (KWS); the data sets are not
  on this machine, so nnfab's accuracy is not measured -- its outputs equal the source
  model's on every input checked, so its accuracy is the source model's.

Usage: ``python benchmarks/qonnx_vs_finn.py [--board ultra96v2] [--rows 200] [--synth]
[--work DIR] [MODEL.onnx ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ZOO = os.path.join(HERE, os.pardir, "examples", "qonnx_zoo")

#: finn-examples' published throughput (inferences/s) and accuracy, AUP-ZU3 builds
#: (github.com/Xilinx/finn-examples, README "Model zoo" table)
FINN = {
    "TFC_2W2A": {"network": "TFC-w2a2 (MNIST)", "inferences_per_s": 1.19e6, "accuracy": 96.60},
    "kwsmlp_w3a3": {"network": "KWS MLP w3a3", "inferences_per_s": 269e3, "accuracy": 87.9},
}


def run(model: str, board: str, rows: int, work: str, synth: bool) -> dict[str, object]:
    from generator import ir, reference
    from generator.backends.rtl import sim
    from generator.cli import main
    from generator.frontends import qonnx as fq

    name = os.path.splitext(os.path.basename(model))[0]
    out = os.path.join(work, name)
    if main(["convert", model, "-o", out, "--board", board, "--fit", "throughput"]) != 0:
        raise SystemExit(f"convert {model} failed")
    g = ir.load(out)
    fit = g.meta["fit"]
    rng = np.random.default_rng(0)
    x = rng.integers(-96, 97, (rows, *reference.input_shape(g))) / 64.0
    y = reference.predict(g, x)
    same = bool(np.array_equal(y, fq.predict(model, x).reshape(y.shape)))
    y_rtl, stats = sim.run(g, out, x, idle=0.0, backpressure=0.0)
    res: dict[str, object] = {
        "model": name, "board": board, "clock_mhz": fit["clock_mhz"],
        "ii_fit": max(p["ii_cycles"] for p in fit["layers"]),
        "ii_rtl": stats["ii_cycles"], "latency_rtl": stats["latency_cycles"],
        "estimate": fit["total"], "reference_equals_execute_onnx": same,
        "rtl_equals_reference": bool(np.array_equal(y_rtl, y)),
    }
    res["inferences_per_s"] = fit["clock_mhz"] * 1e6 / float(stats["ii_cycles"])
    if synth:
        rep = os.path.join(out, "synth.json")
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            main(["report", out, "--synth", "--json"])
        with open(rep, "w") as f:
            f.write(buf.getvalue())
        res["yosys"] = json.loads(buf.getvalue()).get("synth")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=[os.path.join(ZOO, f"{m}.onnx") for m in FINN])
    ap.add_argument("--board", default="ultra96v2")
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--synth", action="store_true", help="Yosys synthesis (slow)")
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="nnfab_finn_")
    results = [run(m, a.board, a.rows, work, a.synth) for m in a.models]
    print(f"\n{'model':<14}{'board':<11}{'MHz':>6}{'II fit':>8}{'II rtl':>8}"
          f"{'nnfab inf/s':>14}{'FINN inf/s':>13}{'ratio':>8}{'LUT est':>9}{'exact':>7}")
    for r in results:
        f = FINN.get(str(r["model"]), {})
        fi = f.get("inferences_per_s")
        ratio = f"{float(r['inferences_per_s']) / float(fi):.2f}" if fi else "-"
        est = r["estimate"]
        assert isinstance(est, dict)
        print(f"{r['model']!s:<14}{r['board']!s:<11}{float(r['clock_mhz']):>6.0f}"
              f"{r['ii_fit']!s:>8}{r['ii_rtl']!s:>8}{float(r['inferences_per_s']):>14.4g}"
              f"{(f'{fi:.4g}' if fi else '-'):>13}{ratio:>8}{est.get('lut', '-')!s:>9}"
              f"{r['reference_equals_execute_onnx'] and r['rtl_equals_reference']!s:>7}")
    print(json.dumps(results, default=str), file=sys.stderr)


if __name__ == "__main__":
    main()
