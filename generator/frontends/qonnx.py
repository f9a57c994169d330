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
Add                 a constant after a MatMul: that Dense's bias; two tensors: Add
Relu                Relu
Flatten, Reshape    Reshape (a tensor flattened, or reshaped without its batch axis)
Identity            dropped
==================  ==================================================================

``Quant`` computes ``clip(round(x / scale + zeropt), min, max) - zeropt) * scale``; with a
power-of-two scale and zero point 0 that is exactly the ``ap_fixed`` cast above, and the
QONNX execution (float32, exact while sums fit its 24-bit mantissa) is the source view
that ``verify`` compares with. Scales that are not powers of two, zero points other than
0, and every other op are refused in one line naming the node.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from ..config import Config
from ..fixed import FixedType, Overflow, Rounding
from ..ir import Add, Binarize, Dense, Graph, Input, Quantize, Relu, Reshape, Tensor, Weight
from .keras import FrontendError, exact_grid, quantize_float

SUPPORTED_OPS = ("Quant, BipolarQuant, MatMul, Gemm, Add (a bias or two tensors), Relu, "
                 "Flatten, Reshape, Identity")
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
    return cleanup_model(m, override_inpsize=batch)


def predict(path: str, x: np.ndarray) -> np.ndarray:
    """The QONNX model's own execution (qonnx ``execute_onnx``, float32) as float64."""
    from qonnx.core.onnx_exec import execute_onnx

    x = np.asarray(x, dtype=np.float32)
    m = load_model(path, batch=len(x))
    iname, oname = m.graph.input[0].name, m.graph.output[0].name
    y = execute_onnx(m, {iname: x})[oname]
    return np.asarray(y, dtype=np.float64).reshape(len(x), -1).reshape(
        (len(x), *np.asarray(y).shape[1:]))


