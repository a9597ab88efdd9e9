"""cocotb tests of the LUT softmax engines (tests/softex/test_lut_softmax_verilator.py builds
them; ``sim.regressions`` entries lut_softmax_a_l8 / lut_softmax_b_l8).

Reuses the SoftEx testbench environment (``sim/benches/softmax_tb.py``: TCDM model with random
grant stalls, RegisterDriver, whole-memory image checks after every job, the run summary)
with the LUT golden models ``sim/golden/lut_softmax.py`` as reference: outputs bit-exact,
nothing else touched, MASKED_ROW, STALL_CYCLES and MEM_BEATS (4 beats per beat of the row)
checked per job. Params as softmax_tb (lanes, mem_base, mem_size, stall, seed, long_n, bench)
plus ``method`` ("a" or "b") and ``random_rows`` (count of random rows in test random_rows).
"""

import json

import cocotb
import numpy as np

from sim.golden import lut_softmax as lut
from sim.benches.softmax_tb import (BASE, CAUSE, L, NEG_INF, P, SEED, SIZE, Env, bf, int8_row,
                                 special_rows)

METHOD = P.get("method", "a")
GOLD, TABLES = lut.method(METHOD)
DEPTH = len(TABLES["lut1"] if METHOD == "a" else TABLES["rexp"])
FRAC = int(TABLES["frac_bits"])


def golden(x, in_cast=None, out_cast=None):
    return GOLD(x, TABLES, in_cast=in_cast, out="q8" if out_cast is not None else "bf16",
                out_cast=out_cast)


