// nnfab_collect: gathers the N beats of a frame (PB bits each) into one vector of
// N*PB bits, beat k at bits [k*PB +: PB] (row-major Flatten of a pixel stream). The
// vector is a shift register; it is valid for one handshake after the last beat
// (latency 1); input is refused only while a full vector waits for the consumer.
`default_nettype none

module nnfab_collect #(
    parameter integer N  = 4,  // beats per frame
    parameter integer PB = 8   // bits per beat
) (
    input  wire            clk,
    input  wire            rst,
    input  wire [PB-1:0]   x,
    input  wire            in_valid,
    output wire            in_ready,
    output wire [N*PB-1:0] y,
    output wire            out_valid,
    input  wire            out_ready
);
    localparam integer KA = (N > 1) ? $clog2(N) : 1;
    reg [KA-1:0] k;
    reg out_v;
    reg [N*PB-1:0] sr;
    wire free = ~out_v | out_ready;
    wire fire = free & in_valid;
    wire last = (k == N - 1);
    assign in_ready = free;
    assign out_valid = out_v;
    assign y = sr;
    always @(posedge clk) begin
        if (rst) begin
            k <= {KA{1'b0}};
            out_v <= 1'b0;
        end else if (free) begin
            out_v <= fire & last;
            if (fire) k <= last ? {KA{1'b0}} : k + 1'b1;
        end
    end
    generate
        if (N > 1) begin : g_sr
            always @(posedge clk) if (fire) sr <= {x, sr[N*PB-1:PB]};
        end else begin : g_one
            always @(posedge clk) if (fire) sr <= x;
        end
    endgenerate
endmodule

`default_nettype wire
