"""Recurrent layers (QKeras QSimpleRNN, QLSTM, QGRU), unrolled over their steps.

* each variant below (LSTM without a state quantizer, GRU with and without
  ``reset_after``, SimpleRNN with a tanh quantizer and no bias, ``go_backwards``,
  ``[Q]Bidirectional`` with each merge mode, the last state or the whole sequence out) converts to a reference equal to QKeras's ``predict`` bit for bit
  on 500 seeded inputs; the zoo's ``rnn_gru_lstm`` and ``rnn_simple`` go through every
  CNN-zoo view (C-sim in io_parallel and io_stream, the FIFO depths, streamed RTL);
* the reuse factor folds the gates: ``rnn_gru_lstm`` with reuse 3 on both recurrent
  layers (io_parallel): C-sim and RTL bit-exact, RTL cycle-exact against the cycle
  model, II 3, and fewer multipliers than fully parallel by the estimate;
* a float Keras SimpleRNN / LSTM / GRU takes the configured types (tables for sigmoid
  and tanh): its deviation from Keras is measured and small, its C-sim equals its
  reference;
* what nnfab cannot build, or QKeras does not compute on a grid, is refused in one line
  naming the layer.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from generator import config, estimate, reference
from generator.backends import hls, rtl
from generator.backends.hls import csim
from generator.backends.rtl import sim
from generator.frontends.keras import FrontendError, from_model
from generator.passes import run_pipeline

pytestmark = pytest.mark.slow


def _model(kind: str, steps: int = 4, features: int = 3, units: int = 4,
           seq: bool = False, **kw: Any) -> Any:
    import zoo

    keras, q = zoo._layers()
    layer = {"rnn": q.QSimpleRNN, "lstm": q.QLSTM, "gru": q.QGRU}[kind]
    args = {"kernel_quantizer": q.quantized_bits(6, 0, alpha=1),
            "recurrent_quantizer": q.quantized_bits(6, 0, alpha=1),
            "bias_quantizer": q.quantized_bits(6, 1, alpha=1),
            "activation": q.quantized_tanh(6)}
    if kind != "rnn":
        args["recurrent_activation"] = q.quantized_sigmoid(5)
    args.update(kw)
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(steps, features)),
        q.QActivation(q.quantized_bits(6, 1, alpha=1), name="q_in"),
        layer(units, name="rec", return_sequences=seq, **args),
        keras.layers.Flatten(name="flat"),
        q.QDense(3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name=f"v_{kind}")


def _bidirectional(kind: str, mode: str, seq: bool, qkeras_wrapper: bool) -> Any:
    """``[Q]Bidirectional(kind, merge_mode=mode)`` over 4 steps of 3 features."""
    import zoo

    keras, q = zoo._layers()
    layer = {"rnn": q.QSimpleRNN, "lstm": q.QLSTM, "gru": q.QGRU}[kind]
    args = {"kernel_quantizer": q.quantized_bits(6, 0, alpha=1),
            "recurrent_quantizer": q.quantized_bits(6, 0, alpha=1),
            "bias_quantizer": q.quantized_bits(6, 1, alpha=1),
            "state_quantizer": q.quantized_bits(8, 1, alpha=1),
            "activation": q.quantized_tanh(6)}
    if kind != "rnn":
        args["recurrent_activation"] = q.quantized_sigmoid(5)
    wrapper = q.QBidirectional if qkeras_wrapper else keras.layers.Bidirectional
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(4, 3)),
        q.QActivation(q.quantized_bits(6, 1, alpha=1), name="q_in"),
        wrapper(layer(4, return_sequences=seq, **args), merge_mode=mode, name="rec"),
        keras.layers.Flatten(name="flat"),
        q.QDense(3, kernel_quantizer=q.quantized_bits(6, 0, alpha=1),
                 bias_quantizer=q.quantized_bits(6, 1, alpha=1), name="out"),
    ], name=f"bi_{kind}")


def _entry(build: Any, seed: int) -> Any:
    import zoo

    return zoo.ZooEntry("variant", build, 6, 1, seed=seed)


VARIANTS = {
    # the cell state unquantized over 3 steps (its sums stay within float32's mantissa)
    "lstm_no_state_quantizer": lambda: _model("lstm", steps=3),
    "lstm_relu_sequence": lambda: _model(
        "lstm", seq=True, activation=_q().quantized_relu(6, 2),
        state_quantizer=_q().quantized_bits(8, 2, alpha=1)),
    "gru_reset_before": lambda: _model("gru", reset_after=False,
                                       state_quantizer=_q().quantized_bits(8, 1, alpha=1)),
    "gru_reset_after_sequence": lambda: _model(
        "gru", seq=True, reset_after=True, state_quantizer=_q().quantized_bits(8, 1, alpha=1)),
    "simple_tanh_no_bias": lambda: _model("rnn", steps=5, use_bias=False,
                                          state_quantizer=_q().quantized_bits(7, 1, alpha=1)),
    # go_backwards: the input's last step first, the sequence in that order
    "simple_backwards_sequence": lambda: _model(
        "rnn", seq=True, go_backwards=True, state_quantizer=_q().quantized_bits(8, 1, alpha=1)),
    "lstm_backwards": lambda: _model("lstm", go_backwards=True,
                                     state_quantizer=_q().quantized_bits(8, 1, alpha=1)),
    # Bidirectional: the backward sequence realigned to the input's steps, then merged
    "bidirectional_lstm_concat_sequence": lambda: _bidirectional("lstm", "concat", True, True),
    "bidirectional_gru_ave": lambda: _bidirectional("gru", "ave", False, False),
    "bidirectional_simple_mul_sequence": lambda: _bidirectional("rnn", "mul", True, False),
}


def _q() -> Any:
    import zoo

    return zoo._layers()[1]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_recurrent_reference_equals_qkeras(name: str) -> None:
    import zoo

    from generator.verify import source_predict

    e = _entry(VARIANTS[name], seed=30 + list(VARIANTS).index(name))
    m = zoo.build(e)
    x = zoo.inputs(e, tuple(int(d) for d in m.input_shape[1:]), 500)
    y = source_predict(m, x)
    assert len(np.unique(y)) > 100  # the outputs move with the inputs
    g = from_model(m, config.load(None))
    run_pipeline(g)
    from conftest import assert_outputs_vary

    assert_outputs_vary(y, g.outputs[0].ftype)
    assert g.meta["fully_quantized"], g.meta["notes"]
    np.testing.assert_array_equal(reference.predict(g, x), y)


def test_folded_gates_csim_and_rtl_bit_exact(zoo_dir: str, tmp_path: Any) -> None:
    from conftest import zoo_model

    from generator.ir import Dense

    zm = zoo_model("rnn_gru_lstm", zoo_dir)
    folded = {k: {"strategy": "resource", "reuse": 3} for k in ("gru", "lstm")}
    g = from_model(zm.model, config.from_dict({"layers": folded}))
    run_pipeline(g)
    gates = [n for n in g.of(Dense) if n["source"] in folded]
    assert gates and all(n["strategy"] == "resource" and n["reuse"] == 3 for n in gates)
    out = str(tmp_path / "out")
    os.makedirs(out)
    hls.write(g, out, None)
    x = zm.x[:200]
    want = reference.predict(g, x)
    from conftest import assert_outputs_vary

    assert_outputs_vary(want, g.outputs[0].ftype)
    np.testing.assert_array_equal(csim.run(g, out, x), want)
    rtl.write(g, out, None)
    y, stats = sim.run(g, out, x, seed=5)
    np.testing.assert_array_equal(y, want)
    assert stats["findings"] == [], stats["findings"]
    assert stats["mismatched_rows"] == 0 and stats["timing_mismatches"] == 0
    est = estimate.estimate(g)
    tot = est["total"]
    assert (stats["latency_cycles"], stats["ii_cycles"]) == (tot["latency_cycles"],
                                                              tot["ii_cycles"])
    assert stats["ii_cycles"] == 3

    def mults(e: Any) -> int:
        return sum(r.get("multipliers", 0) for r in e["layers"] if r["name"].startswith(
            ("gru_", "lstm_")))

    nnz = sum(int(n["nnz"]) for n in gates)  # fully parallel: a multiplier per nonzero
    print(f"rnn_gru_lstm: latency {stats['latency_cycles']}, II 3; gate multipliers "
          f"{mults(est)} vs {nnz} fully parallel; LUT {tot['lut']}")
    assert 0 < mults(est) <= nnz / 2


def _refused(build: Any, match: str) -> None:
    import zoo

    m = zoo.build(_entry(build, seed=40))
    with pytest.raises(FrontendError, match=match) as e:
        from_model(m, config.load(None))
    assert "\n" not in str(e.value) and str(e.value).startswith("layer rec")


def _float_model(kind: str, **kw: Any) -> Any:
    import zoo

    keras, _ = zoo._layers()
    layer = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
             "gru": keras.layers.GRU}[kind]
    return keras.Sequential([keras.layers.InputLayer(input_shape=(6, 3)),
                             layer(8, return_sequences=True, name="rec", **kw),
                             keras.layers.Flatten(name="flat"),
                             keras.layers.Dense(3, name="out")], name=f"f_{kind}")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_float_recurrent_layers_take_the_configured_types(kind: str, tmp_path: Any) -> None:
    """A float Keras SimpleRNN / LSTM / GRU (tanh and sigmoid tables, every gate's sum and
    state cast to ap_fixed<16,6>): not bit-exact by construction; its deviation from Keras
    is measured, and is at most 2 % of the output range on the seeded inputs. The float
    LSTM's C-simulation equals its reference."""
    import zoo

    from generator.ir import Quantize, Table
    from generator.verify import source_predict

    e = zoo.ZooEntry(f"f_{kind}", lambda: _float_model(kind), 8, 2, seed=21,
                     fully_quantized=False)
    m = zoo.build(e)
    x = zoo.inputs(e, (6, 3), 500)
    g = from_model(m, config.load(None))
    run_pipeline(g)
    assert not g.meta["fully_quantized"]
    assert g.of(Table) and any(n.output.ftype.width == 16 for n in g.of(Quantize))
    y, want = reference.predict(g, x), source_predict(m, x)
    dev = float(np.abs(y - want).max())
    print(f"float {kind}: max |reference - Keras| {dev:.4f}, output range {np.abs(want).max():.2f}")
    assert dev <= 0.02 * np.abs(want).max()
    if kind == "lstm":
        out = str(tmp_path / "out")
        os.makedirs(out)
        hls.write(g, out, None)
        np.testing.assert_array_equal(csim.run(g, out, x[:200]), y[:200])


