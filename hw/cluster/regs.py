"""The cluster's own peripheral: core id, cycle counter, mailbox (output bytes and exit code),
event unit (pending/mask per core -> the core's interrupt line), a hardware barrier and the
bus-error report. Its register map is described once with :mod:`hw.regmap`'s
:class:`~hw.regmap.Register`/:class:`~hw.regmap.Field` objects; :func:`flows.regmaps.cluster.cluster_header` emits the
C header the firmware includes (``cluster_regs.h``) with the address map of the cluster.

(:class:`hw.regmap.RegisterMap` is the HWPE accelerator map: it always adds TRIGGER, ACQUIRE,
... which the cluster peripheral does not have, so this module places the registers itself.)
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..bus import TCDMSignature
from ..params import check_int
from ..regmap import Field, Register

__all__ = ["CLUSTER_REGISTERS", "MAP", "ClusterRegs", "ADDRESS_MAP"]

#: Cluster address map (byte addresses).
ADDRESS_MAP = {
    "IMEM_BASE": 0x0000_0000,
    "SPM_BASE": 0x1000_0000,
    "PERIPH_BASE": 0x2000_0000,      # this register file (4 KiB)
    "ACCEL_BASE": 0x2000_1000,       # accelerator register file i at ACCEL_BASE + i * ACCEL_STRIDE
    "ACCEL_STRIDE": 0x1000,
}
#: Size of the cluster register window and of each accelerator slot.
WINDOW = 0x1000


def _regs():
    regs = [
        Register("CORE_ID", access="ro", doc="Index of the core that reads (0 .. N_CORES-1)."),
        Register("N_CORES", access="ro", doc="Number of cores in the cluster."),
        Register("CYCLES_LO", access="ro",
                 doc="Cycle counter, low word: cycles since the cores left reset (64 bits; read "
                     "HI, LO, HI again and retry if HI changed)."),
        Register("CYCLES_HI", access="ro", doc="Cycle counter, high word."),
        Register("PUTC", access="wo", doc="Write: byte 0 goes to the output stream (mailbox)."),
        Register("EXIT", access="wo",
                 doc="Write: the program ends with this exit code (the first write counts; the "
                     "testbench stops the simulation)."),
        Register("EVENT_PENDING", access="rw",
                 doc="Per core: bit i is set when event line i pulses (an accelerator's done "
                     "event). Writing a 1 to a bit clears it (write 1 to clear); a pulse in the "
                     "cycle of the clear wins."),
        Register("EVENT_MASK", access="rw",
                 doc="Per core: interrupt enable per event line. The core's interrupt line "
                     "(MEIP) is high while EVENT_PENDING & EVENT_MASK is not 0."),
        Register("BARRIER", access="rw",
                 doc="Read: the barrier generation. Write (any value): this core arrives; when "
                     "every core has arrived, the generation increments and the arrivals clear. "
                     "Firmware: g = BARRIER; BARRIER = 0; while (BARRIER == g);"),
        Register("SPM_BASE", access="ro", doc="Byte address of the scratchpad."),
        Register("SPM_SIZE", access="ro", doc="Scratchpad size in bytes."),
        Register("IMEM_SIZE", access="ro", doc="Instruction memory size in bytes."),
        Register("BUS_ERROR_ADDR", access="rc",
                 doc="Address of the first access to an unmapped address or a core write to the "
                     "instruction memory since the last clear (write clears)."),
        Register("BUS_ERROR", access="rc", doc="Bus error report (write clears).", fields=[
            Field("VALID", 1, doc="A bus error was recorded."),
            Field("WRITE", 1, doc="It was a write."),
            Field("OVERFLOW", 1, doc="Another bus error happened after the first one."),
            Field("MASTER", 5, offset=8, doc="Master index: cores 0..N-1, then the loader."),
        ]),
        Register("N_EVENTS", access="ro", doc="Number of event lines."),
    ]
    for i, r in enumerate(regs):
        r.offset = 4 * i
    return regs


CLUSTER_REGISTERS = _regs()
MAP = {r.name: r for r in CLUSTER_REGISTERS}


class ClusterRegs(wiring.Component):
    """The cluster register file: a TCDM slave (granted at once, read data one cycle later).

    ``id`` is the index of the requesting core (from the peripheral arbiter; ``n_cores`` = the
    loader). ``n_errors`` bus-error sources each drive ``err_valid[i]``, ``err_addr.e<i>``,
    ``err_we[i]`` and ``err_master.e<i>`` (the master's index); the lowest index wins a tie.
    """

    def __init__(self, n_cores, n_events, *, spm_base, spm_size, imem_size, n_errors=1):
        self.n_cores = check_int("n_cores", n_cores, min=1, max=16)
        self.n_events = check_int("n_events", n_events, min=1, max=32)
        self.spm_base, self.spm_size, self.imem_size = spm_base, spm_size, imem_size
        self.n_errors = n_err = check_int("n_errors", n_errors, min=1, max=64)
        super().__init__({
            "bus": In(TCDMSignature(addr_width=12, data_width=32)),
            "id": In(range(max(2, n_cores + 1))),
            "run": In(1),                     # cores out of reset: the cycle counter counts
            "events": In(n_events),
            "irq": Out(n_cores),
            "putc_valid": Out(1), "putc_data": Out(8),
            "exit_valid": Out(1), "exit_code": Out(32),
            "err_valid": In(n_err),
            "err_addr": In(wiring.Signature({f"e{i}": Out(32) for i in range(n_err)})),
            "err_we": In(n_err),
            "err_master": In(wiring.Signature({f"e{i}": Out(5) for i in range(n_err)})),
            "cycles": Out(64),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        n = self.n_cores
        word = Signal(range(1024))
        m.d.comb += word.eq(bus.addr[2:])
        rd = bus.req & ~bus.we
        wr = bus.req & bus.we
        m.d.comb += bus.gnt.eq(bus.req)
        off = {name: r.offset // 4 for name, r in MAP.items()}
        me = Signal(range(max(2, n)))            # core index (the loader acts as core 0)
        m.d.comb += me.eq(Mux(self.id < n, self.id, 0))

        cycles = self.cycles
        with m.If(self.run):
            m.d.sync += cycles.eq(cycles + 1)

        pending = [Signal(self.n_events, name=f"pending{c}") for c in range(n)]
        mask = [Signal(self.n_events, name=f"mask{c}") for c in range(n)]
        for c in range(n):
            clear = Signal(self.n_events, name=f"clear{c}")
            with m.If(wr & (word == off["EVENT_PENDING"]) & (me == c)):
                m.d.comb += clear.eq(bus.wdata)
            m.d.sync += pending[c].eq((pending[c] & ~clear) | self.events)
            with m.If(wr & (word == off["EVENT_MASK"]) & (me == c)):
                m.d.sync += mask[c].eq(bus.wdata)
            m.d.comb += self.irq[c].eq((pending[c] & mask[c]).any())

        arrived = Signal(n)
        generation = Signal(32)
        arrive = Signal(n)
        with m.If(wr & (word == off["BARRIER"])):
            m.d.comb += arrive.eq(1 << me)
        with m.If((arrived | arrive) == (1 << n) - 1):
            m.d.sync += [arrived.eq(0), generation.eq(generation + 1)]
        with m.Else():
            m.d.sync += arrived.eq(arrived | arrive)

        m.d.sync += self.putc_valid.eq(0)
        with m.If(wr & (word == off["PUTC"])):
            m.d.sync += [self.putc_valid.eq(1), self.putc_data.eq(bus.wdata[:8])]
        with m.If(wr & (word == off["EXIT"]) & ~self.exit_valid):
            m.d.sync += [self.exit_valid.eq(1), self.exit_code.eq(bus.wdata)]

        err_addr = Signal(32)
        err_valid, err_write, err_over = Signal(), Signal(), Signal()
        err_master = Signal(5)
        with m.If(wr & (word == off["BUS_ERROR"])):
            m.d.sync += [err_valid.eq(0), err_over.eq(0)]
        with m.If(wr & (word == off["BUS_ERROR_ADDR"])):
            m.d.sync += [err_valid.eq(0), err_over.eq(0)]
        for i in reversed(range(self.n_errors)):
            with m.If(self.err_valid[i]):
                with m.If(err_valid):
                    m.d.sync += err_over.eq(1)
                with m.Else():
                    m.d.sync += [err_valid.eq(1), err_write.eq(self.err_we[i]),
                                 err_master.eq(getattr(self.err_master, f"e{i}")),
                                 err_addr.eq(getattr(self.err_addr, f"e{i}"))]

        values = {
            "CORE_ID": me, "N_CORES": n, "CYCLES_LO": cycles[:32], "CYCLES_HI": cycles[32:],
            "EVENT_PENDING": Cat(*pending).word_select(me, self.n_events) if n > 1 else pending[0],
            "EVENT_MASK": Cat(*mask).word_select(me, self.n_events) if n > 1 else mask[0],
            "BARRIER": generation, "SPM_BASE": self.spm_base, "SPM_SIZE": self.spm_size,
            "IMEM_SIZE": self.imem_size, "BUS_ERROR_ADDR": err_addr, "BUS_ERROR": Cat(err_valid, err_write, err_over, Const(0, 5), err_master),
            "N_EVENTS": self.n_events,
        }
        rdata = Signal(32)
        with m.Switch(word):
            for name, v in values.items():
                with m.Case(off[name]):
                    m.d.comb += rdata.eq(v)
        m.d.sync += [bus.rvalid.eq(rd), bus.rdata.eq(Mux(rd, rdata, 0))]
        return m
