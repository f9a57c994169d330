// Element-wise vector operations on N packed raw values (element i at bits
// [i*W +: W]). All are combinational; the generated top gives them no pipeline stage.
`default_nettype none

// y = cast(x) into the output type (see nnfab_requant for the parameters)
module nnfab_quantize_vec #(
    parameter integer N = 1,      // number of elements
    parameter integer IN_W = 16,  // input element width
    parameter integer IN_S = 1,   // input signed
    parameter integer OUT_W = 8,  // output element width
    parameter integer OUT_S = 1,  // output signed
    parameter integer SHIFT = 0,  // input fraction bits - output fraction bits
    parameter integer ROUND = 0,  // rounding mode code (nnfab_requant)
    parameter integer OVF = 0,    // overflow mode code (nnfab_requant)
    parameter integer RELU = 0    // 1: take max(x, 0) before the cast
) (
    input  wire [N*IN_W-1:0]  x,
    output wire [N*OUT_W-1:0] y
);
    initial if (N < 1) $error("%m: N=%0d must be >= 1", N);
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_el
            wire [IN_W-1:0] xi = x[i*IN_W +: IN_W];
            wire [IN_W-1:0] xr = (RELU != 0 && IN_S != 0 && xi[IN_W-1]) ? {IN_W{1'b0}} : xi;
            nnfab_requant #(
                .IN_W(IN_W), .IN_S(IN_S), .OUT_W(OUT_W), .OUT_S(OUT_S),
                .SHIFT(SHIFT), .ROUND(ROUND), .OVF(OVF)
            ) u_rq (.din(xr), .dout(y[i*OUT_W +: OUT_W]));
        end
    endgenerate
endmodule

// y = cast(min(max(x, LO), HI)) into the output type (see nnfab_requant); LO <= HI are
// raw values of the input type (its fraction bits)
module nnfab_clip_vec #(
    parameter integer N = 1,             // number of elements
    parameter integer IN_W = 16,         // input element width
    parameter integer IN_S = 1,          // input signed
    parameter [IN_W-1:0] LO = 0,         // lower bound, raw, in the input type
    parameter [IN_W-1:0] HI = 0,         // upper bound, raw, in the input type
    parameter integer OUT_W = 8,         // output element width
    parameter integer OUT_S = 1,         // output signed
    parameter integer SHIFT = 0,         // input fraction bits - output fraction bits
    parameter integer ROUND = 0,         // rounding mode code (nnfab_requant)
    parameter integer OVF = 0            // overflow mode code (nnfab_requant)
) (
    input  wire [N*IN_W-1:0]  x,
    output wire [N*OUT_W-1:0] y
);
    initial if (N < 1) $error("%m: N=%0d must be >= 1", N);
    // compared with one more bit: the sign bit (signed), or a 0 (unsigned)
    wire signed [IN_W:0] lo = {IN_S != 0 ? LO[IN_W-1] : 1'b0, LO};
    wire signed [IN_W:0] hi = {IN_S != 0 ? HI[IN_W-1] : 1'b0, HI};
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_el
            wire [IN_W-1:0] xi = x[i*IN_W +: IN_W];
            wire signed [IN_W:0] xs = {IN_S != 0 ? xi[IN_W-1] : 1'b0, xi};
            wire [IN_W-1:0] xc = xs < lo ? LO : (xs > hi ? HI : xi);
            nnfab_requant #(
                .IN_W(IN_W), .IN_S(IN_S), .OUT_W(OUT_W), .OUT_S(OUT_S),
                .SHIFT(SHIFT), .ROUND(ROUND), .OVF(OVF)
            ) u_rq (.din(xc), .dout(y[i*OUT_W +: OUT_W]));
        end
    endgenerate
endmodule

// Leaky ReLU with slope 2^-k: x >= 0 is cast into the output type; x < 0 is cast into
// the negative branch's type (NEG_W bits, its own rounding and overflow), whose fraction
// is the output's minus k, so the shift by k is the raw value sign-extended into OUT_W.
module nnfab_leaky_vec #(
    parameter integer N = 1,        // number of elements
    parameter integer IN_W = 16,    // input element width
    parameter integer IN_S = 1,     // input signed
    parameter integer OUT_W = 8,    // output element width (signed)
    parameter integer NEG_W = 6,    // negative branch width (signed, <= OUT_W)
    parameter integer SHIFT_P = 0,  // input fraction bits - output fraction bits
    parameter integer SHIFT_N = 0,  // input fraction bits - negative branch fraction bits
    parameter integer ROUND_P = 0,  // output rounding mode code (nnfab_requant)
    parameter integer OVF_P = 0,    // output overflow mode code
    parameter integer ROUND_N = 0,  // negative branch rounding mode code
    parameter integer OVF_N = 0     // negative branch overflow mode code
) (
    input  wire [N*IN_W-1:0]  x,
    output wire [N*OUT_W-1:0] y
);
    initial begin
        if (N < 1) $error("%m: N=%0d must be >= 1", N);
        if (NEG_W > OUT_W) $error("%m: NEG_W=%0d does not fit OUT_W=%0d", NEG_W, OUT_W);
    end
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_el
            wire [IN_W-1:0] xi = x[i*IN_W +: IN_W];
            wire [OUT_W-1:0] pos;
            wire [NEG_W-1:0] neg;
            nnfab_requant #(
                .IN_W(IN_W), .IN_S(IN_S), .OUT_W(OUT_W), .OUT_S(1),
                .SHIFT(SHIFT_P), .ROUND(ROUND_P), .OVF(OVF_P)
            ) u_pos (.din(xi), .dout(pos));
            nnfab_requant #(
                .IN_W(IN_W), .IN_S(IN_S), .OUT_W(NEG_W), .OUT_S(1),
                .SHIFT(SHIFT_N), .ROUND(ROUND_N), .OVF(OVF_N)
            ) u_neg (.din(xi), .dout(neg));
            wire [OUT_W-1:0] neg_x = {{(OUT_W - NEG_W){neg[NEG_W-1]}}, neg};
            assign y[i*OUT_W +: OUT_W] = (IN_S != 0 && xi[IN_W-1]) ? neg_x : pos;
        end
    endgenerate
endmodule

// QKeras binary(alpha=1): -1 where x < 0, else +1 (raw, in an OUT_W-bit signed type)
module nnfab_binarize_vec #(
    parameter integer N = 1,     // number of elements
    parameter integer IN_W = 8,  // input element width
    parameter integer IN_S = 1,  // input signed
    parameter integer OUT_W = 2  // output element width (>= 2: holds -1 and +1)
) (
    input  wire [N*IN_W-1:0]  x,
    output wire [N*OUT_W-1:0] y
);
    initial if (OUT_W < 2) $error("%m: OUT_W=%0d cannot hold -1 and +1", OUT_W);
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_el
            wire neg = (IN_S != 0) && x[i*IN_W + IN_W - 1];
            assign y[i*OUT_W +: OUT_W] = neg ? {OUT_W{1'b1}} : {{(OUT_W - 1){1'b0}}, 1'b1};
        end
    endgenerate
endmodule

// QKeras ternary: +1 where x >= THR, -1 where x <= -THR, else 0 (THR raw, > 0)
module nnfab_ternarize_vec #(
    parameter integer N = 1,     // number of elements
    parameter integer IN_W = 8,  // input element width
    parameter integer IN_S = 1,  // input signed
    parameter integer OUT_W = 2, // output element width (>= 2)
    parameter integer THR = 1    // threshold on the raw input (1..2^30)
) (
    input  wire [N*IN_W-1:0]  x,
    output wire [N*OUT_W-1:0] y
);
    initial begin
        if (OUT_W < 2) $error("%m: OUT_W=%0d cannot hold -1, 0, +1", OUT_W);
        if (THR < 1 || THR > (1 << 30)) $error("%m: THR=%0d not in 1..2^30", THR);
    end
    localparam integer VW = (IN_W > 32 ? IN_W : 32) + 2;
    localparam signed [VW-1:0] T = THR;
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_el
            wire [IN_W-1:0] xi = x[i*IN_W +: IN_W];
            wire signed [VW-1:0] v = IN_S ? {{(VW - IN_W){xi[IN_W-1]}}, xi}
                                          : {{(VW - IN_W){1'b0}}, xi};
            assign y[i*OUT_W +: OUT_W] = (v >= T) ? {{(OUT_W - 1){1'b0}}, 1'b1}
                                       : (v <= -T) ? {OUT_W{1'b1}} : {OUT_W{1'b0}};
        end
    endgenerate
endmodule

// Threshold (ir.Threshold): y = LEV[c], c = the number of the T ascending thresholds THR
// (raw, on the input's grid) that x reaches; C tables, element i uses table i % C (C = 1:
// one function for every element). Exact for any step function. The T
// comparisons against constants give a thermometer code th (th[t] = x >= THR[t]; ones
// then zeros); c is read off it by binary search, one bit per level from the top (a
// depth-log2 mux tree, no adder chain), and the level is a constant table lookup.
module nnfab_threshold_vec #(
    parameter integer N = 1,       // number of elements
    parameter integer IN_W = 8,    // input element width
    parameter integer IN_S = 1,    // input signed
    parameter integer OUT_W = 8,   // output element width
    parameter integer T = 1,       // thresholds per table (>= 0)
    parameter integer C = 1,       // tables (channels, the last axis; N % C == 0)
    // threshold t of table k at [(k*T + t)*IN_W +: IN_W]
    parameter [C*(T > 0 ? T : 1)*IN_W-1:0] THR = 0,
    // level of count c of table k at [(k*(T + 1) + c)*OUT_W +: OUT_W]
    parameter [C*(T + 1)*OUT_W-1:0] LEV = 0
) (
    input  wire [N*IN_W-1:0]  x,
    output wire [N*OUT_W-1:0] y
);
    // count bits: 2^CW > T; the thermometer is padded with zeros to 2^CW - 1 bits
    localparam integer CW = (T < 1) ? 1 : $clog2(T + 1);
    localparam integer TP = (1 << CW) - 1;
    initial begin
        if (N < 1) $error("%m: N=%0d must be >= 1", N);
        if (T < 0) $error("%m: T=%0d must be >= 0", T);
        if (C < 1 || N % C != 0) $error("%m: N=%0d is not a multiple of C=%0d", N, C);
    end
    genvar i, t;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_el
            wire [IN_W-1:0] xi = x[i*IN_W +: IN_W];
            wire signed [IN_W:0] v = IN_S ? {xi[IN_W-1], xi} : {1'b0, xi};
            wire [TP-1:0] th;
            for (t = 0; t < TP; t = t + 1) begin : g_th
                if (t < T) begin : g_cmp
                    localparam [IN_W-1:0] K = THR[((i % C)*(T > 0 ? T : 1) + t)*IN_W +: IN_W];
                    localparam signed [IN_W:0] CS = IN_S ? {K[IN_W-1], K} : {1'b0, K};
                    assign th[t] = (v >= CS);
                end else begin : g_pad
                    assign th[t] = 1'b0;
                end
            end
            reg [CW-1:0] c;
            integer k;
            always @* begin
                c = {CW{1'b0}};
                for (k = CW - 1; k >= 0; k = k - 1)
                    if (th[c + (1 << k) - 1]) c = c + (1 << k);
            end
            wire [(T + 1)*OUT_W-1:0] lev = LEV[(i % C)*(T + 1)*OUT_W +: (T + 1)*OUT_W];
            assign y[i*OUT_W +: OUT_W] = lev[c*OUT_W +: OUT_W];  // c <= T: th is padded with 0
        end
    endgenerate
endmodule

// table lookup: index = clip((x >> SHIFT) - OFFSET, 0, DEPTH - 1); y = table[index]
// (the table is a ROM image with asynchronous read: LUT/distributed ROM)
module nnfab_table_vec #(
    parameter integer N = 1,        // number of elements
    parameter integer IN_W = 8,     // input element width
    parameter integer IN_S = 1,     // input signed
    parameter integer OUT_W = 8,    // table word width
    parameter integer DEPTH = 2,    // table entries (>= 1)
    parameter integer SHIFT = 0,    // index shift (>= 0)
    parameter integer OFFSET = 0,   // index offset (|OFFSET| < 2^30)
    parameter        FILE = "t.mem" // hex table image
) (
    input  wire [N*IN_W-1:0]  x,
    output wire [N*OUT_W-1:0] y
);
    initial begin
        if (DEPTH < 1) $error("%m: DEPTH=%0d must be >= 1", DEPTH);
        if (SHIFT < 0) $error("%m: SHIFT=%0d must be >= 0", SHIFT);
    end
    localparam integer VW = (IN_W > 32 ? IN_W : 32) + 3;
    localparam signed [VW-1:0] OFF = OFFSET;
    localparam signed [VW-1:0] LAST = DEPTH - 1;
    reg [OUT_W-1:0] mem [0:DEPTH-1];
    initial $readmemh(FILE, mem);
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_el
            wire [IN_W-1:0] xi = x[i*IN_W +: IN_W];
            wire signed [VW-1:0] v = IN_S ? {{(VW - IN_W){xi[IN_W-1]}}, xi}
                                          : {{(VW - IN_W){1'b0}}, xi};
            wire signed [VW-1:0] k = (v >>> SHIFT) - OFF;
            wire signed [VW-1:0] idx = (k < 0) ? {VW{1'b0}} : (k > LAST) ? LAST : k;
            assign y[i*OUT_W +: OUT_W] = mem[idx[30:0]];
        end
    endgenerate
endmodule

// Scale and shift per channel (an unfolded BatchNormalization), exactly as nnfab's
// reference computes it: y_i = cast((x_i * SCALE[c] << LP) + (SHIFTV[c] << LT)) with
// c = i % C; SCALE and SHIFTV hold signed raw constants of SW / TW bits, the sum is
// exact in ACC_W bits (its fraction bits those of the wider addend) and the cast is
// nnfab_requant's (SHIFT = the sum's fraction bits - the output's).
module nnfab_scale_shift_vec #(
    parameter integer N = 1,           // number of elements
    parameter integer C = 1,           // channels (the last axis)
    parameter integer IN_W = 8,        // input element width
    parameter integer IN_S = 1,        // input signed
    parameter integer SW = 2,          // scale constant width (signed)
    parameter integer TW = 2,          // shift constant width (signed)
    parameter [C*SW-1:0] SCALE = 0,    // per channel
    parameter [C*TW-1:0] SHIFTV = 0,   // per channel
    parameter integer LP = 0,          // product left shift (aligning fractions)
    parameter integer LT = 0,          // shift constant left shift
    parameter integer ACC_W = 16,      // exact sum width (<= 62)
    parameter integer OUT_W = 8,       // output element width
    parameter integer OUT_S = 1,       // output signed
    parameter integer SHIFT = 0,       // sum fraction bits - output fraction bits
    parameter integer ROUND = 0,       // rounding mode code (nnfab_requant)
    parameter integer OVF = 0          // overflow mode code (nnfab_requant)
) (
    input  wire [N*IN_W-1:0]  x,
    output wire [N*OUT_W-1:0] y
);
    initial if (N < 1 || C < 1 || N % C != 0) $error("%m: N=%0d, C=%0d", N, C);
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_el
            wire [IN_W-1:0] xi = x[i*IN_W +: IN_W];
            wire signed [IN_W:0] xe = IN_S ? {xi[IN_W-1], xi} : {1'b0, xi};
            wire signed [SW-1:0] s = SCALE[(i % C)*SW +: SW];
            wire signed [TW-1:0] t = SHIFTV[(i % C)*TW +: TW];
            wire signed [ACC_W-1:0] acc = ((xe * s) <<< LP) + (t <<< LT);
            nnfab_requant #(
                .IN_W(ACC_W), .IN_S(1), .OUT_W(OUT_W), .OUT_S(OUT_S),
                .SHIFT(SHIFT), .ROUND(ROUND), .OVF(OVF)
            ) u_rq (.din(acc), .dout(y[i*OUT_W +: OUT_W]));
        end
    endgenerate
endmodule

`default_nettype wire
