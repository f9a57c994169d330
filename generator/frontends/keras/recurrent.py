"""Handlers of the Keras recurrent layers: (Q)SimpleRNN, (Q)LSTM, (Q)GRU unrolled over
their steps, and (Q)Bidirectional.

Per step: Crop + Reshape (the step's input), Dense gates (input and state parts, exact
sums) + the layer's activations and state quantiser, exact Merge products. For QKeras's
layers every view computes the layer exactly as its ``call`` does (in float32, exact
while every sum fits its 24-bit mantissa). A float Keras layer takes the configured
types, as a float Dense does: ``weight`` / ``bias`` for its kernels and biases,
``result`` for each gate's sum and for the state it carries to the next step, ``table``
for its sigmoid / tanh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...ir import Add, Concat, Crop, Dense, Merge, Node, Quantize, Reshape, Tensor, Weight
from .common import FrontendError
from .loading import import_tf
from .quantizers import MAX_THRESHOLD_INPUT_BITS, SUPPORTED_QUANTIZERS, quantized
from .registry import keras_handler

if TYPE_CHECKING:
    from .builder import Builder

#: recurrent layers, unrolled over their steps (QKeras's exact; Keras's take config types)
RNN_LAYERS = ("QSimpleRNN", "QLSTM", "QGRU")
FLOAT_RNN_LAYERS = ("SimpleRNN", "LSTM", "GRU")
#: each kind's gates, in the order of the columns of its kernels and biases
GATES = {"SimpleRNN": "h", "LSTM": "ifco", "GRU": "zrh"}


@keras_handler(*FLOAT_RNN_LAYERS, *RNN_LAYERS)
def recurrent(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """A recurrent layer: its steps (:func:`rnn_steps`), then its output."""
    assert b.x is not None
    c = type(layer).__name__
    rnn_output(b, layer.name, rnn_steps(b, layer, c, b.x, layer.name, layer.name),
               layer.return_sequences)


@keras_handler("Bidirectional", "QBidirectional")
def bidirectional(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """Keras / QKeras ``Bidirectional``: the forward layer's steps, the backward
    layer's steps (inputs last to first; its sequence realigned to the input's steps,
    as Keras does), each step's pair merged by ``merge_mode`` (concat, sum, mul, ave)."""
    name = layer.name
    x = b.x
    assert x is not None
    mode = layer.merge_mode
    ops: dict[str, tuple[type[Node], dict[str, Any]]] = {
        "concat": (Concat, {}), "sum": (Add, {}), "mul": (Merge, {"mode": "mul"}),
        "ave": (Merge, {"mode": "avg"})}
    if mode not in ops:
        raise FrontendError(f"layer {name}: Bidirectional merge_mode={mode!r} is not "
                            "supported; supported: concat, sum, mul, ave (one output)")
    outs = []
    subs = ((layer.forward_layer, "fw"), (layer.backward_layer, "bw"))
    for sub, tag in subs:
        c = type(sub).__name__
        if c not in RNN_LAYERS + FLOAT_RNN_LAYERS:
            raise FrontendError(f"layer {name}: Bidirectional of {c} is not supported; "
                                f"supported: {', '.join(FLOAT_RNN_LAYERS + RNN_LAYERS)}")
        outs.append(rnn_steps(b, sub, c, x, name, f"{name}_{tag}"))
    fully_q = all(type(sub).__name__ in RNN_LAYERS for sub, _ in subs)
    fw, bw = outs
    if layer.return_sequences:
        bw = bw[::-1]
    else:
        fw, bw = fw[-1:], bw[-1:]
    cls, kw = ops[mode]
    merged = [b.add_exact(cls(b.uniq(f"{name}_m{t}"), [f, r], source=name, **kw),
                          float32_source=fully_q)
              for t, (f, r) in enumerate(zip(fw, bw))]
    rnn_output(b, name, merged, layer.return_sequences)


def rnn_output(b: Builder, name: str, outs: list[Tensor], sequence: bool) -> None:
    """A recurrent layer's output: its last state, or its states (``outs``) as a
    (steps, units) sequence."""
    if not sequence:
        b.x = outs[-1]
        return
    cat = (b.add_exact(Concat(b.uniq(f"{name}_seq"), outs, source=name),
                       float32_source=True) if len(outs) > 1 else outs[0])
    b.add(Reshape(b.uniq(name), [cat], target_shape=(len(outs), outs[0].shape[-1]),
                  source=name), cat.ftype)


