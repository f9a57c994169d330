"""QONNX test models, written with ``onnx.helper`` as Brevitas exports them: ``Quant`` /
``BipolarQuant`` nodes (domain ``qonnx.custom_op.general``) on the input, on every weight
and bias and on the activations; seeded weights. qonnx's own execution is their source
view."""

from __future__ import annotations

from typing import Any

import numpy as np

DOMAIN = "qonnx.custom_op.general"


class _Net:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def quant(self, x: str, out: str, scale: float, bits: int, signed: int = 1,
              narrow: int = 0, rounding: str = "ROUND", zeropt: float = 0.0) -> str:
        from onnx import helper

        n = f"{out}_q"
        self.nodes.append(helper.make_node(
            "Quant", [x, self.const(n + "_scale", scale), self.const(n + "_zeropt", zeropt),
                      self.const(n + "_bits", float(bits))], [out], name=n, domain=DOMAIN,
            signed=signed, narrow=narrow, rounding_mode=rounding))
        return out

    def bipolar(self, x: str, out: str, scale: float = 1.0) -> str:
        from onnx import helper

        n = f"{out}_q"
        self.nodes.append(helper.make_node("BipolarQuant", [x, self.const(n + "_scale", scale)],
                                           [out], name=n, domain=DOMAIN))
        return out

    def weight(self, name: str, shape: tuple[int, ...], prune: float) -> str:
        w = self.rng.uniform(-1, 1, shape)
        w[self.rng.random(shape) < prune] = 0.0
        return self.const(name, w)

    def node(self, op: str, ins: list[str], out: str, **attrs: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def save(self, path: str, name: str, in_shape: tuple[int, ...], n_out: int,
             out: str) -> None:
        import onnx
        from onnx import TensorProto, helper

        g = helper.make_graph(
            self.nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *in_shape])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, n_out])], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                                helper.make_opsetid(DOMAIN, 1)])
        onnx.save(m, path)


def tfc_w4a4(path: str) -> None:
    """FINN's TFC shape, small: 8-bit input, MatMul + Add(bias) with 4-bit narrow weights
    (30 % pruned), ReLU + unsigned 4-bit activations, an 8-bit output."""
    n = _Net(41)
    x = n.quant("x", "xq", 2**-4, 8)
    width = 16
    for i, h in enumerate((12, 8, 4)):
        w = n.quant(n.weight(f"w{i}", (width, h), 0.3), f"w{i}q", 2**-3, 4, narrow=1)
        b = n.quant(n.const(f"b{i}", n.rng.uniform(-1, 1, h)), f"b{i}q", 2**-6, 10)
        y = n.node("Add", [n.node("MatMul", [x, w], f"fc{i}"), b], f"bias{i}")
        if i < 2:
            x = n.quant(n.node("Relu", [y], f"relu{i}"), f"act{i}", 2**-2, 4, signed=0)
        else:
            x = n.quant(y, "y", 2**-3, 8, rounding="FLOOR")
        width = h
    n.save(path, "tfc_w4a4", (16,), 4, x)


def tfc_w1a1(path: str) -> None:
    """Bipolar weights and activations (XNOR-popcount), a Gemm with ``transB`` and bias,
    a 4x4 input image flattened, 6-bit narrow input."""
    n = _Net(42)
    x = n.node("Flatten", [n.quant("x", "xq", 2**-3, 6, narrow=1)], "flat", axis=1)
    w0 = n.bipolar(n.weight("w0", (16, 10), 0.0), "w0q")
    b0 = n.quant(n.const("b0", n.rng.uniform(-2, 2, 10)), "b0q", 2**-4, 8)
    x = n.bipolar(n.node("Add", [n.node("MatMul", [x, w0], "fc0"), b0], "bias0"), "act0")
    w1 = n.bipolar(n.weight("w1", (8, 10), 0.0), "w1q")  # (out, in): Gemm transB
    b1 = n.quant(n.const("b1", n.rng.uniform(-2, 2, 8)), "b1q", 2**-2, 6)
    x = n.bipolar(n.node("Gemm", [x, w1, b1], "fc1", transB=1), "act1")
    w2 = n.quant(n.weight("w2", (8, 3), 0.2), "w2q", 2**-2, 3)
    y = n.quant(n.node("MatMul", [x, w2], "fc2"), "y", 2**-2, 8)
    n.save(path, "tfc_w1a1", (1, 4, 4), 3, y)


