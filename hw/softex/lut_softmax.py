"""LUT softmax engine (issue 5): the table-based softmax methods A and B of
``docs/lut_softmax.md`` behind the SoftEx register file and memory port. Bit-exact
specification: ``sim/golden/lut_softmax.py`` (``method_a`` / ``method_b``); tables:
``hw/softex/lut_tables.py``.

Ports (as :class:`hw.softex.softmax.SoftmaxEngine`): ``cfg`` (slave, 32-bit peripheral bus to
the register file ``softex_map``), ``tcdm`` (master, ``lanes * 16`` data bits, byte addresses),
``done_event``, ``busy``.

Jobs: COMMAND.OP = SOFTMAX with ACC = DIV = 1 (the reset value: a full row in one job), LOAD =
SAVE = 0; IN_FMT / OUT_FMT BF16 or INT8 with CAST as in SoftEx. The LUT methods need the final
row maximum before the first (integer) sum term, so a row cannot be split over jobs through a
slot: any other ACC / DIV / LOAD / SAVE combination, OP = GELU and unknown codes end with
BAD_CMD. The 8-bit result code y8 (unsigned Q0.8) is written as BF16 y8 / 256 or, for INT8
output, as ``float_to_int`` of that value with CAST.OUT_* (CAST.OUT = (0, 0) gives y8 itself).

Three passes over the row, every one beat (L elements) per grant:

- pass 1 (max): one beat per cycle. Stage R (the cycle of ``rdata``): int8 -> BF16 (exact,
  IntToFloat with CAST.IN_*); stage F: classification (finite / -inf / NaN or +inf), BF16 ->
  signed fixed point X with F fraction bits (RNE, saturating at |x| >= 4096); stage A: the
  maximum of the beat's finite X (a tree) into the running maximum M, the NaN and "some
  finite" flags. (R and F were one stage at first; on the ECP5 that stage was the critical path.)
- pass 2 (sum): one beat per cycle, reads start on the cycle after the last pass-1 grant (M is
  final when their stage A comes). Stage A: z = M - X, the first table (LUT1 of A / REXP of B,
  L read ports) -> stage B: adder tree into the (table bits + 24)-bit sum S.
- a register stage follows S every cycle: leading one p of S, the c bits k below it, and the
  per-row constants (A: LUT2 row base 127 k; B: COMP[k]; the shift). One idle cycle between
  pass 2 and pass 3 reads lets the last sum reach it.
- pass 3 (output): reads and writes share the port (writes first, credits bound the reads in
  flight to the output FIFO): one beat per two cycles. Stage A: the first table again; stage
  B: A: LUT2[127 k + e - 1] * 256, B: u * COMP[k] (8 x 8 bits); rounding right shift
  (half up) and saturation to 255 -> y8; stage C: y8 -> BF16 (IntToFloat, exact) -> INT8
  (FloatToInt with CAST.OUT_*), NaN rows forced to 0x7FC0 / 0, into the FIFO.

A job of ROWS.COUNT rows repeats the three passes per row at IN_ADDR + r IN_STRIDE, OUT_ADDR
+ r OUT_STRIDE (SLOT_STRIDE, like SLOT_ADDR, is ignored), as SoftmaxEngine does.

Cycles: 4 n / L + 8 for a beat-aligned row (``docs/lut_softmax_bench.md``). Every job reads the row
three times, also NaN and fully masked rows (their outputs are forced): MEM_BEATS = 4 beats
per beat of the row.

Tables: ROMs (``amaranth.lib.memory.Memory`` with ``init``, no write port, asynchronous read
ports): method A LUT1 (45 x 8 bits) and LUT2 (508 x 8 bits), L read ports each; method B REXP
(100 x 8 bits, L read ports) and COMP (32 x 8 bits, one read port: one entry per row). The
stored contents are exactly the generated tables (``table_bytes``: 553 / 132 bytes).

Structure: the row-job front end of ``hw/softex/rowjob.py`` (:class:`~hw.softex.rowjob.RowJob`,
:class:`~hw.softex.rowjob.RowPort`, reads tagged with their pass), the controller
:class:`LutControl` and the datapath stages :class:`LutInput` (R, F), :class:`LutExponent` (A),
:class:`LutNormalise` (B and the row constants) and :class:`LutOutput` (C).
"""

