"""QONNX models (Brevitas / FINN exports): bit-exact against qonnx's own execution in
every view, the CLI on them, and one clear line for what the frontend does not take."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import qonnx_zoo as qz

from generator import config, ir, reference
from generator.cli import main
from generator.frontends import qonnx as fq
from generator.passes import run_pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def qonnx_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = str(tmp_path_factory.mktemp("qonnx"))
    for name, build in qz.QONNX_ZOO.items():
        build(os.path.join(d, f"{name}.onnx"))
    return d


def graph(path: str, cfg: dict | None = None) -> ir.Graph:
    g = fq.from_model(fq.load_model(path), config.from_dict(cfg or {}))
    run_pipeline(g)
    return g


@pytest.mark.parametrize("name", list(qz.QONNX_ZOO))
def test_reference_equals_qonnx_execution(name: str, qonnx_dir: str) -> None:
    """The NumPy reference equals qonnx's ``execute_onnx`` bit for bit, clipping included."""
    path = os.path.join(qonnx_dir, f"{name}.onnx")
    g = graph(path)
    assert g.meta["fully_quantized"]
    x = qz.inputs(name)
    y = fq.predict(path, x)
    np.testing.assert_array_equal(reference.predict(g, x), y)
    assert len(np.unique(y)) > 5  # the outputs vary: the check is not vacuous


def test_ops_map_to_the_ir(qonnx_dir: str) -> None:
    """Quant -> Quantize types, MatMul + Add(bias) and Gemm(transB) -> Dense with the bias,
    BipolarQuant -> Binarize with +-1 weights, Flatten -> Reshape."""
    g = graph(os.path.join(qonnx_dir, "tfc_w4a4.onnx"))
    dense = g.of(ir.Dense)
    assert [n.output.shape[0] for n in dense] == [12, 8, 4]
    assert all("bias" in n.weights for n in dense)
    assert [str(n.output.ftype) for n in g.of(ir.Quantize)] == [
        "ap_fixed<8,4,AP_RND_CONV,AP_SAT>", "ap_ufixed<4,2,AP_RND_CONV,AP_SAT>",
        "ap_ufixed<4,2,AP_RND_CONV,AP_SAT>", "ap_fixed<8,5,AP_TRN,AP_SAT>"]
    w = dense[0].weights["weight"]
    assert w.ftype.frac == 3 and np.abs(w.data).max() <= 7  # 4-bit narrow, scale 2^-3
    g = graph(os.path.join(qonnx_dir, "tfc_w1a1.onnx"))
    assert str(g.inputs[0].ftype) == "ap_fixed<6,3,AP_RND_CONV,AP_SAT_SYM>"
    assert len(g.of(ir.Binarize)) == 2 and len(g.of(ir.Reshape)) == 1
    d0, d1, _ = g.of(ir.Dense)
    assert set(np.unique(d0.weights["weight"].data)) == {-1, 1}
    assert d1.weights["weight"].data.shape == (10, 8)  # Gemm transB: (out, in) transposed


def test_sub_max_min_mean_are_merges(qonnx_dir: str, tmp_path) -> None:
    """Sub, Max (of three), Min, Mul and Mean (of two) become the IR's exact Merge; a Mean
    of three inputs (not a shift) is refused naming the node."""
    g = graph(os.path.join(qonnx_dir, "tfc_merge.onnx"))
    assert [(n["mode"], len(n.inputs)) for n in g.of(ir.Merge)] == [
        ("sub", 2), ("max", 3), ("min", 2), ("mul", 2), ("avg", 2)]
    n = qz._Net(6)
    x = n.quant("x", "xq", 2**-4, 8)
    ys = [n.quant(n.node("MatMul", [x, n.quant(n.weight(f"w{i}", (4, 2), 0.0), f"w{i}q",
                                                         2**-3, 4)], f"f{i}"), f"a{i}", 2**-3, 6)
          for i in range(3)]
    path = str(tmp_path / "mean3.onnx")
    n.save(path, "mean3", (4,), 2, n.quant(n.node("Mean", ys, "avg3"), "y", 2**-4, 8))
    with pytest.raises(fq.FrontendError, match=r"^node Mean_0 \(Mean\): a mean of 3 inputs is "
                                                r"not exact; supported: 2, 4, 8"):
        graph(path)


