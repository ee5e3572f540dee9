/*
 * test_dataset.c - packed dataset format and streaming loader:
 *   - writer/reader round trip (header fields, group table, every record byte, data checksum, flip);
 *   - negative fixtures, each with its own status: truncated (inside the header and inside the sections), bad magic,
 *     bad version, header/index/data checksum mismatch, count mismatch, trailing bytes, bad group id;
 *   - loader determinism (same seed -> same batches, epochs differ, each epoch a permutation of the training
 *     split, prefetch on/off identical), exact state save/restore, validation split by group and by fraction;
 *   - flat memory: streams a generated ~250 MB dataset and checks the peak RSS (VmHWM) grows by far less.
 * Build: cmake --build build --target test_dataset;  run from the repo root: ./build/tests/test_dataset
 * With REENACT_DATASET_CORPUS_OUT=DIR it also writes its small valid and corrupt files there (the fuzz seed corpus
 * tests/fuzz/corpus/dataset_header/ was made this way).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "data/dataset_internal.h"
#include "re_test.h"
#include "re_test_data.h"
#include "reenact/data.h"
#include "reenact/media.h"

static char g_dir[256];

/* With REENACT_DATASET_CORPUS_OUT set: a file of the fuzz seed corpus. */
static void save_corpus(const char *name, const uint8_t *b, size_t n) {
    re_test_save_corpus(getenv("REENACT_DATASET_CORPUS_OUT"), name, b, n);
}

/* Record content for index i: deterministic bytes that also encode i in the first 4 bytes (when rec >= 4). */
static void make_record(uint8_t *r, size_t rec, uint32_t i) {
    uint64_t x = 0x1234567ull + i * 0x9e3779b97f4a7c15ull;
    for (size_t k = 0; k < rec; k++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        r[k] = (uint8_t)x;
    }
    if (rec >= 4) { r[0] = (uint8_t)i; r[1] = (uint8_t)(i >> 8); r[2] = (uint8_t)(i >> 16); r[3] = (uint8_t)(i >> 24); }
}

static void fill_record(uint8_t *r, int res, uint32_t i) { make_record(r, (size_t)res * res * 3, i); }

/* Write n records of res x res, record i in group i % ngroups (names "g0", "g1", ...). */
static int write_set(const char *path, int res, uint32_t n, uint32_t ngroups) {
    return re_test_write_dataset(path, res, n, fill_record, ngroups, 0);
}

/* Writes g_dir/NAME (write_set) into path (300 bytes) and opens it: NULL, after a failed check, when either fails. */
static re_dataset *write_open(char *path, const char *name, int res, uint32_t n, uint32_t ngroups) {
    snprintf(path, 300, "%s/%s", g_dir, name);
    CHECK(write_set(path, res, n, ngroups));
    re_dataset *ds = NULL;
    CHECK_OK(re_dataset_open(&ds, path));
    return ds;
}

