"""Board fit: choose every layer's parallelism (reuse factor) for a board and a goal.

``fit(graph, board, goal)`` rewrites ``strategy`` / ``reuse`` / ``multipliers`` of every
Dense node (and
the ``reuse`` of every Conv node: streamed, its per-output-pixel matmul folded onto
``ceil(nnz/R)`` multipliers, ``R`` cycles per output pixel; unrolled, its whole-frame
matrix folded, ``R`` cycles per frame) so the
design fits the board's budget by the RTL estimate (:func:`generator.estimate.estimate`,
read from the same plan the Verilog is generated from), and so that

* ``goal = "throughput"``: the design initiation interval ``II`` (cycles between
  inferences) is as small as possible;
* ``goal = "latency"``: the latency of one inference (cycles) is as small as possible.

**Budget.** ``DSP <= 100 %`` and ``BRAM18 <= 100 %`` of the board (hard blocks, placed
exactly), ``FF <= 100 %``, and ``LUT <= 80 %`` (:data:`LUT_MARGIN`: headroom for routing,
the AXI glue and the estimate's error against synthesis).

**Search.** The pipeline is balanced: for a target interval ``T`` every layer is given
the largest reuse that does not exceed ``T``, ``R = min(T, nnz)`` (a layer faster than
the bottleneck only wastes hardware), or is left fully parallel (strategy ``latency``,
``R = 1``, constant shift-add multiplies, no DSP) when that is cheaper. A folded Dense
layer has a third way: its multipliers in LUTs (``multipliers: lut``, shift-adds, no
DSP), which is how a design goes on past the DSPs when LUTs are left. Every target
``T = 1, 2, ..., 64`` and then a geometric sweep (x 1.08) up to the largest nonzero count
plus each layer's nonzero count is tried; per target every parallel/folded combination
is costed (per-layer costs are independent of the other layers' choices, so the
layers' rows of the estimate are evaluated once per target -- without the FIFO-depth
search or the cycle model, which no layer's row depends on -- and combinations are
summed with NumPy; the chosen design gets the whole estimate; up to
:data:`MAX_COMBINATIONS` combinations include the LUT-multiplier way). For
throughput the smallest ``T`` with a fitting combination wins (ties: the combination
using the smallest fraction of the budget); for latency the combination of smallest
latency over all targets wins (ties: smaller II, then smaller budget fraction).

**Bound.** With ``f`` the board clock and ``MACs`` the nonzero multiply-accumulates of
one inference (a Dense layer's nonzero weights once, a Conv layer's once per output
pixel):

* the LUT price of a multiply and of the element-wise work: a multiply by a constant
  weight can be built from LUTs (the fully parallel shift-add layers) at ``c_i`` LUTs per
  nonzero weight of layer ``i``, its LUTs fully parallel per multiply it builds (by the
  estimate, shared adder graph and trees included); the element-wise
  layers (requantizers, activations, pools) cost ``E`` LUT-cycles per inference, their
  LUTs in the fully parallel design times that design's II (one inference per ``II``
  cycles). For a CNN both architectures are costed (pixel-streamed with ``io: stream``,
  unrolled with ``io: parallel``: an unrolled Conv builds one multiply per nonzero weight
  and output pixel whose tap is not padding) and each layer's smaller ``c_i`` and the
  smaller ``E`` are taken, so the bound does not depend on the io type;
* the rate ``r`` (inferences per cycle, at most 1) the board can host: ``r * MACs_i``
  multipliers per layer, the DSP48s taking those of the dearest layers (largest
  ``c_i``) and the rest built in LUTs, and the element-wise work at the same rate,
  within the LUT budget ``L``: ``r * E + sum_i c_i * (r * MACs_i - DSPs given to i) <= L``
  (the largest such ``r``, by bisection). The multipliers it hosts are ``P = DSP +
  floor((L - r * E) / c)``, ``c`` the LUT price of those built in LUTs (their mean).
  Both prices are for work spread over every cycle, as a fully parallel or evenly
  folded design spends it; folded layers also spend LUTs on accumulators, multiplexers
  and ROMs, which this ignores, so it is an upper bound;
* compute roof ``= r * f`` inferences/s (``min(P, MACs) * f / MACs`` but for the
  floor; the design accepts at most one input per cycle, hence ``r <= 1``); the DSP-only
  roof
  ``min(DSP, MACs) * f / MACs`` is reported beside it;
* memory roof ``= min(f, B / bits_read)`` inferences/s: a nonzero weight is either
  hard-wired into a multiplier (a constant multiply reads nothing; at most ``P`` weights
  can be, and a conv's hard-wired weight serves every output pixel) or read from on-chip
  memory at least once per inference, whose bandwidth ``B`` is the block-RAM ports
  (``BRAM18 * 2 ports * 36 bit`` per cycle) plus LUTs used as 64 x 1 ROMs (one bit per
  LUT of ``LUT_room`` per cycle); ``bits_read`` is the least a design must read per
  inference: the narrowest of the weights left when ``P`` are hard-wired. A model whose
  every weight can be hard-wired reads nothing (roof ``f``). The input/output stream is
  not counted;
* ``bound = min(compute roof, memory roof)``; the fit reports ``achieved = f / II`` and
  ``fraction = achieved / bound``.
* Reported beside it, not part of the bound: the *stream roof* ``f / beats``, ``beats``
  the II of the design with every layer fully parallel. A streamed (CNN, ``io: stream``)
  design takes one pixel per clock, so its II is at least its beats per frame (100 for
  the 8x8 digits CNN with a 'same' conv) however many multipliers the board has; when
  that is what keeps the fraction low the explanation says so. An unrolled CNN
  (``io: parallel``, :mod:`generator.passes.unroll`) takes a whole frame per clock: its
  Conv layers are folded as Dense layers are, over the whole frame (``R`` cycles per
  frame).

The bound is reached when the whole model fits fully parallel at II 1. When it does
not, the folded layers are what limits: a folded multiplier adds an accumulate adder
per output it reaches, a ``U:1`` input multiplexer and its share of the schedule ROM
(:func:`generator.estimate.folded_resources`), which the bound does not count; the fit
names the binding resource (``FitResult.binding``) and says so in
``FitResult.explanation``.

An impossible request (even the most folded design exceeds the budget) raises
:class:`FitError`, one line naming the resource, by how much, and the smallest change
that fits (the smallest board of ``boards/`` that fits, or fewer bits / more pruning).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .console import stepped
from .ir import Conv, Dense, Graph, Quantize, Relu
from .passes.unroll import SPATIAL_OPS, conv_dense, io_type, unrolled

GOALS = ("throughput", "latency")
#: fraction of the board's LUTs a fit may use (routing, AXI glue, estimate error)
LUT_MARGIN = 0.8
#: LUT4 sites a fit may use on an open-flow board (ECP5, placed and routed here by the
#: WebAssembly nextpnr-ecp5 on two shared cores): designs this size route in minutes
#: of CPU; wide fully parallel adder trees congest (docs/ecp5.md)
OPEN_FLOW_LUT = 10_000
#: fraction of DSP / BRAM18 / FF a fit may use
DSP_MARGIN = 1.0
BRAM_MARGIN = 1.0
FF_MARGIN = 1.0
RESOURCES = ("dsp", "bram18", "lut", "ff")
#: every target interval up to this is tried, then a geometric sweep
DENSE_TARGETS = 64
GEOMETRIC_STEP = 1.08
COARSE_DENSE_TARGETS = 8
COARSE_STEP = 1.25
#: up to this many Dense layers every parallel/folded combination is costed
MAX_ENUMERATED_LAYERS = 12
#: up to this many combinations a folded Dense layer may also put its multipliers in LUTs
MAX_COMBINATIONS = 20000
DSP, LUT = "dsp", "lut"
#: one layer's plan: (strategy, reuse, multipliers of a folded Dense)
Choice = tuple[str, int, str]


class FitError(ValueError):
    """A fit request that no design can meet (one line: resource, excess, what fits)."""


@dataclass
class LayerPlan:
    name: str
    strategy: str
    reuse: int
    nnz: int
    multipliers: int
    dsp: int
    bram18: int
    lut: int
    ff: int
    latency_cycles: int
    ii_cycles: int
    #: where a folded layer's multipliers are: "dsp" | "lut" ("-": fully parallel, or a
    #: Conv: constant shift-adds or synthesis's choice)
    mul: str = "-"


@dataclass
class FitResult:
    goal: str
    board: str
    clock_mhz: float
    budget: dict[str, int]
    layers: list[LayerPlan]
    total: dict[str, int]
    nonzero_macs: int
    bound: dict[str, float]
    achieved_inferences_per_s: float
    fraction_of_bound: float
    binding: str
    explanation: str
    targets_tried: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers"] = [asdict(p) for p in self.layers]
        return d

    def text(self) -> str:
        return text(self.to_json())


def budget(board: Any) -> dict[str, int]:
    """The resources a fit may use on ``board`` (see the margins above; an open-flow board
    at most :data:`OPEN_FLOW_LUT` LUTs)."""
    lut = math.floor(board.lut * LUT_MARGIN)
    if getattr(board, "open_flow", False):
        lut = min(lut, OPEN_FLOW_LUT)
    return {
        "dsp": math.floor(board.dsp * DSP_MARGIN),
        "bram18": math.floor(board.bram18 * BRAM_MARGIN),
        "lut": lut,
        "ff": math.floor(board.ff * FF_MARGIN),
    }


def _nnz(n: Dense | Conv) -> int:
    return int(np.count_nonzero(n.weights["weight"].data))


class _Costs:
    """Per-layer costs of every (layer, implementation), from the RTL estimate.

    Costing sets the Dense nodes' strategy/reuse; :meth:`restore` puts the original back.
    """

    def __init__(self, graph: Graph) -> None:
        from . import estimate
        from .backends.rtl.stream import is_streamed

        self.graph = graph
        # the foldable layers: Dense (strategy + reuse) and Conv (reuse per output pixel)
        self.dense: list[Dense | Conv] = [n for n in graph.nodes if isinstance(n, (Dense, Conv))]
        self.names = [n.name for n in self.dense]
        self.nnz = [_nnz(n) for n in self.dense]
        self.streamed = is_streamed(graph)
        self.unrolled = unrolled(graph)
        self.lim: dict[str, int] = {}  # the budget (set by the search)
        # output positions: a Conv's nonzero weights are used once per output pixel
        self.positions = [n.output.size // n.output.shape[-1] if isinstance(n, Conv) else 1
                          for n in self.dense]
        # cycles per inference a reuse of 1 costs a layer: a streamed Conv runs once per
        # output pixel, an unrolled one (io parallel) once per frame
        self.pixels = self.positions if self.streamed else [1] * len(self.dense)
        # constant multiplies a fully parallel layer builds: an unrolled Conv one per
        # nonzero weight and output pixel whose tap is not padding
        self.built = list(self.nnz)
        if self.unrolled:
            self.built = [int(np.count_nonzero(conv_dense(n)[0])) if isinstance(n, Conv)
                          else z for n, z in zip(self.dense, self.nnz, strict=True)]
        self._est = estimate.estimate
        self._layer_rows = estimate.layer_rows
        self._orig = [(str(n["strategy"]), int(n["reuse"]),
                       str(n["multipliers"]) if isinstance(n, Dense) else DSP)
                      for n in self.dense]
        self._cache: dict[tuple[str, int], dict[str, Any]] = {}
        self._lut_cache: dict[int, list[dict[str, Any] | None]] = {}
        rep = self.apply([("latency", 1, DSP)] * len(self.dense))
        rows = {r["name"]: r for r in rep["layers"]}
        self.parallel = [rows[n] for n in self.names]
        tot = rep["total"]
        self.parallel_ii = max(1, int(tot["ii_cycles"]))  # the architecture's smallest II
        self.fixed = {k: int(tot[k]) - sum(int(r[k]) for r in self.parallel) for k in RESOURCES}
        self.fixed_latency = int(tot["latency_cycles"]) - sum(
            int(r["latency_cycles"]) for r in self.parallel)
        # the search charges a layer with the Quantize / Relu right after it: its cost
        # depends on the layer's choice (a shared-kernel conv requantizes per beat)
        self.follow = {n.name: [u.name for u in n.output.users if isinstance(u, (Quantize, Relu))]
                       if len(n.output.users) == 1 else [] for n in self.dense}
        self.parallel_att = [self._att(rows, n) for n in self.names]
        self.fixed_att = {k: int(tot[k]) - sum(int(r[k]) for r in self.parallel_att)
                          for k in RESOURCES}

    def _att(self, rows: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
        """Layer ``name``'s estimate row with its followers' resources added."""
        r = dict(rows[name])
        for f in self.follow[name]:
            for k in RESOURCES:
                r[k] = int(r[k]) + int(rows[f][k])
        return r

    def restore(self) -> None:
        self._set(self._orig)

    def _set(self, choice: list[Choice]) -> None:
        for n, (s, r, mul) in zip(self.dense, choice, strict=True):
            n.set("strategy", s)
            n.set("reuse", int(r))
            if isinstance(n, Dense):
                n.set("multipliers", mul)

    def apply(self, choice: list[Choice]) -> dict[str, Any]:
        """Set ``choice`` and estimate the whole design (its FIFOs sized, its totals)."""
        self._set(choice)
        return self._est(self.graph)

    def rows(self, choice: list[Choice]) -> dict[str, dict[str, Any]]:
        """Set ``choice`` and estimate its layers alone, by name
        (:func:`generator.estimate.layer_rows`: what a layer costs does not depend on
        the FIFO depths or the design's cycle totals)."""
        self._set(choice)
        return {r["name"]: r for r in self._layer_rows(self.graph)}

    def reuse_at(self, target: int) -> list[int]:
        """Each layer's largest reuse whose cycles per inference fit ``target``."""
        return [max(1, min(target // p, z)) for p, z in zip(self.pixels, self.nnz, strict=True)]

    def folded(self, target: int) -> list[dict[str, Any]]:
        """Each layer's estimate row at its reuse for ``target``; ``row["strategy"]`` is
        how it folds. An unrolled Conv has two ways, both costed, the one using the
        smaller share of the budget taken: ``resource`` (its whole-frame matrix on
        ``ceil(nnz/R)`` multipliers) and ``latency`` (its constant-weight window kernels
        shared by R output pixels each)."""
        reuses = self.reuse_at(target)
        if any((self.names[i], r) not in self._cache for i, r in enumerate(reuses)):
            ways = ["resource", "latency"] if self.unrolled else ["resource"]
            cand: list[list[dict[str, Any]]] = [[] for _ in reuses]
            for way in ways:
                rows = self.rows([(way if isinstance(n, Conv) else "resource", r, DSP)
                                  for n, r in zip(self.dense, reuses, strict=True)])
                for i, n in enumerate(self.dense):
                    if way == "resource" or isinstance(n, Conv):
                        cand[i].append({**self._att(rows, n.name), "strategy": way})
            for i, r in enumerate(reuses):
                self._cache[(self.names[i], r)] = min(cand[i], key=self._share)
        return [self._cache[(self.names[i], r)] for i, r in enumerate(reuses)]

    def folded_lut(self, target: int) -> list[dict[str, Any] | None]:
        """Each folded Dense layer's estimate row at its reuse for ``target`` with its
        multipliers in LUTs (``multipliers: lut``); None where that saves no DSP (a
        Conv, or a Dense whose folded multipliers are add/subtracts or LUTs anyway)."""
        reuses = self.reuse_at(target)
        if target not in self._lut_cache:
            dsp_rows = self.folded(target)
            rows = self.rows([("resource", r, LUT) if isinstance(n, Dense) else
                              ("resource", r, DSP)
                              for n, r in zip(self.dense, reuses, strict=True)])
            self._lut_cache[target] = [
                {**self._att(rows, n.name), "strategy": "resource"}
                if isinstance(n, Dense) and int(d["dsp"]) > 0 else None
                for n, d in zip(self.dense, dsp_rows, strict=True)]
        return self._lut_cache[target]

    def _share(self, row: dict[str, Any]) -> float:
        """The largest fraction of the budget a layer's estimate row uses."""
        return max(int(row[k]) / max(1, self.lim.get(k, 1)) for k in RESOURCES)


@contextmanager
def _built_as(graph: Graph, io: str) -> Iterator[None]:
    """Cost ``graph`` as if converted with I/O type ``io``; the conversion's own io type
    is put back on exit."""
    cfg = graph.meta.setdefault("config", {})
    was = io_type(graph)
    cfg["io"] = io
    try:
        yield
    finally:
        cfg["io"] = was


def _other_arch(graph: Graph) -> _Costs:
    """The fully parallel costs of ``graph`` built with the other io type (a CNN: the
    streamed architecture for an unrolled one and back); a conv too large to unroll
    costs as streamed twice."""
    from .errors import RTLUnsupported

    try:
        with _built_as(graph, "stream" if io_type(graph) == "parallel" else "parallel"):
            c = _Costs(graph)
            c.restore()
    except RTLUnsupported:
        with _built_as(graph, "stream"):
            c = _Costs(graph)
            c.restore()
    return c


def bound(graph: Graph, board: Any, costs: _Costs | None = None) -> dict[str, float]:
    """Compute and memory roofs of ``board`` for ``graph`` (inferences/s, see module doc).

    ``graph``'s strategy/reuse attributes are left as they are.
    """
    from .boards import Board, load_board

    b: Board = board if isinstance(board, Board) else load_board(board)
    if costs is None:
        costs = _Costs(graph)
        costs.restore()
    f = float(b.clock_mhz) * 1e6
    # nonzero MACs and weight bytes read per inference: a Dense layer's nonzeros once, a
    # Conv layer's once per output pixel
    macs, wbits = 0, 0
    widths: list[tuple[int, int]] = []  # (weight width, nonzero weights of that width)
    for n, z, p in zip(costs.dense, costs.nnz, costs.positions, strict=True):
        w = n.weights["weight"].ftype.width
        macs += z * p
        wbits += z * p * w
        widths.append((w, z))
    wbytes = wbits / 8.0
    # a CNN's roof must not depend on how nnfab builds it: both of its architectures
    # (pixel-streamed and unrolled) are costed and the cheaper constant multiply and the
    # smaller element-wise overhead are taken
    archs = [costs]
    if any(isinstance(n, SPATIAL_OPS) for n in graph.nodes):
        archs.append(_other_arch(graph))
    # each layer's LUTs per constant multiply, fully parallel, in the cheaper architecture
    per_mac = [min((int(c.parallel[i]["lut"]) / c.built[i] for c in archs if c.built[i]),
                   default=0.0) for i in range(len(costs.dense))]
    layer_macs = [z * p for z, p in zip(costs.nnz, costs.positions, strict=True)]
    # the element-wise work, LUT-cycles per inference: its LUTs in the fully parallel
    # design times that design's II (the streamed CNN spends few LUTs over many beats)
    ew = min(c.fixed["lut"] * c.parallel_ii for c in archs)
    lut = budget(b)["lut"]
    rate = _rate(lut, b.dsp, per_mac, ew, layer_macs)
    # the multipliers the board hosts at that rate: the DSPs and the LUT room left by the
    # element-wise work at the LUT price of the multiplies built there (the cheapest
    # layer's when every multiply of the model fits the DSPs)
    lut_room = max(0.0, lut - rate * ew)
    built = _lut_multiplies(rate, b.dsp, per_mac, layer_macs)
    lut_per_mac = (built[1] / built[0] if built[0] else
                   min((c for c in per_mac if c), default=0.0))
    lut_mults = int(lut_room // lut_per_mac) if lut_per_mac else 0
    mults = b.dsp + lut_mults
    compute = rate * f
    bram_bw = b.bram18 * 2 * 36 / 8.0 * f  # bytes/s
    # a weight is read from on-chip memory -- block RAM ports, or LUTs as 64 x 1 ROMs (one
    # bit per LUT per cycle) -- at least once per inference unless a multiplier is
    # hard-wired to it: at most P weights can be, and the least the others read is the
    # narrowest weights'
    read_bw = bram_bw + lut_room / 8.0 * f  # bytes/s
    to_read = max(0, sum(k for _, k in widths) - mults)
    read_bits = 0
    for w, k in sorted(widths):
        take = min(k, to_read)
        read_bits += take * w
        to_read -= take
    memory = min(f, read_bw * 8.0 / read_bits) if read_bits else f
    stream = f / costs.parallel_ii
    return {
        "nonzero_macs": float(macs),
        "weight_bytes": wbytes,
        "clock_hz": f,
        "dsp_multipliers": float(b.dsp),
        "lut_per_constant_mac": float(lut_per_mac),
        "elementwise_lut_cycles": float(ew),
        "lut_multipliers": float(lut_mults),
        "compute_roof_inferences_per_s": compute,
        "dsp_only_roof_inferences_per_s": min(b.dsp, macs) * f / macs if macs else f,
        "memory_roof_inferences_per_s": memory,
        "stream_roof_inferences_per_s": stream,
        "stream_beats_per_inference": float(costs.parallel_ii),
        "bram_bandwidth_bytes_per_s": bram_bw,
        "onchip_read_bandwidth_bytes_per_s": read_bw,
        "min_weight_bytes_read": read_bits / 8.0,
        "offchip_bandwidth_bytes_per_s": float(b.mem_bandwidth_gbps) * 1e9,
        "bound_inferences_per_s": min(compute, memory),
        "compute_roof_macs_per_s": compute * macs,
    }


def _lut_multiplies(rate: float, dsp: int, per_mac: list[float],
                    macs: list[int]) -> tuple[float, float]:
    """``(multiplies, LUTs)`` built in LUTs at ``rate`` inferences per cycle: layer ``i``
    needs ``rate * macs[i]`` multiplies per cycle at ``per_mac[i]`` LUTs each, and the
    ``dsp`` DSP48s take those of the dearest layers first."""
    left, n, cost = float(dsp), 0.0, 0.0
    for c, m in sorted(zip(per_mac, macs, strict=True), key=lambda cm: -cm[0]):
        on_dsp = min(left, rate * m)
        left -= on_dsp
        n += rate * m - on_dsp
        cost += c * (rate * m - on_dsp)
    return n, cost


def _rate(lut: int, dsp: int, per_mac: list[float], ew: float, macs: list[int]) -> float:
    """The inferences per cycle (at most 1) a board of ``lut`` LUTs and ``dsp`` DSP48s
    hosts when an inference needs ``macs[i]`` multiplies of layer ``i`` -- on a DSP, else
    ``per_mac[i]`` LUTs each, the DSPs taking the dearest -- and ``ew`` LUT-cycles of
    element-wise work: the largest ``r <= 1`` with ``r * ew + LUTs(r) <= lut`` (see the
    module doc; the left side grows with ``r``, so it is found by bisection)."""
    def need(r: float) -> float:
        return r * ew + _lut_multiplies(r, dsp, per_mac, macs)[1]

    if need(1.0) <= lut:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if need(mid) <= lut else (lo, mid)
    return lo


def _targets(max_nnz: int, nnzs: list[int]) -> list[int]:
    """Cycles-per-inference targets to cost: every one up to :data:`DENSE_TARGETS`, then
    a geometric sweep, and each layer's own work. Each target costs two estimates of the
    whole design, so beyond :data:`MAX_ENUMERATED_LAYERS` weighted layers (an unrolled
    recurrent layer has a few per step) the sweep is coarser: every target up to
    :data:`COARSE_DENSE_TARGETS`, then steps of :data:`COARSE_STEP`."""
    many = len(nnzs) > MAX_ENUMERATED_LAYERS
    dense, step = (COARSE_DENSE_TARGETS, COARSE_STEP) if many else (DENSE_TARGETS,
                                                                    GEOMETRIC_STEP)
    ts = set(range(1, min(dense, max_nnz) + 1))
    t = float(dense)
    while t < max_nnz:
        t *= step
        ts.add(min(max_nnz, math.ceil(t)))
    if not many:
        ts.update(nnzs)
    return sorted(ts)


def _vec(row: dict[str, Any], pixels: int = 1) -> list[int]:
    """Resources, latency and cycles per inference (II x output pixels of a Conv)."""
    return [int(row[k]) for k in RESOURCES] + [int(row["latency_cycles"]),
                                                int(row["ii_cycles"]) * pixels]


def _combos(n_layers: int, par: np.ndarray, fold: np.ndarray,
            lut_ok: list[bool] | None = None) -> np.ndarray:
    """Rows of the combinations to cost: per layer 0 = parallel, 1 = folded, 2 = folded
    with its multipliers in LUTs (only where ``lut_ok``)."""
    ways = [(0, 1, 2) if lut_ok and lut_ok[i] else (0, 1) for i in range(n_layers)]
    if n_layers <= MAX_ENUMERATED_LAYERS and math.prod(len(w) for w in ways) <= MAX_COMBINATIONS:
        return np.array(list(itertools.product(*ways)), dtype=np.int64)
    if n_layers <= MAX_ENUMERATED_LAYERS:
        return np.array(list(itertools.product((0, 1), repeat=n_layers)), dtype=np.int64)
    # too many layers to enumerate: all folded, all parallel, and per layer the cheaper one
    cheaper = (fold[:, 2] < par[:, 2]).astype(np.int64)
    return np.stack([np.ones(n_layers, np.int64), np.zeros(n_layers, np.int64), cheaper])


@stepped("searching the board fit")
def _search(costs: _Costs, goal: str, budgets: dict[str, int]
            ) -> tuple[list[Choice] | None, int, np.ndarray | None]:
    """Best choice within ``budgets`` (None when nothing fits), the number of targets
    tried, and the total of the least-overflowing design (for the error message)."""
    n_layers = len(costs.dense)
    lim = np.array([budgets[k] for k in RESOURCES], dtype=np.float64)
    costs.lim = dict(budgets)
    fixed = np.array([costs.fixed_att[k] for k in RESOURCES] + [costs.fixed_latency, 1])
    par = np.array([_vec(r, p) for r, p in zip(costs.parallel_att, costs.pixels, strict=True)])
    best: tuple[tuple[float, ...], list[tuple[str, int, str]]] | None = None
    least_over: tuple[float, np.ndarray] | None = None
    tried = 0
    work = [z * p for z, p in zip(costs.nnz, costs.pixels, strict=True)]
    for t in _targets(max(work + [1]), work):
        tried += 1
        frows = costs.folded(t)
        lrows = costs.folded_lut(t)
        reuses = costs.reuse_at(t)
        fold = np.array([_vec(r, p) for r, p in zip(frows, costs.pixels, strict=True)])
        lfold = np.array([_vec(r if r is not None else f, p)
                          for r, f, p in zip(lrows, frows, costs.pixels, strict=True)])
        c = _combos(n_layers, par, fold, [r is not None for r in lrows])  # (K, L)
        sel = np.where(c[:, :, None] == 2, lfold[None],
                       np.where(c[:, :, None] == 1, fold[None], par[None]))  # (K, L, 6)
        tot = sel[:, :, :4].sum(axis=1) + fixed[None, :4]
        lat = sel[:, :, 4].sum(axis=1) + fixed[4]
        # a streamed design never goes below its beats per inference (one pixel/clock)
        ii = np.maximum(sel[:, :, 5].max(axis=1), costs.parallel_ii)
        frac = tot / np.maximum(lim, 1)[None]
        worst = frac.max(axis=1)
        k = int(np.argmin(worst))
        if least_over is None or worst[k] < least_over[0]:
            least_over = (float(worst[k]), tot[k])
        ok = np.all(tot <= lim[None], axis=1)
        if not ok.any():
            continue
        use = frac.sum(axis=1)
        for j in np.flatnonzero(ok):
            key = ((float(ii[j]), float(use[j]), float(lat[j])) if goal == "throughput"
                   else (float(lat[j]), float(ii[j]), float(use[j])))
            if best is None or key < best[0]:
                choice = [(frows[i]["strategy"], reuses[i], LUT if c[j, i] == 2 else DSP)
                          if c[j, i] else ("latency", 1, DSP) for i in range(n_layers)]
                best = (key, choice)
        if goal == "throughput":
            break  # targets ascend: the first that fits has the smallest II
    return (best[1] if best else None), tried, (least_over[1] if least_over else None)


def _board_size(b: Any) -> tuple[float, str]:
    return (b.lut + 100 * b.dsp + 50 * b.bram18, b.name)


def smallest_board(costs: _Costs, goal: str, like: Any = None) -> str | None:
    """The smallest board of ``boards/`` (by LUT + 100 DSP + 50 BRAM18) the design fits;
    with ``like``, only boards whose resources are counted in the same primitives (open
    flow, ECP5, or not)."""
    from .boards import list_boards

    same = [b for b in list_boards()
            if like is None or getattr(b, "open_flow", False) == getattr(like, "open_flow", False)]
    for b in sorted(same, key=_board_size):
        choice, _, _ = _search(costs, goal, budget(b))
        if choice is not None:
            return str(b.name)
    return None


def fit(graph: Graph, board: Any, goal: str = "throughput") -> FitResult:
    """Set every Dense/Conv layer's strategy/reuse for ``goal`` on ``board`` (a Board or name).

    Returns the plan (:class:`FitResult`) and stores it in ``graph.meta["fit"]``; raises
    :class:`FitError` when no design fits (the graph is then left unchanged).
    """
    from .boards import Board, load_board

    if goal not in GOALS:
        raise FitError(f"fit goal {goal!r} is not supported; choose one of: {', '.join(GOALS)}")
    b: Board = board if isinstance(board, Board) else load_board(board)
    lim = budget(b)
    costs = _Costs(graph)
    choice: list[Choice] | None = []
    tried, least = 0, None
    if costs.dense:
        choice, tried, least = _search(costs, goal, lim)
    else:  # nothing to fold: the design is what it is
        tot0 = np.array([costs.fixed[k] for k in RESOURCES])
        if np.any(tot0 > np.array([lim[k] for k in RESOURCES])):
            choice, least = None, tot0
    if choice is None:
        assert least is not None
        costs.restore()
        ratios = {k: float(least[i]) / max(1, lim[k]) for i, k in enumerate(RESOURCES)}
        k = max(RESOURCES, key=lambda r: ratios[r])
        need = int(least[RESOURCES.index(k)])
        pct = f" ({int(LUT_MARGIN * 100)} % of {b.lut})" if k == "lut" else ""
        bigger = smallest_board(costs, goal, b) if costs.dense else None
        hint = f"board {bigger} fits" if bigger else "no board in boards/ fits"
        stream_ii = _io_fit(graph, "stream", goal, lim) if costs.unrolled else None
        if isinstance(stream_ii, int):
            hint = f"--io stream fits {b.name} (II {stream_ii}), {hint}"
        raise FitError(
            f"{graph.name} does not fit {b.name} even fully folded: it needs {need} "
            f"{k.upper()} but the budget is {lim[k]}{pct}, over by {need - lim[k]}; "
            f"smallest change: {hint}, or cut the {k.upper()} cost {ratios[k]:.1f}x "
            "(fewer bits or more pruning)"
        )
    rep = costs.apply(choice)
    rows = {r["name"]: r for r in rep["layers"]}
    layers = []
    for n, z in zip(costs.dense, costs.nnz, strict=True):
        r = rows[n.name]
        layers.append(LayerPlan(
            n.name, str(n["strategy"]), int(n["reuse"]), z, int(r.get("multipliers", 0)),
            int(r["dsp"]), int(r["bram18"]), int(r["lut"]), int(r["ff"]),
            int(r["latency_cycles"]), int(r["ii_cycles"]),
            str(n["multipliers"]) if isinstance(n, Dense) and n["strategy"] == "resource"
            else "-"))
    tot = {k: int(v) for k, v in rep["total"].items()}
    bd = bound(graph, b, costs)
    ii = max(1, tot["ii_cycles"])
    achieved = bd["clock_hz"] / ii
    fraction = achieved / bd["bound_inferences_per_s"] if bd["bound_inferences_per_s"] else 0.0
    use = {k: tot[k] / max(1, lim[k]) for k in RESOURCES}
    binding = max(RESOURCES, key=lambda k: use[k])
    # a CNN short of the bound: what the other architecture reaches on this board
    other_io, other_ii = None, None
    if fraction < 0.8 and any(isinstance(n, SPATIAL_OPS) for n in graph.nodes):
        other_io = "stream" if costs.unrolled else "parallel"
        other_ii = _io_fit(graph, other_io, goal, lim)
    res = FitResult(goal, b.name, float(b.clock_mhz), lim, layers, tot,
                    int(bd["nonzero_macs"]), bd, achieved, fraction, binding,
                    _explain(fraction, binding, use, ii, bd,
                             tot["lut"] - sum(p.lut for p in layers) if costs.unrolled
                             else None, other_io, other_ii), tried)
    graph.meta["fit"] = res.to_json()
    return res


def _io_fit(graph: Graph, io: str, goal: str, lim: dict[str, int]) -> int | str | None:
    """The II of the best design of CNN ``graph`` built with I/O type ``io`` within
    ``lim``, None when none fits, or why that architecture cannot build the graph (the
    graph is left unchanged)."""
    from .errors import RTLUnsupported

    costs = None
    with _built_as(graph, io):
        try:
            costs = _Costs(graph)
            choice, _, _ = _search(costs, goal, lim)
            return None if choice is None else int(costs.apply(choice)["total"]["ii_cycles"])
        except RTLUnsupported as e:
            return str(e).split(";")[0]
        finally:
            if costs is not None:
                costs.restore()


def _explain(fraction: float, binding: str, use: dict[str, float], ii: int,
             bd: dict[str, float], unrolled_fixed_lut: int | None = None,
             other_io: str | None = None, other_ii: int | str | None = None) -> str:
    beats = int(bd.get("stream_beats_per_inference", 1))
    stream_frac = bd["stream_roof_inferences_per_s"] / bd["bound_inferences_per_s"] if \
        bd.get("stream_roof_inferences_per_s") else 1.0
    if fraction >= 0.8:
        return (f"II {ii} reaches {100 * fraction:.0f} % of the bound; {binding.upper()} is "
                f"the most used resource ({100 * use[binding]:.0f} % of its budget)")
    roof_ii = bd["clock_hz"] / bd["bound_inferences_per_s"]
    head = f"II {ii} against {roof_ii:.2f} at the bound ({100 * fraction:.1f} %): "
    # the other I/O type, said only as far as it was costed on this board
    subject = "it" if beats > 1 and stream_frac < 0.8 else f"--io {other_io}"
    if other_io is None:
        other = ""
    elif other_ii is None:
        other = f"; {subject} does not fit this board"
    elif isinstance(other_ii, str):
        other = f"; {subject} cannot build this graph ({other_ii})"
    elif other_ii < ii:
        other = f"; {subject} reaches II {other_ii} on this board"
    else:
        other = f"; {subject} does no better here (II {other_ii})"
    if beats > 1 and stream_frac < 0.8:
        return (head + f"the streamed design takes one pixel per clock, {beats} beats per "
                f"inference even fully parallel (stream roof = {100 * stream_frac:.1f} % of "
                f"the bound; {binding.upper()} is the most used resource, "
                f"{100 * use[binding]:.0f} % of its budget); several pixels per clock need "
                f"--io parallel (the CNN unrolled, a whole frame per clock){other}")
    head += (f"{binding.upper()} binds ({100 * use[binding]:.0f} % of its budget, DSP "
             f"{100 * use['dsp']:.0f} %); the model does not fit fully parallel and ")
    if unrolled_fixed_lut is not None:  # an unrolled CNN
        return (head + "the shared kernels' beat multiplexers and the folded layers' "
                "accumulators cost LUTs the bound does not count (the element-wise layers, "
                f"requantizers and pools, take {unrolled_fixed_lut} LUT at this II){other}")
    return (head + "the folded layers' accumulators, input multiplexers and ROMs cost LUTs "
            f"the bound does not count{other}")


def text(doc: dict[str, Any]) -> str:
    """The fit plan as a plain-text table (``FitResult.to_json()`` input)."""
    head = (f"{'layer':<14}{'strategy':<10}{'mul':<5}{'R':>4}{'nnz':>6}{'mults':>6}{'DSP':>6}"
            f"{'BRAM18':>7}{'LUT':>8}{'FF':>8}{'lat':>6}{'II':>5}")
    lines = [f"fit {doc['goal']} on {doc['board']} ({doc['clock_mhz']:g} MHz), budget: "
             + ", ".join(f"{k.upper()} {v}" for k, v in doc["budget"].items())
             + (f" (LUT {int(LUT_MARGIN * 100)} % of the device)"
                if doc["budget"]["lut"] != OPEN_FLOW_LUT else
                " (LUT: the open flow's routing budget here)"), head, "-" * len(head)]
    for p in doc["layers"]:
        lines.append(f"{p['name']:<14}{p['strategy']:<10}{p.get('mul', '-'):<5}{p['reuse']:>4}"
                     f"{p['nnz']:>6}"
                     f"{p['multipliers']:>6}{p['dsp']:>6}{p['bram18']:>7}{p['lut']:>8}"
                     f"{p['ff']:>8}{p['latency_cycles']:>6}{p['ii_cycles']:>5}")
    t = doc["total"]
    lines.append("-" * len(head))
    lines.append(f"{'design total':<45}{t['dsp']:>6}{t['bram18']:>7}{t['lut']:>8}{t['ff']:>8}"
                 f"{t['latency_cycles']:>6}{t['ii_cycles']:>5}")
    bd = doc["bound"]
    lines.append(
        f"throughput {doc['achieved_inferences_per_s'] / 1e6:.3f} M inferences/s (f/II); "
        f"bound {bd['bound_inferences_per_s'] / 1e6:.3f} M/s (compute roof "
        f"{bd['compute_roof_inferences_per_s'] / 1e6:.3f} with {int(bd['dsp_multipliers'])} DSP + "
        f"{int(bd['lut_multipliers'])} LUT multipliers"
        + (f" and {int(bd['elementwise_lut_cycles'])} LUT-cycles of element-wise work"
           if bd.get("elementwise_lut_cycles") else "")
        + ", DSP-only "
        f"{bd['dsp_only_roof_inferences_per_s'] / 1e6:.3f}, memory roof "
        f"{bd['memory_roof_inferences_per_s'] / 1e6:.1f}"
        + (f"; stream roof {bd['stream_roof_inferences_per_s'] / 1e6:.3f} at "
           f"{int(bd['stream_beats_per_inference'])} beats/inference"
           if bd.get("stream_beats_per_inference", 1) > 1 else "")
        + f"); {100 * doc['fraction_of_bound']:.1f} % of the bound")
    lines.append(doc["explanation"])
    return "\n".join(lines)
