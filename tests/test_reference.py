"""The NumPy reference equals QKeras's own predict, bit for bit, on the whole zoo."""

from __future__ import annotations

import os

import numpy as np
import pytest

from generator import config, ir, reference
from generator.frontends.keras import from_model
from generator.passes import run_pipeline

pytestmark = pytest.mark.slow


def convert(model, precision: str | None = None) -> ir.Graph:
    g = from_model(model, config.load(None, precision))
    run_pipeline(g)
    return g


def test_reference_equals_qkeras(zoo_q) -> None:
    g = convert(zoo_q.model)
    assert g.meta["fully_quantized"]
    y = reference.predict(g, zoo_q.x)
    from conftest import assert_outputs_vary

    assert_outputs_vary(y, g.outputs[0].ftype)
    assert y.shape == zoo_q.y_source.shape
    np.testing.assert_array_equal(y, zoo_q.y_source)


def test_zoo_covers_the_bar(zoo_q) -> None:
    """The zoo spans the layer and quantizer kinds nnfab supports (checked on the converted IR)."""
    g = convert(zoo_q.model)
    dense = g.of(ir.Dense)
    assert dense
    if zoo_q.name == "pruned80":
        total = sum(n.weights["weight"].data.size for n in dense)
        nnz = sum(n["nnz"] for n in dense)
        assert 1 - nnz / total >= 0.78


def test_zoo_precision_span(zoo_dir) -> None:
    import zoo
    from conftest import zoo_model

    widths, ints, ops = set(), set(), set()
    for e in zoo.ZOO:
        g = convert(zoo_model(e.name, zoo_dir).model)
        for n in g.of(ir.Dense):
            widths.add(n.weights["weight"].ftype.width)
        for n in g.nodes:
            ops.add(n.OP)
            if n.OP == "Quantize":
                ints.add(n.output.ftype.integer)
    assert min(widths) <= 2 and max(widths) >= 12
    assert {"Binarize", "Ternarize", "Quantize", "LeakyRelu", "Threshold"} <= ops


@pytest.mark.parametrize("thr,lev,pattern", [
    ([3, 3], [0, 1, 2], r"needs strictly ascending thresholds"),
    ([1, 5], [0, 1], r"one more level than thresholds \(2 thresholds, 2 levels\)"),
    ([1, 200], [0, 1, 2], r"thresholds .* are not on the input grid"),
    ([1, 5], [0, 1, 9], r"levels .* are not on the output grid"),
])
def test_threshold_ir_check(thr, lev, pattern) -> None:
    """A Threshold node's data is checked when the graph is: ascending thresholds inside
    the input type, one level more than thresholds, levels inside the output type."""
    from generator.fixed import FixedType

    g = ir.Graph("t")
    t = g.add(ir.Input("x", [], shape=(4,)), FixedType(8, 4))
    n = ir.Threshold("th", [t], {"thresholds": ir.Weight(thr, FixedType(9, 5)),
                                 "levels": ir.Weight(lev, FixedType(5, 2))}, function="f")
    g.add(n, FixedType(4, 1))  # levels up to 7 fit
    g.outputs = [n.output]
    with pytest.raises(ir.IRError, match=pattern):
        g.verify()


@pytest.mark.parametrize("mode,n,pattern", [
    ("sub", 3, r"^node m: Merge sub takes 2 inputs, got 3$"),
    ("avg", 3, (r"^node m: Merge avg takes a power-of-two count of inputs \(an exact "
                r"shift\), got 3$")),
    ("pow", 2, r"^node m: Merge mode must be one of sub, max, min, avg, mul$"),
])
def test_merge_ir_check(mode, n, pattern) -> None:
    from generator.fixed import FixedType

    g = ir.Graph("t")
    t = g.add(ir.Input("x", [], shape=(4,)), FixedType(8, 4))
    with pytest.raises(ir.IRError, match=pattern):
        g.add(ir.Merge("m", [t] * n, mode=mode), FixedType(10, 5))
        g.verify()