static void test_round_trip(void) {
    char path[300];
    const int res = 5;
    const uint32_t n = 37;
    re_dataset *ds = write_open(path, "rt.rds", res, n, 3);
    if (!ds) return;
    const re_dataset_header *h = re_dataset_info(ds);
    CHECK_EQ_INT(h->version, RE_DATASET_VERSION);
    CHECK_EQ_INT(re_dataset_count(ds), n);
    CHECK_EQ_INT(re_dataset_res(ds), res);
    CHECK_EQ_INT(h->channels, 3);
    CHECK_EQ_INT(re_dataset_record_size(ds), res * res * 3);
    CHECK_EQ_INT(re_dataset_n_groups(ds), 3);
    CHECK(re_dataset_group_name(ds, 0) && !strcmp(re_dataset_group_name(ds, 0), "g0"));
    CHECK(re_dataset_group_name(ds, 2) && !strcmp(re_dataset_group_name(ds, 2), "g2"));
    CHECK(re_dataset_group_name(ds, 3) == NULL);
    CHECK_EQ_INT(re_dataset_group_of(ds, n), UINT32_MAX);
    CHECK_OK(re_dataset_verify(ds));
    uint8_t want[75], got[75];
    int bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        make_record(want, sizeof want, i);
        if (re_dataset_read(ds, i, got) || memcmp(got, want, sizeof want) || re_dataset_group_of(ds, i) != i % 3) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(re_dataset_read(ds, n, got), RE_ERR_ARG);
    /* Planar float conversion and the horizontal flip. */
    float a[75], b[75];
    CHECK_OK(re_dataset_read_chw(ds, 7, 0, a));
    CHECK_OK(re_dataset_read_chw(ds, 7, 1, b));
    make_record(want, sizeof want, 7);
    /* Same floats as re_image_to_chw (what inference feeds the model). */
    re_image im = {res, res, 3 * res, want, 0};
    float ref[75];
    re_image_to_chw(&im, ref);
    int badf = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < res; y++)
            for (int x = 0; x < res; x++) {
                float v = ref[(c * res + y) * res + x];
                if (a[(c * res + y) * res + x] != v || b[(c * res + y) * res + (res - 1 - x)] != v) badf++;
            }
    CHECK_EQ_INT(badf, 0);
    re_dataset_close(ds);

    /* Memory reader sees the same file. */
    size_t len = 0;
    uint8_t *buf = re_test_read_file(path, &len);
    CHECK(buf != NULL);
    if (buf) {
        CHECK_OK(re_dataset_open_mem(&ds, buf, len, "mem"));
        if (ds) {
            CHECK_OK(re_dataset_read(ds, 36, got));
            make_record(want, sizeof want, 36);
            CHECK(memcmp(got, want, sizeof want) == 0);
            CHECK_OK(re_dataset_verify(ds));
            re_dataset_close(ds);
        }
        save_corpus("valid_5px_37.rds", buf, len);
        free(buf);
    }
    /* Writer misuse. */
    re_dataset_writer *w = NULL;
    CHECK_EQ_INT(re_dataset_writer_open(&w, path, 0, 3, 0), RE_ERR_ARG);
    CHECK_EQ_INT(re_dataset_writer_open(&w, path, 8, 1, 0), RE_ERR_ARG);
    char p2[300];
    snprintf(p2, sizeof p2, "%s/empty.rds", g_dir);
    CHECK_OK(re_dataset_writer_open(&w, p2, 4, 3, 0));
    if (w) {
        uint8_t r[48] = {0};
        uint32_t g = 0;
        CHECK_EQ_INT(re_dataset_writer_add(w, r, 0), RE_ERR_ARG);   /* no group created yet */
        CHECK_EQ_INT(re_dataset_writer_group(w, "", &g), RE_ERR_ARG);
        CHECK_EQ_INT(re_dataset_writer_close(w), RE_ERR_ARG);      /* zero records */
        CHECK(access(p2, F_OK) != 0);
    }
    snprintf(p2, sizeof p2, "%s/no_such_dir/x.rds", g_dir);
    CHECK_EQ_INT(re_dataset_writer_open(&w, p2, 4, 3, 0), RE_ERR_IO);
    CHECK_EQ_INT(re_dataset_open(&ds, p2), RE_ERR_IO);
    CHECK(strstr(re_last_error(), "no_such_dir") != NULL);
}

/* Recompute the header check after editing header fields (so a fixture tests the field, not the checksum). */
static void fix_header_check(uint8_t *b) { ds_header_check(b, b + HDR_CHECKED); }

static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static re_status open_variant(const uint8_t *b, size_t n, const char *corpus_name, int verify) {
    save_corpus(corpus_name, b, n);
    re_dataset *ds = NULL;
    re_status s = re_dataset_open_mem(&ds, b, n, corpus_name);
    if (s == RE_OK && verify) s = re_dataset_verify(ds);
    re_dataset_close(ds);
    return s;
}

