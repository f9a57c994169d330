// nnfab_ram_sdp: simple dual-port RAM (one write port, one read port), synchronous
// read with a read enable: the template Yosys maps to block RAM (RAMB18/RAMB36) or to
// LUT RAM by size. Reading the address written in the same cycle returns the old word
// (the generator never relies on that case).
`default_nettype none

module nnfab_ram_sdp #(
    parameter integer DEPTH = 2,  // words (>= 1)
    parameter integer WIDTH = 8,  // bits per word (>= 1)
    parameter integer AW    = 1   // address width (2^AW >= DEPTH)
) (
    input  wire             clk,
    input  wire             we,
    input  wire [AW-1:0]    wa,
    input  wire [WIDTH-1:0] wd,
    input  wire             re,
    input  wire [AW-1:0]    ra,
    output reg  [WIDTH-1:0] rd
);
    initial begin
        if (DEPTH < 1) $error("%m: DEPTH=%0d must be >= 1", DEPTH);
        if (WIDTH < 1) $error("%m: WIDTH=%0d must be >= 1", WIDTH);
        if ((1 << AW) < DEPTH) $error("%m: AW=%0d too small for DEPTH=%0d", AW, DEPTH);
    end

    reg [WIDTH-1:0] mem [0:DEPTH-1];
    always @(posedge clk) begin
        if (we) mem[wa] <= wd;
        if (re) rd <= mem[ra];
    end
endmodule

`default_nettype wire
