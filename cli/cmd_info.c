/*
 * cmd_info.c - `reenact info MODEL.safetensors`: architecture, parameter counts, FLOPs per image, metadata, and
 * checksum verification (loading verifies data_sha256; a mismatch is an error, exit 1). `reenact info --cpu`: what
 * the library sees of this CPU (model, the ISA oneDNN dispatches to, AMX permission), the precision
 * `--precision auto` picks for training and for runners and why, and the implementation of every layer of the
 * model's runner at that precision (or at --precision P).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "reenact/directions.h"

/* `reenact info --cpu`: the CPU section and the runner's per-layer implementation table. */
static int info_cpu(re_model *m, re_precision want) {
    re_cpu_info ci;
    re_status s = re_cpu_info_get(&ci);
    if (s) return cli_fail("info", s, "cannot read the CPU's description");
    printf("cpu:         %s (%s, family %d model %d)\n", ci.model, ci.vendor[0] ? ci.vendor : "?", ci.family,
           ci.model_id);
    printf("features:    avx512f %s, avx512_bf16 %s, amx_tile %s, amx_bf16 %s\n", ci.avx512f ? "yes" : "no",
           ci.avx512_bf16 ? "yes" : "no", ci.amx_tile ? "yes" : "no", ci.amx_bf16 ? "yes" : "no");
    printf("oneDNN:      %s%s, ISA %s\n", ci.dnnl_version[0] ? "v" : "", ci.dnnl_version[0] ? ci.dnnl_version : "none",
           ci.dnnl_isa);
    printf("AMX:         %s\n", ci.amx_note);
    printf("precision:   auto = %s for training, %s for runners (animate, encode/decode)\n",
           re_precision_name(ci.train_auto), re_precision_name(ci.infer_auto));
    printf("  rule:      %s\n", ci.rule);
    re_runner *r = NULL;
    if ((s = re_runner_create_ex(&r, m, 1, want)))
        return cli_fail("info", s, "cannot create a %s runner", re_precision_name(want));
    char *t = re_runner_describe(r);
    printf("runner:      batch 1, precision %s%s, %d threads; implementation of each layer's forward:\n",
           re_precision_name(re_runner_precision(r)), want == RE_PREC_AUTO ? " (auto)" : "", re_get_threads());
    if (t) printf("%s", t);
    free(t);
    re_runner_free(r);
    return RE_EXIT_OK;
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int layers = 0, cpu = 0, prec = RE_PREC_AUTO;
    static const cli_choice precs[] = {{"auto", RE_PREC_AUTO}, {"f32", RE_PREC_F32}, {"mixed", RE_PREC_MIXED},
                                       {"bf16", RE_PREC_BF16}, {NULL, 0}};
    char footer[4200];
    snprintf(footer, sizeof footer, "MODEL defaults to the bundled model [%s]\n", cli_default_model());
    cli_list pos = {0};
    cli_opt opts[] = {
        CLI_SECTION("options:"),
        CLI_FLAG("--layers", NULL, &layers, 1, "also print the per-layer table"),
        CLI_FLAG("--cpu", NULL, &cpu, 1, "print this CPU's model, the ISA oneDNN uses, AMX permission, the precision "
                 "'auto' picks and the implementation of each layer of the model's runner (instead of the model "
                 "summary)"),
        CLI_ENUM("--precision", NULL, &prec, precs, "with --cpu: the runner precision whose layers are listed"),
        CLI_END,
    };
    cli_cmd cc = {.name = "info", .opts = opts, .pos = &pos, .max_pos = 1, .pos_error = "only one model path expected",
                  .usage = "usage: reenact info [options] [MODEL.safetensors]\n\n"
                           "Loads a model (verifying format, shapes and the data SHA-256) and prints its architecture,\n"
                           "parameter counts, forward FLOPs per image and metadata.\n\n",
                  .footer = footer};
    const int rc = cli_parse(&cc, argc, argv);
    if (rc != CLI_GO) return rc;
    if (pos.n) path = pos.v[0];
    cli_list_free(&pos);
    if (!path) path = cli_default_model();
    re_model *m = NULL;
    re_status s = re_model_load(&m, path);
    if (s) return cli_fail("info", s, "cannot load model '%s'", path);
    if (cpu) {
        printf("model:       %s\n", path);
        int rc = info_cpu(m, (re_precision)prec);
        re_model_free(m);
        return rc;
    }
    const re_config *c = re_model_config(m);
    char *cfg = re_config_to_json(c);
    printf("model:       %s\n", path);
    printf("format:      %s v%s\n", re_model_meta(m, "format"), re_model_meta(m, "format_version"));
    printf("checksum:    data_sha256 %s (verified)\n", re_model_meta(m, "data_sha256"));
    printf("config:      %s\n", cfg ? cfg : "?");
    printf("input:       %d x %d x %d, latent %d\n", c->channels, c->res, c->res, c->latent);
    const char *names[3] = {"encoder", "decoder", "discriminator"};
    for (int p = 0; p < 3; p++) {
        if (p == RE_PART_DISC && !re_model_has_disc(m)) {
            printf("%-13s absent (inference-only file)\n", names[p]);
            continue;
        }
        printf("%-13s %10zu params  %8.1f MFLOP/image forward\n", names[p], re_model_param_count(m, (re_part)p),
               re_model_flops(m, (re_part)p) / 1e6);
    }
    printf("encode+decode: %.1f MFLOP/image\n",
           (re_model_flops(m, RE_PART_ENCODER) + re_model_flops(m, RE_PART_DECODER)) / 1e6);
    const re_directions *d = re_model_directions(m);
    if (!d) {
        printf("directions:  none (motion controls unavailable; 'reenact directions' adds them)\n");
    } else {
        printf("directions:  %d attributes from %d clips, %lld frames; motion space %d components (%.1f%% of the "
               "within-clip variance)\n", RE_ATTR_COUNT, d->clips, (long long)d->frames, d->n_motion,
               100.0 * d->motion_explained);
        printf("  %-7s %-5s %9s %8s %8s %8s   (R2: held-out fit of the attribute from the code; gain: decoded change "
               "per unit step of the control, 1 ideal; cross: largest effect on another attribute / own effect)\n",
               "attr", "unit", "sigma", "R2", "gain", "cross");
        for (int k = 0; k < RE_ATTR_COUNT; k++)
            printf("  %-7s %-5s %9.4f %8.3f %8.3f %8.3f\n", re_attr_name(k), re_attr_unit(k), d->sigma[k], d->r2[k],
                   d->gain[k], d->cross[k]);
        printf("  smile bias of the decoder: %+.4f face units (%+.2f sigma)\n", d->smile_bias,
               d->smile_bias / d->sigma[RE_ATTR_SMILE]);
    }
    const char *skip[] = {"format", "format_version", "config", "data_sha256", "directions"};
    int header = 0;
    for (int i = 0; i < re_model_meta_count(m); i++) {
        const char *k = NULL, *v = NULL;
        re_model_meta_at(m, i, &k, &v);
        int hide = 0;
        for (size_t j = 0; j < sizeof skip / sizeof *skip; j++) hide |= !strcmp(k, skip[j]);
        if (hide) continue;
        if (!header++) printf("metadata:\n");
        printf("  %s = %s\n", k, v);
    }
    if (layers) {
        char *sum = re_model_summary(m);
        if (sum) printf("layers:\n%s", sum);
        free(sum);
    }
    free(cfg);
    re_model_free(m);
    return RE_EXIT_OK;
}