static void test_negative(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/neg.rds", g_dir);
    CHECK(write_set(path, 4, 10, 2));
    size_t n = 0;
    uint8_t *good = re_test_read_file(path, &n);
    CHECK(good != NULL && n > 4096);
    if (!good) return;
    uint8_t *b = malloc(n + 16);
    if (!b) { free(good); return; }
    CHECK_OK(open_variant(good, n, "valid_4px_10.rds", 1));

    /* Truncated: inside the header, and one byte short of the end. */
    CHECK_EQ_INT(open_variant(good, 100, "trunc_header.rds", 0), RE_ERR_TRUNCATED);
    CHECK_EQ_INT(open_variant(good, n - 1, "trunc_end.rds", 0), RE_ERR_TRUNCATED);
    CHECK_EQ_INT(open_variant(good, 4096 + 48 * 3, "trunc_data.rds", 0), RE_ERR_TRUNCATED);
    /* Bad magic; not a dataset at all; empty file. */
    memcpy(b, good, n); b[1] = 'X';
    CHECK_EQ_INT(open_variant(b, n, "bad_magic.rds", 0), RE_ERR_FORMAT);
    CHECK_EQ_INT(open_variant((const uint8_t *)"\x89PNG\r\n\x1a\n", 8, "png_magic.rds", 0), RE_ERR_FORMAT);
    CHECK_EQ_INT(open_variant(good, 0, "empty.rds", 0), RE_ERR_FORMAT);
    /* Bad version (checked before the header checksum, so a future file says "version"). */
    memcpy(b, good, n); b[8] = 2;
    CHECK_EQ_INT(open_variant(b, n, "bad_version.rds", 0), RE_ERR_VERSION);
    CHECK(strstr(re_last_error(), "version 2") != NULL);
    /* Header byte flipped without fixing the check. */
    memcpy(b, good, n); b[24] ^= 1;
    CHECK_EQ_INT(open_variant(b, n, "bad_header_check.rds", 0), RE_ERR_CHECKSUM);
    /* Count mismatch: count says 11 (check recomputed). */
    memcpy(b, good, n); put64(b + 16, 11); fix_header_check(b);
    CHECK_EQ_INT(open_variant(b, n, "count_mismatch.rds", 0), RE_ERR_BAD_HEADER);
    CHECK(strstr(re_last_error(), "count mismatch") != NULL);
    /* Count and sizes consistent for 11 records, but the file holds 10: truncated. */
    memcpy(b, good, n); put64(b + 16, 11); put64(b + 48, 11 * 48); put64(b + 56, 4096 + 11 * 48);
    put64(b + 64, 44); put64(b + 72, 4096 + 11 * 48 + 44); fix_header_check(b);
    CHECK_EQ_INT(open_variant(b, n, "count_too_big.rds", 0), RE_ERR_TRUNCATED);
    /* Trailing garbage. */
    memcpy(b, good, n); b[n] = 0;
    CHECK_EQ_INT(open_variant(b, n + 1, "trailing.rds", 0), RE_ERR_BAD_HEADER);
    /* Data byte changed: opens (pixels are not read), verify reports the checksum. */
    memcpy(b, good, n); b[4096 + 17] ^= 0x40;
    CHECK_EQ_INT(open_variant(b, n, "bad_data_sha.rds", 1), RE_ERR_CHECKSUM);
    CHECK(strstr(re_last_error(), "data checksum") != NULL);
    /* Group id changed: index checksum. */
    memcpy(b, good, n); b[4096 + 10 * 48] ^= 1;
    CHECK_EQ_INT(open_variant(b, n, "bad_index_sha.rds", 0), RE_ERR_CHECKSUM);
    /* Bad resolution field (check recomputed). */
    memcpy(b, good, n); b[24] = 0; b[25] = 0; fix_header_check(b);
    CHECK_EQ_INT(open_variant(b, n, "bad_res.rds", 0), RE_ERR_BAD_HEADER);
    /* Unknown flag bit. */
    memcpy(b, good, n); b[33] = 1; fix_header_check(b);
    CHECK_EQ_INT(open_variant(b, n, "bad_flags.rds", 0), RE_ERR_BAD_HEADER);
    free(b);
    free(good);
}