def beats(n, addr, size):
    off = (addr // size) % L
    return (off + n + L - 1) // L


class LutEnv(Env):
    async def softmax(self, x, in_addr, out_addr=None, what="", in_cast=None, out_cast=None):
        """Full LUT softmax of row x; checks the result, MASKED_ROW, STALL_CYCLES and
        MEM_BEATS; returns the counters. ``in_cast`` / ``out_cast`` = (int_bits, signed) for
        int8 input / output (x uint8)."""
        out_addr = in_addr if out_addr is None else out_addr
        self.put_row(in_addr, x)
        stalls0 = self.port.stall_cycles
        cause, ctr = await self.run(in_addr, len(x), out_addr=out_addr,
                                    in_fmt=int(in_cast is not None),
                                    out_fmt=int(out_cast is not None),
                                    in_cast=in_cast or (0, 0), out_cast=out_cast or (0, 0))
        assert cause == 0, f"{what}: error cause {cause}"
        g = golden(x, in_cast, out_cast)
        self.exp_out(out_addr, g["y"])
        self.check_memory(what)
        assert ctr["MASKED_ROW"] == int(g["masked"]), f"{what}: MASKED_ROW {ctr['MASKED_ROW']}"
        assert ctr["STALL_CYCLES"] == self.port.stall_cycles - stalls0, what
        nb = beats(len(x), in_addr, 1 if in_cast else 2)
        assert ctr["MEM_BEATS"] == 4 * nb, (what, ctr, nb)
        return ctr


def lut_rows(rng):
    """Rows aimed at the fixed-point front end and the tables."""
    step = 2.0 ** -FRAC
    rows = []
    rows.append(("saturated_tie", bf([5000.0, -1.0, 4096.0, 1e30, 4095.0, 3.0e38, 0.0])))
    rows.append(("saturated_negative", bf([-5000.0, -4096.0, -1e30, -4000.0, -3.0e38])))
    rows.append(("one_element", bf([3.25])))
    rows.append(("one_negative", bf([-7.0])))
    rows.append(("one_int_masked", np.array([NEG_INF, bf(2.0), NEG_INF], np.uint16)))
    # z right at the end of the first table: DEPTH - 1 (last entry) and DEPTH (0)
    rows.append(("table_edge", bf([0.0, -(DEPTH - 1) * step, -DEPTH * step, -(DEPTH + 1) * step,
                                   -(DEPTH - 2) * step, -0.5 * step])))
    # rounding ties of the fixed point (half steps: RNE)
    rows.append(("ties", bf(np.arange(-20, 21) * step * 0.5)))
    rows.append(("quarter_steps", bf(rng.integers(-200, 200, 53) * step * 0.25)))
    rows.append(("peaked", bf(np.concatenate([rng.normal(0, 1, 60), [9.0]]))))
    rows.append(("tiny_values", bf(rng.normal(0, 1e-3, 29))))
    rows.append(("wide", bf(rng.uniform(-6000, 6000, 41))))
    x = rng.integers(0, 1 << 16, 97).astype(np.uint16)          # any finite pattern
    x[(x & 0x7F80) == 0x7F80] &= 0xBFFF
    rows.append(("random_patterns", x))
    x = rng.integers(0, 1 << 16, 64).astype(np.uint16)          # with NaN / inf
    rows.append(("random_patterns_special", x))
    rows.append(("neg_inf_then_pos_inf", np.array([NEG_INF, bf(1.0), 0x7F80], np.uint16)))
    rows.append(("neg_inf_nan_masked", np.array([NEG_INF, 0xFF81, NEG_INF], np.uint16)))
    return rows


@cocotb.test()
async def edge_rows(dut):
    """SoftEx's edge rows (negative, mixed, masks, fully masked, NaN, -NaN, +inf, all equal,
    zeros, subnormals, max at either end, huge range, masked prefix) and the LUT front-end
    rows (saturation ties, one element, table edges, RNE ties, random patterns)."""
    env = await LutEnv(dut, SEED).start()
    rng = np.random.default_rng(SEED + 100)
    addr = BASE + 0x100
    rows = special_rows(rng) + lut_rows(rng)
    for i, (name, x) in enumerate(rows):
        off = 2 * (i % L)
        await env.softmax(x, addr + off, addr + 0x4000 + off, what=name)
        await env.softmax(x, addr + off + 0x8000, what=name + " in place")


@cocotb.test()
async def lengths(dut):
    """Lengths 1 .. 3L+1 at every lane offset of the first element (in place and not)."""
    env = await LutEnv(dut, SEED + 1).start()
    rng = np.random.default_rng(SEED + 101)
    for n in range(1, 3 * L + 2):
        for lane in range(L):
            off = 2 * lane
            x = bf(rng.normal(0, 3, n))
            if (n + lane) % 2:
                await env.softmax(x, BASE + 0x800 + off, what=f"n={n} lane {lane} in place")
            else:
                await env.softmax(x, BASE + 0x800 + off, BASE + 0x2000 + 2 * L + off,
                                  what=f"n={n} lane {lane}")


@cocotb.test()
async def random_rows(dut):
    """Random rows: lengths 1..400, scales 0.5..20, some -inf masks, lane offsets, in place
    or not."""
    env = await LutEnv(dut, SEED + 11).start()
    rng = np.random.default_rng(SEED + 111)
    for r in range(P.get("random_rows", 150)):
        n = int(rng.integers(1, 401))
        x = bf(rng.normal(float(rng.normal(0, 4)), float(rng.uniform(0.5, 20)), n))
        if r % 3 == 0:
            x[rng.random(n) < rng.uniform(0, 0.8)] = NEG_INF
        lane = int(rng.integers(0, L))
        ia = BASE + 0x1000 + 2 * lane
        oa = ia if r % 4 == 0 else BASE + 0x4000 + 2 * lane
        await env.softmax(x, ia, oa, what=f"random row {r} n={n}")


@cocotb.test()
async def long_row(dut):
    """Rows of >= 8192 elements: BF16 with masks, an all-equal BF16 row (the largest sum of
    the test), an int8 row of 16383 elements."""
    env = await LutEnv(dut, SEED + 2).start()
    rng = np.random.default_rng(SEED + 102)
    n = P.get("long_n", 8192)
    x = bf(rng.normal(0, 6, n))
    x[rng.random(n) < 0.05] = NEG_INF
    ctr = await env.softmax(x, BASE + 0x40, BASE + 0x40 + 2 * n + 64, what="long row")
    dut._log.info("long row n=%d: %s", n, ctr)
    ctr = await env.softmax(np.full(n + 3, bf(-2.5), np.uint16), BASE + 0x6, BASE + 0x8006,
                            what="long all equal")
    m = 16383 if P.get("long_n", 8192) >= 8192 else n
    q = int8_row(rng, m, (4, 1))
    ctr = await env.softmax(q, BASE + 0x10003, BASE + 0x14003, in_cast=(4, 1), out_cast=(0, 0),
                            what="long int8 row")
    dut._log.info("long int8 row n=%d: %s", m, ctr)


@cocotb.test()
async def int8_io(dut):
    """int8 input, int8 output and mixed: several int_bits, both signedness, lengths not
    multiple of L at every lane offset, in place and not, int8 edge rows; BF16 NaN and fully
    masked rows into int8."""
    env = await LutEnv(dut, SEED + 8).start()
    rng = np.random.default_rng(SEED + 108)
    casts = [(0, 0), (0, 1), (3, 1), (2, 0), (7, 1), (8, 0), (12, 1), (15, 0), (4, 1), (1, 0)]
    k = 0
    for n in list(range(1, 2 * L + 2)) + [3 * L + 5, 200]:
        for kind in ("int8-int8", "bf16-int8", "int8-bf16"):
            ci, co = casts[k % len(casts)], casts[(3 * k + 1) % len(casts)]
            k += 1
            if kind == "bf16-int8":
                x, in_cast, isz = bf(rng.normal(0, 3, n)), None, 2
                if n > 3:
                    x[rng.random(n) < 0.2] = NEG_INF
            else:
                x, in_cast, isz = int8_row(rng, n, ci), ci, 1
            out_cast, osz = (None, 2) if kind == "int8-bf16" else (co, 1)
            lane = int(rng.integers(0, L))
            ia = BASE + 0x800 + isz * lane
            in_place = isz == osz and n % 3 == 0
            oa = ia if in_place else BASE + 0x4000 + 2 * L * int(rng.integers(0, 4)) + osz * lane
            await env.softmax(x, ia, oa, what=f"{kind} n={n} cast {in_cast} -> {out_cast}",
                              in_cast=in_cast, out_cast=out_cast)
    edge = [
        ("one hot unsigned", np.array([0] * 9 + [255] + [0] * 5, np.uint8), (0, 0), (0, 0)),
        ("all equal", np.full(3 * L + 1, 0x80, np.uint8), (4, 1), (0, 0)),
        ("all equal signed out", np.full(2 * L - 1, 7, np.uint8), (0, 0), (0, 1)),
        ("extremes", np.array([0x80, 0x7F, 0xFF, 0x00, 0x01] * 7, np.uint8), (15, 1), (2, 1)),
        ("scaled up", int8_row(rng, 37, (15, 0)), (15, 0), (15, 0)),
        ("fine steps", int8_row(rng, 45, (0, 1)), (0, 1), (0, 0)),
        ("q8 codes", int8_row(rng, 30, (2, 1)), (2, 1), (0, 0)),
    ]
    for i, (what, x, ci, co) in enumerate(edge):
        ia = BASE + 0x1000 + 0x100 * i + i
        await env.softmax(x, ia, ia + 0x3000, what=what, in_cast=ci, out_cast=co)
    x = bf(rng.normal(0, 3, 11)); x[4] = 0x7FC0
    await env.softmax(x, BASE + 0x2002, BASE + 0x2801, what="nan to int8", out_cast=(0, 0))
    await env.softmax(np.full(13, NEG_INF, np.uint16), BASE + 0x2102, BASE + 0x2901,
                      what="masked to int8", out_cast=(1, 1))


@cocotb.test()
async def back_to_back(dut):
    """Jobs queued on both contexts while the previous one runs (BF16 and int8 mixed)."""
    env = await LutEnv(dut, SEED + 4).start()
    rng = np.random.default_rng(SEED + 104)
    jobs = []
    for k in range(8):
        n = int(rng.integers(1, 200))
        if k % 3 == 2:
            x, ci, co = int8_row(rng, n, (3, 1)), (3, 1), (0, 0)
            ia = BASE + 0x800 * k + int(rng.integers(0, L))
        else:
            x, ci, co = bf(rng.normal(0, 5, n)), None, None
            ia = BASE + 0x800 * k + 2 * int(rng.integers(0, L))
        oa = ia + 0x10000
        env.put_row(ia, x)
        jobs.append((x, ia, oa, ci, co))
    before = env.events.count
    ids = []
    for x, ia, oa, ci, co in jobs:
        ids.append(await env.submit(ia, len(x), out_addr=oa, in_fmt=int(ci is not None),
                                    out_fmt=int(co is not None), in_cast=ci or (0, 0),
                                    out_cast=co or (0, 0)))
    await env.wait_events(before + len(jobs))
    assert set(ids) == {0, 1}, ids
    err = await env.drv.error()
    assert err["CAUSE"] == 0, err
    for x, ia, oa, ci, co in jobs:
        env.exp_out(oa, golden(x, ci, co)["y"])
    env.check_memory("back to back")


@cocotb.test()
async def soft_clear(dut):
    """SOFT_CLEAR in the middle of a job (in pass 1, pass 2 and pass 3): no done event, then a
    new job runs correctly."""
    env = await LutEnv(dut, SEED + 5).start()
    rng = np.random.default_rng(SEED + 105)
    n = 2048
    for delay in (60, 450, 900, 1300):
        x = bf(rng.normal(0, 5, n))
        ia, oa = BASE + 0x100, BASE + 0x8000
        env.put_row(ia, x)
        before = env.events.count
        await env.submit(ia, n, out_addr=oa)
        await env.ticker.tick(delay)
        await env.drv.soft_clear()
        await env.ticker.tick(50)
        assert env.events.count == before, "done event for an aborted job"
        assert (await env.drv.status())["BUSY"] == 0
        env.expect[oa - BASE:oa - BASE + 2 * n] = env.mem.array[oa - BASE:oa - BASE + 2 * n]
        env.check_memory(f"after clear at {delay}")
        y = bf(rng.normal(0, 5, 100))
        await env.softmax(y, BASE + 0x6002, BASE + 0x7002, what="job after clear")


@cocotb.test()
async def misprogrammed(dut):
    """Every misprogrammed job ends with its error cause and a done event, in 3 cycles and
    without memory access; the slot commands (LOAD, SAVE, ACC-only, DIV-only) and GELU are
    BAD_CMD on the LUT engines."""
    env = await LutEnv(dut, SEED + 6).start()
    x = bf(np.arange(10.0))
    ia = BASE + 0x200
    env.put_row(ia, x)
    end = BASE + SIZE
    cases = [
        ("zero length", dict(in_addr=ia, n=0), "BAD_LENGTH"),
        ("gelu", dict(in_addr=ia, n=10, op=1), "BAD_CMD"),
        ("unknown op", dict(in_addr=ia, n=10, op=2), "BAD_CMD"),
        ("unknown op 7", dict(in_addr=ia, n=10, op=7), "BAD_CMD"),
        ("input format 2", dict(in_addr=ia, n=10, in_fmt=2), "BAD_CMD"),
        ("output format 3", dict(in_addr=ia, n=10, out_fmt=3, out_addr=ia + 1), "BAD_CMD"),
        ("acc only", dict(in_addr=ia, n=10, div=0), "BAD_CMD"),
        ("div only", dict(in_addr=ia, n=10, acc=0), "BAD_CMD"),
        ("div with load", dict(in_addr=ia, n=10, acc=0, load=1, slot=BASE), "BAD_CMD"),
        ("load", dict(in_addr=ia, n=10, load=1, slot=BASE), "BAD_CMD"),
        ("save", dict(in_addr=ia, n=10, save=1, slot=BASE), "BAD_CMD"),
        ("save without div", dict(in_addr=ia, n=10, div=0, save=1, slot=BASE), "BAD_CMD"),
        ("no pass", dict(in_addr=ia, n=10, acc=0, div=0), "BAD_CMD"),
        ("slot cmd and zero length", dict(in_addr=ia, n=0, save=1, slot=BASE + 4), "BAD_CMD"),
        ("int8 out other lane", dict(in_addr=ia, n=10, out_fmt=1, out_addr=ia + 0x101),
         "BAD_ALIGN"),
        ("bf16 out odd, int8 in", dict(in_addr=ia + 1, n=10, in_fmt=1, out_addr=ia + 3),
         "BAD_ALIGN"),
        ("int8 in beyond memory", dict(in_addr=end - 9, n=10, in_fmt=1, out_fmt=1,
                                       out_addr=ia + 7), "BAD_ADDR"),
        ("bf16 out beyond memory, int8 in", dict(in_addr=end - 10, n=10, in_fmt=1,
                                                 out_addr=end - 20 + 0x20), "BAD_ADDR"),
        ("odd in", dict(in_addr=ia + 1, n=10), "BAD_ALIGN"),
        ("out other lane", dict(in_addr=ia, n=10, out_addr=ia + 0x100 + 2), "BAD_ALIGN"),
        ("in below memory", dict(in_addr=BASE - 0x100, n=10), "BAD_ADDR"),
        ("in beyond memory", dict(in_addr=end - 16, n=10, out_addr=ia - 0x100), "BAD_ADDR"),
        ("out beyond memory", dict(in_addr=ia, n=10, out_addr=end + 0x1000), "BAD_ADDR"),
        ("huge length", dict(in_addr=ia, n=(1 << 24) - 1), "BAD_ADDR"),
        ("slot ignored", dict(in_addr=ia, n=10, slot=BASE + 3, out_addr=end), "BAD_ADDR"),
    ]
    for what, kw, cause_name in cases:
        in_addr, n = kw.pop("in_addr"), kw.pop("n")
        cause, ctr = await env.run(in_addr, n, **kw)
        assert cause == CAUSE[cause_name], f"{what}: cause {cause}, expected {cause_name}"
        assert ctr["JOB_CYCLES"] == 3 and ctr["MEM_BEATS"] == 0, (what, ctr)
        assert ctr["MASKED_ROW"] == 0, (what, ctr)
        env.check_memory(what)
    await env.softmax(x, ia, what="after errors")
    # a fully masked row then an error: MASKED_ROW follows the job
    await env.softmax(np.full(5, NEG_INF, np.uint16), ia + 0x40, what="masked")
    cause, ctr = await env.run(ia, 10, save=1, slot=BASE)
    assert cause == CAUSE["BAD_CMD"] and ctr["MASKED_ROW"] == 0, ctr


@cocotb.test()
async def multi_row(dut):
    """Jobs of several rows (ROWS.COUNT, IN_STRIDE, OUT_STRIDE; SLOT_STRIDE is ignored like
    SLOT_ADDR): every row as its own job would compute it, with moving lane offsets, a
    negative stride, a fully masked row, int8 rows; then a row that fails (BAD_ADDR after two
    rows written, ROWS_DONE = 2) and ROWS.COUNT = 0 (BAD_LENGTH)."""
    env = await LutEnv(dut, SEED + 8).start()
    rng = np.random.default_rng(SEED + 108)

    async def rows_job(xs, ia, oa, strides, what, in_cast=None, out_cast=None):
        size = 1 if in_cast else 2
        for r, x in enumerate(xs):
            env.put_row(ia + r * strides[0], x)
        cause, ctr = await env.run(ia, len(xs[0]), out_addr=oa, rows=len(xs), strides=strides,
                                   slot=BASE + 3, in_fmt=int(in_cast is not None),
                                   out_fmt=int(out_cast is not None), in_cast=in_cast or (0, 0),
                                   out_cast=out_cast or (0, 0))
        assert cause == 0, f"{what}: error cause {cause}"
        masked = nb = 0
        for r, x in enumerate(xs):
            g = golden(x, in_cast, out_cast)
            env.exp_out(oa + r * strides[1], g["y"])
            masked += int(g["masked"])
            nb += beats(len(x), ia + r * strides[0], size)
        env.check_memory(what)
        assert ctr["ROWS_DONE"] == len(xs) and ctr["MASKED_ROW"] == masked, (what, ctr)
        assert ctr["MEM_BEATS"] == 4 * nb, (what, ctr, nb)
        return ctr

    xs = [bf(rng.normal(0, 5, 37)) for _ in range(5)]
    xs[2] = np.full(37, NEG_INF, np.uint16)
    ctr = await rows_job(xs, BASE + 0x1000, BASE + 0x4000, (0x102, 0x202, 0x13), "lanes move")
    assert ctr["MASKED_ROW"] == 1
    await rows_job(xs[:3], BASE + 0x6000, BASE + 0x7000, (-0x180, -0x200, 0), "negative stride")
    for ci, co in (((3, 1), (0, 0)), ((2, 0), None), (None, (4, 1))):
        q = [int8_row(rng, 29, ci) if ci else bf(rng.normal(0, 3, 29)) for _ in range(3)]
        sin, sout = (0x41 if ci else 0x82), (0x41 if co else 0x82)
        await rows_job(q, BASE + 0x8000 + (3 if ci else 6), BASE + 0x9000 + (3 if co else 6),
                       (sin, sout, 0), f"int8 {ci} -> {co}", in_cast=ci, out_cast=co)

    xs = [bf(rng.normal(0, 5, 40)) for _ in range(2)]
    ia, oa = BASE + 0x1000, BASE + 0x2000
    stride = (BASE + SIZE - ia) // 2
    for r, x in enumerate(xs):
        env.put_row(ia + r * stride, x)
    cause, ctr = await env.run(ia, 40, out_addr=oa, rows=4, strides=(stride, 0x100, 0))
    assert cause == CAUSE["BAD_ADDR"] and ctr["ROWS_DONE"] == 2, (cause, ctr)
    for r, x in enumerate(xs):
        env.exp_out(oa + r * 0x100, golden(x)["y"])
    env.check_memory("row 2 outside")
    cause, ctr = await env.run(ia, 40, out_addr=oa, rows=0)
    assert cause == CAUSE["BAD_LENGTH"] and ctr["JOB_CYCLES"] == 3, (cause, ctr)
    assert ctr["ROWS_DONE"] == 0 and ctr["MEM_BEATS"] == 0, ctr
    env.check_memory("no rows")


@cocotb.test()
async def bench(dut):
    """Cycles per row (JOB_CYCLES) for the lengths in params 'bench' (no stalls); also int8 in
    and out (keys "int8_<n>"). Written to result.json."""
    lengths = P.get("bench", [])
    if not lengths:
        return
    env = await LutEnv(dut, SEED + 7, stall=0.0).start()
    rng = np.random.default_rng(SEED + 107)
    out = {}
    for n in lengths:
        x = bf(rng.normal(0, 5, n))
        ctr = await env.softmax(x, BASE, BASE + 2 * n, what=f"bench {n}")
        out[n] = ctr["JOB_CYCLES"]
        dut._log.info("n=%d: %d cycles", n, ctr["JOB_CYCLES"])
        if P.get("bench_int8") and n <= SIZE // 4:
            q = rng.integers(0, 256, n).astype(np.uint8)
            ctr = await env.softmax(q, BASE, BASE + 2 * n, what=f"bench int8 {n}",
                                    in_cast=(3, 1), out_cast=(0, 0))
            out[f"int8_{n}"] = ctr["JOB_CYCLES"]
    with open("result.json", "w") as f:
        json.dump({str(k): v for k, v in out.items()}, f)
