"""The Flash-ABFT checker alone under the Amaranth simulator, fed from a head's trace.

:func:`run_unit` builds an :class:`~hw.abft.AbftUnit`, puts the descriptor, the checksum vectors,
the encoded Q sums and O in a memory model behind its port (random grant stalls), programs ARM,
plays the head's events (the tensor unit's tap events of every job, SoftEx's score reads and
probability writes of runs A and B, in a serial or pipelined tile order, with random idle
cycles; SoftEx's writes wait while the unit holds them), programs VERIFY and returns the
report and the job's error cause.
"""

import random

import numpy as np
from amaranth.sim import Simulator

from hw.abft import AbftUnit
from hw.fp.format import BF16, FP32
from hw.tensor.geometry import TensorGeometry
from sim.abft import descriptor, gemm_descriptor, parse_report, qsum_words, report_words
from sim.golden import fp
from sim.tb.bus import AmaranthTCDMMaster
from sim.tb.regs import RegisterDriver

BASE = 0x1000_0000
ADDRS = dict(desc=0x100, kbar=0x200, vbar=0x400, qsum=0x800, report=0x900, o=0x1000,
             qs=0x3000, s=0x4000, p=0x6000, pb=0x8000, q=0xA000, slots=0xB000)


class _Env:
    def __init__(self, ctx, unit, memory, rng, stall):
        self.ctx, self.unit, self.memory, self.rng, self.stall = ctx, unit, memory, rng, stall
        self.actions = []
        self.read_data = None        # (rvalid next cycle) for the unit's port
        self.sx_read = None          # SoftEx read data for the next cycle
        self.sx_waiting = False      # SoftEx's request is held (presented again until granted)
        self.cycle = 0
        self.closes = []             # per tile close: the row sums (parity, row, quantity)
        self._previous = None
        self._driven = {}            # id(signal) -> (signal, the value this bench last set)

    def get(self, sig):
        return self.ctx.get(sig)

    def set(self, sig, value):
        """Drive an input of the unit. A value it already has is not set again: every set of
        Amaranth's testbench settles the whole design, and most inputs keep their value from
        cycle to cycle."""
        last = self._driven.get(id(sig))
        if last is None or last[0] is not sig or last[1] != value:
            self.ctx.set(sig, value)
            self._driven[id(sig)] = (sig, value)      # holding sig: its id stays its own

    def _drive(self, pending):
        for sig, value in pending.values():
            self.set(sig, value)
        pending.clear()

    async def tick(self):
        ctx, u = self.ctx, self.unit
        # the unit's scratchpad port: grant at random, data a cycle later
        port = u.tcdm
        if self.read_data is not None:
            self.set(port.rvalid, 1)
            self.set(port.rdata, self.read_data)
            self.read_data = None
        else:
            self.set(port.rvalid, 0)
        grant = self.rng.random() >= self.stall
        self.set(port.gnt, int(grant))
        if grant and ctx.get(port.req):
            addr = ctx.get(port.addr) - BASE
            if ctx.get(port.we):
                self.memory[addr] = ctx.get(port.wdata)
            else:
                self.read_data = self.memory.get(addr, 0)
        # SoftEx read data of last cycle's granted read
        if self.sx_read is not None:
            self.set(u.softex_rvalid, 1)
            self.set(u.softex_rdata, self.sx_read)
            self.sx_read = None
        else:
            self.set(u.softex_rvalid, 0)
        # one action per cycle: the strobes low unless the action raises them
        pending = {id(sig): (sig, 0) for sig in (u.tap.valid, u.tap.done, u.softex_seen,
                                                 u.softex_req)}
        # a SoftEx request stays until it is granted (the port's contract)
        if self.actions and (self.sx_waiting or self.rng.random() >= self.stall):
            kind, a = self.actions[0]
            if kind == "tap":
                if ctx.get(u.tap_ready) or not a["valid"]:
                    for name, value in a.items():
                        sig = getattr(u.tap, name)
                        pending[id(sig)] = (sig, value)
                    self.actions.pop(0)
            else:
                for sig, value in ((u.softex_req, 1), (u.softex_addr, BASE + a["addr"]),
                                   (u.softex_we, a["we"]), (u.softex_be, a.get("be", 0)),
                                   (u.softex_wdata, a.get("wdata", 0))):
                    pending[id(sig)] = (sig, value)
                self._drive(pending)
                self.sx_waiting = bool(ctx.get(u.softex_hold))
                if not self.sx_waiting:
                    self.set(u.softex_seen, 1)
                    if not a["we"]:
                        self.sx_read = a["rdata"]
                    self.actions.pop(0)
        self._drive(pending)
        state = ctx.get(u.control_state)
        if state in self.eval_first and self._previous == self.eval_wait:
            mem = u.row_sums
            self.closes.append([ctx.get(mem.data[i]) for i in range(mem.depth)])
        self._previous = state
        await ctx.tick()
        self.cycle += 1


