/*
 * pipeline_threads.c - how re_animate and re_motion_extract run their stages (pipeline_stages.c) over a driver:
 * threaded, with opts.pipeline = 1: produce (reader + tracker) and model each on a worker thread, consume
 * (composer + writer) on the caller's thread, exchanging a fixed pool of 3 * batch + 2 jobs through bounded FIFO
 * queues, so memory is bounded whatever the video's length and frames stay in order; or, with pipeline = 0, one
 * batch at a time on the caller's thread. A failure anywhere stops all stages, and its thread-local error message is
 * carried to the caller's thread. The model stage's OpenMP team is model_threads wide; the other stages use one
 * thread each, except that the photo renderer shares each frame's per-pixel warp out over re_render_opts.threads
 * threads of its own (src/anim/render.c). Tested by tests/unit/test_anim.c (threaded against sequential, an interrupted run).
 */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "pipeline_internal.h"

#ifdef RE_HAVE_FFMPEG
/* ---- error propagation across threads --------------------------------------------------------------------- */
/* The first failure wins: its status and message (thread-local, so copied here) are kept for the caller's thread,
 * and every stage waiting on a queue wakes up and stops. */
static void pipe_error(pipe_ctx *c, re_status s) {
    pthread_mutex_lock(&c->mu);
    if (c->err == RE_OK) {
        c->err = s;
        snprintf(c->errmsg, sizeof c->errmsg, "%s", re_last_error()[0] ? re_last_error() : re_status_str(s));
    }
    c->abort = 1;
    pthread_cond_broadcast(&c->q_free.cv);
    pthread_cond_broadcast(&c->q_model.cv);
    pthread_cond_broadcast(&c->q_out.cv);
    pthread_mutex_unlock(&c->mu);
}

static re_status jq_init(pipe_queue *q, int cap) {
    memset(q, 0, sizeof *q);
    q->items = re_alloc((size_t)cap * sizeof *q->items, "job queue");
    if (!q->items) return RE_ERR_NOMEM;
    q->cap = cap;
    pthread_cond_init(&q->cv, NULL);
    return RE_OK;
}

static void jq_free(pipe_queue *q) {
    if (!q->items) return;
    pthread_cond_destroy(&q->cv);
    re_free(q->items);
    q->items = NULL;
}

