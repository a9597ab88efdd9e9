"""A small demonstration register map (a vector unit: y = op(x) over a contiguous BF16 vector),
used by the register-map tests and as an example of a description."""

import enum

from .description import Counter, ErrorCause, Field, Register, RegisterMap

__all__ = ["DemoOp", "demo_map", "DEMO"]


class DemoOp(enum.IntEnum):
    COPY = 0
    SCALE = 1
    ADD = 2
    RELU = 3
    EXP = 5


def demo_map(*, n_contexts=2, counter_width=32):
    return RegisterMap(
        "demo",
        doc="Demonstration accelerator: applies COMMAND.OP to LENGTH.ELEMS BF16 elements from "
            "IN_ADDR and writes them to OUT_ADDR.",
        n_contexts=n_contexts,
        counter_width=counter_width,
        job_registers=[
            Register("IN_ADDR", doc="Byte address of the input vector (4-byte aligned)."),
            Register("OUT_ADDR", doc="Byte address of the output vector (4-byte aligned)."),
            Register("LENGTH", doc="Vector length.", fields=[
                Field("ELEMS", 20, doc="Number of BF16 elements (1..2**20-1)."),
            ]),
            Register("COMMAND", doc="Operation and options.", fields=[
                Field("OP", 3, enum=DemoOp, reset=DemoOp.COPY, doc="Operation."),
                Field("LAST", 1, offset=4, doc="Last job of a sequence: raise the event."),
                Field("INT8_OUT", 1, doc="Write int8 instead of BF16."),
                Field("SCALE", 16, offset=16, reset=0x3F80,
                      doc="BF16 scale factor for SCALE (reset: 1.0)."),
            ]),
            Register("BIAS", doc="Bias for ADD (raw 32-bit value)."),
        ],
        counters=[
            Counter("STALL_CYCLES", "Cycles the memory port was not granted."),
            Counter("ELEMS_DONE", "Elements processed (up to 4 per cycle).", inc_width=3),
        ],
        error_causes=[
            ErrorCause("BAD_ADDR", 1, "IN_ADDR or OUT_ADDR is not 4-byte aligned."),
            ErrorCause("BAD_LENGTH", 2, "LENGTH.ELEMS is 0."),
            ErrorCause("BAD_OP", 7, "COMMAND.OP is not a known operation."),
        ],
    )


DEMO = demo_map()