def test_merge_types_hold_every_result() -> None:
    """Merge output types are exact: every combination of the inputs' extreme values
    (and zero) lands inside the inferred type, on its grid (an independent enumeration)."""
    import itertools

    from generator.fixed import FixedType
    from generator.passes import run_pipeline

    ta, tb = FixedType(6, 2, False), FixedType(5, 3, True)  # frac 4 and 2
    for mode in ("sub", "max", "min", "avg", "mul"):
        g = ir.Graph("t")
        a = g.add(ir.Input("x", [], shape=(1,)), ta)
        b = g.add(ir.Quantize("qb", [a]), tb)
        m = g.add(ir.Merge("m", [a, b], mode=mode), FixedType(2, 2))
        g.outputs = [m]
        run_pipeline(g)
        to = m.ftype
        for va, vb in itertools.product([ta.min_raw, 0, ta.max_raw], [tb.min_raw, 0, tb.max_raw]):
            x, y = va / 2**ta.frac, vb / 2**tb.frac
            v = {"sub": x - y, "max": max(x, y), "min": min(x, y), "avg": (x + y) / 2,
                 "mul": x * y}[mode]
            raw = v * 2**to.frac
            assert raw == int(raw) and to.min_raw <= raw <= to.max_raw, (mode, to, v)


def test_ir_roundtrip_exact(zoo_q, tmp_path) -> None:
    g = convert(zoo_q.model)
    ir.save(g, str(tmp_path))
    g2 = ir.load(str(tmp_path))
    d1, a1 = ir.to_json(g)
    d2, a2 = ir.to_json(g2)
    assert d1 == d2
    assert a1.keys() == a2.keys()
    for k in a1:
        np.testing.assert_array_equal(a1[k], a2[k])
        assert a2[k].dtype == np.int64
    np.testing.assert_array_equal(reference.predict(g2, zoo_q.x), zoo_q.y_source)


def test_float_model_deviation_is_reported(float_model) -> None:
    g = convert(float_model.model, "ap_fixed<18,8>")
    assert not g.meta["fully_quantized"]
    y = reference.predict(g, float_model.x)
    # not bit-exact by construction (float source); the deviation is small and measured
    assert np.abs(y - float_model.y_source).max() < 0.05
    # the BatchNorm was folded into fc1 (no ScaleShift left)
    assert not g.of(ir.ScaleShift)
    ops = [n.OP for n in g.nodes]
    assert "Table" in ops and "Softmax" in ops


def test_fold_batchnorm_is_exact(float_model) -> None:
    """Folding changes no result: compare the IR before and after the fold."""
    from generator.passes.fold_batchnorm import fold_batchnorm
    from generator.passes.infer_precision import infer_precision

    g = from_model(float_model.model, config.load(None, "ap_fixed<18,8>"))
    infer_precision(g)
    before = reference.predict(g, float_model.x)
    assert g.of(ir.ScaleShift)
    assert fold_batchnorm(g)
    infer_precision(g)
    g.verify()
    assert not g.of(ir.ScaleShift)
    np.testing.assert_array_equal(reference.predict(g, float_model.x), before)


def test_accumulator_never_overflows_and_is_minimal(zoo_q) -> None:
    """Extreme inputs reach the inferred range; one bit less could not hold it."""
    from generator.intervals import dense_range

    g = convert(zoo_q.model)
    for n in g.of(ir.Dense):
        t = n.output.ftype
        lo, hi, frac = dense_range(n, n.input.ftype)
        assert t.frac == frac
        assert t.min_raw <= lo and hi <= t.max_raw
        narrower = ir.FixedType(t.width - 1, t.integer - 1, t.signed) if t.width > 1 else None
        if narrower is not None:
            assert lo < narrower.min_raw or hi > narrower.max_raw
        # the bound is attained: the input that maximises output j is a corner
        w = n.weights["weight"].data
        j = int(np.argmax(np.maximum(w * n.input.ftype.min_raw, w * n.input.ftype.max_raw).sum(0)))
        xr = np.where(w[:, j] > 0, n.input.ftype.max_raw, n.input.ftype.min_raw)[None, :]
        acc = reference.dense_sum(xr, n.input.ftype, n)
        assert acc.max() <= t.max_raw


def test_pruning_narrows_accumulator(zoo_dir) -> None:
    from conftest import zoo_model

    m = zoo_model("mlp8", zoo_dir).model
    g_dense = convert(m)
    ws = m.get_weights()
    k = ws[0].copy()
    k[np.abs(k) < np.quantile(np.abs(k), 0.9)] = 0
    import zoo

    m2 = zoo.mlp8()
    m2.set_weights([k] + ws[1:])
    g_pruned = convert(m2)
    a = g_dense.node("fc1").output.ftype.width
    b = g_pruned.node("fc1").output.ftype.width
    assert b < a
    assert g_pruned.node("fc1")["nnz"] < g_dense.node("fc1")["nnz"]


