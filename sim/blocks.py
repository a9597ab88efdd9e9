"""Accelerator blocks alone on the compiled harness (:mod:`flows.native`): a register-file
accelerator (ports ``cfg`` (slave), ``tcdm`` (master), ``done_event``; the tensor unit, the
SoftEx engines) with a C++ memory on its TCDM port, programmed through its register file with the
same :class:`sim.tb.regs.RegisterDriver` as the cocotb benches, and run to its done event in C++.

The block's reset, register port and memory responses reach it through registers
(:func:`flows.native.registering_wrapper`), so no logic depends combinationally on a top-level
input; the memory writes its responses a cycle ahead and grants regardless of the request
(stalls are drawn per cycle), which the TCDM contract allows. Jobs take the cycles they take under
the cocotb benches (the block's own JOB_CYCLES counter). Used by ``scripts/bench_sim.py`` and
``tests/flows/test_native.py``; :func:`gemm_job` and :func:`softmax_row_job` are the two jobs
it measures, each checked bit for bit against its golden model.
"""

import time

import numpy as np

from flows.emit import verilog_text
from flows.native import NativeBuild
from sim.golden.gemm import gemm
from sim.golden.softmax import float_to_bf16, lane_offset, softmax_job
from sim.offload import padded
from sim.tb.regs import RegisterDriver

__all__ = ["BlockSim", "Block", "run_sync", "gemm_operands", "gemm_setup", "gemm_job",
           "softmax_rows", "softmax_setup", "softmax_golden", "softmax_row_job"]


