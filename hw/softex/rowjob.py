"""The row-job front end shared by the SoftEx engines (:class:`~hw.softex.softmax.SoftmaxEngine`,
:class:`~hw.softex.lut_softmax.LutSoftmaxEngine`): both run jobs of ROWS.COUNT rows programmed
in the register file ``softex_map``, read a row in beats of one element per lane and write it
back through one ``lanes * 16``-bit scratchpad port.

- :class:`RowJob` latches the job at ``start``, checks every row (error causes BAD_CMD,
  BAD_LENGTH, BAD_ALIGN, BAD_ADDR), runs the rows one after the other (the addresses advance by
  their strides) and hands each checked row to the engine's controller (``run`` ... ``finish``).
- :class:`RowPort` is the memory side of a row: the requester (:class:`hw.bus.TCDMRequester`),
  beat counters and addresses, lane masks, the read beats towards the datapath and the output
  pass (writes of the output FIFO first, reads bounded by credits), and the state slot.
- :class:`ElementDecoder` is the first datapath stage of both engines: a read beat as L BF16
  elements (int8 converted exactly).

:class:`RowSignature` connects the first two. :func:`comb_op` instantiates a latency-0
arithmetic operator as a combinational function.
"""

from contextlib import contextmanager

from amaranth import C, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..bus import TCDMRequester, TCDMSignature
from ..fp import IntToFloat
from ..fp.format import BF16
from .regmap import LENGTH_BITS, ROWS_BITS, Cause, ElemFormat

__all__ = ["LANE_CHOICES", "NEG_INF", "comb_op", "state_or_clear", "beat_layout",
           "RowSignature", "RowJob", "RowPort", "ElementDecoder"]

#: Lane counts of the SoftEx engines (port of ``16 * lanes`` bits).
LANE_CHOICES = (4, 8, 16, 32)
#: BF16 -inf (the element of a masked lane).
NEG_INF = 0xFF80


def comb_op(m, op, name):
    """Instantiate a latency-0 PipelinedOp ``op`` as submodule ``name`` of ``m``, always valid
    and ready: a combinational function of its input payload. Returns ``op``."""
    m.submodules[name] = op
    m.d.comb += [op.i.valid.eq(1), op.o.ready.eq(1)]
    return op


@contextmanager
def state_or_clear(m, name, clear, idle):
    """``m.State(name)`` of the FSM being built in ``m``, left for state ``idle`` when ``clear``
    (a soft clear overrides the state's own ``m.next``)."""
    with m.State(name):
        yield
        with m.If(clear):
            m.next = idle


def _log2(lanes):
    return lanes.bit_length() - 1


def beat_layout(lanes, tag_width=0):
    """Payload of the beats read (:attr:`RowPort.beat`): ``data`` (the port word), ``lanes``
    (bit j: lane j lies inside the row), ``half`` (int8: the half of the word holding the
    elements) and, with ``tag_width``, ``tag`` (the tag of the read)."""
    fields = {"data": 16 * lanes, "lanes": lanes, "half": 1}
    if tag_width:
        fields["tag"] = tag_width
    return data.StructLayout(fields)


