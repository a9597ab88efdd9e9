"""The cluster: sentinel-cpu cores, instruction memory, banked scratchpad, interconnect,
peripheral bus (cluster registers and accelerator register-file slots), event lines, loader.

Address map (byte addresses, :data:`hw.cluster.regs.ADDRESS_MAP`)::

    0x0000_0000  instruction memory (imem_kib; cores fetch and load, the loader writes)
    0x1000_0000  scratchpad (scratchpad_kib, ``banks`` word-interleaved 32-bit banks)
    0x2000_0000  cluster registers (4 KiB: core id, cycles, mailbox, events, barrier, bus errors)
    0x2000_1000  accelerator register file i at 0x2000_1000 + i * 0x1000 (``accel`` ports)

Each core's Wishbone bus goes through its own :class:`WishboneToTCDM` bridge and address
demultiplexer: instruction memory reads use the core's own read port (never stalled), scratchpad
accesses go to the :class:`TCDMInterconnect` (round robin per contended bank, shared with the
accelerators' wide ports ``tcdm``), peripheral accesses to one round-robin peripheral bus.
Unmapped addresses never hang a core: they are granted, read 0 and are recorded in BUS_ERROR.
The cores stay in reset while ``fetch_enable`` is low, so the testbench loads a program through
``loader`` (a 32-bit TCDM master on the same address map) without a rebuild.

The loader enters through core 0's path (a round-robin :class:`TCDMArbiter` in front of core
0's demultiplexer): it is a testbench or boot master, busy while the cores are held, and a
port of its own on the interconnect would be one more 16:1 read multiplexer on every bank's
read data, the most congested wires of the placed cluster (docs/cluster.md). It keeps its own
identity: its instruction-memory writes are allowed, its bus errors name master ``cores`` and
the cluster registers see it as master ``cores`` (which they treat as core 0, as before).
"""

from amaranth import Module, Mux, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from sentinel_cpu.top import Top

from ..bus import TCDMSignature
from ..params import Range, check_int, check_pow2
from .bus import TCDMArbiter, TCDMDemux, WishboneToTCDM
from .imem import InstructionMemory
from .interconnect import Scratchpad, TCDMInterconnect
from .regs import ADDRESS_MAP, WINDOW, ClusterRegs

__all__ = ["Cluster"]


def _link(m, master, slave):
    """Drive TCDM ``slave`` (a port we present to a slave) from ``master`` (a port a master
    drives), adapting the address width (truncated or zero-extended)."""
    m.d.comb += [slave.req.eq(master.req), slave.addr.eq(master.addr), slave.we.eq(master.we),
                 slave.be.eq(master.be), slave.wdata.eq(master.wdata),
                 master.gnt.eq(slave.gnt), master.rdata.eq(slave.rdata),
                 master.rvalid.eq(slave.rvalid)]


def _split_imem(m, master, core_port, loader_port, loading):
    """Core 0's instruction-memory accesses to the memory's core port (core writes are bus
    errors), the loader's (``loading``) to its loader port (writes allowed). Both ports answer
    0 when they have no read data, so the responses are OR-ed."""
    for port, mine in ((core_port, ~loading), (loader_port, loading)):
        m.d.comb += [port.req.eq(master.req & mine), port.addr.eq(master.addr),
                     port.we.eq(master.we), port.be.eq(master.be), port.wdata.eq(master.wdata)]
    m.d.comb += [master.gnt.eq(core_port.gnt | loader_port.gnt),
                 master.rvalid.eq(core_port.rvalid | loader_port.rvalid),
                 master.rdata.eq(core_port.rdata | loader_port.rdata)]


