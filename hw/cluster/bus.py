"""Small bus components of the cluster: the Wishbone-to-TCDM bridge of each core, an address
demultiplexer (one master, several address regions) and a round-robin arbiter (several
masters, one slave). All ports follow :class:`hw.bus.TCDMSignature` (grant in the request
cycle, read data exactly one cycle after a granted read)."""

from amaranth import Array, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..bus import TCDMSignature
from ..params import check_int

__all__ = ["WishboneSignature", "WishboneToTCDM", "TCDMDemux", "TCDMArbiter"]


class WishboneSignature(wiring.Signature):
    """Wishbone Classic, 32-bit data, word address, byte selects: the bus of sentinel-cpu's Top."""

    def __init__(self):
        super().__init__({
            "adr": Out(30), "dat_w": Out(32), "dat_r": In(32), "sel": Out(4),
            "cyc": Out(1), "stb": Out(1), "we": Out(1), "ack": In(1),
        })


class WishboneToTCDM(wiring.Component):
    """Wishbone Classic single transfers -> TCDM.

    A write is acknowledged in the cycle it is granted; a read in the cycle its data returns
    (one cycle after the grant), with the data on ``dat_r``. The master (sentinel-cpu) drops
    ``stb`` for at least one cycle after every ``ack``, so one transfer is outstanding at most.
    """

    wb: In(WishboneSignature())
    tcdm: Out(TCDMSignature(addr_width=32, data_width=32))

    def elaborate(self, platform):
        m = Module()
        wb, t = self.wb, self.tcdm
        pending = Signal()   # a granted read waits for its data
        m.d.comb += [
            t.req.eq(wb.cyc & wb.stb & ~pending),
            t.addr.eq(Cat(0, 0, wb.adr)),
            t.we.eq(wb.we),
            t.be.eq(wb.sel),
            t.wdata.eq(wb.dat_w),
            wb.dat_r.eq(t.rdata),
            wb.ack.eq((t.req & t.gnt & wb.we) | (pending & t.rvalid)),
        ]
        with m.If(pending & t.rvalid):
            m.d.sync += pending.eq(0)
        with m.Elif(t.req & t.gnt & ~wb.we):
            m.d.sync += pending.eq(1)
        return m