/* Index of the record held in batch slot k (encoded in its first 4 bytes, read back from the float planes). */
static uint32_t slot_index(const float *x, int res, int k, int flipped) {
    const float *p = x + (size_t)k * 3 * res * res;
    uint8_t v[4];
    /* pixel 0 holds bytes 0,1,2 (R,G,B) and pixel 1 byte 3 in R; a flipped image has them at the row's end. */
    int x0 = flipped ? res - 1 : 0, x1 = flipped ? res - 2 : 1;
    size_t plane = (size_t)res * res;
    v[0] = (uint8_t)(p[x0] * 255.f + 0.5f);
    v[1] = (uint8_t)(p[plane + x0] * 255.f + 0.5f);
    v[2] = (uint8_t)(p[2 * plane + x0] * 255.f + 0.5f);
    v[3] = (uint8_t)(p[x1] * 255.f + 0.5f);
    return (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
}

static void test_loader(void) {
    char path[300];
    const int res = 4;
    const uint32_t n = 203;
    re_dataset *ds = write_open(path, "ld.rds", res, n, 1);   /* one group: split by a seeded fraction */
    if (!ds) return;
    re_loader_opts o;
    re_loader_opts_default(&o);
    o.batch = 16;
    o.seed = 42;
    o.val_fraction = 0.1;
    re_loader *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(re_loader_create(&a, ds, &o));
    o.prefetch = 0;
    CHECK_OK(re_loader_create(&b, ds, &o));
    o.prefetch = 3;
    o.seed = 43;
    CHECK_OK(re_loader_create(&c, ds, &o));
    if (!a || !b || !c) goto out;
    CHECK_EQ_INT(re_loader_val_count(a), 20);
    CHECK_EQ_INT(re_loader_train_count(a), 183);
    CHECK_EQ_INT(re_loader_batches_per_epoch(a), 11);
    size_t bf = re_loader_batch_floats(a);
    CHECK_EQ_INT(bf, 16 * 3 * 16);
    float *xa = malloc(bf * sizeof(float)), *xb = malloc(bf * sizeof(float)), *xc = malloc(bf * sizeof(float));
    uint8_t *is_val = calloc(n, 1);
    /* Validation split: file order, disjoint from training, different for another seed. */
    for (uint64_t i = 0; i < re_loader_val_count(a); i++) {
        uint64_t r = re_loader_val_index(a, i);
        CHECK(r < n && (i == 0 || r > re_loader_val_index(a, i - 1)));
        if (r < n) is_val[r] = 1;
    }
    int same_split = 1;
    for (uint64_t i = 0; i < 20; i++) same_split &= re_loader_val_index(a, i) == re_loader_val_index(c, i);
    CHECK(!same_split);
    /* Three epochs: prefetch and synchronous loaders agree; every epoch is a permutation of the training split. */
    uint32_t order[3][176];
    int mismatch = 0, val_leak = 0, dup = 0, c_differs = 0, decode_bad = 0;
    for (int e = 0; e < 3; e++) {
        uint8_t *seen = calloc(n, 1);
        for (int bi = 0; bi < 11; bi++) {
            re_loader_batch_info ia, ib;
            CHECK_OK(re_loader_next(a, xa, &ia));
            CHECK_OK(re_loader_next(b, xb, &ib));
            CHECK_OK(re_loader_next(c, xc, NULL));
            if (memcmp(xa, xb, bf * sizeof(float)) || ia.epoch != ib.epoch || ia.index != ib.index) mismatch++;
            if (memcmp(xa, xc, bf * sizeof(float))) c_differs++;
            CHECK_EQ_INT(ia.epoch, e);
            CHECK_EQ_INT(ia.index, bi);
            CHECK_EQ_INT(ia.last_in_epoch, bi == 10);
            for (int k = 0; k < 16; k++) {
                uint32_t id = slot_index(xa, res, k, 0);
                if (id >= n) { decode_bad++; continue; }
                if (re_loader_train_index(a, (uint64_t)e, (uint64_t)(bi * 16 + k)) != id) decode_bad++;
                order[e][bi * 16 + k] = id;
                if (is_val[id]) val_leak++;
                if (seen[id]++) dup++;
            }
        }
        free(seen);
    }
    CHECK_EQ_INT(mismatch, 0);
    CHECK_EQ_INT(val_leak, 0);
    CHECK_EQ_INT(dup, 0);
    CHECK_EQ_INT(decode_bad, 0);
    CHECK(c_differs > 0);
    CHECK(memcmp(order[0], order[1], sizeof order[0]) != 0);
    CHECK(memcmp(order[1], order[2], sizeof order[1]) != 0);

    /* Exact state restore: remember the state, take 5 batches, go back, take them again. */
    re_loader_state st = re_loader_get_state(a);
    CHECK_EQ_INT(st.epoch, 3);
    CHECK_EQ_INT(st.pos, 0);
    for (int k = 0; k < 9; k++) CHECK_OK(re_loader_next(a, xa, NULL));
    st = re_loader_get_state(a);
    CHECK_EQ_INT(st.epoch, 3);
    CHECK_EQ_INT(st.pos, 9 * 16);
    float *first = malloc(5 * bf * sizeof(float));
    for (int k = 0; k < 5; k++) CHECK_OK(re_loader_next(a, first + k * bf, NULL));
    CHECK_EQ_INT(re_loader_get_state(a).epoch, 4);
    CHECK_OK(re_loader_set_state(a, st));
    int restore_bad = 0;
    for (int k = 0; k < 5; k++) {
        CHECK_OK(re_loader_next(a, xa, NULL));
        if (memcmp(xa, first + k * bf, bf * sizeof(float))) restore_bad++;
    }
    CHECK_EQ_INT(restore_bad, 0);
    /* A fresh loader set to that state produces the same batches (this is what resume does). */
    o.seed = 42;
    o.prefetch = 2;
    re_loader *d = NULL;
    CHECK_OK(re_loader_create(&d, ds, &o));
    if (d) {
        CHECK_OK(re_loader_set_state(d, st));
        restore_bad = 0;
        for (int k = 0; k < 5; k++) {
            CHECK_OK(re_loader_next(d, xa, NULL));
            if (memcmp(xa, first + k * bf, bf * sizeof(float))) restore_bad++;
        }
        CHECK_EQ_INT(restore_bad, 0);
        re_loader_state bad = {0, 3};
        CHECK_EQ_INT(re_loader_set_state(d, bad), RE_ERR_ARG);
        re_loader_free(d);
    }
    free(first);
    /* Validation batches read in file order. */
    CHECK_OK(re_loader_val_batch(a, 0, 16, xa));
    CHECK_EQ_INT(slot_index(xa, res, 3, 0), re_loader_val_index(a, 3));
    CHECK_EQ_INT(re_loader_val_batch(a, 10, 16, xa), RE_ERR_ARG);

    /* Flip augmentation: deterministic, roughly half the images mirrored. */
    re_loader_free(b);
    b = NULL;
    o.flip = 1;
    o.val_fraction = 0;
    o.shuffle = 0;
    CHECK_OK(re_loader_create(&b, ds, &o));
    if (b) {
        int flipped = 0, other = 0;
        for (int bi = 0; bi < 12; bi++) {
            CHECK_OK(re_loader_next(b, xb, NULL));
            for (int k = 0; k < 16; k++) {
                uint32_t want = (uint32_t)(bi * 16 + k);   /* no shuffle, no validation: file order */
                if (slot_index(xb, res, k, 0) == want) continue;
                if (slot_index(xb, res, k, 1) == want) flipped++;
                else other++;
            }
        }
        CHECK_EQ_INT(other, 0);
        CHECK_MSG(flipped > 60 && flipped < 132, "flipped %d of 192", flipped);
    }
    /* Too few training images for a batch. */
    re_loader *e = NULL;
    o.batch = 204;
    CHECK_EQ_INT(re_loader_create(&e, ds, &o), RE_ERR_ARG);
    free(xa);
    free(xb);
    free(xc);
    free(is_val);
out:
    re_loader_free(a);
    re_loader_free(b);
    re_loader_free(c);
    re_dataset_close(ds);
}

static void test_group_split(void) {
    char path[300];
    re_dataset *ds = write_open(path, "gr.rds", 2, 300, 10);   /* 10 groups of 30 */
    if (!ds) return;
    re_loader_opts o;
    re_loader_opts_default(&o);
    o.batch = 8;
    o.val_fraction = 0.15;   /* needs 45 records: two whole groups */
    re_loader *l = NULL;
    CHECK_OK(re_loader_create(&l, ds, &o));
    if (l) {
        CHECK_EQ_INT(re_loader_val_count(l), 60);
        int in_val[10] = {0};
        for (uint64_t i = 0; i < re_loader_val_count(l); i++) in_val[re_dataset_group_of(ds, re_loader_val_index(l, i))]++;
        int whole = 0, none = 0;
        for (int g = 0; g < 10; g++) whole += in_val[g] == 30, none += in_val[g] == 0;
        CHECK_EQ_INT(whole, 2);
        CHECK_EQ_INT(none, 8);
        re_loader_free(l);
    }
    re_dataset_close(ds);
}

/* Peak resident memory of this process in KiB (Linux ru_maxrss, the VmHWM of /proc/self/status), -1 when unknown. */
static long vm_hwm_kb(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* A dataset much larger than the memory the loader may use: peak RSS must not follow the file size. */
static void test_flat_memory(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/big.rds", g_dir);
    const int res = 64;
    const uint32_t n = 20480;   /* 20480 * 12288 B = 240 MiB */
    long before = vm_hwm_kb();
    double t0 = (double)clock() / CLOCKS_PER_SEC;
    re_dataset_writer *w = NULL;
    CHECK_OK(re_dataset_writer_open(&w, path, res, 3, 0));
    if (!w) return;
    uint8_t *r = malloc(12288);
    uint32_t g0, g1;
    CHECK_OK(re_dataset_writer_group(w, "clip_a", &g0));
    CHECK_OK(re_dataset_writer_group(w, "clip_b", &g1));
    int fails = 0;
    for (uint32_t i = 0; i < n; i++) {
        memset(r, (int)(i * 7), 12288);
        r[0] = (uint8_t)i; r[1] = (uint8_t)(i >> 8); r[2] = (uint8_t)(i >> 16); r[3] = (uint8_t)(i >> 24);
        fails += re_dataset_writer_add(w, r, i < n / 2 ? g0 : g1) != RE_OK;
    }
    free(r);
    CHECK_EQ_INT(fails, 0);
    CHECK_OK(re_dataset_writer_close(w));
    re_dataset *ds = NULL;
    CHECK_OK(re_dataset_open(&ds, path));
    if (ds) {
        re_loader_opts o;
        re_loader_opts_default(&o);
        o.batch = 64;
        o.flip = 1;
        re_loader *l = NULL;
        CHECK_OK(re_loader_create(&l, ds, &o));
        if (l) {
            float *x = malloc(re_loader_batch_floats(l) * sizeof(float));
            uint64_t nb = re_loader_batches_per_epoch(l), read = 0;
            for (uint64_t k = 0; k < nb && x; k++) {
                re_loader_batch_info bi;
                if (re_loader_next(l, x, &bi) == RE_OK) read++;
            }
            CHECK_EQ_INT(read, nb);
            CHECK_EQ_INT(re_loader_get_state(l).epoch, 1);
            free(x);
            re_loader_free(l);
        }
        re_dataset_close(ds);
    }
    long after = vm_hwm_kb();
    double t1 = (double)clock() / CLOCKS_PER_SEC;
    printf("flat memory: streamed %u records (%.0f MiB) in %.1f s cpu; VmHWM %ld -> %ld kB\n", n,
           n * 12288.0 / 1048576.0, t1 - t0, before, after);
    /* The file is 240 MiB; the loader needs the index, a permutation and 3 batches of 3 MiB floats. */
    CHECK_MSG(before > 0 && after - before < 40 * 1024, "peak RSS grew by %ld kB", after - before);
    remove(path);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/reenact_test_dataset_%ld", (long)getpid());
    if (mkdir(g_dir, 0755) != 0) {
        fprintf(stderr, "cannot create %s\n", g_dir);
        return 1;
    }
    test_flat_memory();
    test_round_trip();
    test_negative();
    test_loader();
    test_group_split();
    const char *names[] = {"rt.rds", "neg.rds", "ld.rds", "gr.rds", "big.rds"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        remove(p);
    }
    rmdir(g_dir);
    RE_TEST_END();
}
