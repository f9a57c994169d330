"""Cycle and resource model (generator.estimate) and the Yosys wrapper.

The cycle model is checked against cocotb-measured cycles in ``test_rtl.py`` (every
simulated design); here: its rules, the report/text API, and that Yosys sees pruning.
"""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import pytest

from generator import estimate
from generator.backends import rtl
from generator.backends.rtl.cmvm import csd
from generator.backends.rtl.plan import FOLDED_DEPTH
from generator.fixed import FixedType, Overflow, Rounding
from generator.ir import Dense, Graph, Input, LeakyRelu, Threshold, Weight
from generator.passes import run_pipeline


def dense_graph(prune: float, strategy: str = "latency", reuse: int = 1,
                seed: int = 0, n: int = 8, bits: int = 8) -> Graph:
    """One n -> n Dense layer, ``bits``-bit signed inputs and weights, ``prune`` of the
    weights zero."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(n, n))
    w[w == 0] = 1
    if prune:
        w[rng.random((n, n)) < prune] = 0
    g = Graph("dense8")
    t = g.add(Input("input", [], shape=(n,)),
              FixedType(bits, 3, True, Rounding.RND_CONV, Overflow.SAT))
    d = Dense("fc", [t], {"weight": Weight(w, FixedType(bits, 1))}, units=n,
              strategy=strategy, reuse=reuse)
    g.add(d, FixedType(32, 16))
    g.outputs = [d.output]
    run_pipeline(g)
    return g


def test_csd_digits_reconstruct_every_8bit_weight():
    for w in range(-256, 257):
        digits = csd(w)
        assert sum(s * (1 << k) for s, k in digits) == w
        # canonical: no two adjacent nonzero digits
        ks = [k for _, k in digits]
        assert all(b - a >= 2 for a, b in itertools.pairwise(ks))


def test_cycle_model_parallel_and_folded():
    g = dense_graph(0.0)
    t = estimate.estimate(g)["total"]
    # the shared adder graph (at most 3 adders deep) and each output's tree over at most
    # 16 terms (no bias; 4 levels, its earliest values added first) are 5 adders at most
    # before the layer's output register: one stage, + 1 input register + 1 output FIFO
    from generator.backends.rtl import cmvm

    gr = cmvm.build(g.nodes[-1].weights["weight"].data)
    assert max(len(t) for t in gr.outputs) <= 16 and cmvm.graph_depth(gr) <= 3
    assert max(max(t.arrival) for t in cmvm.trees(gr, [False] * 8)) <= cmvm.STAGE_ADDERS
    assert (t["latency_cycles"], t["ii_cycles"]) == (3, 1)
    g = dense_graph(0.0, "resource", 5)
    rep = estimate.estimate(g)
    assert rep["layers"][0]["multipliers"] == 13  # ceil(64 / 5)
    # input register + R rows + the folded pipeline + output FIFO
    assert (rep["total"]["latency_cycles"], rep["total"]["ii_cycles"]) == \
        (1 + 5 + FOLDED_DEPTH[0] + 1, 5)


def test_resource_rules():
    assert estimate.is_dsp(9, 9) and not estimate.is_dsp(3, 3) and not estimate.is_dsp(1, 12)
    assert estimate.rom_cost(16, 40) == (0, 40)  # small: LUT ROM, one LUT6 per bit
    assert estimate.rom_cost(1024, 36) == (2, 0)  # 36 Kbit: one RAMB36 = two BRAM18
    dense = estimate.estimate(dense_graph(0.0))["total"]
    pruned = estimate.estimate(dense_graph(0.75))["total"]
    assert dense["dsp"] == pruned["dsp"] == 0  # shift-add constant multiplies
    assert pruned["lut"] < dense["lut"] and pruned["ff"] < dense["ff"]
    folded = estimate.estimate(dense_graph(0.0, "resource", 4))["layers"][0]
    assert folded["dsp"] == 16  # 8-bit x 8-bit multipliers are DSPs


def test_report_and_text(tmp_path):
    g = dense_graph(0.5)
    out = str(tmp_path / "out")
    rtl.write(g, out, None)
    rep = estimate.report(g, out, synth=False)
    assert set(rep) == {"layers", "total", "timing"}
    assert rep["layers"][0]["name"] == "fc"
    txt = estimate.text(rep)
    assert "dense_parallel" in txt and "total (estimate)" in txt
    assert "predicted (delay model, not a routed result)" in txt


def test_parse_stat():
    text = """
       51 cells
        1   BUFG
        2   DSP48E2
       16   FDRE
        3   FDSE
       10   LUT2
        5   LUT6
        4   CARRY8
        1   RAMB36E2
        1   RAMB18E2
        2   RAM64X1D
    """
    s = estimate.parse_stat(text)
    assert (s["lut"], s["ff"], s["dsp"], s["bram18"], s["carry"], s["lutram"]) == \
        (15, 19, 2, 3, 4, 2)
    assert s["lut_sites"] == 15 + 2 * 2  # a RAM64X1D takes two LUTs


@pytest.mark.slow
def test_yosys_sees_pruning(tmp_path):
    """A 75 %-pruned 5->5 8-bit layer synthesises to fewer LUTs (and no more DSPs)."""
    res = {}
    for p in (0.0, 0.75):
        g = dense_graph(p, n=5)
        out = str(tmp_path / f"p{p}")
        rtl.write(g, out, None)
        res[p] = estimate.synth(os.path.join(out, "rtl"), "dense8_fc",
                                ["dense8_fc.v", "nnfab_pipe_ctrl.v"])
    assert res[0.75]["lut"] < res[0.0]["lut"]
    assert res[0.75]["ff"] < res[0.0]["ff"]
    assert res[0.75]["dsp"] <= res[0.0]["dsp"]
    est = estimate.estimate(dense_graph(0.0, n=5))["layers"][0]
    assert est["ff"] == res[0.0]["ff"]  # every register bit is modelled


@pytest.mark.slow
def test_report_synth_folded_layer(tmp_path):
    """report(synth=True) on a small folded layer adds Yosys numbers beside the estimate."""
    g = dense_graph(0.5, "resource", 4)
    out = str(tmp_path / "out")
    rtl.write(g, out, None)
    rep = estimate.report(g, out, synth=True)
    s = rep["synth"]
    assert s["family"] == "xcup"
    assert s["dsp"] == rep["total"]["dsp"]
    assert s["lut"] > 0 and s["ff"] > 0
    assert "Yosys" in estimate.text(rep)


@pytest.mark.slow
@pytest.mark.parametrize("n, reuse, bits", [(12, 2, 8), (16, 8, 4), (32, 256, 8)],
                         ids=["short_rom", "narrow_signed", "bram_rom"])
def test_folded_registers_and_dsps_against_yosys(n, reuse, bits, tmp_path):
    """A folded layer's DSP48s and BRAM18s are the estimate's, its registers within 10 %:
    a 2-row LUT ROM's word is a function of one address bit, so the entries of its 59
    multipliers are a couple of registers; 4-bit x 4-bit signed products are LUTs, not
    DSP48s (their sign copies narrow away); a BRAM ROM holds its word register."""
    g = dense_graph(0.2, "resource", reuse, n=n, bits=bits)
    out = str(tmp_path / "out")
    conf = rtl.write(g, out, None)
    got = estimate.synth(os.path.join(out, "rtl"), conf["top"], conf["sources"], "xc7")
    est = estimate.estimate(g)["total"]
    print({k: (est[k], got[k]) for k in ("lut", "ff", "dsp", "bram18")})
    assert (est["dsp"], est["bram18"]) == (got["dsp"], got["bram18"])
    assert (est["dsp"] == 0) == (bits == 4) and (est["bram18"] > 0) == (reuse == 256)
    assert 0.9 <= est["ff"] / got["ff"] <= 1.1
    assert 0.7 <= est["lut"] / got["lut"] <= 1.3


@pytest.mark.slow
def test_lut_multipliers_synthesise_without_dsp(tmp_path):
    """A folded layer with ``multipliers: lut``: Yosys maps no DSP48 (the same layer with
    DSP multipliers maps one per multiplier), and its LUTs are near the estimate."""
    res, est = {}, {}
    for mul in ("dsp", "lut"):  # 25 multipliers (reuse 8); Yosys spends about 14 s on them
        g = dense_graph(0.25, "resource", 8, n=16)
        g.of(Dense)[0].set("multipliers", mul)
        out = str(tmp_path / mul)
        conf = rtl.write(g, out, None)
        res[mul] = estimate.synth(os.path.join(out, "rtl"), conf["top"], conf["sources"], "xc7")
        est[mul] = estimate.estimate(g)["total"]
        if mul == "dsp":
            conf_dsp = conf
    mults = est["dsp"]["dsp"]
    assert mults > 0 and res["dsp"]["dsp"] == mults
    # synth's dsp_only run (up to the multiplier mapping) counts the same DSP48s
    assert estimate.synth(str(tmp_path / "dsp" / "rtl"), conf_dsp["top"], conf_dsp["sources"],
                          "xc7", dsp_only=True)["dsp"] == mults
    for mul, what in (("dsp", "DSP48 multiply"), ("lut", "LUT multiply")):
        g = dense_graph(0.25, "resource", 8, n=16)
        g.of(Dense)[0].set("multipliers", mul)
        assert estimate.estimate(g)["layers"][0]["datapath"] == what
    assert res["lut"]["dsp"] == est["lut"]["dsp"] == 0
    added = res["lut"]["lut"] - res["dsp"]["lut"]  # what the multipliers cost in fabric
    assert added > 0
    assert 0.75 < est["lut"]["lut"] / res["lut"]["lut"] < 1.33


@pytest.mark.slow
@pytest.mark.parametrize("name", ["binary_net", "ternary_net"])
def test_binary_ternary_mlps_synthesise_without_dsp(name, zoo_dir, tmp_path):
    """Binary and ternary MLPs, fully parallel and folded: Yosys maps no DSP48.

    Folded layers with +-1 (or +-2^k) weights use the add/subtract datapath (WMODE 1) of
    nnfab_dense_folded; the estimate says 0 DSP too.
    """
    from conftest import zoo_model
    from test_rtl import convert

    zm = zoo_model(name, zoo_dir)
    # folded at reuse 8 (not 3): the same add/subtract lanes, fewer of them; Yosys takes
    # about 18 s on binary_net instead of 55 s
    for strategy, reuse in (("latency", 1), ("resource", 8)):
        g = convert(zm, strategy, reuse)
        out = str(tmp_path / f"{strategy}{reuse}")
        rtl.write(g, out, None)
        with open(os.path.join(out, "sim", "sim.json")) as f:
            conf = json.load(f)
        with open(os.path.join(out, "rtl", f"{conf['top']}.v")) as f:
            top = f.read()
        if strategy == "resource":  # the +-1 / ternary layers build no multiplier
            assert ".WMODE(1)" in top
            rows = {r["name"]: r for r in estimate.estimate(g)["layers"]}
            assert rows["fc1"]["datapath"] == "add/sub"  # what the report says of them
        elif name == "binary_net":  # binarized inputs x binary weights: a popcount of
            # the sign bits
            with open(os.path.join(out, "rtl", f"{conf['top']}_fc2.v")) as f:
                assert "the graph adds the sign bits s" in f.read()
        # Yosys up to its multiplier mapping (the only step that makes DSP48s)
        res = estimate.synth(os.path.join(out, "rtl"), conf["top"], conf["sources"], "xc7",
                             dsp_only=True)
        assert res["dsp"] == 0, (strategy, res["cells"])
        assert estimate.estimate(g)["total"]["dsp"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["qkeras", "keras"])
def test_leaky_relu_lut_estimate_against_yosys(kind, tmp_path):
    """nnfab_leaky_vec on 12 values: a QKeras quantized_relu(6, 2, negative_slope=1/4)
    after a 17-bit sum (two rounding casts), a Keras LeakyReLU(1/8) (exact: a mux per
    bit); the design's LUT estimate is within 20 % of Yosys synth_xilinx (xc7)."""
    r = (Rounding.RND_CONV, Overflow.SAT)
    ti, to, neg, k = {"qkeras": (FixedType(17, 7), FixedType(6, 3, True, *r),
                                 FixedType(4, 3, True, *r), 2),
                      "keras": (FixedType(8, 3, True, *r), FixedType(11, 3),
                                FixedType(8, 3, True, *r), 3)}[kind]
    g = Graph("leaky")
    t = g.add(Input("input", [], shape=(12,)), ti)
    n = LeakyRelu("lr", [t], shift=k, neg=neg)
    g.add(n, to)
    g.outputs = [n.output]
    run_pipeline(g)
    _lut_within_20_percent_of_yosys(g, str(tmp_path / "out"))


