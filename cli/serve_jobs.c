/*
 * serve_jobs.c - job table, bounded queue and worker threads of `reenact serve` (see serve_jobs.h). Each worker
 * owns a model and, once a job needs one, a face detector, and runs one re_animate at a time; the progress callback
 * publishes frame counts under the table's mutex and wakes the server-sent-event streams. Cancelling uses the
 * callback's return value, the only stop the public API offers: a job is stopped at its next written frame (setup
 * before the first frame runs to its end). A janitor thread removes finished jobs once they are older than the TTL
 * (--job-ttl).
 */
#include "serve_jobs.h"
#include "reenact/directions.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reenact/face.h"

struct serve_job {
    char id[SERVE_ID_LEN + 1];
    char dir[PATH_MAX];
    int refs;              /* the table's (while listed) + workers' + HTTP handlers' */
    int listed;
    int cancel;            /* DELETE while running */
    int expired;           /* removed by the TTL (its event stream says so) */
    serve_state state;
    int64_t frame, frames; /* progress; frames = -1 while unknown */
    double fps, elapsed_s;
    int64_t seq;           /* bumped at every change */
    char error[512];
    char warning[512];
    serve_opts o;
    char photo[PATH_MAX], driving[PATH_MAX], motion[PATH_MAX];
    int has_result, has_storyboard;
    int out_w, out_h, fps_num, fps_den;
    int64_t lost_frames;
    double created;        /* seconds since the epoch */
    double t_start;        /* monotonic, when running began */
    double started, finished;   /* seconds since the epoch, 0 = not yet */
    serve_job *next;       /* table */
    serve_job *qnext;      /* queue */
};

struct serve_jobs {
    pthread_mutex_t mu;
    pthread_cond_t qcv;    /* queue: a job arrived or stopping */
    pthread_cond_t chg;    /* any job changed or stopping */
    serve_job *all;        /* newest first */
    serve_job *qhead, *qtail;
    int queued, running, queue_max, stopping;
    uint64_t max_disk;
    int64_t evicted;       /* jobs removed to keep under max_disk */
    double ttl;            /* seconds a finished job is kept (0: until deleted) */
    int64_t expired;       /* jobs removed by the TTL */
    pthread_cond_t jcv;    /* wakes the janitor at shutdown */
    pthread_t janitor;
    int janitor_started;
    int nworkers;          /* models loaded (= --jobs) */
    int nthreads;          /* worker threads started */
    pthread_t *th;
    re_model **models;
    char data_dir[PATH_MAX];
    char model_path[PATH_MAX];
};

typedef struct worker_arg { serve_jobs *J; int w; } worker_arg;

static double now_mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double now_epoch(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Remove dir's entries, then dir: its folders too down to depth more levels (removed the same way), else plain
 * files only (all names are ours). */
static void rm_dir_depth(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[PATH_MAX + 300];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (depth > 0 && lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) rm_dir_depth(p, depth - 1);
            else unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

void serve_rm_dir(const char *dir) { rm_dir_depth(dir, 0); }
void serve_rm_data_dir(const char *dir) { rm_dir_depth(dir, 1); }

static const char *state_name(serve_state s) {
    switch (s) {
    case SERVE_QUEUED: return "queued";
    case SERVE_RUNNING: return "running";
    case SERVE_DONE: return "done";
    default: return "failed";
    }
}

static void changed(serve_jobs *J, serve_job *j) {   /* under mu */
    j->seq++;
    pthread_cond_broadcast(&J->chg);
}

static void job_unref(serve_jobs *J, serve_job *j) {   /* under mu */
    if (--j->refs == 0) free(j);
    (void)J;
}

/* A finished job older than the TTL (under mu). Queued and running jobs never expire. */
static int is_expired(const serve_jobs *J, const serve_job *j, double now) {
    return J->ttl > 0 && (j->state == SERVE_DONE || j->state == SERVE_FAILED) && j->finished > 0 &&
           now >= j->finished + J->ttl;
}

static int remove_job(serve_jobs *J, const char *id, int expired);

/* job.json: what a restarted server needs to list a finished job again. Written to a temp name, then renamed. */
static void job_persist(serve_jobs *J, serve_job *j) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:f, s:s, s:b, s:b, s:i, s:i, s:i, s:i, s:I, s:f, s:f, s:f}", "id", j->id,
                          "state", state_name(j->state), "error", j->error, "frames", (json_int_t)j->frame,
                          "elapsed_s", j->elapsed_s, "format", serve_format_ext(j->o.a.format), "result",
                          j->has_result, "storyboard", j->has_storyboard, "width", j->out_w, "height", j->out_h,
                          "fps_num", j->fps_num, "fps_den", j->fps_den, "lost_frames", (json_int_t)j->lost_frames,
                          "created", j->created, "started", j->started, "finished", j->finished);
    if (!o) return;
    char tmp[PATH_MAX + 32], dst[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s/.job.json.tmp", j->dir);
    snprintf(dst, sizeof dst, "%s/job.json", j->dir);
    if (json_dump_file(o, tmp, JSON_COMPACT) == 0) {
        int fd = open(tmp, O_RDONLY);
        if (fd >= 0) { fsync(fd); close(fd); }
        if (rename(tmp, dst) != 0) unlink(tmp);
    } else {
        unlink(tmp);
    }
    json_decref(o);
    (void)J;
}

