/*
 * dist.c - the MPI world of data-parallel training (include/reenact/dist.h) and the asynchronous gradient
 * allreduce (dist_internal.h). Built with MPI when RE_HAVE_MPI is defined (CMake RE_WITH_MPI, default ON when
 * libopenmpi-dev is installed); without it every entry point that needs MPI fails with RE_ERR_UNSUPPORTED, and a
 * NULL re_dist means one process everywhere.
 *
 * Errors: the world's error handler is MPI_ERRORS_RETURN, so a failed call comes back as RE_ERR_IO with MPI's
 * message. A rank that dies is noticed by the launcher (mpirun ends the job); the library never exits on its own.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "dist/dist_internal.h"

int re_dist_launcher_size(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (end != v && !*end && n >= 1 && n <= 1 << 20) return (int)n;
        }
    }
    return 1;
}

#ifdef RE_HAVE_MPI
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#include <mpi.h>

typedef struct pending {
    MPI_Request req;
    float *buf;          /* the gradients being summed */
    uint16_t *stage;     /* bf16 copy (RE_GRAD_BF16), else NULL */
    size_t n;
} pending;

struct re_dist {
    MPI_Comm comm;
    int rank, size;
    char host[MPI_MAX_PROCESSOR_NAME + 1];
    MPI_Op bf16_sum;
    pending *pend;
    size_t n_pend, cap_pend;
    re_dist_stats st;
};

int re_dist_have_mpi(void) { return 1; }

static re_status mpi_fail(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING + 1];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) len = 0;
    msg[len] = 0;
    return re_fail(RE_ERR_IO, "MPI: %s failed: %s", what, len ? msg : "unknown error");
}

static inline float bf2f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static inline uint16_t f2bf(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                         /* round to nearest even */
    return (uint16_t)(u >> 16);
}

/* MPI user op: inout = bf16(in + inout), elementwise over bf16 values carried as MPI_UINT16_T. */
static void bf16_sum_op(void *in, void *inout, int *len, MPI_Datatype *dt) {
    (void)dt;
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < *len; i++) b[i] = f2bf(bf2f(a[i]) + bf2f(b[i]));
}

re_status re_dist_mpi_open(re_dist **out, int *argc, char ***argv) {
    *out = NULL;
    int inited = 0, provided = 0, rc;
    MPI_Initialized(&inited);
    if (!inited && (rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS)
        return re_fail(RE_ERR_IO, "MPI: MPI_Init_thread failed (code %d)", rc);
    re_dist *d = calloc(1, sizeof *d);
    if (!d) return re_fail(RE_ERR_NOMEM, "MPI: out of memory");
    d->comm = MPI_COMM_WORLD;
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    int len = 0;
    if (MPI_Get_processor_name(d->host, &len) != MPI_SUCCESS) len = 0;
    d->host[len] = 0;
    if ((rc = MPI_Op_create(bf16_sum_op, 1, &d->bf16_sum)) != MPI_SUCCESS) {
        free(d);
        return mpi_fail(rc, "MPI_Op_create");
    }
    *out = d;
    return RE_OK;
}

void re_dist_close(re_dist *d) {
    if (!d) return;
    re_dist_grad_wait(d);
    MPI_Op_free(&d->bf16_sum);
    free(d->pend);
    free(d);
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

void re_dist_abort(re_dist *d, int code) {
    MPI_Abort(d ? d->comm : MPI_COMM_WORLD, code ? code : 1);
    abort(); /* not reached */
}

int re_dist_rank(const re_dist *d) { return d ? d->rank : 0; }
int re_dist_size(const re_dist *d) { return d ? d->size : 1; }
const char *re_dist_host(const re_dist *d) { return d ? d->host : "localhost"; }

re_status re_dist_sum_f64(re_dist *d, double *buf, size_t n) {
    if (!d || d->size == 1 || !n) return RE_OK;
    if (n > (size_t)INT32_MAX) return re_fail(RE_ERR_ARG, "MPI: sum of %zu values", n);
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, d->comm);
    return rc == MPI_SUCCESS ? RE_OK : mpi_fail(rc, "MPI_Allreduce (sum)");
}

re_status re_dist_max_i64(re_dist *d, int64_t *buf, size_t n) {
    if (!d || d->size == 1 || !n) return RE_OK;
    if (n > (size_t)INT32_MAX) return re_fail(RE_ERR_ARG, "MPI: max of %zu values", n);
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_INT64_T, MPI_MAX, d->comm);
    return rc == MPI_SUCCESS ? RE_OK : mpi_fail(rc, "MPI_Allreduce (max)");
}

