"""The Flash-ABFT checker (hw/abft) alone under the Amaranth simulator against its golden model
(sim/golden/abft.py via sim/abft.py): every row sum bit for bit at every tile close, the cause
masks and O word sums of the report, planted faults, bad programming, random stalls on its port
and on SoftEx's."""

import numpy as np
import pytest

from hw.abft.layout import CAUSES, Cause
from sim.abft import ModelFault, check_head, head_trace, random_head
from sim.attention import AttentionShape, attention_inputs
from sim.golden import abft

from .bench import ADDRS, run_unit

TINY = AttentionShape(32, 4, 12, 16, align=8)
SMALL = AttentionShape(64, 16, 16, 32, align=16)


def _signed(x):
    return abft.wrap(x)


def _check_against_golden(shape, enc, trace, result):
    gold = check_head(shape, enc, trace)
    rep = result["report"]
    assert result["arm_error"] == 0
    assert rep["closes"] == shape.tiles
    assert [t["causes"] for t in rep["tiles"]] == gold["causes"]
    assert rep["causes"] == gold["head"]
    assert result["error"] == (Cause.CHECK_FAILED if gold["head"] else 0)
    for t, (got, want) in enumerate(zip(rep["tiles"], gold["tiles"])):
        assert got["written"] == want.o_signature, t
        assert got["residual"] == gold["residuals"][t], t
    assert len(result["closes"]) == shape.tiles
    for t, (snap, want) in enumerate(zip(result["closes"], gold["tiles"])):
        for i in range(len(want.residual_s)):
            base = i << 2 | (t % 2) << 6
            assert [_signed(snap[base + q]) for q in range(4)] == [
                want.residual_s[i], want.qa[i], want.p_sum[i], want.residual_o[i]], (t, i)
    return gold


@pytest.mark.parametrize("shape, kind, pipelined, stall", [
    (TINY, "normal", False, 0.0),
    (TINY, "peaked", True, 0.3),
    (TINY, "masked", True, 0.2),
    (TINY, "equal", False, 0.2),
    (SMALL, "scaled", True, 0.2),
])
def test_fault_free_heads_match_the_golden_model(shape, kind, pipelined, stall):
    rng = np.random.default_rng(len(kind))
    q, k, v = random_head(rng, kind, shape) if kind != "normal" else attention_inputs(shape)
    enc = abft.encode(q, k, v, block_q=shape.block_q, shift=shape.shift)
    trace = head_trace(shape, q, k, v, lanes=4)
    rows, cols = (2, 2) if shape is TINY else (2, 4)
    result = run_unit(shape, enc, trace, rows=rows, cols=cols, stall=stall, pipelined=pipelined,
                      seed=len(kind))
    gold = _check_against_golden(shape, enc, trace, result)
    assert gold["head"] == 0


@pytest.fixture(scope="module")
def tiny():
    q, k, v = attention_inputs(TINY, seed=11)
    return q, k, v, abft.encode(q, k, v, block_q=TINY.block_q, shift=TINY.shift)


@pytest.mark.parametrize("faults", [
    [ModelFault("q", 0, 7, 13)],
    [ModelFault("s32", 1, 30, 27), ModelFault("p", 2, 50, 12)],
    [ModelFault("s", 1, 5, 2)],
    [ModelFault("p_out", 0, 9, 5, run=1)],
    [ModelFault("v", 1, 3, 14)],
    [ModelFault("o32", 2, 6, 24)],
    [ModelFault("p_out", 1, 3, 14)],
    [ModelFault("state", 0, 529918093, 14, 0)],
])
def test_planted_faults_give_the_golden_verdict(tiny, faults):
    q, k, v, enc = tiny
    trace = head_trace(TINY, q, k, v, lanes=4, faults=faults)
    result = run_unit(TINY, enc, trace, stall=0.2, pipelined=True)
    gold = _check_against_golden(TINY, enc, trace, result)
    assert gold["head"] != 0


