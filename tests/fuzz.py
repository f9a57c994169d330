"""Model-space fuzzer: seeded random small QKeras models, checked in every view.

A *case* is a seed. :func:`gen_spec` draws a model description (plain JSON data: an input
shape, an input quantizer and a list of layers) from it -- odd and prime input sizes,
Conv1D/2D with random kernel / stride / padding, depthwise and separable convs, max and
average pools whose stride need not divide the map, Dense on vectors, sequences and
images, branches joined by Add / Subtract / Maximum / Minimum / Average / Multiply /
Concatenate, QSimpleRNN / QLSTM / QGRU, every QKeras quantizer kind nnfab reads
(``quantized_bits`` with and without ``symmetric`` / ``keep_negative``, ``auto_po2``
alpha, ``quantized_relu``, ``binary``, ``ternary``, ``quantized_po2``, the threshold
quantizers) and a pruning level. :func:`build_model` makes the QKeras model (weights
drawn from the seed, steered away from a function constant over the case's inputs),
:func:`case_inputs` seeded inputs on the input grid that include the all-minimum and
all-maximum frames, and :func:`check` runs the views:

    reference == QKeras predict == C-sim == RTL (Verilator under cocotb)

(QKeras ``predict`` where nnfab finds the model fully quantized, as ``nnfab verify``
does; the generator quantizes every float average so that it is) for one ``io``
(``parallel`` or ``stream``) and one folding (fully parallel, or strategy
resource at a random reuse), drawn from the seed, and the cycle model (the estimate's
latency / II) == the cycles the RTL testbench measures. The reference's outputs over the
inputs must not be constant (a degenerate case would check nothing). A model nnfab
refuses is a pass when the refusal is one line from a ``ValueError`` subclass; it is
tallied by its reason.

``python tests/fuzz.py -n 500 --seed S`` (``make fuzz N=500 SEED=S``) runs cases ``S ..
S+N-1``, prints the tally and writes each failure, shrunk (layers dropped, shapes
shrunk while it still fails), as ``tests/fuzz_cases/<name>.json`` + ``.h5``;
``tests/test_fuzz.py`` replays every saved case and runs a fixed set of seeds.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_DIR = os.path.join(HERE, "fuzz_cases")
#: input rows per case (two of them are the all-minimum and all-maximum inputs)
ROWS = 16

Spec = dict[str, Any]


# -- the generator ------------------------------------------------------------------------


def _act_q(rng: np.random.Generator, signed_ok: bool = True) -> list[Any]:
    """An activation quantizer (as data)."""
    kinds = ["bits", "bits", "relu", "relu", "binary", "ternary", "po2", "tanh", "bits_sym",
             "bits_unsigned", "relu_leaky"]
    k = str(rng.choice(kinds))
    b = int(rng.integers(3, 9))
    if k == "bits":
        return ["quantized_bits", b, int(rng.integers(0, min(b - 1, 4))), 1, 0]
    if k == "bits_sym":
        return ["quantized_bits", b, int(rng.integers(0, min(b - 1, 4))), 1, 1]
    if k == "bits_unsigned":
        return ["quantized_bits", b, int(rng.integers(0, min(b, 4))), 0, 0]
    if k == "relu":
        return ["quantized_relu", b, int(rng.integers(0, min(b, 4)))]
    if k == "relu_leaky":
        return ["quantized_relu", b, int(rng.integers(1, min(b, 4))), 0.25]
    if k == "po2":
        return ["quantized_po2", int(rng.integers(3, 6)), 2]
    if k == "tanh":
        return ["quantized_tanh", int(rng.integers(3, 7))]
    return [k]


def _weight_q(rng: np.random.Generator) -> list[Any]:
    """A kernel quantizer (as data)."""
    k = str(rng.choice(["bits", "bits", "bits", "bits_sym", "auto_po2", "binary", "ternary",
                        "po2"]))
    b = int(rng.integers(2, 8))
    if k == "bits":
        return ["quantized_bits", b, int(rng.integers(0, 2)), 1, 0]
    if k == "bits_sym":
        return ["quantized_bits", max(b, 3), 0, 1, 1]
    if k == "auto_po2":
        return ["quantized_bits", max(b, 3), 0, 1, 0, "auto_po2"]
    if k == "po2":
        return ["quantized_po2", int(rng.integers(3, 5)), 1]
    return [k]


def _bias_q(rng: np.random.Generator) -> list[Any]:
    b = int(rng.integers(3, 8))
    return ["quantized_bits", b, int(rng.integers(0, 3)), 1, 0]


def _out(n: int, k: int, s: int, pad: str) -> int:
    return -(-n // s) if pad == "same" else (n - k) // s + 1


def _conv_like(rng: np.random.Generator, sp: list[int], c: int, t: str) -> tuple[Spec, list[int], int] | None:
    k = int(rng.integers(1, 4))
    s = int(rng.choice([1, 1, 2, 3]))
    pad = str(rng.choice(["valid", "same"]))
    if any(n < k for n in sp) and pad == "valid":
        return None
    nsp = [_out(n, k, s, pad) for n in sp]
    if min(nsp) < 1:
        return None
    lay: Spec = {"t": t, "k": k, "s": s, "pad": pad, "bq": _bias_q(rng), "wq": _weight_q(rng)}
    if t == "dw":
        return lay, nsp, c
    f = int(rng.integers(1, 4))
    lay["f"] = f
    if t == "sep":
        lay["pwq"] = _weight_q(rng)
    return lay, nsp, f


def _pool(rng: np.random.Generator, sp: list[int]) -> tuple[Spec, list[int]] | None:
    mode = str(rng.choice(["max", "avg"]))
    k = int(rng.integers(2, 4))
    s = int(rng.choice([k, k, 1, 2, 3]))
    pad = "valid" if mode == "avg" else str(rng.choice(["valid", "valid", "same"]))
    if pad == "valid" and any(n < k for n in sp):
        return None
    nsp = [_out(n, k, s, pad) for n in sp]
    if min(nsp) < 1:
        return None
    return {"t": "pool", "mode": mode, "k": k, "s": s, "pad": pad}, nsp


def gen_spec(seed: int) -> Spec:
    """A random small model description from ``seed`` (JSON-serialisable data)."""
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(["cnn2d", "cnn2d", "cnn2d", "cnn1d", "cnn1d", "mlp", "seq", "rnn"]))
    in_bits = int(rng.integers(4, 9))
    spec: Spec = {"seed": seed, "kind": kind, "in_q": [in_bits, int(rng.integers(0, 4))],
                  "prune": float(rng.choice([0.0, 0.0, 0.3, 0.5, 0.7])), "layers": []}
    layers: list[Spec] = spec["layers"]
    sizes = [2, 3, 4, 5, 6, 7, 9, 11, 13]
    if kind == "cnn2d":
        sp = [int(rng.choice(sizes)), int(rng.choice(sizes))]
        c = int(rng.integers(1, 4))
    elif kind in ("cnn1d", "seq"):
        sp = [int(rng.choice(sizes + [17]))]
        c = int(rng.integers(1, 4))
    elif kind == "rnn":
        sp = [int(rng.integers(2, 5))]
        c = int(rng.integers(1, 4))
    else:
        sp, c = [], int(rng.choice([2, 3, 5, 7, 11, 16]))
    spec["input"] = [*sp, c]
    if kind in ("cnn2d", "cnn1d"):
        for _ in range(int(rng.integers(1, 4))):
            r = rng.random()
            if r < 0.45:
                t = str(rng.choice(["conv", "conv", "dw", "sep"]))
                got = _conv_like(rng, sp, c, t)
                if got is None:
                    continue
                lay, sp, c = got
                layers.append(lay)
                layers.append({"t": "act", "q": _act_q(rng)})
            elif r < 0.8:
                pg = _pool(rng, sp)
                if pg is None:
                    continue
                lay, sp = pg
                layers.append(lay)
                if lay["mode"] == "avg":  # Keras averages in float: quantize it
                    layers.append({"t": "act", "q": _act_q(rng)})
            else:
                merge = str(rng.choice(["add", "sub", "max", "min", "avg", "mul", "concat"]))
                f = c if merge != "concat" else int(rng.integers(1, 4))
                a = [{"t": "conv", "k": int(rng.integers(1, 4)), "s": 1, "pad": "same",
                      "f": f, "wq": _weight_q(rng), "bq": _bias_q(rng)},
                     {"t": "act", "q": _act_q(rng)}]
                b = [] if rng.random() < 0.5 else [{"t": "act", "q": _act_q(rng)}]
                layers.append({"t": "branch", "merge": merge, "a": a, "b": b})
                c = c + f if merge == "concat" else c
                layers.append({"t": "act", "q": _act_q(rng)})
        head = str(rng.choice(["flatten", "flatten", "gpool", "none"]))
        if head == "flatten":
            layers.append({"t": "flatten"})
        elif head == "gpool":
            layers.append({"t": "gpool", "mode": str(rng.choice(["max", "avg"]))})
            layers.append({"t": "act", "q": _act_q(rng)})
        if head != "none" or rng.random() < 0.5:
            layers.append({"t": "dense", "u": int(rng.integers(1, 5)), "wq": _weight_q(rng),
                           "bq": _bias_q(rng)})
    elif kind == "seq":  # Dense on a sequence (each position), a Conv1D, Flatten, Dense
        layers.append({"t": "dense", "u": int(rng.integers(1, 4)), "wq": _weight_q(rng),
                       "bq": _bias_q(rng)})
        layers.append({"t": "act", "q": _act_q(rng)})
        got = _conv_like(rng, sp, c, "conv")
        if got is not None:
            layers.append(got[0])
            layers.append({"t": "act", "q": _act_q(rng)})
        layers.append({"t": "flatten"})
        layers.append({"t": "dense", "u": int(rng.integers(1, 4)), "wq": _weight_q(rng),
                       "bq": _bias_q(rng)})
    elif kind == "rnn":
        cell = str(rng.choice(["QSimpleRNN", "QLSTM", "QGRU"]))
        layers.append({"t": "rnn", "cell": cell, "u": int(rng.integers(1, 4)),
                       "seq": bool(rng.random() < 0.3), "wq": _weight_q(rng),
                       "bq": _bias_q(rng), "state": int(rng.integers(5, 9))})
        if layers[-1]["seq"]:
            layers.append({"t": "flatten"})
        layers.append({"t": "dense", "u": int(rng.integers(1, 4)), "wq": _weight_q(rng),
                       "bq": _bias_q(rng)})
    else:  # mlp
        for _ in range(int(rng.integers(1, 4))):
            if rng.random() < 0.75:
                layers.append({"t": "dense", "u": int(rng.integers(1, 9)), "wq": _weight_q(rng),
                               "bq": _bias_q(rng)})
                layers.append({"t": "act", "q": _act_q(rng)})
            else:
                merge = str(rng.choice(["add", "sub", "max", "min", "avg", "mul", "concat"]))
                u = int(rng.integers(1, 6))
                a = [{"t": "dense", "u": u, "wq": _weight_q(rng), "bq": _bias_q(rng)},
                     {"t": "act", "q": _act_q(rng)}]
                b = [{"t": "dense", "u": u, "wq": _weight_q(rng), "bq": _bias_q(rng)},
                     {"t": "act", "q": _act_q(rng)}]
                layers.append({"t": "branch", "merge": merge, "a": a, "b": b})
                layers.append({"t": "act", "q": _act_q(rng)})
        layers.append({"t": "dense", "u": int(rng.integers(1, 5)), "wq": _weight_q(rng),
                       "bq": _bias_q(rng)})
    _no_constant_binary(layers)
    spec["io"] = str(rng.choice(["parallel", "stream"]))
    spec["reuse"] = int(rng.choice([1, 1, 2, 3, 4]))
    return spec


def _nonneg(q: list[Any]) -> bool:
    """Whether activation quantizer ``q`` only outputs values >= 0."""
    return (q[0] == "quantized_relu" and len(q) == 3) or (q[0] == "quantized_bits" and q[3] == 0)


def _no_constant_binary(layers: list[Spec], nonneg: bool = False) -> bool:
    """Draw a ``binary`` activation on a tensor that cannot be negative (a relu or unsigned
    quantizer with only pools, flattens and merges after it) as ``ternary``: binary is the
    constant 1 there. Edits ``layers`` in place; returns whether their output is >= 0."""
    for L in layers:
        t = L["t"]
        if t == "act":
            if nonneg and L["q"] == ["binary"]:
                L["q"] = ["ternary"]
            nonneg = _nonneg(L["q"])
        elif t == "branch":
            a = _no_constant_binary(L["a"], nonneg)
            b = _no_constant_binary(L["b"], nonneg)
            nonneg = {"sub": False, "max": a or b}.get(L["merge"], a and b)
        elif t not in ("pool", "gpool", "flatten"):  # a weighted sum (with a bias)
            nonneg = False
    return nonneg


# -- the QKeras model of a description ----------------------------------------------------


def _quantizer(q: Any, d: list[Any]) -> Any:
    name, args = d[0], d[1:]
    if name == "quantized_bits":
        bits, integer, keep, sym = args[:4]
        alpha = args[4] if len(args) > 4 else 1
        return q.quantized_bits(bits, integer, keep_negative=keep, symmetric=sym, alpha=alpha)
    if name == "quantized_relu":
        if len(args) > 2:
            return q.quantized_relu(args[0], args[1], negative_slope=args[2])
        return q.quantized_relu(args[0], args[1])
    if name == "quantized_po2":
        return q.quantized_po2(args[0], args[1])
    if name == "quantized_tanh":
        return q.quantized_tanh(args[0])
    if name == "binary":
        return q.binary(alpha=1)
    if name == "ternary":
        return q.ternary(alpha=1)
    raise KeyError(name)


def _apply(keras: Any, q: Any, x: Any, lays: list[Spec], rank: int, names: Counter) -> Any:
    def nm(t: str) -> str:
        names[t] += 1
        return f"{t}{names[t]}"

    for L in lays:
        t = L["t"]
        if t == "act":
            x = q.QActivation(_quantizer(q, L["q"]), name=nm("act"))(x)
        elif t in ("conv", "dw", "sep"):
            kw = {"strides": L["s"], "padding": L["pad"], "name": nm(t),
                  "bias_quantizer": _quantizer(q, L["bq"])}
            if t == "conv":
                cls = q.QConv2D if rank == 2 else q.QConv1D
                x = cls(L["f"], L["k"], kernel_quantizer=_quantizer(q, L["wq"]), **kw)(x)
            elif t == "dw":
                if rank == 2:
                    x = q.QDepthwiseConv2D(L["k"], depthwise_quantizer=_quantizer(q, L["wq"]),
                                           **kw)(x)
                else:
                    x = keras.layers.DepthwiseConv1D(L["k"], strides=L["s"], padding=L["pad"],
                                                     name=kw["name"])(x)
            else:
                cls = q.QSeparableConv2D if rank == 2 else q.QSeparableConv1D
                x = cls(L["f"], L["k"], depthwise_quantizer=_quantizer(q, L["wq"]),
                        pointwise_quantizer=_quantizer(q, L["pwq"]), **kw)(x)
        elif t == "pool":
            cls = {("max", 2): keras.layers.MaxPooling2D, ("avg", 2): keras.layers.AveragePooling2D,
                   ("max", 1): keras.layers.MaxPooling1D,
                   ("avg", 1): keras.layers.AveragePooling1D}[(L["mode"], rank)]
            x = cls(L["k"], strides=L["s"], padding=L["pad"], name=nm("pool"))(x)
        elif t == "gpool":
            cls = {("max", 2): keras.layers.GlobalMaxPooling2D,
                   ("avg", 2): keras.layers.GlobalAveragePooling2D,
                   ("max", 1): keras.layers.GlobalMaxPooling1D,
                   ("avg", 1): keras.layers.GlobalAveragePooling1D}[(L["mode"], rank)]
            x = cls(name=nm("gpool"))(x)
        elif t == "flatten":
            x = keras.layers.Flatten(name=nm("flat"))(x)
        elif t == "dense":
            x = q.QDense(L["u"], kernel_quantizer=_quantizer(q, L["wq"]),
                         bias_quantizer=_quantizer(q, L["bq"]), name=nm("dense"))(x)
        elif t == "rnn":
            cls = getattr(q, L["cell"])
            kw = {"kernel_quantizer": _quantizer(q, L["wq"]),
                  "recurrent_quantizer": _quantizer(q, L["wq"]),
                  "bias_quantizer": _quantizer(q, L["bq"]),
                  "state_quantizer": q.quantized_bits(L["state"], 1, alpha=1),
                  "activation": q.quantized_tanh(6), "return_sequences": L["seq"]}
            if L["cell"] != "QSimpleRNN":
                kw["recurrent_activation"] = q.quantized_sigmoid(5)
            if L["cell"] == "QGRU":
                kw["reset_after"] = True
            x = cls(L["u"], name=nm("rnn"), **kw)(x)
        elif t == "branch":
            a = _apply(keras, q, x, L["a"], rank, names)
            b = _apply(keras, q, x, L["b"], rank, names)
            m = {"add": keras.layers.Add, "sub": keras.layers.Subtract,
                 "max": keras.layers.Maximum, "min": keras.layers.Minimum,
                 "avg": keras.layers.Average, "mul": keras.layers.Multiply,
                 "concat": keras.layers.Concatenate}[L["merge"]]
            x = m(name=nm("merge"))([a, b])
        else:
            raise KeyError(t)
    return x


def build_model(spec: Spec) -> Any:
    """The QKeras model of ``spec``, weights drawn from its seed (pruned by ``prune``).

    The weights are steered away from a constant function of :func:`case_inputs` (which
    would check nothing): :func:`_steer_weights` fixes the causes it knows, and weights
    whose model is still constant over the inputs are drawn again from the next of
    :data:`WEIGHT_DRAWS` seeded streams (the description itself is never changed)."""
    sys.path.insert(0, HERE)
    import zoo

    keras, q = zoo._layers()
    keras.utils.set_random_seed(int(spec["seed"]))
    shape = tuple(spec["input"])
    rank = len(shape) - 1
    x_in = keras.layers.Input(shape, name="x")
    b, i = spec["in_q"]
    x = q.QActivation(q.quantized_bits(b, i, alpha=1), name="q_in")(x_in)
    x = _apply(keras, q, x, spec["layers"], rank, Counter())
    model = keras.Model(x_in, x, name=f"fuzz{spec['seed']}")
    rows = case_inputs(spec).astype(np.float32)
    seed = int(spec["seed"])
    for draw in range(WEIGHT_DRAWS):
        zoo.init_weights(model, seed + 1_000_003 * draw, float(spec["prune"]))
        _steer_weights(keras, model, rows, np.random.default_rng([seed, draw, 20_000]))
        y = np.asarray(model(rows)).reshape(len(rows), -1)
        if len(np.unique(y, axis=0)) > 1:
            break
    return model


#: weight draws :func:`build_model` tries before it keeps a model constant over its inputs
WEIGHT_DRAWS = 8

#: the layers :func:`_steer_weights` adjusts: a kernel (two for separable) and a bias
_BIASED = ("QDense", "QConv1D", "QConv2D", "QDepthwiseConv2D", "DepthwiseConv1D",
           "QSeparableConv1D", "QSeparableConv2D")
_RNN = ("QSimpleRNN", "QLSTM", "QGRU")


def _steer_weights(keras: Any, model: Any, x: np.ndarray, rng: np.random.Generator) -> None:
    """Keep seeded weights from making ``model`` a constant function of the inputs ``x``.

    Two causes of a constant output are removed, layer by layer in topological order:

    * an output unit (a channel, for depthwise kernels; a gate column, for an RNN's input
      kernel) whose quantized kernel is all zero (pruning a unit of small fan-in, or a
      coarse quantizer rounding every ``U(-1, 1)`` draw to 0) gets one nonzero weight
      back, at a seeded position;
    * a bias that puts a unit's pre-activation on one side of 0 for every input (so that a
      following relu, binary or saturating quantizer outputs one value): each bias is
      drawn as minus a seeded quantile (20 to 80 %) of its unit's bias-free outputs over
      ``x``, so that the unit's sign changes over the inputs; the bias quantizer still
      rounds and clips it. (An RNN keeps its biases.)"""
    for layer in model.layers:
        cls = type(layer).__name__
        if cls in _RNN:
            ws = layer.get_weights()
            ws[0] = _revive_units(ws[0], layer.cell.quantizers[0], False, rng)
            layer.set_weights(ws)
            continue
        if cls not in _BIASED or not layer.use_bias:
            continue
        ws = layer.get_weights()
        qs = list(getattr(layer, "quantizers", [])) + [None] * len(ws)
        for i in range(len(ws) - 1):  # the kernels (separable: depthwise, pointwise)
            depthwise = "Depthwise" in cls or ("Separable" in cls and i == 0)
            ws[i] = _revive_units(ws[i], qs[i], depthwise, rng)
        ws[-1] = np.zeros_like(ws[-1])
        layer.set_weights(ws)
        z = np.asarray(keras.Model(model.input, layer.output)(x))
        z = z.reshape(-1, z.shape[-1])
        ws[-1] = np.array([-np.quantile(z[:, j], rng.uniform(0.2, 0.8))
                           for j in range(z.shape[1])], dtype=np.float32)
        layer.set_weights(ws)


def _revive_units(k: np.ndarray, quant: Any, depthwise: bool,
                  rng: np.random.Generator) -> np.ndarray:
    """``k`` with one nonzero weight (after ``quant``) put back in each all-zero unit (an
    output channel; for a ``depthwise`` kernel, an input channel x multiplier)."""
    def quantized(a: np.ndarray) -> np.ndarray:
        return np.asarray(quant(a)) if quant is not None else a

    n = k.shape[-2] * k.shape[-1] if depthwise else k.shape[-1]
    k = k.copy()
    flat = k.reshape(-1, n)  # a view of k
    dead = ~quantized(k).reshape(-1, n).any(axis=0)
    for j in np.flatnonzero(dead):
        w = rng.choice([-1.0, 1.0]) * rng.uniform(0.75, 1.0)
        flat[int(rng.integers(flat.shape[0])), j] = w
    for j in np.flatnonzero(~quantized(k).reshape(-1, n).any(axis=0)):  # rounded to 0 again
        flat[int(np.argmax(np.abs(flat[:, j]))), j] = 1.0
    return k


def case_inputs(spec: Spec, rows: int = ROWS) -> np.ndarray:
    """Seeded inputs on the input quantizer's grid: the all-minimum and all-maximum inputs,
    then uniform draws over the whole range."""
    rng = np.random.default_rng(10_000 + int(spec["seed"]))
    b, i = spec["in_q"]
    lo, hi = -(1 << (b - 1)), (1 << (b - 1)) - 1
    raw = rng.integers(lo, hi + 1, size=(rows, *spec["input"]))
    raw[0], raw[1] = lo, hi
    return np.ldexp(raw.astype(np.float64), -(b - 1 - i))


# -- the checker --------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # "pass", "refused", "degenerate", "fail"
    reason: str = ""
    detail: str = ""
    seconds: float = 0.0
    views: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "refused")


#: internal invariants (a graph the frontend or a pass built wrongly): never a refusal
NOT_REFUSALS = ("IRError", "ReferenceError_")


def _refusal(e: BaseException) -> Outcome:
    msg = str(e)
    if type(e).__name__ in NOT_REFUSALS:
        return Outcome("fail", f"{type(e).__name__}: {_reason(msg)}", msg)
    if not msg or "\n" in msg.strip():
        return Outcome("fail", f"{type(e).__name__}: refusal not one line", msg)
    return Outcome("refused", f"{type(e).__name__}: {_reason(msg)}", msg)


def _reason(msg: str) -> str:
    """A refusal's message without layer names and numbers (the tally key)."""
    s = re.sub(r"(layer|node|Layer) [\w/.:]+", r"\1 *", msg)
    s = re.sub(r"\d+", "#", s)
    return s[:110]


