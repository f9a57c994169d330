"""Cycle model of a streamed design: its handshakes simulated cycle by cycle.

Each block of the :class:`~.stream.StreamPlan` is mirrored by a small state machine
holding exactly the control registers of its Verilog module (position counters,
valid bits, FIFO counts; no data). Every cycle: ``valid`` of each stream is computed
forward (blocks in topological order), ``ready`` backward, a beat transfers where both
are high, then every block updates its registers. Because the RTL control is this
control, the model is exact: ``tests/test_rtl_cnn.py`` checks the latency and II it
predicts against the cycles cocotb measures.

Definitions (full rate: an input beat offered every cycle from the second cycle after
reset release (:data:`LEAD_CYCLES`), the output always ready, pipeline empty):

* ``latency_cycles``: first input beat of frame 0 to the first output beat of frame 0;
* ``latency_last_cycles``: first input beat of frame 0 to the last output beat of frame 0;
* ``ii_cycles``: cycles between the first input beats of consecutive frames, the
  largest gap in the second half of the frames simulated (the steady state);
* ``frame_cycles``: the same gap measured over many frames (``period``), reported for
  information.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import singledispatch
from typing import Any

from .plan import (
    ConvUnrolled,
    ConvUnrolledFolded,
    ConvUnrolledShared,
    Gather,
    PoolUnrolled,
    SoftmaxStage,
    Stage,
)
from .stream import (
    Block,
    Collect,
    Fifo,
    Folded,
    Fork,
    GlobalPoolBlock,
    Join,
    Pipe,
    Skid,
    StreamPlan,
    TransposeBlock,
    Unrolled,
    UpsampleBlock,
    Window,
    Wire,
)

#: frames streamed by the timing phase of the testbench (and simulated by the model), at
#: first; doubled up to MAX_TIMING_FRAMES while the II they give is not the steady state
TIMING_FRAMES = 4
MAX_TIMING_FRAMES = 64
#: cycles between reset release and the first input beat offered (as in the testbench);
#: a window scanner already walks top-left pad positions in them
LEAD_CYCLES = 1


class _Blk:
    def __init__(self, b: Block) -> None:
        self.b = b
        self.i = b.ins
        self.o = b.outs

    def valid(self, V: dict[str, bool]) -> None:
        raise NotImplementedError

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        raise NotImplementedError

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        raise NotImplementedError


class _Skid(_Blk):
    def __init__(self, b: Block) -> None:
        super().__init__(b)
        self.main_v = False
        self.skid_v = False

    def valid(self, V: dict[str, bool]) -> None:
        V[self.o[0]] = self.main_v

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        R[self.i[0]] = not self.skid_v

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        s_valid = V[self.i[0]]
        if R[self.o[0]] or not self.main_v:
            if self.skid_v:
                self.main_v, self.skid_v = True, False
            else:
                self.main_v = s_valid
        elif s_valid and not self.skid_v:
            self.skid_v = True


class _Wire(_Blk):
    def valid(self, V: dict[str, bool]) -> None:
        V[self.o[0]] = V[self.i[0]]

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        R[self.i[0]] = R[self.o[0]]

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        pass


class _Pipe(_Blk):
    """nnfab_pipe_ctrl: S valid bits, global stall."""

    def __init__(self, b: Block) -> None:
        super().__init__(b)
        self.v = [False] * int(b.p["S"])

    def valid(self, V: dict[str, bool]) -> None:
        V[self.o[0]] = self.v[-1]

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        R[self.i[0]] = R[self.o[0]] or not self.v[-1]

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        if R[self.o[0]] or not self.v[-1]:
            self.v = [V[self.i[0]]] + self.v[:-1]


class _Folded(_Blk):
    """nnfab_dense_folded: row counter, its pipeline stages (its latency less ``R``:
    :data:`generator.backends.rtl.plan.FOLDED_DEPTH` of its ``PIPE``), output register."""

    def __init__(self, b: Block) -> None:
        super().__init__(b)
        self.R = int(b.p["R"])
        depth = int(b.p["stage"].latency) - self.R
        self.r = 0
        self.out_v = False
        self.pipe = [(False, False)] * depth  # (valid, last row) per stage

    def valid(self, V: dict[str, bool]) -> None:
        V[self.o[0]] = self.out_v

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        ce = (not self.out_v) or R[self.o[0]]
        R[self.i[0]] = ce and self.r == 0

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        ce = (not self.out_v) or R[self.o[0]]
        if not ce:
            return
        start = self.r == 0
        issue = V[self.i[0]] if start else True
        last = self.r == self.R - 1
        v, lst = self.pipe[-1]
        self.out_v = v and lst
        self.pipe = [(issue, last)] + self.pipe[:-1]
        if issue:
            self.r = 0 if last else self.r + 1


class _Window(_Blk):
    """nnfab_window: scans the padded frame; pad positions need no input."""

    def __init__(self, b: Block) -> None:
        super().__init__(b)
        p = b.p
        self.hp, self.wp = p["HP"], p["WP"]
        self.rowv, self.colv, self.rowr, self.colr = p["ROWV"], p["COLV"], p["ROWR"], p["COLR"]
        self.r = self.c = 0
        self.out_v = False

    def valid(self, V: dict[str, bool]) -> None:
        V[self.o[0]] = self.out_v

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        free = (not self.out_v) or R[self.o[0]]
        R[self.i[0]] = free and self.rowr[self.r] and self.colr[self.c]

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        free = (not self.out_v) or R[self.o[0]]
        if not free:
            return
        real = self.rowr[self.r] and self.colr[self.c]
        adv = (not real) or V[self.i[0]]
        self.out_v = adv and self.rowv[self.r] and self.colv[self.c]
        if adv:
            self.c += 1
            if self.c == self.wp:
                self.c = 0
                self.r = 0 if self.r + 1 == self.hp else self.r + 1


class _Gather(_Blk):
    """nnfab_global_pool / nnfab_collect: N beats in, one vector out."""

    def __init__(self, b: Block) -> None:
        super().__init__(b)
        self.n = int(b.p["N"])
        self.k = 0
        self.out_v = False

    def valid(self, V: dict[str, bool]) -> None:
        V[self.o[0]] = self.out_v

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        R[self.i[0]] = (not self.out_v) or R[self.o[0]]

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        free = (not self.out_v) or R[self.o[0]]
        if not free:
            return
        fire = V[self.i[0]]
        self.out_v = fire and self.k == self.n - 1
        if fire:
            self.k = 0 if self.k == self.n - 1 else self.k + 1


class _Upsample(_Blk):
    """nnfab_upsample: FX copies of each pixel, FY replays of each row."""

    def __init__(self, b: Block) -> None:
        super().__init__(b)
        p = b.p
        self.fx, self.fy, self.w = p["FX"], p["FY"], p["W"]
        self.ry = self.c = self.k = 0
        self.out_v = False

    def valid(self, V: dict[str, bool]) -> None:
        V[self.o[0]] = self.out_v

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        free = (not self.out_v) or R[self.o[0]]
        R[self.i[0]] = free and self.ry == 0 and self.k == self.fx - 1

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        free = (not self.out_v) or R[self.o[0]]
        if not free:
            return
        adv = self.ry != 0 or V[self.i[0]]
        self.out_v = adv
        if adv:
            self.k += 1
            if self.k == self.fx:
                self.k = 0
                self.c += 1
                if self.c == self.w:
                    self.c = 0
                    self.ry = 0 if self.ry + 1 == self.fy else self.ry + 1


class _Fork(_Blk):
    def __init__(self, b: Block) -> None:
        super().__init__(b)
        self.done = [False] * len(b.outs)

    def valid(self, V: dict[str, bool]) -> None:
        v = V[self.i[0]]
        for k, o in enumerate(self.o):
            V[o] = v and not self.done[k]

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        R[self.i[0]] = all(d or R[o] for d, o in zip(self.done, self.o))

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        if V[self.i[0]] and R[self.i[0]]:
            self.done = [False] * len(self.o)
        else:
            self.done = [d or (V[o] and R[o]) for d, o in zip(self.done, self.o)]


class _Fifo(_Blk):
    def __init__(self, b: Block) -> None:
        super().__init__(b)
        self.depth = int(b.p["DEPTH"])
        self.count = 0
        self.peak = 0  # largest count + 1 seen at a push

    def valid(self, V: dict[str, bool]) -> None:
        V[self.o[0]] = self.count > 0 if self.depth else V[self.i[0]]  # depth 0: a wire

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        R[self.i[0]] = self.count < self.depth if self.depth else R[self.o[0]]

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        push = V[self.i[0]] and self.count < self.depth
        pop = self.count > 0 and R[self.o[0]]
        if push:
            self.peak = max(self.peak, self.count + 1)
        self.count += int(push) - int(pop)


class _Join(_Blk):
    def valid(self, V: dict[str, bool]) -> None:
        V[self.o[0]] = all(V[i] for i in self.i)

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        r = R[self.o[0]] and all(V[i] for i in self.i)
        for i in self.i:
            R[i] = r

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        pass


class _Serialize(_Blk):
    """nnfab_serialize: holds a vector while its N beats leave, one per cycle."""

    def __init__(self, b: Block) -> None:
        super().__init__(b)
        self.n = int(b.p["N"])
        self.busy = False
        self.k = 0

    def _in_ready(self, R: dict[str, bool]) -> bool:
        return not self.busy or (R[self.o[0]] and self.k == self.n - 1)

    def valid(self, V: dict[str, bool]) -> None:
        V[self.o[0]] = self.busy

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        R[self.i[0]] = self._in_ready(R)

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        take = V[self.i[0]] and self._in_ready(R)
        done = self.busy and R[self.o[0]] and self.k == self.n - 1
        if self.busy and R[self.o[0]]:
            self.k = 0 if self.k == self.n - 1 else self.k + 1
        self.busy = True if take else (False if done else self.busy)


class _Chain(_Blk):
    """Blocks one after another inside one block (streams named after the block)."""

    def __init__(self, b: Block, parts: list[tuple[Any, dict[str, Any]]]) -> None:
        super().__init__(b)
        names = [b.ins[0]] + [f"{b.name}.{k}" for k in range(len(parts) - 1)] + [b.outs[0]]
        self.parts = [cls(Block(f"{b.name}.{k}", [names[k]], [names[k + 1]], p=p))
                      for k, (cls, p) in enumerate(parts)]

    def valid(self, V: dict[str, bool]) -> None:
        for p in self.parts:
            p.valid(V)

    def ready(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        for p in self.parts[::-1]:
            p.ready(V, R)

    def tick(self, V: dict[str, bool], R: dict[str, bool]) -> None:
        for p in self.parts:
            p.tick(V, R)


@singledispatch
def control(b: Block) -> _Blk:
    """The state machine of block ``b``'s control."""
    raise AssertionError(b.kind)  # pragma: no cover


