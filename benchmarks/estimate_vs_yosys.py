"""The LUT (and FF, DSP) estimates of threshold activations, folded layers and designs
with branches against Yosys.

Each design is synthesised with Yosys ``synth_xilinx -family xc7`` in the same run and
the estimate (``generator/estimate.py``) printed beside it as a ratio:

* ``nnfab_threshold_vec`` alone (the module, no pipeline around it) on 12 values for
  seven QKeras activation quantizers (hard and real tanh / sigmoid, relu_po2; 7 to 255
  thresholds on 8- to 18-bit inputs), built as the frontend builds them (the quantizer
  run on every input value), against the layer's estimate;
* ``nnfab_dense_folded`` with power-of-two weights (WMODE 2: a barrel shift and an
  add/subtract) at several shapes, reuse factors, exponent spans and input widths;
* folded MLPs of the test zoo (8-bit at R 3: a short LUT ROM whose word registers
  merge; 80 % pruned; 2-bit weights);
* the test zoo's CNNs unrolled (``--only unrolled``: ``cnn1d``; ``cnn_basic`` with its
  window kernels shared; tests/test_rtl_unrolled.py checks the smallest design of each
  form);
* whole designs with branches (forks, FIFOs; Add, Subtract, Maximum, Minimum, Average
  and Concatenate joins): the test zoo's ``residual_mlp`` fully parallel and folded at
  R 3, ``cnn_residual`` streamed;
* ``--only tiling``: the BRAM18 count of ``nnfab_rom`` at eleven depth x width shapes,
  the tiling pass's (:func:`generator.passes.tiling.map_memory`) against Yosys's (its
  own table; tests/test_tiling.py checks three of them).

Takes about 9 minutes (tiling: about 3 more)::

    .venv/bin/python benchmarks/estimate_vs_yosys.py [--only threshold|po2|folded|unrolled|branches|tiling]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np

from generator import estimate
from generator.backends import rtl
from generator.fixed import FixedType, Overflow, Rounding
from generator.ir import Dense, Graph, Input, Threshold, Weight
from generator.passes import run_pipeline


def threshold_graph(q: object, ti: FixedType, n: int = 12) -> Graph:
    """``n`` values of type ``ti`` through quantizer ``q``, as the frontend builds it."""
    import tensorflow as tf

    from generator.frontends.keras import threshold_weights

    ws = threshold_weights("q", ti, lambda v: np.asarray(q(tf.constant(v))))  # type: ignore[operator]
    g = Graph("thr")
    node = Threshold("th", [g.add(Input("input", [], shape=(n,)), ti)], ws, function=str(q))
    g.add(node, ws["levels"].ftype)
    g.outputs = [node.output]
    run_pipeline(g)
    return g


def po2_graph(n_in: int, n_out: int, span: int, reuse: int, xw: int, seed: int = 0) -> Graph:
    """One folded ``n_in -> n_out`` Dense with weights +-2^k, k in 0 .. span-1."""
    rng = np.random.default_rng(seed)
    w = (1 << rng.integers(0, span, size=(n_in, n_out))) * rng.choice([-1, 1], (n_in, n_out))
    g = Graph("po2")
    t = g.add(Input("input", [], shape=(n_in,)),
              FixedType(xw, 3, True, Rounding.RND_CONV, Overflow.SAT))
    d = Dense("fc", [t], {"weight": Weight(w, FixedType(span + 1, 1))}, units=n_out,
              strategy="resource", reuse=reuse)
    g.add(d, FixedType(40, 20))
    g.outputs = [d.output]
    run_pipeline(g)
    return g


def zoo_graph(name: str, layers: dict[str, dict[str, object]] | None = None,
              **options: object) -> Graph:
    """Test-zoo model ``name`` (``tests/zoo.py``, seeded weights) converted with ``options``
    (and the per-layer settings ``layers``)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from zoo import CNN_ZOO, ZOO, build

    from generator import config
    from generator.frontends.keras import from_model

    model = build(next(e for e in ZOO + CNN_ZOO if e.name == name))
    cfg = config.from_dict({"layers": layers}) if layers else config.load(None, **options)
    g = from_model(model, cfg)
    run_pipeline(g)
    return g


