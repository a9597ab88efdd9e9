"""The RISC-V cluster: sentinel-cpu cores, instruction memory, banked scratchpad with a
round-robin interconnect, peripheral bus, cluster registers (mailbox, cycles, events, barrier).
Design notes: ``docs/cluster.md``."""

from .bus import TCDMArbiter, TCDMDemux, WishboneSignature, WishboneToTCDM
from .imem import InstructionMemory
from .interconnect import BankSignature, Scratchpad, TCDMInterconnect
from .regs import ADDRESS_MAP, CLUSTER_REGISTERS, ClusterRegs
from .top import Cluster

__all__ = ["Cluster", "TCDMInterconnect", "Scratchpad", "BankSignature", "InstructionMemory",
           "WishboneSignature", "WishboneToTCDM", "TCDMDemux", "TCDMArbiter", "ClusterRegs",
           "ADDRESS_MAP", "CLUSTER_REGISTERS"]
