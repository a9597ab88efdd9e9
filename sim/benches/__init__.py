"""cocotb benches: the test modules that a Verilator simulator runs (``VerilatorSim.run(
"sim.benches.<name>", params=...)``). Each reads its parameters with
:func:`sim.tb.params.load_params`, drives the design through the testbench library
(:mod:`sim.tb`) and compares against the golden models (:mod:`sim.golden`). They are shared by
``make sim`` (:mod:`sim.regressions`), the benchmarks in ``scripts/`` and the tests."""
