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
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..bus import TCDMSignature
from ..params import check_int
from .description import CAUSE_WIDTH, RegisterMap

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
        n = rm.n_contexts
        cw = rm.counter_width
        idx_w = max(1, (n - 1).bit_length())
        bus = self.bus

        def inc(x):
            return Mux(x == n - 1, 0, x + 1)[:idx_w]

        def dec(x):
            return Mux(x == 0, n - 1, x - 1)[:idx_w]

        # -- state -----------------------------------------------------------------------
        head = Signal(idx_w)          # context of the running (or next) job
        tail = Signal(idx_w)          # next context to acquire / the acquired context
        queued = Signal(n)            # contexts holding a triggered, unfinished job
        running = Signal()
        acquired = Signal()
        start = Signal()
        event = Signal()
        clear = Signal()
        last_error = Signal()
        err_cause = Signal(CAUSE_WIDTH)
        err_job = Signal(4)
        err_overflow = Signal()
        ctx = [{r.name: Signal(32, init=r.reset, name=f"ctx{c}_{r.name}") for r in rm.job_registers}
               for c in range(n)]

        m.d.comb += [self.start.eq(start), self.busy.eq(running), self.clear.eq(clear),
                     self.done_event.eq(event)]

        # -- bus decode ------------------------------------------------------------------
        word = bus.addr[2:]
        rd = bus.req & ~bus.we
        wr = bus.req & bus.we & bus.be.any()
        m.d.comb += bus.gnt.eq(bus.req)
        bemask = Cat(bus.be[i].replicate(8) for i in range(4))

        def hit(name):
            return word == (rm[name].offset >> 2)

        last = dec(tail)              # most recently triggered context
        view_ctx = Mux(acquired, tail, last)
        do_clear = wr & hit("SOFT_CLEAR")
        do_trigger = wr & hit("TRIGGER") & acquired
        acq_read = rd & hit("ACQUIRE")
        tail_free = ~queued.bit_select(tail, 1)
        acq_ok = acq_read & ~acquired & tail_free
        acq_value = Mux(acquired, Const(0xFFFF_FFFE, 32), Mux(tail_free, tail, Const(0xFFFF_FFFF, 32)))
        job_end = running & self.done
        err_write = wr & hit("ERROR")

        # -- job queue -------------------------------------------------------------------
        q_next = Signal(n)
        head_next = Signal(idx_w)
        want_start = Signal()
        onehot_head = (Const(1, n) << head)[:n]
        onehot_tail = (Const(1, n) << tail)[:n]
        m.d.comb += [
            q_next.eq((queued & ~Mux(job_end, onehot_head, 0)) | Mux(do_trigger, onehot_tail, 0)),
            head_next.eq(Mux(job_end, inc(head), head)),
            want_start.eq((~running | job_end) & q_next.bit_select(head_next, 1)),
        ]
        m.d.sync += [
            queued.eq(q_next),
            head.eq(head_next),
            running.eq(want_start | (running & ~job_end)),
            start.eq(want_start),
            event.eq(job_end),
            clear.eq(do_clear),
            acquired.eq((acquired & ~do_trigger) | acq_ok),
        ]
        with m.If(do_trigger):
            m.d.sync += tail.eq(inc(tail))

        # -- job registers: copy on acquire, byte-enabled writes to the acquired context ---
        for r in rm.job_registers:
            previous = Array(ctx[k][r.name] for k in range(n))[last]
            write = wr & hit(r.name) & acquired
            for c in range(n):
                reg = ctx[c][r.name]
                if n > 1:
                    with m.If(acq_ok & (tail == c)):
                        m.d.sync += reg.eq(previous)
                with m.If(write & (tail == c)):
                    m.d.sync += reg.eq(((reg & ~bemask) | (bus.wdata & bemask)) & r.mask)

        # -- the running job's view ------------------------------------------------------
        job_raw = self.job.as_value()
        for r in rm.job_registers:
            sel = Array(ctx[c][r.name] for c in range(n))[head]
            base = rm.job_layout[r.name].offset
            if r.plain:
                m.d.comb += job_raw[base:base + 32].eq(sel)
            else:
                for name, fld in r.layout:
                    f = r.field[name]
                    pos = base + fld.offset
                    m.d.comb += job_raw[pos:pos + f.width].eq(sel[f.offset:f.offset + f.width])

        # -- errors ----------------------------------------------------------------------
        err_empty = (err_cause == 0) | err_write
        with m.If(err_write):
            m.d.sync += [err_cause.eq(0), err_job.eq(0), err_overflow.eq(0)]
        with m.If(job_end):
            m.d.sync += last_error.eq(self.error != 0)
            with m.If(self.error != 0):
                with m.If(err_empty):
                    m.d.sync += [err_cause.eq(self.error), err_job.eq(head)]
                with m.Else():
                    m.d.sync += err_overflow.eq(1)

        # -- performance counters (latched per job, saturating) ---------------------------
        counters = [("JOB_CYCLES", Const(1, 1))]
        counters += [(c.name, self.counters[c.name]) for c in rm.counters]
        latched = {}
        live_regs = []
        for name, increment in counters:
            live = Signal(cw, name=f"live_{name}")
            value = Signal(cw, name=f"count_{name}")
            total = Signal(cw + 17, name=f"total_{name}")
            plus = Signal(cw, name=f"plus_{name}")
            m.d.comb += [total.eq(live + increment),
                         plus.eq(Mux(total > rm.counter_max, rm.counter_max, total))]
            with m.If(want_start):
                m.d.sync += live.eq(0)
            with m.Elif(running):
                m.d.sync += live.eq(plus)
            with m.If(job_end):
                m.d.sync += value.eq(plus)
            latched[name] = value
            live_regs += [live, value]

        # -- soft clear (overrides everything above) -----------------------------------------
        with m.If(do_clear):
            m.d.sync += [queued.eq(0), head.eq(0), tail.eq(0), running.eq(0), acquired.eq(0),
                         start.eq(0), event.eq(0), last_error.eq(0),
                         err_cause.eq(0), err_job.eq(0), err_overflow.eq(0)]
            m.d.sync += [s.eq(0) for s in live_regs]
            m.d.sync += [ctx[c][r.name].eq(r.reset) for c in range(n) for r in rm.job_registers]

        # -- read data ---------------------------------------------------------------------
        def pack(reg, **values):
            sig = Signal(32, name=f"rd_{reg.name}")
            for f in reg.fields:
                m.d.comb += sig[f.offset:f.offset + f.width].eq(values[f.name])
            return sig

        read_value = {
            "ACQUIRE": acq_value,
            "STATUS": pack(rm["STATUS"], BUSY=queued.any(), ACQUIRED=acquired, LAST_ERROR=last_error,
                           ERROR=err_cause != 0, QUEUED=queued),
            "RUNNING_JOB": Mux(running, head, Const(0xFFFF_FFFF, 32)),
            "ERROR": pack(rm["ERROR"], CAUSE=err_cause, JOB=err_job, OVERFLOW=err_overflow),
        }
        read_value.update(latched)
        for r in rm.job_registers:
            read_value[r.name] = Array(ctx[c][r.name] for c in range(n))[view_ctx]
        rdata = Signal(32)
        with m.Switch(word):
            for name, value in read_value.items():
                with m.Case(rm[name].offset >> 2):
                    m.d.comb += rdata.eq(value)
        m.d.sync += [bus.rvalid.eq(rd), bus.rdata.eq(Mux(rd, rdata, 0))]
        return m
