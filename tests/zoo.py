"""The test zoo: small QKeras models with seeded weights that every view is checked on.

Each entry builds a tf-keras/QKeras model whose weights are drawn from a seeded RNG
(and pruned where the entry says so), and 1,000 seeded inputs on the grid of the model's
input quantizer. ``fully_quantized`` models must match QKeras's ``predict`` bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np

N_INPUTS = 1000


@dataclass
class ZooEntry:
    name: str
    build: Callable[[], Any]
    in_bits: int
    in_int: int  # quantized_bits integer bits of the input quantizer
    prune: float = 0.0
    fully_quantized: bool = True
    seed: int = 0
    wscale: dict[str, float] | None = None  # per-layer kernel scale (wider raw weights)


def _layers() -> Any:
    from generator.frontends.keras import import_tf

    import_tf()  # (with its shim QKeras's QSimpleRNN / QGRU need)
    import qkeras
    import tf_keras as keras

    return keras, qkeras


def mlp8() -> Any:
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(16,)),
        q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q_in"),
        q.QDense(32, kernel_quantizer=q.quantized_bits(8, 1, alpha=1),
                 bias_quantizer=q.quantized_bits(8, 2, alpha=1), name="fc1"),
        q.QActivation(q.quantized_relu(8, 3), name="relu1"),
        q.QDense(16, kernel_quantizer=q.quantized_bits(8, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(8, 1, alpha=1), name="fc2",
                 activation=q.quantized_relu(6, 2)),
        q.QDense(5, kernel_quantizer=q.quantized_bits(8, 1, alpha=1),
                 bias_quantizer=q.quantized_bits(8, 2, alpha=1), name="out"),
    ], name="mlp8")


def w2_qbits_act() -> Any:
    """2-bit weights, 4-bit signed quantized_bits activations between layers."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(12,)),
        q.QActivation(q.quantized_bits(6, 1, alpha=1), name="q_in"),
        q.QDense(24, kernel_quantizer=q.quantized_bits(2, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(4, 1, alpha=1), name="fc1"),
        q.QActivation(q.quantized_bits(4, 1, alpha=1), name="qa1"),
        q.QDense(10, kernel_quantizer=q.quantized_bits(3, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(4, 0, alpha=1), name="fc2"),
        q.QActivation(q.quantized_bits(5, 2, symmetric=1, alpha=1), name="qa2"),
        q.QDense(4, kernel_quantizer=q.quantized_bits(2, 0, alpha=1), use_bias=False,
                 name="out"),
    ], name="w2_qbits_act")


def w12_i4() -> Any:
    """12-bit weights with 4 integer bits; unsigned quantized_bits activation."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(10,)),
        q.QActivation(q.quantized_bits(10, 3, alpha=1), name="q_in"),
        q.QDense(16, kernel_quantizer=q.quantized_bits(12, 4, alpha=1),
                 bias_quantizer=q.quantized_bits(12, 4, alpha=1), name="fc1"),
        q.QActivation(q.quantized_bits(10, 4, keep_negative=0, alpha=1), name="qa1"),
        q.QDense(8, kernel_quantizer=q.quantized_bits(12, 2, alpha=1),
                 bias_quantizer=q.quantized_bits(12, 3, alpha=1), name="fc2"),
        q.QActivation(q.quantized_relu(12, 4), name="relu2"),
        q.QDense(3, kernel_quantizer=q.quantized_bits(10, 3, alpha=1),
                 bias_quantizer=q.quantized_bits(10, 3, alpha=1), name="out"),
    ], name="w12_i4")


def binary_net() -> Any:
    """Binary weights and binary activations (XNOR-style), ternary output layer."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(20,)),
        q.QActivation(q.quantized_bits(4, 1, alpha=1), name="q_in"),
        q.QDense(32, kernel_quantizer=q.binary(alpha=1),
                 bias_quantizer=q.quantized_bits(6, 3, alpha=1), name="fc1"),
        q.QActivation(q.binary(alpha=1), name="bin1"),
        q.QDense(16, kernel_quantizer=q.binary(alpha=1), use_bias=False, name="fc2"),
        q.QActivation(q.binary(alpha=1), name="bin2"),
        q.QDense(6, kernel_quantizer=q.ternary(alpha=1),
                 bias_quantizer=q.quantized_bits(6, 3, alpha=1), name="out"),
    ], name="binary_net")


