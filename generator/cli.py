"""The ``nnfab`` command line: argument parsing and printing only, no logic of its own.

Every failure nnfab anticipates (a ValueError subclass raised by a ``generator`` module,
or a missing file) is printed as one line ``nnfab: error: ...`` with exit status 2; a
verification mismatch exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

EXIT_MISMATCH = 1
EXIT_ERROR = 2


class CLIError(ValueError):
    """A bad command-line argument."""


def _load_x(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise CLIError(f"input file {path} does not exist")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise CLIError(f"input file {path} is not a .npy array ({str(e).splitlines()[0]})") from None
    if not np.issubdtype(x.dtype, np.number):
        raise CLIError(f"input file {path}: dtype {x.dtype} is not numeric")
    return x


def _save_y(path: str, y: np.ndarray) -> None:
    np.save(path, np.asarray(y, dtype=np.float64))


# -- commands ------------------------------------------------------------------------------


def cmd_convert(a: argparse.Namespace) -> int:
    from . import config, project

    t_start = time.perf_counter()
    cfg = config.load(a.config, a.precision, strategy=a.strategy, reuse=a.reuse, io=a.io,
                      calibrate=a.calibrate, bits=a.bits, validate=a.validate)
    if a.board:
        from .boards import load_board

        load_board(a.board)
    if a.fit and not a.board:
        raise CLIError("--fit needs a target board: add --board NAME (see 'nnfab boards')")
    g, times = project.build_graph(a.model, cfg, a.board, fit=a.fit, clock=a.clock)
    if a.fit:
        from .fit import text as fit_text

        print(fit_text(g.meta["fit"]))
    wtimes = project.write_project(g, a.output, cfg)
    total = time.perf_counter() - t_start
    for note in g.meta.get("notes", []):
        print(f"note: {note}")
    from .backends.rtl import UNSUPPORTED

    unsupported = os.path.join(a.output, "rtl", UNSUPPORTED)
    if os.path.isfile(unsupported):  # the other views are written; say so now, not at verify
        with open(unsupported) as f:
            print(f"note: no RTL view (rtl/{UNSUPPORTED}): {f.read().strip()}")
    if "accuracy" in g.meta:
        from .accuracy import summary_line

        print(summary_line(g.meta["accuracy"]))
    print(f"nnfab: wrote {a.output} ({len(g.nodes)} nodes)")
    if a.verbose:
        after_tf = total - times.get("import_tf", 0.0)  # (a QONNX model imports no TF)
        if "import_tf" in times:
            print(f"  import tensorflow {times['import_tf']:.3f} s")
        print(f"  load model        {times['load_model']:.3f} s")
        print(f"  frontend          {times['frontend']:.3f} s")
        print(f"  passes            {times['passes']:.3f} s")
        for k, v in wtimes.items():
            print(f"  write {k:<11} {v:.3f} s")
        print(f"  after tensorflow  {after_tf:.3f} s (total {total:.3f} s)")
    return 0


def cmd_inspect(a: argparse.Namespace) -> int:
    from . import config, project, report

    cfg = config.load(None, a.precision)
    g, _ = project.build_graph(a.model, cfg)
    rows = report.layer_rows(g)
    if a.json:
        print(json.dumps({"summary": report.summary(g), "layers": rows}))
        return 0
    print(report.text_table(rows))
    s = report.summary(g)
    print(
        f"\n{s['weights']} weights, {s['nonzero_weights']} nonzero "
        f"({100 * s['sparsity']:.1f} % pruned); fully quantized: {s['fully_quantized']}"
    )
    if s["unread_units"]:
        print("units no later layer reads, their weights dropped (outputs unchanged): "
              + ", ".join(f"{k} {v}" for k, v in s["unread_units"].items()))
    for line in report.host_lines(g):
        print(line)
    for note in s["notes"]:
        print(f"note: {note}")
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    from . import project, reference

    g = project.load(a.out)
    x = _load_x(a.input)
    y = reference.predict(g, x)
    _save_y(a.output, y)
    print(f"nnfab: wrote {a.output} {y.shape}")
    return 0


def cmd_csim(a: argparse.Namespace) -> int:
    from . import project
    from .backends.hls import csim

    g = project.load(a.out)
    x = _load_x(a.input)
    y = csim.run(g, a.out, x, form=a.form)
    _save_y(a.output, y)
    print(f"nnfab: wrote {a.output} {y.shape} (C-simulation, {a.form} form)")
    return 0


def cmd_rtlsim(a: argparse.Namespace) -> int:
    from . import project
    from .backends.rtl import sim

    g = project.load(a.out)
    x = _load_x(a.input)
    y, stats = sim.run(g, a.out, x)
    _save_y(a.output, y)
    print(f"nnfab: wrote {a.output} {y.shape} (RTL simulation)")
    print(f"latency {stats['latency_cycles']} cycles, II {stats['ii_cycles']} cycles")
    from . import estimate

    for name, c in estimate.skip_cycles(g, x).items():
        # zero-skipping layers: cycles per vector depend on the data; the measured output
        # gaps of the full-rate phase against the model of the same vectors
        gaps = stats.get("out_gaps") or []
        row = next(r for r in estimate.estimate(g)["layers"] if r["name"] == name)
        print(f"{name} skips zero inputs: model cycles/vector min {int(c.min())}, mean "
              f"{float(c.mean()):.1f}, max {int(c.max())} over {len(c)} vectors (best 1, "
              f"worst {row['ii_worst_cycles']}); measured output gaps at full rate: "
              + (f"min {min(gaps)}, mean {sum(gaps) / len(gaps):.1f}, max {max(gaps)} over "
                 f"{len(gaps)}" if gaps else "none"))
    for f in stats["findings"]:
        print(f"FAIL: {f}")
    return EXIT_MISMATCH if stats["findings"] else 0


def cmd_report(a: argparse.Namespace) -> int:
    from . import estimate, project, report

    g = project.load(a.out)
    rep = estimate.report(g, a.out, synth=a.synth)
    if a.pnr:
        from .backends.board import ecp5

        rep["pnr"] = ecp5.report_pnr(g, a.out, progress=lambda s: print(s, file=sys.stderr))
    report.write(g, a.out, plots=True)  # report.md, report.json and OUT/plots/*.png
    if a.json:
        print(json.dumps(rep))
    else:
        print(report.text(g, rep))
        if a.pnr:
            print("\n".join(ecp5.pnr_lines(rep["pnr"])))
    return 0


def cmd_build(a: argparse.Namespace) -> int:
    """Run the vendor flow of OUT: the board flow (``OUT/board.json``) or, for a project
    converted without ``--board``, the HLS flow. Exit 3 when the tool is not on PATH."""
    import shutil
    import subprocess

    from .backends.board import EXIT_TOOL_MISSING, VendorStep, vendor_step

    if not os.path.isdir(a.out):
        raise CLIError(f"output project {a.out} does not exist; run nnfab convert first")
    from .backends.board import ecp5, open_flow

    if open_flow(a.out):  # the open flow runs here: exit 0 only when the clock is met
        res = ecp5.run(a.out)
        if not res.met:
            raise ecp5.TimingError(f"{res.line()}; no bitstream written")
        print(f"nnfab: {res.line()}; wrote {res.bitstream} (+ .svf), "
              f"{os.path.join(a.out, 'ecp5', 'report.md')}")
        return 0
    step = vendor_step(a.out)
    if step is None:
        hls = next((t for t in ("vitis_hls", "vivado_hls") if shutil.which(t)), None)
        step = VendorStep(hls or "vitis_hls", ".", ["make", "hls", f"HLS={hls or 'vitis_hls'}"])
    if not shutil.which(step.tool):
        print(f"nnfab: {step.tool} not found on PATH; on a machine with it run: "
              f"{step.command(a.out)}", file=sys.stderr)
        return EXIT_TOOL_MISSING
    return subprocess.call(step.argv, cwd=os.path.join(a.out, step.cwd))


def cmd_verify(a: argparse.Namespace) -> int:
    from . import project, verify

    g = project.load(a.out)
    x = _load_x(a.input) if a.input else verify.samples(g, a.samples)
    results = verify.run_all(g, a.out, x, views=a.views)
    ok = all(r.ok for r in results)
    if a.json:
        print(json.dumps({"ok": ok, "rows": len(x), "views": [r.to_json() for r in results]}))
    else:
        print(verify.table(results))
        print("\nverify: " + ("PASS (all required views bit-exact)" if ok else "FAIL"))
    return 0 if ok else EXIT_MISMATCH


def cmd_boards(a: argparse.Namespace) -> int:
    from .boards import list_boards

    bs = list_boards()
    if a.json:
        print(json.dumps([b.__dict__ for b in bs]))
        return 0
    print(f"{'board':<14}{'part':<24}{'family':<7}{'MHz':>5}{'LUT':>9}{'DSP':>7}{'BRAM18':>8}"
          f"{'URAM':>6}  flow")
    for b in bs:
        print(f"{b.name:<14}{b.part:<24}{b.family:<7}{b.clock_mhz:>5}{b.lut:>9}{b.dsp:>7}"
              f"{b.bram18:>8}{b.uram:>6}  {b.flow}")
    return 0


# -- parser --------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnfab", description=__doc__.splitlines()[0])
    from ._version import __version__

    p.add_argument("--version", action="version", version=f"nnfab {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("convert", help="model file -> output project")
    c.add_argument("model")
    c.add_argument("-o", "--output", required=True)
    c.add_argument("--board")
    c.add_argument("--config")
    c.add_argument("--precision")
    c.add_argument("--reuse", type=int)
    c.add_argument("--strategy", choices=["latency", "resource"])
    c.add_argument("--io", choices=["parallel", "stream"])
    c.add_argument("--fit", choices=["throughput", "latency"])
    c.add_argument("--calibrate", metavar="X.npy", help="float model: types from these inputs")
    c.add_argument("--bits", type=int, help="bit budget of calibrated types (default 16)")
    c.add_argument("--validate", metavar="Y.npy", help="measure accuracy on these inputs")
    c.add_argument("--clock", type=float, metavar="MHZ",
                   help="target clock the pipeline registers are placed for (default: the "
                        "board's clock; without --board 200 MHz)")
    c.add_argument("-v", "--verbose", action="store_true")
    c.set_defaults(fn=cmd_convert)

    i = sub.add_parser("inspect", help="layer table, quantizers, sparsity")
    i.add_argument("model")
    i.add_argument("--precision")
    i.add_argument("--json", action="store_true")
    i.set_defaults(fn=cmd_inspect)

    pr = sub.add_parser("predict", help="reference model on X.npy")
    pr.add_argument("out")
    pr.add_argument("-i", "--input", required=True)
    pr.add_argument("-o", "--output", required=True)
    pr.set_defaults(fn=cmd_predict)

    v = sub.add_parser("verify", help="compare all views; exit 1 on any mismatch")
    v.add_argument("out")
    v.add_argument("-i", "--input")
    v.add_argument("--samples", type=int, default=1000)
    v.add_argument("--views", help="comma-separated subset of views to run (reference, "
                   "source, csim, rtl; csim_synth, the unrolled source synthesis reads, "
                   "only when named)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(fn=cmd_verify)

    cs = sub.add_parser("csim", help="HLS C-simulation (g++ against ap_fixed) on X.npy")
    cs.add_argument("out")
    cs.add_argument("-i", "--input", required=True)
    cs.add_argument("-o", "--output", required=True)
    cs.add_argument("--form", choices=["csim", "synth"], default="csim",
                    help="csim: large layers as loops (quick to compile); synth: the "
                    "unrolled source synthesis reads")
    cs.set_defaults(fn=cmd_csim)

    rs = sub.add_parser("rtlsim", help="Verilator via cocotb on X.npy; prints latency/II; "
                        "exit 1 on any testbench failure")
    rs.add_argument("out")
    rs.add_argument("-i", "--input", required=True)
    rs.add_argument("-o", "--output", required=True)
    rs.set_defaults(fn=cmd_rtlsim)

    rp = sub.add_parser("report", help="estimates (+ Yosys synth_xilinx with --synth)")
    rp.add_argument("out")
    rp.add_argument("--synth", action="store_true")
    rp.add_argument("--pnr", action="store_true",
                    help="place and route (open-flow families: ECP5) for routed Fmax")
    rp.add_argument("--json", action="store_true")
    rp.set_defaults(fn=cmd_report)

    bd = sub.add_parser("build", help="vendor flow when vitis_hls/vivado are on PATH")
    bd.add_argument("out")
    bd.set_defaults(fn=cmd_build)

    b = sub.add_parser("boards", help="list boards")
    b.add_argument("--json", action="store_true")
    b.set_defaults(fn=cmd_boards)
    for sp in sub.choices.values():  # progress displays (stderr, a terminal only) off
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    a = parser().parse_args(argv)
    if a.quiet:
        from .console import set_quiet

        set_quiet(True)
    try:
        return int(a.fn(a))
    except ValueError as e:
        if not type(e).__module__.startswith("generator"):
            raise
        print(f"nnfab: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return EXIT_ERROR
    except FileNotFoundError as e:
        print(f"nnfab: error: {e.filename}: no such file", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
