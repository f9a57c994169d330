// nnfab_div_round: cast the exact rational (num * 2^-SRC_FRAC) / DEN into an output
// fixed-point type, as nnfab's reference div_cast does: D = OUT_FRAC - SRC_FRAC; the
// numerator is shifted left by D (D >= 0) or the denominator by -D (D < 0); floor
// division, then the rounding mode from the remainder (compared with DEN/2), then the
// overflow mode (nnfab_requant). Combinational; the divisor is a constant.
`default_nettype none

module nnfab_div_round #(
    parameter integer IN_W  = 16,  // numerator width
    parameter integer IN_S  = 1,   // numerator signed
    parameter integer DEN   = 1,   // divisor (>= 1)
    parameter integer D     = 0,   // OUT_FRAC - SRC_FRAC
    parameter integer OUT_W = 8,
    parameter integer OUT_S = 1,
    parameter integer ROUND = 0,   // nnfab_requant rounding code
    parameter integer OVF   = 0    // nnfab_requant overflow code
) (
    input  wire [IN_W-1:0]  num,
    output wire [OUT_W-1:0] q
);
    localparam integer LS = (D > 0) ? D : 0;
    localparam integer RS = (D < 0) ? -D : 0;
    localparam integer VW = IN_W + LS + RS + $clog2(DEN + 1) + 3;
    localparam signed [VW-1:0] DV = DEN;
    localparam signed [VW-1:0] DN = DV <<< RS;
    initial if (DEN < 1) $error("%m: DEN=%0d must be >= 1", DEN);
    initial if (VW > 62) $error("%m: working width %0d too large", VW);

    wire signed [VW-1:0] a0 = IN_S ? {{(VW - IN_W){num[IN_W-1]}}, num}
                                   : {{(VW - IN_W){1'b0}}, num};
    wire signed [VW-1:0] a = a0 <<< LS;
    wire signed [VW-1:0] qt = a / DN;  // toward zero
    wire signed [VW-1:0] rt = a % DN;  // sign of a
    wire signed [VW-1:0] fl = (rt < 0) ? qt - 1 : qt;
    wire signed [VW-1:0] rem = (rt < 0) ? rt + DN : rt;
    wire signed [VW-1:0] twice = (rem <<< 1) - DN;
    wire neg = a < 0;
    wire inexact = rem != 0;
    wire up = twice > 0;
    wire tie = twice == 0;
    wire inc;
    nnfab_round_inc #(.ROUND(ROUND)) u_inc (.neg(neg), .inexact(inexact), .up(up), .tie(tie),
                                            .lsb(fl[0]), .inc(inc));
    wire signed [VW-1:0] rq = fl + {{(VW - 1){1'b0}}, inc};
    nnfab_requant #(.IN_W(VW), .IN_S(1), .OUT_W(OUT_W), .OUT_S(OUT_S), .SHIFT(0),
                    .ROUND(0), .OVF(OVF)) u_ovf (.din(rq), .dout(q));
endmodule

`default_nettype wire
