/*
 * re_test_data.h - packed datasets for the unit tests (header-only, next to re_test.h): write one from generated
 * records.
 */
#ifndef RE_TEST_DATA_H
#define RE_TEST_DATA_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "reenact/data.h"

/* Writes n RGB records of res x res to a new dataset at path: record i is made by fill(record, res, i) and belongs to
 * group "g<k>" of `groups`, k = i % groups (interleaved) or i * groups / n (contiguous runs). 1 on success; on failure
 * the writer is aborted (no file left) and 0 is returned. */
static inline int re_test_write_dataset(const char *path, int res, uint32_t n, void (*fill)(uint8_t *, int, uint32_t),
                                        uint32_t groups, int contiguous) {
    re_dataset_writer *w = NULL;
    uint8_t *r = malloc((size_t)res * res * 3);
    if (!r || re_dataset_writer_open(&w, path, res, 3, 0)) { free(r); return 0; }
    for (uint32_t i = 0; i < n; i++) {
        char name[32];
        uint32_t g;
        snprintf(name, sizeof name, "g%u", contiguous ? (uint32_t)((uint64_t)i * groups / n) : i % groups);
        fill(r, res, i);
        if (re_dataset_writer_group(w, name, &g) || re_dataset_writer_add(w, r, g)) {
            re_dataset_writer_abort(w);
            free(r);
            return 0;
        }
    }
    free(r);
    return re_dataset_writer_close(w) == RE_OK;
}
#endif
