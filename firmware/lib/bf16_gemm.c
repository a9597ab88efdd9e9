/* Software BF16 GEMM on the cores, bit-exact with the tensor unit's MATMUL with fp32
 * accumulation (reference: sim/golden/gemm.py, gemm(x, w, op=TensorOp.MATMUL, acc="fp32"),
 * built on sim/golden/fp.py fma; semantics in docs/numerics.md):
 *
 *   acc = -0 (fp32); for k = 0..K-1: acc = fma(x[i,k], w[k,n], acc) rounded once to fp32
 *   (RNE, subnormals kept); z[i,n] = acc rounded once (RNE) to bf16; NaN -> 0x7FC0.
 *
 * RV32I only (no multiplier, no runtime library) and the sentinel-cpu shifts by k bits in
 * ~k cycles, so the inner loop avoids both products and long shifts:
 *
 *   product  the 8 x 8-bit significand product by quarter squares,
 *            ma * mb = floor((ma + mb)^2 / 4) - floor((ma - mb)^2 / 4), from two tables that
 *            hold the squares already shifted left by 13 (the product lands with its leading
 *            one at bit 27 or 28 of a 32-bit window): two loads and a subtraction, exact;
 *   acc      kept unpacked between the FMAs: sign, biased exponent E >= 1 and a significand
 *            window A whose bit 29 weighs 2^(E - 127) (normal: leading one at bit 29; E = 1
 *            and A < 2^29: subnormal or zero). A's 6 low bits are zero, so the addend that is
 *            shifted right can fold the bits it loses into its bit 0 (sticky "jam") and the
 *            sum still rounds correctly at bit 6 (guard bit 5);
 *   add      the operand with the larger window exponent stays, the other is shifted right
 *            by the exponent difference (usually a few bits); signed add, normalise (one
 *            right shift for a carry, left shifts only after cancellation), round at bit 6
 *            to nearest even. One rounding per FMA, as in the hardware.
 *
 * Zero, subnormal, infinite and NaN operands take a slower path (full decode, shift-add
 * multiply); an infinite or NaN accumulator leaves the fast loop for good. */
#include "bf16_gemm.h"

