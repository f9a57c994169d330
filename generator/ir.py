"""The typed intermediate representation every nnfab view is generated from.

A :class:`Graph` holds :class:`Node` objects in topological order; nodes consume and
produce :class:`Tensor` objects that carry a shape (without the batch dimension) and a
:class:`~generator.fixed.FixedType`. Constant data (weights, biases, lookup tables) are
:class:`Weight` objects: integer arrays with their own type.

Each operation is a subclass of :class:`Node` registered with :func:`op`; it declares its
attributes (name, kind, default) in ``ATTRS``. Unknown attribute keys are rejected, so a
typo in a pass or a stale ``nnfab.json`` fails loudly. :meth:`Graph.verify` checks
structure (single producer, use lists, shapes, types); :func:`save` / :func:`load`
round-trip a graph exactly through ``nnfab.json`` + ``weights.npz``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ._version import __version__
from .fixed import FixedType

FORMAT_VERSION = 1


class IRError(ValueError):
    """A malformed graph or an IR file nnfab cannot read."""


# -- attribute kinds -----------------------------------------------------------------


@dataclass(frozen=True)
class Attr:
    """Declaration of one node attribute: its kind and default (``REQUIRED`` if none)."""

    kind: str  # int | float | str | bool | type | ints | floats | any | type?
    default: Any = None
    required: bool = False


def _check_attr(node: str, key: str, spec: Attr, value: Any) -> Any:
    k = spec.kind
    if value is None and not spec.required:
        return None
    ok = {
        "int": lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float, np.floating, np.integer)),
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, (bool, np.bool_)),
        "type": lambda v: isinstance(v, FixedType),
        "ints": lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, int) for x in v),
        "json": lambda v: True,
    }[k]
    if not ok(value):
        raise IRError(f"node {node}: attribute {key!r} must be {k}, got {value!r}")
    if k == "int":
        return int(value)
    if k == "float":
        return float(value)
    if k == "ints":
        return tuple(int(x) for x in value)
    return value


# -- core objects --------------------------------------------------------------------


@dataclass(eq=False)
class Tensor:
    """A value flowing between nodes: per-sample ``shape`` and fixed-point ``ftype``."""

    name: str
    shape: tuple[int, ...]
    ftype: FixedType
    producer: Node | None = None
    users: list[Node] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self) -> str:
        return f"Tensor({self.name}, {self.shape}, {self.ftype})"


@dataclass(eq=False)
class Weight:
    """Constant integer data with a fixed-point type (weights, biases, tables)."""

    data: npt.NDArray[np.int64]
    ftype: FixedType

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.int64)
        if self.data.size and (
            self.data.min() < self.ftype.min_raw or self.data.max() > self.ftype.max_raw
        ):
            raise IRError(f"weight values do not fit {self.ftype}")

    def values(self) -> npt.NDArray[np.float64]:
        return self.ftype.to_float(self.data)


_OPS: dict[str, type[Node]] = {}


def op(cls: type[Node]) -> type[Node]:
    """Class decorator registering a :class:`Node` subclass under ``cls.OP``."""
    if cls.OP in _OPS:
        raise IRError(f"op {cls.OP} registered twice")
    _OPS[cls.OP] = cls
    return cls


def op_classes() -> tuple[type[Node], ...]:
    """Every registered op class, in the order this module defines them."""
    return tuple(_OPS.values())


def ops_with(trait: str) -> tuple[type[Node], ...]:
    """The op classes whose class attribute ``trait`` (a trait of :class:`Node`, e.g.
    ``"ELEMENTWISE"``) is true, in the order this module defines them."""
    if not isinstance(getattr(Node, trait, None), bool):
        raise IRError(f"unknown op trait {trait!r}; traits: ELEMENTWISE, SPATIAL, CHANNELWISE")
    return tuple(c for c in _OPS.values() if getattr(c, trait))


def op_class(name: str) -> type[Node]:
    try:
        return _OPS[name]
    except KeyError:
        raise IRError(
            f"unknown op {name!r}; this nnfab knows: {', '.join(sorted(_OPS))}"
        ) from None


class Node:
    """One operation. Subclasses set ``OP``, ``ATTRS`` and ``WEIGHTS``."""

    OP: ClassVar[str] = ""
    ATTRS: ClassVar[dict[str, Attr]] = {}
    WEIGHTS: ClassVar[tuple[str, ...]] = ()  # names of allowed weights
    # traits, read through :func:`ops_with`:
    #: each output element is a function of the input element at the same position
    #: (the output has the input's shape)
    ELEMENTWISE: ClassVar[bool] = False
    #: the op works on spatial axes (one in a graph makes it a CNN)
    SPATIAL: ClassVar[bool] = False
    #: each output channel (last axis) depends on the same input channel only, across
    #: positions
    CHANNELWISE: ClassVar[bool] = False
    # attributes every node may carry (written by passes)
    COMMON_ATTRS: ClassVar[dict[str, Attr]] = {
        "source": Attr("str"),  # name of the layer in the source model
        "exact": Attr("bool", True),  # False when the node deviates from the source model
        "note": Attr("str"),
        "tiling": Attr("json"),  # written by passes.tiling: the node's memories on the FPGA
        # written by passes.timing (register placement from the family's delays and the
        # target clock): a fully parallel multiply-accumulate's adder levels per register
        # stage (0: the RTL's default) and the levels its first stage leaves to the logic
        # before it; an element-wise op whose output is registered (one more stage)
        "adder_levels": Attr("int", 0),
        "lead_levels": Attr("int", 0),
        "register_output": Attr("bool", False),
    }

    def __init__(
        self,
        name: str,
        inputs: list[Tensor],
        weights: dict[str, Weight] | None = None,
        **attrs: Any,
    ) -> None:
        self.name = name
        self.inputs: list[Tensor] = list(inputs)
        self.outputs: list[Tensor] = []
        self.weights: dict[str, Weight] = {}
        for k, w in (weights or {}).items():
            if k not in self.WEIGHTS:
                raise IRError(f"node {name}: unknown weight {k!r} for op {self.OP}")
            self.weights[k] = w
        self.attrs: dict[str, Any] = {}
        specs = {**self.COMMON_ATTRS, **self.ATTRS}
        for k, v in attrs.items():
            if k not in specs:
                raise IRError(
                    f"node {name}: unknown attribute {k!r} for op {self.OP}; "
                    f"known: {', '.join(sorted(specs))}"
                )
            self.attrs[k] = _check_attr(name, k, specs[k], v)
        for k, spec in specs.items():
            if k not in self.attrs:
                if spec.required:
                    raise IRError(f"node {name}: attribute {k!r} is required for {self.OP}")
                self.attrs[k] = spec.default

    # attribute access helpers
    def __getitem__(self, key: str) -> Any:
        return self.attrs[key]

    def set(self, key: str, value: Any) -> None:
        specs = {**self.COMMON_ATTRS, **self.ATTRS}
        if key not in specs:
            raise IRError(f"node {self.name}: unknown attribute {key!r} for op {self.OP}")
        self.attrs[key] = _check_attr(self.name, key, specs[key], value)

    @property
    def input(self) -> Tensor:
        return self.inputs[0]

    @property
    def output(self) -> Tensor:
        return self.outputs[0]

    def output_shape(self) -> tuple[int, ...]:
        """Shape of the output given the inputs (op-specific)."""
        return self.inputs[0].shape

    def check(self) -> None:
        """Op-specific consistency checks (raise :class:`IRError`)."""

    def __repr__(self) -> str:
        return f"{self.OP}({self.name})"


# -- operations ------------------------------------------------------------------------


@op
class Input(Node):
    """A model input; float inputs are quantised to the output type (its modes)."""

    OP = "Input"
    ATTRS: ClassVar[dict[str, Attr]] = {"shape": Attr("ints", required=True)}

    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.attrs["shape"])


@op
class Dense(Node):
    """``y[j] = sum_i x[i] * W[i, j] + b[j]``, exact; output type holds every sum."""

    OP = "Dense"
    WEIGHTS = ("weight", "bias")
    ATTRS: ClassVar[dict[str, Attr]] = {
        "units": Attr("int", required=True),
        # written by passes.folding: latency (fully parallel) or resource (folded)
        "strategy": Attr("str", "latency"),
        "reuse": Attr("int", 1),
        # folded only: skip the rows of zero inputs at run time (RTL; passes.folding)
        "skip_zeros": Attr("bool", False),
        # folded only: "dsp" (a multiply synthesis maps to a DSP48 when the operands are
        # wide enough) or "lut" (a shift-add in fabric, no DSP; RTL and HLS)
        "multipliers": Attr("str", "dsp"),
        # written by passes.dead_units: units whose weights it zeroed (no layer reads them)
        "unread": Attr("int", 0),
        # written by passes.sparsity
        "nnz": Attr("int"),
        "nnz_per_output": Attr("ints"),
    }

    def output_shape(self) -> tuple[int, ...]:
        return (*self.inputs[0].shape[:-1], self.attrs["units"])

    def check(self) -> None:
        w = self.weights.get("weight")
        if w is None:
            raise IRError(f"node {self.name}: Dense needs a weight")
        if w.data.shape != (self.inputs[0].shape[-1], self.attrs["units"]):
            raise IRError(
                f"node {self.name}: weight shape {w.data.shape} does not match input "
                f"{self.inputs[0].shape} and units {self.attrs['units']}"
            )
        b = self.weights.get("bias")
        if b is not None and b.data.shape != (self.attrs["units"],):
            raise IRError(f"node {self.name}: bias shape {b.data.shape} is wrong")


@op
class Quantize(Node):
    """Cast to the output type, with the output type's rounding and overflow modes."""

    OP = "Quantize"
    ELEMENTWISE = True


