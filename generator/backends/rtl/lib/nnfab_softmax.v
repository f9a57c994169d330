// nnfab_softmax: softmax over N packed raw values (element i at x[i*IN_W +: IN_W]) by
// two lookup tables, exactly as nnfab's reference (generator.ir.Softmax) computes it:
//
//   m = max(x);  e_i = EXP[clip((m - x_i + 2^ES - 1) >> ES, 0, ED - 1)];  s = sum(e) (exact);
//   inv = INV[clip(s >> IS, 0, ID - 1)];  y_i = cast(e_i * inv)
//
// where the product has the tables' fraction bits summed (SHIFT = that sum minus the
// output's) and the cast rounds and saturates as nnfab_requant does. Both tables are
// unsigned. A 4-stage pipeline under nnfab_pipe_ctrl (latency 4, II 1): (1) x and its
// maximum registered; (2) the exp reads, registered (one ROM read port per element:
// block RAM or LUT ROM, as synthesis maps it); (3) the inv read of the exact sum,
// registered, with e delayed beside it; (4) the N products cast into the output type.
`default_nettype none

module nnfab_softmax #(
    parameter integer N = 2,          // elements
    parameter integer IN_W = 8,       // input width
    parameter integer IN_S = 1,       // input signed
    parameter integer EW = 18,        // exp table word width (unsigned)
    parameter integer ED = 1024,      // exp table entries
    parameter integer ES = 0,         // exp index shift
    parameter        EFILE = "e.mem", // exp table image (hex)
    parameter integer IW = 18,        // inv table word width (unsigned)
    parameter integer ID = 1024,      // inv table entries
    parameter integer IS = 0,         // inv index shift
    parameter        IFILE = "i.mem", // inv table image (hex)
    parameter integer OUT_W = 16,     // output width
    parameter integer OUT_S = 0,      // output signed
    parameter integer SHIFT = 0,      // product fraction bits - output fraction bits
    parameter integer ROUND = 0,      // rounding mode code (nnfab_requant)
    parameter integer OVF = 0         // overflow mode code (nnfab_requant)
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [N*IN_W-1:0]  x,
    input  wire               in_valid,
    output wire               in_ready,
    output reg  [N*OUT_W-1:0] y,
    output wire               out_valid,
    input  wire               out_ready
);
    localparam integer DW = IN_W + 2;                  // m - x_i, signed, >= 0
    localparam integer SW = EW + $clog2(N + 1);        // the exact sum of N words
    localparam integer PW = EW + IW;                   // the exact product
    localparam integer EA = (ED > 1) ? $clog2(ED) : 1;
    localparam integer IA = (ID > 1) ? $clog2(ID) : 1;

    initial begin
        if (N < 1) $error("%m: N=%0d must be >= 1", N);
        if (PW > 62) $error("%m: EW + IW = %0d exceeds 62", PW);
    end

    wire ce;
    nnfab_pipe_ctrl #(.S(4)) u_ctrl (.clk(clk), .rst(rst), .in_valid(in_valid),
        .in_ready(in_ready), .out_valid(out_valid), .out_ready(out_ready), .ce(ce));

    reg [EW-1:0] etab [0:ED-1];
    reg [IW-1:0] itab [0:ID-1];
    initial $readmemh(EFILE, etab);
    initial $readmemh(IFILE, itab);

    function automatic signed [DW-1:0] ext(input [IN_W-1:0] v);
        ext = IN_S ? {{(DW - IN_W){v[IN_W-1]}}, v} : {{(DW - IN_W){1'b0}}, v};
    endfunction

    // stage 1: x and its maximum
    reg signed [DW-1:0] mx;
    integer j;
    always @* begin
        mx = ext(x[0 +: IN_W]);
        for (j = 1; j < N; j = j + 1)
            if (ext(x[j*IN_W +: IN_W]) > mx) mx = ext(x[j*IN_W +: IN_W]);
    end
    reg [N*IN_W-1:0] x1;
    reg signed [DW-1:0] m1;
    always @(posedge clk) if (ce) begin
        x1 <= x;
        m1 <= mx;
    end

    // stage 2: one exp read per element
    reg [N*EW-1:0] e2;
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_exp
            wire signed [DW-1:0] d = m1 - ext(x1[i*IN_W +: IN_W]);
            // rounded up (d < 2^IN_W, so d + 2^ES - 1 fits DW bits for ES <= IN_W)
            wire signed [DW-1:0] k = (d + ((1 << ES) - 1)) >>> ES;
            wire [EA-1:0] idx = (k > ED - 1) ? ED - 1 : k[EA-1:0];
            always @(posedge clk) if (ce) e2[i*EW +: EW] <= etab[idx];
        end
    endgenerate

    // stage 3: the exact sum, one inv read; e delayed
    reg [SW-1:0] s;
    always @* begin
        s = {SW{1'b0}};
        for (j = 0; j < N; j = j + 1) s = s + e2[j*EW +: EW];
    end
    wire [SW-1:0] ks = s >> IS;
    wire [IA-1:0] sidx = (ks > ID - 1) ? ID - 1 : ks[IA-1:0];
    reg [IW-1:0] inv3;
    reg [N*EW-1:0] e3;
    always @(posedge clk) if (ce) begin
        inv3 <= itab[sidx];
        e3 <= e2;
    end

    // stage 4: y_i = cast(e_i * inv)
    generate
        for (i = 0; i < N; i = i + 1) begin : g_out
            wire [PW-1:0] p = e3[i*EW +: EW] * inv3;
            wire [OUT_W-1:0] q;
            nnfab_requant #(.IN_W(PW), .IN_S(0), .OUT_W(OUT_W), .OUT_S(OUT_S), .SHIFT(SHIFT),
                            .ROUND(ROUND), .OVF(OVF)) u_rq (.din(p), .dout(q));
            always @(posedge clk) if (ce) y[i*OUT_W +: OUT_W] <= q;
        end
    endgenerate
endmodule

`default_nettype wire
