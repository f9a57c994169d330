"""A constant matrix-vector product as one shared adder graph (common subexpressions).

A fully parallel ``y = x @ W`` with a constant integer ``W`` is, per output ``j``, a sum
of signed, shifted inputs: one term ``+-x_i << k`` per canonical signed digit ``k`` of
``W[i, j]`` (:func:`csd`). Different outputs -- and different digits of one
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
graph only chooses which additions are built. :func:`netlist` turns the graph and each
output's pipelined tree (:func:`trees`) into wires and registers of exact widths; the
emitter (:func:`.emit.mac_module`) writes that netlist and the resource model
(:func:`generator.estimate.mac_bits`) counts its adder bits and flip-flops.
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


def csd(w: int) -> list[tuple[int, int]]:
    """Canonical signed digits of ``w``: ``[(sign, shift), ...]`` with ``w = sum sign*2^shift``."""
    digits = []
    k = 0
    v = int(w)
    while v != 0:
        if v & 1:
            d = 2 - (v & 3)  # +1 when v = ...01, -1 when v = ...11
            digits.append((d, k))
            v -= d
        v >>= 1
        k += 1
    return digits


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
    return sorted((v, k, s) for v, c in coef.items() if c for s, k in csd(c))


def _key(t: Term, u: Term) -> Key:
    """The pair ``t + u`` as a node key: the term of the lower shift (then signal) first;
    the pair is ``sign_first * (node << shift_first)``."""
    (a, ka, sa), (b, kb, sb) = (t, u) if (t[1], t[0]) <= (u[1], u[0]) else (u, t)
    return a, b, kb - ka, sa * sb


def _pair_keys(t: Term, others: list[Term], depth: list[int], max_depth: int) -> list[Key]:
    """The node keys of ``t`` paired with each of ``others`` that may be built."""
    keys = []
    for u in others:
        key = _key(t, u)
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
        if held.get(u) == sg * s and u not in used:
            used.update(((v, k), u))
            out.append(((v, k, sg), (b, k + d, sg * s)))
    return out


#: pairs of terms the greedy search weighs at once; a larger matrix is searched in blocks
#: of its inputs (pairs grow with the square of an output's terms, the search time with
#: them: a 64 x 32 unpruned 8-bit layer is about 560 k pairs)
MAX_PAIRS = 150_000


def build(wmat: npt.NDArray[np.int64], max_depth: int = MAX_DEPTH) -> AdderGraph:
    """The shared adder graph of ``x @ wmat`` (``wmat``: inputs x outputs, integers).

    Beyond :data:`MAX_PAIRS` the inputs are split into ``B`` blocks of consecutive rows,
    each searched on its own (``B`` times fewer pairs; a pair across two blocks is not
    shared), and their graphs joined: each output sums the terms of every block."""
    w = np.ascontiguousarray(wmat, dtype=np.int64)
    nd = np.zeros(w.shape, dtype=np.int64)
    for v in np.unique(w[w != 0]):
        nd[w == v] = len(csd(int(v)))
    pairs = int(np.sum(nd.sum(axis=0) ** 2) // 2)
    blocks = min(w.shape[0], -(-pairs // MAX_PAIRS))
    if blocks <= 1:
        return _build(w.tobytes(), w.shape, max_depth)
    rows = -(-w.shape[0] // blocks)
    nodes: list[Key] = []
    outs: list[list[Term]] = [[] for _ in range(w.shape[1])]
    parts = []
    for r0 in range(0, w.shape[0], rows):
        blk = np.ascontiguousarray(w[r0:r0 + rows])
        parts.append((r0, _build(blk.tobytes(), blk.shape, max_depth)))
    n_nodes = 0
    for r0, gb in parts:
        base = w.shape[0] + n_nodes

        def sig(v: int, gb: AdderGraph = gb, r0: int = r0, base: int = base) -> int:
            return r0 + v if v < gb.n_in else base + v - gb.n_in

        nodes.extend((sig(a), sig(b), d, s) for a, b, d, s in gb.nodes)
        for j, terms in enumerate(gb.outputs):
            outs[j].extend((sig(v), k, s) for v, k, s in terms)
        n_nodes += len(gb.nodes)
    return AdderGraph(w.shape[0], tuple(nodes),
                      tuple(tuple(sorted(t, key=lambda t: (t[1], t[0]))) for t in outs))


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


#: adder levels a value passes through between two registers at most, the shared nodes
#: before the adder trees included, when the layer has no ``adder_levels`` of its own
#: (:mod:`generator.passes.timing` places the registers from the family's delays and the
#: target clock; da4ml's ``latency_cutoff=5`` is this cut)
STAGE_ADDERS = 5


def graph_depth(g: AdderGraph) -> int:
    """The largest adder depth of ``g``'s nodes (0: no nodes)."""
    return max(_depths(g), default=0)


