"""The golden model: a bit-exact NumPy interpreter of the typed graph.

One kernel per op (dispatched on the node's class), vectorised over the batch. Tensors
are raw ``int64`` arrays in their tensor's type; :func:`run` quantises float inputs to
the input type (its rounding and overflow modes: the documented input rule) and returns
raw outputs; :func:`predict` returns their exact float64 values.

Dense sums use float64 BLAS when the accumulator is at most 53 bits wide (every partial
sum is then an integer below 2**53, so the result is exact in any order) and int64
arithmetic otherwise.
"""

from __future__ import annotations

from functools import singledispatch

import numpy as np
import numpy.typing as npt

from .fixed import FixedType
from .ir import (
    Binarize,
    Dense,
    Graph,
    Input,
    Node,
    Quantize,
    Relu,
    Reshape,
    ScaleShift,
    Softmax,
    Table,
    Ternarize,
)

Raw = npt.NDArray[np.int64]


class ReferenceError_(ValueError):
    """Bad input to the reference model (shape, NaN)."""


@singledispatch
def kernel(node: Node, xs: list[Raw]) -> Raw:
    """Compute ``node``'s raw output from its raw inputs (batch first)."""
    raise NotImplementedError(f"reference has no kernel for op {node.OP}")


@kernel.register
def _input(node: Input, xs: list[Raw]) -> Raw:  # pragma: no cover - handled by run()
    return xs[0]


def dense_sum(x: Raw, tx: FixedType, node: Dense) -> Raw:
    """Exact ``x @ W + b`` as raw integers at the output tensor's fraction."""
    w = node.weights["weight"]
    b = node.weights.get("bias")
    out_t = node.output.ftype
    sh = out_t.frac - (tx.frac + w.ftype.frac)
    if out_t.width <= 53:
        acc = (x.astype(np.float64) @ w.data.astype(np.float64)).astype(np.int64)
    else:
        acc = x @ w.data
    acc = acc << sh
    if b is not None:
        acc = acc + (b.data << (out_t.frac - b.ftype.frac))
    return acc


@kernel.register
def _dense(node: Dense, xs: list[Raw]) -> Raw:
    return dense_sum(xs[0], node.input.ftype, node)


@kernel.register
def _quantize(node: Quantize, xs: list[Raw]) -> Raw:
    return node.output.ftype.cast(xs[0], node.input.ftype)


@kernel.register
def _relu(node: Relu, xs: list[Raw]) -> Raw:
    return node.output.ftype.cast(np.maximum(xs[0], 0), node.input.ftype)


@kernel.register
def _binarize(node: Binarize, xs: list[Raw]) -> Raw:
    return np.where(xs[0] < 0, np.int64(-1), np.int64(1))


@kernel.register
def _ternarize(node: Ternarize, xs: list[Raw]) -> Raw:
    x = xs[0]
    thr = node["threshold_raw"]
    return np.where(x >= thr, np.int64(1), np.where(x <= -thr, np.int64(-1), np.int64(0)))


@kernel.register
def _scaleshift(node: ScaleShift, xs: list[Raw]) -> Raw:
    s, t = node.weights["scale"], node.weights["shift"]
    tx = node.input.ftype
    frac = max(tx.frac + s.ftype.frac, t.ftype.frac)
    acc = (xs[0] * s.data) << (frac - tx.frac - s.ftype.frac)
    acc = acc + (t.data << (frac - t.ftype.frac))
    return node.output.ftype.cast(acc, FixedType(62, 62 - frac))


def table_index(x: Raw, shift: int, offset: int, size: int) -> Raw:
    """Index rule shared by every view: ``clip((x >> shift) - offset, 0, size - 1)``."""
    return np.clip((x >> shift) - offset, 0, size - 1)


@kernel.register
def _table(node: Table, xs: list[Raw]) -> Raw:
    tab = node.weights["table"].data
    idx = table_index(xs[0], node["index_shift"], node["index_offset"], len(tab))
    return tab[idx]


@kernel.register
def _softmax(node: Softmax, xs: list[Raw]) -> Raw:
    x = xs[0]
    et = node.weights["exp_table"]
    it = node.weights["inv_table"]
    d = x.max(axis=-1, keepdims=True) - x  # >= 0
    e = et.data[np.clip(d >> node["exp_shift"], 0, len(et.data) - 1)]
    s = e.sum(axis=-1, keepdims=True)
    inv = it.data[np.clip(s >> node["inv_shift"], 0, len(it.data) - 1)]
    prod = e * inv
    pt = FixedType(62, 62 - (et.ftype.frac + it.ftype.frac))
    return node.output.ftype.cast(prod, pt)


@kernel.register
def _reshape(node: Reshape, xs: list[Raw]) -> Raw:
    return xs[0].reshape((xs[0].shape[0], *node["target_shape"]))


def quantize_input(graph: Graph, x: npt.ArrayLike, index: int = 0) -> Raw:
    """Quantise float inputs of shape ``(N, *input_shape)`` to the input type."""
    t = graph.inputs[index]
    a = np.asarray(x, dtype=np.float64)
    if a.shape[1:] != tuple(t.shape):
        raise ReferenceError_(
            f"input has shape {a.shape[1:]} per sample; model input {t.name} expects "
            f"{tuple(t.shape)} (array shape (N, {', '.join(map(str, t.shape))}))"
        )
    if not np.all(np.isfinite(a)):
        raise ReferenceError_("input contains NaN or infinite values")
    return t.ftype.quantize(a)


def run(graph: Graph, x: npt.ArrayLike, keep: bool = False) -> dict[str, Raw]:
    """Raw values of the graph outputs (and every tensor when ``keep``)."""
    vals: dict[str, Raw] = {}
    vals[graph.inputs[0].name] = quantize_input(graph, x)
    for n in graph.nodes:
        if isinstance(n, Input):
            continue
        vals[n.output.name] = kernel(n, [vals[t.name] for t in n.inputs])
        if not keep:
            for t in n.inputs:
                if all(vals.get(u.output.name) is not None for u in t.users) and t not in graph.outputs:
                    vals.pop(t.name, None)
    if keep:
        return vals
    return {t.name: vals[t.name] for t in graph.outputs}


def predict(graph: Graph, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Exact float64 values of the (first) graph output for float inputs ``x``."""
    out = graph.outputs[0]
    return out.ftype.to_float(run(graph, x)[out.name])