def cnv_w4a4(path: str) -> None:
    """A small CNV (NCHW, as Brevitas exports): 'same' 3x3 Conv with bias, ReLU + 4-bit
    unsigned activations, 2x2 MaxPool, a depthwise 3x3 Conv (group = channels), a 1x1
    Conv, Flatten (channel-major in ONNX) and a MatMul; 4-bit weights, 25 % pruned."""
    n = _Net(45)
    x = n.quant("x", "xq", 2**-4, 8)
    w = n.quant(n.weight("cw0", (4, 2, 3, 3), 0.25), "cw0q", 2**-3, 4, narrow=1)
    b = n.quant(n.const("cb0", n.rng.uniform(-1, 1, 4)), "cb0q", 2**-5, 8)
    x = n.node("Conv", [x, w, b], "conv0", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    x = n.quant(n.node("Relu", [x], "relu0"), "act0", 2**-2, 4, signed=0)
    x = n.node("MaxPool", [x], "pool0", kernel_shape=[2, 2], strides=[2, 2])
    w = n.quant(n.weight("cw1", (4, 1, 3, 3), 0.25), "cw1q", 2**-3, 4, narrow=1)
    x = n.node("Conv", [x, w], "dw1", kernel_shape=[3, 3], group=4)
    x = n.quant(x, "act1", 2**-2, 6)
    w = n.quant(n.weight("cw2", (8, 4, 1, 1), 0.25), "cw2q", 2**-3, 4, narrow=1)
    b = n.quant(n.const("cb2", n.rng.uniform(-1, 1, 8)), "cb2q", 2**-5, 8)
    x = n.node("Conv", [x, w, b], "pw2", kernel_shape=[1, 1])
    x = n.quant(n.node("Relu", [x], "relu2"), "act2", 2**-2, 4, signed=0)
    x = n.node("Flatten", [x], "flat", axis=1)
    w = n.quant(n.weight("w3", (32, 5), 0.25), "w3q", 2**-3, 4, narrow=1)
    b = n.quant(n.const("b3", n.rng.uniform(-1, 1, 5)), "b3q", 2**-6, 10)
    y = n.node("Add", [n.node("MatMul", [x, w], "fc3"), b], "bias3")
    n.save(path, "cnv_w4a4", (2, 8, 8), 5, n.quant(y, "y", 2**-3, 8))


def cnv_gap(path: str) -> None:
    """Strided Conv with asymmetric pads, global average pooling over 16 positions (exact),
    Flatten of the pooled (C, 1, 1) and a Gemm."""
    n = _Net(46)
    x = n.quant("x", "xq", 2**-3, 6)
    w = n.quant(n.weight("cw0", (6, 1, 3, 3), 0.2), "cw0q", 2**-3, 5)
    x = n.node("Conv", [x, w], "conv0", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1])
    x = n.quant(n.node("Relu", [x], "relu0"), "act0", 2**-3, 6, signed=0)
    x = n.node("Flatten", [n.node("GlobalAveragePool", [x], "gap")], "flat", axis=1)
    w = n.quant(n.weight("w1", (3, 6), 0.0), "w1q", 2**-3, 5)
    b = n.quant(n.const("b1", n.rng.uniform(-1, 1, 3)), "b1q", 2**-6, 10)
    y = n.node("Gemm", [x, w, b], "fc1", transB=1)
    n.save(path, "cnv_gap", (1, 8, 8), 3, n.quant(y, "y", 2**-4, 10))