class TCDMDemux(wiring.Component):
    """One TCDM master onto several slaves by address region.

    ``regions``: list of ``(base, size)`` byte ranges (size a power of two, base a multiple
    of size, no overlaps). Slave ``i`` sees the offset ``addr - base`` on an address of
    ``log2(size)`` bits. An access outside every region is granted at once, reads 0 and pulses
    ``error`` with ``error_addr``/``error_we`` (a stray access never hangs the master).
    """

    def __init__(self, regions, *, addr_width=32, data_width=32):
        regions = [(check_int(f"regions[{i}] base", b, min=0, max=(1 << addr_width) - 1),
                    check_int(f"regions[{i}] size", s, min=4, max=1 << addr_width))
                   for i, (b, s) in enumerate(regions)]
        check_int("number of regions", len(regions), min=1, max=64)
        for i, (b, s) in enumerate(regions):
            if s & (s - 1) or b % s:
                raise ValueError(f"regions[{i}] must have a power-of-two size and a base aligned "
                                 f"to it, got base {b:#x} size {s:#x}")
        spans = sorted(regions)
        for (b0, s0), (b1, _) in zip(spans, spans[1:]):
            if b0 + s0 > b1:
                raise ValueError(f"regions overlap at {b1:#x}")
        self.regions = regions
        self.data_width = data_width
        members = {"bus": In(TCDMSignature(addr_width=addr_width, data_width=data_width)),
                   "error": Out(1), "error_addr": Out(addr_width), "error_we": Out(1)}
        for i, (_, s) in enumerate(regions):
            members[f"s{i}"] = Out(TCDMSignature(addr_width=max(1, s.bit_length() - 1),
                                                 data_width=data_width))
        super().__init__(members)

    def slave(self, i):
        return getattr(self, f"s{i}")

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        n = len(self.regions)
        hit = Signal(n)
        for i, (base, size) in enumerate(self.regions):
            s = self.slave(i)
            aw = size.bit_length() - 1
            m.d.comb += hit[i].eq(bus.addr[aw:] == base >> aw)
            m.d.comb += [s.req.eq(bus.req & hit[i]), s.addr.eq(bus.addr[:aw]), s.we.eq(bus.we),
                         s.be.eq(bus.be), s.wdata.eq(bus.wdata)]
        miss = bus.req & ~hit.any()
        m.d.comb += bus.gnt.eq(miss | Cat(self.slave(i).gnt & hit[i] for i in range(n)).any())
        m.d.comb += [self.error.eq(miss), self.error_addr.eq(bus.addr), self.error_we.eq(bus.we)]
        # Read response: from the slave granted one cycle ago (at most one read in flight).
        sel = Signal(range(n + 1))          # n = the error responder
        with m.If(bus.req & bus.gnt & ~bus.we):
            m.d.sync += sel.eq(n)
            for i in range(n):
                with m.If(hit[i]):
                    m.d.sync += sel.eq(i)
        rvalid = Array([self.slave(i).rvalid for i in range(n)] + [Signal(name="err_rvalid")])
        rdata = Array([self.slave(i).rdata for i in range(n)] + [Signal(self.data_width, name="err_rdata")])
        err_rd = rvalid[n]
        m.d.sync += err_rd.eq(miss & ~bus.we)
        m.d.comb += [bus.rvalid.eq(rvalid[sel]), bus.rdata.eq(rdata[sel])]
        return m


class TCDMArbiter(wiring.Component):
    """``n`` TCDM masters onto one slave, round robin (the master after the last granted one
    has the highest priority). ``id`` is the index of the master whose request is presented
    (valid while ``out.req``); slaves use it to answer per-master registers (core id)."""

    def __init__(self, n, *, addr_width=32, data_width=32):
        self.n = check_int("n (masters)", n, min=1, max=64)
        sig = TCDMSignature(addr_width=addr_width, data_width=data_width)
        super().__init__({
            "masters": In(wiring.Signature({f"m{i}": Out(sig) for i in range(n)})),
            "out": Out(sig),
            "id": Out(range(max(2, n))),
        })

    def master(self, i):
        return getattr(self.masters, f"m{i}")

    def elaborate(self, platform):
        m = Module()
        n = self.n
        ms = [self.master(i) for i in range(n)]
        ptr = Signal(range(max(2, n)))        # one master: a constant 0 (no empty vector)
        chosen = Signal(range(max(2, n)))
        # Highest priority: ptr, ptr+1, ...; evaluated last wins, so iterate in reverse order.
        for k in reversed(range(n)):
            for i in range(n):
                with m.If((ptr == (i - k) % n) & ms[i].req):
                    m.d.comb += chosen.eq(i)
        out = self.out
        sel = Array(ms)
        m.d.comb += [
            self.id.eq(chosen),
            out.req.eq(Cat(p.req for p in ms).any()),
            out.addr.eq(sel[chosen].addr), out.we.eq(sel[chosen].we),
            out.be.eq(sel[chosen].be), out.wdata.eq(sel[chosen].wdata),
        ]
        for i, p in enumerate(ms):
            m.d.comb += p.gnt.eq(out.gnt & (chosen == i) & p.req)
        resp = Signal(range(max(2, n)))
        with m.If(out.req & out.gnt):
            m.d.sync += ptr.eq(Mux(chosen == n - 1, 0, chosen + 1))
            with m.If(~out.we):
                m.d.sync += resp.eq(chosen)
        for i, p in enumerate(ms):
            m.d.comb += [p.rdata.eq(out.rdata), p.rvalid.eq(out.rvalid & (resp == i))]
        return m