@op
class Relu(Node):
    """``max(x, 0)``; the output type keeps the input's fraction bits."""

    OP = "Relu"
    ELEMENTWISE = True


@op
class LeakyRelu(Node):
    """Leaky ReLU with slope ``2**-shift``: ``cast(x)`` where ``x >= 0``; where ``x < 0``,
    ``neg(x) * 2**-shift`` with ``neg`` the negative branch's own cast (its rounding and
    overflow modes), exact in the output type (``out.frac == neg.frac + shift``).

    Keras ``LeakyReLU(alpha=2**-k)``: ``neg`` is the input type (no rounding anywhere);
    QKeras ``quantized_relu(bits, integer, negative_slope=2**-k)``: the output is
    ``ap_fixed<bits, integer+1>`` and ``neg`` is ``ap_fixed<bits-k, integer+1>`` (both
    RND_CONV, SAT), which is how its ``__call__`` rounds and clips the two halves.
    """

    OP = "LeakyRelu"
    ELEMENTWISE = True
    ATTRS: ClassVar[dict[str, Attr]] = {"shift": Attr("int", required=True),
                                        "neg": Attr("type", required=True)}

    def check(self) -> None:
        k, neg, out = self.attrs["shift"], self.attrs["neg"], self.output.ftype
        if k < 1 or not (neg.signed and out.signed) or out.frac != neg.frac + k:
            raise IRError(f"node {self.name}: leaky relu needs shift >= 1 and signed types with "
                          f"out.frac == neg.frac + shift (shift {k}, neg {neg}, out {out})")
        if neg.min_value * 2.0**-k < out.min_value:
            raise IRError(f"node {self.name}: the negative branch {neg} >> {k} does not fit {out}")


