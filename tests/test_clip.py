"""ONNX ``Clip`` with constant bounds: the IR's Clip equals qonnx's execution in the
reference, the HLS C-simulation and the Verilator RTL simulation, bit for bit; bounds off
the input grid are refused in one line naming the node."""

from __future__ import annotations

import json

import numpy as np
import pytest
import qonnx_zoo as qz

import generator as nnfab
from generator import config, ir, reference
from generator.frontends import qonnx as fq
from generator.frontends.keras import FrontendError
from generator.passes import run_pipeline

#: the Clip's bounds: on the 2^-3 grid of the MatMul's exact sum
LO, HI = -1.5, 2.25


def clip_model(path: str, lo: float = LO, hi: float = HI, wscale: float = 2**-1) -> None:
    """Quant -> MatMul -> Clip(lo, hi) -> Quant -> MatMul -> Quant; with power-of-two
    scales the Clip acts on the exact sum (an IR node of its own)."""
    n = qz._Net(11)
    x = n.quant("x", "xq", 2**-2, 6)
    w0 = n.quant(n.weight("w0", (8, 6), 0.0), "w0q", wscale, 3)
    y = n.node("MatMul", [x, w0], "mm0")
    y = n.node("Clip", [y, n.const("lo", lo), n.const("hi", hi)], "clip0")
    y = n.quant(y, "a0", 2**-2, 5)
    w1 = n.quant(n.weight("w1", (6, 4), 0.0), "w1q", 2**-2, 4)
    y = n.quant(n.node("MatMul", [y, w1], "mm1"), "a1", 2**-3, 8)
    n.save(path, "clip_mlp", (8,), 4, y)


def inputs(rows: int = 300) -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.ldexp(rng.integers(-40, 41, (rows, 8)).astype(np.float64), -2)


def test_clip_reference_equals_qonnx(tmp_path) -> None:
    """One Clip node on the sum's grid; the reference equals qonnx's ``execute_onnx``, and
    the bounds are reached (some values are actually clipped)."""
    path = str(tmp_path / "clip.onnx")
    clip_model(path)
    g = fq.from_model(fq.load_model(path), config.from_dict({}))
    run_pipeline(g)
    (c,) = g.of(ir.Clip)
    t = c.input.ftype
    assert (c["lo_raw"], c["hi_raw"]) == (LO * 2**t.frac, HI * 2**t.frac)
    assert c.output.ftype.frac == t.frac and c.output.ftype.width < t.width
    x = inputs()
    np.testing.assert_array_equal(reference.predict(g, x), fq.predict(path, x))
    trace = reference.run(g, x, keep=True)
    pre, post = trace[c.input.name], trace[c.output.name]
    assert (pre < c["lo_raw"]).any() and (pre > c["hi_raw"]).any()
    assert {c["lo_raw"], c["hi_raw"]} <= set(np.unique(post))
    assert len(np.unique(reference.predict(g, x))) > 20


@pytest.mark.slow
@pytest.mark.rtl
def test_clip_csim_and_rtl_equal_the_reference(tmp_path) -> None:
    path = str(tmp_path / "clip.onnx")
    clip_model(path)
    p = nnfab.convert(path, tmp_path / "o")
    x = inputs(200)
    y = p.predict(x)
    assert len(np.unique(y)) > 20
    np.testing.assert_array_equal(p.csim(x), y)
    np.testing.assert_array_equal(p.rtlsim(x)[0], y)
    o = tmp_path / "o"
    assert "nnfab::clip<" in (o / "hls" / "firmware" / "layers" / "Clip_0.h").read_text()
    assert "nnfab_clip_vec #(" in (o / "rtl" / "clip.v").read_text()
    rep = json.loads((o / "report.json").read_text())  # written by convert
    est = next(r for r in rep["estimate"]["layers"] if r["op"] == "Clip")
    assert est["impl"] == "elementwise" and est["lut"] > 0


def test_clip_off_the_grid_is_refused(tmp_path) -> None:
    path = str(tmp_path / "clip.onnx")
    clip_model(path, lo=-1.3)
    with pytest.raises(FrontendError, match=r"^node Clip_0 \(Clip\): min -1\.3 is not one "
                                            r"value on the input grid .*; supported: [^\n]*$"):
        fq.from_model(fq.load_model(path), config.from_dict({}))


def test_clip_after_a_float_scale_is_read_off_into_thresholds(tmp_path) -> None:
    """A float weight scale (0.375: no power of two, its float32 products exact): the Clip
    is float arithmetic of the integer sum, absorbed with the next Quant into one Threshold
    (read off qonnx's execution)."""
    path = str(tmp_path / "clip.onnx")
    clip_model(path, wscale=0.375)
    g = fq.from_model(fq.load_model(path), config.from_dict({}))
    run_pipeline(g)
    assert not g.of(ir.Clip) and g.of(ir.Threshold)
    x = inputs()
    np.testing.assert_array_equal(reference.predict(g, x), fq.predict(path, x))
