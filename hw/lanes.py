"""Copies of one stream operator side by side behind one stream (a SIMD operator), and the
regressions' way of pushing many cases through an operator per simulated cycle.

A cocotb testbench pays its Python cost per cycle, whatever the payload width; ``n`` copies
of a :class:`hw.pipeline.PipelinedOp` fed ``n`` cases per beat run an operator regression
about ``n`` times faster while every case still goes through the operator's own RTL, under
the same random valid gaps and ready stalls. The copies are identical and their handshake does
not depend on the payload (a pipeline's valid and ready depend only on valid and ready), so
they stay in step: lane 0 speaks for all of them.
"""

from amaranth import Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import check_int
from .pipeline import PipelinedOp

__all__ = ["Lanes", "MAX_LANES"]

#: The widest wrapper the regressions use (a bound, not a measured optimum).
MAX_LANES = 64


class Lanes(wiring.Component):
    """``lanes`` copies of an operator; beat lane ``k`` is copy ``k``'s operand and result.

    Parameters
    ----------
    make_op : callable
        Returns a fresh operator, a :class:`~hw.pipeline.PipelinedOp` (``i`` and ``o``
        streams, ``operand_layout``, ``result_layout``, ``latency``): its handshake depends on
        valid and ready only, which keeps the copies in step. Anything else is a TypeError.
    lanes : int
        Copies, 1 .. :data:`MAX_LANES`.

    Members
    -------
    i : ``In(stream.Signature(data.ArrayLayout(operand_layout, lanes)))``
    o : ``Out(stream.Signature(data.ArrayLayout(result_layout, lanes)))``
    """

    def __init__(self, make_op, lanes):
        self.lanes = check_int("lanes", lanes, min=1, max=MAX_LANES)
        self.ops = [make_op() for _ in range(self.lanes)]
        first = self.ops[0]
        if not isinstance(first, PipelinedOp):
            raise TypeError(f"make_op must return a PipelinedOp, not {type(first).__name__}")
        record = getattr(first, "catalog_record", None)
        if record is not None:              # the Verilog cache's key (flows.emit.verilog_text)
            self.catalog_record = {"class": f"{__name__}.Lanes", "lanes": self.lanes,
                                   "op": record}
        self.operand_layout = first.operand_layout
        self.result_layout = first.result_layout
        self.latency = first.latency
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self.operand_layout, self.lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(self.result_layout, self.lanes))),
        })

    def elaborate(self, platform):
        m = Module()
        for k, op in enumerate(self.ops):
            m.submodules[f"lane{k}"] = op
            m.d.comb += [op.i.valid.eq(self.i.valid), op.i.payload.eq(self.i.payload[k]),
                         op.o.ready.eq(self.o.ready), self.o.payload[k].eq(op.o.payload)]
        m.d.comb += [self.i.ready.eq(self.ops[0].i.ready), self.o.valid.eq(self.ops[0].o.valid)]
        return m
