"""Loading Keras 2 (tf-keras) / QKeras model files: TensorFlow imported with the legacy
Keras QKeras needs, QKeras's custom objects, one-line errors for unreadable files."""

from __future__ import annotations

import os
import warnings
from typing import Any

from .common import FrontendError


def import_tf() -> Any:
    """Import TensorFlow with the legacy (tf-keras) Keras that QKeras needs."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["TF_USE_LEGACY_KERAS"] != "1":
        raise FrontendError("TF_USE_LEGACY_KERAS must be 1 for QKeras models (unset it)")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    from ...console import native_stderr_silenced

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
