"""Golden model of the softmax engine (sim/golden/softmax.py): an independent scalar model of
the same operation order (exact integer arithmetic, sim/golden/exact.py), documented edge
semantics, accuracy against float64, reciprocal accuracy, slot chaining; parameters and the
register map of the RTL."""

from decimal import Decimal, getcontext

import numpy as np
import pytest

from hw.fp.format import BF16, FP32
from hw.softex import reference as ref
from hw.softex.regmap import softex_map
from hw.softex.softmax import OUTPUT_LATENCY, SEED_TABLE, SoftmaxEngine
from hw.softex.gelu import Gelu
from hw.softex.gelu_table import GeluTable
from sim.golden import exact
from sim.golden import softmax as g
from sim.golden.expp import expp, float_to_bf16

NEG_INF = 0xFF80


def bf(v):
    return float_to_bf16(np.asarray(v, dtype=np.float64))


def scalar_reference(m):
    """The reference recipe of hw/softex/reference.py written again on Python integers:
    (K, has K, c as fp32 bits)."""
    s, e, mant = m >> 15, (m >> 7) & 0xFF, m & 0x7F
    if e >= ref.REF_EXP_LIMIT:
        return 0, False, 0x3F80_0000
    t = 0 if e == 0 else ((128 + mant) * ref.LOG2E_Q40) >> min(146 - e, 63)
    k = (t + (1 << 27)) >> 28
    u = (t - (k << 28)) * (-1 if s else 1)
    w = u + (1 << 27)
    h, low = w >> 20, w % (1 << 20)
    a = (low * ref.LN2_Q30) >> 28
    q = (ref.EXP2_TABLE[h] * ((1 << 30) + a + ((a * a) >> 31))) >> 30
    exp, sig = (127, (q + 64) >> 7) if q >= 1 << 30 else (126, (q + 32) >> 6)
    if sig >> 24:
        exp, sig = exp + 1, sig >> 1
    return (-k if s else k), True, (exp << 23) | (sig % (1 << 23))


def scalar_shift(S, delta, reset):
    field = (S >> 23) & 0xFF
    if reset:
        return 0
    if delta == 0 or field == 0xFF:
        return S
    return (S & ~(0xFF << 23)) | ((field + delta) << 23) if field + delta >= 1 else 0


def scalar_job(x, lanes, offset, mode="accurate", state=None, slots=g.SLOTS):
    """The algorithm of docs/softmax.md written again, element by element, on exact.*."""
    xs = [NEG_INF] * offset + [int(v) for v in x]
    xs += [NEG_INF] * (-len(xs) % lanes)
    m = NEG_INF if state is None else int(state[0])
    S = [[0] * lanes for _ in range(slots)]
    ref_max = [m] * slots                      # the maximum each slot was last updated with
    if state is not None:
        S[0][0] = int(state[1])

    def update(p, m_new, elements):
        k_old, has_old, _ = scalar_reference(ref_max[p])
        k_new, has_new, c = scalar_reference(m_new)
        both = has_old and has_new
        delta = k_old - k_new if both else 0
        reset = ref_max[p] != m_new and not both
        for j, e in enumerate(elements):
            moved = scalar_shift(S[p][j], delta, reset)
            S[p][j] = exact.fma(exact.convert(e, BF16, FP32), c, moved, mul_fmt=FP32,
                                acc_fmt=FP32)
        ref_max[p] = m_new

    beat = 0
    for k in range(0, len(xs), lanes):
        vmax = xs[k]
        for v in xs[k + 1:k + lanes]:
            vmax = exact.compare(vmax, v, BF16)["max"]
        m = exact.compare(m, vmax, BF16)["max"]
        term_mode = g.PASS1_MODE.get(mode, mode)
        update(beat % slots, m, [0 if m == NEG_INF else
                                 int(expp(np.uint16(exact.add(v, m, BF16, sub=1)), term_mode))
                                 for v in xs[k:k + lanes]])
        beat += 1
    for _ in range(slots):                     # FLUSH: beats of zeros
        update(beat % slots, m, [0] * lanes)
        beat += 1
    s = 1
    while s < slots:
        for p in range(0, slots, 2 * s):
            S[p] = [exact.fma(S[p + s][j], 0x3F80_0000, S[p][j], mul_fmt=FP32, acc_fmt=FP32)
                    for j in range(lanes)]
        s *= 2
    s = 1
    while s < lanes:
        for j in range(0, lanes, 2 * s):
            S[0][j] = exact.fma(S[0][j + s], 0x3F80_0000, S[0][j], mul_fmt=FP32, acc_fmt=FP32)
        s *= 2
    D = S[0][0]
    r = exact.fma(scalar_reference(m)[2], int(g.reciprocal(D)), 0, mul_fmt=FP32, acc_fmt=FP32)
    y = []
    for v in x:
        if m == NEG_INF:
            y.append(0)
            continue
        e = int(expp(np.uint16(exact.add(int(v), m, BF16, sub=1)), mode))
        y.append(exact.fma(exact.convert(e, BF16, FP32), r, 0, mul_fmt=FP32, acc_fmt=BF16))
    return y, m, D


