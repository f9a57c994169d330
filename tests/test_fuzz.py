"""The model-space fuzzer (:mod:`fuzz`) in the suite: a fixed set of seeds, and every saved
reproducer under ``tests/fuzz_cases/`` replayed.

Each case: reference == QKeras predict == C-sim == RTL and the cycle model == the cycles
Verilator measures, for the io / folding the seed draws; a refusal must be one line. The
fixed seeds cover a 1-D CNN with a max pool remainder and a Concatenate branch (io stream,
folded), a 2-D CNN with a Subtract branch and a 3/2 max pool with a remainder (io
parallel, folded), an MLP with a Subtract branch (block-level, io stream, folded) and a
QLSTM. ``make fuzz N=500 SEED=S`` runs more (docs/fuzzing.md).
"""

from __future__ import annotations

import glob
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import fuzz

FIXED_SEEDS = [16, 38, 4, 18]
SAVED = sorted(glob.glob(os.path.join(fuzz.CASES_DIR, "*.json")))


def test_generator_is_seeded_and_covers_the_layer_set() -> None:
    """Same seed, same model; the first 200 seeds draw every layer kind and quantizer."""
    assert fuzz.gen_spec(5) == fuzz.gen_spec(5)
    assert fuzz.gen_spec(5) != fuzz.gen_spec(6)
    kinds: set[str] = set()
    quants: set[str] = set()

    def walk(layers: list[dict]) -> None:
        for L in layers:
            kinds.add(L["t"] + ("-" + L["merge"] if L["t"] == "branch" else "")
                      + ("-" + L["mode"] if L["t"] == "pool" else "")
                      + ("-" + L["cell"] if L["t"] == "rnn" else ""))
            for k in ("q", "wq"):
                if k in L:
                    quants.add(L[k][0] + ("-auto_po2" if L[k][-1] == "auto_po2" else "")
                               + ("-sym" if L[k][0] == "quantized_bits" and L[k][4] else ""))
            if L["t"] == "branch":
                walk(L["a"])
                walk(L["b"])

    remainders = 0
    for s in range(200):
        spec = fuzz.gen_spec(s)
        walk(spec["layers"])
        remainders += any(L["t"] == "pool" and L["pad"] == "valid" for L in spec["layers"])
    for k in ("conv", "dw", "sep", "pool-max", "pool-avg", "gpool", "dense", "flatten",
              "rnn-QSimpleRNN", "rnn-QLSTM", "rnn-QGRU", "branch-add", "branch-sub",
              "branch-max", "branch-min", "branch-avg", "branch-mul", "branch-concat"):
        assert k in kinds, k
    for q in ("quantized_bits", "quantized_bits-sym", "quantized_bits-auto_po2",
              "quantized_relu", "binary", "ternary", "quantized_po2", "quantized_tanh"):
        assert q in quants, q
    assert remainders > 10


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("seed", FIXED_SEEDS)
def test_fuzz_seed(seed: int, tmp_path) -> None:
    o = fuzz.run_spec(fuzz.gen_spec(seed), str(tmp_path))
    assert o.status == "pass", (o.reason, o.detail)
    assert {"source", "csim", "rtl", "cycles"} <= set(o.views)


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("path", SAVED, ids=[os.path.basename(p)[:-5] for p in SAVED])
def test_saved_case(path: str, tmp_path) -> None:
    """A shrunk reproducer of a failure: every view agrees (or nnfab refuses it in one
    line). ``gru_pruned_gate``: a 70 %-pruned one-unit QGRU whose gate sums are narrower
    than the type its quantized_sigmoid thresholds were read off (they are moved onto it);
    ``binary_weight_folded``: a QSimpleRNN's binary kernel folded at reuse 2, whose -1
    weights must subtract in C-sim too."""
    with open(path) as f:
        assert json.load(f)["found"]
    o = fuzz.replay(path, str(tmp_path))
    assert o.status in ("pass", "refused", "degenerate"), (o.reason, o.detail)
    if o.status == "degenerate":  # a crash reproducer: every view ran and agreed
        assert {"source", "csim", "rtl", "cycles"} <= set(o.views)


@pytest.mark.parametrize("tin", [(4, 1, True), (3, -1, False), (6, 0, True), (2, 3, True)])
def test_thresholds_follow_a_narrowed_input(tin: tuple[int, int, bool]) -> None:
    """A Threshold read off ap_fixed<8,3> whose input type became narrower (or coarser):
    the moved thresholds give the same level on every value of the new input type."""
    import numpy as np

    import generator.passes  # noqa: F401 (the module, shadowed by its function there)
    from generator.fixed import FixedType
    from generator.ir import Graph, Input, Threshold, Weight

    infer = sys.modules["generator.passes.infer_precision"]
    told = FixedType(8, 3, True)
    thr = np.array([-100, -37, -3, 0, 1, 2, 9, 40, 127])  # raw at frac 5
    lev = np.arange(len(thr) + 1) - 4
    g = Graph("t")
    ti = FixedType(*tin)
    x = g.add(Input("x", [], shape=(1,)), ti)
    g.add(Threshold("th", [x], {"thresholds": Weight(thr, told),
                               "levels": Weight(lev, FixedType(4, 4, True))},
                    function="f"), FixedType(4, 4, True))
    n = g.nodes[-1]
    assert infer.fit_thresholds(n)
    n.check()
    raw = np.arange(ti.min_raw, ti.max_raw + 1)
    val = np.ldexp(raw.astype(float), -ti.frac)
    want = lev[np.searchsorted(np.ldexp(thr.astype(float), -told.frac), val, side="right")]
    t2, l2 = n.weights["thresholds"].data, n.weights["levels"].data
    np.testing.assert_array_equal(l2[np.searchsorted(t2, raw, side="right")], want)
