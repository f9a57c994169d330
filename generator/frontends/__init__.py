"""Model frontends: a model file to the nnfab IR, chosen by the file's kind.

``.onnx`` files are QONNX models (:mod:`.qonnx`); ``.h5`` / ``.keras`` files and
SavedModel directories are tf-keras / QKeras models (:mod:`.keras`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..config import Config
    from ..ir import Graph


def is_onnx(path: str) -> bool:
    return path.lower().endswith(".onnx")


def convert_file(path: str, cfg: Config) -> tuple[Graph, dict[str, float]]:
    """Load and convert a model file; returns the graph and timings (seconds)."""
    if is_onnx(path):
        from . import qonnx

        return qonnx.convert_file(path, cfg)
    from . import keras

    return keras.convert_file(path, cfg)


def source_predict_file(path: str, x: np.ndarray) -> np.ndarray:
    """The source model's own outputs for ``x`` (float64): QKeras ``predict`` or the
    QONNX execution."""
    if is_onnx(path):
        from . import qonnx

        return qonnx.predict(path, x)
    from .keras import load_model

    return source_predict(load_model(path), x)


def source_predict(model: Any, x: np.ndarray) -> np.ndarray:
    """A Keras model's own float32 ``predict`` as float64."""
    y = model.predict(np.asarray(x, dtype=np.float32), batch_size=1024, verbose=0)
    return np.asarray(y, dtype=np.float64)
