"""A test accelerator for the cluster's plug-in points: the demo register map (hw.regmap.demo)
on an accelerator slot, a ``width``-bit wide scratchpad port, its done event on an event line.
A job copies LENGTH.ELEMS BF16 elements from IN_ADDR to OUT_ADDR in ``width``-bit beats (the
last beat with partial byte enables); IN_ADDR/OUT_ADDR not aligned to the beat -> BAD_ADDR,
ELEMS = 0 -> BAD_LENGTH, COMMAND.OP other than COPY -> BAD_OP."""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.bus import TCDMSignature
from hw.cluster import Cluster
from hw.regmap import RegisterFile
from hw.regmap.demo import DEMO


class CopyAccel(wiring.Component):
    def __init__(self, width=64):
        self.width = width
        self.rf = RegisterFile(DEMO, addr_width=12)
        super().__init__({
            "cfg": In(TCDMSignature(addr_width=12, data_width=32)),
            "tcdm": Out(TCDMSignature(addr_width=32, data_width=width)),
            "done_event": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.rf = rf = self.rf
        wiring.connect(m, wiring.flipped(self.cfg), rf.bus)
        m.d.comb += self.done_event.eq(rf.done_event)
        nb = self.width // 8
        src, dst = Signal(32), Signal(32)
        left = Signal(24)                  # bytes left
        data = Signal(self.width)
        t = self.tcdm
        job = rf.job
        bytes_ = job.LENGTH.ELEMS * 2
        with m.FSM():
            with m.State("IDLE"):
                with m.If(rf.start):
                    m.d.sync += [src.eq(job.IN_ADDR), dst.eq(job.OUT_ADDR), left.eq(bytes_)]
                    with m.If(job.COMMAND.OP.as_value() != 0):
                        m.d.sync += rf.error.eq(7)
                        m.next = "DONE"
                    with m.Elif((job.IN_ADDR | job.OUT_ADDR)[:(nb - 1).bit_length()] != 0):
                        m.d.sync += rf.error.eq(1)
                        m.next = "DONE"
                    with m.Elif(job.LENGTH.ELEMS == 0):
                        m.d.sync += rf.error.eq(2)
                        m.next = "DONE"
                    with m.Else():
                        m.d.sync += rf.error.eq(0)
                        m.next = "READ"
            with m.State("READ"):
                m.d.comb += [t.req.eq(1), t.addr.eq(src), t.we.eq(0), t.be.eq(-1)]
                with m.If(t.gnt):
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += data.eq(t.rdata)
                m.next = "WRITE"
            with m.State("WRITE"):
                full = left >= nb
                m.d.comb += [t.req.eq(1), t.addr.eq(dst), t.we.eq(1), t.wdata.eq(data),
                             t.be.eq(Mux(full, (1 << nb) - 1, (1 << left[:4]) - 1))]
                with m.If(t.gnt):
                    m.d.sync += [src.eq(src + nb), dst.eq(dst + nb),
                                 left.eq(Mux(full, left - nb, 0))]
                    with m.If(left <= nb):
                        m.next = "DONE"
                    with m.Else():
                        m.next = "READ"
            with m.State("DONE"):
                m.d.comb += rf.done.eq(1)
                m.next = "IDLE"
        return m


class ClusterWithCopy(wiring.Component):
    """A Cluster with one CopyAccel on slot 0 / event line 0 / wide port 0; the Cluster's other
    ports are forwarded."""

    def __init__(self, cores=1, scratchpad_kib=16, *, width=64, **kwargs):
        self.cluster = Cluster(cores, scratchpad_kib, wide_ports=[width], accel_slots=1, **kwargs)
        self.accel = CopyAccel(width)
        sig = {k: v for k, v in self.cluster.signature.members.items()
               if k not in ("tcdm", "accel", "events")}
        super().__init__(sig)

    def elaborate(self, platform):
        m = Module()
        m.submodules.cluster = c = self.cluster
        m.submodules.accel = a = self.accel
        wiring.connect(m, c.accel.a0, a.cfg)
        wiring.connect(m, a.tcdm, c.tcdm.w0)
        m.d.comb += c.events[0].eq(a.done_event)
        for name in self.signature.members:
            port, inner = getattr(self, name), getattr(c, name)
            if self.signature.members[name].flow == In:
                if isinstance(port, wiring.PureInterface) or hasattr(port, "signature"):
                    wiring.connect(m, wiring.flipped(port), inner)
                else:
                    m.d.comb += inner.eq(port)
            else:
                m.d.comb += port.eq(inner)
        return m
