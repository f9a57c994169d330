"""Handlers of the Keras convolution family: Conv1D/2D (and QKeras's), depthwise and
separable convolutions, pooling, global pooling, zero padding, cropping and
upsampling (channels-last tensors)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...ir import Conv, Crop, GlobalPool, Pad, Pool, Tensor, Upsample
from .common import FrontendError
from .registry import keras_handler

if TYPE_CHECKING:
    from .builder import Builder

CONV_LAYERS = ("Conv1D", "Conv2D", "QConv1D", "QConv2D", "DepthwiseConv1D", "DepthwiseConv2D",
               "QDepthwiseConv2D")
SEPARABLE_LAYERS = ("SeparableConv1D", "SeparableConv2D", "QSeparableConv1D", "QSeparableConv2D")
POOL_LAYERS = ("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
               "QAveragePooling2D")
GLOBAL_POOL_LAYERS = ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
                      "GlobalMaxPooling2D")


def conv_checks(b: Builder, layer: Any, rank: int) -> None:
    """What every convolution layer needs (one line naming the layer otherwise)."""
    name = layer.name
    assert b.x is not None
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
    if len(b.x.shape) != rank + 1:
        raise FrontendError(f"layer {name}: expected a {rank + 1}-D input, got {b.x.shape}")


@keras_handler(*CONV_LAYERS)
def conv(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """A convolution (a depthwise one: Conv(depthwise)) with its exact sums, then as a
    Dense: optional casts and the layer's activation."""
    name = layer.name
    c = type(layer).__name__
    assert b.x is not None
    rank = 1 if "1D" in c else 2
    depthwise = "Depthwise" in c
    conv_checks(b, layer, rank)
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
    pads = (_same_pads(tuple(b.x.shape[:-1]), k, st) if layer.padding == "same"
            else (0,) * (2 * rank))
    weights = b.weights_of(layer, kernel, bias, kq, bq)
    filters = int(b.x.shape[-1]) if depthwise else int(layer.filters)
    fully_q = kq is not None and (bias is None or bq is not None)
    node = Conv(b.uniq(name), [b.x], weights, filters=filters, kernel=k, strides=st,
                pads=pads, depthwise=depthwise, source=name,
                # the model-wide reuse/strategy are Dense defaults; a Conv takes only
                # its own per-layer setting (checked by the folding pass)
                reuse=b.cfg.layer_reuse(name) or 1,
                strategy=b.cfg.layer_strategy(name) or "latency")
    b.finish_weighted(layer, node, fully_q)


@keras_handler(*SEPARABLE_LAYERS)
def separable(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """A separable conv as its two convolutions: a depthwise Conv (no bias) whose exact
    sums feed a 1x1 Conv with the bias, as the layer computes them (no rounding between
    the two; QKeras's float32 is exact while the sums fit its 24-bit mantissa)."""
    name = layer.name
    c = type(layer).__name__
    assert b.x is not None
    rank = 1 if "1D" in c else 2
    conv_checks(b, layer, rank)
    ws = layer.get_weights()
    dk, pk = ws[0], ws[1]
    bias = ws[2] if layer.use_bias else None
    quantized = c.startswith("Q")
    dq = getattr(layer, "depthwise_quantizer_internal", None) if quantized else None
    pq = getattr(layer, "pointwise_quantizer_internal", None) if quantized else None
    bq = getattr(layer, "bias_quantizer_internal", None) if quantized else None
    k = tuple(int(v) for v in layer.kernel_size)
    st = tuple(int(v) for v in layer.strides)
    pads = (_same_pads(tuple(b.x.shape[:-1]), k, st) if layer.padding == "same"
            else (0,) * (2 * rank))
    dw = b.weights_of(layer, dk, None, dq, None)
    reuse = b.cfg.layer_reuse(name) or 1
    strategy = b.cfg.layer_strategy(name) or "latency"
    node = Conv(b.uniq(name + "_dw"), [b.x], dw, filters=int(b.x.shape[-1]),
                kernel=k, strides=st, pads=pads, depthwise=True, source=name,
                reuse=reuse, strategy=strategy)
    b.add_exact(node, float32_source=dq is not None)
    pw = b.weights_of(layer, pk, bias, pq, bq)
    node = Conv(b.uniq(name + "_pw"), [b.x], pw, filters=int(layer.filters),
                kernel=(1,) * rank, strides=(1,) * rank, pads=(0,) * (2 * rank),
                source=name, reuse=reuse, strategy=strategy)
    fully_q = dq is not None and pq is not None and (bias is None or bq is not None)
    b.finish_weighted(layer, node, fully_q)


@keras_handler(*POOL_LAYERS)
def pool(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    name = layer.name
    c = type(layer).__name__
    assert b.x is not None
    rank = 1 if "1D" in c else 2
    k = tuple(int(v) for v in (layer.pool_size if rank == 2 else (layer.pool_size[0],)))
    st = tuple(int(v) for v in (layer.strides if rank == 2 else (layer.strides[0],)))
    mode = "max" if c.startswith("Max") else "avg"
    if layer.padding == "same":
        if mode == "avg":
            raise FrontendError(f"layer {name}: AveragePooling with padding='same' is not "
                                "supported; supported: padding='valid'")
        pads = _same_pads(tuple(b.x.shape[:-1]), k, st)
    else:
        pads = (0,) * (2 * rank)
    node = Pool(b.uniq(name), [b.x], mode=mode, kernel=k, strides=st, pads=pads,
                source=name)
    if mode == "max":
        b.add(node, b.x.ftype)
    else:
        b.add(node, b.mean_type(name, int(np.prod(k))))


@keras_handler(*GLOBAL_POOL_LAYERS)
def global_pool(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    name = layer.name
    c = type(layer).__name__
    assert b.x is not None
    mode = "max" if "Max" in c else "avg"
    if getattr(layer, "keepdims", False):
        raise FrontendError(f"layer {name}: keepdims=True is not supported")
    node = GlobalPool(b.uniq(name), [b.x], mode=mode, source=name)
    if mode == "max":
        b.add(node, b.x.ftype)
    else:
        b.add(node, b.mean_type(name, int(np.prod(b.x.shape[:-1]))))


@keras_handler("ZeroPadding1D", "ZeroPadding2D")
def zero_padding(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    assert b.x is not None
    pads = _zero_pads(layer, type(layer).__name__)
    b.add(Pad(b.uniq(layer.name), [b.x], pads=pads, source=layer.name), b.x.ftype)


@keras_handler("Cropping1D", "Cropping2D")
def cropping(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    assert b.x is not None
    crops = _crops(layer, type(layer).__name__)
    b.add(Crop(b.uniq(layer.name), [b.x], crops=crops, source=layer.name), b.x.ftype)


@keras_handler("UpSampling1D", "UpSampling2D")
def upsampling(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """Nearest-neighbour upsampling."""
    assert b.x is not None
    c, name = type(layer).__name__, layer.name
    if c == "UpSampling2D" and getattr(layer, "interpolation", "nearest") != "nearest":
        raise FrontendError(f"layer {name}: UpSampling2D supports interpolation='nearest'")
    f = (int(layer.size),) if c == "UpSampling1D" else tuple(int(v) for v in layer.size)
    b.add(Upsample(b.uniq(name), [b.x], factors=f, source=name), b.x.ftype)


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
