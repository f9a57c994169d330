// nnfab_reg: one pipeline register of W bits with its valid bit (stall by
// nnfab_pipe_ctrl; in a valid-only pipeline out_ready is 1 and it loads every cycle):
// the register the delay model places after an element-wise op (a requantizer, a table)
// whose logic would not leave the next layer room in the clock period. Latency 1, II 1.
`default_nettype none

module nnfab_reg #(
    parameter integer W = 8  // bits (>= 1)
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] x,
    input  wire         in_valid,
    output wire         in_ready,
    output reg  [W-1:0] y,
    output wire         out_valid,
    input  wire         out_ready
);
    initial if (W < 1) $error("%m: W=%0d must be >= 1", W);
    wire ce;
    nnfab_pipe_ctrl #(.S(1)) u_ctrl (.clk(clk), .rst(rst), .in_valid(in_valid),
        .in_ready(in_ready), .out_valid(out_valid), .out_ready(out_ready), .ce(ce));
    always @(posedge clk) if (ce) y <= x;
endmodule

`default_nettype wire
