// nnfab_admit: the input of a valid-only pipeline (its layers never stall; the vectors
// wait in an output FIFO of CREDITS slots at its end). A vector is admitted while fewer
// than CREDITS vectors are admitted and not yet popped from that FIFO, and no sooner
// than II cycles after the previous one (a folded layer takes a vector every II
// cycles). s_ready is a register: no combinational path from the output side reaches
// the input port, and none reaches the datapath registers (they load every cycle). The
// admitted vector is registered: latency 1 cycle.
`default_nettype none

module nnfab_admit #(
    parameter integer W       = 8,  // payload width in bits (>= 1)
    parameter integer CREDITS = 2,  // slots of the output FIFO (>= 1)
    parameter integer II      = 1   // cycles between two admissions at the least (>= 1)
) (
    input  wire         clk,
    input  wire         rst,      // synchronous, active high
    input  wire [W-1:0] s_data,
    input  wire         s_valid,
    output wire         s_ready,
    output reg  [W-1:0] m_data,
    output reg          m_valid,
    input  wire         pop       // a vector leaves the output FIFO this cycle
);
    localparam integer CW = $clog2(CREDITS + 1);
    localparam integer GW = (II > 1) ? $clog2(II) : 1;
    localparam [CW-1:0] FULL = CREDITS;
    localparam [GW-1:0] GAP = II - 1;
    initial begin
        if (W < 1) $error("%m: W=%0d must be >= 1", W);
        if (CREDITS < 1) $error("%m: CREDITS=%0d must be >= 1", CREDITS);
        if (II < 1) $error("%m: II=%0d must be >= 1", II);
    end

    reg ready_q;
    reg [CW-1:0] used;  // vectors admitted and not yet popped
    reg [GW-1:0] gap;   // cycles until the next admission may happen
    wire take = s_valid & ready_q;
    wire [CW-1:0] used_n = used + {{(CW - 1){1'b0}}, take} - {{(CW - 1){1'b0}}, pop};
    wire [GW-1:0] gap_n = (II == 1) ? {GW{1'b0}}
                        : take ? GAP
                        : (gap != 0) ? gap - 1'b1 : {GW{1'b0}};
    assign s_ready = ready_q;
    always @(posedge clk) begin
        m_data <= s_data;
        if (rst) begin
            ready_q <= 1'b1;
            used <= {CW{1'b0}};
            gap <= {GW{1'b0}};
            m_valid <= 1'b0;
        end else begin
            ready_q <= (used_n != FULL) && (gap_n == 0);
            used <= used_n;
            gap <= gap_n;
            m_valid <= take;
        end
    end
endmodule

`default_nettype wire
