"""Campaign targets: a design built with fault-injection taps (:class:`hw.faults.FaultTapped`)
on the compiled harness, the job it runs, its golden run and one faulty run.

A target is a small picklable description (configuration, job, which modules get taps).
:meth:`prepare` elaborates and builds it (the build is cached by content, like every harness
build) and returns a :class:`Prepared` that the campaign engine sends to its workers:
``golden()`` runs the job with no fault and checks it against the golden model;
``execute(fault, max_cycles)`` runs it once with one fault, on a fresh model.

Block targets (:class:`TensorGemm`, :class:`SoftmaxRows`, :class:`LutSoftmaxRows`) compare the
block's whole memory after the job (so a stray write is seen as well as a wrong result) and read
the error cause; :class:`AttentionHead` and :class:`GemmJob` run firmware on a cluster from load
to exit and compare the output matrix (O, Z) and the exit code. Cycles (``window``) are the tap
controller's (``fault_now``): from the job's trigger (blocks) or ``fetch_enable`` (systems) to
the done event or exit.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from hw.faults import FaultKind, FaultTapped

__all__ = ["Fault", "pack_fault", "TensorGemm", "SoftmaxRows", "LutSoftmaxRows", "AttentionHead",
           "GemmJob", "TARGETS", "target"]


@dataclass(frozen=True)
class Fault:
    """One fault: ``target`` (id in the fault map), ``word`` (memories), ``bit``, ``cycle``
    (tap-controller cycles), ``kind`` (:class:`hw.faults.FaultKind`), ``duration``
    (stuck-at); ``index``: its run's number in the campaign."""
    index: int
    target: int
    word: int
    bit: int
    cycle: int
    kind: int = int(FaultKind.FLIP)
    duration: int = 0


NO_FAULT = Fault(-1, 0, 0, 0, 0, int(FaultKind.NONE))


