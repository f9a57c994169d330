"""HLS backend on convolutional networks: bit-exact C-simulation and FIFO depths.

Every CNN zoo model is converted once per io type (module-scoped) and C-simulated on
its zoo inputs (1,000 rows in io_parallel, 300 in io_stream). In io_stream the C-simulation runs every dataflow process in its
own thread over FIFOs bounded to the generated depths (``NNFAB_CSIM_THREADS``), so a
depth that is too small deadlocks; the FIFO test also finds, per fork stream, the
smallest depth that does not deadlock and checks the computed depth covers it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from typing import Any

import numpy as np
import pytest

from generator import config, ir, reference
from generator.backends import hls
from generator.backends.hls import csim, dataflow, firmware
from generator.frontends.keras import from_model
from generator.ir import Conv
from generator.passes import run_pipeline

pytestmark = pytest.mark.slow

IOS = ["parallel", "stream"]


def convert(model: Any, out: str, io: str, strategy: str = "latency", reuse: int = 1) -> Any:
    cfg = config.load(None, strategy=strategy, reuse=reuse, io=io)
    g = from_model(model, cfg)
    run_pipeline(g)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    hls.write(g, out, cfg)
    return g


_PROJECTS: dict[tuple[str, str], tuple[Any, str]] = {}


@pytest.fixture(scope="module")
def cnn_projects(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``get(zoo_model, io) -> (graph, out)``: one converted project per model and io."""
    root = tmp_path_factory.mktemp("hls_cnn")

    def get(zm: Any, io: str) -> tuple[Any, str]:
        key = (zm.name, io)
        if key not in _PROJECTS:
            out = str(root / f"{zm.name}_{io}")
            _PROJECTS[key] = (convert(zm.model, out, io), out)
        return _PROJECTS[key]

    return get


#: Rows compared per io type: the threaded io_stream C-simulation costs a few ms a row.
ROWS = {"parallel": 1000, "stream": 300}


@pytest.mark.parametrize("io", IOS)
def test_cnn_csim_equals_reference(zoo_cnn: Any, io: str, cnn_projects: Any) -> None:
    g, out = cnn_projects(zoo_cnn, io)
    x = zoo_cnn.x[: ROWS[io]]
    from conftest import assert_outputs_vary

    want = reference.predict(g, x)
    assert_outputs_vary(want, g.outputs[0].ftype)
    np.testing.assert_array_equal(csim.run(g, out, x), want)


def _run_tb(out: str, top: str, depths: dict[str, int]) -> subprocess.CompletedProcess[str]:
    exe = csim.build(out, top)
    d = os.path.join(out, "hls", "tb_data")
    env = dict(os.environ, NNFAB_FIFO_DEPTHS=",".join(f"{k}={v}" for k, v in depths.items()),
               NNFAB_FIFO_STATS=os.path.join(out, "fifo_stats.txt"))
    return subprocess.run([exe, os.path.join(d, "small.bin"), os.path.join(d, "small_out.bin"),
                           os.path.join(d, "small_expected.bin")],
                          capture_output=True, text=True, check=False, env=env)


def _streams(out: str, top: str) -> dict[str, int]:
    with open(os.path.join(out, "hls", "firmware", f"{top}.cpp")) as f:
        text = f.read()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"#pragma HLS STREAM variable=(\w+) depth=(\d+)", text)}


def test_fifo_depths_cover_the_deadlock_free_minimum(zoo_cnn: Any, cnn_projects: Any) -> None:
    g, out = cnn_projects(zoo_cnn, "stream")
    top = firmware.top_name(g)
    depths = _streams(out, top)
    # a few rows of the project's stimuli are enough: each row runs the whole dataflow
    d = os.path.join(out, "hls", "tb_data")
    n_in, n_out = g.inputs[0].size, g.outputs[0].size
    np.fromfile(os.path.join(d, "inputs.bin"), "<i8")[: 3 * n_in].tofile(os.path.join(d, "small.bin"))
    np.fromfile(os.path.join(d, "expected.bin"), "<i8")[: 3 * n_out].tofile(os.path.join(d, "small_expected.bin"))
    r = _run_tb(out, top, {})
    assert r.returncode == 0, r.stderr + r.stdout
    with open(os.path.join(out, "fifo_stats.txt")) as f:
        stats = {name: (int(dp), int(occ)) for name, dp, occ in (line.split() for line in f)}
    assert set(stats) == set(depths)
    for name, (dp, occ) in stats.items():
        assert dp == depths[name] and 1 <= occ <= dp, (name, dp, occ)
    rule = dataflow.fifo_depths(g)
    report = []
    for (tensor, k), (depth, _) in rule.items():
        e = dataflow.edges_of(g, g.tensors[tensor])[k]
        name = f"s_{tensor}_to_{e.consumer.name}"
        assert depths[name] == depth
        if depth == dataflow.CHAIN_DEPTH:
            continue
        lo, hi = 1, depth  # hi never deadlocks (checked above); find the smallest such depth
        while lo < hi:
            mid = (lo + hi) // 2
            r = _run_tb(out, top, {name: mid})
            if r.returncode == 0:
                hi = mid
            else:
                assert "dataflow deadlock" in r.stderr, r.stderr
                lo = mid + 1
        report.append((name, depth, lo, stats[name][1]))
        # the rule ignores the chain FIFOs of the short branch, which also hold words,
        # so it may exceed the minimum by about their capacity (and its margin)
        assert lo <= depth
    print(f"\n{zoo_cnn.name}: (stream, computed depth, smallest deadlock-free depth, max occupancy)",
          report)


