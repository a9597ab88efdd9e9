"""Shared RTL building blocks of the floating-point library.

Every operator is built from the same four steps, so that there is exactly one implementation
of each subtle piece (classification, alignment sticky, normalisation with gradual underflow,
round-to-nearest-even with overflow):

1. :func:`unpack` splits an operand into sign, effective exponent and significand with its
   hidden bit, and classifies it (zero, subnormal, inf, NaN).
2. The operator computes an *unrounded* result: a significand ``sig`` (any width W) and a
   signed biased exponent ``exp`` meaning "value = sig * 2^(exp - bias - (W - 1))", i.e.
   ``exp`` is the biased exponent the result would have if bit W-1 of ``sig`` were its leading
   one. Bits that had to be dropped on the way are ORed into the LSB of ``sig`` ("jamming"),
   which is exact for rounding as long as that LSB stays below the guard bit.
3. :func:`normalize` moves the leading one to bit W-1 (or, for results in the subnormal range,
   as far as the minimum exponent allows, shifting right with sticky if needed).
4. :func:`round_pack` rounds to nearest even once and packs, producing inf on overflow and
   subnormals/zero on underflow; :func:`override_special` then substitutes NaN/inf/zero results
   decided from the operand classes.

The functions build combinational logic only; the operators place pipeline cuts between them.
"""

from amaranth import Cat, Const, Mux, Signal, signed
from amaranth.lib import data
from amaranth.utils import bits_for, ceil_log2

__all__ = [
    "unpacked_layout", "unpack", "leading_zeros", "leading_zeros_parts",
    "leading_zeros_merge", "shift_right_sticky", "normalize",
    "normalize_amounts", "normalize_shift", "round_pack", "override_special", "exp_shape", "wire",
]


