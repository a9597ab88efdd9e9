# amaranth: UnusedElaboratable=no
"""The board tops under Verilator (hw.board.top.BoardTop without a board: the PLL replaced by
the simulation clock, reset by the button through its synchroniser; the compiled harness),
with the designs `make bitstream` builds (scripts.board.make_core), the UART line decoded by
sim.uart's receiver model:

- the ECP5 boards' core: the tiny configuration's accelerated cluster with the attention demo
  in its memories; the text is the one the same ELF prints when loaded through the loader
  port, O's digest equals the golden model's, the LEDs say passed;
- the iCEBreaker's: the plain one-core cluster with greeting.c; the same checks but the digest.
"""

import re

import numpy as np

from flows.native import NativeBuild
from hw.board.core import LEDS
from hw.board.top import BOARDS, BoardTop
from scripts.board import attention_image, make_core
from sim.offload import run_program, system_sim
from sim.uart import decode_uart

DIVISOR = 4                 # cycles per bit: short frames, the line still slower than the cores


def _run_board(core, name, max_cycles=2_000_000):
    """Build and run ``core`` in the simulation top until the LEDs show an exit and the line has
    been idle for two frames; the text received and the LEDs."""
    top = BoardTop(None, core)
    model = NativeBuild.for_component(top, name, registered_inputs=()).build().open()
    model.reset(cycles=4, rst="button")       # pressed, released: the synchroniser lets go
    levels = []
    idle = 0
    for _ in range(max_cycles):
        model.step(1)
        tx = model["tx"]
        levels.append(tx)
        idle = idle + 1 if tx else 0
        leds = model["leds"]
        if not leds & 1 and idle > 20 * DIVISOR:          # not running, nothing more to send
            return decode_uart(np.array(levels, dtype=np.uint8), DIVISOR).decode(), leds
    raise AssertionError(f"no exit in {max_cycles} cycles")


def test_attention_report_over_the_uart():
    core, extra = make_core(BOARDS["ulx3s-85f"], "attention", "tiny", DIVISOR)
    text, leds = _run_board(core, "board_top_tiny")

    # the same firmware loaded through the loader port: the same text
    elf, *_ = attention_image("tiny")
    sim, params = system_sim("tiny")
    loaded = run_program(sim, params, elf, {})
    assert loaded["exit_code"] == 0
    assert text == loaded["output"]

    # O, as its digest, is the golden model's
    printed = re.search(r"o fletcher32 ([0-9a-f]{8})", text)
    assert printed and printed.group(1) == extra["o_fletcher32"]
    assert "total cycles" in text
    assert leds == 1 << LEDS.index("passed")


def test_greeting_on_the_icebreakers_plain_cluster():
    core, extra = make_core(BOARDS["icebreaker"], "greeting", None, DIVISOR)
    assert extra["cluster"]["cores"] == 1
    text, leds = _run_board(core, "board_top_icebreaker")
    assert re.fullmatch(r"hello from the cluster\ncores 1\ncycles \d+\n", text), text
    assert leds == 1 << LEDS.index("passed")
