# Recorded stubs of the Vivado Tcl commands nnfab's board scripts use, for tclsh.
#
#   NNFAB_STUB_LOG=calls.log tclsh run.tcl      (run.tcl: source this file, then the script)
#
# Every stubbed call appends one line "<command>\t<arg>\t<arg>..." to $NNFAB_STUB_LOG and
# checks its arguments against the command's documented form (UG835, Vivado Tcl Command
# Reference): required options, option values, positional counts, and the state the call
# needs (a project before add_files, a block design before create_bd_cell, a cell before
# its pins, a finished run before open_run, an open design before reports, files that
# exist on disk). A violation is a Tcl error, so tclsh exits non-zero. A Vivado command
# that is not stubbed here is an "invalid command name" error for the same reason.
# NNFAB_STUB_BOARD_PARTS (optional) lists the board parts get_board_parts knows.

set ::stub(log) [open $::env(NNFAB_STUB_LOG) w]
set ::stub(project) ""
set ::stub(bd) ""
set ::stub(cells) [dict create]
set ::stub(runs) [dict create]
set ::stub(design_open) 0
set ::stub(generated) [list]
set ::stub(ipdefs) {
    xilinx.com:ip:zynq_ultra_ps_e:3.4 xilinx.com:ip:zynq_ultra_ps_e:3.5
    xilinx.com:ip:processing_system7:5.5 xilinx.com:ip:axi_dma:7.1
    xilinx.com:ip:proc_sys_reset:5.0 xilinx.com:ip:smartconnect:1.0
    xilinx.com:ip:axis_dwidth_converter:1.1 xilinx.com:ip:clk_wiz:6.0
}

proc stub_record {cmd argl} {
    set line [list $cmd]
    foreach a $argl {
        lappend line [string map [list "\t" " " "\n" "\\n"] $a]
    }
    puts $::stub(log) [join $line "\t"]
    flush $::stub(log)
}

proc stub_fail {cmd msg} {
    error "vivado_stub: $cmd: $msg"
}

# Parse argl: options taking a value (valopts), flags (flags); returns a dict with the
# options given and "pos" -> positional arguments; checks the positional count.
proc stub_parse {cmd argl valopts flags minpos maxpos} {
    set r [dict create pos {}]
    set pos {}
    for {set i 0} {$i < [llength $argl]} {incr i} {
        set a [lindex $argl $i]
        if {[string index $a 0] eq "-" && ![string is double -strict $a]} {
            if {$a in $valopts} {
                incr i
                if {$i >= [llength $argl]} {
                    stub_fail $cmd "option $a needs a value"
                }
                dict set r $a [lindex $argl $i]
            } elseif {$a in $flags} {
                dict set r $a 1
            } else {
                stub_fail $cmd "unknown option $a (known: [concat $valopts $flags])"
            }
        } else {
            lappend pos $a
        }
    }
    set n [llength $pos]
    if {$n < $minpos || ($maxpos >= 0 && $n > $maxpos)} {
        stub_fail $cmd "expected $minpos..$maxpos positional arguments, got $n: $pos"
    }
    dict set r pos $pos
    return $r
}

proc stub_need_project {cmd} {
    if {$::stub(project) eq ""} { stub_fail $cmd "no project (create_project first)" }
}

proc stub_need_bd {cmd} {
    stub_need_project $cmd
    if {$::stub(bd) eq ""} { stub_fail $cmd "no block design (create_bd_design first)" }
}

proc stub_files_exist {cmd files} {
    if {[llength $files] == 0} { stub_fail $cmd "no files" }
    foreach f $files {
        if {![file exists $f] && $f ni $::stub(generated)} {
            stub_fail $cmd "file $f does not exist"
        }
    }
}

# A pin "cell/pin" of an existing cell.
proc stub_pin {cmd name} {
    set parts [split $name /]
    if {[llength $parts] != 2 || [lindex $parts 1] eq ""} {
        stub_fail $cmd "pin $name is not <cell>/<pin>"
    }
    if {![dict exists $::stub(cells) [lindex $parts 0]]} {
        stub_fail $cmd "pin $name: no cell [lindex $parts 0]"
    }
    return $name
}