/* Never blocks: the queues can hold every job of the pool. */
static void jq_push(pipe_ctx *c, pipe_queue *q, pipe_job *j) {
    pthread_mutex_lock(&c->mu);
    q->items[(q->head + q->n) % q->cap] = j;
    q->n++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Next job, or NULL when the queue is closed and empty or the run was aborted. */
static pipe_job *jq_pop(pipe_ctx *c, pipe_queue *q) {
    pipe_job *j = NULL;
    pthread_mutex_lock(&c->mu);
    while (q->n == 0 && !q->closed && !c->abort) pthread_cond_wait(&q->cv, &c->mu);
    if (q->n > 0 && !c->abort) {
        j = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
    }
    pthread_mutex_unlock(&c->mu);
    return j;
}

static void jq_close(pipe_ctx *c, pipe_queue *q) {
    pthread_mutex_lock(&c->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&c->mu);
}

static int aborted(pipe_ctx *c) {
    pthread_mutex_lock(&c->mu);
    int a = c->abort;
    pthread_mutex_unlock(&c->mu);
    return a;
}

/* ---- drivers ---------------------------------------------------------------------------------------------- */
/* pipeline = 0: one batch at a time through the three stages, all on the caller's thread. */
static re_status run_sequential(pipe_ctx *c) {
    pipe_job **js = re_alloc((size_t)c->batch * sizeof *js, "batch");
    if (!js) return RE_ERR_NOMEM;
    re_status s = RE_OK;
    const int saved = omp_get_max_threads();
    omp_set_num_threads(c->model_threads);
    s = re_pipe_model_setup(c);
    for (int eof = 0; !eof && s == RE_OK;) {
        int n = 0;
        while (n < c->batch) {
            js[n] = &c->jobs[n];
            s = re_pipe_produce(c, js[n]);
            if (s == RE_VIDEO_EOF) {
                eof = 1;
                s = RE_OK;
                break;
            }
            if (s != RE_OK) break;
            n++;
        }
        if (s == RE_OK && n > 0) s = re_pipe_model_batch(c, js, n);
        for (int i = 0; s == RE_OK && i < n; i++) s = re_pipe_consume(c, js[i]);
    }
    omp_set_num_threads(saved);
    re_free(js);
    return s;
}

static void *produce_thread(void *arg) {
    pipe_ctx *c = arg;
    omp_set_num_threads(1);
    for (;;) {
        pipe_job *j = jq_pop(c, &c->q_free);
        if (!j) break;
        re_status s = re_pipe_produce(c, j);
        if (s == RE_VIDEO_EOF) break;
        if (s != RE_OK) {
            pipe_error(c, s);
            break;
        }
        jq_push(c, &c->q_model, j);
    }
    jq_close(c, &c->q_model);
    return NULL;
}

static void *model_thread(void *arg) {
    pipe_ctx *c = arg;
    omp_set_num_threads(c->model_threads);
    pipe_job **js = re_alloc((size_t)c->batch * sizeof *js, "batch");
    re_status s0 = js ? re_pipe_model_setup(c) : RE_ERR_NOMEM;
    if (s0 != RE_OK) pipe_error(c, s0);
    for (int done = s0 != RE_OK; !done;) {
        int n = 0;
        while (n < c->batch) {
            pipe_job *j = jq_pop(c, &c->q_model);
            if (!j) {
                done = 1;
                break;
            }
            js[n++] = j;
        }
        if (n == 0 || aborted(c)) break;
        re_status s = re_pipe_model_batch(c, js, n);
        if (s != RE_OK) {
            pipe_error(c, s);
            break;
        }
        for (int i = 0; i < n; i++) jq_push(c, &c->q_out, js[i]);
    }
    re_free(js);
    /* oneDNN keeps a per-thread scratchpad that is released only when the primitives are destroyed on the thread
     * that created them: free the runner here, not after the join */
    re_runner_free(c->run);
    c->run = NULL;
    jq_close(c, &c->q_out);
    return NULL;
}

/* The produce and model threads, and the consume stage on the caller's thread, until the driver ends or a stage
 * fails. */
static re_status run_threads(pipe_ctx *c) {
    re_status s;
    for (int i = 0; i < c->n_jobs; i++) jq_push(c, &c->q_free, &c->jobs[i]);
    pthread_t tp, tm;
    if (pthread_create(&tp, NULL, produce_thread, c) != 0) return re_fail(RE_ERR_NOMEM, "cannot start a thread");
    if (pthread_create(&tm, NULL, model_thread, c) != 0) {
        pipe_error(c, re_fail(RE_ERR_NOMEM, "cannot start a thread"));
        pthread_join(tp, NULL);
        return c->err;
    }
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);   /* the compose stage shares the cores with the other two */
    for (;;) {
        pipe_job *j = jq_pop(c, &c->q_out);
        if (!j) break;
        s = re_pipe_consume(c, j);
        if (s != RE_OK) {
            pipe_error(c, s);
            break;
        }
        jq_push(c, &c->q_free, j);
    }
    omp_set_num_threads(saved);
    pthread_join(tp, NULL);
    pthread_join(tm, NULL);
    if (c->err != RE_OK) return re_fail(c->err, "%s", c->errmsg);
    return RE_OK;
}

/* pipeline = 1: each stage on its own thread, exchanging the pool of jobs through three queues (free -> model ->
 * out -> free), so at most n_jobs frames are in flight whatever the video's length, and they stay in order. */
static re_status run_threaded(pipe_ctx *c) {
    pthread_mutex_init(&c->mu, NULL);
    re_status s = jq_init(&c->q_free, c->n_jobs);
    if (s == RE_OK) s = jq_init(&c->q_model, c->n_jobs);
    if (s == RE_OK) s = jq_init(&c->q_out, c->n_jobs);
    if (s == RE_OK) s = run_threads(c);
    jq_free(&c->q_free);
    jq_free(&c->q_model);
    jq_free(&c->q_out);
    pthread_mutex_destroy(&c->mu);
    return s;
}

re_status re_pipe_run(pipe_ctx *c) { return c->o->pipeline ? run_threaded(c) : run_sequential(c); }
#else
typedef int re_pipeline_threads_unused; /* ISO C forbids an empty translation unit */
#endif /* RE_HAVE_FFMPEG */
