"""The RTL architecture of a typed graph, as plain data: one :class:`Stage` per node.

This is the single description both the Verilog emitter (:mod:`.emit`) and the cycle
and resource model (:mod:`generator.estimate`) read, so the model predicts exactly what
the RTL does:

* the input stream passes a 2-register AXI-Stream skid buffer: 1 cycle;
* element-wise nodes (Quantize, Relu, LeakyRelu, Binarize, Ternarize, Threshold, Table,
  Reshape) are combinational: 0 cycles, II 1; one whose output the delay model
  registers (``register_output``, :mod:`generator.passes.timing`) is followed by
  ``nnfab_reg``: 1 cycle (on ECP5 a registered Quantize / Relu that rounds and
  saturates: 2 cycles, a register between the two, :func:`split_cast`);
* a fully parallel Dense (strategy ``latency``) multiplies by its constant weights with
  adders only: the shared adder graph of :mod:`.cmvm` (the canonical signed digits of all
  weights; pairs of shifted inputs that several outputs hold are built once, nodes at
  most ``cmvm.MAX_DEPTH`` adders deep), then per output a tree over its ``T`` terms (the
  graph's terms plus a nonzero bias) adding the earliest values first, with exact widths
  and explicit signs (:func:`.cmvm.netlist`), a register wherever a value crosses a
  multiple of ``cmvm.STAGE_ADDERS`` adder levels (graph nodes included), and every
  output registered after the layer's last stage: latency :func:`.cmvm.latency` cycles
  (at least 1), II 1; over binarized (+-1) inputs the graph adds their sign bits
  (:func:`sign_form`: a binary x binary layer is a popcount whose partial counts the
  outputs share);
* a folded Dense (strategy ``resource``, reuse ``R``) is ``nnfab_dense_folded``:
  latency ``R + 2`` cycles (``R + 7`` on ECP5: :data:`FOLDED_DEPTH`, :func:`folded_pipe`),
  II ``R``;
* a folded Dense with ``skip_zeros`` is ``nnfab_dense_skip``: a vector takes
  ``c = max(1, sum of the row counts of its nonzero inputs)`` cycles
  (:meth:`generator.passes.folding.SkipSchedule.cycles`, exact per vector), latency
  ``c + 2``; the stage's static latency/II are the worst case (every input nonzero).

A chain of these stages is a *valid-only* pipeline (:func:`valid_only`): no layer ever
stalls, so no ready or clock-enable signal runs from the output back through the
layers; the input (``nnfab_admit``) admits a vector only while the output FIFO (the
:func:`credits` vectors a full-rate run holds in flight) has a slot for it that no
earlier vector claims, and no sooner than II cycles after the previous one. The output
FIFO adds a cycle. A chain with a zero-skipping layer keeps a handshake between its
layers (the skid buffer at the input, each layer's stall from the next).

Design totals: latency = 1 + sum of stage latencies (+ 1, the output FIFO, in a
valid-only chain) (a vector entering an empty pipeline, consumer ready), II = max of
stage IIs.

A graph with spatial ops (Conv, Pool, GlobalPool, Pad, Crop, Upsample) and ``io: parallel`` is
*unrolled* (:mod:`generator.passes.unroll`): the whole frame is one beat, as an MLP's
vector is, and every spatial op is a one-frame-per-cycle stage of the same chain:

* a Conv (``conv_unrolled``) is the fully parallel Dense over flattened frames of
  :func:`generator.passes.unroll.conv_dense` (one shift-add constant multiply per nonzero
  weight and valid output pixel, padding builds nothing): latency and II as a fully
  parallel Dense; with reuse ``R > 1`` (``conv_unrolled_folded``) that matrix is folded
  onto ``nnfab_dense_folded`` exactly as a folded Dense: latency ``R + 2`` (ECP5 ``R + 7``), II ``R``
  (strategy ``resource``); with strategy ``latency`` and reuse ``R > 1``
  (``conv_unrolled_shared``) its constant-weight window kernels are shared instead:
  ``k = ceil(pixels / R)`` kernels take ``R`` beats of ``k`` windows per frame
  (``nnfab_serialize`` holds the frame and counts the beats, ``nnfab_collect`` gathers
  the outputs): latency ``S + R + 1`` (``S`` the kernels' adder-tree stages), II ``R``;
  a Quantize / Relu right after it is applied per beat, before the collection;
* a Pool / GlobalPool (``pool_unrolled``) reduces every window at once (a max tree, or
  an exact sum cast by ``nnfab_div_round``) into a register: latency 1, II 1;
* Pad, Crop, Upsample, Transpose and Reshape (``gather``, ``reshape``) are wiring: 0 cycles.

A whole-vector design with branches (a tensor read by several layers: a residual Add, a
Concatenate), MLP or unrolled CNN, is built from the blocks of :mod:`.stream` with one
beat per frame (each of these stages an ``unrolled`` block, Dense a ``pipe`` or
``folded`` one) and timed by its cycle model, forks, FIFOs and joins included.

With ``io: stream`` such a graph is instead streamed one pixel per beat: its block-level
architecture is :mod:`.stream` (line buffers, windows, forks with FIFOs sized by the cycle
model, joins) and its totals come from the cycle model :mod:`.cycles`; :func:`.design.plan` still
returns one :class:`Stage` per node for the per-layer report.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from ...errors import RTLUnsupported
from ...fixed import FixedType, Overflow, Rounding
from ...ir import (
    Add,
    Binarize,
    Clip,
    Concat,
    Conv,
    Dense,
    Embedding,
    GlobalPool,
    Graph,
    Input,
    LeakyRelu,
    Merge,
    Node,
    Pool,
    Quantize,
    Relu,
    Reshape,
    ScaleShift,
    Softmax,
    Table,
    Ternarize,
    Threshold,
    Transpose,
    ops_with,
)
from ...passes.folding import binarized_input
from ...reference import exp_index, scale_shift_frac

if TYPE_CHECKING:
    from ...passes.folding import Schedule, SkipSchedule

#: cycles of the input skid buffer
SKID_LATENCY = 1
#: nnfab_dense_folded's latency is R + FOLDED_DEPTH[PIPE] cycles after the R rows it
#: issues. PIPE 0: the ROM word register, the product register. PIPE 1: the ROM word
#: register, each multiplier's copy of its entry, the selected operands' fabric
#: register, the operand registers, the product register (nnfab_mul), the products'
#: fabric register and the register of the products' sum per output
FOLDED_DEPTH = {0: 2, 1: 7}


def folded_pipe(g: Graph) -> int:
    """nnfab_dense_folded's ``PIPE`` for graph ``g``: 1 on a family of
    :data:`generator.timing.FOLDED_APART` (its board's, :func:`generator.timing.target`),
    else 0."""
    from ...timing import FOLDED_APART, target

    return int(target(g)[0] in FOLDED_APART)
#: rounding / overflow codes of nnfab_requant
ROUND_CODE = {
    Rounding.TRN: 0,
    Rounding.TRN_ZERO: 1,
    Rounding.RND: 2,
    Rounding.RND_ZERO: 3,
    Rounding.RND_MIN_INF: 4,
    Rounding.RND_INF: 5,
    Rounding.RND_CONV: 6,
}
OVF_CODE = {Overflow.WRAP: 0, Overflow.SAT: 1, Overflow.SAT_ZERO: 2, Overflow.SAT_SYM: 3}

_VERILOG_KEYWORDS = {
    "module", "input", "output", "wire", "reg", "begin", "end", "assign", "always",
    "initial", "if", "else", "case", "for", "function", "task", "parameter", "integer",
    "generate", "endmodule", "signed", "default", "table", "logic", "int", "time",
}


def clog2(n: int) -> int:
    return max(0, (int(n) - 1).bit_length())


def ident(name: str) -> str:
    """A Verilog identifier for a node/graph name."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not s or s[0].isdigit() or s.lower() in _VERILOG_KEYWORDS:
        s = "n_" + s
    return s


@dataclass
class Stage:
    """One node rendered in RTL: its latency and II in cycles and the parameters of its
    module (``info``). Each form of hardware is a subclass; ``kind`` names it in reports."""

    node: Node
    latency: int
    ii: int
    info: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = ""

    @property
    def name(self) -> str:
        return self.node.name

    def hold(self) -> int:
        """Vectors this stage of a whole-vector design can hold in flight at most (the
        TLAST side-band FIFO, :func:`.design.fifo_aw`, holds as many): none for wiring."""
        return 0


class InputStage(Stage):
    """The design input (the skid buffer or the admission in front of it)."""

    kind = "input"


class ElementwiseStage(Stage):
    """An element-wise op on the whole vector (``nnfab_*_vec``): combinational, or
    registered (``register_output``: ``nnfab_reg``), or rounded and saturated a
    register apart (``info["mid"]``, :func:`split_cast`)."""

    kind = "elementwise"

    def hold(self) -> int:
        return self.latency


class ReshapeStage(Stage):
    """A vector Reshape: wiring."""

    kind = "reshape"


class AdderGraph(Stage):
    """A fully parallel multiply-accumulate by constant weights: the shift-add adder
    graph and output trees of :func:`mac_info` (``info``), no multiplier."""


@dataclass(kw_only=True)
class FoldedStage(Stage):
    """A multiply-accumulate folded onto ``mults`` multipliers that take ``reuse`` cycles
    per vector; ``shift`` the product-to-accumulator left shift."""

    reuse: int
    mults: int
    shift: int

    def hold(self) -> int:
        # its pipeline takes a vector every II cycles; one more in the output register
        return max(4, -(-self.latency // self.ii) + 1)


@dataclass(kw_only=True)
class FoldedMatmul(FoldedStage):
    """``nnfab_dense_folded``: a schedule ROM (``schedule``) issues one row per cycle to
    ``nnfab_mul`` multipliers (``pipe``: its ``PIPE``, :func:`folded_pipe`): latency
    ``R + FOLDED_DEPTH[pipe]``, II ``R``."""

    schedule: Schedule
    pipe: int


class DenseParallel(AdderGraph):
    """A fully parallel Dense (strategy ``latency``)."""

    kind = "dense_parallel"

    def hold(self) -> int:
        return self.latency


class DenseFolded(FoldedMatmul):
    """A folded Dense (strategy ``resource``, reuse ``R``)."""

    kind = "dense_folded"


@dataclass(kw_only=True)
class DenseSkip(FoldedStage):
    """``nnfab_dense_skip``: a folded Dense that skips zero inputs (``skip``, its
    :class:`generator.passes.folding.SkipSchedule`): its cycles per vector follow the
    data; latency and II are the worst case. It stalls the layers before it."""

    kind = "dense_skip"
    skip: SkipSchedule


class ConvUnrolled(AdderGraph):
    """A Conv of an unrolled CNN: the fully parallel Dense over the flattened frames."""

    kind = "conv_unrolled"

    def hold(self) -> int:
        return self.latency


class ConvUnrolledFolded(FoldedMatmul):
    """A Conv of an unrolled CNN with reuse ``R > 1`` and strategy ``resource``: its
    whole-frame matrix folded onto ``nnfab_dense_folded``."""

    kind = "conv_unrolled_folded"


class ConvUnrolledShared(AdderGraph):
    """A Conv of an unrolled CNN with reuse ``R > 1`` and strategy ``latency``:
    ``info["instances"]`` constant-weight window kernels, each shared by ``R`` output
    pixels (``nnfab_serialize``, the kernels, ``nnfab_collect``)."""

    kind = "conv_unrolled_shared"

    def hold(self) -> int:
        # a frame latched, beats in the kernels' two pipeline stages, the output register
        return int(self.info["stages"]) + 3


class PoolUnrolled(Stage):
    """A Pool / GlobalPool of an unrolled CNN: every window reduced at once into a
    register."""

    kind = "pool_unrolled"

    def hold(self) -> int:
        return self.latency


class Gather(Stage):
    """Pad, Crop, Upsample or Transpose of a whole frame (``info["gather"]``): wiring."""

    kind = "gather"


class SoftmaxStage(Stage):
    """``nnfab_softmax`` over a vector: exp and inverse tables in ROM."""

    kind = "softmax"

    def hold(self) -> int:
        return self.latency


# the layers of a block-level design (:mod:`.stream`) that no chain has: each is named
# after its main block, ``latency`` the cycles its blocks add to a beat


class ConvParallel(AdderGraph):
    """A streamed Conv: one window per cycle through its adder graph (``nnfab_pipe_ctrl``)."""

    kind = "conv_parallel"


class ConvFolded(FoldedMatmul):
    """A streamed Conv with reuse ``R > 1``: its per-pixel matmul on ``nnfab_dense_folded``
    (:func:`.stream.conv_folded_stage`)."""

    kind = "conv_folded"

    def hold(self) -> int:
        return 0  # a layer of a pixel-streamed design, whose TLAST is not queued


class PoolParallel(Stage):
    """A streamed Pool: one window reduction per cycle (``nnfab_pool_win``)."""

    kind = "pool_parallel"


class WireStage(Stage):
    """An element-wise op on each beat, or a vector Reshape: combinational."""

    kind = "wire"


class WindowStage(Stage):
    """A streamed Pad or Crop (``nnfab_window``)."""

    kind = "window"


class CollectStage(Stage):
    """A Flatten of a streamed image (``nnfab_collect``)."""

    kind = "collect"


class UpsampleStage(Stage):
    """A streamed Upsample (``nnfab_upsample``)."""

    kind = "upsample"


class TransposeStage(Stage):
    """A Permute of a streamed image (``nnfab_collect``, ``nnfab_serialize``)."""

    kind = "transpose"


class GlobalPoolStage(Stage):
    """A streamed GlobalPool (``nnfab_global_pool``)."""

    kind = "gpool"


class JoinStage(Stage):
    """An Add, Merge or Concat of beats that arrive together: combinational."""

    kind = "join"


def mac_info(wmat: np.ndarray, bias: np.ndarray | None, sh: int,
             sign: bool = False, timing: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """Adder-tree shape of a fully parallel multiply-accumulate ``x @ wmat (+ bias)``.

    ``wmat`` (inputs, outputs) raw weights, ``bias`` raw values already aligned (or None),
    ``sh`` the product-to-accumulator left shift. Zero weights build nothing. The products
    are the shared adder graph of :func:`.cmvm.build` (``graph``), each output's tree
    summing its terms. ``sign``: the inputs are binarized (+-1) and the graph is built
    over their sign bits (:func:`sign_form`; ``sign_inputs`` in the result). ``timing``:
    the layer's ``(adder_levels, lead_levels)`` (:func:`pipeline_levels`): adder levels
    per register stage and the levels its first stage gives to the logic before it; a
    shared node is at most as deep as the first stage allows.
    """
    from .cmvm import MAX_DEPTH, build, latency, trees

    if sign:
        wmat, bias = sign_form(wmat, bias, sh)
    levels, lead = pipeline_levels(timing)
    graph = build(wmat, max(1, min(MAX_DEPTH, levels - lead)))
    has_bias = [bias is not None and int(bias[j]) != 0 for j in range(wmat.shape[1])]
    terms_per_out = [len(graph.outputs[j]) + int(has_bias[j]) for j in range(wmat.shape[1])]
    nt = max(1, max(terms_per_out, default=1))
    return {"terms": nt, "terms_per_out": terms_per_out, "shift": sh,
            "stages": latency(trees(graph, has_bias), levels, lead), "graph": graph,
            "sign_inputs": sign, "levels": levels, "lead": lead,
            "net_bias": None if bias is None else [int(v) for v in bias]}


def pipeline_levels(timing: tuple[int, int]) -> tuple[int, int]:
    """``(adder levels per stage, lead levels)`` of a layer's ``(adder_levels,
    lead_levels)`` attributes (0 adder levels: :data:`.cmvm.STAGE_ADDERS`)."""
    from .cmvm import STAGE_ADDERS

    levels, lead = int(timing[0]) or STAGE_ADDERS, int(timing[1])
    return levels, min(lead, levels - 1)


def node_timing(n: Node) -> tuple[int, int]:
    """The ``(adder_levels, lead_levels)`` :mod:`generator.passes.timing` wrote on ``n``."""
    return int(n["adder_levels"]), int(n["lead_levels"])


def mac_netlist(info: dict[str, Any], tx: FixedType, aw: int) -> Any:
    """The :func:`.cmvm.netlist` of a fully parallel multiply-accumulate (``info``: its
    :func:`mac_info`) over inputs of type ``tx`` into ``aw`` bits -- the one the emitter
    writes and the estimate counts; binarized inputs are their sign bits (0 or 1)."""
    from .cmvm import netlist

    lo, hi = (0, 1) if info["sign_inputs"] else (tx.min_raw, tx.max_raw)
    return netlist(info["graph"], info["net_bias"], lo, hi, aw, info["shift"],
                   info["levels"], info["lead"])


def window_sign_inputs(n: Conv) -> bool:
    """A conv kernel over windows (streamed, or shared by several pixels) adds sign bits
    only when its input is binarized and it has no padding: a padded tap reads 0, not
    +-1 (an unrolled conv builds no padded tap, :func:`binarized_input` is enough)."""
    return binarized_input(n) and not any(int(p) for p in n["pads"])


def sign_form(wmat: np.ndarray, bias: Any, sh: int) -> tuple[np.ndarray, np.ndarray]:
    """``x @ wmat << sh + bias`` over +-1 inputs as the same sum over their sign bits:
    with ``x = 1 - 2 s`` (``s`` 0 or 1) it is ``s @ (-2 wmat) << sh + (bias + (sum_i
    wmat_i) << sh)``, the column sums a constant. The adder graph then adds one-bit
    inputs: for binary weights a popcount whose partial counts several outputs share
    (XNOR-popcount's sum, with a negative weight's bit subtracted instead of inverted)."""
    w = np.asarray(wmat, np.int64)
    b = np.zeros(w.shape[1], np.int64) if bias is None else np.asarray(bias, np.int64)
    return -2 * w, b + (w.sum(axis=0) << sh)


def _dense_parallel(n: Dense) -> DenseParallel:
    from ...passes.folding import aligned_bias

    info = mac_info(n.weights["weight"].data, aligned_bias(n), _linear_shift(n),
                    sign=binarized_input(n), timing=node_timing(n))
    return DenseParallel(n, info["stages"], 1, info)


def _dense_folded(n: Dense, pipe: int = 0) -> DenseFolded:
    from ...passes.folding import schedule

    sch = schedule(n)
    return DenseFolded(n, sch.reuse + FOLDED_DEPTH[pipe], sch.reuse, schedule=sch,
                       reuse=sch.reuse, mults=sch.mults, shift=_linear_shift(n), pipe=pipe)


def _dense_skip(n: Dense) -> DenseSkip:
    from ...passes.folding import skip_schedule

    st = _dense_folded(n)
    sk = skip_schedule(n)
    t = max(1, sk.rows)
    return DenseSkip(n, t + 2, t, {"ii_best": 1, "ii_worst": t}, skip=sk,
                     reuse=int(n["reuse"]), mults=sk.mults, shift=st.shift)


def _linear_shift(n: Dense | Conv) -> int:
    sh = n.output.ftype.frac - (n.input.ftype.frac + n.weights["weight"].ftype.frac)
    if sh < 0:
        raise RTLUnsupported(f"layer {n.name}: accumulator has fewer fraction bits than products")
    return sh


def check_unrollable(n: Conv) -> None:
    """Refuse (:class:`RTLUnsupported`) the Conv ``n`` if it is too large to unroll over
    its frame."""
    from ...passes.unroll import too_large_to_unroll

    too_large = too_large_to_unroll(n)
    if too_large:
        raise RTLUnsupported(f"{too_large}; use --io stream (one pixel per clock)")


def _conv_unrolled(n: Conv, pipe: int = 0) -> Stage:
    from ...passes.folding import schedule_matrix
    from ...passes.unroll import conv_dense

    check_unrollable(n)
    w, bias = conv_dense(n)
    sh = _linear_shift(n)
    base = {"matrix": w, "bias": bias, "n_in": w.shape[0], "n_out": w.shape[1]}
    r = int(n["reuse"])
    if r > 1 and n["strategy"] != "resource":
        return _conv_shared(n, r, sh, base)
    if r > 1:
        sch = schedule_matrix(w, r)
        return ConvUnrolledFolded(n, sch.reuse + FOLDED_DEPTH[pipe], sch.reuse, base,
                                  schedule=sch, reuse=sch.reuse, mults=sch.mults, shift=sh,
                                  pipe=pipe)
    info = mac_info(w, bias, sh, sign=binarized_input(n),  # no padding tap: all +-1
                    timing=node_timing(n))
    return ConvUnrolled(n, info["stages"], 1, {**base, **info})


#: a constant multiply costs about this many LUTs per input bit (shift-adds over its
#: canonical signed digits and its share of the adder tree), a 4:1 beat multiplexer one
MUL_LUT_PER_BIT = 4


def kernel_taps(idx: npt.NDArray[np.int64], order: list[int],
                k: int) -> list[npt.NDArray[np.bool_]]:
    """Per kernel ``j`` of a shared-kernel conv (``order`` as in :func:`shared_order`),
    the window elements some pixel it computes reads (not padding for all of them)."""
    taps = []
    for j in range(k):
        real = [q for q in order[j::k] if q >= 0]
        taps.append(np.any(idx[real] >= 0, axis=0) if real else np.zeros(idx.shape[1], bool))
    return taps


def shared_cost(idx: npt.NDArray[np.int64], order: list[int], k: int,
                row_nnz: npt.NDArray[np.int64]) -> tuple[int, int]:
    """``(multiplies, multiplexers)`` of the ``k`` kernels of a shared-kernel conv
    (``order`` as in :func:`shared_order`): per kernel, the nonzero weights of the window
    elements it reads (:func:`kernel_taps`); and the distinct beat multiplexers over those
    elements (one per distinct tuple of the inputs the beats select, one input element
    wide; a tuple of one input is a wire)."""
    mults, tuples = 0, set()
    for j, used in enumerate(kernel_taps(idx, order, k)):
        mults += int(row_nnz[used].sum())
        px = order[j::k]
        for e in np.flatnonzero(used & (row_nnz > 0)):
            t = tuple(int(idx[q, e]) if q >= 0 else -1 for q in px)
            if len(set(t)) > 1:
                tuples.add(t)
    return mults, len(tuples)


def shared_order(idx: npt.NDArray[np.int64], r: int,
                 row_nnz: npt.NDArray[np.int64]) -> tuple[list[int], int]:
    """Which output pixel each (beat, kernel) slot of a shared-kernel conv computes, and
    the number of distinct beat multiplexers that order needs (:func:`shared_cost`):
    ``order[t * k + j]`` is the pixel kernel ``j`` takes in beat ``t`` (``-1``: none,
    past the last pixel), ``idx`` the conv's windows (:func:`windows_index`), ``row_nnz``
    the nonzero weights of each window element (row of the conv matrix).

    A kernel builds only the taps some pixel of its own reads (:func:`kernel_taps`). Two
    orders are costed: the raster order (pixel ``t * k + j``: neighbouring kernels read
    overlapping windows, so their beat multiplexers coincide and synthesis merges them)
    and pixels grouped by which taps of their window fall on padding (interior, edges,
    corners; largest group first, ``r`` consecutive pixels per kernel: kernels of edge
    pixels drop the taps they never read). The cheaper one is taken (the raster order on
    a tie)."""
    p = idx.shape[0]
    k = -(-p // r)
    groups: dict[bytes, list[int]] = {}
    for q in range(p):
        groups.setdefault((idx[q] >= 0).tobytes(), []).append(q)
    seq = [q for key in sorted(groups, key=lambda g: (-len(groups[g]), g)) for q in groups[key]]
    seq += [-1] * (r * k - p)
    grouped = [-1] * (r * k)
    for j in range(k):
        for t in range(r):
            grouped[t * k + j] = seq[j * r + t]
    raster = list(range(p)) + [-1] * (r * k - p)
    best: tuple[int, list[int], int] | None = None
    for order in (raster, grouped):
        mults, muxes = shared_cost(idx, order, k, row_nnz)
        cost = MUL_LUT_PER_BIT * mults + muxes * -(-r // 4)
        if best is None or cost < best[0]:
            best = (cost, order, muxes)
    assert best is not None
    return best[1], best[2]


def _conv_shared(n: Conv, r: int, sh: int, base: dict[str, Any]) -> Stage:
    """An unrolled Conv whose constant-weight window kernels are shared by ``r`` output
    pixels each: ``k = ceil(pixels / r)`` kernels (one fully parallel Dense over one
    window each), fed ``r`` beats of ``k`` windows per frame; kernel ``j`` computes the
    pixels ``order[t * k + j]`` (:func:`shared_order`) and builds the taps they read."""
    from ...passes.folding import aligned_bias, conv_matrix
    from ...passes.unroll import windows_index

    idx = windows_index(n)
    k = -(-idx.shape[0] // r)
    cm = conv_matrix(n)
    order, muxes = shared_order(idx, r, np.count_nonzero(cm, axis=1))
    h, w = cm.shape
    kern = np.zeros((k * h, k * w), np.int64)  # k windows -> k pixels
    for j, used in enumerate(kernel_taps(idx, order, k)):
        kern[j * h:(j + 1) * h, j * w:(j + 1) * w] = cm * used[:, None]
    ab = aligned_bias(n)
    kbias = None if ab is None else np.tile(ab, k)
    info = mac_info(kern, kbias, sh, sign=window_sign_inputs(n),
                    timing=node_timing(n))
    return ConvUnrolledShared(n, info["stages"] + r + 1, r, {
        **base, **info, "reuse": r, "instances": k, "windows": idx, "order": order,
        "mults": int(np.count_nonzero(kern)),
        "muxes": muxes})


def _gather(n: Node) -> Stage:
    from ...passes.unroll import gather

    gi = gather(n)
    if isinstance(n, (Pool, GlobalPool)):
        ti, to = n.input.ftype, n.output.ftype
        if n["mode"] == "max" and (ti.width, ti.frac, ti.signed) != (to.width, to.frac, to.signed):
            raise RTLUnsupported(f"layer {n.name}: max pooling that changes the type")
        return PoolUnrolled(n, 1, 1, {"gather": gi, "mode": n["mode"]})
    return Gather(n, 0, 1, {"gather": gi})


def scale_shift_params(n: ScaleShift) -> dict[str, Any]:
    """``nnfab_scale_shift_vec``'s constants and widths for ScaleShift ``n``: the exact
    sum ``x * scale << LP + shift << LT`` (the reference's) in ``ACC_W`` bits."""
    s, t = n.weights["scale"], n.weights["shift"]
    tx = n.input.ftype
    frac = scale_shift_frac(n)
    sc = [int(v) for v in np.asarray(s.data).reshape(-1)]
    sh = [int(v) for v in np.asarray(t.data).reshape(-1)]
    sw = max(2, *(v.bit_length() + 1 for v in sc))
    tw = max(2, *(v.bit_length() + 1 for v in sh))
    lp, lt = frac - tx.frac - s.ftype.frac, frac - t.ftype.frac
    acc = max(tx.width + 1 + sw + lp, tw + lt) + 1
    if acc > 62 or len(sc) != n.input.shape[-1]:
        raise RTLUnsupported(f"layer {n.name}: scale-shift sum of {acc} bits; supported: 62")
    return {"scale": sc, "shift": sh, "SW": sw, "TW": tw, "LP": lp, "LT": lt, "ACC_W": acc,
            "SHIFT": frac - n.output.ftype.frac}


def table_words(n: Table | Embedding) -> list[int]:
    """The ROM words of a Table or an Embedding as unsigned integers (an Embedding's row
    ``r``: value ``j`` at bits ``[j * w, (j + 1) * w)``)."""
    tab = n.weights["table"]
    w = tab.ftype.width
    rows = tab.data.reshape(len(tab.data), -1)
    return [sum((int(v) % (1 << w)) << (j * w) for j, v in enumerate(row)) for row in rows]


def softmax_tables(n: Softmax) -> tuple[list[int], list[int]]:
    """The exp and inv table words the RTL stores: each table up to the last index its
    clipped lookup can reach (from the input type's range, and the exact sum's), then
    without the run of equal words at its end (the clip to the shorter table reads the
    same word): the lookups are unchanged, the ROMs shorter (an 8-bit input reaches 256
    exp words; e^-x is 0 in 18 bits past x = 12.5)."""

    def trim(data: Any, last: int) -> list[int]:
        w = [int(v) for v in data[:min(len(data) - 1, last) + 1]]
        while len(w) > 1 and w[-2] == w[-1]:
            w.pop()
        return w

    t = n.input.ftype
    et, it = n.weights["exp_table"].data, n.weights["inv_table"].data
    exp = trim(et, int(exp_index(t.max_raw - t.min_raw, n["exp_shift"])))
    return exp, trim(it, (n.input.size * max(exp)) >> n["inv_shift"])


def split_cast(n: Quantize | Relu) -> FixedType | None:
    """The type a registered cast of ``n`` is rounded into before it is saturated, on a
    family of :data:`generator.timing.FOLDED_APART` (None when the cast does not both
    round and saturate): the output's fraction, one integer bit more than the input
    keeps (the rounding carry), no overflow. Rounding into it exactly and then
    saturating it (``nnfab_requant`` twice, a register after each) is the cast in one
    step: the two halves of the routed path a register apart."""
    ti, to = n.input.ftype, n.output.ftype
    sh = ti.frac - to.frac
    if sh <= 0 or to.rounding is Rounding.TRN or to.overflow is Overflow.WRAP:
        return None
    return FixedType(ti.width - sh + 1, ti.width - ti.frac + 1, ti.signed, to.rounding,
                     Overflow.WRAP)


#: the chain lowering of each op class (:func:`stage_of`): a function of the node, whether
#: the design is an unrolled CNN and the folded ``PIPE``, returning the node's stage;
#: registered by :func:`lowers`, in the order the refusal message lists them
STAGES: dict[type[Node], Callable[..., Stage]] = {}
#: the ops a chain never holds, and why: the block-level architecture (:mod:`.stream`)
#: builds them
REFUSED: dict[type[Node], str] = {
    Add: "reads two tensors (a design with branches is block-level)",
    Merge: "reads several tensors (a design with branches is block-level)",
    Concat: "reads several tensors (a design with branches is block-level)",
}

_Lowering = TypeVar("_Lowering", bound=Callable[..., Stage])


def lowers(*classes: type[Node]) -> Callable[[_Lowering], _Lowering]:
    """Register the decorated function as the chain lowering of ``classes``."""
    def register(f: _Lowering) -> _Lowering:
        for c in classes:
            STAGES[c] = f
        return f
    return register


def unsupported(name: str, op: str) -> str:
    """The one-line refusal of layer ``name`` of op ``op`` with no chain stage."""
    listed = ", ".join(c.OP for c in STAGES if c is not Input)
    return (f"layer {name}: op {op} has no RTL implementation yet; supported: {listed} "
            "(use the HLS view)")


def stage_of(n: Node, unrolled: bool = False, pipe: int = 0) -> Stage:
    """The RTL stage of node ``n`` (``unrolled``: of an unrolled CNN; ``pipe``: 1 on a
    family of :data:`generator.timing.FOLDED_APART`, :func:`folded_pipe`: the ``PIPE`` of
    its nnfab_dense_folded, and a registered cast that rounds and saturates takes two
    stages, :func:`split_cast`)."""
    lower = STAGES.get(type(n))
    if lower is None:
        raise RTLUnsupported(unsupported(n.name, n.OP))
    return lower(n, unrolled, pipe)


@lowers(Input)
def _input_stage(n: Input, unrolled: bool, pipe: int) -> Stage:
    return InputStage(n, 0, 1)


@lowers(Dense)
def _dense_stage(n: Dense, unrolled: bool, pipe: int) -> Stage:
    if n["strategy"] == "resource":
        return _dense_skip(n) if n["skip_zeros"] else _dense_folded(n, pipe)
    return _dense_parallel(n)


@lowers(Conv)
def _conv_stage(n: Conv, unrolled: bool, pipe: int) -> Stage:
    if not unrolled:  # a pixel-streamed conv is block-level
        raise RTLUnsupported(unsupported(n.name, n.OP))
    return _conv_unrolled(n, pipe)


@lowers(*ops_with("CHANNELWISE"))
def _channelwise_stage(n: Node, unrolled: bool, pipe: int) -> Stage:
    if not unrolled:  # pixel-streamed: block-level
        raise RTLUnsupported(unsupported(n.name, n.OP))
    return _gather(n)


@lowers(Transpose)
def _transpose_stage(n: Transpose, unrolled: bool, pipe: int) -> Stage:
    return _gather(n)


@lowers(Softmax)
def _softmax_stage(n: Softmax, unrolled: bool, pipe: int) -> Stage:
    et, it = n.weights["exp_table"].ftype, n.weights["inv_table"].ftype
    if len(n.input.shape) != 1 or et.signed or it.signed or et.width + it.width > 62:
        raise RTLUnsupported(f"layer {n.name}: Softmax of a {n.input.shape} tensor with "
                             f"{et} / {it} tables; supported: a vector, unsigned tables")
    return SoftmaxStage(n, 4, 1)


@lowers(ScaleShift)
def _scale_shift_stage(n: ScaleShift, unrolled: bool, pipe: int) -> Stage:
    scale_shift_params(n)  # refuses a sum past 62 bits
    return ElementwiseStage(n, int(n["register_output"]), 1)


@lowers(Quantize, Relu)
def _cast_stage(n: Quantize | Relu, unrolled: bool, pipe: int) -> Stage:
    reg = int(n["register_output"])  # a register after it (passes.timing): 1 cycle
    if reg and pipe:
        mid = split_cast(n)
        if mid is not None:  # rounded, registered, saturated, registered: 2 cycles
            return ElementwiseStage(n, 2, 1, {"mid": mid})
    return ElementwiseStage(n, reg, 1)


@lowers(LeakyRelu, Clip, Binarize, Ternarize, Threshold)
def _elementwise_stage(n: Node, unrolled: bool, pipe: int) -> Stage:
    return ElementwiseStage(n, int(n["register_output"]), 1)


@lowers(Table, Embedding)
def _table_stage(n: Table | Embedding, unrolled: bool, pipe: int) -> Stage:
    if n["index_shift"] < 0 or abs(n["index_offset"]) >= 1 << 30:
        raise RTLUnsupported(f"layer {n.name}: table index shift/offset out of range")
    return ElementwiseStage(n, int(n["register_output"]), 1)


@lowers(Reshape)
def _reshape_stage(n: Reshape, unrolled: bool, pipe: int) -> Stage:
    return ReshapeStage(n, 0, 1)


def fused_requant(s: Stage) -> Node | None:
    """The Quantize / Relu a shared-kernel conv stage applies to each beat of ``k`` pixels
    (its output's only user, if it is one), else None."""
    if not isinstance(s, ConvUnrolledShared):
        return None
    users = s.node.output.users
    return users[0] if len(users) == 1 and isinstance(users[0], (Quantize, Relu)) else None


def _beat_size(s: Stage) -> int:
    """Elements a shared-kernel conv stage computes per beat (its ``k`` pixels)."""
    return int(s.info["instances"]) * s.node.output.shape[-1]


def _fuse_requant(stages: list[Stage]) -> None:
    """A Quantize / Relu right after a shared-kernel Conv is applied to each beat's
    ``k`` pixels before they are collected (``k x F`` requantizers instead of one per
    output element, and the collected frame holds the narrow type): the conv stage gets
    ``info["fused"]`` (the element-wise node), the element-wise stage
    ``info["fused_into"]`` and ``info["size"]`` (the elements it is built for)."""
    by_node = {s.node.name: s for s in stages}
    for s in stages:
        u = fused_requant(s)
        if u is not None:
            e = by_node[u.name]
            s.info["fused"] = e.node
            e.info.update({"fused_into": s.node.name, "size": _beat_size(s)})


def stream_plan(stages: list[Stage]) -> Any:
    """The block-level plan of a streamed design (None for whole-vector designs)."""
    return stages[0].info.get("stream") if stages else None


#: cycles of the output FIFO of a valid-only chain (a vector written in cycle t leaves
#: from cycle t + 1)
OUT_FIFO_LATENCY = 1


def valid_only(stages: list[Stage]) -> bool:
    """Is the whole-vector chain ``stages`` a valid-only pipeline (no stall: every
    register of every layer loads each cycle, valid bits travel beside the data, the
    vectors wait in an output FIFO whose free slots the input admits against,
    ``nnfab_admit``)? Every chain design is, except one with a zero-skipping layer (its
    cycles per vector follow the data: its handshake stalls the layers before it)."""
    return stream_plan(stages) is None and not any(isinstance(s, DenseSkip) for s in stages)


def chain_latency(stages: list[Stage]) -> int:
    """Cycles from a chain design's input handshake to its last stage's output register
    (the input register included, the output FIFO not)."""
    return SKID_LATENCY + sum(s.latency for s in stages)


def credits(stages: list[Stage]) -> int:
    """Slots of a valid-only chain's output FIFO, the vectors the input admits ahead of
    the output: a vector admitted in cycle ``a`` is written into the FIFO at the end of
    ``a + L - 1`` (``L``: :func:`chain_latency`), popped at the earliest in ``a + L``
    and its slot admits again from ``a + L + 1`` (the admission's ready is a
    register): at one vector per ``II`` cycles, ``ceil((L + 2) / II)`` vectors are in
    flight, and as many slots let the input run at full rate."""
    ii = max([1] + [s.ii for s in stages])
    return -(-(chain_latency(stages) + 2) // ii)


def type_params(t: FixedType) -> dict[str, int]:
    return {"W": t.width, "S": int(t.signed)}
