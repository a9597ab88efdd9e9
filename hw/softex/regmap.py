"""Register map of the SoftEx softmax engine (generated register file, C header, driver and
``docs/regmaps/softex.md`` all come from :func:`softex_map`). Semantics: ``docs/softmax.md``."""

import enum

from ..regmap import Counter, ErrorCause, Field, Register, RegisterMap

__all__ = ["SoftexOp", "ElemFormat", "Cause", "softex_map", "LENGTH_BITS", "ROWS_BITS"]

#: Width of LENGTH.ELEMS (rows of up to 2**24 - 1 elements).
LENGTH_BITS = 24
#: Width of ROWS.COUNT (jobs of up to 2**16 - 1 rows).
ROWS_BITS = 16


class SoftexOp(enum.IntEnum):
    SOFTMAX = 0
    GELU = 1     # element-wise GELU of the chunk (engines built with gelu=True; else BAD_CMD)


class ElemFormat(enum.IntEnum):
    BF16 = 0
    INT8 = 1     # fixed point, integer bits and signedness in CAST; codes 2, 3: BAD_CMD


class Cause(enum.IntEnum):
    BAD_CMD = 1
    BAD_LENGTH = 2
    BAD_ALIGN = 3
    BAD_ADDR = 4


def softex_map(*, n_contexts=2, counter_width=32):
    return RegisterMap(
        "softex",
        doc="SoftEx engine: softmax of one BF16 or int8 row (or a chunk of a row) of "
            "LENGTH.ELEMS elements at IN_ADDR, written to OUT_ADDR; the running (max, denominator) state of "
            "a row split over several jobs lives in an 8-byte slot at SLOT_ADDR. OP = GELU "
            "instead writes GELU of every element. A job of ROWS.COUNT rows repeats this for "
            "row r = 0, 1, ... at the three addresses plus r times their strides. See "
            "docs/softmax.md and docs/gelu.md.",
        n_contexts=n_contexts,
        counter_width=counter_width,
        job_registers=[
            Register("IN_ADDR", doc="Byte address of the input chunk (2-byte aligned for BF16, "
                                    "any byte for INT8)."),
            Register("OUT_ADDR", doc="Byte address of the output chunk (2-byte aligned for BF16); "
                                     "its element lane must equal IN_ADDR's: (OUT_ADDR / out size) "
                                     "mod L == (IN_ADDR / in size) mod L. Used by DIV and GELU."),
            Register("SLOT_ADDR", doc="Byte address of the 8-byte state slot (8-byte aligned): "
                                      "bytes 0-3 fp32 denominator, bytes 4-5 bf16 max, bytes "
                                      "6-7 written as 0. Used by LOAD and SAVE."),
            Register("LENGTH", doc="Chunk length.", fields=[
                Field("ELEMS", LENGTH_BITS, doc="Number of elements (1 .. 2**24-1)."),
            ]),
            Register("COMMAND", doc="Operation and slot commands.", fields=[
                Field("OP", 3, enum=SoftexOp, reset=SoftexOp.SOFTMAX,
                      doc="Operation: SOFTMAX, or GELU (element-wise; ignores ACC, DIV, LOAD "
                          "and SAVE; engines without GELU: BAD_CMD); other codes: BAD_CMD."),
                Field("ACC", 1, offset=4, reset=1,
                      doc="Pass 1: accumulate max and denominator over the chunk."),
                Field("DIV", 1, reset=1,
                      doc="Pass 2: normalise the chunk with the state (write OUT)."),
                Field("LOAD", 1, doc="Start from the state in the slot (else max -inf, sum 0)."),
                Field("SAVE", 1, doc="Write the state after pass 1 to the slot (needs ACC)."),
                Field("IN_FMT", 2, offset=8, enum=ElemFormat, reset=ElemFormat.BF16,
                      doc="Input element format (BF16 or INT8; codes 2, 3: BAD_CMD)."),
                Field("OUT_FMT", 2, enum=ElemFormat, reset=ElemFormat.BF16,
                      doc="Output element format (BF16 or INT8; codes 2, 3: BAD_CMD)."),
            ]),
            Register("CAST", doc="Fixed-point formats of INT8 input / output (ignored for BF16): "
                                 "value = q * 2^-(8 - SIGNED - INT_BITS), every code legal.",
                     fields=[
                Field("IN_INT_BITS", 4, doc="Integer bits of the INT8 input (0..15; above "
                                            "8 - SIGNED the scale is a power of two above 1)."),
                Field("IN_SIGNED", 1, doc="INT8 input is two's complement (else unsigned)."),
                Field("OUT_INT_BITS", 4, offset=8,
                      doc="Integer bits of the INT8 output (0 with OUT_SIGNED = 0: unsigned "
                          "Q0.8, 1.0 saturates to 255)."),
                Field("OUT_SIGNED", 1, doc="INT8 output is two's complement (else unsigned)."),
            ]),
            Register("ROWS", doc="Rows of the job: one row after the other, each exactly a "
                                 "one-row job at IN_ADDR + r * IN_STRIDE, OUT_ADDR + r * "
                                 "OUT_STRIDE, SLOT_ADDR + r * SLOT_STRIDE (its own state).",
                     fields=[
                Field("COUNT", ROWS_BITS, reset=1, doc="Number of rows (1 .. 2**16-1)."),
            ]),
            Register("IN_STRIDE", doc="Bytes from one row's IN_ADDR to the next (added modulo "
                                      "2**32: a negative stride is its two's complement)."),
            Register("OUT_STRIDE", doc="Bytes from one row's OUT_ADDR to the next."),
            Register("SLOT_STRIDE", doc="Bytes from one row's SLOT_ADDR to the next."),
        ],
        counters=[
            Counter("STALL_CYCLES", "Cycles the scratchpad port requested without a grant."),
            Counter("MEM_BEATS", "Granted scratchpad accesses (reads + writes, slot included)."),
            Counter("MASKED_ROW", "Rows of a SOFTMAX job whose state ended with max -inf "
                                  "(every element so far masked; DIV wrote zeros): for a "
                                  "one-row job a status flag; 0 after GELU."),
            Counter("ROWS_DONE", "Rows the job completed: ROWS.COUNT after a successful job; "
                                 "after an error, the rows before the one that failed (their "
                                 "outputs and slots are written)."),
        ],
        error_causes=[
            ErrorCause("BAD_CMD", Cause.BAD_CMD,
                       "Unknown OP or format code, GELU on an engine built without it; for "
                       "SOFTMAX: neither ACC nor DIV, DIV without ACC and without LOAD, or SAVE "
                       "without ACC."),
            ErrorCause("BAD_LENGTH", Cause.BAD_LENGTH, "LENGTH.ELEMS or ROWS.COUNT is 0."),
            ErrorCause("BAD_ALIGN", Cause.BAD_ALIGN,
                       "IN_ADDR or OUT_ADDR odd for a BF16 buffer, OUT_ADDR at another lane than "
                       "IN_ADDR, "
                       "or SLOT_ADDR not 8-byte aligned (only the addresses the job uses; every row is "
                       "checked when it starts, so a stride can make a later row fail)."),
            ErrorCause("BAD_ADDR", Cause.BAD_ADDR,
                       "A buffer the row uses is not entirely inside the scratchpad window (checked "
                       "when the row starts, like BAD_ALIGN)."),
        ],
    )
