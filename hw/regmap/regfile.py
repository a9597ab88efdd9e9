"""The register file of an accelerator, generated from a :class:`~hw.regmap.description.RegisterMap`.

A slave on the TCDM-style peripheral bus (granted in the cycle of the request, read data one
cycle later) with HWPE-style job control: ``n_contexts`` copies of the job registers used in
ring order, an ACQUIRE/TRIGGER handshake, a queue that starts jobs in trigger order, soft clear,
a sticky error report and per-job performance counters. The behaviour is specified in
:data:`hw.regmap.description.SEMANTICS` (also in every generated Markdown document).

Accelerator side:

- ``job`` (out): the running job's registers as a ``data.StructLayout`` view (one member per
  job register; fields as members, enum fields as Amaranth enums). Valid and stable from the
  ``start`` cycle to the ``done`` cycle.
- ``start`` (out): one-cycle pulse in the first cycle of a job.
- ``busy`` (out): high from the ``start`` cycle to the ``done`` cycle, both included.
- ``clear`` (out): one-cycle pulse after a SOFT_CLEAR write; the accelerator abandons its job.
- ``done`` (in): one-cycle pulse in the last cycle of a job; ignored while ``busy`` is low.
- ``error`` (in): cause code sampled with ``done``, 0 = success.
- ``counters`` (in, only if the map declares counters): one increment per counter, added every
  cycle while ``busy``.
- ``done_event`` (out): done event to the core, one-cycle pulse in the cycle after ``done`` (for
  failed jobs too).

It is built of the parts in :mod:`hw.regmap.parts`: the bus slave (:class:`RegisterBus`), the
context queue (:class:`ContextQueue`), the job contexts (:class:`JobContexts`), the error report
(:class:`ErrorReport`) and one :class:`PerformanceCounter` per counter.
"""

from amaranth import Cat, Const, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..bus import TCDMSignature
from ..params import check_int
from .description import CAUSE_WIDTH, RegisterMap
from .parts import ContextQueue, ErrorReport, JobContexts, PerformanceCounter, RegisterBus

__all__ = ["RegisterFile"]


class RegisterFile(wiring.Component):
    """Register file for ``regmap``.

    ``addr_width`` is the width of the bus address (byte offsets from the register file's
    base); the default is the smallest that spans the map. Bits above the map must be 0 for an
    access to hit a register (the interconnect strips the base address).
    """

    def __init__(self, regmap, *, addr_width=None):
        if not isinstance(regmap, RegisterMap):
            raise ValueError(f"regmap must be a RegisterMap, got {regmap!r}")
        self.regmap = regmap
        min_width = max(3, (regmap.size - 1).bit_length())
        if addr_width is None:
            addr_width = min_width
        self.addr_width = check_int("addr_width", addr_width, min=min_width, max=32)
        members = {
            "bus": In(TCDMSignature(addr_width=self.addr_width, data_width=32)),
            "job": Out(regmap.job_layout),
            "start": Out(1),
            "busy": Out(1),
            "clear": Out(1),
            "done": In(1),
            "error": In(CAUSE_WIDTH),
            "done_event": Out(1),
        }
        if regmap.counters:
            members["counters"] = In(regmap.counter_layout)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        rm = self.regmap
        m.submodules.bus = regbus = RegisterBus(rm, addr_width=self.addr_width)
        m.submodules.queue = queue = ContextQueue(rm.n_contexts)
        m.submodules.contexts = contexts = JobContexts(rm)
        m.submodules.errors = errors = ErrorReport()
        wiring.connect(m, wiring.flipped(self.bus), regbus.bus)

        hit = regbus.hit
        soft_clear = regbus.write & hit["SOFT_CLEAR"]
        m.d.comb += [
            queue.acquire.eq(regbus.read & hit["ACQUIRE"]),
            queue.trigger.eq(regbus.write & hit["TRIGGER"]),
            queue.done.eq(self.done),
            queue.soft_clear.eq(soft_clear),
            self.start.eq(queue.start),
            self.busy.eq(queue.running),
            self.done_event.eq(queue.done_event),
        ]
        m.d.sync += self.clear.eq(soft_clear)

        writing_context = regbus.write & queue.acquired
        m.d.comb += [contexts.write[r.name].eq(writing_context & hit[r.name])
                     for r in rm.job_registers]
        m.d.comb += [
            contexts.write_data.eq(regbus.write_data),
            contexts.write_mask.eq(regbus.write_mask),
            contexts.copy.eq(queue.acquire_ok),
            contexts.target.eq(queue.tail),
            contexts.source.eq(queue.newest),
            contexts.running.eq(queue.head),
            contexts.visible.eq(queue.visible),
            contexts.soft_clear.eq(soft_clear),
            self.job.as_value().eq(contexts.job.as_value()),
        ]

        m.d.comb += [
            errors.job_end.eq(queue.job_end),
            errors.job_cause.eq(self.error),
            errors.job_context.eq(queue.head),
            errors.clear_report.eq(regbus.write & hit["ERROR"]),
            errors.soft_clear.eq(soft_clear),
        ]

        read_value = regbus.read_value
        for name, increment in self._counter_increments():
            counter = PerformanceCounter(rm.counter_width, inc_width=len(increment))
            m.submodules[f"counter_{name}"] = counter
            m.d.comb += [
                counter.restart.eq(queue.starting),
                counter.count.eq(queue.running),
                counter.latch.eq(queue.job_end),
                counter.increment.eq(increment),
                counter.soft_clear.eq(soft_clear),
                read_value[name].eq(counter.value),
            ]
        m.d.comb += [
            read_value["ACQUIRE"].eq(queue.acquire_value),
            read_value["STATUS"].eq(self._register_value(
                "STATUS", BUSY=queue.queued.any(), ACQUIRED=queue.acquired,
                LAST_ERROR=errors.last_error, ERROR=errors.cause != 0, QUEUED=queue.queued)),
            read_value["RUNNING_JOB"].eq(queue.running_job),
            read_value["ERROR"].eq(self._register_value(
                "ERROR", CAUSE=errors.cause, JOB=errors.context, OVERFLOW=errors.overflow)),
        ]
        m.d.comb += [read_value[r.name].eq(contexts.read_value[r.name]) for r in rm.job_registers]
        return m

    def _counter_increments(self):
        """``(register name, increment)`` of every performance counter, JOB_CYCLES first."""
        return ([("JOB_CYCLES", Const(1, 1))]
                + [(c.name, self.counters[c.name]) for c in self.regmap.counters])

    def _register_value(self, name, **field_values):
        """The 32-bit value of register ``name`` made of ``field_values`` (each truncated or
        zero-extended to its field; reserved bits 0)."""
        parts, bit = [], 0
        for f in sorted(self.regmap[name].fields, key=lambda f: f.offset):
            if f.offset > bit:
                parts.append(Const(0, f.offset - bit))
            parts.append(Cat(field_values[f.name], Const(0, f.width))[:f.width])
            bit = f.offset + f.width
        return Cat(*parts)
