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
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from . import host
from .fixed import FixedType
from .ir import (
    Add,
    Binarize,
    Clip,
    Concat,
    Conv,
    Crop,
    Dense,
    Embedding,
    GlobalPool,
    Graph,
    Input,
    LeakyRelu,
    Merge,
    Node,
    Pad,
    Pool,
    Quantize,
    Relu,
    Reshape,
    ScaleShift,
    Softmax,
    Table,
    Ternarize,
    Threshold,
    Transpose,
    Upsample,
)

Raw = npt.NDArray[np.int64]
#: a raw value: one integer or an array of them
RawOrInt = TypeVar("RawOrInt", int, Raw)


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
def _leaky_relu(node: LeakyRelu, xs: list[Raw]) -> Raw:
    x, tx = xs[0], node.input.ftype
    # neg.frac + shift == out.frac: the negative branch's raw value is the output's raw value
    neg = node["neg"].cast(x, tx)
    return np.where(x >= 0, node.output.ftype.cast(x, tx), neg)


@kernel.register
def _clip(node: Clip, xs: list[Raw]) -> Raw:
    x = np.minimum(np.maximum(xs[0], node["lo_raw"]), node["hi_raw"])
    return node.output.ftype.cast(x, node.input.ftype)


@kernel.register
def _binarize(node: Binarize, xs: list[Raw]) -> Raw:
    return np.where(xs[0] < 0, np.int64(-1), np.int64(1))


@kernel.register
def _ternarize(node: Ternarize, xs: list[Raw]) -> Raw:
    x = xs[0]
    thr = node["threshold_raw"]
    return np.where(x >= thr, np.int64(1), np.where(x <= -thr, np.int64(-1), np.int64(0)))


@kernel.register
def _threshold(node: Threshold, xs: list[Raw]) -> Raw:
    thr, lev = node.tables()
    x = xs[0]
    if len(thr) == 1:
        return lev[0][np.searchsorted(thr[0], x, side="right")]
    xc = x.reshape(-1, thr.shape[0])  # element i uses channel i % C
    count = (xc[..., None] >= thr[None]).sum(axis=-1)
    return lev[np.arange(thr.shape[0])[None], count].reshape(x.shape)


def scale_shift_frac(node: ScaleShift) -> int:
    """Fraction bits of a ScaleShift's exact sum: the wider of the product's and the
    shift's (every view aligns both addends to it)."""
    s, t = node.weights["scale"], node.weights["shift"]
    return max(node.input.ftype.frac + s.ftype.frac, t.ftype.frac)


@kernel.register
def _scaleshift(node: ScaleShift, xs: list[Raw]) -> Raw:
    s, t = node.weights["scale"], node.weights["shift"]
    tx = node.input.ftype
    frac = scale_shift_frac(node)
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
def _embedding(node: Embedding, xs: list[Raw]) -> Raw:
    tab = node.weights["table"].data
    return tab[table_index(xs[0], node["index_shift"], node["index_offset"], len(tab))]


def softmax_product_frac(node: Softmax) -> int:
    """Fraction bits of a Softmax's ``e * inv`` product: the two tables' summed."""
    return node.weights["exp_table"].ftype.frac + node.weights["inv_table"].ftype.frac


def exp_index(d: RawOrInt, shift: int) -> RawOrInt:
    """A Softmax's exp-table index of ``d = max(x) - x`` (raw, >= 0): ``d / 2**shift``
    rounded up, so only the largest inputs read entry 0 (the value 1) and the largest
    output is never tied with a smaller input's."""
    return (d + ((1 << shift) - 1)) >> shift


@kernel.register
def _softmax(node: Softmax, xs: list[Raw]) -> Raw:
    x = xs[0]
    et = node.weights["exp_table"]
    it = node.weights["inv_table"]
    d = x.max(axis=-1, keepdims=True) - x  # >= 0
    e = et.data[np.clip(exp_index(d, node["exp_shift"]), 0, len(et.data) - 1)]
    s = e.sum(axis=-1, keepdims=True)
    inv = it.data[np.clip(s >> node["inv_shift"], 0, len(it.data) - 1)]
    prod = e * inv
    pt = FixedType(62, 62 - softmax_product_frac(node))
    return node.output.ftype.cast(prod, pt)


@kernel.register
def _reshape(node: Reshape, xs: list[Raw]) -> Raw:
    return xs[0].reshape((xs[0].shape[0], *node["target_shape"]))


