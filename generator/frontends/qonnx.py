"""QONNX models (Brevitas / FINN exports, ``.onnx``) to the nnfab IR.

Loads the file with ``qonnx`` (``ModelWrapper`` + ``cleanup_model``: shapes inferred,
constants folded, ``Quant`` nodes kept) and maps each node to IR nodes:

==================  ==================================================================
QONNX / ONNX node   IR
==================  ==================================================================
Quant               on a constant: the weight / bias values it computes (qonnx's own
                    ``int_quant``), represented exactly on their binary grid; on an
                    activation with a power-of-two scalar scale and zero point 0:
                    Quantize to ``ap_fixed<bits, bits - f>`` (``ap_ufixed`` unsigned)
                    with scale ``2^-f``; rounding ROUND -> RND_CONV, FLOOR -> TRN,
                    HALF_UP -> RND_INF, HALF_DOWN -> RND_ZERO, DOWN -> TRN_ZERO;
                    clipping SAT (``narrow`` signed: SAT_SYM)
BipolarQuant        on a constant: +-scale weights; on an activation (scale 1): Binarize
MatMul, Gemm        Dense (exact sum; Gemm with ``transB``, alpha = beta = 1)
Conv                Conv (exact sum; weights to the Keras layout; one group per channel:
                    depthwise); explicit pads, strides, dilation 1
MaxPool             Pool(max); GlobalAverage/MaxPool: GlobalPool (an exact average:
                    power-of-two area)
Pad, Slice          on the spatial axes: Pad (mode constant, value 0) and Crop (a Pad's
                    negative pads; a Slice with steps 1)
BatchNormalization  absorbed with the float ops around it into the next quantiser
Add                 a quantised constant after a MatMul: that Dense's bias; a float
                    constant: absorbed (below); two tensors: Add
Relu                Relu
Clip                Clip (constant min / max on the input's grid; either may be absent)
Sigmoid, Tanh       with the activation Quant right after it (Brevitas QuantSigmoid /
                    QuantTanh): one Threshold computing both exactly, read off qonnx's
                    own execution of the two nodes on every input value
Flatten, Reshape    Reshape (a tensor flattened, or reshaped without its batch axis)
Identity            dropped
==================  ==================================================================

A model with a Conv or a pooling node is converted channels-last (the IR's and the
hardware's layout, as in FINN): the IR input is ``(*spatial, C)`` and
``g.meta["input_layout"]`` tells :func:`generator.reference.quantize_input` to transpose
inputs given as ``(N, C, *spatial)``; a Flatten's IR order differs from ONNX's
channel-major one, so the MatMul after it takes its weight rows permuted to match.

``Quant`` computes ``clip(round(x / scale + zeropt), min, max) - zeropt) * scale``; with a
power-of-two scale and zero point 0 that is exactly the ``ap_fixed`` cast above, and the
QONNX execution (float32, exact while sums fit its 24-bit mantissa) is the source view
that ``verify`` compares with.

Streamlining (FINN's method, exact; ``docs/qonnx.md``): a MatMul / Gemm / Conv of a
quantiser's integers and a weight quantiser's integers (float scales per tensor or per
output channel) is an exact integer sum; the float arithmetic after it (the scales, a
bias, BatchNormalization, Relu, Clip, Mul / Div / Add / Sub by constants) and the next
``Quant`` / ``BipolarQuant`` become one per-channel :class:`~generator.ir.Threshold`, read
off qonnx's ``execute_onnx`` of those nodes on every value interval arithmetic says the
sum reaches (refused in one line when not monotone or wider than 2^24 values). The float
nodes before the first quantiser (with its integer step) and after the last integer sum
are host pre- / post-processing (``g.meta["host"]``, applied by :mod:`generator.host` in
every view and driver). Zero points other than 0, per-element activation scales and every
other op are refused in one line naming the node.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import host
from ..config import Config
from ..fixed import FixedType, Overflow, Rounding
from ..ir import (
    Add,
    Binarize,
    Clip,
    Conv,
    Crop,
    Dense,
    GlobalPool,
    Graph,
    Input,
    Merge,
    Pad,
    Pool,
    Quantize,
    Relu,
    Reshape,
    Tensor,
    Threshold,
    Weight,
)
from .keras import (
    FrontendError,
    TypeReads,
    _po2_shift,
    _safe,
    add_exact,
    check_types_read,
    exact_grid,
    float32_exact,
    quantize_float,
    threshold_weights,
    unique_name,
)

SUPPORTED_OPS = ("Quant, BipolarQuant, MatMul, Gemm, Conv, MaxPool, GlobalAveragePool, "
                 "GlobalMaxPool, Pad / Slice (of spatial axes), Add, Sub, Max, Min, "
                 "Mean (of 2^k tensors), Mul (of tensors), BatchNormalization and Mul / Div / "
                 "Add / Sub by constants (before a quantiser, or on the host), Relu, Clip, "
                 "Sigmoid / Tanh (with the Quant after them), Softmax (at the end, on the "
                 "host), Flatten, Reshape, Identity")
#: ops on NCHW tensors: a model with one of them is converted channels-last
SPATIAL_OPS = ("Conv", "MaxPool", "GlobalAveragePool", "GlobalMaxPool", "Pad", "Slice")
QONNX_DOMAIN = "qonnx.custom_op.general"
ROUNDING = {"ROUND": Rounding.RND_CONV, "HALF_EVEN": Rounding.RND_CONV,
            "FLOOR": Rounding.TRN, "HALF_UP": Rounding.RND_INF,
            "HALF_DOWN": Rounding.RND_ZERO, "DOWN": Rounding.TRN_ZERO}


#: float ops absorbed between an integer sum and the next quantiser (or run on the host)
FLOAT_OPS = ("BatchNormalization", "Mul", "Div", "Add", "Sub", "Relu", "Clip", "Softmax",
             "Identity")
#: ops that move a quantiser's integers without changing them (its scale stays)
INTEGER_OPS = ("Reshape", "Flatten", "Identity", "MaxPool", "Pad", "Slice", "Relu")
#: the most accumulator values one threshold read-off evaluates per channel
MAX_READOFF_VALUES = 1 << 24
#: host ops of ONNX nodes applied before the first quantiser or after the hardware
HOST_OPS = ("Mul", "Div", "Add", "Sub", "Relu", "Identity", "Reshape", "Flatten", "Softmax")


@dataclass
class Scaled:
    """An ONNX tensor that is ``float32(value(t) * scale)``: a quantiser's values on a
    binary grid (the IR tensor ``t``; its integers when the scale is a float) and its
    scalar float scale."""

    t: Tensor
    scale: float


@dataclass
class Pending:
    """An ONNX tensor that is ``nodes(float32(value(t) * scale[c]))``: the exact sum ``t``
    of a MatMul / Conv (the IR tensor), its float scale per output channel, and the float
    ONNX nodes after it not yet absorbed (they become a Threshold at the next quantiser,
    or host post-processing at the end)."""

    t: Tensor
    scale: np.ndarray  # (C,) float64
    nodes: list[Any] = field(default_factory=list)
    # the MatMul that computed t from a quantiser's integers (a float-scale tail runs it
    # on the host): its Scaled input, its float32 ONNX weight, its IR node, and the
    # permutation of its input (IR element i is ONNX element perm[i]), if any
    origin: tuple[Scaled, np.ndarray, Any, np.ndarray | None] | None = None


def load_model(path: str, batch: int | None = None) -> Any:
    """A cleaned-up qonnx ``ModelWrapper`` of ``path`` (with batch size ``batch``)."""
    if not os.path.isfile(path):
        raise FrontendError(f"model file {path} does not exist")
    from google.protobuf.message import DecodeError
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    try:
        m = ModelWrapper(path)
    except (DecodeError, OSError, ValueError) as e:
        raise FrontendError(f"model file {path}: not a readable ONNX model ({e})") from None
    try:
        return cleanup_model(m, override_inpsize=batch)
    except Exception as e:  # noqa: BLE001 - onnx shape inference raises many kinds
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FrontendError(f"model file {path}: qonnx cannot clean it up (shapes, constants): "
                            f"{msg}") from None


def predict(path: str, x: np.ndarray) -> np.ndarray:
    """The QONNX model's own execution (qonnx ``execute_onnx``, float32) as float64."""
    from qonnx.core.onnx_exec import execute_onnx

    x = np.asarray(x, dtype=np.float32)
    m = load_model(path, batch=len(x))
    iname, oname = m.graph.input[0].name, m.graph.output[0].name
    return np.asarray(execute_onnx(m, {iname: x})[oname], dtype=np.float64)


