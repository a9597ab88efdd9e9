"""Markdown documentation of a register map: the register table, one field table per register
with fields, the enum values, error causes, counters, the accelerator-side interface of the
register file and the semantics of the control registers.

The register table, the field tables and the access legend are shared with the cluster's own
registers (:mod:`.cluster`), which are not a :class:`~hw.regmap.RegisterMap`."""

from hw.regmap.description import ACCESS, CAUSE_WIDTH

__all__ = ["markdown", "register_table", "field_tables", "access_legend"]


def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def _bits(f):
    return f"{f.msb}" if f.width == 1 else f"{f.msb}:{f.offset}"


def markdown(regmap):
    """Text of the Markdown document for ``regmap``."""
    p = regmap.prefix
    out = [f"# Register map `{regmap.name}`", "",
           "<!-- Generated from the Python description by flows.regmaps.markdown; do not edit. -->", ""]
    if regmap.doc:
        out += [regmap.doc.strip(), ""]
    out += [
        f"- Job contexts: {regmap.n_contexts}; job registers from 0x{regmap.job_base:02X}; "
        f"{regmap.size} bytes spanned.",
        f"- All registers are 32 bits wide; offsets are byte offsets from the base of the register "
        f"file. C names: `{p}_<REG>_OFFSET`, `{p}_<REG>_<FIELD>_SHIFT/_WIDTH/_MASK/_RESET`, "
        f"`{p}_<REG>_<FIELD>_<VALUE>`, `{p}_ERR_<CAUSE>` in `{regmap.name}.h`.",
        "",
        "## Registers",
        "",
    ]

    def kind(r):
        return ("job" if r in regmap.job_registers else
                "counter" if r in regmap.counter_registers else "control")

    out += register_table(regmap.registers, kind=kind)
    out += ["", access_legend(), ""]
    out += ["## Fields", ""] + field_tables(regmap.registers)

    out += ["## Error causes", "",
            f"Codes reported in ERROR.CAUSE ({CAUSE_WIDTH} bits) and on the `error` input.", "",
            "| Code | Name | Description |", "|---|---|---|",
            f"| 0 | NONE | The job succeeded. |"]
    for e in sorted(regmap.error_causes, key=lambda e: e.code):
        out.append(f"| {e.code} | {e.name} | {_cell(e.doc)} |")
    out.append("")

    out += ["## Performance counters", "",
            f"{regmap.counter_width}-bit counters, latched per job (see below).", "",
            "| Offset | Name | Increment input | Description |", "|---|---|---|---|",
            f"| 0x{regmap['JOB_CYCLES'].offset:02X} | JOB_CYCLES | (every cycle) | "
            f"{_cell(regmap['JOB_CYCLES'].doc)} |"]
    for r in regmap.counter_registers:
        c = r.counter
        out.append(f"| 0x{r.offset:02X} | {c.name} | `counters.{c.name}` ({c.inc_width} bit"
                   f"{'s' if c.inc_width > 1 else ''}) | {_cell(c.doc)} |")
    out.append("")

    out += ["## Accelerator interface of the register file", "",
            "| Port | Direction | Width | Meaning |", "|---|---|---|---|",
            f"| `bus` | slave | TCDM, 32-bit data | Register access from the core (granted at once; read data one cycle after). |",
            f"| `job` | out | {regmap.job_layout.size} | The running job's registers, field by field "
            f"(StructLayout: {', '.join(r.name for r in regmap.job_registers)}); valid from `start` to `done`. |",
            "| `start` | out | 1 | One-cycle pulse in the first cycle of a job. |",
            "| `busy` | out | 1 | High from the `start` cycle to the `done` cycle, both included. |",
            "| `clear` | out | 1 | One-cycle pulse after a SOFT_CLEAR write: abandon the job and return to idle. |",
            "| `done` | in | 1 | One-cycle pulse from the accelerator in the last cycle of a job (ignored when no job runs). |",
            f"| `error` | in | {CAUSE_WIDTH} | Cause code, sampled with `done` (0 = success). |"]
    if regmap.counters:
        out.append(f"| `counters` | in | {regmap.counter_layout.size} | Increment per counter "
                   f"({', '.join(c.name for c in regmap.counters)}), added every cycle a job runs. |")
    out += ["| `done_event` | out | 1 | Done event to the core: one-cycle pulse per finished job, failed jobs included. |",
            ""]

    out += ["## Semantics", "", regmap.semantics, ""]
    return "\n".join(out).rstrip() + "\n"


def register_table(registers, *, kind=None, reset=True):
    """Lines of the register table: offset, name, access, reset value (unless ``reset`` is
    false) and description, followed by ``(kind(r))`` when ``kind`` is given."""
    head = ["Offset", "Name", "Access"] + (["Reset"] if reset else []) + ["Description"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in registers:
        cells = [f"0x{r.offset:02X}", r.name, r.access]
        if reset:
            cells.append(f"0x{r.reset:08X}")
        cells.append(_cell(r.doc) + (f" ({kind(r)})" if kind else ""))
        out.append("| " + " | ".join(cells) + " |")
    return out


def access_legend(accesses=None):
    """The legend of the access column (every mode, or those in ``accesses``)."""
    return "Access: " + "; ".join(f"**{k}** {v}" for k, v in ACCESS.items()
                                  if accesses is None or k in accesses) + "."


def field_tables(registers, *, level="###"):
    """Lines of one field table per register that has fields (headings at ``level``)."""
    out = []
    for r in registers:
        if r.plain:
            continue
        out += [f"{level} {r.name} (0x{r.offset:02X})", "",
                "| Bits | Field | Reset | Description |", "|---|---|---|---|"]
        for f in sorted(r.fields, key=lambda f: f.offset):
            doc = _cell(f.doc)
            if f.enum:
                doc += " Values: " + ", ".join(f"{k} = {v}" for k, v in f.enum.items()) + "."
            out.append(f"| {_bits(f)} | {f.name} | {f.reset:#x} | {doc} |")
        reserved = 0xFFFF_FFFF & ~r.mask
        if reserved:
            out += ["", f"Reserved bits (mask 0x{reserved:08X}) read as 0 and ignore writes."]
        out.append("")
    return out
