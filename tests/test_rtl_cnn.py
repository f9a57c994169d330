"""Streamed CNN RTL: bit-exact and cycle-exact against the reference and the cycle model.

* every CNN zoo model: Verilator + cocotb, 60 frames with seeded idle cycles and
  backpressure (the stress phase has a cycle bound: a deadlock fails the test with
  "deadlock?"), outputs equal to the NumPy reference, and latency / II measured in the
  timing phase equal to the cycle model (:mod:`generator.backends.rtl.cycles`), exactly;
* a design with a pixel-stream output (tlast per frame) and a per-pixel Dense;
* an undersized fork FIFO deadlocks: the model says so and the testbench fails loudly;
* a 3x3 conv over a 64-wide 8-channel 8-bit image: its line buffer (66 words x 128
  bits) is block RAM, and Yosys's BRAM18 count equals the tiling estimate;
* a 64x64x3 QKeras CNN with > 100k weights (50 % pruned, folded Dense) converts and
  simulates 2 frames bit-exact; build and simulation times are printed;
* convs folded by their reuse factor (``nnfab_dense_folded`` on the window vector, ``R``
  cycles per output pixel): cnn_basic at reuse 2 and 7 (not a divisor of its 35
  nonzero weights), the 1-D cnn1d and the residual block (fork FIFOs sized around the
  folded convs) bit-exact under idle/backpressure and cycle-exact; the estimate's
  latency / II are the cycle model's and its multipliers/DSPs shrink with ``R``.

One Verilator build per design (module-scoped where shared).
"""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest

from generator import config, estimate, reference
from generator.backends import rtl
from generator.backends.rtl import cycles, design, sim
from generator.fixed import FixedType, Overflow, Rounding
from generator.frontends.keras import from_model
from generator.ir import Conv, Dense, Graph, Input, Quantize, Upsample, Weight
from generator.passes import run_pipeline
from generator.passes.folding import folding as check_folding
from generator.passes.tiling import map_memory, node_memories
from generator.verify import VerifyError

FRAMES = 60


def convert(model):
    g = from_model(model, config.load(None, io="stream"))
    run_pipeline(g)
    return g


def check_exact(g, out: str, x: np.ndarray, seed: int = 0):
    """Simulate; outputs equal the reference, measured cycles equal the cycle model."""
    from conftest import assert_outputs_vary

    want = reference.predict(g, x)
    assert_outputs_vary(want, g.outputs[0].ftype)
    rtl.write(g, out, None)
    y, stats = sim.run(g, out, x, seed=seed)
    np.testing.assert_array_equal(y, want)
    assert stats["findings"] == [], stats["findings"]
    assert stats["completed"] and stats["mismatched_rows"] == 0
    assert stats["timing_mismatches"] == 0 and stats["tlast_errors"] == 0
    sp = design.build(g)
    m = cycles.model(sp, frames=stats["timing_rows"])
    for k in ("latency_cycles", "latency_last_cycles", "ii_cycles"):
        assert stats[k] == m[k], (k, stats[k], m[k])
    return stats, m


@pytest.mark.slow
@pytest.mark.rtl
def test_cnn_zoo_bit_exact_and_cycle_exact(zoo_cnn, tmp_path):
    g = convert(zoo_cnn.model)
    stats, m = check_exact(g, str(tmp_path / "out"), zoo_cnn.x[:FRAMES], seed=7)
    assert stats["rows"] == FRAMES
    # the report's totals are the same model
    tot = estimate.estimate(g)["total"]
    assert (tot["latency_cycles"], tot["ii_cycles"]) == (m["latency_cycles"], m["ii_cycles"])
    print(f"{zoo_cnn.name}: latency {stats['latency_cycles']} (last beat "
          f"{stats['latency_last_cycles']}), II {stats['ii_cycles']} cycles; model "
          f"{m['latency_cycles']}/{m['latency_last_cycles']}/{m['ii_cycles']}")