def test_conv_model_is_channels_last_inside(qonnx_dir: str) -> None:
    """An NCHW QONNX CNN becomes a channels-last graph: inputs are given as (N, C, H, W)
    and transposed on the way in, ONNX's (C_out, C_in, kh, kw) kernels take the Keras
    layout, a group-per-channel Conv is depthwise, pads reorder to (top, bottom, left,
    right), and the MatMul after a Flatten takes its rows in the order the IR flattens."""
    g = graph(os.path.join(qonnx_dir, "cnv_w4a4.onnx"))
    assert g.inputs[0].shape == (8, 8, 2)
    assert g.meta["input_layout"] == {"shape": [2, 8, 8], "perm": [1, 2, 0]}
    c0, dw, pw = g.of(ir.Conv)
    assert (c0["pads"], c0.weights["weight"].data.shape) == ((1, 1, 1, 1), (3, 3, 2, 4))
    assert dw["depthwise"] and dw.weights["weight"].data.shape == (3, 3, 4, 1)
    assert pw.output.shape == (2, 2, 8)
    x = qz.inputs("cnv_w4a4", 20)
    with pytest.raises(ValueError, match=r"input has shape \(8, 8, 2\) per sample; model "
                                         r"input global_in expects \(2, 8, 8\)"):
        reference.predict(g, x.transpose(0, 2, 3, 1))
    g = graph(os.path.join(qonnx_dir, "cnv_gap.onnx"))
    assert g.of(ir.Conv)[0]["pads"] == (0, 1, 0, 1)  # ONNX [0, 0, 1, 1]: after, both axes
    assert not g.of(ir.Reshape)  # the pooled (C, 1, 1) is already flat
    g = graph(os.path.join(qonnx_dir, "cnv_pad_slice.onnx"))
    # ONNX pads / slices of (N, C, H, W) as (top, bottom, left, right) of the IR's (H, W, C)
    assert [n.OP for n in g.nodes if isinstance(n, (ir.Pad, ir.Crop))] == ["Pad", "Crop",
                                                                          "Crop", "Pad"]
    assert [n["pads"] for n in g.of(ir.Pad)] == [(1, 0, 0, 1), (0, 0, 0, 1)]
    assert [n["crops"] for n in g.of(ir.Crop)] == [(1, 0, 0, 1), (0, 0, 1, 0)]
    assert g.of(ir.Pool)[0].input.shape == (4, 4, 4)


def test_batchnorm_before_a_quant_becomes_exact_thresholds(tmp_path) -> None:
    """A float BatchNormalization between a Conv and the next Quant: one Threshold per
    channel read off qonnx's execution of the two on every value the Conv's integer sum
    reaches; the model stays fully quantized and equals qonnx's execution exactly."""
    n = qz._Net(5)
    x = n.quant("x", "xq", 2**-4, 8)
    w = n.quant(n.weight("cw", (3, 1, 3, 3), 0.0), "cwq", 2**-3, 4)
    x = n.node("Conv", [x, w], "conv", kernel_shape=[3, 3])
    x = n.node("BatchNormalization", [x, n.const("g", [1.5, 0.5, 1.0]), n.const("be", [0.1, 0, 0]),
                                      n.const("m", [0.2, 0, 0.1]), n.const("v", [1.0, 2.0, 0.5])],
               "bn", epsilon=1e-3)
    x = n.node("Flatten", [n.quant(x, "act", 2**-3, 6)], "flat", axis=1)
    w = n.quant(n.weight("w", (12, 2), 0.0), "wq", 2**-3, 4)
    path = str(tmp_path / "bn.onnx")
    n.save(path, "bn", (1, 4, 4), 2, n.quant(n.node("MatMul", [x, w], "fc"), "y", 2**-3, 8))
    g = graph(path)
    assert not g.of(ir.ScaleShift) and g.meta["fully_quantized"]
    th = g.of(ir.Threshold)[0]
    assert th.input.producer.OP == "Conv" and th["function"] == "BatchNormalization + Quant"
    assert th.weights["thresholds"].data.shape[0] == 3  # one row per channel
    x = np.ldexp(np.random.default_rng(2).integers(-128, 128, (3000, 1, 4, 4)), -4)
    np.testing.assert_array_equal(reference.predict(g, x), fq.predict(path, x))


