"""Mutation tests: generated designs broken on purpose must fail ``nnfab verify``.

Each test copies a converted project, changes one thing in what it generated -- one
weight bit in a ROM image, one bit in the constant-multiply netlist, one extra register
stage, TLAST inverted, a requantizer's rounding mode, a FIFO one entry too shallow,
one weight of the HLS ``weights.h`` -- and runs ``nnfab verify --views <view> --json``:
exit 1, the view not ok, and the failure reported as what it is (values, TLAST or
cycles). Each unbroken project first passes the same command (exit 0), so a verify that
fails everything would not pass these tests. Designs: a 6-8-4 QKeras MLP folded
(schedule ROMs) and fully parallel (constant-multiply netlists), and cnn_residual
unrolled (the FIFO of its skip branch).
"""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pytest

from generator import cli

ROWS = "200"


def _tiny_mlp(path: str) -> None:
    from zoo import _layers, init_weights

    keras, q = _layers()
    m = keras.Sequential([
        keras.layers.InputLayer(input_shape=(6,)),
        q.QActivation(q.quantized_bits(8, 2, alpha=1), name="q_in"),
        q.QDense(8, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="fc1"),
        q.QActivation(q.quantized_relu(6, 2), name="relu1"),
        q.QDense(4, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name="tiny")
    init_weights(m, seed=3, prune=0.25)
    m.save(path)


def _verify(out: str, view: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    capsys.readouterr()
    rc = cli.main(["verify", out, "--views", view, "--samples", ROWS, "--json"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (row,) = [r for r in res["views"] if r["view"] == view]
    return rc, row


def _convert(model: str, out: str, *opts: str) -> str:
    assert cli.main(["convert", model, "-o", out, *opts]) == 0
    return out


@pytest.fixture(scope="module")
def tiny_h5(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("mut") / "tiny.h5")
    _tiny_mlp(path)
    return path


@pytest.fixture(scope="module")
def folded(tiny_h5: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return _convert(tiny_h5, str(tmp_path_factory.mktemp("mut") / "folded"),
                    "--strategy", "resource", "--reuse", "4")


@pytest.fixture(scope="module")
def parallel(tiny_h5: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return _convert(tiny_h5, str(tmp_path_factory.mktemp("mut") / "parallel"))


def _copy(src: str, dst: str) -> str:
    """The project without its build caches (a mutated copy builds its own)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("build_*", ".csim_build", "run"))
    return dst


def _edit(path: str, pattern: str, repl, count: int = 1) -> None:
    with open(path) as f:
        text = f.read()
    new, k = re.subn(pattern, repl, text, count=count, flags=re.MULTILINE)
    assert k == count and new != text, (path, pattern)
    with open(path, "w") as f:
        f.write(new)


def _top(out: str) -> str:
    with open(os.path.join(out, "sim", "sim.json")) as f:
        return os.path.join(out, "rtl", json.load(f)["top"] + ".v")


def _fails(out: str, view: str, capsys, *, values: bool = False, words: str = "") -> dict:
    """verify exits 1 on the view; ``values``: rows differ; ``words``: a finding says so."""
    rc, row = _verify(out, view, capsys)
    assert rc == 1 and not row["ok"], row
    assert row["error"] is None, row
    if values:
        assert row["mismatched_rows"] > 0, row
    if words:
        assert any(re.search(words, f) for f in row["findings"]), row
    return row


@pytest.mark.slow
@pytest.mark.rtl
def test_unbroken_designs_pass(folded, parallel, capsys):
    for out in (folded, parallel):
        rc, row = _verify(out, "rtl", capsys)
        assert rc == 0 and row["ok"] and row["findings"] == [], row
        rc, row = _verify(out, "csim", capsys)
        assert rc == 0 and row["ok"], row


@pytest.mark.slow
@pytest.mark.rtl
def test_rom_weight_bit(folded, tmp_path, capsys):
    """The lowest bit of multiplier 0's weight in word 0 of fc1's schedule ROM."""
    out = _copy(folded, str(tmp_path / "p"))
    with open(_top(out)) as f:
        inst = re.search(r"nnfab_dense_folded #\((.*)\) u_fc1 ", f.read()).group(1)
    ol, la = (int(re.search(rf"\.{p}\((\d+)\)", inst).group(1)) for p in ("OL", "LA"))
    mem = os.path.join(out, "rtl", "fc1_schedule.mem")
    with open(mem) as f:
        words = f.read().split()
    words[0] = f"{int(words[0], 16) ^ (1 << (ol + la)):x}"
    with open(mem, "w") as f:
        f.write("\n".join(words) + "\n")
    _fails(out, "rtl", capsys, values=True)


@pytest.mark.slow
@pytest.mark.rtl
def test_netlist_constant_bit(parallel, tmp_path, capsys):
    """Bit 0 of one shift amount in the adder tree of fc1's first output."""
    out = _copy(parallel, str(tmp_path / "p"))
    net = os.path.join(out, "rtl", "tiny_fc1.v")
    _edit(net, r"^(\s*wire signed \[\d+:0\] s0_\d+ = .*<<< )(\d+)\)",
          lambda m: f"{m.group(1)}{int(m.group(2)) ^ 1})")
    _fails(out, "rtl", capsys, values=True)


def _extra_stage(top: str) -> None:
    """One more register stage before m_axis: in front of the output FIFO of a valid-only
    pipeline (data and valid delayed one cycle), else stalled like the rest."""
    with open(top) as f:
        text = f.read()
    fifo = re.search(r"u_nnfab_out \(\.clk\(clk\), \.rst\(rst\), \.x\((\w+)\), "
                     r"\.in_valid\((\w+)\)", text)
    if fifo:
        width = re.search(rf"wire \[(\d+):0\] {fifo.group(1)};", text)
        assert width, fifo.group(1)
        extra = (f"    reg [{width.group(1)}:0] xs_d;\n    reg xs_v;\n"
                 f"    always @(posedge clk) begin xs_d <= {fifo.group(1)}; "
                 f"xs_v <= rst ? 1'b0 : {fifo.group(2)}; end\n")
        text = text.replace(fifo.group(0), fifo.group(0).replace(
            f".x({fifo.group(1)}), .in_valid({fifo.group(2)})", ".x(xs_d), .in_valid(xs_v)"))
        text = text.replace("endmodule", extra + "endmodule", 1)
        with open(top, "w") as f:
            f.write(text)
        return
    d = re.search(r"^\s*assign m_axis_tdata = (.*);$", text, re.MULTILINE)
    v = re.search(r"^\s*assign m_axis_tvalid = (.*);$", text, re.MULTILINE)
    r = re.search(r"^\s*assign (\S+) = m_axis_tready;$", text, re.MULTILINE)
    w = re.search(r"output wire \[(\d+):0\] m_axis_tdata", text)
    assert d and v and r and w
    extra = (f"    wire xs_ce;\n    reg [{w.group(1)}:0] xs_d;\n"
             f"    nnfab_pipe_ctrl #(.S(1)) u_xs (.clk(clk), .rst(rst), .in_valid({v.group(1)}), "
             f".in_ready({r.group(1)}), .out_valid(m_axis_tvalid), .out_ready(m_axis_tready), "
             f".ce(xs_ce));\n    always @(posedge clk) if (xs_ce) xs_d <= {d.group(1)};\n"
             "    assign m_axis_tdata = xs_d;\n")
    for m in (d, v, r):
        text = text.replace(m.group(0) + "\n", "")
    text = text.replace("endmodule", extra + "endmodule", 1)
    with open(top, "w") as f:
        f.write(text)


@pytest.mark.slow
@pytest.mark.rtl
def test_extra_register_stage(folded, tmp_path, capsys):
    """Outputs stay right, one cycle later: only the cycle model can tell."""
    out = _copy(folded, str(tmp_path / "p"))
    _extra_stage(_top(out))
    row = _fails(out, "rtl", capsys, words=r"^latency cycles measured \d+, the cycle model")
    assert row["mismatched_rows"] == 0


@pytest.mark.slow
@pytest.mark.rtl
def test_tlast_inverted(folded, tmp_path, capsys):
    out = _copy(folded, str(tmp_path / "p"))
    _edit(_top(out), r"\.dout\(m_axis_tlast\)\);",
          ".dout(last_n));\n    wire last_n;\n    assign m_axis_tlast = ~last_n;")
    row = _fails(out, "rtl", capsys, words=r"wrong TLAST")
    assert row["mismatched_rows"] == 0


@pytest.mark.slow
@pytest.mark.rtl
def test_requantizer_rounding_mode(folded, tmp_path, capsys):
    """relu1 rounds half up (RND) instead of half to even (RND_CONV): only ties differ."""
    from generator.backends.rtl.plan import ROUND_CODE
    from generator.fixed import Rounding

    out = _copy(folded, str(tmp_path / "p"))
    conv, rnd = ROUND_CODE[Rounding.RND_CONV], ROUND_CODE[Rounding.RND]
    _edit(_top(out), rf"(nnfab_quantize_vec #\(.*\.ROUND\(){conv}(\).*\) u_relu1 )",
          rf"\g<1>{rnd}\g<2>")
    _fails(out, "rtl", capsys, values=True)


@pytest.mark.slow
@pytest.mark.rtl
def test_fifo_one_entry_too_shallow(zoo_dir, tmp_path, capsys):
    """cnn_residual streamed: the FIFO of the skip branch one entry shallower."""
    from conftest import zoo_model

    from generator import project
    from generator.backends.rtl.design import plan
    from generator.backends.rtl.plan import stream_plan

    out = _convert(zoo_model("cnn_residual", zoo_dir).path, str(tmp_path / "good"),
                   "--io", "stream")
    rc, row = _verify(out, "rtl", capsys)
    assert rc == 0 and row["ok"], row
    sp = stream_plan(plan(project.load(out)))
    (fork,) = [b for b in sp.blocks if b.kind == "fork"]
    (skip,) = [b for b in sp.blocks if b.kind == "fifo" and b.ins[0] in fork.outs
               and b.outs[0] in sp.block("add").ins]
    depth = int(skip.p["DEPTH"])
    assert depth > 1
    bad = _copy(out, str(tmp_path / "bad"))
    _edit(_top(bad), rf"(nnfab_fifo #\(\.DEPTH\(){depth}(\).*\) u_{skip.name} )",
          rf"\g<1>{depth - 1}\g<2>")
    _fails(bad, "rtl", capsys, words=r"cycle model|deadlock")


@pytest.mark.slow
def test_hls_weight(folded, tmp_path, capsys):
    """One weight of fc1 in the HLS weights.h: the C-simulation and its synthesis form."""
    out = _copy(folded, str(tmp_path / "p"))
    wh = os.path.join(out, "hls", "firmware", "weights.h")
    _edit(wh, r"(fc1_w(?:\[\d+\])+ = \{[\s{]*)(-?\d+)", lambda m: f"{m.group(1)}{int(m.group(2)) ^ 1}")
    _fails(out, "csim", capsys, values=True)
    _fails(out, "csim_synth", capsys, values=True)
    np.testing.assert_equal(_verify(folded, "csim_synth", capsys)[0], 0)
