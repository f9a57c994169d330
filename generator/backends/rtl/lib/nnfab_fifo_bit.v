// nnfab_fifo_bit: a small FIFO of 1-bit side-band values (TLAST) that travel beside
// the datapath: pushed on every input handshake, popped on every output handshake.
// DEPTH must exceed the number of vectors the datapath can hold at once (the
// generator computes it); a push into a full FIFO is a design error.
`default_nettype none

module nnfab_fifo_bit #(
    parameter integer AW = 3  // log2 of the depth (1..16)
) (
    input  wire clk,
    input  wire rst,   // synchronous, active high
    input  wire push,
    input  wire din,
    input  wire pop,
    output wire dout   // the oldest value (valid while the FIFO is not empty)
);
    initial if (AW < 1 || AW > 16) $error("%m: AW=%0d not in 1..16", AW);

    reg mem [0:(1 << AW) - 1];
    reg [AW-1:0] wp, rp;
    assign dout = mem[rp];
    always @(posedge clk) begin
        if (rst) begin
            wp <= {AW{1'b0}};
            rp <= {AW{1'b0}};
        end else begin
            if (push) begin
                mem[wp] <= din;
                wp <= wp + 1'b1;
            end
            if (pop) rp <= rp + 1'b1;
        end
    end
endmodule

`default_nettype wire