def check(model: Any, x: np.ndarray, io: str, reuse: int, out: str,
          rtl: bool = True) -> Outcome:
    """Convert ``model`` (``io``, strategy resource at ``reuse`` when > 1) into ``out`` and
    check every view on ``x``: reference == QKeras predict == C-sim == RTL, cycle model ==
    measured cycles, reference not constant over ``x``."""
    import generator as nnfab
    from generator import estimate
    from generator.backends.rtl import UNSUPPORTED
    from generator.verify import source_predict

    t0 = time.time()
    views: dict[str, Any] = {}

    def fail(reason: str, detail: str = "") -> Outcome:
        return Outcome("fail", reason, detail, time.time() - t0, views)

    while True:  # a legal reuse: the one asked for, clipped to the range nnfab names
        try:
            kw: dict[str, Any] = {"io": io}
            if reuse > 1:
                kw.update(strategy="resource", reuse=reuse)
            p = nnfab.convert(model, out, **kw)
            break
        except ValueError as e:
            m = re.search(r"reuse factor (\d+) is not possible; valid: (\d+)\.\.(\d+)", str(e))
            if m and reuse > 1:
                lo, hi = int(m.group(2)), int(m.group(3))
                legal = max(lo, min(reuse, hi))
                reuse = legal if legal != reuse and legal > 1 else 1
                continue
            o = _refusal(e)
            o.seconds = time.time() - t0
            return o
    views["reuse"] = reuse
    try:
        ref = p.predict(x)
        n = len(x)
        constant = len(np.unique(ref.reshape(n, -1), axis=0)) < 2
        src = source_predict(model, x).reshape(ref.shape)
        if p.graph.meta.get("fully_quantized"):
            if not np.array_equal(ref, src):
                return fail("source != reference",
                            f"{int((ref != src).sum())} elements differ")
            views["source"] = True
        else:  # nnfab says the source is not exact (as verify does): the deviation, measured
            views["source"] = f"not fully quantized: max |diff| {np.abs(ref - src).max():g}"
        cs = p.csim(x)
        if not np.array_equal(ref, cs):
            return fail("csim != reference")
        views["csim"] = True
        if not rtl:
            return Outcome("degenerate" if constant else "pass", seconds=time.time() - t0,
                           views=views)
        try:
            y, stats = p.rtlsim(x)
        except ValueError as e:
            unsup = os.path.join(out, "rtl", UNSUPPORTED)
            if os.path.isfile(unsup):
                with open(unsup) as f:
                    o = _refusal(ValueError(f.read().strip()))
                o.reason = "RTL: " + o.reason
                o.seconds = time.time() - t0
                o.views = views
                return o
            return fail("rtl simulation error", str(e)[:2000])
        if not np.array_equal(ref, y):
            return fail("rtl != reference", f"{stats.get('mismatched_rows')} rows differ")
        if stats.get("timing_mismatches") or stats.get("tlast_errors"):
            return fail("rtl timing-phase mismatch or tlast error", json.dumps(stats)[:500])
        views["rtl"] = True
        tot = estimate.estimate(p.graph)["total"]
        got = (stats["latency_cycles"], stats["ii_cycles"])
        want = (tot["latency_cycles"], tot["ii_cycles"])
        if got != want:
            return fail("cycles != cycle model", f"measured {got}, model {want}")
        views["cycles"] = got
    except Exception as e:  # noqa: BLE001 - any crash is a finding
        return fail(f"crash: {type(e).__name__}", traceback.format_exc()[-3000:])
    if constant:  # every view agrees, but on a function that checks nothing
        return Outcome("degenerate", "reference output constant over the inputs",
                       seconds=time.time() - t0, views=views)
    return Outcome("pass", seconds=time.time() - t0, views=views)


