"""On a board: the pieces between a cluster and an FPGA board's pins (docs/boards.md).

- :mod:`.uart`: :class:`~.uart.UartTx`, the serial line of the report, and
  :func:`~.uart.uart_divisor`.
"""

from .uart import UartTx, uart_divisor

__all__ = ["UartTx", "uart_divisor"]
