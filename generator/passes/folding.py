"""Choose how each Dense layer is folded in time, and the schedule every backend renders.

``strategy = latency``: fully parallel, one multiplier per nonzero weight, ``reuse = 1``.
``strategy = resource``: reuse factor ``R``; each of ``M = ceil(nnz / R)`` multipliers is
used ``R`` times. The weights that are iterated (and stored in ROM) are the nonzeros only,
so cycles scale with nonzeros. The flat nonzero list (ordered by output, then input) is
cut into ``R`` rows of ``M`` entries; the last row is padded with zero-weight entries
when ``R`` does not divide ``nnz``. A requested ``R`` is implemented exactly or refused
with the valid range: never replaced by a "closest" value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..ir import Conv, Dense, Graph


class FoldingError(ValueError):
    """A reuse factor / strategy a layer cannot implement."""


@dataclass(frozen=True)
class Schedule:
    """``R`` rows of ``M`` (input index, output index, raw weight) entries; pads have w=0."""

    reuse: int
    mults: int
    in_idx: npt.NDArray[np.int64]  # (R, M)
    out_idx: npt.NDArray[np.int64]  # (R, M)
    weight: npt.NDArray[np.int64]  # (R, M)
    valid: npt.NDArray[np.bool_]  # (R, M) False on padding entries


def valid_reuse(node: Dense) -> tuple[int, int]:
    """Inclusive range of reuse factors ``node`` can implement."""
    nnz = int(np.count_nonzero(node.weights["weight"].data))
    return 1, max(1, nnz)


def schedule(node: Dense) -> Schedule:
    """The folded schedule of a Dense node (pure function of its weights and reuse)."""
    w = node.weights["weight"].data
    r = int(node["reuse"])
    outs, ins = np.nonzero(w.T)  # ordered by output, then input
    vals = w[ins, outs]
    nnz = len(vals)
    m = max(1, -(-nnz // r))
    total = r * m
    pad = total - nnz
    in_idx = np.concatenate([ins, np.zeros(pad, np.int64)]).reshape(r, m)
    out_idx = np.concatenate([outs, np.zeros(pad, np.int64)]).reshape(r, m)
    wv = np.concatenate([vals, np.zeros(pad, np.int64)]).reshape(r, m)
    valid = np.concatenate([np.ones(nnz, bool), np.zeros(pad, bool)]).reshape(r, m)
    return Schedule(r, m, in_idx.astype(np.int64), out_idx.astype(np.int64), wv, valid)


def folding(graph: Graph) -> bool:
    """Check every Dense node's strategy and reuse factor (raise :class:`FoldingError`)."""
    for c in graph.of(Conv):
        if int(c["reuse"]) != 1:
            raise FoldingError(
                f"layer {c['source'] or c.name}: reuse factors for Conv layers are not "
                f"supported yet (got {c['reuse']}); Conv layers are fully parallel, use 1"
            )
    for n in graph.of(Dense):
        lo, hi = valid_reuse(n)
        r = int(n["reuse"])
        if n["strategy"] == "latency" and r != 1:
            raise FoldingError(
                f"layer {n['source'] or n.name}: reuse factor {r} needs --strategy resource "
                "(strategy latency is fully parallel, reuse 1)"
            )
        if not lo <= r <= hi:
            raise FoldingError(
                f"layer {n['source'] or n.name}: reuse factor {r} is not possible; valid: "
                f"{lo}..{hi} (the layer has {hi} nonzero weights)"
            )
    return False