def run_spec(spec: Spec, workdir: str, rtl: bool = True) -> Outcome:
    """Build ``spec``'s model and check it (a model Keras itself cannot build is skipped)."""
    try:
        model = build_model(spec)
    except Exception as e:  # noqa: BLE001 - the generator drew an impossible model
        return Outcome("skipped", f"keras: {type(e).__name__}", str(e)[:300])
    out = tempfile.mkdtemp(prefix=f"case{spec['seed']}-", dir=workdir)
    try:
        return check(model, case_inputs(spec), spec["io"], int(spec["reuse"]), out, rtl=rtl)
    finally:
        shutil.rmtree(out, ignore_errors=True)


# -- shrinking and saved cases ------------------------------------------------------------


def _smaller(spec: Spec) -> list[Spec]:
    """Candidate simplifications of ``spec``, most drastic first."""
    outs: list[Spec] = []
    lays = spec["layers"]
    for i in range(len(lays)):  # drop one layer (or a branch arm's content)
        s = copy.deepcopy(spec)
        del s["layers"][i]
        outs.append(s)
        if lays[i]["t"] == "branch":
            for arm in ("a", "b"):
                if lays[i][arm]:
                    s = copy.deepcopy(spec)
                    s["layers"][i:i + 1] = lays[i][arm]
                    outs.append(s)
    for ax in range(len(spec["input"])):  # shrink one input dimension
        if spec["input"][ax] > 1:
            s = copy.deepcopy(spec)
            s["input"][ax] -= 1
            outs.append(s)
    if spec["reuse"] > 1:
        s = copy.deepcopy(spec)
        s["reuse"] = 1
        outs.append(s)
    if spec["prune"] > 0:
        s = copy.deepcopy(spec)
        s["prune"] = 0.0
        outs.append(s)
    return outs


