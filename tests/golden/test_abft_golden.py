"""The Flash-ABFT checker's arithmetic (sim/golden/abft.py) against exact rational arithmetic,
and its checks on fault-free and planted-fault heads (sim/abft.py)."""

import math
from fractions import Fraction

import numpy as np
import pytest

from sim.abft import ModelFault, check_head, head_trace, random_head, HEAD_KINDS
from sim.attention import AttentionShape, attention_inputs
from sim.golden import abft

T = abft.TERM_BITS
#: Positions the fixed-point tests place values at (the encoder's range and the probabilities').
FRACS = (-200, -20, 0, abft.P_FRAC, 60, 120)


def _value(bits, width):
    """Exact value of a BF16 (16) / fp32 (32) pattern (None for NaN / inf)."""
    bits = int(bits)
    frac_bits, bias = (7, 127) if width == 16 else (23, 127)
    sign = bits >> (width - 1)
    e = (bits >> frac_bits) & 0xFF
    m = bits & ((1 << frac_bits) - 1)
    if e == 0xFF:
        return None
    v = Fraction(m if e == 0 else m | (1 << frac_bits)) * Fraction(2) ** (
        (1 if e == 0 else e) - bias - frac_bits)
    return -v if sign else v


def _trunc_fixed(v, frac):
    """(fixed, out of range) the checker must give for exact value ``v`` at position ``frac``:
    trunc(v 2^frac), out of range from 2^TERM_BITS on."""
    if v is None:
        return 0, True
    x = v * Fraction(2) ** frac
    if abs(x) >= 2 ** T:
        return 0, True
    return (math.floor(x) if x >= 0 else -math.floor(-x)), False


@pytest.mark.parametrize("frac", [0, abft.P_FRAC, 120])
def test_to_fixed_every_bf16(frac):
    bits = np.arange(1 << 16, dtype=np.uint16)
    fixed, bad = abft.to_fixed(bits, abft.BF16, frac)
    for b in range(1 << 16):
        want = _trunc_fixed(_value(b, 16), frac)
        assert (int(fixed[b]), bool(bad[b])) == want, hex(b)


def _near_window(rng, n, frac, frac_bits, bias, width, low=-40):
    """Biased exponents of ``n`` values around the window of position ``frac``: from 2^(low -
    frac) to beyond 2^(TERM_BITS - frac)."""
    e = rng.integers(low - frac, T - frac + 4, n) + bias
    return np.clip(e, 0, (1 << (width - frac_bits - 1)) - 1)


@pytest.mark.parametrize("frac", FRACS)
def test_to_fixed_fp32_random_and_edges(frac):
    rng = np.random.default_rng(1000 + frac)
    bits = np.concatenate([rng.integers(0, 1 << 32, 6000, dtype=np.uint64),
                           [0, 1, 0x0080_0000, 0x7F7F_FFFF, 0x7F80_0000, 0x7FC0_0000,
                            0x8000_0001, 0x4900_0000, 0x48FF_FFFF, 0xC8FF_FFFF, 0x2F80_0000,
                            0x2F7F_FFFF, 0xAF80_0001]]).astype(np.uint32)
    e = _near_window(rng, 4000, frac, 23, 127, 32)
    bits[:4000] = (bits[:4000] & 0x807F_FFFF) | (e << 23).astype(np.uint32)
    fixed, bad = abft.to_fixed(bits, abft.FP32, frac)
    for b, x, o in zip(bits, fixed, bad):
        assert (int(x), bool(o)) == _trunc_fixed(_value(b, 32), frac), hex(int(b))


@pytest.mark.parametrize("frac", FRACS)
def test_product_fixed_against_fractions(frac):
    rng = np.random.default_rng(2000 + frac)
    n = 5000
    a = rng.integers(0, 1 << 16, n).astype(np.uint16)
    b = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    # split the window's exponent between the two factors
    e = _near_window(rng, n, frac, 0, 0, 64) // 2
    ea = np.clip(e + 127 + rng.integers(-3, 4, n), 0, 254)
    eb = np.clip(e + 127 + rng.integers(-3, 4, n), 0, 254)
    a[:4000] = (a[:4000] & 0x807F) | (ea[:4000] << 7).astype(np.uint16)
    b[:4000] = (b[:4000] & 0x807F_FFFF) | (eb[:4000] << 23).astype(np.uint32)
    fixed, bad = abft.product_fixed(a, b, frac)
    for x, y, f, o in zip(a, b, fixed, bad):
        va, vb = _value(x, 16), _value(y, 32)
        want = _trunc_fixed(None if va is None or vb is None else va * vb, frac)
        assert (int(f), bool(o)) == want, (hex(int(x)), hex(int(y)))


