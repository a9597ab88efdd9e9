/* One attention head, O = softmax(Q K^T / sqrt(d)) V, tiled for sequences larger than one
 * accelerator job (the model of the data flow and every number: sim/attention.py, which also
 * writes the defines and the data file).
 *
 * Q (SEQ x HD), KT = K^T (HD x SEQ), V (SEQ x HD) and O (SEQ x HD) are row-major BF16 with byte
 * strides QS, KTS, VS, OS. The sequence is processed in query tiles of BQ rows; per tile:
 *   scale    Qs = Q_tile (2^-SHIFT I), a BQ x HD x HD matmul with a scaled identity (1/sqrt(HD),
 *            HD = 4^SHIFT: exact for normal values, and on the tensor unit a small fraction of
 *            the qk work, where the cores would take longer than the whole head), into qsbuf;
 *   qk       S = Qs KT, SEQ / BK tensor jobs of BQ x BK (K = HD), into sbuf (stride SS);
 *   softmax  P = softmax(S) by rows into pbuf: each row in SEQ / BK chunks of BK elements through
 *            a SoftEx state slot per row, rows interleaved (all first chunks, then all second
 *            chunks, ...): ACC+SAVE (+LOAD after the first chunk, +DIV on the last chunk), then
 *            DIV+LOAD for the earlier chunks; one job per row (ACC | DIV) when SEQ == BK;
 *   pv       O_tile = P V, one tensor job of BQ x HD (K = SEQ).
 * GEMM_SW = 1 runs scale, qk and pv with bf16_gemm on the cores (bit-identical to the tensor
 * unit); SOFTMAX_SW = 1 runs the softmax with bf16_softmax on the cores (not bit-identical to
 * SoftEx). TILES (default: all) runs only the first TILES query tiles. Software stages split
 * rows by core id; every stage ends at a barrier, and core 0 adds the cycles of each stage to
 * its total and prints them ("stage <name> cycles <n>").
 * Exit 0; 0x100 | cause for a tensor-unit error, 0x200 | cause for a SoftEx error. */
#include "hal.h"
#include "softex.h"
#include "system.h"
#include "tensor.h"
#if GEMM_SW
#include "lib/bf16_gemm.h"
#endif
#if SOFTMAX_SW
#include "lib/bf16_softmax.h"
#endif

#ifndef GEMM_SW
#define GEMM_SW 0
#endif
#ifndef SOFTMAX_SW
#define SOFTMAX_SW 0
#endif
#define NCH (SEQ / BK)
#ifndef TILES                       /* query tiles to run (benchmarks of slow variants: fewer) */
#define TILES ((SEQ + BQ - 1) / BQ)
#endif

extern uint16_t q[], kt[], v[], o[], sbuf[], pbuf[], slots[], ident[], qsbuf[];

#define ROW(base, r, stride) ((uint16_t *)((uint8_t *)(base) + (r) * (stride)))

enum { ST_SCALE, ST_QK, ST_SOFTMAX, ST_PV, N_STAGES };
static const char *const stage_name[N_STAGES] = {"scale", "qk", "softmax", "pv"};
static uint32_t stage_cycles[N_STAGES];

/* End of a stage on every core: the barrier, then core 0 books the cycles since `t0` (the
 * table is shared memory: one writer). */
static uint32_t stage_end(uint32_t id, int stage, uint32_t t0)
{
    barrier();
    uint32_t t1 = (uint32_t)cycles();
    if (id == 0)
        stage_cycles[stage] += t1 - t0;
    return t1;
}

#if !GEMM_SW
static void tensor_matmul(const uint16_t *x, uint32_t xs, const uint16_t *w, uint32_t ws,
                          uint16_t *z, uint32_t zs, uint32_t m, uint32_t n, uint32_t k)
{
    uintptr_t b = SYS_TENSOR_BASE;
    hwpe_acquire(b);
    tensor_write_x_ptr(b, (uint32_t)x);
    tensor_write_w_ptr(b, (uint32_t)w);
    tensor_write_z_ptr(b, (uint32_t)z);
    tensor_write_dim_mn(b, tensor_dim_mn_n_set(tensor_dim_mn_m_set(0, m), n));
    tensor_write_dim_k(b, tensor_dim_k_k_set(0, k));
    tensor_write_x_stride(b, xs);
    tensor_write_w_stride(b, ws);
    tensor_write_z_stride(b, zs);
    tensor_write_command(b, tensor_command_op_set(0, TENSOR_COMMAND_OP_MATMUL));
    hwpe_trigger(b);
}
#endif

/* z (m x n) = x (m x k) w (k x n) on the tensor unit (core 0) or on all cores (rows by id). */
static void matmul(const uint16_t *x, uint32_t xs, const uint16_t *w, uint32_t ws, uint16_t *z,
                   uint32_t zs, uint32_t m, uint32_t n, uint32_t k, uint32_t id, uint32_t nc)
{
#if GEMM_SW
    for (uint32_t r = id; r < m; r += nc)
        bf16_gemm(ROW(x, r, xs), xs, w, ws, ROW(z, r, zs), zs, 1, n, k);
#else
    if (id == 0)
        tensor_matmul(x, xs, w, ws, z, zs, m, n, k);
#endif
}