def _lut_within_20_percent_of_yosys(g: Graph, out: str) -> None:
    """``g``'s LUT estimate is within 20 % of Yosys synth_xilinx (xc7), which maps no DSP
    (LUTs of logic and of distributed RAM: the output FIFO's)."""
    conf = rtl.write(g, out, None)
    res = estimate.synth(os.path.join(out, "rtl"), conf["top"], conf["sources"], "xc7")
    est = estimate.estimate(g)["total"]
    assert 0.8 < est["lut"] / res["lut_sites"] < 1.2, (est["lut"], res["lut_sites"])
    assert res["dsp"] == 0


def _threshold_graph(q, ti: FixedType, n: int = 12) -> Graph:
    """``n`` values of type ``ti`` through QKeras quantiser ``q`` as the frontend builds
    it (thresholds read off ``q`` on every input value)."""
    import tensorflow as tf

    from generator.frontends.keras import threshold_weights

    ws = threshold_weights("q", ti, lambda v: np.asarray(q(tf.constant(v))))
    g = Graph("thr")
    node = Threshold("th", [g.add(Input("input", [], shape=(n,)), ti)], ws, function=str(q))
    g.add(node, ws["levels"].ftype)
    g.outputs = [node.output]
    run_pipeline(g)
    return g


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tanh_real", "tanh_hard"])
def test_threshold_lut_estimate_against_yosys(kind, tmp_path):
    """nnfab_threshold_vec on 12 values: QKeras quantized_tanh(4) with the real tanh on a
    12-bit input (15 irregular thresholds) and quantized_tanh(3) (QKeras's hard sigmoid:
    nearly a cast) on an 8-bit one; the LUT estimate (a LUT6 cover) is within 20 % of
    Yosys synth_xilinx (xc7), and no DSP is used."""
    import qkeras

    q, ti = {"tanh_real": (qkeras.quantized_tanh(4, use_real_tanh=True), FixedType(12, 4)),
             "tanh_hard": (qkeras.quantized_tanh(3), FixedType(8, 3))}[kind]
    _lut_within_20_percent_of_yosys(_threshold_graph(q, ti), str(tmp_path / "out"))


