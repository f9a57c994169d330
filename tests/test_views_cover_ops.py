"""Every IR op is lowered by each view or refused by it in one line naming the op.

The views: the reference model (:func:`generator.reference.kernel`), the HLS layer
functions (:func:`generator.backends.hls.firmware.layer_data`), the RTL chain stages
(:data:`generator.backends.rtl.plan.STAGES`) and the RTL blocks
(:data:`generator.backends.rtl.stream.BLOCKS`). An op added to the IR fails here until
each view lowers it or lists it as refused.
"""

from __future__ import annotations

import importlib

import pytest

from generator import ir, reference
from generator.backends.hls import firmware
from generator.backends.rtl import stream

# the module (the package exports its function plan under the same name)
plan = importlib.import_module("generator.backends.rtl.plan")

OPS = ir.op_classes()

#: view -> (op classes it lowers, op classes it refuses with a reason, refusal message)
VIEWS = {
    "reference": (set(reference.kernel.registry), {}, None),
    "hls": ({*firmware.lowered(), *firmware.PLANNED}, {}, firmware.unsupported),
    "rtl-chain": (set(plan.STAGES), plan.REFUSED, plan.unsupported),
    "rtl-blocks": (set(stream.BLOCKS), stream.REFUSED, stream.unsupported),
}


def test_op_classes_are_the_registry():
    assert len(OPS) == len(set(OPS)) > 20
    assert all(ir.op_class(c.OP) is c for c in OPS)


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("cls", OPS, ids=lambda c: c.OP)
def test_view_lowers_or_refuses(view, cls):
    lowered, refused, message = VIEWS[view]
    assert (cls in lowered) != (cls in refused), (
        f"{view}: op {cls.OP} must be either lowered or refused (with a reason)")
    if cls in refused:
        assert refused[cls] and "\n" not in refused[cls]
        text = message("layer_x", cls.OP)
        assert "\n" not in text
        assert text.startswith("layer layer_x: ") and f"op {cls.OP}" in text


@pytest.mark.parametrize("view", ["hls", "rtl-chain", "rtl-blocks"])
def test_refusal_lists_the_lowered_ops(view):
    lowered, _, message = VIEWS[view]
    supported = message("n", "Foo").split("supported: ", 1)[1]
    names = {ir.Reshape.OP if s == "Flatten" else s
             for s in supported.removesuffix(" (use the HLS view)").split(", ")}
    assert names == {c.OP for c in lowered} - {ir.Input.OP}


def test_traits():
    assert ir.ops_with("ELEMENTWISE") == (ir.Quantize, ir.Relu, ir.LeakyRelu, ir.Clip, ir.Binarize,
                                          ir.Ternarize, ir.Threshold, ir.ScaleShift, ir.Table)
    assert set(ir.ops_with("SPATIAL")) == {ir.Conv, *ir.ops_with("CHANNELWISE")}
    assert not set(ir.ops_with("ELEMENTWISE")) & set(ir.ops_with("SPATIAL"))
    with pytest.raises(ir.IRError, match=r"^unknown op trait 'FOO'"):
        ir.ops_with("FOO")
