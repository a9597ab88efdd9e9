"""Firmware builds for the cluster with the ziglang wheel (no system toolchain).

``build(sources)`` compiles C/assembly sources with ``firmware/crt0.S``, ``firmware/link.ld`` and
the generated headers (those of the list in :mod:`flows.regmaps.catalog`: ``cluster_regs.h``
from :mod:`hw.cluster.regs`, one ``<map>.h`` per accelerator register map, ``system.h`` with the
accelerators' slots and event lines from :mod:`hw.cluster.system`) into
``build/fw/<hash>/prog.elf`` and ``prog.bin``; the hash covers the sources, headers, flags and
the compiler version, so an unchanged program is never rebuilt.

    python -m flows.firmware firmware/tests/hello.c     # prints the ELF path
"""

import fcntl
import hashlib
import subprocess
import sys
from pathlib import Path

from .elf import load_elf
from .regmaps.catalog import headers as _catalog_headers
from .toolchain import BUILD, ROOT

__all__ = ["FIRMWARE", "CFLAGS", "build", "generated_headers", "FirmwareBuildError"]

FIRMWARE = ROOT / "firmware"
TARGET = ["-target", "riscv32-freestanding-none", "-mcpu=generic_rv32"]
CFLAGS = ["-O2", "-g", "-ffreestanding", "-fno-builtin", "-nostdlib", "-fno-exceptions",
          "-fno-unwind-tables", "-fno-asynchronous-unwind-tables", "-Wall", "-Werror",
          "-std=c11", "-mno-relax"]


class FirmwareBuildError(RuntimeError):
    pass


def generated_headers():
    """``{file name: text}`` of the headers generated from the hardware descriptions: the
    ``header`` entries of :func:`flows.regmaps.catalog.artefacts`."""
    return _catalog_headers()


def _zig(*args, cwd):
    cmd = [sys.executable, "-m", "ziglang", *args]
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise FirmwareBuildError(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    return r.stdout


def build(sources, *, defines=None, cflags=(), name="prog"):
    """Compile ``sources`` (paths) with the startup code; returns the ELF path. ``defines``:
    ``{NAME: value}`` passed as ``-DNAME=value``."""
    sources = [Path(s).resolve() for s in sources]
    if not sources:
        raise ValueError("sources must name at least one C or assembly file")
    for s in sources:
        if not s.is_file():
            raise FileNotFoundError(f"firmware source {s} does not exist")
    headers = generated_headers()
    startup = [FIRMWARE / "crt0.S"]
    flags = list(CFLAGS) + list(cflags) + [f"-D{k}={v}" for k, v in (defines or {}).items()]
    h = hashlib.sha256()
    version = _zig("version", cwd=ROOT)
    for part in [version, " ".join(TARGET + flags), name]:
        h.update(part.encode() + b"\0")
    # Every header under firmware/ (hal.h, lib/*.h) may be included: all of them are hashed.
    sdk_headers = sorted(FIRMWARE.rglob("*.h"))
    for p in startup + [FIRMWARE / "link.ld"] + sdk_headers + sources:
        h.update(str(p).encode() + b"\0" + p.read_bytes() + b"\0")
    for k in sorted(headers):
        h.update(k.encode() + b"\0" + headers[k].encode() + b"\0")
    out = BUILD / "fw" / h.hexdigest()[:16]
    elf = out / f"{name}.elf"
    if elf.exists():
        return elf
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if elf.exists():
            return elf
        inc = out / "include"
        inc.mkdir(exist_ok=True)
        for k, text in headers.items():
            (inc / k).write_text(text)
        tmp = out / f"{name}.elf.tmp"
        _zig("cc", *TARGET, *flags, f"-I{inc}", f"-I{FIRMWARE}", f"-T{FIRMWARE / 'link.ld'}",
             "-Wl,--gc-sections", "-ffunction-sections", "-fdata-sections",
             *[str(s) for s in startup + sources], "-o", str(tmp), cwd=out)
        _zig("objcopy", "-O", "binary", str(tmp), str(out / f"{name}.bin"), cwd=out)
        load_elf(tmp)           # a malformed output fails here, not in a testbench
        tmp.rename(elf)
    return elf


if __name__ == "__main__":
    print(build(sys.argv[1:]))