def test_reference_recipe_every_maximum():
    """The vectorised reference (K, has K, c) equals the scalar recipe for all 65,536 BF16
    maxima; |m - K ln 2| <= 0.35 and c is e^(m - K ln 2) within 1.1 ulp of fp32 (exact
    Decimal exponential) on every maximum that has a K."""
    every = np.arange(1 << 16, dtype=np.uint16)
    k, has, c = g.reference_fields(every)
    getcontext().prec = 40
    ln2 = Decimal(2).ln()
    worst = Decimal(0)
    for i in range(1 << 16):
        sk, shas, sc = scalar_reference(i)
        assert (int(k[i]), bool(has[i]), int(c[i])) == (sk, shas, sc), hex(i)
        if not shas:
            continue
        mv = Decimal(float(g.bf16_to_float(np.uint16(i))))
        arg = mv - sk * ln2
        assert abs(arg) <= Decimal("0.35"), hex(i)
        if i % 3 == 0:                          # a third of them: Decimal exp is slow
            exactc = arg.exp()
            cv = Decimal(float(np.uint32(sc).view(np.float32)))
            worst = max(worst, abs(cv - exactc) / exactc)
    assert worst <= Decimal(1.1) * Decimal(2) ** -24, worst


ROWS = {
    "mixed": bf(np.random.default_rng(1).normal(0, 4, 29)),
    "masks": np.where(np.random.default_rng(2).random(23) < .4, NEG_INF,
                      bf(np.random.default_rng(3).normal(0, 3, 23))).astype(np.uint16),
    "max_at_end": bf(np.linspace(-20, 20, 19)),
    "subnormals": np.array([1, 0x8003, 0x7F, 0, 0x8000, 0x3F80, 5], np.uint16),
    "nan": np.array([0x3F80, 0x7FC1, 0x4000], np.uint16),
    "masked": np.full(9, NEG_INF, np.uint16),
}


@pytest.mark.parametrize("name", list(ROWS))
@pytest.mark.parametrize("lanes,offset", [(8, 0), (8, 5), (4, 3)])
def test_vectorised_model_equals_scalar_model(name, lanes, offset):
    x = ROWS[name]
    y, m, D = scalar_job(x, lanes, offset)
    out = g.softmax_job(x, lanes=lanes, offset=offset)
    assert [int(v) for v in out["y"]] == y
    assert int(out["m"]) == m and int(out["D"]) == D


def test_scalar_model_with_state_and_softex_mode():
    x = ROWS["mixed"]
    state = (bf(3.0), np.uint32(0x4040_0000))
    y, m, D = scalar_job(x, 8, 2, mode="softex", state=state)
    out = g.softmax_job(x, lanes=8, offset=2, mode="softex", state=state)
    assert [int(v) for v in out["y"]] == y and int(out["D"]) == D and int(out["m"]) == m


def test_edge_semantics():
    x = ROWS["masks"]
    y = g.softmax_row(x)
    assert np.all(y[x == NEG_INF] == 0) and np.all(y[x != NEG_INF] != 0)
    out = g.softmax_job(ROWS["masked"])
    assert out["masked"] and np.all(out["y"] == 0) and out["D"] == 0
    assert np.all(g.softmax_row(ROWS["nan"]) == 0x7FC0)
    assert np.all(g.softmax_row(np.array([0x7F80, 0x3F80], np.uint16)) == 0x7FC0)  # +inf: NaN
    y = g.softmax_row(np.full(10, bf(-7.25), np.uint16))
    assert np.all(y == y[0]) and abs(g.bf16_to_float(y[0])[()] - 0.1) < 1e-3
    # subnormal inputs behave as zeros would (expp(tiny) = 1)
    assert np.all(g.softmax_row(ROWS["subnormals"][:5]) == g.softmax_row(np.zeros(5, np.uint16)))


def test_accuracy_against_float64():
    rng = np.random.default_rng(7)
    worst = 0.0
    for n in (5, 64, 300):
        x = bf(rng.normal(0, 3, n))
        y = g.bf16_to_float(g.softmax_row(x))
        ref = g.reference(x)
        assert abs(y.sum() - 1) < 0.02
        worst = max(worst, np.max(np.abs(y - ref) / ref))
    # bf16(x - m) costs up to half an ulp of |x - m| in the exponent: ~4 % at |x - m| ~ 8
    assert worst < 0.1