/* ---- the worker ----------------------------------------------------------------------------------------- */
typedef struct prog_ctx { serve_jobs *J; serve_job *j; double last; } prog_ctx;

static int on_progress(const re_anim_progress *p, void *user) {
    prog_ctx *c = user;
    serve_jobs *J = c->J;
    pthread_mutex_lock(&J->mu);
    serve_job *j = c->j;
    j->frame = p->done;
    j->frames = p->total;
    j->elapsed_s = p->elapsed_s;
    j->fps = p->elapsed_s > 0 ? (double)p->done / p->elapsed_s : 0;
    changed(J, j);
    int stop = j->cancel || J->stopping;
    pthread_mutex_unlock(&J->mu);
    return stop;
}

static void run_job(serve_jobs *J, int w, re_face_detector **det, serve_job *j) {
    re_anim_opts o = j->o.a;
    char out[PATH_MAX + 32], sb[PATH_MAX + 32];
    re_motion *mo = NULL;
    re_status s = RE_OK;
    char err[512] = "";
    snprintf(out, sizeof out, "%s/result.%s", j->dir, serve_format_ext(o.format));
    snprintf(sb, sizeof sb, "%s/storyboard.png", j->dir);
    o.source = j->photo;
    o.driving = j->driving[0] ? j->driving : NULL;
    o.output = out;
    o.storyboard = j->o.storyboard ? sb : NULL;
    if (o.paste_back && j->o.size_given) o.paste_max_side = o.out_size;
    if (j->motion[0]) {
        if ((s = re_motion_load(&mo, j->motion)) != RE_OK ||
            (s = re_motion_check_model(mo, J->models[w], "the motion file")) != RE_OK) {
            snprintf(err, sizeof err, "motion file: %s", re_last_error());
            goto done;
        }
        o.motion = mo;
    }
    {   /* motion controls: smile and brows came in sigmas of the model's directions */
        const re_directions *d = re_model_directions(J->models[w]);
        if (!d && re_steer_needs_directions(&o.steer)) {
            snprintf(err, sizeof err, "the motion controls need a model with directions; this server's model has "
                     "none (start it with the bundled model)");
            goto done;
        }
        if (d) {
            o.steer.offset[RE_ATTR_SMILE] *= d->sigma[RE_ATTR_SMILE];
            o.steer.offset[RE_ATTR_BROWS] *= d->sigma[RE_ATTR_BROWS];
        }
    }
    if (!o.aligned && !*det) re_face_detector_open(det, NULL);   /* NULL (no dlib): re_animate reports it */
    o.detector = *det;
    prog_ctx pc = {J, j, 0};
    o.progress = on_progress;
    o.progress_user = &pc;
    re_anim_stats st;
    memset(&st, 0, sizeof st);
    s = re_animate(J->models[w], &o, &st);
    if (s != RE_OK) snprintf(err, sizeof err, "%s", re_last_error());
    pthread_mutex_lock(&J->mu);
    j->frame = st.frames;
    if (s == RE_OK) j->frames = st.frames;
    j->elapsed_s = st.wall_s;
    j->fps = st.wall_s > 0 ? (double)st.frames / st.wall_s : 0;
    j->out_w = st.out_w;
    j->out_h = st.out_h;
    j->fps_num = st.fps_num;
    j->fps_den = st.fps_den;
    j->lost_frames = st.lost_frames;
    if (s == RE_OK && st.lost_frames > 0)
        snprintf(j->warning, sizeof j->warning, "no face in %lld of %lld driving frames; the last face's motion was "
                 "held there", (long long)st.lost_frames, (long long)st.frames);
    else if (s == RE_OK && st.source_faces > 1)
        snprintf(j->warning, sizeof j->warning, "%d faces in the photo; the largest was used", st.source_faces);
    pthread_mutex_unlock(&J->mu);
done:
    re_motion_free(mo);
    pthread_mutex_lock(&J->mu);
    j->finished = now_epoch();
    if (s == RE_OK) {
        j->state = SERVE_DONE;
        j->has_result = 1;
        j->has_storyboard = j->o.storyboard && access(sb, R_OK) == 0;
    } else {
        j->state = SERVE_FAILED;
        if (s == RE_ERR_INTERRUPTED && J->stopping)
            snprintf(j->error, sizeof j->error, "the server shut down while the job ran; it was stopped");
        else if (s == RE_ERR_INTERRUPTED && j->cancel)
            snprintf(j->error, sizeof j->error, "deleted while running");
        else
            snprintf(j->error, sizeof j->error, "%s", err[0] ? err : "animation failed");
        char prefix[PATH_MAX + 2];
        snprintf(prefix, sizeof prefix, "%s/", j->dir);
        serve_scrub(j->error, prefix);   /* "the source photo 'photo'", not where the server keeps it */
    }
    int keep = j->listed;
    pthread_mutex_unlock(&J->mu);
    if (keep) job_persist(J, j);
}

