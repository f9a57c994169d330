"""Fixed-point vectors <-> bytes in the accelerator's AXI-Stream layout (one shared packing).

The RTL top (``generator/backends/rtl/emit.py``) takes one whole vector per beat: element
``i`` of a vector of ``n`` elements of ``W`` bits sits at ``tdata[i*W +: W]`` (two's
complement for signed types), and ``tdata`` is ``n*W`` bits rounded up to whole bytes,
the padding bits zero. AXI-Stream and the AXI DMA move ``tdata`` little-endian: byte ``k``
of a beat is ``tdata[8k +: 8]``, and consecutive beats are consecutive bytes in memory.

:func:`pack` and :func:`unpack` are the only implementation of that layout: the PYNQ
driver embeds their source text (``inspect.getsource``) and the XRT host reads and
writes files made by them, so host, driver, test benches and the RTL agree by
construction (``tests/test_board_flow.py`` checks them against
``testbenches.axis.pack``, which is what the cocotb driver feeds the RTL).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def beat_bits(n_elems: int, width: int) -> int:
    """The RTL's ``tdata`` width for ``n_elems`` elements of ``width`` bits: whole bytes."""
    return -(-(int(n_elems) * int(width)) // 8) * 8


def pack(raw: npt.ArrayLike, width: int, beat_bits: int) -> npt.NDArray[np.uint8]:
    """Raw integers ``(N, n_elems)`` -> bytes ``(N, beat_bits // 8)``, element i at bit i*width.

    Values are taken modulo ``2**width`` (two's complement for negative raw values); the
    bits above ``n_elems * width`` are zero. ``beat_bits`` must be a multiple of 8 and at
    least ``n_elems * width``.
    """
    a = np.asarray(raw)
    if a.ndim != 2:
        raise ValueError(f"pack: raw must have shape (N, n_elems), got {a.shape}")
    n, m = a.shape
    width, beat_bits = int(width), int(beat_bits)
    if not 1 <= width <= 63:
        raise ValueError(f"pack: width {width} not in 1..63")
    if beat_bits % 8 or beat_bits < m * width:
        raise ValueError(f"pack: beat_bits {beat_bits} must be a multiple of 8 and >= {m * width}")
    u = a.astype(np.int64).view(np.uint64) & np.uint64((1 << width) - 1)
    shifts = np.arange(width, dtype=np.uint64)
    bits = ((u[:, :, None] >> shifts) & np.uint64(1)).astype(np.uint8).reshape(n, m * width)
    padded = np.zeros((n, beat_bits), dtype=np.uint8)
    padded[:, : m * width] = bits
    return np.packbits(padded, axis=1, bitorder="little")


def unpack(data: npt.ArrayLike, n_elems: int, width: int, signed: bool) -> npt.NDArray[np.int64]:
    """Bytes ``(N, beat_bytes)`` (or a flat buffer of whole beats) -> raw int64 ``(N, n_elems)``."""
    b = np.asarray(data, dtype=np.uint8)
    n_elems, width = int(n_elems), int(width)
    if not 1 <= width <= 63:
        raise ValueError(f"unpack: width {width} not in 1..63")
    if b.ndim == 1:
        beat = -(-(n_elems * width) // 8)
        if b.size % beat:
            raise ValueError(f"unpack: {b.size} bytes is not a whole number of {beat}-byte beats")
        b = b.reshape(-1, beat)
    if b.ndim != 2 or b.shape[1] * 8 < n_elems * width:
        raise ValueError(f"unpack: data shape {b.shape} holds fewer than {n_elems * width} bits")
    bits = np.unpackbits(b, axis=1, bitorder="little")[:, : n_elems * width]
    bits = bits.reshape(len(b), n_elems, width).astype(np.uint64)
    u = (bits << np.arange(width, dtype=np.uint64)).sum(axis=2, dtype=np.uint64)
    v = u.astype(np.int64)
    if signed:
        v = np.where(v >= (1 << (width - 1)), v - (1 << width), v)
    return v
