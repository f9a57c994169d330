"""Real Brevitas / FINN QONNX models (``examples/qonnx_zoo/``, public, unmodified)
streamlined exactly: per-channel thresholds read off qonnx's execution, host pre- and
post-processing in float32, every view equal to ``execute_onnx`` on seeded float
inputs on a 2^-6 grid in [-1.5, 1.5]."""

from __future__ import annotations

import os

import numpy as np
import pytest

from generator import config, ir, reference
from generator.frontends import qonnx as fq
from generator.passes import run_pipeline

ZOO = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "qonnx_zoo")
MODELS = ("TFC_2W2A", "kwsmlp_w3a3")


def _inputs(g: ir.Graph, n: int = 1000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(-96, 97, (n, *reference.input_shape(g))) / 64.0).astype(np.float32)


@pytest.fixture(scope="session")
def streamlined() -> dict[str, ir.Graph]:
    out = {}
    for name in MODELS:
        g = fq.from_model(fq.load_model(os.path.join(ZOO, f"{name}.onnx")), config.load(None))
        run_pipeline(g)
        out[name] = g
    return out


@pytest.mark.parametrize("name", MODELS)
def test_reference_equals_execute_onnx(streamlined: dict[str, ir.Graph], name: str) -> None:
    g = streamlined[name]
    x = _inputs(g)
    y = reference.predict(g, x)
    np.testing.assert_array_equal(y, fq.predict(os.path.join(ZOO, f"{name}.onnx"), x)
                                  .reshape(y.shape))
    assert g.meta["fully_quantized"]


def test_tfc_split_and_thresholds(streamlined: dict[str, ir.Graph]) -> None:
    """TFC: ``x * 2 - 1`` and the input Quant on the host; MatMul + BatchNorm + Quant as
    a per-channel Threshold (2-bit: two thresholds per channel); the scalar
    Sub / Div / Mul / Add after the last MatMul on the host."""
    g = streamlined["TFC_2W2A"]
    h = g.meta["host"]
    assert [o["op"] for o in h["pre"]] == ["Reshape", "Mul", "Sub", "Quant"]
    assert [o["op"] for o in h["post"]] == ["Sub", "Div", "Mul", "Add"]
    assert h["input_shape"] == [1, 28, 28]
    ths = g.of(ir.Threshold)
    assert [t["function"] for t in ths] == ["BatchNormalization + Quant"] * 3
    assert all(t.weights["thresholds"].data.shape == (64, 2) for t in ths)
    assert [n.OP for n in g.nodes].count("Dense") == 4


def test_kws_float_scale_tail_on_the_host(streamlined: dict[str, ir.Graph]) -> None:
    """kwsmlp: float per-channel weight scales absorbed into 3-bit thresholds; the last
    MatMul's float32 sum is no function of its integer sum, so the host runs it."""
    g = streamlined["kwsmlp_w3a3"]
    assert [o["op"] for o in g.meta["host"]["post"]] == ["Dequant", "MatMul"]
    assert [n.OP for n in g.nodes].count("Dense") == 3
    assert all(t.weights["levels"].ftype == ir.FixedType(3, 3, False)
               for t in g.of(ir.Threshold))


def test_readoff_refuses_non_monotone(tmp_path) -> None:
    """``1 / sum`` before a Quant falls, jumps at 0, then falls again: no Threshold
    computes it; refused in one line naming the nodes."""
    import qonnx_zoo as qz

    n = qz._Net(4)
    x = n.quant("x", "xq", 0.3, 4)
    w = n.quant(n.weight("w", (4, 3), 0.0), "wq", 0.07, 3)
    y = n.node("Div", [n.const("one", 1.0), n.node("MatMul", [x, w], "fc")], "inv")
    path = str(tmp_path / "nm.onnx")
    n.save(path, "nm", (4,), 3, n.quant(y, "yq", 0.25, 4))
    with pytest.raises(ValueError, match=r"^nodes Div_0, Quant_\d+: not monotone in the "
                                         r"integer sum MatMul_0 \(channel \d+"):
        fq.from_model(fq.load_model(path), config.load(None))


@pytest.fixture(scope="module")
def tfc_board(tmp_path_factory: pytest.TempPathFactory) -> str:
    """TFC_2W2A converted with no option but the board and its fit: ``nnfab convert
    TFC_2W2A.onnx --board pynq-z2 --fit throughput``."""
    from generator.cli import main

    out = str(tmp_path_factory.mktemp("tfc") / "o")
    assert main(["convert", os.path.join(ZOO, "TFC_2W2A.onnx"), "-o", out,
                 "--board", "pynq-z2", "--fit", "throughput"]) == 0
    return out


@pytest.mark.rtl
def test_tfc_every_view_and_the_split(capsys, tfc_board: str) -> None:
    """``verify``: reference = source (execute_onnx) = C-sim = RTL on 1,000 host-domain
    inputs; ``inspect`` and report.md show the hardware / host split."""
    from generator.cli import main

    capsys.readouterr()
    views = ["source", "csim", "rtl"]
    assert main(["verify", tfc_board, "--samples", "1000", "--views", ",".join(views)]) == 0
    text = capsys.readouterr().out
    rows = [ln.split()[0] for ln in text.splitlines() if ln.rstrip().endswith("bit-exact")]
    assert "verify: PASS" in text and rows == views, text
    with open(os.path.join(tfc_board, "report.md")) as f:
        md = f.read()
    assert "## Hardware and host" in md and "Sub_1 (Sub): x - 1.207326" in md
    assert main(["inspect", os.path.join(ZOO, "TFC_2W2A.onnx")]) == 0
    text = capsys.readouterr().out
    assert ("host pre-processing (float32, before the hardware input): Reshape_0 (Reshape): "
            "reshape; Mul_0 (Mul): x * 2; Sub_0 (Sub): x - 1; Quant_4 (Quant)") in text
    assert "hardware: MatMul_0, Quant_5, MatMul_1" in text


