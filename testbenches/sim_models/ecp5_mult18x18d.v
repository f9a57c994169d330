// A behavioural model of the Lattice ECP5 MULT18X18D, for simulation only (Verilator
// runs nnfab_mul's `NNFAB_ECP5 form with it; synthesis uses the real primitive).
//
// Written from the documented behaviour (Lattice TN1267, ECP5 sysDSP Usage Guide; the
// port and parameter names of Yosys' techlibs/ecp5/cells_bb.v): P = A * B, each 18-bit
// operand read as two's complement when its SIGNEDx is 1, else unsigned, the product in
// 36 bits. Three optional register stages, each clocked by CLK0 when its REG_*_CLK is
// "CLK0" and transparent when "NONE": the input registers (an operand with its SIGNEDx),
// the pipeline register after the multiplier, the output register. The registers use
// CE0 and a synchronous RST0 (RESETMODE "SYNC"). Only what nnfab_mul uses is modelled:
// REG_*_CE "CE0", REG_*_RST "RST0", no C input, no cascade (SOURCEx 0, SRI*/SRO*/RO*
// absent), so other settings stop the simulation with an error.
`default_nettype none

module MULT18X18D #(
    parameter REG_INPUTA_CLK = "NONE",
    parameter REG_INPUTA_CE = "CE0",
    parameter REG_INPUTA_RST = "RST0",
    parameter REG_INPUTB_CLK = "NONE",
    parameter REG_INPUTB_CE = "CE0",
    parameter REG_INPUTB_RST = "RST0",
    parameter REG_INPUTC_CLK = "NONE",
    parameter REG_INPUTC_CE = "CE0",
    parameter REG_INPUTC_RST = "RST0",
    parameter REG_PIPELINE_CLK = "NONE",
    parameter REG_PIPELINE_CE = "CE0",
    parameter REG_PIPELINE_RST = "RST0",
    parameter REG_OUTPUT_CLK = "NONE",
    parameter REG_OUTPUT_CE = "CE0",
    parameter REG_OUTPUT_RST = "RST0",
    parameter CLK0_DIV = "ENABLED",
    parameter CLK1_DIV = "ENABLED",
    parameter CLK2_DIV = "ENABLED",
    parameter CLK3_DIV = "ENABLED",
    parameter HIGHSPEED_CLK = "NONE",
    parameter GSR = "ENABLED",
    parameter CAS_MATCH_REG = "FALSE",
    parameter SOURCEB_MODE = "B_SHIFT",
    parameter MULT_BYPASS = "DISABLED",
    parameter RESETMODE = "SYNC"
) (
    input  wire A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17,
                B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15, B16, B17,
                C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17,
                SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CLK1, CLK2, CLK3, CE0, CE1, CE2, CE3,
                RST0, RST1, RST2, RST3,
    output wire P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17,
                P18, P19, P20, P21, P22, P23, P24, P25, P26, P27, P28, P29, P30, P31, P32, P33,
                P34, P35
);
    // the options this model implements
    initial begin
        if (REG_INPUTA_CLK != "NONE" && REG_INPUTA_CLK != "CLK0")
            $error("%m: REG_INPUTA_CLK %s not modelled", REG_INPUTA_CLK);
        if (REG_INPUTB_CLK != "NONE" && REG_INPUTB_CLK != "CLK0")
            $error("%m: REG_INPUTB_CLK %s not modelled", REG_INPUTB_CLK);
        if (REG_PIPELINE_CLK != "NONE" && REG_PIPELINE_CLK != "CLK0")
            $error("%m: REG_PIPELINE_CLK %s not modelled", REG_PIPELINE_CLK);
        if (REG_OUTPUT_CLK != "NONE" && REG_OUTPUT_CLK != "CLK0")
            $error("%m: REG_OUTPUT_CLK %s not modelled", REG_OUTPUT_CLK);
        if (REG_INPUTA_CE != "CE0" || REG_INPUTB_CE != "CE0" || REG_PIPELINE_CE != "CE0"
            || REG_OUTPUT_CE != "CE0")
            $error("%m: only clock enable CE0 is modelled");
        if (REG_INPUTA_RST != "RST0" || REG_INPUTB_RST != "RST0"
            || REG_PIPELINE_RST != "RST0" || REG_OUTPUT_RST != "RST0")
            $error("%m: only reset RST0 is modelled");
        if (RESETMODE != "SYNC") $error("%m: RESETMODE %s not modelled", RESETMODE);
        if (MULT_BYPASS != "DISABLED") $error("%m: MULT_BYPASS %s not modelled", MULT_BYPASS);
    end

    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};

    // input registers: an operand and its signedness
    reg [17:0] ar, br;
    reg asr, bsr;
    always @(posedge CLK0) begin
        if (RST0) begin
            ar <= 18'd0; asr <= 1'b0;
            br <= 18'd0; bsr <= 1'b0;
        end else if (CE0) begin
            ar <= a; asr <= SIGNEDA;
            br <= b; bsr <= SIGNEDB;
        end
    end
    wire [17:0] ai = (REG_INPUTA_CLK == "NONE") ? a : ar;
    wire [17:0] bi = (REG_INPUTB_CLK == "NONE") ? b : br;
    wire as_ = (REG_INPUTA_CLK == "NONE") ? SIGNEDA : asr;
    wire bs_ = (REG_INPUTB_CLK == "NONE") ? SIGNEDB : bsr;

    // the multiplier: 19-bit signed views of the operands, the product's low 36 bits
    wire signed [18:0] av = {as_ & ai[17], ai};
    wire signed [18:0] bv = {bs_ & bi[17], bi};
    wire signed [37:0] m = av * bv;

    // pipeline, then output register
    reg [35:0] mr, pr;
    always @(posedge CLK0) begin
        if (RST0) begin
            mr <= 36'd0;
            pr <= 36'd0;
        end else if (CE0) begin
            mr <= m[35:0];
            pr <= (REG_PIPELINE_CLK == "NONE") ? m[35:0] : mr;
        end
    end
    wire [35:0] mi = (REG_PIPELINE_CLK == "NONE") ? m[35:0] : mr;
    wire [35:0] p = (REG_OUTPUT_CLK == "NONE") ? mi : pr;
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p;
endmodule

`default_nettype wire
