"""Boards: ``make bitstream BOARD=...``, ``make program BOARD=...`` and the host console.

    python -m scripts.board bitstream --board ulx3s-85f              # default cluster, attention demo
    python -m scripts.board bitstream --board icebreaker              # plain cluster, greeting.c
    python -m scripts.board bitstream --board ulx3s-85f --app wiring  # no cluster: the pins
    python -m scripts.board console --port /dev/ttyUSB0               # read the report
    python -m scripts.board program --board ulx3s-85f                 # openFPGALoader

``bitstream`` builds the board top (hw.board.top) of the configuration's accelerated cluster
with the app's firmware in its memories (``attention``: the demo head of ``make sim`` with O's
digest printed last), of the plain cluster of a small FPGA (``greeting``), or the wiring check
``wiring``, at ``--mhz`` from the PLL, into
build/boards/<board>/ (top.bit or top.bin, report.json). docs/boards.md has the boards, their
clocks and LEDs.
"""

import argparse
import shutil
import subprocess
import sys

from flows.board import (BOARDS_DIR, BramSpread, bitstream, image_words, program_command,
                         read_report)
from hw.board.core import BoardCore
from hw.board.hello import UartHello
from hw.board.top import BOARDS, BoardTop, pll_setting
from hw.board.uart import uart_divisor
from hw.catalog import build
from hw.cluster.regs import ADDRESS_MAP
from hw.config import get_config

#: The cluster clock of each board's default build (MHz): below the default cluster's routed
#: Fmax on the ECP5-85F (21.0 MHz, docs/synth.md) and reachable by the PLL from the board's
#: oscillator (ULX3S: 25 MHz x 2 / 3; OrangeCrab: 48 MHz / 3); the iCEBreaker's plain cluster
#: routes at about 23 MHz (docs/boards.md).
DEFAULT_MHZ = {"ulx3s-85f": 16.667, "orangecrab-85f": 16.0, "icebreaker": 18.0}
#: The app each board builds by default: the attention demo on the accelerated cluster; on the
#: iCEBreaker, whose UP5K takes a plain one-core cluster, firmware/apps/greeting.c.
DEFAULT_APP = {"ulx3s-85f": "attention", "orangecrab-85f": "attention", "icebreaker": "greeting"}
#: The apps: firmware on the cluster, or ``wiring`` (hw.board.hello.UartHello, no cluster).
APPS = ("attention", "greeting", "wiring")
BAUD = 115_200


def _image(elf, cluster):
    return image_words(elf, imem_base=ADDRESS_MAP["IMEM_BASE"],
                       imem_size=1024 * cluster["imem_kib"], spm_base=ADDRESS_MAP["SPM_BASE"],
                       spm_size=1024 * cluster["scratchpad_kib"])


def attention_image(config):
    """(ELF, imem words, spm words, golden O digest) of the attention demo of ``config`` (the
    head of ``make sim``, serial tiles, O's digest printed last)."""
    from flows.elf import load_elf
    from sim.attention import (attention_inputs, build_attention, demo_shape,
                               golden_attention, o_digest)
    cfg = get_config(config)
    shape = demo_shape(cfg, pipeline=False)
    q, k, v = attention_inputs(shape)
    elf = build_attention(shape, q, k, v, digest=True)
    imem, spm = _image(elf, cfg.cluster.to_dict())
    o = golden_attention(shape, q, k, v, lanes=cfg.softex.lanes,
                         sbuf_addr=load_elf(elf).symbols["sbuf"])["o"]
    return elf, imem, spm, o_digest(o)


def make_core(board, app, config, divisor):
    """The board-independent design of ``board`` running ``app`` (:data:`APPS`) with the
    UART at ``divisor`` cycles per bit, and what its report records of it."""
    extra = {"app": app}
    if app == "wiring":
        return UartHello(f"hello from {board.name}\n".encode(), divisor=divisor), extra
    if board.plain_cluster is not None:
        if app != "greeting":
            raise ValueError(f"app: {board.name} takes a plain cluster: greeting or wiring, "
                             f"got {app!r}")
        from flows.firmware import FIRMWARE
        from flows.firmware import build as build_firmware
        from hw.cluster import Cluster
        elf = build_firmware([FIRMWARE / "apps" / "greeting.c"], name="greeting")
        imem, spm = _image(elf, board.plain_cluster)
        core = BoardCore(lambda **init: Cluster(**board.plain_cluster, **init), imem, spm,
                         divisor=divisor, fifo_depth=board.fifo_depth)
        return core, {**extra, "cluster": board.plain_cluster}
    if app != "attention":
        raise ValueError(f"app: {board.name} runs attention or wiring, got {app!r}")
    _, imem, spm, digest = attention_image(config)
    core = BoardCore(lambda **init: build(config, "cluster", **init), imem, spm,
                     divisor=divisor, fifo_depth=board.fifo_depth)
    return core, {**extra, "config": config, "o_fletcher32": f"{digest:08x}"}