static uint64_t dir_bytes(const char *dir) {
    uint64_t n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    char p[PATH_MAX + 256];
    struct stat sb;
    while ((e = readdir(d))) {
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && lstat(p, &sb) == 0 && S_ISREG(sb.st_mode)) n += (uint64_t)sb.st_size;
    }
    closedir(d);
    return n;
}

typedef struct job_size {
    char id[SERVE_ID_LEN + 1];
    char dir[PATH_MAX];
    double finished;
    int evictable;     /* finished, and not the job that was just run */
    uint64_t bytes;
} job_size;

/* Snapshot of the listed jobs with their sizes (measured outside the lock); *n entries, caller frees. */
static job_size *job_sizes(serve_jobs *J, const serve_job *keep, int *n) {
    *n = 0;
    pthread_mutex_lock(&J->mu);
    int cnt = 0;
    for (serve_job *j = J->all; j; j = j->next) cnt++;
    job_size *v = calloc((size_t)cnt + 1, sizeof *v);
    if (v)
        for (serve_job *j = J->all; j; j = j->next) {
            job_size *z = &v[(*n)++];
            memcpy(z->id, j->id, sizeof z->id);
            snprintf(z->dir, sizeof z->dir, "%s", j->dir);
            z->finished = j->finished;
            z->evictable = j != keep && (j->state == SERVE_DONE || j->state == SERVE_FAILED);
        }
    pthread_mutex_unlock(&J->mu);
    for (int i = 0; v && i < *n; i++) v[i].bytes = dir_bytes(v[i].dir);
    return v;
}

uint64_t serve_jobs_disk_bytes(serve_jobs *J) {
    int n;
    job_size *v = job_sizes(J, NULL, &n);
    uint64_t t = 0;
    for (int i = 0; v && i < n; i++) t += v[i].bytes;
    free(v);
    return t;
}

/* --max-disk-mb: remove the oldest finished jobs (never `keep`) until the job files fit. */
static void evict(serve_jobs *J, const serve_job *keep) {
    if (!J->max_disk) return;
    int n;
    job_size *v = job_sizes(J, keep, &n);
    if (!v) return;
    uint64_t total = 0;
    for (int i = 0; i < n; i++) total += v[i].bytes;
    while (total > J->max_disk) {
        int oldest = -1;
        for (int i = 0; i < n; i++)
            if (v[i].evictable && (oldest < 0 || v[i].finished < v[oldest].finished)) oldest = i;
        if (oldest < 0) break;
        v[oldest].evictable = 0;
        if (serve_jobs_delete(J, v[oldest].id) == 0) {
            total -= v[oldest].bytes;
            pthread_mutex_lock(&J->mu);
            J->evicted++;
            pthread_mutex_unlock(&J->mu);
        }
    }
    free(v);
}

