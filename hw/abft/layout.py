"""The Flash-ABFT checker's numbers, shared by the hardware (:mod:`hw.abft.unit`), its golden
model (:mod:`sim.golden.abft`), the host that encodes a head (:mod:`sim.abft`) and the firmware
(the generated header): fixed-point format, check causes, descriptor and report layouts."""

import enum

__all__ = ["FRAC_BITS", "RANGE_BITS", "ACC_BITS", "MIN_GAIN", "CAUSES", "Cause", "DESCRIPTOR",
           "REPORT", "TILE_REPORT", "REPORT_TILES", "desc_word", "report_word", "tile_word"]

#: Fraction bits of the fixed-point sums (values are trunc(x 2^FRAC_BITS)).
FRAC_BITS = 32
#: Every observed term must satisfy |value| < 2^RANGE_BITS (else the check RANGE fails), so
#: that sums of up to 4096 terms fit the accumulators.
RANGE_BITS = 19
#: Width of the accumulators (two's complement).
ACC_BITS = 64
#: Smallest threshold gain: the gains are right shifts of 0 .. -MIN_GAIN.
MIN_GAIN = -63

#: The checks, by bit of a cause mask (report word CAUSES and every tile's word).
CAUSES = ("S_RESIDUAL", "P_SUM", "P_RANGE", "O_RESIDUAL", "Q_SUM", "RANGE", "S_SIGNATURE",
          "P_REPEAT", "O_SIGNATURE", "OVERRUN", "INCOMPLETE")


class Cause(enum.IntEnum):
    """Error causes of the checker's jobs (ERROR.CAUSE)."""
    BAD_CMD = 1         # COMMAND.OP unknown
    BAD_DESC = 2        # the descriptor asks for more than the unit was built for
    NOT_ARMED = 3       # VERIFY without a successful ARM
    CHECK_FAILED = 4    # VERIFY: some check failed (the report tells which, and where)
    BAD_TILE = 5        # RETILE of a tile beyond the descriptor's


#: Descriptor words (the host writes it beside the head's buffers; ARM reads it), in order:
#: (name, doc). Addresses are byte addresses in the scratchpad.
DESCRIPTOR = (
    ("SEQ_DIM", "bits 0-15 keys n (SEQ), bits 16-31 head dimension d"),
    ("ROWS_TILES", "bits 0-15 rows of a query tile, bits 16-31 query tiles"),
    ("SHIFTS", "bits 0-5 -gain_s, bits 8-13 -gain_o, bits 16-19 log2 of the score and "
               "probability row stride, bits 20-23 log2 of the O row stride, bits 24-25 log2 of "
               "the reads of every score word by SoftEx"),
    ("TAU_P_LO", "tau_P, bits 0-31 (fixed point)"),
    ("TAU_P_HI", "tau_P, bits 32-63"),
    ("QS_ADDR", "Qs buffer (the scale job's Z)"),
    ("S_ADDR", "score buffer, two halves (tile parity)"),
    ("HALF", "bytes of one half of the score / probability buffers"),
    ("P_ADDR", "probability buffer of SoftEx run A (the pv job's X), two halves"),
    ("PB_ADDR", "probability buffer of SoftEx run B (the repeat), two halves"),
    ("O_ADDR", "output O"),
    ("KBAR_ADDR", "kbar: d fp32 words"),
    ("VBAR_ADDR", "vbar: n fp32 words"),
    ("QSUM_ADDR", "per query tile the encoded sum of 2^-shift Q: two words (low, high)"),
    ("REPORT_ADDR", "where the unit writes its report"),
)

#: Report words (the unit writes them; the firmware reads them), then :data:`TILE_REPORT`
#: words per query tile.
REPORT = (
    ("CAUSES", "OR of every tile's cause mask and of OVERRUN / INCOMPLETE (bit i: CAUSES[i])"),
    ("CLOSES", "tile closes seen since ARM (a recomputed tile closes again)"),
)
#: Words of one tile's report entry: written when the tile closes (its pv job ended) and, the
#: residuals, by VERIFY.
TILE_REPORT = (
    ("CAUSES", "the tile's cause mask"),
    ("SIG_PLAIN", "plain sum of the O words the pv job wrote (mod 2^32)"),
    ("SIG_ROW", "the same, each word weighted by its row in the tile"),
    ("SIG_COL", "the same, each word weighted by its column"),
    ("RES_PLAIN", "VERIFY: O read back minus O written, plain sums"),
    ("RES_ROW", "the same, row-weighted"),
    ("RES_COL", "the same, column-weighted"),
)
#: Word of the first tile's entry.
REPORT_TILES = len(REPORT)


def tile_word(tile, name):
    """Word index of field ``name`` of tile ``tile``'s report entry."""
    return REPORT_TILES + len(TILE_REPORT) * tile + [n for n, _ in TILE_REPORT].index(name)


def desc_word(name):
    """Word index of descriptor field ``name``."""
    return [n for n, _ in DESCRIPTOR].index(name)


def report_word(name):
    """Word index of report field ``name``."""
    return [n for n, _ in REPORT].index(name)
