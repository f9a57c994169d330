"""HLS C-simulation: compile the generated firmware + testbench with g++ and run it.

Inputs are quantised in Python exactly like :func:`generator.reference.quantize_input`
and handed to the C++ testbench as raw ``int64`` bits (no float parsing anywhere); the
raw outputs come back the same way and are turned into float64 through the output
type. The executable is cached under ``OUT/hls/.csim_build/<sha256>/``, keyed by every
source byte, the compiler version and the flags, so a second run does not recompile;
with ``$NNFAB_CACHE_DIR`` set, under ``$NNFAB_CACHE_DIR/csim/<sha256>/`` instead, shared
by every project with the same sources.

Two forms of the same firmware (:data:`FORMS`): ``csim`` (the default) runs a latency
layer of more than ``CSIM_UNROLL_LIMIT`` nonzero weights as loops over its nonzero
arrays and reads large weight arrays from binary images (quick to compile);
``synth`` compiles exactly the source synthesis reads -- the unrolled sums of
``layers/*_unrolled.h`` and the weights as the text of ``weights/*.h`` (slow to compile
for large layers; ``nnfab csim --form synth``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from ...console import stepped
from ...errors import VerifyError
from ...ir import Graph
from ..toolchain import compiler_version
from .firmware import top_name

#: g++ flags of the C-simulation (and of ``make csim``). -O1 keeps the unrolled sums of
#: latency layers quick to compile while ap_fixed arithmetic still runs fast.
OPT_FLAGS = ["-O1", "-std=c++14", "-pthread"]
#: NNFAB_CSIM_THREADS: io_stream designs run one thread per dataflow process over FIFOs
#: bounded to their synthesis depths, so a FIFO too shallow deadlocks (and is reported)
#: in the C-simulation as it would in hardware.
DEFINES = ["-DNNFAB_CSIM_LOOPS", "-DNNFAB_CSIM_THREADS"] + (
    ["-DNNFAB_CSIM_INCBIN"] if sys.platform.startswith("linux") else [])
#: the defines of each C-simulation form: ``csim`` (loops for large layers, weights from
#: binary images) and ``synth`` (the unrolled sums and weight text synthesis reads)
FORMS: dict[str, list[str]] = {"csim": DEFINES, "synth": ["-DNNFAB_CSIM_THREADS"]}

#: Facts about the last :func:`run` (for tests and benchmarks): cached, build_seconds,
#: run_seconds, exe.
LAST: dict[str, Any] = {}


def ap_types_dir() -> str:
    """The directory holding ``ap_fixed.h`` (``generator.toolchain``)."""
    from ...toolchain import ToolchainError, ap_types_include_dir

    try:
        return str(ap_types_include_dir())
    except ToolchainError as e:
        raise VerifyError(str(e)) from None


def _compiler() -> str:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise VerifyError(f"C-simulation needs a C++ compiler: {cxx} is not on PATH (install g++)")
    return cxx


def sources(out: str, top: str) -> tuple[str, str, str]:
    """``(firmware dir, top .cpp, testbench .cpp)`` of a written project."""
    hls = os.path.join(out, "hls")
    fw = os.path.join(hls, "firmware")
    cpp = os.path.join(fw, f"{top}.cpp")
    tb = os.path.join(hls, "tb", f"tb_{top}.cpp")
    for p in (cpp, tb):
        if not os.path.isfile(p):
            raise VerifyError(f"{p} is missing: re-run 'nnfab convert' to write the HLS project")
    return fw, cpp, tb


def _digest(fw: str, tb: str, flags: list[str], cxx: str) -> str:
    h = hashlib.sha256()
    h.update("\0".join([compiler_version(cxx), *flags]).encode())
    for root, dirs, files in os.walk(fw):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(os.path.relpath(p, fw).encode() + b"\0")
            with open(p, "rb") as fh:
                h.update(fh.read())
    with open(tb, "rb") as fh:
        h.update(fh.read())
    return h.hexdigest()


def cache_root() -> str:
    """nnfab's per-user cache (``$NNFAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/nnfab``)."""
    d = os.environ.get("NNFAB_CACHE_DIR")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nnfab")


_PCH_HEADER = "#include <ap_fixed.h>\n#include <ap_int.h>\n#include <hls_stream.h>\n"


