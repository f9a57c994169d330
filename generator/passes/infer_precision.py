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

from ..fixed import FixedType
from ..intervals import derived_type
from ..ir import Graph, Threshold, Weight


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
        t = derived_type(n)
        if t is not None and t != n.output.ftype:
            n.output.ftype = t
            changed = True
        if isinstance(n, Threshold):
            changed |= fit_thresholds(n)
    return changed