def cmd_bitstream(args):
    board = BOARDS[args.board]
    platform = board.make_platform((BramSpread,) if board.spread_brams else ())
    f_in = platform.lookup(board.clock, 0).clock.frequency
    mhz = args.mhz or DEFAULT_MHZ[board.name]
    app = args.app or DEFAULT_APP[board.name]
    f_hz = pll_setting(board, f_in, mhz * 1e6)[-1]      # the UART's divisor from the PLL's clock
    divisor = uart_divisor(round(f_hz), args.baud)
    core, extra = make_core(board, app, args.config, divisor)
    extra["baud"] = args.baud
    top = BoardTop(board, core, mhz * 1e6, f_in)
    print(f"{board.name}: {app} at {top.f_hz / 1e6:.3f} MHz, {args.baud} baud -> "
          f"{BOARDS_DIR / board.name}")
    seed = board.seed if args.seed is None else args.seed
    report = bitstream(top, platform, board.name, seed=seed, extra=extra,
                       nextpnr_args=board.nextpnr_args)
    print(f"routed Fmax {report['routed_fmax_mhz']:.1f} MHz, {report['build_seconds']:.0f} s, "
          f"{', '.join(report['bitstreams'])}")
    return 0


def cmd_console(args):
    read_report(args.port, baud=args.baud, timeout=args.timeout, until=args.until,
                echo=lambda text: print(text, end="", flush=True))
    return 0


def cmd_program(args):
    out = BOARDS_DIR / args.board
    found = sorted(p for p in out.glob("top.*") if p.suffix in (".bit", ".bin"))
    if not found:
        print(f"no bitstream in {out}: run `make bitstream BOARD={args.board}` first")
        return 2
    cmd = program_command(args.board, found[0])
    if shutil.which(cmd[0]) is None:
        print(f"{cmd[0]} is not installed: see https://github.com/trabucayre/openFPGALoader "
              f"(Debian/Ubuntu: apt install openfpgaloader), then run:\n  {' '.join(cmd)}")
        return 2
    return subprocess.run(cmd).returncode


def cmd_render(args):
    """docs/boards.md's table of builds from build/boards/<board>/report.json, each report
    kept in docs/boards/<board>.json."""
    import json
    from flows.docs import splice
    from flows.toolchain import ROOT
    docs = ROOT / "docs"
    (docs / "boards").mkdir(exist_ok=True)
    for board in BOARDS:
        built = BOARDS_DIR / board / "report.json"
        if built.exists():
            (docs / "boards" / f"{board}.json").write_text(built.read_text())
    rows = ["| board | app | clock (MHz) | routed Fmax (MHz) | slack (ns) | LUT4 / LC | FF | DSP | "
            "block RAM | PLL | build (min) | seed |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for board in BOARDS:
        path = docs / "boards" / f"{board}.json"
        if not path.exists():
            rows.append(f"| {board} | not built yet | | | | | | | | | | |")
            continue
        r = json.loads(path.read_text())
        u = r["utilisation"]
        lut = u.get("TRELLIS_COMB", u.get("ICESTORM_LC", 0))
        ff = f"{u['TRELLIS_FF']:,}" if "TRELLIS_FF" in u else "-"     # iCE40: inside the LCs
        dsp = u.get("MULT18X18D", u.get("ICESTORM_DSP", 0))
        ram = u.get("DP16KD", u.get("ICESTORM_RAM", 0))
        pll = "EHXPLLL" if "EHXPLLL" in u else "SB_PLL40" if "ICESTORM_PLL" in u else "-"
        app = r["app"] + (f" ({r['config']})" if r.get("config") else "")
        rows.append(f"| {board} | {app} | {r['clock_mhz']:.3f} | {r['routed_fmax_mhz']:.1f} | "
                    f"{r['slack_ns']:.1f} | {lut:,} | {ff} | {dsp} | {ram} | {pll} | "
                    f"{r['build_seconds'] / 60:.1f} | {r['seed']} |")
    page = docs / "boards.md"
    page.write_text(splice(page.read_text(), "board builds", "\n".join(rows) + "\n"))
    print(f"wrote {page}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scripts.board", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bitstream", help="build a board's bitstream")
    b.add_argument("--board", required=True, choices=sorted(BOARDS))
    b.add_argument("--config", default="default")
    b.add_argument("--app", choices=APPS)
    b.add_argument("--mhz", type=float, help="cluster clock (default: the board's)")
    b.add_argument("--baud", type=int, default=BAUD)
    b.add_argument("--seed", type=int, default=None,
                   help="nextpnr's seed (default: the board's, hw.board.top.BOARDS)")
    c = sub.add_parser("console", help="print what a board sends on its serial port")
    c.add_argument("--port", required=True)
    c.add_argument("--baud", type=int, default=BAUD)
    c.add_argument("--timeout", type=float, default=10.0,
                   help="seconds without a byte that end the reading")
    c.add_argument("--until", default="o fletcher32",
                   help="text that ends the reading (the demo's last line)")
    p = sub.add_parser("program", help="write a built bitstream with openFPGALoader")
    p.add_argument("--board", required=True, choices=sorted(BOARDS))
    sub.add_parser("render", help="docs/boards.md's table from the builds' reports")
    args = parser.parse_args(argv)
    return {"bitstream": cmd_bitstream, "console": cmd_console, "program": cmd_program,
            "render": cmd_render}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