def _pad(x: Raw, pads: tuple[int, ...], fill: int = 0) -> Raw:
    rank = x.ndim - 2
    width = [(0, 0)] + [(pads[2 * d], pads[2 * d + 1]) for d in range(rank)] + [(0, 0)]
    return np.pad(x, width, constant_values=fill)


def crop(x: Raw, crops: tuple[int, ...]) -> Raw:
    """``x`` (batch first, channels last) without ``crops`` (before/after per spatial axis)."""
    rank = x.ndim - 2
    return x[(slice(None), *(slice(crops[2 * d], x.shape[1 + d] - crops[2 * d + 1])
                             for d in range(rank)), slice(None))]


def windows(x: Raw, kernel: tuple[int, ...], strides: tuple[int, ...], pads: tuple[int, ...],
            fill: int = 0) -> Raw:
    """Sliding windows ``(N, *out_spatial, C, *kernel)`` of a channels-last batch."""
    rank = len(kernel)
    xp = _pad(x, pads, fill)
    v = np.lib.stride_tricks.sliding_window_view(xp, kernel, axis=tuple(range(1, 1 + rank)))
    return v[(slice(None), *(slice(None, None, s) for s in strides))]


def _exact_matmul(a: Raw, b: Raw, out_width: int) -> Raw:
    if out_width <= 53:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


@kernel.register
def _conv(node: Conv, xs: list[Raw]) -> Raw:
    x = xs[0]
    w = node.weights["weight"]
    b = node.weights.get("bias")
    out_t = node.output.ftype
    k = tuple(node["kernel"])
    rank = len(k)
    v = windows(x, k, tuple(node["strides"]), tuple(node["pads"]))  # (N, *o, C, *k)
    n, *osp, c = v.shape[: 2 + rank]
    # -> (N, *o, *k, C): the Keras weight layout order
    perm = (0, *range(1, 1 + rank), *range(2 + rank, 2 + 2 * rank), 1 + rank)
    v = v.transpose(perm)
    kk = int(np.prod(k))
    if node["depthwise"]:
        v = v.reshape(-1, kk, c)
        wd = w.data.reshape(kk, c)
        if out_t.width <= 53:
            acc = np.einsum("pkc,kc->pc", v.astype(np.float64), wd.astype(np.float64))
            acc = acc.astype(np.int64)
        else:
            acc = np.einsum("pkc,kc->pc", v, wd)
    else:
        acc = _exact_matmul(v.reshape(-1, kk * c), w.data.reshape(kk * c, -1), out_t.width)
    acc = acc << (out_t.frac - (node.input.ftype.frac + w.ftype.frac))
    if b is not None:
        acc = acc + (b.data << (out_t.frac - b.ftype.frac))
    return acc.reshape(n, *osp, -1)


def div_cast(num: Raw, src: FixedType, den: int, out: FixedType) -> Raw:
    """Cast the exact rational ``(num * 2**-src.frac) / den`` into ``out`` (its modes)."""
    from .fixed import _apply_rounding

    d = out.frac - src.frac
    a = np.asarray(num, np.int64)
    if d >= 0:
        a = a << d
    else:
        den = den << (-d)
    fl = a // den
    rem = a - fl * den
    cmp = np.sign(2 * rem - den).astype(np.int64)
    q = _apply_rounding(out.rounding, fl, cmp, rem != 0, a < 0)
    return out._overflow_int(np.asarray(q, np.int64), 0)


@kernel.register
def _pool(node: Pool, xs: list[Raw]) -> Raw:
    k = tuple(node["kernel"])
    rank = len(k)
    tin = node.input.ftype
    if node["mode"] == "max":
        v = windows(xs[0], k, tuple(node["strides"]), tuple(node["pads"]), tin.min_raw - 1)
        return v.max(axis=tuple(range(-rank, 0)))
    v = windows(xs[0], k, tuple(node["strides"]), tuple(node["pads"]))
    return div_cast(v.sum(axis=tuple(range(-rank, 0))), tin, int(np.prod(k)), node.output.ftype)


@kernel.register
def _global_pool(node: GlobalPool, xs: list[Raw]) -> Raw:
    x = xs[0]
    axes = tuple(range(1, x.ndim - 1))
    if node["mode"] == "max":
        return x.max(axis=axes)
    area = int(np.prod(x.shape[1:-1]))
    return div_cast(x.sum(axis=axes), node.input.ftype, area, node.output.ftype)


@kernel.register
def _pad_k(node: Pad, xs: list[Raw]) -> Raw:
    return _pad(xs[0], tuple(node["pads"]))


@kernel.register
def _crop_k(node: Crop, xs: list[Raw]) -> Raw:
    return crop(xs[0], tuple(node["crops"]))


