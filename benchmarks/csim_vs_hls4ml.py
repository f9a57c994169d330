"""HLS C-simulation of nnfab next to hls4ml 1.3.0 on the same QKeras models.

Models (seeded weights):

* jet-tagging MLP 16-64-32-32-5, 8-bit weights and activations, 75 % pruned;
* a ~1,000,000-weight MLP 16-1000-1000-5 (8-bit, not pruned).

For each, prints the C-sim build time (nnfab: g++ of firmware + testbench; hls4ml:
``hls_model.compile()``), the run time on 1,000 rows, their ratios, and whether the two
agree row by row (and whether nnfab's C-sim equals the nnfab reference, which it must).

nnfab is timed in its default C-simulation form (``csim``): a latency layer of more than
2,048 nonzero weights (every layer of the 1 M-weight MLP) runs as int64 loops over its
nonzero arrays, and large weight arrays are embedded from binary images; hls4ml compiles
its unrolled source. The source synthesis reads (``nnfab csim --form synth``: the
unrolled sums, the weights as text) is compiled and checked against the loops and the
reference by ``tests/test_hls.py::test_synth_form_of_a_large_layer``, not timed here.

    .venv/bin/python benchmarks/csim_vs_hls4ml.py [--rows 1000] [--skip-big]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mlp(name: str, units: list[int], n_in: int, seed: int, prune: float) -> Any:
    import tf_keras as keras
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    keras.utils.set_random_seed(seed)
    layers: list[Any] = [keras.layers.InputLayer(input_shape=(n_in,)),
                         QActivation(quantized_bits(8, 2, alpha=1), name="q_in")]
    for i, u in enumerate(units[:-1]):
        layers += [QDense(u, kernel_quantizer=quantized_bits(8, 0, alpha=1),
                          bias_quantizer=quantized_bits(8, 0, alpha=1), name=f"fc{i + 1}"),
                   QActivation(quantized_relu(8, 3), name=f"relu{i + 1}")]
    layers.append(QDense(units[-1], kernel_quantizer=quantized_bits(8, 0, alpha=1),
                         bias_quantizer=quantized_bits(8, 0, alpha=1), name="out"))
    model = keras.Sequential(layers, name=name)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        k = rng.uniform(-1, 1, ws[0].shape) / np.sqrt(ws[0].shape[0] / 16)
        if prune:
            k[rng.random(k.shape) < prune] = 0.0
        b = rng.uniform(-0.5, 0.5, ws[1].shape)
        layer.set_weights([k.astype(np.float32), b.astype(np.float32)])
    return model


def inputs(n_in: int, rows: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.ldexp(rng.integers(-128, 128, size=(rows, n_in)).astype(np.float64), -5)


def run_nnfab(model: Any, x: np.ndarray, out: str, strategy: str, reuse: int) -> dict[str, Any]:
    from generator import config, reference
    from generator.backends import hls
    from generator.backends.hls import csim
    from generator.frontends.keras import from_model
    from generator.passes import run_pipeline

    cfg = config.load(None, strategy=strategy, reuse=reuse)
    g = from_model(model, cfg)
    run_pipeline(g)
    t0 = time.perf_counter()
    hls.write(g, out, cfg)
    t_write = time.perf_counter() - t0
    t0 = time.perf_counter()
    csim.build(out, hls.top_name(g))
    build = time.perf_counter() - t0
    pch = csim.LAST.get("pch_seconds", 0.0)
    t0 = time.perf_counter()
    y = csim.run(g, out, x)
    run = time.perf_counter() - t0
    assert csim.LAST["cached"]
    ref = reference.predict(g, x)
    return {"write": t_write, "build": build, "pch": pch, "run": run, "y": y,
            "exact": bool(np.array_equal(y, ref))}


def run_hls4ml(model: Any, x: np.ndarray, out: str, strategy: str, reuse: int,
               granularity: str = "name") -> dict[str, Any]:
    import tf_keras

    sys.modules["keras"] = tf_keras  # hls4ml 1.3.0 needs tf-keras as `keras` with TF 2.21
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity=granularity,
                                               backend="Vivado",
                                               default_precision="ap_fixed<32,16>")
    cfg["Model"]["Strategy"] = strategy
    cfg["Model"]["ReuseFactor"] = reuse
    for layer in cfg.get("LayerName", {}).values():
        layer["Strategy"] = strategy
        layer["ReuseFactor"] = reuse
    t0 = time.perf_counter()
    hm = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, output_dir=out, backend="Vivado", io_type="io_parallel")
    t_write = time.perf_counter() - t0
    t0 = time.perf_counter()
    hm.compile()
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    y = hm.predict(np.ascontiguousarray(x))
    run = time.perf_counter() - t0
    return {"write": t_write, "build": build, "run": run,
            "y": np.asarray(y, dtype=np.float64).reshape(len(x), -1)}


def bench(name: str, model: Any, x: np.ndarray, nnfab_cfg: tuple[str, int],
          hls4ml_cfg: tuple[str, int], work: str) -> None:
    a = run_nnfab(model, x, os.path.join(work, f"nnfab_{name}"), *nnfab_cfg)
    b = run_hls4ml(model, x, os.path.join(work, f"hls4ml_{name}"), *hls4ml_cfg)
    nw = sum(int(np.prod(w.shape)) for w in model.get_weights()[::2])
    agree = int(np.all(a["y"].reshape(len(x), -1) == b["y"], axis=1).sum())
    print(f"\n== {name}: {nw} weights, {len(x)} rows ==")
    print(f"{'':28}{'nnfab':>12}{'hls4ml':>12}{'hls4ml/nnfab':>14}")
    na, ha = f"{nnfab_cfg[0]} R={nnfab_cfg[1]}", f"{hls4ml_cfg[0]} R={hls4ml_cfg[1]}"
    print(f"{'config':28}{na:>12}{ha:>13}")
    print("nnfab C-sim form: csim (layers over 2,048 nonzeros as loops; see the docstring)")
    print(f"{'write project (s)':28}{a['write']:>12.2f}{b['write']:>12.2f}"
          f"{b['write'] / a['write']:>14.2f}")
    print(f"{'C-sim build (s)':28}{a['build']:>12.2f}{b['build']:>12.2f}"
          f"{b['build'] / a['build']:>14.2f}")
    print(f"{'  of which ap_fixed PCH (s)':28}{a['pch']:>12.2f}")
    print(f"{f'run {len(x)} rows (s)':28}{a['run']:>12.3f}{b['run']:>12.3f}"
          f"{b['run'] / a['run']:>14.2f}")
    print(f"nnfab C-sim == nnfab reference (bit-exact): {a['exact']}")
    print(f"rows where nnfab and hls4ml agree exactly: {agree}/{len(x)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--keep", help="keep the generated projects in this directory")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="nnfab-bench-")
    try:
        jet = mlp("jet_mlp", [64, 32, 32, 5], 16, seed=0, prune=0.75)
        bench("jet_mlp", jet, inputs(16, args.rows), ("latency", 1), ("Latency", 1), work)
        if not args.skip_big:
            big = mlp("mlp_1m", [1000, 1000, 5], 16, seed=1, prune=0.0)
            bench("mlp_1m", big, inputs(16, args.rows), ("latency", 1), ("Resource", 1), work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
