# nnfab: Vivado project, block design and bitstream for a Zynq-7000 (flow zynq) or Zynq
# UltraScale+ (flow zynqmp) board. Static; every design value comes from board.tcl.
#   cd OUT/vivado && vivado -mode batch -source build_bd.tcl
# Block design: PS -> smartconnect -> AXI DMA (simple mode) lite port; DMA MM2S -> nnfab
# RTL top (module reference, the design verified in cocotb) -> DMA S2MM; DMA masters ->
# smartconnect -> PS high-performance port. One clock (PS fabric clock at
# nnfab_clock_mhz), one proc_sys_reset. Outputs in output/: nnfab.bit + nnfab.hwh (PYNQ),
# nnfab.xsa, utilization.rpt, timing_summary.rpt.
set here [file normalize [file dirname [info script]]]
source [file join $here board.tcl]
set rtl_dir [file normalize [file join $here $nnfab_rtl_dir]]
set proj_dir [file join $here $nnfab_project]
set out_dir [file join $here output]

create_project $nnfab_project $proj_dir -part $nnfab_part -force
set preset 0
if {$nnfab_board_part ne ""} {
    set bp [lindex [get_board_parts -quiet -latest_file_version $nnfab_board_part] 0]
    if {$bp ne ""} {
        set_property board_part $bp [current_project]
        set preset 1
    }
}
set ip_repo [file normalize [file join $here $nnfab_ip_repo]]
if {[file isdirectory $ip_repo]} {
    set_property ip_repo_paths [list $ip_repo] [current_project]
    update_ip_catalog
}

# the nnfab RTL: the same files the cocotb/Verilator simulation verified
add_files -norecurse [lsort [glob -directory $rtl_dir *.v]]
set mems [lsort [glob -nocomplain -directory $rtl_dir *.mem]]
if {[llength $mems]} {
    add_files -norecurse $mems
}
update_compile_order -fileset sources_1

create_bd_design nnfab_bd

# processing system: fabric clock 0 at nnfab_clock_mhz, one master (control) port and
# one high-performance slave port (DMA data)
if {$nnfab_flow eq "zynq"} {
    create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 ps
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config [list make_external "FIXED_IO, DDR" apply_board_preset $preset \
                     Master Disable Slave Disable] [get_bd_cells ps]
    set_property -dict [list CONFIG.PCW_USE_M_AXI_GP0 1 CONFIG.PCW_USE_S_AXI_HP0 1 \
        CONFIG.PCW_S_AXI_HP0_DATA_WIDTH 64 CONFIG.PCW_EN_CLK0_PORT 1 \
        CONFIG.PCW_EN_RST0_PORT 1 CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $nnfab_clock_mhz] \
        [get_bd_cells ps]
    set ps_clk ps/FCLK_CLK0
    set ps_resetn ps/FCLK_RESET0_N
    set ps_master ps/M_AXI_GP0
    set ps_slave ps/S_AXI_HP0
    set ps_clk_pins [list ps/M_AXI_GP0_ACLK ps/S_AXI_HP0_ACLK]
} elseif {$nnfab_flow eq "zynqmp"} {
    # the newest zynq_ultra_ps_e this Vivado has (3.3 .. 3.5 across releases)
    set ps_vlnv [lindex [lsort -dictionary [get_ipdefs -all xilinx.com:ip:zynq_ultra_ps_e:*]] end]
    create_bd_cell -type ip -vlnv $ps_vlnv ps
    apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e \
        -config [list apply_board_preset $preset] [get_bd_cells ps]
    set_property -dict [list CONFIG.PSU__USE__M_AXI_GP0 1 CONFIG.PSU__USE__M_AXI_GP1 0 \
        CONFIG.PSU__USE__M_AXI_GP2 0 CONFIG.PSU__USE__S_AXI_GP2 1 \
        CONFIG.PSU__SAXIGP2__DATA_WIDTH 128 CONFIG.PSU__FPGA_PL0_ENABLE 1 \
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $nnfab_clock_mhz] [get_bd_cells ps]
    set ps_clk ps/pl_clk0
    set ps_resetn ps/pl_resetn0
    set ps_master ps/M_AXI_HPM0_FPD
    set ps_slave ps/S_AXI_HP0_FPD
    set ps_clk_pins [list ps/maxihpm0_fpd_aclk ps/saxihp0_fpd_aclk]
} else {
    error "nnfab: build_bd.tcl handles flows zynq and zynqmp, not $nnfab_flow"
}

# AXI DMA, simple (register) mode, 26-bit length registers (transfers up to 64 MB)
create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:7.1 dma
set_property -dict [list CONFIG.c_include_sg 0 CONFIG.c_sg_length_width 26 \
    CONFIG.c_include_mm2s 1 CONFIG.c_include_s2mm 1 \
    CONFIG.c_m_axis_mm2s_tdata_width $nnfab_dma_in_bits \
    CONFIG.c_s_axis_s2mm_tdata_width $nnfab_dma_out_bits \
    CONFIG.c_m_axi_mm2s_data_width [expr {max(32, $nnfab_dma_in_bits)}] \
    CONFIG.c_m_axi_s2mm_data_width [expr {max(32, $nnfab_dma_out_bits)}] \
    CONFIG.c_mm2s_burst_size 16 CONFIG.c_s2mm_burst_size 16] [get_bd_cells dma]

create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset:5.0 rst
create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect:1.0 ctrl_sc
set_property -dict [list CONFIG.NUM_SI 1 CONFIG.NUM_MI 1] [get_bd_cells ctrl_sc]
create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect:1.0 mem_sc
set_property -dict [list CONFIG.NUM_SI 2 CONFIG.NUM_MI 1] [get_bd_cells mem_sc]