from amaranth import C, Cat, Module, Mux, ResetInserter, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..bus import TCDMSignature
from ..fp import FloatToInt, IntToFloat
from ..fp.format import BF16
from ..params import check_choice, check_int
from ..regmap import RegisterFile
from . import lut_tables as T
from .regmap import SoftexOp, softex_map
from .rowjob import (LANE_CHOICES, NEG_INF, ElementDecoder, RowJob, RowPort, beat_layout,
                     comb_op, state_or_clear)

__all__ = ["LutSoftmaxEngine", "LutControl", "LutInput", "LutExponent", "LutNormalise",
           "LutOutput", "METHODS", "INT_BITS", "ACC_EXTRA_BITS", "bf16_to_fixed"]

METHODS = ("a", "b")
#: Integer bits of the fixed-point input (|x| >= 2^12 saturates), as the golden model.
INT_BITS = 12
#: Accumulator bits above the table entry width (rows up to 2^24 - 1 elements).
ACC_EXTRA_BITS = 24
NAN16 = 0x7FC0
#: Pipeline: grant -> R (rdata) -> A -> B -> C -> FIFO; output FIFO depth (credits).
FIFO_DEPTH = 8
#: Pass of a read (RowPort tag): 1 max, 2 sum, 3 output.
PASS_MAX, PASS_SUM, PASS_OUT = 1, 2, 3


def bf16_to_fixed(m, x, frac_bits, name):
    """Signed fixed point of the BF16 pattern ``x`` with ``frac_bits`` fraction bits and
    ``INT_BITS`` integer bits: x * 2^F rounded to nearest even, saturated to the
    (13 + F)-bit two's complement range (``fp.float_to_int(x, 13 + F, 12, 1)`` for finite x;
    the engine never uses the result of NaN / inf). Returns a ``signed(13 + F)`` value."""
    F = frac_bits
    xw = 1 + INT_BITS + F
    sign, e, f = x[15], x[7:15], x[:7]
    sig = Cat(f, e != 0)                                     # 8-bit significand
    # x * 2^F = sig * 2^sh, sh = max(e, 1) - 127 - 7 + F
    bias = 134 - F
    sh = Signal(signed(10), name=f"{name}_sh")
    m.d.comb += sh.eq(Mux(e == 0, 1, e) - bias)
    left_max = xw - 8                  # sig << left_max < 2^xw: enough to see saturation
    big = sh > left_max
    mag = Signal(xw + 1, name=f"{name}_mag")
    r = Signal(4, name=f"{name}_r")    # right shift amount 1..9 (>= 9 gives 0)
    with m.If(sh >= 0):
        m.d.comb += mag.eq(Mux(big, (1 << xw) - 1, sig << sh[:4]))
    with m.Else():
        m.d.comb += r.eq(Mux(-sh >= 9, 9, (-sh)[:4]))
        wide = Cat(C(0, 9), sig)                             # sig * 2^9 (17 bits)
        t = wide >> r                                        # sig * 2^(9 - r)
        q, guard, sticky = t[9:], t[8], t[:8] != 0
        m.d.comb += mag.eq(q + (guard & (sticky | q[0])))
    hi = (1 << (xw - 1)) - 1
    lo = 1 << (xw - 1)
    out = Signal(signed(xw), name=name)
    m.d.comb += out.eq(Mux(sign, -Mux(mag > lo, lo, mag), Mux(mag > hi, hi, mag)))
    return out