def _state_codes(unit, names):
    """Encodings of the control FSM's states ``names`` (its state signal's enum-like decoder)."""
    codes = {}
    for value in range(1 << len(unit.control_state)):
        try:
            codes[unit.control_state.decoder(value).split("/")[0]] = value
        except KeyError:
            break
    return tuple(codes[n] for n in names)


def _pack(words, width):
    return sum(int(w) << (width * i) for i, w in enumerate(words))


def tensor_job(values, *, L, D, x_ptr, z_ptr):
    """Tap events of one job computing ``values`` (M x N fp32 accumulators), then its done."""
    M, N = values.shape
    out = []
    for m0 in range(0, M, L):
        for n0 in range(0, N + (D - N % D) % D, D):
            for c in range(D):
                col = n0 + c
                vals = [int(values[m0 + i, col]) if m0 + i < M and col < N else 0x7FC0_0000
                        for i in range(L)]
                out.append(("tap", dict(valid=1, values=_pack(vals, 32),
                                        rows=sum(1 << i for i in range(L) if m0 + i < M),
                                        column_ok=int(col < N), row=m0, column=col,
                                        x_ptr=BASE + x_ptr, z_ptr=BASE + z_ptr, done=0)))
    out.append(("tap", dict(valid=0, done=1, x_ptr=BASE + x_ptr, z_ptr=BASE + z_ptr)))
    return out


def softex_run(s_words, p_words, *, lanes, s_half, p_half, ss, slots):
    """One SoftEx run over a tile: every score beat read twice, every probability written."""
    rows, n = s_words.shape
    out = []
    for _ in range(2):
        for r in range(rows):
            for k0 in range(0, n, lanes):
                out.append(("sx", dict(addr=s_half + r * ss + 2 * k0, we=0,
                                       rdata=_pack(s_words[r, k0:k0 + lanes], 16))))
            out.append(("sx", dict(addr=slots + 8 * r, we=1, be=0xFF, wdata=0x1234)))
    for r in range(rows):
        for k0 in range(0, n, lanes):
            out.append(("sx", dict(addr=p_half + r * ss + 2 * k0, we=1,
                                   be=(1 << (2 * lanes)) - 1,
                                   wdata=_pack(p_words[r, k0:k0 + lanes], 16))))
    return out


