/*
 * dist_internal.h - the asynchronous gradient allreduce the trainer uses (src/dist/dist.c): buckets of the
 * gradient arena start summing (MPI_Iallreduce) as soon as the backward has written them, and the trainer waits
 * for all of them before it checks and applies the gradients. Library-internal.
 */
#ifndef RE_DIST_INTERNAL_H
#define RE_DIST_INTERNAL_H

#include "reenact/dist.h"

/* Starts the in-place sum over all ranks of buf[0..n) (f32; rounded through bf16 when p is RE_GRAD_BF16). buf must
 * not be touched until re_dist_grad_wait. */
re_status re_dist_grad_start(re_dist *d, float *buf, size_t n, re_grad_precision p);
/* Lets started sums progress (MPI_Testall); cheap, called between layers of the backward. */
void re_dist_grad_progress(re_dist *d);
/* Waits for every started sum. */
re_status re_dist_grad_wait(re_dist *d);

#endif
