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

The package, by layer family: :mod:`.core`, :mod:`.conv`, :mod:`.recurrent` and
:mod:`.embedding` hold the layers' handlers, each registered for its Keras class names
with :func:`.registry.keras_handler`; :mod:`.builder` walks a model's layers and
dispatches each to its handler; :mod:`.quantizers` maps QKeras quantisers to fixed-point
types; :mod:`.convert` and :mod:`.loading` are the entry points.
"""

from __future__ import annotations

# the handler modules first, in this order: the supported-layer list in a refusal names
# the layers in the order they register (the input and Dense first)
from . import core, conv, recurrent, embedding  # noqa: F401  isort: skip
from .common import (
    FrontendError,
    _po2_shift,
    _safe,
    add_exact,
    float32_exact,
    unique_name,
)
from .convert import convert_file, from_model
from .core import _bn_params, _qbn_params
from .loading import import_tf, load_model
from .precision import TypeReads, check_types_read
from .quantizers import exact_grid, quantize_float, threshold_steps, threshold_weights

__all__ = [
    "FrontendError",
    "TypeReads",
    "_bn_params",
    "_po2_shift",
    "_qbn_params",
    "_safe",
    "add_exact",
    "check_types_read",
    "convert_file",
    "exact_grid",
    "float32_exact",
    "from_model",
    "import_tf",
    "load_model",
    "quantize_float",
    "threshold_steps",
    "threshold_weights",
    "unique_name",
]
