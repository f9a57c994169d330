"""What every part of the Keras frontend (and the QONNX one) shares: the one-line
:class:`FrontendError`, C/Verilog-safe node names and nodes whose output is their exact
sum."""

from __future__ import annotations

import math
from typing import Any

from ...fixed import FixedType
from ...ir import Graph, Tensor


class FrontendError(ValueError):
    """A model nnfab cannot convert (one line: the layer and what is supported)."""


def _safe(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if not out or out[0].isdigit():
        out = "l_" + out
    return out


def unique_name(g: Graph, base: str) -> str:
    """``base`` made a C/Verilog identifier, suffixed ``_1``, ``_2``, ... if ``g`` has it."""
    name = _safe(base)
    names = {n.name for n in g.nodes}
    if name not in names:
        return name
    i = 1
    while f"{name}_{i}" in names:
        i += 1
    return f"{name}_{i}"


def add_exact(g: Graph, node: Any) -> Tensor:
    """Add a Dense / Conv / Add node whose output type is its exact sum's."""
    from ...intervals import derived_type

    y = g.add(node, FixedType(2, 2))  # placeholder; the exact type follows
    t = derived_type(node)
    assert t is not None
    y.ftype = t
    return y


def float32_exact(n: Any, notes: list[str], source: str) -> None:
    """The source model computes in float32: a sum whose exact type is wider than its
    24-bit mantissa may be rounded there, so the node is not bit-exact by construction
    (``verify`` still measures the source view; it no longer requires it)."""
    t = n.output.ftype
    if t.width > 24 and n["exact"]:
        n.set("exact", False)
        notes.append(f"{n['source']}: its exact sums need {t.width} bits ({t}); {source} "
                     "rounds beyond 24, so it may deviate")


def _po2_shift(v: float) -> int | None:
    """``k`` with ``v == 2**-k`` exactly, else None."""
    m, e = math.frexp(v)
    return 1 - e if v > 0 and m == 0.5 else None


def _index_bits(rows: int) -> int:
    """Bits of an unsigned index into ``rows`` table rows."""
    return max(1, (rows - 1).bit_length())
