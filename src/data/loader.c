/*
 * loader.c - the streaming batch loader over a packed dataset: a held-out validation split (whole groups when there
 * are several), seeded per-epoch shuffling, flip augmentation, and a prefetch thread; its state is (epoch, pos).
 * API and contracts: include/reenact/data.h; the split and order rules: docs/FORMAT.md "Loader".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "data/dataset_internal.h"
#include "reenact/data.h"

/* Stateless 64-bit mix (splitmix64 finalizer): flips and per-epoch seeds are pure functions of their inputs. */
static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
#define SALT_SPLIT 0x53504c4954ull     /* "SPLIT" */
#define SALT_SHUFFLE 0x5348554646ull   /* "SHUFF" */
#define SALT_FLIP 0x464c4950ull        /* "FLIP" */

typedef struct loader_slot {
    float *x;
    re_loader_batch_info info;
    re_loader_state after;   /* state once this batch is consumed */
    re_status st;
    char err[512];
} loader_slot;

struct re_loader {
    re_dataset *ds;
    re_loader_opts o;
    uint32_t *train, *val;
    uint64_t n_train, n_val, bpe;
    size_t img_floats, batch_floats;
    /* producer side (the prefetch thread, or the caller when prefetch == 0) */
    uint32_t *perm;
    uint64_t perm_epoch;     /* epoch perm was built for; UINT64_MAX: none */
    uint8_t *rbuf;           /* one record */
    re_loader_state prod;
    /* consumer side */
    re_loader_state cons;
    /* prefetch ring */
    int nslots;
    loader_slot *slots;
    uint64_t head, tail;     /* batches consumed / produced since the last (re)start */
    int stop, running;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_ok;             /* mutex and cond initialized */
};

void re_loader_opts_default(re_loader_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch = 64;
    o->seed = 1;
    o->shuffle = 1;
    o->flip = 0;
    o->val_fraction = 0.05;
    o->prefetch = 2;
}

/* perm = the training records in epoch `epoch`'s order. */
static void build_perm(const re_loader *l, uint32_t *perm, uint64_t epoch) {
    memcpy(perm, l->train, l->n_train * sizeof *perm);
    if (l->o.shuffle) {
        re_rng r;
        re_rng_seed(&r, mix64(l->o.seed ^ SALT_SHUFFLE) ^ mix64(epoch));
        for (uint64_t i = l->n_train - 1; i > 0; i--) {
            uint64_t j = re_rng_below(&r, i + 1);
            uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
    }
}

static int flip_of(const re_loader *l, uint64_t epoch, uint64_t pos) {
    if (!l->o.flip) return 0;
    return (int)(mix64(mix64(l->o.seed ^ SALT_FLIP) ^ mix64(epoch * 0x100000001b3ull + 1) ^ pos) >> 63);
}

/* Produce the batch at state *ps into x and advance *ps. */
static re_status produce(re_loader *l, re_loader_state *ps, float *x, re_loader_batch_info *info) {
    const uint64_t B = (uint64_t)l->o.batch;
    if (l->perm_epoch != ps->epoch) {
        build_perm(l, l->perm, ps->epoch);
        l->perm_epoch = ps->epoch;
    }
    for (uint64_t k = 0; k < B; k++) {
        uint64_t p = ps->pos + k;
        re_status s = re_dataset_read_chw_buf(l->ds, l->perm[p], flip_of(l, ps->epoch, p), x + k * l->img_floats, l->rbuf);
        if (s) return s;
    }
    info->epoch = ps->epoch;
    info->index = ps->pos / B;
    info->last_in_epoch = info->index + 1 == l->bpe;
    ps->pos += B;
    if (ps->pos >= l->bpe * B) {
        ps->epoch++;
        ps->pos = 0;
    }
    return RE_OK;
}

static void *loader_thread(void *arg) {
    re_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->tail - l->head >= (uint64_t)l->nslots) pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop) break;
        loader_slot *sl = &l->slots[l->tail % (uint64_t)l->nslots];
        re_loader_state ps = l->prod;
        pthread_mutex_unlock(&l->mu);
        sl->st = produce(l, &ps, sl->x, &sl->info);
        if (sl->st) snprintf(sl->err, sizeof sl->err, "%s", re_last_error());
        sl->after = ps;
        pthread_mutex_lock(&l->mu);
        if (sl->st == RE_OK) l->prod = ps;
        l->tail++;
        pthread_cond_broadcast(&l->cv);
        if (sl->st) {
            /* Stop producing after an error; the consumer reports it and may restart via set_state. */
            while (!l->stop) pthread_cond_wait(&l->cv, &l->mu);
            break;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void loader_stop(re_loader *l) {
    if (!l->running) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->th, NULL);
    l->running = 0;
}

