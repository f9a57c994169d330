"""Board flow (``--board``): vendor project scripts and host drivers for a converted design.

:func:`write` runs after the HLS and RTL writers and adds, by the board's ``flow``:

* ``zynq`` / ``zynqmp`` — ``OUT/vivado/build_bd.tcl`` (static) + ``board.tcl`` (variables
  only): a Vivado project whose block design joins the processing system, an AXI DMA in
  simple mode and the nnfab RTL top (module reference; the design verified in cocotb),
  then bitstream and reports; ``OUT/driver/nnfab_driver.py``, a PYNQ driver that needs
  no nnfab, with the reference self-test data beside it.
* ``alveo`` — ``OUT/vitis/``: an HLS kernel wrapper (``m_axi`` ports) around the nnfab
  HLS top, ``connectivity.cfg``, a Makefile with the ``v++ -c`` / ``v++ -l`` commands,
  an XRT native-API host program, and packed reference inputs/outputs.
* ``ecp5`` — the open flow of Lattice ECP5 boards (:mod:`.ecp5`): ``OUT/ecp5/`` (the
  network behind a UART bridge, LPF pins) and ``OUT/driver/nnfab_uart.py`` (pyserial);
  ``nnfab build`` runs synth_ecp5, nextpnr-ecp5 and ecppack here.
* ``part-only`` — ``OUT/vivado/synth_ooc.tcl`` + ``board.tcl``: out-of-context synthesis
  of the RTL top for the part, with reports.

Every path packs fixed-point vectors with :mod:`generator.packing` (the RTL AXI-Stream
layout). ``OUT/board.json`` names the vendor step; :func:`vendor_step` reads it for
``nnfab build``, which exits with :data:`EXIT_TOOL_MISSING` when the tool is not on PATH.
A graph without a board gets none of this.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from ... import packing
from ...boards import Board, load_board
from ...host import plan as host_plan
from ...ir import Graph

TEMPLATES = Path(__file__).resolve().parents[3] / "hls_templates" / "board"
MANIFEST = "board.json"
#: ``nnfab build`` exit status when the vendor tool is not on PATH
EXIT_TOOL_MISSING = 3
#: vectors of reference data shipped with the drivers for their self-test
SELFTEST_ROWS = 200

#: Alveo target platforms (XRT shell) per board: the 2022.1 gen3x16 XDMA shells listed in
#: UG1120 (Alveo Data Center Accelerator Card Platforms User Guide) and the card install
#: guides UG1370 (U50) / UG1301 (U200/U250); memory is the bank the kernel's buffers use.
ALVEO_PLATFORMS: dict[str, dict[str, str]] = {
    "alveo-u50": {"platform": "xilinx_u50_gen3x16_xdma_5_202210_1", "memory": "HBM[0]"},
    "alveo-u250": {"platform": "xilinx_u250_gen3x16_xdma_4_1_202210_1", "memory": "DDR[0]"},
}

#: Vivado board-part patterns (used only when that Vivado has the board files installed;
#: otherwise the project targets the bare part and the PS gets nnfab's explicit settings)
BOARD_PARTS: dict[str, str] = {
    "pynq-z2": "*:pynq-z2:part0:*",
    "ultra96v2": "*:ultra96v2:part0:*",
    "zcu104": "*:zcu104:part0:*",
    "zcu102": "*:zcu102:part0:*",
    "kv260": "*:kv260_som:part0:*",
}

#: AXI DMA stream widths are a power of two bytes; the widest used for the DMA side
DMA_MAX_BYTES = 8
KERNEL = "krnl_nnfab"
DMA_CELL = "dma"


class BoardFlowError(ValueError):
    """A board flow that cannot be written or run for this output project."""


@dataclass(frozen=True)
class VendorStep:
    """The vendor command of a board flow: ``argv`` run in ``cwd`` (relative to OUT)."""

    tool: str
    cwd: str
    argv: list[str]

    def command(self, out: str) -> str:
        """The exact shell command for a machine that has the tool."""
        where = out if self.cwd in ("", ".") else os.path.join(out, self.cwd)
        return f"cd {shlex.quote(where)} && {shlex.join(self.argv)}"


def dma_bytes(accel_bytes: int) -> int:
    """DMA stream width in bytes: the largest power of two dividing the accelerator's
    ``tdata`` bytes (so an ``axis_dwidth_converter`` has an integer ratio), at most
    :data:`DMA_MAX_BYTES`."""
    b = 1
    while b * 2 <= DMA_MAX_BYTES and accel_bytes % (b * 2) == 0:
        b *= 2
    return b


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(env: jinja2.Environment, name: str, path: str, **kw: Any) -> None:
    with open(path, "w") as f:
        f.write(env.get_template(name).render(**kw))


def _copy(name: str, path: str) -> None:
    shutil.copyfile(TEMPLATES / name, path)


def packing_source() -> str:
    """Source text of :func:`generator.packing.pack` and ``unpack`` (embedded in drivers)."""
    return "\n\n".join(inspect.getsource(f) for f in (packing.pack, packing.unpack))


def host_source() -> str:
    """Source text of :mod:`generator.host` (embedded in drivers: the host pre- and
    post-processing in float32, NumPy only), without its docstring and future import."""
    from ... import host

    text = inspect.getsource(host)
    return text[text.index("from collections.abc"):].rstrip("\n")


def rtl_top(out: str) -> str | None:
    """The RTL top module written by the RTL backend (``OUT/sim/sim.json``), or None."""
    p = os.path.join(out, "sim", "sim.json")
    if not os.path.isfile(p):
        return None
    with open(p) as f:
        return str(json.load(f)["top"])


def hls_top(g: Graph, out: str) -> str:
    """The HLS top function (``set nnfab_top`` in ``OUT/hls/project.tcl``)."""
    p = os.path.join(out, "hls", "project.tcl")
    if os.path.isfile(p):
        with open(p) as f:
            m = re.search(r"^set\s+nnfab_top\s+(\S+)", f.read(), re.MULTILINE)
        if m:
            return m.group(1)
    return rtl_top(out) or re.sub(r"\W", "_", g.name)


def layout(g: Graph) -> dict[str, Any]:
    """Template values describing the input/output vectors and their packing."""
    tin, tout = g.inputs[0], g.outputs[0]
    fi, fo = tin.ftype, tout.ftype
    in_bits = packing.beat_bits(tin.size, fi.width)
    out_bits = packing.beat_bits(tout.size, fo.width)
    return {
        "input_shape": tuple(int(s) for s in tin.shape),  # the graph's (channels-last) layout
        # inputs are given in the source model's layout (a QONNX CNN: (C, *spatial))
        "source_shape": tuple(int(s) for s in g.meta.get("input_layout", {}).get(
            "shape", tin.shape)),
        "input_perm": (tuple(g.meta["input_layout"]["perm"]) if "input_layout" in g.meta
                       else None),
        "output_shape": tuple(int(s) for s in tout.shape),
        # host pre- / post-processing (generator.host; empty lists: none)
        "host_json": repr(host_plan(g.meta)),
        "in_elems": int(tin.size), "in_width": fi.width, "in_frac": fi.frac,
        "in_signed": bool(fi.signed), "in_cpp": fi.cpp(),
        "out_elems": int(tout.size), "out_width": fo.width, "out_frac": fo.frac,
        "out_signed": bool(fo.signed), "out_cpp": fo.cpp(),
        "in_bits": in_bits, "out_bits": out_bits,
        "in_bytes": in_bits // 8, "out_bytes": out_bits // 8,
    }


def reference_data(g: Graph, rows: int = SELFTEST_ROWS, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """Seeded inputs on the input grid, their raw values, and the reference outputs
    (float and raw) — the drivers' self-test data."""
    from ... import reference
    from ...reference import samples

    x = samples(g, rows, seed)
    xr = reference.quantize_input(g, x)  # exact: on the grid; in the order the accelerator streams
    yr = reference.run(g, x)[g.outputs[0].name]
    return x, xr.reshape(rows, -1), reference.output_values(g, yr), yr.reshape(rows, -1)


