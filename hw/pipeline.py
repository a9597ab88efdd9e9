"""Pipelined stream operators.

Every arithmetic unit is a combinational datapath with a few natural cut points (after the
product, after alignment, ...). ``PipelinedOp`` wraps such a datapath as a stream component
with a ``latency`` parameter: latency 0 is purely combinational; latency k puts k register
stages at evenly spread cut points (and any surplus at the output). All stages advance together
(global stall): the input is accepted whenever the output register is empty or being consumed.
This keeps lib.stream's rules (valid never waits on ready; payload held until the transfer)
and makes the unit usable both in elastic datapaths and, with ``o.ready`` tied high, as a plain
fixed-latency pipeline.
"""

import itertools

from amaranth import Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import Range, check_int

__all__ = ["Pipeline", "NestedCuts", "PipelinedOp", "delay", "datapath_only", "combinational"]


def delay(m, value, stages, name, *, clear=None):
    """``value`` through ``stages`` registers added to ``m``'s sync domain (named ``name0``,
    ``name1``, ...), free-running; with ``clear`` (a signal) the registers load 0 while it is
    high (valid bits of a pipeline that a soft clear empties). ``stages`` = 0 returns ``value``."""
    value = Value.cast(value)
    for i in range(stages):
        reg = Signal(len(value), name=f"{name}{i}")
        m.d.sync += reg.eq(value if clear is None else Mux(clear, 0, value))
        value = reg
    return value


class Pipeline:
    """Places ``latency`` register stages on the ``n_cuts`` natural cut points of a datapath.

    The datapath calls :meth:`cut` at each of its cut points, in order, with every value that is
    live across that point, and uses the values it returns. :meth:`finish` adds the registers
    that did not fit on cut points (latency > n_cuts) at the output.
    """

    def __init__(self, m, *, latency, n_cuts, enable, domain="sync", weights=None):
        self._m = m
        self.latency = check_int("latency", latency, min=0)
        self._n_cuts = n_cuts
        self._enable = enable
        self._domain = domain
        self._index = 0
        self._registered = set()            # indices of the cuts that got a register
        self._chosen = self.choose_cuts(latency, n_cuts, weights)

    @staticmethod
    def choose_cuts(latency, n_cuts, weights=None):
        """Indices of the cut points that get a register.

        Without ``weights`` the registers are spread evenly over the cut points (later cuts
        first). ``weights`` (n_cuts + 1 numbers, the delay of each segment between cut points,
        as measured for the datapath) chooses the cuts that make the slowest stage fastest
        (then the second slowest, ...); among equally good choices, the later cuts.
        """
        k = min(latency, n_cuts)
        if weights is None:
            # Cut i (0-based) of n splits the datapath after (i+1)/(n+1) of its depth;
            # registers at round((j+1)*(n+1)/(k+1)) - 1 divide it into k+1 roughly equal parts.
            return {round((j + 1) * (n_cuts + 1) / (k + 1)) - 1 for j in range(k)}
        if len(weights) != n_cuts + 1:
            raise ValueError(f"weights must have n_cuts + 1 = {n_cuts + 1} entries, "
                             f"got {len(weights)}")

        def stages(cuts):
            bounds = (-1, *cuts, n_cuts)
            return [sum(weights[a + 1:b + 1]) for a, b in zip(bounds, bounds[1:])]

        best = min(itertools.combinations(range(n_cuts), k),
                   key=lambda cuts: (sorted(stages(cuts), reverse=True), [-c for c in cuts]))
        return set(best)

    @property
    def enable(self):
        """The stages' common enable (the pipeline advances), for registers a datapath builds
        itself, such as a memory's synchronous read port at a cut point."""
        return self._enable

    def _register(self, value, name):
        if isinstance(value, data.View):
            reg = Signal(value.shape(), name=name)
        else:
            value = Value.cast(value)
            reg = Signal(value.shape(), name=name)
        with self._m.If(self._enable):
            self._m.d[self._domain] += reg.eq(value)
        return reg

    def cut(self, *values, name="stage"):
        """Mark a cut point. Returns ``values`` registered if this cut holds a stage."""
        if self._index >= self._n_cuts:
            raise RuntimeError(f"datapath declared {self._n_cuts} cut points but used more")
        index = self._index
        self._index += 1
        return self._cut_at(index, values, name)

    def _cut_at(self, index, values, name):
        if index not in self._chosen:
            return values if len(values) != 1 else values[0]
        self._registered.add(index)
        out = tuple(self._register(v, f"{name}{index}_{i}") for i, v in enumerate(values))
        return out if len(out) != 1 else out[0]

    def nested(self, n_cuts):
        """The next ``n_cuts`` cut points of this pipeline, for the datapaths of inner
        operators: a :class:`NestedCuts` whose views (``op.datapath(m, span.view(),
        operands)``, ``n_cuts`` = ``op.N_CUTS``) place their cuts on this pipeline's points
        ``i .. i + n_cuts - 1``. Views of one span share those points (operators side by side:
        one register stage across all of them); :meth:`NestedCuts.carry` takes the values
        that pass beside the inner operators through the same stages."""
        if self._index + n_cuts > self._n_cuts:
            raise RuntimeError(f"datapath declared {self._n_cuts} cut points but used more")
        span = NestedCuts(self, self._index, n_cuts)
        self._index += n_cuts
        return span

    def finish(self, value, name="out"):
        """Register ``value`` once per stage not yet placed; returns the pipeline output."""
        if self._index != self._n_cuts:
            raise RuntimeError(f"datapath declared {self._n_cuts} cut points but used {self._index}")
        for i in range(self.latency - len(self._registered)):
            value = self._register(value, f"{name}{i}")
        return value

    def delay(self, value, name="valid"):
        """``value`` delayed by exactly ``latency`` stages (for valid bits and side-band data)."""
        for i in range(self.latency):
            value = self._register(value, f"{name}_d{i}")
        return value


