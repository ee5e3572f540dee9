/*
 * fuzz_dataset_header.c - libFuzzer target for the packed-dataset parser (re_dataset_parse_header and the index
 * checks of re_dataset_open_mem): the input is a whole .rds file in memory. When it opens, every record of a
 * bounded number is read (flipped and not) and the data checksum is verified, so offsets the parser accepted are
 * exercised too, and a synchronous loader (validation split, shuffle, flip) takes three batches. Inputs are capped at 1 MiB.
 * Seed corpus: tests/fuzz/corpus/dataset_header/ (valid files and one corrupt file per negative case, written by
 * REENACT_DATASET_CORPUS_OUT=DIR ./build/tests/test_dataset). Replayed by ctest as fuzz_dataset_header_corpus;
 * as a real fuzzer: cmake -DRE_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ ..., then
 *   ./fuzz_dataset_header_lf -max_total_time=60 tests/fuzz/corpus/dataset_header
 */
#include <stdint.h>
#include <stdlib.h>

#include "reenact/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    re_dataset_header h;
    (void)re_dataset_parse_header(data, size, size, "fuzz", &h);
    re_dataset *ds = NULL;
    if (re_dataset_open_mem(&ds, data, size, "fuzz") != RE_OK) return 0;
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
    return 0;
}