static void *worker_main(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    serve_jobs *J = wa.J;
    re_face_detector *det = NULL;
#ifdef RE_HAVE_DLIB
    /* open the detector now, not in the first job (it loads the landmark model: seconds on a busy machine) */
    re_face_detector_open(&det, NULL);
#endif
    for (;;) {
        pthread_mutex_lock(&J->mu);
        while (!J->stopping && !J->qhead) pthread_cond_wait(&J->qcv, &J->mu);
        if (J->stopping) {
            pthread_mutex_unlock(&J->mu);
            break;
        }
        serve_job *j = J->qhead;
        J->qhead = j->qnext;
        if (!J->qhead) J->qtail = NULL;
        j->qnext = NULL;
        J->queued--;
        J->running++;
        j->refs++;
        j->state = SERVE_RUNNING;
        j->t_start = now_mono();
        j->started = now_epoch();
        changed(J, j);
        pthread_mutex_unlock(&J->mu);

        run_job(J, wa.w, &det, j);

        pthread_mutex_lock(&J->mu);
        J->running--;
        changed(J, j);
        int gone = !j->listed;
        pthread_mutex_unlock(&J->mu);
        if (gone) serve_rm_dir(j->dir);   /* deleted while running */
        else evict(J, j);
        pthread_mutex_lock(&J->mu);
        job_unref(J, j);
        pthread_mutex_unlock(&J->mu);
    }
    re_face_detector_free(det);
    return NULL;
}

/* ---- expiry (--job-ttl) --------------------------------------------------------------------------------- */
int serve_jobs_expire(serve_jobs *J) {
    if (J->ttl <= 0) return 0;
    int n = 0, cnt = 0;
    pthread_mutex_lock(&J->mu);
    const double now = now_epoch();
    for (serve_job *j = J->all; j; j = j->next) cnt += is_expired(J, j, now);
    char (*ids)[SERVE_ID_LEN + 1] = cnt ? malloc((size_t)cnt * sizeof *ids) : NULL;
    if (ids)
        for (serve_job *j = J->all; j && n < cnt; j = j->next)
            if (is_expired(J, j, now)) memcpy(ids[n++], j->id, SERVE_ID_LEN + 1);
    pthread_mutex_unlock(&J->mu);
    int gone = 0;
    for (int i = 0; i < n; i++) gone += remove_job(J, ids[i], 1) == 0;
    free(ids);
    return gone;
}

/* Wakes every 1/20 of the TTL (at least every minute, at most 4 times a second) and removes expired jobs. */
static void *janitor_main(void *arg) {
    serve_jobs *J = arg;
    double period = J->ttl / 20;
    if (period < 0.25) period = 0.25;
    if (period > 60) period = 60;
    pthread_mutex_lock(&J->mu);
    while (!J->stopping) {
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        const long long ns = (long long)(period * 1e9) + dl.tv_nsec;
        dl.tv_sec += (time_t)(ns / 1000000000LL);
        dl.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&J->jcv, &J->mu, &dl);
        if (J->stopping) break;
        pthread_mutex_unlock(&J->mu);
        serve_jobs_expire(J);
        pthread_mutex_lock(&J->mu);
    }
    pthread_mutex_unlock(&J->mu);
    return NULL;
}

