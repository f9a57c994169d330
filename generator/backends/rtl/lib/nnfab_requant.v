// nnfab_requant: cast one fixed-point value into another fixed-point type, exactly as
// ap_fixed's conversion (and nnfab's FixedType.cast) does it.
//
// The input raw integer `din` (IN_W bits, two's complement when IN_S) means
// din * 2^-IN_FRAC; the output raw integer means dout * 2^-OUT_FRAC. SHIFT is
// IN_FRAC - OUT_FRAC: bits dropped on the right (rounded by ROUND) when positive, bits
// appended on the right when negative. The exact result is then fitted into OUT_W bits
// by the overflow mode OVF. Purely combinational.
`default_nettype none

module nnfab_requant #(
    parameter integer IN_W  = 16,  // input width in bits (1..62)
    parameter integer IN_S  = 1,   // 1: input is signed (two's complement), 0: unsigned
    parameter integer OUT_W = 8,   // output width in bits (1..62)
    parameter integer OUT_S = 1,   // 1: output is signed, 0: unsigned
    parameter integer SHIFT = 0,   // IN_FRAC - OUT_FRAC (any sign)
    // rounding: 0 TRN, 1 TRN_ZERO, 2 RND, 3 RND_ZERO, 4 RND_MIN_INF, 5 RND_INF, 6 RND_CONV
    parameter integer ROUND = 0,
    // overflow: 0 WRAP, 1 SAT, 2 SAT_ZERO, 3 SAT_SYM
    parameter integer OVF   = 0
) (
    input  wire [IN_W-1:0]  din,
    output wire [OUT_W-1:0] dout
);
    localparam integer RSH = (SHIFT > 0) ? SHIFT : 0;   // bits rounded away
    localparam integer LSH = (SHIFT < 0) ? -SHIFT : 0;  // bits appended
    // working width: holds the input, the rounding carry, the left shift and the
    // output range (plus a sign bit) without loss
    localparam integer VW = ((IN_W + LSH > OUT_W) ? IN_W + LSH : OUT_W) + RSH + 3;

    initial begin
        if (IN_W < 1 || IN_W > 62) $error("%m: IN_W=%0d not in 1..62", IN_W);
        if (OUT_W < 1 || OUT_W > 62) $error("%m: OUT_W=%0d not in 1..62", OUT_W);
        if (ROUND < 0 || ROUND > 6) $error("%m: ROUND=%0d not in 0..6", ROUND);
        if (OVF < 0 || OVF > 3) $error("%m: OVF=%0d not in 0..3", OVF);
        if (IN_S != 0 && IN_S != 1) $error("%m: IN_S must be 0 or 1");
        if (OUT_S != 0 && OUT_S != 1) $error("%m: OUT_S must be 0 or 1");
    end

    // input, sign- or zero-extended to VW bits
    wire signed [VW-1:0] a = IN_S ? {{(VW - IN_W){din[IN_W-1]}}, din}
                                  : {{(VW - IN_W){1'b0}}, din};
    wire neg = IN_S ? din[IN_W-1] : 1'b0;

    // ---- rounding (only when SHIFT > 0) -------------------------------------------
    wire signed [VW-1:0] q;
    generate
        if (RSH > 0) begin : g_round
            wire signed [VW-1:0] fl = a >>> RSH;           // floor
            wire [RSH-1:0] rem = a[RSH-1:0];
            wire half = rem[RSH-1];                        // remainder >= 1/2
            wire rest;                                      // remainder bits below 1/2
            if (RSH > 1) begin : g_rest
                assign rest = |rem[RSH-2:0];
            end else begin : g_norest
                assign rest = 1'b0;
            end
            wire inexact = |rem;
            wire up  = half & rest;                        // remainder > 1/2
            wire tie = half & ~rest;                       // remainder == 1/2
            wire inc;
            nnfab_round_inc #(.ROUND(ROUND)) u_inc (.neg(neg), .inexact(inexact), .up(up),
                                                    .tie(tie), .lsb(fl[0]), .inc(inc));
            assign q = fl + {{(VW - 1){1'b0}}, inc};
        end else begin : g_noround
            assign q = a <<< LSH;
        end
    endgenerate

    // ---- overflow --------------------------------------------------------------------
    localparam [VW-1:0] ONE = {{(VW - 1){1'b0}}, 1'b1};
    localparam [VW-1:0] HI = OUT_S ? (ONE << (OUT_W - 1)) - ONE : (ONE << OUT_W) - ONE;
    localparam [VW-1:0] LO = OUT_S ? ~((ONE << (OUT_W - 1)) - ONE) : {VW{1'b0}};
    wire over  = q > $signed(HI);
    wire under = q < $signed(LO);
    // SAT_SYM on a signed type with more than one bit: the range is [-HI, HI] and the
    // in-range minimum LO also maps to -HI (as ap_fixed does)
    localparam SYM = (OVF == 3) && (OUT_S == 1) && (OUT_W > 1);
    wire [VW-1:0] neg_hi = ~HI + ONE;
    reg  [VW-1:0] v;
    always @* begin
        if (OVF == 0) v = q;
        else if (over) v = (OVF == 2) ? {VW{1'b0}} : HI;
        else if (under) v = (OVF == 2) ? {VW{1'b0}} : (SYM ? neg_hi : LO);
        else if (SYM && q == $signed(LO)) v = neg_hi;
        else v = q;
    end
    assign dout = v[OUT_W-1:0];
endmodule

`default_nettype wire