def pixel_graph() -> Graph:
    """Pixel-stream output: conv 3x3 'same' -> quantize -> upsample 2x2 -> per-pixel Dense."""
    rng = np.random.default_rng(5)
    g = Graph("pix_out")
    g.meta["config"] = {"io": "stream"}
    t = g.add(Input("input", [], shape=(5, 6, 2)),
              FixedType(6, 2, True, Rounding.RND_CONV, Overflow.SAT))
    w = rng.integers(-15, 16, size=(3, 3, 2, 3))
    w[rng.random(w.shape) < 0.4] = 0
    c = g.add(Conv("conv", [t], {"weight": Weight(w, FixedType(5, 0)),
                                 "bias": Weight(rng.integers(-8, 8, 3), FixedType(5, 1))},
                   filters=3, kernel=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1)),
              FixedType(20, 10))
    q = g.add(Quantize("q", [c]), FixedType(6, 2, False, Rounding.RND, Overflow.SAT))
    u = g.add(Upsample("up", [q], factors=(2, 2)), FixedType(6, 2, False))
    d = g.add(Dense("fc", [u], {"weight": Weight(rng.integers(-7, 8, size=(3, 4)),
                                                  FixedType(4, 1))}, units=4),
              FixedType(16, 8))
    g.outputs = [d]
    run_pipeline(g)
    return g


@pytest.mark.slow
@pytest.mark.rtl
def test_pixel_stream_output(tmp_path):
    g = pixel_graph()
    rng = np.random.default_rng(9)
    x = np.ldexp(rng.integers(-32, 32, size=(40, 5, 6, 2)).astype(np.float64), -4)
    stats, _ = check_exact(g, str(tmp_path / "out"), x, seed=4)
    conf = rtl.write(g, str(tmp_path / "out"), None)
    assert conf["frame"] == {"in_beats": 30, "out_beats": 120}
    assert stats["latency_last_cycles"] > stats["latency_cycles"]


@pytest.mark.slow
@pytest.mark.rtl
def test_undersized_fifo_deadlocks_loudly(zoo_dir, tmp_path):
    """The skip FIFO of the residual block cut to 2 beats: model and RTL both stall."""
    from conftest import zoo_model

    zm = zoo_model("cnn_residual", zoo_dir)
    g = convert(zm.model)
    sp = design.build(g)
    fifos = [b for b in sp.blocks if b.kind == "fifo"]
    skip = max(fifos, key=lambda b: b.p["DEPTH"])
    assert skip.p["DEPTH"] > 2
    skip.p["DEPTH"] = 2
    with pytest.raises(RuntimeError, match="no progress"):
        cycles.simulate(sp, 2)
    out = str(tmp_path / "out")
    rtl.write(g, out, None)
    top = os.path.join(out, "rtl", f"{g.name}.v")
    with open(top) as f:
        text = f.read()
    text, k = re.subn(rf"nnfab_fifo #\(\.DEPTH\(\d+\)(, \.PB\(\d+\)\) u_{skip.name} )",
                      r"nnfab_fifo #(.DEPTH(2)\1", text)
    assert k == 1
    with open(top, "w") as f:
        f.write(text)
    with pytest.raises(VerifyError, match="deadlock"):
        sim.run(g, out, zm.x[:4])


# -- line buffer in block RAM: Yosys vs the tiling estimate ------------------------------


def linebuf_graph(h: int = 4, w: int = 64, c: int = 8, f: int = 2) -> Graph:
    """A 3x3 'same' conv over an h x w x c 8-bit image (5 % of the weights kept)."""
    rng = np.random.default_rng(0)
    wt = rng.integers(-31, 32, size=(3, 3, c, f))
    wt[rng.random(wt.shape) >= 0.05] = 0
    g = Graph("lb_conv")
    g.meta["config"] = {"io": "stream"}
    t = g.add(Input("input", [], shape=(h, w, c)),
              FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT))
    n = g.add(Conv("conv", [t], {"weight": Weight(wt, FixedType(6, 1))}, filters=f,
                   kernel=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1)), FixedType(24, 12))
    g.outputs = [n]
    run_pipeline(g)
    return g


def test_linebuf_memory_listed():
    g = linebuf_graph()
    mems = [m for n in g.nodes for m in node_memories(n)]
    assert [(m.name, m.depth, m.width, m.kind) for m in mems] == [
        ("conv_linebuf", 66, 2 * 8 * 8, "ram")]
    t = map_memory(mems[0])
    assert (t.impl, t.bram18) == ("bram", 4)
    # small line buffers stay in LUT RAM
    assert map_memory(node_memories(linebuf_graph(w=8, c=2).node("conv"))[0]).impl == "lutram"


@pytest.mark.slow
def test_linebuf_bram_count_equals_yosys(tmp_path):
    """Yosys synth_xilinx of the whole generated layer: BRAM18 == tiling estimate.

    Yosys sees every memory of this design (the line buffer is the only RAM; there is
    no fork FIFO and no ROM), so the counts must agree exactly.
    """
    g = linebuf_graph()
    out = str(tmp_path / "out")
    conf = rtl.write(g, out, None)
    res = estimate.synth(os.path.join(out, "rtl"), conf["top"], conf["sources"])
    est = estimate.estimate(g)["total"]
    assert est["bram18"] == 4
    assert res["bram18"] == est["bram18"]
    assert res["lutram"] == 0


