"""The nnfab CLI: the contract's commands, and one clear line for every bad input."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from generator import ir, reference
from generator.cli import main

pytestmark = pytest.mark.slow


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def example_out(tmp_path_factory: pytest.TempPathFactory, example_model: str) -> str:
    out = str(tmp_path_factory.mktemp("cli") / "digits")
    assert main(["convert", example_model, "-o", out]) == 0
    return out


def test_convert_writes_project(example_out: str) -> None:
    for f in ("nnfab.json", "weights.npz", "report.json", "report.md"):
        assert os.path.isfile(os.path.join(example_out, f)), f
    with open(os.path.join(example_out, "report.json")) as f:
        rep = json.load(f)
    assert rep["summary"]["sparsity"] >= 0.70
    assert not [p for p in os.listdir(os.path.dirname(example_out)) if p.startswith(".nnfab-")]


def test_convert_verbose_prints_split(capsys, example_model, tmp_path) -> None:
    code, out, _ = run(capsys, "convert", example_model, "-o", str(tmp_path / "o"), "--verbose")
    assert code == 0
    assert "import tensorflow" in out and "after tensorflow" in out


def test_predict_matches_reference(capsys, example_out, tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, size=(50, 64)) / 16.0
    np.save(tmp_path / "x.npy", x)
    code, _, _ = run(capsys, "predict", example_out, "-i", str(tmp_path / "x.npy"),
                     "-o", str(tmp_path / "y.npy"))
    assert code == 0
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, reference.predict(ir.load(example_out), x))


def test_verify_json(capsys, example_out) -> None:
    code, out, _ = run(capsys, "verify", example_out, "--samples", "200", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] and doc["rows"] == 200
    views = {v["view"]: v for v in doc["views"]}
    assert views["source"]["mismatched_rows"] == 0 and views["source"]["bit_exact_required"]


def _digits_nonzeros(example_model: str) -> tuple[int, int, int, int]:
    """The digits MLP's (weights, nonzero weights, fc1's nonzero weights, fc1's unread
    units), counted from its kernels as converted before ``passes.dead_units``: an fc1
    unit is unread when its whole fc2 row is zero."""
    from generator import config
    from generator.frontends import convert_file
    from generator.passes import PIPELINE

    g, _ = convert_file(example_model, config.load(None))
    for name, p in PIPELINE:
        if name != "dead_units":
            p(g)
    w1, w2 = (g.node(n).weights["weight"].data for n in ("fc1", "fc2"))
    unread = ~w2.any(axis=1)
    kept1 = int(np.count_nonzero(w1[:, ~unread]))
    return (w1.size + w2.size, kept1 + int(np.count_nonzero(w2)), kept1,
            int((unread & w1.any(axis=0)).sum()))


def test_inspect(capsys, example_model) -> None:
    """The layer table and the pruning summary, with the units nothing reads."""
    code, out, _ = run(capsys, "inspect", example_model)
    assert code == 0
    total, nnz, _, unread = _digits_nonzeros(example_model)
    assert unread > 0  # the example has a unit no later layer reads
    assert "fc1" in out and f"{total} weights, {nnz} nonzero ({100 * (1 - nnz / total):.1f} " \
        "% pruned)" in out
    assert f"their weights dropped (outputs unchanged): fc1 {unread}" in out


def test_inspect_names_each_threshold_activation(capsys, zoo_dir) -> None:
    """A quantizer built as thresholds shows in the layer table with its count: QKeras's
    4-bit tanh steps 15 times, the 5-bit sigmoid 31 times (every output level reached
    from its input type)."""
    from conftest import zoo_model

    code, out, _ = run(capsys, "inspect", zoo_model("threshold_mlp", zoo_dir).path)
    assert code == 0
    assert re.search(r"^th1 +Threshold +12 +ap_fixed<4,1>", out, re.MULTILINE)
    assert "quantized_tanh(4,1): 15 thresholds" in out
    assert "quantized_sigmoid(5,1): 31 thresholds" in out


def test_boards(capsys) -> None:
    code, out, _ = run(capsys, "boards")
    assert code == 0 and "pynq-z2" in out and "xc7z020clg400-1" in out


# -- bad input: one line, non-zero, no traceback, no partial OUT -----------------------------


def _one_line_error(code: int, err: str, pattern: str) -> None:
    import re

    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("nnfab:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert re.match(pattern, lines[0]), lines[0]


def test_supported_layers_are_the_registered_handlers() -> None:
    """The supported-layer list of a refusal names every Keras class with a handler, and
    nothing else."""
    from generator.frontends.keras.registry import HANDLERS, supported_layers

    names: set[str] = set()
    for item in re.sub(r" \([^)]*\)", "", supported_layers()).split(", "):
        names |= {item[:-3], item[:-5] + "2D"} if item.endswith("1D/2D") else {item}
    assert names == set(HANDLERS)
    assert supported_layers().startswith("InputLayer, Dense, QDense, ")


def test_unsupported_layer(capsys, tmp_path) -> None:
    import tf_keras as keras

    m = keras.Sequential([keras.layers.InputLayer(input_shape=(4, 3)),
                          keras.layers.LayerNormalization(name="ln_a")])
    p = str(tmp_path / "ln.h5")
    m.save(p)
    out = tmp_path / "o"
    code, _, err = run(capsys, "convert", p, "-o", str(out))
    _one_line_error(code, err, r"^nnfab: error: layer ln_a \(LayerNormalization\) is not "
                               r"supported; supported: InputLayer, Dense")
    assert not out.exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".nnfab-")]
    # a supported layer with an unsupported setting: one line naming both
    m = keras.Sequential([keras.layers.InputLayer(batch_input_shape=(1, 4, 3)),
                          keras.layers.LSTM(2, stateful=True, name="lstm_a")])
    m.save(p)
    code, _, err = run(capsys, "convert", p, "-o", str(out))
    _one_line_error(code, err, r"^nnfab: error: layer lstm_a: LSTM with stateful=True is "
                               r"not supported; supported: stateful=False$")
    assert not out.exists()


def test_convert_notes_a_design_without_rtl(capsys, tmp_path) -> None:
    """A design the RTL backend cannot build (a streamed image reshaped into another image)
    converts, and convert says in one line that it has no RTL view, and why."""
    import tf_keras as keras

    L = keras.layers
    m = keras.Sequential([L.InputLayer(input_shape=(4, 4, 2)), L.Conv2D(2, 1, name="c"),
                          L.Reshape((2, 8, 2), name="rs"), L.Flatten(name="flat"),
                          L.Dense(3, name="fc")])
    p = str(tmp_path / "m.h5")
    m.save(p)
    code, out, err = run(capsys, "convert", p, "-o", str(tmp_path / "o"), "--io", "stream",
                         "--precision", "ap_fixed<16,6>")
    assert code == 0, err
    assert re.search(r"^note: no RTL view \(rtl/UNSUPPORTED\.txt\): layer rs: Reshape of an "
                     r"image to \(2, 8, 2\) \(only Flatten to a vector is streamed\)$", out,
                     re.MULTILINE), out


def _convert_is_refused(capsys, tmp_path, model, pattern: str,
                        precision: str = "ap_fixed<16,6>") -> None:
    """``nnfab convert`` of ``model`` (saved as .h5; float parts at ``precision``) exits
    with the one-line error ``pattern`` and writes no project."""
    p = str(tmp_path / "m.h5")
    model.save(p)
    out = tmp_path / "o"
    code, _, err = run(capsys, "convert", p, "-o", str(out), "--precision", precision)
    _one_line_error(code, err, pattern)
    assert not out.exists()


@pytest.mark.parametrize("kind,precision,pattern", [
    ("stochastic", "ap_fixed<12,5>",
     (r"^nnfab: error: layer r: activation quantized_tanh\(4,1\) with use_stochastic_rounding "
      r"is not supported \(not deterministic\); supported: use_stochastic_rounding=False$")),
    ("wide", "ap_fixed<26,10>",
     (r"^nnfab: error: layer r: activation quantized_tanh\(4\) on ap_fixed<26,10>: the input "
      r"is wider than 24 bits; supported: an input of at most 24 bits ")),
])
def test_threshold_activation_refusals(capsys, tmp_path, kind, precision, pattern) -> None:
    """A quantiser built as thresholds is refused in one line where that cannot be exact:
    stochastic rounding (no function of the input), an input too wide to enumerate in
    float32 (and, below, a function that is not monotone)."""
    import qkeras
    import tf_keras as keras

    L = keras.layers
    q = {"stochastic": qkeras.quantized_tanh(4, use_stochastic_rounding=True),
         "wide": qkeras.quantized_tanh(4)}[kind]
    m = keras.Sequential([L.InputLayer(input_shape=(8,)), L.Dense(2),
                          qkeras.QActivation(q, name="r")])
    _convert_is_refused(capsys, tmp_path, m, pattern, precision)


def test_threshold_steps_refuse_a_function_that_falls() -> None:
    """Thresholds hold only for a non-decreasing step function: the steps of one are its
    rises; one that falls anywhere is refused naming where (the first fall)."""
    from generator.frontends.keras import FrontendError, threshold_steps

    x = np.arange(-4, 4) / 2.0
    assert threshold_steps("f", x, np.array([0, 0, 1, 1, 1, 3, 3, 4.0])).tolist() == [2, 5, 7]
    with pytest.raises(FrontendError, match=r"^f: not monotone \(it falls from 1 to 0\.5 at "
                                            r"0\.5\); supported: quantisers non-decreasing"):
        threshold_steps("f", x, np.array([0, 0, 1, 1, 1, 0.5, 3, 4.0]))


@pytest.mark.parametrize("layer,pattern", [
    ("relu_max", (r"^nnfab: error: layer r: ReLU with max_value=0\.75 is not supported; "
                  r"supported: ReLU\(\) \(max_value=None, negative_slope=0, threshold=0\)")),
    ("relu_slope", r"^nnfab: error: layer r: ReLU with negative_slope=0\.25 is not supported"),
    ("relu_threshold", r"^nnfab: error: layer r: ReLU with threshold=0\.5 is not supported"),
    ("groups", r"^nnfab: error: layer r: groups=2 is not supported; supported: groups=1"),
    ("pool_channels_first", r"^nnfab: error: layer r: only data_format='channels_last' is "),
    ("flatten_channels_first", r"^nnfab: error: layer r: only data_format='channels_last' is "),
    ("bn_axis", (r"^nnfab: error: layer r: BatchNormalization axis \[1\] is not supported; "
                 r"supported: the last \(channel\) axis")),
    ("softmax_axis", r"^nnfab: error: layer r: Softmax axis \[1\] is not supported"),
    ("separable_multiplier", (r"^nnfab: error: layer r: depth_multiplier=2 is not supported; "
                              r"supported: 1$")),
    ("leaky_alpha", (r"^nnfab: error: layer r: LeakyReLU alpha=0\.3 is not supported; "
                     r"supported: a power of two below 1 ")),
    ("leaky_slope", (r"^nnfab: error: layer r: quantized_relu\(4,1\) negative_slope=0\.0625 "
                     r"is not supported; supported: a power of two from 2\^-1 to 2\^-3$")),
    ("separable_causal", (r"^nnfab: error: layer r: padding 'causal' is not supported; "
                          r"supported: valid, same$")),
])
def test_layer_option_not_converted_silently(capsys, tmp_path, layer, pattern) -> None:
    """A layer option nnfab does not implement is refused, never dropped (a ReLU's
    max_value/negative_slope/threshold, a grouped conv, channels-first pooling and
    flattening, batch normalization or softmax over another axis than the channels, a
    separable conv's depth multiplier or causal padding, a leaky slope that is no power of
    two or below the quantizer's grid)."""
    import qkeras
    import tf_keras as keras

    L = keras.layers
    r = {"relu_max": lambda: L.ReLU(max_value=0.75, name="r"),
         "relu_slope": lambda: L.ReLU(negative_slope=0.25, name="r"),
         "relu_threshold": lambda: L.ReLU(threshold=0.5, name="r"),
         "groups": lambda: L.Conv2D(4, 3, groups=2, name="r"),
         "pool_channels_first": lambda: L.MaxPooling2D(2, data_format="channels_first", name="r"),
         "flatten_channels_first": lambda: L.Flatten(data_format="channels_first", name="r"),
         "bn_axis": lambda: L.BatchNormalization(axis=1, name="r"),
         "softmax_axis": lambda: L.Softmax(axis=1, name="r"),
         "separable_multiplier": lambda: L.SeparableConv2D(4, 3, depth_multiplier=2, name="r"),
         "separable_causal": lambda: L.SeparableConv1D(4, 3, padding="causal", name="r"),
         "leaky_alpha": lambda: L.LeakyReLU(alpha=0.3, name="r"),
         "leaky_slope": lambda: qkeras.QActivation(
             qkeras.quantized_relu(4, 1, negative_slope=0.0625), name="r")}[layer]()
    spatial = layer not in ("relu_max", "relu_slope", "relu_threshold", "leaky_alpha",
                            "leaky_slope")
    shape = (6, 6, 2) if spatial else (8,)
    shape = (6, 2) if layer == "separable_causal" else shape
    m = keras.Sequential([L.InputLayer(input_shape=shape),
                          L.Activation("linear") if spatial else L.Dense(2), r])
    _convert_is_refused(capsys, tmp_path, m, pattern)


@pytest.mark.parametrize("kind,pattern", [
    ("two_inputs", (r"^nnfab: error: model m has 2 inputs and 1 output; supported: one input "
                    r"and one output$")),
    ("two_outputs", r"^nnfab: error: model m has 1 input and 2 outputs; supported: one input "),
    ("shared_layer", (r"^nnfab: error: layer d \(Dense\) is called 2 times \(shared weights\); "
                      r"supported: each layer called once$")),
    ("dot", (r"^nnfab: error: layer dot \(Dot\) takes 2 inputs; supported layers of "
             r"several inputs: Add, Concatenate, Subtract, Maximum, Minimum, Average, Multiply$")),
    ("average3", (r"^nnfab: error: layer avg: Average of 3 inputs is not supported; supported: "
                  r"2, 4, 8, \.\.\. inputs \(an exact shift\)$")),
])
def test_graph_nnfab_cannot_build_is_refused(capsys, tmp_path, kind, pattern) -> None:
    """Several inputs or outputs, a layer called twice or an unsupported merge are refused in
    one line (a second output or a shared layer's second call was silently dropped)."""
    import tf_keras as keras

    L = keras.layers
    a = L.Input((8,), name="a")
    if kind == "two_inputs":
        b = L.Input((8,), name="b")
        m = keras.Model([a, b], L.Add()([a, b]), name="m")
    elif kind == "two_outputs":
        m = keras.Model(a, [L.Dense(2)(a), L.Dense(3)(a)], name="m")
    elif kind == "shared_layer":
        d = L.Dense(8, name="d")
        m = keras.Model(a, d(L.ReLU()(d(a))), name="m")
    elif kind == "dot":
        m = keras.Model(a, L.Dot(axes=1, name="dot")([a, L.Dense(8)(a)]), name="m")
    else:
        m = keras.Model(a, L.Average(name="avg")([a, L.Dense(8)(a), L.Dense(8)(a)]), name="m")
    _convert_is_refused(capsys, tmp_path, m, pattern)


@pytest.mark.parametrize("yaml_text,pattern", [
    ("layers:\n  fc1:\n    precision: {weight: 'ap_fixed<4,1>'}\n",
     (r"^nnfab: error: config layers\.fc1\.precision\.weight: layer fc1 \(QDense\) does not "
      r"take this type from the config \(its QKeras quantizers set its types, or it has no such "
      r"variable\); supported here: accum; remove it$")),
    ("layers:\n  fc1:\n    precision: ap_fixed<10,4>\n",
     r"^nnfab: error: config layers\.fc1\.precision: layer fc1 \(QDense\) does not take a type "),
    ("layers:\n  relu1:\n    precision: {result: 'ap_fixed<10,4>'}\n",
     (r"^nnfab: error: config layers\.relu1\.precision\.result: layer relu1 \(QActivation\) .*"
      r"supported here: none; remove it$")),
])
def test_config_precision_a_layer_ignores_is_refused(capsys, zoo_dir, tmp_path, yaml_text,
                                                     pattern) -> None:
    """A configured type that the conversion would not use (QKeras's quantizers set it) is
    refused, naming the key, instead of changing nothing silently."""
    from conftest import zoo_model

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    out = tmp_path / "o"
    code, _, err = run(capsys, "convert", zoo_model("mlp8", zoo_dir).path, "-o", str(out),
                       "--config", str(cfg))
    _one_line_error(code, err, pattern)
    assert not out.exists()


def test_precision_a_quantized_model_ignores_is_refused(capsys, zoo_dir, tmp_path) -> None:
    """--precision on a fully quantized QKeras model would change no type: refused. On a
    model with float layers it is used (and convert prints what it quantized)."""
    from conftest import zoo_model

    out = tmp_path / "o"
    code, _, err = run(capsys, "convert", zoo_model("mlp8", zoo_dir).path, "-o", str(out),
                       "--precision", "ap_fixed<8,3>")
    _one_line_error(code, err, r"^nnfab: error: --precision: no layer of model mlp8 takes a "
                               r"type from it \(its QKeras quantizers set every type\); "
                               r"remove it$")
    assert not out.exists()
    code, printed, _ = run(capsys, "convert", zoo_model("float_bn", zoo_dir).path, "-o",
                           str(out), "--precision", "ap_fixed<18,8>")
    assert code == 0
    assert "note: bn1: float BatchNormalization quantized to ap_fixed<18,8>" in printed


@pytest.mark.parametrize("key,value,applies", [("reuse", "4", "Dense and Conv layers"),
                                               ("strategy", "resource", "Dense and Conv layers"),
                                               ("multipliers", "lut", "Dense layers"),
                                               ("skip_zeros", "true", "Dense layers")])
def test_config_parallelism_on_other_layers_is_refused(capsys, zoo_dir, tmp_path, key, value,
                                                       applies) -> None:
    from conftest import zoo_model

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"layers:\n  relu1:\n    {key}: {value}\n")
    out = tmp_path / "o"
    code, _, err = run(capsys, "convert", zoo_model("mlp8", zoo_dir).path, "-o", str(out),
                       "--config", str(cfg))
    _one_line_error(code, err, rf"^nnfab: error: config layers\.relu1\.{key}: layer relu1 "
                               rf"\(QActivation\) has no {key}; it applies to {applies}; "
                               r"remove it$")
    assert not out.exists()


