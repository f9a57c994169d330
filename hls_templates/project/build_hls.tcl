# nnfab: vendor HLS flow for a generated project (static; the same for every design).
#
#   cd OUT/hls && vitis_hls -f build_hls.tcl [-tclargs csim=1 synth=1 cosim=0 export=1]
#   cd OUT/hls && vivado_hls -f build_hls.tcl [-tclargs ...]
#
# All design facts (top, part, clock, sources) come from project.tcl, which holds only
# variables. Steps are selected by project.tcl, then by the environment (NNFAB_CSIM,
# NNFAB_SYNTH, NNFAB_COSIM, NNFAB_EXPORT = 0|1), then by key=value arguments.
# The tool is Vitis HLS or Vivado HLS: NNFAB_HLS_TOOL=vitis|vivado when set, else the
# running executable's name, else nnfab_tool from project.tcl.

set nnfab_dir [file dirname [file normalize [info script]]]
source [file join $nnfab_dir project.tcl]

foreach {step envname} {csim NNFAB_CSIM synth NNFAB_SYNTH cosim NNFAB_COSIM export NNFAB_EXPORT} {
    if {[info exists ::env($envname)]} {
        set $step $::env($envname)
    }
}
if {[info exists argv]} {
    foreach arg $argv {
        if {[regexp {^(csim|synth|cosim|export)=([01])$} $arg -> key value]} {
            set $key $value
        } elseif {$arg ne ""} {
            puts stderr "build_hls.tcl: unknown argument '$arg' (expected csim|synth|cosim|export=0|1)"
            exit 2
        }
    }
}

if {[info exists ::env(NNFAB_HLS_TOOL)]} {
    set nnfab_tool $::env(NNFAB_HLS_TOOL)
} elseif {[string match "*vivado_hls*" [file tail [info nameofexecutable]]]} {
    set nnfab_tool vivado
} elseif {[string match "*vitis_hls*" [file tail [info nameofexecutable]]]} {
    set nnfab_tool vitis
}
if {$nnfab_tool ne "vitis" && $nnfab_tool ne "vivado"} {
    puts stderr "build_hls.tcl: unknown HLS tool '$nnfab_tool' (supported: vitis, vivado)"
    exit 2
}

set cflags "$nnfab_cflags -I[file join $nnfab_dir firmware]"
set sources {}
foreach f $nnfab_sources { lappend sources [file join $nnfab_dir $f] }
set tb_files {}
foreach f $nnfab_tb { lappend tb_files [file join $nnfab_dir $f] }
if {$nnfab_tool eq "vivado"} {
    append cflags " -DNNFAB_VIVADO_HLS"
}

puts "nnfab: $nnfab_top on $nnfab_part at $nnfab_clock_ns ns with $nnfab_tool HLS (csim=$csim synth=$synth cosim=$cosim export=$export)"

open_project -reset ${nnfab_top}_prj
set_top $nnfab_top
add_files -cflags $cflags $sources
add_files -tb -cflags $cflags $tb_files
if {$nnfab_tool eq "vitis"} {
    open_solution -reset -flow_target vivado solution1
    config_export -format $nnfab_export_format
} else {
    open_solution -reset solution1
}
set_part $nnfab_part
create_clock -period $nnfab_clock_ns -name default

if {$csim} {
    csim_design -argv $nnfab_tb_argv
}
if {$synth} {
    csynth_design
}
if {$cosim} {
    if {!$synth} {
        puts stderr "build_hls.tcl: cosim=1 needs synth=1"
        exit 2
    }
    cosim_design -argv $nnfab_tb_argv
}
if {$export} {
    if {!$synth} {
        puts stderr "build_hls.tcl: export=1 needs synth=1"
        exit 2
    }
    export_design -format $nnfab_export_format -rtl verilog
}
exit 0