# -- a bigger CNN ---------------------------------------------------------------------------


def big_cnn():
    import qkeras as q
    import tf_keras as keras
    from zoo import init_weights

    keras.utils.set_random_seed(21)
    kq = q.quantized_bits(6, 0, alpha=1)
    bq = q.quantized_bits(6, 1, alpha=1)
    m = keras.Sequential([
        keras.layers.InputLayer(input_shape=(64, 64, 3)),
        q.QActivation(q.quantized_bits(8, 1, alpha=1), name="q_in"),
        q.QConv2D(16, 3, padding="same", kernel_quantizer=kq, bias_quantizer=bq, name="c1"),
        q.QActivation(q.quantized_relu(8, 3), name="r1"),
        keras.layers.MaxPooling2D(2, name="p1"),
        q.QConv2D(32, 3, kernel_quantizer=kq, bias_quantizer=bq, name="c2"),
        q.QActivation(q.quantized_relu(8, 3), name="r2"),
        keras.layers.MaxPooling2D(2, name="p2"),
        q.QConv2D(32, 3, kernel_quantizer=kq, bias_quantizer=bq, name="c3"),
        q.QActivation(q.quantized_relu(8, 3), name="r3"),
        keras.layers.MaxPooling2D(2, name="p3"),
        keras.layers.Flatten(name="flat"),
        q.QDense(96, kernel_quantizer=kq, bias_quantizer=bq, name="fc1"),
        q.QActivation(q.quantized_relu(8, 3), name="r4"),
        q.QDense(10, kernel_quantizer=kq, bias_quantizer=bq, name="out"),
    ], name="big_cnn")
    init_weights(m, 21, 0.5)
    return m


@pytest.mark.slow
@pytest.mark.rtl
def test_big_cnn_two_frames_bit_exact(tmp_path):
    m = big_cnn()
    n_weights = sum(int(np.prod(w.shape)) for w in m.get_weights() if w.ndim > 1)
    assert n_weights >= 100_000
    g = convert(m)
    # the 1152 -> 96 Dense (~55k nonzero weights) folded: R = 1152, 48 multipliers
    fc1 = g.node("fc1")
    fc1.set("strategy", "resource")
    fc1.set("reuse", 1152)
    check_folding(g)
    rng = np.random.default_rng(3)
    x = np.ldexp(rng.integers(-128, 128, size=(2, 64, 64, 3)).astype(np.float64), -6)
    out = str(tmp_path / "out")
    t0 = time.time()
    rtl.write(g, out, None)
    t1 = time.time()
    sim.build(out)
    t2 = time.time()
    y, stats = sim.run(g, out, x, seed=1, idle=0.1, backpressure=0.1)
    t3 = time.time()
    np.testing.assert_array_equal(y, reference.predict(g, x))
    assert stats["mismatched_rows"] == 0 and stats["tlast_errors"] == 0
    sp = design.build(g)
    # two frames are all the testbench streams: the model's full-rate run of the same two
    mod = cycles.simulate(sp, stats["timing_rows"]).stats()
    assert stats["latency_cycles"] == mod["latency_cycles"]
    assert stats["latency_last_cycles"] == mod["latency_last_cycles"]
    assert stats["ii_cycles"] == mod["ii_cycles"]
    print(f"big_cnn: {n_weights} weights, write {t1 - t0:.1f} s, Verilator build "
          f"{t2 - t1:.1f} s, simulation of 2 frames {t3 - t2:.1f} s; latency "
          f"{stats['latency_cycles']} cycles, II {stats['ii_cycles']} cycles")


# -- convs folded by their reuse factor ---------------------------------------------------


def convert_reuse(model, reuse: dict[str, int]):
    """Convert with per-layer reuse factors (the YAML ``layers: {name: {reuse: R}}``)."""
    g = from_model(model, config.from_dict({"model": {"io": "stream"},
                                            "layers": {k: {"reuse": v} for k, v in reuse.items()}}))
    run_pipeline(g)
    return g


