"""A constant matrix-vector product as one shared adder graph (common subexpressions).

A fully parallel ``y = x @ W`` with a constant integer ``W`` is, per output ``j``, a sum
of signed, shifted inputs: one term ``+-x_i << k`` per canonical signed digit ``k`` of
``W[i, j]`` (:func:`.plan.csd`). Different outputs -- and different digits of one
output -- often hold the same pair of terms up to a common shift and sign: ``x_a + (x_b
<< d)``, or ``x_a - (x_a << d)`` (a product by ``1 - 2^d``). Such a pair is built once,
as a node of the graph, and every output that holds it adds the node instead of the two
terms: one adder instead of one per output.

:func:`build` takes the most frequent pair first, repeatedly, until no pair is held
twice (the greedy common-subexpression elimination of Hartley, "Subexpression sharing
in filters using canonic signed digit multipliers", IEEE TCAS II 43(10), 1996, applied
across the outputs of a matrix as da4ml does for neural networks). A node's adder depth
is bounded (:data:`MAX_DEPTH`), so a term reaches its output's adder tree through at
most that many adders, as the longest canonical-signed-digit product of an 8-bit weight
does.

Every node and term is an exact integer sum, so the outputs equal ``x @ W`` exactly: the
graph only chooses which additions are built. The emitter
(:func:`.emit.mac_module`) writes the nodes as wires and each output's terms into
``nnfab_adder_tree``; the resource model (:func:`generator.estimate.mac_adder_bits`)
counts the adder bits of the same graph.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

#: largest adder depth of a shared node (inputs have depth 0)
MAX_DEPTH = 3

Term = tuple[int, int, int]  # (signal, left shift, sign +-1)
Key = tuple[int, int, int, int]  # node = signal a + s * (signal b << d)


def signed_width(lo: int, hi: int) -> int:
    """Bits of the narrowest two's-complement word holding every integer in ``[lo, hi]``."""
    return 1 + max(v.bit_length() if v >= 0 else (-v - 1).bit_length() for v in (lo, hi))