# -- project ---------------------------------------------------------------------------
proc create_project {args} {
    stub_record create_project $args
    set o [stub_parse create_project $args {-part} {-force -in_memory} 2 2]
    if {![dict exists $o -part]} { stub_fail create_project "-part <part> is required" }
    set ::stub(project) [lindex [dict get $o pos] 0]
    return $::stub(project)
}
proc current_project {args} {
    stub_record current_project $args
    stub_need_project current_project
    return $::stub(project)
}
proc current_fileset {args} {
    stub_record current_fileset $args
    return sources_1
}
proc get_board_parts {args} {
    stub_record get_board_parts $args
    set o [stub_parse get_board_parts $args {-filter} {-quiet -latest_file_version -latest_hw_revision} 0 1]
    set known [expr {[info exists ::env(NNFAB_STUB_BOARD_PARTS)] ? $::env(NNFAB_STUB_BOARD_PARTS) : ""}]
    set pat [lindex [dict get $o pos] 0]
    set r {}
    foreach bp $known {
        if {$pat eq "" || [string match $pat $bp]} { lappend r $bp }
    }
    return $r
}
proc set_property {args} {
    stub_record set_property $args
    set o [stub_parse set_property $args {-dict} {-quiet} 1 3]
    set pos [dict get $o pos]
    if {[dict exists $o -dict]} {
        set d [dict get $o -dict]
        if {[llength $d] == 0 || [llength $d] % 2} { stub_fail set_property "-dict needs name value pairs" }
        if {[llength $pos] != 1} { stub_fail set_property "-dict <list> <objects>" }
    } elseif {[llength $pos] != 3} {
        stub_fail set_property "expected <name> <value> <objects>, got $pos"
    }
    if {[lindex $pos end] eq ""} { stub_fail set_property "no objects" }
    return ""
}
proc get_property {args} {
    stub_record get_property $args
    set o [stub_parse get_property $args {} {-quiet} 2 2]
    lassign [dict get $o pos] name obj
    switch -- $name {
        PROGRESS { return [expr {[dict exists $::stub(runs) $obj] && [dict get $::stub(runs) $obj] eq "done" ? "100%" : "0%"}] }
        DIRECTORY { return [file join /stub/runs $obj] }
        STATUS { return "write_bitstream Complete!" }
        default { return "" }
    }
}
proc add_files {args} {
    stub_record add_files $args
    stub_need_project add_files
    set o [stub_parse add_files $args {-fileset} {-norecurse -quiet} 1 -1]
    stub_files_exist add_files [concat {*}[dict get $o pos]]
    return ""
}
proc update_compile_order {args} {
    stub_record update_compile_order $args
    stub_parse update_compile_order $args {-fileset} {-quiet} 0 0
    return ""
}
proc update_ip_catalog {args} {
    stub_record update_ip_catalog $args
    return ""
}
proc get_files {args} {
    stub_record get_files $args
    set o [stub_parse get_files $args {-of_objects} {-quiet -all} 1 1]
    set pat [lindex [dict get $o pos] 0]
    if {$::stub(bd) ne "" && [string match $pat "$::stub(bd).bd"]} {
        return "/stub/$::stub(project)/$::stub(bd).bd"
    }
    stub_fail get_files "no file matches $pat"
}
proc get_ipdefs {args} {
    stub_record get_ipdefs $args
    set o [stub_parse get_ipdefs $args {-filter} {-all -quiet} 0 1]
    set pat [lindex [dict get $o pos] 0]
    return [lsearch -all -inline -glob $::stub(ipdefs) $pat]
}

