"""Fixed-point types of a float Keras model chosen from data (``--calibrate X.npy``).

:func:`observe` runs the float model on the calibration inputs and records the range of
every tensor nnfab casts to a configured type (the input, each float layer's sum before
its activation -- the ``result`` cast -- and a BatchNormalization's or average pool's
output) and of every float kernel and bias; :func:`choose` turns those ranges into
types by one rule (``docs/precision.md``):

* integer bits: the fewest holding the largest observed magnitude, plus
  :data:`MARGIN_BITS` of headroom for activations (none for weights, which are known
  exactly); signed when a negative value was seen;
* fraction bits: what the bit budget (``bits``, default :data:`DEFAULT_BITS`) leaves;
* rounding to nearest (``AP_RND``) and saturation (``AP_SAT``): a value beyond the
  calibrated range clips, it never wraps.

The types only fill in what nothing else sets: a QKeras quantizer's type is the layer's
own, and a configured type (a layer's ``precision``, the model-wide ``--precision``)
wins over a calibrated one (:meth:`generator.config.Config.var`). Accumulators stay the
exact sums of :mod:`generator.passes.infer_precision`.

The per-layer float outputs are kept (:class:`Calibration`) so that
:mod:`generator.accuracy` can compare the hardware with the float model layer by layer.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .config import check_bits
from .errors import CalibrationError
from .fixed import FixedType, Overflow, Rounding

DEFAULT_BITS = 16
#: integer bits of headroom above an activation's observed range (a factor of 2)
MARGIN_BITS = 1
#: the quantiles of |x| stored for the profile plot's boxes
QUANTILES = (0.01, 0.25, 0.5, 0.75, 1.0)
#: weighted layers whose kernels (``weight``), biases (``bias``) and pre-activation sums
#: (``result``) calibration sets
WEIGHTED = ("Dense", "Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D",
            "SeparableConv1D", "SeparableConv2D", "QDense", "QConv1D", "QConv2D",
            "QDepthwiseConv2D", "QSeparableConv1D", "QSeparableConv2D")
#: layers whose own output is cast to ``result`` (float BatchNorm, an average pool of a
#: non-power-of-two area)
OUTPUT_RESULT = ("BatchNormalization", "QBatchNormalization", "AveragePooling1D",
                 "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
                 "QAveragePooling2D")
RECURRENT = ("SimpleRNN", "LSTM", "GRU", "Bidirectional", "QSimpleRNN", "QLSTM", "QGRU",
             "QBidirectional")


@dataclass
class Calibration:
    """What :func:`observe` saw and :func:`choose` decided."""

    bits: int
    samples: int
    #: layer -> precision variable -> type
    types: dict[str, dict[str, FixedType]] = field(default_factory=dict)
    #: layer -> what ("input", "result", "weight", "bias") -> statistics (JSON-able)
    stats: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: layer -> its float output on the validation inputs (not saved)
    outputs: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    #: the model's float output on the validation inputs
    y_float: npt.NDArray[np.float64] | None = None
    #: the validation inputs those outputs are of, and what they are
    x_val: npt.NDArray[np.float64] | None = None
    validation_name: str = "the calibration inputs"
    notes: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        """The JSON record kept in ``nnfab.json`` (``meta["calibration"]``)."""
        return {"bits": self.bits, "margin_bits": MARGIN_BITS, "samples": self.samples,
                "layers": {name: {k: dict(v) for k, v in s.items()}
                           for name, s in self.stats.items()}}


def load_array(path: str | os.PathLike[str], what: str) -> npt.NDArray[np.float64]:
    """A float ``.npy`` array (one-line error otherwise)."""
    if not os.path.isfile(path):
        raise CalibrationError(f"{what} file {path} does not exist")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise CalibrationError(f"{what} file {path} is not a .npy array "
                               f"({str(e).splitlines()[0]})") from None
    return as_inputs(x, what)


def as_inputs(x: Any, what: str) -> npt.NDArray[np.float64]:
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.number):
        raise CalibrationError(f"{what}: dtype {a.dtype} is not numeric")
    a = a.astype(np.float64)
    if a.ndim < 2 or len(a) == 0:
        raise CalibrationError(f"{what}: shape {a.shape}; needs (N, *input_shape) with N >= 1")
    if not np.all(np.isfinite(a)):
        raise CalibrationError(f"{what}: contains NaN or infinite values")
    return a


# -- the rule ------------------------------------------------------------------------------


def magnitude_bits(m: float) -> int:
    """Integer bits (no sign) holding magnitudes up to ``m``: ``m < 2**bits``."""
    if m <= 0.0:
        return 0
    return math.floor(math.log2(m)) + 1


def type_for(lo: float, hi: float, bits: int, margin: int) -> FixedType:
    """The calibrated type of values observed in ``[lo, hi]``: ``bits`` wide, integer
    bits for ``max(|lo|, |hi|)`` plus ``margin`` (and a sign bit when ``lo < 0``),
    rounding to nearest, saturating."""
    signed = lo < 0
    integer = magnitude_bits(max(abs(lo), abs(hi))) + margin + int(signed)
    return FixedType(bits, integer, signed, Rounding.RND, Overflow.SAT)


def stats(v: npt.ArrayLike) -> dict[str, Any]:
    """``lo``, ``hi``, the fraction of zeros and quantiles of the nonzero ``|x|``."""
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    nz = np.abs(a[a != 0])
    q = np.quantile(nz, QUANTILES).tolist() if nz.size else [0.0] * len(QUANTILES)
    return {"lo": float(a.min(initial=0.0)), "hi": float(a.max(initial=0.0)),
            "zeros": round(1.0 - nz.size / max(1, a.size), 6),
            "abs_quantiles": [float(x) for x in q]}


# -- running the float model ---------------------------------------------------------------


def _kind(layer: Any) -> str:
    return type(layer).__name__


def _has_activation(layer: Any) -> bool:
    fn = getattr(layer, "activation", None)
    return fn is not None and getattr(fn, "__name__", "") != "linear"


def _pre_activation_target(layer: Any) -> Any:
    """The layer whose ``activation`` to bypass for the sum before it (the Dense in a
    TimeDistributed), or None when ``layer`` has no such sum."""
    k = _kind(layer)
    inner = layer.layer if k == "TimeDistributed" else layer
    if _kind(inner) in WEIGHTED and _has_activation(inner):
        return inner
    return None


def run_float(model: Any, x: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[np.float32]]:
    """Every layer's float output on ``x`` and, for a weighted layer with an activation,
    its sum before the activation (key ``"<layer>:pre"``)."""
    import tensorflow as tf
    import tf_keras

    layers = [lyr for lyr in model.layers if _kind(lyr) != "InputLayer"]
    pre = [lyr for lyr in layers if _pre_activation_target(lyr) is not None]
    probe = tf_keras.Model(model.inputs, [lyr.output for lyr in layers]
                           + [lyr.input for lyr in pre])
    vals = probe.predict(x.astype(np.float32), batch_size=512, verbose=0)
    if not isinstance(vals, list):
        vals = [vals]
    out = {lyr.name: np.asarray(v, np.float32) for lyr, v in zip(layers, vals)}
    linear = tf_keras.activations.get("linear")
    for lyr, xin in zip(pre, vals[len(layers):]):
        target = _pre_activation_target(lyr)
        act = target.activation
        target.activation = linear
        try:
            out[f"{lyr.name}:pre"] = np.asarray(lyr(tf.constant(np.asarray(xin, np.float32))),
                                                np.float32)
        finally:
            target.activation = act
    return out


def _float_weights(layer: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A layer's float kernels and biases (as its ``weight`` / ``bias`` variables)."""
    k = _kind(layer)
    inner = layer.layer if k == "TimeDistributed" else layer
    ws = [np.asarray(w, np.float64) for w in inner.get_weights()]
    if not ws:
        return [], []
    ik = _kind(inner)
    if ik in ("BatchNormalization", "QBatchNormalization"):
        return [], []  # (scale and shift: see _bn_weights)
    if "Separable" in ik:
        return ws[:2], ws[2:3] if getattr(inner, "use_bias", False) else []
    if ik == "Embedding":
        return ws[:1], []
    if ik in RECURRENT or k in RECURRENT:
        kern = [w for w in ws if w.ndim == 2]
        bias = [w for w in ws if w.ndim != 2]
        return kern, bias
    return ws[:1], ws[1:2] if getattr(inner, "use_bias", False) else []