def test_encoding_is_within_its_bounds():
    shape = AttentionShape(32, 4, 12, 16, align=8)
    q, k, v = attention_inputs(shape, seed=3)
    enc = abft.encode(q, k, v, block_q=shape.block_q, shift=shape.shift)
    kv = [[_value(x, 16) for x in row] for row in np.asarray(k)]
    vv = [[_value(x, 16) for x in row] for row in np.asarray(v)]
    for c in range(shape.head_dim):
        exact = sum(kv[j][c] for j in range(shape.seq))
        assert abs(_value(enc.kbar[c], 32) - exact) <= abs(exact) * Fraction(1, 2 ** 23)
    for j in range(shape.seq):
        exact = sum(vv[j])
        assert abs(_value(enc.vbar[j], 32) - exact) <= abs(exact) * Fraction(1, 2 ** 23)
    kabs = max(sum(abs(kv[j][c]) for j in range(shape.seq)) for c in range(shape.head_dim))
    bound = Fraction(abft.gamma(shape.head_dim)) * kabs
    assert Fraction(2) ** enc.gain_s >= bound > Fraction(2) ** (enc.gain_s - 1)
    # the Q word sum: BF16 words of the exact 2^-shift q (no rounding for these inputs)
    words = []
    for x in np.asarray(q)[:shape.block_q].ravel():
        e = (int(x) >> 7) & 0xFF
        words.append(int(x) - (shape.shift << 7) if e > shape.shift else None)
    assert None not in words and enc.qsum[0] == sum(words) % (1 << abft.WORD_SUM_BITS)
    # every fault-free term of the head at most 2^(TERM_BITS - 1): no RANGE on the way
    trace = head_trace(shape, q, k, v, lanes=4)
    for tr in trace.tiles:
        for bits, fmt, frac in ((tr["s32"], abft.FP32, enc.frac_s), (tr["o32"], abft.FP32,
                                                                     enc.frac_o),
                                (tr["qs32"], abft.FP32, enc.frac_qa)):
            fixed, bad = abft.to_fixed(bits, fmt, frac)
            assert not bad.any() and np.abs(fixed).max() < 2 ** (T - 1)


def test_up_shift_rounds_up():
    for x in (0, 1, 5, 1023, 1024, 1 << 40):
        for g in (-12, -1, 0, 3):
            assert abft.up_shift(x, g) == math.ceil(Fraction(x) * Fraction(2) ** g)


@pytest.mark.parametrize("seed", range(20))
def test_locate_one_word(seed):
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 1 << 16, (24, 16)).astype(np.uint16)
    expected = abft.signature(words)
    r, c, bit = rng.integers(24), rng.integers(16), rng.integers(16)
    bad = words.copy()
    bad[r, c] ^= np.uint16(1 << bit)
    assert abft.locate(expected, abft.signature(bad), 24, 16) == (
        r, c, int(bad[r, c]) - int(words[r, c]))


def test_locate_refuses_two_words():
    words = np.arange(64, dtype=np.uint16).reshape(8, 8) * 97
    bad = words.copy()
    bad[1, 2] ^= 0x10
    bad[5, 7] ^= 0x400
    assert abft.locate(abft.signature(words), abft.signature(bad), 8, 8) is None


TINY = AttentionShape(32, 4, 12, 16, align=8)


@pytest.fixture(scope="module")
def tiny_head():
    q, k, v = attention_inputs(TINY, seed=5)
    enc = abft.encode(q, k, v, block_q=TINY.block_q, shift=TINY.shift)
    return q, k, v, enc, head_trace(TINY, q, k, v, lanes=4)


def test_fault_free_head_passes(tiny_head):
    q, k, v, enc, trace = tiny_head
    verdict = check_head(TINY, enc, trace)
    assert verdict["head"] == 0 and verdict["located"] == [None] * TINY.tiles
    for tile in verdict["tiles"]:
        assert max(tile.margins().values()) < 1


def _cause(name):
    return 1 << abft.CAUSES.index(name)