def test_hard_sigmoid_refused() -> None:
    # Keras's hard_sigmoid has no table here; the float GRU names it
    _refused(lambda: _float_model("gru", recurrent_activation="hard_sigmoid"),
             "activation 'hard_sigmoid' is not supported; supported: linear, relu, sigmoid")


def test_float_activation_in_a_quantized_cell_refused() -> None:
    # QLSTM's default recurrent_activation is Keras's hard_sigmoid: not on a grid
    _refused(lambda: _model("lstm", recurrent_activation="hard_sigmoid"),
             "recurrent_activation 'hard_sigmoid' is not supported")


def test_unquantized_recurrent_kernel_refused() -> None:
    _refused(lambda: _model("rnn", recurrent_quantizer=None),
             "needs kernel_quantizer, recurrent_quantizer")


def test_state_quantizer_of_zero_must_be_zero() -> None:
    # binary() maps the zero initial state to 1: the unrolled first step would be wrong
    _refused(lambda: _model("rnn", state_quantizer=_q().binary(alpha=1)),
             "maps the zero initial state to 1")


def test_growing_cell_state_refused_in_one_line() -> None:
    # without a state quantizer the LSTM's cell state gains fraction bits every step
    import zoo

    m = zoo.build(_entry(lambda: _model("lstm", steps=8), seed=41))
    with pytest.raises(FrontendError) as e:
        from_model(m, config.load(None))
    msg = str(e.value)
    print(msg)
    assert "\n" not in msg and msg.startswith("layer rec") and "state_quantizer" in msg
