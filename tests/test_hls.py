"""HLS backend: generated firmware C-simulates bit-exactly against the reference.

One C-sim executable per (model, configuration), run on all 1,000 zoo inputs at once.
Also checks the zero-skipping and the folded ROMs in the generated source, the build
cache and the standalone ``make csim`` of an output project.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

import numpy as np
import pytest

from generator import config, reference
from generator.backends import hls
from generator.backends.hls import csim, firmware
from generator.frontends.keras import from_model
from generator.ir import Dense, Softmax, Table
from generator.passes import run_pipeline
from generator.passes.folding import schedule

pytestmark = pytest.mark.slow


def convert(model: Any, out: str, strategy: str = "latency", reuse: int = 1,
            io: str = "parallel") -> Any:
    cfg = config.load(None, strategy=strategy, reuse=reuse, io=io)
    g = from_model(model, cfg)
    run_pipeline(g)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    hls.write(g, out, cfg)
    return g


#: every zoo model in both strategies (reuse 1, 2 and a non-divisor) with io parallel, and
#: fully parallel and at the non-divisor with io stream (the folded layers are the same
#: kernels in a dataflow process; test_csim_mlp8_reuse streams reuse 2 and 6); "nd" is the
#: smallest reuse > 3 that divides no layer's nonzero count (a padded last pass in every
#: layer; reuse 2 leaves one only where a count is odd)
CONFIGS = {
    f"{name}-{io}": (strategy, reuse, io)
    for name, strategy, reuse in [("latency", "latency", 1), ("resource2", "resource", 2),
                                  ("resourceND", "resource", "nd")]
    for io in ("parallel", "stream") if not (io == "stream" and reuse == 2)
}


def non_divisor(model: Any) -> int:
    g = from_model(model, config.load(None))
    run_pipeline(g)
    counts = [int(n["nnz"]) for n in g.of(Dense)]
    r = 4
    while any(c % r == 0 for c in counts) and r < min(counts):
        r += 1
    assert r <= min(counts) and all(c % r for c in counts)
    return r


@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_csim_equals_reference(zoo_q: Any, cfg_name: str, tmp_path: Any) -> None:
    strategy, reuse, io = CONFIGS[cfg_name]
    if reuse == "nd":
        reuse = non_divisor(zoo_q.model)
    g = convert(zoo_q.model, str(tmp_path / "out"), strategy, reuse, io)
    from conftest import assert_outputs_vary

    want = reference.predict(g, zoo_q.x)
    assert_outputs_vary(want, g.outputs[0].ftype)
    np.testing.assert_array_equal(csim.run(g, str(tmp_path / "out"), zoo_q.x), want)


@pytest.mark.parametrize("io", ["parallel", "stream"])
@pytest.mark.parametrize("reuse", [2, 6])  # 6 divides none of mlp8's nonzero counts
def test_csim_mlp8_reuse(reuse: int, io: str, tmp_path: Any, zoo_dir: str) -> None:
    from conftest import zoo_model

    zm = zoo_model("mlp8", zoo_dir)
    out = str(tmp_path / "out")
    g = convert(zm.model, out, "resource", reuse, io)
    nnz = [n["nnz"] for n in g.of(Dense)]
    if reuse == 6:
        assert all(k % 6 for k in nnz), nnz  # the padded schedule is exercised
    y = csim.run(g, out, zm.x)
    np.testing.assert_array_equal(y, reference.predict(g, zm.x))


@pytest.mark.parametrize("io", ["parallel", "stream"])
def test_csim_lut_multipliers(io: str, tmp_path: Any, zoo_dir: str) -> None:
    """Folded layers with ``multipliers: lut`` bind their products to fabric (Vitis
    BIND_OP / Vivado HLS RESOURCE Mul_LUT) and C-simulate bit-exactly; a DSP layer next
    to them keeps nnfab::mac."""
    from conftest import zoo_model

    zm = zoo_model("mlp8", zoo_dir)
    cfg = config.load(None, strategy="resource", reuse=3, io=io)
    g = from_model(zm.model, cfg)
    for n in g.of(Dense):
        n.set("multipliers", "dsp" if n.name == "fc2" else "lut")
    run_pipeline(g)
    out = str(tmp_path / "out")
    os.makedirs(out)
    hls.write(g, out, cfg)
    for name, lut in (("fc1", True), ("fc2", False), ("out", True)):
        src = _layer_source(out, name)
        assert ("#pragma HLS BIND_OP variable=p op=mul impl=fabric" in src) == lut
        assert ("#pragma HLS RESOURCE variable=p core=Mul_LUT" in src) == lut
        assert ("nnfab::mac<" in src) != lut
    y = csim.run(g, out, zm.x)
    np.testing.assert_array_equal(y, reference.predict(g, zm.x))


@pytest.fixture(scope="module")
def mlp8_project(tmp_path_factory: Any, zoo_dir: str) -> tuple[Any, str, Any]:
    from conftest import zoo_model

    zm = zoo_model("mlp8", zoo_dir)
    out = str(tmp_path_factory.mktemp("hls_mlp8") / "out")
    g = convert(zm.model, out)
    return g, out, zm


def test_second_run_hits_the_cache(mlp8_project: tuple[Any, str, Any]) -> None:
    g, out, zm = mlp8_project
    y1 = csim.run(g, out, zm.x[:50])
    exe = csim.LAST["exe"]
    y2 = csim.run(g, out, zm.x[:50])
    assert csim.LAST["cached"] is True
    assert csim.LAST["exe"] == exe
    np.testing.assert_array_equal(y1, y2)


def test_make_csim_passes_on_tb_data(mlp8_project: tuple[Any, str, Any]) -> None:
    _, out, _ = mlp8_project
    from conftest import require

    require("g++")
    r = subprocess.run([require("make"), "-C", out, "csim"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{hls.TB_ROWS} rows, 0 mismatched" in r.stdout
    with open(os.path.join(out, "Makefile")) as f:
        text = f.read()
    assert re.search(r"^AP_TYPES \?= /\S+", text, re.MULTILINE)
    assert re.search(r"^HLS\s+\?= vitis_hls", text, re.MULTILINE)
    # a corrupted expectation makes the standalone testbench fail
    exp = os.path.join(out, "hls", "tb_data", "expected.bin")
    data = np.fromfile(exp, dtype="<i8")
    bad = os.path.join(out, "hls", "tb_data", "bad.bin")
    data2 = data.copy()
    data2[3] += 1
    data2.tofile(bad)
    tb = os.path.join(out, "hls", "tb", "tb_mlp8")
    r = subprocess.run([tb, os.path.join(out, "hls", "tb_data", "inputs.bin"),
                        os.path.join(out, "hls", "tb_data", "o.bin"), bad],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 1 and "1 mismatched" in r.stdout


def test_project_files(mlp8_project: tuple[Any, str, Any]) -> None:
    g, out, _ = mlp8_project
    d = os.path.join(out, "hls")
    for rel in ("firmware/mlp8.cpp", "firmware/mlp8.h", "firmware/defines.h",
                "firmware/weights.h", "firmware/nnfab/nnfab.h", "tb/tb_mlp8.cpp",
                "tb_data/inputs.bin", "tb_data/expected.bin", "project.tcl", "build_hls.tcl"):
        assert os.path.isfile(os.path.join(d, rel)), rel
    with open(os.path.join(d, "firmware", "defines.h")) as f:
        defines = f.read()
    for t in g.tensors.values():
        assert t.ftype.cpp() in defines
    with open(os.path.join(d, "firmware", "mlp8.cpp")) as f:
        top = f.read()
    assert "#pragma HLS PIPELINE II=1" in top
    assert "void mlp8(const input_t in[N_INPUT], result_t out[N_OUTPUT])" in top
    with open(os.path.join(d, "project.tcl")) as f:
        tcl = f.read()
    assert "set nnfab_part       xcu250-figd2104-2L-e" in tcl
    assert "set nnfab_top        mlp8" in tcl


def _layer_source(out: str, layer: str) -> str:
    with open(os.path.join(out, "hls", "firmware", "layers", f"{layer}.h")) as f:
        return f.read()


def _array(out: str, name: str) -> np.ndarray:
    with open(os.path.join(out, "hls", "firmware", "weights.h")) as f:
        text = f.read()
    m = re.search(rf"static const \w+ {name}((?:\[\d+\])+) = (\{{.*?\}});\n", text, re.DOTALL)
    assert m, name
    dims = [int(v) for v in re.findall(r"\[(\d+)\]", m.group(1))]
    vals = [int(v.rstrip("LU")) for v in re.findall(r"-?\d+[LU]*", m.group(2))]
    return np.array(vals, dtype=np.int64).reshape(dims)


def test_latency_dense_multiplies_nonzeros_only(tmp_path: Any, zoo_dir: str) -> None:
    from conftest import zoo_model

    zm = zoo_model("pruned80", zoo_dir)
    out = str(tmp_path / "out")
    g = convert(zm.model, out)
    for n in g.of(Dense):
        w = n.weights["weight"].data
        nnz = int(np.count_nonzero(w))
        assert nnz < w.size  # the layer is pruned
        src = _layer_source(out, n.name)
        assert src.count("nnfab::mac<") == nnz
        assert "*" not in re.sub(r"/\*.*?\*/|//[^\n]*", "", src)  # no other product
        nz = _array(out, f"{n.name}_w")
        assert np.count_nonzero(nz) == nnz == len(nz)


def test_resource_roms_hold_the_schedule(tmp_path: Any, zoo_dir: str) -> None:
    from conftest import zoo_model

    zm = zoo_model("pruned80", zoo_dir)
    out = str(tmp_path / "out")
    g = convert(zm.model, out, "resource", 4)
    for n in g.of(Dense):
        s = schedule(n)
        np.testing.assert_array_equal(_array(out, f"{n.name}_w"), s.weight)
        np.testing.assert_array_equal(_array(out, f"{n.name}_in_idx"), s.in_idx)
        np.testing.assert_array_equal(_array(out, f"{n.name}_out_idx"), s.out_idx)
        assert np.count_nonzero(s.weight) == n["nnz"]  # nonzeros + zero padding only
        assert s.weight.size - n["nnz"] < s.reuse
        src = _layer_source(out, n.name)
        assert f"r < {s.reuse}; r++" in src and f"m < {s.mults}; m++" in src
        assert "#pragma HLS PIPELINE II=1" in src
        assert f"#pragma HLS ARRAY_PARTITION variable={n.name}_w dim=2 complete" in src
        assert f"#pragma HLS BIND_STORAGE variable={n.name}_w type=rom_1p impl=bram" in src
        assert f"#pragma HLS RESOURCE variable={n.name}_w core=ROM_1P_BRAM" in src


def test_large_latency_layers_simulate_as_loops(
    tmp_path: Any, zoo_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import zoo_model

    monkeypatch.setattr(firmware, "CSIM_UNROLL_LIMIT", 100)
    monkeypatch.setattr(firmware, "EXTERNAL_MIN", 200)
    zm = zoo_model("mlp8", zoo_dir)
    out = str(tmp_path / "out")
    g = convert(zm.model, out)
    assert "#if defined(NNFAB_CSIM_LOOPS)" in _layer_source(out, "fc1")
    assert "#if defined(NNFAB_CSIM_LOOPS)" not in _layer_source(out, "out")  # 79 nonzeros
    fc1 = g.node("fc1")
    assert _layer_source(out, "fc1_unrolled").count("nnfab::mac<") == fc1["nnz"]
    # arrays embedded into the C-sim from .bin hold exactly the synthesis initializer
    wdir = os.path.join(out, "hls", "firmware", "weights")
    for name in ("fc1_w", "fc2_w", "fc1_nz_in"):
        with open(os.path.join(wdir, name + ".h")) as f:
            text = [int(v) for v in re.findall(r"-?\d+", f.read())]
        dtype = np.int8 if name.endswith("_w") else np.uint8
        np.testing.assert_array_equal(np.fromfile(os.path.join(wdir, name + ".bin"), dtype), text)
    y = csim.run(g, out, zm.x)
    np.testing.assert_array_equal(y, reference.predict(g, zm.x))


def test_synth_form_of_a_large_layer(tmp_path: Any) -> None:
    """A fully parallel Dense of 2,560 nonzero weights (over CSIM_UNROLL_LIMIT): the
    default C-sim runs its int64 loops; the synthesis form (``nnfab csim --form synth``)
    compiles the unrolled sums of ``layers/fc_unrolled.h`` and the weight text synthesis
    reads. On seeded rows spanning the input range both equal the reference."""
    from generator import cli
    from generator.fixed import FixedType, Overflow, Rounding
    from generator.ir import Graph, Input, Weight

    rng = np.random.default_rng(27)
    g = Graph("wide")
    t = g.add(Input("input", [], shape=(64,)),
              FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT))
    w = rng.integers(-128, 128, size=(64, 40))
    w[w == 0] = 1
    b = rng.integers(-128, 128, size=40)
    d = g.add(Dense("fc", [t], {"weight": Weight(w, FixedType(8, 1)),
                                "bias": Weight(b, FixedType(8, 3))}, units=40),
              FixedType(24, 12))
    g.outputs = [d]
    run_pipeline(g)
    assert g.node("fc")["nnz"] == 2560 > firmware.CSIM_UNROLL_LIMIT
    out = str(tmp_path / "out")
    from generator import project

    project.write_project(g, out, config.load(None))
    assert _layer_source(out, "fc_unrolled").count("nnfab::mac<") == 2560
    x = reference.samples(g, 24, seed=27)
    x[0], x[1] = -16.0, 15.96875  # the input type's two ends
    want = reference.predict(g, x)
    assert len(np.unique(want)) > 500  # the outputs vary: a real comparison
    np.testing.assert_array_equal(csim.run(g, out, x), want)  # the loops
    np.testing.assert_array_equal(csim.run(g, out, x, form="synth"), want)  # the unrolled sums
    assert not csim.LAST["cached"]  # its own executable
    # the same through the CLI
    np.save(tmp_path / "x.npy", x)
    assert cli.main(["csim", out, "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"),
                     "--form", "synth"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)


@pytest.mark.parametrize("io", ["parallel", "stream"])
def test_tables_and_softmax(float_model: Any, io: str, tmp_path: Any) -> None:
    out = str(tmp_path / "out")
    g = convert(float_model.model, out, io=io)
    assert g.of(Softmax) and g.of(Table)
    y = csim.run(g, out, float_model.x)
    np.testing.assert_array_equal(y, reference.predict(g, float_model.x))
