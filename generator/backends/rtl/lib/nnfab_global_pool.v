// nnfab_global_pool: global max or average over the N pixels of a frame, per channel.
// One pixel per cycle; after the last pixel of a frame the result vector (C elements)
// is in the output register (latency 1). Average: the exact sum divided by N and
// rounded into the output type (nnfab_div_round). Input is refused only while a result
// waits for the consumer.
`default_nettype none

module nnfab_global_pool #(
    parameter integer N     = 4,   // pixels per frame
    parameter integer C     = 1,   // channels
    parameter integer IN_W  = 8,
    parameter integer IN_S  = 1,
    parameter integer AVG   = 0,   // 0: max, 1: average
    parameter integer OUT_W = 8,
    parameter integer OUT_S = 1,
    parameter integer D     = 0,   // average: OUT_FRAC - IN_FRAC
    parameter integer ROUND = 0,
    parameter integer OVF   = 0
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [C*IN_W-1:0]  x,
    input  wire               in_valid,
    output wire               in_ready,
    output wire [C*OUT_W-1:0] y,
    output wire               out_valid,
    input  wire               out_ready
);
    localparam integer AW = (AVG != 0) ? IN_W + $clog2(N + 1) + 1 : IN_W + 1;
    localparam integer KA = (N > 1) ? $clog2(N) : 1;
    initial if (AVG == 0 && OUT_W != IN_W) $error("%m: max pooling keeps the width");
    reg [KA-1:0] k;
    reg out_v;
    wire free = ~out_v | out_ready;
    wire fire = free & in_valid;
    wire last = (k == N - 1);
    assign in_ready = free;
    assign out_valid = out_v;
    always @(posedge clk) begin
        if (rst) begin
            k <= {KA{1'b0}};
            out_v <= 1'b0;
        end else if (free) begin
            out_v <= fire & last;
            if (fire) k <= last ? {KA{1'b0}} : k + 1'b1;
        end
    end
    genvar ch;
    generate
        for (ch = 0; ch < C; ch = ch + 1) begin : g_ch
            wire [IN_W-1:0] xi = x[ch*IN_W +: IN_W];
            wire signed [AW-1:0] xe = IN_S ? $signed({{(AW - IN_W){xi[IN_W-1]}}, xi})
                                           : $signed({{(AW - IN_W){1'b0}}, xi});
            reg signed [AW-1:0] acc;
            wire signed [AW-1:0] nxt;
            if (AVG != 0) begin : g_sum
                assign nxt = (k == 0) ? xe : acc + xe;
            end else begin : g_max
                assign nxt = (k == 0 || xe > acc) ? xe : acc;
            end
            wire [OUT_W-1:0] v;
            if (AVG != 0) begin : g_div
                nnfab_div_round #(.IN_W(AW), .IN_S(1), .DEN(N), .D(D), .OUT_W(OUT_W),
                    .OUT_S(OUT_S), .ROUND(ROUND), .OVF(OVF)) u_div (.num(nxt), .q(v));
            end else begin : g_id
                assign v = nxt[IN_W-1:0];
            end
            reg [OUT_W-1:0] yr;
            always @(posedge clk) if (fire) begin
                acc <= nxt;
                if (last) yr <= v;
            end
            assign y[ch*OUT_W +: OUT_W] = yr;
        end
    endgenerate
endmodule

`default_nettype wire
