"""Types of float models from calibration data, the accuracy against the float model, the
numerical profile, the uniform-type note, the io chosen per model and a quiet CLI.

The float models are hls4ml's public jet-tagging models (``tests/data``: the 3-layer MLP of
the first hls4ml paper and a small Conv1D model), fed seeded standard-normal features (the
jet data are standardized features).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from generator import reference
from generator.calibrate import MARGIN_BITS, magnitude_bits, type_for
from generator.cli import main
from generator.fixed import FixedType, Overflow, Rounding
from generator.ir import Conv, Dense

DATA = os.path.join(os.path.dirname(__file__), "data")
SHARED = {"KERAS_3layer": (16,), "KERAS_conv1d_small": (10, 4)}


def _inputs(shape: tuple[int, ...], seed: int, n: int = 1000) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- the rule ------------------------------------------------------------------------------


def test_type_rule_holds_the_range_with_its_margin() -> None:
    rng = np.random.default_rng(3)
    for _ in range(500):
        lo, hi = sorted(rng.normal(0, 10.0 ** rng.uniform(-4, 4), 2))
        bits = int(rng.integers(6, 25))
        t = type_for(lo, hi, bits, MARGIN_BITS)
        m = max(abs(lo), abs(hi))
        assert t.width == bits and t.signed == (lo < 0)
        assert (t.rounding, t.overflow) == (Rounding.RND, Overflow.SAT)
        # holds 2**MARGIN_BITS times the observed magnitude; one integer bit fewer would not
        assert t.max_value + t.lsb >= m * 2**MARGIN_BITS
        fewer = FixedType(bits, t.integer - 1, t.signed)
        assert fewer.max_value + fewer.lsb <= m * 2**MARGIN_BITS
    assert magnitude_bits(4.0) == 3 and magnitude_bits(3.99) == 2 and magnitude_bits(0.0) == 0
    assert type_for(0.0, 0.7, 16, 0) == FixedType(16, 0, False, Rounding.RND, Overflow.SAT)


# -- the shared float models ---------------------------------------------------------------


@pytest.fixture(scope="module", params=list(SHARED))
def calibrated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, Any]:
    """A shared float model converted with 1,000 seeded calibration inputs and measured on
    1,000 other inputs (the project, the inputs and the Keras model)."""
    import generator as nnfab
    from generator.frontends.keras import load_model

    name = request.param
    path = os.path.join(DATA, f"{name}.h5")
    xc, xv = _inputs(SHARED[name], 1), _inputs(SHARED[name], 2)
    out = str(tmp_path_factory.mktemp("cal") / name)
    p = nnfab.convert(path, out, calibrate=xc, validate=xv)
    return {"name": name, "project": p, "x_val": xv, "model": load_model(path), "out": out}


@pytest.mark.slow
def test_shared_float_models_agree_with_the_float_model(calibrated: dict[str, Any]) -> None:
    p, xv, model = calibrated["project"], calibrated["x_val"], calibrated["model"]
    g = p.graph
    y_hw = p.predict(xv)
    y_fl = model.predict(xv.astype(np.float32), verbose=0)
    agree = float(np.mean(np.argmax(y_hw, axis=1) == np.argmax(y_fl, axis=1)))
    assert agree >= 0.99, agree
    acc = p.accuracy
    assert acc is not None and acc["argmax_agreement"] == agree and acc["samples"] == 1000
    d = np.abs(y_hw - y_fl)
    assert acc["max_abs_diff"] == pytest.approx(float(d.max()), rel=1e-6)
    assert [r["max_abs_diff"] for r in acc["outputs"]] == pytest.approx(
        list(d.max(axis=0)), rel=1e-6)
    # no activation (every tensor but the exact sums of Dense / Conv) wider than 18 bits
    wide = [(n.name, n.output.ftype) for n in g.nodes
            if not isinstance(n, (Dense, Conv)) and n.output.ftype.width > 18]
    assert not wide
    # the float layers' casts carry calibrated types: 16 bits, rounded, saturating
    casts = [n for n in g.nodes if n.name.endswith("_result")]
    assert casts and all(n.output.ftype.width == 16 and n.output.ftype.overflow is Overflow.SAT
                         for n in casts)


@pytest.mark.slow
def test_per_layer_deviation_against_the_keras_layer(calibrated: dict[str, Any]) -> None:
    """Each layer's deviation, recomputed from Keras's own intermediate output."""
    import tf_keras

    p, xv, model = calibrated["project"], calibrated["x_val"], calibrated["model"]
    vals = reference.run(p.graph, xv, keep=True)
    rows = {r["layer"]: r for r in p.accuracy["layers"]}
    dense = [layer.name for layer in model.layers if type(layer).__name__ in ("Dense", "Conv1D")]
    assert set(dense) <= set(rows)
    for name in dense:
        sub = tf_keras.Model(model.inputs, model.get_layer(name).output)
        fl = sub.predict(xv.astype(np.float32), verbose=0).reshape(len(xv), -1)
        node = p.graph.node(rows[name]["node"])
        hw = node.output.ftype.to_float(vals[node.output.name]).reshape(len(xv), -1)
        assert rows[name]["max_abs_diff"] == pytest.approx(float(np.abs(hw - fl).max()),
                                                           rel=1e-6)


@pytest.mark.slow
def test_shared_float_models_csim_equals_reference(calibrated: dict[str, Any]) -> None:
    p, xv = calibrated["project"], calibrated["x_val"]
    np.testing.assert_array_equal(p.csim(xv), p.predict(xv))


@pytest.mark.slow
def test_report_and_profile(calibrated: dict[str, Any]) -> None:
    out = calibrated["out"]
    with open(os.path.join(out, "report.json")) as f:
        doc = json.load(f)
    assert doc["accuracy"]["argmax_agreement"] >= 0.99
    assert doc["calibration"]["bits"] == 16 and doc["calibration"]["samples"] == 1000
    with open(os.path.join(out, "report.md")) as f:
        md = f.read()
    assert "## Accuracy against the float model" in md and "## Calibrated types" in md
    assert "![profile](plots/profile.png)" in md
    with open(os.path.join(out, "plots", "profile.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    from generator.plots import profile_rows

    wrows, arows = profile_rows(doc["calibration"])
    g = calibrated["project"].graph
    weighted = [n for n in g.nodes if isinstance(n, (Dense, Conv))]
    assert len(wrows) == 2 * len(weighted)  # every kernel and bias, against its type
    assert len(arows) == 1 + len(weighted)  # the input and every sum before its activation


# -- what wins, the note, the CLI ----------------------------------------------------------


@pytest.mark.slow
def test_configured_types_win_over_calibrated(tmp_path: Any) -> None:
    import generator as nnfab

    cfg = {"layers": {"fc2_relu": {"precision": {"result": "ap_fixed<12,5>"}}}}
    p = nnfab.convert(os.path.join(DATA, "KERAS_3layer.h5"), str(tmp_path / "o"), config=cfg,
                      calibrate=_inputs((16,), 1, 200), bits=14)
    g = p.graph
    assert g.node("fc2_relu_result").output.ftype == FixedType.parse("ap_fixed<12,5>")
    t = g.node("fc1_relu_result").output.ftype
    assert t.width == 14 and t.rounding is Rounding.RND and t.overflow is Overflow.SAT
    assert g.meta["calibration"]["types"]["fc2_relu"].get("result") is None
    q = nnfab.convert(os.path.join(DATA, "KERAS_3layer.h5"), str(tmp_path / "w"),
                      config={"model": {"precision": {"weight": "ap_fixed<10,4>"}}},
                      calibrate=_inputs((16,), 1, 200))
    for n in q.graph.of(Dense):
        assert n.weights["weight"].ftype.width <= 10  # the configured weight type, trimmed
    assert q.graph.node("fc1_relu_result").output.ftype.width == 16


@pytest.mark.slow
def test_qkeras_quantizers_win_over_calibrated(zoo_dir: str, tmp_path: Any) -> None:
    from conftest import zoo_model

    import generator as nnfab

    m = zoo_model("mlp8", zoo_dir)
    a = nnfab.convert(m.path, str(tmp_path / "a"))
    b = nnfab.convert(m.path, str(tmp_path / "b"), calibrate=m.x[:200])
    assert [(n.name, n.output.ftype) for n in a.graph.nodes] == \
        [(n.name, n.output.ftype) for n in b.graph.nodes]
    assert b.accuracy["max_abs_diff"] == 0.0  # fully quantized: the source model exactly


@pytest.mark.slow
def test_uniform_type_note_and_calibration_line(capsys: Any, tmp_path: Any) -> None:
    model = os.path.join(DATA, "KERAS_3layer.h5")
    code, out, _ = run(capsys, "convert", model, "-o", str(tmp_path / "u"))
    assert code == 0
    assert ("note: float parts of the model (input_1, fc1_relu, fc2_relu, fc3_relu and 1 more) "
            "got one uniform type ap_fixed<16,6> (nnfab's default), not types from data; "
            "calibrate them with --calibrate X.npy (docs/precision.md)") in out
    np.save(tmp_path / "x.npy", _inputs((16,), 1, 300))
    code, out, _ = run(capsys, "convert", model, "-o", str(tmp_path / "c"), "--calibrate",
                       str(tmp_path / "x.npy"), "--bits", "12")
    assert code == 0 and "uniform type" not in out
    assert ("note: calibration: 13 types chosen from 300 inputs (12-bit budget, 1 integer bit "
            "of headroom, AP_RND, AP_SAT; docs/precision.md)") in out
    assert "accuracy vs the float model on 300 inputs (the calibration inputs): argmax " \
           "agreement" in out


@pytest.mark.slow
def test_validate_alone_measures_a_uniform_type(tmp_path: Any) -> None:
    """--validate without --calibrate: the uniform types, their accuracy measured."""
    import generator as nnfab

    xv = _inputs((16,), 2, 200)
    p = nnfab.convert(os.path.join(DATA, "KERAS_3layer.h5"), str(tmp_path / "o"),
                      validate=xv)
    assert "calibration" not in p.graph.meta
    assert p.graph.node("fc1_relu_result").output.ftype == FixedType.parse("ap_fixed<16,6>")
    assert any("uniform type" in n for n in p.graph.meta["notes"])
    from generator.frontends.keras import load_model

    y_fl = load_model(os.path.join(DATA, "KERAS_3layer.h5")).predict(xv.astype(np.float32),
                                                                    verbose=0)
    assert p.accuracy["samples"] == 200
    assert p.accuracy["max_abs_diff"] == pytest.approx(float(np.abs(p.predict(xv) - y_fl).max()),
                                                       rel=1e-6)


@pytest.mark.slow
def test_yaml_calibration_relative_to_the_config(tmp_path: Any) -> None:
    import generator as nnfab

    np.save(tmp_path / "cal.npy", _inputs((16,), 1, 100))
    (tmp_path / "c.yaml").write_text("calibration:\n  data: cal.npy\n  bits: 10\n")
    p = nnfab.convert(os.path.join(DATA, "KERAS_3layer.h5"), str(tmp_path / "o"),
                      config=str(tmp_path / "c.yaml"))
    assert p.graph.node("fc1_relu_result").output.ftype.width == 10
    assert p.accuracy["samples"] == 100


@pytest.mark.slow
@pytest.mark.parametrize("argv,message", [
    (["--bits", "12"], (r"--bits is the bit budget of calibrated types: add --calibrate X.npy "
                       r"\(or calibration: in the config\)")),
    (["--calibrate", "{bad}"], (r"calibration data: \(10, 4\) per sample; model model_1 "
                               r"expects \(16,\) \(array shape \(N, 16\)\)")),
    (["--calibrate", "{good}", "--bits", "99"], (r"--bits: 99 is not supported; use a width of "
                                                r"4 to 32 bits")),
    (["--calibrate", "{missing}"], r"calibration data file .*missing\.npy does not exist"),
])
def test_calibration_errors_are_one_line(capsys: Any, tmp_path: Any, argv: list[str],
                                         message: str) -> None:
    import re

    np.save(tmp_path / "bad.npy", _inputs((10, 4), 1, 10))
    np.save(tmp_path / "good.npy", _inputs((16,), 1, 10))
    files = {k: str(tmp_path / f"{k}.npy") for k in ("bad", "good", "missing")}
    out = tmp_path / "o"
    code, _, err = run(capsys, "convert", os.path.join(DATA, "KERAS_3layer.h5"), "-o", str(out),
                       *[a.format(**files) for a in argv])
    assert code == 2 and not out.exists()
    assert re.fullmatch(r"nnfab: error: " + message + r"\n", err), err


def test_calibration_of_a_qonnx_model_is_refused(capsys: Any, tmp_path: Any) -> None:
    np.save(tmp_path / "x.npy", np.zeros((4, 64)))
    code, _, err = run(capsys, "convert", "examples/digits_mlp/digits_mlp.onnx", "-o",
                       str(tmp_path / "o"), "--calibrate", str(tmp_path / "x.npy"))
    assert code == 2
    assert err == ("nnfab: error: --calibrate / --validate: digits_mlp.onnx is a QONNX model, "
                   "whose quantizers set every type; calibration is for Keras float models\n")


# -- the softmax's top output --------------------------------------------------------------


@pytest.mark.slow
def test_softmax_largest_output_is_the_largest_input_alone(tmp_path: Any) -> None:
    """Inputs one LSB apart (far below the exp table's step) give distinct outputs, the
    largest input's the largest; on random inputs the hardware's argmax is the inputs'."""
    import tf_keras

    from generator import convert as nnfab_convert

    x_in = tf_keras.Input((5,))
    model = tf_keras.Model(x_in, tf_keras.layers.Activation("softmax")(x_in))
    p = nnfab_convert(model, str(tmp_path / "o"), precision="ap_fixed<16,6>")
    sm = p.graph.outputs[0].producer
    assert sm.OP == "Softmax" and sm["exp_shift"] > 0
    lsb = 2.0**-10
    y = p.predict(np.array([[0.5, 0.5 - lsb, 0.0, -1.0, 0.5 - 2 * lsb]]))
    # the largest alone at the top; the next two share the table's first step
    assert y[0, 0] > y[0, 1] == y[0, 4] > y[0, 2]
    rng = np.random.default_rng(5)
    x = np.round(rng.normal(0, 0.05, (2000, 5)) / lsb) * lsb
    y = p.predict(x)
    unique = (x == x.max(axis=1, keepdims=True)).sum(axis=1) == 1
    assert np.array_equal(np.argmax(y[unique], axis=1), np.argmax(x[unique], axis=1))
    assert np.all((y[unique] == y[unique].max(axis=1, keepdims=True)).sum(axis=1) == 1)


# -- io chosen per model, quiet commands ---------------------------------------------------


def _mnist_cnn(path: str) -> None:
    """A 28x28 QKeras CNN: QConv2D 3x3 'same' -> QActivation -> MaxPool -> QConv2D 3x3 ->
    QActivation -> MaxPool -> Flatten -> QDense (seeded; 12x12 into the second pool)."""
    import tf_keras as keras
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    keras.utils.set_random_seed(0)

    def q() -> Any:
        return quantized_bits(6, 0, alpha=1)

    x_in = keras.Input((28, 28, 1))
    x = QConv2D(16, 3, padding="same", kernel_quantizer=q(), bias_quantizer=q(), name="c1")(x_in)
    x = QActivation(quantized_relu(6, 2), name="a1")(x)
    x = keras.layers.MaxPooling2D(2, name="p1")(x)
    x = QConv2D(16, 3, kernel_quantizer=q(), bias_quantizer=q(), name="c2")(x)
    x = QActivation(quantized_relu(6, 2), name="a2")(x)
    x = keras.layers.MaxPooling2D(2, name="p2")(x)
    x = keras.layers.Flatten(name="f")(x)
    x = QDense(10, kernel_quantizer=q(), bias_quantizer=q(), name="d")(x)
    keras.Model(x_in, x, name="mnist_cnn").save(path)


@pytest.mark.slow
@pytest.mark.rtl
def test_large_cnn_is_streamed_unless_io_is_set(capsys: Any, tmp_path: Any) -> None:
    from generator.frontends.keras import import_tf

    import_tf()
    path = str(tmp_path / "mnist_cnn.h5")
    _mnist_cnn(path)
    out = str(tmp_path / "auto")
    code, printed, _ = run(capsys, "convert", path, "-o", out)
    assert code == 0
    assert ("note: io stream chosen for this CNN: layer c2: unrolling this conv over the frame "
            "(io parallel) builds ") in printed
    assert os.path.isfile(os.path.join(out, "rtl", "mnist_cnn.v"))
    code, printed, _ = run(capsys, "verify", out, "--samples", "8")
    assert code == 0, printed
    code, printed, _ = run(capsys, "convert", path, "-o", str(tmp_path / "par"), "--io",
                           "parallel")
    assert code == 0 and "io stream chosen" not in printed
    assert "note: no RTL view (rtl/UNSUPPORTED.txt): layer c2: unrolling this conv" in printed


@pytest.mark.slow
def test_small_cnn_stays_unrolled_and_says_so(capsys: Any, tmp_path: Any) -> None:
    code, printed, _ = run(capsys, "convert", os.path.join(DATA, "KERAS_conv1d_small.h5"), "-o",
                           str(tmp_path / "o"))
    assert code == 0
    assert ("note: io parallel chosen for this CNN: every conv unrolls over the frame, 800 "
            "multiplies in all (--io sets it)") in printed.splitlines()
    with open(tmp_path / "o" / "nnfab.json") as f:
        assert json.load(f)["meta"]["config"]["io"] == "parallel"


@pytest.mark.slow
def test_no_tensorflow_log_lines(tmp_path: Any) -> None:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    r = subprocess.run([sys.executable, "-m", "generator.cli", "inspect",
                        os.path.join(DATA, "KERAS_conv1d_small.h5")], capture_output=True,
                       text=True, env=env, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert "conv1_relu" in r.stdout


class _Terminal:
    """A stderr that says it is a terminal and keeps what is written to it."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 2


def test_progress_shown_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from generator import console

    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(console, "_QUIET", False)
    with console.step("simulating in Verilator"):
        with console.step("building the Verilator model"):  # nested: the same line
            time.sleep(0.3)
        time.sleep(0.3)
    assert "building the Verilator model" in term.text
    assert "simulating in Verilator" in term.text
    term.text = ""
    console.set_quiet(True)
    with console.step("building the Verilator model"):
        pass
    assert term.text == ""
    monkeypatch.setattr(sys, "stderr", _Plain())
    console.set_quiet(False)
    with console.step("synthesising with Yosys"):
        pass


class _Plain(_Terminal):
    def isatty(self) -> bool:
        return False

    def write(self, s: str) -> int:
        raise AssertionError(f"wrote {s!r} to a stderr that is no terminal")
