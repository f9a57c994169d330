"""Windows whose stride grid ends before the map does, in every view.

A pool or conv whose stride does not divide its (padded) map reads trailing rows and
columns it never uses (Keras floors the output size). A streamed design then emits a
frame's last output before it has taken the frame's last input beats; the design must
still take them (they belong to the frame) and start the next frame on its first pixel.

* the 11x11 MNIST-style CNN (conv 3x3 -> 9x9 map -> MaxPooling2D 2, last row and column
  dropped -> Flatten -> QDense) and its 1-D variant: reference == QKeras ``predict`` ==
  C-sim == RTL, with ``io stream`` and ``io parallel``, fully parallel and folded;
* the siblings in one 2-D and one 1-D model: max and average pools, strides 2 and 3 over
  maps they do not divide, a 'same' max pool, a strided 'valid' conv over a map its stride
  does not divide, a strided 'same' conv with padding, streamed (fully parallel and the
  convs folded at reuse 2) and unrolled (io parallel);
* the cycle model equals the cycles Verilator measures in each design.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import fuzz


def reproducer(rank: int, n: int = 11, channels: int = 2, filters: int = 3):
    """QConv 3 valid (``c1``) -> quantized_relu -> MaxPooling 2 -> Flatten -> QDense 3 on
    an n-sample sequence (rank 1) or an n x n image (rank 2) of ``channels``. At n = 11
    the pool runs over a map of 9 (one row and column dropped)."""
    import zoo

    keras, q = zoo._layers()
    shape = (n, n, channels) if rank == 2 else (n, channels)
    conv = q.QConv2D if rank == 2 else q.QConv1D
    pool = keras.layers.MaxPooling2D if rank == 2 else keras.layers.MaxPooling1D
    i = keras.layers.Input(shape)
    x = q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q_in")(i)
    x = conv(filters, 3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
             bias_quantizer=q.quantized_bits(6, 0, alpha=1), name="c1")(x)
    x = q.QActivation(q.quantized_relu(6, 2), name="r1")(x)
    x = pool(2, name="mp")(x)
    x = keras.layers.Flatten(name="flat")(x)
    o = q.QDense(3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 0, alpha=1), name="out")(x)
    m = keras.Model(i, o, name=f"remainder{rank}d")
    zoo.init_weights(m, 28 + rank, 0.0)
    return m


def siblings(rank: int):
    """Every remainder kind in one model: a strided 'valid' conv (13 rows or 29 positions, stride 3:
    one row dropped), a 'same' max pool with stride 2 over an odd map, an average pool
    2 / stride 2 over 3 (1-D), a strided 'same' conv."""
    import zoo

    keras, q = zoo._layers()
    two = rank == 2
    conv = q.QConv2D if two else q.QConv1D
    mp = keras.layers.MaxPooling2D if two else keras.layers.MaxPooling1D
    ap = keras.layers.AveragePooling2D if two else keras.layers.AveragePooling1D
    kq = {"kernel_quantizer": q.quantized_bits(5, 0, alpha=1),
          "bias_quantizer": q.quantized_bits(5, 1, alpha=1)}
    i = keras.layers.Input((13, 14, 2) if two else (29, 2))
    x = q.QActivation(q.quantized_bits(7, 2, alpha=1))(i)
    x = conv(3, 3, strides=3 if not two else (3, 2), **kq)(x)  # 4x6 (2-D), 9 (1-D)
    x = q.QActivation(q.quantized_relu(6, 2))(x)
    x = mp(2, strides=2, padding="same")(x)                     # 2x3, 5
    x = conv(3, 2, strides=2, padding="same", **kq)(x)          # 1x2, 3
    x = q.QActivation(q.quantized_bits(6, 2, alpha=1))(x)
    if not two:
        x = ap(2, strides=2)(x)                                  # 1 (one dropped)
        x = q.QActivation(q.quantized_bits(6, 2, alpha=1))(x)
    x = keras.layers.Flatten()(x)
    o = q.QDense(3, **kq)(x)
    m = keras.Model(i, o, name=f"siblings{rank}d")
    zoo.init_weights(m, 40 + rank, 0.0)
    return m


def pools(rank: int):
    """Max and average pools with remainders, side by side (Concatenate), pixel output."""
    import zoo

    keras, q = zoo._layers()
    two = rank == 2
    mp = keras.layers.MaxPooling2D if two else keras.layers.MaxPooling1D
    ap = keras.layers.AveragePooling2D if two else keras.layers.AveragePooling1D
    i = keras.layers.Input((7, 9, 2) if two else (13, 2))
    x = q.QActivation(q.quantized_bits(6, 1, alpha=1))(i)
    a = mp(2, strides=3)(x)                                      # 2x3, 4
    b = ap(2, strides=3)(x)
    b = q.QActivation(q.quantized_bits(6, 1, alpha=1))(b)
    o = keras.layers.Concatenate()([a, b])
    m = keras.Model(i, o, name=f"pools{rank}d")
    zoo.init_weights(m, 50 + rank, 0.0)
    return m


def _x(model, seed: int, bits: int, integer: int, n: int = 24) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    raw = rng.integers(lo, hi + 1, size=(n, *model.input_shape[1:]))
    raw[0], raw[1] = lo, hi
    return np.ldexp(raw.astype(np.float64), -(bits - 1 - integer))


CASES = {
    "reproducer2d": (lambda: reproducer(2), 8, 2),
    "reproducer1d": (lambda: reproducer(1), 8, 2),
    "siblings2d": (lambda: siblings(2), 7, 2),
    "siblings1d": (lambda: siblings(1), 7, 2),
    "pools2d": (lambda: pools(2), 6, 1),
    "pools1d": (lambda: pools(1), 6, 1),
}
#: (io, reuse): streamed fully parallel, streamed folded, unrolled
MODES = [("stream", 1), ("stream", 2), ("parallel", 1)]


#: every case in every mode but the pools-only models folded (they have no weights to fold)
PARAMS = [(n, io, r) for n in CASES for io, r in MODES if not (n.startswith("pools") and r > 1)]


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("name,io,reuse", PARAMS, ids=[f"{n}-{a}-r{b}" for n, a, b in PARAMS])
def test_remainder_every_view(name: str, io: str, reuse: int, tmp_path) -> None:
    build, bits, integer = CASES[name]
    model = build()
    x = _x(model, 7, bits, integer)
    o = fuzz.check(model, x, io, reuse, str(tmp_path / "out"))
    assert o.status == "pass", (o.reason, o.detail)
    assert o.views.get("rtl") and o.views.get("csim") and o.views.get("source")
