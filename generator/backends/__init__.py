"""Backends render the typed, folded graph into other views (HLS C++, Verilog).

They decide nothing about arithmetic: types, folding schedules, zero-skipping and
tables all come from the passes (see ``generator/passes``).
"""
