"""SoftEx softmax engine: two-pass BF16 softmax behind a generated HWPE register file, with one
L x 16-bit scratchpad (TCDM) master port. Semantics and numerics: ``docs/softmax.md``; the
bit-exact specification is ``sim/golden/softmax.py``.

Ports: ``cfg`` (slave, 32-bit peripheral bus to the register file), ``tcdm`` (master,
``lanes * 16`` data bits, byte addresses), ``done_event`` (one-cycle event per finished job),
``busy``.

Datapath (one beat = L lanes):

- read stage R (the cycle of ``rdata``): int8 elements (one half of the port word: L bytes,
  one per lane) are converted exactly to BF16 (IntToFloat, CAST.IN_*); lanes outside the row
  become -inf; the beat maximum (a tree of FPCompare) is registered with the beat (stage A).
- stage A: m_new = maximum(m, vmax) (pass 1 with a beat; otherwise m); d_j = bf16(x_j -
  m_new) (L BF16 subtractors) enter one Expp of L lanes, and m_new enters the
  :class:`~hw.softex.reference.RowReference` (K(m_new) and c = e^(m_new - K ln 2), three
  stages) beside it; both arrive after max(expp_latency, 3) cycles.
- stage E: pass 1 updates slot k mod SLOTS of the lane partial sums, one pipelined fp32 FMA
  per lane (SUM_LATENCY stages): S = e_j * c + S * 2^delta (the power of two an exponent
  shift), so pass 1 takes one beat per cycle with a data-independent order. Pass 2 multiplies
  e_j (exact in fp32) by r = c / D and rounds once to BF16 (an fp32 x fp32 + bf16 FMA per lane,
  OUTPUT_LATENCY stages), then, for int8 output, FloatToInt (CAST.OUT_*), into a FIFO towards
  the write port.
- After pass 1, FLUSH moves every slot to the final reference, the lane FMAs reduce the slots
  and lanes in a fixed static schedule (:func:`reduce_schedule`), then lane 0's FMA computes
  r: a 7-bit table seed, two Newton-Raphson steps and the product with c (:data:`RECIP_OPS`,
  one operation every SUM_LATENCY + 1 cycles).

Pass 2 shares the port between reads and writes (writes first; credits bound the reads in
flight to the FIFO depth), so it runs at one beat per two cycles.

A job of ROWS.COUNT rows runs them one after the other: at the end of a row (state DONE) the
three addresses advance by their strides, the state is reset and the next row is checked and
started without a return to IDLE; only the last row (or a row that fails) signals done.

GELU jobs (COMMAND.OP = GELU, engines built with ``gelu=True``) use pass 2's port schedule:
the beats of stage A enter a FIFO, leave it as two half beats into a :class:`Gelu` of L / 2
lanes (one half beat per cycle: exactly the port's rate of one beat read per two cycles),
and are paired again into the output FIFO (then int8 casts, as for softmax). Half the lanes
halve GELU's area (K expp and 2K + 2 multipliers per lane) at no cost in cycles.

Structure: the row-job front end of ``hw/softex/rowjob.py`` (:class:`~hw.softex.rowjob.RowJob`,
:class:`~hw.softex.rowjob.RowPort`), the controller :class:`SoftmaxControl` (the states of a
row between its check and its end) and the datapath stages :class:`BeatMaximum` (R),
:class:`OnlineExp` (A, the exponential), :class:`LaneSums` (the lane FMAs: pass-1 sums,
reduction, reciprocal), :class:`GeluPath` and :class:`SoftmaxOutput` (pass 2 and GELU results
into the output FIFO).
"""

from amaranth import Array, C, Cat, Const, Module, Mux, ResetInserter, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..bus import TCDMSignature
from ..fp import FloatToInt, FPAdd, FPCompare, FPFMA
from ..fp.format import BF16, FP32
from ..params import Range, check_choice, check_int
from ..pipeline import delay
from ..regmap import RegisterFile
from . import gelu_coeffs
from .expp import MODES, Expp
from .gelu import ACC_WIDTH_MAX, ACC_WIDTH_MIN, Gelu
from .gelu_table import GeluTable
from .reference import K_BITS, RowReference, rescale
from .regmap import LENGTH_BITS, SoftexOp, softex_map
from .rowjob import (LANE_CHOICES, NEG_INF, ElementDecoder, RowJob, RowPort, beat_layout,
                     comb_op, state_or_clear)


#: The GELU unit classes by ``gelu_method``: the correctly rounded table, the sum of expp terms.
GELU_UNITS = {"table": GeluTable, "expp": Gelu}
GELU_METHODS = tuple(GELU_UNITS)
#: Their default register stages: the table's read register and an output register; one on each
#: cut point of the expp unit.
GELU_DEFAULT_LATENCY = {"table": GeluTable.DEFAULT_LATENCY, "expp": Gelu.N_CUTS}

__all__ = ["SoftmaxEngine", "SoftmaxControl", "BeatMaximum", "OnlineExp", "LaneSums",
           "GeluPath", "SoftmaxOutput", "SEED_TABLE", "LANE_CHOICES", "SUM_LATENCY", "SLOTS",
           "OUTPUT_LATENCY", "PASS1_MODE", "reduction_levels", "reduce_schedule", "RECIP_OPS"]

ONE32 = 0x3F80_0000
TWO32 = 0x4000_0000

#: Register stages of the lane FMAs (pass 1, reduction, reciprocal): the pass-1 recurrence
#: is cut in three (unpack, product and alignment | add, leading zeros and shift amounts |
#: normalisation shift and rounding; where ``FPFMA.CUT_WEIGHTS`` puts two registers).
SUM_LATENCY = 2
#: Partial sums per lane, a power of two above SUM_LATENCY: a slot is read again SLOTS beats
#: after its last update, when its result has left the FMA, so pass 1 still takes one beat
#: per cycle.
SLOTS = 4
assert SLOTS > SUM_LATENCY and SLOTS & (SLOTS - 1) == 0
#: Register stages of the pass-2 multiply (e_j * r rounded to BF16).
OUTPUT_LATENCY = 2
#: Expp mode of the denominator's terms (pass 1) by engine mode, where they differ: SoftEx's
#: truncating expp is biased (about 0.2 %); in pass-2 numerators the bias cancels against a
#: denominator of the same terms, but when the maximum rises on every beat the pass-1 terms
#: have small arguments while the numerators do not, so a biased D made the error depend on the
#: order (docs/softmax.md, adversarial rows). An accurate Expp beside it gives D the same
#: unbiased terms in every order.
PASS1_MODE = {"softex": "accurate"}


def _seed_table():
    t = []
    for k in range(128):
        v = 2.0 / (1.0 + (k + 0.5) / 128.0)
        t.append(min(127, int(round((v - 1.0) * 128))))
    return tuple(t)


