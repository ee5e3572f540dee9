/*
 * fuzz_config.c - libFuzzer target for the two JSON configuration parsers:
 *   - the model configuration (re_config_from_json: `train --model X.json`, the "config" metadata of every model
 *     and checkpoint file), and
 *   - a training run's config.json (train_config_parse in cli/train_ckpt.c, read by `train --resume`; compiled into
 *     this target).
 *   libFuzzer: cmake -S . -B build-fuzz -DRE_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
 *              cmake --build build-fuzz --target fuzz_config_lf
 *              build-fuzz/tests/fuzz_config_lf -max_total_time=60 tests/fuzz/corpus/config
 *   replay (any compiler, also a ctest): build/tests/fuzz_config tests/fuzz/corpus/config
 * The corpus holds valid files (the seed64 and tiny model configurations, a run's config.json) and negative
 * fixtures (duplicate keys, wrong types, out-of-range and inconsistent values, truncated JSON, other format).
 * Invariants: a refusal returns a negative status with a message; an accepted model configuration validates and
 * survives a JSON round trip unchanged; an accepted run configuration also survives a round trip unchanged.
 * Violations abort(). Inputs are capped at 64 KiB.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reenact/reenact.h"
#include "train.h"

#define FUZZ_MAX_INPUT (64u << 10)

#define INVARIANT(c) do { if (!(c)) { fprintf(stderr, "fuzz_config: invariant failed: %s (line %d): %s\n", #c, \
    __LINE__, re_last_error()); abort(); } } while (0)

static void model_config(const char *text, size_t size) {
    re_config c, c2;
    re_status s = re_config_from_json(&c, text, size);
    if (s != RE_OK) {
        INVARIANT(s < 0 && re_last_error()[0] != 0);
        return;
    }
    INVARIANT(re_config_validate(&c) == RE_OK);
    char *j = re_config_to_json(&c);
    INVARIANT(j != NULL);
    INVARIANT(re_config_from_json(&c2, j, strlen(j)) == RE_OK);
    char *j2 = re_config_to_json(&c2);
    INVARIANT(j2 != NULL && strcmp(j, j2) == 0);
    free(j);
    free(j2);
}

static void run_config(const char *text) {
    static train_cfg c, c2;
    static train_state st, st2;
    re_status s = train_config_parse(text, "fuzz", &c, &st);
    if (s != RE_OK) {
        INVARIANT(s < 0 && re_last_error()[0] != 0);
        return;
    }
    char *j = train_config_json(&c, &st);
    INVARIANT(j != NULL);
    INVARIANT(train_config_parse(j, "fuzz", &c2, &st2) == RE_OK);
    char *j2 = train_config_json(&c2, &st2);
    INVARIANT(j2 != NULL && strcmp(j, j2) == 0);
    free(j);
    free(j2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    model_config(text, size);
    run_config(text);
    free(text);
    return 0;
}