def ternary_net() -> Any:
    """Ternary weights and ternary activations (threshold 0.33 and 0.5)."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(16,)),
        q.QActivation(q.quantized_bits(6, 2, alpha=1), name="q_in"),
        q.QDense(24, kernel_quantizer=q.ternary(alpha=1),
                 bias_quantizer=q.quantized_bits(6, 2, alpha=1), name="fc1"),
        q.QActivation(q.ternary(alpha=1), name="ter1"),
        q.QDense(12, kernel_quantizer=q.ternary(alpha=1, threshold=0.5),
                 bias_quantizer=q.quantized_bits(4, 1, alpha=1), name="fc2"),
        q.QActivation(q.ternary(alpha=1, threshold=0.5), name="ter2"),
        q.QDense(4, kernel_quantizer=q.quantized_bits(4, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(4, 0, alpha=1), name="out"),
    ], name="ternary_net")


def pruned80() -> Any:
    """80 % of every kernel pruned; 6-bit weights with 2 integer bits."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(32,)),
        q.QActivation(q.quantized_bits(8, 1, alpha=1), name="q_in"),
        q.QDense(48, kernel_quantizer=q.quantized_bits(6, 2, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 2, alpha=1), name="fc1"),
        q.QActivation(q.quantized_relu(6, 2), name="relu1"),
        q.QDense(24, kernel_quantizer=q.quantized_bits(6, 1, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc2"),
        q.QActivation(q.quantized_relu(7, 3), name="relu2"),
        q.QDense(5, kernel_quantizer=q.quantized_bits(6, 1, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="pruned80")


def auto_po2() -> Any:
    """Default QKeras weight quantizers (alpha=None becomes per-channel auto_po2)."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(8,)),
        q.QActivation(q.quantized_bits(8, 3, alpha=1), name="q_in"),
        q.QDense(16, kernel_quantizer=q.quantized_bits(4, 0),
                 bias_quantizer=q.quantized_bits(8, 3, alpha=1), name="fc1"),
        q.QActivation(q.quantized_relu(5, 2), name="relu1"),
        q.QDense(4, kernel_quantizer=q.quantized_bits(6, 0, alpha=2.0),
                 bias_quantizer=q.quantized_bits(8, 3, alpha=1), name="out"),
    ], name="auto_po2")


def float_bn() -> Any:
    """A float Keras model with BatchNorm, relu, tanh, sigmoid and softmax (not exact)."""
    keras, _ = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(10,)),
        keras.layers.Dense(16, name="fc1"),
        keras.layers.BatchNormalization(name="bn1"),
        keras.layers.Activation("relu", name="act1"),
        keras.layers.Dense(12, activation="tanh", name="fc2"),
        keras.layers.Dropout(0.2, name="drop"),
        keras.layers.Dense(8, activation="sigmoid", name="fc3"),
        keras.layers.Dense(5, activation="softmax", name="out"),
    ], name="float_bn")


def leaky_mlp() -> Any:
    """Leaky ReLUs: QKeras quantized_relu with negative slopes 1/4 and 1/2 (each half on
    its own grid), and a Keras LeakyReLU(alpha=1/8) before a quantizer."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(16,)),
        q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q_in"),
        q.QDense(12, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc1"),
        q.QActivation(q.quantized_relu(6, 2, negative_slope=0.25), name="lr1"),
        q.QDense(8, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc2"),
        keras.layers.LeakyReLU(alpha=0.125, name="lr2"),
        q.QActivation(q.quantized_bits(8, 3, alpha=1), name="q2"),
        q.QDense(4, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1),
                 activation=q.quantized_relu(5, 1, negative_slope=0.5), name="out"),
    ], name="leaky_mlp")


def threshold_mlp() -> Any:
    """Monotone activation quantisers as exact thresholds: quantized_tanh and
    quantized_sigmoid with TensorFlow's real tanh / sigmoid (cnn1d has QKeras's default
    hard tanh), quantized_relu_po2, a Keras tanh quantized by the QActivation after it;
    and power-of-two weights (quantized_po2)."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(16,)),
        q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q_in"),
        q.QDense(12, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc1"),
        q.QActivation(q.quantized_tanh(4, use_real_tanh=True), name="th1"),
        q.QDense(10, kernel_quantizer=q.quantized_po2(4),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc2",
                 activation=q.quantized_sigmoid(5, use_real_sigmoid=True)),
        q.QDense(8, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc3"),
        q.QActivation(q.quantized_relu_po2(4, max_value=4), name="po2"),
        q.QDense(6, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc4",
                 activation="tanh"),
        q.QActivation(q.quantized_bits(6, 0, alpha=1), name="q4"),  # with the tanh: thresholds
        q.QDense(4, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="threshold_mlp")


def residual_mlp() -> Any:
    """Branches in an MLP: a residual Add around a dense block; Subtract, Maximum, Minimum
    and Average of two 8-wide branches (unsigned and signed), and the Minimum times one
    of them (Multiply); a Concatenate that reuses the first hidden layer (read by four
    layers); 30 % of the weights pruned."""
    keras, q = _layers()
    x_in = keras.layers.Input((12,), name="x")
    x = q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q_in")(x_in)
    h = q.QDense(16, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc1")(x)
    h = q.QActivation(q.quantized_relu(6, 2), name="r1")(h)
    y = q.QDense(16, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc2")(h)
    y = q.QActivation(q.quantized_bits(6, 2, alpha=1), name="q2")(y)
    z = keras.layers.Add(name="add")([h, y])
    z = q.QActivation(q.quantized_relu(6, 2), name="r2")(z)
    a = q.QDense(8, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc3",
                 activation=q.quantized_relu(6, 2))(z)
    b = q.QDense(8, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc4")(h)
    b = q.QActivation(q.quantized_bits(5, 1, alpha=1), name="q4")(b)
    d = keras.layers.Subtract(name="sub")([a, b])
    m = keras.layers.Maximum(name="max")([a, b])
    n = keras.layers.Minimum(name="min")([a, b])
    p = keras.layers.Multiply(name="mul")([n, b])
    v = keras.layers.Average(name="avg")([d, m])
    c = keras.layers.Concatenate(name="cat")([v, p, h])
    out = q.QDense(5, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                   bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out")(c)
    return keras.Model(x_in, out, name="residual_mlp")


def permute_mlp() -> Any:
    """A Permute of a (4, 6) input before its Flatten, then two QDense (no spatial op)."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(4, 6)),
        q.QActivation(q.quantized_bits(6, 1, alpha=1), name="q_in"),
        keras.layers.Permute((2, 1), name="perm"),
        keras.layers.Flatten(name="flat"),
        q.QDense(5, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc"),
        q.QActivation(q.quantized_relu(6, 2), name="r"),
        q.QDense(2, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="permute_mlp")


def softmax_mlp() -> Any:
    """An 8-bit QDense into a quantized_bits activation and a Keras softmax (the tables)."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(8,)),
        q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q_in"),
        q.QDense(5, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc"),
        q.QActivation(q.quantized_bits(8, 3, alpha=1), name="q1"),
        keras.layers.Activation("softmax", name="sm"),
    ], name="softmax_mlp")


ZOO: list[ZooEntry] = [
    ZooEntry("mlp8", mlp8, 8, 2, seed=1),
    ZooEntry("w2_qbits_act", w2_qbits_act, 6, 1, seed=2),
    ZooEntry("w12_i4", w12_i4, 10, 3, seed=3, wscale={"fc1": 10.0}),
    ZooEntry("binary_net", binary_net, 4, 1, seed=4),
    ZooEntry("ternary_net", ternary_net, 6, 2, seed=5),
    ZooEntry("pruned80", pruned80, 8, 1, prune=0.8, seed=6),
    ZooEntry("auto_po2", auto_po2, 8, 3, seed=7),
    ZooEntry("leaky_mlp", leaky_mlp, 8, 2, seed=9),
    ZooEntry("threshold_mlp", threshold_mlp, 8, 2, seed=10),
    ZooEntry("residual_mlp", residual_mlp, 8, 2, prune=0.3, seed=18),
]
FLOAT_ZOO: list[ZooEntry] = [ZooEntry("float_bn", float_bn, 8, 3, fully_quantized=False, seed=8)]


def init_weights(model: Any, seed: int, prune: float,
                 wscale: dict[str, float] | None = None) -> None:
    """Seeded weights (kernels ~ U(-1, 1) scaled per layer, biases small) and pruning."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        cls = type(layer).__name__
        new = []
        for i, w in enumerate(ws):
            if cls == "BatchNormalization":
                base = [rng.uniform(0.5, 1.5, w.shape), rng.uniform(-0.5, 0.5, w.shape),
                        rng.uniform(-0.5, 0.5, w.shape), rng.uniform(0.5, 2.0, w.shape)][i]
                new.append(base.astype(np.float32))
                continue
            if i == 0 or (i == 1 and "Separable" in cls):  # a kernel (separable: two)
                k = rng.uniform(-1.0, 1.0, w.shape) * (wscale or {}).get(layer.name, 1.0)
                if prune > 0:
                    k[rng.random(w.shape) < prune] = 0.0
                new.append(k.astype(np.float32))
            else:
                new.append(rng.uniform(-1.0, 1.0, w.shape).astype(np.float32))
        layer.set_weights(new)


def inputs(entry: ZooEntry, shape: tuple[int, ...], n: int = N_INPUTS) -> np.ndarray:
    """Seeded inputs on the input quantizer's grid, covering its range (incl. extremes)."""
    rng = np.random.default_rng(1000 + entry.seed)
    f = entry.in_bits - 1 - entry.in_int
    raw = rng.integers(-(1 << (entry.in_bits - 1)), 1 << (entry.in_bits - 1), size=(n, *shape))
    return np.ldexp(raw.astype(np.float64), -f)


def build(entry: ZooEntry) -> Any:
    import tf_keras as keras

    keras.utils.set_random_seed(entry.seed)
    model = entry.build()
    init_weights(model, entry.seed, entry.prune, entry.wscale)
    return model


# -- convolutional zoo --------------------------------------------------------------------


def cnn_basic() -> Any:
    """QConv2D 3x3 valid -> quantized_relu -> MaxPool 2x2 -> Flatten -> QDense."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(8, 8, 1)),
        q.QActivation(q.quantized_bits(8, 1, alpha=1), name="q_in"),
        q.QConv2D(4, 3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                  bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="c1"),
        q.QActivation(q.quantized_relu(6, 2), name="r1"),
        keras.layers.MaxPooling2D(2, name="mp"),
        keras.layers.Flatten(name="flat"),
        q.QDense(5, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="cnn_basic")


def cnn_strided_same() -> Any:
    """Strided 'same' conv, a Permute that makes the rows the channels, 1x1 conv, 2x2 average
    pooling (exact: area 4)."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(9, 9, 2)),
        q.QActivation(q.quantized_bits(6, 1, alpha=1), name="q_in"),
        q.QConv2D(6, 3, strides=2, padding="same", kernel_quantizer=q.quantized_bits(5, 0, alpha=1),
                  bias_quantizer=q.quantized_bits(5, 1, alpha=1), name="c1"),
        q.QActivation(q.quantized_relu(6, 2), name="r1"),
        keras.layers.Permute((3, 2, 1), name="perm"),  # (H, W, C) -> (C, W, H)
        q.QConv2D(4, 1, kernel_quantizer=q.quantized_bits(4, 0, alpha=1),
                  bias_quantizer=q.quantized_bits(4, 0, alpha=1), name="c2"),
        q.QActivation(q.quantized_bits(6, 2, alpha=1), name="q2"),
        keras.layers.AveragePooling2D(2, name="ap"),
        keras.layers.Flatten(name="flat"),
        q.QDense(3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="cnn_strided_same")


def cnn_residual() -> Any:
    """A residual block: two 'same' convs and an Add with the block input."""
    keras, q = _layers()
    x_in = keras.layers.Input((6, 6, 3), name="img")
    x = q.QActivation(q.quantized_bits(6, 1, alpha=1), name="q_in")(x_in)
    y = q.QConv2D(3, 3, padding="same", kernel_quantizer=q.quantized_bits(5, 0, alpha=1),
                  bias_quantizer=q.quantized_bits(5, 1, alpha=1), name="c1")(x)
    y = q.QActivation(q.quantized_relu(6, 2), name="r1")(y)
    y = q.QConv2D(3, 3, padding="same", kernel_quantizer=q.quantized_bits(5, 0, alpha=1),
                  bias_quantizer=q.quantized_bits(5, 1, alpha=1), name="c2")(y)
    y = q.QActivation(q.quantized_bits(6, 2, alpha=1), name="q2")(y)
    z = keras.layers.Add(name="add")([x, y])
    z = q.QActivation(q.quantized_relu(6, 2), name="r2")(z)
    z = keras.layers.GlobalAveragePooling2D(name="gap")(z)
    z = q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q3")(z)
    out = q.QDense(4, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                   bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out")(z)
    return keras.Model(x_in, out, name="cnn_residual")


def cnn1d() -> Any:
    """Conv1D 'same' and strided 'valid', MaxPool1D, Cropping1D, a quantized_tanh (thresholds),
    AveragePool1D (area 2), global average (area 4)."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(20, 2)),
        q.QActivation(q.quantized_bits(6, 1, alpha=1), name="q_in"),
        q.QConv1D(4, 3, padding="same", kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                  bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="c1"),
        q.QActivation(q.quantized_relu(6, 2), name="r1"),
        keras.layers.MaxPooling1D(2, name="mp"),
        keras.layers.Cropping1D((1, 0), name="crop"),
        q.QConv1D(4, 3, strides=2, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                  bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="c2"),
        q.QActivation(q.quantized_tanh(5), name="q2"),  # thresholds (QKeras's hard tanh)
        keras.layers.AveragePooling1D(2, name="ap"),
        keras.layers.GlobalAveragePooling1D(name="gap"),
        q.QDense(3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="cnn1d")


def cnn_depthwise_concat() -> Any:
    """ZeroPadding, depthwise conv, a Concatenate branch, UpSampling2D, Cropping2D, max
    pooling."""
    keras, q = _layers()
    x_in = keras.layers.Input((5, 5, 2), name="img")
    x = q.QActivation(q.quantized_bits(6, 1, alpha=1), name="q_in")(x_in)
    a = keras.layers.ZeroPadding2D(1, name="zp")(x)
    a = q.QDepthwiseConv2D(3, depthwise_quantizer=q.quantized_bits(5, 0, alpha=1),
                           bias_quantizer=q.quantized_bits(5, 1, alpha=1), name="dw")(a)
    a = q.QActivation(q.quantized_relu(6, 2), name="r1")(a)
    b = q.QConv2D(3, 1, kernel_quantizer=q.quantized_bits(5, 0, alpha=1),
                  bias_quantizer=q.quantized_bits(5, 1, alpha=1), name="pw")(x)
    b = q.QActivation(q.quantized_relu(5, 1), name="r2")(b)
    c = keras.layers.Concatenate(name="cat")([a, b])
    c = keras.layers.UpSampling2D(2, name="up")(c)
    c = keras.layers.Cropping2D(((1, 0), (0, 1)), name="crop")(c)
    c = keras.layers.MaxPooling2D(3, name="mp")(c)
    c = keras.layers.Flatten(name="flat")(c)
    out = q.QDense(4, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                   bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out")(c)
    return keras.Model(x_in, out, name="cnn_depthwise_concat")


def cnn_pruned_gmax() -> Any:
    """70 %-pruned convs, 'same' max pooling, global max pooling, ternary weights."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(7, 7, 3)),
        q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q_in"),
        q.QConv2D(8, 3, padding="same", kernel_quantizer=q.quantized_bits(8, 1, alpha=1),
                  bias_quantizer=q.quantized_bits(8, 1, alpha=1), name="c1"),
        q.QActivation(q.quantized_relu(8, 3), name="r1"),
        keras.layers.MaxPooling2D(2, padding="same", name="mp"),
        q.QConv2D(6, 2, kernel_quantizer=q.ternary(alpha=1),
                  bias_quantizer=q.quantized_bits(6, 2, alpha=1), name="c2"),
        q.QActivation(q.quantized_bits(8, 3, alpha=1), name="q2"),
        keras.layers.GlobalMaxPooling2D(name="gmp"),
        q.QDense(4, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="cnn_pruned_gmax")


def cnn_separable() -> Any:
    """Separable convs ('same', then ternary depthwise), 30 % pruned, a leaky quantized_relu
    (negative_slope 1/4), max pooling."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(7, 7, 3)),
        q.QActivation(q.quantized_bits(6, 1, alpha=1), name="q_in"),
        q.QSeparableConv2D(5, 3, padding="same",
                           depthwise_quantizer=q.quantized_bits(5, 0, alpha=1),
                           pointwise_quantizer=q.quantized_bits(5, 0, alpha=1),
                           bias_quantizer=q.quantized_bits(5, 1, alpha=1), name="sep1"),
        q.QActivation(q.quantized_relu(6, 2, negative_slope=0.25), name="r1"),
        keras.layers.MaxPooling2D(2, name="mp"),
        q.QSeparableConv2D(4, 2, depthwise_quantizer=q.ternary(alpha=1),
                           pointwise_quantizer=q.quantized_bits(4, 0, alpha=1),
                           bias_quantizer=q.quantized_bits(5, 1, alpha=1), name="sep2"),
        q.QActivation(q.quantized_bits(8, 3, alpha=1), name="q2"),
        keras.layers.Flatten(name="flat"),
        q.QDense(3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="cnn_separable")


def rnn_gru_lstm() -> Any:
    """Two recurrent layers unrolled over 4 steps: a QGRU (reset_after, the whole sequence
    out, 25 % pruned) into a QLSTM (its last state), each with a state quantizer, then a
    QDense."""
    keras, q = _layers()
    rec = {"kernel_quantizer": q.quantized_bits(6, 0, alpha=1),
           "recurrent_quantizer": q.quantized_bits(6, 0, alpha=1),
           "bias_quantizer": q.quantized_bits(6, 1, alpha=1),
           "state_quantizer": q.quantized_bits(8, 1, alpha=1),
           "activation": q.quantized_tanh(6), "recurrent_activation": q.quantized_sigmoid(5)}
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(4, 3)),
        q.QActivation(q.quantized_bits(6, 1, alpha=1), name="q_in"),
        q.QGRU(4, reset_after=True, return_sequences=True, name="gru", **rec),
        q.QLSTM(3, name="lstm", **rec),
        q.QDense(3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="rnn_gru_lstm")


def rnn_simple() -> Any:
    """A QBidirectional QSimpleRNN (quantized_relu activation, no state quantizer: the
    relu's grid is the state's) over 6 steps, the two sequences concatenated per step, a
    QDense applied to each step (a 1x1 Conv), flattened into a QDense."""
    keras, q = _layers()
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(6, 2)),
        q.QActivation(q.quantized_bits(6, 1, alpha=1), name="q_in"),
        q.QBidirectional(q.QSimpleRNN(5, kernel_quantizer=q.quantized_bits(5, 0, alpha=1),
                                      recurrent_quantizer=q.quantized_bits(5, 0, alpha=1),
                                      bias_quantizer=q.quantized_bits(5, 1, alpha=1),
                                      activation=q.quantized_relu(6, 2),
                                      return_sequences=True), name="rnn"),
        q.QDense(4, kernel_quantizer=q.quantized_bits(5, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(5, 1, alpha=1),
                 activation=q.quantized_relu(6, 2), name="per_step"),
        keras.layers.Flatten(name="flat"),
        q.QDense(3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="rnn_simple")


CNN_ZOO: list[ZooEntry] = [
    ZooEntry("cnn_basic", cnn_basic, 8, 1, seed=11),
    ZooEntry("cnn_strided_same", cnn_strided_same, 6, 1, seed=12),
    ZooEntry("cnn_residual", cnn_residual, 6, 1, seed=13),
    ZooEntry("cnn1d", cnn1d, 6, 1, seed=14),
    ZooEntry("cnn_depthwise_concat", cnn_depthwise_concat, 6, 1, seed=15),
    ZooEntry("cnn_pruned_gmax", cnn_pruned_gmax, 8, 2, prune=0.7, seed=16),
    ZooEntry("cnn_separable", cnn_separable, 6, 1, prune=0.3, seed=17),
    ZooEntry("rnn_gru_lstm", rnn_gru_lstm, 6, 1, prune=0.25, seed=19),
    ZooEntry("rnn_simple", rnn_simple, 6, 1, seed=20),
]