/* ---- setup and teardown --------------------------------------------------------------------------------- */
static void restore(serve_jobs *J) {
    DIR *d = opendir(J->data_dir);
    if (!d) return;
    struct dirent *e;
    char p[PATH_MAX + 300];
    while ((e = readdir(d))) {
        snprintf(p, sizeof p, "%s/%s", J->data_dir, e->d_name);
        if (!strncmp(e->d_name, ".up-", 4)) { serve_rm_dir(p); continue; }   /* an upload cut short */
        if (!serve_id_valid(e->d_name)) continue;                       /* not ours */
        char jf[PATH_MAX + 340];
        snprintf(jf, sizeof jf, "%s/job.json", p);
        json_t *o = json_load_file(jf, 0, NULL);
        const char *st = o ? json_string_value(json_object_get(o, "state")) : NULL;
        if (!st || (strcmp(st, "done") && strcmp(st, "failed"))) {   /* never finished: half-written */
            json_decref(o);
            serve_rm_dir(p);
            continue;
        }
        serve_job *j = calloc(1, sizeof *j);
        if (!j) { json_decref(o); break; }
        memcpy(j->id, e->d_name, SERVE_ID_LEN);   /* serve_id_valid: exactly SERVE_ID_LEN characters */
        snprintf(j->dir, sizeof j->dir, "%.3800s/%s", J->data_dir, j->id);
        j->refs = 1;
        j->listed = 1;
        j->state = strcmp(st, "done") ? SERVE_FAILED : SERVE_DONE;
        serve_opts_default(&j->o);
        const char *fmt = json_string_value(json_object_get(o, "format"));
        j->o.a.format = fmt && !strcmp(fmt, "webm") ? RE_VIDEO_WEBM : fmt && !strcmp(fmt, "gif") ? RE_VIDEO_GIF
                                                                                                   : RE_VIDEO_MP4;
        const char *er = json_string_value(json_object_get(o, "error"));
        snprintf(j->error, sizeof j->error, "%s", er ? er : "");
        j->frame = j->frames = json_integer_value(json_object_get(o, "frames"));
        j->elapsed_s = json_number_value(json_object_get(o, "elapsed_s"));
        j->fps = j->elapsed_s > 0 ? (double)j->frame / j->elapsed_s : 0;
        j->has_result = json_is_true(json_object_get(o, "result"));
        j->has_storyboard = json_is_true(json_object_get(o, "storyboard"));
        j->out_w = (int)json_integer_value(json_object_get(o, "width"));
        j->out_h = (int)json_integer_value(json_object_get(o, "height"));
        j->fps_num = (int)json_integer_value(json_object_get(o, "fps_num"));
        j->fps_den = (int)json_integer_value(json_object_get(o, "fps_den"));
        j->lost_frames = json_integer_value(json_object_get(o, "lost_frames"));
        j->created = json_number_value(json_object_get(o, "created"));
        j->started = json_number_value(json_object_get(o, "started"));
        j->finished = json_number_value(json_object_get(o, "finished"));
        struct stat jsb;
        if (j->finished <= 0 && stat(jf, &jsb) == 0) j->finished = (double)jsb.st_mtime;   /* for --job-ttl */
        json_decref(o);
        j->next = J->all;
        J->all = j;
    }
    closedir(d);
}

int serve_jobs_start(serve_jobs **out, const serve_jobs_cfg *cfg, char *err, size_t errn) {
    *out = NULL;
    serve_jobs *J = calloc(1, sizeof *J);
    if (!J) { snprintf(err, errn, "out of memory"); return -1; }
    pthread_mutex_init(&J->mu, NULL);
    pthread_cond_init(&J->qcv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&J->chg, &ca);
    pthread_cond_init(&J->jcv, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(J->data_dir, sizeof J->data_dir, "%s", cfg->data_dir);
    snprintf(J->model_path, sizeof J->model_path, "%s", cfg->model_path);
    J->queue_max = cfg->queue_max;
    J->max_disk = cfg->max_disk;
    J->ttl = cfg->job_ttl_s > 0 ? cfg->job_ttl_s : 0;
    J->nworkers = cfg->workers;
    J->models = calloc((size_t)J->nworkers, sizeof *J->models);
    J->th = calloc((size_t)J->nworkers, sizeof *J->th);
    if (!J->models || !J->th) { snprintf(err, errn, "out of memory"); goto fail; }
    for (int w = 0; w < J->nworkers; w++) {
        re_status s = re_model_load(&J->models[w], cfg->model_path);
        if (s != RE_OK) {
            snprintf(err, errn, "cannot load model '%s': %s", cfg->model_path, re_last_error());
            goto fail;
        }
    }
    restore(J);
    serve_jobs_expire(J);   /* jobs that expired while the server was down */
    evict(J, NULL);
    for (int w = 0; w < J->nworkers; w++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) { snprintf(err, errn, "out of memory"); goto fail; }
        a->J = J;
        a->w = w;
        if (pthread_create(&J->th[w], NULL, worker_main, a) != 0) {
            free(a);
            snprintf(err, errn, "cannot start worker thread %d", w);
            goto fail;
        }
        J->nthreads++;
    }
    if (J->ttl > 0) {
        if (pthread_create(&J->janitor, NULL, janitor_main, J) != 0) {
            snprintf(err, errn, "cannot start the job expiry thread");
            goto fail;
        }
        J->janitor_started = 1;
    }
    *out = J;
    return 0;
fail:
    serve_jobs_stop(J);
    return -1;
}