class RowSignature(wiring.Signature):
    """The running row of a job, from :class:`RowJob` to :class:`RowPort`.

    A beat holds one element per lane: ``2 * lanes`` bytes for BF16 (the whole port word) or
    ``lanes`` bytes for int8 (one half of the port word).

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat.
    addr_width : :class:`int`
        Width of the scratchpad byte addresses.
    slot : :class:`bool`
        Whether rows have a state slot (member ``slot_addr``).

    Members
    -------
    in_addr : :py:`Out(addr_width)`
        Byte address of the row's input.
    out_addr : :py:`Out(addr_width)`
        Byte address of the row's output.
    slot_addr : :py:`Out(addr_width)`
        Byte address of the row's 8-byte state slot (only with ``slot``).
    in_int8 : :py:`Out(1)`
        The input elements are int8 (else BF16).
    out_int8 : :py:`Out(1)`
        The output elements are int8 (else BF16).
    first_lane : :py:`Out(log2(lanes))`
        Lane of the row's first element.
    beats : :py:`Out(LENGTH_BITS)`
        Beats of the row (set by the row's check).
    last_lanes : :py:`Out(range(lanes + 1))`
        Elements in the row's last beat (set by the row's check).
    restart : :py:`Out(1)`
        A row begins: beat counters and the datapath's row state return to their start.
    """

    def __init__(self, lanes, *, addr_width, slot):
        self.lanes = lanes
        self.addr_width = addr_width
        self.slot = slot
        members = {"in_addr": Out(addr_width), "out_addr": Out(addr_width)}
        if slot:
            members["slot_addr"] = Out(addr_width)
        members.update({
            "in_int8": Out(1),
            "out_int8": Out(1),
            "first_lane": Out(_log2(lanes)),
            "beats": Out(LENGTH_BITS),
            "last_lanes": Out(range(lanes + 1)),
            "restart": Out(1),
        })
        super().__init__(members)

    def __eq__(self, other):
        return (isinstance(other, RowSignature) and self.lanes == other.lanes
                and self.addr_width == other.addr_width and self.slot == other.slot)

    def __repr__(self):
        return (f"RowSignature({self.lanes}, addr_width={self.addr_width}, "
                f"slot={self.slot})")


