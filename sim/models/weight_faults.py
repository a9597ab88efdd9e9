"""Stored weights under bit flips, with and without weight scaling (Fuengfusin & Tamukoh,
2024: store c W, divide by c after reading), for docs/weight_scaling.md.

The order of one trial: scale (W -> c W) -> encode in the storage format (round to nearest,
saturate to its largest finite value) -> flip every stored bit independently with probability
``ber`` -> decode -> unscale (/ c). Per layer c = t / max|W| (``t`` chosen per format), or its
power-of-two variant 2^floor(log2(t / max|W|)), which makes the division an exponent
adjustment (exact, and free on the tensor unit).

Formats (:data:`FORMATS`): IEEE binary32 and binary16, BF16, Q2.5 (8 bits: two's complement
code / 2^5, range [-4, 3.97]) and int8 as Q0.7 (code / 2^7, range [-1, 0.99]).
"""

import numpy as np

from ..golden.softmax import bf16_to_float, float_to_bf16

__all__ = ["FORMATS", "encode", "decode", "flip_bits", "layer_scale", "stored", "largest",
           "t_grid"]

#: Storage formats: name -> bits per weight.
FORMATS = {"fp32": 32, "fp16": 16, "bf16": 16, "q2.5": 8, "int8": 8}
#: Fraction bits of the fixed-point formats.
_FRACTION = {"q2.5": 5, "int8": 7}
_DTYPES = {32: np.uint32, 16: np.uint16, 8: np.uint8}


def largest(fmt):
    """The largest finite value of ``fmt``."""
    _check(fmt)
    if fmt in _FRACTION:
        return 127 * 2.0 ** -_FRACTION[fmt]
    return {"fp32": float(np.finfo(np.float32).max), "fp16": float(np.finfo(np.float16).max),
            "bf16": float(bf16_to_float(np.array([0x7F7F], np.uint16))[0])}[fmt]


def t_grid(fmt):
    """The targets t searched for ``fmt``: powers of two from 2^-3 up to the format's range,
    every one up to 2^16 and sparser beyond. Fixed point goes on to 2^12 (t beyond the largest
    value saturates the largest weights, which can pay off). Float formats gain most where the
    scaled weights' exponent fields start with ones, i.e. near the top of their range."""
    top = 12 if fmt in _FRACTION else int(np.floor(np.log2(largest(fmt))))
    exps = sorted({*range(-3, 17), 24, 32, 48, 64, 96, 112, 120, 124, 126, top})
    return tuple(2.0 ** k for k in exps if k <= top)


def _check(fmt):
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")


def encode(w, fmt):
    """The stored codes of float values ``w`` (round to nearest even, saturate to the largest
    finite value of ``fmt``), as unsigned integers of the format's width."""
    _check(fmt)
    w = np.asarray(w, dtype=np.float64)
    if fmt == "fp32":
        big = np.finfo(np.float32).max
        return np.clip(w, -big, big).astype(np.float32).view(np.uint32)
    if fmt == "fp16":
        big = float(np.finfo(np.float16).max)
        return np.clip(w, -big, big).astype(np.float16).view(np.uint16)
    if fmt == "bf16":
        bits = np.asarray(float_to_bf16(w.ravel()), np.uint16).reshape(w.shape)
        return np.where(np.isinf(bf16_to_float(bits)), np.where(w < 0, 0xFF7F, 0x7F7F),
                        bits).astype(np.uint16)
    f = _FRACTION[fmt]
    code = np.clip(np.rint(w * 2.0 ** f), -128, 127).astype(np.int64)
    return (code & 0xFF).astype(np.uint8)


def decode(codes, fmt):
    """Float64 values of stored ``codes`` (NaN and infinities as the format has them)."""
    _check(fmt)
    codes = np.asarray(codes)
    if fmt == "fp32":
        return codes.astype(np.uint32).view(np.float32).astype(np.float64)
    if fmt == "fp16":
        return codes.astype(np.uint16).view(np.float16).astype(np.float64)
    if fmt == "bf16":
        return bf16_to_float(codes.astype(np.uint16))
    signed = codes.astype(np.int64)
    signed = np.where(signed >= 128, signed - 256, signed)
    return signed * 2.0 ** -_FRACTION[fmt]


def flip_bits(codes, fmt, ber, rng):
    """``codes`` with every stored bit flipped independently with probability ``ber``
    (returns the codes and the number of bits flipped)."""
    _check(fmt)
    bits = FORMATS[fmt]
    codes = np.array(codes, dtype=_DTYPES[bits], copy=True)
    total = codes.size * bits
    count = int(rng.binomial(total, ber)) if ber > 0 else 0
    if count:
        where = rng.choice(total, size=count, replace=False)
        flat = codes.reshape(-1)
        masks = (np.ones(count, dtype=np.uint64) << (where % bits).astype(np.uint64))
        np.bitwise_xor.at(flat, where // bits, masks.astype(codes.dtype))
    return codes, count


def layer_scale(w, t, *, power_of_two=False):
    """The scale c of one layer's weights ``w``: t / max|W|, or 2^floor(log2(t / max|W|))."""
    top = float(np.max(np.abs(w)))
    if top == 0:
        return 1.0
    c = t / top
    return 2.0 ** np.floor(np.log2(c)) if power_of_two else c


def stored(w, fmt, ber, rng, *, t=None, power_of_two=False):
    """One trial on one layer: the weights as they are read back (scaled by c = ``t`` /
    max|W| when ``t`` is given, unscaled after decoding); returns (weights, bits flipped)."""
    c = 1.0 if t is None else layer_scale(w, t, power_of_two=power_of_two)
    codes, flips = flip_bits(encode(np.asarray(w, np.float64) * c, fmt), fmt, ber, rng)
    return decode(codes, fmt) / c, flips
