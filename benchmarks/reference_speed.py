"""Speed of the NumPy reference on the jet-tagging MLP (16-64-32-32-5, 8-bit, 75 % pruned).

Prints the reference's time for 10,000 rows next to QKeras's own ``predict`` (float32,
TensorFlow) on the same rows, their ratio, and whether they agree bit for bit.

    .venv/bin/python benchmarks/reference_speed.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def jet_mlp(seed: int = 0, sparsity: float = 0.75) -> object:
    import tf_keras as keras
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    layers = [keras.layers.InputLayer(input_shape=(16,)),
              QActivation(quantized_bits(8, 3, alpha=1), name="q_in")]
    for i, u in enumerate([64, 32, 32]):
        layers += [QDense(u, kernel_quantizer=quantized_bits(8, 0, alpha=1),
                          bias_quantizer=quantized_bits(8, 0, alpha=1), name=f"fc{i + 1}"),
                   QActivation(quantized_relu(8, 3), name=f"relu{i + 1}")]
    layers.append(QDense(5, kernel_quantizer=quantized_bits(8, 0, alpha=1),
                         bias_quantizer=quantized_bits(8, 0, alpha=1), name="out"))
    m = keras.Sequential(layers, name="jet_mlp")
    rng = np.random.default_rng(seed)
    for layer in m.layers:
        ws = layer.get_weights()
        if ws:
            k = rng.uniform(-1, 1, ws[0].shape)
            k[rng.random(k.shape) < sparsity] = 0
            layer.set_weights([k.astype(np.float32), rng.uniform(-0.5, 0.5, ws[1].shape)
                               .astype(np.float32)])
    return m


def main() -> None:
    from generator import config, reference
    from generator.frontends.keras import from_model
    from generator.passes import run_pipeline

    m = jet_mlp()
    g = from_model(m, config.load(None))
    run_pipeline(g)
    rng = np.random.default_rng(1)
    x = np.ldexp(rng.integers(-128, 128, size=(10_000, 16)).astype(np.float64), -4)
    reference.predict(g, x[:10])
    t0 = time.perf_counter()
    y = reference.predict(g, x)
    t_ref = time.perf_counter() - t0
    m.predict(x[:10].astype(np.float32), verbose=0)
    t0 = time.perf_counter()
    yq = m.predict(x.astype(np.float32), batch_size=1024, verbose=0).astype(np.float64)
    t_q = time.perf_counter() - t0
    print(f"{'':<24}{'nnfab reference':>16}{'QKeras predict':>16}")
    print(f"{'10,000 rows (s)':<24}{t_ref:>16.4f}{t_q:>16.4f}")
    print(f"{'ratio QKeras/nnfab':<24}{t_q / t_ref:>16.2f}")
    print(f"bit-exact rows: {int(np.all(y == yq, axis=1).sum())} / {len(x)}")


if __name__ == "__main__":
    main()
