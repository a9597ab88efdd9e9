"""Register-map driver for testbenches, built from a :class:`hw.regmap.RegisterMap`.

Works with any bus object that has ``async write(addr, data, be=0xF)`` and
``async read(addr) -> int`` (:class:`sim.tb.bus.TCDMMaster` under cocotb,
:class:`sim.tb.bus.AmaranthTCDMMaster` under the Amaranth simulator)::

    drv = RegisterDriver(master, DEMO)
    job = await drv.acquire()                       # spins until a context is free
    await drv.write("IN_ADDR", 0x1000)
    await drv.write("COMMAND", OP="SCALE", SCALE=0x4000)   # fields; others at their reset
    await drv.write_field("COMMAND", "LAST", 1)    # read-modify-write
    await drv.trigger()
    await drv.wait_done(job)                        # polls STATUS.QUEUED (or pass event=...)
    cause = await drv.read_field("ERROR", "CAUSE")

``drv.const`` holds the constants under the C header's names (``drv.const.DEMO_STATUS_BUSY_MASK``);
``drv.consts`` is the same as a dict. Helpers :func:`unpack` / :func:`pack` convert between
integers and the register file's ``job`` / ``counters`` ports (flattened in Verilog).
"""

from types import SimpleNamespace

from hw.regmap import ACQUIRE_LOCKED, ACQUIRE_NONE_FREE, constants

__all__ = ["RegisterDriver", "AcquireTimeout", "DoneTimeout", "to_signed"]


class AcquireTimeout(TimeoutError):
    pass


class DoneTimeout(TimeoutError):
    pass


def to_signed(value):
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value & 0x8000_0000 else value


class RegisterDriver:
    """Testbench driver of one register file. ``base`` is added to every offset."""

    def __init__(self, bus, regmap, *, base=0):
        self.bus = bus
        self.regmap = regmap
        self.base = base
        self.consts = constants(regmap)
        self.const = SimpleNamespace(**self.consts)

    # -- names -------------------------------------------------------------------------
    def register(self, name):
        return self.regmap[name]

    def address(self, name):
        return self.base + self.regmap[name].offset

    def encode(self, name, value=None, **fields):
        return self.regmap[name].encode(value, **fields)

    def decode(self, name, value):
        return self.regmap[name].decode(value)

    def cause_name(self, code):
        if code == 0:
            return "NONE"
        for e in self.regmap.error_causes:
            if e.code == code:
                return e.name
        return f"UNKNOWN({code})"

    # -- register access ---------------------------------------------------------------
    async def write(self, name, value=None, *, be=0xF, **fields):
        """Write a register: an integer, or field values (enum names accepted; the other fields
        take their reset values)."""
        reg = self.regmap[name]
        if reg.access in ("ro", "rs"):
            raise ValueError(f"register {name} is not writable (access {reg.access})")
        await self.bus.write(self.address(name), reg.encode(value, **fields), be)

    async def read(self, name):
        """Read a register (unsigned 32-bit). Reading ACQUIRE acquires: use :meth:`try_acquire`."""
        reg = self.regmap[name]
        if reg.access == "wo":
            raise ValueError(f"register {name} is write-only")
        return await self.bus.read(self.address(name))

    async def read_fields(self, name):
        return self.decode(name, await self.read(name))

    async def read_field(self, name, field):
        fields = await self.read_fields(name)
        if field not in fields:
            raise KeyError(f"register {name} has no field {field!r}")
        return fields[field]

    async def write_field(self, name, field, value):
        """Read-modify-write of one field."""
        reg = self.regmap[name]
        if field not in reg.field:
            raise KeyError(f"register {name} has no field {field!r}")
        f = reg.field[field]
        old = await self.read(name)
        await self.bus.write(self.address(name), (old & ~f.mask) | (f.encode(value) << f.offset))

    # -- HWPE control ------------------------------------------------------------------
    async def try_acquire(self):
        """One ACQUIRE read: a job id >= 0, or ACQUIRE_NONE_FREE (-1) / ACQUIRE_LOCKED (-2)."""
        return to_signed(await self.bus.read(self.address("ACQUIRE")))

    async def acquire(self, *, max_tries=100_000):
        """Spin on ACQUIRE until it returns a job id >= 0; return it."""
        last = None
        for _ in range(max_tries):
            last = await self.try_acquire()
            if last >= 0:
                return last
            if last not in (ACQUIRE_NONE_FREE, ACQUIRE_LOCKED):
                raise AssertionError(f"ACQUIRE returned {last}, not a job id, -1 or -2")
        raise AcquireTimeout(f"no context acquired after {max_tries} tries (last result {last})")

    async def trigger(self):
        await self.bus.write(self.address("TRIGGER"), 0)

    async def soft_clear(self):
        await self.bus.write(self.address("SOFT_CLEAR"), 0)

    async def clear_error(self):
        await self.bus.write(self.address("ERROR"), 0)

    async def status(self):
        return await self.read_fields("STATUS")

    async def running_job(self):
        return to_signed(await self.read("RUNNING_JOB"))

    async def error(self):
        """ERROR as a dict: CAUSE, JOB, OVERFLOW."""
        return await self.read_fields("ERROR")

    async def counters(self):
        """Dict of every performance counter (JOB_CYCLES first)."""
        names = ["JOB_CYCLES"] + [c.name for c in self.regmap.counters]
        return {n: await self.read(n) for n in names}

    async def program(self, registers=None, **kw):
        """Acquire a context, write ``registers`` (name -> int or dict of fields), trigger.
        Returns the job id."""
        registers = dict(registers or {}, **kw)
        job = await self.acquire()
        for name, value in registers.items():
            if isinstance(value, dict):
                await self.write(name, **value)
            else:
                await self.write(name, value)
        await self.trigger()
        return job

    async def wait_done(self, job=None, *, event=None, max_polls=100_000):
        """Wait until a job has finished.

        With ``event`` (an async callable, e.g. one that awaits the register file's ``event``
        pulse) it is awaited once. Otherwise STATUS is polled until context ``job`` no longer
        holds a queued job (or, with ``job=None``, until the accelerator is idle). Returns the
        last STATUS fields read (or None with ``event``)."""
        if event is not None:
            await event()
            return None
        for _ in range(max_polls):
            st = await self.status()
            if job is None:
                if not st["BUSY"]:
                    return st
            elif not (st["QUEUED"] >> job) & 1:
                return st
        raise DoneTimeout(f"job {job} not done after {max_polls} STATUS polls")
