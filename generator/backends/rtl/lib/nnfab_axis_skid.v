// nnfab_axis_skid: AXI-Stream skid buffer (two registers). s_tready is a register
// output, so the ready path from the datapath is cut at the stream input. One beat of
// latency; full throughput (one beat per cycle) when the consumer is always ready.
`default_nettype none

module nnfab_axis_skid #(
    parameter integer W = 8  // payload width in bits (>= 1)
) (
    input  wire         clk,
    input  wire         rst,      // synchronous, active high
    input  wire [W-1:0] s_data,
    input  wire         s_valid,
    output wire         s_ready,
    output wire [W-1:0] m_data,
    output wire         m_valid,
    input  wire         m_ready
);
    initial if (W < 1) $error("%m: W=%0d must be >= 1", W);

    reg [W-1:0] main_d, skid_d;
    reg main_v, skid_v;
    assign s_ready = ~skid_v;
    assign m_valid = main_v;
    assign m_data  = main_d;

    always @(posedge clk) begin
        if (rst) begin
            main_v <= 1'b0;
            skid_v <= 1'b0;
        end else if (m_ready || !main_v) begin
            // the main slot is free (or being read): refill it, skid entry first
            if (skid_v) begin
                main_d <= skid_d;
                main_v <= 1'b1;
                skid_v <= 1'b0;
            end else begin
                main_d <= s_data;
                main_v <= s_valid;
            end
        end else if (s_valid && !skid_v) begin
            // main slot is held: park the accepted beat in the skid register
            skid_d <= s_data;
            skid_v <= 1'b1;
        end
    end
endmodule

`default_nettype wire