# -- block design --------------------------------------------------------------------------
proc create_bd_design {args} {
    stub_record create_bd_design $args
    stub_need_project create_bd_design
    set o [stub_parse create_bd_design $args {-dir} {} 1 1]
    set ::stub(bd) [lindex [dict get $o pos] 0]
    return $::stub(bd)
}
proc create_bd_cell {args} {
    stub_record create_bd_cell $args
    stub_need_bd create_bd_cell
    set o [stub_parse create_bd_cell $args {-type -vlnv -reference} {-quiet} 1 1]
    set name [lindex [dict get $o pos] 0]
    if {![dict exists $o -type]} { stub_fail create_bd_cell "-type ip|module|hier is required" }
    switch -- [dict get $o -type] {
        ip {
            if {![dict exists $o -vlnv]} { stub_fail create_bd_cell "-type ip needs -vlnv" }
            set v [dict get $o -vlnv]
            if {![regexp {^[\w.]+:[\w.]+:\w+:\d+\.\d+$} $v]} {
                stub_fail create_bd_cell "-vlnv $v is not vendor:library:name:version"
            }
            if {$v ni $::stub(ipdefs)} { stub_fail create_bd_cell "no IP $v in the catalog" }
        }
        module {
            if {![dict exists $o -reference]} { stub_fail create_bd_cell "-type module needs -reference" }
        }
        default { stub_fail create_bd_cell "-type [dict get $o -type] (ip|module)" }
    }
    if {[dict exists $::stub(cells) $name]} { stub_fail create_bd_cell "cell $name exists" }
    dict set ::stub(cells) $name 1
    return $name
}
proc get_bd_cells {args} {
    stub_record get_bd_cells $args
    set o [stub_parse get_bd_cells $args {} {-quiet} 1 1]
    set name [lindex [dict get $o pos] 0]
    if {![dict exists $::stub(cells) $name]} { stub_fail get_bd_cells "no cell $name" }
    return $name
}
proc get_bd_pins {args} {
    stub_record get_bd_pins $args
    set o [stub_parse get_bd_pins $args {} {-quiet} 1 1]
    return [stub_pin get_bd_pins [lindex [dict get $o pos] 0]]
}
proc get_bd_intf_pins {args} {
    stub_record get_bd_intf_pins $args
    set o [stub_parse get_bd_intf_pins $args {} {-quiet} 1 1]
    return [stub_pin get_bd_intf_pins [lindex [dict get $o pos] 0]]
}
proc get_bd_ports {args} {
    stub_record get_bd_ports $args
    return [lindex $args end]
}
proc create_bd_port {args} {
    stub_record create_bd_port $args
    stub_need_bd create_bd_port
    stub_parse create_bd_port $args {-dir -type -from -to -freq_hz} {} 1 1
    return [lindex $args end]
}
proc apply_bd_automation {args} {
    stub_record apply_bd_automation $args
    stub_need_bd apply_bd_automation
    set o [stub_parse apply_bd_automation $args {-rule -config} {-quiet} 1 1]
    if {![dict exists $o -rule]} { stub_fail apply_bd_automation "-rule is required" }
    if {[dict exists $o -config] && [llength [dict get $o -config]] % 2} {
        stub_fail apply_bd_automation "-config needs name value pairs"
    }
    set cell [lindex [dict get $o pos] 0]
    if {![dict exists $::stub(cells) $cell]} { stub_fail apply_bd_automation "no cell $cell" }
    return ""
}
proc connect_bd_net {args} {
    stub_record connect_bd_net $args
    stub_need_bd connect_bd_net
    set o [stub_parse connect_bd_net $args {-net} {-quiet} 2 -1]
    foreach p [dict get $o pos] { stub_pin connect_bd_net $p }
    return ""
}
proc connect_bd_intf_net {args} {
    stub_record connect_bd_intf_net $args
    stub_need_bd connect_bd_intf_net
    set o [stub_parse connect_bd_intf_net $args {-intf_net -boundary_type} {-quiet} 2 2]
    foreach p [dict get $o pos] { stub_pin connect_bd_intf_net $p }
    return ""
}
proc assign_bd_address {args} {
    stub_record assign_bd_address $args
    stub_need_bd assign_bd_address
    return ""
}
proc validate_bd_design {args} {
    stub_record validate_bd_design $args
    stub_need_bd validate_bd_design
    return ""
}
proc save_bd_design {args} {
    stub_record save_bd_design $args
    stub_need_bd save_bd_design
    return ""
}
proc generate_target {args} {
    stub_record generate_target $args
    set o [stub_parse generate_target $args {} {-force -quiet} 2 2]
    return ""
}
proc make_wrapper {args} {
    stub_record make_wrapper $args
    set o [stub_parse make_wrapper $args {-files -inst_template} {-top -force -fileset} 0 0]
    if {![dict exists $o -files]} { stub_fail make_wrapper "-files is required" }
    set w "/stub/$::stub(project)/$::stub(bd)_wrapper.v"
    lappend ::stub(generated) $w
    return $w
}

