"""QKeras quantisers to exact fixed-point: activation quantisers to ``ap_fixed`` types
(or binary / ternary / exact-threshold activations), quantised weights to the coarsest
binary grid holding every value, monotone quantisers to exact thresholds.

``quantized_bits`` -> ``ap_fixed<bits, integer+1, RND_CONV, SAT[_SYM]>``,
``quantized_relu`` -> ``ap_ufixed<bits, integer, RND_CONV, SAT>``; weights are QKeras's own
quantiser outputs, represented exactly (``alpha`` = 1, power-of-two and ``auto_po2``
per-channel scales are exact).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...fixed import FixedType, Overflow, Rounding
from ...ir import Weight
from .common import FrontendError, _po2_shift

MAX_WEIGHT_FRAC = 40

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
