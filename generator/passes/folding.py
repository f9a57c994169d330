"""Choose how each Dense layer is folded in time, and the schedule every backend renders.

``strategy = latency``: fully parallel, one multiplier per nonzero weight, ``reuse = 1``.
``strategy = resource``: reuse factor ``R``; each of ``M = ceil(nnz / R)`` multipliers is
used ``R`` times. The weights that are iterated (and stored in ROM) are the nonzeros only,
so cycles scale with nonzeros. A requested ``R`` is implemented exactly or refused with
the valid range: never replaced by a "closest" value.

**Schedule.** The flat nonzero list, ordered by output and then input, is cut into
``M`` consecutive runs of ``R`` entries, one run per multiplier (balanced: every
multiplier does ``R`` multiplies; only the last one carries the ``M*R - nnz < R``
zero-weight padding entries). Row ``r`` of the schedule is what the multipliers do in
cycle ``r``. Because each multiplier walks a consecutive stretch of the output-ordered
list, it touches a *contiguous range of outputs* (``out_lo..out_hi``, at most
``ceil(R / nnz_per_output) + 1`` of them) and at most ``R`` distinct inputs; an output
is fed by the few multipliers whose runs overlap it. The hardware is built from these
static lists: an output's accumulator adds only its own multipliers' products
(``sum_j |S_j| ~ M + units`` adders instead of ``M * units``), and a multiplier selects
among its own inputs only (a ``U:1`` multiplexer, ``U <= min(R, inputs)``).

Also the facts of a node every hardware schedule reads: whether it reads binarized
inputs (:func:`binarized_input`), the weight exponent of a binary x binary Dense
(:func:`xnor_exponent`), the word width of a table's ROM (:func:`table_word_width`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..ir import Binarize, Conv, Dense, Embedding, Graph, Node, Relu, Table


class FoldingError(ValueError):
    """A reuse factor / strategy a layer cannot implement."""


@dataclass(frozen=True)
class Schedule:
    """``R`` rows of ``M`` (input index, output index, raw weight) entries; pads have w=0.

    Entry ``[r, m]`` is flat nonzero ``m * R + r`` (see the module docstring).
    """

    reuse: int
    mults: int
    in_idx: npt.NDArray[np.int64]  # (R, M)
    out_idx: npt.NDArray[np.int64]  # (R, M)
    weight: npt.NDArray[np.int64]  # (R, M)
    valid: npt.NDArray[np.bool_]  # (R, M) False on padding entries

    def out_range(self, m: int) -> tuple[int, int]:
        """First and last output multiplier ``m`` accumulates into."""
        o = self.out_idx[self.valid[:, m], m]
        return (int(o.min()), int(o.max())) if len(o) else (0, 0)

    def inputs_of(self, m: int) -> list[int]:
        """The distinct inputs multiplier ``m`` reads (sorted; [0] for an all-pad column)."""
        i = np.unique(self.in_idx[self.valid[:, m], m])
        return [int(v) for v in i] if len(i) else [0]


def conv_matrix(n: Conv) -> np.ndarray:
    """The conv as a Dense over the flattened window (index ``(i*KW + j)*C + c``)."""
    w = n.weights["weight"].data
    k = tuple(n["kernel"])
    kk = int(np.prod(k))
    cin = n.input.shape[-1]
    if not n["depthwise"]:
        return w.reshape(kk * cin, -1)
    wd = w.reshape(kk, cin)
    m = np.zeros((kk * cin, cin), np.int64)
    for p in range(kk):
        for c in range(cin):
            m[p * cin + c, c] = wd[p, c]
    return m


def aligned_bias(n: Dense | Conv) -> npt.NDArray[np.int64] | None:
    """The bias as raw integers on the output's fraction grid (None without a bias): the
    constant every backend adds to the exact sum ``x @ W`` of a Dense / Conv."""
    b = n.weights.get("bias")
    if b is None:
        return None
    return np.asarray(b.data, np.int64) << (n.output.ftype.frac - b.ftype.frac)


def valid_reuse(node: Dense) -> tuple[int, int]:
    """Inclusive range of reuse factors ``node`` can implement."""
    nnz = int(np.count_nonzero(node.weights["weight"].data))
    return 1, max(1, nnz)


def schedule_matrix(w: npt.NDArray[np.int64], reuse: int) -> Schedule:
    """The folded schedule of ``y = x @ w`` (``w`` of shape inputs x outputs) at ``reuse``."""
    r = int(reuse)
    outs, ins = np.nonzero(w.T)  # ordered by output, then input
    vals = w[ins, outs]
    nnz = len(vals)
    m = max(1, -(-nnz // r))
    pad = r * m - nnz

    def cut(v: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        # run of multiplier k = flat[k*R:(k+1)*R] -> column k
        return np.concatenate([v, np.zeros(pad, np.int64)]).astype(np.int64).reshape(m, r).T.copy()

    valid = np.concatenate([np.ones(nnz, bool), np.zeros(pad, bool)]).reshape(m, r).T.copy()
    return Schedule(r, m, cut(ins), cut(outs), cut(vals), valid)


def schedule(node: Dense) -> Schedule:
    """The folded schedule of a Dense node (pure function of its weights and reuse)."""
    return schedule_matrix(node.weights["weight"].data, int(node["reuse"]))


#: largest IN_LIST parameter (bits) the RTL gets; beyond it multipliers select from all inputs
MAX_IN_LIST_BITS = 1 << 16


def _bits(n: int) -> int:
    return max(1, (int(n) - 1).bit_length())


@dataclass(frozen=True)
class RomLayout:
    """The schedule as the RTL's ROM words (``nnfab_dense_folded``) and its static lists.

    Entry of multiplier ``m`` (bits ``[m*EW +: EW]`` of a word) = ``{weight field (WF),
    local input index (LA), local output index (OL)}``:

    * weight field: the raw weight (``wmode = 0``, a multiplier); or, when every nonzero
      weight is ``+-2^k`` for one ``k`` (binary, ternary, po2 with one exponent), two
      bits ``{nonzero, negative}`` (``wmode = 1``: an add/subtract of ``x << k``, no
      multiplier); or, when every nonzero weight is ``+-2^k`` with ``k`` in
      ``wk .. wk + 2^eb - 1`` (QKeras ``quantized_po2``; ``eb`` at most
      :data:`MAX_SHIFT_BITS`), ``{nonzero, negative, k - wk (eb bits)}`` (``wmode = 2``:
      an add/subtract of ``x << k``, a barrel shift, no multiplier);
    * local input index: position in the multiplier's input list ``in_list[m]``
      (``local_in``), or the input index itself when lists would not be smaller;
    * local output index: output minus ``out_lo[m]`` (a padding entry, weight 0, keeps
      the index of its multiplier's last nonzero: the run's output does not change).
    """

    wmode: int
    wk: int  # wmode 1: the weights' exponent; wmode 2: the smallest
    wf: int
    local_in: bool
    u: int  # inputs per multiplier list (N_IN when not local_in)
    la: int
    in_list: list[list[int]]  # M x U (padded with the list's first entry)
    ol: int
    out_lo: list[int]
    out_hi: list[int]
    ew: int
    words: list[int]
    eb: int = 0  # wmode 2: bits of the exponent offset k - wk


#: widest exponent offset of power-of-two weights a folded layer shifts by (wmode 2)
MAX_SHIFT_BITS = 4


def pow2_exponents(weights: npt.ArrayLike) -> tuple[int, int] | None:
    """``(smallest, largest) k`` when every nonzero raw weight is ``+-2^k``; else None."""
    w = np.abs(np.asarray(weights, np.int64))
    nz = w[w != 0]
    if not len(nz) or np.any(nz & (nz - 1)):
        return None
    return int(nz.min()).bit_length() - 1, int(nz.max()).bit_length() - 1


def pow2_exponent(weights: npt.ArrayLike) -> int | None:
    """``k`` when every nonzero raw weight is ``+-2^k`` for one ``k`` (binary, ternary,
    single-exponent po2): multiplies become add/subtract of ``x << k``; else None."""
    ks = pow2_exponents(weights)
    return ks[0] if ks is not None and ks[0] == ks[1] else None


def shift_mode(weights: npt.ArrayLike) -> tuple[int, int, int]:
    """``(wmode, wk, eb)`` of a folded layer's nonzero raw weights (see :class:`RomLayout`):
    ``(1, k, 0)`` when all are ``+-2^k``; ``(2, kmin, eb)`` when all are powers of two
    whose exponents span at most ``2^eb`` values (``eb <= MAX_SHIFT_BITS``); else
    ``(0, 0, 0)`` (a multiplier)."""
    ks = pow2_exponents(weights)
    if ks is not None and ks[0] == ks[1]:
        return 1, ks[0], 0
    if ks is not None and _bits(ks[1] - ks[0] + 1) <= MAX_SHIFT_BITS:
        return 2, ks[0], _bits(ks[1] - ks[0] + 1)
    return 0, 0, 0


def shift_code(w: int, wk: int, eb: int) -> int:
    """The ``{nonzero, negative, k - wk (eb bits)}`` field of raw weight ``w`` (0 or
    ``+-2^k``) in a shift-mode layer (``wmode`` 1: ``eb = 0``; 2)."""
    e = (abs(w).bit_length() - 1 - wk) if w else 0
    return (int(w != 0) << (eb + 1)) | (int(w < 0) << eb) | e


def rom_layout(s: Schedule, n_in: int, n_out: int, w_width: int) -> RomLayout:
    """Pack schedule ``s`` of a layer with ``n_in`` inputs, ``n_out`` outputs."""
    wmode, wk, eb = shift_mode(s.weight[s.valid])
    wf = w_width if wmode == 0 else 2 + eb
    lists = [s.inputs_of(m) for m in range(s.mults)]
    u = max(len(li) for li in lists)
    local_in = u < n_in and s.mults * u * _bits(n_in) <= MAX_IN_LIST_BITS
    if not local_in:
        u, lists = n_in, [list(range(n_in))] * s.mults
    la = _bits(u)
    lo = [s.out_range(m)[0] for m in range(s.mults)]
    hi = [s.out_range(m)[1] for m in range(s.mults)]
    ol = _bits(max(h - low + 1 for low, h in zip(lo, hi)))
    ew = wf + la + ol
    words = []
    last = [0] * s.mults  # a padding entry keeps its multiplier's last output index
    for r in range(s.reuse):
        word = 0
        for m in range(s.mults):
            w = int(s.weight[r, m])
            field = shift_code(w, wk, eb) if wmode else w % (1 << w_width)
            li = lists[m].index(int(s.in_idx[r, m])) if s.valid[r, m] else 0
            if s.valid[r, m]:
                last[m] = int(s.out_idx[r, m]) - lo[m]
            word |= ((field << (la + ol)) | (li << ol) | last[m]) << (m * ew)
        words.append(word)
    padded = [li + [li[0]] * (u - len(li)) for li in lists]
    return RomLayout(wmode, wk, wf, local_in, u, la, padded, ol, lo, hi, ew, words, eb)


def folding(graph: Graph) -> bool:
    """Check every Dense node's strategy and reuse factor, and every Conv node's reuse
    factor (a Conv with reuse ``R > 1`` folds its per-pixel matmul, ``R = 1`` is fully
    parallel), raising :class:`FoldingError`."""
    for c in graph.of(Conv):
        # a Conv folds its per-pixel matmul (window @ conv matrix) when reuse > 1
        nnz = max(1, int(np.count_nonzero(c.weights["weight"].data)))
        r = int(c["reuse"])
        if not 1 <= r <= nnz:
            raise FoldingError(
                f"layer {c['source'] or c.name}: reuse factor {r} is not possible; valid: "
                f"1..{nnz} (the conv has {nnz} nonzero weights)"
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
        if n["multipliers"] not in ("dsp", "lut"):
            raise FoldingError(
                f"layer {n['source'] or n.name}: multipliers {n['multipliers']!r} is not "
                "supported; choose dsp or lut"
            )
        if n["multipliers"] == "lut" and (n["strategy"] != "resource" or n["skip_zeros"]):
            raise FoldingError(
                f"layer {n['source'] or n.name}: multipliers lut needs strategy resource "
                "without skip_zeros (a fully parallel layer has no multipliers: its "
                "constant weights are shift-adds already)"
            )
        if n["skip_zeros"] and n["strategy"] != "resource":
            raise FoldingError(
                f"layer {n['source'] or n.name}: skip_zeros needs strategy resource (a folded "
                "layer); a fully parallel layer has no cycles to skip"
            )
        if n["skip_zeros"] and not after_relu(n):
            raise FoldingError(
                f"layer {n['source'] or n.name}: skip_zeros is supported after a ReLU (an "
                f"input that cannot be negative); its input {n.inputs[0].name} is signed"
            )
        if n["skip_zeros"] and -(-hi // r) > int(n["units"]):
            low = -(-hi // int(n["units"]))
            raise FoldingError(
                f"layer {n['source'] or n.name}: skip_zeros issues one input per cycle on at "
                f"most {n['units']} multipliers (one per output); reuse {r} needs "
                f"{-(-hi // r)}: use reuse {low}..{hi}"
            )
    return False


def after_relu(n: Dense) -> bool:
    """Is ``n``'s input a ReLU output (a Relu node, or a quantized_relu cast)?"""
    t = n.inputs[0]
    return isinstance(t.producer, Relu) or not t.ftype.signed