def test_reciprocal():
    rng = np.random.default_rng(3)
    D = np.concatenate([rng.uniform(1, 2, 300), rng.uniform(1, 1e6, 300),
                        [1.0, 2.0, 1.5, 0.75, 3e-30, 7e30]]).astype(np.float32)
    for d in D:
        r = np.array([g.reciprocal(np.float32(d).view(np.uint32))], np.uint32).view(np.float32)[0]
        assert abs(float(r) * float(d) - 1) < 2 ** -22, d
    assert g.reciprocal(0) == 0x7F80_0000 and g.reciprocal(0x8000_0000) == 0xFF80_0000
    assert g.reciprocal(0x7F80_0000) == 0 and g.reciprocal(0x7FC0_0000) == 0x7FC0_0000
    assert g.reciprocal(0x7E80_0000) == 0          # exponent field 253
    assert SEED_TABLE == g.SEED_TABLE


def test_int8_input_is_exact_bf16_input():
    """int8 input = the exact BF16 values of q * 2^-F, then the BF16 algorithm."""
    rng = np.random.default_rng(9)
    for cast in [(0, 0), (0, 1), (3, 1), (8, 0), (15, 1)]:
        q = rng.integers(0, 256, 37).astype(np.uint8)
        F = 8 - cast[1] - cast[0]
        v = (q.astype(np.int8).astype(np.float64) if cast[1] else q.astype(np.float64)) * 2.0 ** -F
        xb = g.int8_to_bf16(q, cast)
        assert np.array_equal(g.bf16_to_float(xb), v)           # exact conversion
        out = g.softmax_job(q, lanes=8, offset=3, in_cast=cast)
        ref = g.softmax_job(xb, lanes=8, offset=3)
        assert np.array_equal(out["y"], ref["y"]) and out["D"] == ref["D"] and out["m"] == ref["m"]
        assert not out["masked"]
        y, m, D = scalar_job(xb, 8, 3)
        assert [int(t) for t in out["y"]] == y


@pytest.mark.parametrize("cast", [(0, 0), (0, 1), (1, 1), (4, 0), (15, 1)])
def test_int8_output_is_float_to_int_of_bf16_output(cast):
    rng = np.random.default_rng(10)
    x = bf(rng.normal(0, 3, 50))
    x[[3, 17]] = NEG_INF
    y = g.softmax_row(x)
    q = g.softmax_row(x, out_cast=cast)
    assert q.dtype == np.uint8
    F = 8 - cast[1] - cast[0]
    hi = (1 << (8 - cast[1])) - 1
    for yb, qq in zip(y, q):
        v = g.bf16_to_float(yb)[()] * 2.0 ** F                # exact (bf16 * power of two)
        want = min(hi, int(np.round(v)))                     # numpy rounds half to even
        assert int(qq) == want
    assert q[3] == 0 and q[17] == 0
    # probabilities in unsigned Q0.8: 1.0 saturates to 255, row sums close to 256
    one_hot = g.softmax_row(bf([0.0, -100.0, -100.0]), out_cast=(0, 0))
    assert list(one_hot) == [255, 0, 0]
    if cast == (0, 0):
        assert abs(int(q.sum()) - 256) <= len(q) // 2 + 2
    # NaN rows and fully masked rows give 0
    assert np.all(g.softmax_row(ROWS["nan"], out_cast=cast) == 0)
    assert np.all(g.softmax_row(ROWS["masked"], out_cast=cast) == 0)


def test_chunked_rows_match_single_job_closely():
    rng = np.random.default_rng(4)
    x = bf(rng.normal(0, 4, 100))
    state = None
    for a, b in ((0, 37), (37, 38), (38, 100)):
        out = g.softmax_job(x[a:b], offset=a % 8, div=False, state=state)
        state = (out["m"], out["D"])
    y = np.concatenate([g.softmax_job(x[a:b], offset=a % 8, acc=False, state=state)["y"]
                        for a, b in ((0, 37), (37, 38), (38, 100))])
    ref = g.softmax_row(x)
    assert np.allclose(g.bf16_to_float(y), g.bf16_to_float(ref), rtol=2 ** -7)


