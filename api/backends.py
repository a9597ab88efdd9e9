"""Where a job runs: the golden models (:class:`GoldenBackend`) or the RTL of the
configuration's blocks on the compiled Verilator harness (:class:`RtlBackend`).

Both take the same jobs, planned by :class:`api.Accelerator`: a softmax job over rows that each
start at the first lane of a beat, a GELU job over one chunk, a tensor job Z = X W (+ Y), and a
whole attention head as firmware on the cluster. Each returns the job's BF16 patterns and its
:class:`JobCost` (None from the golden models, which do not simulate)."""

import time
from dataclasses import dataclass, field

import numpy as np

from hw.catalog import build
from hw.cluster.regs import ADDRESS_MAP
from hw.softex.regmap import SoftexOp, softex_map
from hw.tensor.regmap import tensor_map
from sim.attention import golden_attention, run_attention
from sim.blocks import BlockSim
from sim.golden.gelu import gelu_job
from sim.golden.gemm import gemm
from sim.golden.lut_softmax import method
from sim.golden.softmax import softmax_jobs
from sim.offload import padded, system_sim

__all__ = ["AcceleratorError", "JobCost", "GoldenBackend", "RtlBackend", "BACKENDS"]

#: Where the blocks' memory starts: the cluster's scratchpad address.
SPM_BASE = ADDRESS_MAP["SPM_BASE"]


class AcceleratorError(RuntimeError):
    """An accelerator ended a job with an error cause.

    Members
    -------
    block : str
        The accelerator (``"softex"``, ``"tensor"``, ``"cluster"``).
    cause : str
        The cause's name in the block's register map (docs/regmaps/), e.g. ``BAD_LENGTH``.
    code : int
        Its ERROR.CAUSE code.
    """

    def __init__(self, block, cause, code):
        self.block, self.cause, self.code = block, cause, code
        super().__init__(f"{block} job ended with error cause {cause} (code {code})")


@dataclass
class JobCost:
    """What one simulated job took: ``cycles`` from the trigger to the done event, the
    block's ``counters`` (JOB_CYCLES first) or the firmware's per-stage cycles (``stages``),
    and the wall-clock ``seconds`` of the simulation."""
    cycles: int
    seconds: float
    counters: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)


def _firmware_error(code):
    """The AcceleratorError of attention.c's exit code (0x100 | tensor unit cause, 0x200 |
    SoftEx cause)."""
    blocks = {0x100: ("tensor", tensor_map()), 0x200: ("softex", softex_map())}
    if code & ~0xFF not in blocks:
        return AcceleratorError("cluster", f"exit code {code:#x}", code)
    block, regmap = blocks[code & ~0xFF]
    names = {c.code: c.name for c in regmap.error_causes}
    return AcceleratorError(block, names.get(code & 0xFF, f"code {code & 0xFF}"), code & 0xFF)


class GoldenBackend:
    """The integer golden models: bit for bit the RTL's results, no cycles."""

    name = "golden"

    def __init__(self, config):
        self.config = config

    def softmax(self, rows, mode):
        if mode == "expp":
            return softmax_jobs(rows, lanes=self.config.softex.lanes)["y"], None
        golden, tables = method(mode[-1])
        return np.stack([golden(row, tables, out="bf16")["y"] for row in rows]), None

    def gelu(self, chunk):
        return gelu_job(chunk, method=self.config.softex.gelu_method), None

    def tensor(self, op, x, w, y, acc, w_exp=0, w_columns=None):
        return gemm(x, w, y, op, acc, w_exp=w_exp), None

    def attention(self, shape, q, k, v, mask):
        # The firmware's buffers are aligned to the ports, so every chunk starts at lane 0.
        return golden_attention(shape, q, k, v, lanes=self.config.softex.lanes,
                                pipeline=True, mask=mask)["o"], None

    def close(self):
        pass


