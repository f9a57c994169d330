// nnfab_round_inc: whether a rounding mode adds one LSB to the floor of an exact value,
// from what is known of the dropped remainder. Shared by nnfab_requant (a right shift)
// and nnfab_div_round (a division). Combinational.
`default_nettype none

module nnfab_round_inc #(
    // 0 TRN, 1 TRN_ZERO, 2 RND, 3 RND_ZERO, 4 RND_MIN_INF, 5 RND_INF, 6 RND_CONV
    parameter integer ROUND = 0
) (
    input  wire neg,      // the exact value is negative
    input  wire inexact,  // the remainder is not zero
    input  wire up,       // the remainder is above one half LSB
    input  wire tie,      // the remainder is exactly one half LSB
    input  wire lsb,      // the floor's least significant bit (round to even)
    output reg  inc
);
    always @* begin
        case (ROUND)
            0: inc = 1'b0;
            1: inc = neg & inexact;
            2: inc = up | tie;
            3: inc = up | (tie & neg);
            4: inc = up;
            5: inc = up | (tie & ~neg);
            default: inc = up | (tie & lsb);
        endcase
    end
endmodule

`default_nettype wire
