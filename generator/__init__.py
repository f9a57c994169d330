"""nnfab: quantized, pruned Keras/QKeras networks to bit-exact HLS C++ and Verilog.

The Python API (:mod:`generator.api`): ``convert``, ``load`` and the ``Project`` they
return (``predict``, ``csim``, ``rtlsim``, ``verify``, ``report``).
"""

from ._version import __version__
from .api import Project, Verification, convert, load

__all__ = ["Project", "Verification", "__version__", "convert", "load"]
