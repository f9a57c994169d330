// nnfab_dense_folded: a Dense layer folded in time (strategy "resource").
//
// M multipliers are each used R times per input vector. Row r (0..R-1) of the schedule
// (generator.passes.folding.schedule) gives, per multiplier m, the input index, the
// output index and the raw weight; only nonzero weights are scheduled (padding entries
// have weight 0). The schedule is a ROM of R words; word r holds, for m = 0..M-1 at
// bits [m*EW +: EW], the entry {weight (WW bits), in_idx (IA bits), out_idx (OA bits)}.
//
// Pipeline (all registers advance on ce = !out_valid || out_ready):
//   issue   : row counter r addresses the ROM; at r == 0 a new vector is accepted and
//             latched (in_ready = ce && r == 0)
//   stage 1 : ROM word valid; x[in_idx] * weight -> product register
//   stage 2 : acc[j] (+)= sum of products whose out_idx == j (first row: starts from
//             the bias); on the last row the sums go to the output register.
// Arithmetic is modulo 2^ACC_W (the Dense output width, which holds the exact sum).
// Products are aligned to the accumulator fraction by PSH, the bias by its stored
// value (already aligned by the generator). II = R cycles, latency = R + 2 cycles.
`default_nettype none

module nnfab_dense_folded #(
    parameter integer N_IN  = 1,   // input elements
    parameter integer XW    = 8,   // input element width
    parameter integer XS    = 1,   // input signed
    parameter integer N_OUT = 1,   // output elements (units)
    parameter integer ACC_W = 16,  // accumulator / output element width
    parameter integer WW    = 8,   // weight width
    parameter integer WS    = 1,   // weight signed
    parameter integer PSH   = 0,   // left shift aligning a product to the output fraction (>= 0)
    parameter integer R     = 1,   // reuse factor: schedule rows (>= 1)
    parameter integer M     = 1,   // multipliers (>= 1)
    parameter integer IA    = 1,   // input-index width (2^IA >= N_IN)
    parameter integer OA    = 1,   // output-index width (2^OA >= N_OUT)
    parameter integer RA    = 1,   // row-address width (2^RA >= R)
    parameter        FILE  = "schedule.mem",  // ROM image of the schedule (R words)
    parameter [N_OUT*ACC_W-1:0] BIAS = 0     // aligned bias per output (output j at [j*ACC_W +: ACC_W])
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire [N_IN*XW-1:0]     x,
    input  wire                   in_valid,
    output wire                   in_ready,
    output wire [N_OUT*ACC_W-1:0] y,
    output wire                   out_valid,
    input  wire                   out_ready
);
    localparam integer EW = WW + IA + OA;  // bits of one schedule entry
    localparam integer PW = XW + WW + 2;   // exact signed product width

    initial begin
        if (R < 1) $error("%m: R=%0d must be >= 1", R);
        if (M < 1) $error("%m: M=%0d must be >= 1", M);
        if ((1 << IA) < N_IN) $error("%m: IA=%0d too small for N_IN=%0d", IA, N_IN);
        if ((1 << OA) < N_OUT) $error("%m: OA=%0d too small for N_OUT=%0d", OA, N_OUT);
        if ((1 << RA) < R) $error("%m: RA=%0d too small for R=%0d", RA, R);
        if (PSH < 0) $error("%m: PSH=%0d must be >= 0", PSH);
        if (ACC_W < 1 || ACC_W > 62) $error("%m: ACC_W=%0d not in 1..62", ACC_W);
    end

    reg out_v;
    wire ce = ~out_v | out_ready;

    // ---- issue: row counter and the latched input vector -------------------------
    reg [RA-1:0] r;
    reg [N_IN*XW-1:0] xq;
    wire start = (r == {RA{1'b0}});
    assign in_ready = ce & start;
    wire issue = ce & (start ? in_valid : 1'b1);
    always @(posedge clk) begin
        if (rst) r <= {RA{1'b0}};
        else if (issue) r <= (r == R - 1) ? {RA{1'b0}} : r + 1'b1;
        if (ce && start && in_valid) xq <= x;
    end

    wire [M*EW-1:0] word;
    nnfab_rom #(.DEPTH(R), .WIDTH(M * EW), .AW(RA), .FILE(FILE)) u_rom (
        .clk(clk), .en(ce), .addr(r), .dout(word));

    // ---- stage 1: ROM word valid; multiply ----------------------------------------------
    reg v1, first1, last1;
    always @(posedge clk) begin
        if (rst) v1 <= 1'b0;
        else if (ce) begin
            v1 <= issue;
            first1 <= start;
            last1 <= (r == R - 1);
        end
    end

    reg v2, first2, last2;
    reg [M*ACC_W-1:0] prod;
    reg [M*OA-1:0] osel;
    genvar m, j;
    generate
        for (m = 0; m < M; m = m + 1) begin : g_mul
            wire [EW-1:0] e = word[m*EW +: EW];
            wire [OA-1:0] oi = e[OA-1:0];
            wire [IA-1:0] ii = e[OA +: IA];
            wire [WW-1:0] wr = e[OA + IA +: WW];
            wire [XW-1:0] xr = xq[ii*XW +: XW];
            wire signed [XW:0] xs = XS ? {xr[XW-1], xr} : {1'b0, xr};
            wire signed [WW:0] ws = WS ? {wr[WW-1], wr} : {1'b0, wr};
            wire signed [PW-1:0] p = xs * ws;
            wire signed [ACC_W-1:0] pa = p;  // sign-extend or wrap to ACC_W
            always @(posedge clk) if (ce) begin
                prod[m*ACC_W +: ACC_W] <= pa << PSH;
                osel[m*OA +: OA] <= oi;
            end
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) v2 <= 1'b0;
        else if (ce) begin
            v2 <= v1;
            first2 <= first1;
            last2 <= last1;
        end
    end

    // ---- stage 2: accumulate per output -----------------------------------------------
    reg [N_OUT*ACC_W-1:0] acc, yq;
    generate
        for (j = 0; j < N_OUT; j = j + 1) begin : g_acc
            reg [ACC_W-1:0] s;
            integer k;
            always @* begin
                s = first2 ? BIAS[j*ACC_W +: ACC_W] : acc[j*ACC_W +: ACC_W];
                for (k = 0; k < M; k = k + 1)
                    if (osel[k*OA +: OA] == j) s = s + prod[k*ACC_W +: ACC_W];
            end
            always @(posedge clk) if (ce && v2) begin
                if (last2) yq[j*ACC_W +: ACC_W] <= s;
                else acc[j*ACC_W +: ACC_W] <= s;
            end
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) out_v <= 1'b0;
        else if (ce) out_v <= v2 & last2;
    end
    assign y = yq;
    assign out_valid = out_v;
endmodule

`default_nettype wire
