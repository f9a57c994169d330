"""Reports people read: OUT/report.md sections, report.json estimates, PNG plots."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from generator import config, estimate, report
from generator.fit import fit
from generator.frontends.keras import convert_file
from generator.ir import Dense
from generator.passes import run_pipeline

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits_mlp" / "digits_mlp.h5"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECTIONS = ("## Layers", "## Resources and cycles (RTL estimate)", "## Board fit",
            "## Roofline", "## Plots")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    return w, h


@pytest.fixture(scope="module")
def digits():
    g, _ = convert_file(str(DIGITS), config.load(None))
    run_pipeline(g)
    return g


def _fitted(g, board="pynq-z2", goal="throughput"):
    g.meta["board"] = board
    fit(g, board, goal)
    return g


def test_report_md_json_and_plots(digits, tmp_path):
    g = _fitted(digits)
    doc = report.write(g, str(tmp_path))
    for name in ("roofline.png", "resources.png", "sparsity.png"):
        p = tmp_path / "plots" / name
        assert p.is_file()
        w, h = _png_size(p)
        assert 400 <= w <= 2000 and 300 <= h <= 1500, (name, w, h)
        assert p.stat().st_size > 10_000
    assert doc["plots"] == ["roofline.png", "resources.png", "sparsity.png"]
    md = (tmp_path / "report.md").read_text()
    for s in SECTIONS:
        assert s in md, s
    assert "![roofline](plots/roofline.png)" in md
    # per-layer resources, cycles and sparsity
    est = estimate.estimate(g)
    for r in est["layers"]:
        assert (f"| {r['name']} | {r['impl']} |" in md)
    fc1 = next(r for r in est["layers"] if r["name"] == "fc1")
    assert (f"| {fc1['latency_cycles']} | {fc1['ii_cycles']} | {fc1['dsp']} | {fc1['bram18']} | "
            f"{fc1['lut']} | {fc1['ff']} |") in md
    d = next(n for n in g.of(Dense) if n.name == "fc1")
    sp = 1 - int(d["nnz"]) / d.weights["weight"].data.size
    assert f"{100 * sp:.1f} %" in md
    assert "% of the bound" in md
    js = json.loads((tmp_path / "report.json").read_text())
    assert js["estimate"]["total"]["ii_cycles"] == est["total"]["ii_cycles"]
    row = next(r for r in js["layers"] if r["name"] == "fc1")
    assert row["lut"] == fc1["lut"] and row["latency_cycles"] == fc1["latency_cycles"]
    assert js["fit"]["board"] == "pynq-z2"
    assert 0 < js["roofline"]["fraction_of_bound"] <= 1.0 + 1e-9
    assert {p["name"] for p in js["roofline"]["layers"]} == {"fc1", "fc2"}


def test_report_without_board_or_fit(digits, tmp_path):
    g = digits
    g.meta.pop("fit", None)
    g.meta.pop("board", None)
    doc = report.write(g, str(tmp_path))
    md = (tmp_path / "report.md").read_text()
    assert "not fitted (convert with `--board NAME --fit throughput|latency`)" in md
    assert doc["roofline"]["board"] is None
    assert (tmp_path / "plots" / "roofline.png").is_file()


def test_report_text_for_the_cli(digits, tmp_path):
    g = _fitted(digits, "zcu104")
    rep = estimate.report(g, str(tmp_path))
    txt = report.text(g, rep)
    lines = txt.splitlines()
    assert lines[0].split()[:6] == ["layer", "impl", "R", "nnz", "sparse", "latency"]
    assert any(ln.startswith("fc1") and "dense_parallel" in ln for ln in lines)
    assert any(ln.startswith("total (estimate)") for ln in lines)
    assert "board zcu104" in txt and "fit throughput on zcu104" in txt


def test_plots_missing_matplotlib_is_noted(digits, tmp_path, monkeypatch):
    from generator import plots

    def refuse(*a, **k):
        raise plots.PlotError(plots.MISSING)

    monkeypatch.setattr(plots, "_plt", refuse)
    doc = report.write(digits, str(tmp_path))
    assert doc["plots_note"] == plots.MISSING
    assert plots.MISSING in (tmp_path / "report.md").read_text()


def test_plots_of_an_unrolled_recurrent_layer_are_per_source_layer(tmp_path):
    """rnn_simple's QSimpleRNN is 6 steps of nodes: the plots draw it as one bar (its
    nodes' resources and weights summed), readable at the usual size."""
    import zoo

    from generator import plots
    from generator.frontends.keras import from_model

    g = from_model(zoo.build(next(e for e in zoo.CNN_ZOO if e.name == "rnn_simple")),
                   config.load(None))
    run_pipeline(g)
    doc = report.write(g, str(tmp_path))
    assert len(doc["estimate"]["layers"]) > plots.MAX_BARS
    rows, grouped = plots._by_source(doc)
    # (the fork FIFOs that buffer the input for the later steps: one bar)
    assert grouped and [r["name"] for r in rows] == ["q_in", "rnn", "per_step", "flat", "out",
                                                     "FIFOs"]
    for k in ("dsp", "lut", "ff"):
        assert sum(r[k] for r in rows) == sum(r[k] for r in doc["estimate"]["layers"])
    rnn = rows[1]
    assert rnn["impls"] == {"dense_parallel": len(g.of(Dense)) - 1}
    assert rows[2]["impls"] == {"conv_unrolled": 1}
    for name in ("resources.png", "sparsity.png"):
        w, h = _png_size(tmp_path / "plots" / name)
        assert w <= 1500 and h <= 800, (name, w, h)
