"""Handlers of the Keras core layers: the input, Dense (also inside TimeDistributed),
activations and activation quantisers, BatchNormalization, Dropout, Flatten / Reshape,
Permute and the merges (Add, Concatenate, Subtract, Maximum, Minimum, Average,
Multiply)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...fixed import FixedType
from ...ir import (
    Add,
    Concat,
    Conv,
    Dense,
    Input,
    LeakyRelu,
    Merge,
    Node,
    Relu,
    Reshape,
    ScaleShift,
    Tensor,
    Transpose,
)
from .common import FrontendError, _po2_shift
from .quantizers import activation_quantizer, quantize_float
from .registry import keras_handler

if TYPE_CHECKING:
    from .builder import Builder

#: Keras merge layers built as ir.Merge (their mode)
MERGE_LAYERS = {"Subtract": "sub", "Maximum": "max", "Minimum": "min", "Average": "avg",
                "Multiply": "mul"}


@keras_handler("InputLayer", inputs="none")
def input_layer(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """The model's input, typed as the QActivation right after it, as an index (read by
    an Embedding) or by the ``input`` precision."""
    shape = tuple(int(d) for d in layer.batch_input_shape[1:]) if hasattr(
        layer, "batch_input_shape") else tuple(int(d) for d in layer.input_shape[0][1:])
    if any(d is None for d in shape):
        raise FrontendError(f"layer {layer.name}: input shape {shape} must be fully known")
    t = None
    if b.first_q is not None:
        kind, arg = activation_quantizer(layer.name, b.first_q)
        if kind in ("quantize", "relu_quantize"):
            t = arg
    if t is None:
        t = b.index_type(layer.name, b.next_layer)
    if t is None:
        t = b.need(layer.name, "input")
    b.add(Input(b.uniq(layer.name), [], shape=shape, source=layer.name), t)


@keras_handler("Dense", "QDense")
def dense_layer(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    dense(b, layer)


def dense(b: Builder, layer: Any, name: str | None = None) -> None:
    """A Dense / QDense ``layer`` (``name``: the layer it is known by, when wrapped)."""
    name = name or layer.name
    quantized = type(layer).__name__ == "QDense"
    kernel, *rest = layer.get_weights()
    bias = rest[0] if rest and layer.use_bias else None
    kq = getattr(layer, "kernel_quantizer_internal", None) if quantized else None
    bq = getattr(layer, "bias_quantizer_internal", None) if quantized else None
    assert b.x is not None
    fully_q = kq is not None and (bias is None or bq is not None)
    rank = len(b.x.shape) - 1
    if rank:
        # Keras applies a Dense on a sequence or an image to each position: a 1x1 Conv
        if rank > 2:
            raise FrontendError(
                f"layer {name}: Dense on a {rank + 1}-D input is not supported; "
                "supported: a vector, a (steps, features) sequence or an image")
        lc = b.cfg.layers.get(name)
        for key in ("multipliers", "skip_zeros"):
            if lc is not None and getattr(lc, key) is not None:
                raise FrontendError(
                    f"config layers.{name}.{key}: layer {name} is a Dense on a "
                    f"{rank + 1}-D input (a 1x1 Conv), which has no {key}; it applies to "
                    "a Dense on a vector; remove it")
        kernel = kernel.reshape((1,) * rank + kernel.shape)
        conv = Conv(b.uniq(name), [b.x],
                    b.weights_of(layer, kernel, bias, kq, bq, name),
                    filters=int(layer.units), kernel=(1,) * rank, strides=(1,) * rank,
                    pads=(0,) * (2 * rank), depthwise=False, source=name,
                    reuse=b.cfg.layer_reuse(name) or 1,
                    strategy=b.cfg.layer_strategy(name) or "latency")
        b.finish_weighted(layer, conv, fully_q, name)
        return
    ws = b.weights_of(layer, kernel, bias, kq, bq, name)
    node = Dense(b.uniq(name), [b.x], ws, units=int(layer.units), source=name,
                 reuse=b.cfg.reuse_for(name), strategy=b.cfg.strategy_for(name),
                 multipliers=b.cfg.multipliers_for(name),
                 skip_zeros=b.cfg.skip_zeros_for(
                     name, b.cfg.strategy_for(name) == "resource"
                     and (isinstance(b.x.producer, Relu) or not b.x.ftype.signed)))
    b.finish_weighted(layer, node, fully_q, name)


@keras_handler("QActivation")
def qactivation(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    b.quantizer(layer.name, layer.quantizer)


@keras_handler("Activation", notes={"Activation": "linear, relu, sigmoid, tanh, softmax"})
def activation(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    b.keras_activation(layer.name, layer.activation)


@keras_handler("ReLU", notes={"ReLU": "plain"})
def relu(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    _plain_relu(layer)
    b.keras_activation(layer.name, _Named("relu"))


@keras_handler("LeakyReLU", notes={"LeakyReLU": "alpha a power of two"})
def leaky_relu(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """Keras ``LeakyReLU(alpha=2**-k)``: exact (the negative half shifted by k bits)."""
    assert b.x is not None
    alpha = float(np.float32(layer.alpha))
    if alpha == 0.0:
        b.add(Relu(b.uniq(layer.name), [b.x], source=layer.name), b.x.ftype)
        return
    k = _po2_shift(alpha)
    if k is None or k < 1:
        raise FrontendError(
            f"layer {layer.name}: LeakyReLU alpha={layer.alpha:g} is not supported; "
            "supported: a power of two below 1 (0.5, 0.25, 0.125, ...: exact shifts), or "
            "a QActivation quantized_relu(bits, integer, negative_slope=2^-k)")
    t = b.x.ftype
    if not t.signed or isinstance(b.x.producer, Relu):  # never negative: the identity
        return
    b.add(LeakyRelu(b.uniq(layer.name), [b.x], shift=k, neg=t, source=layer.name),
          FixedType(t.width + k, t.integer, True))


@keras_handler("Softmax")
def softmax(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """Softmax over the last axis."""
    assert b.x is not None
    if _axes(layer.axis) not in ((-1,), (len(b.x.shape),)):
        raise FrontendError(f"layer {layer.name}: Softmax axis {list(_axes(layer.axis))} is "
                            "not supported; supported: the last axis (-1)")
    b.keras_activation(layer.name, _Named("softmax"))


@keras_handler("BatchNormalization", "QBatchNormalization")
def batchnorm(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """A float ScaleShift (folded into the Dense / Conv before it by ``fold_batchnorm``);
    a QBatchNormalization's parameters through its quantizers first."""
    name = layer.name
    assert b.x is not None
    if _axes(layer.axis) not in ((-1,), (len(b.x.shape),)):
        raise FrontendError(f"layer {name}: BatchNormalization axis "
                            f"{list(_axes(layer.axis))} is not supported; supported: the "
                            "last (channel) axis, -1")
    gamma, beta, mean, var = _bn_params(layer)
    if type(layer).__name__ == "QBatchNormalization":
        gamma, beta, mean, var = _qbn_params(layer, gamma, beta, mean, var)
    scale = gamma / np.sqrt(var + layer.epsilon)
    shift = beta - mean * scale
    assert b.x is not None
    st = b.need(name, "weight")
    bt = b.need(name, "bias")
    node = ScaleShift(b.uniq(name), [b.x],
                      {"scale": quantize_float(scale, st), "shift": quantize_float(shift, bt)},
                      source=name, exact=False)
    b.add(node, b.need(name, "result"))
    b.notes.append(f"{name}: float BatchNormalization quantized to {st} / {bt}")