def test_sparsity_lists_match_weights(zoo_dir) -> None:
    from conftest import zoo_model

    from generator.passes.sparsity import nonzero_lists

    g = convert(zoo_model("pruned80", zoo_dir).model)
    for n in g.of(ir.Dense):
        lists = nonzero_lists(n)
        assert tuple(len(x) for x in lists) == n["nnz_per_output"]
        w = n.weights["weight"].data
        for j, idx in enumerate(lists):
            assert np.all(w[idx, j] != 0)
            assert np.count_nonzero(w[:, j]) == len(idx)


def test_input_shape_error(zoo_dir) -> None:
    from conftest import zoo_model

    g = convert(zoo_model("mlp8", zoo_dir).model)
    with pytest.raises(reference.ReferenceError_, match=r"^input has shape \(3,\) per sample; "
                       r"model input input expects \(16,\)"):
        reference.predict(g, np.zeros((2, 3)))


def test_example_is_pruned_8bit(example_model) -> None:
    from generator.frontends.keras import load_model

    g = convert(load_model(example_model))
    dense = g.of(ir.Dense)
    total = sum(n.weights["weight"].data.size for n in dense)
    nnz = sum(n["nnz"] for n in dense)
    assert 1 - nnz / total >= 0.70
    assert all(n.weights["weight"].ftype.width <= 8 for n in dense)
    assert os.path.getsize(example_model) < 200_000


@pytest.mark.parametrize("name", ["mlp8", "ternary_net", "cnn_residual"])
def test_keras_format_converts_like_h5(name, zoo_dir, tmp_path) -> None:
    """A model saved as ``.keras`` (the zip format, whose QActivation quantizers are stored
    as dicts) converts to the same graph as its ``.h5`` and the reference still equals the
    reloaded model's own predict."""
    from conftest import zoo_model

    from generator.frontends.keras import load_model

    zm = zoo_model(name, zoo_dir)
    path = str(tmp_path / f"{name}.keras")
    zm.model.save(path)
    m = load_model(path)
    g, g_h5 = convert(m), convert(load_model(zm.path))
    (d, a), (d_h5, a_h5) = ir.to_json(g), ir.to_json(g_h5)
    assert d == d_h5
    assert a.keys() == a_h5.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], a_h5[k])
    x = zm.x[:200]
    np.testing.assert_array_equal(reference.predict(g, x),
                                  m.predict(x, verbose=0).astype(np.float64))


def test_configured_accumulator_marks_deviation(zoo_dir) -> None:
    """A configured accumulator narrower than the exact sum is applied, and the graph says
    the design deviates from QKeras (verify then reports the deviation instead of failing);
    one that holds every value of the exact sum keeps the design exact."""
    from conftest import zoo_model

    zm = zoo_model("mlp8", zoo_dir)
    exact = convert(zm.model)
    t = next(n for n in exact.of(ir.Dense) if n["source"] == "fc1").output.ftype
    for acc, same in ((f"ap_fixed<{t.width + 2},{t.integer + 1}>", True),
                      (f"ap_fixed<{t.width - 8},{t.integer - 3}>", False)):
        g = from_model(zm.model, config.from_dict(
            {"layers": {"fc1": {"precision": {"accum": acc}}}}))
        run_pipeline(g)
        assert g.meta["fully_quantized"] is same
        assert any("fc1: accum" in note for note in g.meta["notes"]) is not same
        y = reference.predict(g, zm.x)
        assert np.array_equal(y, zm.y_source) is same