class NestedCuts:
    """``n_cuts`` cut points of a :class:`Pipeline` from ``base`` on (see
    :meth:`Pipeline.nested`).

    Members
    -------
    chosen : :class:`int`
        How many of these cut points hold a register stage.
    """

    def __init__(self, pipe, base, n_cuts):
        self._pipe, self._base, self._n_cuts = pipe, base, n_cuts
        self.chosen = len({*range(base, base + n_cuts)} & pipe._chosen)

    def view(self):
        """A pipeline-like object for one inner datapath: its ``cut()`` calls are these cut
        points, in order."""
        return _NestedView(self._pipe, self._base, self._n_cuts)

    def carry(self, *values, name="carry"):
        """``values`` through as many register stages as the inner datapaths get here (the
        same timing as registering them at the same cut points), as a tuple."""
        out = []
        for i, v in enumerate(values):
            for stage in range(self.chosen):
                v = self._pipe._register(v, f"{name}{self._base}_{i}_d{stage}")
            out.append(v)
        return tuple(out)


class _NestedView:
    def __init__(self, pipe, base, n_cuts):
        self._pipe, self._base, self._n_cuts, self._index = pipe, base, n_cuts, 0

    def cut(self, *values, name="stage"):
        if self._index >= self._n_cuts:
            raise RuntimeError(f"inner datapath declared {self._n_cuts} cut points but used more")
        index = self._base + self._index
        self._index += 1
        return self._pipe._cut_at(index, values, name)


class PipelinedOp(wiring.Component):
    """Base class: stream of operands in, stream of results out, ``latency`` register stages.

    Subclasses define ``N_CUTS`` and implement ``datapath(m, pipe, operands)`` returning the
    result value (of ``result_layout``) built with ``pipe.cut(...)`` at its cut points.
    """

    N_CUTS = 0
    #: Relative delay of each of the N_CUTS + 1 segments between cut points (None: equal), for
    #: :meth:`Pipeline.choose_cuts`.
    CUT_WEIGHTS = None
    #: Register stages an operator accepts (configuration section ``arith`` reads it).
    LATENCY = Range(0, 16)

    def __init__(self, operand_layout, result_layout, *, latency):
        self.latency = self.LATENCY.check("latency", latency)
        self.operand_layout = operand_layout
        self.result_layout = result_layout
        super().__init__({
            "i": In(stream.Signature(operand_layout)),
            "o": Out(stream.Signature(result_layout)),
        })

    def datapath(self, m, pipe, operands):
        raise NotImplementedError  # abstract: every concrete operator defines its datapath

    def elaborate(self, platform):
        m = Module()
        if self.latency == 0:
            advance = self.o.ready
        else:
            advance = ~self.o.valid | self.o.ready
        pipe = Pipeline(m, latency=self.latency, n_cuts=self.N_CUTS, enable=advance,
                        weights=self.CUT_WEIGHTS)
        result = pipe.finish(self.datapath(m, pipe, self.i.payload))
        m.d.comb += [
            self.o.payload.eq(result),
            self.o.valid.eq(pipe.delay(self.i.valid)),
            self.i.ready.eq(advance),
        ]
        return m


def datapath_only(op):
    """``op`` (a :class:`PipelinedOp`) used only for its ``datapath`` inside another block, with
    that block's :class:`Pipeline`: it is never elaborated on its own, so Amaranth's
    unused-elaboratable warning is silenced. Returns ``op``."""
    op._MustUse__silence = True
    return op


def combinational(m, op, operands):
    """``op``'s datapath built into ``m`` as combinational logic (no register) on ``operands``,
    a value of its operand layout; returns the result value. See :func:`datapath_only`."""
    return datapath_only(op).datapath(
        m, Pipeline(m, latency=0, n_cuts=op.N_CUTS, enable=Const(1)), operands)
