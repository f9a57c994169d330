"""Train the CNN example: a small QConv2D classifier on scikit-learn's 8x8 digits.

8x8x1 input (pixel / 16) -> QConv2D 8 3x3 'same' -> quantized_relu -> MaxPool 2
-> QConv2D 8 3x3 'valid' -> quantized_relu -> Flatten -> QDense 10. 8-bit weights
(``quantized_bits(8,0,alpha=1)``), 50 % magnitude-pruned and fine-tuned with the mask
held. A float model of the same shape is trained alongside for comparison. Seeded; needs
no download. Writes ``digits_cnn.h5`` (the QKeras model) and ``accuracy.json`` (the
float and QKeras test accuracies that ``accuracy.py`` prints beside nnfab's).

    python examples/digits_cnn/train.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "digits_mlp"))

from train import apply_masks  # the MLP example's pruning helpers

SEED = 4321
SPARSITY = 0.5


def data() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    y = d.target.astype(np.int64)
    return tuple(train_test_split(x, y, test_size=0.25, random_state=SEED, stratify=y))


def build(quantized: bool) -> object:
    import tf_keras as keras
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    if not quantized:
        return keras.Sequential([
            keras.layers.InputLayer(input_shape=(8, 8, 1)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1"),
            keras.layers.MaxPooling2D(2, name="mp"),
            keras.layers.Conv2D(8, 3, activation="relu", name="c2"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(10, name="out"),
        ], name="digits_cnn_float")
    w = quantized_bits(8, 0, alpha=1)
    b = quantized_bits(8, 2, alpha=1)
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(8, 8, 1), name="pixels"),
        QActivation(quantized_bits(8, 1, alpha=1), name="q_in"),
        QConv2D(8, 3, padding="same", kernel_quantizer=w, bias_quantizer=b, name="c1"),
        QActivation(quantized_relu(8, 3), name="r1"),
        keras.layers.MaxPooling2D(2, name="mp"),
        QConv2D(8, 3, kernel_quantizer=w, bias_quantizer=b, name="c2"),
        QActivation(quantized_relu(8, 3), name="r2"),
        keras.layers.Flatten(name="flat"),
        QDense(10, kernel_quantizer=w, bias_quantizer=b, name="out"),
    ], name="digits_cnn")


def masks_of(model: object, sparsity: float) -> dict[str, np.ndarray]:
    masks = {}
    for layer in model.layers:  # type: ignore[attr-defined]
        if type(layer).__name__ in ("QDense", "QConv2D"):
            k = layer.get_weights()[0]
            masks[layer.name] = (np.abs(k) > np.quantile(np.abs(k), sparsity)).astype(np.float32)
    return masks


def fit(model: object, xtr: np.ndarray, ytr: np.ndarray, epochs: int, lr: float,
        callbacks: list | None = None) -> None:
    import tf_keras as keras

    model.compile(optimizer=keras.optimizers.Adam(lr),  # type: ignore[attr-defined]
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(xtr, ytr, epochs=epochs, batch_size=64, verbose=0,  # type: ignore[attr-defined]
              callbacks=callbacks or [])


def accuracy(model: object, x: np.ndarray, y: np.ndarray) -> float:
    p = model.predict(x, verbose=0)  # type: ignore[attr-defined]
    return float(np.mean(np.argmax(p, axis=1) == y))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", default=os.path.join(HERE, "digits_cnn.h5"))
    ap.add_argument("--epochs", type=int, default=40)
    a = ap.parse_args()

    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    xtr, xte, ytr, yte = data()

    float_model = build(False)
    fit(float_model, xtr, ytr, a.epochs, 3e-3)

    model = build(True)
    fit(model, xtr, ytr, a.epochs, 3e-3)
    masks = masks_of(model, SPARSITY)
    apply_masks(model, masks)

    class KeepPruned(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            apply_masks(self.model, masks)

    fit(model, xtr, ytr, a.epochs // 2, 1e-3, [KeepPruned()])
    apply_masks(model, masks)
    model.save(a.output)
    acc = {"float": accuracy(float_model, xte, yte), "qkeras": accuracy(model, xte, yte),
           "test_rows": len(yte), "seed": SEED, "sparsity": SPARSITY}
    with open(os.path.join(os.path.dirname(a.output), "accuracy.json"), "w") as f:
        json.dump(acc, f, indent=1)
    print(f"saved {a.output}: float {acc['float']:.4f}, QKeras {acc['qkeras']:.4f} "
          f"({int(100 * SPARSITY)} % pruned)")


if __name__ == "__main__":
    main()
