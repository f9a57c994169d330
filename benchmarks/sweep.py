"""Sparsity x precision sweep of the jet-tagging MLP and a CNN: what the hardware costs.

For every model (``--model jet cnn``), sparsity (default 0, 50, 75, 90 % of each kernel
pruned) and precision (default 16, 8, 4, 2, 1 bits for weights and activations; 1 bit =
binary activations and +-1 weights, so a pruned 1-bit kernel holds {-1, 0, +1}) the
network is built directly in the nnfab IR with seeded weights (input ap_fixed<8,4>;
hidden activations ap_ufixed<b, min(b, 3)> after a ReLU-quantiser, or binarized at 1
bit) and measured:

* jet: the MLP 16-64-32-32-5; cnn: the digits-CNN shape 8x8x1 -> conv 3x3x8 'same' ->
  max-pool 2 -> conv 3x3x8 -> dense 10, streamed one pixel per beat;
* estimate (``generator/estimate.py``) of the fully parallel design and of the folded
  design (Dense ``R = min(16, nnz)``, conv ``R = min(4, nnz)`` per output pixel): LUT,
  FF, DSP, BRAM18, latency and II cycles;
* Yosys ``synth_xilinx -family xc7``: jet -- **one layer, fc3 (32 -> 32) folded with
  R=16**, next to the estimate of that same layer (``--yosys design`` synthesises the
  whole folded MLP instead); cnn -- the whole folded design; ``--yosys none`` skips it;
* Verilator (cocotb) latency and II of the folded design on 16 rows, which must equal
  the cycle model (``--no-sim`` skips it).

Writes ``sweep.md`` (a markdown table) and ``sweep.png`` (LUT and DSP against sparsity
per precision, one row of plots per model) into the output folder (default
``benchmarks/results/``)::

    .venv/bin/python benchmarks/sweep.py [OUT_DIR] [--model jet cnn] [--sparsity 0 75]
        [--bits 8 4] [--yosys layer|design|none] [--no-sim]
"""

from __future__ import annotations

import argparse
import itertools
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
from generator.ir import Binarize, Conv, Dense, Graph, Input, Pool, Quantize, Reshape, Weight
from generator.passes import run_pipeline
from generator.passes.folding import folding

LAYERS = (64, 32, 32, 5)
FOLD_R = 16
#: reuse of the CNN's convolutions in the folded design (cycles per output pixel)
CONV_R = 4
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


def cnn_graph(bits: int, sparsity: float, seed: int = 0) -> Graph:
    """The digits-CNN shape (8x8x1 -> conv3x3x8 'same' -> maxpool 2 -> conv3x3x8 ->
    dense 10), ``bits``-bit weights and activations, ``sparsity`` pruned, streamed."""
    rng = np.random.default_rng(seed)
    g = Graph(f"cnn_b{bits}_s{round(100 * sparsity)}")
    t = g.add(Input("input", [], shape=(8, 8, 1)),
              FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT))

    def weights(shape: tuple[int, ...]) -> tuple[np.ndarray, FixedType]:
        if bits == 1:
            w, wt = rng.choice([-1, 1], size=shape), FixedType(2, 2)
        else:
            w = rng.integers(-(1 << (bits - 1)) + 1, 1 << (bits - 1), size=shape)
            w[w == 0] = 1
            wt = FixedType(bits, 1)
        w.flat[rng.permutation(w.size)[:round(sparsity * w.size)]] = 0
        return w.astype(np.int64), wt

    def act(name: str, t: Any) -> Any:
        if bits == 1:
            return g.add(Binarize(name, [t]), FixedType(2, 2))
        return g.add(Quantize(name, [t]), FixedType(bits, min(bits, 3), False,
                                                   Rounding.RND_CONV, Overflow.SAT))

    for name, pads in (("c1", (1, 1, 1, 1)), ("c2", (0, 0, 0, 0))):
        w, wt = weights((3, 3, t.shape[-1], 8))
        b = rng.integers(-8, 9, size=8).astype(np.int64)
        c = Conv(name, [t], {"weight": Weight(w, wt), "bias": Weight(b, FixedType(8, 3))},
                 filters=8, kernel=(3, 3), strides=(1, 1), pads=pads)
        t = act(f"{name}_act", g.add(c, FixedType(32, 16)))
        if name == "c1":
            t = g.add(Pool("pool", [t], mode="max", kernel=(2, 2), strides=(2, 2),
                           pads=(0, 0, 0, 0)), t.ftype)
    t = g.add(Reshape("flat", [t], target_shape=(t.size,)), t.ftype)
    w, wt = weights((t.size, 10))
    d = Dense("out", [t], {"weight": Weight(w, wt),
                           "bias": Weight(rng.integers(-8, 9, size=10).astype(np.int64),
                                          FixedType(8, 3))}, units=10)
    g.outputs = [g.add(d, FixedType(32, 16))]
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
    """Fully parallel (None), or Dense layers folded at ``reuse`` and convs at
    :data:`CONV_R` (per output pixel), each capped by its nonzero count."""
    for n in g.of(Dense):
        if reuse is None:
            n.set("strategy", "latency")
            n.set("reuse", 1)
        else:
            n.set("strategy", "resource")
            n.set("reuse", max(1, min(reuse, int(n["nnz"]))))
    for c in g.of(Conv):
        c.set("reuse", 1 if reuse is None else max(1, min(CONV_R, int(c["nnz"]))))
    folding(g)


