// nnfab_fifo: a synchronous FIFO of DEPTH beats of PB bits (distributed RAM / registers:
// asynchronous read of the head). A beat pushed in cycle t can be popped from cycle
// t+1; in_ready = not full, out_valid = not empty (both from the count register).
`default_nettype none

module nnfab_fifo #(
    parameter integer DEPTH = 2,  // beats (>= 1)
    parameter integer PB    = 8   // bits per beat
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [PB-1:0] x,
    input  wire          in_valid,
    output wire          in_ready,
    output wire [PB-1:0] y,
    output wire          out_valid,
    input  wire          out_ready
);
    localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    initial if (DEPTH < 1) $error("%m: DEPTH=%0d must be >= 1", DEPTH);
    reg [PB-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] wp, rp;
    reg [AW:0] count;
    wire push = in_valid & in_ready;
    wire pop = out_valid & out_ready;
    assign in_ready = (count < DEPTH);
    assign out_valid = (count != 0);
    assign y = mem[rp];
    always @(posedge clk) begin
        if (push) mem[wp] <= x;
        if (rst) begin
            wp <= {AW{1'b0}};
            rp <= {AW{1'b0}};
            count <= {(AW + 1){1'b0}};
        end else begin
            if (push) wp <= (wp == DEPTH - 1) ? {AW{1'b0}} : wp + 1'b1;
            if (pop) rp <= (rp == DEPTH - 1) ? {AW{1'b0}} : rp + 1'b1;
            count <= count + push - pop;
        end
    end
endmodule

`default_nettype wire
