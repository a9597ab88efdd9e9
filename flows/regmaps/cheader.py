"""C header of a register map: #defines for every constant of :func:`flows.regmaps.pydriver.constants`
(offsets, resets, field shifts/widths/masks, enum values, error codes) and static inline
accessors. Freestanding C99: needs only <stdint.h>.

Accessors (p is the map name in lower case, r/f a register/field name in lower case):

- ``p_read(base, offset)``, ``p_write(base, offset, value)``: volatile 32-bit access;
- ``p_acquire(base)`` (int32_t job id or a negative P_ACQUIRE_* code), ``p_trigger(base)``,
  ``p_soft_clear(base)``, ``p_status(base)``, ``p_running_job(base)`` (int32_t), ``p_error(base)``,
  ``p_clear_error(base)``;
- ``p_read_r(base)`` for every readable register, ``p_write_r(base, value)`` for every writable one;
- ``p_r_f_get(reg)`` / ``p_r_f_set(reg, value)`` on register values, for every field.
"""

import re

from hw.regmap.description import constants

__all__ = ["c_header"]


def _c_value(name, value):
    if value < 0:
        return f"({value})"
    if name.endswith(("_SHIFT", "_WIDTH", "_N_CONTEXTS", "_CAUSE_WIDTH")):
        return f"{value}"
    return f"0x{value:X}u"


def c_header(regmap):
    """Text of the C header for ``regmap``."""
    p, lp = regmap.prefix, regmap.name.lower()
    consts = constants(regmap)
    guard = f"{p}_REGS_H"
    lines = [
        f"/* Register map {regmap.name}: generated from its Python description by flows.regmaps.cheader;",
        " * do not edit. Semantics of the control registers: docs/regmaps/"
        f"{regmap.name}.md. */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <stdint.h>",
        "",
    ]
    if regmap.doc:
        lines += ["/* " + regmap.doc.replace("*/", "* /") + " */", ""]

    def define(name):
        lines.append(f"#define {name:<40} {_c_value(name, consts[name])}")

    used = set()

    def emit(names):
        for n in names:
            define(n)
            used.add(n)

    emit([f"{p}_N_CONTEXTS", f"{p}_JOB_BASE", f"{p}_SIZE", f"{p}_COUNTER_MAX", f"{p}_CAUSE_WIDTH",
          f"{p}_ACQUIRE_NONE_FREE", f"{p}_ACQUIRE_LOCKED", f"{p}_RUNNING_JOB_IDLE"])
    lines += ["", "/* Error causes (ERROR.CAUSE, 0 = no error) */"]
    emit([f"{p}_ERR_NONE"] + [f"{p}_ERR_{e.name}" for e in regmap.error_causes])
    for r in regmap.registers:
        lines += ["", f"/* {r.name} (0x{r.offset:02X}, {r.access}): {_comment(r.doc)} */"]
        emit([f"{p}_{r.name}_OFFSET", f"{p}_{r.name}_RESET"])
        for f in r.fields:
            base = f"{p}_{r.name}_{f.name}"
            emit([f"{base}_SHIFT", f"{base}_WIDTH", f"{base}_MASK", f"{base}_RESET"])
            emit([f"{base}_{k}" for k in (f.enum or {})])
    missing = set(consts) - used
    assert not missing, f"constants without a #define: {sorted(missing)}"

    rd = f"{lp}_read"
    wr = f"{lp}_write"
    lines += [
        "",
        "/* Register access; base is the byte address of the register file. */",
        f"static inline uint32_t {rd}(uintptr_t base, uint32_t offset)",
        f"{{ return *(volatile uint32_t *)(base + offset); }}",
        f"static inline void {wr}(uintptr_t base, uint32_t offset, uint32_t value)",
        f"{{ *(volatile uint32_t *)(base + offset) = value; }}",
        "",
        "/* HWPE control */",
        f"static inline int32_t {lp}_acquire(uintptr_t base)",
        f"{{ return (int32_t){rd}(base, {p}_ACQUIRE_OFFSET); }}",
        f"static inline void {lp}_trigger(uintptr_t base)",
        f"{{ {wr}(base, {p}_TRIGGER_OFFSET, 0); }}",
        f"static inline void {lp}_soft_clear(uintptr_t base)",
        f"{{ {wr}(base, {p}_SOFT_CLEAR_OFFSET, 0); }}",
        f"static inline uint32_t {lp}_status(uintptr_t base)",
        f"{{ return {rd}(base, {p}_STATUS_OFFSET); }}",
        f"static inline int32_t {lp}_running_job(uintptr_t base)",
        f"{{ return (int32_t){rd}(base, {p}_RUNNING_JOB_OFFSET); }}",
        f"static inline uint32_t {lp}_error(uintptr_t base)",
        f"{{ return {rd}(base, {p}_ERROR_OFFSET); }}",
        f"static inline void {lp}_clear_error(uintptr_t base)",
        f"{{ {wr}(base, {p}_ERROR_OFFSET, 0); }}",
        "",
        "/* Per-register access (ACQUIRE has a side effect: use acquire()) */",
    ]
    for r in regmap.registers:
        n = r.name.lower()
        if r.access in ("rw", "ro", "rc"):
            lines += [f"static inline uint32_t {lp}_read_{n}(uintptr_t base)",
                      f"{{ return {rd}(base, {p}_{r.name}_OFFSET); }}"]
        if r.access in ("rw", "wo"):
            lines += [f"static inline void {lp}_write_{n}(uintptr_t base, uint32_t value)",
                      f"{{ {wr}(base, {p}_{r.name}_OFFSET, value); }}"]
    lines += ["", "/* Field helpers on register values */"]
    for r in regmap.registers:
        for f in r.fields:
            fn = f"{lp}_{r.name.lower()}_{f.name.lower()}"
            m = f"{p}_{r.name}_{f.name}"
            lines += [
                f"static inline uint32_t {fn}_get(uint32_t reg)",
                f"{{ return (reg & {m}_MASK) >> {m}_SHIFT; }}",
                f"static inline uint32_t {fn}_set(uint32_t reg, uint32_t value)",
                f"{{ return (reg & ~(uint32_t){m}_MASK) | (((uint32_t)value << {m}_SHIFT) & {m}_MASK); }}",
            ]
    lines += ["", f"#endif /* {guard} */", ""]
    seen = set()
    for line in lines:
        mt = re.match(r"static inline [a-z0-9_]+ ([A-Za-z0-9_]+)\(", line)
        if mt:
            if mt.group(1) in seen:
                raise ValueError(f"register map {regmap.name}: generated C function {mt.group(1)} "
                                 f"is defined twice; rename a register or field")
            seen.add(mt.group(1))
    return "\n".join(lines)


def _comment(text):
    return " ".join(text.split()).replace("*/", "* /")