def head_actions(shape, trace, *, L, D, lanes, pipelined=False):
    st = shape.strides
    half = shape.block_q * st["SS"]
    per_tile = []
    for t, tr in enumerate(trace.tiles):
        par = t % 2
        s_half, p_half, pb_half = (ADDRS[b] + par * half for b in ("s", "p", "pb"))
        front = tensor_job(tr["qs32"], L=L, D=D, x_ptr=ADDRS["q"] + tr["row0"] * st["QS"],
                           z_ptr=ADDRS["qs"])
        bk = shape.block_k
        for c in range(shape.seq // bk):
            front += tensor_job(tr["s32"][:, c * bk:(c + 1) * bk], L=L, D=D,
                                x_ptr=ADDRS["qs"], z_ptr=s_half + 2 * c * bk)
        soft = (softex_run(tr["s_read"], tr["p"], lanes=lanes, s_half=s_half, p_half=p_half,
                           ss=st["SS"], slots=ADDRS["slots"])
                + softex_run(tr["s_read"], tr["p_repeat"], lanes=lanes, s_half=s_half,
                             p_half=pb_half, ss=st["SS"], slots=ADDRS["slots"]))
        back = tensor_job(tr["o32"], L=L, D=D, x_ptr=p_half, z_ptr=ADDRS["o"] + tr["row0"] * st["OS"])
        per_tile.append((front, soft, back))
    out = []
    if not pipelined:
        for front, soft, back in per_tile:
            out += front + soft + back
        return out
    out += per_tile[0][0] + per_tile[0][1]
    for t in range(1, len(per_tile)):
        out += per_tile[t][0] + per_tile[t - 1][2] + per_tile[t][1]
    return out + per_tile[-1][2]


def _unit(rows=2, cols=2, pipes=3, lanes=4):
    """The unit the benches drive: limits of the tiny heads, the scratchpad at BASE."""
    return AbftUnit(TensorGeometry(rows, cols, pipes), lanes, max_seq=64, max_head_dim=16,
                    max_rows=16, max_tiles=8, mem_base=BASE, mem_size=1 << 16)


def head_memory(shape, enc, *, changes=None):
    """Words by byte offset for the unit's port: the descriptor of head ``shape`` (words
    ``changes`` by name replaced), kbar, vbar and the encoded Q word sums."""
    from hw.abft.layout import desc_word
    words = descriptor(shape, enc, {k: BASE + v for k, v in ADDRS.items()})
    for name, value in (changes or {}).items():
        words[desc_word(name)] = value
    memory = {}
    for base, values in ((ADDRS["desc"], words), (ADDRS["kbar"], enc.kbar),
                         (ADDRS["vbar"], enc.vbar), (ADDRS["qsum"], qsum_words(enc))):
        for i, w in enumerate(values):
            memory[base + 4 * i] = int(w) & 0xFFFF_FFFF
    return memory


def _simulate(unit, memory, seed, stall, body):
    """Run ``body(env, drv)`` (async) as the testbench of ``unit`` behind ``memory``."""
    rng = random.Random(seed)

    async def bench(ctx):
        env = _Env(ctx, unit, memory, rng, stall)
        *env.eval_first, env.eval_wait = _state_codes(unit, ("EVAL_READ", "GEMM_TAU",
                                                             "EVAL_WAIT"))
        await body(env, RegisterDriver(AmaranthTCDMMaster(env, unit.cfg), unit.regmap))

    sim = Simulator(unit)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


async def _arm_and_play(env, drv, op, actions, max_cycles):
    """ARM (``op``: ARM or ARM_GEMM) on the descriptor at ADDRS["desc"], then ``actions``
    played to their end; returns ARM's error cause."""
    cause = await _job(drv, COMMAND={"OP": op}, DESC_ADDR=BASE + ADDRS["desc"])
    env.actions = list(actions)
    while env.actions:
        await env.tick()
        if env.cycle > max_cycles:
            raise TimeoutError("the events did not drain")
    return cause


async def _job(drv, **registers):
    """Program one job, wait for its done; its error cause (cleared)."""
    await drv.program(**registers)
    await drv.wait_done()
    cause = (await drv.error())["CAUSE"]
    await drv.clear_error()
    return cause


def run_unit(shape, enc, trace, *, rows=2, cols=2, pipes=3, lanes=4, seed=1, stall=0.2,
             pipelined=False, o_words=None, max_cycles=400_000, verify_twice=False,
             between=None):
    """Run the unit on a head; returns dict(report=parse_report(...), error=cause code of
    VERIFY, arm_error=, cycles=, closes=). ``verify_twice``: VERIFY again after ``between``
    (called with the memory and the first report's words) has had its say."""
    unit = _unit(rows, cols, pipes, lanes)
    memory = head_memory(shape, enc)
    o = trace.o if o_words is None else o_words
    os_words = shape.strides["OS"] // 4
    for r in range(shape.seq):
        for j in range(shape.head_dim // 2):
            memory[ADDRS["o"] + 4 * (os_words * r + j)] = int(o[r, 2 * j]) | int(
                o[r, 2 * j + 1]) << 16
    actions = head_actions(shape, trace, L=unit.g.L, D=unit.g.D, lanes=lanes,
                           pipelined=pipelined)
    result = {}

    async def body(env, drv):
        result["arm_error"] = await _arm_and_play(env, drv, 0, actions, max_cycles)
        for i in range(2 if verify_twice else 1):
            if i and between is not None:
                between(memory, [memory.get(ADDRS["report"] + 4 * j, 0)
                                 for j in range(report_words(shape.tiles))])
            result["error"] = await _job(drv, COMMAND={"OP": 1})
        result["cycles"] = env.cycle
        result["closes"] = env.closes

    _simulate(unit, memory, seed, stall, body)
    words = [memory.get(ADDRS["report"] + 4 * i, 0) for i in range(report_words(shape.tiles))]
    result["report"] = parse_report(words, shape.tiles)
    return result


def run_jobs(jobs, *, memory=None, seed=1, stall=0.3):
    """Program the unit alone with ``jobs`` (a list of register dicts for
    :meth:`RegisterDriver.program`, e.g. ``dict(COMMAND={"OP": 0}, DESC_ADDR=...)``), one after
    the other, each to its done; returns the error cause of each. ``memory``: words by byte
    offset behind the unit's port (random grant stalls)."""
    causes = []

    async def body(env, drv):
        for job in jobs:
            causes.append(await _job(drv, **job))

    _simulate(_unit(), dict(memory or {}), seed, stall, body)
    return causes


def gemm_memory(enc, z_words, z_stride, *, changes=None):
    """Words by byte offset for a checked GEMM: its descriptor (words ``changes`` by name
    replaced), the references and Z (``z_words``, M x N BF16) at ADDRS["o"] with row stride
    ``z_stride`` bytes."""
    from hw.abft.layout import desc_word
    m, n = z_words.shape
    words = gemm_descriptor(m, n, enc, {"z": BASE + ADDRS["o"], "refs": BASE + ADDRS["kbar"],
                                        "report": BASE + ADDRS["report"]}, z_stride)
    for name, value in (changes or {}).items():
        words[desc_word(name)] = value
    memory = {}
    for base, values in ((ADDRS["desc"], words), (ADDRS["kbar"], enc.reference_words())):
        for i, w in enumerate(values):
            memory[base + 4 * i] = int(w) & 0xFFFF_FFFF
    for r in range(m):
        for j in range(n // 2):
            memory[ADDRS["o"] + r * z_stride + 4 * j] = (int(z_words[r, 2 * j])
                                                         | int(z_words[r, 2 * j + 1]) << 16)
    return memory


def run_gemm(enc, z32, z_words, *, z_stride=None, rows=2, cols=2, pipes=3, seed=1, stall=0.2,
             max_cycles=400_000):
    """Run the unit on one checked GEMM job: ARM_GEMM, the job's tap events (``z32``, M x N
    fp32 accumulators), VERIFY against ``z_words`` in memory. Returns dict(report=, error=,
    arm_error=, closes=) as :func:`run_unit`."""
    m, n = z_words.shape
    z_stride = z_stride or 1 << (2 * n - 1).bit_length()
    unit = _unit(rows, cols, pipes)
    memory = gemm_memory(enc, z_words, z_stride)
    actions = tensor_job(np.asarray(z32), L=unit.g.L, D=unit.g.D, x_ptr=ADDRS["q"],
                         z_ptr=ADDRS["o"])
    result = {}

    async def body(env, drv):
        result["arm_error"] = await _arm_and_play(env, drv, 3, actions, max_cycles)
        result["error"] = await _job(drv, COMMAND={"OP": 1})
        result["closes"] = env.closes
        result["max_gemm"] = unit.max_gemm

    _simulate(unit, memory, seed, stall, body)
    words = [memory.get(ADDRS["report"] + 4 * i, 0) for i in range(report_words(1))]
    result["report"] = parse_report(words, 1)
    return result
