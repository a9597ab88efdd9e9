"""cocotb tests of the SoftEx softmax engine (tests/softex/test_softmax_verilator.py builds it).

The scratchpad is the TCDM model (random grant stalls); the register file is driven through
RegisterDriver on a TCDMMaster. After every job the expected memory image (golden model
applied to a copy of the memory) is compared with the whole memory: outputs 0-ULP, slots
bit-exact, nothing else touched. Params: lanes, mem_base, mem_size, stall, seed, mode,
bench (list of row lengths: only measure cycles, written to result.json), bench_int8 (also
measure int8 -> int8 rows, keys "int8_<n>"), gelu (the engine has the GELU unit), gelu_method,
gelu_terms, gelu_acc_width (its unit, K and W; bench also measures GELU jobs, keys
"gelu_<n>"), adversarial
(default True: run the short adversarial rows of ``sim.softmax_accuracy``, test
``adversarial_rows``).
"""

import json
import random
import time

import cocotb
import numpy as np

from hw.softex.regmap import softex_map
from sim import softmax_accuracy
from sim.golden import softmax as gold
from sim.golden.gelu import gelu_job
from sim.golden.expp import float_to_bf16
from sim.tb.bus import TCDMMaster
from sim.tb.clock import Sig, Ticker
from sim.tb.params import load_params
from sim.tb.regs import RegisterDriver
from sim.tb.summary import RunSummary
from sim.tb.tcdm import TCDMMemory

P = load_params()
L = P.get("lanes", 8)
BASE = P.get("mem_base", 0x1000_0000)
SIZE = P.get("mem_size", 0x20000)
STALL = P.get("stall", 0.3)
SEED = P.get("seed", 1)
MODE = P.get("mode", "accurate")
GELU = P.get("gelu", True)
GELU_METHOD = P.get("gelu_method", "table")
GELU_K = P.get("gelu_terms")
GELU_W = P.get("gelu_acc_width", 14)
RM = softex_map()
CAUSE = {e.name: e.code for e in RM.error_causes}
NEG_INF = 0xFF80
SUMMARY = RunSummary(P)          # totals for the make sim report (summary.json)


def golden_gelu(x, **casts):
    """The engine's GELU job on ``x`` (:func:`sim.golden.gelu.gelu_job` of its unit)."""
    return gelu_job(x, method=GELU_METHOD, terms=GELU_K, acc_width=GELU_W, expp_mode=MODE,
                    **casts)


class EventCounter:
    """Agent counting done_event pulses."""

    def __init__(self, dut):
        self.sig = Sig(dut, "done_event")
        self.count = 0
        self.done = None

    def sample(self):
        if self.sig.get():
            self.count += 1


