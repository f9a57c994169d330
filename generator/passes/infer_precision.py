"""Give every derived tensor its exact type by interval arithmetic on the real weights.

* Dense: for each output ``j`` the exact range of ``sum_i x_i W_ij + b_j`` over the
  input type's range, from the actual integer weights (a pruned zero contributes
  nothing, so pruning narrows the accumulator). The output type has the product's
  fraction bits and the fewest integer bits holding every output's range: it never
  overflows and is no wider than needed.
* Relu: the non-negative part of the input type. Reshape: the input type.
* Binarize / Ternarize: ``ap_fixed<2,2>`` (values -1, 0, +1).

Quantize, Table, Softmax, ScaleShift and Input carry types chosen by the frontend.
"""

from __future__ import annotations

import numpy as np

from ..fixed import FixedType, type_for_range
from ..ir import Binarize, Dense, Graph, Node, Relu, Reshape, Ternarize

PM1 = FixedType(2, 2, True)


def dense_range(node: Dense, x: FixedType) -> tuple[int, int, int]:
    """``(lo, hi, frac)``: raw bounds of every Dense output, at ``frac`` fraction bits."""
    w = node.weights["weight"]
    b = node.weights.get("bias")
    frac = x.frac + w.ftype.frac
    if b is not None:
        frac = max(frac, b.ftype.frac)
    sh = frac - (x.frac + w.ftype.frac)
    xmax = max(abs(x.min_raw), abs(x.max_raw))
    bound = float(np.abs(w.data).sum(axis=0).max(initial=0)) * xmax * 2.0**sh
    wd = w.data if bound < 2.0**60 else w.data.astype(object)
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


def _derived_type(n: Node) -> FixedType | None:
    if isinstance(n, Dense):
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


def infer_precision(graph: Graph) -> bool:
    changed = False
    for n in graph.nodes:
        t = _derived_type(n)
        if t is not None and t != n.output.ftype:
            n.output.ftype = t
            changed = True
    return changed
