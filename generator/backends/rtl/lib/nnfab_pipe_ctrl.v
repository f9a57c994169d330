// nnfab_pipe_ctrl: valid bits and the stall (clock enable) of an S-stage pipeline that
// takes one vector per cycle. The whole pipeline advances (ce = 1) unless its last
// stage holds a vector the consumer does not take. Latency S cycles, II 1.
`default_nettype none

module nnfab_pipe_ctrl #(
    parameter integer S = 1  // number of register stages (>= 1)
) (
    input  wire clk,
    input  wire rst,
    input  wire in_valid,
    output wire in_ready,
    output wire out_valid,
    input  wire out_ready,
    output wire ce        // clock enable of every datapath register of the pipeline
);
    initial if (S < 1) $error("%m: S=%0d must be >= 1", S);

    reg [S-1:0] v;
    assign out_valid = v[S-1];
    assign ce = out_ready | ~v[S-1];
    assign in_ready = ce;
    generate
        if (S == 1) begin : g_one
            always @(posedge clk) begin
                if (rst) v <= 1'b0;
                else if (ce) v <= in_valid;
            end
        end else begin : g_many
            always @(posedge clk) begin
                if (rst) v <= {S{1'b0}};
                else if (ce) v <= {v[S-2:0], in_valid};
            end
        end
    endgenerate
endmodule

`default_nettype wire