static void matmul_wait(uint32_t id)
{
#if !GEMM_SW
    if (id == 0)
        hwpe_wait_idle(SYS_TENSOR_BASE);
#endif
    (void)id;
}

#if !SOFTMAX_SW
/* One SoftEx job on chunk c of row r. (Writing only what changed -- an acquired context starts
 * as a copy of the last triggered one -- measured 11 % slower here, 13,828 vs 12,444 cycles for
 * 96 jobs on tiny: not understood yet, so every register is written.) */
static void softex_job(uint32_t r, uint32_t c, uint32_t cmd)
{
    uintptr_t b = SYS_SOFTEX_BASE;
    hwpe_acquire(b);
    softex_write_in_addr(b, (uint32_t)(ROW(sbuf, r, SS) + c * BK));
    softex_write_out_addr(b, (uint32_t)(ROW(pbuf, r, SS) + c * BK));
    softex_write_slot_addr(b, (uint32_t)&slots[4 * r]);
    softex_write_length(b, BK);
    softex_write_command(b, cmd);                          /* OP = SOFTMAX, BF16 in and out */
    hwpe_trigger(b);
}
#endif

static void softmax_tile(uint32_t rows, uint32_t id, uint32_t nc)
{
#if SOFTMAX_SW
    for (uint32_t r = id; r < rows; r += nc)
        bf16_softmax(ROW(sbuf, r, SS), ROW(pbuf, r, SS), SEQ);
#else
    if (id != 0)
        return;
    const uint32_t acc = SOFTEX_COMMAND_ACC_MASK, div = SOFTEX_COMMAND_DIV_MASK;
    const uint32_t load = SOFTEX_COMMAND_LOAD_MASK, save = SOFTEX_COMMAND_SAVE_MASK;
    if (NCH == 1) {
        for (uint32_t r = 0; r < rows; r++)
            softex_job(r, 0, acc | div);
    } else {
        for (uint32_t c = 0; c < NCH; c++)
            for (uint32_t r = 0; r < rows; r++)
                softex_job(r, c, acc | save | (c ? load : 0) | (c == NCH - 1 ? div : 0));
        for (uint32_t c = 0; c + 1 < NCH; c++)
            for (uint32_t r = 0; r < rows; r++)
                softex_job(r, c, div | load);
    }
    hwpe_wait_idle(SYS_SOFTEX_BASE);
#endif
}

int main(void)
{
    uint32_t id = core_id(), nc = n_cores();
    if (id == 0)                                    /* 2^-SHIFT on the diagonal (.bss is 0) */
        for (uint32_t i = 0; i < HD; i++)
            ROW(ident, i, QS)[i] = (uint16_t)((127u - SHIFT) << 7);
    barrier();
    uint32_t t = (uint32_t)cycles(), start = t;
    for (uint32_t q0 = 0; q0 < SEQ && q0 < TILES * BQ; q0 += BQ) {
        uint32_t rows = SEQ - q0 < BQ ? SEQ - q0 : BQ;
        uint16_t *qt = ROW(q, q0, QS);
        matmul(qt, QS, ident, QS, qsbuf, QS, rows, HD, HD, id, nc);
        matmul_wait(id);
        t = stage_end(id, ST_SCALE, t);
        for (uint32_t c = 0; c < NCH; c++)
            matmul(qsbuf, QS, kt + c * BK, KTS, sbuf + c * BK, SS, rows, BK, HD, id, nc);
        matmul_wait(id);
        t = stage_end(id, ST_QK, t);
        softmax_tile(rows, id, nc);
        t = stage_end(id, ST_SOFTMAX, t);
        matmul(pbuf, SS, v, VS, ROW(o, q0, OS), OS, rows, HD, SEQ, id, nc);
        matmul_wait(id);
        t = stage_end(id, ST_PV, t);
    }
    if (id != 0)
        return 0;
    for (int s = 0; s < N_STAGES; s++) {
        hal_puts("stage ");
        hal_puts(stage_name[s]);
        hal_puts(" cycles ");
        hal_putdec(stage_cycles[s]);
        hal_putc('\n');
    }
    hal_puts("total cycles ");
    hal_putdec(t - start);
    hal_putc('\n');
    uint32_t err = 0;
#if !GEMM_SW
    uint32_t te = tensor_read_error(SYS_TENSOR_BASE) & 0xFFu;
    if (te)
        err = 0x100u | te;
#endif
#if !SOFTMAX_SW
    uint32_t se = softex_read_error(SYS_SOFTEX_BASE) & 0xFFu;
    if (se && !err)
        err = 0x200u | se;
#endif
    return err;
}