def _depths(g: AdderGraph) -> list[int]:
    depth = [0] * g.n_in
    for a, b, _d, _s in g.nodes:
        depth.append(max(depth[a], depth[b]) + 1)
    return depth


def stage_of(arrival: int, levels: int = STAGE_ADDERS, lead: int = 0) -> int:
    """The pipeline stage of a value computed ``arrival`` adder levels after the inputs,
    with ``levels`` adder levels per stage of which the first stage gives ``lead`` to
    the logic before the inputs (a requantizer; :mod:`generator.passes.timing`)."""
    return max(0, arrival + lead - 1) // levels


@dataclass(frozen=True)
class Tree:
    """How one output's terms are summed: leaf ``i < leaves`` is term ``i`` (the bias
    last, when nonzero), sum ``leaves + k`` adds ``steps[k] = (x, y)``; ``arrival[v]``
    is value ``v``'s adder levels after the inputs. The two earliest values are added
    first (Huffman on arrival times: the least depth a tree over these leaves can have)."""

    leaves: int
    steps: tuple[tuple[int, int], ...]
    arrival: tuple[int, ...]

    @property
    def root(self) -> int:
        return self.leaves + len(self.steps) - 1 if self.steps else 0


def trees(g: AdderGraph, bias: list[bool]) -> list[Tree]:
    """Each output's :class:`Tree` (``bias[j]``: output ``j`` has a nonzero bias)."""
    depth = _depths(g)
    out = []
    for j, terms in enumerate(g.outputs):
        arr = [depth[v] for v, _, _ in terms] + ([0] if bias[j] else [])
        heap = [(a, i) for i, a in enumerate(arr)]
        heapq.heapify(heap)
        steps = []
        while len(heap) > 1:
            ax, x = heapq.heappop(heap)
            ay, y = heapq.heappop(heap)
            steps.append((x, y))
            arr.append(max(ax, ay) + 1)
            heapq.heappush(heap, (arr[-1], len(arr) - 1))
        out.append(Tree(len(arr) - len(steps), tuple(steps), tuple(arr)))
    return out


def latency(ts: list[Tree], levels: int = STAGE_ADDERS, lead: int = 0) -> int:
    """Register stages of a layer's trees: every output leaves after as many."""
    return 1 + max((stage_of(t.arrival[t.root], levels, lead) for t in ts if t.leaves),
                   default=0)


def literal(v: int) -> str:
    """A signed Verilog literal of ``v``."""
    w = signed_width(v, v) + 1
    return f"{w}'sd{v}" if v >= 0 else f"-{w}'sd{-v}"


@dataclass
class _Op:
    """A value of an output's adder tree: the term is ``sign * (name << low)`` (the bits
    below ``low`` are zeros the wires do not carry), ``name`` in ``[mn, mx]``."""

    name: str
    sign: int
    mn: int
    mx: int
    low: int
    const: bool


@dataclass
class Netlist:
    """The Verilog of a fully parallel ``x @ W (+ bias)`` as plain data, read by the
    emitter and counted by the resource model: ``wires`` ``(name, width, expression)``
    in order, ``regs`` ``(name, width, source)`` (clocked with ``ce``), one expression
    of the accumulator width per output, the adder bits (each adder over the bits where
    both operands may be nonzero, up to its exact width) and the flip-flops (each
    register's exact width: its known-zero low bits are not carried; a constant is not
    registered)."""

    inputs: list[int]
    wires: list[tuple[str, int, str]]
    regs: list[tuple[str, int, str]]
    outputs: list[str]
    adder_bits: int = 0
    reg_bits: int = 0


