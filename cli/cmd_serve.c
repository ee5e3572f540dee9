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

static void help(FILE *f) {
    fprintf(f,
            "usage: reenact serve [options]\n\n"
            "A local web app: open the printed address in a browser, pick a photo and a driving clip (or the\n"
            "bundled demo), and watch the result. The same server answers a JSON API (docs/API.md).\n\n"
            "  --host H              address to listen on; anything but loopback needs --token [127.0.0.1]\n"
            "  --port N              port, 0 = any free one (the address is printed) [8080]\n"
            "  --model M             model file [%s]\n"
            "  --max-upload-mb N     largest upload per request, MiB (over it: 413) [200]\n"
            "  --max-file-mb N       largest file of an upload (photo, driving, motion), MiB (over it: 413)\n"
            "                        [as --max-upload-mb]\n"
            "  --jobs N              jobs run at the same time (one worker thread and model each) [1]\n"
            "  --queue N             jobs waiting at most (a full queue answers 503) [16]\n"
            "  --max-disk-mb X       job files kept at most, MiB: after each job the oldest finished jobs are\n"
            "                        removed until they fit (0 = no limit) [0]\n"
            "  --job-ttl MIN         finished jobs (results, uploads, state) are removed this many minutes after\n"
            "                        they finished, and answered 404 afterwards (fractions allowed; 0 = never) [1440]\n"
            "  --data-dir DIR        where uploads and results stay until deleted or expired; finished jobs found\n"
            "                        there are listed again after a restart [a temporary directory, removed on exit]\n"
            "  --token T             require 'Authorization: Bearer T' (or ?token=T) on /api/ [none]\n"
            "  --live N              live webcam sessions (GET /api/live) at a time, 0 = off; each holds a model\n"
            "                        and keeps the cores busy while frames come [2]\n"
            "  --threads N           threads of each job's model stage (0 = all cores) [cores - 2, at least 1]\n"
            "  -q, --quiet           no access log\n"
            "  -h, --help            this help\n"
            "Stop with Ctrl-C or SIGTERM: running jobs are stopped and marked failed, nothing is half-written.\n"
            "exit status: 0 ok (stopped by a signal), 1 failure, 2 usage error\n",
            cli_default_model());
}

/* A temporary data dir: job directories (plain files) inside it, then itself. */
static void remove_data_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[PATH_MAX + 300];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) serve_rm_dir(p);
            else unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

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
    const char *host = "127.0.0.1", *model = NULL, *data_dir = NULL, *token = NULL, *v = NULL;
    long port = 8080, max_mb = 200, file_mb = 0, jobs = 1, queue = 16, live = 2, lv;
    double max_disk_mb = 0, ttl_min = 1440, dv;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if (cli_flag(argv, i, "--help", "-h")) {
            help(stdout);
            return RE_EXIT_OK;
        }
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, NULL, &v)) != 0)
        if (OPT("--host")) { if (r < 0) return RE_EXIT_USAGE; host = v; }
        else if (OPT("--port")) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 0, 65535, &lv)) return cli_usage_error(cmd, "--port wants 0..65535, got '%s'", v);
            port = lv;
        } else if (OPT("--model")) { if (r < 0) return RE_EXIT_USAGE; model = v; }
        else if (OPT("--max-upload-mb")) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 1, 1 << 20, &lv))
                return cli_usage_error(cmd, "--max-upload-mb wants 1..1048576, got '%s'", v);
            max_mb = lv;
        } else if (OPT("--max-file-mb")) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 1, 1 << 20, &lv))
                return cli_usage_error(cmd, "--max-file-mb wants 1..1048576, got '%s'", v);
            file_mb = lv;
        } else if (OPT("--job-ttl")) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_float(v, 0, 1e8, &dv))
                return cli_usage_error(cmd, "--job-ttl wants minutes >= 0 (0 = never), got '%s'", v);
            ttl_min = dv;
        } else if (OPT("--jobs")) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 1, 64, &lv)) return cli_usage_error(cmd, "--jobs wants 1..64, got '%s'", v);
            jobs = lv;
        } else if (OPT("--queue")) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 0, 100000, &lv)) return cli_usage_error(cmd, "--queue wants 0..100000, got '%s'", v);
            queue = lv;
        } else if (OPT("--max-disk-mb")) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_float(v, 0, 1e9, &dv)) return cli_usage_error(cmd, "--max-disk-mb wants MiB >= 0, got '%s'", v);
            max_disk_mb = dv;
        } else if (OPT("--live")) {
            if (r < 0) return RE_EXIT_USAGE;
            if (!cli_parse_int(v, 0, 64, &lv)) return cli_usage_error(cmd, "--live wants 0..64, got '%s'", v);
            live = lv;
        } else if (OPT("--data-dir")) { if (r < 0) return RE_EXIT_USAGE; data_dir = v; }
        else if (OPT("--token")) {
            if (r < 0) return RE_EXIT_USAGE;
            if (strlen(v) < 8) return cli_usage_error(cmd, "--token wants at least 8 characters");
            token = v;
        } else if (OPT("--threads")) {
            if (r < 0) return RE_EXIT_USAGE;
            if (cli_apply_threads(cmd, v)) return RE_EXIT_USAGE;
        }
#undef OPT
        else if (cli_flag(argv, i, "--quiet", "-q")) quiet = 1;
        else if (argv[i][0] == '-') return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    if (!file_mb) file_mb = max_mb;
    if (file_mb > max_mb)
        return cli_usage_error(cmd, "--max-file-mb %ld is over --max-upload-mb %ld (a request holds its files)", file_mb,
                               max_mb);
    if (!serve_host_is_loopback(host)) {
        fprintf(stderr, "reenact serve: warning: --host %s makes the server reachable from other machines; anyone "
                        "who can reach it and knows the token can run jobs and read results\n", host);
        if (!token) return cli_usage_error(cmd, "--host %s is not loopback: --token T is required", host);
    }
    if (!model) model = cli_default_model();
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
        if (temp) remove_data_dir(data_dir);
        return RE_EXIT_FAIL;
    }
    serve_http *H = NULL;
    serve_http_cfg hc = {host, (int)port, token, (uint64_t)max_mb << 20, (uint64_t)file_mb << 20, J, model,
                         demo_photo, demo_motion, quiet, (int)live};
    if (serve_http_start(&H, &hc, err, sizeof err)) {
        fprintf(stderr, "reenact serve: %s\n", err);
        serve_jobs_stop(J);
        if (temp) remove_data_dir(data_dir);
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
    if (temp) remove_data_dir(data_dir);
    return RE_EXIT_OK;
}