def test_keras_relu_and_softmax_layers_convert(tmp_path) -> None:
    """A plain Keras ReLU layer is max(x, 0) bit-exactly (fully quantized model); a Softmax
    layer converts as Activation('softmax') does, to the same graph."""
    import tf_keras as keras
    from qkeras import QActivation, QDense

    from generator import config, ir, reference
    from generator.frontends.keras import from_model
    from generator.passes import run_pipeline
    from generator.verify import source_predict

    L = keras.layers
    keras.utils.set_random_seed(3)
    qb = "quantized_bits(8,0,alpha=1)"

    def model(last):
        i = L.Input((16,), name="x")
        h = QActivation("quantized_bits(8,2)", name="q")(i)
        h = QDense(8, kernel_quantizer=qb, bias_quantizer=qb, name="d")(h)
        return keras.Model(i, last(h))

    m = model(lambda h: QActivation("quantized_bits(8,2)", name="q2")(L.ReLU(name="r")(h)))
    g = from_model(m, config.load(None, None))
    run_pipeline(g)
    assert g.meta["fully_quantized"]
    x = np.ldexp(np.random.default_rng(3).integers(-128, 128, (500, 16)).astype(np.float64), -5)
    np.testing.assert_array_equal(reference.predict(g, x), source_predict(m, x))

    graphs = []
    for last in (lambda h: L.Softmax(name="s")(h), lambda h: L.Activation("softmax", name="s")(h)):
        mm = model(last)
        mm.set_weights(m.get_weights()[:len(mm.get_weights())])
        gg = from_model(mm, config.load(None, None))
        run_pipeline(gg)
        d, a = ir.to_json(gg)
        graphs.append(({k: v for k, v in d.items() if k != "name"}, a))  # the Keras model's name
    assert graphs[0][0] == graphs[1][0]
    for k in graphs[1][1]:
        np.testing.assert_array_equal(graphs[0][1][k], graphs[1][1][k])


