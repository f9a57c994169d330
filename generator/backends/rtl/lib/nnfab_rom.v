// nnfab_rom: a read-only memory initialised from a hex .mem file with $readmemh,
// synchronous read (one cycle, BRAM-style) with a read enable.
`default_nettype none

module nnfab_rom #(
    parameter integer DEPTH = 2,       // number of words (>= 1)
    parameter integer WIDTH = 8,       // word width in bits (>= 1)
    parameter integer AW    = 1,       // address width (>= 1, 2^AW >= DEPTH)
    parameter        FILE  = "rom.mem" // hex image, one word per line
) (
    input  wire             clk,
    input  wire             en,
    input  wire [AW-1:0]    addr,
    output reg  [WIDTH-1:0] dout
);
    initial begin
        if (DEPTH < 1) $error("%m: DEPTH=%0d must be >= 1", DEPTH);
        if (WIDTH < 1) $error("%m: WIDTH=%0d must be >= 1", WIDTH);
        if ((1 << AW) < DEPTH) $error("%m: AW=%0d too small for DEPTH=%0d", AW, DEPTH);
    end

    reg [WIDTH-1:0] mem [0:DEPTH-1];
    initial $readmemh(FILE, mem);
    always @(posedge clk) if (en) dout <= mem[addr];
endmodule

`default_nettype wire
