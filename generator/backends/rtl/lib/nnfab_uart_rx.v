// nnfab_uart_rx: UART receiver, 8 data bits LSB first, no parity, one stop bit, line idle
// high. The line is synchronised by two registers; a start bit is sampled at its middle
// (a glitch shorter than half a bit is not a start) and every bit after it one bit time
// later. A byte whose stop bit is low (framing error) is dropped.
`default_nettype none

module nnfab_uart_rx #(
    parameter integer CLKS_PER_BIT = 868  // clock cycles per bit: clock / baud (>= 4)
) (
    input  wire       clk,
    input  wire       rst,    // synchronous, active high
    input  wire       rx,     // serial line (asynchronous to clk)
    output reg  [7:0] data,   // the last byte received
    output reg        valid   // one cycle: data holds a new byte
);
    initial if (CLKS_PER_BIT < 4) $error("%m: CLKS_PER_BIT=%0d must be >= 4", CLKS_PER_BIT);
    localparam integer CW = $clog2(CLKS_PER_BIT);
    localparam [CW-1:0] FULL = CLKS_PER_BIT - 1;
    localparam [CW-1:0] HALF = CLKS_PER_BIT / 2 - 1;

    reg [1:0] sync;
    wire line = sync[1];
    reg busy;
    reg [CW-1:0] cnt;   // cycles to the next sample
    reg [3:0] bitn;     // 0: start bit, 1..8: data bits, 9: stop bit
    reg [7:0] sh;

    always @(posedge clk) begin
        valid <= 1'b0;
        if (rst) begin
            sync <= 2'b11;
            busy <= 1'b0;
            cnt <= 0;
            bitn <= 4'd0;
        end else begin
            sync <= {sync[0], rx};
            if (!busy) begin
                if (!line) begin  // a falling edge: sample the start bit half a bit later
                    busy <= 1'b1;
                    cnt <= HALF;
                    bitn <= 4'd0;
                end
            end else if (cnt != 0) begin
                cnt <= cnt - 1'b1;
            end else begin
                cnt <= FULL;
                bitn <= bitn + 4'd1;
                if (bitn == 4'd0) begin
                    if (line) busy <= 1'b0;  // not a start bit
                end else if (bitn == 4'd9) begin
                    busy <= 1'b0;
                    if (line) begin
                        data <= sh;
                        valid <= 1'b1;
                    end
                end else begin
                    sh <= {line, sh[7:1]};
                end
            end
        end
    end
endmodule

`default_nettype wire
