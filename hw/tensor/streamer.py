"""The memory side: one wide TCDM master shared by four streams (Z store > X > Y > W reads).

The port is registered: a request is loaded into the port registers when they are empty or
being granted, and held unchanged until granted (the TCDM rule), so the streams can move on as
soon as their request is loaded. A read's tag (stream, row) follows it to the response one cycle
after the grant. Streams only request when their buffer has room for the answer (credits), so a
response is never refused.

The streamer keeps its own port registers rather than :class:`hw.bus.TCDMRequester`: the
requester drives the port combinationally from its client's wishes (a request leaves in the
cycle it is wished), whereas the tensor unit's buffers load a request one cycle before it
leaves, so the priority choice and the stream addresses reach the port through registers.
"""

from amaranth import Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..bus import TCDMSignature

__all__ = ["STREAM_W", "STREAM_X", "STREAM_Y", "STREAM_Z", "BeatPortSignature",
           "TensorStreamer"]

#: Stream tags, the tag register's values; the streamer serves them in the order Z, X, Y, W.
STREAM_W, STREAM_X, STREAM_Y, STREAM_Z = range(4)


class BeatPortSignature(wiring.Signature):
    """Signature of one buffer's port into the streamer: a beat request (the buffer's view) and,
    for a read stream, the read response.

    Parameters
    ----------
    addr_width : :class:`int`
        Width of the byte address.
    data_width : :class:`int`
        Width of a beat (the TCDM data width).
    row_width : :class:`int` or :py:`None`
        Width of the row tag that follows a read to its response, :py:`None` for a stream
        without rows (W: one FIFO in order).
    write : :class:`bool`
        A store stream (byte enables and write data) instead of a read stream (response).
    credits : :class:`bool`
        Whether the streamer reports the stream's requests in flight (``inflight``).

    Members
    -------
    want : :py:`Out(1)`
        The buffer asks for a beat this cycle (it has room for the answer).
    addr : :py:`Out(addr_width)`
        Byte address of the beat.
    row : :py:`Out(row_width)`
        Row tag of the request (only with ``row_width``).
    be : :py:`Out(data_width // 8)`
        Byte enables of a store (only if ``write``).
    wdata : :py:`Out(data_width)`
        Data of a store (only if ``write``).
    loaded : :py:`In(1)`
        The request was taken into the port registers this cycle; the buffer moves on.
    inflight : :py:`In(2)`
        Requests of this stream loaded and not yet answered, 0..2 (only if ``credits``).
    rvalid : :py:`In(1)`
        A read response of this stream is on ``rdata`` (read streams).
    rrow : :py:`In(row_width)`
        Row tag of the response (read streams with ``row_width``).
    rdata : :py:`In(data_width)`
        The response beat (read streams).
    """

    def __init__(self, *, addr_width, data_width, row_width=None, write=False, credits=False):
        members = {"want": Out(1), "addr": Out(addr_width)}
        if row_width is not None:
            members["row"] = Out(row_width)
        if write:
            members.update(be=Out(data_width // 8), wdata=Out(data_width))
        members["loaded"] = In(1)
        if credits:
            members["inflight"] = In(2)
        if not write:
            members["rvalid"] = In(1)
            if row_width is not None:
                members["rrow"] = In(row_width)
            members["rdata"] = In(data_width)
        super().__init__(members)


class TensorStreamer(wiring.Component):
    """Fixed-priority arbiter and registered TCDM master port shared by the four streams.

    A stream's request is loaded into the port registers (``req``, address, direction, byte
    enables, data, tag, row) when they are free (empty, or being granted) and no stream of
    higher priority (Z, then X, Y, W) wants the port; it is held until granted. A read still
    waiting for its grant at a soft clear is completed (TCDM rule) but its answer is dropped,
    so it cannot land in the buffers of the next job.

    Parameters
    ----------
    geometry : :class:`~hw.tensor.geometry.TensorGeometry`
        Array geometry (``L`` rows; beats of ``D * 16`` bits).
    addr_width : :class:`int`
        Width of the TCDM byte address.

    Members
    -------
    tcdm : :py:`Out(TCDMSignature(addr_width, D * 16))`
        The memory port.
    z : :py:`In(BeatPortSignature(write=True))`
        The Z store stream (highest priority).
    x, y : :py:`In(BeatPortSignature())`
        The X and Y read streams, with row tags.
    w : :py:`In(BeatPortSignature(credits=True))`
        The W read stream, without rows, with its requests in flight (lowest priority).
    clear : :py:`In(1)`
        Soft clear: a read waiting for its grant becomes stale (its answer is dropped).
    busy : :py:`Out(1)`
        A request is in the port registers, not yet granted.
    stalled : :py:`Out(1)`
        The port requests without grant this cycle.
    """

    def __init__(self, geometry, addr_width):
        self.geometry = geometry
        self.row_width = max(1, (geometry.L - 1).bit_length())
        beat_width = geometry.port_width
        ports = dict(addr_width=addr_width, data_width=beat_width)
        super().__init__({
            "tcdm": Out(TCDMSignature(**ports)),
            "z": In(BeatPortSignature(**ports, row_width=self.row_width, write=True)),
            "x": In(BeatPortSignature(**ports, row_width=self.row_width)),
            "y": In(BeatPortSignature(**ports, row_width=self.row_width)),
            "w": In(BeatPortSignature(**ports, credits=True)),
            "clear": In(1),
            "busy": Out(1),
            "stalled": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        port = self.tcdm
        all_bytes = (1 << len(port.be)) - 1
        request = Signal(name="p_req")
        tag = Signal(2, name="p_tag")
        row = Signal(self.row_width, name="p_row")
        response_pending = Signal(name="r_pending")
        response_tag = Signal(2, name="r_tag")
        response_row = Signal(self.row_width, name="r_row")
        free = Signal(name="p_free")
        m.d.comb += [free.eq(~request | port.gnt), port.req.eq(request),
                     self.busy.eq(request), self.stalled.eq(port.req & ~port.gnt)]
        granted = request & port.gnt
        stale = Signal(name="p_stale")
        with m.If(granted):
            m.d.sync += stale.eq(0)
        with m.If(self.clear & request & ~port.gnt):
            m.d.sync += stale.eq(1)
        m.d.sync += response_pending.eq(granted & ~port.we & ~self.clear & ~stale)
        with m.If(granted):
            m.d.sync += [response_tag.eq(tag), response_row.eq(row)]
        with m.If(granted):
            m.d.sync += request.eq(0)

        # (tag, stream, store, byte enables, write data, row) in priority order
        streams = [
            (STREAM_Z, self.z, 1, self.z.be, self.z.wdata, self.z.row),
            (STREAM_X, self.x, 0, all_bytes, 0, self.x.row),
            (STREAM_Y, self.y, 0, all_bytes, 0, self.y.row),
            (STREAM_W, self.w, 0, all_bytes, 0, 0),
        ]
        taken = Const(0)
        for stream_tag, stream, store, byte_enables, write_data, stream_row in streams:
            go = Signal(name=f"go{stream_tag}")
            m.d.comb += [go.eq(free & stream.want & ~taken), stream.loaded.eq(go)]
            with m.If(go):
                m.d.sync += [request.eq(1), port.addr.eq(stream.addr), port.we.eq(store),
                             port.be.eq(byte_enables), port.wdata.eq(write_data),
                             tag.eq(stream_tag), row.eq(stream_row)]
            taken = taken | stream.want

        response_valid = Signal(name="r_valid")
        m.d.comb += response_valid.eq(response_pending & port.rvalid)
        for stream_tag, stream in ((STREAM_X, self.x), (STREAM_Y, self.y), (STREAM_W, self.w)):
            m.d.comb += [stream.rvalid.eq(response_valid & (response_tag == stream_tag)),
                         stream.rdata.eq(port.rdata)]
        for stream in (self.x, self.y):
            m.d.comb += stream.rrow.eq(response_row)
        m.d.comb += self.w.inflight.eq((request & (tag == STREAM_W))
                                       + (response_pending & (response_tag == STREAM_W)))
        return m