def pack_fault(layout, fault):
    """The ``fault`` port's bytes (little-endian) for ``fault``."""
    value = layout.const(dict(kind=fault.kind, target=fault.target, word=fault.word,
                              bit=fault.bit, cycle=fault.cycle, duration=fault.duration))
    return value.as_value().value.to_bytes((layout.size + 7) // 8, "little")


class Prepared:
    """A built target (see the module docstring); ``fault_map``, ``layout``, ``name``."""

    def golden(self):
        record = self.execute(NO_FAULT, self.GOLDEN_LIMIT)
        if record["hang"]:
            raise RuntimeError(f"{self.name}: the golden run did not finish in "
                               f"{self.GOLDEN_LIMIT} cycles")
        self.check(record)
        return record

    GOLDEN_LIMIT = 50_000_000


# ---- blocks ------------------------------------------------------------------------------------

class _PreparedBlock(Prepared):
    def __init__(self, spec, sim, fault_map, layout):
        self.spec, self.sim, self.fault_map, self.layout = spec, sim, fault_map, layout
        self.name = spec.name

    def execute(self, fault, max_cycles):
        from sim.blocks import run_sync
        with self.sim.open(stall=self.spec.stall, seed=self.spec.stall_seed) as blk:
            model = blk.model
            model.set_bytes("fault", pack_fault(self.layout, fault))
            done, cycles = blk.run_job(self.spec.setup(blk), max_cycles)
            end = model["fault_now"]
            record = dict(hang=not done, window=(end - cycles, end), cycles=cycles, cause=None,
                          outputs=None, digest=None, pending=False)
            if done:
                model.step(1)
                try:
                    record["cause"] = run_sync(blk.regs.error())["CAUSE"]
                except (TimeoutError, AssertionError):       # the register port hangs
                    record["hang"] = True
                    return record
                record["outputs"] = np.frombuffer(
                    blk.mem.read(self.sim.mem_base, self.sim.mem_size), np.uint16).copy()
                record["digest"] = model["fault_digest"]
                record["pending"] = bool(model["fault_pending"])
            return record

    def check(self, record):
        if record["cause"]:
            raise RuntimeError(f"{self.name}: the golden run ended with cause {record['cause']}")
        self.spec.check(record["outputs"], self.sim.mem_base)


@dataclass
class _BlockTarget:
    """Common fields: ``config`` (configuration whose block regression this is), ``select``
    (module paths that get taps; ``""``: all), ``stall``/``stall_seed`` (grant stalls of the
    memory, drawn from the seed: the same in every run)."""
    config: str = "default"
    select: tuple = ("",)
    stall: float = 0.0
    stall_seed: int = 1

    REGRESSION = ""
    #: Class overrides of the fault map (hw.faults.FaultTapped's ``classes``).
    CLASSES = ()

    @property
    def name(self):
        return f"{self.KIND}_{self.config}"

    def regression(self):
        from sim.regressions import by_name, regressions
        lanes = None
        if "{lanes}" in self.REGRESSION:
            from hw.config import get_config
            lanes = get_config(self.config).softex.lanes
        return by_name(self.REGRESSION.format(lanes=lanes), regressions(self.config))

    def prepare(self):
        from sim.blocks import BlockSim
        reg = self.regression()
        tapped = FaultTapped(reg.component(), self.select, classes=self.CLASSES)
        p = reg.params
        sim = BlockSim(tapped, f"faults_{self.name}", mem_base=p["mem_base"],
                       mem_size=p["mem_size"], registered_inputs=("rst", "fault"))
        sim.build.build()
        self.params = p
        return _PreparedBlock(self, sim, tapped.fault_map, tapped.layout)

    def describe(self):
        return dataclasses.asdict(self)


@dataclass
class TensorGemm(_BlockTarget):
    """The tensor unit on one M x N x K GEMM (Z = X W + Y, fp32 accumulation), normal BF16
    operands from ``seed``."""
    m: int = 32
    n: int = 32
    k: int = 32
    seed: int = 1

    KIND = "tensor"
    REGRESSION = "tensor_unit"
    #: The running sums of a GEMM are the CEs' output registers (``ce*_sum``, accumulators by
    #: name), fed back to the next k; ``*_acc_d*`` delay the accumulator for the min/max
    #: operations and padding only.
    CLASSES = (("array.*_acc_d*", "datapath"),)

    def setup(self, blk):
        from sim.blocks import gemm_setup
        registers, _, (za, sz) = gemm_setup(blk, self.m, self.n, self.k, seed=self.seed)
        self._z = (za - blk.sim.mem_base, sz)
        return registers

    def check(self, memory, base):
        from hw.tensor.regmap import TensorOp
        from sim.blocks import gemm_operands
        from sim.golden.gemm import gemm
        x, w, y = gemm_operands(self.m, self.n, self.k, self.seed)
        offset, sz = self._z
        got = memory[offset // 2:offset // 2 + self.m * sz // 2].reshape(self.m, sz // 2)
        want = gemm(x, w, y, TensorOp.GEMM, "fp32")
        if not np.array_equal(got[:, :self.n], want):
            raise AssertionError(f"{self.name}: the golden run differs from the golden model")


@dataclass
class SoftmaxRows(_BlockTarget):
    """The SoftEx engine on ``rows`` softmax rows of ``n`` normal(0, 3) BF16 values (one job,
    rows one after the other, in place)."""
    n: int = 256
    rows: int = 4
    seed: int = 1

    KIND = "softmax"
    REGRESSION = "softmax_l{lanes}"
    #: The pass-1 partial sums: S<lane>_<slot> (sums of e^(x - K ln 2) per slot).
    CLASSES = (("sums.S*", "accumulator"),)

    def _inputs(self):
        from sim.blocks import softmax_rows
        return softmax_rows(self.rows, self.n, seed=self.seed)

    def setup(self, blk):
        from sim.blocks import softmax_setup
        return softmax_setup(blk, self._inputs())

    def _golden_rows(self, base):
        from sim.blocks import softmax_golden
        return softmax_golden(self._inputs(), base, lanes=self.params["lanes"])

    def check(self, memory, base):
        got = memory[:self.rows * self.n].reshape(self.rows, self.n)
        for r, want in enumerate(self._golden_rows(base)):
            if not np.array_equal(got[r], want):
                raise AssertionError(f"{self.name}: row {r} of the golden run differs from the "
                                     f"golden model")


@dataclass
class LutSoftmaxRows(SoftmaxRows):
    """The LUT softmax engine (``method`` a or b) on the same rows."""
    method: str = "b"

    KIND = "lut_softmax"
    #: The running sum of the table exponentials.
    CLASSES = (("normalise.S", "accumulator"),)

    @property
    def REGRESSION(self):                                   # noqa: N802 - as the base's
        return f"lut_softmax_{self.method}_l{{lanes}}"

    @property
    def name(self):
        return f"lut_softmax_{self.method}_{self.config}"

    def _golden_rows(self, base):
        from sim.golden import lut_softmax
        gold, tables = lut_softmax.method(self.method)
        return [gold(row, tables, out="bf16")["y"] for row in self._inputs()]


# ---- systems -----------------------------------------------------------------------------------

class _PreparedSystem(Prepared):
    def __init__(self, spec, sim, elf, dump, fault_map, layout):
        self.spec, self.sim, self.elf, self.dump = spec, sim, elf, dump
        self.fault_map, self.layout, self.name = fault_map, layout, spec.name

    def execute(self, fault, max_cycles):
        record = dict(hang=True, window=(None, None), cycles=None, cause=None, outputs=None,
                      digest=None, pending=False)

        def setup(model):
            model.set_bytes("fault", pack_fault(self.layout, fault))
            # fetch_enable reaches the cores an edge after it is raised
            record["window"] = (model["fault_now"] + 1, None)

        def inspect(model, result):
            start = record["window"][0]
            record.update(hang=result["timeout"], cycles=result["cycles"],
                          window=(start, start + result["cycles"]), cause=result["exit_code"])
            if not result["timeout"]:
                record.update(outputs=self.spec.trim(result.array(self.spec.OUTPUT)).copy(),
                              digest=model["fault_digest"], pending=bool(model["fault_pending"]))
                record.update(self.spec.checker_record(result))

        try:
            self.sim.run(self.elf, self.dump, max_cycles=max_cycles, setup=setup,
                         inspect=inspect, reuse=True)   # from the snapshot after the load
        except (TimeoutError, AssertionError):   # the loader port hangs reading O back
            record["hang"] = True
        return record

    def check(self, record):
        from flows.elf import load_elf
        if record["cause"] != 0:
            raise RuntimeError(f"{self.name}: the golden run exited with {record['cause']}")
        if record.get("flag"):
            raise AssertionError(f"{self.name}: the checker fails the fault-free run")
        self.spec.check(record, load_elf(self.elf).symbols)


@dataclass
class _ClusterApp:
    """A firmware app on the ``config`` cluster with taps in the modules under ``select``
    (``""``: the whole cluster: cores, interconnect, scratchpad, instruction memory and the
    accelerators), compared by its output matrix (:attr:`OUTPUT`) and exit code."""
    config: str = "tiny"
    select: tuple = ("",)
    seed: int = 7

    #: With the Flash-ABFT checker (docs/abft.md): ``abft`` = "detect" (the firmware reports
    #: a failed check and exits 0x400) or "correct" (it repairs first); "" = no checker.
    abft: str = ""
    #: With the checker: the consumer of the output also checks it against the checker's
    #: report (sim.abft.blocks_verdict), so that the firmware's reaction is not trusted.
    consumer: bool = False

    KIND = None
    #: The symbol of the output a run reads back.
    OUTPUT = None
    #: Times the golden run's cycles a correcting run may take beyond the hang limit.
    REPAIR_FACTOR = 0

    def __post_init__(self):
        if self.abft not in ("", "detect", "correct"):
            raise ValueError(f"abft must be '', 'detect' or 'correct', got {self.abft!r}")
        if self.consumer and not self.abft:
            raise ValueError("consumer checks the checker's report: it needs abft")

    @property
    def name(self):
        return (f"{self.KIND}_{self.config}" + (f"_abft_{self.abft}" if self.abft else "")
                + ("_consumer" if self.consumer else ""))

    def trim(self, output):
        """The output's elements a run is judged by (its dump may hold row padding)."""
        return output

    #: The firmware protects the run without the checker (per-operation protection).
    perop = False

    def repair_cycles(self, golden_cycles):
        """Cycles a correcting run may take beyond the hang limit (:attr:`REPAIR_FACTOR`)."""
        correcting = self.abft == "correct" or self.perop
        return self.REPAIR_FACTOR * golden_cycles if correcting else 0

    def checker_record(self, result):
        """The checker's part of a run record (sim.faults.outcomes.classify_run): ``flag``
        (its first verdict failed), ``corrected`` / ``recomputed`` (the firmware repaired
        words / tiles or jobs). A run that ends with the reported unrepaired failure (exit
        0x400) ended as designed: its cause is the golden run's, so the outputs decide between
        detected-uncorrected and detected-masked."""
        if not (self.abft or self.perop):
            return {}
        from sim.attention import abft_summary
        summary = abft_summary(result.array("abft_result", np.uint8))
        out = dict(flag=summary["causes"] != 0, corrected=summary["corrected"] > 0,
                   recomputed=summary["recomputed"] > 0)
        if result["exit_code"] == 0x400:
            out["cause"] = 0
        if self.consumer:
            from sim.abft import blocks_verdict
            words = result.array("abft_report", np.uint32)
            if blocks_verdict(words, self.output_blocks(result.array(self.OUTPUT))):
                out.update(flag=True, consumer=True)
                if result["exit_code"] == 0:
                    out["cause"] = 0
        return out

    def prepare(self):
        from flows.emit import tapped_verilog_text
        from flows.native import top_ports
        from hw.catalog import build as build_component
        from sim.system import SystemSim
        top = build_component(self.config, "cluster", abft=bool(self.abft))
        classes = (*((f"tensor.{p}", c) for p, c in TensorGemm.CLASSES),
                   *((f"softex.{p}", c) for p, c in SoftmaxRows.CLASSES))
        # one model per design: the apps, and detection or correction, differ in firmware only
        name = f"faults_cluster_{self.config}" + ("_abft" if self.abft else "")
        verilog, fault_map, layout = tapped_verilog_text(
            top, name, self.select, component_level=2, classes=classes)
        inputs = {n for d, _, n in top_ports(verilog, name) if d == "input"}
        registered = [n for n in SystemSim.REGISTERED_INPUTS if n in inputs] + ["fault"]
        sim = SystemSim.for_verilog(verilog, name, top.params, registered_inputs=registered,
                                    pgo=False)
        sim.build.build()
        self.params = top.params
        elf, dump = self.build_app()
        return _PreparedSystem(self, sim, str(elf), dump, fault_map, layout)

    def describe(self):
        return dataclasses.asdict(self)


@dataclass
class AttentionHead(_ClusterApp):
    """The attention firmware (pipelined, the demo's shape) on the ``config`` cluster; with
    ``perop`` under per-operation protection instead of the checker (serial tiles,
    :mod:`sim.perop`; the firmware recomputes a failing tile)."""

    perop: bool = False

    KIND = "attention"
    OUTPUT = "o"
    # every tile recomputed (one at a time, not overlapped: at most 1.5 times the pipelined
    # head) in each of the firmware's ABFT_ROUNDS rounds of repairs (2)
    REPAIR_FACTOR = 3

    def __post_init__(self):
        super().__post_init__()
        if self.perop and self.abft:
            raise ValueError("perop protects the head without the checker: not with abft")

    @property
    def name(self):
        return super().name + ("_perop" if self.perop else "")

    def _shape(self):
        from sim.attention import attention_inputs, demo_shape
        shape = demo_shape(self.config)
        return shape, attention_inputs(shape, seed=self.seed)

    def output_blocks(self, output):
        shape, _ = self._shape()
        o = np.asarray(output).reshape(shape.seq, -1)[:, :shape.head_dim]
        return [o[r0:r0 + shape.block_q] for r0 in range(0, shape.seq, shape.block_q)]

    def build_app(self):
        from sim.attention import build_attention
        shape, (q, k, v) = self._shape()
        elf = build_attention(shape, q, k, v, pipeline=not self.perop, abft=bool(self.abft),
                              abft_correct=self.abft == "correct" or self.perop,
                              perop=self.perop)
        dump = {"o": shape.seq * shape.strides["OS"]}
        if self.perop:
            from sim.attention import ABFT_RESULT_BYTES
            dump["abft_result"] = ABFT_RESULT_BYTES
        if self.abft:
            from sim.abft import report_words
            from sim.attention import ABFT_RESULT_BYTES
            dump["abft_result"] = ABFT_RESULT_BYTES
            dump["abft_report"] = 4 * report_words(shape.tiles)
        return elf, dump

    def check(self, record, symbols):
        from sim.attention import golden_attention
        shape, (q, k, v) = self._shape()
        st = shape.strides
        o = record["outputs"].reshape(shape.seq, st["OS"] // 2)[:, :shape.head_dim]
        want = golden_attention(shape, q, k, v, lanes=self.params["softex"]["lanes"],
                                sbuf_addr=symbols["sbuf"],
                                pipeline=self.params["cores"] >= 2 and not self.perop)["o"]
        if not np.array_equal(o, want):
            raise AssertionError(f"{self.name}: O of the golden run differs from the golden "
                                 f"model")


@dataclass
class GemmJob(_ClusterApp):
    """One tensor-unit job Z = Y + X W (sim.gemm_abft.GEMM_DEMO) from firmware/apps/gemm_abft.c
    on the ``config`` cluster; with ``abft`` checked by the checker's GEMM mode."""

    KIND = "gemm"
    OUTPUT = "gz"
    # the job run again in each of the firmware's ABFT_ROUNDS rounds (2), with its ARM_GEMM
    REPAIR_FACTOR = 3

    def _operands(self):
        from sim.gemm_abft import GEMM_DEMO, demo_operands
        return GEMM_DEMO, demo_operands(GEMM_DEMO, seed=self.seed)

    def trim(self, output):
        """Z's m x n elements (the dump's rows are GZS bytes long), flattened."""
        shape, _ = self._operands()
        return np.asarray(output).reshape(shape.m, -1)[:, :shape.n].ravel()

    def output_blocks(self, output):
        shape, _ = self._operands()
        return [self.trim(output).reshape(shape.m, shape.n)]

    def build_app(self):
        from sim.gemm_abft import build_gemm_abft, dump_of
        shape, (x, w, y) = self._operands()
        elf = build_gemm_abft(shape, x, w, y, abft=bool(self.abft),
                              correct=self.abft == "correct")
        return elf, dump_of(shape, abft=bool(self.abft))

    def check(self, record, symbols):
        from sim.gemm_abft import golden_z
        shape, (x, w, y) = self._operands()
        (z,) = self.output_blocks(record["outputs"])
        if not np.array_equal(z, golden_z(shape, x, w, y)):
            raise AssertionError(f"{self.name}: Z of the golden run differs from the golden "
                                 f"model")


#: Campaign targets by the name the command line takes.
TARGETS = {"tensor": TensorGemm, "softmax": SoftmaxRows, "lut_softmax": LutSoftmaxRows,
           "attention": AttentionHead, "gemm": GemmJob}


def target(kind, **kwargs):
    """A target of ``kind`` (a key of :data:`TARGETS`) with ``kwargs``; ValueError if unknown."""
    if kind not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {kind!r}")
    return TARGETS[kind](**kwargs)