static re_status loader_start(re_loader *l) {
    l->head = l->tail = 0;
    l->stop = 0;
    l->prod = l->cons;
    if (l->o.prefetch <= 0) return RE_OK;
    int rc = pthread_create(&l->th, NULL, loader_thread, l);
    if (rc != 0) return re_fail(RE_ERR_IO, "loader: cannot start the prefetch thread: %s", strerror(rc));
    l->running = 1;
    return RE_OK;
}

/* Validation split; fills l->train / l->val in file order. */
static re_status split(re_loader *l) {
    re_dataset *ds = l->ds;
    const uint64_t n = ds->h.count;
    const uint32_t G = ds->h.n_groups;
    re_status s = RE_OK;
    uint8_t *is_val = calloc((size_t)n, 1);
    uint32_t *order = NULL;
    uint64_t *gcount = NULL;
    if (!is_val) return re_fail(RE_ERR_NOMEM, "loader: out of memory for the split of %llu records",
                                (unsigned long long)n);
    re_rng r;
    re_rng_seed(&r, mix64(l->o.seed ^ SALT_SPLIT));
    const double target = l->o.val_fraction * (double)n;
    if (l->o.val_fraction > 0 && G >= 2) {
        order = malloc((size_t)G * sizeof *order);
        gcount = calloc(G, sizeof *gcount);
        uint8_t *gval = NULL;
        if (!order || !gcount) { s = re_fail(RE_ERR_NOMEM, "loader: out of memory for the group split"); goto done; }
        for (uint64_t i = 0; i < n; i++) gcount[ds->group_ids[i]]++;
        for (uint32_t g = 0; g < G; g++) order[g] = g;
        for (uint32_t i = G - 1; i > 0; i--) {
            uint32_t j = (uint32_t)re_rng_below(&r, (uint64_t)i + 1);
            uint32_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        gval = calloc(G, 1);
        if (!gval) { s = re_fail(RE_ERR_NOMEM, "loader: out of memory for the group split"); goto done; }
        uint64_t taken = 0;
        for (uint32_t k = 0; k + 1 < G && (double)taken < target; k++) {   /* leave >= 1 group for training */
            if (gcount[order[k]] == 0) continue;
            gval[order[k]] = 1;
            taken += gcount[order[k]];
        }
        for (uint64_t i = 0; i < n; i++) is_val[i] = gval[ds->group_ids[i]];
        free(gval);
    } else if (l->o.val_fraction > 0) {
        uint64_t nv = (uint64_t)(target + 0.5);
        if (nv == 0) nv = 1;
        if (nv >= n) nv = n - 1;
        /* Floyd's algorithm: nv distinct records without an n-sized permutation. */
        for (uint64_t j = n - nv; j < n; j++) {
            uint64_t t = re_rng_below(&r, j + 1);
            if (is_val[t]) t = j;
            is_val[t] = 1;
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        if (is_val[i]) l->n_val++;
        else l->n_train++;
    }
    l->train = malloc((size_t)(l->n_train ? l->n_train : 1) * sizeof *l->train);
    l->val = malloc((size_t)(l->n_val ? l->n_val : 1) * sizeof *l->val);
    if (!l->train || !l->val) { s = re_fail(RE_ERR_NOMEM, "loader: out of memory for the split"); goto done; }
    uint64_t a = 0, b = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (is_val[i]) l->val[b++] = (uint32_t)i;
        else l->train[a++] = (uint32_t)i;
    }
done:
    free(is_val);
    free(order);
    free(gcount);
    return s;
}

re_status re_loader_create(re_loader **out, re_dataset *ds, const re_loader_opts *o) {
    *out = NULL;
    if (!ds || !o) return re_fail(RE_ERR_ARG, "loader: NULL argument");
    if (o->batch < 1 || o->batch > 65536) return re_fail(RE_ERR_ARG, "loader: batch %d outside 1..65536", o->batch);
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return re_fail(RE_ERR_ARG, "loader: val_fraction %g outside [0,1)", o->val_fraction);
    if (o->prefetch < 0 || o->prefetch > 64) return re_fail(RE_ERR_ARG, "loader: prefetch %d outside 0..64", o->prefetch);
    if (ds->h.count > UINT32_MAX)
        return re_fail(RE_ERR_TOO_LARGE, "loader: %llu records, the loader indexes at most 2^32-1",
                       (unsigned long long)ds->h.count);
    re_status s = RE_ERR_NOMEM;
    re_loader *l = calloc(1, sizeof *l);
    if (!l) return re_fail(RE_ERR_NOMEM, "loader: out of memory");
    l->ds = ds;
    l->o = *o;
    l->perm_epoch = UINT64_MAX;
    if (pthread_mutex_init(&l->mu, NULL) != 0) { free(l); return re_fail(RE_ERR_NOMEM, "loader: mutex init failed"); }
    if (pthread_cond_init(&l->cv, NULL) != 0) {
        pthread_mutex_destroy(&l->mu);
        free(l);
        return re_fail(RE_ERR_NOMEM, "loader: condition init failed");
    }
    l->sync_ok = 1;
    if ((s = split(l))) goto fail;
    if (l->n_train < (uint64_t)o->batch) {
        s = re_fail(RE_ERR_ARG, "%s: %llu training images after holding out %llu for validation, fewer than one batch "
                    "of %d (use a smaller batch or validation fraction)", ds->what, (unsigned long long)l->n_train,
                    (unsigned long long)l->n_val, o->batch);
        goto fail;
    }
    l->bpe = l->n_train / (uint64_t)o->batch;
    l->img_floats = ds->rec;   /* C*res*res floats per image */
    if (!re_mul_ok(l->img_floats, (size_t)o->batch, &l->batch_floats)) {
        s = re_fail(RE_ERR_NOMEM, "loader: batch size overflows");
        goto fail;
    }
    s = RE_ERR_NOMEM;
    l->perm = malloc((size_t)l->n_train * sizeof *l->perm);
    l->rbuf = malloc(ds->rec);
    l->nslots = o->prefetch;
    if (l->nslots > 0) {
        l->slots = calloc((size_t)l->nslots, sizeof *l->slots);
        if (!l->slots) goto nomem;
        for (int i = 0; i < l->nslots; i++) {
            l->slots[i].x = re_alloc(l->batch_floats * sizeof(float), "loader prefetch buffer");
            if (!l->slots[i].x) goto fail;
        }
    }
    if (!l->perm || !l->rbuf) goto nomem;
    if ((s = loader_start(l))) goto fail;
    *out = l;
    return RE_OK;
nomem:
    s = re_fail(RE_ERR_NOMEM, "loader: out of memory");
fail:
    re_loader_free(l);
    return s;
}

void re_loader_free(re_loader *l) {
    if (!l) return;
    loader_stop(l);
    if (l->slots)
        for (int i = 0; i < l->nslots; i++) re_free(l->slots[i].x);
    free(l->slots);
    free(l->perm);
    free(l->rbuf);
    free(l->train);
    free(l->val);
    if (l->sync_ok) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
    }
    free(l);
}