class RowJob(wiring.Component):
    """Job latch, checks and row loop of a SoftEx engine.

    The job of the register file is latched at ``start``. Each row is checked (state CHECK;
    the engine adds its verdict on COMMAND in ``bad_command``) and, without an error, handed
    to the engine's controller: ``run`` for one cycle, then the controller raises ``finish``
    in the row's last cycle. The row ends (state DONE, ``row_end``) one cycle later: after the
    last row or a failed one the job is done, else the addresses advance by their strides and
    the next row is checked. A soft clear (``clear``) returns to IDLE from any state.

    Parameters
    ----------
    job_layout : :class:`~amaranth.lib.data.StructLayout`
        Layout of the register file's job registers (``softex_map().job_layout``).
    lanes : :class:`int`
        Elements per beat.
    addr_width : :class:`int`
        Width of the scratchpad byte addresses.
    mem_base, mem_size : :class:`int`
        The scratchpad window every buffer must lie in (else BAD_ADDR).
    slot : :class:`bool`
        Whether the engine uses the state slot (SLOT_ADDR, SLOT_STRIDE; member ``uses_slot``).

    Members
    -------
    start : :py:`In(1)`
        The register file starts the job in ``programmed``.
    clear : :py:`In(1)`
        Soft clear.
    programmed : :py:`In(job_layout)`
        The job registers of the register file.
    job : :py:`Out(job_layout)`
        The running job; its addresses are those of the running row.
    bad_command : :py:`In(1)`
        The engine rejects COMMAND (BAD_CMD; unknown element formats are rejected here).
    uses_out : :py:`In(1)`
        The job writes at OUT_ADDR (its alignment and window are checked).
    uses_slot : :py:`In(1)`
        The job reads or writes the slot (only with ``slot``).
    row : :py:`Out(RowSignature(lanes, addr_width=addr_width, slot=slot))`
        The running row.
    run : :py:`Out(1)`
        The checked row has no error: the engine's controller starts it.
    finish : :py:`In(1)`
        The engine's controller leaves the row's last state.
    row_end : :py:`Out(1)`
        The last cycle of a row (state DONE).
    row_ok : :py:`Out(1)`
        The last cycle of a row without error.
    done : :py:`Out(1)`
        The job ends (to the register file).
    cause : :py:`Out(8)`
        Error cause of the job (0: none; to the register file).
    """

    def __init__(self, job_layout, lanes, *, addr_width, mem_base, mem_size, slot):
        self.lanes = lanes
        self.addr_width = addr_width
        self.mem_base = mem_base
        self.mem_size = mem_size
        self.slot = slot
        members = {
            "start": In(1),
            "clear": In(1),
            "programmed": In(job_layout),
            "job": Out(job_layout),
            "bad_command": In(1),
            "uses_out": In(1),
        }
        if slot:
            members["uses_slot"] = In(1)
        members.update({
            "row": Out(RowSignature(lanes, addr_width=addr_width, slot=slot)),
            "run": Out(1),
            "finish": In(1),
            "row_end": Out(1),
            "row_ok": Out(1),
            "done": Out(1),
            "cause": Out(8),
        })
        super().__init__(members)

    def _cause(self, m):
        """The error cause of the running row (0: none), combinational."""
        lanes, lane_bits = self.lanes, _log2(self.lanes)
        job, row = self.job, self.row
        cmd = job.COMMAND
        elems = job.LENGTH.ELEMS
        in_addr, out_addr = job.IN_ADDR, job.OUT_ADDR
        in8, out8 = row.in_int8, row.out_int8
        out_first_lane = Mux(out8, out_addr[:lane_bits], out_addr[1:lane_bits + 1])
        low, high = self.mem_base, self.mem_base + self.mem_size

        def outside(addr, nbytes):
            return (addr < low) | (addr + nbytes > high)

        bad_command = ((cmd.IN_FMT.as_value() > ElemFormat.INT8)
                       | (cmd.OUT_FMT.as_value() > ElemFormat.INT8) | self.bad_command)
        bad_length = (elems == 0) | (job.ROWS.COUNT == 0)
        bad_align = ((in_addr[0] & ~in8)
                     | (self.uses_out & ((out_addr[0] & ~out8)
                                         | (out_first_lane != row.first_lane))))
        bad_addr = (outside(in_addr, Mux(in8, elems, elems * 2))
                    | (self.uses_out & outside(out_addr, Mux(out8, elems, elems * 2))))
        if self.slot:
            slot_addr = job.SLOT_ADDR
            bad_align |= self.uses_slot & (slot_addr[:3] != 0)
            bad_addr |= self.uses_slot & outside(slot_addr, 8)
        cause = Signal(8, name="row_cause")
        m.d.comb += cause.eq(Mux(bad_command, Cause.BAD_CMD, Mux(bad_length, Cause.BAD_LENGTH,
                             Mux(bad_align, Cause.BAD_ALIGN, Mux(bad_addr, Cause.BAD_ADDR, 0)))))
        return cause

    def elaborate(self, platform):
        m = Module()
        lanes, lane_bits = self.lanes, _log2(self.lanes)
        job, row, clear = self.job, self.row, self.clear
        with m.If(self.start):
            m.d.sync += job.eq(self.programmed)
        cmd = job.COMMAND
        elems = job.LENGTH.ELEMS
        in_addr = job.IN_ADDR
        in8 = cmd.IN_FMT.as_value() == ElemFormat.INT8
        first_lane = Mux(in8, in_addr[:lane_bits], in_addr[1:lane_bits + 1])
        m.d.comb += [row.in_addr.eq(in_addr), row.out_addr.eq(job.OUT_ADDR),
                     row.in_int8.eq(in8),
                     row.out_int8.eq(cmd.OUT_FMT.as_value() == ElemFormat.INT8),
                     row.first_lane.eq(first_lane)]
        if self.slot:
            m.d.comb += row.slot_addr.eq(job.SLOT_ADDR)
        cause_now = self._cause(m)
        beats_now = ((first_lane + elems + (lanes - 1)) >> lane_bits)[:LENGTH_BITS]

        row_index = Signal(ROWS_BITS)                     # the running row of the job
        last_row = (self.cause != 0) | (row_index == job.ROWS.COUNT - 1)
        m.d.comb += self.row_ok.eq(self.row_end & (self.cause == 0))

        def state(name):                                  # soft clear: back to IDLE
            return state_or_clear(m, name, clear, "IDLE")

        with m.FSM(name="row"):
            with state("IDLE"):
                with m.If(self.start & ~clear):
                    m.d.sync += [self.cause.eq(0), row_index.eq(0)]
                    m.d.comb += row.restart.eq(1)
                    m.next = "CHECK"
            with state("CHECK"):
                m.d.sync += [self.cause.eq(cause_now), row.beats.eq(beats_now),
                             row.last_lanes.eq(((first_lane + elems - 1) & (lanes - 1)) + 1)]
                with m.If(cause_now != 0):
                    m.next = "DONE"
                with m.Else():
                    m.d.comb += self.run.eq(1)
                    m.next = "RUN"
            with state("RUN"):
                with m.If(self.finish):
                    m.next = "DONE"
            with state("DONE"):
                m.d.comb += [self.row_end.eq(1), self.done.eq(last_row)]
                with m.If(last_row):
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [in_addr.eq(in_addr + job.IN_STRIDE),
                                 job.OUT_ADDR.eq(job.OUT_ADDR + job.OUT_STRIDE),
                                 row_index.eq(row_index + 1)]
                    if self.slot:
                        m.d.sync += job.SLOT_ADDR.eq(job.SLOT_ADDR + job.SLOT_STRIDE)
                    m.d.comb += row.restart.eq(1)
                    m.next = "CHECK"
        return m


