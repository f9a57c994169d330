// nnfab_window: line buffer + sliding window over a pixel stream (one pixel = C
// elements of DW bits per beat, row-major), with zero/constant padding and strides.
//
// The module scans the PADDED frame (HP x WP positions) one position per cycle. A real
// position takes one input pixel; a pad position takes none and uses FILL for every
// channel. The last KH-1 rows are kept in a line buffer: one RAM word per padded
// column holding that column's KH-1 previous pixels (nnfab_ram_sdp, WP words of
// (KH-1)*C*DW bits; its read of the next column is issued while the current one is
// written). A KW-column shift register holds the window. When a position is the
// bottom-right corner of a window on the stride grid (ROWV[r] && COLV[c]) the window
// is emitted: pixel (i, j) of the window (row i, column j, 0 = top-left) at
// win[((i*KW + j)*C + ch)*DW +: DW]. Output register: latency 1 from the corner
// position; all advancing stops while an emitted window is not taken.
`default_nettype none

module nnfab_window #(
    parameter integer C  = 1,   // channels per pixel
    parameter integer DW = 8,   // bits per element
    parameter integer KH = 3,   // window rows (1: no line buffer)
    parameter integer KW = 3,   // window columns
    parameter integer HP = 4,   // padded frame rows
    parameter integer WP = 4,   // padded frame columns (>= 2 when KH > 1)
    parameter [C*DW-1:0] FILL = 0,      // pixel value of a pad position
    parameter [HP-1:0] ROWR = {HP{1'b1}},  // row r holds real pixels
    parameter [WP-1:0] COLR = {WP{1'b1}},  // column c holds real pixels
    parameter [HP-1:0] ROWV = {HP{1'b1}},  // a window ends on row r
    parameter [WP-1:0] COLV = {WP{1'b1}}   // a window ends on column c
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire [C*DW-1:0]       x,
    input  wire                  in_valid,
    output wire                  in_ready,
    output wire [KH*KW*C*DW-1:0] win,
    output wire                  out_valid,
    input  wire                  out_ready
);
    localparam integer PB = C * DW;  // bits per pixel
    localparam integer RA = (WP > 1) ? $clog2(WP) : 1;
    localparam integer HA = (HP > 1) ? $clog2(HP) : 1;

    initial begin
        if (KH < 1 || KW < 1) $error("%m: KH=%0d, KW=%0d must be >= 1", KH, KW);
        if (KH > 1 && WP < 2) $error("%m: WP=%0d must be >= 2 with a line buffer", WP);
    end

    reg [HA-1:0] r;
    reg [RA-1:0] c;
    reg out_v;
    wire free = ~out_v | out_ready;
    wire real_pos = ROWR[r] & COLR[c];
    wire adv = free & (~real_pos | in_valid);
    assign in_ready = free & real_pos;
    assign out_valid = out_v;
    wire [RA-1:0] c_next = (c == WP - 1) ? {RA{1'b0}} : c + 1'b1;
    wire [PB-1:0] pix = real_pos ? x : FILL;

    // column of KH pixels ending at the current row: oldest (row r-KH+1) lowest
    wire [KH*PB-1:0] col;
    generate
        if (KH > 1) begin : g_lb
            wire [(KH-1)*PB-1:0] prev;
            nnfab_ram_sdp #(.DEPTH(WP), .WIDTH((KH - 1) * PB), .AW(RA)) u_lb (
                .clk(clk), .we(adv), .wa(c), .wd(col[KH*PB-1:PB]),
                .re(adv | rst), .ra(rst ? {RA{1'b0}} : c_next), .rd(prev));
            assign col = {pix, prev};
        end else begin : g_nolb
            assign col = pix;
        end
    endgenerate

    // KW columns, oldest (column c-KW+1) lowest
    reg [KW*KH*PB-1:0] sr;
    generate
        if (KW > 1) begin : g_sr
            always @(posedge clk) if (adv) sr <= {col, sr[KW*KH*PB-1:KH*PB]};
        end else begin : g_sr1
            always @(posedge clk) if (adv) sr <= col;
        end
    endgenerate

    genvar i, j;
    generate
        for (i = 0; i < KH; i = i + 1) begin : g_i
            for (j = 0; j < KW; j = j + 1) begin : g_j
                assign win[(i * KW + j) * PB +: PB] = sr[(j * KH + i) * PB +: PB];
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            r <= {HA{1'b0}};
            c <= {RA{1'b0}};
            out_v <= 1'b0;
        end else if (free) begin
            out_v <= adv & ROWV[r] & COLV[c];
            if (adv) begin
                c <= c_next;
                if (c == WP - 1) r <= (r == HP - 1) ? {HA{1'b0}} : r + 1'b1;
            end
        end
    end
endmodule

`default_nettype wire
