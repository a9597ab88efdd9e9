"""Board builds: the firmware image of a board top (:class:`hw.board.core.BoardCore`), from an
ELF to the initial words of the instruction memory and the scratchpad."""

from .elf import load_elf

__all__ = ["image_words"]


def image_words(elf, *, imem_base, imem_size, spm_base, spm_size):
    """``(imem_words, spm_words)``: the ELF's loadable words in each memory, from its first
    address up to its last loaded word (gaps zero). ValueError if a segment does not fit."""
    image = load_elf(elf)
    image.check_fits({"imem": (imem_base, imem_size), "spm": (spm_base, spm_size)})

    def dense(base, size):
        words = image.words(base, size)
        out = [0] * (((max(words) - base) // 4 + 1) if words else 0)
        for addr, word in words.items():
            out[(addr - base) // 4] = word
        return out
    return dense(imem_base, imem_size), dense(spm_base, spm_size)
