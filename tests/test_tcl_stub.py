"""The static build_hls.tcl drives the vendor HLS commands with valid arguments.

``build_hls.tcl`` runs under plain ``tclsh`` with ``tests/tcl/hls_stub.tcl``, which
defines open_project, set_top, add_files, open_solution, set_part, create_clock,
config_export, csim_design, csynth_design, cosim_design, export_design and exit as
procs that check their arguments against the documented signatures and record each
call. Checked for every board in ``boards/`` and for Vitis HLS and Vivado HLS.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import numpy as np
import pytest

from generator import config
from generator.backends import hls
from generator.boards import board_names, load_board
from generator.fixed import FixedType
from generator.ir import Dense, Graph, Input, Weight
from generator.passes import run_pipeline

STUB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcl", "hls_stub.tcl")
TCLSH = "tclsh"


@pytest.fixture(autouse=True)
def tclsh() -> str:
    """tclsh runs every test here: missing, each test fails naming it."""
    from conftest import require

    return require("tclsh")


def tiny_graph(board: str | None) -> Graph:
    g = Graph("tiny net")
    x = g.add(Input("input", [], shape=(4,)), FixedType(8, 3, True, "AP_RND_CONV", "AP_SAT"))
    w = Weight(np.array([[1, 0, -3], [2, 5, 0], [0, -1, 7], [4, 0, 0]]), FixedType(4, 1))
    g.add(Dense("fc", [x], {"weight": w}, units=3), FixedType(16, 8))
    g.outputs = [g.tensors["fc"]]
    run_pipeline(g)
    if board:
        g.meta["board"] = board
    return g


def write(tmp: Any, board: str | None, io: str = "parallel") -> str:
    out = str(tmp / f"out_{board}_{io}")
    os.makedirs(out)
    hls.write(tiny_graph(board), out, config.load(None, io=io))
    return out


def run_stub(out: str, tool: str, args: tuple[str, ...] = (), env: dict[str, str] | None = None
             ) -> tuple[int, list[list[str]], str]:
    hls_dir = os.path.join(out, "hls")
    log = os.path.join(out, "stub.log")
    e = {k: v for k, v in os.environ.items() if not k.startswith("NNFAB_")}
    e["NNFAB_HLS_TOOL"] = tool
    e.update(env or {})
    r = subprocess.run([TCLSH, STUB, log, "build_hls.tcl", *args], cwd=hls_dir, env=e,
                       capture_output=True, text=True, check=False)
    calls = []
    if os.path.isfile(log):
        tcl = ("set f [open [lindex $argv 0]]; while {[gets $f l] >= 0} "
               "{ puts [join $l \"\\x1f\"] }")
        p = subprocess.run([TCLSH, "/dev/stdin", log], input=tcl, capture_output=True,
                           text=True, check=True)
        calls = [line.split("\x1f") for line in p.stdout.splitlines()]
    return r.returncode, calls, r.stdout + r.stderr


def _names(calls: list[list[str]]) -> list[str]:
    return [c[0] for c in calls]


#: the boards the Xilinx HLS tools target (an open-flow board's part is no Xilinx part;
#: its flow is tested in test_ecp5.py)
XILINX_BOARDS = [b for b in board_names() if not load_board(b).open_flow]


@pytest.mark.parametrize("tool", ["vitis", "vivado"])
@pytest.mark.parametrize("board", XILINX_BOARDS)
def test_build_hls_tcl_calls(tmp_path: Any, board: str, tool: str) -> None:
    out = write(tmp_path, board)
    rc, calls, log = run_stub(out, tool)
    assert rc == 0, log + str(calls)
    expected = ["open_project", "set_top", "add_files", "add_files", "open_solution"]
    expected += ["config_export"] if tool == "vitis" else []
    expected += ["set_part", "create_clock", "csim_design", "csynth_design", "export_design", "exit"]
    assert _names(calls) == expected
    by = {c[0]: c for c in calls}
    b = load_board(board)
    assert by["set_part"] == ["set_part", b.part]
    period = float(by["create_clock"][by["create_clock"].index("-period") + 1])
    assert period == pytest.approx(1000.0 / b.clock_mhz, abs=1e-4)
    assert by["set_top"] == ["set_top", "tiny_net"]
    assert by["export_design"][1:3] == ["-format", "ip_catalog"]
    sol = by["open_solution"]
    if tool == "vitis":
        assert sol == ["open_solution", "-reset", "-flow_target", "vivado", "solution1"]
    else:
        assert sol == ["open_solution", "-reset", "solution1"]
    add_fw, add_tb = [c for c in calls if c[0] == "add_files"]
    assert "-tb" not in add_fw and "-tb" in add_tb
    assert add_fw[-1].endswith("firmware/tiny_net.cpp")
    cflags = add_fw[add_fw.index("-cflags") + 1]
    assert ("-DNNFAB_VIVADO_HLS" in cflags) == (tool == "vivado")
    assert by["csim_design"][1] == "-argv" and "tb_data/inputs.bin" in by["csim_design"][2]


def test_default_part_without_board(tmp_path: Any) -> None:
    out = write(tmp_path, None, io="stream")
    rc, calls, log = run_stub(out, "vitis")
    assert rc == 0, log
    by = {c[0]: c for c in calls}
    assert by["set_part"] == ["set_part", hls.DEFAULT_PART]
    with open(os.path.join(out, "hls", "project.tcl")) as f:
        assert "set nnfab_io         stream" in f.read()


def test_open_flow_board_gets_a_xilinx_part_and_no_export(tmp_path: Any) -> None:
    """An ECP5 board's HLS project: the board's clock, the default Xilinx part (Vitis HLS
    has no Lattice part), no IP export, and the reason written in project.tcl."""
    out = write(tmp_path, "ulx3s-12f")
    rc, calls, log = run_stub(out, "vitis")
    assert rc == 0, log
    by = {c[0]: c for c in calls}
    b = load_board("ulx3s-12f")
    assert by["set_part"] == ["set_part", hls.DEFAULT_PART]
    period = float(by["create_clock"][by["create_clock"].index("-period") + 1])
    assert period == pytest.approx(1000.0 / b.clock_mhz, abs=1e-4)
    assert "export_design" not in by and "csynth_design" in by
    with open(os.path.join(out, "hls", "project.tcl")) as f:
        text = f.read()
    assert f"# ulx3s-12f's part {b.part} is a Lattice ECP5" in text


@pytest.mark.parametrize("tool", ["vitis", "vivado"])
def test_steps_selected_by_args_and_env(tmp_path: Any, tool: str) -> None:
    out = write(tmp_path, "pynq-z2")
    rc, calls, log = run_stub(out, tool, ("csim=0", "cosim=1"))
    assert rc == 0, log
    names = _names(calls)
    assert "csim_design" not in names
    assert names[-4:] == ["csynth_design", "cosim_design", "export_design", "exit"]
    rc, calls, log = run_stub(out, tool, (), {"NNFAB_SYNTH": "0", "NNFAB_EXPORT": "0"})
    assert rc == 0, log
    assert _names(calls)[-2:] == ["csim_design", "exit"]
    rc, calls, log = run_stub(out, tool, ("bogus=1",))
    assert rc == 2 and "unknown argument 'bogus=1'" in log
    rc, calls, log = run_stub(out, tool, ("synth=0", "cosim=1"))
    assert rc == 2 and "cosim=1 needs synth=1" in log
