"""nnfab: quantized, pruned Keras/QKeras networks to bit-exact HLS C++ and Verilog."""

__version__ = "0.1.0"
