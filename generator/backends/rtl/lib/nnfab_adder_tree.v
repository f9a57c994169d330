// nnfab_adder_tree: pipelined balanced binary adder tree over N terms of W bits.
//
// All additions are modulo 2^W (two's complement wrap-around): the generator chooses W
// so that the final sum is exact, and then every wrapped partial sum still gives the
// exact final value. Level l (1..D, D = ceil(log2 N)) holds ceil(N / 2^l) nodes; a
// register follows every level l with l % LPS == 0, and the last level is always
// registered. Latency: max(1, ceil(D / LPS)) cycles; all registers use `ce`.
`default_nettype none

module nnfab_adder_tree #(
    parameter integer N   = 2,  // number of terms (>= 1)
    parameter integer W   = 16, // width of terms and sum
    parameter integer LPS = 2   // adder levels per register stage (>= 1)
) (
    input  wire           clk,
    input  wire           ce,
    input  wire [N*W-1:0] terms,  // term i at bits [i*W +: W]
    output wire [W-1:0]   sum
);
    initial begin
        if (N < 1) $error("%m: N=%0d must be >= 1", N);
        if (W < 1) $error("%m: W=%0d must be >= 1", W);
        if (LPS < 1) $error("%m: LPS=%0d must be >= 1", LPS);
    end

    function automatic integer clog2(input integer v);
        integer k;
        begin
            clog2 = 0;
            for (k = 1; k < v; k = k * 2) clog2 = clog2 + 1;
        end
    endfunction
    // nodes on level l
    function automatic integer cnt(input integer l);
        cnt = (N + (1 << l) - 1) >> l;
    endfunction

    localparam integer D = clog2(N);

    // level l is the vector g_lvl[l].v of cnt(l) nodes (level 0: the terms)
    genvar l, i;
    generate
        for (l = 0; l <= D; l = l + 1) begin : g_lvl
            wire [cnt(l)*W-1:0] v;
            if (l == 0) begin : g_in
                assign v = terms;
            end else begin : g_sum
                for (i = 0; i < cnt(l); i = i + 1) begin : g_node
                    wire [W-1:0] s;
                    if (2 * i + 1 < cnt(l - 1)) begin : g_add
                        assign s = g_lvl[l - 1].v[2 * i * W +: W] + g_lvl[l - 1].v[(2 * i + 1) * W +: W];
                    end else begin : g_pass
                        assign s = g_lvl[l - 1].v[2 * i * W +: W];
                    end
                    if (l % LPS == 0) begin : g_reg
                        reg [W-1:0] r;
                        always @(posedge clk) if (ce) r <= s;
                        assign v[i * W +: W] = r;
                    end else begin : g_comb
                        assign v[i * W +: W] = s;
                    end
                end
            end
        end
        if (D == 0 || D % LPS != 0) begin : g_out_reg
            reg [W-1:0] r;
            always @(posedge clk) if (ce) r <= g_lvl[D].v;
            assign sum = r;
        end else begin : g_out
            assign sum = g_lvl[D].v;
        end
    endgenerate
endmodule

`default_nettype wire