class LutControl(wiring.Component):
    """The passes of a LUT softmax row between its check and its end: MAX and SUM read the row
    (one beat per grant, reads tagged with the pass), GAP lets the last sum reach the row
    constants, OUT writes the results (reads tagged as pass 3).

    Members
    -------
    clear : :py:`In(1)`
        Soft clear: back to WAIT.
    run : :py:`In(1)`
        A checked row starts (:attr:`RowJob.run`).
    read_done : :py:`In(1)`
        The read of the row's last beat is granted.
    write_done : :py:`In(1)`
        The write of the row's last beat is granted.
    read : :py:`Out(1)`
        A read pass (MAX, SUM).
    write : :py:`Out(1)`
        The output pass (OUT).
    tag : :py:`Out(2)`
        The pass of the reads requested (:data:`PASS_MAX`, :data:`PASS_SUM`, :data:`PASS_OUT`).
    rewind : :py:`Out(1)`
        A read pass ends: the next starts at beat 0.
    finish : :py:`Out(1)`
        The row's last state ends.
    """

    def __init__(self):
        super().__init__({
            "clear": In(1), "run": In(1), "read_done": In(1), "write_done": In(1),
            "read": Out(1), "write": Out(1), "tag": Out(2), "rewind": Out(1), "finish": Out(1),
        })

    def elaborate(self, platform):
        m = Module()

        def state(name):                                  # soft clear: back to WAIT
            return state_or_clear(m, name, self.clear, "WAIT")

        def read_pass(tag, following):
            m.d.comb += [self.read.eq(1), self.tag.eq(tag)]
            with m.If(self.read_done):
                m.d.comb += self.rewind.eq(1)
                m.next = following

        with m.FSM(name="passes"):
            with state("WAIT"):
                with m.If(self.run):
                    m.next = "MAX"
            with state("MAX"):
                read_pass(PASS_MAX, "SUM")
            with state("SUM"):
                read_pass(PASS_SUM, "GAP")
            with state("GAP"):           # the last sum reaches S, then the row constants
                m.next = "OUT"
            with state("OUT"):
                m.d.comb += [self.write.eq(1), self.tag.eq(PASS_OUT)]
                with m.If(self.write_done):
                    m.d.comb += self.finish.eq(1)
                    m.next = "WAIT"
        return m


class LutInput(wiring.Component):
    """Stages R and F: the elements of a read beat as BF16
    (:class:`~hw.softex.rowjob.ElementDecoder`), registered; then their class (finite, -inf,
    NaN or +inf) and signed fixed point X (:func:`bf16_to_fixed`), registered for stage A.

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat.
    frac_bits : :class:`int`
        Fraction bits F of X (``1 + INT_BITS + F`` bits).

    Members
    -------
    beat : :py:`In(stream.Signature(beat_layout(lanes, 2), always_ready=True))`
        The beats read (:attr:`RowPort.beat`), tagged with their pass.
    int8, int_bits, signed : :py:`In(1)`, :py:`In(4)`, :py:`In(1)`
        The elements are int8; CAST.IN_INT_BITS, CAST.IN_SIGNED.
    clear : :py:`In(1)`
        Soft clear (drops the beats in flight).
    valid : :py:`Out(1)`
        A beat is in stage A.
    tag : :py:`Out(2)`
        Its pass.
    fixed : :py:`Out(data.ArrayLayout(signed(1 + INT_BITS + frac_bits), lanes))`
        Its elements X.
    finite : :py:`Out(lanes)`
        Lanes inside the row holding a finite element.
    bad : :py:`Out(lanes)`
        Lanes inside the row holding a NaN or +inf.
    """

    def __init__(self, lanes, *, frac_bits):
        self.lanes = lanes
        self.frac_bits = frac_bits
        super().__init__({
            "beat": In(stream.Signature(beat_layout(lanes, 2), always_ready=True)),
            "int8": In(1), "int_bits": In(4), "signed": In(1), "clear": In(1),
            "valid": Out(1), "tag": Out(2),
            "fixed": Out(data.ArrayLayout(signed(1 + INT_BITS + frac_bits), lanes)),
            "finite": Out(lanes), "bad": Out(lanes),
        })

    def elaborate(self, platform):
        m = Module()
        lanes, beat = self.lanes, self.beat.payload
        decoder = m.submodules.decoder = ElementDecoder(lanes)
        m.d.comb += [decoder.word.eq(beat.data), decoder.half.eq(beat.half),
                     decoder.int8.eq(self.int8), decoder.int_bits.eq(self.int_bits),
                     decoder.signed.eq(self.signed)]
        # -- stage R -> F: the elements as BF16
        bf16_valid = Signal()
        bf16_tag = Signal(2)
        bf16_lanes = Signal(lanes)
        bf16 = [Signal(16, name=f"bf16_{j}") for j in range(lanes)]
        m.d.sync += [bf16[j].eq(decoder.elements[16 * j:16 * j + 16]) for j in range(lanes)]
        m.d.sync += [bf16_valid.eq(self.beat.valid), bf16_tag.eq(beat.tag),
                     bf16_lanes.eq(beat.lanes)]
        # -- stage F -> A: class and fixed point
        finite, bad = [], []
        for j, x in enumerate(bf16):
            special = x[7:15] == 0xFF
            finite.append(bf16_lanes[j] & ~special)
            bad.append(bf16_lanes[j] & special & ~(x == NEG_INF))     # NaN or +inf
            m.d.sync += self.fixed[j].eq(bf16_to_fixed(m, x, self.frac_bits, f"fx{j}"))
        m.d.sync += [self.valid.eq(bf16_valid), self.tag.eq(bf16_tag),
                     self.finite.eq(Cat(*finite)), self.bad.eq(Cat(*bad))]
        with m.If(self.clear):
            m.d.sync += [bf16_valid.eq(0), self.valid.eq(0)]
        return m