def cnv_pad_slice(path: str) -> None:
    """A Pad (top and right), a valid Conv, a Slice of rows and columns (a negative end),
    a Pad with one negative pad (a crop and a pad), MaxPool, Flatten and a MatMul."""
    n = _Net(51)
    x = n.quant("x", "xq", 2**-3, 6)
    x = n.node("Pad", [x, n.const("p0", [0, 0, 1, 0, 0, 0, 0, 1], np.int64)], "pad0")
    w = n.quant(n.weight("cw0", (4, 2, 3, 3), 0.2), "cw0q", 2**-3, 5)
    x = n.node("Conv", [x, w], "conv0", kernel_shape=[3, 3])  # (4, 5, 5)
    x = n.quant(n.node("Relu", [x], "relu0"), "act0", 2**-3, 6, signed=0)
    x = n.node("Slice", [x, n.const("s0", [1, 0], np.int64), n.const("e0", [5, -1], np.int64),
                         n.const("a0", [2, -1], np.int64)], "slice0")  # (4, 4, 4)
    x = n.node("Pad", [x, n.const("p1", [0, 0, 0, -1, 0, 0, 0, 1], np.int64)], "pad1")
    x = n.node("MaxPool", [x], "pool0", kernel_shape=[2, 2], strides=[2, 2])  # (4, 2, 2)
    x = n.node("Flatten", [x], "flat", axis=1)
    w = n.quant(n.weight("w1", (16, 3), 0.2), "w1q", 2**-3, 5)
    n.save(path, "cnv_pad_slice", (2, 6, 6), 3,
           n.quant(n.node("MatMul", [x, w], "fc1"), "y", 2**-4, 10))


def cnn1d_residual(path: str) -> None:
    """A 1-D conv in a residual Add with its input, MaxPool, and a Quant between the
    Flatten and the MatMul (the flattened order passes through it)."""
    n = _Net(47)
    x = n.quant("x", "xq", 2**-4, 8)
    w = n.quant(n.weight("cw", (3, 3, 3), 0.2), "cwq", 2**-3, 4)
    y = n.quant(n.node("Conv", [x, w], "c1", kernel_shape=[3], pads=[1, 1]), "a1", 2**-3, 8)
    z = n.quant(n.node("Relu", [n.node("Add", [x, y], "res")], "r"), "a2", 2**-3, 6, signed=0)
    z = n.node("MaxPool", [z], "mp", kernel_shape=[2], strides=[2])
    f = n.quant(n.node("Flatten", [z], "fl", axis=1), "a3", 2**-2, 5, signed=0)
    w = n.quant(n.weight("w", (15, 4), 0.0), "wq", 2**-3, 4)
    n.save(path, "cnn1d_residual", (3, 10), 4,
           n.quant(n.node("MatMul", [f, w], "fc"), "y", 2**-3, 8))


def bipolar_cnn(path: str) -> None:
    """Bipolar conv weights and activations, a strided bipolar conv, global max pooling."""
    n = _Net(48)
    x = n.quant("x", "xq", 2**-4, 8)
    w = n.bipolar(n.weight("cw", (4, 2, 3, 3), 0.0), "cwq")
    y = n.bipolar(n.node("Conv", [x, w], "c1", kernel_shape=[3, 3]), "a1")
    w = n.bipolar(n.weight("cw2", (4, 4, 2, 2), 0.0), "cw2q")
    y = n.quant(n.node("Conv", [y, w], "c2", kernel_shape=[2, 2], strides=[2, 2]), "a2", 1.0, 6)
    f = n.node("Flatten", [n.node("GlobalMaxPool", [y], "gm")], "fl", axis=1)
    w = n.quant(n.weight("w", (4, 3), 0.0), "wq", 2**-3, 4)
    n.save(path, "bipolar_cnn", (2, 6, 6), 3,
           n.quant(n.node("MatMul", [f, w], "fc"), "y", 2**-3, 8))