def test_threshold_cover_counts_lut_inputs() -> None:
    """The LUT6 cover behind the threshold estimate, on comparisons with one constant
    (one threshold, levels 0 and 1). On 8 bits, ``x >= 100`` depends on x[7:2] only (100
    is a multiple of 4): one LUT; ``x >= 101`` needs all eight bits: a LUT on x[7:3] and
    the comparison of x[2:0] (two). On 16 bits a comparison spans the top 5 bits per LUT
    and the last LUT six: 16 = 5 + 5 + 6, three. ``y = x[2]`` is one LUT (a function of
    the top six bits); the same comparison on every output bit is covered once per bit."""
    one = (np.array([0, 1]), FixedType(1, 1, False))
    u8, u16 = FixedType(8, 8, False), FixedType(16, 16, False)
    assert estimate.threshold_cover_luts(np.array([100]), one[0], u8, one[1]) == 1
    assert estimate.threshold_cover_luts(np.array([101]), one[0], u8, one[1]) == 2
    assert estimate.threshold_cover_luts(np.array([12345]), one[0], u16, one[1]) == 3
    thr = np.arange(4, 256, 4)
    lev = np.arange(len(thr) + 1) % 2
    assert estimate.threshold_cover_luts(thr, lev, u8, one[1]) == 1
    assert estimate.threshold_cover_luts(np.array([101]), np.array([0, 3]), u8,
                                         FixedType(2, 2, False)) == 4


