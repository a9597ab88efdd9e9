"""Clock, reset and the per-cycle time base of every testbench.

A testbench is written against a :class:`Ticker`, which works the same with a clocked DUT (a
``clk`` port: a GPI clock drives it and a cycle ends at its rising edge) and with a purely
combinational one (no ``clk``: Amaranth emits none when a design has no registers, e.g. a
``PipelinedOp`` with latency 0; a cycle is then a :class:`~cocotb.triggers.Timer` period).

Every cycle has two phases, always in this order:

1. **drive** (the RisingEdge callback, or the start of the time step): inputs are written.
   Don't read DUT outputs here: under Verilator the callback runs *before* the design evaluates
   the edge, so reads still return the values of the previous cycle (the writes, inertial, are
   applied after the edge, as they must be);
2. **sample** (:class:`~cocotb.triggers.ReadOnly`): everything has settled; outputs are read and
   the handshakes that complete at the coming edge are decided (valid & ready, req & gnt).

An optional **respond** phase (:class:`~cocotb.triggers.ReadWrite`) between the two lets a model
answer combinationally within the cycle (the TCDM model's ``gnt = req & ~stall``).

:meth:`Ticker.run` runs any number of *agents* (the stream drivers, sinks and memory models of
this package, or any object with ``drive()`` / ``respond()`` / ``sample()`` methods) in ONE
coroutine: per cycle it calls every ``drive``, awaits ``ReadOnly`` once, calls every ``sample``
and awaits the edge once. This costs one coroutine's cocotb overhead per cycle with Verilator
however many agents there are (one coroutine per agent would cost as much per agent).

:class:`Sig` is a fast integer view of a port: an access through the GPI handle costs a fraction
of one through ``handle.value`` / ``int(...)``. Simulation speeds: docs/cluster.md, Running
programs.
"""

import copy
import functools

import cocotb
import cocotb.handle
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, ReadWrite, RisingEdge, Timer

__all__ = ["Sig", "has_signal", "signal", "start_clock", "reset", "Ticker", "Deadlock"]


class Deadlock(AssertionError):
    """No agent made progress for too many cycles (or ``max_cycles`` was exceeded)."""


# Raw GPI writes bypass cocotb's write scheduling, which is only correct when cocotb itself
# writes straight through (COCOTB_TRUST_INERTIAL_WRITES=1, set by the runner for Verilator).
_RAW = bool(getattr(cocotb.handle, "_trust_inertial", False))
_DEPOSIT = 0  # cocotb.handle._GPISetAction.DEPOSIT


def has_signal(dut, name):
    """True if the DUT has a top-level object ``name``."""
    return dut._get(name) is not None


def signal(dut, name):
    """The handle of top-level port ``name``; AttributeError listing similar ports otherwise."""
    handle = dut._get(name)
    if handle is not None:
        return handle
    try:
        names = sorted(h._name for h in dut)
    except Exception:  # noqa: BLE001 - only for the message
        names = []
    stem = name.split("__")[0]
    similar = [n for n in names if n.startswith(stem)] or names
    raise AttributeError(f"DUT {dut._name} has no port {name!r}; ports: {', '.join(similar)}")


class Sig:
    """Integer read/write access to one port (any width), as fast as cocotb allows.

    ``sig.get()`` returns an unsigned int; ``sig.set(v)`` deposits ``v`` masked to the width
    (negative values as two's complement); ``sig.put(v)`` is the unchecked fast path for values
    known to be in [0, 2**width). The bound methods can be hoisted into locals in tight loops.
    """

    __slots__ = ("handle", "name", "width", "mask", "get", "set", "put")

    def __init__(self, handle_or_dut, name=None):
        handle = signal(handle_or_dut, name) if name is not None else handle_or_dut
        self.handle = handle
        self.name = handle._name
        self.width = w = len(handle)
        self.mask = mask = (1 << w) - 1
        if _RAW:
            raw = handle._handle
            if w <= 32:
                get_long = raw.get_signal_val_long
                # vpiIntVal is a signed 32-bit int: only a 32-bit port needs the mask.
                self.get = get_long if w < 32 else (lambda: get_long() & mask)
                put = functools.partial(raw.set_signal_val_int, _DEPOSIT)
            else:
                get_bin, set_bin = raw.get_signal_val_binstr, raw.set_signal_val_binstr
                fmt = f"0{w}b"
                self.get = lambda: int(get_bin(), 2)

                def put(v):
                    set_bin(_DEPOSIT, format(v, fmt))
        else:  # pragma: no cover - only without COCOTB_TRUST_INERTIAL_WRITES
            def get():
                return int(handle.value) & mask

            def put(v):
                handle.value = v
            self.get = get
        self.put = put
        self.set = lambda v: put(v & mask)

    def __repr__(self):
        return f"Sig({self.name}, {self.width})"


def start_clock(dut, clk="clk", period=10, unit="ns"):
    """Start a 50 % clock on ``dut.<clk>``: ``Clock(dut.clk, period, unit=unit).start()``.

    Returns the :class:`~cocotb.clock.Clock`, or None if the DUT has no such port.
    """
    if not has_signal(dut, clk):
        return None
    clock = Clock(signal(dut, clk), period, unit=unit)
    clock.start(start_high=False)
    return clock


