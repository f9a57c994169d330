"""Print the digits CNN's test accuracy: float Keras, QKeras, and nnfab's hardware.

The hardware figure is the HLS C-simulation of the converted project OUT on the whole
test split (bit-exact with the reference and the RTL, as ``nnfab verify OUT`` shows);
the float and QKeras figures come from ``accuracy.json`` written by ``train.py``.

    python examples/digits_cnn/accuracy.py OUT
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from generator import project, reference
    from generator.backends.hls import csim

    out = sys.argv[1]
    with open(os.path.join(HERE, "accuracy.json")) as f:
        acc = json.load(f)
    d = load_digits()
    x = (d.data / 16.0).reshape(-1, 8, 8, 1)
    _, xte, _, yte = train_test_split(x, d.target, test_size=0.25, random_state=acc["seed"],
                                      stratify=d.target)
    g = project.load(out)
    y_hw = csim.run(g, out, xte)
    assert np.array_equal(y_hw, reference.predict(g, xte)), "C-sim differs from the reference"
    hw = float(np.mean(np.argmax(y_hw, axis=1) == yte))
    print(f"digits CNN test accuracy on {len(yte)} images: float Keras {acc['float']:.4f}, "
          f"QKeras {acc['qkeras']:.4f}, nnfab hardware (C-sim = reference) {hw:.4f}")


if __name__ == "__main__":
    main()
