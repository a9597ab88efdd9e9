/* Words of an app's abft_result (sim.attention.ABFT_RESULT): the first verdict's causes, the
 * output words corrected, the tiles (or jobs) recomputed, the last verdict's causes, the
 * checker's cycles (ARM, VERIFY, repairs), or under per-operation protection the cores'. */
#ifndef LIB_ABFT_RESULT_H
#define LIB_ABFT_RESULT_H

enum { ABFT_RESULT_FIRST, ABFT_RESULT_CORRECTED, ABFT_RESULT_RECOMPUTED, ABFT_RESULT_VERDICT,
       ABFT_RESULT_CYCLES, ABFT_RESULT_WORDS };

#endif /* LIB_ABFT_RESULT_H */
