"""A tensor-unit GEMM job checked by the Flash-ABFT checker's GEMM mode on the cluster
(firmware/apps/gemm_abft.c; the arithmetic: :mod:`sim.golden.abft_gemm`): the data file, the
build, a run, and the golden result.
"""

from dataclasses import dataclass

import numpy as np

from hw.params import check_int
from hw.tensor.regmap import TensorOp

from .attention import ABFT_RESULT, _words16, abft_summary
from .golden.abft_gemm import gemm_encode
from .golden.gemm import gemm
from .offload import build_app, gemm_inputs, padded, run_program, stride_for

__all__ = ["GemmShape", "GEMM_DEMO", "build_gemm_abft", "run_gemm_abft", "golden_z", "dump_of",
           "demo_operands"]


@dataclass(frozen=True)
class GemmShape:
    """Z (m x n) = X (m x k) W (k x n), plus Y with ``gemm`` (TensorOp.GEMM)."""
    m: int
    n: int
    k: int
    gemm: bool = False

    def __post_init__(self):
        check_int("m", self.m, min=1, max=4096)
        check_int("n", self.n, min=1, max=4096)
        check_int("k", self.k, min=1, max=4096)

    @property
    def strides(self):
        """Byte strides of X, W and Z (Z's a power of two: the checker's VERIFY steps by it)."""
        zs = stride_for(self.n)
        return dict(XS=stride_for(self.k), WS=stride_for(self.n), ZS=1 << (zs - 1).bit_length())

    @property
    def op(self):
        return TensorOp.GEMM if self.gemm else TensorOp.MATMUL


#: The job the campaigns and the cluster test run: leftovers in every dimension of the tiny
#: array, Y added.
GEMM_DEMO = GemmShape(20, 18, 24, gemm=True)


def golden_z(shape, x, w, y):
    """Z as the tensor unit writes it (BF16, m x n)."""
    return gemm(x, w, y if shape.gemm else None, shape.op, "fp32")


def build_gemm_abft(shape, x, w, y, *, abft=True, correct=True, plant=None, encoded=None):
    """ELF of gemm_abft.c with the operands, the descriptor's numbers and the references
    preloaded (``abft``: False for the job alone, on a cluster without the checker;
    ``encoded``: the (x, w, y) the references are made from, when the preloaded operands are
    meant to differ; ``plant``: (row, col, bit) of a Z word the firmware flips before
    VERIFY)."""
    from .abft import gemm_descriptor, report_words
    st = shape.strides
    arrays = {"gx": padded(x, st["XS"]), "gw": padded(w, st["WS"]),
              "gy": padded(y, st["ZS"]) if shape.gemm else 2,
              "gz": shape.m * st["ZS"] // 2}
    defines = dict(GM=shape.m, GN=shape.n, GK=shape.k, GXS=st["XS"], GWS=st["WS"],
                   GZS=st["ZS"], GOP_GEMM=int(shape.gemm), ABFT=int(abft),
                   ABFT_CORRECT=int(correct))
    if abft:
        ex, ew, ey = encoded or (x, w, y)
        enc = gemm_encode(ex, ew, ey if shape.gemm else None)
        desc = gemm_descriptor(shape.m, shape.n, enc, dict(z=0, refs=0, report=0), st["ZS"])
        arrays.update(abft_desc=_words16(desc), abft_refs=_words16(enc.reference_words()),
                      abft_report=2 * report_words(1),
                      abft_result=np.zeros(2 * len(ABFT_RESULT), np.uint16))
    if plant is not None:
        defines.update(ABFT_PLANT_ROW=plant[0], ABFT_PLANT_COL=plant[1], ABFT_PLANT_BIT=plant[2])
    return build_app("gemm_abft.c", arrays, defines, preload=True,
                     noinit=["gz"] + (["abft_report"] if abft else []))


def dump_of(shape, abft=True):
    """{symbol: bytes} a run reads back."""
    from .abft import report_words
    out = {"gz": shape.m * shape.strides["ZS"]}
    if abft:
        out.update(abft_result=4 * len(ABFT_RESULT), abft_report=4 * report_words(1))
    return out


def run_gemm_abft(sim, params, shape, x, w, y, *, abft=True, correct=True, plant=None,
                  encoded=None, max_cycles=2_000_000):
    """Build and run (``abft``: on a cluster with the checker); dict(run=SystemRun, z=,
    abft=abft_summary (with the checker), cycles=the job's, arm_cycles=)."""
    import re
    elf = build_gemm_abft(shape, x, w, y, abft=abft, correct=correct, plant=plant,
                          encoded=encoded)
    run = run_program(sim, params, elf, dump_of(shape, abft), max_cycles=max_cycles)
    z = run.array("gz").reshape(shape.m, -1)[:, :shape.n]
    found = re.search(r"cycles (\d+) arm cycles (\d+)", run["output"])
    return dict(run=run, z=z,
                abft=abft_summary(run.array("abft_result", np.uint8)) if abft else None,
                cycles=int(found.group(1)) if found else None,
                arm_cycles=int(found.group(2)) if found else None)


def demo_operands(shape=GEMM_DEMO, seed=3):
    """X, W, Y of the demo job (uniform(-2, 2) BF16 values)."""
    return gemm_inputs(shape.m, shape.n, shape.k, seed=seed)
