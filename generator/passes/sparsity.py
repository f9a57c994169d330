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


def sparsity(graph: Graph) -> bool:
    changed = False
    for n in graph.of(Dense) + graph.of(Conv):
        w = n.weights["weight"].data
        w2 = w if isinstance(n, Dense) else (
            w.reshape(-1, w.shape[-2]) if n["depthwise"] else w.reshape(-1, w.shape[-1]))
        per = tuple(int(c) for c in np.count_nonzero(w2, axis=0))
        nnz = int(sum(per))
        if n["nnz"] != nnz or n["nnz_per_output"] != per:
            n.set("nnz", nnz)
            n.set("nnz_per_output", per)
            changed = True
    return changed
