"""Sparsity x precision sweep of the jet-tagging MLP (16-64-32-32-5): what the hardware costs.

For every sparsity (default 0, 50, 75, 90 % of each kernel pruned) and precision
(default 16, 8, 4, 2, 1 bits for weights and activations; 1 bit = binary activations
and +-1 weights, so a pruned 1-bit kernel holds {-1, 0, +1}) the MLP is built directly
in the nnfab IR with seeded weights (input ap_fixed<8,4>; hidden activations
ap_ufixed<b, min(b, 3)> after a ReLU-quantiser, or binarized at 1 bit) and measured:

* estimate (``generator/estimate.py``) of the fully parallel design (strategy latency)
  and of the folded design with reuse 16 (``R = min(16, nnz)`` per layer): LUT, FF,
  DSP, BRAM18, latency and II cycles;
* Yosys ``synth_xilinx -family xc7`` of **one layer, fc3 (32 -> 32) folded with R=16**,
  next to the estimate of that same layer (``--yosys design`` synthesises the whole
  folded R=16 MLP instead: more than 5 minutes per point at 8 bits on this machine; the
  fully parallel MLP is slower still): LUT, FF, DSP, BRAM18 (``--yosys none`` skips it);
* Verilator (cocotb) latency and II of the folded R=16 design on 16 rows, which must
  equal the cycle model (``--no-sim`` skips it).

The CNN sweep is not run: the RTL backend's convolution support is being added (the
plan of a graph with Conv is refused by this benchmark when ``generator.estimate``
cannot cost it), see the printed note.

Writes ``sweep.md`` (a markdown table) and ``sweep.png`` (LUT and DSP against sparsity
per precision) into the output folder (default ``benchmarks/results/``)::

    .venv/bin/python benchmarks/sweep.py [OUT_DIR] [--sparsity 0 75] [--bits 8 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator import estimate, reference
from generator.fixed import FixedType, Overflow, Rounding
from generator.ir import Binarize, Dense, Graph, Input, Quantize, Weight
from generator.passes import run_pipeline
from generator.passes.folding import folding

LAYERS = (64, 32, 32, 5)
FOLD_R = 16
#: the layer synthesised by Yosys in ``--yosys layer`` mode
YOSYS_LAYER = "fc3"
SIM_ROWS = 16


def jet_graph(bits: int, sparsity: float, seed: int = 0) -> Graph:
    """The jet MLP with ``bits``-bit weights and activations, ``sparsity`` pruned."""
    rng = np.random.default_rng(seed)
    g = Graph(f"jet_b{bits}_s{round(100 * sparsity)}")
    t = g.add(Input("input", [], shape=(16,)),
              FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT))
    n_in = 16
    for i, units in enumerate(LAYERS):
        if bits == 1:
            w = rng.choice([-1, 1], size=(n_in, units))
            wt = FixedType(2, 2)
        else:
            w = rng.integers(-(1 << (bits - 1)) + 1, 1 << (bits - 1), size=(n_in, units))
            w[w == 0] = 1
            wt = FixedType(bits, 1)
        k = round(sparsity * w.size)
        w.flat[rng.permutation(w.size)[:k]] = 0
        b = rng.integers(-8, 9, size=units)
        last = i == len(LAYERS) - 1
        d = Dense(f"fc{i + 1}" if not last else "out", [t],
                  {"weight": Weight(w.astype(np.int64), wt),
                   "bias": Weight(b.astype(np.int64), FixedType(8, 3))}, units=units)
        t = g.add(d, FixedType(32, 16))
        if not last:
            if bits == 1:
                t = g.add(Binarize(f"bin{i + 1}", [t]), FixedType(2, 2))
            else:
                act = FixedType(bits, min(bits, 3), False, Rounding.RND_CONV, Overflow.SAT)
                t = g.add(Quantize(f"relu{i + 1}", [t]), act)
        n_in = units
    g.outputs = [t]
    run_pipeline(g)
    return g


def layer_graph(g: Graph, name: str) -> Graph:
    """A graph of the single Dense layer ``name`` of ``g`` (same types, weights, reuse)."""
    d = next(n for n in g.of(Dense) if n.name == name)
    s = Graph(f"{g.name}_{name}")
    t = s.add(Input("input", [], shape=d.input.shape), d.input.ftype)
    one = Dense(name, [t], dict(d.weights), units=int(d["units"]), strategy=d["strategy"],
                reuse=int(d["reuse"]))
    s.outputs = [s.add(one, d.output.ftype)]
    run_pipeline(s)
    return s


def set_fold(g: Graph, reuse: int | None) -> None:
    for n in g.of(Dense):
        if reuse is None:
            n.set("strategy", "latency")
            n.set("reuse", 1)
        else:
            n.set("strategy", "resource")
            n.set("reuse", max(1, min(reuse, int(n["nnz"]))))
    folding(g)


def measure(bits: int, sparsity: float, yosys: str, sim: bool, work: str) -> dict[str, Any]:
    g = jet_graph(bits, sparsity)
    row: dict[str, Any] = {"bits": bits, "sparsity": sparsity,
                           "nnz": sum(int(n["nnz"]) for n in g.of(Dense))}
    set_fold(g, None)
    row["par"] = estimate.estimate(g)["total"]
    set_fold(g, FOLD_R)
    row["fold"] = estimate.estimate(g)["total"]
    if yosys != "none" or sim:
        from generator.backends import rtl

        out = os.path.join(work, g.name)
        conf = rtl.write(g, out, None)
        if yosys != "none":
            sg, sout, sconf = g, out, conf
            if yosys == "layer":
                sg = layer_graph(g, YOSYS_LAYER)
                sout = os.path.join(work, sg.name)
                sconf = rtl.write(sg, sout, None)
            row["yosys_est"] = estimate.estimate(sg)["total"]
            t0 = time.perf_counter()
            s = estimate.synth(os.path.join(sout, "rtl"), sconf["top"], sconf["sources"], "xc7")
            row["yosys"] = {k: s[k] for k in ("lut", "ff", "dsp", "bram18", "carry")}
            row["yosys_s"] = time.perf_counter() - t0
        if sim:
            from generator.backends.rtl import sim as rtlsim

            t = g.inputs[0]
            rng = np.random.default_rng(1)
            x = t.ftype.to_float(rng.integers(t.ftype.min_raw, t.ftype.max_raw + 1,
                                              size=(SIM_ROWS, *t.shape)))
            y, st = rtlsim.run(g, out, x)
            row["sim"] = {"latency_cycles": st["latency_cycles"], "ii_cycles": st["ii_cycles"],
                          "bit_exact": bool(np.array_equal(y, reference.predict(g, x)))}
    return row


def _cell(d: dict[str, Any] | None, k: str) -> str:
    return "" if not d else str(d.get(k, ""))


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        ("| sparsity | bits | nonzero | par LUT | par FF | par DSP | par lat | "
        f"R={FOLD_R} LUT | FF | DSP | BRAM18 | lat | II | synth unit est. LUT | FF | DSP | "
        "Yosys LUT | FF | DSP | BRAM18 | sim lat | sim II | exact |"),
        "|" + "---|" * 23,
    ]
    for r in rows:
        p, f, y, s = r["par"], r["fold"], r.get("yosys"), r.get("sim")
        lines.append(
            f"| {100 * r['sparsity']:.0f} % | {r['bits']} | {r['nnz']} | {p['lut']} | {p['ff']} | "
            f"{p['dsp']} | {p['latency_cycles']} | {f['lut']} | {f['ff']} | {f['dsp']} | "
            f"{f['bram18']} | {f['latency_cycles']} | {f['ii_cycles']} | "
            f"{_cell(r.get('yosys_est'), 'lut')} | {_cell(r.get('yosys_est'), 'ff')} | "
            f"{_cell(r.get('yosys_est'), 'dsp')} | {_cell(y, 'lut')} | "
            f"{_cell(y, 'ff')} | {_cell(y, 'dsp')} | {_cell(y, 'bram18')} | "
            f"{_cell(s, 'latency_cycles')} | {_cell(s, 'ii_cycles')} | {_cell(s, 'bit_exact')} |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
    for bits in sorted({r["bits"] for r in rows}, reverse=True):
        rs = sorted((r for r in rows if r["bits"] == bits), key=lambda r: r["sparsity"])
        sp = [100 * r["sparsity"] for r in rs]
        axes[0].plot(sp, [r["par"]["lut"] for r in rs], "o-", label=f"{bits} bit")
        axes[1].plot(sp, [r["fold"]["lut"] for r in rs], "o-", label=f"{bits} bit est.")
        if all("yosys" in r for r in rs):
            axes[1].plot(sp, [r["yosys_est"]["lut"] for r in rs], "s:", label=f"{bits} bit "
                         "synth unit est.")
            axes[1].plot(sp, [r["yosys"]["lut"] for r in rs], "x--", color=axes[1].lines[-1]
                         .get_color(), label=f"{bits} bit synth unit Yosys")
        axes[2].plot(sp, [r["fold"]["dsp"] for r in rs], "o-", label=f"{bits} bit")
    axes[0].set_title("fully parallel: estimated LUT")
    axes[1].set_title(f"folded R={FOLD_R}: LUT (design est.; synth unit est. vs Yosys)",
                      fontsize=10)
    axes[2].set_title(f"folded R={FOLD_R}: estimated DSP48")
    for ax, yl in zip(axes, ("LUT", "LUT", "DSP48"), strict=True):
        ax.set_xlabel("pruned weights (%)")
        ax.set_ylabel(f"{yl} (count)")
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("jet MLP 16-64-32-32-5: hardware cost against sparsity and precision")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0, 50, 75, 90],
                    help="percent of each kernel pruned")
    ap.add_argument("--bits", type=int, nargs="+", default=[16, 8, 4, 2, 1])
    ap.add_argument("--yosys", choices=["layer", "design", "none"], default="layer",
                    help=f"synthesise layer {YOSYS_LAYER} (default), the whole folded design, "
                    "or nothing")
    ap.add_argument("--no-sim", action="store_true")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nnfab_sweep_") as work:
        for sp in a.sparsity:
            for bits in a.bits:
                t0 = time.perf_counter()
                r = measure(bits, sp / 100.0, a.yosys, not a.no_sim, work)
                rows.append(r)
                print(f"sparsity {sp:>3.0f} %  {bits:>2} bit  nnz {r['nnz']:>5}  "
                      f"par LUT {r['par']['lut']:>7}  R{FOLD_R} LUT {r['fold']['lut']:>6} "
                      f"DSP {r['fold']['dsp']:>4}  Yosys {r.get('yosys')}  sim {r.get('sim')}  "
                      f"({time.perf_counter() - t0:.1f} s)", flush=True)
    md = ["# nnfab sweep: jet MLP 16-64-32-32-5", "",
          (f"Estimates of the fully parallel design (par) and of the folded design with "
          f"R = min({FOLD_R}, nnz) per layer; Yosys synth_xilinx -family xc7 and Verilator "
          f"cycles ({SIM_ROWS} rows) of the folded design. Cycles in clock cycles."), "",
          table(rows), "",
          "CNN: not swept (the RTL convolution support is in progress).", "",
          "![sweep](sweep.png)", ""]
    with open(os.path.join(a.out, "sweep.md"), "w") as f:
        f.write("\n".join(md))
    plot(rows, os.path.join(a.out, "sweep.png"))
    print(table(rows))
    print(f"wrote {a.out}/sweep.md and sweep.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
