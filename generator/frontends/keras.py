"""Keras 2 (tf-keras) and QKeras models to the nnfab IR.

Loads ``.h5`` / ``.keras`` / SavedModel files through tf-keras with
``TF_USE_LEGACY_KERAS=1`` (QKeras needs it) and maps each layer to IR nodes:

=====================  ==============================================================
Keras / QKeras layer   IR
=====================  ==============================================================
InputLayer             Input (type: the first quantizer's, else ``input`` precision)
Dense / QDense         Dense (exact sum) [+ Quantize(accum)] [+ Quantize(result) for
                       a float layer] + the layer's activation; on a sequence or an
                       image (or in a TimeDistributed): a 1x1 Conv (each position)
QActivation            Quantize / Relu+Quantize / Binarize / Ternarize; a monotone
                       quantiser (quantized_tanh, quantized_sigmoid, quantized_relu_po2,
                       ...): Threshold, read off the quantiser on every input value
Activation             Relu, Table (sigmoid, tanh; with the QActivation right after it:
                       one exact Threshold of both), Softmax; linear is dropped
ReLU / Softmax         Relu (plain ``max(x, 0)`` only: a ``max_value``, ``negative_slope``
                       or ``threshold`` is refused) / Softmax over the last axis
LeakyReLU              LeakyRelu (alpha a power of two: exact); so is QKeras
                       ``quantized_relu`` with a ``negative_slope``
Conv1D/2D, QConv1D/2D  Conv (exact sum), as Dense; DepthwiseConv1D/2D and
                       QDepthwiseConv2D: Conv(depthwise)
SeparableConv1D/2D,    Conv(depthwise, no bias) -> Conv(1x1, the bias): the depthwise
QSeparableConv1D/2D    sums stay exact between the two, as in the layer's own call
Pooling, Padding,      Pool, GlobalPool, Pad, Crop, Upsample, Add, Concat, Merge
Cropping, UpSampling,
merges
BatchNormalization     ScaleShift (folded into the Dense / Conv by ``fold_batchnorm``); a
(QBatchNormalization)  QBatchNormalization's parameters through its quantizers first
Dropout                dropped (inference)
Flatten / Reshape      Reshape
Permute                Transpose
Embedding              Embedding (the table in the ``weight`` type; an input read by it is
                       an index, ``ap_ufixed<b,b,TRN,SAT>``, unless configured)
(Q)SimpleRNN,          unrolled over the steps: per step Crop + Reshape (the step's
(Q)LSTM, (Q)GRU        input), Dense gates (input and state parts, exact sums) + the
                       layer's activations and state quantiser, exact Merge products
                       (a float layer: its sums and states cast to ``result``, tables)
=====================  ==============================================================

Quantised weights are QKeras's own quantiser outputs, represented exactly: the frontend
finds the coarsest binary grid holding every value (so ``alpha`` = 1, power-of-two and
``auto_po2`` per-channel scales are exact). Activation quantisers map to ``ap_fixed``
types exactly (``quantized_bits`` -> ``ap_fixed<bits, integer+1, RND_CONV, SAT[_SYM]>``,
``quantized_relu`` -> ``ap_ufixed<bits, integer, RND_CONV, SAT>``).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..config import Config
from ..fixed import FixedType, Overflow, Rounding
from ..ir import (
    Add,
    Binarize,
    Concat,
    Conv,
    Crop,
    Dense,
    Embedding,
    GlobalPool,
    Graph,
    Input,
    LeakyRelu,
    Merge,
    Node,
    Pad,
    Pool,
    Quantize,
    Relu,
    Reshape,
    ScaleShift,
    Softmax,
    Table,
    Tensor,
    Ternarize,
    Threshold,
    Transpose,
    Upsample,
    Weight,
)

MAX_WEIGHT_FRAC = 40


class FrontendError(ValueError):
    """A model nnfab cannot convert (one line: the layer and what is supported)."""


CONV_LAYERS = ("Conv1D", "Conv2D", "QConv1D", "QConv2D", "DepthwiseConv1D", "DepthwiseConv2D",
               "QDepthwiseConv2D")
SEPARABLE_LAYERS = ("SeparableConv1D", "SeparableConv2D", "QSeparableConv1D", "QSeparableConv2D")
POOL_LAYERS = ("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
               "QAveragePooling2D")
SUPPORTED_LAYERS = (
    "InputLayer, Dense, QDense, Conv1D, Conv2D, QConv1D, QConv2D, DepthwiseConv1D/2D, "
    "QDepthwiseConv2D, SeparableConv1D/2D, QSeparableConv1D/2D, MaxPooling1D/2D, AveragePooling1D/2D, GlobalAveragePooling1D/2D, "
    "GlobalMaxPooling1D/2D, ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D, Add, Concatenate, "
    "Subtract, Maximum, Minimum, Average (of 2^k inputs), Multiply, "
    "QActivation, Activation (linear, relu, sigmoid, tanh, softmax), ReLU (plain), "
    "LeakyReLU (alpha a power of two), Softmax, "
    "BatchNormalization, QBatchNormalization, "
    "Dropout, Flatten, Reshape, Permute, SimpleRNN, LSTM, GRU, QSimpleRNN, QLSTM, QGRU, "
    "(Q)Bidirectional, TimeDistributed(Dense / QDense), Embedding"
)
#: recurrent layers, unrolled over their steps (QKeras's exact; Keras's take config types)
RNN_LAYERS = ("QSimpleRNN", "QLSTM", "QGRU")
FLOAT_RNN_LAYERS = ("SimpleRNN", "LSTM", "GRU")
#: Keras merge layers built as ir.Merge (their mode)
MERGE_LAYERS = {"Subtract": "sub", "Maximum": "max", "Minimum": "min", "Average": "avg",
                "Multiply": "mul"}
#: activation quantisers built as exact thresholds (ir.Threshold): each is checked to be
#: non-decreasing over its input's values
THRESHOLD_QUANTIZERS = ("quantized_tanh", "quantized_sigmoid", "quantized_relu_po2",
                        "quantized_po2", "quantized_ulaw")
SUPPORTED_QUANTIZERS = ("quantized_bits, quantized_relu, binary, ternary; as exact thresholds: "
                        + ", ".join(THRESHOLD_QUANTIZERS))
#: widest input a threshold activation enumerates (float32 holds every such value exactly)
MAX_THRESHOLD_INPUT_BITS = 24
#: most thresholds (output steps) of one threshold activation
MAX_THRESHOLDS = 256


def import_tf() -> Any:
    """Import TensorFlow with the legacy (tf-keras) Keras that QKeras needs."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["TF_USE_LEGACY_KERAS"] != "1":
        raise FrontendError("TF_USE_LEGACY_KERAS must be 1 for QKeras models (unset it)")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    from ..console import native_stderr_silenced

    with native_stderr_silenced():  # TensorFlow's C++ log lines at import (CUDA, absl)
        import qkeras  # noqa: F401  (registers QKeras layers)
        import tensorflow as tf
        import tf_keras  # noqa: F401

    tf.get_logger().setLevel("ERROR")
    from tensorflow.python.ops import array_ops, array_ops_stack
    from tensorflow.python.util import nest

    # QKeras 0.9's QSimpleRNN / QGRU cells call two TensorFlow functions that later
    # releases moved (the same functions under their new names): without these aliases
    # those layers cannot run at all
    if not hasattr(nest, "is_sequence"):
        nest.is_sequence = nest.is_nested
    if not hasattr(array_ops, "unstack"):
        array_ops.unstack = array_ops_stack.unstack
    return tf


