"""The Flash-ABFT checker's numbers, shared by the hardware (:mod:`hw.abft.unit`), its golden
model (:mod:`sim.golden.abft`), the host that encodes a head (:mod:`sim.abft`) and the firmware
(the generated header): fixed-point format, check causes, descriptor and report layouts."""

import enum

__all__ = ["ACC_BITS", "TERM_BITS", "MAX_TERMS", "P_FRAC", "FRAC_FIELD", "FRAC_RANGE",
           "WORD_SUM_BITS", "SCORE_READS", "TAU_BITS", "MIN_GAIN", "CAUSES", "Cause", "DESCRIPTOR", "REPORT", "TILE_REPORT",
           "REPORT_TILES", "GEMM_DESCRIPTOR", "GEMM_MAX_SIDE", "desc_word",
           "report_word", "tile_word"]

#: Width of the row sums (two's complement): one block RAM word (ECP5: 36 bits).
ACC_BITS = 36
#: Every term is a fixed-point integer trunc(x 2^F) with |term| < 2^TERM_BITS (else the check
#: RANGE fails and the term counts 0); F is the head's position for the quantity (the
#: descriptor's FRACS, chosen by the encoder so that no fault-free term comes near the limit).
TERM_BITS = 26
#: At most this many terms go into one row sum (keys plus head dimension), so that no sum of
#: in-range terms wraps: MAX_TERMS 2^TERM_BITS <= 2^(ACC_BITS - 1).
MAX_TERMS = 1 << (ACC_BITS - 1 - TERM_BITS)
#: Position of the probabilities (fixed: 0 <= p <= 1): trunc(p 2^P_FRAC).
P_FRAC = 24
#: Bits of one signed position in the descriptor's FRACS word, and the range the encoder keeps
#: the positions in (far from 2^-149: fp32 underflows stay below one LSB).
FRAC_FIELD = 9
FRAC_RANGE = (-200, 120)
#: Word sums (scores, probabilities, Q, the O signatures) are kept modulo 2^WORD_SUM_BITS: a
#: single changed 16-bit word always changes them, and a weighted O residual (at most 2^7 times
#: a word's change) is recovered exactly as a signed value.
WORD_SUM_BITS = 24
#: SoftEx reads every score word twice per run (pass 1 and pass 2, whether the row is one chunk
#: or several), and runs twice (A and B): the word balance counts each written score word this
#: many times (the descriptor's SHIFTS carries its log2).
SCORE_READS = 4
#: Bits of a threshold in the descriptor (TAU_S, TAU_P, TAU_O; the encoder refuses a head whose
#: thresholds do not fit, the unit ends ARM with BAD_DESC).
TAU_BITS = 24
#: Smallest threshold gain the encoder accepts (2^gain: the relative error bound of a row).
MIN_GAIN = -63

#: The checks, by bit of a cause mask (report word CAUSES and every tile's word).
#: WORDS is a tile's word balance: the words of Qs against the encoded sum, the score words the
#: tensor unit wrote (times SoftEx's reads of each) against the words SoftEx read, SoftEx run A's
#: probability words against run B's, in one sum; P_REPEAT the XOR of run A's and run B's words.
#: GEMM_ROW and GEMM_COL are the row and column residuals of a checked GEMM (ARM_GEMM); RANGE,
#: O_SIGNATURE (the output's words), OVERRUN and INCOMPLETE mean the same there.
CAUSES = ("S_RESIDUAL", "P_SUM", "P_RANGE", "O_RESIDUAL", "WORDS", "RANGE", "P_REPEAT",
          "O_SIGNATURE", "OVERRUN", "INCOMPLETE", "GEMM_ROW", "GEMM_COL")


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
    ("SHIFTS", "bits 0-3 log2 of the score and probability row stride, bits 4-7 log2 of the "
               "O row stride, bits 8-9 log2 of the reads of every score word by SoftEx"),
    ("FRACS", "fixed-point positions F (signed, 9 bits each): bits 0-8 F_S (scores and "
              "qs kbar), bits 9-17 F_QA (|qs|, in units of the S threshold), bits 18-26 F_O (O "
              "and p vbar)"),
    ("TAU_S", "the S threshold's constant part (2 d + n + 2), added to the row's QA; below "
              "2^TAU_BITS"),
    ("TAU_P", "tau_P in units of 2^-P_FRAC; below 2^TAU_BITS"),
    ("TAU_O", "tau_O in units of 2^-F_O; below 2^TAU_BITS"),
    ("QS_ADDR", "Qs buffer (the scale job's Z)"),
    ("S_ADDR", "score buffer, two halves (tile parity)"),
    ("HALF", "bytes of one half of the score / probability buffers"),
    ("P_ADDR", "probability buffer of SoftEx run A (the pv job's X), two halves"),
    ("PB_ADDR", "probability buffer of SoftEx run B (the repeat), two halves"),
    ("O_ADDR", "output O"),
    ("KBAR_ADDR", "kbar: d fp32 words"),
    ("VBAR_ADDR", "vbar: n fp32 words"),
    ("QSUM_ADDR", "per query tile one word: the sum of the BF16 words of 2^-shift Q (modulo "
                  "2^WORD_SUM_BITS)"),
    ("REPORT_ADDR", "where the unit writes its report"),
)

#: A checked GEMM (ARM_GEMM, one tensor job Z = X W or Y + X W) is described by the same
#: descriptor words, these used (the others are not read by the unit's checks):
GEMM_DESCRIPTOR = (
    ("SEQ_DIM", "bits 0-15 rows M, bits 16-31 columns N (even)"),
    ("ROWS_TILES", "M | 1 << 16 (the output is one tile)"),
    ("SHIFTS", "bits 4-7 log2 of Z's row stride in bytes"),
    ("FRACS", "bits 0-8 F (signed), the position of Z's terms"),
    ("TAU_S", "the threshold of every row and column residual (units 2^-F); below 2^TAU_BITS"),
    ("O_ADDR", "Z, the job's output (its Z_PTR)"),
    ("KBAR_ADDR", "the references: M row words then N column words, each -round(2^F sum) of "
                  "the exact Z's row or column, signed 32-bit"),
    ("REPORT_ADDR", "where the unit writes its report (one tile)"),
)
#: The most rows and the most columns of a checked GEMM: a weighted signature residual (at
#: most this times a word's change) is recovered exactly in WORD_SUM_BITS bits. A unit also
#: needs a row-sum entry for each row and column (:class:`hw.abft.AbftUnit`).
GEMM_MAX_SIDE = 1 << (WORD_SUM_BITS - 17)

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
    ("SIG_PLAIN", "plain sum of the O words the pv job wrote (mod 2^WORD_SUM_BITS)"),
    ("SIG_ROW", "the same, each word weighted by its row in the tile"),
    ("SIG_COL", "the same, each word weighted by its column"),
    ("RES_PLAIN", "VERIFY: O read back minus O written, plain sums (signed, from "
                  "WORD_SUM_BITS bits)"),
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