class Env:
    def __init__(self, dut, seed, stall=STALL):
        self.dut = dut
        self.rng = np.random.default_rng(seed)
        self.mem = TCDMMemory(SIZE, base=BASE)
        self.mem.array[:] = self.rng.integers(0, 256, SIZE, dtype=np.uint8)
        self.expect = self.mem.array.copy()
        self.stall = stall
        self.seed = seed
        self.expected = 0        # outputs and slots expected since the last check
        self.waited = [0, 0.0]   # cycles and seconds spent waiting for done events

    async def start(self):
        dut = self.dut
        self.ticker = await Ticker(dut).start()
        self.port = self.mem.port(dut, "tcdm", stall=self.stall, seed=self.seed + 5)
        self.events = EventCounter(dut)
        self.ticker.start_agents(self.port, self.events)
        self.master = TCDMMaster(dut, prefix="cfg__", rng=random.Random(self.seed + 7),
                                 gap_prob=0.2)
        self.drv = RegisterDriver(self.master, RM)
        return self

    # -- memory helpers ----------------------------------------------------------------------
    def put_row(self, addr, x):
        """Store a row: BF16 (uint16 patterns) or int8 (uint8 patterns)."""
        x = np.asarray(x)
        x = x if x.dtype == np.uint8 else x.astype(np.uint16)
        self.mem.load(addr, x)
        self._exp_store(addr, x.view(np.uint8))

    def _exp_store(self, addr, raw):
        off = addr - BASE
        self.expect[off:off + len(raw)] = raw

    def exp_bf16(self, addr, y):
        self._exp_store(addr, np.asarray(y, dtype="<u2").view(np.uint8))
        self.expected += len(y)

    def exp_out(self, addr, y):
        """Expected outputs: BF16 (uint16) or int8 (uint8)."""
        y = np.asarray(y)
        self._exp_store(addr, y if y.dtype == np.uint8 else np.asarray(y, dtype="<u2").view(np.uint8))
        self.expected += len(y)

    def exp_slot(self, addr, m, D):
        self._exp_store(addr, np.array([int(D), int(m)], dtype="<u4").view(np.uint8))
        self.expected += 1

    def check_memory(self, what=""):
        got = self.mem.array
        ok = np.array_equal(got, self.expect)
        SUMMARY.checked(self.expected, ok)
        self.expected = 0
        if not ok:
            bad = np.nonzero(got != self.expect)[0]
            b = int(bad[0])
            raise AssertionError(f"{what}: memory differs at {len(bad)} bytes, first at "
                                 f"{BASE + b:#x}: got {got[b]:#04x}, expected {self.expect[b]:#04x}")
        self.port.check()

    # -- jobs --------------------------------------------------------------------------------
    async def submit(self, in_addr, n, out_addr=None, slot=0, acc=1, div=1, load=0, save=0,
                     op=0, in_fmt=0, out_fmt=0, in_cast=(0, 0), out_cast=(0, 0), rows=1,
                     strides=(0, 0, 0)):
        """Program and trigger one job; ``strides`` = (IN, OUT, SLOT) in bytes (negative:
        two's complement)."""
        return await self.drv.program({
            "IN_ADDR": in_addr, "OUT_ADDR": in_addr if out_addr is None else out_addr,
            "SLOT_ADDR": slot, "LENGTH": {"ELEMS": n}, "ROWS": {"COUNT": rows},
            "IN_STRIDE": strides[0] % (1 << 32), "OUT_STRIDE": strides[1] % (1 << 32),
            "SLOT_STRIDE": strides[2] % (1 << 32),
            "COMMAND": {"OP": op, "ACC": acc, "DIV": div, "LOAD": load, "SAVE": save,
                        "IN_FMT": in_fmt, "OUT_FMT": out_fmt},
            "CAST": {"IN_INT_BITS": in_cast[0], "IN_SIGNED": in_cast[1],
                     "OUT_INT_BITS": out_cast[0], "OUT_SIGNED": out_cast[1]}})

    async def wait_events(self, count, max_cycles=2_000_000):
        start = self.ticker.cycle
        t0 = time.perf_counter()
        while self.events.count < count:
            await self.ticker.tick()
            if self.ticker.cycle - start > max_cycles:
                raise AssertionError(f"no done event after {max_cycles} cycles: hang")
        self.waited[0] += self.ticker.cycle - start      # simulated cycles and seconds of the
        self.waited[1] += time.perf_counter() - t0       # jobs (scripts.bench_sim)

    async def run(self, in_addr, n, **kw):
        """Submit one job, wait for its done event; returns (cause, counters)."""
        before = self.events.count
        await self.submit(in_addr, n, **kw)
        await self.wait_events(before + 1)
        err = await self.drv.error()
        if err["CAUSE"]:
            await self.drv.clear_error()
        return err["CAUSE"], await self.drv.counters()

    async def softmax(self, x, in_addr, out_addr=None, what="", in_cast=None, out_cast=None):
        """Full softmax of row x; checks result and MASKED_ROW; returns counters.
        ``in_cast`` / ``out_cast`` = (int_bits, signed) for int8 input / output (x uint8)."""
        out_addr = in_addr if out_addr is None else out_addr
        self.put_row(in_addr, x)
        stalls0 = self.port.stall_cycles
        cause, ctr = await self.run(in_addr, len(x), out_addr=out_addr,
                                    in_fmt=int(in_cast is not None),
                                    out_fmt=int(out_cast is not None),
                                    in_cast=in_cast or (0, 0), out_cast=out_cast or (0, 0))
        assert cause == 0, f"{what}: error cause {cause}"
        g = gold.softmax_job(x, lanes=L, mode=MODE, in_cast=in_cast, out_cast=out_cast,
                             offset=gold.lane_offset(in_addr, L, 1 if in_cast else 2))
        self.exp_out(out_addr, g["y"])
        self.check_memory(what)
        assert ctr["MASKED_ROW"] == int(g["masked"]), f"{what}: MASKED_ROW {ctr['MASKED_ROW']}"
        assert ctr["STALL_CYCLES"] == self.port.stall_cycles - stalls0, what
        return ctr


    async def gelu(self, x, in_addr, out_addr=None, what="", in_cast=None, out_cast=None,
                   **cmd):
        """GELU job on x; checks the output and MASKED_ROW = 0; returns counters. ``cmd``:
        other COMMAND bits (GELU ignores ACC, DIV, LOAD, SAVE)."""
        out_addr = in_addr if out_addr is None else out_addr
        self.put_row(in_addr, x)
        stalls0 = self.port.stall_cycles
        cause, ctr = await self.run(in_addr, len(x), out_addr=out_addr, op=1,
                                    in_fmt=int(in_cast is not None),
                                    out_fmt=int(out_cast is not None),
                                    in_cast=in_cast or (0, 0), out_cast=out_cast or (0, 0),
                                    **cmd)
        assert cause == 0, f"{what}: error cause {cause}"
        self.exp_out(out_addr, golden_gelu(x, in_cast=in_cast, out_cast=out_cast))
        self.check_memory(what)
        assert ctr["MASKED_ROW"] == 0, f"{what}: MASKED_ROW after GELU"
        assert ctr["STALL_CYCLES"] == self.port.stall_cycles - stalls0, what
        nb = gold.beats(len(x), gold.lane_offset(in_addr, L, 1 if in_cast else 2), L)
        assert ctr["MEM_BEATS"] == 2 * nb, (what, ctr)
        return ctr


def bf(v):
    return float_to_bf16(np.asarray(v, dtype=np.float64))


