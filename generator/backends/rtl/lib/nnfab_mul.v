// nnfab_mul: a registered multiplier, p = a * b with two register stages on ce.
//
// The operands are registered (stage 1), then their exact product (stage 2): latency 2
// cycles, one product per cycle. a is AW bits (signed when AS), b is BW bits (signed
// when BS); p is the exact product in PW bits (sign-extended, or taken modulo 2^PW when
// PW is narrower than the exact width).
//
// Written behaviourally, Yosys synth_xilinx and Vivado absorb both stages into a DSP48
// (AREG/BREG, then MREG or PREG). With `NNFAB_ECP5 defined (the Lattice ECP5 flow passes
// it to Yosys synth_ecp5, which never absorbs fabric registers into a DSP) the product
// is an explicit MULT18X18D using its own input registers (REG_INPUTA/B) and output
// register (REG_OUTPUT), so no routed fabric path enters or leaves the multiplier
// combinationally. The ECP5 form needs both operands to fit 18 bits as the DSP reads
// them: both unsigned (up to 18 bits each), or else both signed, an unsigned operand
// zero-extended (up to 17 bits); and, as synth_ecp5 maps a product, 2 bits or more each
// as signed values. Other operand widths take the behavioural form (the estimate's
// generator.estimate.ecp5_mult_regs is the same rule).
`default_nettype none

module nnfab_mul #(
    parameter integer AW = 8,        // operand a width (>= 1)
    parameter integer AS = 1,        // operand a signed
    parameter integer BW = 8,        // operand b width (>= 1)
    parameter integer BS = 1,        // operand b signed
    parameter integer PW = AW + BW + 1  // product width (exact when >= AW + BW, + 1 if both unsigned)
) (
    input  wire          clk,
    input  wire          ce,
    input  wire [AW-1:0] a,
    input  wire [BW-1:0] b,
    output wire [PW-1:0] p
);
    initial begin
        if (AW < 1) $error("%m: AW=%0d must be >= 1", AW);
        if (BW < 1) $error("%m: BW=%0d must be >= 1", BW);
        if (PW < 1) $error("%m: PW=%0d must be >= 1", PW);
    end

    // both operands as signed values one bit wider: the exact product of any mix
    wire signed [AW:0] ax = AS ? {a[AW-1], a} : {1'b0, a};
    wire signed [BW:0] bx = BS ? {b[BW-1], b} : {1'b0, b};
    localparam integer XW = AW + BW + 2;  // the exact signed product of ax * bx

`ifdef NNFAB_ECP5
    // the DSP's signedness: both unsigned, or both signed (an unsigned one zero-extended)
    localparam integer SG = (AS || BS) ? 1 : 0;
    localparam integer AB = AW + (AS ? 0 : 1);  // bits as a signed operand
    localparam integer BB = BW + (BS ? 0 : 1);
    // a MULT18X18D where synth_ecp5 would map the behavioural product to one (operands
    // of 2 bits or more as signed values) and the operands fit its 18 bits
    localparam integer FITS = AB >= 2 && BB >= 2
                              && (SG ? (AB <= 18 && BB <= 18) : (AW <= 18 && BW <= 18));
`else
    localparam integer FITS = 0;
`endif

    generate
        if (FITS) begin : g_ecp5
`ifdef NNFAB_ECP5
            // operands sign- or zero-extended to the DSP's 18 bits
            wire [18:0] a19 = {{(19 - AW){AS ? a[AW-1] : 1'b0}}, a};
            wire [18:0] b19 = {{(19 - BW){BS ? b[BW-1] : 1'b0}}, b};
            wire [17:0] a18 = a19[17:0];
            wire [17:0] b18 = b19[17:0];
            wire [35:0] p36;
            wire sg = SG;
            wire lo = 1'b0;
            MULT18X18D #(
                .REG_INPUTA_CLK("CLK0"), .REG_INPUTA_CE("CE0"), .REG_INPUTA_RST("RST0"),
                .REG_INPUTB_CLK("CLK0"), .REG_INPUTB_CE("CE0"), .REG_INPUTB_RST("RST0"),
                .REG_PIPELINE_CLK("NONE"),
                .REG_OUTPUT_CLK("CLK0"), .REG_OUTPUT_CE("CE0"), .REG_OUTPUT_RST("RST0"),
                .RESETMODE("SYNC")
            ) u_dsp (
            .A0(a18[0]), .A1(a18[1]), .A2(a18[2]), .A3(a18[3]), .A4(a18[4]), .A5(a18[5]),
            .A6(a18[6]), .A7(a18[7]), .A8(a18[8]), .A9(a18[9]), .A10(a18[10]), .A11(a18[11]),
            .A12(a18[12]), .A13(a18[13]), .A14(a18[14]), .A15(a18[15]), .A16(a18[16]), .A17(a18[17]),
            .B0(b18[0]), .B1(b18[1]), .B2(b18[2]), .B3(b18[3]), .B4(b18[4]), .B5(b18[5]),
            .B6(b18[6]), .B7(b18[7]), .B8(b18[8]), .B9(b18[9]), .B10(b18[10]), .B11(b18[11]),
            .B12(b18[12]), .B13(b18[13]), .B14(b18[14]), .B15(b18[15]), .B16(b18[16]), .B17(b18[17]),
            .P0(p36[0]), .P1(p36[1]), .P2(p36[2]), .P3(p36[3]), .P4(p36[4]), .P5(p36[5]),
            .P6(p36[6]), .P7(p36[7]), .P8(p36[8]), .P9(p36[9]), .P10(p36[10]), .P11(p36[11]),
            .P12(p36[12]), .P13(p36[13]), .P14(p36[14]), .P15(p36[15]), .P16(p36[16]), .P17(p36[17]),
            .P18(p36[18]), .P19(p36[19]), .P20(p36[20]), .P21(p36[21]), .P22(p36[22]), .P23(p36[23]),
            .P24(p36[24]), .P25(p36[25]), .P26(p36[26]), .P27(p36[27]), .P28(p36[28]), .P29(p36[29]),
            .P30(p36[30]), .P31(p36[31]), .P32(p36[32]), .P33(p36[33]), .P34(p36[34]), .P35(p36[35]),
            .C0(lo), .C1(lo), .C2(lo), .C3(lo), .C4(lo), .C5(lo), .C6(lo), .C7(lo), .C8(lo),
            .C9(lo), .C10(lo), .C11(lo), .C12(lo), .C13(lo), .C14(lo), .C15(lo), .C16(lo),
            .C17(lo),
            .SIGNEDA(sg), .SIGNEDB(sg), .SOURCEA(lo), .SOURCEB(lo),
            .CLK0(clk), .CE0(ce), .RST0(lo)  // CLK1-3, CE1-3, RST1-3 unused
            );
            // the DSP's 36-bit product, sign-extended (signed) or zero-extended
            wire signed [36:0] pe = {SG ? p36[35] : 1'b0, p36};
            wire signed [XW-1:0] px = pe;  // exact: the product fits both widths
            assign p = px;  // sign-extend or wrap to PW
`endif
        end else begin : g_fabric
            reg signed [AW:0] ar;
            reg signed [BW:0] br;
            reg signed [XW-1:0] pr;
            always @(posedge clk) if (ce) begin
                ar <= ax;
                br <= bx;
                pr <= ar * br;
            end
            assign p = pr;  // sign-extend or wrap to PW
        end
    endgenerate
endmodule

`default_nettype wire
