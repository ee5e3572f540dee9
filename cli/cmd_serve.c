/*
 * cmd_serve.c - `reenact serve`: a local web app and JSON API for animating photos (issue 15). The page is
 * embedded in the binary; jobs run on worker threads through re_animate. Layout: serve_parse.c (routes, fields,
 * sniffing; fuzzed), serve_jobs.c (queue, workers, data dir), serve_http.c (libmicrohttpd), serve_live.c and
 * serve_ws.c (the live WebSocket channel, GET /api/live). API: docs/API.md.
 *   reenact serve [--host 127.0.0.1] [--port 8080] [--model M] [--max-upload-mb 200] [--max-file-mb N] [--jobs 1]
 *                 [--queue 16] [--data-dir DIR] [--max-disk-mb X] [--job-ttl 1440] [--token T] [--live 2]
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "serve_http.h"
#include "serve_jobs.h"

static const char usage[] =
    "usage: reenact serve [options]\n\n"
    "A local web app: open the printed address in a browser, pick a photo and a driving clip (or "
    "the\nbundled demo), and watch the result. The same server answers a JSON API "
    "(docs/API.md).\n\n";
static const char footer[] =
    "Stop with Ctrl-C or SIGTERM: running jobs are stopped and marked failed, nothing is "
    "half-written.\nexit status: 0 ok (stopped by a signal), 1 failure, 2 usage error\n";

/* The bundled demo file `name` next to the model, as an absolute path (jobs name their own files relative to their
 * directory), or NULL when it is not there. buf has PATH_MAX bytes. */
static const char *sibling(char *buf, const char *model, const char *name) {
    char dir[PATH_MAX], rel[PATH_MAX + 256];
    snprintf(dir, sizeof dir, "%s", model);
    char *s = strrchr(dir, '/');
    if (s) *s = 0;
    else snprintf(dir, sizeof dir, ".");
    snprintf(rel, sizeof rel, "%s/%s", dir, name);
    return realpath(rel, buf) && access(buf, R_OK) == 0 ? buf : NULL;
}

