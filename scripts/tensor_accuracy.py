"""Accuracy of the tensor unit's accumulation (fp32 and bf16) against the exact product: writes
the table of docs/tensor.md.

    .venv/bin/python -m scripts.tensor_accuracy            # measure, write docs/tensor.md
    .venv/bin/python -m scripts.tensor_accuracy --check    # measure, fail if the page differs

For each K, X (M x K) and W (K x N) have independent standard normal entries (numpy
``default_rng([SEED, K])``, X drawn first) rounded to BF16; Z = X W is the bit-exact golden
model (``sim/golden/gemm.py``, MATMUL, which the RTL matches bit for bit) with ``acc="fp32"`` and
``acc="bf16"``. The reference is the exact product of those BF16 inputs: every product of two
BF16 numbers is exact in float64 (8-bit significands), and :func:`math.fsum` returns their sum
rounded once to float64 (relative error <= 2^-53, far below anything measured here;
``tests/tensor/test_tensor_accuracy.py`` checks it against exact fractions). Errors are
normalised by the rms of the exact outputs of that K, e_ij = (Z_ij - S_ij) / rms(S) (a plain
relative error |Z - S| / |S| is unbounded at the outputs near 0), and reported as the rms and
the maximum of |e| over the M x N outputs. The "floor" columns are the exact product rounded
once to BF16: what any unit with BF16 outputs gets.
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from flows import docs
from sim.golden.expp import bf16_to_float, float_to_bf16
from sim.golden.gemm import gemm

__all__ = ["SEED", "KS", "M", "N", "SECTION", "inputs", "exact_product", "measure", "table",
           "main"]

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "tensor.md"
SECTION = "tensor accuracy"

#: Seed of the inputs (``default_rng([SEED, K])`` per K).
SEED = 2024
#: The K measured.
KS = (16, 64, 256, 1024, 4096)
#: Outputs per K: M x N.
M = N = 64


def inputs(k, m=M, n=N, seed=SEED):
    """X (m x k) and W (k x n) as BF16 patterns: standard normal, rounded to nearest BF16.

    Parameters
    ----------
    k, m, n : int
        The GEMM's sizes.
    seed : int
        With ``k``, the seed of ``numpy.random.default_rng([seed, k])``; X is drawn first.

    Returns
    -------
    x, w : numpy.ndarray of numpy.uint16
    """
    rng = np.random.default_rng([seed, k])
    x = float_to_bf16(rng.standard_normal((m, k)))
    w = float_to_bf16(rng.standard_normal((k, n)))
    return x, w


def exact_product(x, w):
    """The exact X W of BF16 patterns, rounded once to float64.

    Each product of two BF16 numbers is exact in float64 and :func:`math.fsum` rounds their
    exact sum once, so every element is the exact dot product to 2^-53 relative.

    Parameters
    ----------
    x, w : numpy.ndarray of numpy.uint16
        M x K and K x N.

    Returns
    -------
    numpy.ndarray of float64, M x N
    """
    xf, wf = bf16_to_float(x), bf16_to_float(w)
    return np.array([[math.fsum(xf[i] * wf[:, j]) for j in range(wf.shape[1])]
                     for i in range(xf.shape[0])])


def _normalised(z, ref, rms):
    e = np.abs(z - ref) / rms
    return float(np.sqrt(np.mean(e * e))), float(e.max())


def measure(k, m=M, n=N, seed=SEED):
    """Errors of the golden GEMM at one K against the exact product.

    Parameters
    ----------
    k, m, n, seed
        As :func:`inputs`.

    Returns
    -------
    dict
        ``k``, ``rms_exact`` (the rms of the exact outputs) and, for ``bf16``, ``fp32`` and
        ``floor`` (the exact product rounded once to BF16), ``<name>_rms`` and ``<name>_max``:
        the rms and the maximum of |Z - S| / rms(S) over the m x n outputs; ``fp32_floor``:
        the fraction of outputs where fp32 accumulation gives the floor's result.
    """
    x, w = inputs(k, m, n, seed)
    ref = exact_product(x, w)
    rms = float(np.sqrt(np.mean(ref * ref)))
    out = {"k": k, "rms_exact": rms}
    results = {acc: bf16_to_float(gemm(x, w, acc=acc)) for acc in ("bf16", "fp32")}
    results["floor"] = bf16_to_float(float_to_bf16(ref))
    for name, z in results.items():
        out[f"{name}_rms"], out[f"{name}_max"] = _normalised(z, ref, rms)
    out["fp32_floor"] = float(np.mean(results["fp32"] == results["floor"]))
    return out


def table(rows, m=M, n=N, seed=SEED):
    """The Markdown of the generated section: the table of :func:`measure` rows and the
    sentence that states the inputs."""
    lines = [
        f"Z = X W (MATMUL) of the golden model, {m} x {n} outputs per K; X and W standard normal "
        f"(numpy `default_rng([{seed}, K])`, X first), rounded to BF16. Errors |Z - S| / rms(S) "
        "against the exact product S of the BF16 inputs (`math.fsum` of the exact float64 "
        "products), rms and maximum over the outputs; rms(S) ~ sqrt(K). Floor: S rounded once "
        "to BF16 (the best BF16 output); \"fp32 acc = floor\": the outputs where fp32 "
        "accumulation gives exactly that.",
        "",
        "| K | rms(S) | bf16 acc: rms err | bf16 acc: max err | bf16 rms err / sqrt(K) | "
        "fp32 acc: rms err | fp32 acc: max err | fp32 acc = floor | floor: rms err | "
        "floor: max err |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['k']} | {r['rms_exact']:.2f} | {r['bf16_rms']:.2%} | {r['bf16_max']:.2%} | "
            f"{r['bf16_rms'] / math.sqrt(r['k']):.2e} | {r['fp32_rms']:.3%} | "
            f"{r['fp32_max']:.3%} | {r['fp32_floor']:.2%} | {r['floor_rms']:.3%} | "
            f"{r['floor_max']:.3%} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if docs/tensor.md's table differs")
    args = ap.parse_args(argv)
    rows = []
    for k in KS:
        rows.append(measure(k))
        r = rows[-1]
        print(f"K={k:5d}: bf16 acc rms {r['bf16_rms']:.3%} max {r['bf16_max']:.3%}; fp32 acc "
              f"rms {r['fp32_rms']:.4%} max {r['fp32_max']:.4%}; floor rms "
              f"{r['floor_rms']:.4%}", flush=True)
    text = DOC.read_text()
    new = docs.splice(text, SECTION, table(rows))
    if args.check:
        if new != text:
            print(f"{DOC.relative_to(ROOT)}: the '{SECTION}' table is stale "
                  "(python -m scripts.tensor_accuracy)")
            return 1
        print(f"{DOC.relative_to(ROOT)}: current")
        return 0
    DOC.write_text(new)
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
