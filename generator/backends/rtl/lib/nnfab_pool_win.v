// nnfab_pool_win: max or average over the K pixels of a window (nnfab_window order:
// pixel p at win[p*C*IN_W +: C*IN_W]), per channel, one window per cycle, registered
// (latency 1, II 1, stall by nnfab_pipe_ctrl). Max keeps the input type (the output
// type equals it); average is the exact sum divided by K and rounded into the output
// type (nnfab_div_round), as the reference does.
`default_nettype none

module nnfab_pool_win #(
    parameter integer K     = 4,   // pixels per window
    parameter integer C     = 1,   // channels
    parameter integer IN_W  = 8,
    parameter integer IN_S  = 1,
    parameter integer AVG   = 0,   // 0: max, 1: average
    parameter integer OUT_W = 8,
    parameter integer OUT_S = 1,
    parameter integer D     = 0,   // average: OUT_FRAC - IN_FRAC
    parameter integer ROUND = 0,   // average: rounding code of the output type
    parameter integer OVF   = 0    // average: overflow code of the output type
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire [K*C*IN_W-1:0]  x,
    input  wire                 in_valid,
    output wire                 in_ready,
    output wire [C*OUT_W-1:0]   y,
    output wire                 out_valid,
    input  wire                 out_ready
);
    localparam integer SW = IN_W + $clog2(K + 1) + 1;  // exact signed sum width
    initial if (AVG == 0 && OUT_W != IN_W) $error("%m: max pooling keeps the width");
    wire ce;
    nnfab_pipe_ctrl #(.S(1)) u_ctrl (.clk(clk), .rst(rst), .in_valid(in_valid),
        .in_ready(in_ready), .out_valid(out_valid), .out_ready(out_ready), .ce(ce));
    genvar ch;
    generate
        for (ch = 0; ch < C; ch = ch + 1) begin : g_ch
            reg [OUT_W-1:0] yr;
            wire [OUT_W-1:0] v;
            integer p;
            if (AVG != 0) begin : g_avg
                reg signed [SW-1:0] s;
                always @* begin
                    s = 0;
                    for (p = 0; p < K; p = p + 1)
                        s = s + (IN_S ? $signed({{(SW - IN_W){x[(p*C + ch)*IN_W + IN_W - 1]}},
                                                   x[(p*C + ch)*IN_W +: IN_W]})
                                      : $signed({{(SW - IN_W){1'b0}}, x[(p*C + ch)*IN_W +: IN_W]}));
                end
                nnfab_div_round #(.IN_W(SW), .IN_S(1), .DEN(K), .D(D), .OUT_W(OUT_W),
                    .OUT_S(OUT_S), .ROUND(ROUND), .OVF(OVF)) u_div (.num(s), .q(v));
            end else begin : g_max
                reg signed [IN_W:0] m, e;
                always @* begin
                    m = IN_S ? $signed({x[ch*IN_W + IN_W - 1], x[ch*IN_W +: IN_W]})
                             : $signed({1'b0, x[ch*IN_W +: IN_W]});
                    for (p = 1; p < K; p = p + 1) begin
                        e = IN_S ? $signed({x[(p*C + ch)*IN_W + IN_W - 1], x[(p*C + ch)*IN_W +: IN_W]})
                                 : $signed({1'b0, x[(p*C + ch)*IN_W +: IN_W]});
                        if (e > m) m = e;
                    end
                end
                assign v = m[IN_W-1:0];
            end
            always @(posedge clk) if (ce) yr <= v;
            assign y[ch*OUT_W +: OUT_W] = yr;
        end
    endgenerate
endmodule

`default_nettype wire