class Cluster(wiring.Component):
    """``cores`` sentinel-cpu cores; ``scratchpad_kib`` scratchpad KiB; ``banks`` 32-bit
    scratchpad banks; ``imem_kib`` instruction memory KiB; ``events`` event lines (ranges:
    :attr:`PARAMETERS`); ``wide_ports``: data widths of the external scratchpad
    masters (accelerator TCDM ports, ``tcdm.w<i>``, absolute byte addresses, aligned to their
    width); ``accel_slots``: accelerator register-file slots on the peripheral bus
    (``accel.a<i>``, 12-bit offsets); ``imem_init``, ``spm_init``: initial instruction memory
    and scratchpad words (a firmware image on a board; the simulators load it through
    ``loader`` instead).

    Other ports: ``fetch_enable`` (cores run while high), ``loader`` (TCDM master into the
    address map), ``events`` (done pulses), ``putc_valid``/``putc_data`` (mailbox bytes),
    ``exit_valid``/``exit_code``, ``cycles``, ``bus_error`` (pulse per bus error).
    """

    #: Ranges of the size parameters (configuration section ``cluster`` reads them).
    PARAMETERS = {
        "cores": Range(1, 8),
        "scratchpad_kib": Range(1, 1024, pow2=True),
        "banks": Range(1, 64, pow2=True),
        "imem_kib": Range(1, 4096, pow2=True),
        "events": Range(1, 32),
    }

    def __init__(self, cores=1, scratchpad_kib=64, *, banks=8, imem_kib=16, events=4,
                 wide_ports=(), accel_slots=0, imem_init=(), spm_init=()):
        sizes = dict(cores=cores, scratchpad_kib=scratchpad_kib, banks=banks, imem_kib=imem_kib,
                     events=events)
        for name, value in sizes.items():
            self.PARAMETERS[name].check(name, value)
        self.n_cores = cores
        self.spm_size = 1024 * scratchpad_kib
        self.banks = banks
        if self.spm_size < 4 * banks:
            raise ValueError(f"scratchpad_kib ({scratchpad_kib}) is too small for {banks} banks")
        self.imem_size = 1024 * imem_kib
        if self.imem_size > ADDRESS_MAP["SPM_BASE"] or self.spm_size > ADDRESS_MAP["SPM_BASE"]:
            raise ValueError("imem_kib and scratchpad_kib must each fit in 256 MiB")
        self.n_events = events
        self.wide_ports = list(wide_ports)
        check_int("number of wide_ports", len(self.wide_ports), min=0, max=8)
        for i, w in enumerate(self.wide_ports):
            check_pow2(f"wide_ports[{i}]", w, min=8, max=32 * self.banks)
        self.accel_slots = check_int("accel_slots", accel_slots, min=0, max=15)
        self.imem_init = list(imem_init)
        self.spm_init = list(spm_init)
        periph = WINDOW * (1 + self.accel_slots)
        self.periph_size = 1 << (periph - 1).bit_length()
        members = {
            "fetch_enable": In(1),
            "loader": In(TCDMSignature(addr_width=32, data_width=32)),
            "events": In(self.n_events),
            "putc_valid": Out(1), "putc_data": Out(8),
            "exit_valid": Out(1), "exit_code": Out(32),
            "cycles": Out(64),
            "bus_error": Out(1),
        }
        if self.wide_ports:
            members["tcdm"] = In(wiring.Signature({
                f"w{i}": Out(TCDMSignature(addr_width=32, data_width=w))
                for i, w in enumerate(self.wide_ports)}))
        if self.accel_slots:
            members["accel"] = Out(wiring.Signature({
                f"a{i}": Out(TCDMSignature(addr_width=12, data_width=32))
                for i in range(self.accel_slots)}))
        super().__init__(members)

    @property
    def regions(self):
        return [(ADDRESS_MAP["IMEM_BASE"], self.imem_size), (ADDRESS_MAP["SPM_BASE"], self.spm_size),
                (ADDRESS_MAP["PERIPH_BASE"], self.periph_size)]

    def elaborate(self, platform):

        m = Module()
        n = self.n_cores
        self.cores = []          # the sentinel-cpu instances (testbenches read their PC)
        imem = m.submodules.imem = InstructionMemory(self.imem_size // 4, n, init=self.imem_init)
        bank_words = self.spm_size // (4 * self.banks)
        # One 32-bit interconnect and peripheral-bus master per core (the loader shares core 0's).
        xbar = m.submodules.xbar = TCDMInterconnect([32] * n + self.wide_ports, self.banks,
                                                    bank_words, addr_width=32)
        spm = m.submodules.spm = Scratchpad(self.banks, bank_words, init=self.spm_init)
        for b in range(self.banks):
            wiring.connect(m, xbar.bank(b), spm.bank(b))
        parb = m.submodules.periph_arb = TCDMArbiter(n, addr_width=32)
        # Core 0 and the loader onto core 0's demultiplexer; ``loading``: the loader's request
        # is the one presented (valid while a request is).
        entry = m.submodules.entry0 = TCDMArbiter(2, addr_width=32)
        loading = Signal()
        m.d.comb += loading.eq(entry.id == 1)
        # The peripheral master's index as the registers see it (the loader is master n).
        who = Signal(range(n + 1))
        m.d.comb += who.eq(Mux(loading & (parb.id == 0), n, parb.id))
        pregions = [(0, WINDOW)] + [(WINDOW * (i + 1), WINDOW) for i in range(self.accel_slots)]
        pdemux = m.submodules.periph_demux = TCDMDemux(pregions, addr_width=32)
        _link(m, parb.out, pdemux.bus)
        # Bus-error sources: every master's demux, the cores' instruction-memory writes, the
        # peripheral demux (holes in the peripheral window).
        err_sources = []

        demuxes = []
        for c in range(n):
            d = TCDMDemux(self.regions, addr_width=32)
            m.submodules[f"demux{c}"] = d
            demuxes.append(d)
            err_sources.append((d.error, d.error_addr, d.error_we, Mux(loading, n, 0) if c == 0
                                else c))
        for c in range(n):
            err_sources.append((imem.bad_write[c], demuxes[c].bus.addr, 1, c))
        # The peripheral bus carries offsets in the peripheral window: report the full address.
        err_sources.append((pdemux.error, ADDRESS_MAP["PERIPH_BASE"] | pdemux.error_addr[:28],
                            pdemux.error_we, who))

        regs = m.submodules.regs = ClusterRegs(
            n, self.n_events, spm_base=ADDRESS_MAP["SPM_BASE"], spm_size=self.spm_size,
            imem_size=self.imem_size, n_errors=len(err_sources))
        _link(m, pdemux.slave(0), regs.bus)
        m.d.comb += [regs.id.eq(who), regs.run.eq(self.fetch_enable), regs.events.eq(self.events),
                     self.putc_valid.eq(regs.putc_valid), self.putc_data.eq(regs.putc_data),
                     self.exit_valid.eq(regs.exit_valid), self.exit_code.eq(regs.exit_code),
                     self.cycles.eq(regs.cycles)]
        for i, (valid, addr, we, master) in enumerate(err_sources):
            m.d.comb += [regs.err_valid[i].eq(valid), getattr(regs.err_addr, f"e{i}").eq(addr),
                         regs.err_we[i].eq(we), getattr(regs.err_master, f"e{i}").eq(master)]
        m.d.comb += self.bus_error.eq(regs.err_valid.any())
        for i in range(self.accel_slots):
            _link(m, pdemux.slave(i + 1), getattr(self.accel, f"a{i}"))

        for c in range(n):
            d = demuxes[c]
            core = ResetInserter(~self.fetch_enable)(Top())
            m.submodules[f"core{c}"] = core
            self.cores.append(core)
            bridge = m.submodules[f"bridge{c}"] = WishboneToTCDM()
            wb = bridge.wb
            m.d.comb += [wb.adr.eq(core.bus.adr), wb.dat_w.eq(core.bus.dat_w),
                         wb.sel.eq(core.bus.sel), wb.cyc.eq(core.bus.cyc),
                         wb.stb.eq(core.bus.stb), wb.we.eq(core.bus.we),
                         core.bus.dat_r.eq(wb.dat_r), core.bus.ack.eq(wb.ack),
                         core.irq.eq(regs.irq[c])]
            if c:
                _link(m, bridge.tcdm, d.bus)
                _link(m, d.slave(0), imem.port(c))
            else:
                _link(m, bridge.tcdm, entry.master(0))
                _link(m, self.loader, entry.master(1))
                _link(m, entry.out, d.bus)
                _split_imem(m, d.slave(0), imem.port(0), imem.loader, loading)
            _link(m, d.slave(1), xbar.master(c))
            _link(m, d.slave(2), parb.master(c))
        for i in range(len(self.wide_ports)):
            _link(m, getattr(self.tcdm, f"w{i}"), xbar.master(n + i))
        return m
