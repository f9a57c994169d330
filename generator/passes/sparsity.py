"""Count nonzero weights per layer and per output once, for every backend to read.

Writes ``nnz`` (total nonzero weights) and ``nnz_per_output`` (per output unit / filter)
on each Dense and Conv node. The
nonzero index lists themselves are derived from the weight array by
:func:`nonzero_lists` so that they cannot disagree with it.
"""

from __future__ import annotations

import numpy as np

from ..ir import Conv, Dense, Graph


def nonzero_lists(node: Dense) -> list[np.ndarray]:
    """For each output ``j``, the input indices ``i`` with ``W[i, j] != 0`` (ascending)."""
    w = node.weights["weight"].data
    return [np.flatnonzero(w[:, j]) for j in range(w.shape[1])]


def unit_axis(node: Dense | Conv) -> int:
    """The weight axis of ``node``'s output units: the last (Dense, Conv filters), or the
    channel axis of a depthwise kernel ``(*kernel, C, 1)``."""
    return -2 if isinstance(node, Conv) and node["depthwise"] else -1


def unit_weights(node: Dense | Conv) -> np.ndarray:
    """``node``'s weights as ``(taps, units)``: column ``j`` holds every weight of output
    unit (filter, channel) ``j``."""
    w = node.weights["weight"].data
    return np.moveaxis(w, unit_axis(node), -1).reshape(-1, w.shape[unit_axis(node)])


def sparsity(graph: Graph) -> bool:
    changed = False
    for n in graph.of(Dense) + graph.of(Conv):
        per = tuple(int(c) for c in np.count_nonzero(unit_weights(n), axis=0))
        nnz = int(sum(per))
        if n["nnz"] != nnz or n["nnz_per_output"] != per:
            n.set("nnz", nnz)
            n.set("nnz_per_output", per)
            changed = True
    return changed
