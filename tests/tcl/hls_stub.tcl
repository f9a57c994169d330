# Stub of the Vitis HLS / Vivado HLS Tcl commands used by nnfab's build_hls.tcl.
#
#   tclsh hls_stub.tcl LOG SCRIPT [ARGS...]
#
# Defines each HLS command as a proc that checks its arguments against the documented
# signature (the emulated tool is $env(NNFAB_HLS_TOOL): vitis or vivado), records the
# call as one Tcl list per line in LOG, then sources SCRIPT with ARGS as its argv
# (as `-tclargs ARGS` would). A bad call is recorded as "ERROR ..." and exits with 3.

set stub_log [lindex $argv 0]
set stub_script [lindex $argv 1]
set argv [lrange $argv 2 end]
set argc [llength $argv]
set stub_tool vitis
if {[info exists ::env(NNFAB_HLS_TOOL)]} { set stub_tool $::env(NNFAB_HLS_TOOL) }
set stub_calls {}
set stub_project ""
set stub_solution ""

rename exit stub_real_exit

proc stub_flush {} {
    set f [open $::stub_log w]
    foreach c $::stub_calls { puts $f $c }
    close $f
}

proc stub_fail {msg} {
    lappend ::stub_calls [list ERROR $msg]
    stub_flush
    puts stderr "hls stub: $msg"
    stub_real_exit 3
}

# check CMD ARGS: FLAGS are value-less options, OPTS maps an option to a regexp its
# value must match, NPOS is the exact number of positional arguments.
proc stub_check {cmd argl flags opts npos {required {}}} {
    set pos {}
    set seen {}
    for {set i 0} {$i < [llength $argl]} {incr i} {
        set a [lindex $argl $i]
        if {[string index $a 0] eq "-" && ![string is double -strict $a]} {
            if {$a in $flags} { lappend seen $a; continue }
            if {[dict exists $opts $a]} {
                incr i
                if {$i >= [llength $argl]} { stub_fail "$cmd: option $a needs a value" }
                set v [lindex $argl $i]
                if {![regexp -- [dict get $opts $a] $v]} {
                    stub_fail "$cmd: bad value '$v' for $a"
                }
                lappend seen $a
                continue
            }
            stub_fail "$cmd: unknown option $a"
        }
        lappend pos $a
    }
    if {[llength $pos] != $npos} {
        stub_fail "$cmd: expected $npos positional argument(s), got [llength $pos]: $pos"
    }
    foreach r $required {
        if {$r ni $seen} { stub_fail "$cmd: $r is required" }
    }
    return $pos
}

proc stub_need_project {cmd} {
    if {$::stub_project eq ""} { stub_fail "$cmd before open_project" }
}

proc stub_need_solution {cmd} {
    stub_need_project $cmd
    if {$::stub_solution eq ""} { stub_fail "$cmd before open_solution" }
}

proc open_project {args} {
    set pos [stub_check open_project $args {-reset} {} 1]
    set ::stub_project [lindex $pos 0]
    lappend ::stub_calls [list open_project {*}$args]
}

proc set_top {args} {
    stub_need_project set_top
    stub_check set_top $args {} {} 1
    lappend ::stub_calls [list set_top {*}$args]
}

proc add_files {args} {
    stub_need_project add_files
    set pos [stub_check add_files $args {-tb -blackbox} {-cflags {.*} -csimflags {.*}} 1]
    foreach f [lindex $pos 0] {
        if {![file exists $f]} { stub_fail "add_files: $f does not exist" }
    }
    lappend ::stub_calls [list add_files {*}$args]
}

proc open_solution {args} {
    stub_need_project open_solution
    if {$::stub_tool eq "vitis"} {
        set pos [stub_check open_solution $args {-reset} {-flow_target {^(vivado|vitis)$}} 1]
    } else {
        set pos [stub_check open_solution $args {-reset} {} 1]
    }
    set ::stub_solution [lindex $pos 0]
    lappend ::stub_calls [list open_solution {*}$args]
}

proc set_part {args} {
    stub_need_solution set_part
    set pos [stub_check set_part $args {-tool} {} 1]
    if {![regexp -nocase {^x[a-z0-9]+(-[a-z0-9]+)*$} [lindex $pos 0]]} {
        stub_fail "set_part: '[lindex $pos 0]' is not a Xilinx part name"
    }
    lappend ::stub_calls [list set_part {*}$args]
}

proc create_clock {args} {
    stub_need_solution create_clock
    stub_check create_clock $args {} {-period {^[0-9]+(\.[0-9]+)?(ns|MHz)?$} -name {^\w+$}} 0 {-period}
    lappend ::stub_calls [list create_clock {*}$args]
}

proc config_export {args} {
    stub_need_solution config_export
    stub_check config_export $args {} {
        -format {^(ip_catalog|xo|syn_dcp|sysgen)$} -rtl {^(verilog|vhdl)$} -version {.*}
        -vendor {.*} -library {.*} -display_name {.*} -description {.*} -ipname {.*}
    } 0
    lappend ::stub_calls [list config_export {*}$args]
}

proc csim_design {args} {
    stub_need_solution csim_design
    stub_check csim_design $args {-clean -O -setup -profile} {-argv {.*} -compiler {^(gcc|clang)$} -ldflags {.*} -mflags {.*}} 0
    lappend ::stub_calls [list csim_design {*}$args]
}

proc csynth_design {args} {
    stub_need_solution csynth_design
    stub_check csynth_design $args {-dump_cfg -dump_post_cfg -synthesis_check} {} 0
    lappend ::stub_calls [list csynth_design {*}$args]
}

proc cosim_design {args} {
    stub_need_solution cosim_design
    stub_check cosim_design $args {-O -setup -wave_debug -enable_dataflow_profiling} {
        -argv {.*} -rtl {^(verilog|vhdl)$} -trace_level {^(none|all|port|port_hier)$}
        -tool {^(auto|vcs|modelsim|riviera|isim|xsim|ncsim|xceligen)$} -ldflags {.*} -mflags {.*}
    } 0
    lappend ::stub_calls [list cosim_design {*}$args]
}

proc export_design {args} {
    stub_need_solution export_design
    stub_check export_design $args {-evaluate} {
        -format {^(ip_catalog|xo|syn_dcp|sysgen)$} -rtl {^(verilog|vhdl)$} -flow {^(syn|impl)$}
        -version {.*} -vendor {.*} -library {.*} -display_name {.*} -description {.*} -ipname {.*}
    } 0
    lappend ::stub_calls [list export_design {*}$args]
}

proc exit {{code 0}} {
    lappend ::stub_calls [list exit $code]
    stub_flush
    stub_real_exit $code
}

source $stub_script
lappend ::stub_calls [list ERROR "script ended without exit"]
stub_flush
stub_real_exit 4
