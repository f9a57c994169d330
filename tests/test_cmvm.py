"""The shared adder graph of a constant matrix-vector product (generator.backends.rtl.cmvm).

The graph's outputs are checked against NumPy's integer matmul (an independent path), its
size against the one-adder-per-digit form it replaces; the Verilog it becomes is checked
bit-exact under Verilator by every fully parallel design in tests/test_rtl*.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from generator.backends.rtl import cmvm
from generator.backends.rtl.cmvm import csd
from generator.backends.rtl.plan import sign_form


def _matrix(seed: int, shape: tuple[int, int], bits: int, prune: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=shape)
    w[rng.random(shape) < prune] = 0
    return w


def _digit_adders(w: np.ndarray) -> int:
    """Adders of one shift-add product per nonzero weight and one tree per output."""
    digits = sum(len(csd(int(v))) for v in w.flat if v)
    nnz = int(np.count_nonzero(w))
    return digits - nnz + sum(max(0, int(np.count_nonzero(w[:, j])) - 1)
                              for j in range(w.shape[1]))


@pytest.mark.parametrize("shape,bits,prune", [
    ((16, 64), 8, 0.75), ((32, 32), 8, 0.0), ((9, 4), 8, 0.0), ((36, 8), 6, 0.5),
    ((16, 16), 4, 0.5), ((12, 10), 2, 0.3), ((8, 3), 16, 0.0), ((5, 7), 8, 1.0),
    ((96, 48), 8, 0.0)])  # the last beyond MAX_PAIRS: searched in blocks of inputs
def test_graph_is_the_exact_matmul(shape, bits, prune):
    w = _matrix(1, shape, bits, prune)
    g = cmvm.build(w)
    rng = np.random.default_rng(2)
    x = rng.integers(-(1 << 15), 1 << 15, size=(200, shape[0]))
    assert np.array_equal(g.evaluate(x), x.astype(object) @ w.astype(object))
    depth = [0] * g.n_in
    for a, b, d, s in g.nodes:
        assert d >= 0 and s in (-1, 1) and (a != b or d > 0)
        depth.append(max(depth[a], depth[b]) + 1)
    assert max(depth) <= cmvm.MAX_DEPTH
    assert cmvm.graph_depth(g) == max(depth)


def test_sharing_saves_adders():
    """The 75 %-pruned 8-bit 16x64 and the unpruned 32x32 layers: the shared graph needs
    at most 70 % of the adders of one shift-add per digit (measured 62 % and 49 %)."""
    for shape, prune in (((16, 64), 0.75), ((32, 32), 0.0)):
        w = _matrix(0, shape, 8, prune)
        g = cmvm.build(w)
        print(shape, prune, g.adders, _digit_adders(w))
        assert g.adders <= 0.7 * _digit_adders(w)


@pytest.mark.parametrize("bits,prune", [(1, 0.0), (1, 0.5), (8, 0.25)])
def test_sign_form_is_the_pm1_matmul(bits, prune):
    """Binarized inputs: the graph over the sign bits (plan.sign_form) plus its bias gives
    the +-1 matmul plus the original bias; for binary weights the shared popcount needs
    fewer adders than a popcount tree per output (one adder per nonzero weight but one)."""
    rng = np.random.default_rng(4)
    w = rng.choice([-1, 1], size=(64, 32)) if bits == 1 else _matrix(3, (64, 32), bits, 0.0)
    w[rng.random(w.shape) < prune] = 0
    bias, sh = rng.integers(-50, 50, size=32), 3
    w2, b2 = sign_form(w, bias, sh)
    g = cmvm.build(w2)
    x = rng.choice([-1, 1], size=(300, 64))
    s = (x < 0).astype(np.int64)  # the sign bits: x = 1 - 2 s
    want = (x.astype(object) @ w.astype(object)) * (1 << sh) + bias
    assert np.array_equal(g.evaluate(s) * (1 << sh) + b2, want)
    if bits == 1:
        assert g.adders < 0.6 * _digit_adders(w)


def test_signed_width():
    for lo, hi in ((0, 0), (-1, 0), (0, 1), (-128, 127), (-129, 127), (-128, 128), (5, 9),
                   (-300, -200)):
        w = cmvm.signed_width(lo, hi)
        assert -(1 << (w - 1)) <= lo and hi < (1 << (w - 1))
        assert w == 1 or not (-(1 << (w - 2)) <= lo and hi < (1 << (w - 2)))


def test_trees_are_pipelined_every_stage_adders():
    """Each output's tree adds its earliest values first; a layer's latency is the stage
    of its latest sum plus the output register, and no value passes more than
    STAGE_ADDERS adders between two registers."""
    w = _matrix(3, (64, 32), 8, 0.75)
    g = cmvm.build(w)
    ts = cmvm.trees(g, [j % 2 == 0 for j in range(32)])
    for j, (t, terms) in enumerate(zip(ts, g.outputs, strict=True)):
        assert t.leaves == len(terms) + (1 if j % 2 == 0 else 0)
        assert len(t.steps) == t.leaves - 1
        for k, (x, y) in enumerate(t.steps):
            assert t.arrival[t.leaves + k] == max(t.arrival[x], t.arrival[y]) + 1
        # Huffman: no tree over these leaves is shallower than log2 of the leaf count
        assert t.arrival[t.root] >= int(np.ceil(np.log2(t.leaves)))
    lat = cmvm.latency(ts)
    assert lat == 1 + max(cmvm.stage_of(t.arrival[t.root]) for t in ts)
    assert cmvm.stage_of(cmvm.STAGE_ADDERS) == 0 and cmvm.stage_of(cmvm.STAGE_ADDERS + 1) == 1
