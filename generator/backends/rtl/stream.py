"""The streamed (pixel-per-beat) RTL architecture of a convolutional graph, as plain data.

A graph with any spatial op (Conv, Pool, GlobalPool, Pad, Crop, Upsample) is rendered as a
dataflow of hardware *blocks* joined by valid/ready *streams*. :func:`build` turns the
graph into a :class:`StreamPlan`; :mod:`.emit` renders it as Verilog and
:mod:`.cycles` simulates its handshakes cycle by cycle (the cycle model), so both read
the same description.

Top-level convention (a streamed design):

* input ``s_axis``: one beat per PIXEL (all ``C`` channels of one spatial position,
  channel ``c`` at ``tdata[c*W +: W]``), positions in row-major order (rank 1: one beat
  per position); ``tlast`` is driven on the last pixel of a frame but not used: the
  design counts positions;
* output ``m_axis``: when the graph output still has spatial axes, one beat per pixel in
  the same layout and ``tlast`` on the last pixel of each frame; when it is a vector
  (after Flatten, GlobalPool, Dense) one beat per frame holding the whole vector
  (element ``i`` at ``tdata[i*W +: W]``) with ``tlast`` on every beat.

Blocks (``kind``) and their Verilog (``lib/``):

* ``skid``     ``nnfab_axis_skid``: the input register slice (latency 1);
* ``wire``     element-wise ops on each beat (Quantize, Relu, LeakyRelu, Binarize, Ternarize,
  Threshold, Table; ``nnfab_*_vec`` on the ``C`` channels) and vector Reshape: combinational;
* ``window``   ``nnfab_window``: scans the *padded* frame one position per cycle (a pad
  position needs no input and is filled with ``FILL``: 0 for Conv/Pad/avg-Pool, the
  type minimum for max-Pool, which then ignores it), keeps ``KH-1`` rows in a line
  buffer (``nnfab_ram_sdp``, one word of ``(KH-1)*C`` elements per padded column,
  block-RAM inferrable) and a ``KH x KW`` window register, and emits the window of every
  position on the stride grid only; a Crop is a ``1 x 1`` window over the unpadded frame
  that emits only the positions it keeps;
* ``pipe``     a one-window-per-cycle pipeline under ``nnfab_pipe_ctrl``: a conv
  (shift-add constant multiplies of the nonzero weights, one adder tree per output
  channel: a fully parallel Dense over the flattened window), a pool window reduction
  (``nnfab_pool_win``), or a fully parallel Dense;
* ``folded``   ``nnfab_dense_folded``: a Dense with strategy resource, or a Conv with
  reuse ``R > 1`` (its per-pixel matmul ``window @ conv_matrix`` folded: ``R`` cycles
  per output pixel, see :func:`conv_folded_stage`);
* ``gpool``    ``nnfab_global_pool``: per-channel running sum / max over a frame;
* ``collect``  ``nnfab_collect``: gathers the pixels of a frame into one vector (Flatten);
* ``upsample`` ``nnfab_upsample``: repeats pixels, replays rows from a row buffer;
* ``transpose`` a Permute of an image: ``nnfab_collect`` gathers the frame, the permuted
  frame is wiring, ``nnfab_serialize`` sends it as the output's beats (II: the larger of
  the two beat counts);
* ``fork``     ``nnfab_fork``: a tensor with several users; each user gets the beat once;
* ``fifo``     ``nnfab_fifo``: on every fork output (depth: see :func:`.design.size_fifos`; depth 0
  is no FIFO, the fork output wired through);
* ``join``     Add (aligned exact sum), Merge (difference, max, min, sum with ``k`` more
  fraction bits) / Concat of beats that arrive together: comb.;
* ``unrolled`` a layer of an unrolled CNN with branches (io parallel, one beat per
  frame): the module of its whole-frame stage (:func:`.plan.stage_of`).

Every block's handshake is written so that ``valid`` depends only on registers and
upstream ``valid`` (never on ``ready``): no combinational loop through forks and joins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

import numpy as np

from ...ir import (
    Add,
    Concat,
    Conv,
    Crop,
    Dense,
    Embedding,
    GlobalPool,
    Graph,
    Input,
    Merge,
    Node,
    Pad,
    Pool,
    Reshape,
    Softmax,
    Transpose,
    Upsample,
    ops_with,
    pad_geometry,
)
from ...passes.folding import aligned_bias, conv_matrix
from ...passes.unroll import SPATIAL_OPS, gather
from .plan import (
    FOLDED_DEPTH,
    CollectStage,
    ConvFolded,
    ConvParallel,
    DenseFolded,
    DenseParallel,
    GlobalPoolStage,
    InputStage,
    JoinStage,
    PoolParallel,
    RTLUnsupported,
    Stage,
    TransposeStage,
    UpsampleStage,
    WindowStage,
    WireStage,
    folded_pipe,
    fused_requant,
    ident,
    mac_info,
    node_timing,
    stage_of,
    window_sign_inputs,
)

#: ops a block-level design builds as combinational logic on a stream (:class:`Wire`)
ELEMENTWISE = ops_with("ELEMENTWISE")
#: FIFO depth used while sizing (effectively unbounded)
UNBOUNDED = 1 << 30


def is_streamed(g: Graph) -> bool:
    """Does ``g`` get the pixel-streamed architecture (a spatial op and ``io: stream``;
    with ``io: parallel`` a CNN is unrolled instead, see :mod:`generator.passes.unroll`)?"""
    from ...passes.unroll import io_type

    return io_type(g) == "stream" and any(isinstance(n, SPATIAL_OPS) for n in g.nodes)


def block_level(g: Graph) -> bool:
    """Is ``g`` built from the blocks of this module: pixel-streamed, or whole-vector
    (an MLP, or an unrolled CNN: one beat per frame) with branches (:func:`branches`),
    which are forked, buffered and joined as a streamed CNN's pixels are?"""
    return is_streamed(g) or branches(g)


