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
 *            a SoftEx state slot per row, one multi-row job (ROWS.COUNT = the tile's rows) per
 *            chunk: ACC+SAVE (+LOAD after the first chunk, +DIV on the last chunk), then
 *            DIV+LOAD for the earlier chunks; one job (ACC | DIV) when SEQ == BK;
 *   pv       O_tile = P V, one tensor job of BQ x HD (K = SEQ).
 * GEMM_SW = 1 runs scale, qk and pv with bf16_gemm on the cores (bit-identical to the tensor
 * unit); SOFTMAX_SW = 1 runs the softmax with bf16_softmax on the cores (not bit-identical to
 * SoftEx). TILES (default: all) runs only the first TILES query tiles. Software stages split
 * rows by core id; every stage ends at a barrier, and core 0 adds the cycles of each stage to
 * its total and prints them ("stage <name> cycles <n>"; STAGE_REPORT = 0: not printed, only
 * kept in stage_cycles[] and head_cycles for the host to read back).
 *
 * PIPELINE = 1 (both accelerators, 2 or more cores) overlaps the tiles instead: core 1 drives
 * the tensor unit (scale and qk of tile t, then pv of tile t - 1) and core 0 drives SoftEx
 * (softmax of tile t), with sbuf and pbuf double-buffered (tile t uses half t % 2) and two
 * shared counters (tiles whose scores / probabilities are complete) as the only
 * synchronisation. The tile order of every job is unchanged, so the outputs are the same bit
 * for bit. A stage's cycles are then the time its driving core spends issuing and waiting for
 * its jobs, and the stages overlap: the total is less than their sum.
 *
 * ABFT = 1 (a cluster with the Flash-ABFT checker, docs/abft.md): core 0 completes the head's
 * descriptor (the host preloads its numbers, the checksum vectors and the encoded Q sums; the
 * buffer addresses are written here) and runs ARM before the tiles; the score and probability
 * buffers have two halves in both schedules (tile t uses half t % 2, as the checker expects);
 * every tile's softmax runs twice, run B into pbb (the checker compares the two); after the
 * tiles core 0 runs VERIFY. With ABFT_CORRECT = 1 a failed check is repaired: a tile whose only
 * failure is its O word sums gets the one corrupted word located (weighted residual / plain
 * residual) and corrected in place, any other failing tile is recomputed (RETILE, then the
 * tile's jobs again, checked again), then VERIFY again, at most ABFT_ROUNDS times. VERIFY
 * is the last thing the program does before it exits (a fault in O after O was read back
 * cannot be seen): the stage lines are printed before it, and its outcome goes to abft_result
 * (words: mask of the first verdict, O words corrected, tiles recomputed, mask of the last
 * verdict, the checker's cycles: ARM, VERIFY and the repairs).
 * PEROP = 1 (serial tiles, a cluster without the checker) protects every operation instead,
 * the classic scheme the checker is compared with (sim/perop.py has the arithmetic): each
 * tensor job is followed by a checksum job on the same left operand (two columns, the first
 * the sum of the right operand's columns, from the host) and a sum job (its output times a
 * column of ones); the cores compare the two words of each row, as fixed-point integers,
 * within the host's tolerance; SoftEx runs twice and the cores compare the words. A tile with a failed check is recomputed
 * (at most ABFT_ROUNDS times); the outcome goes to abft_result as with ABFT.
 * MASK = 1 (causal) or 2 (the host's bitmap mask_bits: SEQ rows of MW = ceil(SEQ / 16) words,
 * bit j % 16 of word j / 16 set when key j is masked for that query) sets the masked scores of
 * each tile to -inf once its qk jobs are done, on the core that drives them (its cycles are
 * the qk stage's); SoftEx gives them probability 0 (a fully masked row: a row of zeros). Not
 * with ABFT or PEROP (their checks see the scores as the tensor unit wrote them).
 * Exit 0; 0x100 | cause for a tensor-unit error, 0x200 | cause for a SoftEx error, 0x300 |
 * cause for a checker job error, 0x400 when the head ends with a failed check (uncorrected, or
 * ABFT_CORRECT = 0). */
#include "hal.h"
#include "softex.h"
#include "system.h"
#include "tensor.h"
#include "lib/tensor_job.h"
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
#ifndef PIPELINE
#define PIPELINE 0
#endif
#ifndef STAGE_REPORT
#define STAGE_REPORT 1
#endif
#ifndef ABFT
#define ABFT 0
#endif
#ifndef O_DIGEST
#define O_DIGEST 0                  /* 1: print O's Fletcher-32 last ("o fletcher32 <hex>") */
#endif
#ifndef ABFT_CORRECT
#define ABFT_CORRECT 1
#endif
#define ABFT_ROUNDS 2
#if ABFT && (GEMM_SW || SOFTMAX_SW)
#error "ABFT watches the accelerators: not with GEMM_SW or SOFTMAX_SW"
#endif
#ifndef PEROP
#define PEROP 0
#endif
#if PEROP && (ABFT || PIPELINE || GEMM_SW || SOFTMAX_SW)
#error "PEROP checks the accelerators' jobs in serial tiles: not with ABFT, PIPELINE, GEMM_SW or SOFTMAX_SW"
#endif
#if ABFT
#include "lib/abft_job.h"
#endif
#if PEROP
#include "lib/abft_result.h"
#endif
#if PIPELINE && (GEMM_SW || SOFTMAX_SW)
#error "PIPELINE overlaps the two accelerators: not with GEMM_SW or SOFTMAX_SW"
#endif
#ifndef MASK
#define MASK 0
#endif
#if MASK && (ABFT || PEROP)
#error "MASK: the checks of ABFT and PEROP see the scores as the tensor unit wrote them"
#endif
#define N_TILES (TILES < (SEQ + BQ - 1) / BQ ? TILES : (SEQ + BQ - 1) / BQ)

extern uint16_t q[], kt[], v[], o[], sbuf[], pbuf[], slots[], ident[], qsbuf[];
#if ABFT
extern uint16_t pbb[];
extern uint32_t abft_desc[], abft_kbar[], abft_vbar[], abft_qsum[], abft_report[], abft_result[];
#define HALVES 1                    /* the checker's two halves, whatever the schedule */
#else
#define HALVES PIPELINE
#endif
#if PEROP
extern uint16_t pbb[], pid_chk[], pk_chk[], pv_chk[], ones[], chk_buf[], sum_buf[];
extern int32_t perop_tol_q[], perop_tol_s[];
extern uint32_t abft_result[];
enum { PEROP_SCALE = 1, PEROP_QK = 2, PEROP_SOFTMAX = 4, PEROP_PV = 8 };
static volatile uint32_t perop_flag[8];         /* per core: the checks its rows failed */
static uint32_t perop_tile[N_TILES];            /* per tile: the checks it failed */
#endif

#define ROW(base, r, stride) ((uint16_t *)((uint8_t *)(base) + (r) * (stride)))

#if MASK
#define NEG_INF 0xFF80u
#if MASK == 2
#define MW ((SEQ + 15) / 16)
extern uint16_t mask_bits[];
#endif
/* The masked scores of the tile whose first row is q0 (rows rows at sb) set to -inf. */
static void mask_scores(uint16_t *sb, uint32_t q0, uint32_t rows)
{
    uint16_t *row = sb;
#if MASK == 1
    /* query i sees keys 0 .. i: the rest of its row, two words per store once aligned */
    for (uint32_t i = q0; i < q0 + rows; i++, row = ROW(row, 1, SS)) {
        uint32_t j = i + 1;
        if (j < SEQ && (j & 1))
            row[j++] = NEG_INF;
        for (; j + 1 < SEQ; j += 2)
            *(uint32_t *)(row + j) = NEG_INF | NEG_INF << 16;
        if (j < SEQ)
            row[j] = NEG_INF;
    }
#else
    /* the tiles come in order: each call starts at the row the last one ended at (a running
     * pointer, kept opaque so that no multiplication q0 * MW appears: RV32I has none) */
    static const uint16_t *bits = mask_bits;
    (void)q0;
    for (uint32_t r = 0; r < rows; r++, row = ROW(row, 1, SS), bits += MW) {
        __asm__("" : "+r"(bits));
        for (uint32_t w = 0; w < MW; w++) {
            uint32_t set = bits[w];
            for (uint32_t j = w * 16; set; j++, set >>= 1)
                if (set & 1)
                    row[j] = NEG_INF;
        }
    }
#endif
}
#endif

enum { ST_SCALE, ST_QK, ST_SOFTMAX, ST_PV, N_STAGES };
#if STAGE_REPORT
static const char *const stage_name[N_STAGES] = {"scale", "qk", "softmax", "pv"};
#endif
/* Cycles per stage and of the whole head, also in memory for a host that reads them back
 * (the text report costs the core about 6,000 cycles: STAGE_REPORT=0 leaves it out). */
uint32_t stage_cycles[N_STAGES];
uint32_t head_cycles;

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
    tensor_matmul_job(SYS_TENSOR_BASE, (uint32_t)x, xs, (uint32_t)w, ws, (uint32_t)z, zs, m, n,
                      k);
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
/* One SoftEx job on chunk c of every row of a tile (ROWS.COUNT = rows; the scores and the
 * probabilities advance by SS bytes per row, the state slots by 8). One job per row and chunk
 * cost core 0 about 130 cycles each (15 instructions, 7 of them peripheral accesses) against
 * about 22 cycles of SoftEx work per 16-element chunk on tiny, so the stage was bound by this
 * code; with one job per chunk it is bound by SoftEx. */
static void softex_job(uint16_t *sb, uint16_t *pb, uint32_t rows, uint32_t c, uint32_t cmd)
{
    uintptr_t b = SYS_SOFTEX_BASE;
    hwpe_acquire(b);
    softex_write_in_addr(b, (uint32_t)(sb + c * BK));
    softex_write_out_addr(b, (uint32_t)(pb + c * BK));
    softex_write_slot_addr(b, (uint32_t)slots);
    softex_write_length(b, BK);
    softex_write_command(b, cmd);                          /* OP = SOFTMAX, BF16 in and out */
    softex_write_rows(b, rows);
    softex_write_in_stride(b, SS);
    softex_write_out_stride(b, SS);
    softex_write_slot_stride(b, 8);
    hwpe_trigger(b);
}
#endif

/* P = softmax(S) of one tile's rows, from sb into pb: every row in NCH chunks through its
 * slot, all rows of a chunk in one job. */
static void softmax_tile(uint16_t *sb, uint16_t *pb, uint32_t rows, uint32_t id, uint32_t nc)
{
#if SOFTMAX_SW
    for (uint32_t r = id; r < rows; r += nc)
        bf16_softmax(ROW(sb, r, SS), ROW(pb, r, SS), SEQ);
#else
    if (id != 0)
        return;
    const uint32_t acc = SOFTEX_COMMAND_ACC_MASK, div = SOFTEX_COMMAND_DIV_MASK;
    const uint32_t load = SOFTEX_COMMAND_LOAD_MASK, save = SOFTEX_COMMAND_SAVE_MASK;
    if (NCH == 1) {
        softex_job(sb, pb, rows, 0, acc | div);
    } else {
        for (uint32_t c = 0; c < NCH; c++)
            softex_job(sb, pb, rows, c, acc | save | (c ? load : 0) | (c == NCH - 1 ? div : 0));
        for (uint32_t c = 0; c + 1 < NCH; c++)
            softex_job(sb, pb, rows, c, div | load);
    }
    hwpe_wait_idle(SYS_SOFTEX_BASE);
#endif
}

static uint32_t tile_rows(uint32_t tile)
{
    return SEQ - tile * BQ < BQ ? SEQ - tile * BQ : BQ;
}

/* The tile's probabilities: run A into pb and, with ABFT, run B into the same half of pbb. */
static void softmax_checked(uint16_t *sb, uint16_t *pb, uint32_t rows, uint32_t id, uint32_t nc)
{
    softmax_tile(sb, pb, rows, id, nc);
#if ABFT || PEROP
    softmax_tile(sb, pbb + (pb - pbuf), rows, id, nc);
#endif
}

/* End of a stage of serial_tile: at a barrier of all cores (``sync``), or alone (a
 * recomputed tile, after the other cores have left: no barrier, no booking). */
static uint32_t tile_stage_end(int sync, uint32_t id, int stage, uint32_t t)
{
    return sync ? stage_end(id, stage, t) : t;
}

#if PEROP
/* trunc(x 2^f) of a BF16 word; *bad for NaN, infinity or a magnitude of 2^29 or more
 * (sim.perop.fixed_word). */
static int32_t perop_fix(uint16_t b, int32_t f, int *bad)
{
    uint32_t e = (b >> 7) & 0xFFu;
    if (e == 0xFFu) {
        *bad = 1;
        return 0;
    }
    if (e == 0)
        return 0;
    uint32_t m = (b & 0x7Fu) | 0x80u;
    int32_t sh = (int32_t)e - 134 + f;
    if (sh >= 22) {
        *bad = 1;
        return 0;
    }
    uint32_t mag = sh >= 0 ? m << sh : (sh <= -8 ? 0u : m >> -sh);
    return (b & 0x8000u) ? -(int32_t)mag : (int32_t)mag;
}

/* Rows r = id, id + nc, ... of sum_buf against chk_buf (first words) at position f, within
 * tol_rows[r] (or tol); returns `bit` when one fails. */
static uint32_t perop_rows(uint32_t rows, int32_t f, const int32_t *tol_rows, int32_t tol,
                           uint32_t id, uint32_t nc, uint32_t bit)
{
    for (uint32_t r = id; r < rows; r += nc) {
        int bad = 0;
        int32_t d = perop_fix(ROW(sum_buf, r, CHKS)[0], f, &bad)
                    - perop_fix(ROW(chk_buf, r, CHKS)[0], f, &bad);
        if (bad || (d < 0 ? -d : d) > (tol_rows ? tol_rows[r] : tol))
            return bit;
    }
    return 0;
}

/* Run A's probabilities (pb) against run B's, rows by id; `PEROP_SOFTMAX` when a word differs. */
static uint32_t perop_softmax(const uint16_t *pb, uint32_t rows, uint32_t id, uint32_t nc)
{
    const uint16_t *pr = pbb + (pb - pbuf);
    for (uint32_t r = id; r < rows; r += nc)
        for (uint32_t j = 0; j < SEQ; j++)
            if (ROW(pb, r, SS)[j] != ROW(pr, r, SS)[j])
                return PEROP_SOFTMAX;
    return 0;
}

/* The checks' jobs of a tensor job with left operand x (k columns) and output z (n columns):
 * chk_buf = x chk, sum_buf = z ones; then every core may read them (``sync``: all cores take
 * part). */
static void perop_jobs(const uint16_t *x, uint32_t xs, const uint16_t *chk, uint32_t k,
                       const uint16_t *z, uint32_t zs, uint32_t n, uint32_t rows, uint32_t id,
                       uint32_t nc, int sync)
{
    matmul(x, xs, chk, CHKS, chk_buf, CHKS, rows, 2, k, id, nc);
    matmul(z, zs, ones, CHKS, sum_buf, CHKS, rows, 2, n, id, nc);
    matmul_wait(id);
    if (sync)
        barrier();
}

/* Every core's flags into the tile's entry (core 0, after a barrier), cleared. */
static void perop_collect(uint32_t tile, uint32_t nc)
{
    uint32_t mask = 0;
    for (uint32_t c = 0; c < nc; c++) {
        mask |= perop_flag[c];
        perop_flag[c] = 0;
    }
    perop_tile[tile] = mask;
}
#endif

/* One tile on all cores, each stage ending at a barrier (``sync``); returns the end time. */
static uint32_t serial_tile(uint32_t tile, uint32_t id, uint32_t nc, uint32_t t, int sync)
{
    const uint32_t half = HALVES && (tile & 1) ? BQ * SS / 2 : 0;   /* no multiplication */
    uint16_t *sb = sbuf + half, *pb = pbuf + half;
    uint32_t q0 = tile * BQ, rows = tile_rows(tile);
    matmul(ROW(q, q0, QS), QS, ident, QS, qsbuf, QS, rows, HD, HD, id, nc);
    matmul_wait(id);
#if PEROP
    uint32_t flag = 0;
    perop_jobs(ROW(q, q0, QS), QS, pid_chk, HD, qsbuf, QS, HD, rows, id, nc, sync);
    flag |= perop_rows(rows, PEROP_FQ, perop_tol_q + q0, 0, id, nc, PEROP_SCALE);
#endif
    t = tile_stage_end(sync, id, ST_SCALE, t);
    for (uint32_t c = 0; c < NCH; c++)
        matmul(qsbuf, QS, kt + c * BK, KTS, sb + c * BK, SS, rows, BK, HD, id, nc);
    matmul_wait(id);
#if PEROP
    perop_jobs(qsbuf, QS, pk_chk, HD, sb, SS, SEQ, rows, id, nc, sync);
    flag |= perop_rows(rows, PEROP_FS, perop_tol_s + q0, 0, id, nc, PEROP_QK);
#endif
    t = tile_stage_end(sync, id, ST_QK, t);
#if MASK
    /* after every core's rows of S (GEMM_SW), before any core's softmax (SOFTMAX_SW) */
    if (id == 0)
        mask_scores(sb, q0, rows);
    t = tile_stage_end(sync, id, ST_QK, t);
#endif
    softmax_checked(sb, pb, rows, id, nc);
#if PEROP
    if (sync)
        barrier();                  /* run B complete before the other cores compare */
    flag |= perop_softmax(pb, rows, id, nc);
#endif
    t = tile_stage_end(sync, id, ST_SOFTMAX, t);
    matmul(pb, SS, v, VS, ROW(o, q0, OS), OS, rows, HD, SEQ, id, nc);
    matmul_wait(id);
#if PEROP
    perop_jobs(pb, SS, pv_chk, SEQ, ROW(o, q0, OS), OS, HD, rows, id, nc, sync);
    flag |= perop_rows(rows, PEROP_FO, 0, PEROP_TOL_O, id, nc, PEROP_PV);
    perop_flag[id] = flag;
#endif
    t = tile_stage_end(sync, id, ST_PV, t);
#if PEROP
    if (id == 0)
        perop_collect(tile, sync ? nc : 1);
#endif
    return t;
}

/* Every tile in turn on all cores; returns the end time. */
static uint32_t serial_tiles(uint32_t id, uint32_t nc, uint32_t t)
{
    for (uint32_t tile = 0; tile < N_TILES; tile++)
        t = serial_tile(tile, id, nc, t, 1);
    return t;
}

#if PEROP
/* After the tiles (core 0 alone): every tile with a failed check recomputed, at most
 * ABFT_ROUNDS times; the outcome into abft_result; returns the exit code part. */
static uint32_t perop_repair(void)
{
    uint32_t r0 = (uint32_t)cycles(), first = 0, last = 0, recomputed = 0;
    for (uint32_t tile = 0; tile < N_TILES; tile++)
        first |= perop_tile[tile];
#if ABFT_CORRECT
    for (uint32_t tile = 0; tile < N_TILES; tile++)
        for (int round = 0; perop_tile[tile] && round < ABFT_ROUNDS; round++) {
            serial_tile(tile, 0, 1, 0, 0);
            recomputed++;
        }
#endif
    for (uint32_t tile = 0; tile < N_TILES; tile++)
        last |= perop_tile[tile];
    abft_result[ABFT_RESULT_FIRST] = first;
    abft_result[ABFT_RESULT_CORRECTED] = 0;
    abft_result[ABFT_RESULT_RECOMPUTED] = recomputed;
    abft_result[ABFT_RESULT_VERDICT] = last;
    abft_result[ABFT_RESULT_CYCLES] = (uint32_t)cycles() - r0;
    return last ? 0x400u : 0;
}
#endif

#if PIPELINE
/* Tiles whose scores (written by core 1) / probabilities (core 0) are complete. */
static volatile uint32_t scores_done, probs_done;

static void wait_for(volatile uint32_t *count, uint32_t n)
{
    while (*count < n) {}
}

/* Book the cycles since t0 to `stage` (each stage has one driving core: one writer). */
static void book(int stage, uint32_t t0)
{
    stage_cycles[stage] += (uint32_t)cycles() - t0;
}

/* One tensor job to completion on the driving core; its cycles booked to `stage`. */
static void tensor_stage(int stage, const uint16_t *x, uint32_t xs, const uint16_t *w,
                         uint32_t ws, uint16_t *z, uint32_t zs, uint32_t m, uint32_t n,
                         uint32_t k)
{
    uint32_t t0 = (uint32_t)cycles();
    tensor_matmul(x, xs, w, ws, z, zs, m, n, k);
    hwpe_wait_idle(SYS_TENSOR_BASE);
    book(stage, t0);
}

/* The tiles overlapped on two cores. Half h = tile % 2 of sbuf / pbuf belongs to one tile at a
 * time: core 1 writes scores of tile t into sbuf half t % 2 only after it has run pv of tile
 * t - 1, which waited for the probabilities of tile t - 1, so softmax of tile t - 2 (the last
 * reader of that half) is complete; core 0 writes probabilities of tile t into pbuf half t % 2
 * only after the scores of tile t, which core 1 publishes after pv of tile t - 2 (the last
 * reader of that half). Cores above 1 only wait at the final barrier. */
static void pipelined_tiles(uint32_t id)
{
    const uint32_t half = BQ * SS / 2;                  /* uint16_t elements of one half */
    if (id == 1) {
        for (uint32_t tile = 0; tile <= N_TILES; tile++) {
            if (tile < N_TILES) {
                uint32_t rows = tile_rows(tile);
                uint16_t *sb = sbuf + ((tile & 1) ? half : 0);
                tensor_stage(ST_SCALE, ROW(q, tile * BQ, QS), QS, ident, QS, qsbuf, QS, rows,
                             HD, HD);
                uint32_t t0 = (uint32_t)cycles();
                for (uint32_t c = 0; c < NCH; c++)
                    tensor_matmul(qsbuf, QS, kt + c * BK, KTS, sb + c * BK, SS, rows, BK, HD);
                hwpe_wait_idle(SYS_TENSOR_BASE);
#if MASK
                mask_scores(sb, tile * BQ, rows);
#endif
                book(ST_QK, t0);
                scores_done = tile + 1;
            }
            if (tile > 0) {
                uint32_t prev = tile - 1;
                wait_for(&probs_done, tile);
                tensor_stage(ST_PV, pbuf + ((prev & 1) ? half : 0), SS, v, VS,
                             ROW(o, prev * BQ, OS), OS, tile_rows(prev), HD, SEQ);
            }
        }
    } else if (id == 0) {
        for (uint32_t tile = 0; tile < N_TILES; tile++) {
            wait_for(&scores_done, tile + 1);
            uint32_t t0 = (uint32_t)cycles();
            softmax_checked(sbuf + ((tile & 1) ? half : 0), pbuf + ((tile & 1) ? half : 0),
                            tile_rows(tile), id, 1);
            book(ST_SOFTMAX, t0);
            probs_done = tile + 1;
        }
    }
    barrier();
}
#endif

#if ABFT
/* One checker job on the head's descriptor to its end; returns its error cause. */
static uint32_t abft_job(uint32_t op, uint32_t tile_reg)
{
    return abft_run_job(op, abft_desc, tile_reg);
}

/* The buffer addresses of the descriptor (the host wrote its numbers). */
static void abft_describe(void)
{
    abft_desc[ABFT_DESC_QS_ADDR] = (uint32_t)qsbuf;
    abft_desc[ABFT_DESC_S_ADDR] = (uint32_t)sbuf;
    abft_desc[ABFT_DESC_P_ADDR] = (uint32_t)pbuf;
    abft_desc[ABFT_DESC_PB_ADDR] = (uint32_t)pbb;
    abft_desc[ABFT_DESC_O_ADDR] = (uint32_t)o;
    abft_desc[ABFT_DESC_KBAR_ADDR] = (uint32_t)abft_kbar;
    abft_desc[ABFT_DESC_VBAR_ADDR] = (uint32_t)abft_vbar;
    abft_desc[ABFT_DESC_QSUM_ADDR] = (uint32_t)abft_qsum;
    abft_desc[ABFT_DESC_REPORT_ADDR] = (uint32_t)abft_report;
}

#if ABFT_CORRECT
static uint32_t *tile_entry(uint32_t tile)
{
    return abft_tile_entry(abft_report, tile);
}

/* A tile whose only failure is its O word sums: the one word they locate corrected in place;
 * returns 1 on success. */
static int abft_fix_word(uint32_t tile)
{
    uint32_t row, col;
    int32_t delta;
    if (!abft_locate(tile_entry(tile), tile_rows(tile), HD, &row, &col, &delta))
        return 0;
    uint16_t *w = ROW(o, tile * BQ + row, OS) + col;
    *w = (uint16_t)(*w - (uint16_t)delta);
    return 1;
}
#endif

/* VERIFY, then repairs and VERIFY again; the verdicts go to abft_result (ABFT_RESULT_*:
 * the first verdict's causes, O words corrected, tiles recomputed, the last verdict's causes,
 * the checker's cycles: ARM, VERIFY, repairs); returns the exit code part. */
static uint32_t abft_verify(uint32_t id, uint32_t nc, uint32_t arm_cycles)
{
    uint32_t v0 = (uint32_t)cycles();
    uint32_t err = abft_job(ABFT_COMMAND_OP_VERIFY, 0), first = abft_report[ABFT_REPORT_CAUSES];
    uint32_t corrected = 0, recomputed = 0;
#if ABFT_CORRECT
    for (int round = 0; err == ABFT_ERR_CHECK_FAILED && round < ABFT_ROUNDS; round++) {
        for (uint32_t tile = 0; tile < N_TILES; tile++) {
            uint32_t causes = tile_entry(tile)[ABFT_TILE_CAUSES];
            if (!causes)
                continue;
            if (causes == ABFT_CAUSE_O_SIGNATURE && abft_fix_word(tile)) {
                corrected++;
                continue;
            }
            uint32_t job = abft_job(ABFT_COMMAND_OP_RETILE,
                                    tile | (tile * BQ) << ABFT_TILE_ROW0_SHIFT);
            if (job) {
                err = job;
                break;
            }
            serial_tile(tile, id, nc, 0, 0);
            recomputed++;
        }
        if (err == ABFT_ERR_CHECK_FAILED)
            err = abft_job(ABFT_COMMAND_OP_VERIFY, 0);
    }
#endif
    abft_result[ABFT_RESULT_FIRST] = first;
    abft_result[ABFT_RESULT_CORRECTED] = corrected;
    abft_result[ABFT_RESULT_RECOMPUTED] = recomputed;
    abft_result[ABFT_RESULT_VERDICT] = err ? abft_report[ABFT_REPORT_CAUSES] : 0;
    abft_result[ABFT_RESULT_CYCLES] = arm_cycles + (uint32_t)cycles() - v0;
    if (err && err != ABFT_ERR_CHECK_FAILED)
        return 0x300u | err;
    return err ? 0x400u : 0;
}
#endif

int main(void)
{
    uint32_t id = core_id(), nc = n_cores();
    if (id == 0)                                    /* 2^-SHIFT on the diagonal (.bss is 0) */
        for (uint32_t i = 0; i < HD; i++)
            ROW(ident, i, QS)[i] = (uint16_t)((127u - SHIFT) << 7);
#if ABFT
    uint32_t abft_err = 0, a0 = (uint32_t)cycles(), a_cycles = 0;
    if (id == 0) {
        abft_describe();
        abft_err = abft_job(ABFT_COMMAND_OP_ARM, 0);
        a_cycles = (uint32_t)cycles() - a0;
    }
#endif
    barrier();
    uint32_t start = (uint32_t)cycles(), t;
#if PIPELINE
    if (nc >= 2) {
        pipelined_tiles(id);
        t = (uint32_t)cycles();
    } else
#endif
        t = serial_tiles(id, nc, start);
    if (id != 0)
        return 0;
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
    head_cycles = t - start;
#if STAGE_REPORT
    for (int s = 0; s < N_STAGES; s++) {
        hal_puts("stage ");
        hal_puts(stage_name[s]);
        hal_puts(" cycles ");
        hal_putdec(stage_cycles[s]);
        hal_putc('\n');
    }
    hal_puts("total cycles ");
    hal_putdec(head_cycles);
    hal_putc('\n');
#endif
#if ABFT && defined(ABFT_PLANT_ROW)
    /* A planted fault (make sim's demonstration): one bit of one O word flipped after the
     * tiles, as a particle strike in the scratchpad would. */
    ROW(o, ABFT_PLANT_ROW, OS)[ABFT_PLANT_COL] ^= (uint16_t)(1u << ABFT_PLANT_BIT);
#endif
#if PEROP
    if (!err)
        err = perop_repair();
#endif
#if ABFT
    /* VERIFY last: a fault in O after it is read back cannot be seen, so nothing but the
     * exit follows it (its verdict goes to abft_result, not to the mailbox). */
    if (!err)
        err = abft_err ? 0x300u | abft_err : abft_verify(id, 1, a_cycles);
#endif
#if O_DIGEST
    /* For a host that sees only the text (a board's serial port): O's Fletcher-32 over its
     * BF16 words, row by row (sim.attention.o_digest); after the head, not in its cycles. */
    uint32_t s1 = 0, s2 = 0;
    for (uint32_t r = 0; r < SEQ; r++) {
        const uint16_t *row = ROW(o, r, OS);
        for (uint32_t c = 0; c < HD; c++) {
            s1 += row[c];
            if (s1 >= 65535u)
                s1 -= 65535u;
            s2 += s1;
            if (s2 >= 65535u)
                s2 -= 65535u;
        }
    }
    hal_puts("o fletcher32 ");
    hal_puthex((s2 << 16) | s1);
    hal_putc('\n');
#endif
    return err;
}
