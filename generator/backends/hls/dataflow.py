"""The io_stream architecture's stream model: words per tensor and FIFO depths.

In ``io_stream`` every tensor flows as one *word* per spatial position (all channels of
that position; a rank-1 tensor ``(N,)`` is a single word of N values). Each layer is a
process of one ``DATAFLOW`` region (``hls_templates/nnfab/stream.h``) that reads its
input words in raster order and writes each output word as soon as it can. For every
op, :func:`needs` gives, per output word ``m``, how many words of each input the
process has read when it writes word ``m`` -- computed by walking the same loops as
the C++ kernel (line-buffer windows, padding, upsampling, regrouping), so the model
and the firmware cannot disagree.

FIFO depth rule (:func:`fifo_depths`)
-------------------------------------
* A stream between one producer and one consumer is a chain: with blocking reads and
  writes it cannot deadlock at any depth, so it gets :data:`CHAIN_DEPTH` (2: one word
  in flight while the next is written).
* A tensor used by ``k >= 2`` layers goes through a fork process that writes each
  word into ``k`` streams. Where two of those branches meet again (an Add or Concat
  reading one word from each), the branch that needs *fewer* fork words to deliver its
  word ``m`` (e.g. the skip path of a residual block) must buffer the difference while
  the other branch (e.g. two 'same' convolutions) consumes fork words before it
  produces anything. With ``F_b(m)`` the number of fork words branch ``b`` must have
  consumed to deliver its word ``m`` to the join (the composition of :func:`needs`
  along the branch), the fork output stream of branch ``b`` gets depth::

      max(CHAIN_DEPTH, max_m (max_b' F_b'(m) - F_b(m)) + MARGIN)

  over every join the branch reaches; ``MARGIN`` (1) is the word the fork holds while
  it writes. For a 'same' KxK convolution on a W-wide image that is about
  ``(K-1)/2`` rows + ``(K-1)/2`` pixels per convolution on the long path.

The C-simulation checks the rule: with ``NNFAB_CSIM_THREADS`` every process runs in
its own thread over FIFOs bounded to these depths, and a deadlock is detected and
reported (``tests/test_hls_cnn.py`` also finds the smallest depth that does not
deadlock and compares it with the rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatch

import numpy as np
import numpy.typing as npt

from ...ir import (
    Conv,
    Crop,
    GlobalPool,
    Graph,
    Input,
    Node,
    Pad,
    Pool,
    Reshape,
    Tensor,
    Transpose,
    Upsample,
    pad_geometry,
)

#: Depth of a stream between one producer and one consumer.
CHAIN_DEPTH = 2
#: Words added to the computed lag of a fork output stream.
MARGIN = 1

Counts = npt.NDArray[np.int64]


def word_size(t: Tensor) -> int:
    """Values per stream word: the channel (last) axis."""
    return int(t.shape[-1])


def words(t: Tensor) -> int:
    """Stream words per sample: one per spatial position (1 for a rank-1 tensor)."""
    return t.size // word_size(t)


def spatial(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(H, W)`` of a channels-last shape; rank-1 spatial ``(L, C)`` is ``(1, L)``."""
    if len(shape) == 3:
        return int(shape[0]), int(shape[1])
    if len(shape) == 2:
        return 1, int(shape[0])
    return 1, 1


def window_geometry(node: Node) -> dict[str, int]:
    """Template parameters of a window op (Conv, Pool) in 2-D form (H = 1 for 1-D)."""
    h, w = spatial(node.input.shape)
    k, s, p = node["kernel"], node["strides"], node["pads"]
    if len(k) == 1:
        k, s, p = (1, k[0]), (1, s[0]), (0, 0, p[0], p[1])
    oh, ow = spatial(node.output.shape)
    return {"H": h, "W": w, "C": word_size(node.input), "KH": k[0], "KW": k[1], "SH": s[0],
            "SW": s[1], "PT": p[0], "PB": p[1], "PL": p[2], "PR": p[3], "OH": oh, "OW": ow}


def _padded_walk(h: int, w: int, pt: int, pb: int, pl: int, pr: int) -> tuple[Counts, Counts, Counts]:
    """Rows, columns and words read so far (inclusive) at each padded-grid position."""
    hp, wp = h + pt + pb, w + pl + pr
    r, c = np.divmod(np.arange(hp * wp, dtype=np.int64), wp)
    inside = (r >= pt) & (r < pt + h) & (c >= pl) & (c < pl + w)
    return r, c, np.cumsum(inside).astype(np.int64)


@singledispatch
def needs(node: Node) -> list[Counts]:
    """Per input: words read when output word ``m`` is written (one entry per ``m``).

    The default is a process that maps each input word to one output word (Dense,
    element-wise ops, Add and Concat read one word of every input per output word).
    """
    n = words(node.output)
    for t in node.inputs:
        if words(t) != n:
            raise ValueError(f"layer {node.name}: no stream model for {node.OP} changing the word count")
    return [np.arange(1, n + 1, dtype=np.int64) for _ in node.inputs]


