// nnfab_dense_skip: a folded Dense layer that skips zero inputs at run time
// (dynamic pruning: the layer after a ReLU sees many zero activations).
//
// Input-serial, output-parallel: M multipliers; output j belongs to multiplier j % M
// (local index j / M, LO bits). Input i owns schedule rows START[i] .. START[i+1]-1
// (generator.passes.folding.skip_schedule); in each of them every multiplier m
// multiplies x[i] by one of its weights (ROM word: multiplier m's entry {weight field
// (WF bits), local output index (LO bits)} at bits [m*EW +: EW]; pads have weight 0).
// The rows of inputs that are zero in the current vector are never issued: a vector
// takes max(1, sum of its nonzero inputs' row counts) cycles (all zero: one cycle that
// adds nothing, the output is the bias). Inputs without rows (HAS[i] = 0) are ignored.
//
// Weight datapath as nnfab_dense_folded: WMODE 0 multiplies by the raw weight, WMODE 1
// adds or subtracts x << WK (field {nonzero, negative}).
//
// Pipeline (all registers advance on ce = !out_valid || out_ready):
//   issue   : a new vector is accepted when the previous one has issued its last row
//             (in_ready = ce && !busy); its first row issues in the same cycle (row of
//             the lowest nonzero input, found from x directly); then one row per cycle,
//             jumping from the last row of input i to the first row of the next
//             nonzero input
//   stage 1 : ROM word and x[i] valid; multiply -> product register
//   stage 2 : acc[j] (+)= product of multiplier j % M if its local output index is j / M
//             (first row: starts from the bias); on the last row the sums go out.
// Latency = cycles + 2; the next vector is accepted `cycles` cycles after this one.
`default_nettype none

module nnfab_dense_skip #(
    parameter integer N_IN  = 1,   // input elements
    parameter integer XW    = 8,   // input element width
    parameter integer XS    = 0,   // input signed
    parameter integer N_OUT = 1,   // output elements
    parameter integer ACC_W = 16,  // accumulator / output element width
    parameter integer WW    = 8,   // weight width
    parameter integer WS    = 1,   // weight signed
    parameter integer PSH   = 0,   // left shift aligning a product to the output fraction
    parameter integer M     = 1,   // multipliers
    parameter integer T     = 1,   // schedule rows (worst-case cycles per vector)
    parameter integer RA    = 1,   // row-address width (2^RA >= T + 1)
    parameter integer IA    = 1,   // input-index width (2^IA >= N_IN)
    parameter integer LO    = 1,   // local output-index width (2^LO >= ceil(N_OUT / M))
    parameter integer WMODE = 0,   // 0: multiply; 1: +-(x << WK)
    parameter integer WK    = 0,
    parameter integer WF    = WW,  // weight field bits (WW, or 2 for WMODE 1)
    parameter [N_IN*RA-1:0] START = 0,  // first row of input i at [i*RA +: RA]
    parameter [N_IN*RA-1:0] LAST  = 0,  // last row of input i (when HAS[i])
    parameter [N_IN-1:0]    HAS   = 0,  // input i has rows
    parameter        FILE  = "schedule.mem",
    parameter [N_OUT*ACC_W-1:0] BIAS = 0
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
    localparam integer EW = WF + LO;
    localparam integer PW = XW + WW + 2;

    initial begin
        if (M < 1 || M > N_OUT) $error("%m: M=%0d not in 1..N_OUT=%0d", M, N_OUT);
        if ((1 << RA) < T + 1) $error("%m: RA=%0d too small for T=%0d", RA, T);
        if ((1 << IA) < N_IN) $error("%m: IA=%0d too small for N_IN=%0d", IA, N_IN);
        if ((1 << LO) * M < N_OUT) $error("%m: LO=%0d too small", LO);
        if (WMODE == 1 && WF != 2) $error("%m: WMODE 1 needs WF=2, got %0d", WF);
        if (WMODE == 0 && WF != WW) $error("%m: WMODE 0 needs WF=WW, got %0d", WF);
        if (ACC_W < 1 || ACC_W > 62) $error("%m: ACC_W=%0d not in 1..62", ACC_W);
    end

    // lowest set bit of v (0 when none)
    function automatic [IA-1:0] lowest(input [N_IN-1:0] v);
        integer k;
        begin
            lowest = {IA{1'b0}};
            for (k = N_IN - 1; k >= 0; k = k - 1)
                if (v[k]) lowest = k[IA-1:0];
        end
    endfunction

    reg out_v;
    wire ce = ~out_v | out_ready;

    // ---- issue ---------------------------------------------------------------------
    reg busy;
    reg [RA-1:0] r;          // next row (busy)
    reg [IA-1:0] ci;         // its input
    reg [N_IN-1:0] nzq;      // nonzero inputs of the vector being issued
    reg [N_IN*XW-1:0] xq;

    wire [N_IN-1:0] nz_in;
    genvar i, m, j;
    generate
        for (i = 0; i < N_IN; i = i + 1) begin : g_nz
            assign nz_in[i] = HAS[i] & (|x[i*XW +: XW]);
        end
    endgenerate

    wire [N_IN-1:0] mask = busy ? nzq : nz_in;
    wire [IA-1:0] cur = busy ? ci : lowest(nz_in);
    wire none = ~busy & ~(|nz_in);                 // all zero: one bias-only cycle
    wire [RA-1:0] row = busy ? r : START[cur*RA +: RA];
    wire end_of_in = (row == LAST[cur*RA +: RA]);
    wire [N_IN:0] oh = {{N_IN{1'b0}}, 1'b1} << cur;
    wire [N_IN:0] upto = (oh << 1) - 1'b1;                                // bits 0..cur
    wire [N_IN-1:0] above = mask & ~upto[N_IN-1:0];                       // inputs after cur
    wire [IA-1:0] nxt = lowest(above);
    wire last_row = none | (end_of_in & ~(|above));
    wire issue = ce & (busy | in_valid);
    assign in_ready = ce & ~busy;

    always @(posedge clk) begin
        if (rst) busy <= 1'b0;
        else if (issue) begin
            busy <= ~last_row;
            if (end_of_in) begin
                ci <= nxt;
                r <= START[nxt*RA +: RA];
            end else begin
                ci <= cur;
                r <= row + 1'b1;
            end
        end
        if (ce && !busy && in_valid) begin
            xq <= x;
            nzq <= nz_in;
        end
    end

    wire [M*EW-1:0] word;
    nnfab_rom #(.DEPTH(T), .WIDTH(M * EW), .AW(RA), .FILE(FILE)) u_rom (
        .clk(clk), .en(ce), .addr(row), .dout(word));

    // ---- stage 1: ROM word and the input valid; multiply ------------------------------
    reg v1, first1, last1, zero1;
    reg [XW-1:0] xc;
    wire [N_IN*XW-1:0] xsrc = busy ? xq : x;
    always @(posedge clk) begin
        if (rst) v1 <= 1'b0;
        else if (ce) v1 <= issue;
        if (ce) begin
            first1 <= ~busy;
            last1 <= last_row;
            zero1 <= none;
            xc <= xsrc[cur*XW +: XW];
        end
    end

    wire signed [XW:0] xs = XS ? {xc[XW-1], xc} : {1'b0, xc};
    reg v2, first2, last2;
    reg [M*ACC_W-1:0] prod;
    reg [M*LO-1:0] osel;
    generate
        for (m = 0; m < M; m = m + 1) begin : g_mul
            wire [EW-1:0] e = word[m*EW +: EW];
            wire [LO-1:0] oi = e[LO-1:0];
            wire [WF-1:0] wr = e[LO +: WF];
            wire signed [ACC_W-1:0] pa;
            if (WMODE == 1) begin : g_addsub
                wire signed [ACC_W-1:0] xa = xs;
                assign pa = wr[1] ? (wr[0] ? -(xa <<< WK) : (xa <<< WK)) : {ACC_W{1'b0}};
            end else begin : g_mult
                wire signed [WW:0] ws = WS ? {wr[WW-1], wr} : {1'b0, wr};
                wire signed [PW-1:0] p = xs * ws;
                assign pa = p;
            end
            always @(posedge clk) if (ce) begin
                prod[m*ACC_W +: ACC_W] <= zero1 ? {ACC_W{1'b0}} : (pa << PSH);
                osel[m*LO +: LO] <= oi;
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

    // ---- stage 2: accumulate; output j from multiplier j % M only ------------------------
    reg [N_OUT*ACC_W-1:0] acc, yq;
    generate
        for (j = 0; j < N_OUT; j = j + 1) begin : g_acc
            wire [ACC_W-1:0] base = first2 ? BIAS[j*ACC_W +: ACC_W] : acc[j*ACC_W +: ACC_W];
            wire hit = (osel[(j % M)*LO +: LO] == j / M);
            wire [ACC_W-1:0] s = base + (hit ? prod[(j % M)*ACC_W +: ACC_W] : {ACC_W{1'b0}});
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