def precompiled_header(cxx: str, flags: list[str]) -> str | None:
    """A precompiled ``ap_fixed.h``/``hls_stream.h`` for ``flags`` (built once per user).

    Parsing the Xilinx headers is most of a small design's compile time; the
    precompiled header is a pure speed-up (same headers, same flags), so when it cannot
    be built the C-sim compiles without it. ``NNFAB_NO_PCH=1`` disables it.
    """
    if os.environ.get("NNFAB_NO_PCH"):
        return None
    h = hashlib.sha256("\0".join([compiler_version(cxx), *flags, _PCH_HEADER]).encode())
    ap = [f[2:] for f in flags if f.startswith("-I")]
    for d in ap:
        for name in ("ap_fixed.h", "ap_int.h", "hls_stream.h"):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                st = os.stat(p)
                h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    d = os.path.join(cache_root(), "pch", h.hexdigest()[:24])
    header = os.path.join(d, "nnfab_ap.h")
    if os.path.isfile(header + ".gch"):
        return header
    try:
        os.makedirs(d, exist_ok=True)
        if not os.path.isfile(header):
            fd, tmp = tempfile.mkstemp(dir=d, suffix=".h.tmp")
            with os.fdopen(fd, "w") as f:
                f.write(_PCH_HEADER)
            os.replace(tmp, header)
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".gch.tmp")
        os.close(fd)
        r = subprocess.run([cxx, *flags, "-x", "c++-header", header, "-o", tmp],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            os.unlink(tmp)
            return None
        os.replace(tmp, header + ".gch")
    except OSError:
        return None
    return header


def _defines(form: str) -> list[str]:
    if form not in FORMS:
        raise VerifyError(f"unknown C-simulation form {form!r}; supported: {', '.join(FORMS)}")
    return FORMS[form]


@stepped("building the C-simulation (g++)")
def build(out: str, top: str, form: str = "csim") -> str:
    """Compile (or reuse) the C-sim executable of ``out`` in ``form``; returns its path."""
    defines = _defines(form)
    fw, cpp, tb = sources(out, top)
    cxx = _compiler()
    ap = ap_types_dir()
    flags = [*OPT_FLAGS, *defines, f"-I{ap}", f"-I{fw}", f"-Wa,-I{os.path.join(fw, 'weights')}"]
    # the key names no path: the sources' bytes and relative names, and the flags
    key = _digest(fw, tb, [f.replace(fw, "<fw>") for f in flags], cxx)
    shared = os.environ.get("NNFAB_CACHE_DIR")
    cache = os.path.join(shared, "csim") if shared else os.path.join(out, "hls", ".csim_build")
    exe = os.path.join(cache, key[:24], f"tb_{top}")
    if os.path.isfile(exe):
        LAST.clear()
        LAST.update(cached=True, build_seconds=0.0, exe=exe)
        return exe
    t0 = time.perf_counter()
    pch = precompiled_header(cxx, [*OPT_FLAGS, *defines, f"-I{ap}"])
    pch_seconds = time.perf_counter() - t0
    cflags = [*flags, "-include", pch, "-Winvalid-pch"] if pch else flags
    os.makedirs(cache, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="build-", dir=cache)
    try:
        objs = []
        procs = []
        for src in (cpp, tb):
            obj = os.path.join(tmp, os.path.basename(src) + ".o")
            objs.append(obj)
            procs.append((src, subprocess.Popen(
                [cxx, *cflags, "-c", src, "-o", obj],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
        for src, p in procs:
            log, _ = p.communicate()
            if p.returncode != 0:
                raise VerifyError(
                    f"C-simulation build of {os.path.basename(src)} failed (g++ exit "
                    f"{p.returncode}): {_first_error(log)}"
                )
        r = subprocess.run([cxx, "-pthread", *objs, "-o", os.path.join(tmp, f"tb_{top}")],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise VerifyError(f"C-simulation link failed: {_first_error(r.stderr + r.stdout)}")
        final = os.path.dirname(exe)
        if os.path.isdir(final):
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:  # built meanwhile by another process: the same executable
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    LAST.clear()
    LAST.update(cached=False, build_seconds=time.perf_counter() - t0, exe=exe,
                pch_seconds=pch_seconds)
    return exe


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if "error" in line:
            return line.strip()
    return " ".join(log.split())[:300]


def run_raw(exe: str, x_raw: npt.NDArray[np.int64], n_out: int,
            expected: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.int64]:
    """Run the testbench executable on raw input rows; raw output rows."""
    rows = len(x_raw)
    with tempfile.TemporaryDirectory(prefix="nnfab-csim-") as d:
        fin = os.path.join(d, "inputs.bin")
        fout = os.path.join(d, "outputs.bin")
        np.ascontiguousarray(x_raw.reshape(rows, -1), dtype="<i8").tofile(fin)
        args = [exe, fin, fout]
        r = subprocess.run(args, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise VerifyError(f"C-simulation failed (exit {r.returncode}): {_first_error(r.stderr)}")
        y = np.fromfile(fout, dtype="<i8").astype(np.int64)
    return y.reshape(rows, n_out)


def run(g: Graph, out: str, x: npt.ArrayLike, form: str = "csim") -> npt.NDArray[np.float64]:
    """Exact float64 outputs of the HLS C-simulation of project ``out`` on inputs ``x``
    (``form``: one of :data:`FORMS`)."""
    from ...reference import ReferenceError_, output_values, quantize_input

    try:
        x_raw = quantize_input(g, x)
    except ReferenceError_ as e:
        raise VerifyError(str(e)) from None
    top = top_name(g)
    exe = build(out, top, form)
    t_out = g.outputs[0]
    t0 = time.perf_counter()
    y_raw = run_raw(exe, x_raw, t_out.size)
    LAST["run_seconds"] = time.perf_counter() - t0
    return output_values(g, y_raw)
