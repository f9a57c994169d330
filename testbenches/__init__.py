"""cocotb testbenches of nnfab designs (run by ``generator.backends.rtl.sim``).

:mod:`.axis` holds the reusable pieces: an AXI-Stream driver with seeded idle cycles,
a sink with seeded backpressure, a monitor that time-stamps handshakes, and a
scoreboard that compares every output vector with the reference exactly.
:mod:`.nnfab_tb` wires them around a generated nnfab top.
"""
