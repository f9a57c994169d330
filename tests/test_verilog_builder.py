"""Golden text of small modules built with the Verilog builder, and its name allocator."""

import re

import pytest

from generator.backends.rtl.verilog import Module, Names, Port, sanitize


def test_module_with_instance_assign_and_always() -> None:
    m = Module("add1", [Port("input", "clk"), Port("input", "x", 8, comment="operand"),
                        Port("output", "y", 8)])
    m.default_nettype_none()
    m.note("adds one")
    with m.section("the sum"):
        s = m.wire("s", 8, init="x + 8'd1")
    r = m.reg("r", 8, signed=True)
    m.always("@(posedge clk)", [f"{r} <= {s};"])
    m.instance("nnfab_reg", "u_q", {"W": 8, "F": '"a.mem"'}, {"x": r, "y": "y"})
    m.assign("y", r, comment="registered")
    assert m.render() == """\
`default_nettype none
// adds one
module add1 (
    input  wire clk,
    input  wire [7:0] x,  // operand
    output wire [7:0] y
);
    // the sum
    wire [7:0] s = x + 8'd1;
    reg signed [7:0] r;
    always @(posedge clk) begin
        r <= s;
    end
    nnfab_reg #(.W(8), .F("a.mem")) u_q (.x(r), .y(y));
    assign y = r;  // registered
endmodule
`default_nettype wire
"""


def test_parameters_and_multi_wire_declaration() -> None:
    m = Module("top", [Port("output", "v")], params=[("N", "4", "count"), ("M", '""', "")])
    m.wires(["a_v", "a_r"])
    m.instance("leaf", "u_leaf", ports={"v": "a_v"})
    assert m.render() == """\
module top #(
    parameter N = 4,  // count
    parameter M = ""
) (
    output wire v
);
    wire a_v, a_r;
    leaf u_leaf (.v(a_v));
endmodule
"""


def test_names_that_sanitize_alike_get_a_suffix() -> None:
    m = Module("t")
    assert m.stem("a.b") == "a_b"
    assert m.stem("a_b") == "a_b_1"
    assert m.stem("a.b") == "a_b"  # the same source, the same identifier


def test_exact_names_that_clash_are_an_error() -> None:
    m = Module("t")
    m.wire("a.b", 4)
    with pytest.raises(AssertionError, match=re.escape("'a_b' of 'a_b' is taken already "
                                                       "by 'a.b'")):
        m.wire("a_b", 4)
    m.instance("leaf", "u_a_b")
    with pytest.raises(AssertionError, match="'u_a_b' of 'u_a.b' is taken already"):
        m.instance("leaf", "u_a.b")


def test_keywords_and_digits_are_avoided() -> None:
    assert sanitize("wire") == "n_wire"
    assert sanitize("XOR") == "n_XOR"
    assert sanitize("3x") == "n_3x"
    names = Names()
    assert names.take("reg") == "n_reg"
    m = Module("t")
    assert m.wire("output", 2) == "n_output"
    assert "    wire [1:0] n_output;" in m.render()