def test_qbatchnormalization_uses_its_quantized_parameters() -> None:
    """A QBatchNormalization normalizes with its quantizers' gamma/beta/mean/variance, in
    float (not exact: the deviation is reported). With a fine ScaleShift type the output,
    after an 8-bit quantized_relu, is QKeras's except where float rounding meets a rounding
    boundary: within one output LSB, and equal almost everywhere (with the raw parameters
    instead, 43 % of the outputs differ, by up to 121 LSBs)."""
    import tf_keras as keras
    from qkeras import QActivation, QBatchNormalization, QDense

    from generator.verify import source_predict

    L = keras.layers
    keras.utils.set_random_seed(5)
    qb = "quantized_bits(8,0,alpha=1)"
    i = L.Input((16,))
    h = QDense(8, kernel_quantizer=qb, bias_quantizer=qb)(QActivation("quantized_bits(8,2)")(i))
    m = keras.Model(i, QActivation("quantized_relu(8,3)")(QBatchNormalization(name="bn")(h)))
    rng = np.random.default_rng(5)
    ranges = {"gamma": (0.5, 2.0), "moving_variance": (0.5, 4.0)}
    m.set_weights([rng.uniform(*next((r for k, r in ranges.items() if k in w.name), (-1, 1)),
                               w.shape).astype(np.float32) for w in m.weights])
    x = np.ldexp(rng.integers(-128, 128, (2000, 16)).astype(np.float64), -5)
    g = convert(m, "ap_fixed<32,12>")
    assert not g.meta["fully_quantized"]
    assert any(n.startswith("bn: float BatchNormalization quantized") for n in g.meta["notes"])
    d = np.abs(reference.predict(g, x) - source_predict(m, x))
    assert d.max() <= g.outputs[0].ftype.lsb
    assert np.mean(d == 0) >= 0.999


@pytest.mark.parametrize("conv", ["Conv2D", "DepthwiseConv2D", "Conv1D", "DepthwiseConv1D",
                                  "SeparableConv2D"])
def test_fold_batchnorm_into_conv_is_exact(conv) -> None:
    """A BatchNormalization after a Conv folds into it (per output channel; a depthwise
    Conv's channel is its weight's second-last axis; a separable conv's BN folds into its
    1x1 conv) without changing any result."""
    import tf_keras as keras

    from generator.passes.fold_batchnorm import fold_batchnorm
    from generator.passes.infer_precision import infer_precision

    L = keras.layers
    keras.utils.set_random_seed(7)
    shape = (7, 3) if conv.endswith("1D") else (6, 6, 3)
    layer = {"Conv2D": lambda: L.Conv2D(4, 3, padding="same"),
             "DepthwiseConv2D": lambda: L.DepthwiseConv2D(3),
             "Conv1D": lambda: L.Conv1D(4, 3),
             "DepthwiseConv1D": lambda: L.DepthwiseConv1D(3, padding="same"),
             "SeparableConv2D": lambda: L.SeparableConv2D(4, 3)}[conv]()
    m = keras.Sequential([L.InputLayer(input_shape=shape), layer, L.BatchNormalization(),
                          L.Activation("relu")])
    rng = np.random.default_rng(7)
    m.set_weights([rng.uniform(0.5, 2.0, w.shape).astype(np.float32) if "variance" in w.name
                   else rng.uniform(-1, 1, w.shape).astype(np.float32) for w in m.weights])
    x = np.ldexp(rng.integers(-512, 512, (300, *shape)).astype(np.float64), -6)
    g = from_model(m, config.load(None, "ap_fixed<16,6>"))
    infer_precision(g)
    before = reference.predict(g, x)
    assert g.of(ir.ScaleShift)
    assert fold_batchnorm(g)
    infer_precision(g)
    g.verify()
    assert not g.of(ir.ScaleShift)
    np.testing.assert_array_equal(reference.predict(g, x), before)