# -- runs and reports ------------------------------------------------------------------
proc get_runs {args} {
    stub_record get_runs $args
    return [lindex $args end]
}
proc launch_runs {args} {
    stub_record launch_runs $args
    stub_need_project launch_runs
    set o [stub_parse launch_runs $args {-to_step -jobs -next_step} {-quiet} 1 1]
    set run [lindex [dict get $o pos] 0]
    if {$run ni {synth_1 impl_1}} { stub_fail launch_runs "unknown run $run" }
    if {[dict exists $o -jobs] && ![string is integer -strict [dict get $o -jobs]]} {
        stub_fail launch_runs "-jobs must be an integer"
    }
    dict set ::stub(runs) $run launched
    return ""
}
proc wait_on_run {args} {
    stub_record wait_on_run $args
    set o [stub_parse wait_on_run $args {-timeout} {} 1 1]
    set run [lindex [dict get $o pos] 0]
    if {![dict exists $::stub(runs) $run]} { stub_fail wait_on_run "run $run was not launched" }
    dict set ::stub(runs) $run done
    return ""
}
proc open_run {args} {
    stub_record open_run $args
    set o [stub_parse open_run $args {-name} {} 1 1]
    set run [lindex [dict get $o pos] 0]
    if {![dict exists $::stub(runs) $run] || [dict get $::stub(runs) $run] ne "done"} {
        stub_fail open_run "run $run has not finished (wait_on_run)"
    }
    set ::stub(design_open) 1
    return ""
}
proc report_utilization {args} {
    stub_record report_utilization $args
    set o [stub_parse report_utilization $args {-file -name} {-hierarchical} 0 0]
    if {!$::stub(design_open)} { stub_fail report_utilization "no open design" }
    if {![dict exists $o -file]} { stub_fail report_utilization "nnfab writes reports with -file" }
    return ""
}
proc report_timing_summary {args} {
    stub_record report_timing_summary $args
    set o [stub_parse report_timing_summary $args {-file -name -max_paths} {} 0 0]
    if {!$::stub(design_open)} { stub_fail report_timing_summary "no open design" }
    if {![dict exists $o -file]} { stub_fail report_timing_summary "nnfab writes reports with -file" }
    return ""
}
proc write_hw_platform {args} {
    stub_record write_hw_platform $args
    set o [stub_parse write_hw_platform $args {-file} {-fixed -include_bit -force} 0 0]
    if {![dict exists $o -file]} { stub_fail write_hw_platform "-file is required" }
    return ""
}

# -- non-project synthesis -----------------------------------------------------------------
proc read_verilog {args} {
    stub_record read_verilog $args
    set o [stub_parse read_verilog $args {-library} {-sv} 1 -1]
    stub_files_exist read_verilog [concat {*}[dict get $o pos]]
    return ""
}
proc read_mem {args} {
    stub_record read_mem $args
    set o [stub_parse read_mem $args {} {} 1 -1]
    stub_files_exist read_mem [concat {*}[dict get $o pos]]
    return ""
}
proc synth_design {args} {
    stub_record synth_design $args
    set o [stub_parse synth_design $args {-top -part -mode -flatten_hierarchy} {} 0 0]
    foreach k {-top -part} {
        if {![dict exists $o $k]} { stub_fail synth_design "$k is required" }
    }
    if {[dict exists $o -mode] && [dict get $o -mode] ni {default out_of_context}} {
        stub_fail synth_design "-mode default|out_of_context"
    }
    set ::stub(design_open) 1
    return ""
}
proc get_ports {args} {
    stub_record get_ports $args
    if {!$::stub(design_open)} { stub_fail get_ports "no open design" }
    return [lindex $args end]
}
proc create_clock {args} {
    stub_record create_clock $args
    set o [stub_parse create_clock $args {-name -period -waveform} {-add} 1 1]
    if {![dict exists $o -period] || ![string is double -strict [dict get $o -period]]} {
        stub_fail create_clock "-period <ns> is required"
    }
    return ""
}
proc write_checkpoint {args} {
    stub_record write_checkpoint $args
    stub_parse write_checkpoint $args {} {-force} 1 1
    return ""
}

# -- file system and exit: recorded, not executed ----------------------------------------
rename file stub_real_file
proc file {sub args} {
    if {$sub in {copy delete mkdir rename}} {
        stub_record "file $sub" $args
        return ""
    }
    return [stub_real_file $sub {*}$args]
}
rename exit stub_real_exit
proc exit {{code 0}} {
    stub_record exit [list $code]
    close $::stub(log)
    stub_real_exit $code
}
