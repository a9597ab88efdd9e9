"""Instruction memory: one read port per core (TCDM, data one cycle later) and a read/write
loader port through which the testbench (or a boot master) writes the program while the cores
are held in reset. Cores cannot write it: a core write is dropped and pulses ``bad_write``
(the cluster records it as a bus error).

The loader shares core 0's memory port (it has priority; core 0 is refused while the loader
requests, which only happens while the cores are held or in tests). So the RAM has one
read port per core and no extra one for the loader: Yosys gives every read port its own copy
of the RAM, so a loader port of its own would cost a copy more (the block RAM counts:
docs/cluster.md, Structure)."""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..bus import TCDMSignature
from ..params import check_int

__all__ = ["InstructionMemory"]


class InstructionMemory(wiring.Component):
    """``words``: 32-bit words (power of two); ``n_ports``: core ports; ``init``: initial
    words (the firmware image; may be shorter than ``words``)."""

    def __init__(self, words, n_ports, *, init=()):
        self.words = check_int("words", words, min=1, max=1 << 22)
        if words & (words - 1):
            raise ValueError(f"words must be a power of two, got {words}")
        self.n_ports = check_int("n_ports", n_ports, min=1, max=32)
        init = [int(w) & 0xFFFF_FFFF for w in init]
        if len(init) > words:
            raise ValueError(f"init has {len(init)} words; the instruction memory holds {words}")
        self.init = init
        aw = max(2, (4 * words).bit_length() - 1)
        self.addr_width = aw
        super().__init__({
            "ports": In(wiring.Signature({f"p{i}": Out(TCDMSignature(addr_width=aw, data_width=32))
                                          for i in range(n_ports)})),
            "loader": In(TCDMSignature(addr_width=aw, data_width=32)),
            "bad_write": Out(n_ports),
        })

    def port(self, i):
        return getattr(self.ports, f"p{i}")

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=32, depth=self.words, init=self.init)
        row = slice(2, self.addr_width)
        ld = self.loader
        shared = Signal(self.addr_width - 2, name="shared_row")     # core 0's port, or the loader
        wr = mem.write_port(granularity=8)
        m.d.comb += [shared.eq(Mux(ld.req, ld.addr[row], self.port(0).addr[row])),
                     wr.addr.eq(shared), wr.data.eq(ld.wdata),
                     wr.en.eq(Mux(ld.req & ld.we, ld.be, 0)), ld.gnt.eq(ld.req)]
        ld_valid = Signal(name="loader_rvalid")
        m.d.sync += ld_valid.eq(ld.req & ~ld.we)
        for i in range(self.n_ports):
            p = self.port(i)
            gnt = p.req & ~ld.req if i == 0 else p.req
            rd = mem.read_port()
            valid = Signal(name=f"rvalid{i}")
            m.d.comb += [rd.addr.eq(shared if i == 0 else p.addr[row]), p.gnt.eq(gnt),
                         p.rvalid.eq(valid), p.rdata.eq(Mux(valid, rd.data, 0)),
                         self.bad_write[i].eq(gnt & p.we)]
            m.d.sync += valid.eq(gnt & ~p.we)
            if i == 0:
                m.d.comb += [rd.en.eq(Mux(ld.req, ~ld.we, p.req & ~p.we)),
                             ld.rvalid.eq(ld_valid), ld.rdata.eq(Mux(ld_valid, rd.data, 0))]
            else:
                m.d.comb += rd.en.eq(p.req & ~p.we)
        return m