@pytest.mark.rtl
def test_kws_every_view_equals_execute_onnx(tmp_path) -> None:
    """kwsmlp folded (``--strategy resource --reuse 256``): C-sim and RTL on 1,000 inputs
    equal the reference, which equals qonnx's execution (float-scale input quantiser on
    the host, 256 x 7 thresholds per layer, the float-scale last MatMul on the host)."""
    from conftest import assert_outputs_vary

    from generator import api
    from generator.backends.hls import csim
    from generator.backends.rtl import sim
    from generator.cli import main

    path = os.path.join(ZOO, "kwsmlp_w3a3.onnx")
    out = str(tmp_path / "kws")
    assert main(["convert", path, "-o", out, "--strategy", "resource", "--reuse", "256"]) == 0
    g = api.load(out).graph
    x = _inputs(g, seed=5)
    y = reference.predict(g, x)
    np.testing.assert_array_equal(y, fq.predict(path, x).reshape(y.shape))
    assert_outputs_vary(y)
    np.testing.assert_array_equal(csim.run(g, out, x), y)
    yr, stats = sim.run(g, out, x)
    assert stats["findings"] == []
    np.testing.assert_array_equal(yr, y)


@pytest.mark.slow
def test_tfc_pynq_driver_applies_the_host_work(tfc_board: str, monkeypatch) -> None:
    """The PYNQ driver (no nnfab import) runs the host pre-processing, the accelerator
    (a stand-in DMA computing the IR on the raw beats) and the post-processing: its self-test
    outputs equal qonnx's execution of the model."""
    import sys

    from test_board_flow import _fake_pynq, _load_driver

    from generator.backends import board as bflow

    g = ir.load(tfc_board)
    drv = _load_driver(os.path.join(tfc_board, "driver", "nnfab_driver.py"))
    hw = ir.load(tfc_board)
    hw.meta["host"] = {**hw.meta["host"], "pre": []}  # the stand-in DMA gets raw integers
    monkeypatch.setitem(sys.modules, "pynq", _fake_pynq(hw, bflow.layout(g)))
    assert drv.self_test("nnfab.bit", os.path.join(tfc_board, "driver")) == 0
    x = np.load(os.path.join(tfc_board, "driver", "test_inputs.npy"))
    assert x.shape[1:] == (1, 28, 28)
    y = drv.NnfabAccel("nnfab.bit").predict(x)
    np.testing.assert_array_equal(y, fq.predict(os.path.join(ZOO, "TFC_2W2A.onnx"), x))


BREVITAS = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "brevitas_zoo")
BREVITAS_MODELS = ("mlp_float", "mlp_channel", "mlp_bipolar", "conv_bn")


def _check_source(g: ir.Graph, y: np.ndarray, ys: np.ndarray) -> None:
    """Bit-exact; a host Softmax tail: argmax-identical, within float32 rounding."""
    ys = ys.reshape(y.shape)
    if g.meta["fully_quantized"]:
        np.testing.assert_array_equal(y, ys)
    else:
        assert any(o["op"] == "Softmax" for o in g.meta["host"]["post"])
        np.testing.assert_array_equal(y.argmax(axis=1), ys.argmax(axis=1))
        assert np.abs(y - ys).max() <= 1e-6


@pytest.mark.parametrize("name", BREVITAS_MODELS)
def test_brevitas_zoo_reference_equals_execute_onnx(name: str) -> None:
    path = os.path.join(BREVITAS, f"{name}.onnx")
    g = fq.from_model(fq.load_model(path), config.load(None))
    run_pipeline(g)
    x = _inputs(g, seed=3)
    _check_source(g, reference.predict(g, x), fq.predict(path, x))
    assert g.of(ir.Threshold) and not g.of(ir.ScaleShift)


@pytest.mark.rtl
@pytest.mark.parametrize("name,opts", [("mlp_float", []), ("mlp_channel", ["--io", "stream"]),
                                       ("mlp_bipolar", []), ("conv_bn", ["--io", "stream"])])
def test_brevitas_zoo_every_view(name: str, opts: list[str], tmp_path) -> None:
    """``nnfab convert`` (no precision option), then C-sim and RTL on 1,000 inputs equal
    the reference, which equals qonnx's execution."""
    from generator import api
    from generator.backends.hls import csim
    from generator.backends.rtl import sim
    from generator.cli import main

    path = os.path.join(BREVITAS, f"{name}.onnx")
    out = str(tmp_path / name)
    assert main(["convert", path, "-o", out, *opts]) == 0
    g = api.load(out).graph
    x = _inputs(g, seed=4)
    y = reference.predict(g, x)
    _check_source(g, y, fq.predict(path, x))
    np.testing.assert_array_equal(csim.run(g, out, x), y)
    np.testing.assert_array_equal(sim.run(g, out, x)[0], y)
