"""Build and write an nnfab output project (``nnfab convert``), and read it back.

:func:`build_graph` is the whole compilation: frontend, then the pass pipeline.
:func:`write_project` renders every view into a fresh temporary directory beside
``OUT`` and renames it into place only when all writers succeeded, so a failed convert
never leaves a partial ``OUT``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from . import ir, report
from .config import Config
from .console import step
from .ir import Graph
from .passes import run_pipeline


class ProjectError(ValueError):
    """An output directory nnfab will not write or cannot read."""


#: Writers called with (graph, out_dir, config) after nnfab.json is saved; each backend
#: registers itself here.
def _write_hls(g: Graph, out: str, cfg: Config) -> None:
    from .backends import hls

    hls.write(g, out, cfg)


def _write_rtl(g: Graph, out: str, cfg: Config) -> None:
    from .backends import rtl

    rtl.write(g, out, cfg)


def _write_board(g: Graph, out: str, cfg: Config) -> None:
    from .backends import board

    board.write(g, out, cfg)


WRITERS: list[tuple[str, Callable[[Graph, str, Config], object]]] = [
    ("hls", _write_hls),
    ("rtl", _write_rtl),
    # plots are drawn by `nnfab report` (matplotlib costs ~1 s; convert stays fast)
    ("report", lambda g, out, cfg: report.write(g, out, plots=False)),
    ("board", _write_board),
]


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    if os.path.isdir(path):
        for root, _, files in sorted(os.walk(path)):
            for f in sorted(files):
                with open(os.path.join(root, f), "rb") as fh:
                    h.update(fh.read())
        return h.hexdigest()
    with open(path, "rb") as fh:
        h.update(fh.read())
    return h.hexdigest()


def build_graph(
    model_path: str, cfg: Config, board: str | None = None, fit: str | None = None,
    clock: float | None = None,
) -> tuple[Graph, dict[str, float]]:
    """Frontend + pass pipeline for a model file; returns the graph and timings.

    With ``fit`` (``throughput`` | ``latency``, needs ``board``) every Dense layer's
    strategy and reuse are chosen by :func:`generator.fit.fit` after the pipeline
    (which then runs without the board check), and the folding and tiling passes are
    run again on the result; the plan is in ``g.meta["fit"]``. ``clock`` (MHz) is the
    target clock the pipeline registers are placed for (:mod:`generator.passes.timing`;
    default: the board's clock, else :data:`generator.timing.DEFAULT_CLOCK_MHZ`), kept in
    ``g.meta["clock_mhz"]``.
    """
    from .fit import FitError
    from .frontends import convert_file

    if fit and not board:
        raise FitError("--fit needs a target board: add --board NAME (see 'nnfab boards')")
    if fit and cfg.parallelism_set:
        given = cfg.parallelism_set
        raise FitError(
            f"--fit {fit} chooses every layer's strategy, reuse, multipliers and zero skipping, "
            f"so it would override {', '.join(given)}: remove "
            f"{'it' if len(given) == 1 else 'them'}, or convert without --fit to keep them")
    if clock is not None and not (isinstance(clock, (int, float)) and 1.0 <= clock <= 1000.0):
        from .timing import ClockError

        raise ClockError(f"--clock {clock}: the target clock must be a number of MHz in "
                         "1..1000")
    cal: list[Any] = []  # the calibration, when the config asks for one
    prep: Callable[[Any], None] | None = None
    if cfg.calibration is not None or cfg.validation is not None:
        from .calibrate import CalibrationError, prepare
        from .frontends import is_onnx

        if is_onnx(model_path):
            raise CalibrationError(
                f"--calibrate / --validate: {os.path.basename(model_path)} is a QONNX model, "
                "whose quantizers set every type; calibration is for Keras float models")

        def prep(model: Any) -> None:
            cal.append(prepare(model, cfg))

    g, times = convert_file(model_path, cfg, prep)
    choose_io(g, cfg)
    board_name = None
    if board:
        from .boards import load_board

        # a board file outside boards/ is kept by its path (later steps reload it)
        board_name = os.path.abspath(board) if os.path.isfile(board) else load_board(board).name
        load_board(board_name)
        if not fit:
            g.meta["board"] = board_name
    from .timing import DEFAULT_CLOCK_MHZ

    g.meta["clock_mhz"] = float(clock if clock is not None else (
        load_board(board_name).clock_mhz if board_name else DEFAULT_CLOCK_MHZ))
    t0 = time.perf_counter()
    run_pipeline(g)
    if fit:
        from .fit import fit as fit_pass
        from .passes.folding import folding
        from .passes.tiling import tiling
        from .passes.timing import timing

        g.meta["board"] = board_name
        fit_pass(g, board, fit)
        folding(g)
        timing(g)
        tiling(g)
        g.verify()
    times["passes"] = time.perf_counter() - t0
    if cal and cal[0] is not None:
        record_calibration(g, cal[0])
    g.meta["source_model"] = os.path.abspath(model_path)
    g.meta["source_sha256"] = file_sha256(model_path)
    return g, times


def choose_io(g: Graph, cfg: Config) -> None:
    """The io type of a CNN whose io the user did not set (``--io`` / ``model.io``):
    :func:`generator.passes.unroll.choose_io` decides, before any pass or writer spends
    time on the unrolled form; the choice is the first of ``meta["notes"]``."""
    from .ir import Embedding
    from .passes.unroll import choose_io as rule

    pick = None if cfg.io_from or g.of(Embedding) else rule(g)
    if pick is None:
        return
    io, why = pick
    cfg.io = io
    g.meta.setdefault("config", {})["io"] = io
    g.meta.setdefault("notes", []).insert(
        0, f"io {io} chosen for this CNN: {why} (--io sets it)")


def record_calibration(g: Graph, cal: Any) -> None:
    """The calibration's statistics and chosen types, and the accuracy of the design
    against the float model, into ``g.meta`` (``calibration``, ``accuracy``)."""
    from . import accuracy

    used = g.meta.pop("calibrated_types", {})
    notes = g.meta.setdefault("notes", [])
    if cal.samples:
        doc = cal.meta()
        doc["types"] = used
        g.meta["calibration"] = doc
        k = sum(len(v) for v in used.values())
        notes.append(
            f"calibration: {k} types chosen from {cal.samples} inputs ({cal.bits}-bit budget, "
            f"{doc['margin_bits']} integer bit of headroom, AP_RND, AP_SAT; docs/precision.md)"
            if k else "calibration: every type is set by the model's quantizers or the config; "
            "the data chose none")
    notes.extend(cal.notes)
    g.meta["accuracy"] = accuracy.measure(g, cal)


def write_project(g: Graph, out: str, cfg: Config,
                  extra_files: dict[str, str] | None = None) -> dict[str, float]:
    """Write ``out`` atomically (temporary sibling directory, then rename); ``extra_files``
    (name in ``out`` -> file) are copied in before the rename."""
    out = os.path.abspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ProjectError(f"output {out} exists and is not a directory")
    if os.path.isdir(out) and os.listdir(out) and not os.path.isfile(
        os.path.join(out, "nnfab.json")
    ):
        raise ProjectError(
            f"output directory {out} is not empty and not an nnfab project; choose another -o"
        )
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".nnfab-", dir=parent)
    times: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        ir.save(g, tmp)
        times["save"] = time.perf_counter() - t0
        for name, writer in WRITERS:
            t0 = time.perf_counter()
            with step(f"writing {name}"):
                writer(g, tmp, cfg)
            times[name] = time.perf_counter() - t0
        for name, src in (extra_files or {}).items():
            shutil.copyfile(src, os.path.join(tmp, name))
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return times


def load(out: str) -> Graph:
    """Read ``out/nnfab.json`` back (one-line error for a missing or old project)."""
    return ir.load(out)