def _qkeras_objects() -> dict[str, Any]:
    """QKeras's custom objects for ``load_model``, with ``QActivation`` able to restore
    itself from a ``.keras`` file.

    The ``.keras`` (zip) format stores a ``QActivation``'s quantizer as a serialized dict
    and hands that dict to ``QActivation(activation=...)``, which QKeras 0.9.0 keeps as it
    is (it only parses strings), so the model fails to rebuild. The quantizer is rebuilt
    here with QKeras's own ``get_quantizer`` (which reads such dicts), giving the object
    the layer was saved with; the layer class is QKeras's, subclassed under its own name.
    """
    from qkeras import qlayers
    from qkeras.quantizers import get_quantizer
    from qkeras.utils import _add_supported_quantized_objects

    objs: dict[str, Any] = {}
    _add_supported_quantized_objects(objs)

    class QActivation(qlayers.QActivation):  # type: ignore[misc]
        @classmethod
        def from_config(cls, config: dict[str, Any]) -> Any:
            config = dict(config)
            if isinstance(config.get("activation"), dict):
                config["activation"] = get_quantizer(config["activation"])
            return cls(**config)

    objs["QActivation"] = QActivation
    return objs


def load_model(path: str) -> Any:
    """Load a Keras 2 / QKeras model file (``.h5``, ``.keras`` or a SavedModel directory)."""
    if not os.path.exists(path):
        raise FrontendError(f"model file {path} does not exist")
    if not (path.endswith((".h5", ".hdf5", ".keras")) or os.path.isdir(path)):
        raise FrontendError(
            f"model file {path}: unsupported format; supported: .h5/.hdf5 and .keras "
            "(Keras 2 / QKeras), a SavedModel directory, .onnx (QONNX)"
        )
    import_tf()
    import tf_keras

    objs = _qkeras_objects()
    try:
        with warnings.catch_warnings():
            # Building the layers calls their initializers; the file's weights replace
            # what they draw, so Keras's warning about an unseeded initializer used twice
            # (QLSTM's gates share one) says nothing about the model being loaded.
            warnings.filterwarnings("ignore", message=r"The initializer \w+ is unseeded",
                                    category=UserWarning)
            return tf_keras.models.load_model(path, custom_objects=objs, compile=False)
    except Exception as e:  # noqa: BLE001 - h5py/keras raise many kinds
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise FrontendError(f"model file {path} cannot be read as a Keras model: {msg}") from None


# -- quantisers ---------------------------------------------------------------------------


def _qname(q: Any) -> str:
    return type(q).__name__ if not hasattr(q, "__name__") else str(q.__name__)


def activation_quantizer(layer: str, q: Any) -> tuple[str, Any]:
    """Map an activation quantiser to ``("quantize", FixedType)``, ``("binary", None)``,
    ``("ternary", threshold)`` or ``("relu_quantize", FixedType)``."""
    kind = type(q).__name__
    if getattr(q, "use_stochastic_rounding", False):
        raise FrontendError(f"layer {layer}: activation {q} with use_stochastic_rounding is not "
                            "supported (not deterministic); supported: use_stochastic_rounding=False")
    if kind in THRESHOLD_QUANTIZERS:
        return ("threshold", q)
    if kind == "quantized_bits":
        alpha = q.alpha
        if alpha is not None and not (isinstance(alpha, (int, float)) and float(alpha) == 1.0):
            raise FrontendError(
                f"layer {layer}: activation quantized_bits with alpha={alpha!r} is not supported; "
                "activations need alpha=1 (or None)"
            )
        bits, integer = int(q.bits), int(q.integer)
        keep_neg = bool(q.keep_negative)
        if bits - keep_neg <= 0:
            return ("binary", None)
        ov = Overflow.SAT_SYM if (q.symmetric and keep_neg) else Overflow.SAT
        if keep_neg:
            return ("quantize", FixedType(bits, integer + 1, True, Rounding.RND_CONV, ov))
        return ("quantize", FixedType(bits, integer, False, Rounding.RND_CONV, ov))
    if kind == "quantized_relu":
        if q.use_sigmoid or (not q.is_quantized_clip and q.relu_upper_bound is not None):
            return ("threshold", q)  # a monotone step function all the same
        slope = float(q.negative_slope)
        if slope != 0.0:
            # QKeras rounds the two halves on their own grids: x >= 0 onto
            # ap_fixed<bits, integer+1> (its top half), x < 0 as round(x * 2^(f-k)) clipped
            # to [-2^(bits-1-k), 0], times 2^-k: ap_fixed<bits-k, integer+1> shifted by k
            bits, integer = int(q.bits), int(q.integer)
            k = _po2_shift(slope)
            if k is None or k < 1 or bits - k < 1:
                raise FrontendError(
                    f"layer {layer}: quantized_relu({bits},{integer}) negative_slope={slope} is "
                    f"not supported; supported: a power of two from 2^-1 to 2^-{bits - 1}")
            out = FixedType(bits, integer + 1, True, Rounding.RND_CONV, Overflow.SAT)
            neg = FixedType(bits - k, integer + 1, True, Rounding.RND_CONV, Overflow.SAT)
            return ("leaky_quantize", (out, neg, k))
        return (
            "relu_quantize",
            FixedType(int(q.bits), int(q.integer), False, Rounding.RND_CONV, Overflow.SAT),
        )
    if kind in ("binary", "ternary"):
        alpha = q.alpha
        if alpha is not None and not (isinstance(alpha, (int, float)) and float(alpha) == 1.0):
            raise FrontendError(
                f"layer {layer}: activation {kind} with alpha={alpha!r} is not supported; use alpha=1"
            )
        if kind == "binary":
            if q.use_01:
                raise FrontendError(f"layer {layer}: binary(use_01=True) is not supported")
            return ("binary", None)
        thr = q.default_threshold if q.threshold is None else q.threshold
        return ("ternary", float(np.float32(thr)))
    raise FrontendError(
        f"layer {layer}: quantizer {_qname(q)} is not supported; supported: {SUPPORTED_QUANTIZERS}"
    )