@pytest.mark.parametrize("stage, index, bit, cause", [
    ("q", 5, 14, "WORDS"),             # exponent bit of a Q element: exact check
    ("q", 5, 0, "WORDS"),              # even its last mantissa bit
    ("qs32", 3, 27, "WORDS"),
    ("qs", 2, 13, "S_RESIDUAL"),       # Qs in memory: the scores use it, the reference not
    ("k", 40, 14, "S_RESIDUAL"),
    ("s32", 17, 28, "S_RESIDUAL"),
    ("s32", 17, 18, "S_RESIDUAL"),     # a mantissa bit above BF16's: 2 ulp of the score
    ("s", 9, 3, "WORDS"),              # a score word between the tensor unit and SoftEx
    ("p_out", 20, 14, "P_RANGE"),     # an exponent flip of a probability: above 1
    ("p_out", 20, 3, "P_REPEAT"),     # a mantissa bit: the repeat differs
    ("state", 5, 3, "P_REPEAT"),       # a bit of a row's denominator between chunks
    ("p", 20, 6, "O_RESIDUAL"),        # P in memory: O uses it, the reference not
    ("v", 7, 12, "O_RESIDUAL"),
    ("o32", 1, 22, "O_RESIDUAL"),
    ("o", 10, 1, "O_SIGNATURE"),
])
def test_planted_model_faults_are_detected(tiny_head, stage, index, bit, cause):
    q, k, v, enc, trace = tiny_head
    faulty = head_trace(TINY, q, k, v, lanes=4, faults=[ModelFault(stage, 1, index, bit)])
    assert not np.array_equal(faulty.o, trace.o) or stage in ("s32",)
    verdict = check_head(TINY, enc, faulty)
    assert verdict["head"] & _cause(cause), (stage, verdict["head"])
    if stage == "o":
        (row, col, delta), = [x for x in verdict["located"] if x is not None]
        assert int(faulty.o[row, col]) - delta == int(trace.o[row, col])


@pytest.mark.parametrize("kind", sorted(HEAD_KINDS))
def test_random_heads_of_every_kind_pass(kind):
    rng = np.random.default_rng(abs(hash(kind)) % 1000)
    q, k, v = random_head(rng, kind, TINY)
    enc = abft.encode(q, k, v, block_q=TINY.block_q, shift=TINY.shift)
    verdict = check_head(TINY, enc, head_trace(TINY, q, k, v, lanes=4))
    assert verdict["head"] == 0, kind


@pytest.mark.parametrize("shape, lanes", [(TINY, 4), (AttentionShape(64, 16, 12, 32, align=16), 8)])
def test_fault_free_trace_is_the_tile_by_tile_trace(shape, lanes):
    """The all-tiles-at-once trace (no faults) equals the tile-by-tile one (a fault in a
    tile that does not exist forces the tile path) bit for bit."""
    q, k, v = attention_inputs(shape, seed=3)
    fast = head_trace(shape, q, k, v, lanes=lanes)
    slow = head_trace(shape, q, k, v, lanes=lanes, faults=[ModelFault("q", 99, 0, 0)])
    assert np.array_equal(fast.o, slow.o)
    for a, b in zip(fast.tiles, slow.tiles):
        for key in ("qs32", "s32", "s_read", "p", "p_repeat", "o32"):
            assert np.array_equal(a[key], b[key]), key


def test_repeat_check_sees_cancelling_words():
    """A flip of a row's max between chunks that rounds four probabilities up and four down by
    one ulp: their plain sum is unchanged, their XOR is not (P_REPEAT)."""
    q, k, v = attention_inputs(TINY, seed=7)
    enc = abft.encode(q, k, v, block_q=TINY.block_q, shift=TINY.shift)
    trace = head_trace(TINY, q, k, v, lanes=4,
                       faults=[ModelFault("state", 0, 529918093, 14, 0)])
    tile = trace.tiles[0]
    delta = tile["p"].astype(np.int64) - tile["p_repeat"].astype(np.int64)
    assert np.count_nonzero(delta) == 8 and delta.sum() == 0
    assert check_head(TINY, enc, trace)["head"] & _cause("P_REPEAT")


def _report(shape, verdict, closes):
    """Report words as the unit writes them, from the golden verdict."""
    from hw.abft.layout import REPORT, TILE_REPORT, report_word, tile_word
    from sim.abft import report_words
    words = [0] * report_words(shape.tiles)
    words[report_word("CAUSES")] = verdict["head"]
    words[report_word("CLOSES")] = closes
    for t, tile in enumerate(verdict["tiles"]):
        for name, value in zip(("SIG_PLAIN", "SIG_ROW", "SIG_COL"),
                               tile.o_signature.astuple()):
            words[tile_word(t, name)] = value
    return words


def test_consumer_verdict(tiny_head):
    from sim.abft import consumer_verdict
    q, k, v, enc, trace = tiny_head
    verdict = check_head(TINY, enc, trace)
    words = _report(TINY, verdict, TINY.tiles)
    assert consumer_verdict(TINY, words, trace.o) == 0
    o = trace.o.copy()
    o[30, 3] ^= 0x0002                                 # after VERIFY: only the consumer sees it
    assert consumer_verdict(TINY, words, o) == _cause("O_SIGNATURE")
    # the firmware never ran VERIFY: the report was never completed
    assert consumer_verdict(TINY, _report(TINY, verdict, 0), trace.o) == _cause("INCOMPLETE")