async def reset(dut, clk="clk", rst="rst", cycles=2):
    """Synchronous reset: ``rst`` high for ``cycles`` rising edges, released just after an edge.

    Returns in the drive phase of the first cycle out of reset. No-op without ``rst``/``clk``.
    """
    if not (has_signal(dut, clk) and has_signal(dut, rst)):
        return
    r = Sig(dut, rst)
    edge = RisingEdge(signal(dut, clk))
    r.set(1)
    for _ in range(max(1, cycles)):
        await edge
    r.set(0)


class Ticker:
    """The cycle time base of one DUT (clocked or combinational), and the agent scheduler.

    ``await ticker.start()`` starts the clock and applies the reset (or, without a clock, just
    steps time once); afterwards the test is in the drive phase of cycle ``ticker.cycle``.
    ``await ticker.tick(n)`` advances ``n`` cycles. ``await ticker.run(*agents)`` runs agents
    until they are all done (see the module docstring).
    """

    def __init__(self, dut, clk="clk", rst="rst", period=10, unit="ns"):
        self.dut = dut
        self.clk_name, self.rst_name = clk, rst
        self.period, self.unit = period, unit
        self.clocked = has_signal(dut, clk)
        self.clock = None
        self.cycle = 0
        self._edge = RisingEdge(signal(dut, clk)) if self.clocked else Timer(period, unit)

    async def start(self, reset_cycles=2):
        """Start the clock and reset the DUT (agents drive their idle values from construction)."""
        if self.clocked:
            self.clock = start_clock(self.dut, self.clk_name, self.period, self.unit)
            await reset(self.dut, self.clk_name, self.rst_name, reset_cycles)
            if not has_signal(self.dut, self.rst_name):
                await self._edge
        else:
            await self._edge
        return self

    @property
    def edge(self):
        """The trigger that ends a cycle (await it from the drive or sample phase)."""
        return self._edge

    async def tick(self, n=1):
        for _ in range(n):
            await self._edge
            self.cycle += 1

    async def run(self, *agents, until=None, max_cycles=None, stall_timeout=20_000):
        """Run ``agents`` cycle by cycle in one coroutine; returns the number of cycles run
        (at least one).

        ``until()`` is evaluated in the sample phase of every cycle, after the agents sampled
        (so it may read DUT outputs: they have settled; default: every agent whose ``done`` is
        not None is done); when true, the loop awaits that cycle's closing edge and returns.
        Every agent's ``idle()`` is then called (in the drive phase after the last edge):
        drivers drop ``valid``, sinks drop ``ready``, so nothing transfers unobserved.

        Raises :class:`Deadlock` after ``max_cycles`` cycles, or when no agent's ``progress``
        changed for ``stall_timeout`` cycles. Agents raise their own protocol errors
        (AssertionError subclasses), which end the test as failures.
        """
        drives = [a.drive for a in agents if getattr(a, "drive", None)]
        responds = [a.respond for a in agents if getattr(a, "respond", None) and getattr(a, "responds", True)]
        samples = [a.sample for a in agents if getattr(a, "sample", None)]
        if until is None:
            finite = [a for a in agents if getattr(a, "done", None) is not None]
            if not finite:
                raise ValueError("Ticker.run: no agent can finish (all have done=None); pass until=")
            if len(finite) == 1:
                agent = finite[0]

                def until():
                    return agent.done
            else:
                first = [finite[-1]]  # the agent found unfinished last time is asked first

                def until():
                    if not first[0].done:
                        return False
                    for a in finite:
                        if not a.done:
                            first[0] = a
                            return False
                    return True
        edge, ro, rw = self._edge, ReadOnly(), ReadWrite()
        start = self.cycle
        check_every = 1024
        last_progress, last_change = None, start
        n = 0
        while True:
            for d in drives:
                d()
            if responds:
                await rw
                if len(responds) == 1:
                    responds[0]()
                else:
                    # Responses may depend combinationally on one another (port B requests
                    # once port A is granted): iterate to a fixed point.
                    for _ in range(8):
                        changed = False
                        for r in responds:
                            if r():
                                changed = True
                        if not changed:
                            break
                        await rw
                    else:
                        raise Deadlock(f"cycle {self.cycle}: combinational responses did not settle")
            await ro
            for s in samples:
                s()
            n += 1
            stop = until()
            await edge
            self.cycle += 1
            if stop:
                for a in agents:
                    idle = getattr(a, "idle", None)
                    if idle is not None:
                        idle()
                return n
            if n % check_every == 0:
                if max_cycles is not None and n >= max_cycles:
                    raise Deadlock(f"cycle {self.cycle}: not done after {n} cycles "
                                   f"({self._status(agents)})")
                progress = sum(getattr(a, "progress", 0) for a in agents)
                if progress != last_progress:
                    last_progress, last_change = progress, self.cycle
                elif self.cycle - last_change >= stall_timeout:
                    raise Deadlock(f"cycle {self.cycle}: no progress for {self.cycle - last_change} "
                                   f"cycles ({self._status(agents)})")
            elif max_cycles is not None and n >= max_cycles:
                raise Deadlock(f"cycle {self.cycle}: not done after {n} cycles ({self._status(agents)})")

    @staticmethod
    def _status(agents):
        return "; ".join(repr(a) for a in agents)

    def start_agents(self, *agents):
        """Run ``agents`` forever in a background task (for models that serve a DUT throughout
        a test, e.g. a TCDM memory behind a core). Returns the task (``task.cancel()`` stops it)."""
        clone = copy.copy(self)  # its own cycle count: the test's ticker keeps counting its own
        return cocotb.start_soon(clone.run(*agents, until=lambda: False, stall_timeout=float("inf")))
