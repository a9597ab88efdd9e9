"""ELF32 little-endian loader (pure Python): the PT_LOAD segments of a RISC-V executable, to be
written into the cluster's memories by the testbench.

``load_elf(path_or_bytes)`` returns an :class:`ElfImage`: ``entry``, ``segments`` (list of
:class:`Segment` with the load address ``paddr``, the run address ``vaddr``, the file bytes
``data`` and ``memsz``) and ``symbols`` (name -> address, from .symtab when present).
``image.words(base, size)`` flattens the segments that fall in ``[base, base + size)`` into a
dict ``{word_address: value}``; segments crossing the range raise ValueError.
"""

import struct
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ElfError", "Segment", "ElfImage", "load_elf"]

PT_LOAD = 1
EM_RISCV = 243
SHT_SYMTAB = 2


class ElfError(ValueError):
    pass


@dataclass
class Segment:
    paddr: int
    vaddr: int
    data: bytes
    memsz: int
    flags: int


@dataclass
class ElfImage:
    entry: int
    machine: int
    segments: list
    symbols: dict = field(default_factory=dict)

    def words(self, base, size):
        """``{byte_address: 32-bit word}`` of the loadable bytes in ``[base, base + size)``
        (little endian, zero padded to whole words). Only file bytes are loaded: .bss is the
        startup code's job."""
        out = {}
        for s in self.segments:
            if not s.data:
                continue
            lo, hi = s.paddr, s.paddr + len(s.data)
            if hi <= base or lo >= base + size:
                continue
            if lo < base or hi > base + size:
                raise ElfError(f"segment {lo:#x}..{hi:#x} crosses the memory {base:#x}..{base + size:#x}")
            for off in range(len(s.data)):
                a = lo + off
                w = a & ~3
                shift = 8 * (a & 3)
                out[w] = (out.get(w, 0) & ~(0xFF << shift)) | (s.data[off] << shift)
        return dict(sorted(out.items()))

    def describe(self, addr):
        """``"0x1234 (main+0x10)"``: ``addr`` with the nearest symbol at or below it."""
        best = max(((a, n) for n, a in self.symbols.items() if a <= addr and not n.startswith(".")),
                   default=None)
        return f"{addr:#x}" + (f" ({best[1]}+{addr - best[0]:#x})" if best else "")

    def check_fits(self, regions):
        """Raise ElfError unless every loadable segment lies in one of ``regions`` ({name: (base, size)})
        (both its load address for file bytes and its run address for the whole memsz)."""
        for s in self.segments:
            spans = []
            if s.data:
                spans.append(("load", s.paddr, len(s.data)))
            spans.append(("run", s.vaddr, s.memsz))
            for what, a, n in spans:
                if n == 0:
                    continue
                if not any(b <= a and a + n <= b + sz for b, sz in regions.values()):
                    where = ", ".join(f"{k} {b:#x}..{b + sz:#x}" for k, (b, sz) in regions.items())
                    raise ElfError(f"segment {what} range {a:#x}..{a + n:#x} is outside the "
                                   f"memories ({where})")


def load_elf(source):
    data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    if len(data) < 52 or data[:4] != b"\x7fELF":
        raise ElfError("not an ELF file")
    if data[4] != 1:
        raise ElfError("not a 32-bit ELF (EI_CLASS != ELFCLASS32)")
    if data[5] != 1:
        raise ElfError("not little endian (EI_DATA != ELFDATA2LSB)")
    (e_type, e_machine, _, e_entry, e_phoff, e_shoff, _, _, e_phentsize, e_phnum,
     e_shentsize, e_shnum, e_shstrndx) = struct.unpack_from("<HHIIIIIHHHHHH", data, 16)
    if e_type != 2:
        raise ElfError(f"not an executable (e_type {e_type})")
    segments = []
    for i in range(e_phnum):
        off = e_phoff + i * e_phentsize
        if off + 32 > len(data):
            raise ElfError("program header table truncated")
        p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, _ = \
            struct.unpack_from("<IIIIIIII", data, off)
        if p_type != PT_LOAD:
            continue
        if p_offset + p_filesz > len(data):
            raise ElfError(f"segment {i} data truncated")
        if p_filesz > p_memsz:
            raise ElfError(f"segment {i}: filesz > memsz")
        segments.append(Segment(p_paddr, p_vaddr, bytes(data[p_offset:p_offset + p_filesz]),
                                p_memsz, p_flags))
    symbols = {}
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        if off + 40 > len(data):
            break
        sh = struct.unpack_from("<IIIIIIIIII", data, off)
        if sh[1] != SHT_SYMTAB:
            continue
        sym_off, sym_size, link, entsize = sh[4], sh[5], sh[6], sh[9] or 16
        str_sh = struct.unpack_from("<IIIIIIIIII", data, e_shoff + link * e_shentsize)
        str_off = str_sh[4]
        for k in range(sym_size // entsize):
            st_name, st_value, _, _, _, _ = struct.unpack_from("<IIIBBH", data, sym_off + k * entsize)
            if st_name:
                end = data.index(b"\0", str_off + st_name)
                symbols[data[str_off + st_name:end].decode()] = st_value
    return ElfImage(e_entry, e_machine, segments, symbols)
