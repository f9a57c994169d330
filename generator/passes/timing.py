"""Pass ``timing``: pipeline registers placed from the family's delays and the target clock.

The target is the project's clock (``g.meta["clock_mhz"]``: ``--clock``, else the
board's, else :data:`generator.timing.DEFAULT_CLOCK_MHZ`) on the board's family (else
:data:`generator.timing.DEFAULT_FAMILY`). With the delay model of
:mod:`generator.timing` the pass writes:

* on every fully parallel multiply-accumulate (a Dense with strategy ``latency``, a
  Conv): ``adder_levels``, the adder levels of its output width that fit between two
  registers (:func:`generator.timing.adder_levels`), and ``lead_levels``, the levels of
  the element-wise logic (requantizers, activations, tables) between the register
  before it and its first adder, which its first stage then leaves out;
* on an element-wise op: ``register_output`` when the element-wise logic since the last
  register would leave its consumer less than one adder level (a parallel layer) or
  would not fit a period by itself (any other consumer), or when it feeds a folded layer
  (and is not a cast that changes no value) of a family whose folded layers keep their
  registers apart
  (:data:`generator.timing.FOLDED_APART`: there the folded layer's input latch sits by
  its multipliers, a routed path away from the logic): its output is then
  registered, one more pipeline stage. Only a whole-vector chain (no branches, not pixel-streamed)
  registers element-wise outputs; a block-level design keeps them combinational and its
  layers' first stages give up as many levels as the logic takes (at least one adder
  level stays).
"""

from __future__ import annotations

from ..ir import (
    Binarize,
    Conv,
    Dense,
    Embedding,
    Graph,
    Node,
    Quantize,
    Reshape,
    ScaleShift,
    Table,
    Ternarize,
    Threshold,
    ops_with,
)
from ..timing import FOLDED_APART, adder_levels, requant_levels, table_levels, target
from .unroll import SPATIAL_OPS, io_type

#: ops whose logic is per element (:func:`op_levels`): the element-wise ops and Embedding,
#: whose output values of an element are a table row selected by that input element alone
ELEMENTWISE = (*ops_with("ELEMENTWISE"), Embedding)


def op_levels(n: Node, family: str) -> int:
    """Logic levels of element-wise op ``n`` (:mod:`generator.timing`)."""
    w = n.input.ftype.width
    if isinstance(n, (Binarize, Ternarize)):
        return 2  # a sign test, a compare
    if isinstance(n, (Table, Embedding)):
        return table_levels(family, len(n.weights["table"].data))
    if isinstance(n, Threshold):  # a compare per threshold, a priority select over them
        return requant_levels(family, w) + max(1, len(n.weights["thresholds"].data).bit_length())
    if isinstance(n, ScaleShift):  # a product by a constant and a cast
        return requant_levels(family, w) + 4
    return requant_levels(family, w)


def _chain(g: Graph) -> bool:
    """A whole-vector chain: no tensor with several users or a node with several inputs,
    and not pixel-streamed."""
    streamed = io_type(g) == "stream" and any(isinstance(n, SPATIAL_OPS) for n in g.nodes)
    return not streamed and not any(len(n.output.users) > 1 or len(n.inputs) > 1
                                    for n in g.nodes)


def _identity_cast(n: Node) -> bool:
    """A Quantize whose output type holds every input value unchanged (same fraction, a
    range covering the input's): wires, no logic."""
    ti, to = n.input.ftype, n.output.ftype
    return (isinstance(n, Quantize) and ti.frac == to.frac and to.min_raw <= ti.min_raw
            and ti.max_raw <= to.max_raw)


def _parallel_mac(n: Node) -> bool:
    return (isinstance(n, Dense) and n["strategy"] != "resource") or (
        isinstance(n, Conv) and not (int(n["reuse"]) > 1 and n["strategy"] == "resource"))


def timing(g: Graph) -> bool:
    family, clock = target(g)
    chain = _chain(g)
    apart = family in FOLDED_APART
    changed = False
    lead: dict[str, int] = {}  # tensor -> levels of logic since its last register

    def put(n: Node, key: str, value: object) -> None:
        nonlocal changed
        if n[key] != value:
            n.set(key, value)
            changed = True

    for n in g.nodes:
        before = max((lead.get(t.name, 0) for t in n.inputs), default=0)
        width = n.output.ftype.width
        if isinstance(n, (*ELEMENTWISE, Reshape)):
            own = 0 if isinstance(n, Reshape) else op_levels(n, family)
            here = before + own
            users = n.output.users
            room = min((adder_levels(family, clock, u.output.ftype.width)
                        - (1 if _parallel_mac(u) else 0) for u in users),
                       default=adder_levels(family, clock, width))
            folded = (apart and not _identity_cast(n)
                      and any(isinstance(u, (Dense, Conv)) and not _parallel_mac(u)
                              for u in users))
            reg = (chain and not isinstance(n, Reshape) and (here > room or folded)
                   and not isinstance(n.input.producer, Conv))
            put(n, "register_output", bool(reg))
            lead[n.output.name] = 0 if reg else here
            continue
        if _parallel_mac(n):
            levels = adder_levels(family, clock, width)
            put(n, "adder_levels", levels)
            put(n, "lead_levels", min(before, levels - 1))
        lead[n.output.name] = 0
    return changed