void serve_jobs_shutdown(serve_jobs *J) {
    if (!J) return;
    pthread_mutex_lock(&J->mu);
    J->stopping = 1;
    for (serve_job *j = J->qhead; j; j = j->qnext) {   /* queued jobs never start */
        j->state = SERVE_FAILED;
        snprintf(j->error, sizeof j->error, "the server shut down before the job started");
        j->finished = now_epoch();   /* so --job-ttl counts from here after a restart */
        j->seq++;
    }
    J->qhead = J->qtail = NULL;
    J->queued = 0;
    pthread_cond_broadcast(&J->qcv);
    pthread_cond_broadcast(&J->chg);
    pthread_cond_broadcast(&J->jcv);
    pthread_mutex_unlock(&J->mu);
}

void serve_jobs_stop(serve_jobs *J) {
    if (!J) return;
    serve_jobs_shutdown(J);
    for (int w = 0; w < J->nthreads; w++) pthread_join(J->th[w], NULL);
    if (J->janitor_started) pthread_join(J->janitor, NULL);
    for (serve_job *j = J->all; j; j = j->next)
        if (j->state == SERVE_FAILED && !j->has_result) job_persist(J, j);
    serve_job *j = J->all;
    while (j) {
        serve_job *n = j->next;
        free(j);   /* the HTTP side has stopped: no other references remain */
        j = n;
    }
    if (J->models)
        for (int w = 0; w < J->nworkers; w++) re_model_free(J->models[w]);
    free(J->models);
    free(J->th);
    pthread_mutex_destroy(&J->mu);
    pthread_cond_destroy(&J->qcv);
    pthread_cond_destroy(&J->chg);
    pthread_cond_destroy(&J->jcv);
    free(J);
}

const re_model *serve_jobs_model(const serve_jobs *J) { return J->models[0]; }
const char *serve_jobs_data_dir(const serve_jobs *J) { return J->data_dir; }
double serve_jobs_ttl(const serve_jobs *J) { return J->ttl; }

/* ---- jobs ----------------------------------------------------------------------------------------------- */
static serve_job *find(serve_jobs *J, const char *id) {   /* under mu */
    for (serve_job *j = J->all; j; j = j->next)
        if (!strcmp(j->id, id)) return j;
    return NULL;
}

int serve_jobs_new_id(serve_jobs *J, char id[SERVE_ID_LEN + 1]) {
    for (int tries = 0; tries < 8; tries++) {
        uint8_t r[SERVE_ID_LEN / 2];
        size_t got = 0;
        while (got < sizeof r) {
            ssize_t k = getrandom(r + got, sizeof r - got, 0);
            if (k < 0) {
                if (errno == EINTR) continue;
                return -1;
            }
            got += (size_t)k;
        }
        for (size_t i = 0; i < sizeof r; i++) snprintf(id + 2 * i, 3, "%02x", r[i]);
        pthread_mutex_lock(&J->mu);
        int taken = find(J, id) != NULL;
        pthread_mutex_unlock(&J->mu);
        if (!taken) return 0;
    }
    return -1;
}

static void set_path(char *dst, const char *dir, const char *name) {
    if (!name) dst[0] = 0;
    else if (name[0] == '/') snprintf(dst, PATH_MAX, "%s", name);
    else snprintf(dst, PATH_MAX, "%.3800s/%s", dir, name);
}

int serve_jobs_submit(serve_jobs *J, const char *id, const char *photo, const char *driving, const char *motion,
                      const serve_opts *o) {
    serve_job *j = calloc(1, sizeof *j);
    if (!j) return -1;
    snprintf(j->id, sizeof j->id, "%s", id);
    snprintf(j->dir, sizeof j->dir, "%.3800s/%s", J->data_dir, id);
    set_path(j->photo, j->dir, photo);
    set_path(j->driving, j->dir, driving);
    set_path(j->motion, j->dir, motion);
    j->o = *o;
    j->refs = 1;
    j->listed = 1;
    j->frames = o->a.max_frames > 0 ? o->a.max_frames : -1;
    j->state = SERVE_QUEUED;
    j->created = now_epoch();
    pthread_mutex_lock(&J->mu);
    if (J->stopping) {
        pthread_mutex_unlock(&J->mu);
        free(j);
        return -1;
    }
    if (J->queued >= J->queue_max + (J->nthreads - J->running)) {   /* idle workers take jobs at once */
        pthread_mutex_unlock(&J->mu);
        free(j);
        return 1;
    }
    j->next = J->all;
    J->all = j;
    if (J->qtail) J->qtail->qnext = j;
    else J->qhead = j;
    J->qtail = j;
    J->queued++;
    pthread_cond_signal(&J->qcv);
    pthread_mutex_unlock(&J->mu);
    return 0;
}

