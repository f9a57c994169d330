"""The HLS C++ view: firmware, C testbench + stimuli, Tcl project files and a Makefile.

:func:`write` renders ``OUT/hls/`` from the typed, folded graph:

* ``firmware/``  ``<top>.cpp/.h``, ``defines.h``, ``weights.h``, ``layers/*.h`` and a copy
  of nnfab's own kernel library ``nnfab/nnfab.h`` (see :mod:`.firmware`);
* ``tb/tb_<top>.cpp`` and ``tb_data/`` (raw int64 inputs and the reference's expected
  outputs, :data:`TB_ROWS` seeded rows; ``inputs.npy`` holds the same inputs as floats);
* ``project.tcl`` (variables only) and the static ``build_hls.tcl`` (Vitis / Vivado HLS);
* ``OUT/Makefile`` with ``csim``, ``hls``, ``rtlsim`` and ``bitstream`` targets.

:mod:`.csim` compiles and runs the same testbench for ``nnfab csim`` / ``nnfab verify``.
``io_stream`` designs are DATAFLOW regions of one process per layer connected by
streams of one word per spatial position; :mod:`.dataflow` models them and computes
the FIFO depths, which the threaded C-simulation enforces (a too-shallow FIFO
deadlocks and is reported).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np

from ...ir import Graph
from .firmware import TEMPLATES, HlsError, _env, render, top_name, write_firmware

__all__ = ["DEFAULT_PART", "TB_ROWS", "HlsError", "top_name", "write"]

#: The part used when the design has no board (hls4ml's default, an Alveo U250).
DEFAULT_PART = "xcu250-figd2104-2L-e"
DEFAULT_CLOCK_MHZ = 200.0
#: Rows of seeded stimuli written to tb_data/.
TB_ROWS = 100


def _target(g: Graph) -> dict[str, Any]:
    """The HLS project's part, clock and board. Vitis / Vivado HLS synthesise for Xilinx
    parts only: a board of the open flow (Lattice ECP5) keeps its clock, and its HLS
    project (C-sim, and csynth for the HLS reports) names :data:`DEFAULT_PART`, exports no
    IP and says so in a note; that board builds from the RTL view."""
    board = g.meta.get("board")
    if board:
        from ...boards import load_board

        b = load_board(board)
        t = {"part": b.part, "clock_ns": _fmt_ns(1000.0 / b.clock_mhz), "board": b.name,
             "export": 1, "vendor_note": ""}
        if b.open_flow:
            t.update(part=DEFAULT_PART, export=0,
                     vendor_note=f"{b.name}'s part {b.part} is a Lattice ECP5; Vitis HLS targets "
                                 f"Xilinx parts only, so this project runs C-sim and csynth "
                                 f"for {DEFAULT_PART} and exports no IP; the board builds "
                                 "from the RTL view (nnfab build)")
        return t
    return {"part": DEFAULT_PART, "clock_ns": _fmt_ns(1000.0 / DEFAULT_CLOCK_MHZ),
            "board": "none", "export": 1, "vendor_note": ""}


def _fmt_ns(v: float) -> str:
    return f"{v:.4f}".rstrip("0").rstrip(".")


def tb_inputs(g: Graph, rows: int = TB_ROWS, seed: int = 0) -> np.ndarray:
    """Seeded float inputs on the input type's grid covering its whole range."""
    from ...reference import samples

    t = g.inputs[0].ftype
    x = samples(g, rows, seed)
    if rows >= 2:  # the range's two ends
        x[0] = t.to_float(t.min_raw)
        x[1] = t.to_float(t.max_raw)
    return x


def write_tb_data(g: Graph, tb_data: str, rows: int = TB_ROWS) -> None:
    """``inputs.bin``/``expected.bin`` (raw int64) and ``inputs.npy`` for ``tb_data``."""
    from ... import reference

    os.makedirs(tb_data, exist_ok=True)
    x = tb_inputs(g, rows)
    x_raw = reference.quantize_input(g, x)
    y_raw = reference.run(g, x)[g.outputs[0].name]
    np.ascontiguousarray(x_raw.reshape(rows, -1), dtype="<i8").tofile(os.path.join(tb_data, "inputs.bin"))
    np.ascontiguousarray(y_raw.reshape(rows, -1), dtype="<i8").tofile(os.path.join(tb_data, "expected.bin"))
    np.save(os.path.join(tb_data, "inputs.npy"), x)


def write(g: Graph, out: str, cfg: Any) -> None:
    """Write ``out/hls/`` and ``out/Makefile`` for graph ``g`` (config ``cfg``: ``.io``)."""
    io = getattr(cfg, "io", "parallel")
    data = render(g, io)
    top = data["top"]
    hls = os.path.join(out, "hls")
    write_firmware(data, os.path.join(hls, "firmware"))
    env = _env()
    os.makedirs(os.path.join(hls, "tb"), exist_ok=True)
    with open(os.path.join(hls, "tb", f"tb_{top}.cpp"), "w") as f:
        f.write(env.get_template("tb/tb.cpp.j2").render(**data))
    write_tb_data(g, os.path.join(hls, "tb_data"))
    tool = "vitis"
    target = _target(g)
    with open(os.path.join(hls, "project.tcl"), "w") as f:
        f.write(env.get_template("project/project.tcl.j2").render(top=top, io=io, tool=tool,
                                                                   **target))
    note = f"hls/project.tcl: {target['vendor_note']}"
    if target["vendor_note"] and note not in g.meta.setdefault("notes", []):
        g.meta["notes"].append(note)
    shutil.copyfile(os.path.join(TEMPLATES, "project", "build_hls.tcl"), os.path.join(hls, "build_hls.tcl"))
    from ...errors import VerifyError
    from .csim import DEFINES, OPT_FLAGS, ap_types_dir

    try:
        ap = ap_types_dir()
    except VerifyError:  # the Makefile still works with AP_TYPES=... on the command line
        ap = "/path/to/ap_types"
    with open(os.path.join(out, "Makefile"), "w") as f:
        f.write(env.get_template("project/Makefile.j2").render(
            top=top, ap_types=ap, cxxflags=" ".join(OPT_FLAGS), defines=" ".join(DEFINES)))
