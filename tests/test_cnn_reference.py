"""Convolutional networks: the reference equals QKeras bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from generator import config, ir, reference
from generator.frontends.keras import from_model
from generator.passes import run_pipeline

pytestmark = pytest.mark.slow


def test_cnn_reference_equals_qkeras(zoo_cnn) -> None:
    g = from_model(zoo_cnn.model, config.load(None))
    run_pipeline(g)
    assert g.meta["fully_quantized"]
    from conftest import assert_outputs_vary

    y = reference.predict(g, zoo_cnn.x)
    assert_outputs_vary(y, g.outputs[0].ftype)
    np.testing.assert_array_equal(y, zoo_cnn.y_source)


def test_cnn_zoo_covers_every_layer(zoo_dir) -> None:
    import zoo
    from conftest import zoo_model

    ops, conv_kinds = set(), set()
    for e in zoo.CNN_ZOO:
        g = from_model(zoo_model(e.name, zoo_dir).model, config.load(None))
        for n in g.nodes:
            ops.add(n.OP if n.OP not in ("Pool", "GlobalPool") else f"{n.OP}-{n['mode']}")
            if isinstance(n, ir.Conv):
                conv_kinds.add((len(n["kernel"]), n["depthwise"], any(s > 1 for s in n["strides"]),
                                any(n["pads"])))
    assert {"Conv", "Pool-max", "Pool-avg", "GlobalPool-avg", "GlobalPool-max", "Pad",
            "Upsample", "Add", "Concat", "Reshape"} <= ops
    assert (2, False, True, True) in conv_kinds  # strided, 'same'-padded 2-D conv
    assert any(k[0] == 1 for k in conv_kinds) and any(k[1] for k in conv_kinds)


@pytest.mark.parametrize("rank", [1, 2])
def test_separable_conv_equals_keras_on_the_grid(rank: int) -> None:
    """A float SeparableConv1D/2D converts to a depthwise Conv and a 1x1 Conv with no
    rounding between them: with weights and inputs on the configured grids and a result
    type holding every sum, the reference equals Keras's float32 ``predict`` exactly."""
    import tf_keras as keras

    L = keras.layers
    shape = (9, 3) if rank == 1 else (6, 6, 3)
    sep = L.SeparableConv1D if rank == 1 else L.SeparableConv2D
    m = keras.Sequential([L.InputLayer(input_shape=shape),
                          sep(4, 3, padding="same", name="sep")])
    rng = np.random.default_rng(21)
    ws = [rng.integers(-128, 128, w.shape) / 64.0 for w in m.get_weights()]  # ap_fixed<8,2>
    for w in ws[:2]:
        w[rng.random(w.shape) < 0.3] = 0.0
    m.set_weights([w.astype(np.float32) for w in ws])
    cfg = config.from_dict({"model": {"precision": {
        "weight": "ap_fixed<8,2>", "bias": "ap_fixed<8,2>", "input": "ap_fixed<8,3>",
        "result": "ap_fixed<28,10>"}}})
    g = from_model(m, cfg)
    run_pipeline(g)
    convs = g.of(ir.Conv)
    assert [(n.name, n["depthwise"], tuple(n["kernel"])) for n in convs] == [
        ("sep_dw", True, (3,) * rank), ("sep_pw", False, (1,) * rank)]
    assert "bias" not in convs[0].weights and "bias" in convs[1].weights
    x = rng.integers(-128, 128, (200, *shape)) / 32.0  # on the ap_fixed<8,3> grid
    y = m.predict(x.astype(np.float32), verbose=0).astype(np.float64)
    np.testing.assert_array_equal(reference.predict(g, x), y)


def test_conv_reuse_refused_with_one_line(zoo_dir) -> None:
    from conftest import zoo_model

    from generator.passes.folding import FoldingError

    m = zoo_model("cnn_basic", zoo_dir).model
    cfg = config.from_dict({"layers": {"c1": {"reuse": 36}}})
    g = from_model(m, cfg)
    with pytest.raises(FoldingError, match=r"^layer c1: reuse factor 36 is not possible; "
                       r"valid: 1\.\.35 \(the conv has 35 nonzero weights\)$"):
        run_pipeline(g)
    # reuse 2 folds the conv (tests/test_rtl_cnn.py, tests/test_hls_cnn.py)
    g = from_model(m, config.from_dict({"layers": {"c1": {"reuse": 2}}}))
    run_pipeline(g)
    assert g.node("c1")["reuse"] == 2
    # the model-wide reuse is a Dense default: the convs stay parallel, the Dense folds
    g = from_model(m, config.load(None, strategy="resource", reuse=4))
    run_pipeline(g)
    assert all(n["reuse"] == 1 for n in g.of(ir.Conv))
    assert all(n["reuse"] == 4 for n in g.of(ir.Dense))