def measure(label: str, g: Graph) -> float:
    with tempfile.TemporaryDirectory() as out:
        conf = rtl.write(g, out, None)
        t0 = time.time()
        res = estimate.synth(os.path.join(out, "rtl"), conf["top"], conf["sources"], "xc7")
    est = estimate.estimate(g)["total"]
    ratio = est["lut"] / max(1, res["lut"])
    print(f"| {label} | {res['lut']} | {est['lut']} | {ratio:.2f} | {res['ff']} | "
          f"{est['ff']} | {est['ff'] / max(1, res['ff']):.2f} | {res['dsp']} | "
          f"{est['dsp']} | {time.time() - t0:.0f} s |", flush=True)
    return ratio


def measure_threshold(label: str, g: Graph) -> float:
    """The threshold layer's own estimate against Yosys on its ``nnfab_threshold_vec``
    instance alone (a wrapper with the instance's parameters, ports for x and y)."""
    import re

    with tempfile.TemporaryDirectory() as out:
        conf = rtl.write(g, out, None)
        d = os.path.join(out, "rtl")
        with open(os.path.join(d, conf["top"] + ".v")) as f:
            inst = re.search(r"^\s*nnfab_threshold_vec .*$", f.read(), re.MULTILINE)
        assert inst, "no nnfab_threshold_vec instance"
        line = re.sub(r"\.y\(\w+\)", ".y(y)", re.sub(r"\.x\(\w+\)", ".x(x)", inst.group(0)))
        par = {k: int(re.search(rf"\.{k}\((\d+)\)", line).group(1))  # type: ignore[union-attr]
               for k in ("N", "IN_W", "OUT_W")}
        with open(os.path.join(d, "nnfab_thr_alone.v"), "w") as f:
            f.write(f"module nnfab_thr_alone(input wire [{par['N'] * par['IN_W'] - 1}:0] x, "
                    f"output wire [{par['N'] * par['OUT_W'] - 1}:0] y);\n{line}\nendmodule\n")
        t0 = time.time()
        res = estimate.synth(d, "nnfab_thr_alone", ["nnfab_elementwise.v", "nnfab_thr_alone.v"],
                             "xc7")
    est = next(r for r in estimate.estimate(g)["layers"] if r["op"] == "Threshold")
    ratio = est["lut"] / max(1, res["lut"])
    print(f"| {label} | {res['lut']} | {est['lut']} | {ratio:.2f} | {res['ff']} | "
          f"{est['ff']} | - | {res['dsp']} | {est['dsp']} | {time.time() - t0:.0f} s |",
          flush=True)
    return ratio


#: nnfab_rom shapes (depth, width) of the tiling table
ROM_SHAPES = [(100, 8), (512, 16), (512, 17), (256, 36), (128, 72), (1024, 9), (2048, 5),
              (300, 100), (1000, 40), (2048, 36), (512, 72)]


def rom_synth(d: str, depth: int, width: int) -> dict:
    """Yosys's counts (xc7) for one nnfab_rom of random full-width words (seeded)."""
    import random
    import shutil

    rnd = random.Random(depth * 1000 + width)
    with open(os.path.join(d, f"rom_{depth}_{width}.mem"), "w") as f:
        f.write("\n".join(f"{rnd.getrandbits(width):x}" for _ in range(depth)) + "\n")
    aw = max(1, int(depth - 1).bit_length())
    with open(os.path.join(d, "top.v"), "w") as f:
        f.write(f"module top(input wire clk, input wire en, input wire [{aw - 1}:0] addr, "
                f"output wire [{width - 1}:0] dout);\n"
                f"nnfab_rom #(.DEPTH({depth}), .WIDTH({width}), .AW({aw}), "
                f".FILE(\"rom_{depth}_{width}.mem\")) u (.clk(clk), .en(en), .addr(addr), "
                ".dout(dout));\nendmodule\n")
    shutil.copy(os.path.join(rtl.LIB_DIR, "nnfab_rom.v"), os.path.join(d, "nnfab_rom.v"))
    return estimate.synth(d, "top", ["nnfab_rom.v", "top.v"], family="xc7")


