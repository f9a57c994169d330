"""Recurrent layers: nnfab's HLS C-simulation next to hls4ml 1.3.0's, both against QKeras.

Models (seeded weights, 1,000 seeded inputs on the input quantizer's grid): a QLSTM(8)
and a QGRU(8) over 8 steps of 4 features (6-bit weights, an 8-bit state quantizer,
QKeras's real-function ``quantized_tanh`` / ``quantized_sigmoid``: hls4ml refuses the
hard ones in a recurrent layer), each into a QDense(5). hls4ml gets its configuration
from the model (``config_from_keras_model(granularity="model")``: with ``"name"``,
hls4ml 1.3.0's QLSTM project does not compile, ``nnet_recurrent.h``: no matching
``dense<...>``) with a generous ``ap_fixed<32,16>`` default, io_parallel, the Vivado
backend.

For each model: rows of the C-simulation equal to QKeras's ``predict`` (bit for bit) and
the largest difference, for nnfab and hls4ml; the build and run times and their ratio.

    .venv/bin/python benchmarks/rnn_vs_hls4ml.py [--rows 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
sys.path.insert(0, HERE)


def _rnn(kind: str) -> Any:
    """A QLSTM or QGRU(8) over 8 steps of 4 features, then a QDense(5): QKeras's real
    tanh / sigmoid quantizers (hls4ml refuses the hard ones in a recurrent layer)."""
    import zoo

    keras, q = zoo._layers()
    layer = {"lstm": q.QLSTM, "gru": q.QGRU}[kind]
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(8, 4)),
        q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q_in"),
        layer(8, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
              recurrent_quantizer=q.quantized_bits(6, 0, alpha=1),
              bias_quantizer=q.quantized_bits(6, 1, alpha=1),
              state_quantizer=q.quantized_bits(8, 1, alpha=1),
              activation=q.quantized_tanh(6, use_real_tanh=True),
              recurrent_activation=q.quantized_sigmoid(6, use_real_sigmoid=True), name=kind),
        q.QDense(5, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name=f"{kind}8")


def bench(entry: Any, rows: int, work: str) -> None:
    import zoo
    from csim_vs_hls4ml import run_hls4ml, run_nnfab

    from generator.verify import source_predict

    model = zoo.build(entry)
    x = zoo.inputs(entry, tuple(int(d) for d in model.input_shape[1:]), rows)
    want = source_predict(model, x).reshape(rows, -1)
    a = run_nnfab(model, x, os.path.join(work, f"nnfab_{entry.name}"), "latency", 1)
    b = run_hls4ml(model, x, os.path.join(work, f"hls4ml_{entry.name}"), "latency", 1,
                   granularity="model")
    print(f"\n== {entry.name}: {rows} rows; outputs take {len(np.unique(want))} values ==")
    print(f"{'':34}{'nnfab':>12}{'hls4ml':>12}{'hls4ml/nnfab':>14}")
    for label, k in (("write project (s)", "write"), ("C-sim build (s)", "build"),
                     (f"run {rows} rows (s)", "run")):
        print(f"{label:34}{a[k]:>12.2f}{b[k]:>12.2f}{b[k] / a[k]:>14.2f}")
    for who, r in (("nnfab", a), ("hls4ml", b)):
        y = np.asarray(r["y"], dtype=np.float64).reshape(rows, -1)
        same = int(np.all(y == want, axis=1).sum())
        print(f"{who:>6}: rows equal to QKeras {same}/{rows}, max |C-sim - QKeras| "
              f"{np.abs(y - want).max():.4g}")
    print(f"nnfab C-sim == nnfab reference (bit-exact): {a['exact']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    args = ap.parse_args()
    import zoo

    entries = [zoo.ZooEntry(f"{k}8", lambda k=k: _rnn(k), 8, 2, seed=22 + i)
               for i, k in enumerate(("lstm", "gru"))]
    with tempfile.TemporaryDirectory(prefix="nnfab_rnn_bench_") as work:
        for e in entries:
            bench(e, args.rows, work)


if __name__ == "__main__":
    main()
