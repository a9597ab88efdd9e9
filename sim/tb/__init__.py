"""cocotb testbench library: clocks/resets, stream drivers and monitors with random stalls,
a TCDM scratchpad model, register-map drivers and test parameters."""