size_t re_loader_batch_floats(const re_loader *l) { return l->batch_floats; }
uint64_t re_loader_train_count(const re_loader *l) { return l->n_train; }
uint64_t re_loader_val_count(const re_loader *l) { return l->n_val; }
uint64_t re_loader_batches_per_epoch(const re_loader *l) { return l->bpe; }

uint64_t re_loader_val_index(const re_loader *l, uint64_t i) { return i < l->n_val ? l->val[i] : UINT64_MAX; }

uint64_t re_loader_train_index(const re_loader *l, uint64_t epoch, uint64_t pos) {
    if (pos >= l->n_train) return UINT64_MAX;
    if (!l->o.shuffle) return l->train[pos];
    /* Build the permutation in a private buffer: the producer thread owns l->perm. */
    uint32_t *perm = malloc((size_t)l->n_train * sizeof *perm);
    if (!perm) return UINT64_MAX;
    build_perm(l, perm, epoch);
    uint64_t r = perm[pos];
    free(perm);
    return r;
}

re_status re_loader_next(re_loader *l, float *x, re_loader_batch_info *info) {
    re_loader_batch_info bi;
    if (!l || !x) return re_fail(RE_ERR_ARG, "loader: NULL argument");
    if (l->o.prefetch <= 0) {
        re_loader_state ps = l->cons;
        re_status s = produce(l, &ps, x, &bi);
        if (s) return s;
        l->cons = l->prod = ps;
        if (info) *info = bi;
        return RE_OK;
    }
    pthread_mutex_lock(&l->mu);
    while (l->tail == l->head) pthread_cond_wait(&l->cv, &l->mu);
    loader_slot *sl = &l->slots[l->head % (uint64_t)l->nslots];
    pthread_mutex_unlock(&l->mu);
    if (sl->st) {
        re_status s = sl->st;
        char msg[512];
        snprintf(msg, sizeof msg, "%s", sl->err);
        /* Restart the producer at the failed batch so a later call retries it. */
        loader_stop(l);
        re_status s2 = loader_start(l);
        if (s2) return s2;
        return re_fail(s, "%s", msg);
    }
    memcpy(x, sl->x, l->batch_floats * sizeof(float));
    if (info) *info = sl->info;
    l->cons = sl->after;
    pthread_mutex_lock(&l->mu);
    l->head++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return RE_OK;
}