def run_sync(coro):
    """Run a coroutine that never suspends (a RegisterDriver call on a :class:`_SyncBus`)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the coroutine suspended: not a synchronous bus")


class _SyncBus:
    """The async bus interface of RegisterDriver over a native :class:`flows.native.Bus`."""

    def __init__(self, bus):
        self.bus = bus

    async def write(self, addr, data, be=0xF):
        self.bus.write(addr, data, be)

    async def read(self, addr):
        return self.bus.read(addr)


class BlockSim:
    """The compiled simulator of one register-file accelerator.

    Parameters
    ----------
    component : amaranth Component
        With ``cfg``, ``tcdm`` and ``done_event`` ports and a ``regmap`` attribute.
    name : str
        Verilog top-level name.
    mem_base, mem_size : int
        The memory the TCDM port reaches.
    """

    def __init__(self, component, name, *, mem_base, mem_size, **build_kwargs):
        self.regmap = component.regmap
        self.mem_base, self.mem_size = mem_base, mem_size
        build_kwargs.setdefault("registered_buses", ("cfg__",))
        build_kwargs.setdefault("registered_memories", ("tcdm__",))
        self.build = NativeBuild(verilog_text(component, name), name, **build_kwargs)

    def open(self, *, stall=0.0, seed=0):
        """A fresh :class:`Block`, reset, its memory zeroed."""
        return Block(self, self.build.open(), stall=stall, seed=seed)

    def wrap(self, model, *, stall=0.0, seed=0):
        """A :class:`Block` around ``model`` (a fresh model of this build, e.g. the
        instrumented one a profile-guided build hands its profile workload)."""
        return Block(self, model, stall=stall, seed=seed)


class Block:
    """One instance: ``model`` (flows.native.Model), ``mem`` (its Memory), ``regs``
    (RegisterDriver; call its coroutines through :meth:`call`), ``last_run`` (cycles and
    seconds from the trigger to the done event of the last job)."""

    def __init__(self, sim, model, *, stall, seed):
        self.sim = sim
        self.model = model
        model.reset()
        self.mem = model.memory(sim.mem_base, sim.mem_size)
        self.mem.attach("tcdm__", stall=stall, seed=seed)
        self.regs = RegisterDriver(_SyncBus(model.bus("cfg__")), sim.regmap)

    def close(self):
        self.model.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, coro):
        return run_sync(coro)

    def run_job(self, registers, max_cycles):
        """Program one job (acquire, registers, trigger) and run to its done event, leaving the
        model in that cycle; returns ``(done, cycles)``: whether the done event came within
        ``max_cycles`` cycles and the cycles run from the trigger."""
        run_sync(self.regs.program(registers))
        start = self.model.cycle
        t0 = time.perf_counter()
        _, hit = self.model.run_until("done_event", 1, max_cycles)
        self.last_run = (self.model.cycle - start, time.perf_counter() - t0)
        return hit, self.model.cycle - start

    def job(self, registers, *, max_cycles=50_000_000):
        """Program one job (acquire, registers, trigger), run to its done event; returns
        ``(cause, counters, cycles)``: the ERROR cause, the counters (JOB_CYCLES first) and the
        cycles from the trigger to the done event."""
        regs = self.regs
        hit, cycles = self.run_job(registers, max_cycles)
        if not hit:
            raise TimeoutError(f"no done event within {max_cycles} cycles")
        self.model.step(1)
        err = run_sync(regs.error())
        if err["CAUSE"]:
            run_sync(regs.clear_error())
        return err["CAUSE"], run_sync(regs.counters()), cycles


def _stride(cols, beat):
    return -(-2 * cols // beat) * beat


def gemm_operands(m, n, k, seed):
    """X (m x k), W (k x n), Y (m x n): normal BF16 values from ``seed``."""
    rng = np.random.default_rng(seed)

    def mat(r, c):
        return np.asarray(float_to_bf16(rng.standard_normal(r * c)), np.uint16).reshape(r, c)
    return mat(m, k), mat(k, n), mat(m, n)


def gemm_setup(block, m, n, k, *, seed=1, op="GEMM", beat=None):
    """Write the operands of an M x N x K job (:func:`gemm_operands`) into a tensor unit
    Block's memory, one after the other from its base, rows padded to the port's beat.
    Returns ``(registers, (x, w, y), (z_addr, z_stride))``: the job's register values, the
    operands and where Z goes."""
    from hw.tensor.regmap import TensorOp

    beat = beat or block.model.ports["tcdm__wdata"][1] // 8
    x, w, y = gemm_operands(m, n, k, seed)
    sx, sw, sz = _stride(k, beat), _stride(n, beat), _stride(n, beat)
    base = block.sim.mem_base
    xa = base
    wa = xa + m * sx
    ya = wa + k * sw
    za = ya + m * sz
    if za + m * sz > base + block.sim.mem_size:
        raise ValueError(f"{m} x {n} x {k} does not fit the block's memory")
    for addr, mtx, stride in ((xa, x, sx), (wa, w, sw), (ya, y, sz)):
        block.mem.write(addr, padded(mtx, stride))
    registers = dict(X_PTR=xa, W_PTR=wa, Y_PTR=ya, Z_PTR=za, X_STRIDE=sx, W_STRIDE=sw,
                     Y_STRIDE=sz, Z_STRIDE=sz, DIM_MN={"M": m, "N": n}, DIM_K={"K": k},
                     COMMAND={"OP": int(TensorOp[op])})
    return registers, (x, w, y), (za, sz)


def gemm_job(block, m, n, k, *, seed=1, op="GEMM", acc="fp32", beat=None, expect=None):
    """One M x N x K job on a tensor unit Block (X, W, Y of normal values; Z = X W + Y for
    GEMM), checked bit for bit against sim.golden.gemm, or against ``expect`` (a Z of an
    earlier run of the same job: no golden model). Returns its counters; ``block.last_output``
    is Z."""
    from hw.tensor.regmap import TensorOp

    registers, (x, w, y), (za, sz) = gemm_setup(block, m, n, k, seed=seed, op=op, beat=beat)
    cause, ctr, _ = block.job(registers)
    if cause:
        raise AssertionError(f"tensor job ended with cause {cause}")
    got = np.frombuffer(block.mem.read(za, m * sz), np.uint16).reshape(m, sz // 2)[:, :n]
    block.last_output = got
    want = gemm(x, w, y, TensorOp[op], acc) if expect is None else expect
    if not np.array_equal(got, want):
        raise AssertionError(f"tensor job {m}x{n}x{k}: {int(np.count_nonzero(got != want))} "
                             f"of {m * n} results differ from the golden model")
    return ctr


def softmax_rows(count, n, *, seed=1, scale=3.0):
    """``count`` x ``n`` normal(0, scale) BF16 values from ``seed``."""
    rng = np.random.default_rng(seed)
    return np.asarray(float_to_bf16(rng.normal(0, scale, count * n)),
                      np.uint16).reshape(count, n)


def softmax_setup(block, x):
    """Write the rows ``x`` (count x n BF16) one after the other from a SoftEx engine Block's
    base; returns the registers of one softmax job over them, in place."""
    count, n = x.shape
    addr = block.sim.mem_base
    block.mem.write(addr, x)
    registers = {"IN_ADDR": addr, "OUT_ADDR": addr, "LENGTH": {"ELEMS": n},
                 "ROWS": {"COUNT": count}, "COMMAND": {"OP": 0, "ACC": 1, "DIV": 1}}
    if count > 1:
        registers.update(IN_STRIDE=2 * n, OUT_STRIDE=2 * n)
    return registers


def softmax_golden(x, base, *, lanes, mode="accurate"):
    """The golden outputs of :func:`softmax_setup`'s job on ``x`` at ``base`` (count x n)."""
    n = x.shape[1]
    return np.stack([softmax_job(row, lanes=lanes, mode=mode,
                                 offset=lane_offset(base + 2 * n * r, lanes, 2))["y"]
                     for r, row in enumerate(x)])


def softmax_row_job(block, n, *, lanes, mode="accurate", seed=1, scale=3.0, expect=None):
    """A softmax of one row of ``n`` normal(0, scale) BF16 values on a SoftEx engine Block,
    in place, checked bit for bit against sim.golden.softmax, or against ``expect`` (the
    output of an earlier run of the same job). Returns its counters; ``block.last_output`` is
    the row."""
    x = softmax_rows(1, n, seed=seed, scale=scale)
    addr = block.sim.mem_base
    cause, ctr, _ = block.job(softmax_setup(block, x))
    if cause:
        raise AssertionError(f"softmax job ended with cause {cause}")
    got = np.frombuffer(block.mem.read(addr, 2 * n), np.uint16)
    block.last_output = got
    want = softmax_golden(x, addr, lanes=lanes, mode=mode)[0] if expect is None else expect
    if not np.array_equal(got, want):
        raise AssertionError(f"softmax row n={n}: {int(np.count_nonzero(got != want))} of {n} "
                             f"outputs differ from the golden model")
    return ctr
