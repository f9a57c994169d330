"""Fold a ScaleShift (an unfolded BatchNormalization) into the Dense or Conv that feeds it.

``cast(((x @ W) + b) * s + t)`` equals ``cast(x @ (W * s) + (b * s + t))`` exactly in
integer arithmetic (a Conv is such a sum per output pixel and channel; a depthwise Conv's
channel is its weight's second-last axis), so the fold never changes a result: the folded
weights are the exact products ``W_raw * s_raw`` (type ``W * s``), trimmed of trailing
zero bits. The ScaleShift's output type becomes a Quantize after the layer. The fold is skipped when the
layer's output has other users or the widened weights would exceed 62 bits.
"""

from __future__ import annotations

import numpy as np

from ..fixed import MAX_WIDTH, FixedType, mul_type
from ..ir import Conv, Dense, Graph, Quantize, ScaleShift, Weight


def trim(w: Weight) -> Weight:
    """The same values in the narrowest type with the same signedness (fewest bits)."""
    d = w.data
    t = w.ftype
    if not d.any():
        return Weight(d, FixedType(1, 1, t.signed))
    # drop trailing zero bits common to all values
    tz = 0
    while tz < 62 and not np.any(d & ((1 << (tz + 1)) - 1)):
        tz += 1
    d = d >> tz
    frac = t.frac - tz
    lo, hi = int(d.min()), int(d.max())
    if t.signed:
        width = 1
        while -(1 << (width - 1)) > lo or (1 << (width - 1)) - 1 < hi:
            width += 1
    else:
        width = max(1, hi.bit_length())
    return Weight(d, FixedType(width, width - frac, t.signed))


def fold_batchnorm(graph: Graph) -> bool:
    changed = False
    for ss in graph.of(ScaleShift):
        src = ss.input.producer
        if not isinstance(src, (Dense, Conv)) or len(ss.input.users) != 1 \
                or ss.input in graph.outputs:
            continue
        w, s, t = src.weights["weight"], ss.weights["scale"], ss.weights["shift"]
        wt = mul_type(w.ftype, s.ftype)
        if wt.width > MAX_WIDTH:
            continue
        # the output channel: a Dense's and a Conv's last weight axis, a depthwise Conv's
        # second-last
        per_channel = s.data[:, None] if isinstance(src, Conv) and src["depthwise"] else s.data
        new_w = trim(Weight(w.data * per_channel, wt))
        # bias' = b * s + t, aligned to a common fraction
        b = src.weights.get("bias")
        bt = mul_type(b.ftype, s.ftype) if b is not None else None
        frac = max(t.ftype.frac, bt.frac if bt else t.ftype.frac)
        acc = t.data << (frac - t.ftype.frac)
        if b is not None and bt is not None:
            acc = acc + ((b.data * s.data) << (frac - bt.frac))
        lo, hi = int(acc.min()), int(acc.max())
        width = max(int(lo).bit_length(), int(hi).bit_length()) + 1
        if width > MAX_WIDTH or new_w.ftype.width > MAX_WIDTH:
            continue
        new_b = trim(Weight(acc, FixedType(width, width - frac, True)))
        src.weights["weight"] = new_w
        src.weights["bias"] = new_b
        # the ScaleShift becomes a plain cast into its output type
        q = Quantize(ss.name, [src.output], source=ss["source"], exact=ss["exact"])
        src.output.users.remove(ss)
        graph.nodes[graph.nodes.index(ss)] = q
        q.outputs = ss.outputs
        ss.output.producer = q
        src.output.users.append(q)
        changed = True
    return changed