def rnn_steps(b: Builder, layer: Any, c: str, x: Tensor, name: str, base: str) -> list[Tensor]:
    """SimpleRNN / LSTM / GRU ``layer`` on ``x`` unrolled over the sequence's steps
    (nodes named after ``base``, sourced, configured and refused as layer ``name``),
    its states in the order it computes them (``go_backwards``: the input's last step
    first), as Keras returns its sequence. Each step's gates are Dense nodes (the
    input's and the state's parts, exact sums added exactly), its activations and state
    quantisers the layer's own, the cell's products exact :class:`Merge` ``mul`` nodes."""
    if len(x.shape) != 2:
        raise FrontendError(f"layer {name}: {c} needs a (steps, features) input, got "
                            f"{x.shape}")
    for flag in ("stateful", "return_state"):
        if getattr(layer, flag, False):
            raise FrontendError(f"layer {name}: {c} with {flag}=True is not supported; "
                                f"supported: {flag}=False")
    cell = _Cell(b, layer, c, name, base)
    b.next_q = None  # (no activation inside the cell takes the next layer's quantiser)
    steps, _ = x.shape
    h: Tensor | None = None
    cst: Tensor | None = None
    outs: list[Tensor] = []
    for t in (reversed(range(steps)) if layer.go_backwards else range(steps)):
        xt = cell.step_input(t, x)
        h, cst = cell.quantize_state(t, h, cst)
        if cell.kind == "SimpleRNN":
            h = cell.gate(t, "h", xt, h, cell.acts["act"])
        elif cell.kind == "LSTM":
            h, cst = cell.lstm_step(t, xt, h, cst)
        else:
            h = cell.gru_step(t, xt, h)
        outs.append(h)
    return outs


