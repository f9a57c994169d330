"""Export the Brevitas test zoo to QONNX (the ``.onnx`` files beside this script).

Small Brevitas 0.13 models with *default* quantiser settings (float scales learnt per
tensor or per output channel, as a Brevitas user gets them), seeded, with random
BatchNorm statistics so every float op matters, exported with ``export_qonnx``:

=================  =========================================================================
file               what it covers
=================  =========================================================================
mlp_float.onnx     QuantIdentity input (8 bit), QuantLinear (4-bit weights, one float
                   scale), BatchNorm1d, QuantReLU (4 bit, float scale), QuantLinear out
mlp_channel.onnx   per-output-channel float weight scales, a bias, QuantReLU, a final
                   float Softmax
mlp_bipolar.onnx   1-bit: binary input, binary weights (BipolarQuant), BatchNorm1d and
                   binary activations
conv_bn.onnx       QuantConv2d (per-channel scales) + BatchNorm2d + QuantReLU, MaxPool,
                   flatten, QuantLinear
=================  =========================================================================

Needs torch, brevitas and onnxoptimizer (not nnfab dependencies): ``pip install torch
brevitas==0.13.* onnxoptimizer``;
``python examples/brevitas_zoo/export.py [-o DIR]``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import torch
from brevitas import nn as qnn
from brevitas.export import export_qonnx
from brevitas.quant.binary import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def _bn_stats(model: nn.Module) -> nn.Module:
    """Random running statistics and affine parameters (seeded by the caller)."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c) * 2)
            m.running_var.copy_(torch.rand(c) * 4 + 0.25)
            m.weight.data.copy_(torch.randn(c))  # some negative: falling thresholds
            m.bias.data.copy_(torch.randn(c))
    return model.eval()


def mlp_float() -> tuple[nn.Module, tuple[int, ...]]:
    return nn.Sequential(
        qnn.QuantIdentity(bit_width=8, return_quant_tensor=True),
        qnn.QuantLinear(24, 16, bias=False, weight_bit_width=4),
        nn.BatchNorm1d(16),
        qnn.QuantReLU(bit_width=4, return_quant_tensor=True),
        qnn.QuantLinear(16, 5, bias=False, weight_bit_width=4),
    ), (1, 24)


class _Softmax(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            qnn.QuantIdentity(bit_width=6, return_quant_tensor=True),
            qnn.QuantLinear(16, 12, bias=True, weight_bit_width=3,
                            weight_scaling_per_output_channel=True),
            qnn.QuantReLU(bit_width=3, return_quant_tensor=True),
            qnn.QuantLinear(12, 4, bias=False, weight_bit_width=3,
                            weight_scaling_per_output_channel=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.body(x), dim=-1)


def mlp_channel() -> tuple[nn.Module, tuple[int, ...]]:
    return _Softmax(), (1, 16)


def mlp_bipolar() -> tuple[nn.Module, tuple[int, ...]]:
    return nn.Sequential(
        qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=True),
        qnn.QuantLinear(32, 16, bias=False, weight_quant=SignedBinaryWeightPerTensorConst),
        nn.BatchNorm1d(16),
        qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=True),
        qnn.QuantLinear(16, 4, bias=False, weight_quant=SignedBinaryWeightPerTensorConst),
    ), (1, 32)


def conv_bn() -> tuple[nn.Module, tuple[int, ...]]:
    return nn.Sequential(
        qnn.QuantIdentity(bit_width=8, return_quant_tensor=True),
        qnn.QuantConv2d(1, 4, 3, bias=False, weight_bit_width=4,
                        weight_scaling_per_output_channel=True),
        nn.BatchNorm2d(4),
        qnn.QuantReLU(bit_width=4, return_quant_tensor=True),
        nn.MaxPool2d(2),
        nn.Flatten(),
        qnn.QuantLinear(4 * 3 * 3, 5, bias=False, weight_bit_width=4),
    ), (1, 1, 8, 8)


MODELS: dict[str, Callable[[], tuple[nn.Module, tuple[int, ...]]]] = {
    "mlp_float": mlp_float, "mlp_channel": mlp_channel, "mlp_bipolar": mlp_bipolar,
    "conv_bn": conv_bn,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default=HERE, help="directory for the .onnx files")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for k, (name, make) in enumerate(MODELS.items()):
        torch.manual_seed(1000 + k)
        model, shape = make()
        model = _bn_stats(model)
        x = torch.randn(*shape)
        with torch.no_grad():
            model(x)  # initialise the scales from the weights
        path = os.path.join(a.out, f"{name}.onnx")
        export_qonnx(model, input_t=x, export_path=path, dynamo=False)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