def measure(bits: int, sparsity: float, yosys: str, sim: bool, work: str,
            model: str = "jet") -> dict[str, Any]:
    g = jet_graph(bits, sparsity) if model == "jet" else cnn_graph(bits, sparsity)
    row: dict[str, Any] = {"model": model, "bits": bits, "sparsity": sparsity,
                           "nnz": sum(int(n["nnz"]) for n in g.of(Dense) + g.of(Conv))}
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
            if yosys == "layer" and model == "jet":
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
        ("| model | sparsity | bits | nonzero | par LUT | par FF | par DSP | par lat | "
        f"R={FOLD_R} LUT | FF | DSP | BRAM18 | lat | II | synth unit est. LUT | FF | DSP | "
        "Yosys LUT | FF | DSP | BRAM18 | sim lat | sim II | exact |"),
        "|" + "---|" * 24,
    ]
    for r in rows:
        p, f, y, s = r["par"], r["fold"], r.get("yosys"), r.get("sim")
        lines.append(
            f"| {r['model']} | {100 * r['sparsity']:.0f} % | {r['bits']} | {r['nnz']} | "
            f"{p['lut']} | {p['ff']} | "
            f"{p['dsp']} | {p['latency_cycles']} | {f['lut']} | {f['ff']} | {f['dsp']} | "
            f"{f['bram18']} | {f['latency_cycles']} | {f['ii_cycles']} | "
            f"{_cell(r.get('yosys_est'), 'lut')} | {_cell(r.get('yosys_est'), 'ff')} | "
            f"{_cell(r.get('yosys_est'), 'dsp')} | {_cell(y, 'lut')} | "
            f"{_cell(y, 'ff')} | {_cell(y, 'dsp')} | {_cell(y, 'bram18')} | "
            f"{_cell(s, 'latency_cycles')} | {_cell(s, 'ii_cycles')} | {_cell(s, 'bit_exact')} |")
    return "\n".join(lines)


def read_table(path: str) -> list[dict[str, Any]]:
    """The rows of a sweep.md table written by :func:`table` (to keep another model's rows
    when only some models are measured again)."""
    keys = (("par", ("lut", "ff", "dsp", "latency_cycles")),
            ("fold", ("lut", "ff", "dsp", "bram18", "latency_cycles", "ii_cycles")),
            ("yosys_est", ("lut", "ff", "dsp")), ("yosys", ("lut", "ff", "dsp", "bram18")),
            ("sim", ("latency_cycles", "ii_cycles", "bit_exact")))
    rows = []
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 24 or cells[0] in ("model", "---") or cells[0].startswith("-"):
                continue
            row: dict[str, Any] = {"model": cells[0], "sparsity": float(cells[1][:-2]) / 100,
                                   "bits": int(cells[2]), "nnz": int(cells[3])}
            i = 4
            for part, names in keys:
                vals = cells[i:i + len(names)]
                i += len(names)
                if all(vals):
                    row[part] = {k: (v == "True") if k == "bit_exact" else int(v)
                                 for k, v in zip(names, vals, strict=True)}
            rows.append(row)
    return rows