@pytest.mark.parametrize("alpha", [0.5, 0.125, 0.0])
def test_keras_leaky_relu_equals_keras_on_the_grid(alpha) -> None:
    """A float model's LeakyReLU(alpha = 2^-k) is exact (the negative half shifted k bits,
    alpha 0 a plain ReLU): with weights and inputs on the configured grids and a result type
    holding every sum, the reference equals Keras's float32 ``predict``; after an unsigned
    (ReLU) tensor it is the identity and adds no node."""
    import tf_keras as keras

    L = keras.layers
    m = keras.Sequential([L.InputLayer(input_shape=(10,)), L.Dense(6, name="fc"),
                          L.LeakyReLU(alpha=alpha, name="lr"), L.ReLU(name="r"),
                          L.LeakyReLU(alpha=0.25, name="lr2")])
    rng = np.random.default_rng(31)
    m.set_weights([(rng.integers(-128, 128, w.shape) / 64.0).astype(np.float32)
                   for w in m.get_weights()])  # on the ap_fixed<8,2> grid
    cfg = config.from_dict({"model": {"precision": {
        "weight": "ap_fixed<8,2>", "bias": "ap_fixed<8,2>", "input": "ap_fixed<8,3>",
        "result": "ap_fixed<24,10>"}}})
    g = from_model(m, cfg)
    run_pipeline(g)
    ops = [(n.name, n.OP) for n in g.nodes if n["source"] in ("lr", "lr2")]
    assert ops == [("lr", "Relu" if alpha == 0 else "LeakyRelu")]
    x = rng.integers(-128, 128, (500, 10)) / 32.0  # on the ap_fixed<8,3> grid
    y = m.predict(x.astype(np.float32), verbose=0).astype(np.float64)
    np.testing.assert_array_equal(reference.predict(g, x), y)


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_keras_activation_then_quantizer_is_one_threshold(act) -> None:
    """A float Keras sigmoid / tanh with a QActivation right after it converts to one exact
    Threshold of both (the table a lone sigmoid gets is not exact): with weights and
    inputs on the configured grids and sums exact, the reference equals Keras's float32
    ``predict``. Read by a second layer as well, the activation keeps its table (the
    quantizer must not change what that layer sees)."""
    import qkeras
    import tf_keras as keras

    L = keras.layers
    x_in = L.Input((10,))
    h = L.Dense(6, name="fc")(x_in)
    a = L.Activation(act, name="act")(h)
    y = L.Dense(3, name="out")(qkeras.QActivation(qkeras.quantized_bits(8, 0, alpha=1),
                                                  name="q")(a))
    m = keras.Model(x_in, y)
    rng = np.random.default_rng(32)
    m.set_weights([(rng.integers(-128, 128, w.shape) / 64.0).astype(np.float32)
                   for w in m.get_weights()])  # on the ap_fixed<8,2> grid
    cfg = {"model": {"precision": {"weight": "ap_fixed<8,2>", "bias": "ap_fixed<8,2>",
                                   "input": "ap_fixed<8,3>", "result": "ap_fixed<24,10>"}}}
    g = from_model(m, config.from_dict(cfg))
    run_pipeline(g)
    assert [(n.OP, n["source"]) for n in g.nodes if n["source"] in ("act", "q")] == [
        ("Threshold", "q")]
    x = rng.integers(-128, 128, (2000, 10)) / 32.0  # on the ap_fixed<8,3> grid
    ref = reference.predict(g, x)
    np.testing.assert_array_equal(ref, m.predict(x.astype(np.float32), verbose=0))
    assert len(np.unique(reference.run(g, x, keep=True)[g.of(ir.Threshold)[0].output.name])) > 40

    # the activation read by two layers: its table stays, the quantizer is its own node
    b = L.Dense(2, name="side")(a)
    m2 = keras.Model(x_in, L.Concatenate(name="cat")([y, b]))
    g2 = from_model(m2, config.from_dict(cfg))
    assert [n.OP for n in g2.nodes if n["source"] in ("act", "q")] == ["Table", "Quantize"]


def test_wide_sums_are_not_claimed_exact() -> None:
    """QKeras computes in float32: a QDense whose exact sums need more than 24 bits may be
    rounded there, so the conversion does not claim it bit-exact (the source view is then
    measured, not required) and says why; the zoo's widest layer (23 bits) stays exact."""
    import qkeras as q
    import tf_keras as keras

    m = keras.Sequential([keras.layers.InputLayer(input_shape=(16,)),
                          q.QActivation(q.quantized_bits(14, 4, alpha=1), name="q_in"),
                          q.QDense(4, kernel_quantizer=q.quantized_bits(14, 2, alpha=1),
                                   use_bias=False, name="fc")])
    g = from_model(m, config.load(None))
    run_pipeline(g)
    d = g.node("fc")
    assert d.output.ftype.width > 24 and not d["exact"] and not g.meta["fully_quantized"]
    assert any(n.startswith("fc: its exact sums need") for n in g.meta["notes"])


def _without_dead_units(g: ir.Graph) -> ir.Graph:
    """``g`` through the pipeline without :mod:`generator.passes.dead_units`."""
    from generator.passes import PIPELINE

    for name, p in PIPELINE:
        if name != "dead_units":
            p(g)
    return g