int cmd_serve(int argc, char **argv) {
    const char *cmd = "serve";
    const char *host = "127.0.0.1", *model = cli_default_model(), *data_dir = NULL, *token = NULL;
    long port = 8080, max_mb = 200, file_mb = 0, jobs = 1, queue = 16, live = 2;
    double max_disk_mb = 0, ttl_min = 1440;
    int quiet = 0, threads = 0, threads_given = 0;
    cli_opt opts[] = {
        CLI_STR("--host", NULL, &host, "H", "address to listen on; anything but loopback needs --token"),
        CLI_INT("--port", NULL, &port, "N", 0, 65535, "port, 0 = any free one (the address is printed)"),
        CLI_STR("--model", NULL, &model, "M", "model file"),
        CLI_INT("--max-upload-mb", NULL, &max_mb, "N", 1, 1 << 20, "largest upload per request, MiB (over it: 413)"),
        CLI_INT("--max-file-mb", NULL, &file_mb, "N", 1, 1 << 20, "largest file of an upload (photo, driving, motion), "
                "MiB (over it: 413)", .def = "as --max-upload-mb"),
        CLI_INT("--jobs", NULL, &jobs, "N", 1, 64, "jobs run at the same time (one worker thread and model each)"),
        CLI_INT("--queue", NULL, &queue, "N", 0, 100000, "jobs waiting at most (a full queue answers 503)"),
        CLI_NUM("--max-disk-mb", NULL, &max_disk_mb, "X", 0, 1e9, "job files kept at most, MiB: after each job the "
                "oldest finished jobs are removed until they fit (0 = no limit)"),
        CLI_NUM("--job-ttl", NULL, &ttl_min, "MIN", 0, 1e8, "finished jobs (results, uploads, state) are removed this "
                "many minutes after they finished, and answered 404 afterwards (fractions allowed; 0 = never)"),
        CLI_STR("--data-dir", NULL, &data_dir, "DIR", "where uploads and results stay until deleted or expired; "
                "finished jobs found there are listed again after a restart",
                .def = "a temporary directory, removed on exit"),
        CLI_STR("--token", NULL, &token, "T", "require 'Authorization: Bearer T' (or ?token=T) on /api/", .lo = 8),
        CLI_INT("--live", NULL, &live, "N", 0, 64, "live webcam sessions (GET /api/live) at a time, 0 = off; each holds "
                "a model and keeps the cores busy while frames come"),
        CLI_THREADS_OPT(&threads, &threads_given, "cores - 2, at least 1",
                        "threads of each job's model stage, 0 = all cores"),
        CLI_FLAG("--quiet", "-q", &quiet, 1, "no access log"),
        CLI_END,
    };
    cli_cmd c = {.name = cmd, .opts = opts, .usage = usage, .footer = footer};
    const int prc = cli_parse(&c, argc, argv);
    if (prc != CLI_GO) return prc;
    if (threads_given) re_set_threads(threads);
    if (!file_mb) file_mb = max_mb;
    if (file_mb > max_mb)
        return cli_usage_error(cmd, "--max-file-mb %ld is over --max-upload-mb %ld (a request holds its files)", file_mb,
                               max_mb);
    if (!serve_host_is_loopback(host)) {
        fprintf(stderr, "reenact serve: warning: --host %s makes the server reachable from other machines; anyone "
                        "who can reach it and knows the token can run jobs and read results\n", host);
        if (!token) return cli_usage_error(cmd, "--host %s is not loopback: --token T is required", host);
    }
    if (cli_model_missing_help(cmd, model)) return RE_EXIT_FAIL;

    char tmpdir[PATH_MAX];
    int temp = 0;
    if (data_dir) {
        struct stat sb;
        if (stat(data_dir, &sb) != 0 && mkdir(data_dir, 0700) != 0)
            return cli_fail(cmd, RE_OK, "cannot create --data-dir '%s': %s", data_dir, strerror(errno));
        if (stat(data_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return cli_fail(cmd, RE_OK, "--data-dir '%s' is not a directory", data_dir);
        if (access(data_dir, W_OK | X_OK) != 0)
            return cli_fail(cmd, RE_OK, "--data-dir '%s' is not writable", data_dir);
    } else {
        const char *t = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/reenact-serve.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpdir)) return cli_fail(cmd, RE_OK, "cannot create a temporary data dir: %s", strerror(errno));
        data_dir = tmpdir;
        temp = 1;
    }
    char dp[PATH_MAX], dm[PATH_MAX];
    const char *demo_photo = sibling(dp, model, "demo_photo.png");
    const char *demo_motion = sibling(dm, model, "demo.motion");

    /* Every thread started from here on inherits this mask: SIGINT/SIGTERM are taken by sigwait below only. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[1024];
    serve_jobs *J = NULL;
    serve_jobs_cfg jc = {data_dir, model, (int)jobs, (int)queue, (uint64_t)(max_disk_mb * 1048576.0), ttl_min * 60.0};
    if (serve_jobs_start(&J, &jc, err, sizeof err)) {
        fprintf(stderr, "reenact serve: %s\n", err);
        if (temp) serve_rm_data_dir(data_dir);
        return RE_EXIT_FAIL;
    }
    serve_http *H = NULL;
    serve_http_cfg hc = {host, (int)port, token, (uint64_t)max_mb << 20, (uint64_t)file_mb << 20, J, model,
                         demo_photo, demo_motion, quiet, (int)live};
    if (serve_http_start(&H, &hc, err, sizeof err)) {
        fprintf(stderr, "reenact serve: %s\n", err);
        serve_jobs_stop(J);
        if (temp) serve_rm_data_dir(data_dir);
        return RE_EXIT_FAIL;
    }
    const int v6 = strchr(host, ':') != NULL;
    printf("reenact serve: listening on http://%s%s%s:%d/\n", v6 ? "[" : "", host, v6 ? "]" : "",
           serve_http_port(H));
    printf("  model %s | %ld worker(s), queue %ld | uploads up to %ld MiB, %ld MiB a file | data dir %s%s", model,
           jobs, queue, max_mb, file_mb, data_dir, temp ? " (temporary)" : "");
    if (max_disk_mb > 0) printf(", at most %g MiB", max_disk_mb);
    if (ttl_min > 0) printf(", jobs kept %g min", ttl_min);
    else printf(", jobs kept until deleted");
    printf(" | live %ld | demo %s%s\n", live, demo_photo && demo_motion ? "yes" : "no",
           token ? " | token required" : "");
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "reenact serve: %s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    serve_jobs_shutdown(J);   /* event streams end, running jobs stop at their next frame */
    serve_http_stop(H);
    serve_jobs_stop(J);
    if (temp) serve_rm_data_dir(data_dir);
    return RE_EXIT_OK;
}
