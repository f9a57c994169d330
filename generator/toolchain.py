"""Locate the external C++ pieces nnfab compiles against (never vendored into the repo).

The Xilinx arbitrary-precision headers (``ap_fixed.h``, ``ap_int.h``, ...) are taken
from a Vitis HLS install when ``$XILINX_HLS`` is set, and otherwise from the copy that
ships inside the installed ``hls4ml`` package (``hls4ml/templates/vivado/ap_types``).
Both the differential tests of :mod:`generator.fixed` and the HLS C-simulation use
:func:`ap_types_include_dir` to get the ``-I`` directory.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["ToolchainError", "ap_types_include_dir"]

_HLS4ML_AP_TYPES = ("templates", "vivado", "ap_types")


class ToolchainError(RuntimeError):
    """An external tool or header that nnfab needs is missing."""


def ap_types_include_dir() -> Path:
    """Directory holding ``ap_fixed.h``: ``$XILINX_HLS/include``, else hls4ml's ap_types.

    Raises
    ------
    ToolchainError
        When ``$XILINX_HLS`` is set but has no ``include/ap_fixed.h``, or when it is
        unset and hls4ml (with its ``ap_types`` headers) is not installed.
    """
    xilinx = os.environ.get("XILINX_HLS")
    if xilinx:
        inc = Path(xilinx).expanduser() / "include"
        if (inc / "ap_fixed.h").is_file():
            return inc
        raise ToolchainError(
            f"XILINX_HLS={xilinx} has no include/ap_fixed.h: point XILINX_HLS at a Vitis "
            "HLS install (the directory holding include/), or unset it to use hls4ml's headers"
        )
    spec = importlib.util.find_spec("hls4ml")  # locates without importing hls4ml
    for loc in (spec.submodule_search_locations or []) if spec else []:
        inc = Path(loc).joinpath(*_HLS4ML_AP_TYPES)
        if (inc / "ap_fixed.h").is_file():
            return inc
    raise ToolchainError(
        "ap_fixed.h not found: set XILINX_HLS to a Vitis HLS install, or install hls4ml "
        "(pip install 'nnfab[dev]', which pins hls4ml==1.3.0) for its ap_types headers"
    )
