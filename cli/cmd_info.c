/*
 * cmd_info.c - `reenact info MODEL.safetensors`: architecture, parameter counts, FLOPs per image, metadata, and
 * checksum verification (loading verifies data_sha256; a mismatch is an error, exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "reenact/directions.h"

static void help(FILE *f) {
    fprintf(f, "usage: reenact info [options] [MODEL.safetensors]\n\n"
               "Loads a model (verifying format, shapes and the data SHA-256) and prints its architecture,\n"
               "parameter counts, forward FLOPs per image and metadata.\n\n"
               "options:\n"
               "  --layers        also print the per-layer table\n"
               "  -h, --help      this help\n"
               "MODEL defaults to the bundled model [%s]\n", cli_default_model());
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int layers = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help", "-h")) { help(stdout); return RE_EXIT_OK; }
        else if (cli_flag(argv, i, "--layers", NULL)) layers = 1;
        else if (argv[i][0] == '-') return cli_usage_error("info", "unknown option '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage_error("info", "only one model path expected");
    }
    if (!path) path = cli_default_model();
    re_model *m = NULL;
    re_status s = re_model_load(&m, path);
    if (s) return cli_fail("info", s, "cannot load model '%s'", path);
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
