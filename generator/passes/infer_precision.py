"""Give every derived tensor its exact type by interval arithmetic on the real weights.

* Dense: for each output ``j`` the exact range of ``sum_i x_i W_ij + b_j`` over the
  input type's range, from the actual integer weights (a pruned zero contributes
  nothing, so pruning narrows the accumulator). The output type has the product's
  fraction bits and the fewest integer bits holding every output's range: it never
  overflows and is no wider than needed.
* Relu: the non-negative part of the input type. Reshape: the input type.
* Binarize / Ternarize: ``ap_fixed<2,2>`` (values -1, 0, +1).
* Threshold: its thresholds moved onto its input's type (:func:`fit_thresholds`) when
  that type is not the one they were read off (a pruned gate's sum is narrower).

Quantize, Table, Softmax, ScaleShift and Input carry types chosen by the frontend.
"""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType, type_for_range
from ..ir import (
    Add,
    Binarize,
    Concat,
    Conv,
    Crop,
    Dense,
    GlobalPool,
    Graph,
    Merge,
    Node,
    Pad,
    Pool,
    Relu,
    Reshape,
    Ternarize,
    Threshold,
    Transpose,
    Upsample,
    Weight,
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


def _derived_type(n: Node) -> FixedType | None:
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
    if isinstance(n, Reshape):
        return n.input.ftype
    if isinstance(n, (Binarize, Ternarize)):
        return PM1
    return None


def fit_thresholds(n: Threshold) -> bool:
    """Put the thresholds of ``n`` (``y = levels[#{i: x >= thresholds[i]}]``) on its input's
    type, the function unchanged on every value of it: a threshold becomes the smallest
    input raw value at or above it; one at or below the input's minimum is always passed
    (the first level becomes the one after it), one above its maximum never is (dropped
    with its level); equal thresholds keep the higher level. Returns whether it changed."""
    thr, lev = n.weights["thresholds"], n.weights["levels"]
    ti, tf = n.input.ftype, thr.ftype
    if thr.data.ndim != 1 or (tf.width, tf.integer, tf.signed) == (ti.width, ti.integer,
                                                                   ti.signed):
        return False
    d = ti.frac - tf.frac
    t = thr.data.astype(np.int64)
    tr = t << d if d >= 0 else -((-t) >> -d)  # ceil(t * 2^d)
    v = lev.data.reshape(-1)
    below = int(np.count_nonzero(tr <= ti.min_raw))
    new_t: list[int] = []
    new_v: list[int] = [int(v[below])]
    for i in range(below, len(tr)):
        if tr[i] > ti.max_raw:
            break
        if new_t and new_t[-1] == int(tr[i]):
            new_v[-1] = int(v[i + 1])
        else:
            new_t.append(int(tr[i]))
            new_v.append(int(v[i + 1]))
    n.weights["thresholds"] = Weight(np.array(new_t, dtype=np.int64),
                                     FixedType(ti.width, ti.integer, ti.signed))
    n.weights["levels"] = Weight(np.array(new_v, dtype=lev.data.dtype), lev.ftype)
    return True


def infer_precision(graph: Graph) -> bool:
    changed = False
    for n in graph.nodes:
        t = _derived_type(n)
        if t is not None and t != n.output.ftype:
            n.output.ftype = t
            changed = True
        if isinstance(n, Threshold):
            changed |= fit_thresholds(n)
    return changed