def _io_common(env: jinja2.Environment, top: str, lay: dict[str, Any]) -> str:
    return env.get_template("io_common.py.j2").render(
        top=top, packing_source=packing_source(), host_source=host_source(),
        **lay).rstrip("\n")


def _write_vivado(g: Graph, out: str, b: Board, top: str, lay: dict[str, Any],
                  env: jinja2.Environment) -> None:
    d = os.path.join(out, "vivado")
    os.makedirs(d, exist_ok=True)
    mhz = b.clock_mhz
    _render(env, "board.tcl.j2", os.path.join(d, "board.tcl"),
            board=b.name, flow=b.flow, part=b.part, board_part=BOARD_PARTS.get(b.name, ""),
            clock_mhz=int(mhz) if float(mhz).is_integer() else mhz, top=top,
            project=f"nnfab_{re.sub(r'[^A-Za-z0-9_]', '_', b.name)}",
            in_bits=lay["in_bits"], out_bits=lay["out_bits"],
            dma_in_bits=8 * dma_bytes(lay["in_bytes"]),
            dma_out_bits=8 * dma_bytes(lay["out_bytes"]), jobs=2)
    script = "build_bd.tcl" if b.flow in ("zynq", "zynqmp") else "synth_ooc.tcl"
    _copy(script, os.path.join(d, script))


def _write_pynq(g: Graph, out: str, b: Board, top: str, lay: dict[str, Any],
                env: jinja2.Environment) -> None:
    d = os.path.join(out, "driver")
    os.makedirs(d, exist_ok=True)
    _render(env, "nnfab_driver.py.j2", os.path.join(d, "nnfab_driver.py"),
            top=top, board=b.name, dma=DMA_CELL, io_common=_io_common(env, top, lay))
    x, _, y, _ = reference_data(g)
    np.save(os.path.join(d, "test_inputs.npy"), x)
    np.save(os.path.join(d, "expected_outputs.npy"), y)