class RowPort(wiring.Component):
    """The memory side of a row: requests of the row's beats and slot on the scratchpad port.

    A request not granted is held (even across a soft clear, see
    :class:`hw.bus.TCDMRequester`); one left over from an aborted job is stale and its grant
    does not count (``ok``). A beat holds one element per lane; its lanes outside the row are
    masked (``beat.payload.lanes``, and the byte enables of writes).

    In the read pass (``read``) the row's beats are read in order, one per grant. In the output
    pass (``write``) reads and writes share the port: a beat waiting in the output FIFO
    (``output``) is written first, and a read is issued only while fewer than ``fifo_depth``
    beats are read but not written (credits), so the datapath never blocks. ``rewind`` starts
    the next pass at beat 0. The data of every granted read leaves one cycle later on ``beat``
    with its lane mask, the half of the word holding int8 elements and the ``tag`` of its
    request.

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat (port of ``16 * lanes`` bits).
    addr_width : :class:`int`
        Width of the scratchpad byte addresses.
    fifo_depth : :class:`int`
        Depth of the output FIFO: the credits of the output pass.
    slot : :class:`bool`
        Whether rows have an 8-byte state slot (members ``slot_load``, ``slot_save``,
        ``slot_word``, ``slot_data``).
    tag_width : :class:`int`
        Width of the tag passed with each read (0: none).

    Members
    -------
    tcdm : :py:`Out(TCDMSignature(addr_width=addr_width, data_width=16 * lanes))`
        The scratchpad port.
    row : :py:`In(RowSignature(lanes, addr_width=addr_width, slot=slot))`
        The running row.
    clear : :py:`In(1)`
        Soft clear.
    read : :py:`In(1)`
        Read pass: request the next beat of the row.
    write : :py:`In(1)`
        Output pass: write the FIFO's next beat, or read the next beat within the credits.
    rewind : :py:`In(1)`
        Read and write beat counters back to 0.
    tag : :py:`In(tag_width)`
        Tag of the read requested (only with ``tag_width``).
    slot_load : :py:`In(1)`
        Request a read of the slot (only with ``slot``).
    slot_save : :py:`In(1)`
        Request a write of ``slot_word`` to the slot (only with ``slot``).
    slot_word : :py:`In(64)`
        The slot's contents to write (only with ``slot``).
    slot_data : :py:`Out(64)`
        The slot read in the previous cycle (only with ``slot``).
    output : :py:`In(stream.Signature(16 * lanes))`
        The output FIFO's read side: port words to write in the output pass.
    beat : :py:`Out(stream.Signature(beat_layout(lanes, tag_width), always_ready=True))`
        The data of a beat read in the previous cycle (:func:`beat_layout`).
    ok : :py:`Out(1)`
        A grant of this job's request.
    granted : :py:`Out(1)`
        A grant of any request.
    read_done : :py:`Out(1)`
        Read pass: the grant of the row's last beat.
    write_done : :py:`Out(1)`
        Output pass: the grant of the write of the row's last beat.
    """

    def __init__(self, lanes, *, addr_width, fifo_depth, slot=False, tag_width=0):
        self.lanes = lanes
        self.addr_width = addr_width
        self.fifo_depth = fifo_depth
        self.slot = slot
        self.tag_width = tag_width
        members = {
            "tcdm": Out(TCDMSignature(addr_width=addr_width, data_width=16 * lanes)),
            "row": In(RowSignature(lanes, addr_width=addr_width, slot=slot)),
            "clear": In(1),
            "read": In(1),
            "write": In(1),
            "rewind": In(1),
        }
        if tag_width:
            members["tag"] = In(tag_width)
        if slot:
            members.update({"slot_load": In(1), "slot_save": In(1), "slot_word": In(64),
                            "slot_data": Out(64)})
        members.update({
            "output": In(stream.Signature(16 * lanes)),
            "beat": Out(stream.Signature(beat_layout(lanes, tag_width), always_ready=True)),
            "ok": Out(1),
            "granted": Out(1),
            "read_done": Out(1),
            "write_done": Out(1),
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        lanes, lane_bits = self.lanes, _log2(self.lanes)
        beat_bits = lane_bits + 1                        # log2 of the beat size in bytes
        aw = self.addr_width
        row, port = self.row, self.tcdm
        in8, out8 = row.in_int8, row.out_int8
        requester = TCDMRequester.attach(m, port, self.clear)
        hold = requester.hold
        m.d.comb += [self.ok.eq(requester.ok), self.granted.eq(requester.granted)]

        def base(addr, is8):                             # the beat holding the first element
            return Mux(is8, Cat(C(0, lane_bits), addr[lane_bits:aw]),
                       Cat(C(0, beat_bits), addr[beat_bits:aw]))

        def beat_addr(addr, is8, beat):
            return (base(addr, is8) + Mux(is8, beat << lane_bits, beat << beat_bits))[:aw]

        def port_word(a):                                # port word of byte address a
            return Cat(C(0, beat_bits), a[beat_bits:aw])

        def lane_mask(beat):
            return Cat(((beat != 0) | (j >= row.first_lane))
                       & ((beat != row.beats - 1) | (j < row.last_lanes)) for j in range(lanes))

        read_beat = Signal(LENGTH_BITS)                  # next beat to read
        write_beat = Signal(LENGTH_BITS)                 # next beat to write
        read_addr = beat_addr(row.in_addr, in8, read_beat)
        m.d.comb += [self.read_done.eq(self.ok & (read_beat == row.beats - 1)),
                     self.write_done.eq(self.ok & requester.we
                                        & (write_beat == row.beats - 1))]

        # -- the beat read: one cycle after its grant -------------------------------------
        read_pending = Signal()
        read_lanes = Signal(lanes)                       # lanes of the beat inside the row
        read_half = Signal()                             # int8: upper half of the port word
        beat_granted = (requester.granted & (self.read | self.write) & ~requester.we
                        & ~requester.stale & ~self.clear)
        m.d.sync += read_pending.eq(beat_granted)
        with m.If(beat_granted):
            m.d.sync += [read_lanes.eq(lane_mask(read_beat)), read_half.eq(read_addr[lane_bits])]
        beat = self.beat.payload
        m.d.comb += [beat.data.eq(port.rdata), beat.lanes.eq(read_lanes),
                     beat.half.eq(read_half), self.beat.valid.eq(read_pending & port.rvalid)]
        if self.tag_width:
            read_tag = Signal(self.tag_width)
            with m.If(beat_granted):
                m.d.sync += read_tag.eq(self.tag)
            m.d.comb += beat.tag.eq(read_tag)

        # -- requests ---------------------------------------------------------------------
        with m.If(self.read):
            m.d.comb += [requester.want_rd.eq(~hold & (read_beat != row.beats)),
                         requester.addr.eq(port_word(read_addr))]
            with m.If(self.ok):
                m.d.sync += read_beat.eq(read_beat + 1)
        with m.If(self.write):
            write_addr = beat_addr(row.out_addr, out8, write_beat)
            write_lanes = lane_mask(write_beat)
            credit = (read_beat - write_beat)[:LENGTH_BITS] < self.fifo_depth
            m.d.comb += [requester.want_wr.eq(~hold & self.output.valid),
                         requester.want_rd.eq(~hold & ~self.output.valid
                                              & (read_beat != row.beats) & credit)]
            with m.If(requester.we):
                m.d.comb += [requester.addr.eq(port_word(write_addr)),
                             requester.wdata.eq(self.output.payload),
                             requester.be.eq(_byte_enables(out8, write_addr[lane_bits],
                                                           write_lanes))]
            with m.Else():
                m.d.comb += requester.addr.eq(port_word(read_addr))
            with m.If(self.ok):
                with m.If(requester.we):
                    m.d.comb += self.output.ready.eq(1)
                    m.d.sync += write_beat.eq(write_beat + 1)
                with m.Else():
                    m.d.sync += read_beat.eq(read_beat + 1)
        if self.slot:
            self._slot(m, requester, port_word(row.slot_addr))
        with m.If(self.rewind | row.restart):
            m.d.sync += [read_beat.eq(0), write_beat.eq(0)]
        with m.If(self.clear):
            m.d.sync += read_pending.eq(0)
        return m

    def _slot(self, m, requester, slot_base):
        """Slot requests (states LOAD and SAVE of the engine) and the slot's read data."""
        beat_bits = _log2(self.lanes) + 1
        slot_index = self.row.slot_addr[3:beat_bits]     # 8-byte word of the slot in its beat
        rdata = self.tcdm.rdata
        m.d.comb += self.slot_data.eq(rdata.word_select(slot_index, 64) if beat_bits > 3
                                      else rdata[:64])
        with m.If(self.slot_load):
            m.d.comb += [requester.want_rd.eq(~requester.hold), requester.addr.eq(slot_base)]
        with m.If(self.slot_save):
            if beat_bits > 3:
                m.d.comb += [requester.wdata.eq(self.slot_word << (slot_index * 64)),
                             requester.be.eq(C(0xFF, 2 * self.lanes) << (slot_index * 8))]
            else:
                m.d.comb += [requester.wdata.eq(self.slot_word), requester.be.eq(0xFF)]
            m.d.comb += [requester.want_wr.eq(~requester.hold), requester.addr.eq(slot_base)]


def _byte_enables(int8, upper_half, lanes_inside):
    """Byte enables of a beat written: BF16 two bytes per lane inside the row; int8 one byte
    per lane in the half ``upper_half`` of the port word."""
    count = len(lanes_inside)
    int8_enables = Mux(upper_half, Cat(C(0, count), lanes_inside), Cat(lanes_inside, C(0, count)))
    return Mux(int8, int8_enables, Cat(b.replicate(2) for b in lanes_inside))


class ElementDecoder(wiring.Component):
    """The elements of a read beat as BF16, one per lane: the port word's 16-bit lanes for BF16
    input; for int8 input the bytes of the half word ``half``, converted exactly (IntToFloat,
    CAST.IN_INT_BITS / IN_SIGNED).

    Parameters
    ----------
    lanes : :class:`int`
        Elements per beat.

    Members
    -------
    word : :py:`In(16 * lanes)`
        The port word read.
    half : :py:`In(1)`
        The half of ``word`` holding int8 elements.
    int8 : :py:`In(1)`
        The elements are int8 (else BF16).
    int_bits : :py:`In(4)`
        Integer bits of the int8 elements.
    signed : :py:`In(1)`
        The int8 elements are two's complement (else unsigned).
    elements : :py:`Out(16 * lanes)`
        The BF16 elements, lane j in bits 16 j .. 16 j + 15.
    """

    def __init__(self, lanes):
        self.lanes = lanes
        super().__init__({
            "word": In(16 * lanes),
            "half": In(1),
            "int8": In(1),
            "int_bits": In(4),
            "signed": In(1),
            "elements": Out(16 * lanes),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self.lanes
        bytes_ = self.word.word_select(self.half, 8 * lanes)
        for j in range(lanes):
            convert = comb_op(m, IntToFloat(8, BF16), f"i2f{j}")
            m.d.comb += [convert.i.payload.q.eq(bytes_[8 * j:8 * j + 8]),
                         convert.i.payload.int_bits.eq(self.int_bits),
                         convert.i.payload.signed.eq(self.signed)]
            m.d.comb += self.elements[16 * j:16 * j + 16].eq(
                Mux(self.int8, convert.o.payload.as_value(), self.word[16 * j:16 * j + 16]))
        return m
