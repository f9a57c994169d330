"""Train the shipped example: a pruned 8-bit QKeras MLP on scikit-learn's 8x8 digits.

64 inputs (pixel / 16, exact on an 8-bit grid) -> QDense 32 -> quantized_relu(8,3)
-> QDense 10 (logits). Weights 8-bit ``quantized_bits(8,0,alpha=1)``, magnitude-pruned to
75 % zeros and fine-tuned with the mask held fixed. Seeded; needs no download.

    python examples/digits_mlp/train.py [-o examples/digits_mlp/digits_mlp.h5]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

SEED = 1234
SPARSITY = 0.75


def data() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    return tuple(train_test_split(x, y, test_size=0.25, random_state=SEED, stratify=y))


def build() -> object:
    import tf_keras as keras
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    return keras.Sequential(
        [
            keras.layers.InputLayer(input_shape=(64,), name="pixels"),
            QActivation(quantized_bits(8, 1, alpha=1), name="q_in"),
            QDense(32, kernel_quantizer=quantized_bits(8, 0, alpha=1),
                   bias_quantizer=quantized_bits(8, 2, alpha=1), name="fc1"),
            QActivation(quantized_relu(8, 3), name="relu1"),
            QDense(10, kernel_quantizer=quantized_bits(8, 0, alpha=1),
                   bias_quantizer=quantized_bits(8, 2, alpha=1), name="fc2"),
        ],
        name="digits_mlp",
    )


def prune_masks(model: object, sparsity: float) -> dict[str, np.ndarray]:
    masks = {}
    for layer in model.layers:  # type: ignore[attr-defined]
        if type(layer).__name__ == "QDense":
            k = layer.get_weights()[0]
            thr = np.quantile(np.abs(k), sparsity)
            masks[layer.name] = (np.abs(k) > thr).astype(np.float32)
    return masks


def apply_masks(model: object, masks: dict[str, np.ndarray]) -> None:
    for layer in model.layers:  # type: ignore[attr-defined]
        if layer.name in masks:
            w = layer.get_weights()
            w[0] = w[0] * masks[layer.name]
            layer.set_weights(w)


def main() -> None:
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("-o", "--output", default=os.path.join(here, "digits_mlp.h5"))
    ap.add_argument("--epochs", type=int, default=60)
    a = ap.parse_args()

    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    xtr, xte, ytr, yte = data()
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=a.epochs, batch_size=64, verbose=0)
    masks = prune_masks(model, SPARSITY)
    apply_masks(model, masks)

    class KeepPruned(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            apply_masks(self.model, masks)

    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=a.epochs // 2, batch_size=64, verbose=0, callbacks=[KeepPruned()])
    apply_masks(model, masks)
    acc = float(np.mean(np.argmax(model.predict(xte, verbose=0), axis=1) == yte))
    zeros = sum(int((m == 0).sum()) for m in masks.values())
    total = sum(m.size for m in masks.values())
    model.save(a.output)
    print(f"saved {a.output}: test accuracy {acc:.4f}, {100 * zeros / total:.1f} % weights pruned")


if __name__ == "__main__":
    main()
