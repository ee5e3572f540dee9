/*
 * dist.h - data-parallel training across processes and machines on MPI (docs/ARCH.md "Training on several
 * machines"). One re_dist is one MPI world; a trainer given one (re_train_opts.dist) computes its rank's equal share
 * of every global batch and sums gradients and BatchNorm statistics across ranks, so N ranks train the model that
 * one process would (up to the order of floating-point sums).
 *
 *   re_dist *d = NULL;
 *   if (re_dist_launcher_size() > 1 && re_dist_mpi_open(&d, &argc, &argv) != RE_OK) { report re_last_error() }
 *   re_train_opts o; re_train_opts_default(&o, RE_MODE_VAEGAN); o.dist = d;   // batch stays the global batch
 *   ... re_trainer_create / re_trainer_step on the global batch x (every rank passes the same x) ...
 *   re_dist_close(d);
 *
 * The library never ends a process: on a fatal error under MPI the caller decides (re_dist_abort ends every rank).
 * Built without MPI (-DRE_WITH_MPI=OFF) re_dist_mpi_open fails with RE_ERR_UNSUPPORTED.
 */
#ifndef REENACT_DIST_H
#define REENACT_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "reenact/reenact.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct re_dist re_dist;

/* Precision of the gradient allreduce: F32 (default, exact sums of the ranks' f32 gradients) or BF16 (half the
 * bytes on the wire; each bucket is rounded to bf16 before the sum and the sum is rounded again). */
typedef enum re_grad_precision { RE_GRAD_F32 = 0, RE_GRAD_BF16 = 1 } re_grad_precision;

/* The number of processes the MPI launcher started (OMPI_COMM_WORLD_SIZE, PMI_SIZE or MV2_COMM_WORLD_SIZE in the
 * environment), without initializing MPI; 1 when not launched by one. */
RE_API int re_dist_launcher_size(void);
/* 1 when this build has MPI. */
RE_API int re_dist_have_mpi(void);

/* Initializes MPI (MPI_Init_thread, funneled: every call comes from the caller's thread) and opens its world.
 * RE_ERR_UNSUPPORTED: built without MPI. */
RE_API re_status re_dist_mpi_open(re_dist **out, int *argc, char ***argv);
/* Finalizes MPI (NULL is fine). */
RE_API void re_dist_close(re_dist *d);
/* Ends every rank of the job with this exit code (MPI_Abort). For a fatal error after which the other ranks
 * would wait for this one forever. Does not return. */
RE_API void re_dist_abort(re_dist *d, int code);

RE_API int re_dist_rank(const re_dist *d);   /* 0 for NULL */
RE_API int re_dist_size(const re_dist *d);   /* 1 for NULL */
/* The processor (host) name of this rank. */
RE_API const char *re_dist_host(const re_dist *d);

/* Blocking collectives on every rank of the world (NULL d: one process, nothing to do). */
RE_API re_status re_dist_sum_f64(re_dist *d, double *buf, size_t n);        /* in place */
RE_API re_status re_dist_max_i64(re_dist *d, int64_t *buf, size_t n);       /* in place */
/* RE_OK when v is the same on every rank; RE_ERR_CONFIG naming `what` and the ranks' range otherwise. */
RE_API re_status re_dist_check_same(re_dist *d, uint64_t v, const char *what);
/* Waits until every rank arrives. */
RE_API re_status re_dist_barrier(re_dist *d);

/* Seconds this rank spent in gradient allreduces (waiting included) and their count, since the last reset. */
typedef struct re_dist_stats {
    double allreduce_s;       /* time inside the gradient allreduce calls and their final wait */
    double wait_s;            /* of which: blocked in the final wait (the part not hidden behind the backward) */
    uint64_t buckets, bytes;  /* gradient buckets started and their bytes on this rank */
} re_dist_stats;
RE_API void re_dist_get_stats(const re_dist *d, re_dist_stats *st);
RE_API void re_dist_reset_stats(re_dist *d);

#ifdef __cplusplus
}
#endif
#endif
