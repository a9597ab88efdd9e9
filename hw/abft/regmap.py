"""Register map of the Flash-ABFT checker (generated register file, C header, driver and
``docs/regmaps/abft.md`` all come from :func:`abft_map`). Semantics: docs/abft.md."""

import enum

from ..regmap import ErrorCause, Field, Register, RegisterMap
from .layout import Cause

__all__ = ["AbftOp", "abft_map"]


class AbftOp(enum.IntEnum):
    ARM = 0       # read the descriptor and the checksum vectors, reset, watch the head
    VERIFY = 1    # read O back, finish the checks, write the report, end with the verdict
    RETILE = 2    # the next tile to close is TILE.INDEX (its first row TILE.ROW0): a recompute
    ARM_GEMM = 3  # as ARM, for one tensor GEMM job: its row and column checksums


def abft_map(*, n_contexts=2):
    """The map; ``n_contexts`` job contexts. JOB_CYCLES is 16 bits wide: the checker's jobs
    are short (ARM reads the descriptor and the vectors, VERIFY the output), and every
    flip-flop counts against its area budget."""
    return RegisterMap(
        "abft",
        doc="Flash-ABFT checker of one attention head: ARM reads the head's descriptor "
            "(DESC_ADDR) and its checksum vectors, then the unit watches the tensor unit's "
            "accumulators and SoftEx's scratchpad traffic and checks every query tile when "
            "its pv job ends; VERIFY reads O back, writes the report and ends with "
            "CHECK_FAILED when any check failed (docs/abft.md).",
        n_contexts=n_contexts,
        counter_width=16,
        job_registers=[
            Register("COMMAND", doc="The job.", fields=[
                Field("OP", 3, enum=AbftOp, reset=AbftOp.ARM,
                      doc="ARM, VERIFY, RETILE or ARM_GEMM (a checked GEMM job); other "
                          "codes: BAD_CMD."),
            ]),
            Register("DESC_ADDR", doc="Byte address of the head's descriptor (ARM)."),
            Register("TILE", doc="RETILE: the tile the firmware recomputes next.", fields=[
                Field("INDEX", 16, doc="Its index (below the descriptor's tiles, else "
                                       "BAD_TILE)."),
                Field("ROW0", 16, doc="Its first row (INDEX times the rows of a tile)."),
            ]),
        ],
        error_causes=[
            ErrorCause("BAD_CMD", Cause.BAD_CMD,
                       "COMMAND.OP is not ARM, VERIFY, RETILE or ARM_GEMM."),
            ErrorCause("BAD_DESC", Cause.BAD_DESC,
                       "The descriptor asks for more keys, head dimensions, rows or tiles than "
                       "the unit was built for, an odd head dimension, or a stride that is not "
                       "a power of two; for ARM_GEMM more rows or columns than the unit's GEMM "
                       "limit, an odd N or a tile count other than 1."),
            ErrorCause("NOT_ARMED", Cause.NOT_ARMED, "VERIFY without a successful ARM."),
            ErrorCause("CHECK_FAILED", Cause.CHECK_FAILED,
                       "VERIFY: a check failed; the report names the checks and the tiles."),
            ErrorCause("BAD_TILE", Cause.BAD_TILE, "RETILE of a tile beyond the head's."),
        ],
    )