control.register(Skid, _Skid)
control.register(Wire, _Wire)
control.register(Pipe, _Pipe)
control.register(Folded, _Folded)
control.register(Window, _Window)
control.register(GlobalPoolBlock, _Gather)
control.register(Collect, _Gather)
control.register(UpsampleBlock, _Upsample)
control.register(Fork, _Fork)
control.register(Fifo, _Fifo)
control.register(Join, _Join)


@control.register
def _(b: TransposeBlock) -> _Blk:
    return _Chain(b, [(_Gather, {"N": b.p["NI"]}), (_Serialize, {"N": b.p["NO"]})])


@control.register
def _(b: Unrolled) -> _Blk:
    """A layer of an unrolled CNN (:func:`generator.backends.rtl.plan.stage_of`) by its
    modules (:func:`unrolled_control`)."""
    return unrolled_control(b.p["stage"], b)


@singledispatch
def unrolled_control(st: Stage, b: Block) -> _Blk:
    """The control of whole-frame stage ``st`` in block ``b``: a constant-weight pipeline
    (conv, pool windows, softmax), wiring, a folded matrix, or window kernels shared by R
    pixels (serializer, kernel pipeline, collector)."""
    raise AssertionError(st.kind)  # pragma: no cover


@unrolled_control.register(ConvUnrolled)
@unrolled_control.register(PoolUnrolled)
@unrolled_control.register(SoftmaxStage)
def _(st: Stage, b: Block) -> _Blk:
    return _Pipe(Pipe(b.name, b.ins, b.outs, p={"S": st.latency}))