def test_bipolar_layer_adds_sign_bits(qonnx_dir: str, tmp_path) -> None:
    """BipolarQuant activations times BipolarQuant weights: the RTL adds the activations'
    sign bits (a popcount, the XNOR folded into the signs and the bias)."""
    from generator.backends import rtl

    g = graph(os.path.join(qonnx_dir, "tfc_w1a1.onnx"))
    rtl.write(g, str(tmp_path / "o"), None)
    with open(tmp_path / "o" / "rtl" / "tfc_w1a1_Gemm_0.v") as f:
        assert "the graph adds the sign bits s" in f.read()


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.rtl
@pytest.mark.parametrize("name,opts", [("tfc_w4a4", ["--board", "pynq-z2", "--fit", "throughput"]),
                                       ("tfc_w1a1", ["--strategy", "resource", "--reuse", "2"]),
                                       ("cnv_w4a4", ["--io", "stream"]),
                                       ("cnv_gap", []),
                                       ("cnv_pad_slice", ["--io", "stream"]),
                                       ("cnn1d_residual", ["--io", "stream"]),
                                       ("bipolar_cnn", ["--io", "stream"]),
                                       ("bipolar_cnn", []),
                                       ("tfc_sigmoid", ["--strategy", "resource", "--reuse", "3"])])
def test_cli_convert_and_verify_every_view(capsys, name: str, opts: list[str], qonnx_dir: str,
                                           tmp_path) -> None:
    """``nnfab convert MODEL.onnx`` then ``nnfab verify``: the reference, qonnx's execution
    (the source view), the HLS C-simulation and the Verilator RTL simulation agree on every
    row (a fitted design, a folded binary one, a binarized CNN streamed and unrolled)."""
    path = os.path.join(qonnx_dir, f"{name}.onnx")
    out = str(tmp_path / "o")
    code, text, err = _cli(capsys, "convert", path, "-o", out, *opts)
    assert code == 0, err
    np.save(tmp_path / "x.npy", qz.inputs(name, 300))
    code, text, err = _cli(capsys, "verify", out, "-i", str(tmp_path / "x.npy"), "--json")
    assert code == 0, err
    doc = json.loads(text)
    views = {v["view"]: v for v in doc["views"]}
    assert set(views) == {"reference", "source", "csim", "rtl"}
    assert all(v["mismatched_rows"] == 0 for v in views.values())
    assert views["source"]["bit_exact_required"]
    if name == "bipolar_cnn":  # c2 (valid, over +-1 activations) adds their sign bits,
        # streamed (a window kernel) and unrolled (over the frame)
        rtl_dir = os.path.join(out, "rtl")
        assert sum("the graph adds the sign bits s" in (Path(rtl_dir) / f).read_text()
                   for f in os.listdir(rtl_dir) if f.endswith(".v")) == 1
    if name == "tfc_w1a1":  # folded +-1 weights: the add/subtract datapath, no multiplier
        with open(os.path.join(out, "rtl", "tfc_w1a1.v")) as f:
            assert f.read().count(".WMODE(1)") == 2
    code, text, _ = _cli(capsys, "inspect", path)
    assert code == 0 and "fully quantized: True" in text


def test_convert_notes_and_verbose(capsys, qonnx_dir: str, tmp_path) -> None:
    """``convert --verbose`` times a QONNX conversion (no TensorFlow to import); a residual
    fork under --io parallel (the CNN unrolled) gets its RTL view, with no note."""
    code, out, err = _cli(capsys, "convert", os.path.join(qonnx_dir, "tfc_w4a4.onnx"), "-o",
                          str(tmp_path / "a"), "--verbose")
    assert code == 0, err
    assert "load model" in out and "import tensorflow" not in out
    code, out, err = _cli(capsys, "convert", os.path.join(qonnx_dir, "cnn1d_residual.onnx"),
                          "-o", str(tmp_path / "b"))
    assert code == 0, err
    assert "no RTL view" not in out
    assert not (tmp_path / "b" / "rtl" / "UNSUPPORTED.txt").exists()
    assert (tmp_path / "b" / "rtl" / "cnn1d_residual.v").is_file()