@pytest.mark.parametrize("kw, name", [
    (dict(lanes=6), "lanes"), (dict(lanes=2), "lanes"), (dict(lanes=64), "lanes"),
    (dict(mode="exact"), "mode"), (dict(expp_latency=-1), "expp_latency"),
    (dict(mem_base=16, mem_size=0), "mem_size"),
    (dict(addr_width=16, mem_base=0, mem_size=1 << 17), "mem_size"),
    (dict(gelu="yes"), "gelu"), (dict(gelu_terms=2), "gelu_terms"),
    (dict(gelu_terms=7), "gelu_terms"), (dict(gelu_acc_width=7), "gelu_acc_width"),
    (dict(gelu_acc_width=16), "gelu_acc_width"), (dict(gelu_latency=16), "gelu_latency"),
    (dict(gelu_latency=-1), "gelu_latency"), (dict(gelu_method="erf"), "gelu_method")])
@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_engine_parameters_validated(kw, name):
    with pytest.raises(ValueError, match=name):
        SoftmaxEngine(**kw)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_engine_gelu_configuration():
    """GELU runs at L / 2 lanes (the port's rate); the FIFOs cover its latency."""
    e = SoftmaxEngine(8, gelu_method="expp", gelu_latency=4, gelu_terms=5, gelu_acc_width=12)
    assert isinstance(e.gelu_unit, Gelu) and e.gelu_unit.lanes == 4
    assert e.gelu_unit.terms == 5 and e.gelu_unit.acc_width == 12
    assert e.fifo_depth == max(e.exp_latency + OUTPUT_LATENCY + 5, 4 + 7)
    assert SoftmaxEngine(8, gelu_method="expp").gelu_unit.latency == Gelu.N_CUTS
    e = SoftmaxEngine(8)                            # the default: the table
    assert isinstance(e.gelu_unit, GeluTable) and e.gelu_unit.lanes == 4
    assert e.gelu_unit.latency == GeluTable.DEFAULT_LATENCY
    e = SoftmaxEngine(4, gelu=False)
    assert e.gelu_unit is None and e.fifo_depth == max(e.expp_latency, 3) + OUTPUT_LATENCY + 5


def test_gelu_job_golden():
    """gelu_job = int8 -> bf16 (exact), GELU of the unit (table by default, or expp),
    bf16 -> int8, element by element."""
    from sim.golden.gelu import gelu, gelu_job
    from sim.golden.gelu_table import gelu_table
    rng = np.random.default_rng(3)
    x = rng.integers(0, 1 << 16, 500).astype(np.uint16)
    assert np.array_equal(gelu_job(x), gelu_table(x))
    assert np.array_equal(gelu_job(x, method="expp", terms=4), gelu(x, terms=4))
    q = rng.integers(0, 256, 300).astype(np.uint8)
    ci, co = (3, 1), (2, 1)
    for method, unit in (("table", gelu_table), ("expp", gelu)):
        y = gelu_job(q, method=method, in_cast=ci, out_cast=co)
        assert y.dtype == np.uint8
        assert np.array_equal(y, g.bf16_to_int8(unit(g.int8_to_bf16(q, ci)), co))
    with pytest.raises(ValueError, match="method"):
        gelu_job(x, method="erf")


def test_register_map():
    rm = softex_map()
    assert [r.name for r in rm.job_registers] == ["IN_ADDR", "OUT_ADDR", "SLOT_ADDR", "LENGTH",
                                                   "COMMAND", "CAST", "ROWS", "IN_STRIDE",
                                                   "OUT_STRIDE", "SLOT_STRIDE"]
    assert rm["ROWS"].reset == 1 and rm["SLOT_STRIDE"].offset == 0x64    # one row by default
    assert rm["IN_ADDR"].offset == 0x40 and rm["COMMAND"].offset == 0x50
    assert rm["CAST"].offset == 0x54 and rm["CAST"].reset == 0
    assert {f.name: (f.offset, f.width) for f in rm["CAST"].fields} == {
        "IN_INT_BITS": (0, 4), "IN_SIGNED": (4, 1), "OUT_INT_BITS": (8, 4), "OUT_SIGNED": (12, 1)}
    assert rm["COMMAND"].reset == (1 << 4) | (1 << 5)          # ACC | DIV: a full softmax
    assert [c.name for c in rm.counters] == ["STALL_CYCLES", "MEM_BEATS", "MASKED_ROW",
                                             "ROWS_DONE"]
    assert {e.name: e.code for e in rm.error_causes} == {
        "BAD_CMD": 1, "BAD_LENGTH": 2, "BAD_ALIGN": 3, "BAD_ADDR": 4}


def test_register_map_document_is_current():
    """docs/regmaps/softex.md is generated: python -m scripts.regmaps hw.softex.regmap:softex_map"""
    from pathlib import Path

    from flows.regmaps import markdown
    doc = Path(__file__).resolve().parents[2] / "docs" / "regmaps" / "softex.md"
    assert doc.read_text() == markdown(softex_map())
