"""cocotb testbench of the tensor unit (hw/tensor/top.py), built by tests/tensor/test_tensor_verilator.py
and scripts/bench_tensor.py.

Params: L, H, P, acc, n_contexts, mem_base, mem_size, max_dim (the DUT's parameters), stall
(grant stall probability of the scratchpad), seed, results (JSON file to write per-job results),
and ``jobs``: a list of groups; each group is a list of job dicts programmed back to back (one
per context) before waiting for all of them. A job dict: M, N, K, op (TensorOp name), data
("normal", "special", "cancel", "ints"), pad (extra row-stride beats), seed; or ``bad`` (a
misprogramming: "zero_m", "big_k", "op", "align", "stride", "addr") with the expected cause.
A group may also be ``{"clear_after": cycles, "job": {...}}``: the job is started and aborted
with SOFT_CLEAR after ``cycles``; the unit must be idle afterwards. Every good job's Z is compared bit-exactly (0 ULP) against sim.golden.gemm, and the bytes
around Z (stride padding, rows and beats around it) must be untouched.
"""

import json
import random
import time

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from hw.tensor.regmap import TensorError, TensorOp, tensor_map
from sim.golden.gemm import gemm
from sim.tb.bus import TCDMMaster
from sim.tb.clock import Ticker
from sim.tb.params import load_params
from sim.tb.regs import RegisterDriver
from sim.tb.summary import RunSummary
from sim.tb.tcdm import TCDMMemory

PRM = load_params()
L, H, P_ = PRM.get("L", 4), PRM.get("H", 4), PRM.get("P", 3)
D = H * (P_ + 1)
BB = 2 * D
ACC = PRM.get("acc", "fp32")
MEM_BASE = PRM.get("mem_base", 0x1000_0000)
MEM_SIZE = PRM.get("mem_size", 1 << 19)
RM = tensor_map(n_contexts=PRM.get("n_contexts", 2), max_dim=PRM.get("max_dim", 4096),
                beat_bytes=BB)
SENTINEL = 0xA5
SUMMARY = RunSummary(PRM)        # totals for the make sim report (summary.json)