class _Builder:
    def __init__(self, m: Any, cfg: Config, name: str) -> None:
        self.m = m
        self.cfg = cfg
        self.g = Graph(_safe(name))
        self.const: dict[str, np.ndarray] = {}  # constant tensors (float64 values)
        self.quantized: set[str] = set()  # constants computed by a Quant / BipolarQuant
        self.t: dict[str, Tensor] = {}  # activation tensors
        self.notes: list[str] = []
        self.reads = TypeReads(cfg)
        # a flat tensor of a channels-last model: IR element i is ONNX element perm[i]
        self.perm: dict[str, np.ndarray] = {}
        self.spatial = any(n.op_type in SPATIAL_OPS for n in m.graph.node)
        self.done: set[str] = set()  # nodes already converted with the one before them
        self.scaled: dict[str, Scaled] = {}  # a quantiser's integers with a float scale
        self.pending: dict[str, Pending] = {}  # float arithmetic of an exact sum
        self.host_t: set[str] = set()  # float tensors before the first quantiser (host)
        self.pre: list[dict[str, Any]] = []  # host pre-processing ops
        self.wint: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # weight integers, scale
        for init in m.graph.initializer:
            self.const[init.name] = np.asarray(m.get_initializer(init.name), dtype=np.float64)

    def c(self, node: Any, i: int, what: str) -> np.ndarray:
        name = node.input[i] if i < len(node.input) else ""
        if name not in self.const:
            raise FrontendError(f"node {node.name} ({node.op_type}): its {what} must be a "
                                "constant")
        return self.const[name]

    def x(self, node: Any, i: int = 0) -> Tensor:
        name = node.input[i]
        if name not in self.t:
            raise FrontendError(f"node {node.name} ({node.op_type}): input {name!r} is not "
                                "an activation nnfab converted")
        return self.t[name]

    def out(self, node: Any, t: Tensor, keep_perm: bool = False) -> None:
        """``node``'s output is ``t`` (an element-wise op keeps its input's order)."""
        self.t[node.output[0]] = t
        if keep_perm and node.input[0] in self.perm:
            self.perm[node.output[0]] = self.perm[node.input[0]]

    def same_perm(self, node: Any) -> None:
        """An element-wise node of several inputs: they must all be in one order (the
        same flattening permutation, or none)."""
        perms = [self.perm.get(i) for i in node.input]
        first = perms[0]
        if any((p is None) != (first is None)
               or (p is not None and first is not None and not np.array_equal(p, first))
               for p in perms):
            self.no_perm(node)

    def no_perm(self, node: Any) -> None:
        for i in node.input:
            if i in self.perm:
                raise FrontendError(f"node {node.name} ({node.op_type}): the flattened "
                                    "feature map of a channels-last conversion may only feed "
                                    "element-wise nodes and a MatMul / Gemm")

    # -- quantizers --------------------------------------------------------------------
    def quant_args(self, node: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, bool,
                                             str]:
        """A Quant's scale, zero point, bit width (constants), signed, narrow, rounding."""
        scale, zp, bits = (self.c(node, i, w) for i, w in
                           ((1, "scale"), (2, "zero point"), (3, "bit width")))
        a = self.attrs(node)
        rmode = a.get("rounding_mode", b"ROUND")
        rmode = (rmode.decode() if isinstance(rmode, bytes) else rmode).upper()
        return (scale, zp, bits, bool(a.get("signed", 1)), bool(a.get("narrow", 0)), rmode)

    def quant_type(self, node: Any) -> FixedType:
        """The ap_fixed type a Quant on an activation is (or a one-line refusal)."""
        scale, zp, bits, signed, narrow, rmode = self.quant_args(node)
        where = f"node {node.name} (Quant)"
        if np.unique(scale).size != 1 or _po2_shift(float(scale.flat[0])) is None:
            raise FrontendError(f"{where}: scale {np.unique(scale)[:4].tolist()} is not one "
                                "power of two; supported: a scalar power-of-two scale "
                                "(Brevitas restrict_scaling_type=POWER_OF_TWO)")
        if np.any(zp != 0):
            raise FrontendError(f"{where}: zero point {np.unique(zp)[:4].tolist()} is not "
                                "supported; supported: 0")
        if bits.size != 1 or float(bits.flat[0]) != int(bits.flat[0]) or int(bits.flat[0]) < 1:
            raise FrontendError(f"{where}: bit width {bits.tolist()} is not supported; "
                                "supported: one integer >= 1")
        if rmode not in ROUNDING:
            raise FrontendError(f"{where}: rounding_mode {rmode} is not supported; "
                                f"supported: {', '.join(ROUNDING)}")
        if narrow and not signed:
            raise FrontendError(f"{where}: narrow unsigned (0..2^b-2) is not supported; "
                                "supported: narrow signed, or not narrow")
        f = _po2_shift(float(scale.flat[0]))
        assert f is not None
        b = int(bits.flat[0])
        ovf = Overflow.SAT_SYM if narrow else Overflow.SAT
        return FixedType(b, b - f, signed, ROUNDING[rmode], ovf)

    def quant(self, node: Any) -> None:
        from qonnx.custom_op.general.intquant import int_quant

        if node.input[0] in self.const:  # weights: the values qonnx computes, kept exactly
            scale, zp, bits, signed, narrow, rmode = self.quant_args(node)
            vals = int_quant(self.const[node.input[0]].astype(np.float32),
                             scale.astype(np.float32), zp.astype(np.float32),
                             bits.astype(np.float32), int(signed), int(narrow), rmode)
            self.const[node.output[0]] = np.asarray(vals, dtype=np.float64)
            self.quantized.add(node.output[0])
            if np.all(zp == 0) and rmode in host.ROUND and np.all(scale > 0):
                b = int(bits.flat[0])
                op = {"op": "Quant", "scale": scale, "zeropt": zp, "rounding": rmode,
                      "min": -(2 ** (b - 1)) + int(narrow) if signed else 0,
                      "max": 2 ** (b - 1) - 1 if signed else 2**b - 1 - int(narrow)}
                ints = host.apply([op], self.const[node.input[0]][None])[0].astype(np.float64)
                full = np.broadcast_to(scale, ints.shape).astype(np.float64)
                if np.array_equal((ints * full).astype(np.float32), vals.astype(np.float32)):
                    self.wint[node.output[0]] = (ints, full)
            return
        t = self.quant_type(node)
        x = self.x(node)
        if t.width == 1 and t.signed:  # qonnx: 1-bit signed Quant is bipolar
            raise FrontendError(f"node {node.name} (Quant): a 1-bit signed Quant is not "
                                "supported; supported: BipolarQuant")
        self.out(node, self.g.add(Quantize(self.uniq(node.name), [x], source=node.name), t),
                 keep_perm=True)

    def bipolar(self, node: Any) -> None:
        scale = self.c(node, 1, "scale")
        if node.input[0] in self.const:
            ints = np.where(self.const[node.input[0]] / scale >= 0, 1.0, -1.0)
            v = ints * scale
            self.const[node.output[0]] = v
            self.quantized.add(node.output[0])
            if np.all(scale > 0):
                self.wint[node.output[0]] = (ints, np.broadcast_to(scale, ints.shape) + 0.0)
            return
        if np.any(scale != 1.0):
            raise FrontendError(f"node {node.name} (BipolarQuant): scale "
                                f"{np.unique(scale)[:4].tolist()} on an activation is not "
                                "supported; supported: 1")
        self.out(node, self.g.add(Binarize(self.uniq(node.name), [self.x(node)],
                                           source=node.name), FixedType(2, 2)), keep_perm=True)

    # -- layers ------------------------------------------------------------------------
    def add_exact(self, node: Any) -> Tensor:
        """Append a node whose output is its exact sum (checked against float32's mantissa:
        qonnx executes in float32)."""
        y = add_exact(self.g, node)
        float32_exact(node, self.notes, "qonnx's float32 execution")
        return y

    def uniq(self, base: str) -> str:
        return unique_name(self.g, base)

    def var(self, node: str, var: str) -> FixedType:
        """The configured type of ``var`` for ``node``, recorded as read."""
        return self.reads.need(_safe(node), var)

    def weight(self, node: Any, tensor: str, values: np.ndarray, what: str) -> Weight:
        """A Quant's output exactly; a float constant in the configured type."""
        if tensor in self.quantized:
            return exact_grid(node.name, what, values)
        return quantize_float(values, self.var(node.name, what))

    def dense(self, node: Any, w: np.ndarray, wname: str, bias: np.ndarray | None = None,
              bname: str | None = None) -> None:

        x = self.x(node)
        if node.input[0] in self.perm and w.ndim == 2 and w.shape[0] == x.shape[0]:
            w = w[self.perm[node.input[0]]]  # rows in the order the IR flattens
        if len(x.shape) != 1 or w.ndim != 2 or w.shape[0] != x.shape[0]:
            raise FrontendError(f"node {node.name} ({node.op_type}): a {x.shape} input times a "
                                f"{w.shape} weight is not supported; supported: a flat input "
                                "times an (inputs, outputs) constant (Flatten first)")
        ws = {"weight": self.weight(node, wname, w, "weight")}
        if bias is not None:
            ws["bias"] = self.weight(node, bname or "", bias.reshape(-1), "bias")
        name = _safe(node.name)
        exact = wname in self.quantized and (bias is None or bname in self.quantized)
        if not exact:
            self.notes.append(f"{name}: float weights quantized to the configured types")
        d = Dense(self.uniq(name), [x], ws, units=int(w.shape[1]), source=name, exact=exact,
                  reuse=self.cfg.reuse_for(name), strategy=self.cfg.strategy_for(name),
                  multipliers=self.cfg.multipliers_for(name),
                  skip_zeros=self.cfg.skip_zeros_for(
                      name, self.cfg.strategy_for(name) == "resource"
                      and (isinstance(x.producer, Relu) or not x.ftype.signed)))
        self.out(node, self.add_exact(d))

    def add(self, node: Any) -> None:
        from ..intervals import derived_type

        a, b = node.input[0], node.input[1]
        if a in self.const and b in self.t:
            a, b = b, a
        if b in self.const:  # a bias: onto the Dense that produced a (used once)
            x = self.x(node)
            d = x.producer
            ok = (isinstance(d, Dense) and "bias" not in d.weights and len(x.users) == 0
                  and sum(1 for n in self.m.graph.node if a in n.input) == 1)
            if not ok:
                raise FrontendError(f"node {node.name} (Add): a constant added to anything but "
                                    "a MatMul's output is not supported; supported: a MatMul's "
                                    "bias, or the sum of two tensors")
            assert isinstance(d, Dense)
            bias = self.const[b].reshape(-1)
            if bias.size != d["units"]:
                raise FrontendError(f"node {node.name} (Add): bias of {bias.size} values for "
                                    f"{d['units']} outputs; supported: one per output")
            # the MatMul's node takes the bias (and its configured type, if float)
            src = next(n for n in self.m.graph.node if n.output and n.output[0] == a)
            d.weights["bias"] = self.weight(src, b, bias, "bias")
            if b not in self.quantized:
                d.set("exact", False)
                self.notes.append(f"{d.name}: a float bias quantized to the configured type")
            t = derived_type(d)
            assert t is not None
            d.output.ftype = t
            float32_exact(d, self.notes, "qonnx's float32 execution")
            self.out(node, x)
            return
        self.same_perm(node)
        n = Add(self.uniq(node.name), [self.x(node, 0), self.x(node, 1)], source=node.name)
        self.out(node, self.add_exact(n), keep_perm=True)

    def merge(self, node: Any) -> None:
        """Sub, Max, Min, Mean and Mul of tensors: the IR's exact :class:`Merge` (Mean of
        2^k inputs only: a shift)."""
        op = node.op_type
        if any(i in self.const for i in node.input):
            raise FrontendError(f"node {node.name} ({op}): a constant operand is not "
                                f"supported; supported: {op} of tensors")
        if len(node.input) < 2:
            raise FrontendError(f"node {node.name} ({op}): {len(node.input)} input; "
                                "supported: 2 or more")
        k = len(node.input)
        if op == "Mean" and k & (k - 1):
            raise FrontendError(f"node {node.name} (Mean): a mean of {k} inputs is not "
                                "exact; supported: 2, 4, 8, ... inputs (a shift)")
        self.same_perm(node)
        ins = [self.x(node, i) for i in range(k)]
        if len({t.shape for t in ins}) != 1:
            raise FrontendError(f"node {node.name} ({op}): inputs of shapes "
                                f"{', '.join(str(t.shape) for t in ins)}; supported: "
                                "one shape (no broadcasting)")
        mode = {"Sub": "sub", "Max": "max", "Min": "min", "Mean": "avg", "Mul": "mul"}[op]
        n = Merge(self.uniq(node.name), ins, mode=mode, source=node.name)
        self.out(node, self.add_exact(n), keep_perm=True)

    def clip(self, node: Any) -> None:
        """ONNX ``Clip`` with constant bounds on the input's grid: a Clip node (the bounds
        clamped into the input type's range, the output the exact type of the result)."""
        from ..intervals import derived_type

        x = self.x(node)
        t = x.ftype
        raw = [t.min_raw, t.max_raw]
        for i, what in ((1, "min"), (2, "max")):
            if i < len(node.input) and node.input[i]:
                c = self.c(node, i, what).reshape(-1)
                v = float(c[0]) * 2.0**t.frac
                if c.size != 1 or v != np.floor(v):
                    raise FrontendError(f"node {node.name} (Clip): {what} "
                                        f"{', '.join(str(np.float32(v)) for v in c[:4])} is "
                                        f"not one value on the input grid {t} (step "
                                        f"2^{-t.frac}); supported: a scalar multiple of the step")
                raw[i - 1] = min(max(int(v), t.min_raw), t.max_raw)
        if raw[0] > raw[1]:
            raise FrontendError(f"node {node.name} (Clip): min > max is not supported")
        n = Clip(self.uniq(node.name), [x], lo_raw=raw[0], hi_raw=raw[1], source=node.name)
        y = self.g.add(n, derived_type(n) or t)
        self.out(node, y, keep_perm=True)

    # -- convolutional nodes (channels-last in the IR) -----------------------------------
    def attrs(self, node: Any) -> dict[str, Any]:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def spatial_x(self, node: Any) -> Tensor:
        x = self.x(node)
        self.no_perm(node)
        if len(x.shape) < 2:
            raise FrontendError(f"node {node.name} ({node.op_type}): its input is not a "
                                "feature map (N, C, *spatial)")
        return x

    def window(self, node: Any, rank: int, k: tuple[int, ...]) -> tuple[tuple[int, ...],
                                                                        tuple[int, ...]]:
        """Strides and pads (before/after per axis) of a Conv / MaxPool node."""
        a = self.attrs(node)
        where = f"node {node.name} ({node.op_type})"
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise FrontendError(f"{where}: auto_pad {a['auto_pad']!r} is not supported; "
                                "supported: explicit pads (NOTSET)")
        if any(int(d) != 1 for d in a.get("dilations", [1] * rank)):
            raise FrontendError(f"{where}: dilations {list(a['dilations'])} are not "
                                "supported; supported: 1")
        if int(a.get("ceil_mode", 0)):
            raise FrontendError(f"{where}: ceil_mode=1 is not supported; supported: 0")
        st = tuple(int(v) for v in a.get("strides", [1] * rank))
        p = [int(v) for v in a.get("pads", [0] * (2 * rank))]
        pads = tuple(v for d in range(rank) for v in (p[d], p[rank + d]))
        if any(pb >= kk or pa >= kk for pb, pa, kk in zip(pads[::2], pads[1::2], k)):
            raise FrontendError(f"{where}: pads {p} are not smaller than the kernel {list(k)}")
        return st, pads

    def conv(self, node: Any) -> None:

        x = self.spatial_x(node)
        rank = len(x.shape) - 1
        w = self.c(node, 1, "weight")
        a = self.attrs(node)
        cin, cout = int(x.shape[-1]), int(w.shape[0])
        group = int(a.get("group", 1))
        k = tuple(int(v) for v in w.shape[2:])
        where = f"node {node.name} (Conv)"
        if len(k) != rank:
            raise FrontendError(f"{where}: a {rank}-D input with a {len(k)}-D kernel")
        depthwise = group == cin == cout and w.shape[1] == 1 and group > 1
        if group != 1 and not depthwise:
            raise FrontendError(f"{where}: group={group} is not supported; supported: 1, or "
                                "one group per channel (depthwise, one filter each)")
        st, pads = self.window(node, rank, k)
        # ONNX (C_out, C_in/group, *k) -> the IR's Keras layout (*k, C_in, C_out | 1)
        wk = np.transpose(w, (*range(2, 2 + rank), 1, 0))
        if depthwise:
            wk = np.transpose(w, (*range(2, 2 + rank), 0, 1))
        ws = {"weight": self.weight(node, node.input[1], wk, "weight")}
        has_b = len(node.input) > 2 and node.input[2] != ""
        if has_b:
            ws["bias"] = self.weight(node, node.input[2], self.c(node, 2, "bias").reshape(-1),
                                     "bias")
        exact = node.input[1] in self.quantized and (not has_b or node.input[2] in self.quantized)
        name = _safe(node.name)
        if not exact:
            self.notes.append(f"{name}: float weights quantized to the configured types")
        n = Conv(self.uniq(name), [x], ws, filters=cout, kernel=k, strides=st, pads=pads,
                 depthwise=depthwise, source=name, exact=exact)
        # (a per-node reuse / strategy is for MatMul / Gemm nodes, checked in from_model;
        # --fit chooses a Conv's)
        self.out(node, self.add_exact(n))

    def pool(self, node: Any) -> None:
        x = self.spatial_x(node)
        rank = len(x.shape) - 1
        op = node.op_type
        name = _safe(node.name)
        if op == "MaxPool":
            a = self.attrs(node)
            if int(a.get("storage_order", 0)):
                raise FrontendError(f"node {node.name} (MaxPool): storage_order=1 is not "
                                    "supported")
            k = tuple(int(v) for v in a["kernel_shape"])
            st, pads = self.window(node, rank, k)
            n: Any = Pool(self.uniq(name), [x], mode="max", kernel=k, strides=st, pads=pads,
                          source=name)
            self.out(node, self.g.add(n, x.ftype))
            return
        mode = "max" if op == "GlobalMaxPool" else "avg"
        t = x.ftype
        if mode == "avg":
            area = int(np.prod(x.shape[:-1]))
            if area & (area - 1):
                raise FrontendError(f"node {node.name} (GlobalAveragePool): an average over "
                                    f"{area} positions is not exact; supported: a power-of-two "
                                    "area")
            lg = area.bit_length() - 1
            t = FixedType(t.width + lg, t.integer, t.signed)
        # (N, C, 1, 1) in ONNX; (C,) in the IR, which a Flatten leaves as it is
        self.out(node, self.g.add(GlobalPool(self.uniq(name), [x], mode=mode, source=name), t))

    def pad_slice(self, node: Any) -> None:
        """A constant-zero Pad or a unit-step Slice of the spatial axes of a feature map:
        Crop (negative pads, the slice) then Pad (positive pads)."""
        x = self.spatial_x(node)
        rank, where = len(x.shape) - 1, f"node {node.name} ({node.op_type})"
        ax = list(range(rank + 2))  # ONNX (N, C, *spatial)
        before, after = [0] * (rank + 2), [0] * (rank + 2)
        if node.op_type == "Pad":  # (pads in an attribute up to opset 10, then inputs)
            at = self.attrs(node)
            mode = at.get("mode", b"constant")
            value = (self.c(node, 2, "constant value") if len(node.input) > 2 and node.input[2]
                     else at.get("value", 0.0))
            if mode not in (b"constant", "constant") or np.any(value != 0):
                raise FrontendError(f"{where}: mode {mode!r} with value {value} is not "
                                    "supported; supported: mode constant with value 0")
            p = [int(v) for v in (at["pads"] if "pads" in at else self.c(node, 1, "pads"))]
            axes = ([int(d) for d in self.c(node, 3, "axes")] if len(node.input) > 3
                    and node.input[3] else ax)
            for k, d in enumerate(axes):  # a negative axis counts from the end
                before[d], after[d] = p[k], p[len(axes) + k]
        else:
            starts = [int(v) for v in self.c(node, 1, "starts")]
            ends = [int(v) for v in self.c(node, 2, "ends")]
            axes = ([int(a) for a in self.c(node, 3, "axes")] if len(node.input) > 3
                    and node.input[3] else ax[:len(starts)])
            steps = ([int(v) for v in self.c(node, 4, "steps")] if len(node.input) > 4
                     and node.input[4] else [1] * len(starts))
            if any(s != 1 for s in steps):
                raise FrontendError(f"{where}: steps {steps} are not supported; supported: 1")
            dims = (1, x.shape[-1], *x.shape[:-1])
            for s, e, d in zip(starts, ends, axes):
                n = dims[d]
                s, e = (min(max(v + n if v < 0 else v, 0), n) for v in (s, e))
                before[d], after[d] = -s, -(n - max(e, s))
        if any(before[:2]) or any(after[:2]):
            raise FrontendError(f"{where}: it changes the batch or channel axis; supported: "
                                "the spatial axes only")
        both = [v for d in range(2, rank + 2) for v in (before[d], after[d])]
        crops = tuple(max(-v, 0) for v in both)
        if any(crops):
            if any(a + b >= n for a, b, n in zip(crops[::2], crops[1::2], x.shape[:-1])):
                raise FrontendError(f"{where}: it leaves nothing of the {x.shape[:-1]} input")
            x = self.g.add(Crop(self.uniq(_safe(node.name)), [x], crops=crops,
                                source=node.name), x.ftype)
        pads = tuple(max(v, 0) for v in both)
        if any(pads):
            x = self.g.add(Pad(self.uniq(_safe(node.name)), [x], pads=pads, source=node.name),
                           x.ftype)
        self.out(node, x)

    def reshape(self, node: Any) -> None:
        x = self.x(node)
        known = self.m.get_tensor_shape(node.output[0])
        if known is None:
            raise FrontendError(f"node {node.name} ({node.op_type}): its output shape is "
                                "unknown (ONNX shape inference could not tell)")
        shape = tuple(int(d) for d in known[1:])
        flat = node.op_type == "Flatten" or len(shape) == 1
        if not flat and self.spatial:
            raise FrontendError(f"node {node.name} (Reshape): a reshape to {shape} in a "
                                "convolutional model is not supported; supported: flattening")
        if flat:
            shape = (int(np.prod(x.shape)),)
        if len(x.shape) == 1:  # already flat (a global pool's (C, 1, 1) is (C,) here)
            self.out(node, x, keep_perm=True)
            return
        self.out(node, self.g.add(Reshape(self.uniq(node.name), [x], target_shape=shape,
                                          source=node.name), x.ftype))
        if self.spatial:  # the IR flattens (*spatial, C); ONNX flattens (C, *spatial)
            onnx_index = np.arange(x.size).reshape(x.shape[-1], *x.shape[:-1])
            self.perm[node.output[0]] = onnx_index.transpose(
                *range(1, len(x.shape)), 0).reshape(-1)

    def node(self, node: Any) -> None:
        op = node.op_type
        if node.name in self.done:
            return
        if all(i in self.const or i == "" for i in node.input) and op not in ("Quant",
                                                                             "BipolarQuant"):
            self.fold(node)
            return
        ins = [i for i in node.input if i]
        if any(i in self.host_t for i in ins):
            self.host_node(node)
            return
        if any(i in self.pending for i in ins):
            self.pending_node(node)
            return
        if any(i in self.scaled for i in ins):
            self.scaled_node(node)
            return
        if op in ("MatMul", "Gemm", "Conv") and ins[0] in self.t and self.float_weight(node):
            # float weight scales (or a float bias): an exact integer sum, scales absorbed
            self.scaled[ins[0]] = Scaled(self.t[ins[0]], 1.0)
            self.scaled_node(node)
            return
        if ins and ins[0] in self.t and self.absorbs(node):
            # float arithmetic of an exact sum: absorbed at the next quantiser
            x = self.t[ins[0]]
            self.pending[ins[0]] = Pending(x, np.ones(x.shape[-1]))
            self.pending_node(node)
            return
        self.convert_node(node)

    def float_weight(self, node: Any) -> bool:
        """Whether a MatMul / Gemm / Conv has quantised weights with a float (not power of
        two) scale, or a float bias: its scales wait for the next quantiser."""
        w = node.input[1] if len(node.input) > 1 else ""
        if w not in self.wint:
            return False
        if any(_po2_shift(float(v)) is None for v in np.unique(self.wint[w][1])):
            return True
        b = node.input[2] if node.op_type != "MatMul" and len(node.input) > 2 else ""
        return bool(b) and b not in self.quantized

    def absorbs(self, node: Any) -> bool:
        """Whether ``node`` on a tensor nnfab converted exactly starts float arithmetic that
        the next quantiser absorbs (instead of an IR node of its own)."""
        op = node.op_type
        consts = [i for i in node.input[1:] if i in self.const]
        if op == "Quant":
            scale = self.c(node, 1, "scale")
            return np.unique(scale).size != 1 or _po2_shift(float(scale.flat[0])) is None
        if op in ("BatchNormalization", "Softmax"):
            return True
        if op in ("Mul", "Div", "Sub") and node.input[0] in self.t:
            return bool(consts)
        if op == "Add" and node.input[0] in self.t:
            return any(c not in self.quantized for c in consts)
        return False

    def convert_node(self, node: Any) -> None:
        """``node`` on tensors whose IR values equal ONNX's exactly."""
        op = node.op_type
        if op == "Quant":
            self.quant(node)
        elif op == "BipolarQuant":
            self.bipolar(node)
        elif op == "MatMul":
            self.dense(node, self.c(node, 1, "weight"), node.input[1])
        elif op == "Gemm":
            a = {x.name: x for x in node.attribute}
            get = (lambda k, d: a[k].f if k in a and a[k].type == 1 else (a[k].i if k in a
                                                                          else d))
            if get("alpha", 1.0) != 1.0 or get("beta", 1.0) != 1.0 or get("transA", 0):
                raise FrontendError(f"node {node.name} (Gemm): alpha, beta != 1 or transA is "
                                    "not supported; supported: alpha=beta=1, transB")
            w = self.c(node, 1, "weight")
            w = w.T if get("transB", 0) else w
            bias = self.const[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            self.dense(node, w, node.input[1], bias, node.input[2] if bias is not None else None)
        elif op == "Add":
            self.add(node)
        elif op in ("Sub", "Max", "Min", "Mean", "Mul"):
            self.merge(node)
        elif op in ("Sigmoid", "Tanh"):
            self.act_quant(node)
        elif op == "Relu":
            x = self.x(node)
            self.out(node, self.g.add(Relu(self.uniq(node.name), [x], source=node.name),
                                      x.ftype), keep_perm=True)
        elif op == "Clip":
            self.clip(node)
        elif op in ("Flatten", "Reshape"):
            self.reshape(node)
        elif op == "Identity":
            self.out(node, self.x(node), keep_perm=True)
        elif op == "Conv":
            self.conv(node)
        elif op in ("MaxPool", "GlobalAveragePool", "GlobalMaxPool"):
            self.pool(node)
        elif op in ("Pad", "Slice"):
            self.pad_slice(node)
        else:
            raise FrontendError(f"node {node.name} ({op}) is not supported; supported: "
                                f"{SUPPORTED_OPS}")

    # -- streamlining: host pre-processing, integer sums, thresholds, host post-processing
    def host_op(self, node: Any) -> dict[str, Any]:
        """The host op of ``node`` (float32, as ONNX specifies it) or a one-line refusal."""
        op = node.op_type
        d: dict[str, Any] = {"op": op, "node": node.name, "onnx_op": op}
        if op in ("Mul", "Div", "Add", "Sub"):
            k = [i for i, n in enumerate(node.input) if n in self.const]
            if len(k) != 1 or len(node.input) != 2:
                raise FrontendError(f"node {node.name} ({op}): on the host only with one "
                                    "constant operand; supported: a tensor and a constant")
            d["const"] = self.const[node.input[k[0]]].astype(np.float32).tolist()
            d["const_first"] = k[0] == 0
        elif op in ("Reshape", "Flatten"):
            d["op"] = "Reshape"
            d["shape"] = [int(v) for v in self.m.get_tensor_shape(node.output[0])[1:]]
        elif op == "Softmax":
            a = self.attrs(node)
            opset = max((o.version for o in self.m.model.opset_import if o.domain in ("", "ai.onnx")),
                        default=13)
            d["axis"] = int(a.get("axis", -1 if opset >= 13 else 1))
            shape = self.m.get_tensor_shape(node.output[0])
            if shape is None or len(shape) != 2 or d["axis"] not in (1, -1):
                raise FrontendError(f"node {node.name} (Softmax): supported on the host over "
                                    "the last axis of a flat output")
            d["axis"] = -1
        elif op not in ("Relu", "Identity"):
            raise FrontendError(f"node {node.name} ({op}): not supported on the host; "
                                f"supported before the first quantiser and after the last "
                                f"integer sum: {', '.join(HOST_OPS)}")
        return d

    def host_node(self, node: Any) -> None:
        """A node before the first quantiser: host pre-processing (or that quantiser)."""
        op = node.op_type
        if op in ("Quant", "BipolarQuant"):
            self.first_quant(node)
            return
        if sum(i in self.host_t for i in node.input) != 1:
            raise FrontendError(f"node {node.name} ({op}): it combines two float inputs before "
                                "the first quantiser; supported: one input and constants")
        self.pre.append(self.host_op(node))
        self.host_t.add(node.output[0])

    def first_quant(self, node: Any) -> None:
        """The first quantiser: the host computes its integers (as QONNX does, float32);
        they are what the hardware input receives."""
        where = f"node {node.name} ({node.op_type})"
        if node.op_type == "Quant":
            scale, zp, bits, signed, narrow, rmode = self.quant_args(node)
            if np.any(zp != 0):
                raise FrontendError(f"{where}: zero point {np.unique(zp)[:4].tolist()} is not "
                                    "supported; supported: 0")
            if rmode not in ROUNDING:
                raise FrontendError(f"{where}: rounding_mode {rmode} is not supported; "
                                    f"supported: {', '.join(ROUNDING)}")
            b = int(bits.flat[0]) if bits.size == 1 else 0
            if b < 2 or float(bits.flat[0]) != b:
                raise FrontendError(f"{where}: bit width {bits.tolist()} is not supported on "
                                    "the model input; supported: one integer >= 2")
            lo = -(2 ** (b - 1)) + int(narrow) if signed else 0
            hi = 2 ** (b - 1) - 1 if signed else 2**b - 1 - int(narrow)
            op = {"op": "Quant", "scale": scale.astype(np.float32).tolist(), "zeropt": 0.0,
                  "min": lo, "max": hi, "rounding": rmode}
            ftype = FixedType(b, b, signed)
        else:
            scale = self.c(node, 1, "scale")
            op = {"op": "BipolarQuant", "scale": scale.astype(np.float32).tolist()}
            ftype = FixedType(2, 2)
        if np.unique(scale).size != 1 or float(scale.flat[0]) <= 0:
            raise FrontendError(f"{where}: scale {np.unique(scale)[:4].tolist()} is not "
                                "supported on the model input; supported: one positive scale")
        self.pre.append({**op, "node": node.name, "onnx_op": node.op_type})
        shape = tuple(int(d) for d in self.m.get_tensor_shape(node.output[0])[1:])
        ir_shape = shape
        if self.spatial and len(shape) >= 2:
            perm = [*range(1, len(shape)), 0]
            ir_shape = tuple(shape[p] for p in perm)
            self.g.meta["input_layout"] = {"shape": list(shape), "perm": perm}
        iname = self.m.graph.input[0].name
        t = self.g.add(Input(_safe(iname), [], shape=ir_shape, source=node.name), ftype)
        self.scaled[node.output[0]] = Scaled(t, float(np.float32(scale.flat[0])))

    def scaled_node(self, node: Any) -> None:
        """A node on a quantiser's integers with a float scale."""
        op = node.op_type
        sc = self.scaled.get(node.input[0])
        if sc is not None and op in ("MatMul", "Gemm", "Conv"):
            self.int_layer(node, sc)
            return
        others = [i for i in node.input[1:] if i]
        if sc is not None and op in INTEGER_OPS and all(i in self.const for i in others):
            self.t[node.input[0]] = sc.t
            try:
                self.convert_node(node)
            finally:
                del self.t[node.input[0]]
            self.scaled[node.output[0]] = Scaled(self.t.pop(node.output[0]), sc.scale)
            return
        if sc is not None and (op in ("Quant", "BipolarQuant") or op in FLOAT_OPS):
            self.pending[node.input[0]] = Pending(sc.t, np.full(sc.t.shape[-1], sc.scale))
            self.pending_node(node)
            return
        raise FrontendError(f"node {node.name} ({op}) on a quantiser's integers with a float "
                            "scale is not supported; supported: MatMul, Gemm, Conv, "
                            f"{', '.join(INTEGER_OPS)}, the float ops {', '.join(FLOAT_OPS)} "
                            "with constants, and a Quant / BipolarQuant")

    def int_layer(self, node: Any, sc: Scaled) -> None:
        """A MatMul / Gemm / Conv of a quantiser's integers and a weight quantiser's
        integers: an exact integer sum; the two scales (per output channel) and a bias
        wait as float arithmetic for the next quantiser."""
        op, wname = node.op_type, node.input[1]
        where = f"node {node.name} ({op})"
        if wname not in self.wint:
            raise FrontendError(f"{where}: its weight is not a Quant / BipolarQuant of a "
                                "constant with a positive scale and zero point 0; supported: "
                                "quantised weights")
        ints, full = self.wint[wname]
        a = self.attrs(node)
        if op == "Gemm":
            if (float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0
                    or int(a.get("transA", 0))):
                raise FrontendError(f"{where}: alpha, beta != 1 or transA is not supported; "
                                    "supported: alpha=beta=1, transB")
            if int(a.get("transB", 0)):
                ints, full = ints.T, full.T
        # per output channel: the last axis of a MatMul weight, the first of a Conv's
        ch = np.moveaxis(full, 0, -1) if op == "Conv" else full
        rows = ch.reshape(-1, ch.shape[-1])
        if not np.all(rows == rows[:1]):
            raise FrontendError(f"{where}: its weight scale varies along an input axis; "
                                "supported: one scale per tensor or per output channel")
        key = f"{wname}#int"
        self.const[key] = ints if op != "Gemm" or not int(a.get("transB", 0)) else ints.T
        self.quantized.add(key)
        import onnx

        n2 = onnx.NodeProto.FromString(node.SerializeToString())
        n2.input[1] = key
        bias = None
        if op in ("Gemm", "Conv") and len(node.input) > 2 and node.input[2]:
            bias = node.input[2]
            del n2.input[2]
        self.t[node.input[0]] = sc.t
        try:
            if op == "Conv":
                self.conv(n2)
            else:
                w = self.const[key].T if op == "Gemm" and int(a.get("transB", 0)) else \
                    self.const[key]
                self.dense(n2, w, key)
        finally:
            del self.t[node.input[0]]
        acc = self.t.pop(node.output[0])
        p = Pending(acc, float(np.float32(sc.scale)) * rows[0].astype(np.float32)
                    .astype(np.float64))
        if op != "Conv":
            wf = self.const[wname].T if op == "Gemm" and int(a.get("transB", 0)) else \
                self.const[wname]
            p.origin = (sc, wf.astype(np.float32), acc.producer,
                        self.perm.get(node.input[0]))
        if bias is not None:
            from onnx import helper

            b = self.const[bias].reshape(-1)
            bkey = f"{bias}#chan"
            self.const[bkey] = b.reshape(-1, *([1] * (len(acc.shape) - 1)))
            p.nodes.append(helper.make_node("Add", [node.output[0], bkey],
                                            [f"{node.output[0]}#bias"], name=node.name))
        self.pending[node.output[0]] = p

    def pending_node(self, node: Any) -> None:
        """A node on float arithmetic of an exact sum."""
        op = node.op_type
        act = next(i for i in node.input if i in self.pending)
        p = self.pending[act]
        if op in ("Quant", "BipolarQuant") and act == node.input[0]:
            self.readoff(node, p)
            return
        others = [i for i in node.input if i and i != act]
        if op in FLOAT_OPS and all(i in self.const for i in others):
            self.pending[node.output[0]] = Pending(p.t, p.scale, [*p.nodes, node], p.origin)
            return
        if op in ("Reshape", "Flatten", "Identity") and len(p.t.shape) == 1:
            self.pending[node.output[0]] = p
            return
        what = ", ".join(n.name for n in p.nodes) or (p.t.producer.name if p.t.producer
                                                     else p.t.name)
        raise FrontendError(f"node {node.name} ({op}): its input is float arithmetic of an "
                            f"integer sum ({what}), not a quantiser's output; supported: a "
                            f"Quant / BipolarQuant after {', '.join(FLOAT_OPS)} with constants,"
                            " or these at the model's end (host post-processing)")

    def acc_range(self, t: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Raw bounds ``(lo, hi)`` per channel of the exact sum ``t``: interval arithmetic
        on its integer weights and its input's range (else its type's range)."""
        ft, c = t.ftype, t.shape[-1]
        lo = np.full(c, ft.min_raw, dtype=np.int64)
        hi = np.full(c, ft.max_raw, dtype=np.int64)
        d = t.producer
        if isinstance(d, (Dense, Conv)):
            w = d.weights["weight"].values()
            if isinstance(d, Conv) and w.shape[-1] == 1 and w.shape[-2] == c and c > 1:
                w = w[..., 0]  # depthwise: (*k, C)
            w = w.reshape(-1, c)
            xt = d.input.ftype
            a, b = w * xt.min_value, w * xt.max_value
            vlo, vhi = np.minimum(a, b).sum(axis=0), np.maximum(a, b).sum(axis=0)
            if "bias" in d.weights:
                bv = d.weights["bias"].values().reshape(-1)
                vlo, vhi = vlo + bv, vhi + bv
            lo = np.maximum(lo, np.floor(np.ldexp(vlo, ft.frac)).astype(np.int64))
            hi = np.minimum(hi, np.ceil(np.ldexp(vhi, ft.frac)).astype(np.int64))
        return lo, np.maximum(hi, lo)

    def readoff(self, q: Any, p: Pending) -> None:
        """The float arithmetic after an exact sum and the quantiser ``q`` ending it: a
        step function of the sum per channel, read off qonnx's execution of those nodes on
        every value the sum can take, as one per-channel Threshold."""
        names = [n.name for n in p.nodes] + [q.name]
        where = f"nodes {', '.join(names)}"
        if q.op_type == "Quant":
            scale, zp, bits, signed, _narrow, _rmode = self.quant_args(q)
            if np.any(zp != 0) or np.unique(scale).size != 1 or float(scale.flat[0]) <= 0:
                raise FrontendError(f"node {q.name} (Quant): scale {np.unique(scale)[:4].tolist()}"
                                    f" and zero point {np.unique(zp)[:4].tolist()}; supported "
                                    "on activations: one positive scale and zero point 0")
            b = int(bits.flat[0])
            tout = FixedType(2, 2) if b == 1 and signed else FixedType(b, b, signed)
        else:
            scale = self.c(q, 1, "scale")
            if np.unique(scale).size != 1 or float(scale.flat[0]) <= 0:
                raise FrontendError(f"node {q.name} (BipolarQuant): scale "
                                    f"{np.unique(scale)[:4].tolist()}; supported on "
                                    "activations: one positive scale")
            tout = FixedType(2, 2)
        s_out = float(np.float32(scale.flat[0]))
        t = p.t
        lo, hi = self.acc_range(t)
        n = hi - lo + 1
        if int(n.max()) > MAX_READOFF_VALUES:
            raise FrontendError(f"{where}: the integer sum {t.name} reaches {int(n.max())} "
                                f"values in a channel; supported: at most {MAX_READOFF_VALUES} "
                                "(narrower weights or inputs)")
        c, k_all = len(lo), int(n.max())
        unit = np.ldexp(p.scale, -t.ftype.frac)  # value of one raw step, per channel
        rank = len(t.shape)
        levels = np.empty((k_all, c), dtype=np.int64)
        chunk = max(1, (1 << 22) // c)
        for k0 in range(0, k_all, chunk):
            raw = np.minimum(lo[None, :] + np.arange(k0, min(k_all, k0 + chunk))[:, None],
                             hi[None, :])
            v = (raw * unit[None, :]).astype(np.float32)
            if rank > 1:  # ONNX (N, C, *spatial) with one position
                v = v.reshape(*v.shape, *([1] * (rank - 1)))
            y = self.execute_chain([*p.nodes, q], v).reshape(len(raw), c)
            qi = np.round(y / s_out)
            if not np.array_equal((qi * s_out).astype(np.float32), y.astype(np.float32)):
                raise FrontendError(f"{where}: the quantiser's outputs are not its integers "
                                    "times its scale")
            levels[k0:k0 + len(raw)] = qi.astype(np.int64)
        thr_rows, lev_rows = [], []
        for ci in range(c):
            yv = levels[:n[ci], ci]
            d = np.diff(yv)
            if np.any(d > 0) and np.any(d < 0):
                at = int(np.flatnonzero(np.diff(np.sign(d[d != 0])) != 0)[0])
                raise FrontendError(f"{where}: not monotone in the integer sum {t.name} "
                                    f"(channel {ci}, direction changes after step {at}); "
                                    "supported: monotone float arithmetic (e.g. a positive or "
                                    "negative BatchNorm scale per channel)")
            steps = np.flatnonzero(d != 0) + 1
            thr_rows.append(lo[ci] + steps)
            lev_rows.append(yv[np.concatenate([[0], steps])])
        tn = max(len(r) for r in thr_rows)
        thr = np.array([np.concatenate([r, np.full(tn - len(r), t.ftype.max_raw)])
                        for r in thr_rows], dtype=np.int64).reshape(c, tn)
        lev = np.array([np.concatenate([r, np.full(tn + 1 - len(r), r[-1])]) for r in lev_rows],
                       dtype=np.int64)
        ws = {"thresholds": Weight(thr, FixedType(t.ftype.width, t.ftype.integer,
                                                  t.ftype.signed)),
              "levels": Weight(lev, tout)}
        fn = " + ".join([n.op_type for n in p.nodes] + [q.op_type])
        out = self.g.add(Threshold(self.uniq(q.name), [t], ws, function=fn, source=q.name),
                         tout)
        self.scaled[q.output[0]] = Scaled(out, s_out)

    def execute_chain(self, nodes: list[Any], x: np.ndarray) -> np.ndarray:
        """qonnx's ``execute_onnx`` of the chain ``nodes`` (each reads the one before and
        constants of the model) on the float32 ``x`` (any shape, batch first)."""
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.transformation.infer_shapes import InferShapes

        chain, prev, inits = [], "chain_in", {}
        for k, n in enumerate(nodes):
            n2 = onnx.NodeProto.FromString(n.SerializeToString())
            for j, name in enumerate(n2.input):
                if name in self.const:
                    if name not in inits:
                        inits[name] = numpy_helper.from_array(
                            self.const[name].astype(np.float32), name)
                elif name:
                    n2.input[j] = prev
            prev = f"chain_{k}"
            del n2.output[:]
            n2.output.append(prev)
            chain.append(n2)
        g = helper.make_graph(
            chain, "chain", [helper.make_tensor_value_info("chain_in", TensorProto.FLOAT,
                                                           list(x.shape))],
            [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)], list(inits.values()))
        m = ModelWrapper(helper.make_model(g, opset_imports=list(self.m.model.opset_import)))
        m = m.transform(InferShapes())
        return np.asarray(execute_onnx(m, {"chain_in": x.astype(np.float32)})[prev],
                          np.float64)

    def finish(self, oname: str) -> Tensor:
        """The hardware output for the model output ``oname`` and the host post-processing
        after it (``g.meta["host"]``)."""
        post: list[dict[str, Any]] = []
        if oname in self.scaled:
            sc = self.scaled[oname]
            out = sc.t
            post.append({"op": "Dequant", "scale": [sc.scale], "node": oname,
                         "onnx_op": "Quant"})
        elif oname in self.pending:
            p = self.pending[oname]
            exact = (p.t.ftype.width <= 24 and all(_po2_shift(float(v)) is not None
                                                   for v in p.scale))
            if exact:  # float32(sum * scale) is ONNX's value exactly
                out = p.t
                if np.any(p.scale != 1):
                    post.append({"op": "Dequant", "scale": p.scale.astype(np.float32).tolist(),
                                 "node": p.t.name, "onnx_op": "scale"})
            elif p.origin is not None:  # ONNX's float32 MatMul rounds: the host runs it
                sc, wf, dn, perm = p.origin
                self.g.remove(dn)
                out = sc.t
                post.append({"op": "Dequant", "scale": [sc.scale], "node": dn.name,
                             "onnx_op": "Quant"})
                if perm is not None:  # back to ONNX's order: its sum's order of additions
                    post.append({"op": "Gather", "index": np.argsort(perm).tolist(),
                                 "node": dn.name, "onnx_op": "Flatten"})
                post.append({"op": "MatMul", "weight": wf.tolist(), "node": dn.name,
                             "onnx_op": "MatMul"})
                self.notes.append(f"{dn.name}: a float-scale MatMul at the end runs on the "
                                  "host (ONNX's float32 sum is no function of the integer sum)")
            else:
                raise FrontendError(f"model output {oname!r}: a Conv's sum with float scales; "
                                    "supported at the end: a MatMul / Gemm, or power-of-two "
                                    "scales")
            for n in p.nodes:
                post.append(self.host_op(n))
        elif oname in self.host_t:
            raise FrontendError(f"model output {oname!r}: no quantiser on the way; supported: "
                                "a Quant / BipolarQuant before the first MatMul / Conv")
        else:
            return self.t[oname]
        if self.pre or post:
            self.g.meta["host"] = {
                "pre": self.pre, "post": post,
                "input_shape": [int(d) for d in
                                self.m.get_tensor_shape(self.m.graph.input[0].name)[1:]]}
        return out

    def act_quant(self, node: Any) -> None:
        """A Sigmoid / Tanh and the activation Quant right after it: ``Quant(f(x))`` is a
        monotone step function of ``x``, so one Threshold computes it exactly; its
        thresholds are read off qonnx's own execution of the two nodes on every value of
        ``x``'s type."""
        users = [n for n in self.m.graph.node if node.output[0] in n.input]
        q = users[0] if len(users) == 1 else None
        if q is None or q.op_type != "Quant" or node.output[0] == self.m.graph.output[0].name:
            raise FrontendError(
                f"node {node.name} ({node.op_type}): supported only with an activation Quant "
                "right after it and nothing else reading it (the two become exact thresholds)")
        self.quant_type(q)  # a power-of-two scale, zero point 0 (or the Quant's refusal)
        x = self.x(node)
        ws = threshold_weights(f"node {node.name} ({node.op_type} -> Quant {q.name})",
                               x.ftype, lambda v: self.execute([node, q], v))
        t = self.g.add(Threshold(self.uniq(q.name), [x], ws, function=f"{node.op_type} + Quant",
                                 source=q.name), ws["levels"].ftype)
        self.out(q, t)
        if node.input[0] in self.perm:
            self.perm[q.output[0]] = self.perm[node.input[0]]
        self.done.add(q.name)

    def execute(self, nodes: list[Any], x: np.ndarray) -> np.ndarray:
        """qonnx's ``execute_onnx`` of ``nodes`` (a chain, constants from the model) on
        the 1-D float32 ``x``."""
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.transformation.infer_shapes import InferShapes

        inits = [numpy_helper.from_array(self.const[i].astype(np.float32), i)
                 for n in nodes for i in n.input if i in self.const]
        first, last = nodes[0].input[0], nodes[-1].output[0]
        g = helper.make_graph(
            [onnx.NodeProto.FromString(n.SerializeToString()) for n in nodes], "chain",
            [helper.make_tensor_value_info(first, TensorProto.FLOAT, [len(x)])],
            [helper.make_tensor_value_info(last, TensorProto.FLOAT, [len(x)])], inits)
        m = ModelWrapper(helper.make_model(g, opset_imports=list(self.m.model.opset_import)))
        m = m.transform(InferShapes())
        return np.asarray(execute_onnx(m, {first: x.astype(np.float32)})[last], np.float64)

    def fold(self, node: Any) -> None:
        """A node of constants only (qonnx's cleanup leaves a few, e.g. a Transpose)."""
        op = node.op_type
        v = [self.const[i] for i in node.input if i]
        if op == "Transpose":
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
            r = np.transpose(v[0], perm)
        elif op in ("Identity", "Reshape", "Flatten"):
            shape = self.m.get_tensor_shape(node.output[0])
            r = v[0].reshape(shape)
        else:
            raise FrontendError(f"node {node.name} ({op}) on constants is not supported; "
                                "supported: Transpose, Reshape, Identity")
        self.const[node.output[0]] = r
        if node.input[0] in self.quantized:
            self.quantized.add(node.output[0])

    def convert(self) -> Graph:
        gr = self.m.graph
        if len(gr.input) != 1 or len(gr.output) != 1:
            raise FrontendError(f"model has {len(gr.input)} inputs and {len(gr.output)} "
                                "outputs; supported: one input and one output")
        iname = gr.input[0].name
        shape = tuple(int(d) for d in self.m.get_tensor_shape(iname)[1:])
        first = next((n for n in gr.node if iname in n.input), None)
        if first is None or not (first.op_type == "BipolarQuant" or (
                first.op_type == "Quant" and not self.absorbs(first))):
            # float work before the first quantiser: host pre-processing
            self.host_t.add(iname)
            for node in gr.node:
                self.node(node)
            return self.outputs(gr.output[0].name)
        t = self.quant_type(first) if first.op_type == "Quant" else None
        if t is None:
            t = self.var(iname, "input")
        ir_shape = shape
        if self.spatial and len(shape) >= 2:
            # the IR (and the hardware stream) is channels-last, as FINN's is; inputs are
            # given in the ONNX layout (N, C, *spatial) and transposed on the way in
            perm = [*range(1, len(shape)), 0]
            ir_shape = tuple(shape[p] for p in perm)
            self.g.meta["input_layout"] = {"shape": list(shape), "perm": perm}
        self.t[iname] = self.g.add(Input(_safe(iname), [], shape=ir_shape, source=iname), t)
        for node in gr.node:
            self.node(node)
        return self.outputs(gr.output[0].name)

    def outputs(self, oname: str) -> Graph:
        if not any(oname in d for d in (self.t, self.scaled, self.pending, self.host_t)):
            raise FrontendError(f"model output {oname!r} is not computed from the input")
        out = self.finish(oname)
        if oname in self.perm or (self.spatial and len(out.shape) > 1):
            raise FrontendError(f"model output {oname!r} is a feature map; supported: a flat "
                                "output (a MatMul / Gemm / global pooling at the end)")
        self.g.outputs = [out]
        self.g.meta["notes"] = self.notes
        softmax = any(o["op"] == "Softmax" for o in self.g.meta.get("host", {}).get("post", []))
        if softmax:
            self.notes.append("the host's float32 Softmax may differ from onnxruntime's in the "
                              "last bit (argmax and the rest are the same arithmetic)")
        self.g.meta["fully_quantized"] = all(n["exact"] for n in self.g.nodes) and not softmax
        return self.g