def branches(g: Graph) -> bool:
    """Does a tensor of ``g`` feed more than one layer (or a layer read several)?"""
    return any(len(n.output.users) > 1 or len(n.inputs) > 1 for n in g.nodes)


@dataclass
class Stream:
    """A valid/ready channel: ``elems`` elements of ``width`` bits per beat."""

    name: str
    elems: int
    width: int
    signed: bool
    beats: int  # beats per frame

    @property
    def bits(self) -> int:
        return self.elems * self.width


@dataclass
class Block:
    """A hardware block between streams: its parameters in ``p``. Each block of the list
    above is a subclass; ``kind`` names it in the generated Verilog and in reports."""

    name: str
    ins: list[str]
    outs: list[str]
    node: Node | None = None
    p: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = ""
    #: the stage a node reports when this is its last block
    reports: ClassVar[type[Stage]] = Stage

    def latency(self) -> int:
        """Cycles the block adds to a beat passing at full rate (pipeline depth)."""
        return 0

    def layer(self, latency: int, info: dict[str, Any], sp: StreamPlan) -> Stage:
        """The report's stage of this block's node, whose last block it is: ``latency``
        the cycles its blocks add, ``info`` its parameters and its blocks' names."""
        assert self.node is not None  # only fork and fifo blocks have no node
        return self.reports(self.node, latency, 1, info)


class Skid(Block):
    """``nnfab_axis_skid``: the input register slice."""

    kind = "skid"
    reports = InputStage

    def latency(self) -> int:
        return 1


class Wire(Block):
    """Element-wise ops on each beat, or a vector Reshape: combinational."""

    kind = "wire"
    reports = WireStage

    def layer(self, latency: int, info: dict[str, Any], sp: StreamPlan) -> Stage:
        info["size"] = sp.streams[self.outs[0]].elems  # the elements of each beat
        return super().layer(latency, info, sp)


class Window(Block):
    """``nnfab_window``: the padded frame scanned, a line buffer, the window register."""

    kind = "window"
    reports = WindowStage

    def latency(self) -> int:
        return 1


class Pipe(Block):
    """A one-window-per-cycle pipeline of ``p["S"]`` stages under ``nnfab_pipe_ctrl``."""

    kind = "pipe"

    def latency(self) -> int:
        return int(self.p["S"])


class ConvPipe(Pipe):
    """A conv's adder graph over the flattened window (``p["mac"]``: its
    :func:`.plan.mac_info`)."""

    reports = ConvParallel

    def layer(self, latency: int, info: dict[str, Any], sp: StreamPlan) -> Stage:
        info.update(self.p["mac"])
        return super().layer(latency, info, sp)


class PoolPipe(Pipe):
    """A pool window reduction (``nnfab_pool_win``)."""

    reports = PoolParallel


