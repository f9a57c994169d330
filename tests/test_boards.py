"""Board descriptions in boards/*.yaml and their loader, generator.boards."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from generator.boards import (
    BASE_KEYS,
    FAMILIES,
    FLOWS,
    KEYS,
    MEM_KINDS,
    Board,
    BoardError,
    boards_dir,
    list_boards,
    load_board,
)

BOARD_FILES = sorted(boards_dir().glob("*.yaml"))
EXPECTED = {
    "pynq-z2": "xc7z020clg400-1",
    "arty-a7-100t": "xc7a100tcsg324-1",
    "ultra96v2": "xczu3eg-sbva484-1-i",
    "zcu104": "xczu7ev-ffvc1156-2-e",
    "zcu102": "xczu9eg-ffvb1156-2-e",
    "kv260": "xck26-sfvc784-2LV-c",
    "alveo-u50": "xcu50-fsvh2104-2-e",
    "alveo-u250": "xcu250-figd2104-2L-e",
    "xcvu13p": "xcvu13p-flga2577-2-e",
    "ulx3s-12f": "LFE5U-12F-6BG381C",
    "ulx3s-25f": "LFE5U-25F-6BG381C",
    "ulx3s-45f": "LFE5U-45F-6BG381C",
    "ulx3s-85f": "LFE5U-85F-6BG381C",
    "ecpix5-85": "LFE5UM5G-85F-8BG554I",
}
# Part prefix -> synth_xilinx -family. xcu50/xcu250 are UltraScale+ Alveo parts, not
# UltraScale, so the more specific prefixes must be tried first.
PART_FAMILY = (
    ("xc7z", "xc7"),
    ("xc7a", "xc7"),
    ("xczu", "xcup"),
    ("xck", "xcup"),
    ("xcu5", "xcup"),
    ("xcu2", "xcup"),
    ("xcvu13p", "xcup"),
    ("LFE5", "ecp5"),
)


def _valid_dict() -> dict:
    return yaml.safe_load((boards_dir() / "pynq-z2.yaml").read_text())


def _write(tmp_path: Path, data: dict, name: str = "custom.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def test_boards_dir_is_repo_folder():
    assert boards_dir() == Path(__file__).resolve().parent.parent / "boards"
    assert boards_dir().is_dir()


def test_expected_boards_present():
    assert {p.stem for p in BOARD_FILES} == set(EXPECTED)


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_every_yaml_loads(path: Path):
    by_path = load_board(str(path))
    by_name = load_board(path.stem)
    assert isinstance(by_path, Board)
    assert by_path == by_name
    assert by_path.name == path.stem
    assert by_path.part == EXPECTED[path.stem]
    # every key is present in the file itself (no defaults)
    keys = set(yaml.safe_load(path.read_text()))
    assert keys == (set(KEYS) if by_path.open_flow else set(BASE_KEYS))


def test_list_boards_sorted_and_unique():
    boards = list_boards()
    names = [b.name for b in boards]
    assert names == sorted(names)
    assert len(names) == len(set(names)) == len(BOARD_FILES)
    assert {b.name for b in boards} == {p.stem for p in BOARD_FILES}


@pytest.mark.parametrize("board", list_boards(), ids=lambda b: b.name)
def test_numbers_positive(board: Board):
    for key in ("clock_mhz", "lut", "ff", "dsp", "bram18"):
        assert getattr(board, key) > 0, key
    assert board.uram >= 0
    for key in ("lut", "ff", "dsp", "bram18", "uram"):
        assert type(getattr(board, key)) is int, key
    assert board.ff >= board.lut  # every device has at least one FF per LUT
    if board.mem_kind == "none":
        assert board.mem_bandwidth_gbps == 0
        assert board.flow in ("part-only", "ecp5")
    else:
        assert board.mem_bandwidth_gbps > 0


@pytest.mark.parametrize("board", list_boards(), ids=lambda b: b.name)
def test_enumerations(board: Board):
    assert board.family in FAMILIES
    assert board.flow in FLOWS
    assert board.mem_kind in MEM_KINDS


@pytest.mark.parametrize("board", list_boards(), ids=lambda b: b.name)
def test_family_matches_part(board: Board):
    expected = next((fam for prefix, fam in PART_FAMILY if board.part.startswith(prefix)), None)
    assert expected is not None, f"no family rule for part {board.part}"
    assert board.family == expected
    # 7-series parts have no UltraRAM
    if board.family == "xc7":
        assert board.uram == 0


def test_flows():
    flows = {b.name: b.flow for b in list_boards()}
    assert flows["pynq-z2"] == "zynq"
    assert {flows[n] for n in ("ultra96v2", "zcu104", "zcu102", "kv260")} == {"zynqmp"}
    assert {flows[n] for n in ("alveo-u50", "alveo-u250")} == {"alveo"}
    assert flows["xcvu13p"] == "part-only"


def test_board_is_frozen():
    board = load_board("pynq-z2")
    with pytest.raises(AttributeError):
        board.lut = 1  # type: ignore[misc]


def test_unknown_board_lists_available():
    available = ", ".join(sorted(EXPECTED))
    pattern = rf"^unknown board 'foo'; available: {re.escape(available)}$"
    with pytest.raises(BoardError, match=pattern):
        load_board("foo")


def test_missing_key(tmp_path: Path):
    data = _valid_dict()
    del data["dsp"]
    path = _write(tmp_path, data)
    with pytest.raises(
        BoardError, match=rf"^{re.escape(str(path))}: missing key\(s\) 'dsp'; required keys: name, "
    ) as info:
        load_board(str(path))
    assert "\n" not in str(info.value)


def test_unknown_key(tmp_path: Path):
    data = _valid_dict() | {"luts": 5}
    path = _write(tmp_path, data)
    with pytest.raises(
        BoardError, match=rf"^{re.escape(str(path))}: unknown key\(s\) 'luts'; supported keys: "
    ):
        load_board(path)


def test_wrong_type(tmp_path: Path):
    path = _write(tmp_path, _valid_dict() | {"lut": "53200"})
    with pytest.raises(
        BoardError, match=rf"^{re.escape(str(path))}: key 'lut' must be an integer, got '53200'"
    ):
        load_board(path)
    path = _write(tmp_path, _valid_dict() | {"dsp": True})
    with pytest.raises(BoardError, match=r": key 'dsp' must be an integer, got True \(bool\)$"):
        load_board(path)


def test_unknown_family_and_flow(tmp_path: Path):
    path = _write(tmp_path, _valid_dict() | {"family": "xc6s"})
    with pytest.raises(
        BoardError,
        match=rf"^{re.escape(str(path))}: key 'family' is 'xc6s'; supported: xc7, xcu, xcup, ecp5$",
    ):
        load_board(path)
    path = _write(tmp_path, _valid_dict() | {"flow": "versal"})
    with pytest.raises(
        BoardError,
        match=rf"^{re.escape(str(path))}: key 'flow' is 'versal'; "
        r"supported: zynq, zynqmp, alveo, part-only, ecp5$",
    ):
        load_board(path)


def test_open_flow_keys(tmp_path: Path):
    """An ecp5 board needs its package, speed, clock and UART keys; other families refuse
    them, and the ecp5 flow goes with the ecp5 family only."""
    ecp5 = yaml.safe_load((boards_dir() / "ulx3s-85f.yaml").read_text())
    path = _write(tmp_path, {k: v for k, v in ecp5.items() if k != "uart_tx_pin"})
    with pytest.raises(BoardError, match=r": missing key\(s\) 'uart_tx_pin'; required keys: "):
        load_board(path)
    path = _write(tmp_path, _valid_dict() | {"package": "CABGA381"})
    with pytest.raises(BoardError, match=r": key\(s\) 'package' are for open-flow families "
                       r"\(ecp5\), not 'xc7'$"):
        load_board(path)
    path = _write(tmp_path, ecp5 | {"flow": "part-only"})
    with pytest.raises(BoardError, match=r": flow 'ecp5' goes with family 'ecp5' \(and only "
                       r"with it\), got family 'ecp5', flow 'part-only'$"):
        load_board(path)
    path = _write(tmp_path, ecp5 | {"speed": "6"})
    with pytest.raises(BoardError, match=r": key 'speed' must be an integer, got '6'"):
        load_board(path)


def test_negative_number(tmp_path: Path):
    path = _write(tmp_path, _valid_dict() | {"uram": -1})
    with pytest.raises(BoardError, match=r": key 'uram' must be >= 0, got -1 \(int\)$"):
        load_board(path)


def test_not_a_mapping(tmp_path: Path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    pattern = rf"^{re.escape(str(path))}: expected a mapping of board keys, got list; "
    with pytest.raises(BoardError, match=pattern):
        load_board(path)


def test_missing_file(tmp_path: Path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(BoardError, match=rf"^{re.escape(str(path))}: board file not found$"):
        load_board(str(path))


def test_int_clock_stored_as_float(tmp_path: Path):
    board = load_board(_write(tmp_path, _valid_dict()))
    assert isinstance(board.clock_mhz, float) and board.clock_mhz == 100.0