def _bn_weights(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """A BatchNormalization's scale and shift (the values the frontend quantizes)."""
    from .frontends.keras import _bn_params, _qbn_params

    gamma, beta, mean, var = _bn_params(layer)
    if _kind(layer) == "QBatchNormalization":
        gamma, beta, mean, var = _qbn_params(layer, gamma, beta, mean, var)
    scale = gamma / np.sqrt(var + layer.epsilon)
    return scale, beta - mean * scale


def _input_name(model: Any) -> str:
    first = model.layers[0] if model.layers else None
    return first.name if first is not None and _kind(first) == "InputLayer" else "input"


def observe(model: Any, x: npt.ArrayLike | None, bits: int = DEFAULT_BITS,
            x_val: npt.ArrayLike | None = None) -> Calibration:
    """Run the float ``model`` on the calibration inputs ``x`` and choose its types (the
    rule of this module); keep its per-layer outputs on ``x_val`` (default ``x``) for
    the accuracy measurement. ``x`` None: only the outputs on ``x_val``."""
    check_bits(bits)
    xs = None if x is None else _checked(model, x, "calibration data")
    xv = xs if x_val is None else _checked(model, x_val, "validation data")
    assert xv is not None
    cal = Calibration(bits=bits, samples=0 if xs is None else len(xs))
    vals = run_float(model, xv if xs is None else xs)
    if xs is not None:
        _choose(model, cal, xs, vals)
    outs = vals if xv is xs or xs is None else run_float(model, xv)
    cal.outputs = {n: v for n, v in outs.items() if not n.endswith(":pre")}
    cal.y_float = np.asarray(model.predict(xv.astype(np.float32), batch_size=512, verbose=0),
                             np.float64)
    cal.x_val = xv
    return cal


def _choose(model: Any, cal: Calibration, xs: npt.NDArray[np.float64],
            vals: dict[str, npt.NDArray[np.float32]]) -> None:
    """The types of every calibrated variable (the rule of this module) into ``cal``."""
    bits = cal.bits
    name = _input_name(model)
    s = stats(xs)
    cal.stats[name] = {"input": s}
    cal.types[name] = {"input": type_for(s["lo"], s["hi"], bits, MARGIN_BITS)}
    for layer in model.layers:
        k = _kind(layer)
        if k == "InputLayer":
            continue
        t: dict[str, FixedType] = {}
        st: dict[str, dict[str, Any]] = {}
        if k in ("BatchNormalization", "QBatchNormalization"):
            scale, shift = _bn_weights(layer)
            kern, bias = [scale], [shift]
        else:
            kern, bias = _float_weights(layer)
        for var, arrays in (("weight", kern), ("bias", bias)):
            if arrays:
                v = np.concatenate([a.reshape(-1) for a in arrays])
                st[var] = stats(v)
                t[var] = type_for(st[var]["lo"], st[var]["hi"], bits, 0)
        pre = vals.get(f"{layer.name}:pre")
        inner = _kind(layer.layer) if k == "TimeDistributed" else k
        if pre is None and (inner in WEIGHTED or k in OUTPUT_RESULT):
            pre = vals[layer.name]  # no activation: the sum is the output
        if pre is not None:
            st["result"] = stats(pre)
            t["result"] = type_for(st["result"]["lo"], st["result"]["hi"], bits, MARGIN_BITS)
        if k in RECURRENT:
            cal.notes.append(f"{layer.name} ({k}): calibration does not see inside a recurrent "
                             "cell; its gate sums and states keep the configured result type")
        if t:
            cal.types[layer.name] = t
            cal.stats[layer.name] = st


def prepare(model: Any, cfg: Any) -> Calibration | None:
    """Calibration of ``model`` as ``cfg`` asks (``calibration``, ``bits``,
    ``validation``), its types set into ``cfg.calibrated``; None when it asks for none."""
    if cfg.calibration is None and cfg.validation is None:
        return None
    x = None if cfg.calibration is None else _data(cfg.calibration, "calibration data")
    xv = None if cfg.validation is None else _data(cfg.validation, "validation data")
    cal = observe(model, x, cfg.bits or DEFAULT_BITS, xv)
    if isinstance(cfg.validation, str):
        cal.validation_name = os.path.basename(cfg.validation)
    elif cfg.validation is not None:
        cal.validation_name = "the validation inputs"
    cfg.calibrated = cal.types
    return cal


def _data(v: Any, what: str) -> npt.NDArray[np.float64]:
    return load_array(v, what) if isinstance(v, (str, os.PathLike)) else as_inputs(v, what)


def _checked(model: Any, x: npt.ArrayLike, what: str) -> npt.NDArray[np.float64]:
    a = as_inputs(x, what)
    want = tuple(int(d) for d in model.input_shape[1:])
    if a.shape[1:] != want:
        raise CalibrationError(f"{what}: {a.shape[1:]} per sample; model {model.name} expects "
                               f"{want} (array shape (N, {', '.join(map(str, want))}))")
    return a