def special_rows(rng):
    """(name, row) pairs covering the documented edge semantics."""
    rows = []
    rows.append(("negative", bf(-rng.uniform(0.5, 20, 37))))
    rows.append(("mixed", bf(rng.normal(0, 4, 45))))
    x = bf(rng.normal(0, 3, 40))
    x[rng.random(40) < 0.4] = NEG_INF
    rows.append(("masks", x))
    rows.append(("fully_masked", np.full(21, NEG_INF, np.uint16)))
    x = bf(rng.normal(0, 3, 19)); x[7] = 0x7FC0
    rows.append(("nan", x))
    x = bf(rng.normal(0, 3, 19)); x[3] = 0xFFC1
    rows.append(("neg_nan", x))
    x = bf(rng.normal(0, 3, 19)); x[11] = 0x7F80
    rows.append(("pos_inf", x))
    rows.append(("all_equal", np.full(33, bf(1.5), np.uint16)))
    rows.append(("all_zero", np.zeros(17, np.uint16)))
    x = rng.integers(1, 0x80, 26).astype(np.uint16) | np.where(rng.random(26) < .5, 0x8000, 0).astype(np.uint16)
    rows.append(("subnormals", x))
    x = bf(rng.normal(0, 2, 24)); x[::3] = rng.integers(1, 0x80, 8)
    rows.append(("subnormals_mixed", x))
    rows.append(("max_at_end", bf(np.linspace(-30, 30, 50))))
    rows.append(("max_at_start", bf(np.linspace(30, -30, 50))))
    rows.append(("huge_range", bf(np.concatenate([rng.uniform(-3e38, 3e38, 20), [0.0]]))))
    rows.append(("first_masked_then_values", np.concatenate([np.full(20, NEG_INF, np.uint16),
                                                             bf(rng.normal(0, 1, 9))])))
    return rows


@cocotb.test()
async def edge_rows(dut):
    env = await Env(dut, SEED).start()
    rng = np.random.default_rng(SEED + 100)
    addr = BASE + 0x100
    for i, (name, x) in enumerate(special_rows(rng)):
        off = 2 * (i % L)
        await env.softmax(x, addr + off, addr + 0x4000 + off, what=name)


@cocotb.test()
async def lengths(dut):
    """Lengths 1 .. 3L+1 at every lane offset of the first element (in place and not)."""
    env = await Env(dut, SEED + 1).start()
    rng = np.random.default_rng(SEED + 101)
    for n in range(1, 3 * L + 2):
        off = 2 * (n % L)
        x = bf(rng.normal(0, 5, n))
        if n % 2:
            await env.softmax(x, BASE + 0x800 + off, what=f"n={n} in place")
        else:
            await env.softmax(x, BASE + 0x800 + off, BASE + 0x2000 + 2 * L + off, what=f"n={n}")


