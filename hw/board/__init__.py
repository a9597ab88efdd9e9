"""On a board: the pieces between a cluster and an FPGA board's pins (docs/boards.md).

- :mod:`.uart`: :class:`~.uart.UartTx`, the serial line of the report, and
  :func:`~.uart.uart_divisor`;
- :mod:`.core`: :class:`~.core.BoardCore`, a cluster with its firmware in its memories, its
  mailbox on the UART, its state on LEDs;
- :mod:`.top`: :class:`~.top.BoardTop`, a core on a board's platform (PLL, reset button, pins)
  or in simulation; :data:`~.top.BOARDS`;
- :mod:`.hello`: :class:`~.hello.UartHello`, a wiring check.
"""

from .core import BoardCore
from .hello import UartHello
from .top import BOARDS, BoardTop
from .uart import UartTx, uart_divisor

__all__ = ["BoardCore", "BoardTop", "BOARDS", "UartHello", "UartTx", "uart_divisor"]
