/*
 * fuzz_dataset_header.c - libFuzzer target for the packed-dataset parser (re_dataset_parse_header and the index
 * checks of re_dataset_open_mem); the input is a whole .rds file in memory. The raw input goes to the header
 * parser; a copy with its header check and index SHA-256 recomputed goes to re_dataset_open_mem (otherwise nearly
 * every mutation would stop at a checksum). When it opens, up to 64 records are read (flipped and not), the data
 * checksum is verified, and a synchronous loader (validation split, shuffle, flip) takes three batches, so offsets
 * the parser accepted are exercised too. Inputs are capped at 1 MiB.
 * Seed corpus: tests/fuzz/corpus/dataset_header/ (valid files and one corrupt file per negative case, written by
 * REENACT_DATASET_CORPUS_OUT=DIR ./build/tests/test_dataset). Replayed by ctest as fuzz_dataset_header_corpus;
 * as a real fuzzer: cmake -DRE_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ ..., then
 *   ./fuzz_dataset_header_lf -max_total_time=60 tests/fuzz/corpus/dataset_header
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "data/dataset_internal.h"
#include "reenact/data.h"

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Rewrite the index SHA-256 (when the header's offsets fall inside the input) and the header check of a copy, so
 * mutations of header fields and of the index reach the checks behind the checksums. */
static void fix_checksums(uint8_t *b, size_t n) {
    if (n < HDR_SIZE) return;
    uint64_t go = le64(b + 56), gs = le64(b + 64), no = le64(b + 72), ns = le64(b + 80);
    if (go <= n && gs <= n - go && no <= n && ns <= n - no) {
        re_sha256 c;
        re_sha256_init(&c);
        re_sha256_update(&c, b + go, (size_t)gs);
        re_sha256_update(&c, b + no, (size_t)ns);
        re_sha256_final(&c, b + 120);
    }
    ds_header_check(b, b + HDR_CHECKED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    re_dataset_header h;
    (void)re_dataset_parse_header(data, size, size, "fuzz", &h);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    fix_checksums(copy, size);
    re_dataset *ds = NULL;
    if (re_dataset_open_mem(&ds, copy, size, "fuzz") != RE_OK) {
        free(copy);
        return 0;
    }
    uint64_t n = re_dataset_count(ds);
    size_t rec = re_dataset_record_size(ds);
    uint8_t *buf = malloc(rec);
    float *f = malloc(rec * sizeof(float));
    if (buf && f) {
        for (uint64_t i = 0; i < n && i < 64; i++) {
            (void)re_dataset_read(ds, i, buf);
            (void)re_dataset_read_chw(ds, i, (int)(i & 1), f);
            (void)re_dataset_group_name(ds, re_dataset_group_of(ds, i));
        }
    }
    (void)re_dataset_verify(ds);
    /* The loader's split (groups or fraction) and a few synchronous batches. */
    re_loader_opts o;
    re_loader_opts_default(&o);
    o.batch = 1;
    o.prefetch = 0;
    o.val_fraction = 0.3;
    o.flip = 1;
    re_loader *l = NULL;
    if (f && re_loader_create(&l, ds, &o) == RE_OK) {
        for (int k = 0; k < 3; k++) (void)re_loader_next(l, f, NULL);
        re_loader_free(l);
    }
    free(buf);
    free(f);
    re_dataset_close(ds);
    free(copy);
    return 0;
}