@op
class Clip(Node):
    """ONNX ``Clip``: ``cast(min(max(x, lo), hi))`` with ``lo <= hi`` raw values on the
    input's grid (its fraction bits) within the input type's range; the cast is the output
    type's (its rounding and overflow modes)."""

    OP = "Clip"
    ELEMENTWISE = True
    ATTRS: ClassVar[dict[str, Attr]] = {"lo_raw": Attr("int", required=True),
                                        "hi_raw": Attr("int", required=True)}

    def check(self) -> None:
        t, lo, hi = self.input.ftype, self.attrs["lo_raw"], self.attrs["hi_raw"]
        if not t.min_raw <= lo <= hi <= t.max_raw:
            raise IRError(f"node {self.name}: clip bounds {lo}..{hi} (raw) are not an "
                          f"ascending range within the input type {t}")


@op
class Binarize(Node):
    """QKeras ``binary(alpha=1)``: -1 where x < 0, else +1."""

    OP = "Binarize"
    ELEMENTWISE = True


@op
class Ternarize(Node):
    """QKeras ``ternary(alpha=1)``: sign(x) where ``|x| >= threshold``, else 0.

    ``threshold_raw`` is the smallest raw input magnitude that maps to +-1.
    """

    OP = "Ternarize"
    ELEMENTWISE = True
    ATTRS: ClassVar[dict[str, Attr]] = {"threshold_raw": Attr("int", required=True)}


