"""Routed Fmax, utilisation and P&R run time on a Lattice ECP5-85 (ULX3S, LFE5U-85F speed 6).

Each design is converted for ``--board ulx3s-85f`` and taken through the open flow of
``nnfab build`` (:func:`generator.backends.board.ecp5.run`: ecppll, Yosys synth_ecp5,
nextpnr-ecp5 with router2, ecppack when the clock is met), the network behind the UART
bridge with the PLL and reset of the board top. Printed per design: the synthesised
cells, the routed utilisation (LUT4 sites incl. carry, FFs, MULT18X18D, DP16KD), the
routed Fmax against the 100 MHz target as a ratio, the critical path's ends and the
synthesis / P&R seconds. Designs:

* ``mlp_r8``   -- the digits MLP (examples/digits_mlp, 64-32-10, 4-bit) folded at reuse 8;
* ``mlp_fit``  -- the digits MLP as ``make build BOARD=ulx3s-85f`` makes it (``--fit
  throughput`` on the board's routing budget);
* ``jet_r16``  -- the jet MLP 16-64-32-32-5 (8 bit, 75 % pruned, benchmarks/sweep.py)
  folded at reuse 16;
* ``cnn``      -- the digits CNN (examples/digits_cnn), pixel-streamed (``--io stream``);
* ``dense64``  -- one Dense 64 -> 16 (8-bit signed inputs and weights, half pruned) and a
  ReLU, folded at reuse 8 (``tests/test_ecp5.py``'s ``small_graph``): the folded
  layer's multiplier path alone.

Each takes minutes (WebAssembly tools on a shared machine); results go to
``OUT_DIR/ecp5_pnr.json`` and a Markdown table on stdout::

    .venv/bin/python benchmarks/ecp5_pnr.py [OUT_DIR] [--only mlp_r8 jet_r16 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

BOARD = "ulx3s-85f"
MLP = os.path.join(ROOT, "examples", "digits_mlp", "digits_mlp.h5")
CNN = os.path.join(ROOT, "examples", "digits_cnn", "digits_cnn.h5")
DESIGNS = {
    "mlp_r8": ["convert", MLP, "--reuse", "8", "--strategy", "resource"],
    "mlp_fit": ["convert", MLP, "--fit", "throughput"],
    "jet_r16": None,  # built from benchmarks/sweep.py's graph
    "cnn": ["convert", CNN, "--io", "stream"],
    "dense64": None,  # built from tests/test_ecp5.py's small_graph
}


def convert(name: str, out: str) -> None:
    from generator.cli import main

    args = DESIGNS[name]
    if args is not None:
        rc = main([*args, "-o", out, "--board", BOARD])
        if rc:
            raise SystemExit(f"{name}: convert exited {rc}")
        return
    from generator import config, project

    if name == "dense64":
        from test_ecp5 import small_graph

        g = small_graph(BOARD, n_in=64, n_out=16, reuse=8)
    else:
        from sweep import jet_graph, set_fold

        g = jet_graph(8, 0.75)
        set_fold(g, 16)
        g.meta["board"] = BOARD
    project.write_project(g, out, config.load(None, None))


def measure(name: str, work: str) -> dict[str, Any]:
    from generator.backends.board import ecp5

    out = os.path.join(work, name)
    t0 = time.monotonic()
    convert(name, out)
    res = ecp5.run(out, pack=True, progress=lambda s: print(f"  {name}: {s}", flush=True))
    r = res.report
    r["design"] = name
    r["wall_s"] = time.monotonic() - t0
    return r


def row(r: dict[str, Any]) -> str:
    u, t, s = r["utilization"], r["timing"], r["synth"]
    cp = t.get("critical_path") or {}

    def use(k: str) -> str:
        return f"{u[k]['used']}" if k in u else "0"

    return (f"| {r['design']} | {s['lut4']} + {s['ccu2c']} | {use('TRELLIS_COMB')} | "
            f"{use('TRELLIS_FF')} | {use('MULT18X18D')} | {use('DP16KD')} | "
            f"{t['fmax_mhz']:.1f} | {t['fmax_mhz'] / t['clock_mhz']:.2f} | "
            f"{'yes' if t['met'] else 'no'} | `{cp.get('from', '?')}` -> `{cp.get('to', '?')}` "
            f"({cp.get('logic_ns', 0):.1f} + {cp.get('routing_ns', 0):.1f} ns) | "
            f"{r['times_s']['synth_s']:.0f} ({r['times_s'].get('synth_cpu_s', 0):.0f}) | "
            f"{r['times_s']['pnr_s']:.0f} ({r['times_s'].get('pnr_cpu_s', 0):.0f}) |")


HEAD = ("| design | LUT4 + CCU2C (Yosys) | LUT4 sites (routed) | FF | MULT18X18D | DP16KD | "
        "Fmax MHz | Fmax / 100 MHz | met | critical path (logic + routing) | synth s (CPU s) | "
        "P&R s (CPU s) |\n|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="ecp5_pnr_out")
    ap.add_argument("--only", nargs="+", choices=list(DESIGNS), default=list(DESIGNS))
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "ecp5_pnr.json")
    done: dict[str, Any] = {}
    if os.path.isfile(path):
        with open(path) as f:
            done = json.load(f)
    for name in a.only:
        done[name] = measure(name, a.out)
        with open(path, "w") as f:
            json.dump(done, f, indent=1)
    print(HEAD)
    for r in done.values():
        print(row(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
