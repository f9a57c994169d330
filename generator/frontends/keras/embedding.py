"""Handler of the Keras ``Embedding`` layer: one table row per index (the input read by
it is an index, ``ap_ufixed<b, b, TRN, SAT>``, unless configured; see
:meth:`.builder.Builder.index_type`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...ir import Embedding, Tensor
from .common import FrontendError, _index_bits
from .quantizers import exact_grid, quantize_float
from .registry import keras_handler

if TYPE_CHECKING:
    from .builder import Builder


@keras_handler("Embedding")
def embedding(b: Builder, layer: Any, ins: list[Tensor]) -> None:
    """Keras ``Embedding``: one table row per index. Values all on the layer's
    ``weight`` type's grid are kept exactly, in the narrowest type holding them (as a
    quantised kernel is: the layers after it get the narrower sums); others are
    quantised to the ``weight`` type, with a note."""
    assert b.x is not None
    name = layer.name
    if getattr(layer, "mask_zero", False):
        raise FrontendError(f"layer {name}: Embedding with mask_zero=True is not supported "
                            "(masking changes the layers after it); supported: mask_zero=False")
    if b.cfg.io != "parallel":
        raise FrontendError(f"layer {name}: Embedding is supported with --io parallel "
                            f"(not {b.cfg.io})")
    tin = b.x.ftype
    v = int(layer.input_dim)
    if tin.frac < 0 or tin.max_value < v - 1:
        raise FrontendError(
            f"layer {name}: its input type {tin.cpp()} does not hold every index 0..{v - 1}"
            f"; set the input precision to ap_uint<{_index_bits(v)}> or wider")
    table = np.asarray(layer.get_weights()[0], dtype=np.float64)
    t = b.need(name, "weight")
    w = quantize_float(table, t)
    exact = bool(np.array_equal(t.to_float(w.data), table))
    if exact:
        narrow = exact_grid(name, "embeddings", table)
        if narrow.ftype.width < t.width:
            w, t = narrow, narrow.ftype
    else:
        b.notes.append(f"{name}: float embeddings quantized to {t}")
    b.add(Embedding(b.uniq(name), [b.x], {"table": w}, index_shift=tin.frac,
          source=name, exact=exact), t)