def test_cnn_example_is_exact_and_pruned() -> None:
    import os

    from generator.frontends.keras import load_model

    path = os.path.join(os.path.dirname(__file__), "..", "examples", "digits_cnn", "digits_cnn.h5")
    m = load_model(path)
    g = from_model(m, config.load(None))
    run_pipeline(g)
    w = [n.weights["weight"].data for n in g.of(ir.Conv) + g.of(ir.Dense)]
    assert 1 - sum(int(np.count_nonzero(a)) for a in w) / sum(a.size for a in w) >= 0.45
    rng = np.random.default_rng(5)
    x = rng.integers(0, 17, size=(300, 8, 8, 1)) / 16.0
    y = m.predict(x.astype(np.float32), verbose=0).astype(np.float64)
    np.testing.assert_array_equal(reference.predict(g, x), y)


def _pointwise_dense(rank: int) -> object:
    """A QDense applied to every position of a set of 8 particles x 4 features (Deep Sets:
    per-particle QDense -> relu -> QDense, a global average, a QDense) or of a 3x3x2 image."""
    import zoo

    keras, q = zoo._layers()

    def qd(units: int, name: str, **kw: object) -> object:
        return q.QDense(units, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                        bias_quantizer=q.quantized_bits(6, 1, alpha=1), name=name, **kw)

    if rank == 1:
        body = [qd(6, "phi1", activation=q.quantized_relu(6, 2)), qd(5, "phi2"),
                q.QActivation(q.quantized_relu(6, 2), name="r2"),
                keras.layers.GlobalAveragePooling1D(name="gap"), qd(3, "rho")]
        shape: tuple[int, ...] = (8, 4)
    else:
        body = [qd(4, "pw"), keras.layers.Flatten(name="fl"), qd(3, "out")]
        shape = (3, 3, 2)
    return keras.Sequential([keras.layers.InputLayer(input_shape=shape),
                             q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q_in"),
                             *body], name=f"pointwise{rank}")


@pytest.mark.parametrize("rank", [1, 2])
def test_dense_on_a_sequence_or_image_is_a_1x1_conv(rank: int) -> None:
    """Keras applies a Dense on an N-D input to each position: the IR's 1x1 Conv, exact
    against QKeras (the zoo's rnn_simple runs one through C-sim and the RTL)."""
    import zoo

    from generator.verify import source_predict

    e = zoo.ZooEntry(f"pointwise{rank}", lambda: _pointwise_dense(rank), 8, 2, prune=0.3,
                     seed=50 + rank)
    m = zoo.build(e)
    x = zoo.inputs(e, tuple(int(d) for d in m.input_shape[1:]), 500)
    g = from_model(m, config.load(None))
    run_pipeline(g)
    convs = g.of(ir.Conv)
    assert convs and all(n["kernel"] == (1,) * rank for n in convs)
    y = source_predict(m, x)
    assert len(np.unique(y)) > 100
    np.testing.assert_array_equal(reference.predict(g, x), y)
    # a Dense-only setting on it would change nothing: refused in one line
    from generator.frontends.keras import FrontendError

    name = convs[0]["source"]
    cfg = config.from_dict({"layers": {name: {"multipliers": "lut"}}})
    with pytest.raises(FrontendError, match=f"config layers.{name}.multipliers: layer {name} "
                       "is a Dense on a"):
        from_model(m, cfg)


def test_time_distributed_dense_is_the_sequence_dense() -> None:
    """TimeDistributed(QDense) on a sequence: the same 1x1 Conv, known (sourced and
    configured) by the wrapper's name; exact against QKeras."""
    import zoo

    from generator.verify import source_predict

    def build() -> object:
        keras, q = zoo._layers()
        return keras.Sequential([
            keras.layers.InputLayer(input_shape=(6, 3)),
            q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q_in"),
            keras.layers.TimeDistributed(
                q.QDense(4, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                         bias_quantizer=q.quantized_bits(6, 1, alpha=1),
                         activation=q.quantized_relu(6, 2)), name="td"),
            keras.layers.Flatten(name="fl"),
            q.QDense(3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                     bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
        ], name="time_distributed")

    e = zoo.ZooEntry("time_distributed", build, 8, 2, seed=53)
    m = zoo.build(e)
    x = zoo.inputs(e, (6, 3), 500)
    g = from_model(m, config.from_dict({"layers": {"td": {"reuse": 2,
                                                          "strategy": "resource"}}}))
    run_pipeline(g)
    (conv,) = g.of(ir.Conv)
    assert conv["source"] == "td" and conv["kernel"] == (1,) and conv["reuse"] == 2
    y = source_predict(m, x)
    assert len(np.unique(y)) > 100
    np.testing.assert_array_equal(reference.predict(g, x), y)
