/*
 * serve_jobs.h - the job table and bounded queue of `reenact serve`: worker threads that run re_animate (the public
 * API) with its progress callback, one model (and face detector) per worker, job state for the HTTP side, cancel on
 * DELETE and shutdown, and the data dir layout:
 *     DATA/<id>/            one job: photo, driving | motion, result.<ext>, storyboard.png, job.json (when finished)
 *     DATA/.up-XXXXXX/      an upload in progress (renamed to DATA/<id>/ once accepted, removed otherwise)
 * Finished jobs (job.json present) survive a restart on the same --data-dir; anything else found there is removed.
 * Finished jobs expire job_ttl_s after they finished (--job-ttl): a janitor thread removes their files and state,
 * and a lookup of an expired job finds nothing even before the janitor has been by.
 */
#ifndef RE_SERVE_JOBS_H
#define RE_SERVE_JOBS_H

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include "serve_parse.h"

typedef enum serve_state { SERVE_QUEUED = 0, SERVE_RUNNING, SERVE_DONE, SERVE_FAILED } serve_state;

typedef struct serve_job serve_job;
typedef struct serve_jobs serve_jobs;

typedef struct serve_jobs_cfg {
    const char *data_dir;     /* exists, writable */
    const char *model_path;
    int workers;              /* >= 1 */
    int queue_max;            /* jobs waiting at most, beyond those an idle worker takes at once */
    uint64_t max_disk;        /* bytes of job files at most (0: no limit): after each job, the oldest finished jobs
                                 are removed until the data dir is under it; the job that just finished stays */
    double job_ttl_s;         /* finished jobs are removed this many seconds after they finished (0: kept until
                                 deleted or evicted) */
} serve_jobs_cfg;

/* Loads one model per worker, restores finished jobs from data_dir, starts the workers. On failure returns
 * non-zero with a message in err (the library's re_last_error() included). */
int serve_jobs_start(serve_jobs **out, const serve_jobs_cfg *cfg, char *err, size_t errn);
/* Begin shutdown: running jobs are cancelled at their next frame (they fail with a message saying so), queued ones
 * fail, waiters (serve_job_wait) return -1, submissions are refused. Returns at once; idempotent. */
void serve_jobs_shutdown(serve_jobs *J);
/* serve_jobs_shutdown, then joins the workers, writes job.json of jobs failed by the shutdown, frees everything.
 * Call once no HTTP handler holds a job. NULL is fine. */
void serve_jobs_stop(serve_jobs *J);
/* The model of worker 0, for read-only checks (motion files) on other threads. */
const re_model *serve_jobs_model(const serve_jobs *J);

/* A new job for the files already in dir (which must be DATA/<id>, id = a fresh serve_jobs_new_id()). photo,
 * driving and motion are file names inside dir or absolute paths (the demo files); driving or motion is NULL.
 * Returns 0 (queued), 1 when the queue is full (nothing changed; the caller removes dir), -1 on shutdown. */
int serve_jobs_submit(serve_jobs *J, const char *id, const char *photo, const char *driving, const char *motion,
                      const serve_opts *o);
/* 32 lowercase hex characters from getrandom(), not in use. 0 ok, -1 if no randomness. */
int serve_jobs_new_id(serve_jobs *J, char id[SERVE_ID_LEN + 1]);
const char *serve_jobs_data_dir(const serve_jobs *J);
double serve_jobs_ttl(const serve_jobs *J);   /* --job-ttl in seconds, 0: never */
/* Remove a job or upload directory: its plain files, then the directory itself. */
void serve_rm_dir(const char *dir);
/* Remove a (temporary) data directory: its job directories (as serve_rm_dir) and plain files, then itself. */
void serve_rm_data_dir(const char *dir);

/* Look a job up (NULL: unknown, deleted or expired; an expired job found here is removed at once). A found job is
 * held until serve_job_release. */
serve_job *serve_jobs_get(serve_jobs *J, const char *id);
void serve_job_release(serve_jobs *J, serve_job *j);
/* Remove a job: queued ones leave the queue, running ones are cancelled (their files go once the run stops: nothing
 * half-written stays), finished ones' files go now. 0, or -1 when unknown. */
int serve_jobs_delete(serve_jobs *J, const char *id);

/* The job as JSON (id, state, frame, frames, fps, eta_s, error, ...): a new reference. seq receives the job's change
 * counter and state its state, either may be NULL. */
json_t *serve_job_json(serve_jobs *J, serve_job *j, int64_t *seq, serve_state *state);
/* Paths of a finished job's result / storyboard into buf (0), or -1 when the job is not done or has none. */
int serve_job_result_path(serve_jobs *J, serve_job *j, char *buf, size_t n, re_video_format *fmt);
int serve_job_storyboard_path(serve_jobs *J, serve_job *j, char *buf, size_t n);
/* Block until the job changed after seq, the server stops, or timeout_ms passes. Returns 1 changed, 0 timeout,
 * -1 stopping. */
int serve_job_wait(serve_jobs *J, serve_job *j, int64_t seq, int timeout_ms);
/* Remove the finished jobs older than the TTL now (the janitor does this on its own; tests and shutdown need not).
 * Returns how many went. */
int serve_jobs_expire(serve_jobs *J);
/* All jobs (newest first), and counts per state, for /api/jobs and /api/health. */
json_t *serve_jobs_list_json(serve_jobs *J);
json_t *serve_jobs_counts_json(serve_jobs *J);
/* Bytes of job files in the data dir now (what max_disk bounds). */
uint64_t serve_jobs_disk_bytes(serve_jobs *J);

#endif
