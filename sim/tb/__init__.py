"""cocotb testbench library: clocks/resets, stream drivers and monitors with random stalls,
a TCDM scratchpad model, register-map drivers and test parameters.

- :mod:`.clock`: :class:`~.clock.Ticker` (cycle time base for clocked and combinational DUTs;
  runs any number of agents in one coroutine: drive after the edge, sample in ReadOnly),
  :class:`~.clock.Sig` (fast integer port access), ``start_clock``, ``reset``.
- :mod:`.stream`: ``StreamDriver`` (random valid gaps), ``StreamMonitor`` / ``StreamSink``
  (random ready stalls), all checking the lib.stream rules on every cycle.
- :mod:`.tcdm`: ``TCDMMemory`` (numpy-viewable byte memory, bf16/fp32 helpers) served through
  ``TCDMPort`` agents (random grant stalls, protocol and range checks, counters).
- :mod:`.layout`: ``pack`` / ``unpack`` (and numpy-vectorised forms) between Python values and
  the flat Verilog vectors of Amaranth ``data.Layout`` ports; layouts as JSON for params.
- :mod:`.params`: ``load_params()`` in a cocotb module (from ``VerilatorSim.run(params=...)``).

A typical test::

    ticker = await Ticker(dut).start()                      # clock + reset (if any)
    drv = StreamDriver(dut, "i", payloads, gap=0.2, seed=1)
    sink = StreamSink(dut, "o", count=len(payloads), stall=0.3, seed=2)
    await ticker.run(drv, sink)                             # one coroutine for all agents
    assert sink.received == expected
"""
