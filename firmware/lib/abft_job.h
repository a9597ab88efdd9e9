/* The Flash-ABFT checker from the firmware (docs/abft.md): one job to its end, and the one
 * corrupted output word a tile's report entry locates (its weighted residuals divided by the
 * plain one), for attention.c and gemm_abft.c. */
#ifndef LIB_ABFT_JOB_H
#define LIB_ABFT_JOB_H

#include "hal.h"
#include "abft.h"
#include "abft_layout.h"
#include "system.h"
#include "lib/abft_result.h"

/* One checker job (COMMAND.OP = op, the descriptor at desc, TILE = tile_reg) to its end;
 * returns its error cause (cleared). */
static inline uint32_t abft_run_job(uint32_t op, const uint32_t *desc, uint32_t tile_reg)
{
    uintptr_t b = SYS_ABFT_BASE;
    hwpe_acquire(b);
    abft_write_command(b, op);
    abft_write_desc_addr(b, (uint32_t)desc);
    abft_write_tile(b, tile_reg);
    hwpe_trigger(b);
    hwpe_wait_idle(b);
    uint32_t err = abft_read_error(b) & 0xFFu;
    if (err)
        abft_clear_error(b);
    return err;
}

/* a / b for b != 0 (no M extension: shift and subtract); *ok = 0 when b does not divide a. */
static inline int32_t abft_divide_exact(int32_t a, int32_t b, int *ok)
{
    int neg = (a < 0) != (b < 0);
    uint32_t n = (uint32_t)(a < 0 ? -a : a), d = (uint32_t)(b < 0 ? -b : b), q = 0, r = 0;
    for (int i = 31; i >= 0; i--) {
        r = (r << 1) | ((n >> i) & 1u);
        if (r >= d) {
            r -= d;
            q |= 1u << i;
        }
    }
    *ok = r == 0;
    return neg ? -(int32_t)q : (int32_t)q;
}

/* The report entry of tile `tile` in `report`. */
static inline uint32_t *abft_tile_entry(uint32_t *report, uint32_t tile)
{
    uint32_t *e = report + ABFT_REPORT_TILES;
    for (uint32_t i = 0; i < tile; i++)
        e += ABFT_TILE_WORDS;
    return e;
}

/* The one word a report entry's residuals locate in a rows x cols block: its row, column and
 * change (read back minus written); returns 0 when they are not those of one word inside it. */
static inline int abft_locate(const uint32_t *e, uint32_t rows, uint32_t cols, uint32_t *row,
                              uint32_t *col, int32_t *delta)
{
    int32_t plain = (int32_t)e[ABFT_TILE_RES_PLAIN];
    int ok_r, ok_c;
    if (plain == 0 || plain >= 65536 || plain <= -65536)
        return 0;
    int32_t r = abft_divide_exact((int32_t)e[ABFT_TILE_RES_ROW], plain, &ok_r);
    int32_t c = abft_divide_exact((int32_t)e[ABFT_TILE_RES_COL], plain, &ok_c);
    if (!ok_r || !ok_c || r < 0 || c < 0 || (uint32_t)r >= rows || (uint32_t)c >= cols)
        return 0;
    *row = (uint32_t)r;
    *col = (uint32_t)c;
    *delta = plain;
    return 1;
}

#endif /* LIB_ABFT_JOB_H */
