"""A tf-keras / QKeras model (in memory or a file) to the nnfab IR: the checks of the
configuration against the model, the conversion (:class:`.builder.Builder`) and the
notes and metadata the graph carries."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ...config import Config
from ...ir import Graph
from .builder import Builder
from .common import FrontendError
from .conv import CONV_LAYERS, SEPARABLE_LAYERS
from .loading import import_tf, load_model
from .precision import check_types_read, uniform_note
from .recurrent import FLOAT_RNN_LAYERS, RNN_LAYERS


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
    b = Builder(model, cfg)
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

