"""The conversion of one Keras model: :class:`Builder` walks the layers in order, keeps
the current tensor and what the next layer is, and hands each layer to its registered
handler (:mod:`.registry`); the activations, quantisers and weights every layer family
uses are built here."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...config import Config
from ...fixed import FixedType, Overflow, Rounding
from ...ir import (
    Binarize,
    Graph,
    Input,
    LeakyRelu,
    Quantize,
    Relu,
    Softmax,
    Table,
    Tensor,
    Ternarize,
    Threshold,
    Weight,
)
from .common import FrontendError, _index_bits, _safe, add_exact, float32_exact, unique_name
from .loading import import_tf
from .precision import TypeReads
from .quantizers import (
    SUPPORTED_QUANTIZERS,
    activation_quantizer,
    exact_grid,
    quantize_float,
    quantized,
    threshold_weights,
)
from .registry import HANDLERS, several_input_layers, supported_layers


class Builder:
    """One model's conversion: :meth:`convert` returns its graph. Handlers append nodes
    through :meth:`add` / :meth:`add_exact`, which move the current tensor ``x``."""

    def __init__(self, model: Any, cfg: Config) -> None:
        self.model = model
        self.cfg = cfg
        self.g = Graph(_safe(model.name))
        self.x: Tensor | None = None
        self.next_cls: str | None = None
        self.next_q: Any = None  # quantizer of the next layer when it is a QActivation
        self.next_name: str | None = None  # ... and that layer's name
        self.next_layer: Any = None  # the next layer when it reads only this one
        self.sole_consumer = False  # the next layer is the only one reading this one
        self.fused: str | None = None  # a QActivation already applied (see keras_activation)
        self.first_q: Any = None  # quantizer of a QActivation right after the input
        self.notes: list[str] = []
        self.reads = TypeReads(cfg)

    def var(self, layer: str, var: str) -> FixedType | None:
        """The configured type of ``var`` for ``layer``, recorded as read."""
        return self.reads.var(layer, var)

    def need(self, layer: str, var: str) -> FixedType:
        return self.reads.need(layer, var)

    def add_exact(self, node: Any, float32_source: bool) -> Tensor:
        """Append a node whose output is its exact sum (a QKeras sum: checked against
        float32's mantissa when ``float32_source``)."""
        self.x = add_exact(self.g, node)
        if float32_source:
            float32_exact(node, self.notes, "the source model's float32")
        return self.x

    def add(self, node: Any, t: FixedType) -> Tensor:
        self.x = self.g.add(node, t)
        return self.x

    def uniq(self, base: str) -> str:
        return unique_name(self.g, base)

    # activations -------------------------------------------------------------------
    def quantizer(self, layer: str, q: Any, tag: str | None = None) -> None:
        """``q`` applied to ``self.x`` (``tag``: the node's name, default ``layer``)."""
        kind, arg = activation_quantizer(layer, q)
        assert self.x is not None
        nm = self.uniq(tag or layer)
        if kind in ("quantize", "relu_quantize"):
            # (for quantized_relu the ap_ufixed<.., SAT> cast maps negatives to 0: relu too)
            self.add(Quantize(nm, [self.x], source=layer), arg)
        elif kind == "leaky_quantize":
            out, neg, k = arg
            self.add(LeakyRelu(nm, [self.x], shift=k, neg=neg, source=layer), out)
        elif kind == "binary":
            self.add(Binarize(nm, [self.x], source=layer), FixedType(2, 2))
        elif kind == "threshold":
            self.threshold(layer, arg, tag=tag)
        else:
            tx = self.x.ftype
            thr_raw = math.ceil(arg * 2.0**tx.frac)
            # |x| >= thr on the input grid; x = 0 gives 0 (tf.sign(0) = 0) whatever thr
            self.add(
                Ternarize(nm, [self.x], source=layer, threshold_raw=max(thr_raw, 1)),
                FixedType(2, 2),
            )

    def threshold(self, layer: str, q: Any, pre: tuple[str, Any] | None = None,
                  tag: str | None = None) -> None:
        """A monotone activation quantiser as exact thresholds (:class:`Threshold`).

        The quantiser itself is run, in float32 as in the model, on every value of the
        input type (exact in float32 up to 24 bits); the input values where its output
        steps up are the thresholds, its outputs between them the levels, both exact.
        ``pre = (name, fn)``: a Keras activation (sigmoid, tanh) applied first, the
        quantiser of layer ``layer`` on its output."""
        assert self.x is not None
        tf = import_tf()
        fname = f"{q}" if pre is None else f"{q} of {pre[0]}"

        def f(xv: np.ndarray) -> np.ndarray:
            fx = tf.constant(xv) if pre is None else pre[1](tf.constant(xv))
            return np.asarray(q(fx), dtype=np.float64)

        ws = threshold_weights(f"layer {layer}: activation {fname}", self.x.ftype, f)
        self.add(Threshold(self.uniq(tag or layer), [self.x], ws, function=fname, source=layer),
                 ws["levels"].ftype)

    def keras_activation(self, layer: str, fn: Any, tag: str | None = None) -> None:
        """The activation ``fn`` of ``layer`` applied to ``self.x`` (``tag``: the base of
        the node's name, default ``layer``; a tagged activation is inside a layer, so it
        never takes the next layer's quantiser)."""
        name = getattr(fn, "__name__", str(fn))
        assert self.x is not None
        base = tag or layer
        if name == "linear":
            return
        if name == "relu":
            self.add(Relu(self.uniq(base + "_relu"), [self.x], source=layer), self.x.ftype)
            return
        if name in ("sigmoid", "tanh"):
            if self.next_q is not None and self.sole_consumer and tag is None:
                # quantized right after: q(f(x)) is a monotone step function, exact as
                # thresholds; the next QActivation is then applied here
                assert self.next_name is not None
                self.threshold(self.next_name, self.next_q, pre=(name, fn))
                self.fused = self.next_name
                return
            self.table(layer, name, tag)
            return
        if name == "softmax" and tag is None:
            self.softmax(layer)
            return
        if type(fn).__module__.startswith("qkeras"):
            self.quantizer(layer, fn, tag)
            return
        raise FrontendError(
            f"layer {layer}: activation {name!r} is not supported; supported: linear, relu, "
            f"sigmoid, tanh, softmax, {SUPPORTED_QUANTIZERS}"
        )

    def table(self, layer: str, fn: str, tag: str | None = None) -> None:
        assert self.x is not None
        tin = self.x.ftype
        out_t = self.var(layer, "table") if layer in self.cfg.layers else None
        if out_t is None:
            out_t = (
                FixedType(16, 0, False, Rounding.RND, Overflow.SAT)
                if fn == "sigmoid"
                else FixedType(16, 1, True, Rounding.RND, Overflow.SAT)
            )
        bits = 10
        if tin.width <= bits:
            shift, offset, size = 0, tin.min_raw, tin.max_raw - tin.min_raw + 1
        else:
            # 2**bits entries over [-8, 8): index step 2**-(bits-4)
            shift = max(tin.frac - (bits - 4), 0)
            step = 2.0 ** (shift - tin.frac)
            offset = math.floor(-8.0 / step)
            size = 1 << bits
        k = np.arange(size, dtype=np.int64)
        lo_raw = (k + offset) << shift
        mid = lo_raw + ((1 << shift) - 1) / 2.0 if shift > 0 else lo_raw.astype(np.float64)
        xv = mid * 2.0 ** (-tin.frac)
        yv = 1.0 / (1.0 + np.exp(-xv)) if fn == "sigmoid" else np.tanh(xv)
        tab = quantize_float(yv, out_t)
        self.add(
            Table(self.uniq(f"{tag or layer}_{fn}"), [self.x], {"table": tab}, function=fn,
                  index_shift=shift, index_offset=offset, source=layer, exact=False),
            out_t,
        )

    def softmax(self, layer: str) -> None:
        assert self.x is not None
        tin = self.x.ftype
        n = self.x.shape[-1]
        bits = 10
        exp_shift = max(tin.frac - (bits - 4), 0)  # range of d: [0, 16)
        et = FixedType(18, 1, False)
        k = np.arange(1 << bits, dtype=np.float64)
        # entry k stands for the inputs d in ((k - 1) step, k step] (see ir.Softmax): its
        # middle, and exactly 1 for d = 0
        mid = np.maximum(k - 0.5, 0.0) if exp_shift > 0 else k
        exp_tab = quantize_float(np.exp(-mid * 2.0 ** (exp_shift - tin.frac)), et)
        # sum of n values in [0, 1]: at most n
        lg = max(1, math.ceil(math.log2(n + 1)))
        st_frac = et.frac
        inv_shift = max(st_frac + lg - bits, 0)
        step = 2.0 ** (inv_shift - st_frac)
        kk = np.arange(1 << bits, dtype=np.float64)
        centre = (kk + 0.5) * step if inv_shift > 0 else np.maximum(kk, 1) * step
        it = FixedType(18, 1, False, Rounding.RND, Overflow.SAT)
        inv_tab = quantize_float(np.minimum(1.0 / np.maximum(centre, 1.0), 1.0), it)
        out_t = self.var(layer, "table") if layer in self.cfg.layers else None
        if out_t is None:
            out_t = FixedType(16, 0, False, Rounding.RND, Overflow.SAT)
        self.add(
            Softmax(self.uniq(f"{layer}_softmax"), [self.x],
                    {"exp_table": exp_tab, "inv_table": inv_tab},
                    exp_shift=exp_shift, inv_shift=inv_shift, source=layer, exact=False),
            out_t,
        )

    # weights -----------------------------------------------------------------------------
    def weights_of(self, layer: Any, kernel: np.ndarray, bias: np.ndarray | None,
                   kq: Any, bq: Any, name: str | None = None) -> dict[str, Weight]:
        """Quantised weights of a layer: QKeras's own quantiser output, or config types."""
        name = name or layer.name
        ws = {"weight": self.weight(name, "kernel", quantized(kq, kernel), kq is not None)}
        if bias is not None:
            ws["bias"] = self.weight(name, "bias", quantized(bq, bias), bq is not None)
        return ws

    def weight(self, name: str, what: str, values: np.ndarray, exact: bool) -> Weight:
        """A kernel's or bias's values as a Weight: QKeras's quantiser outputs (``exact``)
        on their own grid, else rounded to the layer's configured ``weight`` / ``bias``
        type."""
        if exact:
            return exact_grid(name, what, values)
        return quantize_float(values, self.need(name, "weight" if what == "kernel" else "bias"))

    def finish_weighted(self, layer: Any, node: Any, quantized: bool,
                        name: str | None = None) -> None:
        """Exact accumulator, optional accum/result casts, then the layer's activation."""
        name = name or layer.name
        # (a float layer deviates anyway: its result is cast below)
        x = self.add_exact(node, float32_source=quantized)
        t = x.ftype
        acc = self.var(name, "accum")
        if acc is not None:
            # a cast that can change a value of the exact sum makes the design deviate
            exact = (acc.frac >= t.frac and acc.min_value <= t.min_value
                     and acc.max_value >= t.max_value)
            x = self.add(Quantize(self.uniq(name + "_accum"), [x], source=name, exact=exact),
                         acc)
            if not exact:
                self.notes.append(f"{name}: accum {acc} is narrower than the exact sum {t}: "
                                  "the design deviates from the source model")
        act = layer.activation
        bn_next = self.next_cls in ("BatchNormalization", "QBatchNormalization") and getattr(act, "__name__", "") == "linear"
        if not quantized and not bn_next:
            self.add(Quantize(self.uniq(name + "_result"), [x], source=name, exact=False),
                     self.need(name, "result"))
        self.keras_activation(name, act)


    def mean_type(self, name: str, area: int) -> FixedType:
        """Type of an exact mean: exact for a power-of-two area, else the next
        quantizer's type (so the rounding is the quantizer's) or the result precision."""
        assert self.x is not None
        t = self.x.ftype
        if area & (area - 1) == 0:
            k = area.bit_length() - 1
            return FixedType(t.width + k, t.integer, t.signed)
        if self.next_q is not None:
            kind, arg = activation_quantizer(name, self.next_q)
            if kind in ("quantize", "relu_quantize"):
                return arg
        return self.need(name, "result")

    def index_type(self, layer: str, nxt: Any) -> FixedType | None:
        """An input read by an Embedding ``nxt`` is an index: ``ap_ufixed<b, b,
        AP_TRN, AP_SAT>`` holding ``0 .. input_dim - 1`` (a float index truncates, as
        Keras casts it), unless the input precision is configured; None otherwise."""
        lc = self.cfg.layers.get(layer)
        if type(nxt).__name__ != "Embedding" or "input" in self.cfg.precision_from or (
                lc is not None and "input" in lc.precision):
            return None
        b = _index_bits(int(nxt.input_dim))
        return FixedType(b, b, False, Rounding.TRN, Overflow.SAT)

    # the conversion ----------------------------------------------------------------------
    def dispatch(self, layer: Any, c: str, ins: list[Tensor]) -> None:
        """Convert ``layer`` (class ``c``, inputs ``ins``) through its registered handler;
        one line naming the layer when none takes it."""
        if c == "QActivation" and self.fused == layer.name:
            self.fused = None  # applied with the activation before it
            return
        handler = HANDLERS.get(c)
        if handler is None or handler.inputs == "one":
            if len(ins) != 1:
                raise FrontendError(f"layer {layer.name} ({c}) takes {len(ins)} inputs; supported "
                                    f"layers of several inputs: {several_input_layers()}")
            assert self.x is not None
            if getattr(layer, "data_format", None) == "channels_first" and len(self.x.shape) > 1:
                raise FrontendError(f"layer {layer.name}: only data_format='channels_last' is "
                                    "supported")
            if handler is None:
                raise FrontendError(f"layer {layer.name} ({c}) is not supported; supported: "
                                    f"{supported_layers()}")
        handler.fn(self, layer, ins)

    def implicit_input(self, layers: list[Any]) -> None:
        """The Input node of a Sequential model built with ``input_shape`` (no InputLayer):
        typed as its first quantizer, as an index, or by the ``input`` precision."""
        inl = self.model.layers[0].input
        shape = tuple(int(d) for d in inl.shape[1:])
        t = None
        if self.first_q is not None:
            kind, arg = activation_quantizer("input", self.first_q)
            if kind in ("quantize", "relu_quantize"):
                t = arg
        if t is None:
            t = self.index_type("input", layers[0] if layers else None)
        self.add(Input("input", [], shape=shape, source="input"),
                 t if t is not None else self.need("input", "input"))

    def look_ahead(self, layer: Any, nxt: Any, layers: list[Any]) -> None:
        """What ``layer``'s conversion may take from the layer after it, ``nxt``: set when
        ``nxt`` reads only ``layer``."""
        self.next_cls = (
            type(nxt).__name__ if nxt is not None and _inbound(nxt) == [layer.name] else None
        )
        self.next_layer = nxt if self.next_cls is not None else None
        self.next_q = nxt.quantizer if nxt is not None and self.next_cls == "QActivation" \
            else None
        self.next_name = nxt.name if nxt is not None and self.next_q is not None else None
        self.sole_consumer = sum(layer.name in (_inbound(u) or []) for u in layers) == 1

    def convert(self) -> Graph:
        layers = list(self.model.layers)
        _check_structure(self.model, layers)
        self.first_q = _first_quantizer(layers)
        if not layers or type(layers[0]).__name__ != "InputLayer":
            # Sequential models built with input_shape have an implicit InputLayer
            self.implicit_input(layers)
        implicit_input = self.x  # set above for Sequential models without an InputLayer
        produced: dict[str, Tensor] = {}
        last: Tensor | None = None
        for pos, layer in enumerate(layers):
            c = type(layer).__name__
            self.look_ahead(layer, layers[pos + 1] if pos + 1 < len(layers) else None, layers)
            if c == "InputLayer":
                self.dispatch(layer, c, [])
            else:
                ins = _inputs(layer, produced, implicit_input, last)
                self.x = ins[0]
                self.dispatch(layer, c, ins)
            assert self.x is not None
            produced[layer.name] = self.x
            last = self.x
        out = _output_layer(self.model)
        self.x = produced.get(out, last) if out is not None else last
        assert self.x is not None
        self.g.outputs = [self.x]
        self.g.meta["notes"] = self.notes
        self.g.meta["fully_quantized"] = all(n["exact"] for n in self.g.nodes)
        return self.g


def _first_quantizer(layers: list[Any]) -> Any:
    """The quantizer of a QActivation that is the first layer after the input, else None."""
    for layer in layers:
        c = type(layer).__name__
        if c == "InputLayer":
            continue
        if c == "QActivation":
            return layer.quantizer
        break
    return None


def _inputs(layer: Any, produced: dict[str, Tensor], implicit_input: Tensor | None,
            last: Tensor | None) -> list[Tensor]:
    """The tensors ``layer`` reads: its inbound layers' outputs (``produced``), the
    implicit input of a Sequential model, or the last layer's output."""
    inbound: list[str | None] = list(_inbound(layer) or []) or ([] if last is None else [None])
    ins: list[Tensor] = []
    for name in inbound:
        if name in produced:
            ins.append(produced[name])
        elif implicit_input is not None and not produced:
            ins.append(implicit_input)
        elif name is None and last is not None:
            ins.append(last)
        else:
            raise FrontendError(f"layer {layer.name}: input {name!r} was not converted")
    return ins


def _calls(model: Any, layer: Any) -> int:
    """How many times ``model`` calls ``layer`` (its nodes in this model's graph)."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    net = getattr(model, "_network_nodes", None)
    if net is None:
        return len(nodes)
    return sum(1 for i in range(len(nodes)) if f"{layer.name}_ib-{i}" in net)


def _output_layer(model: Any) -> str | None:
    names = list(getattr(model, "output_names", None) or [])
    return names[0] if len(names) == 1 else None


def _check_structure(model: Any, layers: list[Any]) -> None:
    """One input, one output, every layer called once (a graph nnfab can build)."""
    n_in, n_out = len(model.inputs or []), len(model.outputs or [])
    if n_in != 1 or n_out != 1:
        raise FrontendError(f"model {model.name} has {n_in} input{'s' * (n_in != 1)} and "
                            f"{n_out} output{'s' * (n_out != 1)}; supported: one input and one "
                            "output")
    for layer in layers:
        k = _calls(model, layer)
        if k > 1:
            raise FrontendError(f"layer {layer.name} ({type(layer).__name__}) is called {k} "
                                "times (shared weights); supported: each layer called once")



def _inbound(layer: Any) -> list[str] | None:
    try:
        nodes = layer._inbound_nodes
        if not nodes:
            return None
        ins = nodes[0].inbound_layers
        if not isinstance(ins, (list, tuple)):
            ins = [ins]
        return [i.name for i in ins] or None
    except AttributeError:
        return None