@kernel.register
def _transpose(node: Transpose, xs: list[Raw]) -> Raw:
    return xs[0].transpose(0, *(1 + p for p in node["perm"]))


@kernel.register
def _upsample(node: Upsample, xs: list[Raw]) -> Raw:
    x = xs[0]
    for d, f in enumerate(node["factors"]):
        x = np.repeat(x, f, axis=1 + d)
    return x


@kernel.register
def _add(node: Add, xs: list[Raw]) -> Raw:
    f = node.output.ftype.frac
    return sum(x << (f - t.ftype.frac) for x, t in zip(xs, node.inputs))  # type: ignore[return-value]


@kernel.register
def _merge(node: Merge, xs: list[Raw]) -> Raw:
    a = [x << node.align(t) for x, t in zip(xs, node.inputs)]
    mode = node["mode"]
    if mode == "sub":
        return a[0] - a[1]
    if mode in ("max", "min"):
        return np.maximum.reduce(a) if mode == "max" else np.minimum.reduce(a)
    if mode == "mul":
        return np.multiply.reduce(a)  # the output type holds it (< 2^62: int64 exact)
    return sum(a)  # type: ignore[return-value]


@kernel.register
def _concat(node: Concat, xs: list[Raw]) -> Raw:
    f = node.output.ftype.frac
    return np.concatenate([x << (f - t.ftype.frac) for x, t in zip(xs, node.inputs)], axis=-1)


def input_shape(graph: Graph) -> tuple[int, ...]:
    """The per-sample shape users give inputs in: the source model's (its input before
    host pre-processing; a QONNX CNN's ``(C, *spatial)``: the graph itself is
    channels-last), else the graph input's."""
    h = host.plan(graph.meta)
    if h["pre"] and h["input_shape"] is not None:
        return tuple(h["input_shape"])
    lay = graph.meta.get("input_layout")
    return tuple(lay["shape"]) if lay else tuple(graph.inputs[0].shape)


def to_graph_layout(graph: Graph, a: np.ndarray) -> np.ndarray:
    """Inputs ``(N, *input_shape(graph))`` in the graph input's layout."""
    lay = graph.meta.get("input_layout")
    return a.transpose(0, *(p + 1 for p in lay["perm"])) if lay else a


def quantize_input(graph: Graph, x: npt.ArrayLike, index: int = 0) -> Raw:
    """Quantise float inputs of shape ``(N, *input_shape)`` to the input type (and into the
    graph's layout)."""
    t = graph.inputs[index]
    a = np.asarray(x, dtype=np.float64)
    want = input_shape(graph)
    if a.shape[1:] != want:
        raise ReferenceError_(
            f"input has shape {a.shape[1:]} per sample; model input {t.name} expects "
            f"{want} (array shape (N, {', '.join(map(str, want))}))"
        )
    if not np.all(np.isfinite(a)):
        raise ReferenceError_("input contains NaN or infinite values")
    if host.plan(graph.meta)["pre"]:  # the integers the first quantiser gives
        lay = graph.meta.get("input_layout")
        a = host.preprocess(graph.meta, a).reshape(len(a), *(lay["shape"] if lay else t.shape))
    return t.ftype.quantize(to_graph_layout(graph, a))


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


def output_values(graph: Graph, raw: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The model outputs of raw hardware outputs ``(N, *shape)`` of the (first) graph
    output: their exact values, then the host post-processing (if any). Every view turns
    its raw outputs into values here."""
    out = graph.outputs[0]
    r = np.asarray(raw, dtype=np.int64).reshape(-1, *out.shape)
    return host.postprocess(graph.meta, out.ftype.to_float(r))


def predict(graph: Graph, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Float64 values of the (first) graph output for float inputs ``x``: exact, then the
    host post-processing (if any)."""
    out = graph.outputs[0]
    return output_values(graph, run(graph, x)[out.name])


def samples(g: Graph, n: int, seed: int = 0) -> npt.NDArray[np.float64]:
    """Seeded random inputs on the input type's grid, spanning its whole range (a model
    with host pre-processing takes any float: values on a 2^-6 grid in [-1.5, 1.5])."""
    t = g.inputs[0]
    rng = np.random.default_rng(seed)
    if host.plan(g.meta)["pre"]:
        return rng.integers(-96, 97, size=(n, *input_shape(g))) / 64.0
    raw = rng.integers(t.ftype.min_raw, t.ftype.max_raw + 1, size=(n, *input_shape(g)))
    return np.asarray(t.ftype.to_float(raw), dtype=np.float64)