@dataclass(frozen=True)
class AdderGraph:
    """Signals ``0 .. n_in - 1`` are the inputs; signal ``n_in + i`` is node ``i``,
    ``a + s * (b << d)`` for ``nodes[i] = (a, b, d, s)``; output ``j`` is the sum of
    ``sign * (signal << shift)`` over ``outputs[j]`` (sorted by shift, then signal)."""

    n_in: int
    nodes: tuple[Key, ...]
    outputs: tuple[tuple[Term, ...], ...]

    @property
    def adders(self) -> int:
        """Two-input adders: the nodes, and ``terms - 1`` per output."""
        return len(self.nodes) + sum(max(0, len(t) - 1) for t in self.outputs)

    def ranges(self, lo: list[int], hi: list[int]) -> tuple[list[int], list[int]]:
        """Exact value range of every signal, from the inputs' ranges ``[lo_i, hi_i]``."""
        mn, mx = list(lo), list(hi)
        for a, b, d, s in self.nodes:
            bl, bh = (mn[b] << d, mx[b] << d) if s > 0 else (-(mx[b] << d), -(mn[b] << d))
            mn.append(mn[a] + bl)
            mx.append(mx[a] + bh)
        return mn, mx

    def evaluate(self, x: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """``x @ W`` through the graph (rows of integer inputs): a check of :func:`build`."""
        sig = [x[:, i].astype(object) for i in range(self.n_in)]
        for a, b, d, s in self.nodes:
            sig.append(sig[a] + s * (sig[b] * (1 << d)))
        out = np.zeros((x.shape[0], len(self.outputs)), dtype=object)
        for j, terms in enumerate(self.outputs):
            for v, k, s in terms:
                out[:, j] += s * (sig[v] * (1 << k))
        return out


def _terms(coef: dict[int, int]) -> list[Term]:
    """The canonical-signed-digit terms of ``sum_v coef[v] * signal_v``."""
    from .plan import csd

    return sorted((v, k, s) for v, c in coef.items() if c for s, k in csd(c))


def _key(t: Term, u: Term) -> tuple[Key, Term]:
    """The pair ``t + u`` as a node key, and the term that replaces it (``(node, k, s)``
    with the node's signal still to be filled in: ``-1``)."""
    (a, ka, sa), (b, kb, sb) = (t, u) if (t[1], t[0]) <= (u[1], u[0]) else (u, t)
    return (a, b, kb - ka, sa * sb), (-1, ka, sa)


def _pair_keys(t: Term, others: list[Term], depth: list[int], max_depth: int) -> list[Key]:
    """The node keys of ``t`` paired with each of ``others`` that may be built."""
    keys = []
    for u in others:
        key, _ = _key(t, u)
        a, b, d, _s = key
        if (a != b or d) and max(depth[a], depth[b]) < max_depth:
            keys.append(key)
    return keys


def _matches(terms: list[Term], key: Key) -> list[tuple[Term, Term]]:
    """Disjoint pairs of ``terms`` that ``key`` covers, lowest shift first."""
    a, b, d, s = key
    held = {(v, k): sg for v, k, sg in terms}
    used: set[tuple[int, int]] = set()
    out = []
    for v, k, sg in sorted(terms, key=lambda t: (t[1], t[0])):
        if v != a or (v, k) in used:
            continue
        u = (b, k + d)
        if held.get(u) == sg * s and u not in used and u != (v, k):
            used.update(((v, k), u))
            out.append(((v, k, sg), (b, k + d, sg * s)))
    return out


def build(wmat: npt.NDArray[np.int64], max_depth: int = MAX_DEPTH) -> AdderGraph:
    """The shared adder graph of ``x @ wmat`` (``wmat``: inputs x outputs, integers)."""
    return _build(np.ascontiguousarray(wmat, dtype=np.int64).tobytes(), wmat.shape, max_depth)


@lru_cache(maxsize=256)
def _build(raw: bytes, shape: tuple[int, int], max_depth: int) -> AdderGraph:
    """Greedy: take the key held by most pairs, build its node, substitute it in every
    output holding it, update the pair counts of the terms that left and came."""
    wmat = np.frombuffer(raw, dtype=np.int64).reshape(shape)
    n_in, n_out = shape
    cols = [_terms({int(i): int(wmat[i, j]) for i in np.flatnonzero(wmat[:, j])})
            for j in range(n_out)]
    depth = [0] * n_in
    nodes: list[Key] = []
    # pair counts (a key of two equal signals may overlap itself: its count is an upper
    # bound, the substitution takes disjoint pairs)
    counts: list[dict[Key, int]] = []
    total: dict[Key, int] = defaultdict(int)
    where: dict[Key, set[int]] = defaultdict(set)

    def add(c: int, key: Key, v: int) -> None:
        cc = counts[c]
        cc[key] = cc.get(key, 0) + v
        total[key] += v
        if cc[key]:
            where[key].add(c)
        else:
            del cc[key]
            where[key].discard(c)
        if not total[key]:
            del total[key]

    for c, terms in enumerate(cols):
        counts.append({})
        for p, t in enumerate(terms):
            for key in _pair_keys(t, terms[p + 1:], depth, max_depth):
                add(c, key, 1)
    heap = [(-v, key) for key, v in total.items() if v >= 2]
    heapq.heapify(heap)
    while heap:
        negv, key = heapq.heappop(heap)
        if total.get(key, 0) != -negv:
            continue  # stale: the key's count changed and was pushed again
        hits = {c: _matches(cols[c], key) for c in sorted(where[key])}
        if sum(len(m) for m in hits.values()) < 2:
            continue  # an overlapping pair of equal signals: one disjoint pair only
        a, b = key[0], key[1]
        node = n_in + len(nodes)
        nodes.append(key)
        depth.append(max(depth[a], depth[b]) + 1)
        changed: set[Key] = set()
        for c, pairs in hits.items():
            if not pairs:
                continue
            gone = {t for pq in pairs for t in pq}
            kept = [t for t in cols[c] if t not in gone]
            came = [(node, t[1], t[2]) for t, _ in pairs]
            for sign, moved in ((-1, sorted(gone)), (1, came)):
                for p, t in enumerate(moved):
                    for k2 in _pair_keys(t, kept + moved[p + 1:], depth, max_depth):
                        add(c, k2, sign)
                        changed.add(k2)
            cols[c] = kept + came
        for k2 in changed:
            if total.get(k2, 0) >= 2:
                heapq.heappush(heap, (-total[k2], k2))
    outs = tuple(tuple(sorted(t, key=lambda t: (t[1], t[0]))) for t in cols)
    return AdderGraph(n_in, tuple(nodes), outs)
