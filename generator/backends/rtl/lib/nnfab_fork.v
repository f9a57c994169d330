// nnfab_fork: broadcast one stream to N consumers. Each consumer takes the beat once
// (a `done` bit per output remembers who has it); the input is taken when all have it.
// Output valid never depends on a ready (no combinational loop through joins).
`default_nettype none

module nnfab_fork #(
    parameter integer N  = 2,  // consumers (>= 2)
    parameter integer PB = 8   // bits per beat
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [PB-1:0] x,
    input  wire          in_valid,
    output wire          in_ready,
    output wire [PB-1:0] y,         // the same data for every consumer
    output wire [N-1:0]  out_valid,
    input  wire [N-1:0]  out_ready
);
    reg [N-1:0] done;
    assign y = x;
    assign out_valid = {N{in_valid}} & ~done;
    assign in_ready = &(done | out_ready);
    always @(posedge clk) begin
        if (rst || (in_valid && in_ready)) done <= {N{1'b0}};
        else done <= done | (out_valid & out_ready);
    end
endmodule

`default_nettype wire