def test_conv_reuse_plan_and_estimate(zoo_dir):
    """cnn_basic's conv (35 nonzero weights) at R = 1, 2, 4, 7: the streamed plan folds it
    (M = ceil(35 / R) multipliers, II R per pixel) and the estimate reads the same plan."""
    from conftest import zoo_model

    from generator.backends.rtl.design import plan

    m = zoo_model("cnn_basic", zoo_dir).model
    rows = {}
    for r in (1, 2, 4, 7):
        g = convert_reuse(m, {"c1": r})
        blk = design.build(g).block("c1")
        st = next(s for s in plan(g) if s.name == "c1")
        row = next(x for x in estimate.estimate(g)["layers"] if x["name"] == "c1")
        if r == 1:
            assert (blk.kind, st.kind, row["impl"]) == ("pipe", "conv_parallel", "conv_parallel")
        else:
            sch = blk.p["stage"].schedule
            assert (blk.kind, st.kind, row["impl"]) == ("folded", "conv_folded", "conv_folded")
            assert (sch.reuse, sch.mults, int(sch.valid.sum())) == (r, -(-35 // r), 35)
            assert (st.ii, row["ii_cycles"], row["reuse"], row["multipliers"]) == (r, r, r, sch.mults)
            # the folded module + the parallel conv's line buffer / window register
            assert row["ff"] > 3 * 3 * 1 * g.node("c1").input.ftype.width
        rows[r] = (estimate.estimate(g)["total"], row)
    for a, b in ((2, 4), (4, 7)):
        assert rows[a][1]["dsp"] > rows[b][1]["dsp"] and rows[a][1]["lut"] > rows[b][1]["lut"]
        assert rows[a][0]["ii_cycles"] < rows[b][0]["ii_cycles"]
    assert rows[1][0]["ii_cycles"] < rows[2][0]["ii_cycles"]


def test_conv_reuse_out_of_range(zoo_dir):
    from conftest import zoo_model

    from generator.passes.folding import FoldingError

    m = zoo_model("cnn_basic", zoo_dir).model
    for r in (36, 1000):
        g = from_model(m, config.from_dict({"layers": {"c1": {"reuse": r}}}))
        with pytest.raises(FoldingError, match=rf"^layer c1: reuse factor {r} is not possible; "
                           r"valid: 1\.\.35 \(the conv has 35 nonzero weights\)$"):
            run_pipeline(g)


#: (zoo model, per-layer reuse): divisor and non-divisor R, 1-D, a fork/join around folds
FOLDED = [
    ("cnn_basic", {"c1": 2}),
    ("cnn_basic", {"c1": 7}),
    ("cnn1d", {"c1": 3, "c2": 5}),
    ("cnn_residual", {"c1": 3, "c2": 2}),
    ("cnn_separable", {"sep1": 3}),
]


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("name,reuse", FOLDED,
                         ids=["-".join([n, *(f"{k}{v}" for k, v in r.items())]) for n, r in FOLDED])
def test_folded_conv_bit_exact_and_cycle_exact(name, reuse, zoo_dir, tmp_path):
    from conftest import zoo_model

    zm = zoo_model(name, zoo_dir)
    g = convert_reuse(zm.model, reuse)
    sp = design.build(g)
    folded = [n for n in g.of(Conv) if n["source"] in reuse]
    assert {n["source"] for n in folded} == set(reuse)  # a separable conv: two convs
    for n in folded:
        assert sp.block(n.name).kind == "folded" and sp.block(n.name).p["R"] == reuse[n["source"]]
    stats, m = check_exact(g, str(tmp_path / "out"), zm.x[:30], seed=5)
    tot = estimate.estimate(g)["total"]
    assert (tot["latency_cycles"], tot["ii_cycles"]) == (m["latency_cycles"], m["ii_cycles"])
    print(f"{name} {reuse}: latency {stats['latency_cycles']} (last beat "
          f"{stats['latency_last_cycles']}), II {stats['ii_cycles']} cycles")


@pytest.mark.slow
def test_cnn_lut_ff_estimate_against_yosys(zoo_dir, tmp_path):
    """The streamed CNN's LUT/FF estimate against Yosys synth_xilinx (xc7) on cnn_basic
    with its conv folded (R=2: nnfab_dense_folded on the window, line buffer, pool, dense):
    within 30 % (an estimate: no packing or cross-module optimisation is modelled), DSP
    and BRAM18 exact."""
    from conftest import estimate_near_yosys, zoo_model

    g = convert_reuse(zoo_model("cnn_basic", zoo_dir).model, {"c1": 2})
    estimate_near_yosys(g, str(tmp_path / "out"), 0.3)
