"""FPGA board descriptions: device resources, memory and default clock of a target.

One YAML file per board lives in the repository's ``boards/`` folder, named
``<board>.yaml``. Every key is required and unknown keys are refused::

    name: pynq-z2
    description: TUL PYNQ-Z2, Zynq-7000 XC7Z020, 512 MB DDR3
    part: xc7z020clg400-1
    family: xc7              # synth_xilinx -family: xc7 | xcu | xcup
    clock_mhz: 100           # default fabric clock
    lut: 53200
    ff: 106400
    dsp: 220
    bram18: 280              # 18Kb block RAMs (2 x the 36Kb count)
    uram: 0                  # 288Kb UltraRAMs (0 where the device has none)
    mem_bandwidth_gbps: 2.1  # off-chip DDR/HBM bandwidth in GB/s (0 with mem_kind none)
    mem_kind: ddr3           # ddr3 | ddr4 | lpddr4 | hbm2 | none
    flow: zynq               # zynq | zynqmp | alveo | part-only | ecp5

A board of the open-flow family ``ecp5`` (Lattice ECP5: ``lut`` counts LUT4s, ``ff``
flip-flops, ``dsp`` MULT18X18D, ``bram18`` DP16KD 18 Kbit blocks) also names what the
open implementation flow (:mod:`generator.backends.board.ecp5`) needs to place, route
and pack a bitstream, and the host link it talks through (a UART)::

    package: CABGA381        # nextpnr-ecp5 --package
    speed: 6                 # speed grade (nextpnr-ecp5 --speed)
    osc_mhz: 25              # on-board oscillator, the PLL's reference
    clk_pin: G2              # oscillator pin
    uart_rx_pin: M1          # FPGA receives (host -> FPGA)
    uart_tx_pin: L4          # FPGA transmits (FPGA -> host)
    uart_baud: 115200
    io_standard: LVCMOS33

These keys are refused on other families and required on ``ecp5``.
``load_board`` takes a board name (``pynq-z2``) or a path to such a file;
``list_boards`` loads every board in ``boards/``. Any problem is a ``BoardError`` whose
one-line message names the file, the key and what is supported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

FAMILIES = ("xc7", "xcu", "xcup", "ecp5")
#: families placed, routed and packed here by an open-source flow
OPEN_FAMILIES = ("ecp5",)
FLOWS = ("zynq", "zynqmp", "alveo", "part-only", "ecp5")
MEM_KINDS = ("ddr3", "ddr4", "lpddr4", "hbm2", "none")


class BoardError(ValueError):
    """A board file or board name nnfab does not support."""


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    part: str
    family: str
    clock_mhz: float
    lut: int
    ff: int
    dsp: int
    bram18: int
    uram: int
    mem_bandwidth_gbps: float
    mem_kind: str
    flow: str
    # open-flow (ecp5) boards only
    package: str | None = None
    speed: int | None = None
    osc_mhz: float | None = None
    clk_pin: str | None = None
    uart_rx_pin: str | None = None
    uart_tx_pin: str | None = None
    uart_baud: int | None = None
    io_standard: str | None = None

    @property
    def open_flow(self) -> bool:
        """Is this board placed and routed here (an open-flow family)?"""
        return self.family in OPEN_FAMILIES


KEYS = tuple(f.name for f in fields(Board))
#: the keys of an open-flow board (required there, refused elsewhere)
OPEN_KEYS = ("package", "speed", "osc_mhz", "clk_pin", "uart_rx_pin", "uart_tx_pin",
             "uart_baud", "io_standard")
BASE_KEYS = tuple(k for k in KEYS if k not in OPEN_KEYS)
_STR_KEYS = ("name", "description", "part", "family", "mem_kind", "flow", "package",
             "clk_pin", "uart_rx_pin", "uart_tx_pin", "io_standard")
_FLOAT_KEYS = ("clock_mhz", "mem_bandwidth_gbps", "osc_mhz")
_INT_KEYS = ("lut", "ff", "dsp", "bram18", "uram", "speed", "uart_baud")
_CHOICES = {"family": FAMILIES, "flow": FLOWS, "mem_kind": MEM_KINDS}
_MAY_BE_ZERO = ("uram", "mem_bandwidth_gbps")


def boards_dir() -> Path:
    """The repository's ``boards/`` folder."""
    return Path(__file__).resolve().parent.parent / "boards"


