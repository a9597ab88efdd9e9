"""Tool flows: everything that runs a tool on the hardware library's output.

Toolchain discovery (:mod:`.toolchain`), Verilog emission, name maps and lint (:mod:`.emit`),
Verilator simulators run from cocotb (:mod:`.runner`), firmware builds and ELF images
(:mod:`.firmware`, :mod:`.elf`), synthesis with Yosys and nextpnr (:mod:`.synth`, with its
routing-congestion maps in :mod:`.congestion`) and the generated register-map headers, drivers
and Markdown (:mod:`.regmaps`). ``python -m flows`` is the generator's command line. This package imports
``hw`` and never the layers above it (``sim``, ``scripts``, ``tests``).
"""