@pytest.mark.slow
@pytest.mark.parametrize("reuse", [4, 16])
def test_po2_weights_fold_onto_shifts_without_dsp(reuse, tmp_path):
    """A folded layer whose weights are all +-2^k (QKeras quantized_po2; here k = 0..7 on
    8-bit inputs) multiplies by a barrel shift and an add/subtract (WMODE 2): Yosys maps
    no DSP48, and the LUT estimate is within 20 % (an accumulator per output at R = 4,
    one per multiplier at R = 16)."""
    rng = np.random.default_rng(5)
    w = (1 << rng.integers(0, 8, size=(16, 16))) * rng.choice([-1, 1], size=(16, 16))
    g = Graph("po2")
    t = g.add(Input("input", [], shape=(16,)),
              FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT))
    d = Dense("fc", [t], {"weight": Weight(w, FixedType(9, 1))}, units=16,
              strategy="resource", reuse=reuse)
    g.add(d, FixedType(40, 20))
    g.outputs = [d.output]
    run_pipeline(g)
    out = str(tmp_path / "out")
    _lut_within_20_percent_of_yosys(g, out)
    with open(os.path.join(out, "rtl", "po2.v")) as f:
        assert ".WMODE(2)" in f.read()
    assert estimate.estimate(g)["total"]["dsp"] == 0
