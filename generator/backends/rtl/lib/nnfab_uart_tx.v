// nnfab_uart_tx: UART transmitter, 8 data bits LSB first, no parity, one stop bit, line
// idle high. A byte is taken when valid and ready are both high; ready is low for the ten
// bit times of its frame.
`default_nettype none

module nnfab_uart_tx #(
    parameter integer CLKS_PER_BIT = 868  // clock cycles per bit: clock / baud (>= 4)
) (
    input  wire       clk,
    input  wire       rst,    // synchronous, active high
    input  wire [7:0] data,
    input  wire       valid,
    output wire       ready,
    output reg        tx      // serial line
);
    initial if (CLKS_PER_BIT < 4) $error("%m: CLKS_PER_BIT=%0d must be >= 4", CLKS_PER_BIT);
    localparam integer CW = $clog2(CLKS_PER_BIT);
    localparam [CW-1:0] FULL = CLKS_PER_BIT - 1;
    localparam [CW-1:0] HALF = CLKS_PER_BIT / 2 - 1;

    reg [8:0] sh;        // data bits then the stop bit, shifted out LSB first
    reg [3:0] left;      // bit times left in the frame (0: idle)
    reg [CW-1:0] cnt;
    assign ready = (left == 4'd0);

    always @(posedge clk) begin
        if (rst) begin
            tx <= 1'b1;
            left <= 4'd0;
            cnt <= 0;
        end else if (left == 4'd0) begin
            if (valid) begin
                tx <= 1'b0;  // start bit
                sh <= {1'b1, data};
                left <= 4'd10;
                cnt <= FULL;
            end
        end else if (cnt != 0) begin
            cnt <= cnt - 1'b1;
        end else begin
            cnt <= FULL;
            left <= left - 4'd1;
            if (left != 4'd1) begin
                tx <= sh[0];
                sh <= {1'b1, sh[8:1]};
            end
        end
    end
endmodule

`default_nettype wire
