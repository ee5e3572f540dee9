/*
 * main.c - the reenact command-line program: subcommand dispatch. The CLI is a thin client of libreenact
 * (include/reenact/); every subcommand lives in its own cmd_*.c file.
 *   reenact <command> [options]     reenact --help     reenact --version
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"info", cmd_info, "print a model's architecture, parameter counts, FLOPs and metadata; verify its checksum"},
};

static void usage(FILE *f) {
    fprintf(f, "reenact %s - animate one photo with the motion of a driving video (VAE-GAN, 64x64)\n\n"
               "usage: reenact <command> [options]\n\ncommands:\n", re_version());
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'reenact <command> --help' shows a command's options.\n"
               "exit status: 0 ok, 1 failure, 2 usage error\n");
}

int main(int argc, char **argv) {
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
        return RE_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "reenact: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return RE_EXIT_USAGE;
}