@unrolled_control.register
def _(st: Gather, b: Block) -> _Blk:
    return _Wire(b)


@unrolled_control.register
def _(st: ConvUnrolledFolded, b: Block) -> _Blk:
    return _Folded(Folded(b.name, b.ins, b.outs, p={"R": st.ii, "stage": st}))


@unrolled_control.register
def _(st: ConvUnrolledShared, b: Block) -> _Blk:
    r = int(st.info["reuse"])
    return _Chain(b, [(_Serialize, {"N": r}), (_Pipe, {"S": st.info["stages"]}),
                      (_Gather, {"N": r})])


@dataclass
class Result:
    in_cycles: list[int]
    out_cycles: list[int]
    in_beats: int
    out_beats: int
    frames: int
    fifo_peak: dict[str, int] = field(default_factory=dict)

    def stats(self) -> dict[str, Any]:
        return frame_stats(self.in_cycles, self.out_cycles, self.in_beats, self.out_beats)


def frame_stats(in_cycles: list[int], out_cycles: list[int], in_beats: int,
                out_beats: int) -> dict[str, Any]:
    """Latency / II of a full-rate run (the definitions of the module docstring).

    The testbench computes its measured numbers with this same function.
    """
    starts = in_cycles[::in_beats]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    return {
        "latency_cycles": out_cycles[0] - in_cycles[0] if out_cycles else None,
        "latency_last_cycles": (out_cycles[out_beats - 1] - in_cycles[0]
                                if len(out_cycles) >= out_beats else None),
        "ii_cycles": max(gaps[len(gaps) // 2:]) if gaps else None,
    }


class TooSlow(RuntimeError):
    """A run stopped once its output frame period was known to exceed a bound."""


def simulate(sp: StreamPlan, frames: int = TIMING_FRAMES, max_cycles: int | None = None,
             period_bound: int | None = None) -> Result:
    """Stream ``frames`` frames at full rate through the control of ``sp``.

    ``period_bound``: stop with :class:`TooSlow` as soon as a gap between the first
    output beats of two consecutive frames in the run's second half (the gaps whose
    largest is the steady-state output period) is known to exceed it; a run that
    completes has every such gap within the bound.
    """
    blks = [control(b) for b in sp.blocks]
    n_in = frames * sp.in_beats
    n_out = frames * sp.out_beats
    V: dict[str, bool] = {}
    R: dict[str, bool] = {}
    ins: list[int] = []
    outs: list[int] = []
    src, dst = "s_axis", sp.output
    if max_cycles is None:  # well above what any frame can take (else a deadlock): a
        # block's latency per input beat bounds its cycles per beat (a folded layer's R)
        max_cycles = 1000 + 50 * n_in * max(1, max(s.beats for s in sp.streams.values())) + (
            4 * frames * sum(b.latency() * sp.streams[b.ins[0]].beats
                             for b in sp.blocks if b.ins[0] in sp.streams))
    cycle = 0
    rev = blks[::-1]
    ob = sp.out_beats
    # frame starts from which a gap counts: gaps[(frames - 1) // 2:] (as _out_period)
    watch_from = ((frames - 1) // 2) * ob + 1
    deadline = max_cycles + 1
    while len(outs) < n_out:
        cycle += 1
        if cycle > max_cycles:
            raise RuntimeError(f"cycle model: no progress after {max_cycles} cycles "
                               f"({len(ins)} beats in, {len(outs)} out)")
        if cycle > deadline:
            raise TooSlow(f"cycle model: an output frame period above {period_bound}")
        V[src] = cycle > LEAD_CYCLES and len(ins) < n_in
        for b in blks:
            b.valid(V)
        R[dst] = True
        for b in rev:
            b.ready(V, R)
        if V[src] and R[src]:
            ins.append(cycle)
        if V[dst]:
            outs.append(cycle)
            if period_bound is not None and (len(outs) - 1) % ob == 0:  # a frame starts
                # a watched frame's successor must start within the bound; the last
                # frame has none
                deadline = (cycle + period_bound if watch_from <= len(outs) <= n_out - ob
                            else max_cycles + 1)
        for b in blks:
            b.tick(V, R)
    peaks = {b.b.name: b.peak for b in blks if isinstance(b, _Fifo)}
    return Result(ins, outs, sp.in_beats, sp.out_beats, frames, peaks)


def steady_frames(latency: int, period: int) -> int:
    """Frames a full-rate run needs for its second half to be the steady state: the
    pipeline's fill (``latency / period`` frames in flight) twice over, and 4 more."""
    return 2 * -(-int(latency) // max(1, int(period))) + 4


def model(sp: StreamPlan, frames: int = TIMING_FRAMES) -> dict[str, Any]:
    """Latency / II of ``sp`` over ``frames`` full-rate frames, and the long-run period.

    Where buffers let the first frames in early (a branch with no FIFO beside a
    pipeline that holds frames, say), the second half of ``frames`` frames can still
    hold that transient: ``frames`` is then doubled (up to :data:`MAX_TIMING_FRAMES`)
    until the II is the steady state's, and ``frames`` tells the testbench how many
    frames its timing phase must stream to measure the same. The steady state is a run
    that outlasts the pipeline's fill twice over (a whole-frame design of one beat per
    frame holds its latency's worth of frames: while its FIFOs fill, the first frames
    may enter faster than the period it sustains)."""
    st = simulate(sp, frames).stats()
    steady = steady_frames(st["latency_last_cycles"], st["ii_cycles"])
    period = simulate(sp, max(frames, 8, steady)).stats()["ii_cycles"]
    while st["ii_cycles"] != period and frames < MAX_TIMING_FRAMES:
        frames *= 2
        st = simulate(sp, frames).stats()
    st["frame_cycles"] = period
    st["frames"] = frames
    return st
