"""Floating-point formats: one description shared by the RTL (as a data.Struct-like layout)
and the golden models (as plain integers)."""

from dataclasses import dataclass

from amaranth.lib import data

__all__ = ["FloatFormat", "BF16", "FP32", "FORMATS", "float_format"]


@dataclass(frozen=True)
class FloatFormat:
    """A binary IEEE-754-style format: 1 sign bit, ``exp_bits`` exponent bits, ``frac_bits``
    stored fraction bits; subnormals, infinities and NaNs as in IEEE 754."""
    name: str
    exp_bits: int
    frac_bits: int

    @property
    def width(self):
        return 1 + self.exp_bits + self.frac_bits

    @property
    def precision(self):
        """Significand bits including the hidden bit."""
        return self.frac_bits + 1

    @property
    def bias(self):
        return (1 << (self.exp_bits - 1)) - 1

    @property
    def exp_max(self):
        """All-ones exponent field (infinities and NaNs)."""
        return (1 << self.exp_bits) - 1

    @property
    def emin(self):
        """Unbiased exponent of the smallest normal number."""
        return 1 - self.bias

    @property
    def emax(self):
        """Unbiased exponent of the largest finite number."""
        return self.exp_max - 1 - self.bias

    # Bit patterns of the special values.
    @property
    def sign_mask(self):
        return 1 << (self.width - 1)

    @property
    def frac_mask(self):
        return (1 << self.frac_bits) - 1

    @property
    def pos_inf(self):
        return self.exp_max << self.frac_bits

    @property
    def neg_inf(self):
        return self.sign_mask | self.pos_inf

    @property
    def qnan(self):
        """The canonical quiet NaN every unit produces: positive sign, top fraction bit set."""
        return self.pos_inf | (1 << (self.frac_bits - 1))

    @property
    def max_finite(self):
        return ((self.exp_max - 1) << self.frac_bits) | self.frac_mask

    @property
    def min_normal(self):
        return 1 << self.frac_bits

    @property
    def min_subnormal(self):
        return 1

    @property
    def one(self):
        return self.bias << self.frac_bits

    @property
    def layout(self):
        """Field layout, declared LSB first as the hardware sees the bits."""
        return data.StructLayout({
            "frac": self.frac_bits,
            "exp":  self.exp_bits,
            "sign": 1,
        })

    def __repr__(self):
        return f"FloatFormat({self.name})"


BF16 = FloatFormat("bf16", exp_bits=8, frac_bits=7)
FP32 = FloatFormat("fp32", exp_bits=8, frac_bits=23)

FORMATS = {f.name: f for f in (BF16, FP32)}


def float_format(name_or_format, *, param="fmt"):
    """Resolve a format given by name or object; ValueError (naming ``param``) if unknown."""
    if isinstance(name_or_format, FloatFormat):
        if name_or_format in FORMATS.values():
            return name_or_format
    elif name_or_format in FORMATS:
        return FORMATS[name_or_format]
    allowed = ", ".join(repr(n) for n in FORMATS)
    raise ValueError(f"{param} must be one of {allowed}, got {name_or_format!r}")