/* floor((256 + s)^2 / 4) << 13 for s = mx + mw (the two 7-bit fractions; hidden bits 128). */
static const uint32_t QSUM[255] = {
    0x08000000u, 0x08100000u, 0x08202000u, 0x08304000u, 0x08408000u, 0x0850C000u, 0x08612000u, 0x08718000u,
    0x08820000u, 0x08928000u, 0x08A32000u, 0x08B3C000u, 0x08C48000u, 0x08D54000u, 0x08E62000u, 0x08F70000u,
    0x09080000u, 0x09190000u, 0x092A2000u, 0x093B4000u, 0x094C8000u, 0x095DC000u, 0x096F2000u, 0x09808000u,
    0x09920000u, 0x09A38000u, 0x09B52000u, 0x09C6C000u, 0x09D88000u, 0x09EA4000u, 0x09FC2000u, 0x0A0E0000u,
    0x0A200000u, 0x0A320000u, 0x0A442000u, 0x0A564000u, 0x0A688000u, 0x0A7AC000u, 0x0A8D2000u, 0x0A9F8000u,
    0x0AB20000u, 0x0AC48000u, 0x0AD72000u, 0x0AE9C000u, 0x0AFC8000u, 0x0B0F4000u, 0x0B222000u, 0x0B350000u,
    0x0B480000u, 0x0B5B0000u, 0x0B6E2000u, 0x0B814000u, 0x0B948000u, 0x0BA7C000u, 0x0BBB2000u, 0x0BCE8000u,
    0x0BE20000u, 0x0BF58000u, 0x0C092000u, 0x0C1CC000u, 0x0C308000u, 0x0C444000u, 0x0C582000u, 0x0C6C0000u,
    0x0C800000u, 0x0C940000u, 0x0CA82000u, 0x0CBC4000u, 0x0CD08000u, 0x0CE4C000u, 0x0CF92000u, 0x0D0D8000u,
    0x0D220000u, 0x0D368000u, 0x0D4B2000u, 0x0D5FC000u, 0x0D748000u, 0x0D894000u, 0x0D9E2000u, 0x0DB30000u,
    0x0DC80000u, 0x0DDD0000u, 0x0DF22000u, 0x0E074000u, 0x0E1C8000u, 0x0E31C000u, 0x0E472000u, 0x0E5C8000u,
    0x0E720000u, 0x0E878000u, 0x0E9D2000u, 0x0EB2C000u, 0x0EC88000u, 0x0EDE4000u, 0x0EF42000u, 0x0F0A0000u,
    0x0F200000u, 0x0F360000u, 0x0F4C2000u, 0x0F624000u, 0x0F788000u, 0x0F8EC000u, 0x0FA52000u, 0x0FBB8000u,
    0x0FD20000u, 0x0FE88000u, 0x0FFF2000u, 0x1015C000u, 0x102C8000u, 0x10434000u, 0x105A2000u, 0x10710000u,
    0x10880000u, 0x109F0000u, 0x10B62000u, 0x10CD4000u, 0x10E48000u, 0x10FBC000u, 0x11132000u, 0x112A8000u,
    0x11420000u, 0x11598000u, 0x11712000u, 0x1188C000u, 0x11A08000u, 0x11B84000u, 0x11D02000u, 0x11E80000u,
    0x12000000u, 0x12180000u, 0x12302000u, 0x12484000u, 0x12608000u, 0x1278C000u, 0x12912000u, 0x12A98000u,
    0x12C20000u, 0x12DA8000u, 0x12F32000u, 0x130BC000u, 0x13248000u, 0x133D4000u, 0x13562000u, 0x136F0000u,
    0x13880000u, 0x13A10000u, 0x13BA2000u, 0x13D34000u, 0x13EC8000u, 0x1405C000u, 0x141F2000u, 0x14388000u,
    0x14520000u, 0x146B8000u, 0x14852000u, 0x149EC000u, 0x14B88000u, 0x14D24000u, 0x14EC2000u, 0x15060000u,
    0x15200000u, 0x153A0000u, 0x15542000u, 0x156E4000u, 0x15888000u, 0x15A2C000u, 0x15BD2000u, 0x15D78000u,
    0x15F20000u, 0x160C8000u, 0x16272000u, 0x1641C000u, 0x165C8000u, 0x16774000u, 0x16922000u, 0x16AD0000u,
    0x16C80000u, 0x16E30000u, 0x16FE2000u, 0x17194000u, 0x17348000u, 0x174FC000u, 0x176B2000u, 0x17868000u,
    0x17A20000u, 0x17BD8000u, 0x17D92000u, 0x17F4C000u, 0x18108000u, 0x182C4000u, 0x18482000u, 0x18640000u,
    0x18800000u, 0x189C0000u, 0x18B82000u, 0x18D44000u, 0x18F08000u, 0x190CC000u, 0x19292000u, 0x19458000u,
    0x19620000u, 0x197E8000u, 0x199B2000u, 0x19B7C000u, 0x19D48000u, 0x19F14000u, 0x1A0E2000u, 0x1A2B0000u,
    0x1A480000u, 0x1A650000u, 0x1A822000u, 0x1A9F4000u, 0x1ABC8000u, 0x1AD9C000u, 0x1AF72000u, 0x1B148000u,
    0x1B320000u, 0x1B4F8000u, 0x1B6D2000u, 0x1B8AC000u, 0x1BA88000u, 0x1BC64000u, 0x1BE42000u, 0x1C020000u,
    0x1C200000u, 0x1C3E0000u, 0x1C5C2000u, 0x1C7A4000u, 0x1C988000u, 0x1CB6C000u, 0x1CD52000u, 0x1CF38000u,
    0x1D120000u, 0x1D308000u, 0x1D4F2000u, 0x1D6DC000u, 0x1D8C8000u, 0x1DAB4000u, 0x1DCA2000u, 0x1DE90000u,
    0x1E080000u, 0x1E270000u, 0x1E462000u, 0x1E654000u, 0x1E848000u, 0x1EA3C000u, 0x1EC32000u, 0x1EE28000u,
    0x1F020000u, 0x1F218000u, 0x1F412000u, 0x1F60C000u, 0x1F808000u, 0x1FA04000u, 0x1FC02000u,
};
/* floor(d^2 / 4) << 13 for d = mx - mw, indexed by d + 127. */
static const uint32_t QDIF[255] = {
    0x01F80000u, 0x01F02000u, 0x01E84000u, 0x01E08000u, 0x01D8C000u, 0x01D12000u, 0x01C98000u, 0x01C20000u,
    0x01BA8000u, 0x01B32000u, 0x01ABC000u, 0x01A48000u, 0x019D4000u, 0x01962000u, 0x018F0000u, 0x01880000u,
    0x01810000u, 0x017A2000u, 0x01734000u, 0x016C8000u, 0x0165C000u, 0x015F2000u, 0x01588000u, 0x01520000u,
    0x014B8000u, 0x01452000u, 0x013EC000u, 0x01388000u, 0x01324000u, 0x012C2000u, 0x01260000u, 0x01200000u,
    0x011A0000u, 0x01142000u, 0x010E4000u, 0x01088000u, 0x0102C000u, 0x00FD2000u, 0x00F78000u, 0x00F20000u,
    0x00EC8000u, 0x00E72000u, 0x00E1C000u, 0x00DC8000u, 0x00D74000u, 0x00D22000u, 0x00CD0000u, 0x00C80000u,
    0x00C30000u, 0x00BE2000u, 0x00B94000u, 0x00B48000u, 0x00AFC000u, 0x00AB2000u, 0x00A68000u, 0x00A20000u,
    0x009D8000u, 0x00992000u, 0x0094C000u, 0x00908000u, 0x008C4000u, 0x00882000u, 0x00840000u, 0x00800000u,
    0x007C0000u, 0x00782000u, 0x00744000u, 0x00708000u, 0x006CC000u, 0x00692000u, 0x00658000u, 0x00620000u,
    0x005E8000u, 0x005B2000u, 0x0057C000u, 0x00548000u, 0x00514000u, 0x004E2000u, 0x004B0000u, 0x00480000u,
    0x00450000u, 0x00422000u, 0x003F4000u, 0x003C8000u, 0x0039C000u, 0x00372000u, 0x00348000u, 0x00320000u,
    0x002F8000u, 0x002D2000u, 0x002AC000u, 0x00288000u, 0x00264000u, 0x00242000u, 0x00220000u, 0x00200000u,
    0x001E0000u, 0x001C2000u, 0x001A4000u, 0x00188000u, 0x0016C000u, 0x00152000u, 0x00138000u, 0x00120000u,
    0x00108000u, 0x000F2000u, 0x000DC000u, 0x000C8000u, 0x000B4000u, 0x000A2000u, 0x00090000u, 0x00080000u,
    0x00070000u, 0x00062000u, 0x00054000u, 0x00048000u, 0x0003C000u, 0x00032000u, 0x00028000u, 0x00020000u,
    0x00018000u, 0x00012000u, 0x0000C000u, 0x00008000u, 0x00004000u, 0x00002000u, 0x00000000u, 0x00000000u,
    0x00000000u, 0x00002000u, 0x00004000u, 0x00008000u, 0x0000C000u, 0x00012000u, 0x00018000u, 0x00020000u,
    0x00028000u, 0x00032000u, 0x0003C000u, 0x00048000u, 0x00054000u, 0x00062000u, 0x00070000u, 0x00080000u,
    0x00090000u, 0x000A2000u, 0x000B4000u, 0x000C8000u, 0x000DC000u, 0x000F2000u, 0x00108000u, 0x00120000u,
    0x00138000u, 0x00152000u, 0x0016C000u, 0x00188000u, 0x001A4000u, 0x001C2000u, 0x001E0000u, 0x00200000u,
    0x00220000u, 0x00242000u, 0x00264000u, 0x00288000u, 0x002AC000u, 0x002D2000u, 0x002F8000u, 0x00320000u,
    0x00348000u, 0x00372000u, 0x0039C000u, 0x003C8000u, 0x003F4000u, 0x00422000u, 0x00450000u, 0x00480000u,
    0x004B0000u, 0x004E2000u, 0x00514000u, 0x00548000u, 0x0057C000u, 0x005B2000u, 0x005E8000u, 0x00620000u,
    0x00658000u, 0x00692000u, 0x006CC000u, 0x00708000u, 0x00744000u, 0x00782000u, 0x007C0000u, 0x00800000u,
    0x00840000u, 0x00882000u, 0x008C4000u, 0x00908000u, 0x0094C000u, 0x00992000u, 0x009D8000u, 0x00A20000u,
    0x00A68000u, 0x00AB2000u, 0x00AFC000u, 0x00B48000u, 0x00B94000u, 0x00BE2000u, 0x00C30000u, 0x00C80000u,
    0x00CD0000u, 0x00D22000u, 0x00D74000u, 0x00DC8000u, 0x00E1C000u, 0x00E72000u, 0x00EC8000u, 0x00F20000u,
    0x00F78000u, 0x00FD2000u, 0x0102C000u, 0x01088000u, 0x010E4000u, 0x01142000u, 0x011A0000u, 0x01200000u,
    0x01260000u, 0x012C2000u, 0x01324000u, 0x01388000u, 0x013EC000u, 0x01452000u, 0x014B8000u, 0x01520000u,
    0x01588000u, 0x015F2000u, 0x0165C000u, 0x016C8000u, 0x01734000u, 0x017A2000u, 0x01810000u, 0x01880000u,
    0x018F0000u, 0x01962000u, 0x019D4000u, 0x01A48000u, 0x01ABC000u, 0x01B32000u, 0x01BA8000u, 0x01C20000u,
    0x01C98000u, 0x01D12000u, 0x01D8C000u, 0x01E08000u, 0x01E84000u, 0x01F02000u, 0x01F80000u,
};

