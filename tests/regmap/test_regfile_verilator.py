# amaranth: UnusedElaboratable=no
"""The demo register file's Verilog under Verilator/cocotb (sim/benches/regfile_tb.py): the cocotb
TCDM master and the register driver against the emitted Verilog, with random request gaps and
random grant stalls inserted by a test wrapper."""

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hw.regmap import RegisterFile
from hw.regmap.demo import demo_map


class StalledRegisterFile(wiring.Component):
    """The register file with a ``stall`` input that withholds the bus grant (a slow
    interconnect), so that the master is exercised with cycles without ``gnt``."""

    def __init__(self, regmap):
        self.rf = RegisterFile(regmap)
        super().__init__({**dict(self.rf.signature.members), "stall": In(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rf = rf = self.rf
        m.d.comb += [self.start.eq(rf.start), self.busy.eq(rf.busy), self.clear.eq(rf.clear),
                     self.done_event.eq(rf.done_event), self.job.eq(rf.job),
                     rf.done.eq(self.done), rf.error.eq(self.error)]
        if "counters" in self.signature.members:
            m.d.comb += rf.counters.eq(self.counters)
        m.d.comb += [rf.bus.req.eq(self.bus.req & ~self.stall), rf.bus.addr.eq(self.bus.addr),
                     rf.bus.we.eq(self.bus.we), rf.bus.be.eq(self.bus.be),
                     rf.bus.wdata.eq(self.bus.wdata),
                     self.bus.gnt.eq(rf.bus.gnt & ~self.stall),
                     self.bus.rdata.eq(rf.bus.rdata), self.bus.rvalid.eq(rf.bus.rvalid)]
        return m


@pytest.mark.verilator
@pytest.mark.parametrize("n_contexts", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_regfile_verilator(n_contexts):
    from flows.runner import VerilatorSim
    sim = VerilatorSim.for_component(StalledRegisterFile(demo_map(n_contexts=n_contexts)),
                                     name="regfile_demo")
    outcome = sim.run("sim.benches.regfile_tb", name=f"regfile_ctx{n_contexts}",
                      params={"n_contexts": n_contexts, "seed": 7 + n_contexts, "n_jobs": 120,
                              "gap_prob": 0.4, "stall_prob": 0.3})
    assert len(outcome) >= 5
