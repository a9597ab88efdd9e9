"""A TCDM scratchpad model: a byte-addressed memory served to the DUT through any number of
TCDM ports (``hw.bus.TCDMSignature``, data width 8..512+ bits), with random grant stalls.

Port protocol (master's view, see ``hw/bus.py``): ``req`` with ``addr`` (byte address), ``we``,
``be``, ``wdata``; ``gnt`` answers in the same cycle; read data on ``rdata`` with ``rvalid``
exactly one cycle after a granted read. The model checks the master's side of it on every
cycle: once ``req`` is high it must stay high with identical ``addr``/``we``/``be`` (and
``wdata`` for writes) until granted. A violation raises :class:`TCDMProtocolError` (the cocotb
test fails; ``strict=False`` only records it). Accesses outside the memory or misaligned
(``addr`` not a multiple of the port's byte width) are recorded in ``errors`` (reads of them
return 0) and make :meth:`TCDMPort.check` fail.

Grant modes: ``comb_gnt=True`` (default) gives ``gnt = req & ~stall`` within the cycle, like a
real interconnect, using a ReadWrite phase; ``comb_gnt=False`` drives ``gnt = ~stall`` from
the start of the cycle whatever ``req`` is (cheaper: no ReadWrite phase; legal for masters that
only look at ``gnt`` while requesting). ``stall`` is the probability that a cycle refuses grants.

Usage (agents for :meth:`sim.tb.clock.Ticker.run`, or served in the background)::

    mem = TCDMMemory(64 * 1024, base=0x1000_0000)
    mem.load_bf16(0x1000_0000, x_bits)
    port = mem.port(dut, "tcdm", stall=0.5, seed=3)
    ticker.start_agents(port)        # or: await ticker.run(port, sink, ...)
    ...
    port.check(); y = mem.read_fp32(0x1000_2000, 256)
"""

import random

import numpy as np

from .clock import Sig, has_signal

__all__ = ["TCDMProtocolError", "TCDMMemory", "TCDMPort"]


class TCDMProtocolError(AssertionError):
    pass


class TCDMMemory:
    """``size`` bytes at byte address ``base``, backed by a bytearray (``array``: a numpy uint8
    view of the same storage)."""

    def __init__(self, size, base=0, fill=0):
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        self.size = int(size)
        self.base = int(base)
        self.data = bytearray([fill & 0xFF]) * self.size
        self.array = np.frombuffer(self.data, dtype=np.uint8)
        self.ports = []

    def port(self, dut, prefix, **kwargs):
        """A :class:`TCDMPort` serving ``dut``'s port ``prefix`` from this memory."""
        p = TCDMPort(dut, prefix, self, **kwargs)
        self.ports.append(p)
        return p

    # -- host access -----------------------------------------------------------------------
    def _offset(self, addr, nbytes):
        off = int(addr) - self.base
        if off < 0 or off + nbytes > self.size:
            raise IndexError(f"[{int(addr):#x}, {int(addr) + nbytes:#x}) is outside the memory "
                             f"[{self.base:#x}, {self.base + self.size:#x})")
        return off

    def contains(self, addr, nbytes=1):
        off = int(addr) - self.base
        return 0 <= off and off + nbytes <= self.size

    def write_bytes(self, addr, data):
        data = bytes(data)
        off = self._offset(addr, len(data))
        self.data[off:off + len(data)] = data

    def read_bytes(self, addr, nbytes):
        off = self._offset(addr, nbytes)
        return bytes(self.data[off:off + nbytes])

    def load(self, addr, array):
        """Store a numpy array (any integer/float dtype) little-endian at ``addr``."""
        a = np.ascontiguousarray(array)
        self.write_bytes(addr, a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())

    def read_array(self, addr, count, dtype):
        """``count`` elements of ``dtype`` (little-endian) from ``addr``, as a new array."""
        dt = np.dtype(dtype).newbyteorder("<")
        return np.frombuffer(self.read_bytes(addr, count * dt.itemsize), dtype=dt).astype(np.dtype(dtype))

    def load_bf16(self, addr, bits):
        """bf16 values given as their uint16 bit patterns."""
        self.load(addr, np.asarray(bits).astype(np.uint16))

    def load_fp32(self, addr, values):
        """fp32 values given as uint32 bit patterns, or as a float32 array (stored bit-exactly)."""
        a = np.asarray(values)
        self.load(addr, a.view(np.uint32) if a.dtype == np.float32 else a.astype(np.uint32))

    def read_bf16(self, addr, count):
        return self.read_array(addr, count, np.uint16)

    def read_fp32(self, addr, count):
        return self.read_array(addr, count, np.uint32)

    def write_word(self, addr, value, nbytes=4):
        self.write_bytes(addr, int(value).to_bytes(nbytes, "little"))

    def read_word(self, addr, nbytes=4):
        return int.from_bytes(self.read_bytes(addr, nbytes), "little")

    def fill(self, value=0):
        self.array[:] = value


