"""The exact type of a derived tensor by interval arithmetic on the real weights.

:func:`derived_type` gives the type of a node's output from its inputs' types (and, for
Dense and Conv, its integer weights, :func:`dense_range`); None for a node whose type
the frontend chooses. :func:`generator.passes.infer_precision.infer_precision` applies it
to a graph; the frontends apply it to each node they build.
"""

from __future__ import annotations

import numpy as np

from .fixed import FixedType, type_for_range
from .ir import (
    Add,
    Binarize,
    Clip,
    Concat,
    Conv,
    Crop,
    Dense,
    GlobalPool,
    Merge,
    Node,
    Pad,
    Pool,
    Relu,
    Reshape,
    Ternarize,
    Transpose,
    Upsample,
)

PM1 = FixedType(2, 2, True)


def weight_matrix(node: Dense | Conv) -> np.ndarray:
    """The weights as an (inputs per output, outputs) matrix for interval arithmetic."""
    w = node.weights["weight"].data
    if isinstance(node, Dense):
        return w
    if node["depthwise"]:
        return w.reshape(-1, w.shape[-2])
    return w.reshape(-1, w.shape[-1])


def dense_range(node: Dense | Conv, x: FixedType) -> tuple[int, int, int]:
    """``(lo, hi, frac)``: raw bounds of every Dense/Conv output, at ``frac`` fraction bits."""
    w = node.weights["weight"]
    b = node.weights.get("bias")
    frac = x.frac + w.ftype.frac
    if b is not None:
        frac = max(frac, b.ftype.frac)
    sh = frac - (x.frac + w.ftype.frac)
    xmax = max(abs(x.min_raw), abs(x.max_raw))
    wm = weight_matrix(node)
    bound = float(np.abs(wm).sum(axis=0).max(initial=0)) * xmax * 2.0**sh
    wd = wm if bound < 2.0**60 else wm.astype(object)
    p1 = wd * x.min_raw
    p2 = wd * x.max_raw
    lo = np.minimum(p1, p2).sum(axis=0) * (1 << sh)
    hi = np.maximum(p1, p2).sum(axis=0) * (1 << sh)
    if b is not None:
        bb = b.data.astype(object) * (1 << (frac - b.ftype.frac))
        lo, hi = lo.astype(object), hi.astype(object)
        lo = lo + bb
        hi = hi + bb
    return int(min(lo)), int(max(hi)), frac


def _sum_type(n: Add) -> FixedType:
    f = max(t.ftype.frac for t in n.inputs)
    lo = sum(t.ftype.min_raw << (f - t.ftype.frac) for t in n.inputs)
    hi = sum(t.ftype.max_raw << (f - t.ftype.frac) for t in n.inputs)
    return type_for_range(lo, hi, f)


def _merge_type(n: Merge) -> FixedType:
    """The exact type of a Merge: a difference's range, the inputs' union for max / min,
    an avg's sum type with ``k`` more fraction bits, a product's range."""
    if n["mode"] in ("max", "min"):
        return _union_type(n)
    if n["mode"] == "mul":  # the product's range: the extremes are at corners
        lo = hi = 1
        for t in n.inputs:
            c = [v * w for v in (lo, hi) for w in (t.ftype.min_raw, t.ftype.max_raw)]
            lo, hi = min(c), max(c)
        return type_for_range(lo, hi, sum(t.ftype.frac for t in n.inputs))
    f = max(t.ftype.frac for t in n.inputs)
    los = [t.ftype.min_raw << (f - t.ftype.frac) for t in n.inputs]
    his = [t.ftype.max_raw << (f - t.ftype.frac) for t in n.inputs]
    if n["mode"] == "sub":
        return type_for_range(los[0] - his[1], his[0] - los[1], f)
    return type_for_range(sum(los), sum(his), f + n.shift)


def _union_type(n: Concat | Merge) -> FixedType:
    f = max(t.ftype.frac for t in n.inputs)
    lo = min(t.ftype.min_raw << (f - t.ftype.frac) for t in n.inputs)
    hi = max(t.ftype.max_raw << (f - t.ftype.frac) for t in n.inputs)
    return type_for_range(lo, hi, f)


def derived_type(n: Node) -> FixedType | None:
    if isinstance(n, Add):
        return _sum_type(n)
    if isinstance(n, Concat):
        return _union_type(n)
    if isinstance(n, Merge):
        return _merge_type(n)
    if isinstance(n, (Pad, Crop, Upsample, Transpose)) or (isinstance(n, (Pool, GlobalPool)) and n["mode"] == "max"):
        t = n.input.ftype
        return FixedType(t.width, t.integer, t.signed)
    if isinstance(n, (Dense, Conv)):
        lo, hi, frac = dense_range(n, n.input.ftype)
        return type_for_range(min(lo, 0), max(hi, 0), frac)
    if isinstance(n, Relu):
        t = n.input.ftype
        if not t.signed:
            return FixedType(t.width, t.integer, False)
        return FixedType(max(t.width - 1, 1), t.integer - 1, False)
    if isinstance(n, Clip):
        return type_for_range(n["lo_raw"], n["hi_raw"], n.input.ftype.frac)
    if isinstance(n, Reshape):
        return n.input.ftype
    if isinstance(n, (Binarize, Ternarize)):
        return PM1
    return None