def netlist(g: AdderGraph, bias: list[int] | None, x_lo: int, x_hi: int, aw: int,
            sh: int, levels: int = STAGE_ADDERS, lead: int = 0) -> Netlist:
    """The adder graph ``g`` (inputs in ``[x_lo, x_hi]``) and, per output, a pipelined
    tree summing its terms and its bias.

    Signs are explicit (a negative term is subtracted, not negated), widths exact: a
    value's wire drops its known-zero low bits (a term ``x << k`` is the wire ``x``
    weighted ``2^k``; a sum of two is weighted by the lower weight, the other operand
    shifted up to it) and keeps only the bits its range needs, at most up to the
    accumulator's ``aw`` bits (the sums are exact modulo ``2^aw``). A value computed in a
    later pipeline stage than an operand (:func:`stage_of`, every ``levels`` adder levels,
    the first stage ``lead`` fewer) reads the operand through a register per stage between them, and every
    output leaves through registers up to the layer's :func:`latency`."""
    mn, mx = g.ranges([x_lo] * g.n_in, [x_hi] * g.n_in)
    names = [f"x{i}" for i in range(g.n_in)] + [f"n{i}" for i in range(len(g.nodes))]
    read = {v for terms in g.outputs for v, _, _ in terms} | {
        v for a, b, _, _ in g.nodes for v in (a, b)}
    net = Netlist(sorted(v for v in read if v < g.n_in), [], [], [])

    def shifted(v: str, k: int) -> str:
        return f"({v} <<< {k})" if k else v

    def width(lo: int, hi: int, low: int = 0) -> int:
        return max(1, min(aw - low, signed_width(lo, hi)))

    for i, (a, b, d, s) in enumerate(g.nodes):
        v = g.n_in + i
        w = width(mn[v], mx[v])
        op = "+" if s > 0 else "-"
        net.wires.append((names[v], w, f"{names[a]} {op} {shifted(names[b], d)}"))
        net.adder_bits += max(0, w - d)  # below bit d the sum is a's bits

    def register(op: _Op, name: str) -> _Op:
        if op.const:
            return op
        w = width(op.mn, op.mx, op.low)
        net.regs.append((name, w, op.name))
        net.reg_bits += w
        return _Op(name, op.sign, op.mn, op.mx, op.low, False)

    def delayed(op: _Op, frm: int, to: int, name: str) -> _Op:
        """``op`` of stage ``frm`` registered until stage ``to``."""
        for k in range(frm, to):
            op = register(op, f"{name}_{k}")
        return op

    ts = trees(g, [bias is not None and int(bias[j]) != 0 for j in range(len(g.outputs))])
    stages = latency(ts, levels, lead)
    for j, (terms, t) in enumerate(zip(g.outputs, ts, strict=True)):
        vals = [_Op(names[v], s, mn[v], mx[v], k + sh, False) for v, k, s in terms]
        if bias is not None and int(bias[j]) != 0:
            c = int(bias[j])
            low = (c & -c).bit_length() - 1
            vals.append(_Op(literal(c >> low), 1, c >> low, c >> low, low, True))
        if not vals:
            net.outputs.append(f"{aw}'d0")
            continue
        stage = [stage_of(a, levels, lead) if v >= t.leaves else 0
                 for v, a in enumerate(t.arrival)]

        for k, (xv, yv) in enumerate(t.steps):
            v = t.leaves + k
            x, y = (delayed(vals[u], stage[u], stage[v], f"r{j}_{u}") for u in (xv, yv))
            low = min(x.low, y.low)
            ex, ey = shifted(x.name, x.low - low), shifted(y.name, y.low - low)
            xl, xh = x.mn << (x.low - low), x.mx << (x.low - low)
            yl, yh = y.mn << (y.low - low), y.mx << (y.low - low)
            if x.sign == y.sign:
                e, sign, lo, hi = f"{ex} + {ey}", x.sign, xl + yl, xh + yh
            elif x.sign > 0:
                e, sign, lo, hi = f"{ex} - {ey}", 1, xl - yh, xh - yl
            else:
                e, sign, lo, hi = f"{ey} - {ex}", 1, yl - xh, yh - xl
            name = f"s{j}_{k}"
            w = width(lo, hi, low)
            net.wires.append((name, w, e))
            net.adder_bits += max(0, w - (max(x.low, y.low) - low))
            vals.append(_Op(name, sign, lo, hi, low, x.const and y.const))
        f = delayed(vals[t.root], stage[t.root], stages, f"r{j}_{t.root}")
        e = shifted(f.name, f.low)
        if f.sign < 0:
            net.adder_bits += max(0, aw - f.low)
        net.outputs.append(e if f.sign > 0 else f"-{e}")
    return net
