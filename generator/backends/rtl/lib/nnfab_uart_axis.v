// nnfab_uart_axis: UART <-> AXI-Stream bridge in front of an nnfab network (the host link
// of a board without a processor; framing in docs/ecp5.md).
//
// Host -> FPGA: every IN_BYTES received bytes are one input beat; byte k is
// tdata[8k +: 8] (the generator.packing layout: little-endian, element i of W bits at
// tdata[i*W +: W]). A partial beat is dropped when the line has been quiet for IDLE_BITS
// bit times, so a host resynchronises by pausing. FPGA -> host: every output beat is
// sent as OUT_BYTES bytes, byte 0 (tdata[7:0]) first. The network's backpressure holds
// each output beat until the UART has sent it. An input beat that completes while the
// previous one still waits for the network is dropped and sets the sticky ``overrun``.
`default_nettype none

module nnfab_uart_axis #(
    parameter integer CLKS_PER_BIT = 868,  // clock cycles per bit: clock / baud (>= 4)
    parameter integer IN_BYTES = 1,        // bytes per input beat (>= 1)
    parameter integer OUT_BYTES = 1,       // bytes per output beat (>= 1)
    parameter integer IDLE_BITS = 1000     // quiet bit times that drop a partial beat (>= 20)
) (
    input  wire                    clk,
    input  wire                    rst,        // synchronous, active high
    input  wire                    uart_rx,
    output wire                    uart_tx,
    output reg  [8*IN_BYTES-1:0]   m_axis_tdata,   // to the network
    output reg                     m_axis_tvalid,
    input  wire                    m_axis_tready,
    output wire                    m_axis_tlast,
    input  wire [8*OUT_BYTES-1:0]  s_axis_tdata,   // from the network
    input  wire                    s_axis_tvalid,
    output wire                    s_axis_tready,
    input  wire                    s_axis_tlast,
    output reg                     overrun
);
    initial begin
        if (IN_BYTES < 1 || OUT_BYTES < 1) $error("%m: IN_BYTES, OUT_BYTES must be >= 1");
        if (IDLE_BITS < 20) $error("%m: IDLE_BITS=%0d must be >= 20", IDLE_BITS);
    end
    localparam integer IDLE_CYCLES = IDLE_BITS * CLKS_PER_BIT;
    localparam integer IW = $clog2(IDLE_CYCLES + 1);
    localparam integer BI = $clog2(IN_BYTES + 1);
    localparam integer BO = $clog2(OUT_BYTES + 1);
    localparam [BI-1:0] LAST_IN = IN_BYTES - 1;
    localparam [BO-1:0] ALL_OUT = OUT_BYTES;
    localparam [IW-1:0] QUIET_MAX = IDLE_CYCLES;

    // -- receive: bytes -> beats
    wire [7:0] rx_data;
    wire rx_valid;
    nnfab_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_rx (
        .clk(clk), .rst(rst), .rx(uart_rx), .data(rx_data), .valid(rx_valid));

    // The wide registers (the assembled beat, the beat to the network, the beat being
    // sent) take their enables from registered strobes, one copy per byte (keep: not
    // merged), so no decode fans out across hundreds of register enables: a byte time is
    // thousands of cycles, and each wide register acts one or two cycles after its
    // strobe's cause.
    reg [8*IN_BYTES-1:0] asm_d;        // the beat being assembled (bytes shift in from the top)
    reg [BI-1:0] got;                  // bytes of the beat received so far
    reg [IW-1:0] quiet;                // cycles since the last byte of a partial beat
    reg done1, done2;                  // a beat completed and accepted 1 / 2 cycles ago
    assign m_axis_tlast = 1'b1;

    always @(posedge clk) begin
        if (rst) begin
            got <= 0;
            quiet <= 0;
            m_axis_tvalid <= 1'b0;
            overrun <= 1'b0;
            done1 <= 1'b0;
            done2 <= 1'b0;
        end else begin
            done1 <= 1'b0;
            done2 <= done1;
            if (m_axis_tvalid && m_axis_tready) m_axis_tvalid <= 1'b0;
            // the beat completed two cycles ago is in m_axis_tdata now (below)
            if (done2) m_axis_tvalid <= 1'b1;
            if (rx_valid) begin
                quiet <= 0;
                if (got == LAST_IN) begin
                    got <= 0;
                    // the previous beat has left, or leaves now (none can arrive before
                    // this one reaches m_axis_tdata: bytes are a byte time apart)
                    if (!m_axis_tvalid || m_axis_tready) done1 <= 1'b1;
                    else overrun <= 1'b1;
                end else begin
                    got <= got + 1'b1;
                end
            end else if (got != 0) begin
                if (quiet == QUIET_MAX) begin
                    got <= 0;
                    quiet <= 0;
                end else begin
                    quiet <= quiet + 1'b1;
                end
            end
        end
    end

    genvar k;
    generate
        for (k = 0; k < IN_BYTES; k = k + 1) begin : g_in
            reg sh1, ld2;  // this byte's copies of rx_valid and done1, a cycle later
            (* keep *) always @(posedge clk)
                if (rst) begin
                    sh1 <= 1'b0;
                    ld2 <= 1'b0;
                end else begin
                    sh1 <= rx_valid;
                    ld2 <= done1;
                end
            // a cycle after rx_valid (rx_data holds its byte until the next one) the new
            // byte shifts in at the top; a cycle after done1 the whole beat is assembled
            wire [7:0] nxt;  // the byte shifting in: the new one at the top
            if (k == IN_BYTES - 1) begin : g_top
                assign nxt = rx_data;
            end else begin : g_next
                assign nxt = asm_d[8*(k + 1) +: 8];
            end
            always @(posedge clk) if (sh1) asm_d[8*k +: 8] <= nxt;
            always @(posedge clk) if (ld2) m_axis_tdata[8*k +: 8] <= asm_d[8*k +: 8];
        end
    endgenerate

    // -- transmit: beats -> bytes
    reg [8*OUT_BYTES-1:0] out_d;
    reg [BO-1:0] left;                 // bytes of the beat still to send
    reg idle;                          // left == 0: out_d takes the next beat
    wire tx_ready;
    assign s_axis_tready = idle;
    wire take = idle & s_axis_tvalid;
    wire sent = ~idle & tx_ready;      // the UART takes out_d[7:0] now
    wire idle_n = take ? 1'b0 : (sent ? (left == 1) : idle);
    always @(posedge clk) begin
        if (rst) begin
            left <= 0;
            idle <= 1'b1;
        end else begin
            idle <= idle_n;
            if (take) left <= ALL_OUT;
            else if (sent) left <= left - 1'b1;
        end
    end
    generate
        for (k = 0; k < OUT_BYTES; k = k + 1) begin : g_out
            reg ik, sk;  // this byte's copies of idle and of "sent a cycle ago"
            (* keep *) always @(posedge clk)
                if (rst) begin
                    ik <= 1'b1;
                    sk <= 1'b0;
                end else begin
                    ik <= idle_n;
                    sk <= sent;
                end
            // a new beat (which also ends the shift of a finished one), else a cycle
            // after the UART took byte 0 the next byte moves down (the UART is busy
            // with that byte for a whole frame)
            wire [7:0] nxt;  // the byte moving down (zeros in at the top)
            if (k == OUT_BYTES - 1) begin : g_top
                assign nxt = 8'd0;
            end else begin : g_next
                assign nxt = out_d[8*(k + 1) +: 8];
            end
            always @(posedge clk)
                if (ik && s_axis_tvalid) out_d[8*k +: 8] <= s_axis_tdata[8*k +: 8];
                else if (sk) out_d[8*k +: 8] <= nxt;
        end
    endgenerate
    nnfab_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_tx (
        .clk(clk), .rst(rst), .data(out_d[7:0]), .valid(~idle), .ready(tx_ready),
        .tx(uart_tx));

    wire unused = s_axis_tlast;
endmodule

`default_nettype wire