re_status re_dist_check_same(re_dist *d, uint64_t v, const char *what) {
    if (!d || d->size == 1) return RE_OK;
    uint64_t mm[2] = {v, ~v};
    int rc = MPI_Allreduce(MPI_IN_PLACE, mm, 2, MPI_UINT64_T, MPI_MIN, d->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Allreduce (check)");
    if (mm[0] != ~mm[1])
        return re_fail(RE_ERR_CONFIG, "ranks disagree on %s (values from %016llx to %016llx; this rank %d has %016llx)",
                       what, (unsigned long long)mm[0], (unsigned long long)~mm[1], d->rank, (unsigned long long)v);
    return RE_OK;
}

re_status re_dist_barrier(re_dist *d) {
    if (!d || d->size == 1) return RE_OK;
    int rc = MPI_Barrier(d->comm);
    return rc == MPI_SUCCESS ? RE_OK : mpi_fail(rc, "MPI_Barrier");
}

re_status re_dist_grad_start(re_dist *d, float *buf, size_t n, re_grad_precision p) {
    if (!d || d->size == 1 || !n) return RE_OK;
    if (n > (size_t)INT32_MAX) return re_fail(RE_ERR_ARG, "MPI: gradient bucket of %zu values", n);
    double t0 = now_s();
    if (d->n_pend == d->cap_pend) {
        size_t cap = d->cap_pend ? 2 * d->cap_pend : 64;
        pending *np = realloc(d->pend, cap * sizeof *np);
        if (!np) return re_fail(RE_ERR_NOMEM, "MPI: out of memory");
        d->pend = np;
        d->cap_pend = cap;
    }
    pending *q = &d->pend[d->n_pend];
    q->buf = buf;
    q->n = n;
    q->stage = NULL;
    int rc;
    if (p == RE_GRAD_BF16) {
        q->stage = malloc(n * sizeof *q->stage);
        if (!q->stage) return re_fail(RE_ERR_NOMEM, "MPI: out of memory for a bf16 bucket");
        for (size_t i = 0; i < n; i++) q->stage[i] = f2bf(buf[i]);
        rc = MPI_Iallreduce(MPI_IN_PLACE, q->stage, (int)n, MPI_UINT16_T, d->bf16_sum, d->comm, &q->req);
    } else {
        rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, d->comm, &q->req);
    }
    if (rc != MPI_SUCCESS) {
        free(q->stage);
        return mpi_fail(rc, "MPI_Iallreduce (gradients)");
    }
    d->n_pend++;
    d->st.buckets++;
    d->st.bytes += n * (p == RE_GRAD_BF16 ? 2 : 4);
    d->st.allreduce_s += now_s() - t0;
    return RE_OK;
}

void re_dist_grad_progress(re_dist *d) {
    if (!d || !d->n_pend) return;
    double t0 = now_s();
    int flag = 0;
    for (size_t i = 0; i < d->n_pend; i++) MPI_Test(&d->pend[i].req, &flag, MPI_STATUS_IGNORE);
    d->st.allreduce_s += now_s() - t0;
}

re_status re_dist_grad_wait(re_dist *d) {
    if (!d || !d->n_pend) return RE_OK;
    double t0 = now_s();
    re_status s = RE_OK;
    for (size_t i = 0; i < d->n_pend; i++) {
        pending *q = &d->pend[i];
        int rc = MPI_Wait(&q->req, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS && !s) s = mpi_fail(rc, "MPI_Wait (gradients)");
        if (q->stage) {
            if (!s)
                for (size_t k = 0; k < q->n; k++) q->buf[k] = bf2f(q->stage[k]);
            free(q->stage);
        }
    }
    d->n_pend = 0;
    double dt = now_s() - t0;
    d->st.allreduce_s += dt;
    d->st.wait_s += dt;
    return s;
}

void re_dist_get_stats(const re_dist *d, re_dist_stats *st) {
    if (d) *st = d->st;
    else memset(st, 0, sizeof *st);
}
void re_dist_reset_stats(re_dist *d) {
    if (d) memset(&d->st, 0, sizeof d->st);
}

#else /* no MPI in this build */

struct re_dist { int unused; };

int re_dist_have_mpi(void) { return 0; }
re_status re_dist_mpi_open(re_dist **out, int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    *out = NULL;
    return re_fail(RE_ERR_UNSUPPORTED, "MPI is not compiled into this build (configure with -DRE_WITH_MPI=ON and "
                   "libopenmpi-dev installed)");
}
void re_dist_close(re_dist *d) { (void)d; }
void re_dist_abort(re_dist *d, int code) {
    (void)d;
    (void)code;
    abort(); /* unreachable: no re_dist exists without MPI */
}
int re_dist_rank(const re_dist *d) { (void)d; return 0; }
int re_dist_size(const re_dist *d) { (void)d; return 1; }
const char *re_dist_host(const re_dist *d) { (void)d; return "localhost"; }
re_status re_dist_sum_f64(re_dist *d, double *buf, size_t n) { (void)d; (void)buf; (void)n; return RE_OK; }
re_status re_dist_max_i64(re_dist *d, int64_t *buf, size_t n) { (void)d; (void)buf; (void)n; return RE_OK; }
re_status re_dist_check_same(re_dist *d, uint64_t v, const char *what) { (void)d; (void)v; (void)what; return RE_OK; }
re_status re_dist_barrier(re_dist *d) { (void)d; return RE_OK; }
re_status re_dist_grad_start(re_dist *d, float *buf, size_t n, re_grad_precision p) {
    (void)d; (void)buf; (void)n; (void)p;
    return RE_OK;
}
void re_dist_grad_progress(re_dist *d) { (void)d; }
re_status re_dist_grad_wait(re_dist *d) { (void)d; return RE_OK; }
void re_dist_get_stats(const re_dist *d, re_dist_stats *st) { (void)d; memset(st, 0, sizeof *st); }
void re_dist_reset_stats(re_dist *d) { (void)d; }

#endif
