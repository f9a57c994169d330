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
BatchNormalization  ScaleShift (float, in the configured types; folded by fold_batchnorm)
Add                 a constant after a MatMul: that Dense's bias; two tensors: Add
Relu                Relu
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
that ``verify`` compares with. A weight scale that is not a power of two gives weights
that are the float32 values qonnx computes, exactly, on a fine binary grid (wide); a
layer whose exact sums need more than 24 bits is marked as possibly deviating from the
float32 source, and ``verify`` reports what it measures. Scales that are not powers of two, zero points other than
0, and every other op are refused in one line naming the node.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from ..config import Config
from ..fixed import FixedType, Overflow, Rounding
from ..ir import (
    Add,
    Binarize,
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
    ScaleShift,
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
                 "GlobalMaxPool, Pad / Slice (of spatial axes), BatchNormalization, Add (a bias or two tensors), Sub, Max, Min, "
                 "Mean (of 2^k tensors), Mul (of tensors), Relu, "
                 "Sigmoid / Tanh (with the Quant after them), Flatten, Reshape, Identity")
#: ops on NCHW tensors: a model with one of them is converted channels-last
SPATIAL_OPS = ("Conv", "MaxPool", "GlobalAveragePool", "GlobalMaxPool", "Pad", "Slice")
QONNX_DOMAIN = "qonnx.custom_op.general"
ROUNDING = {"ROUND": Rounding.RND_CONV, "HALF_EVEN": Rounding.RND_CONV,
            "FLOOR": Rounding.TRN, "HALF_UP": Rounding.RND_INF,
            "HALF_DOWN": Rounding.RND_ZERO, "DOWN": Rounding.TRN_ZERO}


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
        if any((p is None) != (perms[0] is None)
               or (p is not None and not np.array_equal(p, perms[0])) for p in perms):
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
            v = np.where(self.const[node.input[0]] >= 0, 1.0, -1.0) * scale
            self.const[node.output[0]] = v
            self.quantized.add(node.output[0])
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
        from ..passes.infer_precision import _derived_type

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
            t = _derived_type(d)
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

    def batchnorm(self, node: Any) -> None:
        x = self.x(node)
        self.no_perm(node)
        a = self.attrs(node)
        gamma, beta, mean, var = (self.c(node, i, w) for i, w in
                                  ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")))
        scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
        shift = beta - mean * scale
        name = _safe(node.name)
        st, bt = self.var(name, "weight"), self.var(name, "bias")
        n = ScaleShift(self.uniq(name), [x], {"scale": quantize_float(scale, st),
                                               "shift": quantize_float(shift, bt)},
                       source=name, exact=False)
        self.out(node, self.g.add(n, self.var(name, "result")))
        self.notes.append(f"{name}: float BatchNormalization quantized to {st} / {bt}")

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
        elif op == "BatchNormalization":
            self.batchnorm(node)
        else:
            raise FrontendError(f"node {node.name} ({op}) is not supported; supported: "
                                f"{SUPPORTED_OPS}")

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
        t = self.quant_type(first) if first is not None and first.op_type == "Quant" else None
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
        oname = gr.output[0].name
        if oname not in self.t:
            raise FrontendError(f"model output {oname!r} is not computed from the input")
        if oname in self.perm or (self.spatial and len(self.t[oname].shape) > 1):
            raise FrontendError(f"model output {oname!r} is a feature map; supported: a flat "
                                "output (a MatMul / Gemm / global pooling at the end)")
        self.g.outputs = [self.t[oname]]
        self.g.meta["notes"] = self.notes
        self.g.meta["fully_quantized"] = all(n["exact"] for n in self.g.nodes)
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