#: 7-bit mantissa seeds of the reciprocal, indexed by the denominator's upper 7 mantissa bits.
SEED_TABLE = _seed_table()


def _log2(lanes):
    return lanes.bit_length() - 1


def command_checks(cmd, gelu):
    """The SoftmaxEngine's verdict on COMMAND ``cmd`` (a view of the job's COMMAND register) for
    an engine with (``gelu``) or without the GELU unit: ``(is_gelu, bad_command, uses_out,
    uses_slot)``. Softmax jobs need ACC or DIV; DIV alone needs LOAD, SAVE needs ACC; GELU jobs
    ignore the four flags."""
    op = cmd.OP.as_value()
    acc, div, load, save = cmd.ACC, cmd.DIV, cmd.LOAD, cmd.SAVE
    is_gelu = (op == SoftexOp.GELU) if gelu else C(0, 1)
    bad_command = (((op != SoftexOp.SOFTMAX) & ~is_gelu)
                   | (~is_gelu & (~(acc | div) | (div & ~acc & ~load) | (save & ~acc))))
    return is_gelu, bad_command, div | is_gelu, (load | save) & ~is_gelu


#: The reciprocal's operations on lane 0's FMA, in order (LaneSums): t = 2 - D y, y = y t,
#: t = 2 - D y, y = y t (or the special result), r = c y.
RECIP_OPS = ("t", "y", "t", "y_special", "r")
_DEST_T, _DEST_Y, _DEST_Y_SPECIAL, _DEST_R = SLOTS, SLOTS + 1, SLOTS + 2, SLOTS + 3


def reduction_levels(lanes, slots=SLOTS):
    """The reduction of the (slots, lanes) partial sums as levels of additions
    ``(j, (p_src, j_src), p_dst)``: lane j's FMA computes S[p_dst][j] = S[p_src][j_src] * 1.0 +
    S[p_dst][j]. First the slots of each lane by a pairwise tree, then slot 0 of the lanes."""
    levels = []
    s = 1
    while s < slots:
        levels.append([(j, (p + s, j), p) for p in range(0, slots, 2 * s)
                       for j in range(lanes)])
        s *= 2
    s = 1
    while s < lanes:
        levels.append([(j, (0, j + s), 0) for j in range(0, lanes, 2 * s)])
        s *= 2
    return levels


def reduce_schedule(lanes, slots=SLOTS, latency=SUM_LATENCY):
    """Issue cycles of the reduction: ``({cycle: [op, ...]}, cycles)``. REDUCE starts the cycle
    after the last FLUSH issue, so the partial sums are readable from cycle ``latency`` on; a
    level starts when the previous one's results are readable (``latency + 1`` cycles after its
    last issue); each lane's FMA takes one addition per cycle. D is readable from cycle
    ``cycles`` on (REDUCE's length)."""
    start = latency
    cycles = {}
    for level in reduction_levels(lanes, slots):
        used = {}
        last = start
        for op in level:
            t = start + used.get(op[0], 0)
            used[op[0]] = used.get(op[0], 0) + 1
            cycles.setdefault(t, []).append(op)
            last = max(last, t)
        start = last + latency + 1
    return cycles, start


def recip_cycles(latency=SUM_LATENCY):
    """RECIP's length: one operation of :data:`RECIP_OPS` every ``latency + 1`` cycles; r is
    readable the cycle after."""
    return len(RECIP_OPS) * (latency + 1)


def tail_steps(lanes):
    """Values the step counter of REDUCE and RECIP takes (0 .. the longer length - 1)."""
    return max(reduce_schedule(lanes)[1], recip_cycles())


