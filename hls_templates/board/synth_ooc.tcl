# nnfab: out-of-context synthesis of the nnfab RTL top for a part (flow part-only: a
# board without a processor, or a bare part). Static; design values come from board.tcl.
#   cd OUT/vivado && vivado -mode batch -source synth_ooc.tcl
# Outputs in output/: utilization.rpt, timing_summary.rpt, nnfab_synth.dcp.
set here [file normalize [file dirname [info script]]]
source [file join $here board.tcl]
set rtl_dir [file normalize [file join $here $nnfab_rtl_dir]]
set out_dir [file join $here output]

read_verilog [lsort [glob -directory $rtl_dir *.v]]
foreach m [lsort [glob -nocomplain -directory $rtl_dir *.mem]] {
    read_mem $m
}
synth_design -top $nnfab_top -part $nnfab_part -mode out_of_context
create_clock -name clk -period [format %.3f [expr {1000.0 / $nnfab_clock_mhz}]] [get_ports clk]
file mkdir $out_dir
report_utilization -file [file join $out_dir utilization.rpt]
report_timing_summary -file [file join $out_dir timing_summary.rpt]
write_checkpoint -force [file join $out_dir nnfab_synth.dcp]
puts "nnfab: reports in $out_dir"