class LutExponent(wiring.Component):
    """Stage A: in pass 1 the maximum of the beat's finite X (a tree) into the running maximum
    M, and the row's flags (a NaN or +inf; a finite element); in passes 2 and 3 z = M - X and
    the first table (LUT1 of method A, REXP of B; one ROM read port per lane), 0 for lanes
    outside the table or not finite, registered for stage B.

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat.
    x_width : :class:`int`
        Bits of X.
    table : :class:`tuple` of :class:`int`
        The first table, indexed by z.
    entry_bits : :class:`int`
        Bits of its entries.

    Members
    -------
    valid, tag, fixed, finite, bad : see :class:`LutInput`
        The beat in stage A.
    restart : :py:`In(1)`
        A row begins: M = minimum, flags cleared.
    clear : :py:`In(1)`
        Soft clear (drops the beat in flight).
    row_nan : :py:`Out(1)`
        The row holds a NaN or +inf.
    row_finite : :py:`Out(1)`
        The row holds a finite element (else it is fully masked).
    term_valid : :py:`Out(1)`
        A beat of passes 2 or 3 is in stage B.
    term_tag : :py:`Out(2)`
        Its pass.
    terms : :py:`Out(data.ArrayLayout(entry_bits, lanes))`
        Its table entries.
    """

    def __init__(self, lanes, *, x_width, table, entry_bits):
        self.lanes = lanes
        self.x_width = x_width
        self.table = table
        self.entry_bits = entry_bits
        super().__init__({
            "valid": In(1), "tag": In(2),
            "fixed": In(data.ArrayLayout(signed(x_width), lanes)),
            "finite": In(lanes), "bad": In(lanes), "restart": In(1), "clear": In(1),
            "row_nan": Out(1), "row_finite": Out(1), "term_valid": Out(1), "term_tag": Out(2),
            "terms": Out(data.ArrayLayout(entry_bits, lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        lanes, x_width = self.lanes, self.x_width
        x_min = -(1 << (x_width - 1))
        maximum = Signal(signed(x_width), init=x_min, name="M")   # of the finite X
        level = [Mux(self.finite[j], self.fixed[j], x_min) for j in range(lanes)]
        while len(level) > 1:
            level = [Mux(level[i] > level[i + 1], level[i], level[i + 1])
                     for i in range(0, len(level), 2)]
        with m.If(self.valid & (self.tag == PASS_MAX)):
            m.d.sync += [maximum.eq(Mux(level[0] > maximum, level[0], maximum)),
                         self.row_nan.eq(self.row_nan | self.bad.any()),
                         self.row_finite.eq(self.row_finite | self.finite.any())]

        depth = len(self.table)
        rom = m.submodules.rom1 = Memory(shape=self.entry_bits, depth=depth, init=self.table)
        for j in range(lanes):
            z = Signal(x_width + 1, name=f"z{j}")
            m.d.comb += z.eq(maximum - self.fixed[j])
            read = rom.read_port(domain="comb")
            m.d.comb += read.addr.eq(z[:(depth - 1).bit_length()])
            hit = self.finite[j] & (z < depth)
            m.d.sync += self.terms[j].eq(Mux(hit, read.data, 0))
        m.d.sync += [self.term_valid.eq(self.valid & (self.tag != PASS_MAX)),
                     self.term_tag.eq(self.tag)]
        with m.If(self.restart):
            m.d.sync += [maximum.eq(x_min), self.row_nan.eq(0), self.row_finite.eq(0)]
        with m.If(self.clear):
            m.d.sync += self.term_valid.eq(0)
        return m


class LutNormalise(wiring.Component):
    """Stage B: in pass 2 the adder tree of the beat's table entries into the sum S; every
    cycle the row constants from S (its leading one p, the c bits k below it; method A: the
    LUT2 row base 127 k; method B: COMP[k]; the right shift s = p + ``shift_add``), registered;
    in pass 3 the second table (A: LUT2[127 k + e - 1] * 256) or product (B: u * COMP[k],
    8 x 8 bits), a rounding right shift by s (half up) and saturation to 255: the 8-bit result
    code y8, registered for stage C.

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat.
    method : :class:`str`
        "a" or "b".
    entry_bits : :class:`int`
        Bits of the first table's entries.
    acc_width : :class:`int`
        Bits of S.
    lead_bits : :class:`int`
        c, bits of k.
    shift_add : :class:`int`
        s - p.
    table : :class:`tuple` of :class:`int`
        The second table (A: LUT2, rows of ``row_len`` entries; B: COMP).
    table_bits : :class:`int`
        Bits of its entries.
    row_len : :class:`int` or None
        Entries per LUT2 row (method A).

    Members
    -------
    term_valid, term_tag, terms : see :class:`LutExponent`
        The beat in stage B.
    restart : :py:`In(1)`
        A row begins: S = 0.
    clear : :py:`In(1)`
        Soft clear (drops the beat in flight).
    code_valid : :py:`Out(1)`
        A beat of pass 3 is in stage C.
    codes : :py:`Out(data.ArrayLayout(8, lanes))`
        Its result codes y8.
    """

    def __init__(self, lanes, *, method, entry_bits, acc_width, lead_bits, shift_add, table,
                 table_bits, row_len):
        self.lanes = lanes
        self.method = method
        self.entry_bits = entry_bits
        self.acc_width = acc_width
        self.lead_bits = lead_bits
        self.shift_add = shift_add
        self.table = table
        self.table_bits = table_bits
        self.row_len = row_len
        super().__init__({
            "term_valid": In(1), "term_tag": In(2),
            "terms": In(data.ArrayLayout(entry_bits, lanes)),
            "restart": In(1), "clear": In(1),
            "code_valid": Out(1), "codes": Out(data.ArrayLayout(8, lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        lanes, acc_width = self.lanes, self.acc_width
        terms = [self.terms[j] for j in range(lanes)]
        total = Signal(acc_width, name="S")
        with m.If(self.term_valid & (self.term_tag == PASS_SUM)):
            m.d.sync += total.eq(total + sum(terms))

        # per-row constants, registered from S every cycle
        lead = Signal(range(acc_width), name="lead")
        for i in range(acc_width):
            with m.If(total[i]):
                m.d.comb += lead.eq(i)
        k = Signal(self.lead_bits, name="lead_k")
        below = Signal(range(acc_width), name="lead_shift")   # p - c (p >= c: S >= t1[0])
        m.d.comb += [below.eq(lead - self.lead_bits), k.eq((total >> below)[:self.lead_bits])]
        shift = Signal(range(acc_width + self.shift_add + 1), name="shr")     # s - 1
        m.d.sync += shift.eq(lead + (self.shift_add - 1))
        rom = m.submodules.rom2 = Memory(shape=self.table_bits, depth=len(self.table),
                                         init=self.table)
        if self.method == "a":
            row_base = Signal(range(len(self.table) + 1))
            m.d.sync += row_base.eq(k * self.row_len)
            products = []
            for j in range(lanes):
                read = rom.read_port(domain="comb")
                m.d.comb += read.addr.eq(row_base + terms[j] - 1)
                products.append(Cat(C(0, 8), Mux(terms[j] != 0, read.data, 0)))   # v * 256
        else:
            comp_k = Signal(self.table_bits, name="comp_k")       # COMP[k]
            read = rom.read_port(domain="comb")
            m.d.comb += read.addr.eq(k)
            m.d.sync += comp_k.eq(read.data)
            products = [terms[j] * comp_k for j in range(lanes)]
        for j in range(lanes):
            half_up = (products[j] >> shift) + 1      # rshr(v, s) = ((v >> (s-1)) + 1) >> 1
            code = half_up[1:]
            m.d.sync += self.codes[j].eq(Mux(code > 255, 255, code[:8]))
        m.d.sync += self.code_valid.eq(self.term_valid & (self.term_tag == PASS_OUT))
        with m.If(self.restart):
            m.d.sync += total.eq(0)
        with m.If(self.clear):
            m.d.sync += self.code_valid.eq(0)
        return m


class LutOutput(wiring.Component):
    """Stage C: the result codes y8 as BF16 y8 / 256 (IntToFloat, exact) or, for int8 output,
    float_to_int of that value (CAST.OUT_*); outputs of a fully masked row are 0, of a row
    with a NaN or +inf 0x7FC0 (BF16) or 0 (int8). The port word goes into the output FIFO.

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat.

    Members
    -------
    code_valid, codes : see :class:`LutNormalise`
        The beat in stage C.
    row_nan, row_finite : :py:`In(1)`
        The row's flags (:class:`LutExponent`).
    int8, int_bits, signed : :py:`In(1)`, :py:`In(4)`, :py:`In(1)`
        The output is int8; CAST.OUT_INT_BITS, CAST.OUT_SIGNED.
    valid : :py:`Out(1)`
        A beat of results enters the output FIFO.
    word : :py:`Out(16 * lanes)`
        Its port word.
    """

    def __init__(self, lanes):
        self.lanes = lanes
        super().__init__({
            "code_valid": In(1), "codes": In(data.ArrayLayout(8, lanes)),
            "row_nan": In(1), "row_finite": In(1),
            "int8": In(1), "int_bits": In(4), "signed": In(1),
            "valid": Out(1), "word": Out(16 * lanes),
        })

    def elaborate(self, platform):
        m = Module()
        values, ints = [], []
        for j in range(self.lanes):
            code = Mux(self.row_finite & ~self.row_nan, self.codes[j], 0)
            to_float = comb_op(m, IntToFloat(8, BF16), f"y2f{j}")
            m.d.comb += [to_float.i.payload.q.eq(code), to_float.i.payload.int_bits.eq(0),
                         to_float.i.payload.signed.eq(0)]
            value = to_float.o.payload.as_value()
            to_int = comb_op(m, FloatToInt(8, BF16), f"f2i{j}")
            m.d.comb += [to_int.i.payload.x.eq(value), to_int.i.payload.int_bits.eq(self.int_bits),
                         to_int.i.payload.signed.eq(self.signed)]
            values.append(Mux(self.row_nan, NAN16, value))
            ints.append(Mux(self.row_nan, 0, to_int.o.payload))
        int_beat = Cat(*ints)
        m.d.comb += [self.word.eq(Mux(self.int8, Cat(int_beat, int_beat), Cat(*values))),
                     self.valid.eq(self.code_valid)]
        return m


class LutSoftmaxEngine(wiring.Component):
    """LUT softmax engine, ``method`` "a" (two tables, no multiplier) or "b" (exponential table
    + reciprocal table and one 8 x 8 multiplier per lane), ``lanes`` L in 4, 8, 16, 32 (port
    of ``16 * lanes`` bits). ``addr_width``: scratchpad address width; ``mem_base`` /
    ``mem_size``: the window every buffer must lie in (default: the whole address space);
    ``n_contexts``: job contexts of the register file; ``cfg_addr_width``: register bus width.
    """

    def __init__(self, lanes=8, *, method="a", addr_width=32, mem_base=0, mem_size=None,
                 n_contexts=2, cfg_addr_width=None):
        self.lanes = check_choice("lanes", lanes, LANE_CHOICES)
        self.method = check_choice("method", method, METHODS)
        self.addr_width = check_int("addr_width", addr_width, min=8, max=32)
        self.mem_base = check_int("mem_base", mem_base, min=0, max=(1 << addr_width) - 1)
        if mem_size is None:
            mem_size = (1 << addr_width) - mem_base
        self.mem_size = check_int("mem_size", mem_size, min=8,
                                  max=(1 << addr_width) - self.mem_base)
        self.regmap = softex_map(n_contexts=n_contexts)
        self.rf = RegisterFile(self.regmap, addr_width=cfg_addr_width)
        if self.method == "a":
            self.tables = T.METHOD_A
            self.frac_bits = T.A_FRAC_BITS
            self.t1 = tuple(T.A_LUT1)
            self.t1_bits = T.A_E_BITS
            self.lead_bits = T.A_ROW_BITS
            self.shift_add = T.A_LUT2_FRAC            # s = p + G
            self.t2 = tuple(v for row in T.A_LUT2 for v in row)
            self.t2_bits = T.A_E_BITS + T.A_LUT2_FRAC
            self.row_len = (1 << T.A_E_BITS) - 1
        else:
            self.tables = T.METHOD_B
            self.frac_bits = T.B_FRAC_BITS
            self.t1 = tuple(T.B_REXP)
            self.t1_bits = T.B_U_BITS
            self.lead_bits = T.B_COMP_BITS
            self.shift_add = T.B_COMP_WIDTH - 8       # s = p + W - 8
            self.t2 = tuple(T.B_COMP)
            self.t2_bits = T.B_COMP_WIDTH
            self.row_len = None
        self.x_width = 1 + INT_BITS + self.frac_bits
        self.acc_width = self.t1_bits + ACC_EXTRA_BITS
        # The sum is >= table[0] (the maximum element has z = 0): the leading one is at least
        # p_min, which must leave c bits below it and a right shift s = p + shift_add >= 1.
        p_min = self.t1[0].bit_length() - 1
        if p_min < self.lead_bits or p_min + self.shift_add < 1:
            raise ValueError("tables: the first entry must have more than c bits and give a "
                             "right shift of at least 1")
        self.fifo_depth = FIFO_DEPTH
        super().__init__({
            "cfg": In(TCDMSignature(addr_width=self.rf.addr_width, data_width=32)),
            "tcdm": Out(TCDMSignature(addr_width=self.addr_width, data_width=16 * self.lanes)),
            "done_event": Out(1),
            "busy": Out(1),
        })

    @property
    def table_bytes(self):
        """Bytes of the ROMs: entries times whole bytes per entry, per table."""
        return {"t1": len(self.t1) * ((self.t1_bits + 7) // 8),
                "t2": len(self.t2) * ((self.t2_bits + 7) // 8)}

    def elaborate(self, platform):
        m = Module()
        lanes = self.lanes
        rf = m.submodules.rf = self.rf
        wiring.connect(m, wiring.flipped(self.cfg), rf.bus)
        clear = rf.clear
        row_job = m.submodules.row_job = RowJob(
            rf.job.shape(), lanes, addr_width=self.addr_width, mem_base=self.mem_base,
            mem_size=self.mem_size, slot=False)
        port = m.submodules.port = RowPort(lanes, addr_width=self.addr_width,
                                           fifo_depth=self.fifo_depth, tag_width=2)
        control = m.submodules.control = LutControl()
        input_stage = m.submodules.input_stage = LutInput(lanes, frac_bits=self.frac_bits)
        exponent = m.submodules.exponent = LutExponent(
            lanes, x_width=self.x_width, table=self.t1, entry_bits=self.t1_bits)
        normalise = m.submodules.normalise = LutNormalise(
            lanes, method=self.method, entry_bits=self.t1_bits, acc_width=self.acc_width,
            lead_bits=self.lead_bits, shift_add=self.shift_add, table=self.t2,
            table_bits=self.t2_bits, row_len=self.row_len)
        output = m.submodules.output = LutOutput(lanes)
        fifo = SyncFIFO(width=16 * lanes, depth=self.fifo_depth)
        m.submodules.fifo = ResetInserter(clear | rf.start)(fifo)

        job, row = row_job.job, row_job.row
        cmd, cast = job.COMMAND, job.CAST
        # a row in one job: OP = SOFTMAX, ACC = DIV = 1, no slot
        bad_command = ((cmd.OP.as_value() != SoftexOp.SOFTMAX)
                       | ~cmd.ACC | ~cmd.DIV | cmd.LOAD | cmd.SAVE)
        wiring.connect(m, wiring.flipped(self.tcdm), port.tcdm)
        wiring.connect(m, row_job.row, port.row)
        wiring.connect(m, fifo.r_stream, port.output)
        wiring.connect(m, port.beat, input_stage.beat)
        m.d.comb += [
            self.done_event.eq(rf.done_event), self.busy.eq(rf.busy),
            rf.done.eq(row_job.done), rf.error.eq(row_job.cause),
            row_job.start.eq(rf.start), row_job.clear.eq(clear), row_job.programmed.eq(rf.job),
            row_job.bad_command.eq(bad_command), row_job.uses_out.eq(1),
            row_job.finish.eq(control.finish),
            port.clear.eq(clear), port.read.eq(control.read), port.write.eq(control.write),
            port.rewind.eq(control.rewind), port.tag.eq(control.tag),
            control.clear.eq(clear), control.run.eq(row_job.run),
            control.read_done.eq(port.read_done), control.write_done.eq(port.write_done),
            input_stage.int8.eq(row.in_int8), input_stage.int_bits.eq(cast.IN_INT_BITS),
            input_stage.signed.eq(cast.IN_SIGNED), input_stage.clear.eq(clear),
            exponent.valid.eq(input_stage.valid), exponent.tag.eq(input_stage.tag),
            exponent.fixed.eq(input_stage.fixed), exponent.finite.eq(input_stage.finite),
            exponent.bad.eq(input_stage.bad), exponent.restart.eq(row.restart),
            exponent.clear.eq(clear),
            normalise.term_valid.eq(exponent.term_valid), normalise.term_tag.eq(exponent.term_tag),
            normalise.terms.eq(exponent.terms), normalise.restart.eq(row.restart),
            normalise.clear.eq(clear),
            output.code_valid.eq(normalise.code_valid), output.codes.eq(normalise.codes),
            output.row_nan.eq(exponent.row_nan), output.row_finite.eq(exponent.row_finite),
            output.int8.eq(row.out_int8), output.int_bits.eq(cast.OUT_INT_BITS),
            output.signed.eq(cast.OUT_SIGNED),
            fifo.w_data.eq(output.word), fifo.w_en.eq(output.valid),
            rf.counters.STALL_CYCLES.eq(self.tcdm.req & ~self.tcdm.gnt),
            rf.counters.MEM_BEATS.eq(port.granted),
            rf.counters.MASKED_ROW.eq(row_job.row_ok & ~exponent.row_finite & ~exponent.row_nan),
            rf.counters.ROWS_DONE.eq(row_job.row_ok),
        ]
        return m
