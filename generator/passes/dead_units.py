"""Drop the weights of units nothing reads: pruning's second harvest.

Pruning zeroes weights one by one; at high sparsity it also leaves whole units that no
later layer reads. A hidden unit whose every outgoing weight is zero (all of row ``j`` of
the next Dense kernel; every weight on input channel ``c`` of the next Conv) feeds
nothing, yet its incoming weights still cost multipliers, cycles and ROM in a folded
layer. This pass finds those units and zeroes their incoming weights, so every backend
spends nothing on them: the 80 %-pruned zoo MLP's ``out`` layer reads 12 of ``fc2``'s 24
units, and ``fc2`` keeps the weights of those 12 only.

The network's outputs are unchanged bit for bit: a dropped unit's value becomes its
bias (through its activation), and every layer that reads it multiplies it by zero.
Its own value in the hidden tensor does change, in every view alike (the reference,
HLS and RTL are all built from the rewritten graph).

Liveness runs backwards over the graph, one boolean per element of each tensor: the
graph outputs are live; an element-wise op passes its output's liveness to its input;
a Dense input element is live when a live output reads it through a nonzero weight; a
Conv input channel when a live filter has a nonzero weight on it; pooling, padding and
upsampling pass liveness per channel; Reshape reshapes it, Transpose permutes it back,
Concat splits it, Add and
Merge pass it to each input. Any other op (Softmax) reads all of its input.

A unit is dropped only where a zero weight is the layer's own kind of weight: a
binary x binary Dense (:func:`~generator.passes.folding.xnor_exponent`: every weight
``+-2^k``) has no zero and keeps its weights.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..ir import (
    Add,
    Concat,
    Conv,
    Dense,
    Graph,
    Merge,
    Node,
    Reshape,
    Transpose,
    Weight,
    ops_with,
)
from .sparsity import unit_axis, unit_weights

Mask = npt.NDArray[np.bool_]

#: ops whose output element depends on the same input element only
ELEMENTWISE = ops_with("ELEMENTWISE")
#: ops whose output channel depends on the same input channel only
CHANNELWISE = ops_with("CHANNELWISE")


def _channels(live: Mask, shape: tuple[int, ...]) -> Mask:
    """A mask of ``shape`` live on every position of each channel live anywhere in ``live``."""
    per = live.reshape(-1, live.shape[-1]).any(axis=0)
    return np.broadcast_to(per, shape).copy()


def _drop(n: Dense | Conv, dead: Mask) -> int:
    """Zero the incoming weights of ``n``'s output units in ``dead``; return how many
    units had a nonzero weight."""
    from .folding import xnor_exponent

    hit = dead & unit_weights(n).any(axis=0)
    if not hit.any() or xnor_exponent(n) is not None:
        return 0
    w = n.weights["weight"]
    data = w.data.copy()
    np.moveaxis(data, unit_axis(n), -1)[..., hit] = 0
    n.weights["weight"] = Weight(data, w.ftype)
    return int(hit.sum())


def _input_liveness(n: Node, live: Mask) -> list[Mask]:
    """The liveness of each input of ``n`` given its output's ``live``."""
    shapes = [t.shape for t in n.inputs]
    if not live.any():
        return [np.zeros(s, bool) for s in shapes]
    if isinstance(n, Dense):
        nz = (n.weights["weight"].data != 0).astype(np.int64)  # (n_in, units)
        return [(live.astype(np.int64) @ nz.T) > 0]
    if isinstance(n, Conv):
        w = n.weights["weight"].data != 0
        out_ch = live.reshape(-1, live.shape[-1]).any(axis=0)
        if n["depthwise"]:
            per = out_ch & w.reshape(-1, w.shape[-2]).any(axis=0)
        else:
            per = (w.reshape(-1, *w.shape[-2:]).any(axis=0) & out_ch).any(axis=1)
        return [np.broadcast_to(per, shapes[0]).copy()]
    if isinstance(n, ELEMENTWISE):
        return [live.copy()]
    if isinstance(n, CHANNELWISE):
        return [_channels(live, shapes[0])]
    if isinstance(n, Reshape):
        return [live.reshape(shapes[0]).copy()]
    if isinstance(n, Transpose):
        return [live.transpose(np.argsort(n["perm"])).copy()]
    if isinstance(n, Concat):
        cuts = np.cumsum([s[-1] for s in shapes])[:-1]
        return [p.copy() for p in np.split(live, cuts, axis=-1)]
    if isinstance(n, (Add, Merge)) and all(tuple(s) == live.shape for s in shapes):
        return [live.copy() for _ in shapes]
    return [np.ones(s, bool) for s in shapes]


def dead_units(graph: Graph) -> bool:
    """Zero the incoming weights of every Dense unit / Conv filter no later layer reads;
    record the count on the node (``unread``)."""
    live: dict[str, Mask] = {t.name: np.ones(t.shape, bool) for t in graph.outputs}
    changed = False
    for n in reversed(graph.nodes):
        out = n.output
        m = live.get(out.name, np.zeros(out.shape, bool))
        if isinstance(n, (Dense, Conv)):
            dead = ~m.reshape(-1, m.shape[-1]).any(axis=0)
            assert isinstance(dead, np.ndarray)  # any over axis 0 of a 2-D array: a vector
            k = _drop(n, dead)
            if k:
                n.set("unread", int(n["unread"] or 0) + k)
                changed = True
        for t, im in zip(n.inputs, _input_liveness(n, m)):
            live[t.name] = live[t.name] | im if t.name in live else im
    return changed