def plot(rows: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows}, key=lambda m: m != "jet")
    fig, axes = plt.subplots(len(models), 3, figsize=(15, 4.4 * len(models)), squeeze=False)
    for ax_row, model in zip(axes, models, strict=True):
        mrows = [r for r in rows if r["model"] == model]
        for bits in sorted({r["bits"] for r in mrows}, reverse=True):
            rs = sorted((r for r in mrows if r["bits"] == bits), key=lambda r: r["sparsity"])
            sp = [100 * r["sparsity"] for r in rs]
            ax_row[0].plot(sp, [r["par"]["lut"] for r in rs], "o-", label=f"{bits} bit")
            # the estimate of exactly what Yosys synthesised (jet: layer fc3 alone; cnn: the
            # whole folded design) beside Yosys's count
            if all("yosys" in r for r in rs):
                ax_row[1].plot(sp, [r["yosys_est"]["lut"] for r in rs], "o-",
                               label=f"{bits} bit est.")
                ax_row[1].plot(sp, [r["yosys"]["lut"] for r in rs], "x--",
                               color=ax_row[1].lines[-1].get_color(), label=f"{bits} bit Yosys")
            else:
                ax_row[1].plot(sp, [r["fold"]["lut"] for r in rs], "o-", label=f"{bits} bit est.")
            ax_row[2].plot(sp, [r["fold"]["dsp"] for r in rs], "o-", label=f"{bits} bit")
        fold = f"Dense R={FOLD_R}" + (f", conv R={CONV_R}" if model == "cnn" else "")
        ax_row[0].set_title(f"{model}: fully parallel, estimated LUT")
        what = f"layer {YOSYS_LAYER}" if model == "jet" else "whole design"
        ax_row[1].set_title(f"{model}: folded ({fold}), {what}: LUT, estimate (o) and Yosys (x)",
                            fontsize=10)
        ax_row[2].set_title(f"{model}: folded ({fold}): estimated DSP48", fontsize=10)
        for ax, yl in zip(ax_row, ("LUT", "LUT", "DSP48"), strict=True):
            ax.set_xlabel("pruned weights (%)")
            ax.set_ylabel(f"{yl} (count)")
            ax.set_yscale("symlog" if yl == "DSP48" else "log")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle("hardware cost against sparsity and precision: jet MLP 16-64-32-32-5 and "
                 "digits-shaped CNN")
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
    ap.add_argument("--model", nargs="+", choices=["jet", "cnn"], default=["jet", "cnn"])
    ap.add_argument("--keep", metavar="SWEEP_MD",
                    help="keep the rows of the models not measured from this sweep.md table")
    a = ap.parse_args(argv)
    kept = [r for r in read_table(a.keep) if r["model"] not in a.model] if a.keep else []
    os.makedirs(a.out, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nnfab_sweep_") as work:
        for model, sp, bits in itertools.product(a.model, a.sparsity, a.bits):
            if True:
                t0 = time.perf_counter()
                r = measure(bits, sp / 100.0, a.yosys, not a.no_sim, work, model)
                rows.append(r)
                print(f"{model} sparsity {sp:>3.0f} %  {bits:>2} bit  nnz {r['nnz']:>5}  "
                      f"par LUT {r['par']['lut']:>7}  R{FOLD_R} LUT {r['fold']['lut']:>6} "
                      f"DSP {r['fold']['dsp']:>4}  Yosys {r.get('yosys')}  sim {r.get('sim')}  "
                      f"({time.perf_counter() - t0:.1f} s)", flush=True)
    md = ["# nnfab sweep: jet MLP 16-64-32-32-5 and a digits-shaped CNN", "",
          (f"Estimates of the fully parallel design (par) and of the folded design (Dense "
          f"R = min({FOLD_R}, nnz) per layer, conv R = min({CONV_R}, nnz) per output pixel); "
          f"Yosys synth_xilinx -family xc7 (jet: layer {YOSYS_LAYER} folded, with its own "
          f"estimate in the 'synth unit est.' columns; cnn: the whole folded design) and "
          f"Verilator cycles ({SIM_ROWS} rows) of the folded design. Cycles in clock "
          f"cycles; CNN latency is to the first output beat, II per frame."), "",
          f"Command: `.venv/bin/python benchmarks/sweep.py {' '.join(argv or sys.argv[1:])}`",
          "", table(rows + kept), "", "![sweep](sweep.png)", ""]
    with open(os.path.join(a.out, "sweep.md"), "w") as f:
        f.write("\n".join(md))
    plot(rows + kept, os.path.join(a.out, "sweep.png"))
    print(table(rows + kept))
    print(f"wrote {a.out}/sweep.md and sweep.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
