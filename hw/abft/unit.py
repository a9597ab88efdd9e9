"""The Flash-ABFT checker of an attention head (docs/abft.md has the identities and the
thresholds; :mod:`sim.golden.abft` is the bit-exact model of its arithmetic).

It watches, it does not compute the head: the tensor unit's check tap (every output column's
fp32 accumulators before their rounding, :mod:`hw.tensor.tap`) and SoftEx's scratchpad port
(:class:`SoftexSnoop`: score reads, probability writes of run A and run B). From them it keeps,
per query row of the two tiles in flight (tile parity), four fixed-point sums in one block RAM
word each (:data:`~hw.abft.layout.ACC_BITS` bits)::

    S residual   sum_k s_ik - sum_c bf16(qs_ic) kbar_c       (position F_S)
    QA           sum_c |qs_ic|                               (position F_QA: the S threshold)
    PA           sum_k p_ik                                  (position P_FRAC)
    O residual   sum_c o_ic - sum_k p_ik vbar_k              (position F_O)

and per parity a word balance modulo 2^WORD_SUM_BITS: the words of Qs, plus the scores the
tensor unit wrote (bf16 of its accumulators, times the reads) minus the scores SoftEx read, plus
run A's probability words minus run B's (and apart the XOR of run A's and run B's words); per
tile the O words written, plain and weighted by row and column.

Pipeline (one row-sum update per cycle): the tap queue holds the tensor unit's events, SoftEx's
run-A probability write waits at the snoop (no grant) until its lanes are taken. The sequencer
turns an event into micro-operations (a value, or its product with a checksum vector, and the
row sum it goes to), :func:`fixed_point` places the term, the row sum RAM adds it. When a pv
job ends the tile is *closed*: the evaluator reads the tile's rows, compares each residual with
its threshold, checks the word sums, writes the tile's cause mask and O word sums to the report
and clears the rows. VERIFY reads O back through the unit's own port (the scrub), writes the
report and ends the job with CHECK_FAILED when any check failed.

GEMM mode (ARM_GEMM, :mod:`sim.golden.abft_gemm`): one tensor job Z = X W (+ Y) is checked by
its row and column sums. ARM_GEMM loads minus the host's references into one row-sum entry per
row (0 ..) and per column (:attr:`AbftUnit.max_gemm` ..); every tap value is two
micro-operations (its row's entry, its column's) and adds to Z's word sums; the job's end closes
the one tile: every entry is compared with TAU_S's threshold. VERIFY reads Z back as it reads O.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..bus import TCDMRequester, TCDMSignature
from ..fp import FPConvert
from ..fp.format import BF16, FP32
from ..params import check_int, check_pow2
from ..pipeline import combinational
from ..regmap import RegisterFile
from ..tensor.tap import tap_layout
from .layout import (ACC_BITS, CAUSES, DESCRIPTOR, FRAC_FIELD, GEMM_MAX_SIDE, MAX_TERMS, P_FRAC,
                     REPORT_TILES, TAU_BITS, TERM_BITS, TILE_REPORT, WORD_SUM_BITS, Cause)
from .regmap import AbftOp, abft_map

__all__ = ["AbftUnit", "SoftexSnoop", "fixed_point"]

# Quantities of a row (the RAM's low address bits).
RES_S, QA, PA, RES_O = range(4)
# The evaluator's order: QA first (it makes the S threshold).
EVAL_ORDER = (QA, RES_S, PA, RES_O)
# Kinds of tensor jobs. In GEMM mode the checked job is K_GEMM (the scale job's code: both are
# two micro-operations per value).
K_NONE, K_SCALE, K_QK, K_PV = range(4)
K_GEMM = K_SCALE
# Word sums a micro-operation adds to besides its row sum.
SIDE_NONE, SIDE_QSUM, SIDE_S, SIDE_O = range(4)
# What a micro-operation does with the open row's probability sum (pa_acc).
PA_NONE, PA_START, PA_ADD, PA_FLUSH = range(4)


def _cause(name):
    return 1 << CAUSES.index(name)


def fixed_point(m, sign, sig, shift, special, name):
    """trunc(+-sig 2^shift) as a signed ACC_BITS value and its out-of-range flag (``special``
    or |value| >= 2^TERM_BITS; the value is then 0), combinational. ``shift`` signed."""
    t = TERM_BITS
    width = len(sig) + t
    amount = Signal(signed(len(shift) + 1), name=f"{name}_amount")
    m.d.comb += amount.eq(t - shift)          # sig 2^shift = (sig 2^t) >> amount
    shifted = Signal(width, name=f"{name}_shifted")
    m.d.comb += shifted.eq(Mux((amount < 0) | (amount >= width), 0,
                               ((sig << t) >> amount[:(width - 1).bit_length()])[:t]))
    # out of range: the term has more than t bits (bit length of sig plus shift)
    length = Signal(range(len(sig) + 1), name=f"{name}_length")
    for i in range(len(sig)):
        with m.If(sig[i]):
            m.d.comb += length.eq(i + 1)
    bad = Signal(name=f"{name}_bad")
    m.d.comb += bad.eq(special | ((sig != 0) & (length + shift > t)))
    mag = shifted[:t]
    value = Signal(signed(ACC_BITS), name=f"{name}_value")
    m.d.comb += value.eq(Mux(bad, 0, Mux(sign, -mag, mag)))
    return value, bad


def _unpack(m, bits, fmt, name):
    """(sign, sig, exp, special) of a BF16 / FP32 pattern (value = +-sig 2^exp)."""
    e = bits[fmt.frac_bits:fmt.frac_bits + fmt.exp_bits]
    f = bits[:fmt.frac_bits]
    sig = Signal(fmt.precision, name=f"{name}_sig")
    exp = Signal(signed(10), name=f"{name}_exp")
    m.d.comb += [sig.eq(Mux(e != 0, f | (1 << fmt.frac_bits), f)),
                 exp.eq(Mux(e != 0, e, 1) - (fmt.bias + fmt.frac_bits))]
    return bits[fmt.width - 1], sig, exp, e == fmt.exp_max


class SoftexSnoop(wiring.Component):
    """SoftEx's scratchpad port passed through to the interconnect, observed, held, and shared
    with the checker's own 32-bit port (the checker needs no master of its own on the
    interconnect).

    The checker's request, when there is one, takes the port (SoftEx then waits without
    grant, as the port's contract allows; the checker asks for a few words per tile and
    streams only while ARM and VERIFY run). Its 32-bit word is the one its address selects in
    the wide beat; the beat's other bytes are not enabled.

    Parameters
    ----------
    addr_width : :class:`int`
    data_width : :class:`int`
        SoftEx's port, a multiple of 32 bits.

    Members
    -------
    accel : :py:`In(TCDMSignature(addr_width, data_width))`
        From SoftEx.
    checker : :py:`In(TCDMSignature(addr_width, 32))`
        From the checker (:attr:`AbftUnit.tcdm`).
    xbar : :py:`Out(TCDMSignature(addr_width, data_width))`
        To the interconnect.
    hold : :py:`In(1)`
        Refuse SoftEx's request this cycle (no grant, no request to the interconnect).
    req : :py:`Out(1)`
        SoftEx requests (``addr``, ``we``, ``be``, ``wdata`` describe it; they stay as they are
        until the grant, the port's contract).
    seen : :py:`Out(1)`
        SoftEx's request is granted this cycle.
    addr, we, be, wdata : :py:`Out`
    rvalid, rdata : :py:`Out`
        The read data as SoftEx receives it.
    """

    def __init__(self, addr_width, data_width):
        if data_width < 32:
            raise ValueError(f"data_width must be at least 32 (the checker's word shares the "
                             f"port), got {data_width}")
        sig = TCDMSignature(addr_width=addr_width, data_width=data_width)
        super().__init__({
            "accel": In(sig), "checker": In(TCDMSignature(addr_width=addr_width, data_width=32)),
            "xbar": Out(sig), "hold": In(1), "req": Out(1),
            "seen": Out(1), "addr": Out(addr_width), "we": Out(1), "be": Out(data_width // 8),
            "wdata": Out(data_width), "rvalid": Out(1), "rdata": Out(data_width),
        })

    def elaborate(self, platform):
        m = Module()
        a, c, x = self.accel, self.checker, self.xbar
        words = len(a.wdata) // 32
        word = c.addr[2:2 + (words - 1).bit_length()] if words > 1 else Const(0, 1)
        checker_read = Signal()               # the read data of this cycle is the checker's
        checker_word = Signal.like(word)
        softex_go = a.req & ~self.hold & ~c.req
        m.d.comb += [x.req.eq(c.req | softex_go),
                     x.addr.eq(Mux(c.req, c.addr, a.addr)), x.we.eq(Mux(c.req, c.we, a.we)),
                     x.be.eq(Mux(c.req, c.be << (word * 4), a.be)),
                     x.wdata.eq(Mux(c.req, c.wdata.replicate(words), a.wdata)),
                     c.gnt.eq(c.req & x.gnt), a.gnt.eq(softex_go & x.gnt),
                     c.rdata.eq(x.rdata.word_select(checker_word, 32)),
                     c.rvalid.eq(x.rvalid & checker_read),
                     a.rdata.eq(x.rdata), a.rvalid.eq(x.rvalid & ~checker_read),
                     self.req.eq(a.req), self.seen.eq(softex_go & x.gnt),
                     self.addr.eq(a.addr), self.we.eq(a.we), self.be.eq(a.be),
                     self.wdata.eq(a.wdata),
                     self.rvalid.eq(a.rvalid), self.rdata.eq(x.rdata)]
        m.d.sync += [checker_read.eq(c.req & x.gnt & ~c.we), checker_word.eq(word)]
        return m


class AbftUnit(wiring.Component):
    """The checker (module description; docs/abft.md).

    Parameters
    ----------
    geometry : :class:`~hw.tensor.geometry.TensorGeometry`
        The tensor unit it watches (fp32 accumulation).
    lanes : :class:`int`
        SoftEx lanes (its port carries ``16 * lanes`` bits).
    max_seq, max_head_dim, max_rows, max_tiles : :class:`int`
        The largest head it can check: keys, head dimension, rows of a query tile, query tiles
        (keys plus head dimension at most :data:`~hw.abft.layout.MAX_TERMS`).
    addr_width : :class:`int`
    mem_base, mem_size : :class:`int`
        The scratchpad window (addresses are kept as offsets in it).
    cfg_addr_width : :class:`int` or :py:`None`
        Width of the register-file bus.

    Members
    -------
    cfg : :py:`In(TCDMSignature(cfg_addr_width, 32))`
        The register file (:func:`~hw.abft.regmap.abft_map`).
    tcdm : :py:`Out(TCDMSignature(addr_width, 32))`
        Its scratchpad port: descriptor, checksum vectors, encoded Q sums, report, scrub. In a
        cluster it goes through :class:`SoftexSnoop` on SoftEx's port.
    tap : :py:`In(tap_layout(geometry, addr_width))`
        The tensor unit's check tap.
    tap_ready : :py:`Out(1)`
        Room for a tap event: the tensor unit holds its array while low.
    softex_req, softex_seen, softex_addr, softex_we, softex_be, softex_wdata, softex_rvalid, softex_rdata : :py:`In`
        SoftEx's port as :class:`SoftexSnoop` observes it.
    softex_hold : :py:`Out(1)`
        Refuse SoftEx's request (a probability write of run A until its lanes are taken).
    done_event : :py:`Out(1)`
    max_gemm : :class:`int`
        (Attribute) The most rows and columns of a checked GEMM: GEMM_MAX_SIDE, or fewer when
        the row-sum RAM (``8 * max_rows`` entries) has less room.
    """

    #: Entries of the tap queue.
    TAP_DEPTH = 8

    def __init__(self, geometry, lanes, *, max_seq=256, max_head_dim=64, max_rows=32,
                 max_tiles=64, addr_width=32, mem_base=0, mem_size=1 << 16,
                 cfg_addr_width=None):
        if geometry.acc != "fp32":
            raise ValueError(f"the checker needs a tensor unit with fp32 accumulation, got "
                             f"acc={geometry.acc!r}")
        self.g = geometry
        self.lanes = check_pow2("lanes", lanes, min=1, max=32)
        self.max_seq = check_pow2("max_seq", max_seq, min=4, max=MAX_TERMS // 2)
        self.max_head_dim = check_pow2("max_head_dim", max_head_dim, min=2,
                                       max=MAX_TERMS - self.max_seq)
        self.max_rows = check_pow2("max_rows", max_rows, min=1, max=1024)
        self.max_tiles = check_int("max_tiles", max_tiles, min=1, max=4096)
        self.addr_width = check_int("addr_width", addr_width, min=8, max=32)
        self.mem_base = mem_base
        self.mem_size = check_int("mem_size", mem_size, min=4, max=1 << self.addr_width)
        self.off_width = max(1, (self.mem_size - 1).bit_length())
        #: Rows and columns of a checked GEMM (ARM_GEMM): a row-sum entry each.
        self.max_gemm = min(GEMM_MAX_SIDE, self.max_rows * 4)
        self.regmap = abft_map(n_contexts=1)
        self.rf = RegisterFile(self.regmap, addr_width=cfg_addr_width)
        super().__init__({
            "cfg": In(TCDMSignature(addr_width=self.rf.addr_width, data_width=32)),
            "tcdm": Out(TCDMSignature(addr_width=self.addr_width, data_width=32)),
            "tap": In(tap_layout(geometry, self.addr_width)),
            "softex_req": In(1), "softex_seen": In(1), "softex_addr": In(self.addr_width),
            "softex_we": In(1), "softex_be": In(2 * lanes), "softex_wdata": In(16 * lanes),
            "softex_rvalid": In(1), "softex_rdata": In(16 * lanes),
            "softex_hold": Out(1),
            "tap_ready": Out(1),
            "done_event": Out(1),
        })

    # ---------------------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        g, L, lanes = self.g, self.g.L, self.lanes
        ow = self.off_width
        row_bits = max(1, (self.max_rows - 1).bit_length())
        max_side = max(self.max_rows, self.max_gemm)     # rows of a tile or of a GEMM
        side_bits = max(1, (max_side - 1).bit_length())
        vec_depth = self.max_head_dim + self.max_seq
        index_bits = (vec_depth - 1).bit_length()       # a column or a key
        wsum = WORD_SUM_BITS

        m.submodules.rf = rf = self.rf
        wiring.connect(m, wiring.flipped(self.cfg), rf.bus)
        m.d.comb += self.done_event.eq(rf.done_event)
        # The control below moves its request (address, data) only when it is granted.
        rq = TCDMRequester.attach(m, self.tcdm, rf.clear, "dma", stable=True)

        def offset(addr):
            return (addr - self.mem_base)[:ow]

        # -- configuration (the descriptor) ----------------------------------------------------
        seq = Signal(range(max(self.max_seq, self.max_gemm) + 1))     # GEMM: M
        hd = Signal(range(max(self.max_head_dim, self.max_gemm) + 1))  # GEMM: N
        rows_per_tile = Signal(range(max_side + 1))
        gemm = Signal()                       # GEMM mode (ARM_GEMM)
        tiles = Signal(range(self.max_tiles + 1))
        desc_bad = Signal()
        log2_ss = Signal(4)
        log2_os = Signal(4)
        log2_reads = Signal(2)
        frac_s, frac_qa, frac_o = (Signal(signed(FRAC_FIELD), name=f"frac_{n}")
                                   for n in ("s", "qa", "o"))
        fracs = Array([frac_s, frac_qa, Const(P_FRAC, signed(FRAC_FIELD)), frac_o])  # by quantity
        qs_addr, s_addr, half, p_addr, pb_addr, o_addr = (Signal(ow, name=n) for n in (
            "qs_addr", "s_addr", "half", "p_addr", "pb_addr", "o_addr"))
        kbar_addr, vbar_addr, qsum_addr, report_addr = (Signal(ow, name=n) for n in (
            "kbar_addr", "vbar_addr", "qsum_addr", "report_addr"))

        # The thresholds are read at a tile close only: they wait in the vectors RAM, after the
        # checksum vectors (TAUS, in the evaluator's order of quantities).
        # (descriptor word, the quantity whose check reads it, its address)
        taus = [("TAU_S", QA, vec_depth), ("TAU_P", PA, vec_depth + 1),
                ("TAU_O", RES_O, vec_depth + 2)]
        vec_words = vec_depth + len(taus)

        def loads(word):
            """Descriptor word name -> its assignments to the configuration registers."""
            def fits(value, limit, gemm_limit, even=False):
                bad = (value == 0) | (value > Mux(gemm, gemm_limit, limit))
                return bad | value[0] if even else bad
            return {
                "SEQ_DIM": [seq.eq(word[:16]), hd.eq(word[16:]),
                            desc_bad.eq(fits(word[:16], self.max_seq, self.max_gemm)
                                        | fits(word[16:], self.max_head_dim, self.max_gemm,
                                               even=True))],
                "ROWS_TILES": [rows_per_tile.eq(word[:16]), tiles.eq(word[16:]),
                               desc_bad.eq(desc_bad
                                           | fits(word[:16], self.max_rows, self.max_gemm)
                                           | fits(word[16:], self.max_tiles, 1))],
                "SHIFTS": [log2_ss.eq(word[0:4]), log2_os.eq(word[4:8]),
                           log2_reads.eq(word[8:10])],
                "FRACS": [frac_s.eq(word[0:FRAC_FIELD]),
                          frac_qa.eq(word[FRAC_FIELD:2 * FRAC_FIELD]),
                          frac_o.eq(word[2 * FRAC_FIELD:3 * FRAC_FIELD])],
                "TAU_S": [desc_bad.eq(desc_bad | (word >> TAU_BITS).any())],
                "TAU_P": [desc_bad.eq(desc_bad | (word >> TAU_BITS).any())],
                "TAU_O": [desc_bad.eq(desc_bad | (word >> TAU_BITS).any())],
                "QS_ADDR": [qs_addr.eq(offset(word))],
                "S_ADDR": [s_addr.eq(offset(word))],
                "HALF": [half.eq(word[:ow])],
                "P_ADDR": [p_addr.eq(offset(word))],
                "PB_ADDR": [pb_addr.eq(offset(word))],
                "O_ADDR": [o_addr.eq(offset(word))],
                "KBAR_ADDR": [kbar_addr.eq(offset(word))],
                "VBAR_ADDR": [vbar_addr.eq(offset(word))],
                "QSUM_ADDR": [qsum_addr.eq(offset(word))],
                "REPORT_ADDR": [report_addr.eq(offset(word))],
            }
        armed = Signal()
        verifying = Signal()                  # VERIFY runs (drains, then scrubs)

        # -- checksum vectors: kbar at 0 .., vbar at max_head_dim .. ---------------------------
        m.submodules.vectors = vectors = Memory(shape=32, depth=vec_words, init=[])
        vec_rd = vectors.read_port()
        vec_wr = vectors.write_port()

        # -- row sums: (parity, row, quantity) ---------------------------------------------------
        rs_depth = 2 * self.max_rows * 4
        m.submodules.row_sums = row_sums = Memory(shape=ACC_BITS, depth=rs_depth, init=[])
        rs_wr = row_sums.write_port()
        rs_rd = row_sums.read_port(transparent_for=(rs_wr,))

        def rs_index(parity, row, quantity):
            return Cat(Const(quantity, 2) if isinstance(quantity, int) else quantity,
                       row[:row_bits], parity)

        # -- per-parity word sums and flags -------------------------------------------------------
        def per_parity(name, width):
            return [Signal(width, name=f"{name}{p}") for p in range(2)]
        # Qs words + reads x score words written - words read + run A words - run B words
        balance = per_parity("balance", wsum)
        p_xor = per_parity("p_xor", 16)            # run A words ^ run B words
        range_flag = per_parity("range_flag", 1)
        p_range_flag = per_parity("p_range_flag", 1)
        # O words of the tile whose pv job runs: plain, by row in the tile, by column; the scrub
        # starts them at minus the written sums and adds O as read back
        o_plain, o_row, o_col = (Signal(wsum, name=n) for n in ("o_plain", "o_row", "o_col"))
        overrun = Signal()
        scale_parity = Signal()
        next_tile = Signal(range(self.max_tiles + 1))   # the tile the next close belongs to
        row0 = Signal(range(self.max_seq + 1))          # its first row
        closes = Signal(16)                             # closes since ARM
        clear_state = Signal()                          # ARM: every sum and flag to zero

        # -- the tensor tap: classify, queue ------------------------------------------------------
        tap = self.tap
        z_off, x_off = offset(tap.z_ptr), offset(tap.x_ptr)
        kind = Signal(2)
        parity = Signal()
        with m.If(gemm):
            with m.If(z_off == o_addr):
                m.d.comb += kind.eq(K_GEMM)
        with m.Elif(z_off == qs_addr):
            m.d.comb += [kind.eq(K_SCALE), parity.eq(scale_parity)]
        with m.Elif((z_off >= s_addr) & (z_off < s_addr + 2 * half)):
            m.d.comb += [kind.eq(K_QK), parity.eq(z_off >= s_addr + half)]
        with m.Elif((x_off >= p_addr) & (x_off < p_addr + 2 * half)):
            m.d.comb += [kind.eq(K_PV), parity.eq(x_off >= p_addr + half)]
        tap_entry = data.StructLayout({
            "close": 1, "kind": 2, "parity": 1, "row": side_bits, "column": index_bits,
            "rows": L, "values": L * 32})
        m.submodules.tap_fifo = tap_fifo = SyncFIFO(width=tap_entry.size, depth=self.TAP_DEPTH)
        # The tensor unit holds its array while the queue has no room for an event and a close.
        m.d.comb += self.tap_ready.eq(tap_fifo.level < self.TAP_DEPTH - 1)
        tap_in = Signal(tap_entry)
        m.d.comb += [tap_in.close.eq(tap.done), tap_in.kind.eq(kind), tap_in.parity.eq(parity),
                     tap_in.row.eq(tap.row), tap_in.column.eq(tap.column),
                     tap_in.rows.eq(tap.rows), tap_in.values.eq(tap.values)]
        tap_push = armed & (kind != K_NONE) & (
            (tap.valid & tap.column_ok & (tap.rows != 0)) | (tap.done & ((kind == K_PV) | gemm)))
        m.d.comb += [tap_fifo.w_data.eq(tap_in), tap_fifo.w_en.eq(tap_push)]
        with m.If(tap_push & ~tap_fifo.w_rdy):
            m.d.sync += overrun.eq(1)
        with m.If(armed & ~gemm & tap.done & (kind == K_SCALE)):
            m.d.sync += scale_parity.eq(~scale_parity)

        # -- SoftEx: classify its beats --------------------------------------------------------
        sx_off = offset(self.softex_addr)

        def position(base):
            """(in the buffer, parity, row, first element) of a SoftEx beat in a two-half
            buffer at ``base``."""
            diff = Signal(ow + 1, name="diff")
            m.d.comb += diff.eq(sx_off - base)
            rel = diff[:ow]
            inside = ~diff[ow]                # no borrow: at or above the base
            upper = rel >= half
            within = Signal(ow, name="within")
            m.d.comb += within.eq(Mux(upper, rel - half, rel))
            return (inside & (rel < 2 * half), upper, within >> log2_ss,
                    (within & ((1 << log2_ss) - 1)) >> 1)

        in_p, p_par, p_row, p_elem = position(p_addr)
        in_pb, pb_par, _, _ = position(pb_addr)
        in_s, s_par, _, _ = position(s_addr)
        sx_words = [self.softex_wdata[16 * j:16 * (j + 1)] for j in range(lanes)]
        sx_be = [self.softex_be[2 * j] for j in range(lanes)]

        def lane_sum(words, mask=None):
            total = 0
            for j in range(lanes):
                w = words[16 * j:16 * (j + 1)]
                total = total + (w if mask is None else Mux(mask[j], w, 0))
            return total

        def lane_xor(words, mask):
            total = 0
            for j in range(lanes):
                total = total ^ Mux(mask[j], words[16 * j:16 * (j + 1)], 0)
            return total

        # A run-A probability write waits (no grant) until the sequencer has taken its lanes.
        beat_taken = Signal()
        watch_sx = armed & ~gemm              # SoftEx takes no part in a checked GEMM
        run_a = watch_sx & self.softex_req & self.softex_we & in_p
        m.d.comb += self.softex_hold.eq(run_a & ~beat_taken)
        granted_a = watch_sx & self.softex_seen & self.softex_we & in_p
        granted_b = watch_sx & self.softex_seen & self.softex_we & in_pb
        with m.If(granted_a):
            m.d.sync += beat_taken.eq(0)
        be_lanes = Cat(*sx_be)
        beat_sum = Signal(wsum)
        beat_xor = Signal(16)
        m.d.comb += [beat_sum.eq(lane_sum(self.softex_wdata, be_lanes)),
                     beat_xor.eq(lane_xor(self.softex_wdata, be_lanes))]
        above_one = 0
        for j in range(lanes):
            above_one = above_one | (sx_be[j] & (sx_words[j] > 0x3F80))
        # score reads: the data comes one cycle after the grant
        s_pending = Signal()
        s_pending_par = Signal()
        m.d.sync += [s_pending.eq(watch_sx & self.softex_seen & ~self.softex_we & in_s),
                     s_pending_par.eq(s_par)]
        read_sum = Signal(wsum)
        m.d.comb += read_sum.eq(lane_sum(self.softex_rdata))
        read_now = s_pending & self.softex_rvalid

        # -- the sequencer: one micro-operation per cycle ----------------------------------------
        # A tap value is one micro-operation (two for the scale job's: |qs| to QA, the product
        # with kbar to the S residual); a SoftEx lane two (p to PA, the product with vbar to
        # the O residual).
        evaluating = Signal()
        tap_head = Signal(tap_entry)
        m.d.comb += tap_head.eq(tap_fifo.r_data)
        tap_index = Signal(range(L))
        tap_op = Signal()
        sx_index = Signal(range(lanes))
        prefer_sx = Signal()                  # take turns when both wait
        tap_event = tap_fifo.r_rdy & ~tap_head.close
        sx_event = run_a & ~beat_taken
        close_ready = tap_fifo.r_rdy & tap_head.close
        # The probabilities' sum of the SoftEx row in progress is kept in a register (pa_acc,
        # at S2) and added to the row's PA in one micro-operation (a flush) when SoftEx moves to
        # another row, before a tile closes and before VERIFY's scrub.
        pa_open = Signal()                    # a row's sum is open (issued, not yet flushed)
        pa_open_par = Signal()
        pa_open_row = Signal(row_bits)
        new_row = (p_par != pa_open_par) | (p_row != pa_open_row)
        flush = armed & pa_open & ((sx_event & new_row) | close_ready | verifying)
        use_tap = tap_event & ~(sx_event & prefer_sx) & ~flush
        use_sx = sx_event & ~use_tap & ~flush

        s1 = Signal(data.StructLayout({
            "valid": 1, "addr": range(rs_depth), "value": 32, "fp32": 1, "product": 1,
            "quantity": 2, "side": 2, "parity": 1, "row": side_bits, "column": index_bits,
            "pa_op": 2}))
        m.d.sync += s1.valid.eq(0)
        vec_addr = Signal(range(vec_words))
        m.d.comb += vec_rd.addr.eq(vec_addr)

        tap_values = Array(tap_head.values[32 * i:32 * (i + 1)] for i in range(L))
        tap_rows = Array(tap_head.rows[i] for i in range(L))
        sx_word = Array(sx_words)
        sx_lane = Array(sx_be)
        with m.If(~evaluating & armed):
            with m.If(flush):
                m.d.sync += [s1.valid.eq(1), s1.addr.eq(rs_index(pa_open_par, pa_open_row, PA)),
                             s1.pa_op.eq(PA_FLUSH), s1.side.eq(SIDE_NONE),
                             s1.parity.eq(pa_open_par), pa_open.eq(0)]
            with m.Elif(use_tap):
                last = tap_index == L - 1
                scale = tap_head.kind == K_SCALE
                value_done = ~scale | tap_op | ~tap_rows[tap_index]
                with m.If(tap_rows[tap_index]):
                    row_full = (tap_head.row + tap_index)[:side_bits]
                    row = row_full[:row_bits]
                    quantity = Mux(tap_head.kind == K_PV, RES_O,
                                   Mux(scale & ~tap_op, QA, RES_S))
                    m.d.sync += [
                        s1.valid.eq(1), s1.addr.eq(rs_index(tap_head.parity, row, quantity)),
                        s1.value.eq(tap_values[tap_index]), s1.fp32.eq(1),
                        s1.product.eq(scale & tap_op), s1.quantity.eq(quantity),
                        s1.pa_op.eq(PA_NONE),
                        s1.side.eq(Mux(scale, Mux(tap_op, SIDE_NONE, SIDE_QSUM),
                                       Mux(tap_head.kind == K_QK, SIDE_S, SIDE_O))),
                        s1.parity.eq(tap_head.parity), s1.row.eq(row),
                        s1.column.eq(tap_head.column)]
                    m.d.comb += vec_addr.eq(tap_head.column)
                    with m.If(gemm):      # the value to its row's entry, then its column's
                        m.d.sync += [
                            s1.addr.eq(Mux(tap_op, self.max_gemm + tap_head.column, row_full)),
                            s1.quantity.eq(RES_S), s1.product.eq(0),
                            s1.side.eq(Mux(tap_op, SIDE_NONE, SIDE_O)), s1.row.eq(row_full)]
                with m.If(value_done):
                    m.d.sync += [tap_op.eq(0), tap_index.eq(Mux(last, 0, tap_index + 1))]
                    with m.If(last):
                        m.d.comb += tap_fifo.r_en.eq(1)
                        m.d.sync += prefer_sx.eq(1)
                with m.Else():
                    m.d.sync += tap_op.eq(1)
            with m.Elif(use_sx):
                last = sx_index == lanes - 1
                with m.If(sx_lane[sx_index]):
                    elem = (p_elem + sx_index)[:index_bits]
                    m.d.sync += [
                        s1.valid.eq(1), s1.addr.eq(rs_index(p_par, p_row, RES_O)),
                        s1.value.eq(sx_word[sx_index]), s1.fp32.eq(0), s1.product.eq(1),
                        s1.quantity.eq(RES_O), s1.side.eq(SIDE_NONE),
                        s1.pa_op.eq(Mux(pa_open, PA_ADD, PA_START)),
                        s1.parity.eq(p_par), s1.row.eq(p_row), s1.column.eq(elem),
                        pa_open.eq(1), pa_open_par.eq(p_par), pa_open_row.eq(p_row)]
                    m.d.comb += vec_addr.eq(self.max_head_dim + elem)
                m.d.sync += sx_index.eq(Mux(last, 0, sx_index + 1))
                with m.If(last):
                    m.d.sync += [beat_taken.eq(1), prefer_sx.eq(0)]

        # S2: the term (the value, or its product with a checksum vector), placed; RAM read
        to_bf16 = FPConvert(FP32, BF16)
        cvt_ops = Signal(to_bf16.operand_layout)
        m.d.comb += cvt_ops.x.eq(s1.value)
        rounded = combinational(m, to_bf16, cvt_ops)
        word16 = Signal(16)
        m.d.comb += word16.eq(Mux(s1.fp32, rounded, s1.value[:16]))    # the value's BF16 word
        a_sign, a_sig, a_exp, a_special = _unpack(m, word16, BF16, "a")
        v_sign, v_sig, v_exp, v_special = _unpack(m, s1.value, FP32, "v")
        b_sign, b_sig, b_exp, b_special = _unpack(m, vec_rd.data, FP32, "b")
        prod_sig = Signal(32)
        m.d.comb += prod_sig.eq(a_sig * b_sig)
        # products are subtracted; QA takes magnitudes
        t_sign = Mux(s1.product, ~(a_sign ^ b_sign),
                     Mux(s1.quantity == QA, 0, Mux(s1.fp32, v_sign, a_sign)))
        t_sig = Mux(s1.product, prod_sig, Mux(s1.fp32, v_sig, a_sig))
        t_shift = Signal(signed(12))
        m.d.comb += t_shift.eq(Mux(s1.product, a_exp + b_exp, Mux(s1.fp32, v_exp, a_exp))
                               + fracs[s1.quantity])
        t_special = Mux(s1.product, a_special | b_special, Mux(s1.fp32, v_special, a_special))
        term, term_bad = fixed_point(m, t_sign, t_sig, t_shift, t_special, "term")
        # a probability's own term, into the open row's sum
        p_shift = Signal(signed(12))
        m.d.comb += p_shift.eq(a_exp + P_FRAC)
        p_term, p_bad = fixed_point(m, a_sign, a_sig, p_shift, a_special, "p_term")
        pa_acc = Signal(signed(ACC_BITS))
        with m.If(s1.valid):
            with m.Switch(s1.pa_op):
                with m.Case(PA_START):
                    m.d.sync += pa_acc.eq(p_term)
                with m.Case(PA_ADD):
                    m.d.sync += pa_acc.eq(pa_acc + p_term)
        flushing = s1.pa_op == PA_FLUSH
        bad = Mux(flushing, 0, term_bad | Mux(s1.pa_op == PA_NONE, 0, p_bad))
        s2 = Signal(data.StructLayout({"valid": 1, "addr": range(rs_depth), "term": ACC_BITS}))
        m.d.sync += [s2.valid.eq(s1.valid), s2.addr.eq(s1.addr),
                     s2.term.eq(Mux(flushing, pa_acc, term))]
        rs_rd_addr = Signal(range(rs_depth))
        m.d.comb += [rs_rd.addr.eq(rs_rd_addr)]
        with m.If(~evaluating):
            m.d.comb += rs_rd_addr.eq(s1.addr)

        # The O word sums' weights (shared with the scrub, which never runs beside a pv job).
        weight_x = Signal(17)
        weight_row = Signal(side_bits)
        weight_col = Signal(index_bits)
        by_row = Signal(side_bits + 17)
        by_col = Signal(index_bits + 17)
        m.d.comb += [weight_x.eq(word16), weight_row.eq(s1.row), weight_col.eq(s1.column),
                     by_row.eq(weight_row * weight_x), by_col.eq(weight_col * weight_x)]

        o_add = Signal()                      # add the weights' inputs to the O word sums
        o_col_extra = Signal(16)              # the scrub's second word's one extra column
        with m.If(o_add):
            m.d.sync += [o_plain.eq(o_plain + weight_x), o_row.eq(o_row + by_row),
                         o_col.eq(o_col + by_col + o_col_extra)]

        # S3: add, write back
        with m.If(s2.valid):
            m.d.comb += [rs_wr.addr.eq(s2.addr), rs_wr.en.eq(1),
                         rs_wr.data.eq(rs_rd.data + s2.term)]

        # The word sums and flags: the micro-operation's side (S2), SoftEx's beats
        tap_side = Mux(s1.valid, s1.side, SIDE_NONE)
        with m.If(tap_side == SIDE_O):
            m.d.comb += o_add.eq(1)
        # The balance's terms this cycle: the tap side's word (a score word times the reads, or a
        # Qs word), and SoftEx's (a read beat's data, minus; a probability write, plus for run
        # A and minus for run B; a read's data and a write's grant can meet in one cycle).
        tap_word = Signal(wsum)
        m.d.comb += tap_word.eq(Mux(tap_side == SIDE_S, word16 << log2_reads,
                                    Mux(tap_side == SIDE_QSUM, word16, 0)))
        sx_read_term = Signal(wsum)
        sx_write_term = Signal(wsum)
        m.d.comb += [sx_read_term.eq(Mux(read_now, -read_sum, 0)),
                     sx_write_term.eq(Mux(granted_a, beat_sum, Mux(granted_b, -beat_sum, 0)))]
        write_par = Mux(granted_a, p_par, pb_par)
        for p in range(2):
            mine = s1.parity == p
            m.d.sync += balance[p].eq(balance[p] + Mux(mine, tap_word, 0)
                                      + Mux(s_pending_par == p, sx_read_term, 0)
                                      + Mux(write_par == p, sx_write_term, 0))
            with m.If(s1.valid & bad & mine):
                m.d.sync += range_flag[p].eq(1)
            with m.If((granted_a | granted_b) & (write_par == p)):
                m.d.sync += p_xor[p].eq(p_xor[p] ^ beat_xor)
            with m.If(granted_a & (p_par == p) & above_one):
                m.d.sync += p_range_flag[p].eq(1)

        # -- the evaluator (tile close), ARM, RETILE and VERIFY ----------------------------------
        dma_addr = Signal(ow)
        dma_wdata = Signal(32)
        m.d.comb += [rq.addr.eq(self.mem_base + dma_addr), rq.be.eq(0b1111),
                     rq.wdata.eq(dma_wdata)]
        count = Signal(range(max(vec_depth, rs_depth, len(DESCRIPTOR)) + 2))
        sub = Signal(range(max(vec_depth, len(DESCRIPTOR), len(TILE_REPORT)) + 1))
        outstanding = Signal(2)                # reads granted, data not yet back
        err = Signal(8)
        tile_causes = Signal(len(CAUSES))
        head_causes = Signal(len(CAUSES))
        eval_row = Signal(range(self.max_rows + 1))
        eval_step = Signal(2)
        eval_par = Signal()
        tau_row = Signal(ACC_BITS + 1)        # the row's S threshold
        scrub_tile = Signal(range(self.max_tiles + 1))
        scrub_row = Signal(range(max_side + 1))
        scrub_word = Signal(range(max(self.max_head_dim, self.max_gemm) // 2 + 1))
        got_row = Signal(side_bits)
        got_col = Signal(index_bits)
        o_row_addr = Signal(ow)               # the scrub's row of O
        next_o_row = o_row_addr + (Const(1, ow) << log2_os)
        m.d.comb += evaluating.eq(0)
        granted = rq.granted & (rq.want_rd | rq.want_wr | rq.hold)
        read_back = rq.tcdm.rvalid
        m.d.sync += outstanding.eq(outstanding + (granted & ~rq.we) - read_back)

        def tile_rows(first):
            left = seq - first
            return Mux(left < rows_per_tile, left, rows_per_tile)

        def entry(tile, name):
            return report_addr + ((REPORT_TILES + tile * len(TILE_REPORT)
                                   + [n for n, _ in TILE_REPORT].index(name)) << 2)

        def signed_word(x):
            return Cat(x, x[-1].replicate(32 - len(x)))

        def arm():
            """The end of ARM: watch the head (or the GEMM) from a clean state."""
            m.d.sync += [armed.eq(1), count.eq(0), overrun.eq(0), next_tile.eq(0),
                         row0.eq(0), closes.eq(0), scale_parity.eq(0),
                         o_plain.eq(0), o_row.eq(0), o_col.eq(0)]
            m.d.comb += clear_state.eq(1)
            m.next = "FINISH"

        def start_close():
            m.d.sync += [eval_par.eq(tap_head.parity), eval_row.eq(0), eval_step.eq(0),
                         tile_causes.eq(0), count.eq(0)]
            m.next = "EVAL_WAIT"

        # A job may start while a tile closes: its start pulse waits here.
        job_pending = Signal()
        with m.If(rf.start):
            m.d.sync += job_pending.eq(1)
        with m.FSM(name="control") as control:
            with m.State("IDLE"):
                with m.If(rf.start | job_pending):
                    m.d.sync += job_pending.eq(0)
                    with m.Switch(rf.job.COMMAND.OP):
                        with m.Case(AbftOp.ARM, AbftOp.ARM_GEMM):
                            m.d.sync += [armed.eq(0), count.eq(0), sub.eq(0), err.eq(0),
                                         desc_bad.eq(0), dma_addr.eq(offset(rf.job.DESC_ADDR)),
                                         gemm.eq(rf.job.COMMAND.OP.as_value() == AbftOp.ARM_GEMM)]
                            m.next = "DESC"
                        with m.Case(AbftOp.VERIFY):
                            with m.If(~armed):
                                m.d.sync += err.eq(Cause.NOT_ARMED)
                                m.next = "FINISH"
                            with m.Else():
                                m.d.sync += [err.eq(0), verifying.eq(1)]
                                m.next = "DRAIN"
                        with m.Case(AbftOp.RETILE):
                            with m.If(~armed):
                                m.d.sync += err.eq(Cause.NOT_ARMED)
                            with m.Elif(rf.job.TILE.INDEX >= tiles):
                                m.d.sync += err.eq(Cause.BAD_TILE)
                            with m.Else():
                                m.d.sync += [err.eq(0), next_tile.eq(rf.job.TILE.INDEX),
                                             row0.eq(rf.job.TILE.ROW0),
                                             scale_parity.eq(rf.job.TILE.INDEX[0])]
                            m.next = "FINISH"
                        with m.Default():
                            m.d.sync += err.eq(Cause.BAD_CMD)
                            m.next = "FINISH"
                with m.Elif(close_ready & armed & ~pa_open):
                    start_close()

            # ARM: the descriptor, then the checksum vectors, then the row sums to zero
            with m.State("DESC"):
                m.d.comb += rq.want_rd.eq(~rq.hold & (count < len(DESCRIPTOR)))
                with m.If(rq.granted):
                    m.d.sync += [dma_addr.eq(dma_addr + 4), count.eq(count + 1)]
                with m.If(read_back):
                    with m.Switch(sub):
                        for i, (name, _) in enumerate(DESCRIPTOR):
                            with m.Case(i):
                                m.d.sync += loads(rq.tcdm.rdata)[name]
                                for tau_name, _, address in taus:
                                    if name == tau_name:
                                        m.d.comb += [vec_wr.en.eq(1), vec_wr.addr.eq(address),
                                                     vec_wr.data.eq(rq.tcdm.rdata)]
                    m.d.sync += sub.eq(sub + 1)
                    with m.If(sub == len(DESCRIPTOR) - 1):
                        m.next = "CHECK_DESC"
            with m.State("CHECK_DESC"):
                with m.If(desc_bad):
                    m.d.sync += err.eq(Cause.BAD_DESC)
                    m.next = "FINISH"
                with m.Elif(gemm):                  # the output is one tile
                    m.d.sync += [count.eq(0), sub.eq(0), rows_per_tile.eq(seq), tiles.eq(1)]
                    m.next = "ZERO"
                with m.Else():
                    m.d.sync += [count.eq(0), sub.eq(0), dma_addr.eq(kbar_addr)]
                    m.next = "VECTORS"
            with m.State("VECTORS"):
                total = hd + seq
                m.d.comb += rq.want_rd.eq(~rq.hold & (count < total))
                with m.If(rq.granted):
                    m.d.sync += [count.eq(count + 1),
                                 dma_addr.eq(Mux(count + 1 == hd, vbar_addr, dma_addr + 4))]
                with m.If(read_back):
                    m.d.comb += [vec_wr.en.eq(1), vec_wr.data.eq(rq.tcdm.rdata),
                                 vec_wr.addr.eq(Mux(sub < hd, sub,
                                                    self.max_head_dim + (sub - hd)))]
                    m.d.sync += sub.eq(sub + 1)
                    with m.If(sub + 1 == total):
                        m.d.sync += [sub.eq(0), count.eq(0)]
                        m.next = "ZERO"
            with m.State("ZERO"):
                m.d.comb += [rs_wr.en.eq(1), rs_wr.addr.eq(count), rs_wr.data.eq(0)]
                m.d.sync += count.eq(count + 1)
                with m.If(count == rs_depth - 1):
                    m.d.sync += [count.eq(0), sub.eq(0), dma_addr.eq(kbar_addr)]
                    with m.If(gemm):
                        m.next = "REFS"
                    with m.Else():
                        arm()
            # ARM_GEMM: the references (minus each row's and column's sum) into the entries
            with m.State("REFS"):
                total = seq + hd
                m.d.comb += rq.want_rd.eq(~rq.hold & (count < total))
                with m.If(rq.granted):
                    m.d.sync += [count.eq(count + 1), dma_addr.eq(dma_addr + 4)]
                with m.If(read_back):
                    m.d.comb += [rs_wr.en.eq(1), rs_wr.data.eq(rq.tcdm.rdata.as_signed()),
                                 rs_wr.addr.eq(Mux(sub < seq, sub, self.max_gemm + (sub - seq)))]
                    m.d.sync += sub.eq(sub + 1)
                    with m.If(sub + 1 == total):
                        arm()

            # tile close: wait for the pipeline, then rows x quantities
            with m.State("EVAL_WAIT"):
                m.d.comb += evaluating.eq(1)
                m.d.sync += count.eq(count + 1)
                with m.If(count == 3):
                    m.d.sync += count.eq(0)
                    with m.If(gemm):
                        m.next = "GEMM_TAU"
                    with m.Else():
                        m.next = "EVAL_READ"
            # The comparison of a row sum (read in the cycle before) with its threshold. A GEMM
            # close keeps eval_step at 0 (QA): the value itself against TAU_S's word.
            quantity = Array(Const(q, 2) for q in EVAL_ORDER)[eval_step]
            tau_address = Array(Const(next((a for _, q_, a in taus if q_ == q), 0),
                                      range(vec_words)) for q in EVAL_ORDER)[eval_step]
            value = rs_rd.data.as_signed()
            x = Signal(signed(ACC_BITS + 1))
            m.d.comb += x.eq(Mux(quantity == PA, value - (1 << P_FRAC), value))
            magnitude = Mux(x < 0, -x, x).as_unsigned()
            tau = vec_rd.data[:TAU_BITS]               # the quantity's (RES_S: unused)
            fails = magnitude > Mux(quantity == RES_S, tau_row, tau)
            with m.State("EVAL_READ"):
                m.d.comb += [evaluating.eq(1),
                             rs_rd_addr.eq(rs_index(eval_par, eval_row, quantity)),
                             vec_addr.eq(tau_address)]
                m.next = "EVAL_TAKE"
            with m.State("EVAL_TAKE"):
                m.d.comb += [evaluating.eq(1), rs_wr.en.eq(1), rs_wr.data.eq(0),
                             rs_wr.addr.eq(rs_index(eval_par, eval_row, quantity))]
                bits = Mux(quantity == RES_S, _cause("S_RESIDUAL"),
                           Mux(quantity == PA, _cause("P_SUM"), _cause("O_RESIDUAL")))
                with m.If(quantity == QA):
                    m.d.sync += tau_row.eq(value.as_unsigned() + tau)
                with m.Elif(fails):
                    m.d.sync += tile_causes.eq(tile_causes | bits)
                m.d.sync += eval_step.eq(eval_step + 1)
                with m.If(eval_step == 3):
                    m.d.sync += eval_row.eq(eval_row + 1)
                    with m.If(eval_row + 1 >= tile_rows(row0)):
                        m.d.sync += dma_addr.eq(qsum_addr + (next_tile << 2))
                        m.next = "QSUM"
                    with m.Else():
                        m.next = "EVAL_READ"
                with m.Else():
                    m.next = "EVAL_READ"
            # GEMM close: every row's entry (0 ..), then every column's (max_gemm ..), each read
            # in the cycle before it is compared and cleared; the threshold stays addressed
            gemm_entries = 2 * self.max_gemm
            with m.State("GEMM_TAU"):
                m.d.comb += [evaluating.eq(1), vec_addr.eq(tau_address), rs_rd_addr.eq(0)]
                m.next = "GEMM_SCAN"
            with m.State("GEMM_SCAN"):
                entry_index = count[:(gemm_entries - 1).bit_length()]
                column = entry_index >= self.max_gemm
                used = Mux(column, entry_index - self.max_gemm < hd, entry_index < seq)
                m.d.comb += [evaluating.eq(1), vec_addr.eq(tau_address),
                             rs_rd_addr.eq(count + 1),
                             rs_wr.en.eq(1), rs_wr.addr.eq(count), rs_wr.data.eq(0)]
                last = count == gemm_entries - 1
                m.d.sync += [count.eq(count + 1),
                             tile_causes.eq(tile_causes
                                            | Mux(used & fails, Mux(column, _cause("GEMM_COL"),
                                                                    _cause("GEMM_ROW")), 0)
                                            | Mux(last & range_flag[0], _cause("RANGE"), 0))]
                with m.If(last):
                    m.d.sync += [count.eq(0), sub.eq(0), dma_addr.eq(entry(next_tile, "CAUSES")),
                                 range_flag[0].eq(0)]
                    m.next = "TILE_REPORT"
            with m.State("QSUM"):                   # the tile's encoded Q word sum: the balance
                m.d.comb += [evaluating.eq(1), rq.want_rd.eq(~rq.hold & (count == 0))]
                with m.If(rq.granted):
                    m.d.sync += count.eq(1)
                p = eval_par
                with m.If(read_back):
                    words_ok = Array(balance)[p] == rq.tcdm.rdata[:wsum]
                    bits = (Mux(~words_ok, _cause("WORDS"), 0)
                            | Mux(Array(p_xor)[p] != 0, _cause("P_REPEAT"), 0)
                            | Mux(Array(range_flag)[p], _cause("RANGE"), 0)
                            | Mux(Array(p_range_flag)[p], _cause("P_RANGE"), 0))
                    m.d.sync += [tile_causes.eq(tile_causes | bits), count.eq(0), sub.eq(0),
                                 dma_addr.eq(entry(next_tile, "CAUSES"))]
                    for par in range(2):
                        with m.If(p == par):
                            m.d.sync += [balance[par].eq(0), p_xor[par].eq(0),
                                         range_flag[par].eq(0), p_range_flag[par].eq(0)]
                    m.next = "TILE_REPORT"
            with m.State("TILE_REPORT"):           # causes, then the O word sums
                m.d.comb += [evaluating.eq(1), rq.want_wr.eq(~rq.hold),
                             dma_wdata.eq(Array([tile_causes, o_plain, o_row, o_col])[sub[:2]])]
                with m.If(rq.granted):
                    m.d.sync += [sub.eq(sub + 1), dma_addr.eq(dma_addr + 4)]
                    with m.If(sub == 3):
                        m.d.sync += [next_tile.eq(next_tile + 1),
                                     row0.eq(row0 + tile_rows(row0)), closes.eq(closes + 1),
                                     o_plain.eq(0), o_row.eq(0), o_col.eq(0)]
                        m.d.comb += tap_fifo.r_en.eq(1)          # the close item
                        m.next = "AFTER_CLOSE"
            with m.State("AFTER_CLOSE"):
                with m.If(verifying):
                    m.next = "DRAIN"
                with m.Else():
                    m.next = "IDLE"

            # VERIFY: let the queue drain (closing tiles), then tile by tile read O back
            with m.State("DRAIN"):
                with m.If(close_ready & ~pa_open):
                    start_close()
                with m.Elif(~tap_fifo.r_rdy & ~pa_open & ~s1.valid & ~s2.valid):
                    m.d.sync += [scrub_tile.eq(0), head_causes.eq(0), row0.eq(0),
                                 o_row_addr.eq(o_addr)]
                    m.next = "SCRUB_TILE"
            with m.State("SCRUB_TILE"):             # read the tile's causes and written sums
                m.d.sync += [sub.eq(0), count.eq(0), dma_addr.eq(entry(scrub_tile, "CAUSES")),
                             scrub_row.eq(0), scrub_word.eq(0)]
                with m.If(scrub_tile == tiles):
                    m.d.sync += dma_addr.eq(report_addr)
                    m.next = "REPORT"
                with m.Else():
                    m.next = "SCRUB_ENTRY"
            with m.State("SCRUB_ENTRY"):
                m.d.comb += rq.want_rd.eq(~rq.hold & (count < 4))
                with m.If(rq.granted):
                    m.d.sync += [count.eq(count + 1), dma_addr.eq(dma_addr + 4)]
                with m.If(read_back):
                    minus = (-rq.tcdm.rdata)[:wsum]
                    with m.Switch(sub):
                        with m.Case(0):       # the close's causes (not a former VERIFY's)
                            m.d.sync += tile_causes.eq(rq.tcdm.rdata & ~_cause("O_SIGNATURE"))
                        with m.Case(1):
                            m.d.sync += o_plain.eq(minus)
                        with m.Case(2):
                            m.d.sync += o_row.eq(minus)
                        with m.Case(3):
                            m.d.sync += o_col.eq(minus)
                    m.d.sync += sub.eq(sub + 1)
                    with m.If(sub == 3):
                        m.d.sync += [count.eq(0), dma_addr.eq(o_row_addr)]
                        m.next = "SCRUB_READ"
            with m.State("SCRUB_READ"):
                words = hd >> 1
                more = scrub_row < tile_rows(row0)
                m.d.comb += rq.want_rd.eq(~rq.hold & more)
                m.d.sync += [got_row.eq(scrub_row), got_col.eq(scrub_word << 1)]
                with m.If(rq.granted):
                    with m.If(scrub_word + 1 == words):
                        m.d.sync += [scrub_word.eq(0), scrub_row.eq(scrub_row + 1),
                                     o_row_addr.eq(next_o_row), dma_addr.eq(next_o_row)]
                    with m.Else():
                        m.d.sync += [scrub_word.eq(scrub_word + 1), dma_addr.eq(dma_addr + 4)]
                with m.If(read_back):
                    w0, w1 = rq.tcdm.rdata[:16], rq.tcdm.rdata[16:]
                    pair = w0 + w1
                    m.d.comb += [weight_x.eq(pair), weight_row.eq(got_row),
                                 weight_col.eq(got_col)]
                    m.d.comb += [o_add.eq(1), o_col_extra.eq(w1)]
                with m.If(~more & (outstanding == 0) & ~rq.hold & ~read_back):
                    m.d.sync += [sub.eq(0), dma_addr.eq(entry(scrub_tile, "CAUSES"))]
                    m.next = "SCRUB_WRITE"
            with m.State("SCRUB_WRITE"):            # causes (+ O_SIGNATURE), then residuals
                mismatch = (o_plain != 0) | (o_row != 0) | (o_col != 0)
                causes_now = tile_causes | Mux(mismatch, _cause("O_SIGNATURE"), 0)
                residuals = Array([causes_now, signed_word(o_plain), signed_word(o_row),
                                   signed_word(o_col)])
                m.d.comb += [rq.want_wr.eq(~rq.hold), dma_wdata.eq(residuals[sub[:2]])]
                with m.If(rq.granted):
                    m.d.sync += [sub.eq(sub + 1),
                                 dma_addr.eq(Mux(sub == 0, entry(scrub_tile, "RES_PLAIN"),
                                                 dma_addr + 4))]
                    with m.If(sub == 3):
                        m.d.sync += [head_causes.eq(head_causes | causes_now),
                                     scrub_tile.eq(scrub_tile + 1),
                                     row0.eq(row0 + tile_rows(row0))]
                        m.next = "SCRUB_TILE"
            with m.State("REPORT"):
                final = (head_causes | Mux(overrun, _cause("OVERRUN"), 0)
                         | Mux(closes < tiles, _cause("INCOMPLETE"), 0))
                m.d.comb += [rq.want_wr.eq(~rq.hold),
                             dma_wdata.eq(Mux(sub == 0, final, closes))]
                with m.If(rq.granted):
                    m.d.sync += [sub.eq(sub + 1), dma_addr.eq(dma_addr + 4)]
                    with m.If(sub == 1):
                        m.d.sync += [err.eq(Mux(final != 0, Cause.CHECK_FAILED, 0)),
                                     verifying.eq(0), row0.eq(0), next_tile.eq(tiles),
                                     o_plain.eq(0), o_row.eq(0), o_col.eq(0)]
                        m.next = "FINISH"
            with m.State("FINISH"):
                with m.If(~rq.hold & (outstanding == 0)):
                    m.d.comb += [rf.done.eq(1), rf.error.eq(err)]
                    m.next = "IDLE"

        # For testbenches: the control state and the row-sum RAM.
        self.control_state = control.state
        self.row_sums = row_sums
        with m.If(clear_state):
            for p in range(2):
                m.d.sync += [balance[p].eq(0), p_xor[p].eq(0), range_flag[p].eq(0),
                             p_range_flag[p].eq(0)]
        with m.If(clear_state | rf.clear):
            m.d.sync += pa_open.eq(0)
        with m.If(rf.clear):
            m.d.sync += [armed.eq(0), beat_taken.eq(0)]
        return m