class _Cell:
    """One recurrent layer's cell, built step by step: its quantised (or, for a float
    layer, configured) weights, activations and state quantiser, and the nodes of one
    step (named after ``base``, sourced, configured and refused as layer ``name``)."""

    def __init__(self, b: Builder, layer: Any, c: str, name: str, base: str) -> None:
        self.b = b
        self.name = name
        self.base = base
        cell = layer.cell
        self.kind = c.removeprefix("Q")
        self.fq = c.startswith("Q")  # QKeras: exact; else a float layer, cast to its types
        kq = getattr(cell, "kernel_quantizer_internal", None)
        rq = getattr(cell, "recurrent_quantizer_internal", None)
        bq = getattr(cell, "bias_quantizer_internal", None) if cell.use_bias else None
        self.sq = getattr(cell, "state_quantizer_internal", None)
        if self.fq and (kq is None or rq is None or (cell.use_bias and bq is None)):
            raise FrontendError(
                f"layer {name}: {c} needs kernel_quantizer, recurrent_quantizer and (with a "
                "bias) bias_quantizer; supported: every weight quantized")
        if self.sq is not None:
            _check_state_quantizer(name, self.sq)
        self.acts = {"act": cell.activation}
        if self.kind != "SimpleRNN":
            self.acts["rec"] = cell.recurrent_activation
        for role, fn in self.acts.items():
            if self.fq and not type(fn).__module__.startswith("qkeras"):
                what = "activation" if role == "act" else "recurrent_activation"
                raise FrontendError(
                    f"layer {name}: {what} {getattr(fn, '__name__', fn)!r} is not supported; "
                    f"supported: a QKeras quantizer ({SUPPORTED_QUANTIZERS})")
        self.units = int(cell.units)
        kernel, recurrent, *rest = layer.get_weights()
        self.w, self.u = quantized(kq, kernel), quantized(rq, recurrent)
        self.gates = GATES[self.kind]
        self.reset_after = self.kind == "GRU" and bool(cell.reset_after)
        self.bias = self._biases(quantized(bq, rest[0]) if cell.use_bias else None)

    def _biases(self, bias: np.ndarray | None) -> np.ndarray:
        """The input's and the state's biases as the two rows of one array (zeros where
        the layer has none)."""
        if self.kind == "GRU" and bias is not None and not self.reset_after:
            bias = np.stack([bias, np.zeros_like(bias)])
        if bias is None:
            return np.zeros((2, len(self.gates) * self.units))
        if bias.ndim == 1:
            return np.stack([bias, np.zeros_like(bias)])
        return bias

    # nodes ---------------------------------------------------------------------------
    def cols(self, m: np.ndarray, g: str) -> np.ndarray:
        """Gate ``g``'s columns of a kernel or bias."""
        k = self.gates.index(g)
        return m[..., k * self.units:(k + 1) * self.units]

    def grid(self, what: str, v: np.ndarray) -> Weight:
        return self.b.weight(self.name, what, v, self.fq)

    def cast(self, v: Tensor) -> Tensor:
        """A float layer's sum or state cast to its ``result`` type (QKeras: exact)."""
        if self.fq:
            return v
        b = self.b
        return b.add(Quantize(b.uniq(v.name + "_q"), [v], source=self.name, exact=False),
                     b.need(self.name, "result"))

    def dense(self, tag: str, src: Tensor, wv: np.ndarray, bv: np.ndarray | None) -> Tensor:
        b, name = self.b, self.name
        ws = {"weight": self.grid("kernel", wv)}
        if bv is not None and np.any(bv):
            ws["bias"] = self.grid("bias", bv)
        node = Dense(b.uniq(tag), [src], ws, units=self.units, source=name,
                     reuse=b.cfg.reuse_for(name), strategy=b.cfg.strategy_for(name),
                     multipliers=b.cfg.multipliers_for(name),
                     skip_zeros=b.cfg.skip_zeros_for(name, False))
        return b.add_exact(node, float32_source=self.fq)

    def exact(self, node_cls: Any, tag: str, ins: list[Tensor], **kw: Any) -> Tensor:
        return self.b.add_exact(node_cls(self.b.uniq(tag), ins, source=self.name, **kw),
                                float32_source=self.fq)

    def act(self, tag: str, v: Tensor, fn: Any) -> Tensor:
        self.b.x = v
        self.b.keras_activation(self.name, fn, tag)
        assert self.b.x is not None
        return self.b.x

    def gate(self, t: int, g: str, xt: Tensor, h: Tensor | None, fn: Any) -> Tensor:
        """Gate ``g`` at step ``t``: ``fn(x W_g + b_g + h U_g + b'_g)``; with no state
        yet (``h`` None) the state's part is its bias ``b'_g``."""
        tag = f"{self.base}_t{t}_{g}"
        rec_b = self.cols(self.bias[1], g)
        if h is None:
            z = self.dense(tag + "x", xt, self.cols(self.w, g), self.cols(self.bias[0], g) + rec_b)
        else:
            z = self.dense(tag + "x", xt, self.cols(self.w, g), self.cols(self.bias[0], g))
            zh = self.dense(tag + "h", h, self.cols(self.u, g), rec_b)
            z = self.exact(Add, tag + "_sum", [z, zh])
        return self.act(tag, self.cast(z), fn)

    # steps ---------------------------------------------------------------------------
    def step_input(self, t: int, x: Tensor) -> Tensor:
        """Step ``t`` of the (steps, features) sequence ``x``, as a vector."""
        b, base = self.b, self.base
        steps = x.shape[0]
        xt = x
        if steps != 1:
            xt = b.add(Crop(b.uniq(f"{base}_t{t}_x"), [x], crops=(t, steps - 1 - t),
                            source=self.name), x.ftype)
        return b.add(Reshape(b.uniq(f"{base}_t{t}_in"), [xt], target_shape=(x.shape[1],),
                             source=self.name), x.ftype)

    def quantize_state(self, t: int, h: Tensor | None,
                       cst: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        """The states carried into step ``t`` through the layer's state quantiser."""
        if h is None or self.sq is None:
            return h, cst
        h = self._quantized(h, f"{self.base}_t{t}_hq")
        if cst is not None:
            cst = self._quantized(cst, f"{self.base}_t{t}_cq")
        return h, cst

    def _quantized(self, v: Tensor, tag: str) -> Tensor:
        self.b.x = v
        self.b.quantizer(self.name, self.sq, tag)
        assert self.b.x is not None
        return self.b.x

    def lstm_step(self, t: int, xt: Tensor, h: Tensor | None,
                  cst: Tensor | None) -> tuple[Tensor, Tensor]:
        """LSTM step ``t``: the new state and cell state."""
        acts, base = self.acts, self.base
        i = self.gate(t, "i", xt, h, acts["rec"])
        gc = self.gate(t, "c", xt, h, acts["act"])
        o = self.gate(t, "o", xt, h, acts["rec"])
        ig = self.exact(Merge, f"{base}_t{t}_ig", [i, gc], mode="mul")
        if cst is None:
            cst = ig
        else:
            f = self.gate(t, "f", xt, h, acts["rec"])
            fc = self.exact(Merge, f"{base}_t{t}_fc", [f, cst], mode="mul")
            cst = self.exact(Add, f"{base}_t{t}_cell", [fc, ig])
        cst = self.cast(cst)
        try:
            ac = self.act(f"{base}_t{t}_cact", cst, acts["act"])
        except FrontendError:
            if self.sq is not None:
                raise
            raise FrontendError(
                f"layer {self.name}: the cell state at step {t} is {cst.ftype}, and without "
                "a state_quantizer it gains fraction bits every step; supported: an "
                f"activation input of at most {MAX_THRESHOLD_INPUT_BITS} bits; set "
                "the layer's state_quantizer (e.g. quantized_bits(8, 1))") from None
        h = self.cast(self.exact(Merge, f"{base}_t{t}_h", [o, ac], mode="mul"))
        return h, cst

    def gru_step(self, t: int, xt: Tensor, h: Tensor | None) -> Tensor:
        """GRU step ``t``: the new state."""
        acts, base = self.acts, self.base
        zg = self.gate(t, "z", xt, h, acts["rec"])
        # (the reset gate acts on the state: none yet at step 0 unless reset_after)
        r = self.gate(t, "r", xt, h, acts["rec"]) if h is not None or self.reset_after else None
        hh = self._gru_candidate(t, xt, h, r)
        # z * h + (1 - z) * hh, written hh - z * (hh - h): equal, exactly
        d = hh if h is None else self.exact(Merge, f"{base}_t{t}_d", [hh, h], mode="sub")
        zd = self.exact(Merge, f"{base}_t{t}_zd", [zg, d], mode="mul")
        return self.cast(self.exact(Merge, f"{base}_t{t}_out", [hh, zd], mode="sub"))

    def _gru_candidate(self, t: int, xt: Tensor, h: Tensor | None, r: Tensor | None) -> Tensor:
        """The GRU's candidate state at step ``t`` (reset gate ``r``)."""
        tag = f"{self.base}_t{t}_h"
        w_h, b_in, b_rec = self.cols(self.w, "h"), self.cols(self.bias[0], "h"), \
            self.cols(self.bias[1], "h")
        fn = self.acts["act"]
        if self.reset_after:
            # r * (h U_h + b'_h); with no state yet r * b'_h (a diagonal Dense)
            assert r is not None
            if h is None:
                rh = self.dense(tag + "r", r, np.diag(b_rec), None)
            else:
                hu = self.dense(tag + "h", h, self.cols(self.u, "h"), b_rec)
                rh = self.exact(Merge, tag + "r", [r, hu], mode="mul")
            z = self.dense(tag + "x", xt, w_h, b_in)
            return self.act(tag, self.cast(self.exact(Add, tag + "_sum", [z, rh])), fn)
        if h is None:
            return self.act(tag, self.cast(self.dense(tag + "x", xt, w_h, b_in)), fn)
        assert r is not None
        rhv = self.exact(Merge, tag + "rh", [r, h], mode="mul")
        z = self.dense(tag + "x", xt, w_h, b_in)
        hu = self.dense(tag + "h", rhv, self.cols(self.u, "h"), None)
        return self.act(tag, self.cast(self.exact(Add, tag + "_sum", [z, hu])), fn)


def _check_state_quantizer(name: str, sq: Any) -> None:
    """A state quantiser must keep the zero initial state zero."""
    tf = import_tf()
    zero = float(np.asarray(sq(tf.constant(np.zeros(1, np.float32))))[0])
    if zero != 0.0:
        raise FrontendError(f"layer {name}: state_quantizer {sq} maps the zero "
                            f"initial state to {zero:g}; supported: quantizers of 0 to 0")
