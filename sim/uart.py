"""The receiving end of a board's serial line in simulation: 8N1 frames decoded from the line's
level sampled once per clock cycle (a receiver model for :class:`hw.board.uart.UartTx`)."""

import numpy as np

__all__ = ["UartFramingError", "decode_uart"]


class UartFramingError(ValueError):
    """A frame's start bit was not low in its middle, or its stop bit not high."""


def decode_uart(levels, divisor):
    """The bytes of an 8N1 line sampled once per cycle, ``divisor`` cycles per bit.

    A frame starts at a falling edge of the idle line; each bit is sampled in its middle, as a
    receiver would. A frame cut off by the end of ``levels`` is left out.

    Parameters
    ----------
    levels : array_like of int
        The line's level (0 or 1) in consecutive cycles.
    divisor : int
        Cycles per bit.

    Returns
    -------
    bytes

    Raises
    ------
    UartFramingError
        A start bit that is not low in its middle, or a stop bit that is not high.
    """
    levels = np.asarray(levels, dtype=np.uint8)
    out = bytearray()
    n = len(levels)
    t = 0
    frame = 10 * divisor
    while True:
        falls = np.flatnonzero(levels[t:] == 0)
        if not len(falls):
            break
        start = t + int(falls[0])
        if start + frame > n:
            break
        middles = start + divisor // 2 + divisor * np.arange(10)
        bits = levels[middles]
        if bits[0] != 0 or bits[9] != 1:
            raise UartFramingError(f"frame at cycle {start}: start bit {bits[0]}, stop bit "
                                   f"{bits[9]}")
        out.append(int(np.dot(bits[1:9], 1 << np.arange(8))))
        t = int(middles[9])               # the stop bit's middle: the next fall is a start
    return bytes(out)
