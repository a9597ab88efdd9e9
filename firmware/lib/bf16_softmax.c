/* Software softmax of a BF16 row in integer arithmetic (RV32I: shifts, adds, compares).
 *
 * Method (m = max x, u_i = m - x_i >= 0, e^-u = 2^-t with t = u * log2(e)):
 *   pass 1  m: the largest element (BF16 patterns ordered through an unsigned key);
 *   pass 2  u_i in Q10 fixed point (x_i and m truncated to Q10), t_i = u_i * log2(e) by
 *           shift-add with log2(e) ~ 23637 / 2^14, rounded to Q8: t_i = 256 n_i + f_i;
 *           e_i = T[f_i] >> n_i with T[f] = 2^31 * 2^(-f/256) (Q31, a 256-word table);
 *           S = sum e_i (64 bits); t_i is kept in y[i] meanwhile;
 *   pass 3  y_i = e_i / S as BF16: S normalised to s in [2^30, 2^31) (S = s * 2^es), the
 *           significand T[f_i] / s by restoring division (9 quotient bits + sticky, rounded to
 *           nearest even), the exponent -n_i - es. Results below 2^-126 flush to +0.
 *
 * Error against float64 (relative, per output y >= 2^-126): BF16 rounding <= 2^-8 (0.39 %),
 * t rounded to 1/256 <= 2^(1/512) - 1 (0.14 %), x and m truncated to Q10 (|du| < 2^-10:
 * <= 0.1 %), log2(e) and the table (< 0.01 %); total < 0.65 %, stated bound 2^-7 (0.78 %):
 * |y - softmax(x)| <= 2^-7 * softmax(x) + 2^-126.
 *
 * Cost: sentinel-cpu shifts by k bits take ~2k cycles, so shifts are kept short (the constant
 * multiply shifts incrementally, the division shifts by one). */
#include "bf16_softmax.h"

/* Keeps the compiler from folding a shift-add chain into a multiply (a libcall on RV32I). */
#define OPAQUE(v) __asm__("" : "+r"(v))

