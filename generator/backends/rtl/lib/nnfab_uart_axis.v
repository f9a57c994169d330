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

    reg [8*IN_BYTES-1:0] asm_d;        // the beat being assembled (bytes shift in from the top)
    wire [8*IN_BYTES+7:0] asm_next = {rx_data, asm_d};
    reg [BI-1:0] got;                  // bytes of the beat received so far
    reg [IW-1:0] quiet;                // cycles since the last byte of a partial beat
    assign m_axis_tlast = 1'b1;

    always @(posedge clk) begin
        if (rst) begin
            got <= 0;
            quiet <= 0;
            m_axis_tvalid <= 1'b0;
            overrun <= 1'b0;
        end else begin
            if (m_axis_tvalid && m_axis_tready) m_axis_tvalid <= 1'b0;
            if (rx_valid) begin
                asm_d <= asm_next[8*IN_BYTES+7:8];
                quiet <= 0;
                if (got == LAST_IN) begin
                    got <= 0;
                    if (!m_axis_tvalid || m_axis_tready) begin
                        m_axis_tdata <= asm_next[8*IN_BYTES+7:8];
                        m_axis_tvalid <= 1'b1;
                    end else begin
                        overrun <= 1'b1;
                    end
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

    // -- transmit: beats -> bytes
    reg [8*OUT_BYTES-1:0] out_d;
    reg [BO-1:0] left;                 // bytes of the beat still to send
    wire tx_ready;
    assign s_axis_tready = (left == 0);
    always @(posedge clk) begin
        if (rst) begin
            left <= 0;
        end else if (left == 0) begin
            if (s_axis_tvalid) begin
                out_d <= s_axis_tdata;
                left <= ALL_OUT;
            end
        end else if (tx_ready) begin
            out_d <= out_d >> 8;
            left <= left - 1'b1;
        end
    end
    nnfab_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_tx (
        .clk(clk), .rst(rst), .data(out_d[7:0]), .valid(left != 0), .ready(tx_ready),
        .tx(uart_tx));

    wire unused = s_axis_tlast;
endmodule

`default_nettype wire