re_status re_loader_val_batch(re_loader *l, uint64_t first, int n, float *x) {
    if (!l || !x || n < 0) return re_fail(RE_ERR_ARG, "loader: bad validation request");
    if (first > l->n_val || (uint64_t)n > l->n_val - first)
        return re_fail(RE_ERR_ARG, "loader: validation images %llu..%llu requested, %llu held out",
                       (unsigned long long)first, (unsigned long long)(first + (uint64_t)n),
                       (unsigned long long)l->n_val);
    for (int k = 0; k < n; k++) {
        re_status s = re_dataset_read_chw(l->ds, l->val[first + (uint64_t)k], 0, x + (size_t)k * l->img_floats);
        if (s) return s;
    }
    return RE_OK;
}

re_loader_state re_loader_get_state(const re_loader *l) { return l->cons; }

re_status re_loader_set_state(re_loader *l, re_loader_state st) {
    const uint64_t B = (uint64_t)l->o.batch;
    if (st.pos % B != 0 || st.pos >= l->bpe * B)
        return re_fail(RE_ERR_ARG, "loader: state position %llu is not a batch start below %llu (batch %llu); was "
                       "it saved with another batch size or dataset?", (unsigned long long)st.pos,
                       (unsigned long long)(l->bpe * B), (unsigned long long)B);
    loader_stop(l);
    l->cons = st;
    return loader_start(l);
}