def wire(m, value, name, shape=None):
    """A named combinational signal driven by ``value``: keeps the generated netlist readable and
    gives pipeline cuts a plain signal to register."""
    sig = Signal(shape if shape is not None else value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


def exp_shape(lo, hi):
    """Signed shape that holds every integer in [lo, hi] (exponent arithmetic is done in signed
    form so that underflowing intermediate exponents compare correctly)."""
    return signed(max(bits_for(lo, True), bits_for(hi, True)))


def unpacked_layout(fmt):
    """Operand after :func:`unpack`. ``exp`` is the effective biased exponent (1 for subnormals,
    so that ``sig * 2^(exp - bias - frac_bits)`` is the value for every finite operand); ``sig``
    carries the hidden bit (0 for subnormals and zeros)."""
    return data.StructLayout({
        "sig":     fmt.precision,
        "exp":     fmt.exp_bits,
        "sign":    1,
        "is_zero": 1,
        "is_inf":  1,
        "is_nan":  1,
    })


def unpack(m, fmt, value, name):
    """Classify a packed operand of ``fmt`` and return a view of :func:`unpacked_layout`."""
    v = data.View(fmt.layout, value)
    exp_zero = v.exp == 0
    exp_ones = v.exp == fmt.exp_max
    frac_zero = v.frac == 0
    out = Signal(unpacked_layout(fmt), name=name)
    m.d.comb += [
        out.sig.eq(Cat(v.frac, ~exp_zero)),
        out.exp.eq(Mux(exp_zero, 1, v.exp)),
        out.sign.eq(v.sign),
        out.is_zero.eq(exp_zero & frac_zero),
        out.is_inf.eq(exp_ones & frac_zero),
        out.is_nan.eq(exp_ones & ~frac_zero),
    ]
    return out


def _lzc_merge(hi, lo):
    """(count, all_zero) of two equal power-of-two-wide halves merged (``hi`` the upper one)."""
    (hi_count, hi_zero), (lo_count, lo_zero) = hi, lo
    count = Mux(hi_zero, Cat(lo_count, Const(1, 1)), Cat(hi_count, Const(0, 1)))
    return count, hi_zero & lo_zero


def _lzc_tree(value):
    """(count, all_zero) of a power-of-two-wide value, as a balanced tree of 2:1 merges: depth
    grows with log2(width) instead of the linear chain of a priority encoder."""
    if len(value) == 2:
        return ~value[1], ~(value[0] | value[1])
    half = len(value) // 2
    return _lzc_merge(_lzc_tree(value[half:]), _lzc_tree(value[:half]))


def _lzc_padded(value):
    """``value`` padded to a power of two with ones below its LSB: padded bits never count, so
    the tree result is already correct for non-power-of-two widths."""
    n = 1 << ceil_log2(len(value))
    return Cat(Const((1 << (n - len(value))) - 1, n - len(value)), value)


def leading_zeros(value):
    """Number of leading zeros of ``value`` (its width when it is zero)."""
    width = len(value)
    if width == 1:
        return ~value[0]
    count, all_zero = _lzc_tree(_lzc_padded(value))
    # the Mux covers an all-zero value of exactly 2^k bits
    return Mux(all_zero, width, count)


def leading_zeros_parts(value, parts):
    """The first half of :func:`leading_zeros` for a pipelined datapath: the leading-zero count
    and all-zero flag of each of ``parts`` (a power of two) equal slices of ``value`` padded
    as :func:`leading_zeros` does, most significant first, as one flat value to register.
    :func:`leading_zeros_merge` finishes the count."""
    padded = _lzc_padded(value)
    size = len(padded) // parts
    if parts < 1 or parts & (parts - 1) or size < 2:
        raise ValueError(f"parts must be a power of two giving slices of 2 bits or more, "
                         f"got {parts} for {len(value)} bits")
    slices = [padded[i * size:(i + 1) * size] for i in reversed(range(parts))]
    return Cat(*(Cat(*_lzc_tree(piece)) for piece in slices))


def leading_zeros_merge(flat, parts, width):
    """The second half of :func:`leading_zeros`: the count of a ``width``-bit value from
    :func:`leading_zeros_parts`' ``flat``."""
    size = (1 << ceil_log2(width)) // parts
    bits = ceil_log2(size) + 1
    nodes = [(flat[i * bits:i * bits + bits - 1], flat[i * bits + bits - 1])
             for i in range(parts)]
    while len(nodes) > 1:
        nodes = [_lzc_merge(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
    count, all_zero = nodes[0]
    return Mux(all_zero, width, count)


def shift_right_sticky(value, amount):
    """``(value >> amount, sticky)`` where sticky is the OR of the bits shifted out. ``amount``
    (unsigned) may exceed the width: everything then goes to sticky."""
    width = len(value)
    amount_bits = bits_for(width)
    if len(amount) > amount_bits:
        amount = Mux(amount > width, width, amount[:amount_bits])
    shifted = value >> amount
    # Thermometer mask of the bits that fall off (the low ``amount`` bits).
    lost_mask = ~(Const((1 << width) - 1, width) << amount)[:width]
    return shifted, (value & lost_mask).any()


def normalize(m, sig, exp, name, *, right_shift=True):
    """Normalise an unrounded result for :func:`round_pack`.

    ``exp`` (signed) is the biased exponent of bit W-1 of ``sig``. Returns ``(sig_n, exp_n,
    sticky)``: either sig_n has its leading one at bit W-1 and exp_n >= 1 (normal range, exp_n
    may exceed the format's range: round_pack makes that inf), or exp_n == 1 and sig_n is the
    value at the minimum exponent (subnormal or zero). Left shifts stop at exponent 1 (gradual
    underflow); when ``exp`` < 1 the value is shifted right by ``1 - exp`` with the shifted-out
    bits returned as ``sticky``. ``right_shift=False`` drops that shifter for callers whose
    ``exp`` is always >= 1 (sticky is then 0).

    It is :func:`normalize_amounts` followed by :func:`normalize_shift`; a pipelined datapath
    may put a cut between the two (the amounts are a few bits).
    """
    amounts = normalize_amounts(m, sig, exp, name, right_shift=right_shift)
    return normalize_shift(m, sig, amounts, name)


def normalize_amounts(m, sig, exp, name, *, right_shift=True, lz=None):
    """The first half of :func:`normalize`: from the leading-zero count, the shift amounts and
    the result exponent, as a tuple ``(left, right, under, exp_n)`` of signals (``right`` and
    ``under`` are None with ``right_shift=False``). ``lz``: :func:`leading_zeros` of ``sig``
    when the caller has it already (a pipelined datapath may cut between the two)."""
    width = len(sig)
    if lz is None:
        lz = wire(m, leading_zeros(sig), f"{name}_lz")
    exp_m1 = exp - 1
    # Shift by the leading-zero count unless that would take the exponent below 1; then stop at
    # exponent 1 (the result is subnormal). exp_m1 < lz <= width in that case, so the shift
    # amount fits in bits_for(width) bits.
    full = exp_m1 >= lz
    amt_bits = bits_for(width)
    left = wire(m, Mux(full, lz, Mux(exp_m1 > 0, exp_m1[:amt_bits], 0)), f"{name}_left", amt_bits)
    exp_n = Mux(full, exp - lz, 1)
    if not right_shift:
        return left, None, None, wire(m, exp_n, f"{name}_exp", exp.shape())
    # exp < 1: the value lies below the minimum exponent; shift right with sticky.
    under = wire(m, exp < 1, f"{name}_under")
    right_full = (1 - exp)[:len(exp)].as_unsigned()   # more than width: all goes to sticky
    right = wire(m, Mux(right_full > width, width, right_full), f"{name}_right", amt_bits)
    return left, right, under, wire(m, Mux(under, 1, exp_n), f"{name}_exp", exp.shape())


def normalize_shift(m, sig, amounts, name):
    """The second half of :func:`normalize`: ``sig`` shifted by ``amounts`` (from
    :func:`normalize_amounts`); returns ``(sig_n, exp_n, sticky)``."""
    left, right, under, exp_n = amounts
    width = len(sig)
    left_sig = (sig << left)[:width]
    if right is None:
        return wire(m, left_sig, f"{name}_sig"), exp_n, Const(0, 1)
    right_sig, right_sticky = shift_right_sticky(sig, right)
    sig_n = wire(m, Mux(under, right_sig, left_sig), f"{name}_sig")
    sticky = wire(m, under & right_sticky, f"{name}_sticky")
    return sig_n, exp_n, sticky


def round_pack(m, fmt, sign, sig, exp, sticky, name):
    """Round a normalised result (from :func:`normalize`) to nearest, ties to even, and pack it.

    The kept significand and the exponent field are concatenated and the round-up bit is added
    to the whole: a carry out of the fraction then increments the exponent, which covers
    1.11..1 -> 10.0 and subnormal -> smallest normal in one adder, and reaching the all-ones
    exponent yields exactly the inf pattern. Exponents already beyond the range give inf.
    """
    p = fmt.precision
    width = len(sig)
    if width < p + 1:  # no guard bit: pad with zeros (the value is exact)
        sig = Cat(Const(0, p + 1 - width), sig)
        width = p + 1
    keep = sig[width - p:]
    guard = sig[width - p - 1]
    rest = sig[:width - p - 1].any() | sticky if width > p + 1 else sticky
    round_up = guard & (rest | keep[0])
    normal = keep[p - 1]
    exp_field = Mux(normal, exp[:fmt.exp_bits], 0)
    overflow = normal & (exp >= fmt.exp_max)
    rounded = Cat(keep[:p - 1], exp_field) + round_up
    magnitude = Mux(overflow, fmt.pos_inf, rounded[:fmt.width - 1])
    return wire(m, Cat(magnitude, sign), f"{name}_packed", fmt.width)


def override_special(m, fmt, result, name, *, nan, inf, inf_sign, zero=0, zero_sign=0):
    """Replace ``result`` by the canonical NaN, a signed inf or a signed zero, in that priority.
    The special cases are decided from the operand classes, in parallel with the datapath."""
    w = fmt.width
    inf_val = Cat(Const(fmt.pos_inf, w - 1), inf_sign)
    zero_val = Cat(Const(0, w - 1), zero_sign)
    out = Mux(nan, fmt.qnan, Mux(inf, inf_val, Mux(zero, zero_val, result)))
    return wire(m, out, f"{name}_result", w)
