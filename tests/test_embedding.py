"""Keras ``Embedding`` (ir.Embedding): a table row per index, bit-exact in every view.

Two real tf-keras models -- Embedding -> Flatten -> QDense, and Embedding -> QConv1D ->
GlobalMaxPooling1D -> QDense (the unrolled CNN) -- are converted and verified through
the CLI against Keras itself (the source view), the HLS C-simulation and Verilator; an
index past the table is clipped to its last row by every view alike (Keras refuses it).
What is not supported is refused in one line.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from generator import api, config, ir, reference
from generator.cli import main
from generator.frontends.keras import FrontendError, from_model

pytestmark = pytest.mark.slow

VOCAB, DIM, STEPS = 12, 4, 6


def _model(kind: str, mask_zero: bool = False):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import qkeras as q
    import tf_keras as keras

    keras.utils.set_random_seed(21)
    qb = q.quantized_bits
    layers = [keras.layers.InputLayer(input_shape=(STEPS,)),
              keras.layers.Embedding(VOCAB, DIM, mask_zero=mask_zero, name="emb")]
    if kind == "conv":
        layers += [q.QConv1D(5, 3, kernel_quantizer=qb(6, 0, alpha=1),
                             bias_quantizer=qb(6, 1, alpha=1), name="c1"),
                   q.QActivation(q.quantized_relu(6, 2), name="r1"),
                   keras.layers.GlobalMaxPooling1D(name="gp")]
    else:
        layers += [keras.layers.Flatten(name="flat")]
    layers += [q.QDense(3, kernel_quantizer=qb(6, 0, alpha=1), bias_quantizer=qb(6, 1, alpha=1),
                        name="out")]
    m = keras.Sequential(layers, name=f"emb_{kind}")
    rng = np.random.default_rng(5)
    # embeddings on a 1/16 grid: the default weight type ap_fixed<16,6> holds them exactly
    m.get_layer("emb").set_weights([rng.integers(-32, 32, size=(VOCAB, DIM)) / 16.0])
    return m


@pytest.fixture(scope="module", params=["mlp", "conv"])
def converted(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(f"emb_{request.param}")
    m = _model(request.param)
    path = str(d / "m.h5")
    m.save(path)
    return request.param, m, path, d


def test_every_view_is_bit_exact(converted, capsys) -> None:
    _, m, path, d = converted
    out = str(d / "out")
    assert main(["convert", path, "-o", out]) == 0
    g = api.load(out).graph
    emb = g.of(ir.Embedding)[0]
    # an index input: ap_ufixed<4,4,TRN,SAT> holds 0..15 (the table has 12 rows)
    assert g.inputs[0].ftype.cpp() == "ap_ufixed<4,4,AP_TRN,AP_SAT>"
    assert emb.output.shape == (STEPS, DIM) and emb["exact"] and g.meta["fully_quantized"]
    # values k/16, -32 <= k < 32: kept exactly in the narrowest type, 6 bits
    assert emb.output.ftype.cpp() == "ap_fixed<6,2>"
    rng = np.random.default_rng(7)
    x = rng.integers(0, VOCAB, size=(60, STEPS)).astype(np.float32)
    np.save(d / "x.npy", x)
    capsys.readouterr()
    assert main(["verify", out, "-i", str(d / "x.npy"), "--json"]) == 0
    views = {v["view"]: v for v in json.loads(capsys.readouterr().out)["views"]}
    assert set(views) == {"reference", "source", "csim", "rtl"}
    assert all(v["mismatched_rows"] == 0 for v in views.values())
    assert views["source"]["bit_exact_required"]
    # the lookup itself against NumPy: the table's rows at the indices
    raw = reference.run(g, x, keep=True)[emb.output.name]
    assert np.array_equal(raw, m.get_layer("emb").get_weights()[0][x.astype(np.int64)] * 2**4)
    # past the table: every view clips to its last row (the input saturates at 15 first)
    p = api.load(out)
    xb = np.concatenate([x[:8], np.full((4, STEPS), 13.0), np.full((4, STEPS), 99.0)])
    want = p.predict(xb)
    assert np.array_equal(want[8:], p.predict(np.full((8, STEPS), VOCAB - 1.0)))
    assert np.array_equal(p.csim(xb), want)
    assert np.array_equal(p.rtlsim(xb)[0], want)


def test_float_embeddings_are_quantized_with_a_note() -> None:
    m = _model("mlp")
    rng = np.random.default_rng(8)
    m.get_layer("emb").set_weights([rng.normal(size=(VOCAB, DIM)).astype(np.float32)])
    g = from_model(m, config.load(None))
    emb = g.of(ir.Embedding)[0]
    assert not emb["exact"] and not g.meta["fully_quantized"]
    assert any("emb: float embeddings quantized to ap_fixed<16,6>" in s for s in g.meta["notes"])
    want = config.load(None).precision["weight"].quantize(m.get_layer("emb").get_weights()[0])
    assert np.array_equal(emb.weights["table"].data, want)


@pytest.mark.parametrize("case,pattern", [
    ("mask", "layer emb: Embedding with mask_zero=True is not supported"),
    ("stream", "layer emb: Embedding is supported with --io parallel (not stream)"),
    ("narrow", ("layer emb: its input type ap_fixed<8,4> does not hold every index 0..11; "
                "set the input precision to ap_uint<4> or wider")),
])
def test_unsupported_is_one_line(case: str, pattern: str) -> None:
    m = _model("mlp", mask_zero=case == "mask")
    cfg = config.load(None, "ap_fixed<8,4>" if case == "narrow" else None,
                      io="stream" if case == "stream" else None)
    with pytest.raises(FrontendError) as e:
        from_model(m, cfg)
    assert str(e.value).startswith(pattern) and "\n" not in str(e.value)
