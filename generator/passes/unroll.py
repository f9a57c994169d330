"""The unrolled (io parallel) form of a convolutional graph: every pixel of a frame at once.

With ``io: parallel`` the HLS view of a CNN is one pipelined function over whole arrays
(every loop unrolled under ``PIPELINE``), and the RTL view is the same architecture: the
whole input frame is one AXI-Stream beat and every layer is a one-frame-per-cycle
pipeline (II 1). Each spatial op is then a *static* map from input elements to output
elements, which this pass computes once, from the shapes and weights alone, for the RTL
emitter, the cycle/resource model and the fit to share:

* a Conv is one Dense over the flattened frames (channels last, row-major positions):
  :func:`conv_dense` gives its ``(inputs, outputs)`` raw weight matrix -- the kernel's
  nonzero weights placed once per output pixel and *valid* tap: a tap that falls on
  zero padding builds nothing -- and the bias repeated per output pixel;
* Pool, GlobalPool, Pad, Crop, Upsample, Reshape and Transpose gather input elements: :func:`gather`
  gives, per output element, the flat indices of the inputs it reads (``-1`` for a
  padded position).

Streamed designs (``io: stream``) are built by ``generator.backends.rtl.stream``
instead; :func:`unrolled` says which one a graph gets.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..ir import (
    Conv,
    Crop,
    GlobalPool,
    Graph,
    Node,
    Pad,
    Pool,
    Reshape,
    Transpose,
    Upsample,
    ops_with,
)

#: ops that make a graph a CNN (they have spatial axes)
SPATIAL_OPS = ops_with("SPATIAL")
#: the ops an unrolled design renders as a gather of input elements: the channel-wise
#: ones and the two that only move elements
GATHER_OPS = (*ops_with("CHANNELWISE"), Reshape, Transpose)


#: largest unrolled Conv: constant multiplies (nonzero weights x output pixels) and the
#: elements of its whole-frame weight matrix (inputs x outputs)
MAX_UNROLLED_PRODUCTS = 200_000
MAX_UNROLLED_MATRIX = 1 << 24


def too_large_to_unroll(n: Conv) -> str | None:
    """Why the Conv ``n`` cannot be unrolled over its frame (one line), or None."""
    products = int(np.count_nonzero(n.weights["weight"].data)) * (
        n.output.size // n.output.shape[-1])
    if products > MAX_UNROLLED_PRODUCTS or n.input.size * n.output.size > MAX_UNROLLED_MATRIX:
        return (f"layer {n.name}: unrolling this conv over the frame (io parallel) builds "
                f"{products} multiplies (limit {MAX_UNROLLED_PRODUCTS})")
    return None


def choose_io(g: Graph) -> tuple[str, str] | None:
    """The io type nnfab picks for a CNN whose io the user did not set, and why (one
    line): ``stream`` when a Conv is too large to unroll (:func:`too_large_to_unroll`),
    else ``parallel``; None for a graph without convolutions (its io type costs no
    unrolling)."""
    if not g.of(Conv):
        return None
    for n in g.of(Conv):
        why = too_large_to_unroll(n)
        if why:
            return "stream", why
    total = sum(int(np.count_nonzero(n.weights["weight"].data))
                * (n.output.size // n.output.shape[-1]) for n in g.of(Conv))
    return "parallel", f"every conv unrolls over the frame, {total:,} multiplies in all"


def io_type(g: Graph) -> str:
    """The graph's I/O type (``parallel`` | ``stream``, the conversion's ``io``)."""
    return str(g.meta.get("config", {}).get("io", "parallel"))


def unrolled(g: Graph) -> bool:
    """Does ``g`` have spatial ops and io parallel (the unrolled architecture)?"""
    return io_type(g) == "parallel" and any(isinstance(n, SPATIAL_OPS) for n in g.nodes)


def _index(n: Node) -> npt.NDArray[np.int64]:
    """The flat index of every input element, as a batch of one ``(1, *shape)``."""
    t = n.inputs[0]
    return np.arange(t.size, dtype=np.int64).reshape((1, *t.shape))


def windows_index(n: Conv | Pool) -> npt.NDArray[np.int64]:
    """Per output position, the flat input index of every window element in the order of
    :func:`generator.passes.folding.conv_matrix` (``(tap, channel)``): shape
    ``(positions, taps * C)``, ``-1`` on padding."""
    from ..reference import windows

    k = tuple(n["kernel"])
    rank = len(k)
    v = windows(_index(n), k, tuple(n["strides"]), tuple(n["pads"]), -1)  # (1, *o, C, *k)
    perm = (0, *range(1, 1 + rank), *range(2 + rank, 2 + 2 * rank), 1 + rank)
    v = v.transpose(perm)  # (1, *o, *k, C)
    pos = int(np.prod(v.shape[1:1 + rank]))
    return np.ascontiguousarray(v).reshape(pos, -1)


def conv_dense(n: Conv) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64] | None]:
    """``(W, bias)``: the conv as ``y = x @ W + bias`` over flattened frames.

    ``W`` is ``(input size, output size)`` raw weights (zero where a tap is padding or a
    weight is pruned); ``bias`` the aligned bias (see
    :func:`generator.passes.folding.aligned_bias`) per output element, or None.
    """
    from .folding import aligned_bias, conv_matrix

    m = conv_matrix(n)  # (taps * C, F)
    idx = windows_index(n)  # (P, taps * C)
    f = m.shape[1]
    w = np.zeros((n.input.size, idx.shape[0] * f), np.int64)
    for p, row in enumerate(idx):
        ok = row >= 0
        w[row[ok], p * f:(p + 1) * f] = m[ok]
    b = aligned_bias(n)
    return w, None if b is None else np.tile(b, idx.shape[0])


def gather(n: Node) -> npt.NDArray[np.int64]:
    """Per output element of a gather op, the flat input indices it reads: shape
    ``(output size, k)``, ``-1`` for padding (Pool: the window, ``k`` = its area;
    GlobalPool: every position of the channel; Pad, Crop, Upsample, Reshape, Transpose:
    ``k = 1``)."""
    from ..reference import _pad, crop

    if isinstance(n, Pool):
        c = n.input.shape[-1]
        idx = windows_index(n)  # (P, taps * C), tap-major
        taps = idx.shape[1] // c
        return idx.reshape(-1, taps, c).transpose(0, 2, 1).reshape(-1, taps)
    if isinstance(n, GlobalPool):
        c = n.input.shape[-1]
        return np.arange(n.input.size, dtype=np.int64).reshape(-1, c).T.copy()
    if isinstance(n, Pad):
        return _pad(_index(n), tuple(n["pads"]), -1).reshape(-1, 1)
    if isinstance(n, Crop):
        return crop(_index(n), tuple(n["crops"])).reshape(-1, 1)
    if isinstance(n, Transpose):
        return _index(n).transpose(0, *(1 + p for p in n["perm"])).reshape(-1, 1)
    if isinstance(n, Upsample):
        x = _index(n)
        for d, f in enumerate(n["factors"]):
            x = np.repeat(x, f, axis=1 + d)
        return x.reshape(-1, 1)
    if isinstance(n, Reshape):
        return np.arange(n.input.size, dtype=np.int64).reshape(-1, 1)
    raise TypeError(f"{n.OP} is not a gather op")