class TCDMPort:
    """Slave side of one TCDM port of the DUT (signals ``<prefix>__req`` ... ``__rvalid``).

    ``stall``: probability per cycle of refusing grants; ``rng``/``seed``: its random source.
    Counters: ``reads``, ``writes``, ``stall_cycles`` (req & ~gnt), ``req_cycles``, ``cycles``.
    """

    def __init__(self, dut, prefix, memory, *, stall=0.0, rng=None, seed=None, comb_gnt=True,
                 sep="__", name=None, strict=True, garbage=True):
        self.name = name or f"{prefix} tcdm"
        self.memory = memory
        get = lambda field: Sig(dut, f"{prefix}{sep}{field}")  # noqa: E731
        self.req, self.gnt, self.addr, self.we = get("req"), get("gnt"), get("addr"), get("we")
        self.wdata, self.rdata, self.rvalid = get("wdata"), get("rdata"), get("rvalid")
        self.be = get("be") if has_signal(dut, f"{prefix}{sep}be") else None
        self.width = self.wdata.width
        if self.width % 8:
            raise ValueError(f"{self.name}: data width {self.width} is not a multiple of 8")
        self.nbytes = self.width // 8
        self.full_be = (1 << self.nbytes) - 1
        self.stall = float(stall)
        if not 0.0 <= self.stall < 1.0:
            raise ValueError(f"stall must be a probability in [0, 1), got {stall!r}")
        self.rng = rng if rng is not None else random.Random(seed)
        self.comb_gnt = comb_gnt
        self.responds = comb_gnt   # Ticker.run calls respond() only if true
        self.strict = strict
        self.garbage = garbage
        self.errors = []
        self.reads = self.writes = self.stall_cycles = self.req_cycles = self.cycles = 0
        self._pending = None       # (addr, we, be, wdata) of a request waiting for its grant
        self._read_data = None     # read granted at the last edge: rdata for this cycle
        self._rvalid = 0
        self._gnt = 0
        self._stalled = False
        self.idle()

    # -- agent interface -------------------------------------------------------------------
    @property
    def done(self):
        return None  # serves forever

    @property
    def progress(self):
        return self.reads + self.writes

    def idle(self):
        self.gnt.set(0)
        self._gnt = 0
        if self._read_data is None:
            self.rvalid.put(0)
            self._rvalid = 0

    def drive(self):
        data = self._read_data
        if data is not None:
            self.rdata.put(data)
            if not self._rvalid:
                self.rvalid.put(1)
                self._rvalid = 1
            self._read_data = None
        elif self._rvalid:
            self.rvalid.put(0)
            self._rvalid = 0
            if self.garbage:  # rdata is only meaningful with rvalid
                self.rdata.put(self.rng.getrandbits(self.width))
        stalled = self.stall != 0.0 and self.rng.random() < self.stall
        self._stalled = stalled
        if not self.comb_gnt:
            g = 0 if stalled else 1
            if g != self._gnt:
                self.gnt.put(g)
                self._gnt = g

    def respond(self):
        """ReadWrite phase (comb_gnt): gnt = req & ~stall. Returns True if gnt changed."""
        g = 1 if (not self._stalled and self.req.get()) else 0
        if g != self._gnt:
            self.gnt.put(g)
            self._gnt = g
            return True
        return False

    def sample(self):
        self.cycles += 1
        pending = self._pending
        if not self.req.get():
            if pending is not None:
                self._protocol(f"req dropped before gnt (request {self._fmt(pending)})")
                self._pending = None
            return
        self.req_cycles += 1
        we = self.we.get()
        request = (self.addr.get(), we, self.be.get() if self.be is not None else self.full_be,
                   self.wdata.get() if we else None)
        if pending is not None and request != pending:
            self._protocol(f"request changed before gnt: {self._fmt(pending)} -> {self._fmt(request)}")
        if self._gnt:
            self._pending = None
            self._access(*request)
        else:
            self._pending = request
            self.stall_cycles += 1

    # -- memory access ---------------------------------------------------------------------
    def _access(self, addr, we, be, wdata):
        n = self.nbytes
        mem = self.memory
        off = addr - mem.base
        ok = True
        if addr % n:
            self._record(f"misaligned {'write' if we else 'read'} at {addr:#x} ({n}-byte port)")
            ok = False
        elif off < 0 or off + n > mem.size:
            self._record(f"{'write' if we else 'read'} at {addr:#x} outside "
                         f"[{mem.base:#x}, {mem.base + mem.size:#x})")
            ok = False
        if we:
            self.writes += 1
            if not ok:
                return
            if be == self.full_be:
                mem.data[off:off + n] = wdata.to_bytes(n, "little")
            else:
                d = mem.data
                for i in range(n):
                    if be >> i & 1:
                        d[off + i] = (wdata >> (8 * i)) & 0xFF
        else:
            self.reads += 1
            self._read_data = int.from_bytes(mem.data[off:off + n], "little") if ok else 0

    def _fmt(self, r):
        addr, we, be, wdata = r
        if we:
            return f"write addr={addr:#x} be={be:#x} wdata={wdata:#x}"
        return f"read addr={addr:#x} be={be:#x}"

    def _record(self, text):
        self.errors.append(f"{self.name}: cycle {self.cycles}: {text}")

    def _protocol(self, text):
        self._record(text)
        if self.strict:
            raise TCDMProtocolError(self.errors[-1])

    def check(self):
        """Raise TCDMProtocolError if any protocol, range or alignment error was recorded."""
        if self.errors:
            more = f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise TCDMProtocolError(self.errors[0] + more)

    def stats(self):
        return {"reads": self.reads, "writes": self.writes, "stall_cycles": self.stall_cycles,
                "req_cycles": self.req_cycles, "cycles": self.cycles, "errors": len(self.errors)}

    def __repr__(self):
        return f"<{self.name}: {self.reads} reads, {self.writes} writes, {self.stall_cycles} stalls>"
