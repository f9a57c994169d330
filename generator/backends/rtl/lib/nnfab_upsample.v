// nnfab_upsample: nearest-neighbour upsampling of a pixel stream by FY (rows) x FX
// (columns). Each input pixel is emitted FX times (it is taken on its last copy) and
// written to a row buffer (nnfab_ram_sdp, W words, synchronous read); the FY-1 repeats
// of a row are read back from it without input. Output register: latency 1.
`default_nettype none

module nnfab_upsample #(
    parameter integer W  = 4,  // input row length (pixels)
    parameter integer PB = 8,  // bits per pixel
    parameter integer FX = 2,  // column factor (>= 1)
    parameter integer FY = 2   // row factor (>= 1)
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
    localparam integer CA = (W > 1) ? $clog2(W) : 1;
    localparam integer XA = (FX > 1) ? $clog2(FX) : 1;
    localparam integer YA = (FY > 1) ? $clog2(FY) : 1;
    initial if (FX < 1 || FY < 1) $error("%m: factors must be >= 1");
    reg [CA-1:0] c;
    reg [XA-1:0] k;
    reg [YA-1:0] ry;
    reg out_v;
    wire free = ~out_v | out_ready;
    wire first = (ry == 0);
    wire adv = free & (~first | in_valid);
    assign in_ready = free & first & (k == FX - 1);
    assign out_valid = out_v;
    reg sel;
    reg [PB-1:0] byp;
    generate
        if (FY > 1) begin : g_row
            wire [PB-1:0] rd;
            nnfab_ram_sdp #(.DEPTH(W), .WIDTH(PB), .AW(CA)) u_row (
                .clk(clk), .we(adv & first), .wa(c), .wd(x), .re(adv & ~first), .ra(c),
                .rd(rd));
            assign y = sel ? byp : rd;
        end else begin : g_norow
            assign y = byp;
        end
    endgenerate
    always @(posedge clk) begin
        if (adv) begin
            byp <= x;
            sel <= first;
        end
        if (rst) begin
            c <= {CA{1'b0}};
            k <= {XA{1'b0}};
            ry <= {YA{1'b0}};
            out_v <= 1'b0;
        end else if (free) begin
            out_v <= adv;
            if (adv) begin
                if (k == FX - 1) begin
                    k <= {XA{1'b0}};
                    if (c == W - 1) begin
                        c <= {CA{1'b0}};
                        ry <= (ry == FY - 1) ? {YA{1'b0}} : ry + 1'b1;
                    end else begin
                        c <= c + 1'b1;
                    end
                end else begin
                    k <= k + 1'b1;
                end
            end
        end
    end
endmodule

`default_nettype wire