def _bad(kind: str, path: str) -> None:
    n = qz._Net(7)
    if kind == "scale":  # a float scale per input element
        x = n.quant("x", "xq", [0.1, 0.2, 0.3, 0.4], 8)  # type: ignore[arg-type]
    elif kind == "zeropt":
        x = n.quant("x", "xq", 2**-4, 8, zeropt=3.0)
    elif kind == "rounding":
        x = n.quant("x", "xq", 2**-4, 8, rounding="CEIL")
    elif kind == "group":
        x = n.node("Conv", [n.quant("x", "xq", 2**-4, 8),
                            n.quant(n.weight("cw", (4, 2, 1, 1), 0.0), "cwq", 2**-3, 4)],
                   "conv", kernel_shape=[1, 1], group=2)
        w = n.quant(n.weight("w", (16, 2), 0.0), "wq", 2**-3, 4)
        x = n.node("MatMul", [n.node("Flatten", [x], "flat", axis=1), w], "fc")
        n.save(path, "bad", (4, 2, 2), 2, n.quant(x, "y", 2**-3, 8))
        return
    elif kind == "reshape":
        x = n.quant("x", "xq", 2**-4, 8)
        x = n.node("Conv", [n.node("Reshape", [x, n.const("sh", [1, 2, 2, 1], np.int64)], "rs"),
                            n.quant(n.weight("cw", (4, 1, 1, 1), 0.0), "cwq", 2**-3, 4)],
                   "conv", kernel_shape=[1, 1], group=2)
        x = n.node("Flatten", [x], "flat", axis=1)
        w = n.quant(n.weight("w", (8, 2), 0.0), "wq", 2**-3, 4)
        n.save(path, "bad", (4,), 2, n.quant(n.node("MatMul", [x, w], "fc"), "y", 2**-3, 8))
        return
    elif kind in ("slice_step", "pad_channel"):
        x = n.quant("x", "xq", 2**-4, 8)
        if kind == "slice_step":
            x = n.node("Slice", [x, *(n.const(f"s{k}", v, np.int64) for k, v in
                                      enumerate(([0], [4], [3], [2])))], "sl")
        else:
            x = n.node("Pad", [x, n.const("p", [0, 1, 0, 0, 0, 0, 0, 0], np.int64)], "pad")
        x = n.node("MaxPool", [x], "mp", kernel_shape=[1, 1])
        x = n.node("Flatten", [x], "flat", axis=1)
        w = n.quant(n.weight("w", (6 if kind == "slice_step" else 16, 2), 0.0), "wq", 2**-3, 4)
        n.save(path, "bad", (3, 2, 2), 2, n.quant(n.node("MatMul", [x, w], "fc"), "y", 2**-3, 8))
        return
    elif kind == "sigmoid":  # no Quant after it: a float sigmoid
        x = n.node("Sigmoid", [n.quant("x", "xq", 2**-4, 8)], "sig")
    else:
        x = n.node("Elu", [n.quant("x", "xq", 2**-4, 8)], "elu")
    w = n.quant(n.weight("w", (4, 2), 0.0), "wq", 2**-3, 4)
    n.save(path, "bad", (4,), 2, n.quant(n.node("MatMul", [x, w], "fc"), "y", 2**-3, 8))


