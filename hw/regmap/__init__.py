"""Accelerator register maps: one Python description (:mod:`.description`) from which the
Amaranth register file (:mod:`.regfile`) is elaborated; the tool flows generate the C header,
the Python constants module and the Markdown documentation from the same object
(:mod:`flows.regmaps`; the testbench driver is :mod:`sim.tb.regs`)."""

from .description import (ACCESS, ACQUIRE_LOCKED, ACQUIRE_NONE_FREE, CAUSE_WIDTH,
                          RUNNING_JOB_IDLE, Counter, ErrorCause, Field, Register, RegisterMap,
                          constants)
from .regfile import RegisterFile

__all__ = ["Field", "Register", "Counter", "ErrorCause", "RegisterMap", "RegisterFile",
           "ACCESS", "CAUSE_WIDTH", "constants", "ACQUIRE_NONE_FREE", "ACQUIRE_LOCKED",
           "RUNNING_JOB_IDLE"]