class DensePipe(Pipe):
    """A fully parallel Dense (``p["stage"]``: its :class:`.plan.DenseParallel`)."""

    def layer(self, latency: int, info: dict[str, Any], sp: StreamPlan) -> Stage:
        assert self.node is not None
        return DenseParallel(self.node, latency, 1, dict(self.p["stage"].info))


class Folded(Block):
    """``nnfab_dense_folded``: a folded Dense or a Conv's folded per-pixel matmul
    (``p["stage"]``), ``p["R"]`` cycles per beat."""

    kind = "folded"

    def latency(self) -> int:
        return int(self.p["stage"].latency)

    def layer(self, latency: int, info: dict[str, Any], sp: StreamPlan) -> Stage:
        assert self.node is not None
        st = self.p["stage"]
        return replace(st, node=self.node, latency=latency, ii=self.p["R"],
                       info={**{k: v for k, v in info.items() if k in ("KH", "KW", "C")},
                             **st.info})  # (a Conv's window geometry)


class GlobalPoolBlock(Block):
    """``nnfab_global_pool``: per-channel running sum / max over a frame."""

    kind = "gpool"
    reports = GlobalPoolStage

    def latency(self) -> int:
        return 1


class Collect(Block):
    """``nnfab_collect``: the pixels of a frame gathered into one vector."""

    kind = "collect"
    reports = CollectStage

    def latency(self) -> int:
        return 1


class UpsampleBlock(Block):
    """``nnfab_upsample``: pixels repeated, rows replayed from a row buffer."""

    kind = "upsample"
    reports = UpsampleStage

    def latency(self) -> int:
        return 1


class TransposeBlock(Block):
    """A Permute of an image: ``nnfab_collect``, wiring, ``nnfab_serialize``."""

    kind = "transpose"
    reports = TransposeStage

    def latency(self) -> int:
        return 2


class Fork(Block):
    """``nnfab_fork``: each user of a tensor gets every beat once."""

    kind = "fork"


class Fifo(Block):
    """``nnfab_fifo`` of ``p["DEPTH"]`` beats on a fork output (depth 0: wires)."""

    kind = "fifo"

    def latency(self) -> int:
        return int(self.p.get("DEPTH", 1) > 0)


class Join(Block):
    """Add, Merge or Concat of beats that arrive together: combinational."""

    kind = "join"
    reports = JoinStage


class Unrolled(Block):
    """A layer of an unrolled CNN with branches: the module of its whole-frame stage
    (``p["stage"]``)."""

    kind = "unrolled"

    def latency(self) -> int:
        return int(self.p["stage"].latency)

    def layer(self, latency: int, info: dict[str, Any], sp: StreamPlan) -> Stage:
        assert self.node is not None
        st: Stage = self.p["stage"]
        return replace(st, node=self.node, latency=latency)


@dataclass
class StreamPlan:
    blocks: list[Block]
    streams: dict[str, Stream]
    input: str  # stream name of the design input (after the skid)
    output: str  # stream name of the design output
    in_beats: int
    out_beats: int

    def block(self, name: str) -> Block:
        return next(b for b in self.blocks if b.name == name)


def _spatial(shape: tuple[int, ...]) -> tuple[int, int]:
    """(H, W) of a channels-last spatial shape of rank 1 or 2."""
    if len(shape) == 2:
        return 1, shape[0]
    if len(shape) == 3:
        return shape[0], shape[1]
    raise RTLUnsupported(f"shape {shape}: the RTL backend streams rank-1 and rank-2 images")


