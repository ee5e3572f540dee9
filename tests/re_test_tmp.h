/*
 * re_test_tmp.h - files for the unit tests that write them (header-only, next to re_test.h): a temp folder (make it,
 * name files in it, count the entries a writer left behind, remove it with its content), what a path is, and a clock.
 */
#ifndef RE_TEST_TMP_H
#define RE_TEST_TMP_H
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static char re_test_dir[256];

/* Creates /tmp/re_test_NAME.XXXXXX as re_test_dir; 0 (after a message) when it cannot. */
static inline int re_test_tmpdir(const char *name) {
    snprintf(re_test_dir, sizeof re_test_dir, "/tmp/re_test_%s.XXXXXX", name);
    if (mkdtemp(re_test_dir)) return 1;
    fprintf(stderr, "cannot create a temp dir %s\n", re_test_dir);
    return 0;
}

/* Path of name in re_test_dir. A ring of 256 buffers: enough for every call a test makes, so returned paths stay
 * valid for the whole run. */
static inline const char *re_test_tmp(const char *name) {
    static char buf[256][512];
    static int k;
    k = (k + 1) % 256;
    snprintf(buf[k], sizeof buf[k], "%s/%s", re_test_dir, name);
    return buf[k];
}

/* Removes re_test_dir and everything in it. */
static inline void re_test_tmpdir_remove(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", re_test_dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", re_test_dir);
}

/* Number of entries in dir whose name contains part (at_start: begins with it); catches left-over temp files. */
static inline int re_test_count_entries(const char *dir, const char *part, int at_start) {
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        const char *hit = strstr(e->d_name, part);
        if (hit && (!at_start || hit == e->d_name)) n++;
    }
    if (d) closedir(d);
    return n;
}

/* What is at path: anything, a regular file, a folder; its size (-1 when nothing is there). */
static inline int re_test_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}
static inline int re_test_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
static inline int re_test_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
static inline long re_test_file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Monotonic clock in milliseconds. */
static inline double re_test_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
#endif
