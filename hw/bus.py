"""The TCDM-style memory port, used for scratchpad ports and for the peripheral bus that reaches
accelerator register files.

Master's view: ``req`` with ``addr`` (byte address), ``we``, ``be`` (byte enables) and ``wdata``;
the slave answers ``gnt`` in the same cycle (a master must tolerate any number of cycles without
``gnt`` and must hold its request stable until granted). Read data arrives exactly one cycle
after a granted read, flagged by ``rvalid``.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import check_int

__all__ = ["TCDMSignature", "TCDMRequester"]


class TCDMSignature(wiring.Signature):
    def __init__(self, *, addr_width=32, data_width=32):
        self.addr_width = check_int("addr_width", addr_width, min=1, max=64)
        self.data_width = check_int("data_width", data_width, min=8)
        if data_width % 8 or data_width & (data_width - 1):
            raise ValueError(f"data_width must be a power of two multiple of 8 (8, 16, 32, ...), got {data_width}")
        super().__init__({
            "req":    Out(1),
            "gnt":    In(1),
            "addr":   Out(addr_width),
            "we":     Out(1),
            "be":     Out(data_width // 8),
            "wdata":  Out(data_width),
            "rdata":  In(data_width),
            "rvalid": In(1),
        })

    def __eq__(self, other):
        return (isinstance(other, TCDMSignature) and self.addr_width == other.addr_width
                and self.data_width == other.data_width)

    def __repr__(self):
        return f"TCDMSignature(addr_width={self.addr_width}, data_width={self.data_width})"


class TCDMRequester(wiring.Component):
    """Drives a TCDM master port from per-cycle wishes (``want_rd`` / ``want_wr`` with
    ``addr``, ``be``, ``wdata``), keeping the protocol's promise for the client: a request not
    granted is held unchanged in registers until granted, even across ``clear`` (a soft clear
    may not withdraw it). Such a request left over from an aborted job is ``stale``: its grant
    is not the client's (``ok`` excludes it). ``we`` is the current request's direction
    (the held one while ``hold``); reads enable every byte. While ``hold`` the wishes are
    ignored, so a client raises them only when ``~hold``. ``rdata`` / ``rvalid`` pass through
    ``tcdm``.

    ``stable``: the client promises that ``addr``, ``be`` and ``wdata`` do not change while
    ``hold`` (it advances only on ``granted``, and a clear does not move it), so the port is
    driven from them directly and no copy of the request is kept."""

    def __init__(self, *, addr_width=32, data_width=32, stable=False):
        self.stable = stable
        sig = TCDMSignature(addr_width=addr_width, data_width=data_width)
        super().__init__({
            "tcdm": Out(sig),
            "want_rd": In(1),
            "want_wr": In(1),
            "addr": In(addr_width),
            "be": In(data_width // 8),
            "wdata": In(data_width),
            "clear": In(1),
            "hold": Out(1),
            "we": Out(1),
            "granted": Out(1),
            "stale": Out(1),
            "ok": Out(1),
        })

    @classmethod
    def attach(cls, m, port, clear, name="requester", stable=False):
        """A requester as submodule ``name`` of ``m``, driving ``port`` (the master port of the
        component being elaborated), cleared by ``clear``."""
        rq = cls(addr_width=len(port.addr), data_width=len(port.wdata), stable=stable)
        m.submodules[name] = rq
        wiring.connect(m, rq.tcdm, wiring.flipped(port))
        m.d.comb += rq.clear.eq(clear)
        return rq

    def elaborate(self, platform):
        m = Module()
        port = self.tcdm
        held_we = Signal()
        request = [port.req.eq(self.hold | ((self.want_rd | self.want_wr) & ~self.clear)),
                   self.we.eq(Mux(self.hold, held_we, self.want_wr)),
                   port.we.eq(self.we)]
        outcome = [self.granted.eq(port.req & port.gnt), self.ok.eq(self.granted & ~self.stale)]
        all_bytes = (1 << len(port.be)) - 1
        if self.stable:
            # the client's request is the port's, held or not
            m.d.comb += request + [port.addr.eq(self.addr),
                                   port.be.eq(Mux(self.we, self.be, all_bytes)),
                                   port.wdata.eq(self.wdata)] + outcome
            m.d.sync += [self.hold.eq(port.req & ~port.gnt), held_we.eq(self.we)]
        else:
            held_addr = Signal.like(port.addr, name="held_addr")
            held_be = Signal.like(port.be, name="held_be")
            held_wdata = Signal.like(port.wdata, name="held_wdata")
            m.d.comb += request + [port.addr.eq(Mux(self.hold, held_addr, self.addr)),
                                   port.be.eq(Mux(self.hold, held_be,
                                                  Mux(self.we, self.be, all_bytes))),
                                   port.wdata.eq(Mux(self.hold, held_wdata, self.wdata))] + outcome
            m.d.sync += [self.hold.eq(port.req & ~port.gnt), held_we.eq(self.we),
                         held_addr.eq(port.addr), held_be.eq(port.be), held_wdata.eq(port.wdata)]
        with m.If(self.clear & self.hold & ~port.gnt):
            m.d.sync += self.stale.eq(1)
        with m.Elif(port.gnt):
            m.d.sync += self.stale.eq(0)
        return m
