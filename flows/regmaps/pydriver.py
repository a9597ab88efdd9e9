"""The Python view of a register map: the same names and values as the C header.

:func:`hw.regmap.description.constants` is the single list of generated names (the C header
defines exactly these macros, see :mod:`flows.regmaps.cheader`); :func:`python_module` writes them
as a standalone Python
module (no dependency on this project) with small encode/decode helpers, for host software and
tests outside the repository. Testbenches use :class:`sim.tb.regs.RegisterDriver`, which builds
the same constants from the description object. :func:`module_text` is shared with the cluster's
own registers (:mod:`.cluster`).
"""

from hw.regmap.description import constants

__all__ = ["python_module", "module_text"]

_MODULE_TEMPLATE = '''\
"""{title}: constants and field helpers (generated from its Python description by
{generator}; do not edit). Same names and values as the C header{s} {headers}."""

{constants}

#: Register name -> byte offset.
OFFSETS = {offsets!r}
#: Register name -> {{field name: (shift, width)}} (empty for plain 32-bit registers).
FIELDS = {fields!r}
#: Register name -> {{field name: {{member: value}}}} for enum-valued fields.
ENUMS = {enums!r}
#: Error cause name -> code.
ERRORS = {errors!r}
#: Register name -> reset value.
RESETS = {resets!r}
{extra}

def encode(register, **fields):
    """Value of ``register`` with the given fields (enum names accepted); other fields at reset."""
    value = RESETS[register]
    for name, v in fields.items():
        shift, width = FIELDS[register][name]
        if isinstance(v, str):
            v = ENUMS[register][name][v]
        if not 0 <= v < (1 << width):
            raise ValueError(f"{{register}}.{{name}} is {{width}} bits wide, got {{v}}")
        mask = ((1 << width) - 1) << shift
        value = (value & ~mask) | (v << shift)
    return value


def decode(register, value):
    """Dict of the field values of ``register`` in ``value``."""
    return {{name: (value >> shift) & ((1 << width) - 1)
            for name, (shift, width) in FIELDS[register].items()}}


def to_signed(value):
    """A 32-bit register value as a signed integer (ACQUIRE, RUNNING_JOB)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value
'''


def python_module(regmap):
    """Text of a standalone Python module with the constants of ``regmap``."""
    return module_text(f"Register map {regmap.name}", [f"{regmap.name}.h"], constants(regmap),
                       regmap.registers, errors={e.name: e.code for e in regmap.error_causes})


def module_text(title, headers, consts, registers, *, errors=None, extra="",
                generator="flows.regmaps.pydriver", decimal=()):
    """Text of a standalone Python module: ``consts`` (``{name: value}``, the names of the C
    ``headers``), the tables of ``registers`` and ``errors`` and the field helpers; ``extra``
    (Python source) goes after the tables. Constants whose names end with one of ``decimal``
    (besides ``_SHIFT``, ``_WIDTH``, ...) are written in decimal."""
    return _MODULE_TEMPLATE.format(
        title=title, generator=generator, s="s" if len(headers) > 1 else "",
        headers=" and ".join(headers),
        constants="\n".join(f"{k} = {_pyhex(k, v, decimal)}" for k, v in consts.items()),
        offsets={r.name: r.offset for r in registers},
        fields={r.name: {f.name: (f.offset, f.width) for f in r.fields} for r in registers},
        enums={r.name: {f.name: dict(f.enum) for f in r.fields if f.enum}
               for r in registers if any(f.enum for f in r.fields)},
        errors=dict(errors or {}),
        resets={r.name: r.reset for r in registers},
        extra=extra,
    )


def _pyhex(name, value, decimal=()):
    if value < 0 or name.endswith(("_WIDTH", "_SHIFT", "_N_CONTEXTS", "_CAUSE_WIDTH", *decimal)):
        return str(value)
    return f"0x{value:X}"