def _safe(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return out if out and not out[0].isdigit() else "n_" + out


def _po2(v: float) -> int | None:
    """``f`` with ``v == 2**-f`` exactly, else None."""
    m, e = math.frexp(v)
    return 1 - e if v > 0 and m == 0.5 else None


class _Builder:
    def __init__(self, m: Any, cfg: Config, name: str) -> None:
        self.m = m
        self.cfg = cfg
        self.g = Graph(_safe(name))
        self.const: dict[str, np.ndarray] = {}  # constant tensors (float64 values)
        self.quantized: set[str] = set()  # constants computed by a Quant / BipolarQuant
        self.t: dict[str, Tensor] = {}  # activation tensors
        self.notes: list[str] = []
        self.used: set[tuple[str, str]] = set()  # (node, precision variable) read
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

    def out(self, node: Any, t: Tensor) -> None:
        self.t[node.output[0]] = t

    # -- quantizers --------------------------------------------------------------------
    def quant_type(self, node: Any) -> FixedType:
        """The ap_fixed type a Quant on an activation is (or a one-line refusal)."""
        scale, zp, bits = (self.c(node, i, w) for i, w in
                           ((1, "scale"), (2, "zero point"), (3, "bit width")))
        a = {x.name: x for x in node.attribute}
        signed = bool(a["signed"].i) if "signed" in a else True
        narrow = bool(a["narrow"].i) if "narrow" in a else False
        rmode = a["rounding_mode"].s.decode().upper() if "rounding_mode" in a else "ROUND"
        where = f"node {node.name} (Quant)"
        if np.unique(scale).size != 1 or _po2(float(scale.flat[0])) is None:
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
        f = _po2(float(scale.flat[0]))
        assert f is not None
        b = int(bits.flat[0])
        ovf = Overflow.SAT_SYM if narrow else Overflow.SAT
        return FixedType(b, b - f, signed, ROUNDING[rmode], ovf)

    def quant(self, node: Any) -> None:
        from qonnx.custom_op.general.intquant import int_quant

        if node.input[0] in self.const:  # weights: the values qonnx computes, kept exactly
            a = {x.name: x for x in node.attribute}
            vals = int_quant(self.const[node.input[0]].astype(np.float32),
                             self.c(node, 1, "scale").astype(np.float32),
                             self.c(node, 2, "zero point").astype(np.float32),
                             self.c(node, 3, "bit width").astype(np.float32),
                             int(a["signed"].i) if "signed" in a else 1,
                             int(a["narrow"].i) if "narrow" in a else 0,
                             a["rounding_mode"].s.decode() if "rounding_mode" in a else "ROUND")
            self.const[node.output[0]] = np.asarray(vals, dtype=np.float64)
            self.quantized.add(node.output[0])
            return
        t = self.quant_type(node)
        x = self.x(node)
        if t.width == 1 and t.signed:  # qonnx: 1-bit signed Quant is bipolar
            raise FrontendError(f"node {node.name} (Quant): a 1-bit signed Quant is not "
                                "supported; supported: BipolarQuant")
        self.out(node, self.g.add(Quantize(self.uniq(node.name), [x], source=node.name), t))

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
                                           source=node.name), FixedType(2, 2)))

    # -- layers ------------------------------------------------------------------------
    def uniq(self, base: str) -> str:
        name = _safe(base)
        names = {n.name for n in self.g.nodes}
        i = 1
        cand = name
        while cand in names:
            cand = f"{name}_{i}"
            i += 1
        return cand

    def var(self, node: str, var: str) -> FixedType:
        """The configured type of ``var`` for ``node``, recorded as used."""
        self.used.add((_safe(node), var))
        t = self.cfg.var(_safe(node), var)
        assert t is not None  # Config always has defaults
        return t

    def weight(self, node: Any, tensor: str, values: np.ndarray, what: str) -> Weight:
        """A Quant's output exactly; a float constant in the configured type."""
        if tensor in self.quantized:
            return exact_grid(node.name, what, values)
        return quantize_float(values, self.var(node.name, what))

    def dense(self, node: Any, w: np.ndarray, wname: str, bias: np.ndarray | None = None,
              bname: str | None = None) -> None:
        from ..passes.infer_precision import _derived_type

        x = self.x(node)
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
        y = self.g.add(d, FixedType(2, 2))
        t = _derived_type(d)
        assert t is not None
        y.ftype = t
        self.out(node, y)

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
            self.out(node, x)
            return
        n = Add(self.uniq(node.name), [self.x(node, 0), self.x(node, 1)], source=node.name)
        y = self.g.add(n, FixedType(2, 2))
        t = _derived_type(n)
        assert t is not None
        y.ftype = t
        self.out(node, y)

    def node(self, node: Any) -> None:
        op = node.op_type
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
        elif op == "Relu":
            x = self.x(node)
            self.out(node, self.g.add(Relu(self.uniq(node.name), [x], source=node.name),
                                      x.ftype))
        elif op in ("Flatten", "Reshape"):
            x = self.x(node)
            shape = tuple(int(d) for d in self.m.get_tensor_shape(node.output[0])[1:])
            if op == "Flatten" or len(shape) == 1:
                shape = (int(np.prod(x.shape)),)
            self.out(node, self.g.add(Reshape(self.uniq(node.name), [x], target_shape=shape,
                                              source=node.name), x.ftype))
        elif op == "Identity":
            self.out(node, self.x(node))
        else:
            raise FrontendError(f"node {node.name} ({op}) is not supported; supported: "
                                f"{SUPPORTED_OPS}")

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
        self.t[iname] = self.g.add(Input(_safe(iname), [], shape=shape, source=iname), t)
        for node in gr.node:
            self.node(node)
        oname = gr.output[0].name
        if oname not in self.t:
            raise FrontendError(f"model output {oname!r} is not computed from the input")
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
    for key, lc in cfg.layers.items():
        unread = sorted(set(lc.precision) - {v for (n, v) in b.used if n == key})
        if unread and not (lc.precision_all and any(n == key for n, _ in b.used)):
            raise FrontendError(f"config layers.{key}.precision: node {key} does not take "
                                f"{unread[0]} from the config (its Quant nodes set its types, "
                                "or it has no such variable); remove it")
    if cfg.precision_from and not {v for _, v in b.used} & set(cfg.precision_from):
        where = " and ".join(sorted(set(cfg.precision_from.values())))
        raise FrontendError(f"{where}: no node of the model takes a type from it (its Quant "
                            "nodes set every type); remove it")
    g.meta["config"] = {"io": cfg.io, "strategy": cfg.strategy, "reuse": cfg.reuse}
    return g


def convert_file(path: str, cfg: Config) -> tuple[Graph, dict[str, float]]:
    """Load and convert a ``.onnx`` QONNX file; returns the graph and timings (seconds)."""
    t0 = time.perf_counter()
    m = load_model(path)
    t1 = time.perf_counter()
    g = from_model(m, cfg, os.path.splitext(os.path.basename(path))[0])
    return g, {"load_model": t1 - t0, "frontend": time.perf_counter() - t1}