def shrink(spec: Spec, reason: str, workdir: str, budget_s: float = 300.0) -> Spec:
    """Greedily simplify ``spec`` while it still fails with the same ``reason``."""
    t0 = time.time()
    cur = spec
    progress = True
    while progress and time.time() - t0 < budget_s:
        progress = False
        for cand in _smaller(cur):
            if time.time() - t0 > budget_s:
                break
            o = run_spec(cand, workdir)
            if o.status == "fail" and o.reason == reason:
                cur, progress = cand, True
                break
    return cur


def save_case(spec: Spec, outcome: Outcome, name: str | None = None) -> str:
    """Write ``spec`` (json) and its model (.h5) under :data:`CASES_DIR`; returns the json."""
    os.makedirs(CASES_DIR, exist_ok=True)
    name = name or f"seed{spec['seed']}"
    model = build_model(spec)
    model.save(os.path.join(CASES_DIR, f"{name}.h5"))
    path = os.path.join(CASES_DIR, f"{name}.json")
    with open(path, "w") as f:
        json.dump({"spec": spec, "found": outcome.reason}, f, indent=1)
    return path


def replay(path: str, workdir: str) -> Outcome:
    """Check a saved case: its .h5 model, its spec's inputs, io and reuse."""
    from generator.frontends.keras import load_model

    with open(path) as f:
        spec = json.load(f)["spec"]
    model = load_model(path[:-len(".json")] + ".h5")
    out = tempfile.mkdtemp(prefix="replay-", dir=workdir)
    try:
        return check(model, case_inputs(spec), spec["io"], int(spec["reuse"]), out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=50, help="cases to run")
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--no-save", action="store_true", help="do not shrink and save failures")
    ap.add_argument("--json", help="write the tally here")
    a = ap.parse_args(argv)
    from generator.frontends.keras import import_tf

    import_tf()
    tally: Counter = Counter()
    refused: Counter = Counter()
    failures: list[dict[str, Any]] = []
    work = tempfile.mkdtemp(prefix="nnfab-fuzz-")
    t0 = time.time()
    for seed in range(a.seed, a.seed + a.n):
        spec = gen_spec(seed)
        o = run_spec(spec, work)
        tally[o.status] += 1
        line = f"seed {seed} {spec['kind']} io={spec['io']} reuse={spec['reuse']}: {o.status}"
        if o.status == "refused":
            refused[o.reason] += 1
            line += f" ({o.reason})"
        if o.status == "fail":
            line += f" -- {o.reason}"
            rec: dict[str, Any] = {"seed": seed, "reason": o.reason, "detail": o.detail[-500:]}
            if not a.no_save:
                small = shrink(spec, o.reason, work)
                rec["saved"] = save_case(small, o)
            failures.append(rec)
        print(f"{line} [{o.seconds:.0f} s]", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    summary = {"seeds": [a.seed, a.seed + a.n - 1], "tried": a.n, **dict(tally),
               "refused_by_reason": dict(refused.most_common()), "failures": failures,
               "seconds": round(time.time() - t0)}
    print(json.dumps(summary, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