def test_corrupt_file(capsys, tmp_path) -> None:
    p = tmp_path / "bad.h5"
    p.write_bytes(b"this is not hdf5")
    code, _, err = run(capsys, "convert", str(p), "-o", str(tmp_path / "o"))
    _one_line_error(code, err, r"^nnfab: error: model file .*bad\.h5 cannot be read as a Keras model")
    assert not (tmp_path / "o").exists()


def test_missing_file(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "convert", str(tmp_path / "nope.h5"), "-o", str(tmp_path / "o"))
    _one_line_error(code, err, r"^nnfab: error: model file .*nope\.h5 does not exist$")


def test_wrong_input_shape(capsys, example_out, tmp_path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((3, 10)))
    code, _, err = run(capsys, "predict", example_out, "-i", str(tmp_path / "x.npy"),
                       "-o", str(tmp_path / "y.npy"))
    _one_line_error(code, err, r"^nnfab: error: input has shape \(10,\) per sample; model "
                               r"input \w+ expects \(64,\)")
    assert not (tmp_path / "y.npy").exists()


@pytest.mark.parametrize("bad", ["ap_fixed<16>", "ap_fixed<16,6,AP_FOO>", "fixed16", "ap_fixed<99,6>"])
def test_malformed_precision(capsys, example_model, tmp_path, bad) -> None:
    code, _, err = run(capsys, "convert", example_model, "-o", str(tmp_path / "o"),
                       "--precision", bad)
    _one_line_error(code, err, r"^nnfab: error: (--precision: )?(malformed precision|fixed-point width)")
    assert not (tmp_path / "o").exists()