static const uint32_t EXP2_Q31[256] = {
    0x80000000u, 0x7FA765ADu, 0x7F4F08AEu, 0x7EF6E8DAu, 0x7E9F0606u, 0x7E476009u, 0x7DEFF6B6u, 0x7D98C9E6u,
    0x7D41D96Eu, 0x7CEB2523u, 0x7C94ACDEu, 0x7C3E7073u, 0x7BE86FBAu, 0x7B92AA88u, 0x7B3D20B6u, 0x7AE7D21Au,
    0x7A92BE8Bu, 0x7A3DE5DFu, 0x79E947EFu, 0x7994E492u, 0x7940BB9Eu, 0x78ECCCECu, 0x78991854u, 0x78459DACu,
    0x77F25CCEu, 0x779F5590u, 0x774C87CCu, 0x76F9F359u, 0x76A7980Fu, 0x765575C8u, 0x76038C5Bu, 0x75B1DBA2u,
    0x75606374u, 0x750F23ABu, 0x74BE1C20u, 0x746D4CACu, 0x741CB528u, 0x73CC556Du, 0x737C2D55u, 0x732C3CBAu,
    0x72DC8374u, 0x728D015Du, 0x723DB650u, 0x71EEA226u, 0x719FC4B9u, 0x71511DE4u, 0x7102AD80u, 0x70B47368u,
    0x70666F76u, 0x7018A185u, 0x6FCB096Fu, 0x6F7DA710u, 0x6F307A41u, 0x6EE382DEu, 0x6E96C0C3u, 0x6E4A33C9u,
    0x6DFDDBCCu, 0x6DB1B8A8u, 0x6D65CA38u, 0x6D1A1057u, 0x6CCE8AE1u, 0x6C8339B2u, 0x6C381CA6u, 0x6BED3399u,
    0x6BA27E65u, 0x6B57FCE9u, 0x6B0DAEFFu, 0x6AC39485u, 0x6A79AD56u, 0x6A2FF94Fu, 0x69E6784Du, 0x699D2A2Cu,
    0x69540EC9u, 0x690B2601u, 0x68C26FB1u, 0x6879EBB6u, 0x683199EDu, 0x67E97A34u, 0x67A18C68u, 0x6759D065u,
    0x6712460Bu, 0x66CAED35u, 0x6683C5C3u, 0x663CCF92u, 0x65F60A7Fu, 0x65AF766Au, 0x6569132Fu, 0x6522E0ADu,
    0x64DCDEC3u, 0x64970D4Fu, 0x64516C2Eu, 0x640BFB41u, 0x63C6BA64u, 0x6381A978u, 0x633CC85Bu, 0x62F816EBu,
    0x62B39509u, 0x626F4292u, 0x622B1F66u, 0x61E72B65u, 0x61A3666Du, 0x615FD05Eu, 0x611C6919u, 0x60D9307Bu,
    0x60962665u, 0x60534AB7u, 0x60109D51u, 0x5FCE1E12u, 0x5F8BCCDBu, 0x5F49A98Cu, 0x5F07B405u, 0x5EC5EC26u,
    0x5E8451D0u, 0x5E42E4E3u, 0x5E01A53Fu, 0x5DC092C7u, 0x5D7FAD59u, 0x5D3EF4D7u, 0x5CFE6923u, 0x5CBE0A1Cu,
    0x5C7DD7A4u, 0x5C3DD19Cu, 0x5BFDF7E5u, 0x5BBE4A61u, 0x5B7EC8F2u, 0x5B3F7377u, 0x5B0049D4u, 0x5AC14BEAu,
    0x5A82799Au, 0x5A43D2C6u, 0x5A055751u, 0x59C7071Cu, 0x5988E209u, 0x594AE7FBu, 0x590D18D3u, 0x58CF7474u,
    0x5891FAC1u, 0x5854AB9Bu, 0x581786E6u, 0x57DA8C83u, 0x579DBC57u, 0x57611642u, 0x57249A29u, 0x56E847EFu,
    0x56AC1F75u, 0x567020A0u, 0x56344B52u, 0x55F89F70u, 0x55BD1CDBu, 0x5581C378u, 0x55469329u, 0x550B8BD4u,
    0x54D0AD5Au, 0x5495F7A1u, 0x545B6A8Bu, 0x542105FDu, 0x53E6C9DAu, 0x53ACB607u, 0x5372CA68u, 0x533906E0u,
    0x52FF6B55u, 0x52C5F7AAu, 0x528CABC3u, 0x52538786u, 0x521A8AD7u, 0x51E1B59Au, 0x51A907B4u, 0x5170810Bu,
    0x51382182u, 0x50FFE8FEu, 0x50C7D765u, 0x508FEC9Cu, 0x50582888u, 0x50208B0Eu, 0x4FE91413u, 0x4FB1C37Cu,
    0x4F7A9930u, 0x4F439514u, 0x4F0CB70Cu, 0x4ED5FF00u, 0x4E9F6CD4u, 0x4E69006Eu, 0x4E32B9B4u, 0x4DFC988Cu,
    0x4DC69CDDu, 0x4D90C68Bu, 0x4D5B157Eu, 0x4D25899Cu, 0x4CF022CAu, 0x4CBAE0EFu, 0x4C85C3F1u, 0x4C50CBB8u,
    0x4C1BF829u, 0x4BE7492Bu, 0x4BB2BEA5u, 0x4B7E587Eu, 0x4B4A169Cu, 0x4B15F8E6u, 0x4AE1FF43u, 0x4AAE299Bu,
    0x4A7A77D4u, 0x4A46E9D6u, 0x4A137F88u, 0x49E038D0u, 0x49AD1598u, 0x497A15C4u, 0x4947393Fu, 0x49147FEEu,
    0x48E1E9BAu, 0x48AF768Au, 0x487D2646u, 0x484AF8D6u, 0x4818EE22u, 0x47E70611u, 0x47B5408Cu, 0x47839D7Bu,
    0x47521CC6u, 0x4720BE55u, 0x46EF8210u, 0x46BE67E0u, 0x468D6FAEu, 0x465C9961u, 0x462BE4E2u, 0x45FB521Au,
    0x45CAE0F2u, 0x459A9152u, 0x456A6323u, 0x453A564Du, 0x450A6ABBu, 0x44DAA054u, 0x44AAF702u, 0x447B6EADu,
    0x444C0740u, 0x441CC0A3u, 0x43ED9AC0u, 0x43BE957Fu, 0x438FB0CBu, 0x4360EC8Du, 0x433248AEu, 0x4303C518u,
    0x42D561B4u, 0x42A71E6Cu, 0x4278FB2Bu, 0x424AF7DAu, 0x421D1462u, 0x41EF50AEu, 0x41C1ACA7u, 0x41942839u,
    0x4166C34Cu, 0x41397DCCu, 0x410C57A2u, 0x40DF50B8u, 0x40B268FAu, 0x4085A051u, 0x4058F6A8u, 0x402C6BE9u,};

