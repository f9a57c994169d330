"""Host pre- and post-processing: the float work of a model that stays off the FPGA.

A QONNX model converted by :mod:`generator.frontends.qonnx` may start with float arithmetic
before its first quantiser (Brevitas's ``x * 2 - 1``, a float-scale ``Quant`` of the raw
input) and end with float arithmetic after its last integer accumulator (a scalar affine
map, a ``Softmax``, a MatMul whose float scales make ONNX's float32 result no function of
the integer sum). Like FINN's driver, nnfab runs these on the host: the hardware receives
the integers the first quantiser computes and returns its last integers; the host applies
the rest.

Both lists live in ``g.meta["host"]`` as plain JSON (``{"pre": [...], "post": [...],
"input_shape": [...]}``), one dict per ONNX node, in the ONNX graph's order; each is
applied in float32 with NumPy exactly as the ONNX operator is specified (IEEE float32
per element, the same operation order), so the reference, both simulations, ``verify``
and the board drivers give the same floats. This module depends on NumPy only: board
drivers copy it next to themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = np.float32
HostOp = dict[str, Any]
_OPS: dict[str, Callable[[npt.NDArray[np.float32], HostOp], npt.NDArray[Any]]] = {}


def host_op(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the float32 kernel of host op ``name``."""
    def reg(f: Callable[..., Any]) -> Callable[..., Any]:
        _OPS[name] = f
        return f
    return reg


def _c(op: HostOp, key: str = "const") -> npt.NDArray[np.float32]:
    return np.asarray(op[key], dtype=F32)


@host_op("Mul")
def _mul(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    return (_c(op) * x) if op.get("const_first") else (x * _c(op))


@host_op("Add")
def _add(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    return (_c(op) + x) if op.get("const_first") else (x + _c(op))


@host_op("Sub")
def _sub(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    return (_c(op) - x) if op.get("const_first") else (x - _c(op))


@host_op("Div")
def _div(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    return (_c(op) / x) if op.get("const_first") else (x / _c(op))


@host_op("Relu")
def _relu(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    return np.maximum(x, F32(0))


@host_op("Identity")
def _identity(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    return x


@host_op("Reshape")
def _reshape(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    return x.reshape(len(x), *op["shape"])


@host_op("Gather")
def _gather(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    """Elements of the last axis reordered: ``y[..., j] = x[..., index[j]]``."""
    return x[..., np.asarray(op["index"], dtype=np.int64)]


@host_op("MatMul")
def _matmul(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    return np.asarray(x @ _c(op, "weight"), dtype=F32)


@host_op("Softmax")
def _softmax(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    axis = int(op.get("axis", -1))
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return np.asarray(e / np.sum(e, axis=axis, keepdims=True), dtype=F32)


@host_op("Dequant")
def _dequant(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    """Integers times the quantiser's scale (QONNX ``Quant``'s last step, float32)."""
    return x * _c(op, "scale")


@host_op("Quant")
def _quant(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    """QONNX ``Quant`` up to its integers: ``x / scale + zeropt``, clipped to the bit
    width's range, rounded (the order QONNX specifies), minus ``zeropt``."""
    y = x / _c(op, "scale") + _c(op, "zeropt")
    y = np.where(y > F32(op["max"]), F32(op["max"]), y)
    y = np.where(y < F32(op["min"]), F32(op["min"]), y)
    y = ROUND[op["rounding"]](y)
    return np.asarray(y - _c(op, "zeropt"), dtype=F32)


@host_op("BipolarQuant")
def _bipolar(x: npt.NDArray[np.float32], op: HostOp) -> npt.NDArray[np.float32]:
    """QONNX ``BipolarQuant`` up to its integers: +1 where ``x / scale >= 0``, else -1."""
    return np.where(x / _c(op, "scale") >= 0, F32(1), F32(-1))


#: QONNX rounding modes (the ones :func:`_quant` implements)
ROUND: dict[str, Callable[[Any], Any]] = {
    "ROUND": np.round, "HALF_EVEN": np.round, "FLOOR": np.floor, "CEIL": np.ceil,
    "DOWN": np.trunc, "UP": lambda v: np.sign(v) * np.ceil(np.abs(v)),
    "HALF_UP": lambda v: np.sign(v) * np.floor(np.abs(v) + F32(0.5)),
    "HALF_DOWN": lambda v: np.sign(v) * np.ceil(np.abs(v) - F32(0.5)),
}


def apply(ops: list[HostOp], x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """``ops`` applied in order to ``x`` (batch first) in float32."""
    y = np.asarray(x, dtype=F32)
    for op in ops:
        y = np.asarray(_OPS[op["op"]](y, op), dtype=F32)
    return y


def plan(meta: dict[str, Any]) -> dict[str, Any]:
    """The host plan of a graph's ``meta`` (empty lists when the model has none)."""
    h = meta.get("host") or {}
    return {"pre": list(h.get("pre", [])), "post": list(h.get("post", [])),
            "input_shape": h.get("input_shape")}


def preprocess(meta: dict[str, Any], x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Model inputs to the values the hardware input receives (unchanged without a
    pre-processing list)."""
    pre = plan(meta)["pre"]
    if not pre:
        return np.asarray(x, dtype=np.float64)
    return np.asarray(apply(pre, x), dtype=np.float64)


def postprocess(meta: dict[str, Any], y: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Exact hardware outputs to the model's outputs (unchanged without a post-processing
    list); the hardware values are float32-exact (the frontend checks it)."""
    post = plan(meta)["post"]
    if not post:
        return np.asarray(y, dtype=np.float64)
    return np.asarray(apply(post, np.asarray(y, dtype=np.float64)), dtype=np.float64)


def describe(op: HostOp) -> str:
    """One line: the ONNX node and what the host does for it."""
    what = {"Quant": "quantise to the integers the hardware receives",
            "BipolarQuant": "binarise to the +-1 the hardware receives",
            "Dequant": "times the float scale", "MatMul": "float32 matrix product",
            "Softmax": "softmax", "Relu": "relu", "Identity": "copy",
            "Reshape": "reshape", "Gather": "reorder to ONNX's order"}.get(op["op"], op["op"])
    if "const" in op:
        c = np.asarray(op["const"], dtype=F32)
        v = f"{float(c.flat[0]):.7g}" if c.size == 1 else f"{c.size} constants"
        sym = {"Mul": "*", "Div": "/", "Add": "+", "Sub": "-"}[op["op"]]
        what = f"{v} {sym} x" if op.get("const_first") else f"x {sym} {v}"
    return f"{op.get('node', '?')} ({op.get('onnx_op', op['op'])}): {what}"