@dataclass(frozen=True)
class SkipSchedule:
    """Input-serial schedule of a folded Dense that skips zero inputs at run time.

    ``M`` multipliers; output ``j`` belongs to multiplier ``j % M`` (local index
    ``j // M``). Input ``i`` occupies rows ``start[i] .. start[i+1]-1``
    (``K_i = start[i+1] - start[i]`` = the most nonzero weights of row ``i`` of ``W``
    that one multiplier owns); in those rows every multiplier multiplies ``x[i]`` by one
    of its weights. At run time the rows of zero inputs are not issued: a vector costs
    ``max(1, sum of K_i over its nonzero inputs)`` cycles (:meth:`cycles`); worst case
    ``rows``, best case 1 (every input zero: only the bias).
    """

    mults: int
    start: list[int]  # N_IN + 1 entries
    out_local: npt.NDArray[np.int64]  # (rows, M) local output index (0 on pads)
    weight: npt.NDArray[np.int64]  # (rows, M) raw weight (0 on pads)

    @property
    def rows(self) -> int:
        return self.start[-1]

    def rows_of(self) -> npt.NDArray[np.int64]:
        return np.asarray(np.diff(np.asarray(self.start, np.int64)), np.int64)

    def cycles(self, x_raw: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Exact cycles per vector of ``x_raw`` (N, inputs): the rows of nonzero inputs."""
        k = self.rows_of()
        return np.maximum(1, (np.asarray(x_raw) != 0).astype(np.int64) @ k)


def skip_schedule(node: Dense) -> SkipSchedule:
    """The zero-skipping schedule of a folded Dense (``M = ceil(nnz / reuse)``)."""
    w = node.weights["weight"].data
    n_in, n_out = w.shape
    nnz = int(np.count_nonzero(w))
    m = min(max(1, -(-nnz // int(node["reuse"]))), n_out)  # folding() refuses m > n_out
    start = [0]
    rows_w: list[list[int]] = []
    rows_o: list[list[int]] = []
    for i in range(n_in):
        per: list[list[tuple[int, int]]] = [[] for _ in range(m)]
        for j in np.flatnonzero(w[i]):
            per[int(j) % m].append((int(j) // m, int(w[i, j])))
        k = max(len(p) for p in per)
        for r in range(k):
            rows_o.append([p[r][0] if r < len(p) else 0 for p in per])
            rows_w.append([p[r][1] if r < len(p) else 0 for p in per])
        start.append(start[-1] + k)
    if not rows_w:  # an all-zero layer: one row of pads
        rows_o, rows_w = [[0] * m], [[0] * m]
    return SkipSchedule(m, start, np.array(rows_o, np.int64), np.array(rows_w, np.int64))


def binarized_input(n: Node) -> bool:
    """``n`` reads a Binarize's +-1 (2 bits, raw -1 or +1, bit 1 the sign): a fully
    parallel Dense or unrolled Conv over it is built on the sign bits (:func:`generator.backends.rtl.plan.sign_form`).
    """
    t = n.inputs[0]
    return isinstance(t.producer, Binarize) and t.ftype.width == 2


def xnor_exponent(n: Node) -> int | None:
    """``k`` when ``n`` is a Dense of binarized inputs (+-1) and weights that are all
    ``+-2^k`` (binary x binary: every product is ``+-2^k``, no zero weight); None
    otherwise."""
    if not isinstance(n, Dense) or not binarized_input(n):
        return None
    return pow2_exponent(n.weights["weight"].data)


def table_word_width(n: Table | Embedding) -> int:
    """Bits of a word of the ROM of a Table (a value) or an Embedding (a row)."""
    tab = n.weights["table"]
    return tab.ftype.width * (tab.data.shape[1] if tab.data.ndim == 2 else 1)
