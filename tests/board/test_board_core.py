# amaranth: UnusedElaboratable=no
"""The board top under Verilator (hw.board.top.BoardTop without a board: the PLL replaced by the
simulation clock, reset by the button through its synchroniser; the compiled harness): the
tiny configuration's cluster with the attention demo in its memories (hw.board.core.BoardCore)
sends its report over the UART line, decoded by sim.uart's receiver model: the same text as
the mailbox of the simulator that loads the image through the loader port, O's digest equal
to the golden model's, the LEDs saying passed."""

import re

import numpy as np

from flows.native import NativeBuild
from hw.board.core import LEDS, BoardCore
from hw.board.top import BoardTop
from hw.catalog import build
from scripts.board import attention_image
from sim.offload import run_program, system_sim
from sim.uart import decode_uart

DIVISOR = 4                 # cycles per bit: short frames, the line still slower than the cores


def _run_board(model, max_cycles):
    """Reset, run until the LEDs show an exit and the line has been idle for a frame; the
    line's level in every cycle and the LEDs at the end."""
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
            return np.array(levels, dtype=np.uint8), leds
    raise AssertionError(f"no exit in {max_cycles} cycles")


def test_attention_report_over_the_uart():
    elf, imem, spm, digest = attention_image("tiny")
    core = BoardCore(lambda **init: build("tiny", "cluster", **init), imem, spm, divisor=DIVISOR,
                     fifo_depth=4096)
    top = BoardTop(None, core)
    model = NativeBuild.for_component(top, "board_top_tiny", registered_inputs=()).build().open()
    levels, leds = _run_board(model, 2_000_000)
    text = decode_uart(levels, DIVISOR).decode()

    # the same firmware loaded through the loader port: the same text
    sim, params = system_sim("tiny")
    loaded = run_program(sim, params, elf, {})
    assert loaded["exit_code"] == 0
    assert text == loaded["output"]

    # O, as its digest, is the golden model's
    printed = re.search(r"o fletcher32 ([0-9a-f]{8})", text)
    assert printed and int(printed.group(1), 16) == digest
    assert "total cycles" in text
    assert leds == 1 << LEDS.index("passed")