def test_units_no_layer_reads_drop_their_weights(zoo_dir) -> None:
    """pruned80: the units of fc2 whose every weight in ``out`` is zero (and then the units
    of fc1 that only those read) lose their incoming weights; outputs stay QKeras's."""
    from conftest import zoo_model

    zm = zoo_model("pruned80", zoo_dir)
    g0 = _without_dead_units(from_model(zm.model, config.load(None)))
    g = convert(zm.model)
    w0 = {n.name: n.weights["weight"].data for n in g0.of(ir.Dense)}
    # expected, layer by layer from the last: a unit is dead when the next kernel's row
    # of it is zero (after that kernel lost its own dead units)
    want = dict(w0)
    for cur, nxt in [("fc2", "out"), ("fc1", "fc2")]:
        dead = ~want[nxt].any(axis=1)
        want[cur] = np.where(dead[None, :], 0, want[cur])
        assert g.node(cur)["unread"] == int((dead & w0[cur].any(axis=0)).sum())
    assert g.node("fc2")["unread"] >= 10 and g.node("fc1")["unread"] >= 1
    for n in g.of(ir.Dense):
        np.testing.assert_array_equal(n.weights["weight"].data, want[n.name])
        assert n["nnz"] == np.count_nonzero(want[n.name])
    np.testing.assert_array_equal(reference.predict(g, zm.x), zm.y_source)
    np.testing.assert_array_equal(reference.predict(g0, zm.x), zm.y_source)


def _fork_cnn() -> ir.Graph:
    """conv c1 (4 filters) -> quantize -> {3x3 conv c2, 1x1 conv c3} -> add -> flatten ->
    dense; c2 reads c1's filters 0 and 2, c3 filters 0 and 3: filter 1 feeds nothing."""
    from generator.fixed import FixedType, Overflow, Rounding
    from generator.ir import Add, Conv, Dense, Graph, Input, Quantize, Reshape, Weight

    rng = np.random.default_rng(21)
    g = Graph("fork_cnn")
    t = g.add(Input("input", [], shape=(6, 6, 2)),
              FixedType(6, 2, True, Rounding.RND_CONV, Overflow.SAT))
    w1 = rng.integers(-7, 8, size=(3, 3, 2, 4))
    c1 = g.add(Conv("c1", [t], {"weight": Weight(w1, FixedType(4, 1)),
                                "bias": Weight(rng.integers(-8, 8, 4), FixedType(5, 1))},
                    filters=4, kernel=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1)),
               FixedType(24, 12))
    q = g.add(Quantize("q", [c1]), FixedType(6, 2, False, Rounding.RND, Overflow.SAT))
    w2 = rng.integers(-7, 8, size=(3, 3, 4, 2))
    w2[:, :, [1, 3], :] = 0
    w3 = rng.integers(-7, 8, size=(1, 1, 4, 2))
    w3[:, :, [1, 2], :] = 0
    c2 = g.add(Conv("c2", [q], {"weight": Weight(w2, FixedType(4, 1))}, filters=2,
                    kernel=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1)), FixedType(24, 12))
    c3 = g.add(Conv("c3", [q], {"weight": Weight(w3, FixedType(4, 1))}, filters=2,
                    kernel=(1, 1), strides=(1, 1), pads=(0, 0, 0, 0)), FixedType(24, 12))
    a = g.add(Add("add", [c2, c3]), FixedType(25, 13))
    f = g.add(Reshape("flat", [a], target_shape=(72,)), FixedType(25, 13))
    d = g.add(Dense("fc", [f], {"weight": Weight(rng.integers(-7, 8, size=(72, 3)),
                                                  FixedType(4, 1))}, units=3),
              FixedType(40, 20))
    g.outputs = [d]
    return g


def test_a_filter_no_branch_reads_drops_its_weights() -> None:
    """Liveness through a fork, an Add, a Reshape and per channel through convolutions:
    only the filter neither branch reads is dropped; the outputs do not change."""
    from generator.verify import samples

    g0, g = _without_dead_units(_fork_cnn()), _fork_cnn()
    run_pipeline(g)
    w0, w = g0.node("c1").weights["weight"].data, g.node("c1").weights["weight"].data
    assert w0[..., 1].any() and not w[..., 1].any()
    np.testing.assert_array_equal(np.delete(w, 1, axis=-1), np.delete(w0, 1, axis=-1))
    assert g.node("c1")["unread"] == 1
    assert all(g.node(n)["unread"] == 0 for n in ("c2", "c3", "fc"))
    x = samples(g, 200, seed=3)
    np.testing.assert_array_equal(reference.predict(g, x), reference.predict(g0, x))