@cocotb.test()
async def long_row(dut):
    env = await Env(dut, SEED + 2).start()
    rng = np.random.default_rng(SEED + 102)
    n = P.get("long_n", 8192)
    x = bf(rng.normal(0, 6, n))
    x[rng.random(n) < 0.05] = NEG_INF
    ctr = await env.softmax(x, BASE + 0x40, BASE + 0x40 + 2 * n + 64, what="long row")
    nb = -(-n // L)
    assert ctr["MEM_BEATS"] == 3 * nb, ctr
    dut._log.info("long row n=%d: %s", n, ctr)


@cocotb.test()
async def split_rows(dut):
    """Two rows, each split into chunks, interleaved; state in slots. Chunk jobs: first
    (ACC+SAVE), middle (LOAD+ACC+SAVE), last (LOAD+ACC+SAVE+DIV), then the earlier chunks are
    normalised by DIV-only jobs (LOAD+DIV)."""
    env = await Env(dut, SEED + 3).start()
    rng = np.random.default_rng(SEED + 103)
    rows = [bf(rng.normal(0, 4, 61)), bf(np.linspace(-5, 40, 77)),
            np.concatenate([np.full(20, NEG_INF, np.uint16), bf(rng.normal(0, 4, 30))])]
    rows[0][rng.random(61) < 0.2] = NEG_INF
    cuts = [[0, 13, 40, 61], [0, 30, 31, 77], [0, 20, 21, 50]]   # row 2: first chunk masked
    in_base = [BASE + 0x1000, BASE + 0x1400, BASE + 0x1802]
    out_base = [BASE + 0x2000, BASE + 0x2400, BASE + 0x2802]
    slots = [BASE + 0x3000, BASE + 0x3008, BASE + 0x3010]
    state = [None, None, None]
    nch = 3
    for c in range(nch):
        for r in range(3):
            x = rows[r]
            a, b = cuts[r][c], cuts[r][c + 1]
            ia, oa = in_base[r] + 2 * a, out_base[r] + 2 * a
            if c == 0:
                env.put_row(in_base[r], x)
            last = c == nch - 1
            cause, ctr = await env.run(ia, b - a, out_addr=oa, slot=slots[r], acc=1, div=int(last),
                                       load=int(c > 0), save=1)
            assert cause == 0
            g = gold.softmax_job(x[a:b], lanes=L, offset=gold.lane_offset(ia, L), acc=True,
                                 div=last, state=state[r], mode=MODE)
            assert ctr["MASKED_ROW"] == int(g["masked"]), (r, c, ctr)
            state[r] = (g["m"], g["D"])
            env.exp_slot(slots[r], g["m"], g["D"])
            if last:
                env.exp_bf16(oa, g["y"])
            env.check_memory(f"row {r} chunk {c}")
    assert state[2] is not None
    for r in range(3):
        for c in range(nch - 1):
            a, b = cuts[r][c], cuts[r][c + 1]
            ia, oa = in_base[r] + 2 * a, out_base[r] + 2 * a
            cause, _ = await env.run(ia, b - a, out_addr=oa, slot=slots[r], acc=0, div=1, load=1)
            assert cause == 0
            g = gold.softmax_job(rows[r][a:b], lanes=L, offset=gold.lane_offset(ia, L), acc=False,
                                 state=state[r], mode=MODE)
            env.exp_bf16(oa, g["y"])
        env.check_memory(f"row {r} normalised")
        # the chunked result is close to the single-job softmax
        y = gold.bf16_to_float(env.mem.read_bf16(out_base[r], len(rows[r])))
        ref = gold.reference(rows[r])
        assert np.allclose(y, ref, rtol=0.1, atol=1e-3), (y, ref)


@cocotb.test(skip=not P.get("adversarial", True))
async def adversarial_rows(dut):
    """Short rows of the adversarial accuracy suite (``sim.softmax_accuracy.rtl_rows``: the
    maximum rising by a small step on every beat, position biases up and down, n <= 2048) at
    moving lane offsets, and one rising row split into chunks through a slot (first, middle,
    last, then normalise-only jobs): outputs 0-ULP and the slot bit-exact, as every row."""
    env = await Env(dut, SEED + 11).start()
    ia, oa, slot = BASE + 0x100, BASE + 0x8000, BASE + 0x7F00
    for i, (name, x) in enumerate(softmax_accuracy.rtl_rows(L)):
        off = 2 * ((3 * i) % L)
        await env.softmax(x, ia + off, oa + off, what=f"adversarial {name}")
    for name, x, cuts in softmax_accuracy.rtl_split_rows(L):
        ib, ob = ia + 2 * 3, oa + 2 * 3
        env.put_row(ib, x)
        bounds = list(zip(cuts[:-1], cuts[1:]))
        state = None
        for c, (a, b) in enumerate(bounds):
            last = c == len(bounds) - 1
            cause, _ = await env.run(ib + 2 * a, b - a, out_addr=ob + 2 * a, slot=slot, acc=1,
                                       div=int(last), load=int(c > 0), save=1)
            assert cause == 0, (name, c, cause)
            g = gold.softmax_job(x[a:b], lanes=L, offset=gold.lane_offset(ib + 2 * a, L),
                                 div=last, state=state, mode=MODE)
            state = (g["m"], g["D"])
            env.exp_slot(slot, g["m"], g["D"])
            if last:
                env.exp_bf16(ob + 2 * a, g["y"])
            env.check_memory(f"{name} chunk {c}")
        for a, b in bounds[:-1]:
            cause, _ = await env.run(ib + 2 * a, b - a, out_addr=ob + 2 * a, slot=slot, acc=0,
                                     div=1, load=1)
            assert cause == 0, (name, cause)
            g = gold.softmax_job(x[a:b], lanes=L, offset=gold.lane_offset(ib + 2 * a, L),
                                 acc=False, state=state, mode=MODE)
            env.exp_bf16(ob + 2 * a, g["y"])
        env.check_memory(f"{name} normalised")


@cocotb.test()
async def multi_row(dut):
    """Jobs of several rows (ROWS.COUNT, the three strides): every row as its own one-row job
    would compute it, at lane offsets that move from row to row, with a negative stride, a
    fully masked row (MASKED_ROW counts it), int8 rows, split rows whose chunks are multi-row
    jobs with one slot per row, GELU rows; then a row that fails (BAD_ADDR: the rows before it
    are written, ROWS_DONE says how many) and ROWS.COUNT = 0 (BAD_LENGTH)."""
    env = await Env(dut, SEED + 8).start()
    rng = np.random.default_rng(SEED + 108)

    async def rows_job(xs, ia, oa, strides, what, in_cast=None, out_cast=None, **kw):
        size = 1 if in_cast else 2
        for r, x in enumerate(xs):
            env.put_row(ia + r * strides[0], x)
        cause, ctr = await env.run(ia, len(xs[0]), out_addr=oa, rows=len(xs), strides=strides,
                                   in_fmt=int(in_cast is not None),
                                   out_fmt=int(out_cast is not None), in_cast=in_cast or (0, 0),
                                   out_cast=out_cast or (0, 0), **kw)
        assert cause == 0, f"{what}: error cause {cause}"
        masked = 0
        for r, x in enumerate(xs):
            off = gold.lane_offset(ia + r * strides[0], L, size)
            if kw.get("op") == 1:
                y = golden_gelu(x, in_cast=in_cast, out_cast=out_cast)
            else:
                g = gold.softmax_job(x, lanes=L, mode=MODE, in_cast=in_cast, out_cast=out_cast,
                                     offset=off)
                y, masked = g["y"], masked + int(g["masked"])
            env.exp_out(oa + r * strides[1], y)
        env.check_memory(what)
        assert ctr["ROWS_DONE"] == len(xs) and ctr["MASKED_ROW"] == masked, (what, ctr)
        return ctr

    n = 37
    xs = [bf(rng.normal(0, 5, n)) for _ in range(5)]
    xs[2] = np.full(n, NEG_INF, np.uint16)
    # one lane further every row (in and out alike), then the same rows walking down memory
    one = await rows_job(xs, BASE + 0x1000, BASE + 0x4000, (0x102, 0x202, 0), "lanes move")
    assert one["MASKED_ROW"] == 1
    await rows_job(xs[:3], BASE + 0x6000, BASE + 0x7000, (-0x180, -0x200, 0), "negative stride")
    for ci, co in (((3, 1), (0, 0)), ((2, 0), None), (None, (4, 1))):
        q = [int8_row(rng, 29, ci) if ci else bf(rng.normal(0, 3, 29)) for _ in range(3)]
        sin, sout = (0x41 if ci else 0x82), (0x41 if co else 0x82)
        await rows_job(q, BASE + 0x8000 + (3 if ci else 6), BASE + 0x9000 + (3 if co else 6),
                       (sin, sout, 0),
                       f"int8 {ci} -> {co}", in_cast=ci, out_cast=co)
    if GELU:
        await rows_job([bf(rng.normal(0, 2, 21)) for _ in range(4)], BASE + 0xA000,
                       BASE + 0xA800, (0x40, 0x60, 0), "gelu rows", op=1)

    # split rows: chunk c of every row in one job, slots 16 bytes apart
    R, cuts = 4, [0, 24, 25, 60]
    pitch, ia0, oa0, slot0 = 0x100, BASE + 0xC000, BASE + 0xD000, BASE + 0xE000
    rows = [bf(rng.normal(0, 4, cuts[-1])) for _ in range(R)]
    rows[1][:30] = NEG_INF
    for r in range(R):
        env.put_row(ia0 + r * pitch, rows[r])
    state = [None] * R
    strides = (pitch, pitch, 16)
    for c in range(3):
        a, b = cuts[c], cuts[c + 1]
        last = c == 2
        cause, ctr = await env.run(ia0 + 2 * a, b - a, out_addr=oa0 + 2 * a, slot=slot0,
                                   load=int(c > 0), save=1, div=int(last), rows=R,
                                   strides=strides)
        assert cause == 0 and ctr["ROWS_DONE"] == R, ctr
        for r in range(R):
            g = gold.softmax_job(rows[r][a:b], lanes=L, offset=gold.lane_offset(ia0 + 2 * a, L),
                                 div=last, state=state[r], mode=MODE)
            state[r] = (g["m"], g["D"])
            env.exp_slot(slot0 + 16 * r, g["m"], g["D"])
            if last:
                env.exp_bf16(oa0 + r * pitch + 2 * a, g["y"])
        env.check_memory(f"split rows, chunk {c}")
    for c in range(2):
        a, b = cuts[c], cuts[c + 1]
        cause, ctr = await env.run(ia0 + 2 * a, b - a, out_addr=oa0 + 2 * a, slot=slot0, acc=0,
                                   load=1, rows=R, strides=strides)
        assert cause == 0 and ctr["ROWS_DONE"] == R, ctr
        for r in range(R):
            g = gold.softmax_job(rows[r][a:b], lanes=L, offset=gold.lane_offset(ia0 + 2 * a, L),
                                 acc=False, state=state[r], mode=MODE)
            env.exp_bf16(oa0 + r * pitch + 2 * a, g["y"])
        env.check_memory(f"split rows, normalised chunk {c}")

    # row 2 of 4 starts at the end of the scratchpad: rows 0 and 1 are done, nothing else
    xs = [bf(rng.normal(0, 5, 40)) for _ in range(2)]
    ia, oa = BASE + 0x1000, BASE + 0x2000
    stride = (BASE + SIZE - ia) // 2
    assert stride % (2 * L) == 0
    for r, x in enumerate(xs):
        env.put_row(ia + r * stride, x)
    cause, ctr = await env.run(ia, 40, out_addr=oa, rows=4, strides=(stride, 0x100, 0))
    assert cause == CAUSE["BAD_ADDR"] and ctr["ROWS_DONE"] == 2, (cause, ctr)
    for r, x in enumerate(xs):
        g = gold.softmax_job(x, lanes=L, mode=MODE, offset=gold.lane_offset(ia + r * stride, L))
        env.exp_bf16(oa + r * 0x100, g["y"])
    env.check_memory("row 2 outside")
    cause, ctr = await env.run(ia, 40, out_addr=oa, rows=0)
    assert cause == CAUSE["BAD_LENGTH"] and ctr["JOB_CYCLES"] == 3, (cause, ctr)
    assert ctr["ROWS_DONE"] == 0 and ctr["MEM_BEATS"] == 0, ctr
    env.check_memory("no rows")


def int8_row(rng, n, cast):
    """Random int8 row (raw uint8 patterns) for cast (int_bits, signed)."""
    lo, hi = (-128, 128) if cast[1] else (0, 256)
    return rng.integers(lo, hi, n).astype(np.int64).astype(np.uint8)


@cocotb.test()
async def int8_io(dut):
    """int8 input, int8 output and mixed (bf16 in / int8 out, int8 in / bf16 out): several
    int_bits, both signedness, lengths not multiple of L at every lane offset, in place and
    not, plus int8 edge rows (saturation, all equal, extreme codes)."""
    env = await Env(dut, SEED + 8).start()
    rng = np.random.default_rng(SEED + 108)
    casts = [(0, 0), (0, 1), (3, 1), (2, 0), (7, 1), (8, 0), (12, 1), (15, 0)]
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
    # edge rows
    edge = [
        ("one hot unsigned", np.array([0] * 9 + [255] + [0] * 5, np.uint8), (0, 0), (0, 0)),
        ("all equal", np.full(3 * L + 1, 0x80, np.uint8), (4, 1), (0, 0)),
        ("all equal signed out", np.full(2 * L - 1, 7, np.uint8), (0, 0), (0, 1)),
        ("extremes", np.array([0x80, 0x7F, 0xFF, 0x00, 0x01] * 7, np.uint8), (15, 1), (2, 1)),
        ("scaled up", int8_row(rng, 37, (15, 0)), (15, 0), (15, 0)),
    ]
    for i, (what, x, ci, co) in enumerate(edge):
        ia = BASE + 0x1000 + 0x100 * i + i
        await env.softmax(x, ia, ia + 0x3000, what=what, in_cast=ci, out_cast=co)
    # a bf16 row with NaN and a fully masked row into int8: NaN -> 0, masked -> 0
    x = bf(rng.normal(0, 3, 11)); x[4] = 0x7FC0
    await env.softmax(x, BASE + 0x2002, BASE + 0x2801, what="nan to int8", out_cast=(0, 0))
    await env.softmax(np.full(13, NEG_INF, np.uint16), BASE + 0x2102, BASE + 0x2901,
                      what="masked to int8", out_cast=(1, 1))


@cocotb.test()
async def int8_split_row(dut):
    """An int8 row split into chunks through a slot, int8 output (first, middle, last, then
    normalise-only jobs)."""
    env = await Env(dut, SEED + 9).start()
    rng = np.random.default_rng(SEED + 109)
    ci, co = (3, 1), (0, 0)
    x = int8_row(rng, 45, ci)
    cuts = [0, 17, 18, 45]
    ib, ob, slot = BASE + 0x1003, BASE + 0x2003 + L, BASE + 0x3000
    env.put_row(ib, x)
    state = None
    for c in range(3):
        a, b = cuts[c], cuts[c + 1]
        last = c == 2
        cause, _ = await env.run(ib + a, b - a, out_addr=ob + a, slot=slot, acc=1, div=int(last),
                                 load=int(c > 0), save=1, in_fmt=1, out_fmt=1, in_cast=ci,
                                 out_cast=co)
        assert cause == 0
        g = gold.softmax_job(x[a:b], lanes=L, offset=gold.lane_offset(ib + a, L, 1), div=last,
                             state=state, mode=MODE, in_cast=ci, out_cast=co)
        state = (g["m"], g["D"])
        env.exp_slot(slot, g["m"], g["D"])
        if last:
            env.exp_out(ob + a, g["y"])
        env.check_memory(f"int8 chunk {c}")
    for c in range(2):
        a, b = cuts[c], cuts[c + 1]
        cause, _ = await env.run(ib + a, b - a, out_addr=ob + a, slot=slot, acc=0, div=1, load=1,
                                 in_fmt=1, out_fmt=1, in_cast=ci, out_cast=co)
        assert cause == 0
        g = gold.softmax_job(x[a:b], lanes=L, offset=gold.lane_offset(ib + a, L, 1), acc=False,
                             state=state, mode=MODE, in_cast=ci, out_cast=co)
        env.exp_out(ob + a, g["y"])
    env.check_memory("int8 normalised")


@cocotb.test()
async def back_to_back(dut):
    """Jobs queued on both contexts while the previous one runs."""
    env = await Env(dut, SEED + 4).start()
    rng = np.random.default_rng(SEED + 104)
    jobs = []
    for k in range(6):
        n = int(rng.integers(1, 200))
        x = bf(rng.normal(0, 5, n))
        ia = BASE + 0x800 * k + 2 * int(rng.integers(0, L))
        oa = ia + 0x10000
        env.put_row(ia, x)
        jobs.append((x, ia, oa))
    before = env.events.count
    ids = []
    for x, ia, oa in jobs:
        ids.append(await env.submit(ia, len(x), out_addr=oa))
    await env.wait_events(before + len(jobs))
    assert set(ids) == {0, 1}, ids
    err = await env.drv.error()
    assert err["CAUSE"] == 0, err
    for x, ia, oa in jobs:
        env.exp_bf16(oa, gold.softmax_row(x, lanes=L, offset=gold.lane_offset(ia, L), mode=MODE))
    env.check_memory("back to back")


@cocotb.test()
async def soft_clear(dut):
    """SOFT_CLEAR in the middle of a job (in pass 1 and in pass 2): no done event, then a new
    job runs correctly."""
    env = await Env(dut, SEED + 5).start()
    rng = np.random.default_rng(SEED + 105)
    n = 2048
    for delay in (60, 500):
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
        # whatever pass 2 wrote before the clear: take it as is
        env.expect[oa - BASE:oa - BASE + 2 * n] = env.mem.array[oa - BASE:oa - BASE + 2 * n]
        env.check_memory(f"after clear at {delay}")
        y = bf(rng.normal(0, 5, 100))
        await env.softmax(y, BASE + 0x6002, BASE + 0x7002, what="job after clear")


@cocotb.test()
async def misprogrammed(dut):
    """Every misprogrammed job ends with its error cause and a done event; memory untouched."""
    env = await Env(dut, SEED + 6).start()
    x = bf(np.arange(10.0))
    ia = BASE + 0x200
    env.put_row(ia, x)
    end = BASE + SIZE
    cases = [
        ("zero length", dict(in_addr=ia, n=0), "BAD_LENGTH"),
        ("unknown op", dict(in_addr=ia, n=10, op=2), "BAD_CMD"),
        ("unknown op 7", dict(in_addr=ia, n=10, op=7), "BAD_CMD"),
        ("input format 2", dict(in_addr=ia, n=10, in_fmt=2), "BAD_CMD"),
        ("output format 3", dict(in_addr=ia, n=10, out_fmt=3, out_addr=ia + 1), "BAD_CMD"),
        ("int8 out other lane", dict(in_addr=ia, n=10, out_fmt=1, out_addr=ia + 0x101),
         "BAD_ALIGN"),
        ("bf16 out odd, int8 in", dict(in_addr=ia + 1, n=10, in_fmt=1, out_addr=ia + 3),
         "BAD_ALIGN"),
        ("int8 in beyond memory", dict(in_addr=end - 9, n=10, in_fmt=1, out_fmt=1,
                                       out_addr=ia + 7), "BAD_ADDR"),
        ("bf16 out beyond memory, int8 in", dict(in_addr=end - 10, n=10, in_fmt=1,
                                                 out_addr=end - 20 + 0x20), "BAD_ADDR"),
        ("no pass", dict(in_addr=ia, n=10, acc=0, div=0), "BAD_CMD"),
        ("div without state", dict(in_addr=ia, n=10, acc=0), "BAD_CMD"),
        ("save without acc", dict(in_addr=ia, n=10, acc=0, load=1, save=1, slot=BASE), "BAD_CMD"),
        ("odd in", dict(in_addr=ia + 1, n=10), "BAD_ALIGN"),
        ("out other lane", dict(in_addr=ia, n=10, out_addr=ia + 0x100 + 2), "BAD_ALIGN"),
        ("slot misaligned", dict(in_addr=ia, n=10, save=1, slot=BASE + 4), "BAD_ALIGN"),
        ("in below memory", dict(in_addr=BASE - 0x100, n=10), "BAD_ADDR"),
        ("in beyond memory", dict(in_addr=end - 16, n=10, out_addr=ia - 0x100), "BAD_ADDR"),
        ("out beyond memory", dict(in_addr=ia, n=10, out_addr=end + 0x1000), "BAD_ADDR"),
        ("huge length", dict(in_addr=ia, n=(1 << 24) - 1), "BAD_ADDR"),
        ("slot outside", dict(in_addr=ia, n=10, load=1, slot=0), "BAD_ADDR"),
    ]
    if GELU:
        cases += [
            ("gelu zero length", dict(in_addr=ia, n=0, op=1), "BAD_LENGTH"),
            ("gelu odd in", dict(in_addr=ia + 1, n=10, op=1), "BAD_ALIGN"),
            ("gelu out other lane", dict(in_addr=ia, n=10, op=1, out_addr=ia + 0x102),
             "BAD_ALIGN"),
            ("gelu out beyond memory", dict(in_addr=ia, n=10, op=1, out_addr=end - 16),
             "BAD_ADDR"),
            ("gelu bad format", dict(in_addr=ia, n=10, op=1, out_fmt=2), "BAD_CMD"),
        ]
    else:
        cases += [("gelu not built", dict(in_addr=ia, n=10, op=1), "BAD_CMD")]
    for what, kw, cause_name in cases:
        in_addr, n = kw.pop("in_addr"), kw.pop("n")
        cause, ctr = await env.run(in_addr, n, **kw)
        assert cause == CAUSE[cause_name], f"{what}: cause {cause}, expected {cause_name}"
        assert ctr["JOB_CYCLES"] == 3 and ctr["MEM_BEATS"] == 0, (what, ctr)
        env.check_memory(what)
    # the engine still works
    await env.softmax(x, ia, what="after errors")
    if GELU:
        await env.gelu(x, ia, ia + 0x100, what="gelu after errors")


def gelu_special_rows(rng):
    """BF16 rows for GELU: every class of input (NaN, +-inf, -inf as a mask value, +-0,
    subnormals, tiny, large, the region where Phi changes fastest)."""
    rows = [("normal", bf(rng.normal(0, 2, 77))),
            ("specials", np.array([0x7FC0, 0xFFC1, 0x7F81, 0x7F80, 0xFF80, 0x0000, 0x8000,
                                   0x0001, 0x807F, 0x0080, 0x8080, 0x7F7F, 0xFF7F, 0x3F80,
                                   0xBF80], np.uint16)),
            ("wide", bf(rng.uniform(-12, 12, 53))),
            ("tails", bf(np.concatenate([rng.uniform(-40, -3, 20), rng.uniform(3, 40, 20)]))),
            ("small", bf(rng.normal(0, 1e-3, 31)))]
    x = rng.integers(0, 1 << 16, 64).astype(np.uint16)            # any pattern
    rows.append(("random_patterns", x))
    return rows


@cocotb.test(skip=not GELU)
async def gelu_jobs(dut):
    """GELU jobs: special inputs, lengths 1 .. 2L+1 at every lane offset (in place and not),
    int8 in / out, a long chunk, COMMAND bits GELU ignores, GELU and softmax jobs queued back
    to back on both contexts."""
    env = await Env(dut, SEED + 10).start()
    rng = np.random.default_rng(SEED + 110)
    for i, (name, x) in enumerate(gelu_special_rows(rng)):
        off = 2 * (i % L)
        await env.gelu(x, BASE + 0x100 + off, BASE + 0x4000 + off, what=f"gelu {name}")
    for n in range(1, 2 * L + 2):
        off = 2 * ((3 * n) % L)
        x = bf(rng.normal(0, 3, n))
        oa = BASE + 0x800 + off if n % 2 else BASE + 0x3000 + 2 * L + off
        await env.gelu(x, BASE + 0x800 + off, oa, what=f"gelu n={n}")
    casts = [(0, 1), (3, 1), (2, 0), (7, 1), (12, 1)]
    for k, n in enumerate((1, L - 1, L + 3, 3 * L + 2, 100)):
        ci, co = casts[k % len(casts)], casts[(k + 2) % len(casts)]
        lane = int(rng.integers(0, L))
        q = int8_row(rng, n, ci)
        await env.gelu(q, BASE + 0x1000 + lane, BASE + 0x5000 + lane, in_cast=ci, out_cast=co,
                       what=f"gelu int8 n={n}")
        await env.gelu(q, BASE + 0x1000 + lane, BASE + 0x5800 + 2 * lane, in_cast=ci,
                       what=f"gelu int8->bf16 n={n}")
        x = bf(rng.normal(0, 2, n))
        await env.gelu(x, BASE + 0x1400 + 2 * lane, BASE + 0x6000 + lane, out_cast=co,
                       what=f"gelu bf16->int8 n={n}")
    await env.gelu(bf(rng.normal(0, 3, 1500)), BASE + 0x8002, what="gelu long in place",
                   acc=0, div=0, load=1, save=1, slot=0)
    # queued on both contexts: GELU, softmax, GELU, softmax
    jobs = []
    for k in range(4):
        n = int(rng.integers(1, 120))
        x = bf(rng.normal(0, 4, n))
        ia = BASE + 0xA000 + 0x400 * k + 2 * int(rng.integers(0, L))
        env.put_row(ia, x)
        jobs.append((k % 2 == 0, x, ia, ia + 0x2000))
    before = env.events.count
    for is_gelu, x, ia, oa in jobs:
        await env.submit(ia, len(x), out_addr=oa, op=int(is_gelu))
    await env.wait_events(before + len(jobs))
    assert (await env.drv.error())["CAUSE"] == 0
    for is_gelu, x, ia, oa in jobs:
        y = (golden_gelu(x) if is_gelu else
             gold.softmax_row(x, lanes=L, offset=gold.lane_offset(ia, L), mode=MODE))
        env.exp_bf16(oa, y)
    env.check_memory("gelu / softmax back to back")


@cocotb.test()
async def bench(dut):
    """Cycles per row (JOB_CYCLES) for the lengths in params 'bench' (no stalls)."""
    lengths = P.get("bench", [])
    if not lengths:
        return
    env = await Env(dut, SEED + 7, stall=0.0).start()
    rng = np.random.default_rng(SEED + 107)
    out = {}
    for n in lengths:
        x = bf(rng.normal(0, 5, n))
        ctr = await env.softmax(x, BASE, BASE + 2 * n, what=f"bench {n}")
        out[n] = ctr["JOB_CYCLES"]
        dut._log.info("n=%d: %d cycles", n, ctr["JOB_CYCLES"])
        if P.get("bench_int8"):          # int8 in and out, same lane offset: key "int8_<n>"
            q = rng.integers(0, 256, n).astype(np.uint8)
            ctr = await env.softmax(q, BASE, BASE + 2 * n, what=f"bench int8 {n}",
                                    in_cast=(3, 1), out_cast=(0, 0))
            out[f"int8_{n}"] = ctr["JOB_CYCLES"]
            dut._log.info("int8 n=%d: %d cycles", n, ctr["JOB_CYCLES"])
        if GELU:
            ctr = await env.gelu(x, BASE, BASE + 2 * n, what=f"bench gelu {n}")
            out[f"gelu_{n}"] = ctr["JOB_CYCLES"]
            dut._log.info("gelu n=%d: %d cycles", n, ctr["JOB_CYCLES"])
    out["wait_cycles"], out["wait_seconds"] = env.waited
    with open("result.json", "w") as f:      # the run folder (VerilatorSim.last_run_dir)
        json.dump({str(k): v for k, v in out.items()}, f)
