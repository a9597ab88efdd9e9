"""The memory side: one wide TCDM master shared by four streams (Z store > X > Y > W reads).

The port is registered: a request is loaded into the port registers when they are empty or
being granted, and held unchanged until granted (the TCDM rule), so the streams can move on as
soon as their request is loaded. A read's tag (stream, row) follows it to the response one cycle
after the grant. Streams only request when their buffer has room for the answer (credits), so a
response is never refused.
"""

from amaranth import Const, Signal

__all__ = ["STREAM_W", "STREAM_X", "STREAM_Y", "STREAM_Z", "PortArbiter"]

STREAM_W, STREAM_X, STREAM_Y, STREAM_Z = range(4)


class PortArbiter:
    """Fixed-priority arbiter and port registers. ``add(stream, want, addr, we, be, wdata,
    row)`` in priority order; ``loaded[stream]`` is high in the cycle the stream's request is
    taken. ``r_valid`` / ``r_tag`` / ``r_row`` / ``r_data`` describe the read response."""

    def __init__(self, m, port, row_bits, clear):
        self.m, self.port = m, port
        self.row_bits = row_bits
        self.clear = clear
        self.req = Signal(name="p_req")
        self.tag = Signal(2, name="p_tag")
        self.row = Signal(row_bits, name="p_row")
        self.r_pending = Signal(name="r_pending")
        self.r_tag = Signal(2, name="r_tag")
        self.r_row = Signal(row_bits, name="r_row")
        self.free = Signal(name="p_free")
        self.loaded = {}
        self._streams = []
        m.d.comb += self.free.eq(~self.req | port.gnt)

    def add(self, stream, want, addr, we, be, wdata, row):
        self._streams.append((stream, want, addr, we, be, wdata, row))
        self.loaded[stream] = Signal(name=f"loaded{stream}")

    def inflight(self, stream):
        """Requests of ``stream`` loaded and not yet answered (0..2)."""
        a = self.req & (self.tag == stream)
        b = self.r_pending & (self.r_tag == stream)
        return a + b

    def elaborate(self):
        m, port = self.m, self.port
        m.d.comb += port.req.eq(self.req)
        granted = self.req & port.gnt
        # A read still waiting for its grant at a soft clear is completed (TCDM rule) but its
        # answer is dropped, so it cannot land in the buffers of the next job.
        stale = Signal(name="p_stale")
        with m.If(granted):
            m.d.sync += stale.eq(0)
        with m.If(self.clear & self.req & ~port.gnt):
            m.d.sync += stale.eq(1)
        m.d.sync += self.r_pending.eq(granted & ~port.we & ~self.clear & ~stale)
        with m.If(granted):
            m.d.sync += [self.r_tag.eq(self.tag), self.r_row.eq(self.row)]
        with m.If(granted):
            m.d.sync += self.req.eq(0)
        taken = Const(0)
        for stream, want, addr, we, be, wdata, row in self._streams:
            go = Signal(name=f"go{stream}")
            m.d.comb += go.eq(self.free & want & ~taken)
            m.d.comb += self.loaded[stream].eq(go)
            with m.If(go):
                m.d.sync += [self.req.eq(1), port.addr.eq(addr), port.we.eq(we), port.be.eq(be),
                             port.wdata.eq(wdata), self.tag.eq(stream), self.row.eq(row)]
            taken = taken | want
        self.r_valid = Signal(name="r_valid")
        m.d.comb += self.r_valid.eq(self.r_pending & port.rvalid)
        self.r_data = port.rdata
