"""The software BF16 GEMM (``firmware/lib/bf16_gemm.c``) compiled for the host with the ziglang
wheel and called through ctypes: a fast bit-exactness check of the C code against
:func:`sim.golden.gemm.gemm` on many more inputs than the cluster simulation can afford (the
cluster tests then show the same code gives the same bits on the cores).

    host_gemm(x, w)  # bf16 patterns (m x k, k x n) -> z (m x n)
"""

import ctypes
import hashlib
import subprocess
import sys

import numpy as np

from flows.firmware import FIRMWARE
from flows.toolchain import BUILD, ROOT

from .offload import build_app, padded, stride_for

__all__ = ["SW_GEMM_SOURCE", "host_library", "host_gemm"]

SW_GEMM_SOURCE = FIRMWARE / "lib" / "bf16_gemm.c"
_LIBS = {}


def host_library(source=SW_GEMM_SOURCE):
    """ctypes handle of ``source`` built as a host shared library (cached by content)."""
    source = source.resolve()
    text = source.read_bytes() + (source.parent / "bf16_gemm.h").read_bytes()
    key = hashlib.sha256(text).hexdigest()[:16]
    if key not in _LIBS:
        out = BUILD / "host" / f"bf16_gemm_{key}.so"
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            cmd = [sys.executable, "-m", "ziglang", "cc", "-O2", "-shared", "-fPIC", "-std=c11",
                   "-Wall", "-Werror", f"-I{FIRMWARE}", str(source), "-o", str(tmp)]
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if r.returncode:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
            tmp.rename(out)
        lib = ctypes.CDLL(str(out))
        u32, ptr = ctypes.c_uint32, ctypes.c_void_p
        lib.bf16_gemm.argtypes = [ptr, u32, ptr, u32, ptr, u32, u32, u32, u32]
        lib.bf16_gemm.restype = None
        _LIBS[key] = lib
    return _LIBS[key]


def host_gemm(x, w, source=SW_GEMM_SOURCE):
    """z = x w (bf16 bit patterns) by ``bf16_gemm`` of ``source`` run on the host."""
    x = np.ascontiguousarray(x, dtype=np.uint16)
    w = np.ascontiguousarray(w, dtype=np.uint16)
    m, k = x.shape
    k2, n = w.shape
    if k2 != k:
        raise ValueError(f"X is {m}x{k} but W is {k2}x{n}")
    z = np.zeros((m, n), dtype=np.uint16)
    host_library(source).bf16_gemm(x.ctypes.data, 2 * k, w.ctypes.data, 2 * n, z.ctypes.data,
                                   2 * n, m, n, k)
    return z


# ---- the firmware app on the cluster -----------------------------------------------------

def gemm_sw_elf(x, w, cores=0):
    """ELF of ``firmware/apps/gemm_sw.c`` for X (m x k), W (k x n) and ``cores`` (0 = all),
    with the data file and defines of :mod:`sim.offload` (rows at ``stride_for`` strides), and
    the number of output words (``gz_sw``, m rows at the Z stride)."""
    x = np.asarray(x, dtype=np.uint16)
    w = np.asarray(w, dtype=np.uint16)
    (m, k), n = x.shape, w.shape[1]
    xs, ws, zs = stride_for(k), stride_for(n), stride_for(n)
    zwords = m * zs // 2
    elf = build_app("gemm_sw.c", {"gx": padded(x, xs), "gw": padded(w, ws), "gz_sw": zwords},
                    dict(GM=m, GN=n, GK=k, GXS=xs, GWS=ws, GZS=zs, USE_CORES=cores),
                    libs=[SW_GEMM_SOURCE])
    return elf, zwords