#define TOP      (1u << 29)      /* leading one of a normal accumulator window */
#define CARRY    (1u << 30)

/* Hides a value from the optimiser. The compiler tests "u >= 2^30" as "u >> 30 != 0" and a
 * bit as a pair of shifts, which costs ~2 cycles per shifted bit on the sentinel-cpu: the
 * constants live in registers and the bit tests stay AND + compare. */
#define OPAQUE(v) __asm__("" : "+r"(v))
#define BF16_NAN 0x7FC0u
#define BF16_INF 0x7F80u

/* v >> s with every bit shifted out OR-ed into bit 0. */
static uint32_t shr_jam(uint32_t v, uint32_t s)
{
    if (s > 31)
        return v != 0;
    uint32_t r = v >> s;
    return (r << s) != v ? r | 1 : r;
}

/* 8 x 8-bit product by shift and add (slow path: subnormal operands only). */
static uint32_t mul8(uint32_t a, uint32_t b)
{
    uint32_t p = 0;
    while (b) {
        if (b & 1)
            p += a;
        a <<= 1;
        b >>= 1;
    }
    return p;
}

enum { PROD_FINITE, PROD_ZERO, PROD_INF, PROD_NAN };

/* Full decode of one product (slow path). PROD_FINITE: *p = significand product << 13
 * normalised to [2^27, 2^29), *ep = window exponent (bit 29 weighs 2^(*ep - 127)). */