def exact_grid(layer: str, what: str, values: np.ndarray) -> Weight:
    """Represent already-quantised float values exactly as integers on a binary grid."""
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise FrontendError(f"layer {layer}: {what} has NaN or infinite values")
    frac = -8
    while frac <= MAX_WEIGHT_FRAC:
        s = np.ldexp(v, frac)
        if np.all(s == np.round(s)):
            break
        frac += 1
    else:
        raise FrontendError(
            f"layer {layer}: quantized {what} is not on a binary grid of <= {MAX_WEIGHT_FRAC} "
            "fraction bits (non-power-of-two alpha?); supported: alpha=1, power-of-two, auto_po2"
        )
    raw = np.ldexp(v, frac).astype(np.int64)
    if raw.size and not raw.any():
        return Weight(raw, FixedType(1, 1, True))
    lo, hi = int(raw.min(initial=0)), int(raw.max(initial=0))
    signed = lo < 0
    w = 1
    while True:
        if signed and -(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1:
            break
        if not signed and hi <= (1 << w) - 1:
            break
        w += 1
    return Weight(raw, FixedType(w, w - frac, signed))


def threshold_steps(what: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices ``i`` where ``y`` (a function's values on the ascending inputs ``x``) steps
    up: ``y[i] > y[i - 1]``; refused in one line (``what`` first) unless ``y`` is finite,
    non-decreasing and has at most :data:`MAX_THRESHOLDS` steps."""
    if not np.all(np.isfinite(y)):
        raise FrontendError(f"{what}: the quantiser gives NaN or infinite values")
    d = np.diff(y)
    if np.any(d < 0):
        at = int(np.flatnonzero(d < 0)[0])
        raise FrontendError(
            f"{what}: not monotone (it falls from {y[at]:g} to {y[at + 1]:g} at "
            f"{x[at + 1]:g}); supported: quantisers non-decreasing over the input's values")
    steps = np.flatnonzero(d != 0) + 1
    if len(steps) > MAX_THRESHOLDS:
        raise FrontendError(f"{what}: {len(steps)} output steps; supported: at most "
                            f"{MAX_THRESHOLDS} (fewer output bits)")
    return steps


def threshold_weights(what: str, tin: FixedType,
                      f: Callable[[np.ndarray], np.ndarray]) -> dict[str, Weight]:
    """The ``thresholds`` and ``levels`` of a :class:`Threshold` computing the monotone
    step function ``f`` exactly on inputs of type ``tin``: ``f`` (the source's own
    computation, float32 in, values out) is run on every value of ``tin`` (exact in
    float32 up to :data:`MAX_THRESHOLD_INPUT_BITS` bits); the input values where it steps
    up are the thresholds, its values between them the levels. ``what`` starts every
    one-line refusal."""
    what = f"{what} on {tin}"
    if tin.width > MAX_THRESHOLD_INPUT_BITS:
        raise FrontendError(
            f"{what}: the input is wider than {MAX_THRESHOLD_INPUT_BITS} bits; supported: an "
            "input of at most 24 bits (quantise it first, e.g. a QActivation quantized_bits)")
    raw = np.arange(tin.min_raw, tin.max_raw + 1, dtype=np.int64)
    xv = np.ldexp(raw.astype(np.float64), -tin.frac).astype(np.float32)
    yv = np.asarray(f(xv), dtype=np.float64).reshape(-1)
    steps = threshold_steps(what, xv, yv)
    try:
        levels = exact_grid("", "output", yv[np.concatenate([[0], steps])])
    except FrontendError:
        raise FrontendError(
            f"{what}: outputs are not on a binary grid of <= {MAX_WEIGHT_FRAC} fraction "
            "bits; supported: quantisers whose outputs are fixed-point values") from None
    return {"thresholds": Weight(raw[steps], FixedType(tin.width, tin.integer, tin.signed)),
            "levels": levels}


def quantized(q: Any, values: np.ndarray) -> np.ndarray:
    """``values`` through QKeras quantiser ``q`` in float32, as the layer computes them
    (unchanged without one)."""
    return np.asarray(values if q is None else q(values.astype(np.float32)), dtype=np.float64)


def quantize_float(values: np.ndarray, t: FixedType) -> Weight:
    return Weight(t.quantize(values), t)


# -- conversion ---------------------------------------------------------------------------


class TypeReads:
    """The configured types a conversion read: ``var`` returns one and records it, so
    :func:`check_types_read` can refuse a configured type that changed nothing."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.used: set[tuple[str, str]] = set()  # (layer, precision variable) read
        self.defaulted: set[str] = set()  # user-set model-wide variables a layer took
        #: (layer, variable) -> model-wide type it took (nnfab's default or --precision)
        self.uniform: dict[tuple[str, str], FixedType] = {}
        #: layer -> variable -> the calibrated type it took (C++ spelling)
        self.calibrated: dict[str, dict[str, str]] = {}

    def var(self, layer: str, var: str) -> FixedType | None:
        self.used.add((layer, var))
        src = self.cfg.source_of(layer, var)
        if var in UNIFORM_VARS and src in ("user", "default"):
            t = self.cfg.var(layer, var)
            if t is not None:
                self.uniform[(layer, var)] = t
        if src == "calibrated":
            self.calibrated.setdefault(layer, {})[var] = self.cfg.calibrated[layer][var].cpp()
        lc = self.cfg.layers.get(layer)
        if not (lc and var in lc.precision) and var in self.cfg.precision_from:
            self.defaulted.add(var)
        return self.cfg.var(layer, var)

    def need(self, layer: str, var: str) -> FixedType:
        """``var`` for a variable the config always has a default for."""
        t = self.var(layer, var)
        assert t is not None
        return t


#: the precision variables of a float layer that calibration chooses
UNIFORM_VARS = ("input", "weight", "bias", "result")


def uniform_note(reads: TypeReads) -> str | None:
    """One line when float layers took a model-wide type (nnfab's default or
    ``--precision``) rather than types from data: which layers, which type, how to
    calibrate."""
    if not reads.uniform:
        return None
    layers = list(dict.fromkeys(n for n, _ in reads.uniform))  # in the model's order
    types = sorted({str(t) for t in reads.uniform.values()})
    given = {reads.cfg.source_of(n, v) for n, v in reads.uniform}
    whose = "set by --precision / model.precision" if given == {"user"} else "nnfab's default"
    shown = ", ".join(layers[:4]) + (f" and {len(layers) - 4} more" if len(layers) > 4 else "")
    return (f"float parts of the model ({shown}) got one uniform type {' / '.join(types)} ({whose}), not "
            "types from data; calibrate them with --calibrate X.npy (docs/precision.md)")


def check_types_read(reads: TypeReads, kinds: dict[str, str], noun: str, setters: str,
                     nobody: str) -> None:
    """A configured type the conversion never read would change nothing, silently: a
    layer's own (its ``setters`` set that type, or it has no such variable; one type string
    for a layer must be read at least once), or the model-wide ones (``nobody`` took any)."""
    cfg = reads.cfg
    for name, lc in cfg.layers.items():
        read = {v for (n, v) in reads.used if n == name}
        took = read & set(lc.precision)
        unread = [] if lc.precision_all and took else sorted(set(lc.precision) - read)
        if lc.precision and unread:
            where = (f"layers.{name}.precision" if lc.precision_all
                     else f"layers.{name}.precision.{unread[0]}")
            raise FrontendError(
                f"config {where}: {noun} {name} ({kinds[name]}) does not take "
                f"{'a type' if lc.precision_all else 'this type'} from the config (its "
                f"{setters} set its types, or it has no such variable); supported here: "
                + (", ".join(sorted(read)) or "none") + "; remove it")
    if cfg.precision_from and not reads.defaulted & set(cfg.precision_from):
        where = " and ".join(sorted(set(cfg.precision_from.values())))
        raise FrontendError(f"{where}: {nobody} takes a type from it (its {setters} set every "
                            "type); remove it")


def add_exact(g: Graph, node: Any) -> Tensor:
    """Add a Dense / Conv / Add node whose output type is its exact sum's."""
    from ..passes.infer_precision import _derived_type

    y = g.add(node, FixedType(2, 2))  # placeholder; the exact type follows
    t = _derived_type(node)
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


class _Builder:
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
        self.notes: list[str] = []
        self.layer_names = {layer.name for layer in model.layers}
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

    def leaky_relu(self, layer: Any) -> None:
        """Keras ``LeakyReLU(alpha=2**-k)``: exact (the negative half shifted by k bits)."""
        assert self.x is not None
        alpha = float(np.float32(layer.alpha))
        if alpha == 0.0:
            self.add(Relu(self.uniq(layer.name), [self.x], source=layer.name), self.x.ftype)
            return
        k = _po2_shift(alpha)
        if k is None or k < 1:
            raise FrontendError(
                f"layer {layer.name}: LeakyReLU alpha={layer.alpha:g} is not supported; "
                "supported: a power of two below 1 (0.5, 0.25, 0.125, ...: exact shifts), or "
                "a QActivation quantized_relu(bits, integer, negative_slope=2^-k)")
        t = self.x.ftype
        if not t.signed or isinstance(self.x.producer, Relu):  # never negative: the identity
            return
        self.add(LeakyRelu(self.uniq(layer.name), [self.x], shift=k, neg=t, source=layer.name),
                 FixedType(t.width + k, t.integer, True))

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

    # layers ----------------------------------------------------------------------------
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

    def embedding(self, layer: Any) -> None:
        """Keras ``Embedding``: one table row per index. Values all on the layer's
        ``weight`` type's grid are kept exactly, in the narrowest type holding them (as a
        quantised kernel is: the layers after it get the narrower sums); others are
        quantised to the ``weight`` type, with a note."""
        assert self.x is not None
        name = layer.name
        if getattr(layer, "mask_zero", False):
            raise FrontendError(f"layer {name}: Embedding with mask_zero=True is not supported "
                                "(masking changes the layers after it); supported: mask_zero=False")
        if self.cfg.io != "parallel":
            raise FrontendError(f"layer {name}: Embedding is supported with --io parallel "
                                f"(not {self.cfg.io})")
        tin = self.x.ftype
        v = int(layer.input_dim)
        if tin.frac < 0 or tin.max_value < v - 1:
            raise FrontendError(
                f"layer {name}: its input type {tin.cpp()} does not hold every index 0..{v - 1}"
                f"; set the input precision to ap_uint<{_index_bits(v)}> or wider")
        table = np.asarray(layer.get_weights()[0], dtype=np.float64)
        t = self.need(name, "weight")
        w = quantize_float(table, t)
        exact = bool(np.array_equal(t.to_float(w.data), table))
        if exact:
            narrow = exact_grid(name, "embeddings", table)
            if narrow.ftype.width < t.width:
                w, t = narrow, narrow.ftype
        else:
            self.notes.append(f"{name}: float embeddings quantized to {t}")
        self.add(Embedding(self.uniq(name), [self.x], {"table": w}, index_shift=tin.frac,
                           source=name, exact=exact), t)

    def input_layer(self, layer: Any, first_quantizer: Any) -> None:
        shape = tuple(int(d) for d in layer.batch_input_shape[1:]) if hasattr(
            layer, "batch_input_shape") else tuple(int(d) for d in layer.input_shape[0][1:])
        if any(d is None for d in shape):
            raise FrontendError(f"layer {layer.name}: input shape {shape} must be fully known")
        t = None
        if first_quantizer is not None:
            kind, arg = activation_quantizer(layer.name, first_quantizer)
            if kind in ("quantize", "relu_quantize"):
                t = arg
        if t is None:
            t = self.index_type(layer.name, self.next_layer)
        if t is None:
            t = self.need(layer.name, "input")
        self.add(Input(self.uniq(layer.name), [], shape=shape, source=layer.name), t)

    def dense(self, layer: Any, name: str | None = None) -> None:
        """A Dense / QDense ``layer`` (``name``: the layer it is known by, when wrapped)."""
        name = name or layer.name
        quantized = type(layer).__name__ == "QDense"
        kernel, *rest = layer.get_weights()
        bias = rest[0] if rest and layer.use_bias else None
        kq = getattr(layer, "kernel_quantizer_internal", None) if quantized else None
        bq = getattr(layer, "bias_quantizer_internal", None) if quantized else None
        assert self.x is not None
        fully_q = kq is not None and (bias is None or bq is not None)
        rank = len(self.x.shape) - 1
        if rank:
            # Keras applies a Dense on a sequence or an image to each position: a 1x1 Conv
            if rank > 2:
                raise FrontendError(
                    f"layer {name}: Dense on a {rank + 1}-D input is not supported; "
                    "supported: a vector, a (steps, features) sequence or an image")
            lc = self.cfg.layers.get(name)
            for key in ("multipliers", "skip_zeros"):
                if lc is not None and getattr(lc, key) is not None:
                    raise FrontendError(
                        f"config layers.{name}.{key}: layer {name} is a Dense on a "
                        f"{rank + 1}-D input (a 1x1 Conv), which has no {key}; it applies to "
                        "a Dense on a vector; remove it")
            kernel = kernel.reshape((1,) * rank + kernel.shape)
            conv = Conv(self.uniq(name), [self.x],
                        self.weights_of(layer, kernel, bias, kq, bq, name),
                        filters=int(layer.units), kernel=(1,) * rank, strides=(1,) * rank,
                        pads=(0,) * (2 * rank), depthwise=False, source=name,
                        reuse=self.cfg.layer_reuse(name) or 1,
                        strategy=self.cfg.layer_strategy(name) or "latency")
            self.finish_weighted(layer, conv, fully_q, name)
            return
        ws = self.weights_of(layer, kernel, bias, kq, bq, name)
        node = Dense(self.uniq(name), [self.x], ws, units=int(layer.units), source=name,
                     reuse=self.cfg.reuse_for(name), strategy=self.cfg.strategy_for(name),
                     multipliers=self.cfg.multipliers_for(name),
                     skip_zeros=self.cfg.skip_zeros_for(
                         name, self.cfg.strategy_for(name) == "resource"
                         and (isinstance(self.x.producer, Relu) or not self.x.ftype.signed)))
        self.finish_weighted(layer, node, fully_q, name)

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

    # recurrent layers ----------------------------------------------------------------
    def recurrent(self, layer: Any, c: str) -> None:
        """A recurrent layer: its steps (:meth:`rnn_steps`), then its output."""
        assert self.x is not None
        self.rnn_output(layer.name, self.rnn_steps(layer, c, self.x, layer.name, layer.name),
                        layer.return_sequences)

    def bidirectional(self, layer: Any) -> None:
        """Keras / QKeras ``Bidirectional``: the forward layer's steps, the backward
        layer's steps (inputs last to first; its sequence realigned to the input's steps,
        as Keras does), each step's pair merged by ``merge_mode`` (concat, sum, mul, ave)."""
        name = layer.name
        x = self.x
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
            outs.append(self.rnn_steps(sub, c, x, name, f"{name}_{tag}"))
        quantized = all(type(sub).__name__ in RNN_LAYERS for sub, _ in subs)
        fw, bw = outs
        if layer.return_sequences:
            bw = bw[::-1]
        else:
            fw, bw = fw[-1:], bw[-1:]
        cls, kw = ops[mode]
        merged = [self.add_exact(cls(self.uniq(f"{name}_m{t}"), [a, b], source=name, **kw),
                                 float32_source=quantized)
                  for t, (a, b) in enumerate(zip(fw, bw))]
        self.rnn_output(name, merged, layer.return_sequences)

    def rnn_output(self, name: str, outs: list[Tensor], sequence: bool) -> None:
        """A recurrent layer's output: its last state, or its states (``outs``) as a
        (steps, units) sequence."""
        if not sequence:
            self.x = outs[-1]
            return
        cat = (self.add_exact(Concat(self.uniq(f"{name}_seq"), outs, source=name),
                              float32_source=True) if len(outs) > 1 else outs[0])
        self.add(Reshape(self.uniq(name), [cat], target_shape=(len(outs), outs[0].shape[-1]),
                         source=name), cat.ftype)

    def rnn_steps(self, layer: Any, c: str, x: Tensor, name: str, base: str) -> list[Tensor]:
        """SimpleRNN / LSTM / GRU ``layer`` on ``x`` unrolled over the sequence's steps
        (nodes named after ``base``, sourced, configured and refused as layer ``name``),
        its states in the order it computes them (``go_backwards``: the input's last step
        first), as Keras returns its sequence. Each step's gates
        are Dense nodes (the input's and the state's parts, exact sums added exactly), its
        activations and state quantisers the layer's own, the cell's products exact
        :class:`Merge` ``mul`` nodes. For QKeras's layers every view computes the layer
        exactly as its ``call`` does (in float32, exact while every sum fits its 24-bit
        mantissa). A float Keras layer takes the configured types, as a float Dense does:
        ``weight`` / ``bias`` for its kernels and biases, ``result`` for each gate's sum
        and for the state it carries to the next step, ``table`` for its sigmoid / tanh."""
        if len(x.shape) != 2:
            raise FrontendError(f"layer {name}: {c} needs a (steps, features) input, got "
                                f"{x.shape}")
        for flag in ("stateful", "return_state"):
            if getattr(layer, flag, False):
                raise FrontendError(f"layer {name}: {c} with {flag}=True is not supported; "
                                    f"supported: {flag}=False")
        cell = layer.cell
        kind = c.removeprefix("Q")
        fq = c.startswith("Q")  # QKeras: exact; else a float layer, cast to its types
        kq = getattr(cell, "kernel_quantizer_internal", None)
        rq = getattr(cell, "recurrent_quantizer_internal", None)
        bq = getattr(cell, "bias_quantizer_internal", None) if cell.use_bias else None
        sq = getattr(cell, "state_quantizer_internal", None)
        if fq and (kq is None or rq is None or (cell.use_bias and bq is None)):
            raise FrontendError(
                f"layer {name}: {c} needs kernel_quantizer, recurrent_quantizer and (with a "
                "bias) bias_quantizer; supported: every weight quantized")
        if sq is not None:
            tf = import_tf()
            zero = float(np.asarray(sq(tf.constant(np.zeros(1, np.float32))))[0])
            if zero != 0.0:
                raise FrontendError(f"layer {name}: state_quantizer {sq} maps the zero "
                                    f"initial state to {zero:g}; supported: quantizers of 0 to 0")
        acts = {"act": cell.activation}
        if kind != "SimpleRNN":
            acts["rec"] = cell.recurrent_activation
        for role, fn in acts.items():
            if fq and not type(fn).__module__.startswith("qkeras"):
                what = "activation" if role == "act" else "recurrent_activation"
                raise FrontendError(
                    f"layer {name}: {what} {getattr(fn, '__name__', fn)!r} is not supported; "
                    f"supported: a QKeras quantizer ({SUPPORTED_QUANTIZERS})")
        units = int(cell.units)
        kernel, recurrent, *rest = layer.get_weights()

        w, u = quantized(kq, kernel), quantized(rq, recurrent)
        b = quantized(bq, rest[0]) if cell.use_bias else None
        gates = {"SimpleRNN": "h", "LSTM": "ifco", "GRU": "zrh"}[kind]
        reset_after = kind == "GRU" and bool(cell.reset_after)
        if kind == "GRU" and b is not None and not reset_after:
            b = np.stack([b, np.zeros_like(b)])
        if b is None:
            b = np.zeros((2, len(gates) * units))
        elif b.ndim == 1:
            b = np.stack([b, np.zeros_like(b)])
        self.next_q = None  # (no activation inside the cell takes the next layer's quantiser)

        def cols(m: np.ndarray, g: str) -> np.ndarray:
            k = gates.index(g)
            return m[..., k * units:(k + 1) * units]

        def grid(what: str, v: np.ndarray) -> Weight:
            return self.weight(name, what, v, fq)

        def cast(v: Tensor) -> Tensor:
            """A float layer's sum or state cast to its ``result`` type (QKeras: exact)."""
            if fq:
                return v
            return self.add(Quantize(self.uniq(v.name + "_q"), [v], source=name, exact=False),
                            self.need(name, "result"))

        def dense(tag: str, src: Tensor, wv: np.ndarray, bv: np.ndarray | None) -> Tensor:
            ws = {"weight": grid("kernel", wv)}
            if bv is not None and np.any(bv):
                ws["bias"] = grid("bias", bv)
            node = Dense(self.uniq(tag), [src], ws, units=units, source=name,
                         reuse=self.cfg.reuse_for(name), strategy=self.cfg.strategy_for(name),
                         multipliers=self.cfg.multipliers_for(name),
                         skip_zeros=self.cfg.skip_zeros_for(name, False))
            return self.add_exact(node, float32_source=fq)

        def exact(node_cls: Any, tag: str, ins: list[Tensor], **kw: Any) -> Tensor:
            return self.add_exact(node_cls(self.uniq(tag), ins, source=name, **kw),
                                  float32_source=fq)

        def act(tag: str, v: Tensor, fn: Any) -> Tensor:
            self.x = v
            self.keras_activation(name, fn, tag)
            return self.x

        def gate(t: int, g: str, xt: Tensor, h: Tensor | None, fn: Any) -> Tensor:
            """Gate ``g`` at step ``t``: ``fn(x W_g + b_g + h U_g + b'_g)``; with no state
            yet (``h`` None) the state's part is its bias ``b'_g``."""
            tag = f"{base}_t{t}_{g}"
            rec_b = cols(b[1], g)
            if h is None:
                z = dense(tag + "x", xt, cols(w, g), cols(b[0], g) + rec_b)
            else:
                z = dense(tag + "x", xt, cols(w, g), cols(b[0], g))
                zh = dense(tag + "h", h, cols(u, g), rec_b)
                z = exact(Add, tag + "_sum", [z, zh])
            return act(tag, cast(z), fn)

        steps, _ = x.shape
        h: Tensor | None = None
        cst: Tensor | None = None
        outs: list[Tensor] = []
        for t in (reversed(range(steps)) if layer.go_backwards else range(steps)):
            if steps == 1:
                xt = x
            else:
                xt = self.add(Crop(self.uniq(f"{base}_t{t}_x"), [x], crops=(t, steps - 1 - t),
                                   source=name), x.ftype)
            xt = self.add(Reshape(self.uniq(f"{base}_t{t}_in"), [xt],
                                  target_shape=(x.shape[1],), source=name), x.ftype)
            if h is not None and sq is not None:
                self.x = h
                self.quantizer(name, sq, f"{base}_t{t}_hq")
                h = self.x
                if cst is not None:
                    self.x = cst
                    self.quantizer(name, sq, f"{base}_t{t}_cq")
                    cst = self.x
            if kind == "SimpleRNN":
                h = gate(t, "h", xt, h, acts["act"])
            elif kind == "LSTM":
                i = gate(t, "i", xt, h, acts["rec"])
                gc = gate(t, "c", xt, h, acts["act"])
                o = gate(t, "o", xt, h, acts["rec"])
                ig = exact(Merge, f"{base}_t{t}_ig", [i, gc], mode="mul")
                if cst is None:
                    cst = ig
                else:
                    f = gate(t, "f", xt, h, acts["rec"])
                    fc = exact(Merge, f"{base}_t{t}_fc", [f, cst], mode="mul")
                    cst = exact(Add, f"{base}_t{t}_cell", [fc, ig])
                cst = cast(cst)
                try:
                    ac = act(f"{base}_t{t}_cact", cst, acts["act"])
                except FrontendError:
                    if sq is not None:
                        raise
                    raise FrontendError(
                        f"layer {name}: the cell state at step {t} is {cst.ftype}, and without "
                        "a state_quantizer it gains fraction bits every step; supported: an "
                        f"activation input of at most {MAX_THRESHOLD_INPUT_BITS} bits; set "
                        "the layer's state_quantizer (e.g. quantized_bits(8, 1))") from None
                h = cast(exact(Merge, f"{base}_t{t}_h", [o, ac], mode="mul"))
            else:
                zg = gate(t, "z", xt, h, acts["rec"])
                # (the reset gate acts on the state: none yet at step 0 unless reset_after)
                r = gate(t, "r", xt, h, acts["rec"]) if h is not None or reset_after else None
                tag = f"{base}_t{t}_h"
                if reset_after:
                    # r * (h U_h + b'_h); with no state yet r * b'_h (a diagonal Dense)
                    assert r is not None
                    if h is None:
                        rh = dense(tag + "r", r, np.diag(cols(b[1], "h")), None)
                    else:
                        hu = dense(tag + "h", h, cols(u, "h"), cols(b[1], "h"))
                        rh = exact(Merge, tag + "r", [r, hu], mode="mul")
                    z = dense(tag + "x", xt, cols(w, "h"), cols(b[0], "h"))
                    hh = act(tag, cast(exact(Add, tag + "_sum", [z, rh])), acts["act"])
                elif h is None:
                    hh = act(tag, cast(dense(tag + "x", xt, cols(w, "h"), cols(b[0], "h"))),
                             acts["act"])
                else:
                    assert r is not None
                    rhv = exact(Merge, tag + "rh", [r, h], mode="mul")
                    z = dense(tag + "x", xt, cols(w, "h"), cols(b[0], "h"))
                    hu = dense(tag + "h", rhv, cols(u, "h"), None)
                    hh = act(tag, cast(exact(Add, tag + "_sum", [z, hu])), acts["act"])
                # z * h + (1 - z) * hh, written hh - z * (hh - h): equal, exactly
                d = hh if h is None else exact(Merge, f"{base}_t{t}_d", [hh, h], mode="sub")
                zd = exact(Merge, f"{base}_t{t}_zd", [zg, d], mode="mul")
                h = cast(exact(Merge, f"{base}_t{t}_out", [hh, zd], mode="sub"))
            outs.append(h)
        return outs

    def conv_checks(self, layer: Any, rank: int) -> None:
        """What every convolution layer needs (one line naming the layer otherwise)."""
        name = layer.name
        assert self.x is not None
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise FrontendError(f"layer {name}: only data_format='channels_last' is supported")
        if any(int(d) != 1 for d in layer.dilation_rate):
            raise FrontendError(f"layer {name}: dilation_rate {layer.dilation_rate} is not "
                                "supported; supported: 1")
        if layer.padding not in ("valid", "same"):
            raise FrontendError(f"layer {name}: padding {layer.padding!r} is not supported; "
                                "supported: valid, same")
        if int(getattr(layer, "groups", 1)) != 1:
            raise FrontendError(f"layer {name}: groups={layer.groups} is not supported; "
                                "supported: groups=1 (or a DepthwiseConv)")
        if int(getattr(layer, "depth_multiplier", 1)) != 1:
            raise FrontendError(f"layer {name}: depth_multiplier={layer.depth_multiplier} is not "
                                "supported; supported: 1")
        if len(self.x.shape) != rank + 1:
            raise FrontendError(f"layer {name}: expected a {rank + 1}-D input, got {self.x.shape}")

    def conv(self, layer: Any, c: str) -> None:
        name = layer.name
        assert self.x is not None
        rank = 1 if "1D" in c else 2
        depthwise = "Depthwise" in c
        self.conv_checks(layer, rank)
        ws = layer.get_weights()
        kernel = ws[0]
        bias = ws[1] if layer.use_bias else None
        quantized = c.startswith("Q")
        kq = bq = None
        if quantized:
            kq = getattr(layer, "depthwise_quantizer_internal" if depthwise
                         else "kernel_quantizer_internal", None)
            bq = getattr(layer, "bias_quantizer_internal", None)
        k = tuple(int(v) for v in layer.kernel_size)
        st = tuple(int(v) for v in layer.strides)
        pads = (_same_pads(tuple(self.x.shape[:-1]), k, st) if layer.padding == "same"
                else (0,) * (2 * rank))
        weights = self.weights_of(layer, kernel, bias, kq, bq)
        filters = int(self.x.shape[-1]) if depthwise else int(layer.filters)
        fully_q = kq is not None and (bias is None or bq is not None)
        node = Conv(self.uniq(name), [self.x], weights, filters=filters, kernel=k, strides=st,
                    pads=pads, depthwise=depthwise, source=name,
                    # the model-wide reuse/strategy are Dense defaults; a Conv takes only
                    # its own per-layer setting (checked by the folding pass)
                    reuse=self.cfg.layer_reuse(name) or 1,
                    strategy=self.cfg.layer_strategy(name) or "latency")
        self.finish_weighted(layer, node, fully_q)

    def separable(self, layer: Any, c: str) -> None:
        """A separable conv as its two convolutions: a depthwise Conv (no bias) whose exact
        sums feed a 1x1 Conv with the bias, as the layer computes them (no rounding between
        the two; QKeras's float32 is exact while the sums fit its 24-bit mantissa)."""
        name = layer.name
        assert self.x is not None
        rank = 1 if "1D" in c else 2
        self.conv_checks(layer, rank)
        ws = layer.get_weights()
        dk, pk = ws[0], ws[1]
        bias = ws[2] if layer.use_bias else None
        quantized = c.startswith("Q")
        dq = getattr(layer, "depthwise_quantizer_internal", None) if quantized else None
        pq = getattr(layer, "pointwise_quantizer_internal", None) if quantized else None
        bq = getattr(layer, "bias_quantizer_internal", None) if quantized else None
        k = tuple(int(v) for v in layer.kernel_size)
        st = tuple(int(v) for v in layer.strides)
        pads = (_same_pads(tuple(self.x.shape[:-1]), k, st) if layer.padding == "same"
                else (0,) * (2 * rank))
        dw = self.weights_of(layer, dk, None, dq, None)
        reuse = self.cfg.layer_reuse(name) or 1
        strategy = self.cfg.layer_strategy(name) or "latency"
        node = Conv(self.uniq(name + "_dw"), [self.x], dw, filters=int(self.x.shape[-1]),
                    kernel=k, strides=st, pads=pads, depthwise=True, source=name,
                    reuse=reuse, strategy=strategy)
        self.add_exact(node, float32_source=dq is not None)
        pw = self.weights_of(layer, pk, bias, pq, bq)
        node = Conv(self.uniq(name + "_pw"), [self.x], pw, filters=int(layer.filters),
                    kernel=(1,) * rank, strides=(1,) * rank, pads=(0,) * (2 * rank),
                    source=name, reuse=reuse, strategy=strategy)
        fully_q = dq is not None and pq is not None and (bias is None or bq is not None)
        self.finish_weighted(layer, node, fully_q)

    def pool(self, layer: Any, c: str) -> None:
        name = layer.name
        assert self.x is not None
        rank = 1 if "1D" in c else 2
        k = tuple(int(v) for v in (layer.pool_size if rank == 2 else (layer.pool_size[0],)))
        st = tuple(int(v) for v in (layer.strides if rank == 2 else (layer.strides[0],)))
        mode = "max" if c.startswith("Max") else "avg"
        if layer.padding == "same":
            if mode == "avg":
                raise FrontendError(f"layer {name}: AveragePooling with padding='same' is not "
                                    "supported; supported: padding='valid'")
            pads = _same_pads(tuple(self.x.shape[:-1]), k, st)
        else:
            pads = (0,) * (2 * rank)
        node = Pool(self.uniq(name), [self.x], mode=mode, kernel=k, strides=st, pads=pads,
                    source=name)
        if mode == "max":
            self.add(node, self.x.ftype)
        else:
            self.add(node, self.mean_type(name, int(np.prod(k))))

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

    def global_pool(self, layer: Any, c: str) -> None:
        name = layer.name
        assert self.x is not None
        mode = "max" if "Max" in c else "avg"
        if getattr(layer, "keepdims", False):
            raise FrontendError(f"layer {name}: keepdims=True is not supported")
        node = GlobalPool(self.uniq(name), [self.x], mode=mode, source=name)
        if mode == "max":
            self.add(node, self.x.ftype)
        else:
            self.add(node, self.mean_type(name, int(np.prod(self.x.shape[:-1]))))

    def merge(self, layer: Any, c: str, ins: list[Tensor]) -> None:
        name = layer.name
        if c == "Concatenate" and int(layer.axis) not in (-1, len(ins[0].shape)):
            raise FrontendError(f"layer {name}: Concatenate supports the channel axis (-1) only")
        if c in MERGE_LAYERS:
            mode = MERGE_LAYERS[c]
            n = len(ins)
            if mode == "avg" and n & (n - 1):
                raise FrontendError(f"layer {name}: Average of {n} inputs is not supported; "
                                    "supported: 2, 4, 8, ... inputs (an exact shift)")
            node: Node = Merge(self.uniq(name), ins, mode=mode, source=name)
        else:
            node = (Add if c == "Add" else Concat)(self.uniq(name), ins, source=name)
        self.add_exact(node, float32_source=True)

    def batchnorm(self, layer: Any) -> None:
        name = layer.name
        assert self.x is not None
        if _axes(layer.axis) not in ((-1,), (len(self.x.shape),)):
            raise FrontendError(f"layer {name}: BatchNormalization axis "
                                f"{list(_axes(layer.axis))} is not supported; supported: the "
                                "last (channel) axis, -1")
        gamma, beta, mean, var = _bn_params(layer)
        if type(layer).__name__ == "QBatchNormalization":
            gamma, beta, mean, var = _qbn_params(layer, gamma, beta, mean, var)
        scale = gamma / np.sqrt(var + layer.epsilon)
        shift = beta - mean * scale
        assert self.x is not None
        st = self.need(name, "weight")
        bt = self.need(name, "bias")
        node = ScaleShift(self.uniq(name), [self.x],
                          {"scale": quantize_float(scale, st), "shift": quantize_float(shift, bt)},
                          source=name, exact=False)
        self.add(node, self.need(name, "result"))
        self.notes.append(f"{name}: float BatchNormalization quantized to {st} / {bt}")

    def layer(self, layer: Any, c: str) -> None:
        """Convert one single-input layer (appends to the current tensor ``self.x``)."""
        assert self.x is not None
        name = layer.name
        if getattr(layer, "data_format", None) == "channels_first" and len(self.x.shape) > 1:
            raise FrontendError(f"layer {name}: only data_format='channels_last' is supported")
        if c in ("Dense", "QDense"):
            self.dense(layer)
        elif c in CONV_LAYERS:
            self.conv(layer, c)
        elif c in SEPARABLE_LAYERS:
            self.separable(layer, c)
        elif c == "QActivation":
            self.quantizer(name, layer.quantizer)
        elif c == "Activation":
            self.keras_activation(name, layer.activation)
        elif c == "ReLU":
            _plain_relu(layer)
            self.keras_activation(name, _Named("relu"))
        elif c == "LeakyReLU":
            self.leaky_relu(layer)
        elif c == "Softmax":
            if _axes(layer.axis) not in ((-1,), (len(self.x.shape),)):
                raise FrontendError(f"layer {name}: Softmax axis {list(_axes(layer.axis))} is "
                                    "not supported; supported: the last axis (-1)")
            self.keras_activation(name, _Named("softmax"))
        elif c in ("BatchNormalization", "QBatchNormalization"):
            self.batchnorm(layer)
        elif c in RNN_LAYERS + FLOAT_RNN_LAYERS:
            self.recurrent(layer, c)
        elif c in ("Bidirectional", "QBidirectional"):
            self.bidirectional(layer)
        elif c == "TimeDistributed":
            inner = type(layer.layer).__name__
            if inner not in ("Dense", "QDense") or len(self.x.shape) != 2:
                raise FrontendError(f"layer {name}: TimeDistributed({inner}) on a "
                                    f"{len(self.x.shape)}-D input is not supported; supported: "
                                    "TimeDistributed(Dense / QDense) on a (steps, features) "
                                    "sequence")
            self.dense(layer.layer, name)  # a Dense on the sequence: each step
        elif c == "Embedding":
            self.embedding(layer)
        elif c == "Dropout":
            return
        elif c in ("Flatten", "Reshape"):
            shape = tuple(int(d) for d in layer.output_shape[1:])
            self.add(Reshape(self.uniq(name), [self.x], target_shape=shape, source=name),
                     self.x.ftype)
        elif c in POOL_LAYERS:
            self.pool(layer, c)
        elif c in ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
                   "GlobalMaxPooling2D"):
            self.global_pool(layer, c)
        elif c in ("ZeroPadding1D", "ZeroPadding2D"):
            pads = _zero_pads(layer, c)
            self.add(Pad(self.uniq(name), [self.x], pads=pads, source=name), self.x.ftype)
        elif c == "Permute":
            perm = tuple(int(d) - 1 for d in layer.dims)
            self.add(Transpose(self.uniq(name), [self.x], perm=perm, source=name), self.x.ftype)
        elif c in ("Cropping1D", "Cropping2D"):
            crops = _crops(layer, c)
            self.add(Crop(self.uniq(name), [self.x], crops=crops, source=name), self.x.ftype)
        elif c in ("UpSampling1D", "UpSampling2D"):
            if c == "UpSampling2D" and getattr(layer, "interpolation", "nearest") != "nearest":
                raise FrontendError(f"layer {name}: UpSampling2D supports interpolation='nearest'")
            f = (int(layer.size),) if c == "UpSampling1D" else tuple(int(v) for v in layer.size)
            self.add(Upsample(self.uniq(name), [self.x], factors=f, source=name), self.x.ftype)
        else:
            raise FrontendError(f"layer {name} ({c}) is not supported; supported: {SUPPORTED_LAYERS}")

    def convert(self) -> Graph:
        layers = list(self.model.layers)
        _check_structure(self.model, layers)
        first_q = None
        for layer in layers:
            c = type(layer).__name__
            if c == "InputLayer":
                continue
            if c == "QActivation":
                first_q = layer.quantizer
            break
        if not layers or type(layers[0]).__name__ != "InputLayer":
            # Sequential models built with input_shape have an implicit InputLayer
            inl = self.model.layers[0].input
            shape = tuple(int(d) for d in inl.shape[1:])
            t = None
            if first_q is not None:
                kind, arg = activation_quantizer("input", first_q)
                if kind in ("quantize", "relu_quantize"):
                    t = arg
            if t is None:
                t = self.index_type("input", layers[0] if layers else None)
            self.add(Input("input", [], shape=shape, source="input"),
                     t if t is not None else self.need("input", "input"))
        implicit_input = self.x  # set above for Sequential models without an InputLayer
        produced: dict[str, Tensor] = {}
        last: Tensor | None = None
        for pos, layer in enumerate(layers):
            c = type(layer).__name__
            nxt = layers[pos + 1] if pos + 1 < len(layers) else None
            self.next_cls = (
                type(nxt).__name__ if nxt is not None and _inbound(nxt) == [layer.name] else None
            )
            self.next_layer = nxt if self.next_cls is not None else None
            self.next_q = nxt.quantizer if nxt is not None and self.next_cls == "QActivation" \
                else None
            self.next_name = nxt.name if nxt is not None and self.next_q is not None else None
            self.sole_consumer = sum(layer.name in (_inbound(u) or []) for u in layers) == 1
            if c == "InputLayer":
                self.input_layer(layer, first_q)
                assert self.x is not None
                produced[layer.name] = self.x
                last = self.x
                continue
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
            self.x = ins[0]
            if c == "QActivation" and self.fused == layer.name:
                self.fused = None  # applied with the activation before it
            elif c in ("Add", "Concatenate", *MERGE_LAYERS):
                self.merge(layer, c, ins)
            elif len(ins) != 1:
                raise FrontendError(f"layer {layer.name} ({c}) takes {len(ins)} inputs; supported "
                                    "layers of several inputs: Add, Concatenate, "
                                    f"{', '.join(MERGE_LAYERS)}")
            else:
                self.layer(layer, c)
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


def _index_bits(rows: int) -> int:
    """Bits of an unsigned index into ``rows`` table rows."""
    return max(1, (rows - 1).bit_length())


def _po2_shift(v: float) -> int | None:
    """``k`` with ``v == 2**-k`` exactly, else None."""
    m, e = math.frexp(v)
    return 1 - e if v > 0 and m == 0.5 else None


def _same_pads(size: tuple[int, ...], k: tuple[int, ...], st: tuple[int, ...]) -> tuple[int, ...]:
    """Keras/TensorFlow 'same' padding: extra pixel goes after."""
    pads: list[int] = []
    for n, kk, ss in zip(size, k, st):
        out = -(-n // ss)
        total = max((out - 1) * ss + kk - n, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


def _zero_pads(layer: Any, c: str) -> tuple[int, ...]:
    p = layer.padding
    if c == "ZeroPadding1D":
        return (int(p[0]), int(p[1])) if isinstance(p, (tuple, list)) else (int(p), int(p))
    (t, b), (left, r) = p
    return (int(t), int(b), int(left), int(r))


def _crops(layer: Any, c: str) -> tuple[int, ...]:
    p = layer.cropping
    crops = tuple(int(v) for v in p) if c == "Cropping1D" else tuple(int(v) for a in p for v in a)
    shape = tuple(int(d) for d in layer.input_shape[1:-1])
    if any(a + b >= n for a, b, n in zip(crops[::2], crops[1::2], shape)):
        raise FrontendError(f"layer {layer.name}: cropping {crops} leaves nothing of the "
                            f"{'x'.join(map(str, shape))} input")
    return crops


def _check_parallelism_keys(model: Any, cfg: Config) -> None:
    """``reuse`` / ``strategy`` apply to Dense and Conv layers, ``multipliers`` and
    ``skip_zeros`` to Dense layers (a recurrent layer's are its gates' Dense nodes): set on
    another layer they would change nothing."""
    kinds = {layer.name: type(layer).__name__ for layer in model.layers}
    for name, lc in cfg.layers.items():
        for k in ("reuse", "strategy", "multipliers", "skip_zeros"):
            if getattr(lc, k) is None:
                continue
            dense = kinds[name] in ("Dense", "QDense", *RNN_LAYERS, *FLOAT_RNN_LAYERS,
                                    "Bidirectional", "QBidirectional", "TimeDistributed")
            conv = kinds[name] in CONV_LAYERS + SEPARABLE_LAYERS
            if dense or (conv and k in ("reuse", "strategy")):
                continue
            applies = "Dense and Conv layers" if k in ("reuse", "strategy") else "Dense layers"
            raise FrontendError(f"config layers.{name}.{k}: layer {name} ({kinds[name]}) has no "
                                f"{k}; it applies to {applies}; remove it")


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


class _Named:
    def __init__(self, name: str) -> None:
        self.__name__ = name


def _axes(axis: Any) -> tuple[int, ...]:
    return tuple(int(a) for a in axis) if isinstance(axis, (list, tuple)) else (int(axis),)


def _plain_relu(layer: Any) -> None:
    """A Keras ``ReLU`` layer is converted as ``max(x, 0)`` only when it is exactly that."""
    cfg = {"max_value": getattr(layer, "max_value", None),
           "negative_slope": float(getattr(layer, "negative_slope", 0.0) or 0.0),
           "threshold": float(getattr(layer, "threshold", 0.0) or 0.0)}
    mv = cfg["max_value"]
    if (mv is not None and not np.isinf(float(mv))) or cfg["negative_slope"] or cfg["threshold"]:
        set_ = ", ".join(f"{k}={v}" for k, v in cfg.items() if v not in (None, 0.0))
        raise FrontendError(f"layer {layer.name}: ReLU with {set_} is not supported; supported: "
                            "ReLU() (max_value=None, negative_slope=0, threshold=0); use a "
                            "QActivation quantized_relu for a clipped ReLU")


def _bn_params(layer: Any) -> tuple[np.ndarray, ...]:
    ws = {w.name.split("/")[-1].split(":")[0]: np.asarray(w.numpy(), np.float64)
          for w in layer.weights}
    n = int(ws["moving_mean"].shape[0])
    gamma = ws.get("gamma", np.ones(n))
    beta = ws.get("beta", np.zeros(n))
    return gamma, beta, ws["moving_mean"], ws["moving_variance"]


def _qbn_params(layer: Any, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
                var: np.ndarray) -> tuple[np.ndarray, ...]:
    """A QBatchNormalization's parameters as its ``call`` uses them: each through its
    quantizer where QKeras applies one (gamma only with ``scale``, beta only with
    ``center``); the normalization itself is float, as in a BatchNormalization."""
    def q(name: str, v: np.ndarray, on: bool = True) -> np.ndarray:
        if not (on and getattr(layer, f"{name}_quantizer", None)):
            return v
        fn = getattr(layer, f"{name}_quantizer_internal")
        return np.asarray(fn(v.astype(np.float32)), dtype=np.float64)

    return (q("gamma", gamma, bool(layer.scale)), q("beta", beta, bool(layer.center)),
            q("mean", mean), q("variance", var))


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


def _safe(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if not out or out[0].isdigit():
        out = "l_" + out
    return out


def from_model(model: Any, cfg: Config) -> Graph:
    """Convert an in-memory tf-keras / QKeras model."""
    names = [layer.name for layer in model.layers]
    unknown = sorted(set(cfg.layers) - set(names))
    if unknown:  # a misspelt layer name would otherwise change nothing, silently
        raise FrontendError(
            f"config layers.{unknown[0]}: model {model.name} has no layer {unknown[0]!r}; "
            f"its layers: {', '.join(names)}"
        )
    _check_parallelism_keys(model, cfg)
    b = _Builder(model, cfg)
    g = b.convert()
    note = uniform_note(b.reads)
    if note:
        g.meta["notes"].append(note)
    if b.reads.calibrated:
        g.meta["calibrated_types"] = b.reads.calibrated
    check_types_read(b.reads, {layer.name: type(layer).__name__ for layer in model.layers},
                     "layer", "QKeras quantizers", f"no layer of model {model.name}")
    # the conversion options the backends read (io: how a CNN is built, see passes.unroll)
    g.meta["config"] = {"io": cfg.io, "strategy": cfg.strategy, "reuse": cfg.reuse}
    return g


def convert_file(path: str, cfg: Config,
                 prepare: Callable[[Any], None] | None = None) -> tuple[Graph, dict[str, float]]:
    """Load and convert a model file; returns the graph and timings (seconds).
    ``prepare`` is called with the loaded model first (calibration sets types there)."""
    t0 = time.perf_counter()
    import_tf()
    t1 = time.perf_counter()
    model = load_model(path)
    t2 = time.perf_counter()
    if prepare is not None:
        prepare(model)
    g = from_model(model, cfg)
    t3 = time.perf_counter()
    return g, {"import_tf": t1 - t0, "load_model": t2 - t1, "frontend": t3 - t2}
