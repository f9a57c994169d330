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
    flow: zynq               # zynq | zynqmp | alveo | part-only

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

FAMILIES = ("xc7", "xcu", "xcup")
FLOWS = ("zynq", "zynqmp", "alveo", "part-only")
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


KEYS = tuple(f.name for f in fields(Board))
_STR_KEYS = ("name", "description", "part", "family", "mem_kind", "flow")
_FLOAT_KEYS = ("clock_mhz", "mem_bandwidth_gbps")
_INT_KEYS = ("lut", "ff", "dsp", "bram18", "uram")
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
    missing = [k for k in KEYS if k not in data]
    if missing:
        raise BoardError(
            f"{path}: missing key(s) {', '.join(repr(k) for k in missing)}; "
            f"required keys: {', '.join(KEYS)}"
        )
    values: dict[str, Any] = {}
    for key in KEYS:
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