static int product(uint32_t xb, uint32_t wb, uint32_t *p, int32_t *ep)
{
    uint32_t ex = (xb >> 7) & 0xFFu, ew = (wb >> 7) & 0xFFu;
    uint32_t mx = xb & 0x7Fu, mw = wb & 0x7Fu;
    if ((ex == 0xFFu && mx) || (ew == 0xFFu && mw))
        return PROD_NAN;
    int inf = ex == 0xFFu || ew == 0xFFu;
    int zero = (ex == 0 && !mx) || (ew == 0 && !mw);
    if (inf)
        return zero ? PROD_NAN : PROD_INF;
    if (zero)
        return PROD_ZERO;
    uint32_t v = mul8(ex ? mx | 0x80u : mx, ew ? mw | 0x80u : mw) << 13;
    int32_t e = (int32_t)(ex ? ex : 1) + (int32_t)(ew ? ew : 1) - 125;
    while (v < (1u << 27)) {
        v <<= 1;
        e--;
    }
    *p = v;
    *ep = e;
    return PROD_FINITE;
}

/* The accumulator is +-inf (sign si): only a NaN operand, inf * 0 or an infinite product of
 * the other sign changes it (to NaN). */
static uint32_t inf_tail(uint32_t si, const uint16_t *xp, const uint8_t *wp, uint32_t ws,
                         uint32_t k)
{
    for (; k; k--, xp++, wp += ws) {
        uint32_t xb = *xp, wb = *(const uint16_t *)wp;
        uint32_t p;
        int32_t ep;
        int c = product(xb, wb, &p, &ep);
        if (c == PROD_NAN || (c == PROD_INF && ((xb ^ wb) & 0x8000u) != si))
            return BF16_NAN;
    }
    return si | BF16_INF;
}