def _write_vitis(g: Graph, out: str, cfg: Any, b: Board, lay: dict[str, Any],
                 env: jinja2.Environment) -> None:
    if b.name not in ALVEO_PLATFORMS:
        raise BoardFlowError(
            f"board {b.name}: no Alveo platform known for the alveo flow; "
            f"supported: {', '.join(ALVEO_PLATFORMS)}")
    plat = ALVEO_PLATFORMS[b.name]
    d = os.path.join(out, "vitis")
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    top = hls_top(g, out)
    io = getattr(cfg, "io", None) or g.meta.get("config", {}).get("io", "parallel")
    kw = dict(kernel=KERNEL, hls_top=top, board=b.name, io=io, **plat, **lay,
              clock_mhz=round(b.clock_mhz), clock_hz=round(b.clock_mhz * 1e6))
    _render(env, "krnl_nnfab.cpp.j2", os.path.join(d, f"{KERNEL}.cpp"), **kw)
    _render(env, "host.cpp.j2", os.path.join(d, "host.cpp"), **kw)
    _render(env, "connectivity.cfg.j2", os.path.join(d, "connectivity.cfg"), **kw)
    _render(env, "Makefile.vitis.j2", os.path.join(d, "Makefile"), **kw)
    _render(env, "nnfab_io.py.j2", os.path.join(d, "nnfab_io.py"),
            top=top, io_common=_io_common(env, top, lay))
    _, xr, _, yr = reference_data(g)
    packing.pack(xr, lay["in_width"], lay["in_bits"]).tofile(os.path.join(d, "data", "inputs.bin"))
    packing.pack(yr, lay["out_width"], lay["out_bits"]).tofile(
        os.path.join(d, "data", "expected.bin"))


def _write_ecp5(g: Graph, out: str, b: Board, top: str, lay: dict[str, Any],
                env: jinja2.Environment) -> None:
    from . import ecp5

    def render(name: str, path: str, **kw: Any) -> None:
        _render(env, name, path, top=top, io_common=_io_common(env, top, lay), **kw)

    ecp5.write(out, b, top, lay, render)
    d = os.path.join(out, "driver")
    x, _, y, _ = reference_data(g)
    np.save(os.path.join(d, "test_inputs.npy"), x)
    np.save(os.path.join(d, "expected_outputs.npy"), y)


def open_flow(out: str) -> bool:
    """Is ``out`` converted for a board whose flow runs here (``ecp5``)?"""
    p = os.path.join(out, MANIFEST)
    if not os.path.isfile(p):
        return False
    with open(p) as f:
        m = json.load(f)
    if m.get("error"):
        raise BoardFlowError(m["error"])
    return bool(m.get("flow") == "ecp5")


def step_for(flow: str) -> VendorStep:
    """The vendor command of a flow."""
    if flow == "ecp5":  # runs in nnfab itself (YoWASP wheels)
        return VendorStep("nnfab", ".", ["nnfab", "build", "."])
    if flow in ("zynq", "zynqmp"):
        return VendorStep("vivado", "vivado", ["vivado", "-mode", "batch", "-source", "build_bd.tcl"])
    if flow == "part-only":
        return VendorStep("vivado", "vivado", ["vivado", "-mode", "batch", "-source", "synth_ooc.tcl"])
    if flow == "alveo":
        return VendorStep("v++", "vitis", ["make", "all"])
    raise BoardFlowError(f"unknown board flow {flow!r}")


def write(g: Graph, out: str, cfg: Any = None) -> None:
    """Write the board flow of ``g.meta['board']`` into ``out`` (nothing without a board)."""
    name = g.meta.get("board")
    if not name:
        return
    b = load_board(name)
    env = _env()
    lay = layout(g)
    manifest: dict[str, Any] = {"board": b.name, "flow": b.flow, "part": b.part,
                                "clock_mhz": b.clock_mhz, "layout": lay}
    if b.flow == "alveo":
        _write_vitis(g, out, cfg, b, lay, env)
        manifest["kernel"] = KERNEL
        manifest["platform"] = ALVEO_PLATFORMS[b.name]["platform"]
    else:
        top = rtl_top(out)
        if top is None:
            why = "the RTL backend wrote no design"
            p = os.path.join(out, "rtl", "UNSUPPORTED.txt")
            if os.path.isfile(p):
                with open(p) as f:
                    why = f.read().strip()
            manifest["error"] = f"no board project for {b.name}: {why}"
        else:
            manifest["top"] = top
            if b.flow == "ecp5":
                _write_ecp5(g, out, b, top, lay, env)
            else:
                _write_vivado(g, out, b, top, lay, env)
            if b.flow in ("zynq", "zynqmp"):
                _write_pynq(g, out, b, top, lay, env)
    s = step_for(b.flow)
    manifest["step"] = {"tool": s.tool, "cwd": s.cwd, "argv": s.argv}
    with open(os.path.join(out, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=1)


def vendor_step(out: str) -> VendorStep | None:
    """The vendor step recorded by :func:`write` in ``out``, or None for a project
    converted without ``--board``."""
    p = os.path.join(out, MANIFEST)
    if not os.path.isfile(p):
        return None
    with open(p) as f:
        m = json.load(f)
    if m.get("error"):
        raise BoardFlowError(m["error"])
    s = m["step"]
    return VendorStep(s["tool"], s["cwd"], list(s["argv"]))
