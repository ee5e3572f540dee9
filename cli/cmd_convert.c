/*
 * cmd_convert.c - `reenact convert IN.safetensors -o OUT.safetensors [--storage f32|bf16|f16] [--drop-disc]
 * [--drop-directions]`:
 * re-save a model (e.g. a training checkpoint) as an inference file: half-precision storage and without the
 * discriminator, keeping the metadata. Loading IN verifies it fully; OUT is written atomically.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "reenact/directions.h"

static const cli_choice storage_choices[] = {
    {"f32", RE_STORE_F32}, {"bf16", RE_STORE_BF16}, {"f16", RE_STORE_F16}, {NULL, 0}};

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    re_storage storage = RE_STORE_F16;
    int drop = 0, drop_dirs = 0, n_meta = 0;
    const char *meta[2 * 16 + 1] = {0};
    char *owned[16] = {0};
    int rc;
    cli_list pos = {0}, meta_l = {0};
    cli_opt opts[] = {
        CLI_SECTION("options:"),
        CLI_STR("--out", "-o", &out, "PATH", "output file (written atomically)", .flags = CLI_REQUIRED),
        CLI_ENUM("--storage", NULL, &storage, storage_choices, "weight storage; running statistics stay f32"),
        CLI_FLAG("--drop-disc", NULL, &drop, 1, "leave out the discriminator (animate/eval never need it) [kept]"),
        CLI_FLAG("--drop-directions", NULL, &drop_dirs, 1, "leave out the motion directions (reenact directions) [kept]"),
        CLI_LIST("--meta", NULL, &meta_l, "KEY=VALUE", "add or replace a metadata entry (repeatable, at most 16)",
                 .flags = CLI_ONE),
        CLI_END,
    };
    cli_cmd c = {.name = "convert", .opts = opts, .pos = &pos, .max_pos = 1,
                 .pos_error = "only one input model expected",
                 .usage = "usage: reenact convert IN.safetensors -o OUT.safetensors [options]\n\n"
                          "Re-saves a model (for example a training checkpoint's model.safetensors) for inference.\n\n"};
    if ((rc = cli_parse(&c, argc, argv)) != CLI_GO) return rc;
    rc = RE_EXIT_USAGE;
    if (pos.n) in = pos.v[0];
    for (int k = 0; k < meta_l.n; k++) {
        const char *val = meta_l.v[k], *eq = strchr(val, '=');
        if (!eq || eq == val || n_meta == 16) { rc = cli_usage_error("convert", "--meta wants KEY=VALUE (at most 16)"); goto done; }
        owned[n_meta] = strndup(val, (size_t)(eq - val));
        meta[2 * n_meta] = owned[n_meta];
        meta[2 * n_meta + 1] = eq + 1;
        n_meta++;
    }
    if (!in || !out) { rc = cli_usage_error("convert", "need IN.safetensors and -o OUT.safetensors"); goto done; }
    re_model *m = NULL;
    re_status s = re_model_load(&m, in);
    if (s) { rc = cli_fail("convert", s, "cannot load '%s'", in); goto done; }
    /* Keep the input's provenance metadata (not the format keys, which the writer sets), then the new entries. */
    const char *kv[2 * 64 + 1] = {0};
    int k = cli_kept_meta(m, kv, 2 * 48, meta, n_meta);
    for (int j = 0; j < n_meta; j++) { kv[k++] = meta[2 * j]; kv[k++] = meta[2 * j + 1]; }
    kv[k] = NULL;
    if (drop_dirs) re_model_set_directions(m, NULL);
    s = re_model_save(m, out, re_model_has_disc(m) && !drop, storage, kv);
    re_model_free(m);
    if (s) { rc = cli_fail("convert", s, "cannot write '%s'", out); goto done; }
    printf("wrote %s\n", out);
    rc = RE_EXIT_OK;
done:
    for (int j = 0; j < 16; j++) free(owned[j]);
    cli_cmd_free(&c);
    return rc;
}
