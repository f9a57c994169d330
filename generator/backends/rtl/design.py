"""The RTL design of a graph: its stages (:func:`plan`), the block-level plan of a
streamed or branched design with its FIFOs sized by the cycle model (:func:`build`,
:func:`size_fifos`), and the design's totals (:func:`totals`, :func:`fifo_aw`).

This module sits above the stage types (:mod:`.plan`), the block-level builder
(:mod:`.stream`) and the cycle model (:mod:`.cycles`), which it combines; none of them
imports it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from typing import Any

import numpy as np

from ...ir import Conv, Dense, Graph, to_json
from ...passes.unroll import unrolled
from .cycles import model, simulate, steady_frames
from .plan import (
    OUT_FIFO_LATENCY,
    ElementwiseStage,
    RTLUnsupported,
    Stage,
    _beat_size,
    _fuse_requant,
    chain_latency,
    check_unrollable,
    clog2,
    credits,
    folded_pipe,
    stage_of,
    stream_plan,
    valid_only,
)
from .stream import UNBOUNDED, Fifo, StreamPlan, Unrolled, Window, block_level
from .stream import build as build_blocks


def build(g: Graph) -> StreamPlan:
    """The streamed architecture of ``g`` (:func:`.stream.build`) with its fork FIFOs
    sized by the cycle model (:func:`size_fifos`; the depths kept per graph, below)."""
    sp = build_blocks(g)
    fifos = [blk for blk in sp.blocks if isinstance(blk, Fifo)]
    key = _graph_key(g) if fifos else ""
    depths = _DEPTHS.get(key) or _load_depths(key)
    if depths is not None and set(depths) == {f.name for f in fifos}:
        for f in fifos:
            f.p["DEPTH"] = depths[f.name]
    else:
        size_fifos(sp)
        if fifos:
            _store_depths(key, {f.name: f.p["DEPTH"] for f in fifos})
    return sp


def plan(g: Graph, sized: bool = True) -> list[Stage]:
    """The RTL stages of ``g`` in topological order (raise :class:`RTLUnsupported`).

    A pixel-streamed CNN, and a whole-vector design with branches, get the block-level
    architecture of :mod:`.stream`: one stage per node (the one its last block reports,
    :meth:`.stream.Block.layer`: ``latency`` = cycles its blocks add to a beat at full
    rate, ``ii`` 1 beat per cycle; an unrolled layer's own stage) and the block-level plan in
    ``stages[0].info["stream"]``. ``sized=False`` leaves its fork FIFOs unbounded (no
    cycle-model search): a FIFO belongs to no node, so every node's stage is the same.
    """
    if unrolled(g):  # a conv too large to unroll is refused before any adder graph
        for c in g.of(Conv):  # of the layers before it is built
            check_unrollable(c)
    if block_level(g):
        for d in g.of(Dense):
            if d["skip_zeros"]:
                raise RTLUnsupported(
                    f"layer {d.name}: skip_zeros is supported in whole-vector designs "
                    "without branches, not in streamed CNNs or designs with branches")
        sp = build(g) if sized else build_blocks(g)  # its FIFOs sized, or unbounded
        stages: list[Stage] = []
        for n in g.nodes:
            blks = [b for b in sp.blocks if b.node is n]
            if not blks:  # a Quantize / Relu applied to each beat inside a shared conv
                host = next(b for b in sp.blocks if isinstance(b, Unrolled)
                            and b.p["stage"].info.get("fused") is n)
                assert host.node is not None  # an unrolled block is always a node's
                stages.append(ElementwiseStage(n, 0, 1, {
                    "fused_into": host.node.name, "size": _beat_size(host.p["stage"])}))
                continue
            main = blks[-1]
            info = dict(main.p)
            info["blocks"] = [b.name for b in blks]
            for b in blks:
                if isinstance(b, Window) and b is not main:  # a Conv's or a Pool's window
                    info.update({k: b.p[k] for k in ("KH", "KW", "C")})
            stages.append(main.layer(sum(b.latency() for b in blks), info, sp))
        stages[0].info["stream"] = sp
        return stages
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise RTLUnsupported("the RTL backend supports one input and one output tensor")
    unr = unrolled(g)
    pipe = folded_pipe(g)
    stages = [stage_of(n, unr, pipe) for n in g.nodes]  # a chain (branches are block-level)
    if unr:
        _fuse_requant(stages)
    return stages


def totals(stages: list[Stage]) -> dict[str, int]:
    """Design latency (cycles, empty pipeline) and initiation interval (cycles).

    Streamed designs: the cycle model of :mod:`.cycles` (``latency_cycles`` to the first
    output beat, ``latency_last_cycles`` to the last beat of frame 0, ``ii_cycles``
    between frames).
    """
    sp = stream_plan(stages)
    if sp is not None:
        m = model(sp)
        return {k: m[k] for k in ("latency_cycles", "latency_last_cycles", "ii_cycles",
                                  "frame_cycles", "frames")}
    return {
        "latency_cycles": chain_latency(stages) + (OUT_FIFO_LATENCY if valid_only(stages)
                                                   else 0),
        "ii_cycles": max([1] + [s.ii for s in stages]),
    }


def fifo_aw(stages: list[Stage]) -> int:
    """log2 depth of the TLAST side-band FIFO: above the vectors the design can hold
    (a block-level design's fork FIFOs hold up to their depth besides its stages)."""
    if valid_only(stages):  # the vectors admitted and not yet popped
        return max(1, clog2(credits(stages) + 1))
    hold = 2 + 1  # skid buffer + margin
    sp = stream_plan(stages)
    if sp is not None:
        hold += sum(int(b.p["DEPTH"]) for b in sp.blocks if isinstance(b, Fifo))
    hold += sum(s.hold() for s in stages)
    return max(1, clog2(hold + 1))


#: FIFO depths :func:`size_fifos` gave, by :func:`_graph_key`: the RTL writer, the
#: estimate and the report plan the same graph, and the search runs the cycle model
#: hundreds of times on a design with many branches (an unrolled RNN). Kept in the
#: process, and with ``$NNFAB_CACHE_DIR`` set in ``$NNFAB_CACHE_DIR/fifo_depths/``.
_DEPTHS: dict[str, dict[str, int]] = {}


def _depth_file(key: str) -> str | None:
    d = os.environ.get("NNFAB_CACHE_DIR")
    return os.path.join(d, "fifo_depths", f"{key}.json") if d and key else None


def _load_depths(key: str) -> dict[str, int] | None:
    path = _depth_file(key)
    if not path or not os.path.isfile(path):
        return None
    with open(path) as f:
        depths: dict[str, int] = json.load(f)
    _DEPTHS[key] = depths
    return depths


def _store_depths(key: str, depths: dict[str, int]) -> None:
    _DEPTHS[key] = depths
    while len(_DEPTHS) > 64:  # the oldest first
        del _DEPTHS[next(iter(_DEPTHS))]
    path = _depth_file(key)
    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(depths, f)
        os.replace(tmp, path)  # atomic: a concurrent reader sees all of it or nothing


def _graph_key(g: Graph) -> str:
    """A digest of everything the plan is built from: the graph's nodes, attributes,
    types, weights and meta (its board and clock place the pipeline registers)."""
    doc, arrays = to_json(g)
    h = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode())
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{a.dtype}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _out_period(res: Any) -> int:
    starts = res.out_cycles[::res.out_beats]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    return max(gaps[len(gaps) // 2:])


def size_fifos(sp: StreamPlan, frames: int = 6) -> None:
    """Give every fork-output FIFO its depth from the cycle model.

    Rule: the *target* is the steady-state output frame period the cycle model gives
    with unbounded FIFOs (``frames`` frames at full rate: an input beat offered every
    cycle, output always ready; more frames where the pipeline holds more than
    ``frames / 2 - 2`` of them, so the run's second half is the steady state). Every
    FIFO then gets the smallest depth (all start at 1 and double together until the
    target is met, then each is cut by bisection) with which the full-rate model
    neither deadlocks nor misses the target. So the depths
    are what a branch really needs: for a residual Add, the skip FIFO holds the beats
    the long branch consumes (line-buffer fill, pad scan, pipeline) before it emits
    the matching output, plus what full-rate overlap needs.

    Why this also cannot deadlock under any idle/backpressure pattern: a join waiting
    for beat ``k`` of a branch that needs fork beat ``need(k)`` first requires the other
    branch's FIFO to hold beats ``k .. need(k)-1``; ``need`` is a property of the data
    dependencies (line buffer, padding, stride), not of timing, so a depth short of it
    deadlocks the full-rate run too, which the search rejects. The cocotb stress phase
    (random idle + backpressure, with a cycle bound) checks this for every zoo model.

    Before the bisection each FIFO in turn is tried at depth 0 (no FIFO: the fork output
    wired to its user) and left out where the model still meets the target: a branch
    its join never waits on (a fork output feeding a pipeline directly, say) buffers
    nothing, and the branches that wait then need a beat less.
    """
    fifos = [b for b in sp.blocks if isinstance(b, Fifo)]
    if not fifos:
        return
    for f in fifos:
        f.p["DEPTH"] = UNBOUNDED
    ref = simulate(sp, frames)
    # the run's second half (the target's) must be the steady state: a whole-frame
    # design holds its latency's worth of frames, more than a few
    steady = steady_frames(ref.stats()["latency_last_cycles"], _out_period(ref))
    if steady > frames:
        frames = steady
        ref = simulate(sp, frames)
    target = _out_period(ref)
    bound = 4 * ref.out_cycles[-1] + 1000

    peaks: dict[tuple[int, ...], dict[str, int]] = {}  # passing depths -> FIFO peaks

    def ok() -> bool:
        try:  # a run known to miss the target stops there (TooSlow)
            res = simulate(sp, frames, max_cycles=bound, period_bound=target)
        except RuntimeError:  # deadlock, or slower than the target
            return False
        peaks[tuple(int(f.p["DEPTH"]) for f in fifos)] = res.fifo_peak
        return True

    d = 1
    while True:
        for f in fifos:
            f.p["DEPTH"] = d
        if ok():
            break
        d *= 2
    for f in fifos:  # no FIFO where none is needed (see below)
        f.p["DEPTH"] = 0
        if not ok():
            f.p["DEPTH"] = d
    for f in fifos:
        if f.p["DEPTH"] == 0:
            continue
        # hi works: the depths now in place passed (d // 2 may too, for one FIFO while
        # the others hold d). A FIFO as deep as its peak occupancy in that run never
        # refuses a beat it took there, so that run repeats exactly: hi = the peak.
        key = tuple(int(g.p["DEPTH"]) for g in fifos)
        if key not in peaks:
            ok()
        lo, hi = 1, max(1, min(d, peaks.get(key, {}).get(f.name, d)))
        while lo < hi:
            mid = (lo + hi) // 2
            f.p["DEPTH"] = mid
            if ok():  # and the run repeats at its peak
                hi = max(1, min(mid, peaks[tuple(int(g.p["DEPTH"]) for g in fifos)][f.name]))
            else:
                lo = mid + 1
        f.p["DEPTH"] = hi