def test_not_a_project(capsys, tmp_path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 64)))
    code, _, err = run(capsys, "predict", str(tmp_path), "-i", str(tmp_path / "x.npy"),
                       "-o", str(tmp_path / "y.npy"))
    _one_line_error(code, err, r"^nnfab: error: .* is not an nnfab output directory")


def test_old_project_format(capsys, example_out, tmp_path) -> None:
    import shutil

    old = tmp_path / "old"
    shutil.copytree(example_out, old)
    doc = json.loads((old / "nnfab.json").read_text())
    doc["format"] = 0
    (old / "nnfab.json").write_text(json.dumps(doc))
    code, _, err = run(capsys, "verify", str(old))
    _one_line_error(code, err, r"^nnfab: error: nnfab.json has format 0 .*re-run 'nnfab convert'")


def test_bad_config_key(capsys, example_model, tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  precison: ap_fixed<8,3>\n")
    code, _, err = run(capsys, "convert", example_model, "-o", str(tmp_path / "o"),
                       "--config", str(cfg))
    _one_line_error(code, err, r"^nnfab: error: config model: unknown key 'precison'; supported:")


def test_reuse_too_large(capsys, example_model, tmp_path) -> None:
    code, _, err = run(capsys, "convert", example_model, "-o", str(tmp_path / "o"),
                       "--strategy", "resource", "--reuse", "4000")
    k = _digits_nonzeros(example_model)[2]
    _one_line_error(code, err, r"^nnfab: error: layer fc1: reuse factor 4000 is not possible; "
                               rf"valid: 1\.\.{k} \(the layer has {k} nonzero weights\)$")
    assert not (tmp_path / "o").exists()


def test_conv_reuse_from_config(capsys, zoo_dir, tmp_path) -> None:
    """A conv's reuse factor comes from the YAML's layers section; out of range: one line."""
    from conftest import zoo_model

    model = zoo_model("cnn_basic", zoo_dir).path
    cfg = tmp_path / "c.yaml"
    cfg.write_text("layers:\n  c1:\n    reuse: 4\n")
    code, _, err = run(capsys, "convert", model, "-o", str(tmp_path / "ok"), "--config", str(cfg))
    assert code == 0, err
    assert ir.load(str(tmp_path / "ok")).node("c1")["reuse"] == 4
    cfg.write_text("layers:\n  c1:\n    reuse: 36\n")
    code, _, err = run(capsys, "convert", model, "-o", str(tmp_path / "o"), "--config", str(cfg))
    _one_line_error(code, err, r"^nnfab: error: layer c1: reuse factor 36 is not possible; "
                               r"valid: 1\.\.35 \(the conv has 35 nonzero weights\)$")
    assert not (tmp_path / "o").exists()


def test_lut_multipliers_from_config(capsys, example_model, tmp_path) -> None:
    """``multipliers: lut`` on a folded layer reaches the IR; on a fully parallel layer or
    with a value other than dsp/lut it is one line naming the layer and what is allowed."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("layers:\n  fc1:\n    strategy: resource\n    reuse: 8\n"
                   "    multipliers: lut\n")
    code, _, err = run(capsys, "convert", example_model, "-o", str(tmp_path / "ok"),
                       "--config", str(cfg))
    assert code == 0, err
    g = ir.load(str(tmp_path / "ok"))
    assert g.node("fc1")["multipliers"] == "lut" and g.node("fc2")["multipliers"] == "dsp"
    for value, pattern in (
            ("lut", (r"^nnfab: error: layer fc1: multipliers lut needs strategy resource "
                    r"without skip_zeros")),
            ("bram", (r"^nnfab: error: layers\.fc1\.multipliers: 'bram' is not supported; "
                     r"use one of dsp, lut$"))):
        cfg.write_text(f"layers:\n  fc1:\n    multipliers: {value}\n")
        code, _, err = run(capsys, "convert", example_model, "-o", str(tmp_path / "o"),
                           "--config", str(cfg))
        _one_line_error(code, err, pattern)
        assert not (tmp_path / "o").exists()


def test_reuse_needs_resource_strategy(capsys, example_model, tmp_path) -> None:
    code, _, err = run(capsys, "convert", example_model, "-o", str(tmp_path / "o"), "--reuse", "2")
    _one_line_error(code, err, r"^nnfab: error: layer fc1: reuse factor 2 needs --strategy resource")


def test_config_for_a_layer_the_model_lacks_is_one_line(tmp_path, capsys, example_model):
    """A misspelt layer name in the YAML is refused (it would otherwise change nothing)."""
    from generator.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("layers:\n  fc9:\n    reuse: 2\n")
    out = tmp_path / "o"
    rc = main(["convert", example_model, "-o", str(out), "--config", str(cfg)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and not out.exists()
    assert err.startswith("nnfab: error: config layers.fc9: model ") and "has no layer 'fc9'" in err
    assert "fc1" in err