@pytest.mark.parametrize("kind,pattern", [
    ("scale", (r"^nnfab: error: node Quant_0 \(Quant\): scale \[0\.1\d*, 0\.2\d*, 0\.3\d*, "
               r"0\.4\d*\] is not supported on the model input; supported: one positive "
               r"scale$")),
    ("zeropt", (r"^nnfab: error: node Quant_0 \(Quant\): zero point \[3\.0\] is not "
                r"supported; supported: 0$")),
    ("rounding", (r"^nnfab: error: node Quant_0 \(Quant\): rounding_mode CEIL is not supported; "
                  r"supported: ROUND, HALF_EVEN, FLOOR")),
    ("op", (r"^nnfab: error: node Elu_0 \(Elu\) is not supported; supported: Quant, "
            r"BipolarQuant, MatMul, Gemm")),
    ("sigmoid", (r"^nnfab: error: node Sigmoid_0 \(Sigmoid\): supported only with an activation "
                 r"Quant right after it and nothing else reading it \(the two become exact "
                 r"thresholds\)$")),
    ("slice_step", (r"^nnfab: error: node Slice_0 \(Slice\): steps \[2\] are not supported; "
                    r"supported: 1$")),
    ("pad_channel", (r"^nnfab: error: node Pad_0 \(Pad\): it changes the batch or channel "
                     r"axis; supported: the spatial axes only$")),
    ("corrupt", r"^nnfab: error: model file .*bad\.onnx: not a readable ONNX model"),
    ("group", (r"^nnfab: error: node Conv_0 \(Conv\): group=2 is not supported; supported: "
               r"1, or one group per channel")),
    ("reshape", (r"^nnfab: error: node Reshape_0 \(Reshape\): a reshape to \(2, 2, 1\) in a "
               r"convolutional model is not supported; supported: flattening$")),
])
def test_unsupported_qonnx_refused_in_one_line(capsys, kind: str, pattern: str, tmp_path) -> None:
    path = str(tmp_path / "bad.onnx")
    if kind == "corrupt":
        with open(path, "wb") as f:
            f.write(b"\x08\x07not an onnx protobuf at all")
    else:
        _bad(kind, path)
    out = tmp_path / "o"
    code, _, err = _cli(capsys, "convert", path, "-o", str(out))
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("nnfab:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.match(pattern, lines[0]), lines[0]
    assert not out.exists()


def test_config_names_qonnx_nodes(qonnx_dir: str) -> None:
    """Per-layer settings use the node names ``nnfab inspect`` shows; a misspelt node, a
    reuse on a node without one and a type no node reads are refused, never ignored."""
    path = os.path.join(qonnx_dir, "tfc_w4a4.onnx")
    g = graph(path, {"layers": {"MatMul_1": {"reuse": 4, "strategy": "resource"}}})
    assert [(n["strategy"], n["reuse"]) for n in g.of(ir.Dense)] == [
        ("latency", 1), ("resource", 4), ("latency", 1)]
    for cfg, pattern in [
        ({"layers": {"fc1": {"reuse": 2}}}, r"^config layers\.fc1: the model has no node 'fc1'"),
        ({"layers": {"Relu_0": {"reuse": 2}}},
         (r"^config layers\.Relu_0\.reuse: node Relu_0 \(Relu\) has no reuse; it applies to "
          r"MatMul and Gemm nodes")),
        ({"model": {"precision": "ap_fixed<12,4>"}},
         r"^model\.precision: no node of the model takes a type from it"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            graph(path, cfg)


def test_shipped_qonnx_export_equals_the_qkeras_model(example_model: str, tmp_path) -> None:
    """``examples/digits_mlp/digits_mlp.onnx`` is what ``export_qonnx.py`` writes from the
    shipped QKeras model, and both files convert to the same arithmetic: equal reference
    outputs, each equal to its own source (qonnx's execution, QKeras's ``predict``)."""
    import subprocess
    import sys

    from generator.frontends.keras import convert_file
    from generator.verify import source_predict

    shipped = os.path.join(os.path.dirname(example_model), "digits_mlp.onnx")
    again = str(tmp_path / "again.onnx")
    subprocess.run([sys.executable, os.path.join(os.path.dirname(example_model),
                                                 "export_qonnx.py"), "-o", again],
                   check=True, capture_output=True)
    with open(shipped, "rb") as f1, open(again, "rb") as f2:
        assert f1.read() == f2.read()
    g_onnx = graph(shipped)
    g_h5, _ = convert_file(example_model, config.load(None))
    run_pipeline(g_h5)
    x = np.random.default_rng(9).integers(0, 17, (500, 64)) / 16.0  # digits pixels / 16
    y = reference.predict(g_onnx, x)
    np.testing.assert_array_equal(y, reference.predict(g_h5, x))
    np.testing.assert_array_equal(y, fq.predict(shipped, x))
    from generator.frontends.keras import load_model

    np.testing.assert_array_equal(y, source_predict(load_model(example_model), x))


def test_float_weight_scale_is_an_integer_sum_and_thresholds(tmp_path) -> None:
    """A weight Quant whose scale is no power of two (Brevitas's default float scales):
    the MatMul sums the weight's integers exactly (narrow, not a fine binary grid) and the
    float scale is absorbed, with the output Quant, into thresholds read off qonnx's
    execution -- fully quantized and equal to it."""
    n = qz._Net(3)
    x = n.quant("x", "xq", 2**-4, 8)
    w = n.quant(n.weight("w", (32, 8), 0.0), "wq", 0.0371, 8)
    path = str(tmp_path / "np2.onnx")
    n.save(path, "np2", (32,), 8, n.quant(n.node("MatMul", [x, w], "fc"), "y", 2**-4, 12))
    g = graph(path)
    d = g.of(ir.Dense)[0]
    assert d.weights["weight"].ftype == ir.FixedType(6, 6)  # the integers, |w| <= 25
    assert d["exact"] and g.meta["fully_quantized"]
    (th,) = g.of(ir.Threshold)
    assert th["function"] == "Quant" and th.input is d.output
    xx = np.ldexp(np.random.default_rng(1).integers(-128, 128, (2000, 32)).astype(float), -4)
    np.testing.assert_array_equal(reference.predict(g, xx), fq.predict(path, xx))
