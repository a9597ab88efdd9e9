"""TCDM-style bus masters and a protocol monitor (see :mod:`hw.bus` for the protocol).

Both masters offer the interface the register drivers use::

    await master.write(addr, data, be=0xF)
    value = await master.read(addr)

- :class:`TCDMMaster`: cocotb, for Verilator runs (signals ``<prefix>req`` ... on the DUT).
- :class:`AmaranthTCDMMaster`: the same for an Amaranth simulator testbench (``ctx``).

Both hold the request stable until granted, tolerate any number of cycles without ``gnt``,
take the read data in the cycle after the grant (checking ``rvalid``), and can insert random
idle gaps between requests (``gap_prob``, ``max_gap``).
"""

import random

from cocotb.triggers import Lock, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

__all__ = ["TCDMMaster", "TCDMMonitor", "AmaranthTCDMMaster", "BusError"]


class BusError(AssertionError):
    """Protocol violation seen by a master or the monitor."""


class _Gaps:
    def __init__(self, rng, gap_prob, max_gap):
        self.rng = rng if rng is not None else random.Random(0)
        if not 0.0 <= gap_prob <= 1.0:
            raise ValueError(f"gap_prob must be in [0, 1], got {gap_prob!r}")
        if max_gap < 1:
            raise ValueError(f"max_gap must be >= 1, got {max_gap!r}")
        self.gap_prob = gap_prob
        self.max_gap = max_gap

    def cycles(self):
        if self.gap_prob and self.rng.random() < self.gap_prob:
            return self.rng.randint(1, self.max_gap)
        return 0


class TCDMMaster:
    """cocotb TCDM master on ``dut.<prefix>req`` etc., clocked by ``clk``.

    Accesses are serialised (a lock), so several coroutines may share one master. Call it from a
    writable phase (not after ``ReadOnly``). ``max_wait`` bounds the cycles without grant.
    """

    def __init__(self, dut, clk=None, *, prefix="bus__", rng=None, gap_prob=0.0, max_gap=4,
                 max_wait=10_000):
        self.clk = clk if clk is not None else dut.clk
        self.req, self.gnt = getattr(dut, prefix + "req"), getattr(dut, prefix + "gnt")
        self.addr, self.we = getattr(dut, prefix + "addr"), getattr(dut, prefix + "we")
        self.be, self.wdata = getattr(dut, prefix + "be"), getattr(dut, prefix + "wdata")
        self.rdata, self.rvalid = getattr(dut, prefix + "rdata"), getattr(dut, prefix + "rvalid")
        self.gaps = _Gaps(rng, gap_prob, max_gap)
        self.max_wait = max_wait
        self._lock = Lock()
        self._edge_time = None
        self.req.value = 0
        self.reads = self.writes = self.wait_cycles = 0

    async def _edge(self):
        await RisingEdge(self.clk)
        self._edge_time = get_sim_time("step")

    async def _align(self):
        if self._edge_time != get_sim_time("step"):
            await self._edge()

    async def _request(self, addr, we, be, wdata):
        await self._align()
        for _ in range(self.gaps.cycles()):
            await self._edge()
        self.req.value = 1
        self.addr.value = addr
        self.we.value = we
        self.be.value = be
        self.wdata.value = wdata
        for _ in range(self.max_wait):
            await ReadOnly()
            granted = int(self.gnt.value)
            await self._edge()
            if granted:
                break
            self.wait_cycles += 1
        else:
            raise BusError(f"no grant within {self.max_wait} cycles for address {addr:#x}")
        self.req.value = 0

    async def write(self, addr, data, be=0xF):
        async with self._lock:
            await self._request(addr, 1, be, data & 0xFFFF_FFFF)
            self.writes += 1

    async def read(self, addr):
        async with self._lock:
            await self._request(addr, 0, 0xF, 0)
            await ReadOnly()
            if int(self.rvalid.value) != 1:
                raise BusError(f"rvalid low one cycle after the granted read of {addr:#x}")
            value = int(self.rdata.value)
            await self._edge()
            self.reads += 1
            return value


class TCDMMonitor:
    """cocotb protocol checker for one TCDM port: ``rvalid`` exactly in the cycles after granted
    reads, and a master's request held stable until granted. Start with ``cocotb.start_soon(
    monitor.run())``; violations raise :class:`BusError` (failing the test)."""

    def __init__(self, dut, clk=None, *, prefix="bus__"):
        self.dut, self.prefix = dut, prefix
        self.clk = clk if clk is not None else dut.clk
        self.granted_reads = 0
        self.stalled_cycles = 0

    def _get(self, name):
        return int(getattr(self.dut, self.prefix + name).value)

    async def run(self):
        expect_rvalid = False
        pending = None
        while True:
            await RisingEdge(self.clk)
            await ReadOnly()
            rvalid = self._get("rvalid")
            if rvalid != expect_rvalid:
                raise BusError(f"rvalid is {rvalid}, expected {int(expect_rvalid)}")
            req, gnt = self._get("req"), self._get("gnt")
            if req:
                now = (self._get("addr"), self._get("we"), self._get("be"),
                       self._get("wdata") if self._get("we") else 0)
                if pending is not None and now != pending:
                    raise BusError(f"request changed before grant: {pending} -> {now}")
                pending = None if gnt else now
                if not gnt:
                    self.stalled_cycles += 1
            elif pending is not None:
                raise BusError(f"request {pending} withdrawn before grant")
            expect_rvalid = bool(req and gnt and not self._get("we"))
            self.granted_reads += expect_rvalid


class AmaranthTCDMMaster:
    """The same master for an Amaranth simulator testbench: ``bus`` is the slave's port
    (e.g. ``regfile.bus``), ``ctx`` the testbench context (or any object with ``get``, ``set``
    and an async ``tick()``, e.g. a wrapper that also steps a model every cycle)."""

    def __init__(self, ctx, bus, *, rng=None, gap_prob=0.0, max_gap=4, max_wait=10_000):
        self.ctx, self.bus = ctx, bus
        self.gaps = _Gaps(rng, gap_prob, max_gap)
        self.max_wait = max_wait
        self.reads = self.writes = self.wait_cycles = 0

    async def _request(self, addr, we, be, wdata):
        ctx, bus = self.ctx, self.bus
        for _ in range(self.gaps.cycles()):
            await ctx.tick()
        ctx.set(bus.req, 1)
        ctx.set(bus.addr, addr)
        ctx.set(bus.we, we)
        ctx.set(bus.be, be)
        ctx.set(bus.wdata, wdata)
        for _ in range(self.max_wait):
            granted = ctx.get(bus.gnt)
            await ctx.tick()
            if granted:
                break
            self.wait_cycles += 1
        else:
            raise BusError(f"no grant within {self.max_wait} cycles for address {addr:#x}")
        ctx.set(bus.req, 0)

    async def write(self, addr, data, be=0xF):
        await self._request(addr, 1, be, data & 0xFFFF_FFFF)
        self.writes += 1

    async def read(self, addr):
        await self._request(addr, 0, 0xF, 0)
        if not self.ctx.get(self.bus.rvalid):
            raise BusError(f"rvalid low one cycle after the granted read of {addr:#x}")
        self.reads += 1
        return self.ctx.get(self.bus.rdata)
