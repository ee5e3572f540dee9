/*
 * fileio.c - crash-safe file replacement (POSIX): write everything to "<path>.tmp.<pid>", fflush + fsync it, rename it
 * over <path>, then fsync the containing directory so the rename itself is durable (the redis rdbSave pattern).
 * A reader therefore sees either the complete old file or the complete new one, never a torn write.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

/* fsync `dir` if it is a directory, otherwise the directory containing it ("." for a bare file name).
 * Returns RE_OK, RE_ERR_NOMEM or RE_ERR_IO (message names the directory and the errno text). Filesystems that do not
 * support fsync on directories (EINVAL) count as success: there is nothing more we can do there. */
re_status re_fsync_dir(const char *dir) {
    re_status st = RE_OK;
    char *d = NULL;
    int fd = -1;
    struct stat sb;
    if (!dir || !dir[0]) return re_fail(RE_ERR_ARG, "re_fsync_dir: empty path");
    if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        d = strdup(dir);
    } else {
        const char *slash = strrchr(dir, '/');
        if (!slash) {
            d = strdup(".");
        } else if (slash == dir) {
            d = strdup("/");
        } else {
            size_t len = (size_t)(slash - dir);
            d = malloc(len + 1);
            if (d) {
                memcpy(d, dir, len);
                d[len] = 0;
            }
        }
    }
    if (!d) {
        st = re_fail(RE_ERR_NOMEM, "re_fsync_dir: out of memory for '%s'", dir);
        goto fail;
    }
    fd = open(d, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = re_fail(RE_ERR_IO, "cannot open directory '%s' to fsync it: %s", d, strerror(errno));
        goto fail;
    }
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
        st = re_fail(RE_ERR_IO, "fsync of directory '%s' failed: %s", d, strerror(errno));
        goto fail;
    }
fail:
    if (fd >= 0) close(fd);
    free(d);
    return st;
}

/* Replace `path` atomically with what fn(f, user) writes to f. fn returns RE_OK or an error (it records its own
 * message; it must not close f). The temp file "<path>.tmp.<pid>" is created with mode 0666 & ~umask.
 * Returns RE_OK, fn's error, RE_ERR_IO (open/write/fsync/close/rename failed; message names the file and the errno
 * text) or RE_ERR_NOMEM. On every failure before the rename the temp file is removed and `path` is untouched.
 * If only the final directory fsync fails, the new file is already in place and RE_ERR_IO says so. */
re_status re_write_atomic(const char *path, re_write_fn fn, void *user) {
    re_status st = RE_OK;
    char *tmp = NULL;
    FILE *f = NULL;
    int fd = -1, created = 0;
    if (!path || !path[0] || !fn) return re_fail(RE_ERR_ARG, "re_write_atomic: empty path or no write function");

    size_t plen = strlen(path), tlen;
    if (!re_add_ok(plen, 32, &tlen)) return re_fail(RE_ERR_NOMEM, "re_write_atomic: path too long");
    tmp = malloc(tlen);
    if (!tmp) return re_fail(RE_ERR_NOMEM, "re_write_atomic: out of memory for '%s'", path);
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        st = re_fail(RE_ERR_IO, "cannot create temporary file '%s' for '%s': %s", tmp, path, strerror(errno));
        goto fail;
    }
    created = 1;
    f = fdopen(fd, "wb");
    if (!f) {
        st = re_fail(RE_ERR_IO, "fdopen of '%s' failed: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1; /* owned by f now */

    st = fn(f, user);
    if (st != RE_OK) {
        re_fail_ctx(st, "writing '%s'", path);
        goto fail;
    }
    if (fflush(f) != 0 || ferror(f)) {
        st = re_fail(RE_ERR_IO, "write to '%s' failed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (fsync(fileno(f)) != 0) {
        st = re_fail(RE_ERR_IO, "fsync of '%s' failed: %s", tmp, strerror(errno));
        goto fail;
    }
    {
        int rc = fclose(f);
        f = NULL;
        if (rc != 0) {
            st = re_fail(RE_ERR_IO, "closing '%s' failed: %s", tmp, strerror(errno));
            goto fail;
        }
    }
    if (rename(tmp, path) != 0) {
        st = re_fail(RE_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        goto fail;
    }
    created = 0;
    st = re_fsync_dir(path);
    if (st != RE_OK) re_fail_ctx(st, "'%s' was replaced but its directory could not be synced", path);
    free(tmp);
    return st;

fail:
    if (f) fclose(f);
    if (fd >= 0) close(fd);
    if (created) remove(tmp);
    free(tmp);
    return st;
}
