"""The operand and result buffers between the streamer and the array (RedMulE's X, W and Z
buffers; Y, the initial partial sums, has a buffer of its own, the same as X's).

Each buffer owns the :class:`~hw.tensor.tiler.TileWalk` of its stream, so the streams run ahead
of one another (and of the array) as far as their buffers allow, and asks the streamer for a
beat only when it has room for the answer. Rows ``m0 + i >= M`` of a tile are neither read nor
stored: the buffer counts them as *dummy* beats that take no memory cycle.
"""

from amaranth import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..fp import BF16, FPScale
from ..pipeline import combinational
from .regmap import DIM_BITS, W_EXP_BITS
from .streamer import BeatPortSignature
from .tiler import TileWalk

__all__ = ["XYBuffer", "WBuffer", "ZBuffer"]


class XYBuffer(wiring.Component):
    """A group of ``L`` beats (one per row of the tile) read ahead of the array, and the group
    the array is using: the X buffer (a column beat of the X tile per group, walking along K)
    and the Y buffer (one group per tile, the tile's initial partial sums).

    The next group is requested and collected in the *queue* while the array uses the
    *current* group; ``take`` (the array starts the next group) copies the queue to the current
    group and restarts the requests at the walk's next address. Beat ``i`` is requested from
    ``ptr + (m0 + i) * stride + offset`` by additions (``stride`` per row, the walk's address
    per group).

    Parameters
    ----------
    geometry : :class:`~hw.tensor.geometry.TensorGeometry`
        Array geometry (``L`` beats of ``D * 16`` bits per group).
    addr_width : :class:`int`
        Width of the byte addresses.
    along_k : :class:`bool`
        :py:`True` for X (the groups of a tile walk K in steps of ``D`` columns; the walk
        revisits the row of tiles for every ``n0``), :py:`False` for Y (one group per tile,
        ``D`` columns further for every ``n0``).

    Members
    -------
    memory : :py:`Out(BeatPortSignature(row_width=...))`
        Requests to the streamer and their responses (tagged with the beat's row).
    restart : :py:`In(1)`
        First cycle of a job: rewind the walk and empty the queue.
    enable : :py:`In(1)`
        Sampled with ``restart``: the job reads this stream (Y: not for MATMUL).
    running : :py:`In(1)`
        A job runs; requests are made only then.
    m, n : :py:`In(DIM_BITS)`
        The job's M and N.
    k : :py:`In(DIM_BITS)`
        The job's K (only if ``along_k``).
    ptr, stride, tile_step : :py:`In(addr_width)`
        Address of element [0][0], the row stride and ``L`` row strides (job constants).
    take : :py:`In(1)`
        The array starts using the next group: the queue becomes the current group.
    full : :py:`Out(1)`
        The queue holds the whole next group.
    fresh : :py:`In(1)`
        Selects the queue instead of the current group on ``beats`` (the cycle of ``take``).
    beats : :py:`Out(data.ArrayLayout(D * 16, L))`
        The group the array uses, one beat per tile row.
    """

    def __init__(self, geometry, addr_width, *, along_k):
        self.geometry = geometry
        self.along_k = along_k
        L = geometry.L
        self.row_width = max(1, (L - 1).bit_length())
        members = {
            "memory": Out(BeatPortSignature(addr_width=addr_width, data_width=geometry.port_width,
                                            row_width=self.row_width)),
            "restart": In(1),
            "enable": In(1),
            "running": In(1),
            "m": In(DIM_BITS),
            "n": In(DIM_BITS),
        }
        if along_k:
            members["k"] = In(DIM_BITS)
        members.update({
            "ptr": In(addr_width),
            "stride": In(addr_width),
            "tile_step": In(addr_width),
            "take": In(1),
            "full": Out(1),
            "fresh": In(1),
            "beats": Out(data.ArrayLayout(geometry.port_width, L)),
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        g = self.geometry
        L, D = g.L, g.D
        memory = self.memory
        addr_width = len(memory.addr)
        if self.along_k:
            walk = TileWalk(m, g, "walk", D, self.k, self.m, self.n)
            walk_addr = walk.address(addr_width, self.ptr, m_delta=self.tile_step,
                                     inner_delta=2 * D)
        else:
            walk = TileWalk(m, g, "walk", 1, 1, self.m, self.n)
            walk_addr = walk.address(addr_width, self.ptr, m_delta=self.tile_step,
                                     n_delta=2 * D)
        with m.If(self.restart):
            walk.restart(self.enable)

        queue = [Signal(g.port_width, name=f"queue{i}") for i in range(L)]
        current = [Signal(g.port_width, name=f"current{i}") for i in range(L)]
        requested = Signal(range(L + 1))   # rows of the queued group requested (or dummy)
        received = Signal(range(L + 1))    # rows of the queued group in the queue
        row_addr = Signal(addr_width)      # = ptr + (m0 + requested) * stride + offset
        row_real = (walk.m0 + requested) < self.m
        row_open = self.running & walk.active & (requested < L)
        dummy = row_open & ~row_real
        m.d.comb += [self.full.eq(received == L),
                     memory.want.eq(row_open & row_real),
                     memory.addr.eq(row_addr),
                     memory.row.eq(requested)]

        issued = memory.loaded | dummy
        with m.If(issued):
            m.d.sync += [requested.eq(requested + 1), row_addr.eq(row_addr + self.stride)]
        m.d.comb += walk.step.eq(issued & (requested == L - 1))
        m.d.sync += received.eq(received + memory.rvalid + dummy)
        for i in range(L):
            with m.If(memory.rvalid & (memory.rrow == i)):
                m.d.sync += queue[i].eq(memory.rdata)
            m.d.comb += self.beats[i].eq(Mux(self.fresh, queue[i], current[i]))

        with m.If(self.take):
            m.d.sync += [current[i].eq(queue[i]) for i in range(L)]
            m.d.sync += [received.eq(0), requested.eq(0), row_addr.eq(walk_addr.base)]
        with m.If(self.restart):
            m.d.sync += [requested.eq(0), received.eq(0), row_addr.eq(self.ptr)]
        return m


class WBuffer(wiring.Component):
    """The W FIFO: rows of W (``D`` columns of the tile, row ``k``), requested in walk order
    (``k`` inner, then the tiles) and popped by the array at every pass start.

    Rows ``k >= K`` of the last pass (up to K rounded up to a multiple of ``H``) are pushed as
    zeros without a memory access, once no read of W is in flight (they keep the FIFO's order).

    Parameters
    ----------
    geometry : :class:`~hw.tensor.geometry.TensorGeometry`
        Array geometry (rows of ``D * 16`` bits).
    addr_width : :class:`int`
        Width of the byte addresses.
    depth : :class:`int`
        FIFO entries (rows).

    Members
    -------
    memory : :py:`Out(BeatPortSignature(credits=True))`
        Requests to the streamer, its count of W reads in flight, and the responses.
    restart : :py:`In(1)`
        First cycle of a job: rewind the walk and empty the FIFO.
    running : :py:`In(1)`
        A job runs; requests are made only then.
    m, n, k : :py:`In(DIM_BITS)`
        The job's M, N and K.
    k_padded : :py:`In(DIM_BITS + 1)`
        K rounded up to a multiple of ``H`` (the rows walked per tile).
    ptr, stride : :py:`In(addr_width)`
        Address of W[0][0] and the row stride.
    w_exp : :py:`In(signed(W_EXP_BITS))`
        The job's COMMAND.W_EXP: every value read is multiplied by 2^w_exp as it enters the
        FIFO (:class:`~hw.fp.FPScale`, combinational; zero rows stay zero).
    pop_request : :py:`In(1)`
        The array starts a pass (it takes the head row when it advances).
    advance : :py:`In(1)`
        The array advances this cycle.
    row : :py:`Out(D * 16)`
        The head of the FIFO.
    starved : :py:`Out(1)`
        The array wants a row and the FIFO is empty (the array must not advance).
    """

    def __init__(self, geometry, addr_width, depth):
        self.geometry = geometry
        self.depth = depth
        super().__init__({
            "memory": Out(BeatPortSignature(addr_width=addr_width,
                                            data_width=geometry.port_width, credits=True)),
            "restart": In(1),
            "running": In(1),
            "m": In(DIM_BITS),
            "n": In(DIM_BITS),
            "k": In(DIM_BITS),
            "k_padded": In(DIM_BITS + 1),
            "ptr": In(addr_width),
            "stride": In(addr_width),
            "w_exp": In(signed(W_EXP_BITS)),
            "pop_request": In(1),
            "advance": In(1),
            "row": Out(geometry.port_width),
            "starved": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self.geometry
        depth = self.depth
        memory = self.memory
        walk = TileWalk(m, g, "walk", 1, self.k_padded, self.m, self.n)
        walk_addr = walk.address(len(memory.addr), self.ptr, n_delta=2 * g.D,
                                 inner_delta=self.stride)
        with m.If(self.restart):
            walk.restart()

        entries = Array(Signal(g.port_width, name=f"fifo{k}") for k in range(depth))
        read_index = Signal(range(depth))
        write_index = Signal(range(depth))
        count = Signal(range(depth + 1))
        push = Signal()
        push_data = Signal(g.port_width)
        pop = Signal()
        m.d.comb += [self.row.eq(entries[read_index]), pop.eq(self.pop_request & self.advance),
                     self.starved.eq(self.pop_request & (count == 0))]
        with m.If(push):
            m.d.sync += [entries[write_index].eq(push_data),
                         write_index.eq(Mux(write_index == depth - 1, 0, write_index + 1))]
        with m.If(pop):
            m.d.sync += read_index.eq(Mux(read_index == depth - 1, 0, read_index + 1))
        m.d.sync += count.eq(count + push - pop)
        inflight = memory.inflight
        room = (count + inflight) < depth
        real_row = walk.inner < self.k
        zero_row = self.running & walk.active & ~real_row & room & (inflight == 0)
        m.d.comb += [memory.want.eq(self.running & walk.active & real_row & room),
                     memory.addr.eq(walk_addr.base),
                     walk.step.eq(memory.loaded | zero_row)]
        scaled = []
        for d in range(g.D):
            scale = FPScale(BF16, exp_width=W_EXP_BITS)
            operands = Signal(scale.operand_layout, name=f"w_scale{d}")
            m.d.comb += [operands.x.eq(memory.rdata[16 * d:16 * (d + 1)]),
                         operands.e.eq(self.w_exp)]
            scaled.append(combinational(m, scale, operands))
        with m.If(memory.rvalid):
            m.d.comb += [push.eq(1), push_data.eq(Cat(*scaled))]
        with m.Elif(zero_row):
            m.d.comb += [push.eq(1), push_data.eq(0)]
        with m.If(self.restart):
            m.d.sync += [count.eq(0), read_index.eq(0), write_index.eq(0)]
        return m


class ZBuffer(wiring.Component):
    """The Z buffers: a *collect* shift register per row takes the array's outputs (column
    ``c`` of the tile, one BF16 value per row) and, at the last column, hands the tile's ``L``
    beats to the *store* buffer, which the streamer writes out row by row (columns
    ``n0 + e >= N`` masked by byte enables) while the array computes the next tile.

    Parameters
    ----------
    geometry : :class:`~hw.tensor.geometry.TensorGeometry`
        Array geometry (``L`` rows, beats of ``D`` values).
    addr_width : :class:`int`
        Width of the byte addresses.

    Members
    -------
    memory : :py:`Out(BeatPortSignature(row_width=..., write=True))`
        Stores to the streamer.
    restart : :py:`In(1)`
        First cycle of a job: rewind the walk and empty the store buffer.
    running : :py:`In(1)`
        A job runs; stores are made only then.
    m, n : :py:`In(DIM_BITS)`
        The job's M and N.
    ptr, stride, tile_step : :py:`In(addr_width)`
        Address of Z[0][0], the row stride and ``L`` row strides.
    advance : :py:`In(1)`
        The array advances this cycle.
    out_valid : :py:`In(1)`
        The array outputs a finished column.
    out_column : :py:`In(range(D))`
        Its column ``c``.
    out_values : :py:`In(L * 16)`
        Its values, BF16, row ``i`` at bits ``16 * i``.
    blocked : :py:`Out(1)`
        The array finishes a tile while the store buffer still holds the previous one (the
        array must not advance).
    active : :py:`Out(1)`
        Tiles are left to store.
    """

    def __init__(self, geometry, addr_width):
        self.geometry = geometry
        L, D = geometry.L, geometry.D
        self.row_width = max(1, (L - 1).bit_length())
        super().__init__({
            "memory": Out(BeatPortSignature(addr_width=addr_width,
                                            data_width=geometry.port_width,
                                            row_width=self.row_width, write=True)),
            "restart": In(1),
            "running": In(1),
            "m": In(DIM_BITS),
            "n": In(DIM_BITS),
            "ptr": In(addr_width),
            "stride": In(addr_width),
            "tile_step": In(addr_width),
            "advance": In(1),
            "out_valid": In(1),
            "out_column": In(max(1, (D - 1).bit_length())),
            "out_values": In(L * 16),
            "blocked": Out(1),
            "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self.geometry
        L, D = g.L, g.D
        memory = self.memory
        addr_width = len(memory.addr)
        walk = TileWalk(m, g, "walk", 1, 1, self.m, self.n)
        walk_addr = walk.address(addr_width, self.ptr, m_delta=self.tile_step, n_delta=2 * D)
        with m.If(self.restart):
            walk.restart()

        collect = [Signal(g.port_width, name=f"collect{i}") for i in range(L)]
        store = [Signal(g.port_width, name=f"store{i}") for i in range(L)]
        store_full = Signal()
        store_row = Signal(range(L + 1))
        row_addr = Signal(addr_width)        # = ptr + (m0 + store_row) * stride + n0 * 2
        row_real = (walk.m0 + store_row) < self.m
        row_open = self.running & store_full & (store_row < L)
        dummy = row_open & ~row_real
        last_column = self.out_valid & (self.out_column == D - 1)
        store_beat = Array(store)[store_row[:self.row_width]] if L > 1 else store[0]
        m.d.comb += [memory.want.eq(row_open & row_real),
                     memory.addr.eq(row_addr),
                     memory.wdata.eq(store_beat),
                     memory.row.eq(store_row),
                     self.blocked.eq(last_column & store_full),
                     self.active.eq(walk.active)]
        for e in range(D):
            m.d.comb += memory.be[2 * e:2 * e + 2].eq(Mux(walk.n0 + e < self.n, 0b11, 0b00))

        with m.If(memory.loaded | dummy):
            m.d.sync += [store_row.eq(store_row + 1), row_addr.eq(row_addr + self.stride)]
            with m.If(store_row == L - 1):
                m.d.comb += walk.step.eq(1)
                m.d.sync += [store_full.eq(0), store_row.eq(0), row_addr.eq(walk_addr.base_next)]

        with m.If(self.advance & self.out_valid):
            for i in range(L):
                shifted = Cat(collect[i][16:], self.out_values[i * 16:(i + 1) * 16])
                m.d.sync += collect[i].eq(shifted)
                with m.If(self.out_column == D - 1):
                    m.d.sync += store[i].eq(shifted)
            with m.If(self.out_column == D - 1):
                m.d.sync += store_full.eq(1)
        with m.If(self.restart):
            m.d.sync += [store_full.eq(0), store_row.eq(0), row_addr.eq(self.ptr)]
        return m
