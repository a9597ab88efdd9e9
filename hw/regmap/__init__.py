"""Accelerator register maps: one Python description (:mod:`.description`) generates the
Amaranth register file (:mod:`.regfile`), the C header (:mod:`.cheader`), the Python constants and
standalone driver module (:mod:`.pydriver`; the testbench driver is :mod:`sim.tb.regs`) and the
Markdown documentation (:mod:`.markdown`)."""

from .description import (ACCESS, CAUSE_WIDTH, Counter, ErrorCause, Field, Register,
                          RegisterMap)
from .regfile import RegisterFile
from .cheader import c_header
from .markdown import markdown
from .pydriver import constants, python_module

__all__ = ["Field", "Register", "Counter", "ErrorCause", "RegisterMap", "RegisterFile",
           "ACCESS", "CAUSE_WIDTH", "c_header", "markdown", "constants", "python_module"]