def tiling() -> None:
    from generator.passes.tiling import Memory, map_memory

    print("| ROM depth x width | tiling impl | tiling BRAM18 | Yosys BRAM18 | Yosys LUT | "
          "equal | synth |")
    print("|---|---|---|---|---|---|---|")
    equal = 0
    for depth, width in ROM_SHAPES:
        t0 = time.time()
        with tempfile.TemporaryDirectory() as d:
            got = rom_synth(d, depth, width)
        t = map_memory(Memory("m", depth, width))
        equal += t.bram18 == got["bram18"]
        print(f"| {depth} x {width} | {t.impl} | {t.bram18} | {got['bram18']} | {got['lut']} | "
              f"{t.bram18 == got['bram18']} | {time.time() - t0:.0f} s |", flush=True)
    print(f"\ntiling BRAM18 == Yosys BRAM18 on {equal} of {len(ROM_SHAPES)} shapes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["threshold", "po2", "folded", "unrolled", "branches",
                                       "tiling"])
    args = ap.parse_args()
    if args.only == "tiling":
        tiling()
        return
    ratios = []
    print("| design | Yosys LUT | estimate LUT | estimate / Yosys | Yosys FF | estimate FF | "
          "estimate / Yosys | Yosys DSP | estimate DSP | synth |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    if args.only in (None, "threshold"):
        import qkeras as q

        for label, qz, ti in [
            ("quantized_tanh(4) on <16,6>", q.quantized_tanh(4), FixedType(16, 6)),
            ("quantized_tanh(4) real on <12,4>", q.quantized_tanh(4, use_real_tanh=True),
             FixedType(12, 4)),
            ("quantized_sigmoid(5) on <12,4>", q.quantized_sigmoid(5), FixedType(12, 4)),
            ("quantized_sigmoid(6) real on <18,8>",
             q.quantized_sigmoid(6, use_real_sigmoid=True), FixedType(18, 8)),
            ("quantized_relu_po2(4, 4) on <13,3>", q.quantized_relu_po2(4, max_value=4),
             FixedType(13, 3)),
            ("quantized_tanh(8) real on <14,4>", q.quantized_tanh(8, use_real_tanh=True),
             FixedType(14, 4)),
            ("quantized_tanh(3) on <8,3>", q.quantized_tanh(3), FixedType(8, 3)),
        ]:
            g = threshold_graph(qz, ti)
            t = len(g.of(Threshold)[0].weights["thresholds"].data)
            ratios.append(measure_threshold(f"12 x {label}, {t} thresholds", g))
    if args.only in (None, "po2"):
        for n_in, n_out, span, reuse, xw in [(16, 16, 8, 4, 8), (16, 16, 8, 16, 8),
                                              (16, 16, 16, 8, 8), (32, 8, 4, 8, 6),
                                              (16, 16, 8, 8, 12)]:
            ratios.append(measure(f"po2 {n_in}->{n_out}, {span} exponents, R={reuse}, "
                                  f"{xw}-bit inputs", po2_graph(n_in, n_out, span, reuse, xw)))
    if args.only in (None, "folded"):
        for label, name, reuse in [("mlp8 folded R=3", "mlp8", 3),
                                   ("pruned80 folded R=4", "pruned80", 4),
                                   ("w2_qbits_act folded R=4", "w2_qbits_act", 4)]:
            ratios.append(measure(label, zoo_graph(name, strategy="resource", reuse=reuse)))
    if args.only in (None, "unrolled"):
        for label, name, layers in [
            ("cnn1d unrolled (two convs, max / average / global average pools, dense)",
             "cnn1d", {}),
            ("cnn_basic unrolled, c1's window kernels shared at R=4", "cnn_basic",
             {"c1": {"strategy": "latency", "reuse": 4}}),
        ]:
            ratios.append(measure(label, zoo_graph(name, layers)))
    if args.only in (None, "branches"):
        for label, name, opts in [
            ("residual_mlp fully parallel", "residual_mlp", {}),
            ("residual_mlp folded R=3", "residual_mlp", {"strategy": "resource", "reuse": 3}),
            ("cnn_residual streamed", "cnn_residual", {"io": "stream"}),
        ]:
            ratios.append(measure(label, zoo_graph(name, **opts)))
    print(f"\nestimate / Yosys: {min(ratios):.2f} to {max(ratios):.2f} over {len(ratios)} designs")


if __name__ == "__main__":
    main()