serve_job *serve_jobs_get(serve_jobs *J, const char *id) {
    if (!serve_id_valid(id)) return NULL;
    pthread_mutex_lock(&J->mu);
    serve_job *j = find(J, id);
    if (j && is_expired(J, j, now_epoch())) {   /* the janitor has not been by yet: remove it now */
        pthread_mutex_unlock(&J->mu);
        remove_job(J, id, 1);
        return NULL;
    }
    if (j) j->refs++;
    pthread_mutex_unlock(&J->mu);
    return j;
}

void serve_job_release(serve_jobs *J, serve_job *j) {
    if (!j) return;
    pthread_mutex_lock(&J->mu);
    job_unref(J, j);
    pthread_mutex_unlock(&J->mu);
}

int serve_jobs_delete(serve_jobs *J, const char *id) {
    serve_job *j = serve_jobs_get(J, id);   /* an expired job is gone already: 404 */
    if (!j) return -1;
    serve_job_release(J, j);
    return remove_job(J, id, 0);
}

static int remove_job(serve_jobs *J, const char *id, int expired) {
    if (!serve_id_valid(id)) return -1;
    pthread_mutex_lock(&J->mu);
    serve_job **pp = &J->all;
    while (*pp && strcmp((*pp)->id, id)) pp = &(*pp)->next;
    serve_job *j = *pp;
    if (!j) {
        pthread_mutex_unlock(&J->mu);
        return -1;
    }
    if (expired && !is_expired(J, j, now_epoch())) {   /* not (any longer) a candidate */
        pthread_mutex_unlock(&J->mu);
        return -1;
    }
    *pp = j->next;
    j->next = NULL;
    j->listed = 0;
    j->expired = expired;
    if (expired) J->expired++;
    int remove_now = 1;
    if (j->state == SERVE_QUEUED) {
        serve_job **qp = &J->qhead, *prev = NULL;
        while (*qp && *qp != j) { prev = *qp; qp = &(*qp)->qnext; }
        if (*qp) {
            *qp = j->qnext;
            if (J->qtail == j) J->qtail = prev;
            J->queued--;
        }
        j->state = SERVE_FAILED;
        snprintf(j->error, sizeof j->error, "deleted before it started");
    } else if (j->state == SERVE_RUNNING) {
        j->cancel = 1;
        remove_now = 0;   /* the worker removes the files once re_animate returns */
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", j->dir);
    changed(J, j);
    job_unref(J, j);   /* the table's reference */
    pthread_mutex_unlock(&J->mu);
    if (remove_now) serve_rm_dir(dir);
    return 0;
}

static json_t *job_json_locked(serve_jobs *J, serve_job *j) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set_new(o, "state", json_string(state_name(j->state)));
    json_object_set_new(o, "frame", json_integer(j->frame));
    json_object_set_new(o, "frames", j->frames >= 0 ? json_integer(j->frames) : json_null());
    json_object_set_new(o, "fps", json_real(j->fps));
    double elapsed = j->state == SERVE_RUNNING && j->t_start > 0 ? now_mono() - j->t_start : j->elapsed_s;
    json_object_set_new(o, "elapsed_s", json_real(elapsed));
    if (j->state == SERVE_RUNNING && j->fps > 0 && j->frames > 0 && j->frames >= j->frame)
        json_object_set_new(o, "eta_s", json_real((double)(j->frames - j->frame) / j->fps));
    else
        json_object_set_new(o, "eta_s", json_null());
    json_object_set_new(o, "error", j->state == SERVE_FAILED ? json_string(j->error) : json_null());
    if (j->warning[0]) json_object_set_new(o, "warning", json_string(j->warning));
    json_object_set_new(o, "format", json_string(serve_format_ext(j->o.a.format)));
    json_object_set_new(o, "created", json_real(j->created));
    json_object_set_new(o, "started", j->started > 0 ? json_real(j->started) : json_null());
    json_object_set_new(o, "finished", j->finished > 0 ? json_real(j->finished) : json_null());
    if (!j->listed) json_object_set_new(o, "deleted", json_true());
    if (j->expired) json_object_set_new(o, "expired", json_true());
    if (J->ttl > 0 && j->finished > 0 && (j->state == SERVE_DONE || j->state == SERVE_FAILED))
        json_object_set_new(o, "expires", json_real(j->finished + J->ttl));
    else
        json_object_set_new(o, "expires", json_null());
    if (j->state == SERVE_QUEUED) {
        int pos = 0;
        for (serve_job *q = J->qhead; q && q != j; q = q->qnext) pos++;
        json_object_set_new(o, "queue_position", json_integer(pos));
    }
    if (j->state == SERVE_DONE) {
        char u[96];
        snprintf(u, sizeof u, "/api/jobs/%s/result", j->id);
        json_object_set_new(o, "result", json_string(u));
        if (j->has_storyboard) {
            snprintf(u, sizeof u, "/api/jobs/%s/storyboard", j->id);
            json_object_set_new(o, "storyboard", json_string(u));
        } else {
            json_object_set_new(o, "storyboard", json_null());
        }
        json_object_set_new(o, "width", json_integer(j->out_w));
        json_object_set_new(o, "height", json_integer(j->out_h));
        json_object_set_new(o, "video_fps",
                            json_real(j->fps_den > 0 ? (double)j->fps_num / (double)j->fps_den : 0));
        json_object_set_new(o, "lost_frames", json_integer(j->lost_frames));
    }
    return o;
}