def bf16_of(f):
    """float64 array -> bf16 bits, RNE (via float32 is fine for test data generation)."""
    u = np.asarray(f, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return r.astype(np.uint16)


def make_data(rng, kind, shape):
    if kind == "normal":
        return bf16_of(rng.standard_normal(shape))
    if kind == "ints":
        return bf16_of(rng.integers(-4, 5, size=shape))
    if kind == "cancel":
        v = bf16_of(rng.standard_normal(shape) * 2.0 ** rng.integers(-6, 7, size=shape))
        # pairs of opposite values (exact cancellation along either dimension)
        v[..., 1::2] = v[..., 0:(shape[-1] // 2) * 2:2] ^ 0x8000 if shape[-1] > 1 else v[..., 1::2]
        return v
    if kind == "special":
        v = bf16_of(rng.standard_normal(shape) * 2.0 ** rng.integers(-20, 20, size=shape))
        u = rng.random(shape)
        sub = (rng.integers(1, 0x80, size=shape) | (rng.integers(0, 2, size=shape) << 15)).astype(np.uint16)
        tiny = (rng.integers(0x0080, 0x0300, size=shape) | (rng.integers(0, 2, size=shape) << 15)).astype(np.uint16)
        huge = (rng.integers(0x7E00, 0x7F80, size=shape) | (rng.integers(0, 2, size=shape) << 15)).astype(np.uint16)
        v = np.where(u < 0.08, sub, v)
        v = np.where((u >= 0.08) & (u < 0.14), tiny, v)
        v = np.where((u >= 0.14) & (u < 0.18), huge, v)
        v = np.where((u >= 0.18) & (u < 0.22), np.uint16(0x8000), v)
        v = np.where((u >= 0.22) & (u < 0.25), np.uint16(0x0000), v)
        v = np.where((u >= 0.25) & (u < 0.26), np.uint16(0x7F80), v)
        v = np.where((u >= 0.26) & (u < 0.27), np.uint16(0xFF80), v)
        v = np.where((u >= 0.27) & (u < 0.275), np.uint16(0x7FC1), v)
        return v.astype(np.uint16)
    raise ValueError(kind)


class Alloc:
    def __init__(self):
        self.next = MEM_BASE

    def take(self, nbytes):
        addr = self.next
        self.next += (nbytes + BB - 1) // BB * BB + BB  # one spare beat between regions
        if self.next > MEM_BASE + MEM_SIZE:
            raise MemoryError("test memory too small")
        return addr


def roundup(x, a):
    return (x + a - 1) // a * a


class Job:
    def __init__(self, spec, alloc, mem):
        self.spec = spec
        rng = np.random.default_rng(spec.get("seed", 0))
        self.bad = spec.get("bad")
        M, N, K = spec["M"], spec["N"], spec["K"]
        self.M, self.N, self.K = M, N, K
        self.op = TensorOp[spec.get("op", "MATMUL")]
        kind = spec.get("data", "normal")
        pad = spec.get("pad", 0)
        sx = roundup(2 * K, BB) + pad * BB
        sw = roundup(2 * N, BB) + pad * BB
        sz = roundup(2 * N, BB) + pad * BB
        self.regs = {}
        if self.bad is None:
            self.x = make_data(rng, kind, (M, K))
            self.w = make_data(rng, kind, (K, N))
            self.y = make_data(rng, kind, (M, N))
            self.xa, self.wa = alloc.take(M * sx), alloc.take(K * sw)
            self.ya, self.za = alloc.take(M * sz), alloc.take(M * sz)
            for addr, mat, stride in ((self.xa, self.x, sx), (self.wa, self.w, sw), (self.ya, self.y, sz)):
                for r in range(mat.shape[0]):
                    mem.load_bf16(addr + r * stride, mat[r])
            mem.array[self.za - MEM_BASE - BB:self.za - MEM_BASE + M * sz + BB] = SENTINEL
            self.sz = sz
            ptrs = dict(X_PTR=self.xa, W_PTR=self.wa, Y_PTR=self.ya, Z_PTR=self.za)
            strides = dict(X_STRIDE=sx, W_STRIDE=sw, Y_STRIDE=sz, Z_STRIDE=sz)
        else:
            base = MEM_BASE
            ptrs = dict(X_PTR=base, W_PTR=base, Y_PTR=base, Z_PTR=base)
            strides = dict(X_STRIDE=sx, W_STRIDE=sw, Y_STRIDE=sz, Z_STRIDE=sz)
            b = self.bad
            if b == "zero_m":
                M = 0
            elif b == "big_k":
                K = PRM.get("max_dim", 4096) + 1
            elif b == "op":
                self.op = None
            elif b == "align":
                ptrs["W_PTR"] += 2
            elif b == "stride":
                strides["Z_STRIDE"] = roundup(2 * N, BB) - BB
            elif b == "addr":
                ptrs["Z_PTR"] = MEM_BASE + MEM_SIZE - BB
            elif b == "below":
                ptrs["X_PTR"] = MEM_BASE - BB * 4
            self.expect = int(TensorError[spec["cause"]])
        self.regs.update(ptrs)
        self.regs.update(strides)
        self.regs["DIM_MN"] = {"M": M, "N": N}
        self.regs["DIM_K"] = {"K": K}
        self.w_exp = int(spec.get("w_exp", 0))
        self.regs["COMMAND"] = {"OP": 9 if self.op is None else int(self.op),
                                "W_EXP": self.w_exp & 0xFF}

    def check(self, mem):
        M, N = self.M, self.N
        want = gemm(self.x, self.w, self.y, self.op, ACC, w_exp=self.w_exp)
        raw = mem.array[self.za - MEM_BASE - BB:self.za - MEM_BASE + M * self.sz + BB].copy()
        body = raw[BB:BB + M * self.sz].reshape(M, self.sz)
        got = body[:, :2 * N].copy().view(np.uint16).reshape(M, N)
        bad = np.argwhere(got != want)
        SUMMARY.checked(M * N, not len(bad))
        if len(bad):
            i, n = bad[0]
            raise AssertionError(
                f"job {self.spec}: {len(bad)} of {M * N} Z values differ; first Z[{i},{n}] = "
                f"{int(got[i, n]):#06x}, golden {int(want[i, n]):#06x}")
        body[:, :2 * N] = SENTINEL
        if not ((raw[:BB] == SENTINEL).all() and (raw[-BB:] == SENTINEL).all() and (body == SENTINEL).all()):
            raise AssertionError(f"job {self.spec}: bytes around Z were written")


@cocotb.test()
async def tensor_jobs(dut):
    seed = PRM.get("seed", 1)
    ticker = Ticker(dut)
    mem = TCDMMemory(MEM_SIZE, base=MEM_BASE, fill=0x5A)
    port = mem.port(dut, "tcdm", stall=PRM.get("stall", 0.0), seed=seed)
    master = TCDMMaster(dut, prefix="cfg__", rng=random.Random(seed + 1),
                        gap_prob=PRM.get("gap_prob", 0.0))
    drv = RegisterDriver(master, RM)
    await ticker.start()
    ticker.start_agents(port)
    events = [0]

    async def count_events():
        while True:
            await RisingEdge(dut.done_event)
            events[0] += 1

    cocotb.start_soon(count_events())
    results = []
    for group in PRM["jobs"]:
        if isinstance(group, dict) and "clear_after" in group:
            # start a job, abort it with SOFT_CLEAR after some cycles: the unit must end idle
            alloc = Alloc()
            job = Job(group["job"], alloc, mem)
            await drv.program(job.regs)
            for _ in range(group["clear_after"]):
                await RisingEdge(dut.clk)
            await drv.soft_clear()
            for _ in range(20):
                await RisingEdge(dut.clk)
            st = await drv.status()
            assert not st["BUSY"] and not st["QUEUED"], f"busy after SOFT_CLEAR: {st}"
            assert await drv.running_job() == -1
            continue
        alloc = Alloc()
        jobs = [Job(spec, alloc, mem) for spec in group]
        before = events[0]
        ids = []
        for j in jobs:
            ids.append(await drv.program(j.regs))
        t_wait = time.perf_counter()
        for waited in range(2_000_000):
            if events[0] - before >= len(jobs):
                break
            await RisingEdge(dut.clk)
        else:
            raise AssertionError(f"jobs {group} did not finish")
        wait = (waited, time.perf_counter() - t_wait)   # simulated cycles and seconds to done
        # the counters describe the most recent job (last of the group)
        counters = await drv.counters()
        err = await drv.error()
        for j, job_id in zip(jobs, ids):
            if j.bad is not None:
                assert err["CAUSE"] == j.expect, f"{j.spec}: ERROR {err}, expected cause {j.expect}"
                await drv.clear_error()
            else:
                if all(k.bad is None for k in jobs):
                    assert err["CAUSE"] == 0, f"{j.spec}: unexpected ERROR {err}"
                j.check(mem)
        last = jobs[-1]
        if last.bad is None:
            results.append(dict(last.spec, counters=counters, wait_cycles=wait[0],
                                wait_seconds=wait[1], macs=last.M * last.N * last.K,
                                util=last.M * last.N * last.K / (L * H * counters["JOB_CYCLES"])))
    port.check()
    if PRM.get("results"):
        with open(PRM["results"], "w") as f:
            json.dump(results, f, indent=1)
