/*
 * main.c - the reenact command-line program: subcommand dispatch. The CLI is a thin client of libreenact
 * (include/reenact/); every subcommand lives in its own cmd_*.c file.
 *   reenact <command> [options]     reenact --help     reenact --version
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "reenact/dist.h"

/* cli/cmd_serve.c is built only with libmicrohttpd (RE_WITH_SERVE); weak like the commands in cli.h. */
int cmd_serve(int argc, char **argv) __attribute__((weak));

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"animate", cmd_animate, "animate a photo with the motion of a driving video (or a motion file)"},
    {"motion", cmd_motion, "extract a driving video's motion into a reusable motion file"},
    {"reconstruct", cmd_reconstruct, "grid of aligned faces above their reconstructions"},
    {"eval", cmd_eval, "measure reconstruction and reenactment quality (JSON + summary)"},
    {"train", cmd_train, "train a VAE or VAE-GAN on a packed dataset, with checkpoints and resume"},
    {"dataset", cmd_dataset, "pack image folders (and video frames) into a training dataset file"},
    {"directions", cmd_directions, "fit latent directions (mouth, smile, eyes, brows, pose) and the motion space"},
    {"edit", cmd_edit, "change a photo's expression or pose (--smile, --yaw, ...) with the motion directions"},
    {"info", cmd_info, "print a model's architecture, parameter counts, FLOPs and metadata; verify its checksum"},
    {"convert", cmd_convert, "re-save a model for inference (f16/bf16 storage, without the discriminator)"},
    {"demo", cmd_demo, "run the bundled demo: animate the shipped face with the shipped motion"},
    {"serve", cmd_serve, "local web app and JSON API: animate photos from a browser (docs/API.md)"},
};

static void usage(FILE *f) {
    fprintf(f, "reenact %s - animate one photo with the motion of a driving video (VAE-GAN, 64x64)\n\n"
               "usage: reenact <command> [options]\n\ncommands:\n", re_version());
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (commands[i].fn) fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'reenact <command> --help' shows a command's options.\n"
               "exit status: 0 ok, 1 failure, 2 usage error\n");
}

/* OpenMP threads that spin at every barrier collapse throughput when other processes hold the cores (measured on
 * 2 cores under load: VAE step 38.5 img/s spinning vs 112 img/s sleeping). libgomp reads its settings when it is
 * loaded, before main, so unless the user chose a policy we select OMP_WAIT_POLICY=passive and re-execute once.
 * Measured with `reenact train --mode vae --threads 2` on 2 loaded cores, same minute: active 22 img/s, spin
 * count 10000 97 img/s, passive 148 img/s. REENACT_NO_REEXEC=1 (or setting either variable) disables this. */
static void tune_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("REENACT_NO_REEXEC")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    setenv("REENACT_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the defaults */
}

int main(int argc, char **argv) {
    tune_openmp(argv);
    if (argc < 2) {
        usage(stderr);
        return RE_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return RE_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("reenact %s\n", re_version());
        /* what this build can do (compiled-in libraries) */
        printf("features:");
#ifdef RE_HAVE_DNNL
        printf(" onednn");
#endif
#ifdef RE_HAVE_FFMPEG
        printf(" ffmpeg");
#endif
#ifdef RE_HAVE_DLIB
        printf(" dlib");
#endif
        if (re_dist_have_mpi()) printf(" mpi");
        printf("\n");
        return RE_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            if (!commands[i].fn) {
                fprintf(stderr, "reenact: command '%s' is not available in this build\n", argv[1]);
                return RE_EXIT_FAIL;
            }
            return commands[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "reenact: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return RE_EXIT_USAGE;
}