class RtlBackend:
    """The configuration's SoftEx engine and tensor unit, each alone with the scratchpad's
    size of memory, and its cluster for attention heads, under Verilator (built once per
    design, cached in build/native). ``stall``: probability that the memory refuses a request
    in a cycle (seeded by ``seed``).

    Members
    -------
    w_faults : callable or None
        Memory faults in stored weights: ``w_faults(words, columns)`` is called with the BF16
        words of a tensor job's W (K x N) and the slice of the operation's W columns they are;
        the words it returns are what the simulated scratchpad holds when the job starts. A
        job split into several sees the same faults in the same stored words (scripts/weight_scaling.py ``--rtl`` flips bits
        at a bit-error rate).
    """

    name = "rtl"

    def __init__(self, config, *, stall=0.0, seed=0):
        self.config, self.stall, self.seed = config, stall, seed
        self.mem_size = 1024 * config.cluster.scratchpad_kib
        self._blocks = {}
        self.w_faults = None

    def _block(self, key):
        if key not in self._blocks:
            cfg = self.config
            if key[0] == "softex":
                engine = "softmax" if key[1] == "expp" else key[1]
                name = f"softex_{engine}_x{cfg.softex.lanes}"
                component = build(cfg, name, mem_base=SPM_BASE, mem_size=self.mem_size)
            else:
                t = cfg.tensor
                name = f"tensor_{t.rows}x{t.cols}x{t.pipes}"
                component = build(cfg, name, acc=key[1], mem_base=SPM_BASE,
                                  mem_size=self.mem_size)
            sim = BlockSim(component, f"api_{cfg.name}_{name}_{'_'.join(key)}",
                           mem_base=SPM_BASE, mem_size=self.mem_size)
            sim.build.build()
            self._blocks[key] = sim.open(stall=self.stall, seed=self.seed)
        return self._blocks[key]

    def _run(self, block, what, registers):
        t0 = time.perf_counter()
        code, counters, cycles = block.job(registers)
        seconds = time.perf_counter() - t0
        if code:
            names = {c.code: c.name for c in block.sim.regmap.error_causes}
            raise AcceleratorError(what, names.get(code, f"code {code}"), code)
        return JobCost(cycles=cycles, seconds=seconds, counters=dict(counters))

    def softmax(self, rows, mode):
        block = self._block(("softex", mode))
        count, n = rows.shape
        beat = 2 * self.config.softex.lanes
        stride = -(-2 * n // beat) * beat
        block.mem.write(SPM_BASE, padded(rows, stride))
        registers = {"IN_ADDR": SPM_BASE, "OUT_ADDR": SPM_BASE, "LENGTH": {"ELEMS": n},
                     "ROWS": {"COUNT": count}, "IN_STRIDE": stride, "OUT_STRIDE": stride,
                     "COMMAND": {"OP": int(SoftexOp.SOFTMAX), "ACC": 1, "DIV": 1}}
        cost = self._run(block, "softex", registers)
        out = np.frombuffer(block.mem.read(SPM_BASE, count * stride), np.uint16)
        return out.reshape(count, stride // 2)[:, :n].copy(), cost

    def gelu(self, chunk):
        block = self._block(("softex", "expp"))
        n = chunk.size
        block.mem.write(SPM_BASE, np.ascontiguousarray(chunk, np.uint16))
        registers = {"IN_ADDR": SPM_BASE, "OUT_ADDR": SPM_BASE, "LENGTH": {"ELEMS": n},
                     "ROWS": {"COUNT": 1}, "COMMAND": {"OP": int(SoftexOp.GELU)}}
        cost = self._run(block, "softex", registers)
        return np.frombuffer(block.mem.read(SPM_BASE, 2 * n), np.uint16).copy(), cost

    def tensor(self, op, x, w, y, acc, w_exp=0, w_columns=None):
        block = self._block(("tensor", acc))
        (m, k), n = x.shape, w.shape[1]
        beat = block.model.ports["tcdm__wdata"][1] // 8
        sx, sn = (-(-2 * c // beat) * beat for c in (k, n))
        xa = SPM_BASE
        wa = xa + m * sx
        ya = wa + k * sn                       # MATMUL reads no Y: Z goes there
        za = ya + (m * sn if y is not None else 0)
        if self.w_faults is not None:
            w = self.w_faults(np.array(w, np.uint16),
                              slice(0, n) if w_columns is None else w_columns)
        block.mem.write(xa, padded(x, sx))
        block.mem.write(wa, padded(w, sn))
        if y is not None:
            block.mem.write(ya, padded(y, sn))
        registers = dict(X_PTR=xa, W_PTR=wa, Y_PTR=ya, Z_PTR=za, X_STRIDE=sx, W_STRIDE=sn,
                         Y_STRIDE=sn, Z_STRIDE=sn, DIM_MN={"M": m, "N": n}, DIM_K={"K": k},
                         COMMAND={"OP": int(op), "W_EXP": w_exp & 0xFF})
        cost = self._run(block, "tensor", registers)
        z = np.frombuffer(block.mem.read(za, m * sn), np.uint16).reshape(m, sn // 2)[:, :n]
        return z.copy(), cost

    def attention(self, shape, q, k, v, mask):
        sim, params = system_sim(self.config.name)
        t0 = time.perf_counter()
        r = run_attention(sim, params, shape, q, k, v, pipeline=True, mask=mask,
                          check_exit=False)
        if r["exit_code"]:
            raise _firmware_error(r["exit_code"])
        cost = JobCost(cycles=r["total"], seconds=time.perf_counter() - t0,
                       stages=dict(r["stages"]))
        return r["o"], cost

    def close(self):
        for block in self._blocks.values():
            block.close()
        self._blocks.clear()


#: The backends by name.
BACKENDS = {"golden": GoldenBackend, "rtl": RtlBackend}