def tfc_sigmoid(path: str) -> None:
    """Brevitas QuantSigmoid / QuantTanh: a Sigmoid and a Tanh, each followed by its
    activation Quant (unsigned 5-bit, signed 4-bit), between 4-bit MatMuls."""
    n = _Net(49)
    x = n.quant("x", "xq", 2**-4, 8)
    w = n.quant(n.weight("w0", (16, 10), 0.2), "w0q", 2**-3, 4, narrow=1)
    b = n.quant(n.const("b0", n.rng.uniform(-1, 1, 10)), "b0q", 2**-6, 10)
    y = n.node("Add", [n.node("MatMul", [x, w], "fc0"), b], "bias0")
    x = n.quant(n.node("Sigmoid", [y], "sig0"), "act0", 2**-5, 5, signed=0)
    w = n.quant(n.weight("w1", (10, 8), 0.2), "w1q", 2**-3, 4, narrow=1)
    x = n.quant(n.node("Tanh", [n.node("MatMul", [x, w], "fc1")], "tanh1"), "act1", 2**-3, 4)
    w = n.quant(n.weight("w2", (8, 4), 0.0), "w2q", 2**-3, 4)
    n.save(path, "tfc_sigmoid", (16,), 4,
           n.quant(n.node("MatMul", [x, w], "fc2"), "y", 2**-3, 8))


def tfc_merge(path: str) -> None:
    """Two pruned 4-bit MatMuls of one input, merged element-wise by Sub, Max (of three),
    Min, Mul and Mean (of two), into a last MatMul."""
    n = _Net(50)
    x = n.quant("x", "xq", 2**-4, 8)
    wa = n.quant(n.weight("wa", (16, 8), 0.3), "waq", 2**-3, 4)
    a = n.quant(n.node("MatMul", [x, wa], "fa"), "a", 2**-3, 6)
    wb = n.quant(n.weight("wb", (16, 8), 0.3), "wbq", 2**-3, 4)
    b = n.quant(n.node("MatMul", [x, wb], "fb"), "b", 2**-3, 6)
    d = n.node("Sub", [a, b], "sub")
    m = n.node("Max", [a, b, d], "max")
    lo = n.node("Min", [a, d], "min")
    p = n.node("Mul", [lo, b], "mul")
    e = n.quant(n.node("Mean", [m, p], "mean"), "e", 2**-4, 8)
    w = n.quant(n.weight("w", (8, 4), 0.0), "wq", 2**-3, 4)
    n.save(path, "tfc_merge", (16,), 4, n.quant(n.node("MatMul", [e, w], "fc"), "y", 2**-3, 8))


QONNX_ZOO = {"tfc_w4a4": tfc_w4a4, "tfc_w1a1": tfc_w1a1, "cnv_w4a4": cnv_w4a4,
             "cnv_gap": cnv_gap, "cnv_pad_slice": cnv_pad_slice,
             "cnn1d_residual": cnn1d_residual, "bipolar_cnn": bipolar_cnn,
             "tfc_sigmoid": tfc_sigmoid, "tfc_merge": tfc_merge}
#: per model: the input shape (without N), the input Quant's fraction bits, a raw bound
INPUTS = {"tfc_w4a4": ((16,), 4, 200, 43), "tfc_w1a1": ((1, 4, 4), 3, 50, 44),
          "cnv_w4a4": ((2, 8, 8), 4, 200, 47), "cnv_gap": ((1, 8, 8), 3, 50, 48),
          "cnv_pad_slice": ((2, 6, 6), 3, 50, 53),
          "cnn1d_residual": ((3, 10), 4, 200, 49), "bipolar_cnn": ((2, 6, 6), 4, 200, 50),
          "tfc_sigmoid": ((16,), 4, 200, 51), "tfc_merge": ((16,), 4, 200, 52)}


def inputs(name: str, n: int = 400) -> np.ndarray:
    """Seeded inputs on the input Quant's grid, past its range (to exercise clipping): a
    float64 input off the grid may round differently once the QONNX execution has cast it
    to float32, a difference of the input, not of the arithmetic."""
    shape, frac, top, seed = INPUTS[name]
    rng = np.random.default_rng(seed)
    return np.ldexp(rng.integers(-top, top + 1, (n, *shape)).astype(np.float64), -frac)
