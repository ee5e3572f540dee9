/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors reader (and, on accepted inputs, the writer).
 *   libFuzzer: cmake -S . -B build-fuzz -DRE_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
 *                    -DRE_WITH_DLIB=OFF && cmake --build build-fuzz --target fuzz_safetensors_lf
 *              build-fuzz/tests/fuzz_safetensors_lf -max_total_time=60 tests/fuzz/corpus/safetensors
 *   replay (any compiler, also a ctest): build/tests/fuzz_safetensors tests/fuzz/corpus/safetensors
 * For each input (capped at 1 MB): re_st_load_mem must either fail leaving *out NULL, or succeed with a file whose
 * invariants hold (offsets inside the data, byte lengths matching shapes, lookups working); every float tensor is
 * converted with re_st_to_f32 and every other one is read byte by byte. An accepted file is then rewritten with
 * re_st_write_mem and re-read: tensors and metadata must come back identical. Violations abort() so the fuzzer
 * records the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/safetensors.h"

#define FUZZ_MAX_INPUT (1u << 20)

#define INVARIANT(c) do { if (!(c)) { fprintf(stderr, "fuzz_safetensors: invariant failed: %s (line %d): %s\n", \
    #c, __LINE__, re_last_error()); abort(); } } while (0)

static volatile unsigned g_sink;

static void check_file(const re_st_file *f) {
    for (size_t i = 0; i < f->n_tensors; i++) {
        const re_st_tensor *t = &f->tensors[i];
        size_t es = re_dtype_size(t->dtype);
        INVARIANT(es > 0 && t->ndim >= 0 && t->ndim <= RE_ST_MAX_DIMS);
        INVARIANT(t->begin <= t->end && t->end <= f->data_len);
        INVARIANT(t->end - t->begin == (uint64_t)t->numel * es);
        INVARIANT(re_st_find(f, t->name) == t);
        if (i > 0) INVARIANT(strcmp(f->tensors[i - 1].name, t->name) < 0);
        if (t->dtype == RE_DT_F32 || t->dtype == RE_DT_F16 || t->dtype == RE_DT_BF16 || t->dtype == RE_DT_F64) {
            float *dst = malloc(t->numel ? t->numel * sizeof(float) : 1);
            if (!dst) continue;
            INVARIANT(re_st_to_f32(f, t, dst, t->numel) == RE_OK);
            unsigned acc = 0;
            for (size_t k = 0; k < t->numel; k++) {
                uint32_t u;
                memcpy(&u, &dst[k], 4);
                acc ^= u;
            }
            g_sink ^= acc;
            free(dst);
        } else {
            INVARIANT(re_st_to_f32(f, t, NULL, t->numel) == RE_ERR_DTYPE);
            const uint8_t *p = re_st_data(f, t);
            unsigned acc = 0;
            for (uint64_t k = 0; k < t->end - t->begin; k++) acc += p[k];
            g_sink ^= acc;
        }
    }
    for (size_t i = 0; i < f->n_meta; i++) INVARIANT(re_st_meta(f, f->meta_keys[i]) == f->meta_vals[i]);
}

/* Rewrite f with the writer and read it back; everything must survive unchanged. */
static void check_rewrite(const re_st_file *f) {
    re_st_entry *e = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *e);
    const char **kv = calloc(f->n_meta ? 2 * f->n_meta : 1, sizeof *kv);
    uint8_t *buf = NULL;
    size_t len = 0, nm = 0;
    re_st_file *g = NULL;
    if (!e || !kv) goto done;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const re_st_tensor *t = &f->tensors[i];
        e[i].name = t->name;
        e[i].dtype = t->dtype;
        e[i].ndim = t->ndim;
        memcpy(e[i].shape, t->shape, sizeof t->shape);
        e[i].raw = re_st_data(f, t);
    }
    for (size_t i = 0; i < f->n_meta; i++) {
        if (strcmp(f->meta_keys[i], "data_sha256") == 0) continue; /* the writer computes it */
        kv[2 * nm] = f->meta_keys[i];
        kv[2 * nm + 1] = f->meta_vals[i];
        nm++;
    }
    re_status s = re_st_write_mem(&buf, &len, e, f->n_tensors, kv, nm);
    if (s == RE_ERR_NOMEM) goto done;
    INVARIANT(s == RE_OK);
    s = re_st_load_mem(&g, buf, len, "rewritten");
    if (s == RE_ERR_NOMEM) goto done;
    INVARIANT(s == RE_OK);
    INVARIANT(g->checksum_verified == 1);
    INVARIANT(g->n_tensors == f->n_tensors && g->data_len == f->data_len);
    for (size_t i = 0; i < f->n_tensors; i++) {
        const re_st_tensor *a = &f->tensors[i], *b = &g->tensors[i];
        INVARIANT(strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->ndim == b->ndim);
        INVARIANT(memcmp(a->shape, b->shape, sizeof a->shape) == 0 && a->numel == b->numel);
        INVARIANT(a->end - a->begin == b->end - b->begin);
        INVARIANT(memcmp(re_st_data(f, a), re_st_data(g, b), (size_t)(a->end - a->begin)) == 0);
    }
    INVARIANT(g->n_meta == nm + 1);
    for (size_t i = 0; i < nm; i++) {
        const char *v = re_st_meta(g, kv[2 * i]);
        INVARIANT(v && strcmp(v, kv[2 * i + 1]) == 0);
    }
done:
    re_st_free(g);
    free(buf);
    free(kv);
    free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    re_st_file *f = (re_st_file *)&f; /* must be overwritten (NULL on failure) */
    re_status s = re_st_load_mem(&f, data, size, "fuzz");
    if (s != RE_OK) {
        INVARIANT(f == NULL && s < 0 && re_last_error()[0] != 0);
        return 0;
    }
    check_file(f);
    check_rewrite(f);
    re_st_free(f);
    return 0;
}
