"""Write the shipped digits MLP as a QONNX model, the form Brevitas / FINN export.

Each QKeras quantizer becomes the QONNX ``Quant`` node that computes the same values
(``quantized_bits(b, i)``: signed, scale ``2^-(b-1-i)``; ``quantized_relu(b, i)``: a Relu,
then an unsigned Quant of scale ``2^-(b-i)``), on the input, the activations and every
weight and bias (the initializers hold QKeras's quantized values, on which each Quant is
the identity). ``nnfab`` converts both files to the same arithmetic, which
``tests/test_qonnx.py`` checks.

    python examples/digits_mlp/export_qonnx.py [-o examples/digits_mlp/digits_mlp.onnx]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

DOMAIN = "qonnx.custom_op.general"


def export(h5: str, out: str) -> None:
    import onnx
    import qkeras  # noqa: F401  (registers the QKeras layers)
    import tf_keras as keras
    from onnx import TensorProto, helper, numpy_helper
    from qkeras.utils import _add_supported_quantized_objects

    objs: dict = {}
    _add_supported_quantized_objects(objs)
    model = keras.models.load_model(h5, custom_objects=objs, compile=False)
    nodes, inits = [], []

    def const(name: str, v: np.ndarray | float) -> str:
        inits.append(numpy_helper.from_array(np.asarray(v, np.float32), name))
        return name

    def quant(x: str, out: str, q: object) -> str:
        kind = type(q).__name__
        bits, integer = int(q.bits), int(q.integer)
        if kind == "quantized_bits":
            assert q.keep_negative and not q.symmetric and q.alpha in (1, 1.0, None)
            signed, frac = 1, bits - 1 - integer
        else:
            assert kind == "quantized_relu" and not q.negative_slope
            signed, frac = 0, bits - integer
        nodes.append(helper.make_node(
            "Quant", [x, const(out + "_scale", 2.0**-frac), const(out + "_zeropt", 0.0),
                      const(out + "_bits", float(bits))], [out], name=out + "_quant",
            domain=DOMAIN, signed=signed, narrow=0, rounding_mode="ROUND"))
        return out

    x = "input"
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "QActivation":
            q = layer.quantizer
            if type(q).__name__ == "quantized_relu":
                nodes.append(helper.make_node("Relu", [x], [layer.name + "_relu"],
                                              name=layer.name + "_relu"))
                x = layer.name + "_relu"
            x = quant(x, layer.name, q)
        elif kind == "QDense":
            k, b = layer.get_weights()
            kq = np.asarray(layer.kernel_quantizer_internal(k))
            bq = np.asarray(layer.bias_quantizer_internal(b))
            w = quant(const(layer.name + "_W", kq), layer.name + "_Wq",
                      layer.kernel_quantizer_internal)
            bb = quant(const(layer.name + "_b", bq), layer.name + "_bq",
                       layer.bias_quantizer_internal)
            nodes.append(helper.make_node("MatMul", [x, w], [layer.name + "_mm"],
                                          name=layer.name))
            nodes.append(helper.make_node("Add", [layer.name + "_mm", bb], [layer.name + "_out"],
                                          name=layer.name + "_bias"))
            x = layer.name + "_out"
        else:
            raise SystemExit(f"layer {layer.name} ({kind}): not in this export")
    n_in, n_out = int(model.input_shape[-1]), int(model.output_shape[-1])
    g = helper.make_graph(nodes, "digits_mlp",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, n_in])],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, n_out])],
                          inits)
    onnx.save(helper.make_model(g, producer_name="nnfab examples/digits_mlp/export_qonnx.py",
                                opset_imports=[helper.make_opsetid("", 13),
                                               helper.make_opsetid(DOMAIN, 1)]), out)


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("-i", "--input", default=os.path.join(here, "digits_mlp.h5"))
    ap.add_argument("-o", "--output", default=os.path.join(here, "digits_mlp.onnx"))
    a = ap.parse_args()
    export(a.input, a.output)
    print(f"saved {a.output}")


if __name__ == "__main__":
    main()
