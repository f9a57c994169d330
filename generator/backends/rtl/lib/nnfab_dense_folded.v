// nnfab_dense_folded: a Dense layer folded in time (strategy "resource").
//
// M multipliers are each used R times per input vector. Multiplier m walks its own run
// of R consecutive entries of the layer's nonzero list (ordered by output, then input;
// generator.passes.folding.schedule), so it reads only the U inputs of its list IN_LIST
// and adds only into the contiguous outputs OLO[m]..OHI[m]: an output's accumulator has
// one conditional adder per multiplier that can reach it, not one per multiplier.
//
// The schedule is a ROM of R words (generator.passes.folding.rom_layout); word r holds,
// for m = 0..M-1 at bits [m*EW +: EW], the entry {weight field (WF bits), local input
// index (LA bits), local output index (OL bits)}:
//   WMODE 0: weight field = the raw weight; product = x * w (a multiplier).
//   WMODE 1: every nonzero weight is +-2^WK: field = {nonzero, negative}; product =
//            +-(x << WK) or 0 (an add/subtract, no multiplier: binary/ternary weights).
//   WMODE 2: every nonzero weight is +-2^k, WK <= k < WK + 2^(WF-2): field = {nonzero,
//            negative, k - WK (WF - 2 bits)}; product = +-(x << k) or 0 (a barrel shift
//            and an add/subtract, no multiplier: power-of-two weights, quantized_po2).
//   MUL_LUT 1 (WMODE 0): the multiplier is built in fabric as a shift-add over the
//            weight's bits (the sign bit subtracts), so synthesis spends LUTs, not a
//            DSP48, on it (the board fit uses this when the DSPs run out).
//   LOCAL 1: local input index u selects input IN_LIST[m][u] (a U:1 multiplexer);
//   LOCAL 0: it is the input index itself (U = N_IN).
// Padding entries have weight 0 / field 0.
//
// Pipeline (all registers advance on ce = !out_valid || out_ready), by PIPE:
//
// PIPE 0 (II = R cycles, latency = R + 2 cycles; the Xilinx families, whose DSP48
// absorbs the product register):
//   issue   : row counter r addresses the ROM; at r == 0 a new vector is accepted and
//             latched in xq (in_ready = ce && r == 0)
//   stage 1 : ROM word valid; select the input, multiply -> product register
//   stage 2 : accumulate (below)
//
// PIPE 1 (II = R cycles, latency = R + 7 cycles; ECP5, whose routed fabric paths to
// and from the DSP column are long: every register a multiplier reads is its own, and
// only register-to-register routes enter or leave the DSP):
//   issue   : row counter r addresses the ROM (ROM_LUT: each multiplier's own LUT ROM,
//             addressed by its own copy of r); at r == 0 a new vector is accepted and
//             latched in xq (in_ready = ce && r == 0); at the next advance it moves on
//             beside the ROM word: LOCAL 0 to one register xq2, LOCAL 1 to each
//             multiplier's own registers of the inputs of its list
//   stage 1 : ROM word valid -> each multiplier registers its own entry (placed by its
//             multiplier: no register shared by several multipliers fans out to them)
//   stage 2 : select the input -> the selected input and the weight field registered in
//             the fabric
//   stage 3 : operand registers; stage 4: multiply (add/subtract, shift) -> product
//             register. WMODE 0 without MUL_LUT is nnfab_mul, whose own operand and
//             product registers are stages 3 and 4 (an ECP5 MULT18X18D's input and
//             output registers under NNFAB_ECP5)
//   stage 5 : the products registered in the fabric
//   stage 6 : ACC 0: the products reaching each output added (one adder per multiplier
//             reaching it after the first) -> a register per output; ACC 1: the products
//             registered once more
//   stage 7 : accumulate (below), on each output's and multiplier's own copies of the
//             valid / first / last bits
//
// Accumulate, ACC 0 (an accumulator per output): acc[j] (+)= products of the multipliers
//             reaching j whose local output index points at j (first row: starts from
//             the bias); on the last row the sums go to the output register.
// Accumulate, ACC 1 (an accumulator per multiplier, for layers folded onto fewer
//             multipliers than outputs): multiplier m's running sum a[m] restarts --
//             from the bias if m is the first multiplier reaching that output, else
//             from 0 -- whenever its local output index changes (padding entries keep
//             the last one), and every row writes a[m] + product to the output it
//             works on; an output reached by one multiplier is then complete after its
//             last entry, one shared by several (the ends of their runs) is the sum of
//             their parts on the last row: the part of a multiplier that moved on was
//             kept in head[m]. Outputs with no nonzero weight (HAS[j] = 0) are their bias.
// Arithmetic is modulo 2^ACC_W (the Dense output width, which holds the exact sum).
// Products are aligned to the accumulator fraction by PSH, the bias by its stored
// value (already aligned by the generator).
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
    parameter integer WMODE = 0,   // 0: multiply by the weight; 1: +-(x << WK); 2: +-(x << k)
    parameter integer WK    = 0,   // WMODE 1: the weights' common exponent; 2: the smallest
    parameter integer WF    = WW,  // weight field bits of an entry (WW; 2 for WMODE 1; 2 + exponent bits for 2)
    parameter integer MUL_LUT = 0, // WMODE 0: 1 = shift-add multipliers in LUTs (no DSP)
    parameter integer ACC   = 0,   // 0: an accumulator per output; 1: per multiplier
    parameter integer LOCAL = 0,   // 1: per-multiplier input lists IN_LIST
    parameter integer U     = N_IN,  // inputs per multiplier list (N_IN when LOCAL = 0)
    parameter integer LA    = IA,  // local input-index width (2^LA >= U)
    parameter integer OL    = OA,  // local output-index width
    parameter [(LOCAL ? M*U*IA : 1)-1:0] IN_LIST = 0,  // input of (m, u) at [(m*U+u)*IA +: IA]
    parameter [M*OA-1:0] OLO = 0,  // first output of multiplier m at [m*OA +: OA]
    parameter [M*OA-1:0] OHI = 0,  // last output of multiplier m
    parameter        FILE  = "schedule.mem",  // ROM image of the schedule (R words)
    parameter [N_OUT*ACC_W-1:0] BIAS = 0,    // aligned bias per output (output j at [j*ACC_W +: ACC_W])
    parameter [N_OUT-1:0] HAS = {N_OUT{1'b1}}, // ACC 1: output j has a nonzero weight
    parameter integer PIPE  = 0,   // 0: latency R + 2; 1: latency R + 7, registers kept apart per multiplier
    parameter integer ROM_LUT = 0, // PIPE 1: 1 = the schedule in ROM (not FILE), each multiplier
                                   // reading its own LUT ROM with its own copy of the row counter
    parameter [(ROM_LUT ? R*M*(WF+LA+OL) : 1)-1:0] ROM = 0  // ROM_LUT: word r at [r*M*EW +: M*EW]
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
    localparam integer EW = WF + LA + OL;  // bits of one schedule entry
    // the first and the last multiplier whose outputs OLO[m]..OHI[m] hold output jj (M
    // and -1: none). The runs follow the schedule's output order (OLO and OHI never
    // decrease with m), so every multiplier reaching jj lies between them, and each is
    // found by bisection: an output's sums loop over those few, not over M
    function integer m_first(input integer jj);  // the first m with OHI[m] >= jj
        integer lo, hi, mid;
        begin
            lo = 0;
            hi = M;
            while (lo < hi) begin
                mid = (lo + hi) / 2;
                if (OHI[mid*OA +: OA] < jj) lo = mid + 1;
                else hi = mid;
            end
            m_first = (lo < M && OLO[lo*OA +: OA] <= jj) ? lo : M;
        end
    endfunction
    function integer m_last(input integer jj);  // the last m with OLO[m] <= jj
        integer lo, hi, mid;
        begin
            lo = 0;
            hi = M;
            while (lo < hi) begin
                mid = (lo + hi) / 2;
                if (OLO[mid*OA +: OA] <= jj) lo = mid + 1;
                else hi = mid;
            end
            m_last = (lo > 0 && OHI[(lo-1)*OA +: OA] >= jj) ? lo - 1 : -1;
        end
    endfunction
    localparam integer PW = XW + WW + 2;   // exact signed product width

    initial begin
        if (R < 1) $error("%m: R=%0d must be >= 1", R);
        if (M < 1) $error("%m: M=%0d must be >= 1", M);
        if ((1 << IA) < N_IN) $error("%m: IA=%0d too small for N_IN=%0d", IA, N_IN);
        if ((1 << OA) < N_OUT) $error("%m: OA=%0d too small for N_OUT=%0d", OA, N_OUT);
        if ((1 << RA) < R) $error("%m: RA=%0d too small for R=%0d", RA, R);
        if ((1 << LA) < U) $error("%m: LA=%0d too small for U=%0d", LA, U);
        if (!LOCAL && U != N_IN) $error("%m: U=%0d must equal N_IN without LOCAL", U);
        if (WMODE == 1 && WF != 2) $error("%m: WMODE 1 needs WF=2, got %0d", WF);
        if (WMODE == 2 && WF < 3) $error("%m: WMODE 2 needs WF>=3, got %0d", WF);
        if (WMODE == 0 && WF != WW) $error("%m: WMODE 0 needs WF=WW, got %0d", WF);
        if (PSH < 0) $error("%m: PSH=%0d must be >= 0", PSH);
        if (ACC_W < 1 || ACC_W > 62) $error("%m: ACC_W=%0d not in 1..62", ACC_W);
        if (PIPE != 0 && PIPE != 1) $error("%m: PIPE=%0d must be 0 or 1", PIPE);
        if (ROM_LUT && !PIPE) $error("%m: ROM_LUT needs PIPE 1");
    end

    reg out_v;
    wire ce = ~out_v | out_ready;

    // ---- issue: row counter and the latched input vector -------------------------
    reg [RA-1:0] r;
    reg [N_IN*XW-1:0] xq;
    wire [N_IN*XW-1:0] xd;  // the vector LOCAL 0's multiplexers read (PIPE 1: a stage later)
    wire start = (r == {RA{1'b0}});
    assign in_ready = ce & start;
    wire issue = ce & (start ? in_valid : 1'b1);
    wire load = ce & start & in_valid;
    always @(posedge clk) begin
        if (rst) r <= {RA{1'b0}};
        else if (issue) r <= (r == R - 1) ? {RA{1'b0}} : r + 1'b1;
    end
    genvar i;
    generate
        if (PIPE == 0) begin : g_xq_one
            always @(posedge clk) if (load) xq <= x;
            assign xd = xq;
        end else begin : g_xq_copies
            // the multiplexers read the vector one stage after the ROM word (stage 2): it
            // moves on from xq with the ROM word, so the next vector's latch does not
            // overwrite it before the last row has read it. Each input element has its
            // own copy of the row counter and of "latched at the previous advance" (keep:
            // not merged), so no one enable net or decode of r fans out to every bit of
            // the vector.
            for (i = 0; i < N_IN; i = i + 1) begin : g_xq
                reg [RA-1:0] rc;  // equal to r
                reg ld1;
                wire st = (rc == {RA{1'b0}});
                (* keep *) always @(posedge clk)
                    if (rst) begin
                        rc <= {RA{1'b0}};
                        ld1 <= 1'b0;
                    end else begin
                        if (ce & (st ? in_valid : 1'b1))
                            rc <= (rc == R - 1) ? {RA{1'b0}} : rc + 1'b1;
                        if (ce) ld1 <= ce & st & in_valid;
                    end
                always @(posedge clk) if (ce && st && in_valid) xq[i*XW +: XW] <= x[i*XW +: XW];
                if (!LOCAL) begin : g_xq2
                    reg [XW-1:0] x2;
                    always @(posedge clk) if (ce && ld1) x2 <= xq[i*XW +: XW];
                    assign xd[i*XW +: XW] = x2;
                end else begin : g_xd
                    assign xd[i*XW +: XW] = xq[i*XW +: XW];  // not read (LOCAL 1 copies xq)
                end
            end
        end
    endgenerate

    wire [M*EW-1:0] word;
    genvar m, u, j, rw;
    generate
        if (!ROM_LUT) begin : g_rom
            nnfab_rom #(.DEPTH(R), .WIDTH(M * EW), .AW(RA), .FILE(FILE)) u_rom (
                .clk(clk), .en(ce), .addr(r), .dout(word));
        end else begin : g_rom_lut
            // each multiplier reads its entries from its own LUT ROM, addressed by its own
            // copy of the row counter (keep: not merged), so no address net fans out to
            // every ROM column and no decode is shared across the layer
            for (m = 0; m < M; m = m + 1) begin : g_w
                reg [RA-1:0] ra;  // equal to r
                reg [EW-1:0] w;
                wire st = (ra == {RA{1'b0}});
                (* keep *) always @(posedge clk)
                    if (rst) ra <= {RA{1'b0}};
                    else if (ce & (st ? in_valid : 1'b1))
                        ra <= (ra == R - 1) ? {RA{1'b0}} : ra + 1'b1;
                wire [R*EW-1:0] col;  // this multiplier's entries, row by row
                for (rw = 0; rw < R; rw = rw + 1) begin : g_row
                    assign col[rw*EW +: EW] = ROM[(rw*M + m)*EW +: EW];
                end
                always @(posedge clk) if (ce) w <= col[ra*EW +: EW];
                assign word[m*EW +: EW] = w;
            end
        end
    endgenerate

    // ---- stage 1: ROM word valid ----------------------------------------------------
    reg v1, first1, last1;
    always @(posedge clk) begin
        if (rst) v1 <= 1'b0;
        else if (ce) begin
            v1 <= issue;
            first1 <= start;
            last1 <= (r == R - 1);
        end
    end

    // ---- the multipliers: PIPE 0 stage 1, PIPE 1 stages 1 to 3 ----------------------
    reg v2, first2, last2;
    wire [M*ACC_W-1:0] prod;  // the product registers, aligned to the accumulator
    reg [M*OL-1:0] osel;  // the output index beside the product
    reg [M-1:0] newo;  // ACC 1: the entry starts an output of its multiplier's run
    generate
        for (m = 0; m < M; m = m + 1) begin : g_mul
            wire [EW-1:0] e;
            if (PIPE == 0) begin : g_e_word
                assign e = word[m*EW +: EW];
            end else begin : g_e_copy
                // the entry, registered by this multiplier (keep: synthesis must not
                // merge the equal ROM columns of several multipliers into one register,
                // whose fan-out would cross the DSP column)
                reg [EW-1:0] ec;
                (* keep *) always @(posedge clk) if (ce) ec <= word[m*EW +: EW];
                assign e = ec;
            end
            wire [OL-1:0] oi = e[OL-1:0];
            wire [LA-1:0] li = e[OL +: LA];
            wire [WF-1:0] wr = e[OL + LA +: WF];
            wire [XW-1:0] xr;
            if (LOCAL && PIPE == 0) begin : g_local
                // this multiplier's inputs, wired by constant index: a U:1 multiplexer
                wire [U*XW-1:0] cand;
                for (u = 0; u < U; u = u + 1) begin : g_cand
                    assign cand[u*XW +: XW] = xq[IN_LIST[(m*U + u)*IA +: IA]*XW +: XW];
                end
                assign xr = cand[li*XW +: XW];
            end else if (LOCAL) begin : g_local_copy
                // this multiplier's own copy of the inputs of its list, latched with the
                // vector (keep: synthesis must not merge the copies of an input several
                // multipliers read back into one register, whose fan-out would cross
                // the DSP column), and a U:1 multiplexer over them. A list padded with
                // its first entry reads that entry's register.
                wire [U*XW-1:0] cand;
                reg ld1;  // this multiplier's copy: the vector was latched in xq at the
                          // previous advance (keep: not merged)
                (* keep *) always @(posedge clk) if (rst) ld1 <= 1'b0; else if (ce) ld1 <= load;
                for (u = 0; u < U; u = u + 1) begin : g_cand
                    localparam integer I = IN_LIST[(m*U + u)*IA +: IA];
                    if (u > 0 && I == IN_LIST[m*U*IA +: IA]) begin : g_pad
                        assign cand[u*XW +: XW] = cand[0 +: XW];
                    end else begin : g_reg
                        reg [XW-1:0] c;
                        (* keep *) always @(posedge clk) if (ce && ld1) c <= xq[I*XW +: XW];
                        assign cand[u*XW +: XW] = c;
                    end
                end
                assign xr = cand[li*XW +: XW];
            end else begin : g_global
                assign xr = xd[li*XW +: XW];
            end
            // the operands the multiply reads: PIPE 0 the selected input and the ROM's
            // weight field; PIPE 1 registers them in the fabric by the multiplexer
            // (stage 2), so only a register-to-register route reaches the DSP column
            wire [XW-1:0] xs_;
            wire [WF-1:0] ws_;
            if (PIPE == 0) begin : g_sel
                assign xs_ = xr;
                assign ws_ = wr;
            end else begin : g_sel_reg
                reg [XW-1:0] xsr;
                reg [WF-1:0] wsr;
                always @(posedge clk) if (ce) begin
                    xsr <= xr;
                    wsr <= wr;
                end
                assign xs_ = xsr;
                assign ws_ = wsr;
            end
            if (PIPE == 0) begin : g_osel
                always @(posedge clk) if (ce) begin
                    osel[m*OL +: OL] <= oi;
                    // osel still holds the previous row's index (rows of a frame are
                    // issued back to back; the first row of a frame always starts an output)
                    newo[m] <= first1 | (oi != osel[m*OL +: OL]);
                end
            end else begin : g_osel
                reg [OL-1:0] osel3, osel4;  // beside the selected and the registered operands
                reg newo3, newo4;
                always @(posedge clk) if (ce) begin
                    osel3 <= oi;
                    // osel3 still holds the previous row's index (as above)
                    newo3 <= first2 | (oi != osel3);
                    osel4 <= osel3;
                    newo4 <= newo3;
                    osel[m*OL +: OL] <= osel4;
                    newo[m] <= newo4;
                end
            end
            if (WMODE == 0 && !MUL_LUT && PIPE == 1) begin : g_mult
                // operand registers and product register inside the multiplier block
                wire [PW-1:0] p;
                nnfab_mul #(.AW(XW), .AS(XS), .BW(WW), .BS(WS), .PW(PW)) u_mul (
                    .clk(clk), .ce(ce), .a(xs_), .b(ws_), .p(p));
                wire signed [ACC_W-1:0] pa = $signed(p);  // sign-extend or wrap to ACC_W
                assign prod[m*ACC_W +: ACC_W] = pa << PSH;
            end else begin : g_logic
                // the operands: PIPE 1 registers them once more (stage 3, as nnfab_mul),
                // PIPE 0 multiplies the selected input and the ROM's weight field directly
                wire [XW-1:0] xo;
                wire [WF-1:0] wo;
                if (PIPE == 0) begin : g_opnd_wire
                    assign xo = xs_;
                    assign wo = ws_;
                end else begin : g_opnd_reg
                    reg [XW-1:0] xor_;
                    reg [WF-1:0] wor_;
                    always @(posedge clk) if (ce) begin
                        xor_ <= xs_;
                        wor_ <= ws_;
                    end
                    assign xo = xor_;
                    assign wo = wor_;
                end
                reg [ACC_W-1:0] pq;  // product register
                wire signed [XW:0] xs = XS ? {xo[XW-1], xo} : {1'b0, xo};
                wire signed [ACC_W-1:0] pa;
                if (WMODE == 1) begin : g_addsub
                    wire signed [ACC_W-1:0] xa = xs;  // sign-extend or wrap to ACC_W
                    assign pa = wo[1] ? (wo[0] ? -(xa <<< WK) : (xa <<< WK)) : {ACC_W{1'b0}};
                end else if (WMODE == 2) begin : g_shift
                    wire signed [ACC_W-1:0] xa = xs;  // sign-extend or wrap to ACC_W
                    wire signed [ACC_W-1:0] sx = xa <<< (WK + wo[WF-3:0]);
                    assign pa = wo[WF-1] ? (wo[WF-2] ? -sx : sx) : {ACC_W{1'b0}};
                end else if (MUL_LUT) begin : g_lutmul
                    // x * w = sum of (x << k) over w's set bits; the sign bit (WS) weighs
                    // -2^(WW-1). Exact in PW bits like nnfab_mul.
                    wire signed [PW-1:0] xp = xs;
                    reg signed [PW-1:0] lp;
                    integer k;
                    always @* begin
                        lp = {PW{1'b0}};
                        for (k = 0; k < WW; k = k + 1)
                            if (wo[k]) lp = (WS && k == WW - 1) ? lp - (xp <<< k) : lp + (xp <<< k);
                    end
                    assign pa = lp;  // sign-extend or wrap to ACC_W
                end else begin : g_mul_comb
                    // PIPE 0: synthesis packs this product and its register into a DSP48
                    wire signed [WW:0] ws = WS ? {wo[WW-1], wo} : {1'b0, wo};
                    wire signed [PW-1:0] mp = xs * ws;
                    assign pa = mp;  // sign-extend or wrap to ACC_W
                end
                always @(posedge clk) if (ce) pq <= pa << PSH;
                assign prod[m*ACC_W +: ACC_W] = pq;
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
    // the products the accumulate reads with their output indices (PIPE 1: registered
    // once more, in the fabric: only a register-to-register route leaves the DSP column)
    wire [M*ACC_W-1:0] pacc;
    wire [M*OL-1:0] oacc;
    wire [M-1:0] nacc;
    // the control bits beside them (PIPE 0: stage 2, PIPE 1: stage 6) and the output
    // register's next valid bit
    wire pv, pf, pl, ov;
    generate
        if (PIPE == 0) begin : g_ctrl
            assign pacc = prod;
            assign oacc = osel;
            assign nacc = newo;
            assign pv = v2;
            assign pf = first2;
            assign pl = last2;
            assign ov = v2 & last2;
        end else begin : g_ctrl
            reg [M*ACC_W-1:0] pr;
            reg [M*OL-1:0] orr;
            reg [M-1:0] nr;
            always @(posedge clk) if (ce) begin
                pr <= prod;
                orr <= osel;
                nr <= newo;
            end
            assign pacc = pr;
            assign oacc = orr;
            assign nacc = nr;
            reg v3, first3, last3, v4, first4, last4, v5, first5, last5, v6, first6, last6;
            reg v7, last7;
            always @(posedge clk) begin
                if (rst) begin
                    v3 <= 1'b0;
                    v4 <= 1'b0;
                    v5 <= 1'b0;
                    v6 <= 1'b0;
                    v7 <= 1'b0;
                end else if (ce) begin
                    v3 <= v2;
                    first3 <= first2;
                    last3 <= last2;
                    v4 <= v3;
                    first4 <= first3;
                    last4 <= last3;
                    v5 <= v4;
                    first5 <= first4;
                    last5 <= last4;
                    v6 <= v5;
                    first6 <= first5;
                    last6 <= last5;
                    v7 <= v6;
                    last7 <= last6;
                end
            end
            assign pv = v6;
            assign pf = first6;
            assign pl = last6;
            assign ov = v7 & last7;
        end
    endgenerate

    // ---- accumulate per output, from the multipliers that reach it ---------------------
    // (PIPE 0: stage 2 on the product registers; PIPE 1: stages 6 and 7)
    reg [N_OUT*ACC_W-1:0] acc, yq;
    generate
        if (ACC == 1) begin : g_run
            // the products and their output indices the accumulate reads: PIPE 1
            // registers them once more (stage 6, the stage ACC 0 adds its products in)
            wire [M*ACC_W-1:0] pd;
            wire [M*OL-1:0] od;
            wire [M-1:0] nd;
            if (PIPE == 0) begin : g_direct
                assign pd = pacc;
                assign od = oacc;
                assign nd = nacc;
            end else begin : g_stage4
                reg [M*ACC_W-1:0] pd_;
                reg [M*OL-1:0] od_;
                reg [M-1:0] nd_;
                always @(posedge clk) if (ce) begin
                    pd_ <= pacc;
                    od_ <= oacc;
                    nd_ <= nacc;
                end
                assign pd = pd_;
                assign od = od_;
                assign nd = nd_;
            end
            // a[m] + product, the running sum of the output multiplier m works on
            wire [M*ACC_W-1:0] an;
            reg [M*ACC_W-1:0] a, head;
            for (m = 0; m < M; m = m + 1) begin : g_ma
                localparam integer LO = OLO[m*OA +: OA];
                localparam integer HI = OHI[m*OA +: OA];
                // restart value: the output's bias if no earlier multiplier reaches it
                reg [ACC_W-1:0] st;
                integer q;
                always @* begin
                    st = {ACC_W{1'b0}};
                    for (q = 0; q <= HI - LO; q = q + 1)
                        if (od[m*OL +: OL] == q
                            && (q > 0 || m == 0 || OHI[(m > 0 ? m - 1 : 0)*OA +: OA] < LO))
                            st = BIAS[(LO + q)*ACC_W +: ACC_W];
                end
                assign an[m*ACC_W +: ACC_W] = (nd[m] ? st : a[m*ACC_W +: ACC_W])
                                              + pd[m*ACC_W +: ACC_W];
                wire vm;  // the valid bit beside pd (PIPE 1: this multiplier's copy)
                if (PIPE == 0) begin : g_vm
                    assign vm = v2;
                end else begin : g_vm_copy
                    reg vc;
                    (* keep *) always @(posedge clk) if (rst) vc <= 1'b0; else if (ce) vc <= pv;
                    assign vm = vc;
                end
                always @(posedge clk) if (ce && vm) begin
                    a[m*ACC_W +: ACC_W] <= an[m*ACC_W +: ACC_W];
                    if (od[m*OL +: OL] == 0) head[m*ACC_W +: ACC_W] <= an[m*ACC_W +: ACC_W];
                end
            end
            for (j = 0; j < N_OUT; j = j + 1) begin : g_out
                // the multipliers reaching j: those whose run ends at j are on it in the
                // last row; the one (at most) whose run goes on past j kept it in head
                localparam integer K0 = m_first(j), K1 = m_last(j);
                reg [ACC_W-1:0] s, one;
                reg on_j;
                integer k, n;
                always @* begin
                    s = {ACC_W{1'b0}};
                    one = {ACC_W{1'b0}};
                    n = 0;
                    on_j = 1'b0;
                    for (k = K0; k <= K1; k = k + 1)
                        if (OLO[k*OA +: OA] <= j && j <= OHI[k*OA +: OA]) begin
                            n = n + 1;
                            one = an[k*ACC_W +: ACC_W];
                            if (OHI[k*OA +: OA] == j) s = s + an[k*ACC_W +: ACC_W];
                            else s = s + head[k*ACC_W +: ACC_W];
                            if (od[k*OL +: OL] == j - OLO[k*OA +: OA]) on_j = 1'b1;
                        end
                end
                if (!HAS[j]) begin : g_const
                    always @(posedge clk) yq[j*ACC_W +: ACC_W] <= BIAS[j*ACC_W +: ACC_W];
                end else begin : g_sum
                    // one multiplier: its running sum, written on every row it is on j
                    // (the last write is the whole sum); several: on the last row
                    wire vo, lo;  // the valid and last bits (PIPE 1: this output's copies)
                    if (PIPE == 0) begin : g_vl
                        assign vo = v2;
                        assign lo = last2;
                    end else begin : g_vl_copy
                        reg vc, lc;
                        (* keep *) always @(posedge clk)
                            if (rst) vc <= 1'b0;
                            else if (ce) begin
                                vc <= pv;
                                lc <= pl;
                            end
                        assign vo = vc;
                        assign lo = lc;
                    end
                    always @(posedge clk) if (ce && vo && (n > 1 ? lo : on_j))
                        yq[j*ACC_W +: ACC_W] <= (n > 1) ? s : one;
                end
            end
        end else begin : g_outacc
        for (j = 0; j < N_OUT; j = j + 1) begin : g_acc
            localparam integer K0 = m_first(j), K1 = m_last(j);
            // product of multiplier m (K0 <= m <= K1, at slot m - K0) if it adds into j
            wire [(K1 >= K0 ? K1 - K0 + 1 : 1)*ACC_W-1:0] t;
            for (m = K0; m <= K1; m = m + 1) begin : g_term
                if (OLO[m*OA +: OA] <= j && j <= OHI[m*OA +: OA]) begin : g_on
                    assign t[(m-K0)*ACC_W +: ACC_W] = (oacc[m*OL +: OL] == j - OLO[m*OA +: OA])
                        ? pacc[m*ACC_W +: ACC_W] : {ACC_W{1'b0}};
                end else begin : g_off
                    assign t[(m-K0)*ACC_W +: ACC_W] = {ACC_W{1'b0}};
                end
            end
            wire [ACC_W-1:0] s;  // the accumulator's next value
            wire vo, lo;  // valid and last beside s
            integer k;
            if (PIPE == 0) begin : g_sum
                reg [ACC_W-1:0] sc;
                always @* begin
                    sc = first2 ? BIAS[j*ACC_W +: ACC_W] : acc[j*ACC_W +: ACC_W];
                    for (k = K0; k <= K1; k = k + 1)
                        if (OLO[k*OA +: OA] <= j && j <= OHI[k*OA +: OA])
                            sc = sc + t[(k-K0)*ACC_W +: ACC_W];
                end
                assign s = sc;
                assign vo = v2;
                assign lo = last2;
            end else begin : g_sum_reg
                // stage 6: this row's products reaching j, added and registered
                reg [ACC_W-1:0] tsum, ts;
                always @* begin
                    tsum = {ACC_W{1'b0}};
                    for (k = K0; k <= K1; k = k + 1)
                        if (OLO[k*OA +: OA] <= j && j <= OHI[k*OA +: OA])
                            tsum = tsum + t[(k-K0)*ACC_W +: ACC_W];
                end
                always @(posedge clk) if (ce) ts <= tsum;
                // this output's copies of v7, first7, last7 (keep: not merged into one
                // register fanning out to every accumulator bit)
                reg vc, fc, lc;
                (* keep *) always @(posedge clk)
                    if (rst) vc <= 1'b0;
                    else if (ce) begin
                        vc <= pv;
                        fc <= pf;
                        lc <= pl;
                    end
                assign s = (fc ? BIAS[j*ACC_W +: ACC_W] : acc[j*ACC_W +: ACC_W]) + ts;
                assign vo = vc;
                assign lo = lc;
            end
            always @(posedge clk) if (ce && vo) begin
                if (lo) yq[j*ACC_W +: ACC_W] <= s;
                else acc[j*ACC_W +: ACC_W] <= s;
            end
        end
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) out_v <= 1'b0;
        else if (ce) out_v <= ov;
    end
    assign y = yq;
    assign out_valid = out_v;
endmodule

`default_nettype wire