class SoftmaxControl(wiring.Component):
    """The states of a softmax or GELU row between its check and its end.

    From ``run``: GELU jobs go to pass 2 (P2); softmax jobs load the slot (LOAD, LOAD_WAIT) if
    LOAD and wait until the reference of the loaded maximum has left the row reference
    (SETTLE, ``exp_latency`` + 1 cycles: every partial-sum slot takes it), run pass 1 (P1)
    and FLUSH (one beat of zeros per slot) if ACC, reduce the partial sums (REDUCE, the
    cycles of :func:`reduce_schedule`), save the slot (SAVE) if SAVE and, if DIV, seed and
    compute the reciprocal (SEED, RECIP: :func:`recip_cycles`) and run pass 2. ``finish``
    leaves the last state. The pass flags (``pass1``, ``pass2``, ``gelu_pass``) tell the
    datapath which pass its beats belong to; ``clear`` resets them after the states are
    decided, so a transition in the cycle of ``clear`` (which returns the FSM to WAIT) cannot
    leave a flag set.

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat (REDUCE's length depends on it).
    exp_latency : :class:`int`
        Cycles from stage A to the lane FMAs (:attr:`OnlineExp.latency`).

    Members
    -------
    clear : :py:`In(1)`
        Soft clear: back to WAIT.
    run : :py:`In(1)`
        A checked row starts (:attr:`RowJob.run`).
    restart : :py:`In(1)`
        A row begins (:attr:`RowSignature.restart`): the count of pass-1 beats returns to 0.
    gelu, acc, div, load, save : :py:`In(1)`
        The job is a GELU job; COMMAND.ACC, DIV, LOAD, SAVE.
    beats : :py:`In(LENGTH_BITS)`
        Beats of the row.
    exp_valid : :py:`In(1)`
        The exponentials of a beat leave the Expp.
    ok : :py:`In(1)`
        A grant of this job's request.
    write_done : :py:`In(1)`
        Pass 2 wrote the row's last beat.
    finish : :py:`Out(1)`
        The row's last state ends.
    load_slot, slot_loaded, load_reference, read, accumulate : :py:`Out(1)`
        The states LOAD, LOAD_WAIT, the last cycle of SETTLE, P1, P1 with ``exp_valid``.
    flush, reduce, save_slot, seed, newton, write : :py:`Out(1)`
        The states FLUSH, REDUCE, SAVE, SEED, RECIP, P2.
    rewind : :py:`Out(1)`
        The reciprocal is ready: pass 2 starts at beat 0.
    step : :py:`Out(range(tail_steps(lanes)))`
        The cycle of SETTLE, FLUSH, REDUCE and RECIP.
    pass1, pass2, gelu_pass : :py:`Out(1)`
        The beats leaving the port belong to pass 1, pass 2, a GELU job.
    """

    def __init__(self, lanes, *, exp_latency):
        self.lanes = lanes
        self.exp_latency = exp_latency
        steps = max(tail_steps(lanes), exp_latency + 1, SLOTS)
        super().__init__({
            "clear": In(1), "run": In(1), "restart": In(1),
            "gelu": In(1), "acc": In(1), "div": In(1), "load": In(1), "save": In(1),
            "beats": In(LENGTH_BITS), "exp_valid": In(1), "ok": In(1), "write_done": In(1),
            "finish": Out(1),
            "load_slot": Out(1), "slot_loaded": Out(1), "load_reference": Out(1),
            "read": Out(1), "accumulate": Out(1), "flush": Out(1),
            "reduce": Out(1), "save_slot": Out(1), "seed": Out(1), "newton": Out(1),
            "write": Out(1), "rewind": Out(1),
            "step": Out(range(steps)),
            "pass1": Out(1), "pass2": Out(1), "gelu_pass": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        reduce_cycles = reduce_schedule(self.lanes)[1]
        step = self.step
        accumulated = Signal(LENGTH_BITS)                 # pass-1 beats summed

        def after_pass1():                                # REDUCE or P1 next
            m.d.sync += step.eq(0)
            with m.If(self.acc):
                m.d.sync += self.pass1.eq(1)
                m.next = "P1"
            with m.Else():
                m.next = "REDUCE"

        def end_or(state, condition):                     # `state` if condition, else the end
            with m.If(condition):
                m.next = state
            with m.Else():
                m.d.comb += self.finish.eq(1)
                m.next = "WAIT"

        def counted(last, then):                          # `step` 0 .. last, then `then()`
            m.d.sync += step.eq(step + 1)
            with m.If(step == last):
                m.d.sync += step.eq(0)
                then()

        def state(name):                                  # soft clear: back to WAIT
            return state_or_clear(m, name, self.clear, "WAIT")

        def after_reduce():
            with m.If(self.save):
                m.next = "SAVE"
            with m.Else():
                end_or("SEED", self.div)

        def to_pass2():
            m.d.comb += self.rewind.eq(1)
            m.d.sync += self.pass2.eq(1)
            m.next = "P2"

        def to(name):
            def go():
                m.next = name
            return go

        with m.FSM(name="softmax"):
            with state("WAIT"):
                with m.If(self.run):
                    with m.If(self.gelu):
                        m.d.sync += self.gelu_pass.eq(1)
                        m.next = "P2"
                    with m.Elif(self.load):
                        m.next = "LOAD"
                    with m.Else():
                        after_pass1()
            with state("LOAD"):
                m.d.comb += self.load_slot.eq(1)
                with m.If(self.ok):
                    m.next = "LOAD_WAIT"
            with state("LOAD_WAIT"):
                m.d.comb += self.slot_loaded.eq(1)
                m.d.sync += step.eq(0)
                m.next = "SETTLE"
            with state("SETTLE"):
                with m.If(step == self.exp_latency):
                    m.d.comb += self.load_reference.eq(1)
                counted(self.exp_latency, after_pass1)
            with state("P1"):
                m.d.comb += self.read.eq(1)
                with m.If(self.exp_valid):
                    m.d.comb += self.accumulate.eq(1)
                    m.d.sync += accumulated.eq(accumulated + 1)
                    with m.If(accumulated == self.beats - 1):
                        m.d.sync += [self.pass1.eq(0), step.eq(0)]
                        m.next = "FLUSH"
            with state("FLUSH"):
                m.d.comb += self.flush.eq(1)
                counted(SLOTS - 1, to("REDUCE"))
            with state("REDUCE"):
                m.d.comb += self.reduce.eq(1)
                counted(reduce_cycles - 1, after_reduce)
            with state("SAVE"):
                m.d.comb += self.save_slot.eq(1)
                with m.If(self.ok):
                    end_or("SEED", self.div)
            with state("SEED"):
                m.d.comb += self.seed.eq(1)
                m.d.sync += step.eq(0)
                m.next = "RECIP"
            with state("RECIP"):
                m.d.comb += self.newton.eq(1)
                counted(recip_cycles() - 1, to_pass2)
            with state("P2"):
                m.d.comb += self.write.eq(1)
                with m.If(self.write_done):
                    m.d.sync += [self.pass2.eq(0), self.gelu_pass.eq(0)]
                    m.d.comb += self.finish.eq(1)
                    m.next = "WAIT"
        with m.If(self.clear):                           # after the FSM: clear wins
            m.d.sync += [self.pass1.eq(0), self.pass2.eq(0), self.gelu_pass.eq(0)]
        with m.If(self.restart):
            m.d.sync += accumulated.eq(0)
        return m


class BeatMaximum(wiring.Component):
    """Stage R: the elements of a read beat as BF16 (:class:`~hw.softex.rowjob.ElementDecoder`),
    lanes outside the row as -inf, and their maximum (a tree of FPCompare), registered for
    stage A.

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat.

    Members
    -------
    beat : :py:`In(stream.Signature(beat_layout(lanes), always_ready=True))`
        The beats read (:attr:`RowPort.beat`).
    int8 : :py:`In(1)`
        The elements are int8.
    int_bits, signed : :py:`In(4)`, :py:`In(1)`
        CAST.IN_INT_BITS, CAST.IN_SIGNED.
    clear : :py:`In(1)`
        Soft clear (drops the beat in flight).
    valid : :py:`Out(1)`
        A beat is in stage A.
    elements : :py:`Out(16 * lanes)`
        Its BF16 elements.
    maximum : :py:`Out(16)`
        Their maximum.
    """

    def __init__(self, lanes):
        self.lanes = lanes
        super().__init__({
            "beat": In(stream.Signature(beat_layout(lanes), always_ready=True)),
            "int8": In(1), "int_bits": In(4), "signed": In(1), "clear": In(1),
            "valid": Out(1), "elements": Out(16 * lanes), "maximum": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        beat = self.beat.payload
        decoder = m.submodules.decoder = ElementDecoder(self.lanes)
        m.d.comb += [decoder.word.eq(beat.data), decoder.half.eq(beat.half),
                     decoder.int8.eq(self.int8), decoder.int_bits.eq(self.int_bits),
                     decoder.signed.eq(self.signed)]
        elements = [Mux(beat.lanes[j], decoder.elements[16 * j:16 * j + 16], NEG_INF)
                    for j in range(self.lanes)]
        level = elements
        k = 0
        while len(level) > 1:
            pairs = []
            for i in range(0, len(level), 2):
                compare = comb_op(m, FPCompare(BF16), f"beat_max{k}")
                k += 1
                m.d.comb += [compare.i.payload.a.eq(level[i]),
                             compare.i.payload.b.eq(level[i + 1])]
                pairs.append(compare.o.payload.max.as_value())
            level = pairs
        m.d.sync += [self.valid.eq(self.beat.valid), self.elements.eq(Cat(*elements)),
                     self.maximum.eq(level[0])]
        with m.If(self.clear):
            m.d.sync += self.valid.eq(0)
        return m


class OnlineExp(wiring.Component):
    """Stage A and the exponential: the running maximum m (pass 1: m_new = maximum(m, beat
    maximum); otherwise m), the L differences bf16(x_j - m_new) into one
    :class:`~hw.softex.expp.Expp` of L lanes and, alongside, the
    :class:`~hw.softex.reference.RowReference` of m_new (K and the element factor c); both
    arrive together after :attr:`latency` cycles
    (the longer of the two, the shorter one delayed), with the side band (m_new = -inf).

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat.
    mode : :class:`str`
        Expp mode.
    expp_latency : :class:`int`
        Register stages of the Expp.

    Attributes
    ----------
    latency : :class:`int`
        Cycles from stage A to the outputs: max(``expp_latency``, RowReference.LATENCY).

    Members
    -------
    valid : :py:`In(1)`
        A beat is in stage A.
    elements : :py:`In(16 * lanes)`
        Its BF16 elements.
    beat_max : :py:`In(16)`
        Their maximum.
    pass1 : :py:`In(1)`
        The beat belongs to pass 1 (m follows the maximum).
    load : :py:`In(1)`
        Set m to ``load_max`` (a slot was read).
    load_max : :py:`In(16)`
        The maximum of the slot.
    restart : :py:`In(1)`
        A row begins: m = -inf.
    clear : :py:`In(1)`
        Soft clear (empties the Expp).
    maximum : :py:`Out(16)`
        The running maximum m.
    exp_valid : :py:`Out(1)`
        The exponentials of a beat leave the Expp.
    exponentials : :py:`Out(16 * lanes)`
        e_j = exp(x_j - m_new) (the engine's expp mode: pass-2 numerators).
    terms : :py:`Out(16 * lanes)`
        The same from the expp of :data:`PASS1_MODE` (the denominator's terms; the same signal
        unless the mode is "softex").
    new_max : :py:`Out(16)`
        m_new of that beat.
    exponent, has_exponent, factor : :py:`Out(signed(17))`, :py:`Out(1)`, :py:`Out(32)`
        Its reference (:class:`~hw.softex.reference.RowReference`: K, whether m_new has one,
        c); between beats (m unchanged for at least :attr:`latency` cycles) that of m.
    """

    def __init__(self, lanes, *, mode, expp_latency):
        self.lanes = lanes
        self.mode = mode
        self.expp_latency = expp_latency
        self.latency = max(expp_latency, RowReference.LATENCY)
        super().__init__({
            "valid": In(1), "elements": In(16 * lanes), "beat_max": In(16), "pass1": In(1),
            "load": In(1), "load_max": In(16), "restart": In(1), "clear": In(1),
            "maximum": Out(16, init=NEG_INF), "exp_valid": Out(1),
            "exponentials": Out(16 * lanes), "terms": Out(16 * lanes), "new_max": Out(16),
            "exponent": Out(signed(K_BITS)), "has_exponent": Out(1), "factor": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self.lanes
        current = self.maximum
        running = comb_op(m, FPCompare(BF16), "running_max")
        m.d.comb += [running.i.payload.a.eq(current), running.i.payload.b.eq(self.beat_max)]
        new_max = Signal(16, name="m_new")
        # without a valid beat m_new is m: the side band between beats (FLUSH, the reciprocal)
        # describes m, never the stale beat maximum of stage R
        m.d.comb += new_max.eq(Mux(self.pass1 & self.valid, running.o.payload.max.as_value(),
                                   current))
        with m.If(self.valid & self.pass1):
            m.d.sync += current.eq(new_max)
        differences = []
        for j in range(lanes):
            sub = comb_op(m, FPAdd(BF16), f"sub{j}")
            m.d.comb += [sub.i.payload.a.eq(self.elements[16 * j:16 * j + 16]),
                         sub.i.payload.b.eq(new_max), sub.i.payload.sub.eq(1)]
            differences.append(sub.o.payload.as_value())

        reference = m.submodules.reference = RowReference()
        m.d.comb += reference.m.eq(new_max)

        def exponential(name, mode):                      # an Expp of the differences
            unit = Expp(lanes, mode=mode, latency=self.expp_latency)
            m.submodules[name] = ResetInserter(self.clear)(unit)
            m.d.comb += [unit.i.payload.as_value().eq(Cat(*differences)),
                         unit.i.valid.eq(self.valid), unit.o.ready.eq(1)]
            return unit

        expp = exponential("expp", self.mode)
        extra = self.latency - self.expp_latency          # the Expp's output waits
        ref_extra = self.latency - RowReference.LATENCY   # the reference waits
        numerators = delay(m, expp.o.payload.as_value(), extra, "exponentials")
        terms = numerators
        if PASS1_MODE.get(self.mode, self.mode) != self.mode:
            # the denominator's terms from their own (accurate) Expp: see PASS1_MODE
            term_expp = exponential("term_expp", PASS1_MODE[self.mode])
            terms = delay(m, term_expp.o.payload.as_value(), extra, "terms")
        m.d.comb += [
            self.exp_valid.eq(delay(m, expp.o.valid, extra, "exp_valid", clear=self.clear)),
            self.exponentials.eq(numerators), self.terms.eq(terms),
            self.exponent.eq(delay(m, reference.exponent, ref_extra, "exponent")),
            self.has_exponent.eq(delay(m, reference.has_exponent, ref_extra, "has_exponent")),
            self.factor.eq(delay(m, reference.factor, ref_extra, "factor")),
            self.new_max.eq(delay(m, new_max, self.latency, "new_max")),
        ]
        with m.If(self.load):
            m.d.sync += current.eq(self.load_max)
        with m.If(self.restart):
            m.d.sync += current.eq(NEG_INF)
        return m


class LaneSums(wiring.Component):
    """The L lane FMAs (fp32 x fp32 + fp32 on lane 0, fp32 x bf16 + fp32 on the others,
    :data:`SUM_LATENCY` register stages) and the fp32
    state they compute: :data:`SLOTS` interleaved partial sums per lane, their fixed reduction
    into D and the scaled reciprocal c / D.

    - Pass 1: beat k goes to slot p = k mod SLOTS of every lane:
      S[p][j] = e_j * c + shift(S[p][j]), where shift moves S[p][j] from the reference of the
      maximum it was last updated with (kept per slot) to that of the beat
      (:func:`shift_exponent`). A slot is read again SLOTS = SUM_LATENCY + 1 beats later, after
      its previous result has left the FMA, so one beat per cycle still goes in; the order is
      fixed whatever the stalls. After the last beat, FLUSH issues one beat of zeros per slot,
      which brings every slot to the reference of the final maximum.
    - Reduction (:func:`reduction_ops`, scheduled by :func:`schedule`): within each lane the
      slots by a pairwise tree (S[p] += S[p + s]), then slot 0 of the lanes by a pairwise tree
      (S[0][j] += S[0][j + s]); D = S[0][0].
    - Reciprocal on lane 0's FMA, one operation every SUM_LATENCY + 1 cycles: a 7-bit table
      seed (:data:`SEED_TABLE`), two Newton-Raphson steps (t = 2 - D y, y = y t; NaN,
      infinities and zeros replace the second y), then r = c * y with c of the row's maximum.

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat.

    Members
    -------
    exponentials : :py:`In(16 * lanes)`
        The Expp's output (:attr:`OnlineExp.exponentials`).
    maximum, exponent : :py:`In(16)`, :py:`In(signed(17))`
    has_exponent, factor : :py:`In(1)`, :py:`In(32)`
        Its side band (:class:`OnlineExp`): the beat's m_new (-inf: every element so far
        masked, the beat adds nothing), K(m_new), whether it has one, c(m_new). Between beats
        they describe the row's maximum.
    accumulate, flush : :py:`In(1)`
        Add a beat; add a beat of zeros (FLUSH).
    reduce, seed, newton : :py:`In(1)`
        The reduction, the seed, the reciprocal; ``step`` counts their cycles.
    step : :py:`In(range(TAIL_STEPS))`
        The cycle of REDUCE or RECIP.
    load : :py:`In(1)`
        Set D to ``load_sum`` and every slot's maximum to ``load_max`` (a slot was read).
    load_sum : :py:`In(32)`
        The denominator of the slot.
    load_max : :py:`In(16)`
        Its maximum.
    restart : :py:`In(1)`
        A row begins: every S = 0, every slot's maximum -inf.
    clear : :py:`In(1)`
        Soft clear: results in flight are dropped.
    denominator : :py:`Out(32)`
        D = S[0][0].
    reciprocal : :py:`Out(32)`
        r = c / D (fp32).
    """

    def __init__(self, lanes):
        self.lanes = lanes
        self.reduce_cycles = reduce_schedule(lanes)[1]
        super().__init__({
            "exponentials": In(16 * lanes), "maximum": In(16), "exponent": In(signed(K_BITS)),
            "has_exponent": In(1), "factor": In(32),
            "accumulate": In(1), "flush": In(1), "reduce": In(1), "seed": In(1),
            "newton": In(1), "step": In(range(tail_steps(lanes))),
            "load": In(1), "load_sum": In(32), "load_reference": In(1), "restart": In(1),
            "clear": In(1),
            "denominator": Out(32), "reciprocal": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        lanes, step, latency = self.lanes, self.step, SUM_LATENCY
        sums = [[Signal(32, name=f"S{p}_{j}") for j in range(lanes)] for p in range(SLOTS)]
        slot_max = Array(Signal(16, name=f"slot_max{p}", init=NEG_INF) for p in range(SLOTS))
        # K of each slot as plain bits; the selected one is cast to signed
        slot_exponent = Array(Signal(K_BITS, name=f"slot_k{p}") for p in range(SLOTS))
        slot_has = Array(Signal(name=f"slot_has{p}") for p in range(SLOTS))
        slot = Signal(range(SLOTS))                       # SLOTS is a power of two: wraps
        iterate = Signal(32, name="y")                    # reciprocal iterate
        correction = Signal(32, name="t")                 # 2 - D y
        denominator = sums[0][0]
        e = self.exponentials
        masked = self.maximum == NEG_INF                   # every element so far masked

        fmas, issue, dest = [], [], []
        for j in range(lanes):
            # lane 0 also computes the reciprocal (fp32 x fp32); the others only e_j * c and
            # the reduction's S * 1, products with a bf16 operand b: a 24 x 8-bit multiplier,
            # the same results (the product is exact)
            b_fmt = FP32 if j == 0 else BF16
            fmas.append(comb_op(m, FPFMA(FP32, mul_fmt=FP32, b_fmt=b_fmt, latency=latency),
                                f"fma{j}"))
            issue.append(Signal(name=f"issue{j}"))
            dest.append(Signal(range(_DEST_R + 1), name=f"dest{j}"))

        # pass 1 and FLUSH: slot `slot` of every lane, moved to the beat's reference
        selected_exponent = Signal(K_BITS)
        m.d.comb += selected_exponent.eq(slot_exponent[slot])
        delta, reset = rescale(m, slot_max[slot], selected_exponent.as_signed(), slot_has[slot],
                               self.maximum, self.exponent, self.has_exponent, "slot")
        with m.If(self.accumulate | self.flush):
            for j in range(lanes):
                p = fmas[j].i.payload
                current = Array(sums[q][j] for q in range(SLOTS))[slot]
                e_j = Mux(masked | self.flush, 0, e[16 * j:16 * j + 16])     # bf16
                m.d.comb += [
                    p.a.eq(self.factor),
                    p.b.eq(e_j if j else Cat(C(0, 16), e_j)),
                    p.c.eq(shift_exponent(m, current, delta, reset, f"shift{j}")),
                    issue[j].eq(1), dest[j].eq(slot),
                ]
            m.d.sync += [slot.eq(slot + 1), slot_max[slot].eq(self.maximum),
                         slot_exponent[slot].eq(self.exponent),
                         slot_has[slot].eq(self.has_exponent)]

        # the reduction: the static schedule of reduce_schedule()
        with m.If(self.reduce):
            with m.Switch(step):
                for cycle, ops in sorted(reduce_schedule(lanes)[0].items()):
                    with m.Case(cycle):
                        for j, (p_src, j_src), p_dst in ops:
                            p = fmas[j].i.payload
                            m.d.comb += [p.a.eq(sums[p_src][j_src]),
                                         p.b.eq(ONE32 if j == 0 else ONE32 >> 16),
                                         p.c.eq(sums[p_dst][j]), issue[j].eq(1),
                                         dest[j].eq(p_dst)]

        # the reciprocal on lane 0's FMA, one operation every latency + 1 cycles
        exponent, sign = denominator[23:31], denominator[31]
        seeds = Array(Const(v, 7) for v in SEED_TABLE)
        seed = Cat(C(0, 16), seeds[denominator[16:23]], (C(253, 9) - exponent)[:8], sign)
        is_nan = (exponent == 0xFF) & (denominator[:23] != 0)
        is_inf = exponent == 0                          # D zero or subnormal: r = +-inf
        is_zero = exponent >= 253                       # D huge (or inf): r = +-0
        special = Mux(is_nan, 0x7FC0_0000, Mux(is_inf, Cat(C(0x7F80_0000, 31), sign),
                                               Cat(C(0, 31), sign)))
        with m.If(self.seed):
            m.d.sync += iterate.eq(seed)
        with m.If(self.newton):
            p = fmas[0].i.payload
            with m.Switch(step):
                for i, op in enumerate(RECIP_OPS):
                    with m.Case(i * (latency + 1)):
                        m.d.comb += issue[0].eq(1)
                        if op == "t":                   # t = 2 - D * y
                            m.d.comb += [p.a.eq(denominator), p.b.eq(iterate), p.c.eq(TWO32),
                                         p.neg_ab.eq(1), dest[0].eq(_DEST_T)]
                        elif op == "r":                 # r = c * y
                            m.d.comb += [p.a.eq(self.factor), p.b.eq(iterate), p.c.eq(0),
                                         dest[0].eq(_DEST_R)]
                        else:                           # y = y * t
                            m.d.comb += [p.a.eq(iterate), p.b.eq(correction), p.c.eq(0),
                                         dest[0].eq(_DEST_Y_SPECIAL if op == "y_special"
                                                    else _DEST_Y)]

        # results leave the FMAs `latency` cycles after their issue
        for j in range(lanes):
            valid = delay(m, issue[j], latency, f"issued{j}_", clear=self.clear)
            where = delay(m, dest[j], latency, f"dest{j}_")
            result = fmas[j].o.payload.as_value()
            with m.If(valid):
                with m.Switch(where):
                    for q in range(SLOTS):
                        with m.Case(q):
                            m.d.sync += sums[q][j].eq(result)
                    if j == 0:
                        with m.Case(_DEST_T):
                            m.d.sync += correction.eq(result)
                        with m.Case(_DEST_Y):
                            m.d.sync += iterate.eq(result)
                        with m.Case(_DEST_Y_SPECIAL):
                            m.d.sync += iterate.eq(Mux(is_nan | is_inf | is_zero, special,
                                                       result))
                        with m.Case(_DEST_R):
                            m.d.sync += self.reciprocal.eq(result)

        with m.If(self.load):
            m.d.sync += sums[0][0].eq(self.load_sum)
        with m.If(self.load_reference):                 # every slot: the loaded maximum's
            for q in range(SLOTS):
                m.d.sync += [slot_max[q].eq(self.maximum), slot_exponent[q].eq(self.exponent),
                             slot_has[q].eq(self.has_exponent)]
        with m.If(self.restart):
            m.d.sync += [slot.eq(0)] + [v.eq(0) for row in sums for v in row]
            for q in range(SLOTS):
                m.d.sync += [slot_max[q].eq(NEG_INF), slot_exponent[q].eq(0),
                             slot_has[q].eq(0)]
        m.d.comb += self.denominator.eq(denominator)
        return m


def shift_exponent(m, value, delta, reset, name):
    """fp32 ``value`` times 2^``delta`` (``delta`` <= 0) by its exponent field: +0 when the field
    would drop below 1 or on ``reset``; infinities and NaN (field 255) unchanged. Returns the
    result (a combinational signal added to ``m``)."""
    field = value[23:31]
    moved = Signal(signed(10), name=f"{name}_field")
    m.d.comb += moved.eq(field + delta)
    result = Signal(32, name=name)
    with m.If(reset):
        m.d.comb += result.eq(0)
    with m.Elif((delta == 0) | (field == 0xFF)):
        m.d.comb += result.eq(value)
    with m.Elif(moved >= 1):
        m.d.comb += result.eq(Cat(value[:23], moved[:8], value[31]))
    with m.Else():
        m.d.comb += result.eq(0)
    return result


class GeluPath(wiring.Component):
    """GELU jobs: the beats of stage A enter a FIFO, leave it as two half beats into a
    :class:`~hw.softex.gelu.Gelu` of L / 2 lanes (one half beat per cycle: the port's rate of
    one beat read per two cycles) and are paired again towards the output FIFO.

    Parameters
    ----------
    unit : :class:`~hw.softex.gelu.Gelu`
        The GELU unit, of ``lanes // 2`` lanes.
    lanes : :class:`int`
        Elements per beat.
    depth : :class:`int`
        Depth of the input FIFO (the pass-2 credits keep it from overflowing).

    Members
    -------
    restart : :py:`In(1)`
        Empty the FIFO, the unit and the pairing (a soft clear or a job start).
    valid : :py:`In(1)`
        A beat of a GELU job is in stage A.
    elements : :py:`In(16 * lanes)`
        Its BF16 elements.
    room : :py:`In(1)`
        The output FIFO accepts a beat.
    result_valid : :py:`Out(1)`
        A beat of results enters the output FIFO.
    result : :py:`Out(16 * lanes)`
        The beat of results.
    """

    def __init__(self, unit, lanes, *, depth):
        self.unit = unit
        self.lanes = lanes
        self.depth = depth
        super().__init__({
            "restart": In(1), "valid": In(1), "elements": In(16 * lanes), "room": In(1),
            "result_valid": Out(1), "result": Out(16 * lanes),
        })

    def elaborate(self, platform):
        m = Module()
        half_bits = 8 * self.lanes
        queue = SyncFIFO(width=16 * self.lanes, depth=self.depth)
        m.submodules.gelu_in = ResetInserter(self.restart)(queue)
        gelu = self.unit
        m.submodules.gelu = ResetInserter(self.restart)(gelu)
        half_in = Signal()                  # which half of the FIFO head enters next
        half_out = Signal()                 # which half leaves the GELU next
        low = Signal(half_bits)             # the first half of the beat being paired
        m.d.comb += [queue.w_data.eq(self.elements), queue.w_en.eq(self.valid),
                     gelu.i.valid.eq(queue.r_rdy),
                     gelu.i.payload.as_value().eq(queue.r_data.word_select(half_in, half_bits)),
                     queue.r_en.eq(gelu.i.ready & half_in),
                     gelu.o.ready.eq(~half_out | self.room)]
        with m.If(gelu.i.valid & gelu.i.ready):
            m.d.sync += half_in.eq(~half_in)
        with m.If(gelu.o.valid & gelu.o.ready):
            m.d.sync += half_out.eq(~half_out)
            with m.If(~half_out):
                m.d.sync += low.eq(gelu.o.payload.as_value())
        with m.If(self.restart):
            m.d.sync += [half_in.eq(0), half_out.eq(0)]
        m.d.comb += [self.result_valid.eq(gelu.o.valid & half_out & self.room),
                     self.result.eq(Cat(low, gelu.o.payload.as_value()))]
        return m


class SoftmaxOutput(wiring.Component):
    """Pass 2 and the output format: y_j = bf16(e_j * r) (an fp32 x fp32 + bf16 FMA per lane:
    one rounding), 0 when the row's maximum is -inf, or the GELU results of a GELU job; for int8
    output float_to_int(y_j) (CAST.OUT_*) in both halves of the port word.

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat.
    gelu : :class:`bool`
        The engine has the GELU unit (members ``gelu_pass``, ``gelu_valid``, ``gelu_result``).

    Members
    -------
    exponentials : :py:`In(16 * lanes)`
        The Expp's output.
    exp_valid : :py:`In(1)`
        It is valid.
    pass2 : :py:`In(1)`
        It belongs to pass 2.
    reciprocal : :py:`In(32)`
        r = 1 / D.
    masked_row : :py:`In(1)`
        The row's maximum is -inf (every output 0).
    clear : :py:`In(1)`
        Soft clear: products in flight are dropped.
    gelu_pass : :py:`In(1)`
        A GELU job runs (with ``gelu``).
    gelu_valid, gelu_result : :py:`In(1)`, :py:`In(16 * lanes)`
        A beat of GELU results (:class:`GeluPath`; with ``gelu``).
    int8, int_bits, signed : :py:`In(1)`, :py:`In(4)`, :py:`In(1)`
        The output is int8; CAST.OUT_INT_BITS, CAST.OUT_SIGNED.
    valid : :py:`Out(1)`
        A beat of results enters the output FIFO.
    word : :py:`Out(16 * lanes)`
        Its port word.
    """

    def __init__(self, lanes, *, gelu):
        self.lanes = lanes
        self.gelu = gelu
        members = {"exponentials": In(16 * lanes), "exp_valid": In(1), "pass2": In(1),
                   "reciprocal": In(32), "masked_row": In(1), "clear": In(1)}
        if gelu:
            members.update({"gelu_pass": In(1), "gelu_valid": In(1),
                            "gelu_result": In(16 * lanes)})
        members.update({"int8": In(1), "int_bits": In(4), "signed": In(1),
                        "valid": Out(1), "word": Out(16 * lanes)})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        lanes = self.lanes
        results = []
        for j in range(lanes):
            # e_j (bf16) * r (fp32): a 24 x 8-bit product, exact, rounded once to bf16
            mul = comb_op(m, FPFMA(BF16, mul_fmt=FP32, b_fmt=BF16, latency=OUTPUT_LATENCY),
                          f"mul{j}")
            p = mul.i.payload
            m.d.comb += [p.a.eq(self.reciprocal), p.b.eq(self.exponentials[16 * j:16 * j + 16]),
                         p.c.eq(0), p.neg_ab.eq(0), p.neg_c.eq(0)]
            results.append(Mux(self.masked_row, 0, mul.o.payload.as_value()))
        softmax_valid = delay(m, self.exp_valid & self.pass2, OUTPUT_LATENCY, "product_valid",
                              clear=self.clear)
        gelu_valid = C(0, 1)
        if self.gelu:
            gelu_valid = self.gelu_valid
            results = [Mux(self.gelu_pass, self.gelu_result[16 * j:16 * j + 16], results[j])
                       for j in range(lanes)]
        ints = []                                         # int8 outputs: float_to_int(y_j)
        for j in range(lanes):
            convert = comb_op(m, FloatToInt(8, BF16), f"f2i{j}")
            m.d.comb += [convert.i.payload.x.eq(results[j]),
                         convert.i.payload.int_bits.eq(self.int_bits),
                         convert.i.payload.signed.eq(self.signed)]
            ints.append(convert.o.payload)
        int_beat = Cat(*ints)
        m.d.comb += [self.word.eq(Mux(self.int8, Cat(int_beat, int_beat), Cat(*results))),
                     self.valid.eq(softmax_valid | gelu_valid)]
        return m


class SoftmaxEngine(wiring.Component):
    """Softmax engine with ``lanes`` lanes (4, 8, 16 or 32; port of ``16 * lanes`` bits); BF16 or
    int8 elements in and out (COMMAND.IN_FMT / OUT_FMT, CAST).

    ``mode``: expp mode ("accurate" default, or "softex"); ``expp_latency``: register stages
    of the Expp unit; ``addr_width``: scratchpad address width; ``mem_base`` / ``mem_size``:
    the scratchpad window every buffer must lie in (default: the whole address space);
    ``n_contexts``: job contexts of the register file; ``cfg_addr_width``: register bus width.

    GELU (OP = GELU): ``gelu`` (include the unit; without it OP = GELU ends with BAD_CMD),
    ``gelu_method`` (``table``: :class:`~hw.softex.gelu_table.GeluTable`, correctly rounded, the
    default; ``expp``: :class:`~hw.softex.gelu.Gelu`, x Phi(x) from a sum of expp terms, as in
    the SoftEx paper), ``gelu_latency`` (register stages of the unit, 0..15; default
    :data:`GELU_DEFAULT_LATENCY` for the table, ``Gelu.N_CUTS`` = 15 registers every cut point
    of the expp unit). The expp unit also takes ``gelu_terms`` K (a fitted K of
    ``hw/softex/gelu_coeffs.py``, default its DEFAULT_TERMS) and ``gelu_acc_width`` W
    (fixed-point accumulator bits), and its expp uses ``mode`` too; the table unit ignores them.
    """

    #: Register stages of the exponential (its three cut points, then the output).
    EXPP_LATENCY = Range(0, 6)
    #: Register stages of the GELU unit (one per cut point at most).
    GELU_LATENCY = Range(0, Gelu.N_CUTS)
    #: The GELU units by ``gelu_method``.
    GELU_METHODS = GELU_METHODS

    def __init__(self, lanes=8, *, mode="accurate", expp_latency=2, addr_width=32,
                 mem_base=0, mem_size=None, n_contexts=2, cfg_addr_width=None, gelu=True,
                 gelu_method="table", gelu_terms=None, gelu_acc_width=14, gelu_latency=None):
        self.lanes = check_choice("lanes", lanes, LANE_CHOICES)
        self.mode = check_choice("mode", mode, MODES)
        self.expp_latency = self.EXPP_LATENCY.check("expp_latency", expp_latency)
        self.addr_width = check_int("addr_width", addr_width, min=8, max=32)
        self.mem_base = check_int("mem_base", mem_base, min=0, max=(1 << addr_width) - 1)
        if mem_size is None:
            mem_size = (1 << addr_width) - mem_base
        self.mem_size = check_int("mem_size", mem_size, min=8,
                                  max=(1 << addr_width) - self.mem_base)
        self.gelu = check_choice("gelu", gelu, (False, True))
        self.gelu_unit = None
        self.gelu_method = check_choice("gelu_method", gelu_method, GELU_METHODS)
        if gelu_latency is None:
            gelu_latency = GELU_DEFAULT_LATENCY[gelu_method]
        gelu_latency = self.GELU_LATENCY.check("gelu_latency", gelu_latency)
        if gelu_terms is not None:
            check_choice("gelu_terms", gelu_terms, tuple(sorted(gelu_coeffs.COEFFS)))
        check_int("gelu_acc_width", gelu_acc_width, min=ACC_WIDTH_MIN, max=ACC_WIDTH_MAX)
        if self.gelu and gelu_method == "table":
            self.gelu_unit = GeluTable(self.lanes // 2, latency=gelu_latency)
        elif self.gelu:
            self.gelu_unit = Gelu(self.lanes // 2, terms=gelu_terms, acc_width=gelu_acc_width,
                                  latency=gelu_latency, expp_mode=self.mode)
        self.regmap = softex_map(n_contexts=n_contexts)
        self.rf = RegisterFile(self.regmap, addr_width=cfg_addr_width)
        # Stage A to the lane FMAs and pass 2: the Expp and the row reference side by side.
        self.exp_latency = max(self.expp_latency, RowReference.LATENCY)
        # Pass-2 credits: reads in flight + results waiting in the FIFO (grant -> FIFO write
        # takes 3 + exp_latency + OUTPUT_LATENCY cycles; for GELU 4 + gelu_latency, the second
        # half beat leaving the input FIFO one cycle after the first).
        self.fifo_depth = self.exp_latency + OUTPUT_LATENCY + 5
        if self.gelu:
            self.fifo_depth = max(self.fifo_depth, self.gelu_unit.latency + 7)
        super().__init__({
            "cfg": In(TCDMSignature(addr_width=self.rf.addr_width, data_width=32)),
            "tcdm": Out(TCDMSignature(addr_width=self.addr_width, data_width=16 * self.lanes)),
            "done_event": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self.lanes
        rf = m.submodules.rf = self.rf
        wiring.connect(m, wiring.flipped(self.cfg), rf.bus)
        clear = rf.clear
        row_job = m.submodules.row_job = RowJob(
            rf.job.shape(), lanes, addr_width=self.addr_width, mem_base=self.mem_base,
            mem_size=self.mem_size, slot=True)
        port = m.submodules.port = RowPort(lanes, addr_width=self.addr_width,
                                           fifo_depth=self.fifo_depth, slot=True)
        control = m.submodules.control = SoftmaxControl(lanes, exp_latency=self.exp_latency)
        read_stage = m.submodules.read_stage = BeatMaximum(lanes)
        exp_stage = m.submodules.exp_stage = OnlineExp(lanes, mode=self.mode,
                                                       expp_latency=self.expp_latency)
        sums = m.submodules.sums = LaneSums(lanes)
        output = m.submodules.output = SoftmaxOutput(lanes, gelu=self.gelu)
        fifo = SyncFIFO(width=16 * lanes, depth=self.fifo_depth)
        m.submodules.fifo = ResetInserter(clear | rf.start)(fifo)

        job, row = row_job.job, row_job.row
        cmd, cast = job.COMMAND, job.CAST
        is_gelu, bad_command, uses_out, uses_slot = command_checks(cmd, self.gelu)
        maximum = exp_stage.maximum
        m.d.comb += [
            self.done_event.eq(rf.done_event), self.busy.eq(rf.busy),
            rf.done.eq(row_job.done), rf.error.eq(row_job.cause),
            row_job.start.eq(rf.start), row_job.clear.eq(clear), row_job.programmed.eq(rf.job),
            row_job.bad_command.eq(bad_command), row_job.uses_out.eq(uses_out),
            row_job.uses_slot.eq(uses_slot), row_job.finish.eq(control.finish),
            port.clear.eq(clear), port.read.eq(control.read), port.write.eq(control.write),
            port.rewind.eq(control.rewind), port.slot_load.eq(control.load_slot),
            port.slot_save.eq(control.save_slot),
            port.slot_word.eq(Cat(sums.denominator, maximum, C(0, 16))),
        ]
        wiring.connect(m, wiring.flipped(self.tcdm), port.tcdm)
        wiring.connect(m, row_job.row, port.row)
        wiring.connect(m, fifo.r_stream, port.output)
        wiring.connect(m, port.beat, read_stage.beat)
        m.d.comb += [
            control.clear.eq(clear), control.run.eq(row_job.run), control.restart.eq(row.restart),
            control.gelu.eq(is_gelu), control.acc.eq(cmd.ACC), control.div.eq(cmd.DIV),
            control.load.eq(cmd.LOAD), control.save.eq(cmd.SAVE), control.beats.eq(row.beats),
            control.exp_valid.eq(exp_stage.exp_valid), control.ok.eq(port.ok),
            control.write_done.eq(port.write_done),
            read_stage.int8.eq(row.in_int8), read_stage.int_bits.eq(cast.IN_INT_BITS),
            read_stage.signed.eq(cast.IN_SIGNED), read_stage.clear.eq(clear),
            exp_stage.valid.eq(read_stage.valid), exp_stage.elements.eq(read_stage.elements),
            exp_stage.beat_max.eq(read_stage.maximum), exp_stage.pass1.eq(control.pass1),
            exp_stage.load.eq(control.slot_loaded), exp_stage.load_max.eq(port.slot_data[32:48]),
            exp_stage.restart.eq(row.restart), exp_stage.clear.eq(clear),
            sums.exponentials.eq(exp_stage.terms), sums.maximum.eq(exp_stage.new_max),
            sums.exponent.eq(exp_stage.exponent), sums.has_exponent.eq(exp_stage.has_exponent),
            sums.factor.eq(exp_stage.factor),
            sums.accumulate.eq(control.accumulate), sums.flush.eq(control.flush),
            sums.reduce.eq(control.reduce), sums.seed.eq(control.seed),
            sums.newton.eq(control.newton), sums.step.eq(control.step),
            sums.load.eq(control.slot_loaded), sums.load_sum.eq(port.slot_data[:32]),
            sums.load_reference.eq(control.load_reference),
            sums.restart.eq(row.restart), sums.clear.eq(clear),
            output.exponentials.eq(exp_stage.exponentials),
            output.exp_valid.eq(exp_stage.exp_valid), output.pass2.eq(control.pass2),
            output.reciprocal.eq(sums.reciprocal), output.masked_row.eq(maximum == NEG_INF),
            output.clear.eq(clear),
            output.int8.eq(row.out_int8), output.int_bits.eq(cast.OUT_INT_BITS),
            output.signed.eq(cast.OUT_SIGNED),
            fifo.w_data.eq(output.word), fifo.w_en.eq(output.valid),
        ]
        if self.gelu:
            gelu = m.submodules.gelu_path = GeluPath(self.gelu_unit, lanes,
                                                     depth=self.fifo_depth)
            m.d.comb += [gelu.restart.eq(clear | rf.start),
                         gelu.valid.eq(read_stage.valid & control.gelu_pass),
                         gelu.elements.eq(read_stage.elements), gelu.room.eq(fifo.w_rdy),
                         output.gelu_pass.eq(control.gelu_pass),
                         output.gelu_valid.eq(gelu.result_valid),
                         output.gelu_result.eq(gelu.result)]
        m.d.comb += [rf.counters.STALL_CYCLES.eq(self.tcdm.req & ~self.tcdm.gnt),
                     rf.counters.MEM_BEATS.eq(port.granted),
                     rf.counters.MASKED_ROW.eq(row_job.row_ok & (maximum == NEG_INF) & ~is_gelu),
                     rf.counters.ROWS_DONE.eq(row_job.row_ok)]
        return m