json_t *serve_job_json(serve_jobs *J, serve_job *j, int64_t *seq, serve_state *state) {
    pthread_mutex_lock(&J->mu);
    json_t *o = job_json_locked(J, j);
    if (seq) *seq = j->seq;
    if (state) *state = j->state;
    pthread_mutex_unlock(&J->mu);
    return o;
}

int serve_job_result_path(serve_jobs *J, serve_job *j, char *buf, size_t n, re_video_format *fmt) {
    pthread_mutex_lock(&J->mu);
    int ok = j->state == SERVE_DONE && j->has_result && j->listed;
    if (ok) {
        snprintf(buf, n, "%s/result.%s", j->dir, serve_format_ext(j->o.a.format));
        *fmt = j->o.a.format;
    }
    pthread_mutex_unlock(&J->mu);
    return ok ? 0 : -1;
}

int serve_job_storyboard_path(serve_jobs *J, serve_job *j, char *buf, size_t n) {
    pthread_mutex_lock(&J->mu);
    int ok = j->state == SERVE_DONE && j->has_storyboard && j->listed;
    if (ok) snprintf(buf, n, "%s/storyboard.png", j->dir);
    pthread_mutex_unlock(&J->mu);
    return ok ? 0 : -1;
}

int serve_job_wait(serve_jobs *J, serve_job *j, int64_t seq, int timeout_ms) {
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    int r = 0;
    pthread_mutex_lock(&J->mu);
    for (;;) {
        if (J->stopping) { r = -1; break; }
        if (j->seq != seq) { r = 1; break; }
        if (pthread_cond_timedwait(&J->chg, &J->mu, &dl) == ETIMEDOUT) {
            r = J->stopping ? -1 : j->seq != seq;
            break;
        }
    }
    pthread_mutex_unlock(&J->mu);
    return r;
}

json_t *serve_jobs_list_json(serve_jobs *J) {
    json_t *a = json_array();
    pthread_mutex_lock(&J->mu);
    const double now = now_epoch();
    for (serve_job *j = J->all; j; j = j->next)
        if (!is_expired(J, j, now)) json_array_append_new(a, job_json_locked(J, j));
    pthread_mutex_unlock(&J->mu);
    return a;
}

json_t *serve_jobs_counts_json(serve_jobs *J) {
    int n[4] = {0};
    pthread_mutex_lock(&J->mu);
    const double now = now_epoch();
    for (serve_job *j = J->all; j; j = j->next)
        if (!is_expired(J, j, now)) n[j->state]++;
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:f}", "queued", n[SERVE_QUEUED], "running",
                          n[SERVE_RUNNING], "done", n[SERVE_DONE], "failed", n[SERVE_FAILED], "workers", J->nworkers,
                          "queue_max", J->queue_max, "evicted", (json_int_t)J->evicted, "expired",
                          (json_int_t)J->expired, "job_ttl_s", J->ttl);
    pthread_mutex_unlock(&J->mu);
    return o;
}