@op
class Threshold(Node):
    """A monotone element-wise function by thresholds (FINN's ``MultiThreshold``):
    ``y = levels[#{i : x >= thresholds[i]}]``.

    ``thresholds`` are ascending raw values on the input's grid (same fraction bits as the
    input), ``levels`` the ``len(thresholds) + 1`` raw outputs on the output's grid. Exact
    for any step function of the input, e.g. QKeras ``quantized_tanh``,
    ``quantized_sigmoid`` and ``quantized_relu_po2``, whose thresholds the frontend reads
    off the quantiser itself on every input value.

    One function for every element: ``thresholds`` of shape ``(T,)`` (strictly ascending)
    and ``levels`` ``(T + 1,)``. One per channel (the last axis, as :class:`ScaleShift`):
    ``(C, T)`` thresholds (each row non-decreasing: a row with fewer steps repeats its last
    threshold with its last level) and ``(C, T + 1)`` levels; element ``i`` uses row
    ``i % C``.
    """

    OP = "Threshold"
    ELEMENTWISE = True
    WEIGHTS = ("thresholds", "levels")
    ATTRS: ClassVar[dict[str, Attr]] = {"function": Attr("str", required=True)}

    def tables(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``(C, T)`` raw thresholds and ``(C, T + 1)`` raw levels (``C`` = 1 when every
        element shares one function)."""
        t, v = self.weights["thresholds"].data, self.weights["levels"].data
        if t.ndim == 2:
            return t, v
        return t.reshape(1, -1), v.reshape(1, -1)

    def check(self) -> None:
        thr, lev = self.weights.get("thresholds"), self.weights.get("levels")
        if thr is None or lev is None:
            raise IRError(f"node {self.name}: threshold needs weights 'thresholds' and 'levels'")
        ti, to = self.input.ftype, self.output.ftype
        t, v = self.tables()
        per = thr.data.ndim == 2
        c = t.shape[0]
        bad = np.any(np.diff(t, axis=1) < 0) if per else np.any(np.diff(t, axis=1) <= 0)
        if not per and (bad or thr.data.ndim != lev.data.ndim or v.shape != (1, t.size + 1)):
            raise IRError(f"node {self.name}: needs strictly ascending thresholds and one more "
                          f"level than thresholds ({t.size} thresholds, {v.size} levels)")
        if per and (bad or thr.data.ndim != lev.data.ndim or v.shape != (c, t.shape[1] + 1)
                    or self.input.shape[-1] != c):
            raise IRError(f"node {self.name}: needs ascending thresholds per channel and one "
                          f"more level than thresholds ({thr.data.shape} thresholds, "
                          f"{lev.data.shape} levels, input {self.input.shape})")
        if thr.ftype.frac != ti.frac or (t.size and (t.min() < ti.min_raw or t.max() > ti.max_raw)):
            raise IRError(f"node {self.name}: thresholds {thr.ftype} are not on the input grid {ti}")
        if lev.ftype.frac != to.frac or v.min() < to.min_raw or v.max() > to.max_raw:
            raise IRError(f"node {self.name}: levels {lev.ftype} are not on the output grid {to}")


@op
class ScaleShift(Node):
    """``y = cast(x * scale + shift)`` per channel (last axis); un-folded BatchNorm."""

    OP = "ScaleShift"
    ELEMENTWISE = True
    WEIGHTS = ("scale", "shift")


@op
class Table(Node):
    """Element-wise function by lookup table (sigmoid, tanh).

    The index is ``clip((x_raw >> index_shift) - index_offset, 0, len(table) - 1)``;
    the output is ``table[index]`` in the table's type.
    """

    OP = "Table"
    ELEMENTWISE = True
    WEIGHTS = ("table",)
    ATTRS: ClassVar[dict[str, Attr]] = {
        "function": Attr("str", required=True),
        "index_shift": Attr("int", 0),
        "index_offset": Attr("int", 0),
    }


@op
class Embedding(Node):
    """A lookup of one table row per input element (Keras ``Embedding``).

    ``table`` holds ``(V, D)`` raw values of the output type; the row of an input
    element is ``clip((x_raw >> index_shift) - index_offset, 0, V - 1)`` (:class:`Table`'s
    index rule) and the output is the input's shape plus an axis of the ``D`` values.
    """

    OP = "Embedding"
    WEIGHTS = ("table",)
    ATTRS: ClassVar[dict[str, Attr]] = {
        "index_shift": Attr("int", 0),
        "index_offset": Attr("int", 0),
    }

    def output_shape(self) -> tuple[int, ...]:
        return (*self.inputs[0].shape, int(self.weights["table"].data.shape[1]))

    def check(self) -> None:
        t = self.weights.get("table")
        if t is None or t.data.ndim != 2 or not t.data.shape[0]:
            raise IRError(f"node {self.name}: Embedding needs a (rows, values) table")


@op
class Softmax(Node):
    """Softmax over the last axis by tables (exactly specified integer algorithm).

    1. ``m = max(x)``; ``d = x - m`` (<= 0, exact).
    2. ``e = exp_table[clip(ceil(-d_raw / 2^exp_shift), 0, len-1)]`` (``exp_table[0] = 1``;
       ``exp_table[k] = exp(-(k - 1/2) * 2^exp_shift * lsb)``, the middle of the inputs it
       stands for, when ``exp_shift > 0``; in ``exp`` type). Rounding up keeps an input
       below the maximum below it: the largest output is the largest input's alone.
    3. ``s = sum(e)`` exact; ``inv = inv_table[clip(s_raw >> inv_shift, 0, len-1)]``.
    4. ``y = cast(e * inv)`` into the output type.
    """

    OP = "Softmax"
    WEIGHTS = ("exp_table", "inv_table")
    ATTRS: ClassVar[dict[str, Attr]] = {"exp_shift": Attr("int", 0), "inv_shift": Attr("int", 0)}


@op
class Reshape(Node):
    """Change the per-sample shape (row-major order; Flatten is a Reshape)."""

    OP = "Reshape"
    ATTRS: ClassVar[dict[str, Attr]] = {"target_shape": Attr("ints", required=True)}

    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.attrs["target_shape"])

    def check(self) -> None:
        if int(np.prod(self.attrs["target_shape"])) != self.inputs[0].size:
            raise IRError(f"node {self.name}: reshape changes the element count")


def _out_len(n: int, k: int, s: int, before: int, after: int) -> int:
    return (n + before + after - k) // s + 1


def _spatial_out(node: Node, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    k, s, p = node["kernel"], node["strides"], node["pads"]
    return tuple(
        _out_len(in_shape[d], k[d], s[d], p[2 * d], p[2 * d + 1]) for d in range(len(k))
    )


@op
class Conv(Node):
    """Convolution, channels last, spatial rank 1 (L, C) or 2 (H, W, C), dilation 1.

    ``weight`` has the Keras layout ``(*kernel, C_in, filters)`` (depthwise:
    ``(*kernel, C, 1)``, one filter per channel). ``pads`` holds the zero padding
    before/after each spatial axis. The output type is the exact accumulator.
    """

    OP = "Conv"
    SPATIAL = True
    WEIGHTS = ("weight", "bias")
    ATTRS: ClassVar[dict[str, Attr]] = {
        "filters": Attr("int", required=True),
        "kernel": Attr("ints", required=True),
        "strides": Attr("ints", required=True),
        "pads": Attr("ints", required=True),
        "depthwise": Attr("bool", False),
        "strategy": Attr("str", "latency"),
        "reuse": Attr("int", 1),
        "unread": Attr("int", 0),  # passes.dead_units: filters no layer reads
        "nnz": Attr("int"),
        "nnz_per_output": Attr("ints"),
    }

    def output_shape(self) -> tuple[int, ...]:
        return (*_spatial_out(self, self.inputs[0].shape), self.attrs["filters"])

    def check(self) -> None:
        w = self.weights.get("weight")
        cin = self.inputs[0].shape[-1]
        k = tuple(self.attrs["kernel"])
        want = (*k, cin, 1) if self.attrs["depthwise"] else (*k, cin, self.attrs["filters"])
        if w is None or w.data.shape != want:
            raise IRError(f"node {self.name}: weight shape should be {want}")
        if len(self.inputs[0].shape) != len(k) + 1:
            raise IRError(f"node {self.name}: input rank does not match kernel rank")


@op
class Pool(Node):
    """Max or average pooling (``mode``), channels last, rank 1 or 2.

    Max pooling ignores padded positions; average pooling supports no padding and
    rounds the exact mean ``sum / area`` into the output type (its rounding mode).
    """

    OP = "Pool"
    SPATIAL = True
    CHANNELWISE = True
    ATTRS: ClassVar[dict[str, Attr]] = {
        "mode": Attr("str", required=True),
        "kernel": Attr("ints", required=True),
        "strides": Attr("ints", required=True),
        "pads": Attr("ints", required=True),
    }

    def output_shape(self) -> tuple[int, ...]:
        return (*_spatial_out(self, self.inputs[0].shape), self.inputs[0].shape[-1])

    def check(self) -> None:
        if self.attrs["mode"] not in ("max", "avg"):
            raise IRError(f"node {self.name}: pool mode must be max or avg")
        if self.attrs["mode"] == "avg" and any(self.attrs["pads"]):
            raise IRError(f"node {self.name}: average pooling with padding is not supported")


@op
class GlobalPool(Node):
    """Global max / average over all spatial positions: output shape (C,)."""

    OP = "GlobalPool"
    SPATIAL = True
    CHANNELWISE = True
    ATTRS: ClassVar[dict[str, Attr]] = {"mode": Attr("str", required=True)}

    def output_shape(self) -> tuple[int, ...]:
        return (self.inputs[0].shape[-1],)


def pad_geometry(pads: tuple[int, ...]) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` of a Pad's ``pads`` or a Crop's ``crops`` (rank 1:
    ``(0, 0, before, after)``)."""
    p = tuple(int(v) for v in pads)
    return (0, 0, p[0], p[1]) if len(p) == 2 else (p[0], p[1], p[2], p[3])


@op
class Pad(Node):
    """Zero padding of the spatial axes (``pads``: before/after per axis)."""

    OP = "Pad"
    SPATIAL = True
    CHANNELWISE = True
    ATTRS: ClassVar[dict[str, Attr]] = {"pads": Attr("ints", required=True)}

    def output_shape(self) -> tuple[int, ...]:
        s = self.inputs[0].shape
        p = self.attrs["pads"]
        sp = tuple(s[d] + p[2 * d] + p[2 * d + 1] for d in range(len(s) - 1))
        return (*sp, s[-1])


@op
class Crop(Node):
    """Cropping of the spatial axes (``crops``: rows/columns removed before/after per
    axis): the inverse of :class:`Pad`."""

    OP = "Crop"
    SPATIAL = True
    CHANNELWISE = True
    ATTRS: ClassVar[dict[str, Attr]] = {"crops": Attr("ints", required=True)}

    def output_shape(self) -> tuple[int, ...]:
        s = self.inputs[0].shape
        p = self.attrs["crops"]
        sp = tuple(s[d] - p[2 * d] - p[2 * d + 1] for d in range(len(s) - 1))
        return (*sp, s[-1])

    def check(self) -> None:
        s, p = self.inputs[0].shape, self.attrs["crops"]
        if len(s) < 2 or len(p) != 2 * (len(s) - 1) or min(p) < 0:
            raise IRError(f"node {self.name}: Crop needs two crops >= 0 per spatial axis of "
                          f"{s}, got {p}")
        if min(self.output_shape()[:-1]) < 1:
            raise IRError(f"node {self.name}: cropping {list(p)} leaves nothing of {s}")


@op
class Transpose(Node):
    """A permutation of the axes (``perm``: output axis ``k`` is input axis ``perm[k]``,
    batch axis excluded, as Keras ``Permute`` with its dims counted from 0)."""

    OP = "Transpose"
    ATTRS: ClassVar[dict[str, Attr]] = {"perm": Attr("ints", required=True)}

    def output_shape(self) -> tuple[int, ...]:
        s = self.inputs[0].shape
        return tuple(s[p] for p in self.attrs["perm"])

    def check(self) -> None:
        if sorted(self.attrs["perm"]) != list(range(len(self.inputs[0].shape))):
            raise IRError(f"node {self.name}: perm {list(self.attrs['perm'])} is not a "
                          f"permutation of the axes of {self.inputs[0].shape}")


@op
class Upsample(Node):
    """Nearest-neighbour upsampling of the spatial axes by integer ``factors``."""

    OP = "Upsample"
    SPATIAL = True
    CHANNELWISE = True
    ATTRS: ClassVar[dict[str, Attr]] = {"factors": Attr("ints", required=True)}

    def output_shape(self) -> tuple[int, ...]:
        s = self.inputs[0].shape
        f = self.attrs["factors"]
        return (*(s[d] * f[d] for d in range(len(s) - 1)), s[-1])


@op
class Add(Node):
    """Element-wise exact sum of two or more inputs (output type holds it exactly)."""

    OP = "Add"

    def check(self) -> None:
        if len({tuple(t.shape) for t in self.inputs}) != 1 or len(self.inputs) < 2:
            raise IRError(f"node {self.name}: Add needs >= 2 inputs of one shape")


#: Merge modes: Keras Subtract, Maximum, Minimum, Average, Multiply
MERGE_MODES = ("sub", "max", "min", "avg", "mul")


@op
class Merge(Node):
    """Element-wise merge of inputs of one shape, exact in the output type: ``sub`` (two
    inputs: ``x0 - x1``), ``max`` / ``min``, ``avg`` (the exact sum times ``2**-k`` of
    ``2**k`` inputs: the sum's raw value with ``k`` more fraction bits) or ``mul`` (the
    exact product: the raw values' product, its fraction bits the inputs' sum)."""

    OP = "Merge"
    ATTRS: ClassVar[dict[str, Attr]] = {"mode": Attr("str", required=True)}

    def check(self) -> None:
        mode, n = self.attrs["mode"], len(self.inputs)
        if mode not in MERGE_MODES:
            raise IRError(f"node {self.name}: Merge mode must be one of {', '.join(MERGE_MODES)}")
        if len({tuple(t.shape) for t in self.inputs}) != 1 or n < 2:
            raise IRError(f"node {self.name}: Merge needs >= 2 inputs of one shape")
        if mode == "sub" and n != 2:
            raise IRError(f"node {self.name}: Merge sub takes 2 inputs, got {n}")
        if mode == "avg" and n & (n - 1):
            raise IRError(f"node {self.name}: Merge avg takes a power-of-two count of inputs "
                          f"(an exact shift), got {n}")

    @property
    def shift(self) -> int:
        """``k``: an ``avg`` of ``2**k`` inputs is their sum with ``k`` more fraction bits."""
        return (len(self.inputs) - 1).bit_length() if self.attrs["mode"] == "avg" else 0

    def align(self, t: Tensor) -> int:
        """Left shift of input ``t``'s raw values onto the grid the merge computes on: the
        output's fraction bits, less ``k`` for an ``avg`` (whose sum is then read as is);
        none for a ``mul`` (the product of the raw values is the output's raw value)."""
        if self.attrs["mode"] == "mul":
            return 0
        return self.output.ftype.frac - self.shift - t.ftype.frac


@op
class Concat(Node):
    """Concatenation along the last (channel) axis; values are exact in the output type."""

    OP = "Concat"

    def output_shape(self) -> tuple[int, ...]:
        s = self.inputs[0].shape
        return (*s[:-1], sum(t.shape[-1] for t in self.inputs))

    def check(self) -> None:
        if len({tuple(t.shape[:-1]) for t in self.inputs}) != 1:
            raise IRError(f"node {self.name}: Concat inputs differ outside the channel axis")


# -- the graph -------------------------------------------------------------------------


class Graph:
    """Nodes in topological order, their tensors, and the model's inputs/outputs."""

    def __init__(self, name: str = "model") -> None:
        self.name = name
        self.nodes: list[Node] = []
        self.tensors: dict[str, Tensor] = {}
        self.inputs: list[Tensor] = []
        self.outputs: list[Tensor] = []
        self.meta: dict[str, Any] = {}

    # construction ---------------------------------------------------------------------
    def add(self, node: Node, ftype: FixedType, out_name: str | None = None) -> Tensor:
        """Append ``node`` (its inputs must exist) and create its output tensor."""
        if any(n.name == node.name for n in self.nodes):
            raise IRError(f"duplicate node name {node.name!r}")
        for t in node.inputs:
            if self.tensors.get(t.name) is not t:
                raise IRError(f"node {node.name}: input {t.name} is not in the graph")
        out = Tensor(out_name or node.name, node.output_shape(), ftype, producer=node)
        if out.name in self.tensors:
            raise IRError(f"duplicate tensor name {out.name!r}")
        node.outputs = [out]
        for t in node.inputs:
            t.users.append(node)
        self.nodes.append(node)
        self.tensors[out.name] = out
        if isinstance(node, Input):
            self.inputs.append(out)
        return out

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def remove(self, node: Node) -> None:
        """Remove a node whose output has exactly one consumer-less use (rewire first)."""
        out = node.output
        if out.users or out in self.outputs:
            raise IRError(f"cannot remove {node.name}: its output is still used")
        for t in node.inputs:
            t.users.remove(node)
        self.nodes.remove(node)
        del self.tensors[out.name]

    def replace_uses(self, old: Tensor, new: Tensor) -> None:
        """Make every consumer of ``old`` (and the graph outputs) use ``new``."""
        for u in list(old.users):
            u.inputs = [new if t is old else t for t in u.inputs]
            new.users.append(u)
        old.users.clear()
        self.outputs = [new if t is old else t for t in self.outputs]

    def sort(self) -> None:
        """Restore topological order after a rewrite."""
        done: set[int] = set()
        order: list[Node] = []
        pending = list(self.nodes)
        while pending:
            progressed = False
            for n in list(pending):
                if all(t.producer is None or id(t.producer) in done for t in n.inputs):
                    order.append(n)
                    done.add(id(n))
                    pending.remove(n)
                    progressed = True
            if not progressed:
                raise IRError("graph has a cycle")
        self.nodes = order

    # checks ------------------------------------------------------------------------------
    def verify(self) -> None:
        """Check structure and every op's own invariants; raise :class:`IRError`."""
        seen: set[int] = set()
        names: set[str] = set()
        for n in self.nodes:
            if n.name in names:
                raise IRError(f"duplicate node name {n.name!r}")
            names.add(n.name)
            for t in n.inputs:
                if self.tensors.get(t.name) is not t:
                    raise IRError(f"node {n.name}: input {t.name} not in graph")
                if t.producer is None or id(t.producer) not in seen:
                    raise IRError(f"node {n.name}: input {t.name} used before it is produced")
                if n not in t.users:
                    raise IRError(f"tensor {t.name}: use list misses {n.name}")
            if len(n.outputs) != 1 or n.outputs[0].producer is not n:
                raise IRError(f"node {n.name}: output tensor is not linked to it")
            if tuple(n.output.shape) != tuple(n.output_shape()):
                raise IRError(
                    f"node {n.name}: output shape {n.output.shape} != {n.output_shape()}"
                )
            n.check()
            for k, w in n.weights.items():
                if not isinstance(w, Weight):
                    raise IRError(f"node {n.name}: weight {k} is not a Weight")
            seen.add(id(n))
        for t in self.tensors.values():
            for u in t.users:
                if u not in self.nodes or t not in u.inputs:
                    raise IRError(f"tensor {t.name}: stale user {u.name}")
        if not self.inputs or not self.outputs:
            raise IRError("graph needs at least one input and one output")
        for t in self.outputs:
            if self.tensors.get(t.name) is not t:
                raise IRError(f"graph output {t.name} is not in the graph")

    # iteration helpers -----------------------------------------------------------------
    def of(self, cls: type[Node]) -> list[Any]:
        return [n for n in self.nodes if isinstance(n, cls)]


# -- save / load ---------------------------------------------------------------------------


def _attr_to_json(v: Any) -> Any:
    if isinstance(v, FixedType):
        return {"__fixed__": v.to_json()}
    if isinstance(v, tuple):
        return list(v)
    return v


def _attr_from_json(v: Any) -> Any:
    if isinstance(v, dict) and "__fixed__" in v:
        return FixedType.from_json(v["__fixed__"])
    return v


def to_json(g: Graph) -> tuple[dict[str, Any], dict[str, npt.NDArray[np.int64]]]:
    arrays: dict[str, npt.NDArray[np.int64]] = {}
    nodes = []
    for n in g.nodes:
        ws = {}
        for k, w in n.weights.items():
            key = f"{n.name}/{k}"
            arrays[key] = w.data
            ws[k] = {"array": key, "type": w.ftype.to_json()}
        nodes.append(
            {
                "op": n.OP,
                "name": n.name,
                "inputs": [t.name for t in n.inputs],
                "output": {
                    "name": n.output.name,
                    "shape": list(n.output.shape),
                    "type": n.output.ftype.to_json(),
                },
                "attrs": {k: _attr_to_json(v) for k, v in n.attrs.items() if v is not None},
                "weights": ws,
            }
        )

    doc = {
        "format": FORMAT_VERSION,
        "nnfab_version": __version__,
        "name": g.name,
        "inputs": [t.name for t in g.inputs],
        "outputs": [t.name for t in g.outputs],
        "meta": g.meta,
        "nodes": nodes,
    }
    return doc, arrays


def from_json(doc: dict[str, Any], arrays: Any) -> Graph:
    fmt = doc.get("format")
    if fmt != FORMAT_VERSION:
        raise IRError(
            f"nnfab.json has format {fmt!r} (nnfab {doc.get('nnfab_version', '?')}); this "
            f"nnfab reads format {FORMAT_VERSION}: re-run 'nnfab convert'"
        )
    g = Graph(doc["name"])
    g.meta = doc.get("meta", {})
    for nd in doc["nodes"]:
        cls = op_class(nd["op"])
        ins = []
        for tn in nd["inputs"]:
            if tn not in g.tensors:
                raise IRError(f"node {nd['name']}: unknown input tensor {tn!r}")
            ins.append(g.tensors[tn])
        weights = {
            k: Weight(np.asarray(arrays[w["array"]]), FixedType.from_json(w["type"]))
            for k, w in nd["weights"].items()
        }
        attrs = {k: _attr_from_json(v) for k, v in nd["attrs"].items()}
        node = cls(nd["name"], ins, weights, **attrs)
        o = nd["output"]
        t = g.add(node, FixedType.from_json(o["type"]), o["name"])
        if list(t.shape) != list(o["shape"]):
            raise IRError(f"node {nd['name']}: stored shape {o['shape']} != {list(t.shape)}")
    g.outputs = [g.tensors[n] for n in doc["outputs"]]
    g.verify()
    return g


def save(g: Graph, out_dir: str) -> None:
    """Write ``out_dir/nnfab.json`` and ``out_dir/weights.npz`` (atomically each)."""
    g.verify()
    doc, arrays = to_json(g)
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as f:
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, os.path.join(out_dir, "weights.npz"))
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
    os.replace(tmp, os.path.join(out_dir, "nnfab.json"))


def load(out_dir: str) -> Graph:
    """Read a graph written by :func:`save`; one-line :class:`IRError` when unreadable."""
    jpath = os.path.join(out_dir, "nnfab.json")
    wpath = os.path.join(out_dir, "weights.npz")
    if not os.path.isfile(jpath):
        raise IRError(f"{out_dir} is not an nnfab output directory (no nnfab.json)")
    try:
        with open(jpath) as f:
            doc = json.load(f)
        with np.load(wpath) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as e:
        raise IRError(f"{out_dir}: cannot read nnfab.json/weights.npz ({e})") from None
    return from_json(doc, arrays)
