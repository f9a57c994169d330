"""Unrolled CNN RTL (io parallel): a whole frame per beat, every layer one frame per cycle.

* the whole-frame forms of :mod:`generator.passes.unroll` against the reference's own
  conv / pool / pad / upsample kernels (an independent path: sliding windows over the
  batch), on every CNN zoo model;
* every zoo CNN under Verilator + cocotb with seeded idle cycles and backpressure:
  outputs equal the NumPy reference, and the measured latency / II equal the plan's
  (II 1 fully parallel; a conv with reuse ``R``, folded over the whole frame or with its
  window kernels shared by ``R`` pixels: II ``R``); the chains are one stage after
  another, the two with branches (a residual Add, a Concatenate) are forked, buffered
  and joined by the blocks of a streamed design with one beat per frame;
* a conv too large to unroll is refused with one line naming the way out
  (``--io stream``);
* the LUT/FF estimate of an unrolled design against Yosys ``synth_xilinx``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from generator import config, estimate, reference
from generator.backends import rtl
from generator.backends.rtl import sim
from generator.backends.rtl.design import plan, totals
from generator.backends.rtl.plan import RTLUnsupported
from generator.fixed import FixedType, Overflow, Rounding
from generator.frontends.keras import from_model
from generator.ir import Conv, Crop, GlobalPool, Graph, Input, Pad, Pool, Upsample, Weight
from generator.passes import run_pipeline
from generator.passes.folding import conv_matrix
from generator.passes.unroll import conv_dense, gather, unrolled, windows_index

#: zoo CNNs that are chains (every tensor read by one layer), and those with branches
CHAINS = ["cnn_basic", "cnn_strided_same", "cnn1d", "cnn_pruned_gmax", "cnn_separable"]
BRANCHED = ["cnn_residual", "cnn_depthwise_concat"]
FRAMES = 60


def convert(model, reuse: dict[str, int] | None = None, strategy: str = "latency") -> Graph:
    g = from_model(model, config.from_dict(
        {"layers": {k: {"reuse": v, "strategy": strategy} for k, v in (reuse or {}).items()}}))
    run_pipeline(g)
    assert unrolled(g)  # io parallel is the default
    return g


def test_whole_frame_forms_equal_the_reference(zoo_cnn):
    """conv_dense / gather reproduce the reference kernels on 50 zoo inputs, bit for bit."""
    g = convert(zoo_cnn.model)
    x = zoo_cnn.x[:50]
    vals = reference.run(g, x, keep=True)
    seen = set()
    for n in g.nodes:
        xi = vals[n.inputs[0].name].reshape(len(x), -1) if n.inputs else None
        want = vals[n.output.name].reshape(len(x), -1)
        if isinstance(n, Conv):
            w, b = conv_dense(n)
            sh = n.output.ftype.frac - (n.input.ftype.frac + n.weights["weight"].ftype.frac)
            got = (xi @ w) << sh
            if b is not None:
                got = got + b
            # padding builds nothing: no more products than nonzero weights x pixels
            assert np.count_nonzero(w) <= np.count_nonzero(n.weights["weight"].data) * (
                n.output.size // n.output.shape[-1])
        elif isinstance(n, (Pool, GlobalPool)):
            gi = gather(n)
            if n["mode"] == "max":
                got = np.where(gi >= 0, xi[:, gi], n.input.ftype.min_raw).max(axis=-1)
            else:
                assert (gi >= 0).all()
                got = reference.div_cast(xi[:, gi].sum(axis=-1), n.input.ftype, gi.shape[1],
                                         n.output.ftype)
        elif isinstance(n, (Pad, Upsample, Crop)):
            gi = gather(n)[:, 0]
            got = np.where(gi >= 0, xi[:, gi], 0)
        else:
            continue
        seen.add(n.OP)
        np.testing.assert_array_equal(got, want, err_msg=n.name)
    # every whole-frame form the model has was checked (a recurrent model's: its crops)
    assert seen and seen == {n.OP for n in g.nodes if isinstance(
        n, (Conv, Pool, GlobalPool, Pad, Upsample, Crop))}


def check_exact(g: Graph, out: str, x: np.ndarray, seed: int) -> dict:
    from conftest import assert_outputs_vary

    want = reference.predict(g, x)
    assert_outputs_vary(want, g.outputs[0].ftype)
    rtl.write(g, out, None)
    y, stats = sim.run(g, out, x, seed=seed)
    np.testing.assert_array_equal(y, want)
    assert stats["findings"] == [], stats["findings"]
    assert stats["completed"] and stats["mismatched_rows"] == 0
    assert stats["timing_mismatches"] == 0 and stats["tlast_errors"] == 0
    want = totals(plan(g))
    assert (stats["latency_cycles"], stats["ii_cycles"]) == (
        want["latency_cycles"], want["ii_cycles"])
    tot = estimate.estimate(g)["total"]
    assert (tot["latency_cycles"], tot["ii_cycles"]) == (
        want["latency_cycles"], want["ii_cycles"])
    return stats


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("name", CHAINS + BRANCHED)
def test_unrolled_zoo_bit_exact_and_cycle_exact(name, zoo_dir, tmp_path):
    from conftest import zoo_model

    zm = zoo_model(name, zoo_dir)
    g = convert(zm.model)
    kinds = {s.name: s.kind for s in plan(g)}
    assert all(kinds[n.name] == "conv_unrolled" for n in g.of(Conv))
    stats = check_exact(g, str(tmp_path / "out"), zm.x[:FRAMES], seed=7)
    assert stats["ii_cycles"] == 1
    conf = json.loads((tmp_path / "out" / "sim" / "sim.json").read_text())
    assert conf["input"]["size"] == g.inputs[0].size  # one beat per frame
    assert conf.get("frame", {"in_beats": 1, "out_beats": 1}) == {"in_beats": 1, "out_beats": 1}
    assert ("frame" in conf) == (name in BRANCHED)  # block-level: frames of one beat
    print(f"{name} unrolled: latency {stats['latency_cycles']}, II {stats['ii_cycles']}")


#: convs with reuse R: a non-divisor R, two convs of a 1-D model, a padded max pool and
#: a ternary conv after a folded one; strategy resource folds the whole-frame matrix
#: onto multipliers, strategy latency shares constant-weight window kernels
FOLDED = [("cnn_basic", {"c1": 7}, "resource"), ("cnn1d", {"c1": 3, "c2": 5}, "resource"),
          ("cnn1d", {"c1": 3, "c2": 5}, "latency"),
          ("cnn_pruned_gmax", {"c1": 4, "c2": 2}, "latency"),
          # branches: shared kernels on both convs of a residual block; a folded depthwise
          # conv beside a 1x1 one (its first frames enter early: the II is the steady state)
          ("cnn_residual", {"c1": 4, "c2": 3}, "latency"),
          ("cnn_depthwise_concat", {"dw": 3}, "resource")]


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("name,reuse,strategy", FOLDED,
                         ids=["-".join([n, *(f"{k}{v}" for k, v in r.items()), s])
                              for n, r, s in FOLDED])
def test_unrolled_folded_conv_bit_exact(name, reuse, strategy, zoo_dir, tmp_path):
    from conftest import zoo_model

    zm = zoo_model(name, zoo_dir)
    g = convert(zm.model, reuse, strategy)
    st = {s.name: s for s in plan(g)}
    for k, r in reuse.items():
        s = st[k]
        assert s.ii == r
        if strategy == "resource":
            assert s.kind == "conv_unrolled_folded"
            assert s.mults == -(-int(np.count_nonzero(s.info["matrix"])) // r)
        else:  # ceil(pixels / R) kernels, each one multiply per nonzero weight of a tap
            n = g.node(k)  # some pixel of the kernel reads (not padding for all of them)
            pixels = n.output.size // n.output.shape[-1]
            assert s.kind == "conv_unrolled_shared"
            kk = s.info["instances"]
            assert kk == -(-pixels // r)
            order = s.info["order"]
            assert sorted(q for q in order if q >= 0) == list(range(pixels))
            idx, cm = windows_index(n), conv_matrix(n)
            want = sum(int(np.count_nonzero(cm[np.any(idx[[q for q in order[j::kk] if q >= 0]]
                                                             >= 0, axis=0)]))
                       for j in range(kk))
            full = kk * int(np.count_nonzero(n.weights["weight"].data))
            assert s.info["mults"] == want <= full
            print(name, k, r, "multiplies", want, "all taps", full)
            # a Quantize / Relu right after it requantizes each beat (k pixels)
            (u,) = n.output.users
            if u.OP in ("Quantize", "Relu"):
                assert s.info["fused"] is u and st[u.name].info["fused_into"] == k
                assert st[u.name].info["size"] == s.info["instances"] * n.output.shape[-1]
    stats = check_exact(g, str(tmp_path / "out"), zm.x[:30], seed=5)
    assert stats["ii_cycles"] == max(reuse.values())


def test_unrolled_residual_block_buffers_the_skip_only(zoo_dir):
    """cnn_residual unrolled: q_in feeds conv c1 and the Add. The conv branch is wired
    from the fork (no FIFO); the skip branch holds the frames the two convs are working
    on, one less and the II grows or the model deadlocks."""
    from conftest import zoo_model

    from generator.backends.rtl.cycles import simulate
    from generator.backends.rtl.plan import stream_plan

    g = convert(zoo_model("cnn_residual", zoo_dir).model)
    stages = plan(g)
    sp = stream_plan(stages)
    assert sp is not None and sp.in_beats == sp.out_beats == 1
    kinds = {s.name: s.kind for s in stages}
    assert kinds["c1"] == kinds["c2"] == "conv_unrolled" and kinds["add"] == "join"
    (fork,) = [b for b in sp.blocks if b.kind == "fork"]
    fifos = [b for b in sp.blocks if b.kind == "fifo" and b.ins[0] in fork.outs]
    into = {b.outs[0]: b for b in fifos}
    conv_in = sp.block("c1").ins[0]
    assert into[conv_in].p["DEPTH"] == 0
    (skip,) = [f for o, f in into.items() if o in sp.block("add").ins]
    assert skip.p["DEPTH"] > 1
    skip.p["DEPTH"] -= 1
    try:
        assert np.diff(simulate(sp, 8).out_cycles)[4:].max() > 1
    except RuntimeError:
        pass  # deadlock


def test_conv_too_large_to_unroll_is_one_line():
    g = Graph("big")
    t = g.add(Input("input", [], shape=(64, 64, 8)),
              FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT))
    w = np.ones((3, 3, 8, 8), np.int64)
    c = g.add(Conv("conv", [t], {"weight": Weight(w, FixedType(4, 1))}, filters=8,
                   kernel=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1)), FixedType(20, 8))
    g.outputs = [c]
    run_pipeline(g)
    with pytest.raises(RTLUnsupported, match=r"^layer conv: unrolling this conv over the frame "
                       r"\(io parallel\) builds 2359296 multiplies \(limit 200000\); use "
                       r"--io stream \(one pixel per clock\)$"):
        plan(g)
    g.meta["config"] = {"io": "stream"}
    assert plan(g)[1].kind == "conv_parallel"  # streamed: one pixel per clock


@pytest.mark.slow
@pytest.mark.parametrize("rank,n,channels,filters,reuse",
                         [(1, 10, 2, 3, {}), (2, 6, 1, 2, {"c1": 4})],
                         ids=["conv1d-unrolled", "conv2d-shared-R4"])
def test_unrolled_lut_ff_estimate_against_yosys(rank, n, channels, filters, reuse, tmp_path):
    """The smallest designs of each unrolled form: a Conv1D unrolled over the frame (eight
    constant-weight kernels, max pool, dense) and a 6x6 Conv2D with its window kernels
    shared (R=4: four kernels, a 4:1 beat multiplexer, max pool, dense): estimate within
    30 % of Yosys synth_xilinx xc7, DSP and BRAM18 exact. (The zoo's cnn1d and cnn_basic
    are measured by ``benchmarks/estimate_vs_yosys.py --only unrolled``; the whole-frame
    folded conv is the folded Dense module, whose estimate test_estimate checks.)"""
    from conftest import estimate_near_yosys
    from test_remainders import reproducer

    g = convert(reproducer(rank, n, channels, filters), reuse)
    estimate_near_yosys(g, str(tmp_path / "out"), 0.3)