def test_too_shallow_skip_fifo_is_reported_as_deadlock(
    cnn_projects: Any, zoo_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import zoo_model

    from generator.verify import VerifyError

    zm = zoo_model("cnn_residual", zoo_dir)
    g, out = cnn_projects(zm, "stream")
    monkeypatch.setenv("NNFAB_FIFO_DEPTHS", "s_q_in_to_add=2")
    with pytest.raises(VerifyError, match=r"^C-simulation failed \(exit 3\): nnfab csim error: dataflow deadlock"):
        csim.run(g, out, zm.x[:2])


def test_conv_reuse_is_rejected(tmp_path: Any, zoo_dir: str) -> None:
    from conftest import zoo_model

    zm = zoo_model("cnn_basic", zoo_dir)
    # convert refuses it in the folding pass (tests/test_rtl_cnn.py); the writer guards
    # its own input too, for a graph edited after the passes
    cfg = config.load(None, io="parallel")
    g = from_model(zm.model, cfg)
    run_pipeline(g)
    g.node("c1").set("reuse", 36)
    os.makedirs(tmp_path / "out")
    with pytest.raises(firmware.ConvReuseError,
                       match=r"^layer c1: reuse factor 36 is not possible; valid: 1\.\.35 "
                             r"\(the conv has 35 nonzero weights\)$"):
        hls.write(g, str(tmp_path / "out"), cfg)


#: (zoo model, per-layer reuse): divisor and non-divisor R, 1-D, a fork/join around folds,
#: a ternary depthwise kernel (sep2: weights +-1, a shift and add/subtract, no multiply)
FOLDED = [
    ("cnn_basic", {"c1": 2}),
    ("cnn_basic", {"c1": 7}),
    ("cnn1d", {"c1": 3, "c2": 5}),
    ("cnn_residual", {"c1": 3, "c2": 2}),
    ("cnn_separable", {"sep1": 3}),
    ("cnn_separable", {"sep2": 2}),
]


@pytest.mark.parametrize("io", IOS)
@pytest.mark.parametrize("name,reuse", FOLDED,
                         ids=["-".join([n, *(f"{k}{v}" for k, v in r.items())]) for n, r in FOLDED])
def test_folded_conv_csim_equals_reference(name: str, reuse: dict[str, int], io: str,
                                           zoo_dir: str, tmp_path: Any) -> None:
    """A Conv with reuse R > 1: the per-window kernel is the folded loop over the
    schedule of the conv matrix (R iterations of M multipliers); io_stream's FIFO depths
    (the dataflow rule, enforced by the threaded C-simulation) still hold."""
    from conftest import zoo_model

    from generator.backends.rtl.stream import conv_matrix
    from generator.passes.folding import schedule_matrix, shift_mode

    zm = zoo_model(name, zoo_dir)
    cfg = config.from_dict({"model": {"io": io},
                            "layers": {k: {"reuse": v, "strategy": "resource"}
                                       for k, v in reuse.items()}})
    g = from_model(zm.model, cfg)
    run_pipeline(g)
    out = str(tmp_path / "out")
    os.makedirs(out)
    hls.write(g, out, cfg)
    folded = [n for n in g.of(ir.Conv) if n["source"] in reuse]  # a separable conv: two
    assert {n["source"] for n in folded} == set(reuse)
    for n in folded:
        r = reuse[n["source"]]
        sch = schedule_matrix(conv_matrix(n), r)
        with open(os.path.join(out, "hls", "firmware", "layers", f"{n.name}.h")) as f:
            src = f.read()
        assert f"for (int r = 0; r < {r}; r++)" in src
        assert f"for (int m = 0; m < {sch.mults}; m++)" in src
        ternary = shift_mode(sch.weight[sch.valid])[0] != 0
        assert src.count("nnfab::mac_shift<" if ternary else "nnfab::mac<") == 1
        if io == "stream":
            assert re.search(rf"window_stream<.*, {r}>\(x, y\)", src)
    x = zm.x[: ROWS[io]]
    np.testing.assert_array_equal(csim.run(g, out, x), reference.predict(g, x))


def test_shared_conv_csim_equals_reference(zoo_dir: str, tmp_path: Any) -> None:
    """io parallel, strategy latency, reuse R > 1: the conv keeps its constant-weight
    window kernel (one multiply per nonzero weight, no folded loop) and the top is
    pipelined at II R, so the scheduler shares each kernel among R output pixels (the
    unrolled RTL's conv_unrolled_shared); the C-simulation equals the reference."""
    from conftest import zoo_model

    zm = zoo_model("cnn1d", zoo_dir)
    cfg = config.from_dict({"layers": {"c1": {"reuse": 3}, "c2": {"reuse": 5}}})
    g = from_model(zm.model, cfg)
    run_pipeline(g)
    out = str(tmp_path / "out")
    os.makedirs(out)
    hls.write(g, out, cfg)
    fw = os.path.join(out, "hls", "firmware")
    for k in ("c1", "c2"):
        with open(os.path.join(fw, "layers", f"{k}.h")) as f:
            src = f.read()
        assert "for (int r = 0;" not in src
        assert src.count("nnfab::mac<") == int(np.count_nonzero(g.node(k).weights["weight"].data))
    with open(os.path.join(fw, f"{g.name}.cpp")) as f:
        top = f.read()
    assert "#pragma HLS PIPELINE II=5" in top
    x = zm.x[: ROWS["parallel"]]
    np.testing.assert_array_equal(csim.run(g, out, x), reference.predict(g, x))


def test_conv_multiplies_nonzeros_only(zoo_dir: str, cnn_projects: Any) -> None:
    from conftest import zoo_model

    zm = zoo_model("cnn_pruned_gmax", zoo_dir)
    g, out = cnn_projects(zm, "parallel")
    for n in g.of(Conv):
        with open(os.path.join(out, "hls", "firmware", "layers", f"{n.name}.h")) as f:
            src = f.read()
        nnz = int(np.count_nonzero(n.weights["weight"].data))
        assert nnz < n.weights["weight"].data.size
        assert src.count("nnfab::mac<") == nnz == n["nnz"]


# -- a bigger CNN: 64x64x3 input, >= 100k weights, 50 % pruned, io_stream -----------------


def big_cnn() -> Any:
    import qkeras as q
    import tf_keras as keras

    def conv(f: int, name: str) -> Any:
        return q.QConv2D(f, 3, padding="same", kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                         bias_quantizer=q.quantized_bits(6, 1, alpha=1), name=name)

    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(64, 64, 3)),
        q.QActivation(q.quantized_bits(8, 1, alpha=1), name="q_in"),
        conv(16, "c1"), q.QActivation(q.quantized_relu(6, 2), name="r1"),
        keras.layers.MaxPooling2D(2, name="mp1"),
        conv(32, "c2"), q.QActivation(q.quantized_relu(6, 2), name="r2"),
        keras.layers.MaxPooling2D(2, name="mp2"),
        conv(64, "c3"), q.QActivation(q.quantized_relu(6, 2), name="r3"),
        keras.layers.MaxPooling2D(2, name="mp3"),
        keras.layers.Flatten(name="flat"),
        q.QDense(32, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc1"),
        q.QActivation(q.quantized_relu(6, 2), name="r4"),
        q.QDense(10, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="big_cnn")


def test_big_cnn_stream_csim(tmp_path: Any) -> None:
    import tf_keras as keras
    import zoo

    keras.utils.set_random_seed(21)
    model = big_cnn()
    zoo.init_weights(model, 21, prune=0.5)
    n_weights = sum(int(np.prod(w.shape)) for layer in model.layers for w in layer.get_weights()[:1])
    assert n_weights >= 100_000, n_weights
    entry = zoo.ZooEntry("big_cnn", big_cnn, 8, 1, prune=0.5, seed=21)
    x = zoo.inputs(entry, (64, 64, 3), n=8)
    out = str(tmp_path / "out")
    t0 = time.perf_counter()
    g = convert(model, out, "stream")
    t_convert = time.perf_counter() - t0
    nnz = sum(int(np.count_nonzero(n.weights["weight"].data)) for n in g.nodes if "weight" in n.weights)
    assert nnz < 0.55 * n_weights
    t0 = time.perf_counter()
    y = csim.run(g, out, x)
    t_csim = time.perf_counter() - t0
    np.testing.assert_array_equal(y, reference.predict(g, x))
    print(f"\nbig_cnn: {n_weights} weights ({nnz} nonzero); convert {t_convert:.1f} s, "
          f"csim build {csim.LAST['build_seconds']:.1f} s, run {csim.LAST['run_seconds']:.2f} s "
          f"for {len(x)} rows (csim total {t_csim:.1f} s)")