#define BF16_NEG_INF 0xFF80u
#define U_MAX (127u << 10)           /* u clamped to 127 (e^-127 flushes to 0 anyway) */

/* Order key: unsigned compare of keys = numeric compare of finite BF16 values. */
static inline uint32_t key(uint32_t b) { return (b & 0x8000u) ? 0xFFFFu - b : b + 0x8000u; }

/* BF16 (finite, |x| < 1024) -> Q10 signed, magnitude truncated. */
static int32_t bf16_to_q10(uint32_t b)
{
    uint32_t e = (b >> 7) & 0xFFu;
    if (e < 116)                     /* |x| < 2^-11 (zero, subnormal): below Q10 resolution */
        return 0;
    uint32_t sig = (b & 0x7Fu) | 0x80u;        /* x = sig * 2^(e - 134) */
    int32_t sh = (int32_t)e - 124;              /* Q10: sig << (e - 124) */
    int32_t mag;
    if (sh >= 0) {
        if (sh > 12) sh = 12;                   /* saturate (outside the stated input range) */
        mag = (int32_t)(sig << sh);
    } else {
        mag = (int32_t)(sig >> -sh);
    }
    return (b & 0x8000u) ? -mag : mag;
}

/* u * 23637 (log2(e) in Q14) for u < 2^17: bits 0, 2, 4, 6, 10, 11, 12, 14. */
static inline uint32_t mul_log2e(uint32_t u)
{
    uint32_t acc = u, a = u;
    a <<= 2; OPAQUE(a); acc += a;
    a <<= 2; OPAQUE(a); acc += a;
    a <<= 2; OPAQUE(a); acc += a;
    a <<= 4; OPAQUE(a); acc += a;
    a <<= 1; OPAQUE(a); acc += a;
    a <<= 1; OPAQUE(a); acc += a;
    a <<= 2; OPAQUE(a); acc += a;
    return acc;
}

void bf16_softmax(const uint16_t *x, uint16_t *y, uint32_t n)
{
    /* pass 1: max */
    uint32_t best = 0, mb = x[0];
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = key(x[i]);
        if (k > best) { best = k; mb = x[i]; }
    }
    int32_t mq = bf16_to_q10(mb);

    /* pass 2: t_i (Q8) into y, S = sum of e_i (Q31) */
    uint64_t S = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t b = x[i];
        uint32_t t;
        if (b == BF16_NEG_INF) {
            t = 0xFFFFu;
        } else {
            uint32_t u = (uint32_t)(mq - bf16_to_q10(b));
            if (u > U_MAX) u = U_MAX;
            t = (mul_log2e(u) + (1u << 15)) >> 16;
            uint32_t sh = t >> 8;
            if (sh < 32)
                S += EXP2_Q31[t & 0xFFu] >> sh;
        }
        y[i] = (uint16_t)t;
    }

    /* S = s * 2^es, s in [2^30, 2^31) (S >= 2^31: the max element contributes 1.0) */
    uint32_t hi = (uint32_t)(S >> 32), lo = (uint32_t)S;
    int32_t es = 0;
    while (hi != 0 || lo >= 0x80000000u) {
        lo = (lo >> 1) | (hi << 31);
        hi >>= 1;
        es++;
    }
    uint32_t s = lo;

    /* pass 3: y_i = T[f_i] / s * 2^(-n_i - es), rounded to BF16 */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = y[i];
        if (t == 0xFFFFu) { y[i] = 0; continue; }
        int32_t qexp = -(int32_t)(t >> 8) - es;
        uint32_t r = EXP2_Q31[t & 0xFFu];
        if (r < s) { r <<= 1; qexp--; }           /* now s <= r <= 2s */
        if (r - s >= s) { r >>= 1; qexp++; }      /* r == 2s (T = 2^31, s = 2^30): q = 1 */
        uint32_t q = 1;
        r -= s;
        for (int k = 0; k < 8; k++) {
            r <<= 1;
            q <<= 1;
            if (r >= s) { r -= s; q |= 1; }
        }
        uint32_t sig = q >> 1;                     /* 8 significant bits, 128..255 */
        if ((q & 1) && (r != 0 || (sig & 1))) {    /* round to nearest, ties to even */
            sig++;
            if (sig == 256) { sig = 128; qexp++; }
        }
        int32_t E = 127 + qexp;
        y[i] = (E <= 0) ? 0 : (uint16_t)(((uint32_t)E << 7) | (sig & 0x7Fu));
    }
}
