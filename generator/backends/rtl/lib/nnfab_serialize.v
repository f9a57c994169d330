// nnfab_serialize: turns one vector (FB bits) into N beats, one per cycle. The vector is
// held in a register (xq) while its beats leave; k is the index of the current beat, from
// which the instantiating module selects the beat's bits out of xq (latency 1). The next
// vector is accepted in the cycle the last beat leaves, so a stream of vectors runs at
// II N. valid depends only on registers.
`default_nettype none

module nnfab_serialize #(
    parameter integer N  = 2,  // beats per vector
    parameter integer FB = 8,  // bits per vector
    parameter integer KA = 1   // width of k: max(1, clog2(N))
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [FB-1:0] x,
    input  wire          in_valid,
    output wire          in_ready,
    output reg  [FB-1:0] xq,
    output reg  [KA-1:0] k,
    output wire          out_valid,
    input  wire          out_ready
);
    localparam integer KLAST = N - 1;
    reg busy;
    wire last = ({{(32 - KA){1'b0}}, k} == KLAST);
    wire done = busy & out_ready & last;  // the last beat leaves this cycle
    wire take = in_valid & (~busy | done);
    assign in_ready = ~busy | done;
    assign out_valid = busy;
    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            k <= {KA{1'b0}};
        end else begin
            if (busy & out_ready) k <= last ? {KA{1'b0}} : k + 1'b1;
            if (take) busy <= 1'b1;
            else if (done) busy <= 1'b0;
        end
    end
    always @(posedge clk) if (take) xq <= x;
endmodule

`default_nettype wire
