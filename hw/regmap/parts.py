"""The parts of the register file (:class:`hw.regmap.regfile.RegisterFile`), one concern each.

- :class:`RegisterBus`: the slave on the peripheral bus. Decodes an access into the register it
  hits and answers a read one cycle later with that register's read value.
- :class:`ContextQueue`: the job-context ring. ACQUIRE (test-and-set), TRIGGER, the queue of
  triggered jobs started in trigger order, the running job and its start and done events.
- :class:`JobContexts`: the ``n_contexts`` copies of the job registers. Written through the
  acquired context with byte enables, copied from the newest context on acquire; the running
  context drives the accelerator's ``job`` view.
- :class:`ErrorReport`: the sticky ERROR register and STATUS.LAST_ERROR.
- :class:`PerformanceCounter`: one performance counter, counted per job and saturating.

Every part has a ``soft_clear`` input (a SOFT_CLEAR write in this cycle) that overrides its
other updates. The behaviour is specified in :data:`hw.regmap.description.SEMANTICS`.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..bus import TCDMSignature
from ..params import check_int
from .description import CAUSE_WIDTH, RegisterMap

__all__ = ["context_index_width", "hit_layout", "read_layout",
           "RegisterBus", "ContextQueue", "JobContexts", "ErrorReport", "PerformanceCounter"]

#: ACQUIRE read value when a context is already acquired (-2).
_ACQUIRE_LOCKED = Const(0xFFFF_FFFE, 32)
#: ACQUIRE read value when no context is free, RUNNING_JOB read value when no job runs (-1).
_MINUS_ONE = Const(0xFFFF_FFFF, 32)


def context_index_width(n_contexts):
    """Width of a context index (at least 1 bit)."""
    return max(1, (n_contexts - 1).bit_length())


def hit_layout(regmap):
    """One bit per register of ``regmap``: the bus access addresses it."""
    return data.StructLayout({r.name: 1 for r in regmap.registers})


def read_layout(registers):
    """One 32-bit read value per register of ``registers``."""
    return data.StructLayout({r.name: 32 for r in registers})


class RegisterBus(wiring.Component):
    """The register file's slave on a TCDM-style peripheral bus (:class:`hw.bus.TCDMSignature`).

    Every request is granted in its own cycle. The word address (byte address without its two
    low bits) selects the register; bits above the map must be 0 for a hit. A read answers in
    the next cycle (``rvalid``) with the read value of the register it hit, 0 elsewhere (also
    for the write-only registers).

    Parameters
    ----------
    regmap : :class:`~hw.regmap.description.RegisterMap`
        The register map.
    addr_width : :class:`int`
        Width of the bus address (byte offsets from the register file's base).

    Members
    -------
    bus : :py:`In(TCDMSignature(addr_width=addr_width, data_width=32))`
        The peripheral bus port.
    read : :py:`Out(1)`
        A read is granted in this cycle.
    write : :py:`Out(1)`
        A write with at least one byte enabled is granted in this cycle.
    hit : :py:`Out(hit_layout(regmap))`
        One bit per register: this cycle's access addresses it (meaningful with ``read`` or
        ``write``).
    write_data : :py:`Out(32)`
        The data of a write.
    write_mask : :py:`Out(32)`
        The byte enables of a write as a bit mask (8 bits per byte).
    read_value : :py:`In(read_layout(readable registers))`
        The value of every readable register (access other than ``"wo"``), sampled for a read
        that hits it.
    """

    def __init__(self, regmap, *, addr_width):
        if not isinstance(regmap, RegisterMap):
            raise ValueError(f"regmap must be a RegisterMap, got {regmap!r}")
        self.regmap = regmap
        self.readable = [r for r in regmap.registers if r.access != "wo"]
        super().__init__({
            "bus": In(TCDMSignature(addr_width=addr_width, data_width=32)),
            "read": Out(1),
            "write": Out(1),
            "hit": Out(hit_layout(regmap)),
            "write_data": Out(32),
            "write_mask": Out(32),
            "read_value": In(read_layout(self.readable)),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        word = bus.addr[2:]
        m.d.comb += [
            bus.gnt.eq(bus.req),
            self.read.eq(bus.req & ~bus.we),
            self.write.eq(bus.req & bus.we & bus.be.any()),
            self.write_data.eq(bus.wdata),
            self.write_mask.eq(Cat(bus.be[i].replicate(8) for i in range(4))),
        ]
        m.d.comb += [self.hit[r.name].eq(word == (r.offset >> 2)) for r in self.regmap.registers]
        addressed_value = Signal(32)
        with m.Switch(word):
            for r in self.readable:
                with m.Case(r.offset >> 2):
                    m.d.comb += addressed_value.eq(self.read_value[r.name])
        m.d.sync += [bus.rvalid.eq(self.read), bus.rdata.eq(Mux(self.read, addressed_value, 0))]
        return m


class ContextQueue(wiring.Component):
    """The ring of job contexts and the queue of triggered jobs (HWPE job control).

    ``tail`` is the context to acquire next, or the acquired one; a successful ACQUIRE locks it
    (``acquired``) and TRIGGER queues its job and moves ``tail`` on. ``head`` is the context of
    the running job, or of the next one: a queued job at ``head`` starts as soon as no job runs,
    at the latest in the cycle after the previous job's ``done``.

    Parameters
    ----------
    n_contexts : :class:`int`
        Number of job contexts (1..4).

    Members
    -------
    acquire : :py:`In(1)`
        ACQUIRE is read in this cycle.
    trigger : :py:`In(1)`
        TRIGGER is written in this cycle (ignored unless a context is acquired).
    done : :py:`In(1)`
        The accelerator's ``done`` (ignored unless a job runs).
    soft_clear : :py:`In(1)`
        SOFT_CLEAR is written in this cycle: empty the queue, drop the lock and the running job.
    head : :py:`Out(context_index_width(n_contexts))`
        Context of the running job, or of the next one.
    tail : :py:`Out(context_index_width(n_contexts))`
        The acquired context, or the next one to acquire.
    newest : :py:`Out(context_index_width(n_contexts))`
        The most recently triggered context (the one before ``tail``).
    visible : :py:`Out(context_index_width(n_contexts))`
        The context that reads of the job registers show: ``tail`` when acquired, else
        ``newest``.
    queued : :py:`Out(n_contexts)`
        Bit i: context i holds a triggered job that has not finished.
    acquired : :py:`Out(1)`
        A context is acquired and not yet triggered.
    acquire_ok : :py:`Out(1)`
        The ACQUIRE read of this cycle succeeds (``tail`` is locked from the next cycle).
    acquire_value : :py:`Out(32)`
        ACQUIRE's read value: ``tail`` if free, -1 if every context is queued, -2 if locked.
    running : :py:`Out(1)`
        A job runs (the accelerator's ``busy``).
    running_job : :py:`Out(32)`
        RUNNING_JOB's read value: ``head`` while a job runs, else -1.
    starting : :py:`Out(1)`
        A job starts in the next cycle.
    start : :py:`Out(1)`
        One-cycle pulse in the first cycle of a job.
    job_end : :py:`Out(1)`
        The running job ends in this cycle (``running & done``).
    done_event : :py:`Out(1)`
        One-cycle pulse in the cycle after ``job_end``.
    """

    def __init__(self, n_contexts):
        self.n_contexts = check_int("n_contexts", n_contexts, min=1, max=4)
        index = context_index_width(n_contexts)
        super().__init__({
            "acquire": In(1),
            "trigger": In(1),
            "done": In(1),
            "soft_clear": In(1),
            "head": Out(index),
            "tail": Out(index),
            "newest": Out(index),
            "visible": Out(index),
            "queued": Out(n_contexts),
            "acquired": Out(1),
            "acquire_ok": Out(1),
            "acquire_value": Out(32),
            "running": Out(1),
            "running_job": Out(32),
            "starting": Out(1),
            "start": Out(1),
            "job_end": Out(1),
            "done_event": Out(1),
        })

    def _following(self, index):
        """The context after ``index`` in the ring."""
        return Mux(index == self.n_contexts - 1, 0, index + 1)[:len(self.head)]

    def _preceding(self, index):
        """The context before ``index`` in the ring."""
        return Mux(index == 0, self.n_contexts - 1, index - 1)[:len(self.head)]

    def _one_hot(self, index):
        return (Const(1, self.n_contexts) << index)[:self.n_contexts]

    def elaborate(self, platform):
        m = Module()
        n = self.n_contexts
        tail_free = ~self.queued.bit_select(self.tail, 1)
        job_end = self.running & self.done
        triggered = self.trigger & self.acquired
        m.d.comb += [
            self.newest.eq(self._preceding(self.tail)),
            self.visible.eq(Mux(self.acquired, self.tail, self.newest)),
            self.acquire_ok.eq(self.acquire & ~self.acquired & tail_free),
            self.acquire_value.eq(Mux(self.acquired, _ACQUIRE_LOCKED,
                                      Mux(tail_free, self.tail, _MINUS_ONE))),
            self.running_job.eq(Mux(self.running, self.head, _MINUS_ONE)),
            self.job_end.eq(job_end),
        ]

        queued_next = Signal(n)
        head_next = Signal(len(self.head))
        m.d.comb += [
            queued_next.eq((self.queued & ~Mux(job_end, self._one_hot(self.head), 0))
                           | Mux(triggered, self._one_hot(self.tail), 0)),
            head_next.eq(Mux(job_end, self._following(self.head), self.head)),
            self.starting.eq((~self.running | job_end) & queued_next.bit_select(head_next, 1)),
        ]
        m.d.sync += [
            self.queued.eq(queued_next),
            self.head.eq(head_next),
            self.running.eq(self.starting | (self.running & ~job_end)),
            self.start.eq(self.starting),
            self.done_event.eq(job_end),
            self.acquired.eq((self.acquired & ~triggered) | self.acquire_ok),
        ]
        with m.If(triggered):
            m.d.sync += self.tail.eq(self._following(self.tail))

        with m.If(self.soft_clear):
            m.d.sync += [self.queued.eq(0), self.head.eq(0), self.tail.eq(0), self.running.eq(0),
                         self.acquired.eq(0), self.start.eq(0), self.done_event.eq(0)]
        return m


class JobContexts(wiring.Component):
    """The ``n_contexts`` copies of the job registers.

    A write changes the enabled bytes of one register of context ``target`` (reserved bits stay
    0). With more than one context, a successful ACQUIRE first copies context ``source`` into
    ``target``, so a job only writes the registers that differ from the previous one.

    Parameters
    ----------
    regmap : :class:`~hw.regmap.description.RegisterMap`
        The register map (its job registers and ``n_contexts``).

    Members
    -------
    write : :py:`In(StructLayout({name: 1}))`
        One bit per job register: write it in context ``target`` in this cycle.
    write_data : :py:`In(32)`
        The data of a write.
    write_mask : :py:`In(32)`
        The bits a write changes (its byte enables).
    copy : :py:`In(1)`
        Copy every register of context ``source`` into context ``target``.
    target : :py:`In(context_index_width(n_contexts))`
        The context written or copied into (the acquired one).
    source : :py:`In(context_index_width(n_contexts))`
        The context copied from (the most recently triggered one).
    running : :py:`In(context_index_width(n_contexts))`
        The context shown on ``job``.
    visible : :py:`In(context_index_width(n_contexts))`
        The context shown on ``read_value``.
    soft_clear : :py:`In(1)`
        Reset every register of every context.
    job : :py:`Out(regmap.job_layout)`
        The registers of context ``running`` (fields as members).
    read_value : :py:`Out(read_layout(regmap.job_registers))`
        The registers of context ``visible``.
    """

    def __init__(self, regmap):
        if not isinstance(regmap, RegisterMap):
            raise ValueError(f"regmap must be a RegisterMap, got {regmap!r}")
        self.regmap = regmap
        index = context_index_width(regmap.n_contexts)
        super().__init__({
            "write": In(data.StructLayout({r.name: 1 for r in regmap.job_registers})),
            "write_data": In(32),
            "write_mask": In(32),
            "copy": In(1),
            "target": In(index),
            "source": In(index),
            "running": In(index),
            "visible": In(index),
            "soft_clear": In(1),
            "job": Out(regmap.job_layout),
            "read_value": Out(read_layout(regmap.job_registers)),
        })

    def _job_slices(self, register):
        """``(job bit, register bit, width)`` of every part of ``register`` in the ``job`` view."""
        base = self.regmap.job_layout[register.name].offset
        if register.plain:
            return [(base, 0, 32)]
        return [(base + member.offset, register.field[name].offset, register.field[name].width)
                for name, member in register.layout]

    def elaborate(self, platform):
        m = Module()
        n = self.regmap.n_contexts
        job_bits = self.job.as_value()
        mask = self.write_mask
        for r in self.regmap.job_registers:
            copies = Array(Signal(32, init=r.reset, name=f"ctx{c}_{r.name}") for c in range(n))
            for c, value in enumerate(copies):
                if n > 1:
                    with m.If(self.copy & (self.target == c)):
                        m.d.sync += value.eq(copies[self.source])
                with m.If(self.write[r.name] & (self.target == c)):
                    m.d.sync += value.eq(((value & ~mask) | (self.write_data & mask)) & r.mask)
                with m.If(self.soft_clear):
                    m.d.sync += value.eq(r.reset)
            running_value = copies[self.running]
            m.d.comb += [job_bits[at:at + width].eq(running_value[bit:bit + width])
                         for at, bit, width in self._job_slices(r)]
            m.d.comb += self.read_value[r.name].eq(copies[self.visible])
        return m


class ErrorReport(wiring.Component):
    """The sticky error report: the cause and context of the first job that failed since the
    report was last cleared, an overflow flag for the failures after it, and whether the most
    recently finished job failed.

    Members
    -------
    job_end : :py:`In(1)`
        A job ends in this cycle.
    job_cause : :py:`In(CAUSE_WIDTH)`
        The ending job's cause code (0 = success).
    job_context : :py:`In(4)`
        The ending job's context index.
    clear_report : :py:`In(1)`
        ERROR is written in this cycle: clear the report (a failure in the same cycle is kept).
    soft_clear : :py:`In(1)`
        Clear the report and ``last_error``.
    last_error : :py:`Out(1)`
        The most recently finished job ended with an error.
    cause : :py:`Out(CAUSE_WIDTH)`
        Cause code of the first failing job (0 = no error).
    context : :py:`Out(4)`
        Context index of the first failing job.
    overflow : :py:`Out(1)`
        Another job failed while ``cause`` was set.
    """

    def __init__(self):
        super().__init__({
            "job_end": In(1),
            "job_cause": In(CAUSE_WIDTH),
            "job_context": In(4),
            "clear_report": In(1),
            "soft_clear": In(1),
            "last_error": Out(1),
            "cause": Out(CAUSE_WIDTH),
            "context": Out(4),
            "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        report_empty = (self.cause == 0) | self.clear_report
        failed = self.job_cause != 0
        with m.If(self.clear_report):
            m.d.sync += [self.cause.eq(0), self.context.eq(0), self.overflow.eq(0)]
        with m.If(self.job_end):
            m.d.sync += self.last_error.eq(failed)
            with m.If(failed):
                with m.If(report_empty):
                    m.d.sync += [self.cause.eq(self.job_cause), self.context.eq(self.job_context)]
                with m.Else():
                    m.d.sync += self.overflow.eq(1)
        with m.If(self.soft_clear):
            m.d.sync += [self.last_error.eq(0), self.cause.eq(0), self.context.eq(0),
                         self.overflow.eq(0)]
        return m


class PerformanceCounter(wiring.Component):
    """A performance counter latched per job: counts from 0 at every job start, adds
    ``increment`` every cycle the job runs (saturating at ``2**width - 1``) and copies the total
    into ``value`` when the job ends.

    Parameters
    ----------
    width : :class:`int`
        Width of the counter (1..32).
    inc_width : :class:`int`
        Width of the increment (1..16).

    Members
    -------
    restart : :py:`In(1)`
        A job starts in the next cycle: the count restarts from 0.
    count : :py:`In(1)`
        A job runs in this cycle: add ``increment``.
    latch : :py:`In(1)`
        The job ends in this cycle: ``value`` takes the total including this cycle.
    increment : :py:`In(inc_width)`
        The amount added in this cycle.
    soft_clear : :py:`In(1)`
        Reset the count and ``value`` to 0.
    value : :py:`Out(width)`
        The total of the most recently finished job.
    """

    def __init__(self, width, *, inc_width):
        self.width = check_int("width", width, min=1, max=32)
        self.inc_width = check_int("inc_width", inc_width, min=1, max=16)
        super().__init__({
            "restart": In(1),
            "count": In(1),
            "latch": In(1),
            "increment": In(inc_width),
            "soft_clear": In(1),
            "value": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        maximum = (1 << self.width) - 1
        running_total = Signal(self.width)
        total = running_total + self.increment
        total_saturated = Signal(self.width)
        m.d.comb += total_saturated.eq(Mux(total > maximum, maximum, total))
        with m.If(self.restart):
            m.d.sync += running_total.eq(0)
        with m.Elif(self.count):
            m.d.sync += running_total.eq(total_saturated)
        with m.If(self.latch):
            m.d.sync += self.value.eq(total_saturated)
        with m.If(self.soft_clear):
            m.d.sync += [running_total.eq(0), self.value.eq(0)]
        return m