def from_model(m: Any, cfg: Config, name: str | None = None) -> Graph:
    """Convert a cleaned-up qonnx ``ModelWrapper`` (the IR graph is ``name``, else the ONNX
    graph's name)."""
    name = name or m.graph.name or "qonnx_model"
    names = [_safe(n.name) for n in m.graph.node]
    unknown = sorted(set(cfg.layers) - set(names))
    if unknown:
        raise FrontendError(f"config layers.{unknown[0]}: the model has no node {unknown[0]!r}; "
                            f"its nodes: {', '.join(names)}")
    for key, lc in cfg.layers.items():
        op = next(n.op_type for n in m.graph.node if _safe(n.name) == key)
        for k in ("reuse", "strategy", "multipliers", "skip_zeros"):
            if getattr(lc, k) is not None and op not in ("MatMul", "Gemm"):
                raise FrontendError(f"config layers.{key}.{k}: node {key} ({op}) has no {k}; "
                                    "it applies to MatMul and Gemm nodes; remove it")
    b = _Builder(m, cfg, name)
    g = b.convert()
    check_types_read(b.reads, {_safe(n.name): n.op_type for n in m.graph.node}, "node",
                     "Quant nodes", "no node of the model")
    g.meta["config"] = {"io": cfg.io, "strategy": cfg.strategy, "reuse": cfg.reuse}
    return g


def convert_file(path: str, cfg: Config) -> tuple[Graph, dict[str, float]]:
    """Load and convert a ``.onnx`` QONNX file; returns the graph and timings (seconds)."""
    t0 = time.perf_counter()
    m = load_model(path)
    t1 = time.perf_counter()
    g = from_model(m, cfg, os.path.splitext(os.path.basename(path))[0])
    return g, {"load_model": t1 - t0, "frontend": time.perf_counter() - t1}