@keras_handler("Dropout")
def dropout(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """Dropped (inference)."""


@keras_handler("Flatten", "Reshape")
def reshape(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    assert b.x is not None
    shape = tuple(int(d) for d in layer.output_shape[1:])
    b.add(Reshape(b.uniq(layer.name), [b.x], target_shape=shape, source=layer.name),
          b.x.ftype)


@keras_handler("Permute")
def permute(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    assert b.x is not None
    perm = tuple(int(d) - 1 for d in layer.dims)
    b.add(Transpose(b.uniq(layer.name), [b.x], perm=perm, source=layer.name), b.x.ftype)


@keras_handler("TimeDistributed", notes={"TimeDistributed": "of Dense / QDense"})
def time_distributed(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """A Dense / QDense on a (steps, features) sequence: each step."""
    assert b.x is not None
    inner = type(layer.layer).__name__
    if inner not in ("Dense", "QDense") or len(b.x.shape) != 2:
        raise FrontendError(f"layer {layer.name}: TimeDistributed({inner}) on a "
                            f"{len(b.x.shape)}-D input is not supported; supported: "
                            "TimeDistributed(Dense / QDense) on a (steps, features) "
                            "sequence")
    dense(b, layer.layer, layer.name)


@keras_handler("Add", "Concatenate", *MERGE_LAYERS, inputs="several",
               notes={"Average": "of 2^k inputs"})
def merge(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """Add / Concatenate (channels) / a Merge of its mode, exact."""
    name = layer.name
    c = type(layer).__name__
    if c == "Concatenate" and int(layer.axis) not in (-1, len(ins[0].shape)):
        raise FrontendError(f"layer {name}: Concatenate supports the channel axis (-1) only")
    if c in MERGE_LAYERS:
        mode = MERGE_LAYERS[c]
        n = len(ins)
        if mode == "avg" and n & (n - 1):
            raise FrontendError(f"layer {name}: Average of {n} inputs is not supported; "
                                "supported: 2, 4, 8, ... inputs (an exact shift)")
        node: Node = Merge(b.uniq(name), ins, mode=mode, source=name)
    else:
        node = (Add if c == "Add" else Concat)(b.uniq(name), ins, source=name)
    b.add_exact(node, float32_source=True)


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