def _board_files() -> list[Path]:
    d = boards_dir()
    return sorted(d.glob("*.yaml")) if d.is_dir() else []


def board_names() -> list[str]:
    """The names of the boards in ``boards/`` (file stems), sorted."""
    return sorted(p.stem for p in _board_files())


def list_boards() -> list[Board]:
    """Every board in ``boards/``, sorted by name."""
    return sorted((_load_file(p) for p in _board_files()), key=lambda b: b.name)


def load_board(name: str | Path) -> Board:
    """Load a board by name (``boards/<name>.yaml``) or from a path to a YAML file."""
    text = str(name)
    p = Path(text)
    if isinstance(name, Path) or p.suffix in (".yaml", ".yml") or len(p.parts) > 1:
        if not p.is_file():
            raise BoardError(f"{p}: board file not found")
        return _load_file(p)
    path = boards_dir() / f"{text}.yaml"
    if not path.is_file():
        available = ", ".join(board_names()) or "(none)"
        raise BoardError(f"unknown board {text!r}; available: {available}")
    return _load_file(path)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _load_file(path: Path) -> Board:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise BoardError(f"{path}: cannot read board file: {_one_line(str(e))}") from None
    except yaml.YAMLError as e:
        raise BoardError(f"{path}: invalid YAML: {_one_line(e)}") from None
    if not isinstance(data, dict):
        raise BoardError(
            f"{path}: expected a mapping of board keys, got {type(data).__name__}; "
            f"required keys: {', '.join(KEYS)}"
        )
    unknown = [str(k) for k in data if k not in KEYS]
    if unknown:
        raise BoardError(
            f"{path}: unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"supported keys: {', '.join(KEYS)}"
        )
    open_flow = data.get("family") in OPEN_FAMILIES
    required = BASE_KEYS + (OPEN_KEYS if open_flow else ())
    missing = [k for k in required if k not in data]
    if missing:
        raise BoardError(
            f"{path}: missing key(s) {', '.join(repr(k) for k in missing)}; "
            f"required keys: {', '.join(required)}"
        )
    extra = [k for k in OPEN_KEYS if k in data and not open_flow]
    if extra:
        raise BoardError(
            f"{path}: key(s) {', '.join(repr(k) for k in extra)} are for open-flow families "
            f"({', '.join(OPEN_FAMILIES)}), not {data.get('family')!r}")
    if (data.get("flow") == "ecp5") != (data.get("family") == "ecp5"):
        raise BoardError(f"{path}: flow 'ecp5' goes with family 'ecp5' (and only with it), "
                         f"got family {data.get('family')!r}, flow {data.get('flow')!r}")
    values: dict[str, Any] = {}
    for key in required:
        values[key] = _check(path, key, data[key])
    return Board(**values)


def _check(path: Path, key: str, value: Any) -> Any:
    got = f"got {value!r} ({type(value).__name__})"
    if key in _STR_KEYS:
        if not isinstance(value, str) or not value.strip():
            raise BoardError(f"{path}: key {key!r} must be a non-empty string, {got}")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise BoardError(
                f"{path}: key {key!r} is {value!r}; supported: {', '.join(_CHOICES[key])}"
            )
        return value
    if key in _INT_KEYS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BoardError(f"{path}: key {key!r} must be an integer, {got}")
    else:  # _FLOAT_KEYS: an int is fine, stored as float
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise BoardError(f"{path}: key {key!r} must be a finite number, {got}")
        value = float(value)
    if key in _MAY_BE_ZERO:
        if value < 0:
            raise BoardError(f"{path}: key {key!r} must be >= 0, {got}")
    elif value <= 0:
        raise BoardError(f"{path}: key {key!r} must be > 0, {got}")
    return value