def window_params(in_shape: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
                  pads: tuple[int, ...], fill: int, width: int) -> dict[str, Any]:
    """Geometry of an ``nnfab_window`` (a rank-1 image is a 1-row rank-2 one)."""
    h, w = _spatial(in_shape)
    c = in_shape[-1]
    if len(kernel) == 1:
        kh, kw, sh, sw = 1, kernel[0], 1, strides[0]
        pt, pb, pl, pr = 0, 0, pads[0], pads[1]
    else:
        kh, kw = kernel
        sh, sw = strides
        pt, pb, pl, pr = pads
    hp, wp = h + pt + pb, w + pl + pr
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    if kh > 1 and wp < 2:
        raise RTLUnsupported("a line buffer needs a padded width of at least 2")
    rowv = [r >= kh - 1 and (r - kh + 1) % sh == 0 and (r - kh + 1) // sh < ho for r in range(hp)]
    colv = [q >= kw - 1 and (q - kw + 1) % sw == 0 and (q - kw + 1) // sw < wo for q in range(wp)]
    rowr = [pt <= r < pt + h for r in range(hp)]
    colr = [pl <= q < pl + w for q in range(wp)]
    return {"H": h, "W": w, "C": c, "KH": kh, "KW": kw, "SH": sh, "SW": sw, "PT": pt,
            "PB": pb, "PL": pl, "PR": pr, "HP": hp, "WP": wp, "HO": ho, "WO": wo,
            "FILL": int(fill) % (1 << width), "ROWV": rowv, "COLV": colv, "ROWR": rowr,
            "COLR": colr, "linebuf_depth": wp if kh > 1 else 0,
            "linebuf_width": (kh - 1) * c * width}


def conv_folded_stage(n: Conv, shift: int, pipe: int = 0) -> Stage:
    """The folded per-pixel matmul of a Conv with reuse ``R > 1`` (``nnfab_dense_folded``
    on the window vector): the schedule of :func:`conv_matrix` at ``R``
    (:func:`generator.passes.folding.schedule_matrix`), ``M = ceil(nnz / R)``
    multipliers, latency ``R + FOLDED_DEPTH[pipe]`` cycles, II ``R`` cycles per output
    pixel (``pipe``: nnfab_dense_folded's ``PIPE``, :func:`.plan.folded_pipe`)."""
    from ...passes.folding import schedule_matrix

    wm = conv_matrix(n)
    sch = schedule_matrix(wm, int(n["reuse"]))
    b = aligned_bias(n)
    bias = [0] * wm.shape[1] if b is None else [int(v) for v in b]
    return ConvFolded(n, sch.reuse + FOLDED_DEPTH[pipe], sch.reuse,
                      {"n_in": int(wm.shape[0]), "n_out": int(wm.shape[1]), "bias": bias},
                      schedule=sch, reuse=sch.reuse, mults=sch.mults, shift=shift, pipe=pipe)


class _Builder:
    def __init__(self, g: Graph) -> None:
        self.g = g
        self.pipe = folded_pipe(g)  # nnfab_dense_folded's PIPE for the board's family
        self.blocks: list[Block] = []
        self.streams: dict[str, Stream] = {}
        self.src: dict[str, list[str]] = {}  # tensor -> streams its users read, in order
        self.spatial: dict[str, bool] = {}
        self.fused: set[str] = set()  # Quantize / Relu nodes built inside a shared conv

    def stream(self, name: str, elems: int, ft: Any, beats: int) -> str:
        if name in self.streams:
            raise RTLUnsupported(f"two streams named {name}")
        self.streams[name] = Stream(name, elems, ft.width, ft.signed, beats)
        return name

    def tensor_stream(self, t: Any, suffix: str = "") -> str:
        sp = self.spatial[t.name]
        elems = t.shape[-1] if sp else t.size
        beats = int(np.prod(t.shape[:-1])) if sp else 1
        return self.stream(ident(t.name) + suffix, elems, t.ftype, beats)

    def take(self, t: Any) -> str:
        """The stream a user of tensor ``t`` reads (one fork output per user)."""
        return self.src[t.name].pop(0)

    def publish(self, t: Any, s: str) -> None:
        users = len(t.users)
        if users <= 1:
            self.src[t.name] = [s]
            return
        forks = [self._copy(s, f"{ident(t.name)}_f{k}") for k in range(users)]
        self.blocks.append(Fork(f"fork_{ident(t.name)}", [s], forks))
        outs = []
        for k, f in enumerate(forks):
            q = self._copy(f, f"{ident(t.name)}_q{k}")
            self.blocks.append(Fifo(f"fifo_{ident(t.name)}_{k}", [f], [q],
                                     p={"DEPTH": UNBOUNDED}))
            outs.append(q)
        self.src[t.name] = outs

    def _copy(self, s: str, name: str) -> str:
        st = self.streams[s]
        self.streams[name] = Stream(name, st.elems, st.width, st.signed, st.beats)
        return name

    def node(self, n: Node) -> None:
        lower = BLOCKS.get(type(n))
        if lower is None:
            raise RTLUnsupported(unsupported(n.name, n.OP))
        ins = [self.take(t) for t in n.inputs]
        if n.name in self.fused:  # requantizes each beat inside the conv before it
            self.spatial[n.output.name] = False
            self.publish(n.output, ins[0])
            return
        self.publish(n.output, lower(self, n, ins))

    def unrolled(self, n: Node, ins: list[str]) -> str:
        """An unrolled CNN's spatial op: whole frames, a beat each."""
        nm, t_out = ident(n.name), n.output
        st = stage_of(n, unrolled=True, pipe=self.pipe)
        self.spatial[t_out.name] = False
        u = fused_requant(st)
        if u is not None:  # applied to each beat, as in a chain
            st.info["fused"] = u
            self.fused.add(u.name)
            self.spatial[u.output.name] = False
            s = self.tensor_stream(u.output)
        else:
            s = self.tensor_stream(t_out)
        self.blocks.append(Unrolled(nm, ins, [s], n, {"stage": st}))
        return s


#: the block-level lowering of each op class (:meth:`_Builder.node`): a function of the
#: builder, the node and the streams it reads, appending the node's blocks and returning
#: the stream of its output; registered by :func:`lowers`, in the order the refusal
#: message lists them
BLOCKS: dict[type[Node], Callable[..., str]] = {}
#: the name a refusal lists an op under when the blocks build only a case of it
LISTED: dict[type[Node], str] = {}
#: the ops the blocks never build, and why
REFUSED: dict[type[Node], str] = {
    Embedding: "a table row per element is built by the chain only (io parallel, no branches)",
}

_Lowering = TypeVar("_Lowering", bound=Callable[..., str])


def lowers(*classes: type[Node], listed: str = "") -> Callable[[_Lowering], _Lowering]:
    """Register the decorated function as the block-level lowering of ``classes``
    (listed in a refusal as ``listed`` if given)."""
    def register(f: _Lowering) -> _Lowering:
        for c in classes:
            BLOCKS[c] = f
            if listed:
                LISTED[c] = listed
        return f
    return register


def unsupported(name: str, op: str) -> str:
    """The one-line refusal of layer ``name`` of op ``op`` with no block-level lowering."""
    names = ", ".join(LISTED.get(c, c.OP) for c in BLOCKS if c is not Input)
    return (f"layer {name}: op {op} has no streamed RTL implementation; supported: {names} "
            "(use the HLS view)")


@lowers(Input)
def _input_blocks(b: _Builder, n: Input, ins: list[str]) -> str:
    image = is_streamed(b.g)
    if image and len(n.output.shape) < 2:
        raise RTLUnsupported("a streamed design needs an image input (rank 2 or 3)")
    b.spatial[n.output.name] = image  # else a vector per beat (a branched MLP)
    s = b.tensor_stream(n.output)
    b.blocks.append(Skid("skid", ["s_axis"], [s], n))
    return s


def _max_pool_type(n: Pool | GlobalPool) -> None:
    t_in, t_out = n.input, n.output
    if n["mode"] == "max" and (
            t_out.ftype.width, t_out.ftype.frac, t_out.ftype.signed) != (
            t_in.ftype.width, t_in.ftype.frac, t_in.ftype.signed):
        raise RTLUnsupported(f"layer {n.name}: max pooling into a different type "
                             "(the RTL passes raw values through)")


@lowers(Conv, Pool)
def _window_blocks(b: _Builder, n: Conv | Pool, ins: list[str]) -> str:
    if isinstance(n, Pool):
        _max_pool_type(n)
    t_in, t_out, nm = n.inputs[0], n.output, ident(n.name)
    if not b.spatial[t_in.name]:  # an unrolled CNN: whole frames
        return b.unrolled(n, ins)
    b.spatial[t_out.name] = True
    tin = t_in.ftype
    k, strides, pads = tuple(n["kernel"]), tuple(n["strides"]), tuple(n["pads"])
    fill = tin.min_raw if isinstance(n, Pool) and n["mode"] == "max" else 0
    wp = window_params(t_in.shape, k, strides, pads, fill, tin.width)
    trivial = all(v == 1 for v in k) and all(v == 1 for v in strides) and not any(pads)
    src = ins[0]
    if not trivial:
        src = b.stream(f"{nm}_win", wp["KH"] * wp["KW"] * wp["C"], tin,
                       wp["HO"] * wp["WO"])
        b.blocks.append(Window(f"{nm}_win", ins, [src], n, wp))
    s = b.tensor_stream(t_out)
    if isinstance(n, Conv):
        w = n.weights["weight"]
        sh = t_out.ftype.frac - (tin.frac + w.ftype.frac)
        if sh < 0:
            raise RTLUnsupported(
                f"layer {n.name}: accumulator has fewer fraction bits than products")
        if int(n["reuse"]) > 1:
            st = conv_folded_stage(n, sh, b.pipe)
            b.blocks.append(Folded(nm, [src], [s], n,
                                   {"stage": st, "R": st.ii,
                                    "K": wp["KH"] * wp["KW"]}))
        else:
            info = mac_info(conv_matrix(n), aligned_bias(n), sh,
                            sign=window_sign_inputs(n), timing=node_timing(n))
            b.blocks.append(ConvPipe(nm, [src], [s], n,
                                     {"S": info["stages"], "mac": info,
                                      "K": wp["KH"] * wp["KW"]}))
    else:
        b.blocks.append(PoolPipe(nm, [src], [s], n,
                                 {"S": 1, "K": wp["KH"] * wp["KW"]}))
    return s


@lowers(GlobalPool)
def _global_pool_blocks(b: _Builder, n: GlobalPool, ins: list[str]) -> str:
    _max_pool_type(n)
    if not b.spatial[n.inputs[0].name]:  # an unrolled CNN: whole frames
        return b.unrolled(n, ins)
    b.spatial[n.output.name] = False
    s = b.tensor_stream(n.output)
    b.blocks.append(GlobalPoolBlock(ident(n.name), ins, [s], n,
                                    {"N": b.streams[ins[0]].beats}))
    return s


@lowers(Pad)
def _pad_blocks(b: _Builder, n: Pad, ins: list[str]) -> str:
    t_in = n.inputs[0]
    if not b.spatial[t_in.name]:  # an unrolled CNN: whole frames
        return b.unrolled(n, ins)
    b.spatial[n.output.name] = True
    rank = len(t_in.shape) - 1
    wp = window_params(t_in.shape, (1,) * rank, (1,) * rank, tuple(n["pads"]), 0,
                       t_in.ftype.width)
    s = b.tensor_stream(n.output)
    b.blocks.append(Window(ident(n.name), ins, [s], n, wp))
    return s


@lowers(Crop)
def _crop_blocks(b: _Builder, n: Crop, ins: list[str]) -> str:
    t_in = n.inputs[0]
    if not b.spatial[t_in.name]:  # an unrolled CNN: whole frames
        return b.unrolled(n, ins)
    b.spatial[n.output.name] = True
    rank = len(t_in.shape) - 1
    wp = window_params(t_in.shape, (1,) * rank, (1,) * rank, (0,) * (2 * rank), 0,
                       t_in.ftype.width)
    ct, cb, cl, cr = pad_geometry(n["crops"])
    wp["ROWV"] = [ct <= r < wp["HP"] - cb for r in range(wp["HP"])]
    wp["COLV"] = [cl <= q < wp["WP"] - cr for q in range(wp["WP"])]
    wp["HO"], wp["WO"] = wp["HP"] - ct - cb, wp["WP"] - cl - cr
    s = b.tensor_stream(n.output)
    b.blocks.append(Window(ident(n.name), ins, [s], n, wp))
    return s


@lowers(Upsample)
def _upsample_blocks(b: _Builder, n: Upsample, ins: list[str]) -> str:
    t_in = n.inputs[0]
    if not b.spatial[t_in.name]:  # an unrolled CNN: whole frames
        return b.unrolled(n, ins)
    b.spatial[n.output.name] = True
    h, wd = _spatial(t_in.shape)
    f = tuple(n["factors"])
    fy, fx = (1, f[0]) if len(f) == 1 else f
    s = b.tensor_stream(n.output)
    b.blocks.append(UpsampleBlock(ident(n.name), ins, [s], n,
                                  {"H": h, "W": wd, "C": t_in.shape[-1], "FY": fy, "FX": fx}))
    return s


@lowers(Transpose)
def _transpose_blocks(b: _Builder, n: Transpose, ins: list[str]) -> str:
    sp = b.spatial[n.inputs[0].name]
    b.spatial[n.output.name] = sp
    s = b.tensor_stream(n.output)
    if sp:
        b.blocks.append(TransposeBlock(ident(n.name), ins, [s], n, {
            "NI": b.streams[ins[0]].beats, "NO": b.streams[s].beats,
            "gather": [int(i) for i in gather(n)[:, 0]]}))
    else:  # a whole-vector tensor: wiring
        b.blocks.append(Unrolled(ident(n.name), ins, [s], n, {"stage": stage_of(n)}))
    return s


@lowers(Softmax)
def _softmax_blocks(b: _Builder, n: Softmax, ins: list[str]) -> str:
    if b.spatial[n.inputs[0].name]:
        raise RTLUnsupported(f"layer {n.name}: Softmax of each pixel of an image")
    b.spatial[n.output.name] = False
    s = b.tensor_stream(n.output)
    b.blocks.append(Unrolled(ident(n.name), ins, [s], n, {"stage": stage_of(n)}))
    return s


@lowers(Add, Merge, Concat)
def _join_blocks(b: _Builder, n: Add | Merge | Concat, ins: list[str]) -> str:
    sps = {b.spatial[t.name] for t in n.inputs}
    if len(sps) > 1:
        raise RTLUnsupported(f"layer {n.name}: {n.OP} of an image and a vector")
    b.spatial[n.output.name] = sps.pop()
    s = b.tensor_stream(n.output)
    b.blocks.append(Join(ident(n.name), ins, [s], n,
                         {"op": "add" if isinstance(n, Add) else n["mode"]
                          if isinstance(n, Merge) else "concat",
                          "elems": b.streams[s].elems}))
    return s


@lowers(Dense)
def _dense_blocks(b: _Builder, n: Dense, ins: list[str]) -> str:
    b.spatial[n.output.name] = b.spatial[n.inputs[0].name]
    s = b.tensor_stream(n.output)
    st = stage_of(n, pipe=b.pipe)
    if isinstance(st, DenseFolded):
        b.blocks.append(Folded(ident(n.name), ins, [s], n, {"stage": st, "R": st.ii}))
    else:
        b.blocks.append(DensePipe(ident(n.name), ins, [s], n, {"S": st.latency, "stage": st}))
    return s


@lowers(*ELEMENTWISE)
def _elementwise_blocks(b: _Builder, n: Node, ins: list[str]) -> str:
    b.spatial[n.output.name] = b.spatial[n.inputs[0].name]
    s = b.tensor_stream(n.output)
    b.blocks.append(Wire(ident(n.name), ins, [s], n))
    return s


@lowers(Reshape, listed="Flatten")
def _reshape_blocks(b: _Builder, n: Reshape, ins: list[str]) -> str:
    sp, t_out = b.spatial[n.inputs[0].name], n.output
    if sp and len(t_out.shape) == 1:
        b.spatial[t_out.name] = False
        s = b.tensor_stream(t_out)
        b.blocks.append(Collect(ident(n.name), ins, [s], n, {"N": b.streams[ins[0]].beats}))
    elif not sp:
        b.spatial[t_out.name] = False
        s = b.tensor_stream(t_out)
        b.blocks.append(Wire(ident(n.name), ins, [s], n))
    else:
        raise RTLUnsupported(f"layer {n.name}: Reshape of an image to {t_out.shape} "
                             "(only Flatten to a vector is streamed)")
    return s


def build(g: Graph) -> StreamPlan:
    """The streamed architecture of ``g``, its fork FIFOs not yet sized (depth
    ``UNBOUNDED``; :func:`generator.backends.rtl.design.build` sizes them)."""
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise RTLUnsupported("the RTL backend supports one input and one output tensor")
    b = _Builder(g)
    for n in g.nodes:
        b.node(n)
    tout = g.outputs[0]
    out = b.src[tout.name][0]
    first = b.blocks[0].outs[0]
    return StreamPlan(b.blocks, b.streams, first, out, b.streams[first].beats,
                      b.streams[out].beats)


__all__ = ["Block", "Collect", "ConvPipe", "DensePipe", "Fifo", "Folded", "Fork",
           "GlobalPoolBlock", "Join", "Pipe", "PoolPipe", "Skid", "Stream", "StreamPlan",
           "TransposeBlock", "Unrolled", "UpsampleBlock", "Window", "Wire", "build",
           "conv_folded_stage", "conv_matrix", "is_streamed", "window_params"]