def _window_needs(node: Node) -> list[Counts]:
    g = window_geometry(node)
    r, c, read = _padded_walk(g["H"], g["W"], g["PT"], g["PB"], g["PL"], g["PR"])
    emit = ((r >= g["KH"] - 1) & (c >= g["KW"] - 1) & ((r - g["KH"] + 1) % g["SH"] == 0)
            & ((c - g["KW"] + 1) % g["SW"] == 0))
    out = read[emit]
    assert len(out) == words(node.output), node.name
    return [out]


@needs.register
def _conv(node: Conv) -> list[Counts]:
    return _window_needs(node)


@needs.register
def _pool(node: Pool) -> list[Counts]:
    return _window_needs(node)


@needs.register
def _pad(node: Pad) -> list[Counts]:
    h, w = spatial(node.input.shape)
    return [_padded_walk(h, w, *pad_geometry(node["pads"]))[2]]


@needs.register
def _crop(node: Crop) -> list[Counts]:
    h, w = spatial(node.input.shape)
    ct, cb, cl, cr = pad_geometry(node["crops"])
    r, c = np.divmod(np.arange((h - ct - cb) * (w - cl - cr), dtype=np.int64), w - cl - cr)
    return [(r + ct) * w + c + cl + 1]


@needs.register
def _upsample(node: Upsample) -> list[Counts]:
    h, w = spatial(node.input.shape)
    f = node["factors"]
    fh, fw = (1, f[0]) if len(f) == 1 else (f[0], f[1])
    r, c = np.divmod(np.arange(h * fh * w * fw, dtype=np.int64), w * fw)
    first = r % fh == 0  # the first copy of a row reads it while writing
    return [np.where(first, (r // fh) * w + c // fw + 1, (r // fh + 1) * w)]


@needs.register
def _global_pool(node: GlobalPool) -> list[Counts]:
    return [np.array([words(node.input)], dtype=np.int64)]


@needs.register
def _transpose(node: Transpose) -> list[Counts]:  # the whole frame before the first word
    return [np.full(words(node.output), words(node.input), dtype=np.int64)]


@needs.register
def _reshape(node: Reshape) -> list[Counts]:
    cin, cout = word_size(node.input), word_size(node.output)
    m = np.arange(1, words(node.output) + 1, dtype=np.int64)
    return [-(-(m * cout) // cin)]


@dataclass
class Edge:
    """The stream from tensor ``tensor`` into input ``port`` of ``consumer``."""

    tensor: Tensor
    consumer: Node
    port: int


def edges_of(g: Graph, t: Tensor) -> list[Edge]:
    """The consumers of ``t`` in graph order, one entry per input slot that reads it."""
    return [Edge(t, n, p) for n in g.nodes for p, u in enumerate(n.inputs) if u is t]


def fork_lags(g: Graph, f: Tensor) -> list[int]:
    """Per edge of fork tensor ``f``: the words it must buffer (see the module rule)."""
    edges = edges_of(g, f)
    nf = words(f)
    start = g.nodes.index(f.producer) if f.producer is not None else -1
    cache = {n.name: needs(n) for n in g.nodes[start + 1:] if not isinstance(n, Input)}
    fwords: dict[str, tuple[Counts, frozenset[int]]] = {}
    lag = [0] * len(edges)
    for n in g.nodes[start + 1:]:
        if isinstance(n, Input):
            continue
        ins: list[tuple[Counts, frozenset[int]]] = []
        for p, t in enumerate(n.inputs):
            if t is f:
                k = next(i for i, e in enumerate(edges) if e.consumer is n and e.port == p)
                base, br = np.arange(1, nf + 1, dtype=np.int64), frozenset([k])
            elif t.name in fwords:
                base, br = fwords[t.name]
            else:
                continue
            idx = cache[n.name][p] - 1
            eff = np.where(idx >= 0, base[np.clip(idx, 0, None)], 0)
            ins.append((eff, br))
        if not ins:
            continue
        total = np.max(np.stack([e for e, _ in ins]), axis=0)
        if len(ins) >= 2:
            for eff, br in ins:
                if len(br) == 1:
                    (k,) = br
                    lag[k] = max(lag[k], int((total - eff).max(initial=0)))
        fwords[n.output.name] = (total, frozenset().union(*(b for _, b in ins)))
    return lag


def fifo_depths(g: Graph) -> dict[tuple[str, int], tuple[int, str]]:
    """``(tensor, edge index) -> (depth, reason)`` for every fork output stream."""
    out: dict[tuple[str, int], tuple[int, str]] = {}
    for t in g.tensors.values():
        if len(t.users) < 2:
            continue
        for k, lag in enumerate(fork_lags(g, t)):
            if lag > 0:
                out[(t.name, k)] = (max(CHAIN_DEPTH, lag + MARGIN),
                                    f"branch lag {lag} words + margin {MARGIN}")
            else:
                out[(t.name, k)] = (CHAIN_DEPTH, "no lag behind the other branches")
    return out