# the accelerator: clk, rst (synchronous, active high), s_axis_*, m_axis_*
create_bd_cell -type module -reference $nnfab_top accel
set_property CONFIG.POLARITY ACTIVE_HIGH [get_bd_pins accel/rst]
set_property CONFIG.ASSOCIATED_BUSIF {s_axis:m_axis} [get_bd_pins accel/clk]
set_property CONFIG.ASSOCIATED_RESET {rst} [get_bd_pins accel/clk]

set clk_pins [concat $ps_clk_pins [list dma/s_axi_lite_aclk dma/m_axi_mm2s_aclk \
    dma/m_axi_s2mm_aclk rst/slowest_sync_clk ctrl_sc/aclk mem_sc/aclk accel/clk]]
set resetn_pins [list dma/axi_resetn ctrl_sc/aresetn mem_sc/aresetn]

# stream path; an axis_dwidth_converter where the DMA and accelerator widths differ
set to_accel dma/M_AXIS_MM2S
if {$nnfab_dma_in_bits != $nnfab_in_bits} {
    create_bd_cell -type ip -vlnv xilinx.com:ip:axis_dwidth_converter:1.1 in_conv
    set_property -dict [list CONFIG.S_TDATA_NUM_BYTES [expr {$nnfab_dma_in_bits / 8}] \
        CONFIG.M_TDATA_NUM_BYTES [expr {$nnfab_in_bits / 8}] CONFIG.HAS_TLAST 1 \
        CONFIG.HAS_TKEEP 1] [get_bd_cells in_conv]
    connect_bd_intf_net [get_bd_intf_pins dma/M_AXIS_MM2S] [get_bd_intf_pins in_conv/S_AXIS]
    set to_accel in_conv/M_AXIS
    lappend clk_pins in_conv/aclk
    lappend resetn_pins in_conv/aresetn
}
connect_bd_intf_net [get_bd_intf_pins $to_accel] [get_bd_intf_pins accel/s_axis]
set from_accel accel/m_axis
if {$nnfab_dma_out_bits != $nnfab_out_bits} {
    create_bd_cell -type ip -vlnv xilinx.com:ip:axis_dwidth_converter:1.1 out_conv
    set_property -dict [list CONFIG.S_TDATA_NUM_BYTES [expr {$nnfab_out_bits / 8}] \
        CONFIG.M_TDATA_NUM_BYTES [expr {$nnfab_dma_out_bits / 8}] CONFIG.HAS_TLAST 1 \
        CONFIG.HAS_TKEEP 0] [get_bd_cells out_conv]
    connect_bd_intf_net [get_bd_intf_pins accel/m_axis] [get_bd_intf_pins out_conv/S_AXIS]
    set from_accel out_conv/M_AXIS
    lappend clk_pins out_conv/aclk
    lappend resetn_pins out_conv/aresetn
}
connect_bd_intf_net [get_bd_intf_pins $from_accel] [get_bd_intf_pins dma/S_AXIS_S2MM]

# memory-mapped path: control from the PS, DMA data to the PS DDR
connect_bd_intf_net [get_bd_intf_pins $ps_master] [get_bd_intf_pins ctrl_sc/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins ctrl_sc/M00_AXI] [get_bd_intf_pins dma/S_AXI_LITE]
connect_bd_intf_net [get_bd_intf_pins dma/M_AXI_MM2S] [get_bd_intf_pins mem_sc/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins dma/M_AXI_S2MM] [get_bd_intf_pins mem_sc/S01_AXI]
connect_bd_intf_net [get_bd_intf_pins mem_sc/M00_AXI] [get_bd_intf_pins $ps_slave]

# clock and resets
# (no lmap: Vivado releases ship Tcl 8.5)
proc nnfab_pins {names} {
    set objs {}
    foreach p $names {
        lappend objs [get_bd_pins $p]
    }
    return $objs
}
connect_bd_net [get_bd_pins $ps_clk] {*}[nnfab_pins $clk_pins]
connect_bd_net [get_bd_pins $ps_resetn] [get_bd_pins rst/ext_reset_in]
connect_bd_net [get_bd_pins rst/peripheral_aresetn] {*}[nnfab_pins $resetn_pins]
connect_bd_net [get_bd_pins rst/peripheral_reset] [get_bd_pins accel/rst]

assign_bd_address
validate_bd_design
save_bd_design

set bd_file [get_files nnfab_bd.bd]
generate_target all $bd_file
add_files -norecurse [make_wrapper -files $bd_file -top]
set_property top nnfab_bd_wrapper [current_fileset]
update_compile_order -fileset sources_1

launch_runs impl_1 -to_step write_bitstream -jobs $nnfab_jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    error "nnfab: implementation failed: see [get_property DIRECTORY [get_runs impl_1]]/runme.log"
}
open_run impl_1
file mkdir $out_dir
report_utilization -file [file join $out_dir utilization.rpt]
report_timing_summary -file [file join $out_dir timing_summary.rpt]
# PYNQ loads nnfab.bit together with the block design's hardware handoff nnfab.hwh
file copy -force [file join [get_property DIRECTORY [get_runs impl_1]] nnfab_bd_wrapper.bit] \
    [file join $out_dir nnfab.bit]
set hwh [lindex [glob -nocomplain [file join $proj_dir * sources_1 bd nnfab_bd hw_handoff nnfab_bd.hwh]] 0]
if {$hwh ne ""} {
    file copy -force $hwh [file join $out_dir nnfab.hwh]
}
write_hw_platform -fixed -include_bit -force -file [file join $out_dir nnfab.xsa]
puts "nnfab: bitstream, reports and nnfab.xsa in $out_dir"