def test_a_corrupted_o_word_is_located(tiny):
    q, k, v, enc = tiny
    trace = head_trace(TINY, q, k, v, lanes=4)
    o = trace.o.copy()
    o[17, 2] ^= 0x0040
    result = run_unit(TINY, enc, trace, o_words=o, stall=0.1, verify_twice=True)
    rep = result["report"]
    assert result["error"] == Cause.CHECK_FAILED
    assert rep["causes"] == 1 << CAUSES.index("O_SIGNATURE")
    tile = rep["tiles"][1]
    assert tile["causes"] == 1 << CAUSES.index("O_SIGNATURE")
    where = abft.locate(tile["written"], abft.Signature(*(
        (w + r) & abft.WORD_MASK for w, r in zip(tile["written"].astuple(),
                                            tile["residual"].astuple()))), TINY.block_q,
        TINY.head_dim)
    assert where == (17 - TINY.block_q, 2, int(o[17, 2]) - int(trace.o[17, 2]))


def test_a_corrected_word_verifies_clean(tiny):
    """The firmware's repair: the located word written back, VERIFY again passes."""
    q, k, v, enc = tiny
    trace = head_trace(TINY, q, k, v, lanes=4)
    o = trace.o.copy()
    o[3, 1] ^= 0x0100
    fixed = {}

    def repair(memory, words):
        from sim.abft import parse_report
        tile = parse_report(words, TINY.tiles)["tiles"][0]
        got = abft.Signature(*((w + r) & abft.WORD_MASK for w, r in zip(
            tile["written"].astuple(), tile["residual"].astuple())))
        row, col, delta = abft.locate(tile["written"], got, TINY.block_q, TINY.head_dim)
        addr = ADDRS["o"] + row * TINY.strides["OS"] + 4 * (col // 2)
        shift = 16 * (col % 2)
        word = (memory[addr] >> shift) & 0xFFFF
        memory[addr] = memory[addr] & ~(0xFFFF << shift) | ((word - delta) & 0xFFFF) << shift
        fixed["where"] = (row, col)

    result = run_unit(TINY, enc, trace, o_words=o, stall=0.1, verify_twice=True,
                      between=repair)
    assert fixed["where"] == (3, 1)
    assert result["error"] == 0 and result["report"]["causes"] == 0


def test_bad_programming_ends_each_job_with_its_cause(tiny):
    """Every job ends with its done and the cause the register map names: VERIFY or RETILE
    before ARM (NOT_ARMED), an unknown operation (BAD_CMD), descriptors beyond the unit's
    limits (BAD_DESC: too many keys, an odd head dimension, a threshold wider than TAU_BITS),
    RETILE beyond the head's tiles (BAD_TILE); a good ARM after them still works, and VERIFY
    of a head that never ran reports it incomplete (CHECK_FAILED)."""
    from hw.abft.layout import TAU_BITS

    from .bench import BASE, head_memory, run_jobs
    q, k, v, enc = tiny
    desc = BASE + ADDRS["desc"]
    arm = dict(COMMAND={"OP": 0}, DESC_ADDR=desc)
    good = head_memory(TINY, enc)
    seq_dim = TINY.seq | TINY.head_dim << 16
    cases = [
        ([dict(COMMAND={"OP": 1})], {}, [Cause.NOT_ARMED]),
        ([dict(COMMAND={"OP": 2}, TILE={"INDEX": 0})], {}, [Cause.NOT_ARMED]),
        ([dict(COMMAND={"OP": 7})], {}, [Cause.BAD_CMD]),
        ([arm], head_memory(TINY, enc, changes=dict(SEQ_DIM=128 | TINY.head_dim << 16)),
         [Cause.BAD_DESC]),
        ([arm], head_memory(TINY, enc, changes=dict(SEQ_DIM=TINY.seq | 5 << 16)),
         [Cause.BAD_DESC]),
        ([arm], head_memory(TINY, enc, changes=dict(TAU_O=1 << TAU_BITS)), [Cause.BAD_DESC]),
        ([arm, dict(COMMAND={"OP": 2}, TILE={"INDEX": TINY.tiles})], good,
         [0, Cause.BAD_TILE]),
        ([arm, dict(COMMAND={"OP": 1})], good, [0, Cause.CHECK_FAILED]),
    ]
    for jobs, memory, want in cases:
        assert run_jobs(jobs, memory=memory) == want, (jobs, want)
    assert seq_dim == good[ADDRS["desc"]]