/* One output: sum over k of xp[k] * wp[k * ws] (ws in bytes), as bf16 bits. */
static uint32_t dot(const uint16_t *xp, const uint8_t *wp, uint32_t ws, uint32_t k)
{
    uint32_t sa = 0x8000u, a = 0;         /* acc = -0 */
    int32_t e = 1;
    uint32_t top = TOP, carry = CARRY;
    OPAQUE(top);
    OPAQUE(carry);
    for (; k; k--, xp++, wp += ws) {
        uint32_t xb = *xp, wb = *(const uint16_t *)wp;
        uint32_t ex = xb & 0x7F80u, ew = wb & 0x7F80u;
        uint32_t sp = (xb ^ wb) & 0x8000u;
        uint32_t p;
        int32_t ep;
        if (ex - 0x80u < 0x7E81u && ew - 0x80u < 0x7E81u) {     /* both normal */
            uint32_t mx = xb & 0x7Fu, mw = wb & 0x7Fu;
            uint32_t is = mx + mw, id = mx + 127u - mw;
            OPAQUE(is);                    /* one scaling shift per index, not three */
            OPAQUE(id);
            p = QSUM[is] - QDIF[id];
            ep = (int32_t)((ex + ew) >> 7) - 125;
        } else {
            int c = product(xb, wb, &p, &ep);
            if (c == PROD_ZERO) {          /* acc unchanged; -0 + -0 = -0, else +0 */
                if (a == 0)
                    sa &= sp;
                continue;
            }
            if (c == PROD_NAN)
                return BF16_NAN;
            if (c == PROD_INF)
                return inf_tail(sp, xp + 1, wp + ws, ws, k - 1);
        }
        /* acc + product: the window with the larger exponent stays, the other shifts. */
        int32_t d = e - ep, r;
        if (d >= 0) {
            uint32_t al = d <= 13 ? p >> d : shr_jam(p, (uint32_t)d);  /* p has 13 zero LSBs */
            if (sp == sa) {
                r = (int32_t)(a + al);
            } else {
                r = (int32_t)(a - al);
                if (r < 0) {               /* (a branch: abs() would shift by 31) */
                    OPAQUE(r);
                    r = -r;
                    sa = sp;
                }
            }
        } else {
            uint32_t s = (uint32_t)-d;
            uint32_t al = s <= 6 ? a >> s : shr_jam(a, s);              /* a has 6 zero LSBs */
            e = ep;
            if (sp == sa) {
                r = (int32_t)(p + al);
            } else {
                r = (int32_t)(p - al);
                if (r < 0) {
                    OPAQUE(r);
                    r = -r;
                } else {
                    sa = sp;
                }
            }
        }
        uint32_t u = (uint32_t)r;
        if (u == 0) {                      /* exact cancellation: +0 (RNE) */
            sa = 0;
            a = 0;
            e = 1;
            continue;
        }
        if (u >= carry) {
            u = (u >> 1) | (u & 1);
            e++;
        } else {
            while (u < top && e > 1) {
                u += u;
                e--;
            }
        }
        /* Round to nearest even at bit 6 (guard bit 5, sticky bits 4..0). */
        uint32_t lsb = u & 0x40u;
        OPAQUE(lsb);
        u += 0x1Fu + (lsb != 0);
        u &= ~0x3Fu;
        if (u >= carry) {
            u = top;                       /* 2^30 exactly: 2^29 one binade up */
            e++;
        }
        if (e >= 255)                      /* overflow: +-inf */
            return inf_tail(sa, xp + 1, wp + ws, ws, k - 1);
        a = u;
    }
    /* fp32 -> bf16, nearest even at bit 22 (same exponent range: subnormals map directly). */
    uint32_t lsb = a & 0x400000u;
    OPAQUE(lsb);
    uint32_t u = a + 0x1FFFFFu + (lsb != 0);
    u &= ~0x3FFFFFu;
    if (u >= carry) {
        u = top;
        e++;
    }
    uint32_t mag = ((uint32_t)(e - 1) << 7) + (u >> 22);
    return sa | (mag > BF16_INF ? BF16_INF : mag);
}

void bf16_gemm(const uint16_t *x, uint32_t x_stride, const uint16_t *w, uint32_t w_stride,
               uint16_t *z, uint32_t z_stride, uint32_t m, uint32_t n, uint32_t k)
{
    const uint8_t *xr = (const uint8_t *)x;
    uint8_t *zr = (uint8_t *)z;
    for (; m; m--, xr += x_stride, zr += z_stride) {
        const uint8_t *wc = (const uint8_t *)w;
        uint16_t *zp = (uint16_t *)zr;
        for (uint32_t j = 0; j < n; j++, wc += 2)
            zp[j] = (uint16_t)dot((const uint16_t *)xr, wc, w_stride, k);
    }
}
