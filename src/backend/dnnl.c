/*
 * dnnl.c - conv2d / transposed conv2d / linear layers on oneDNN 2.x (C API, CPU engine). See dnnl.h for the
 * contracts.
 *
 * How a layer works: at creation we build its primitives (forward_training, backward_data, backward_weights[+bias];
 * forward_inference only for an inference layer) whose weight descriptors (and plain activation descriptors) use
 * format_tag_any, so oneDNN picks its fastest layouts (nChw16c, OIhw16i16o, ... on AVX-512); blocked activations
 * stay nChw16c. Each tensor argument is a "port": a memory object over the caller's buffer (layout and dtype as the
 * caller declared them, data handle set per call) plus, only when the primitive wants another layout or dtype, an
 * owned memory in that layout and a reorder primitive between the two (the reorder also converts f32 <-> bf16).
 * Everything is created once; a forward or backward call only sets data handles and executes primitives. oneDNN
 * (Debian's build uses the OpenMP runtime, libgomp) runs on the same OpenMP pool as the rest of the library; we
 * create no threads.
 *
 * Build: compiled into libreenact when CMake finds oneDNN (RE_HAVE_DNNL). Tests: test_dnnl_ops, test_fused.
 */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "backend/dnnl.h"
#include "core/core.h"

/* ---------------------------------------------------------------------------------------------------------
 * Engine and stream: one of each for the process, created on first use. */

static dnnl_engine_t g_engine;
static dnnl_stream_t g_stream;
static dnnl_status_t g_init_status = dnnl_runtime_error;
static const char *g_init_what = "not initialized";
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void dnnl_init_once(void) {
    dnnl_status_t s = dnnl_engine_create(&g_engine, dnnl_cpu, 0);
    if (s != dnnl_success) {
        g_engine = NULL;
        g_init_status = s;
        g_init_what = "dnnl_engine_create(cpu, 0)";
        return;
    }
    s = dnnl_stream_create(&g_stream, g_engine, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        dnnl_engine_destroy(g_engine);
        g_engine = NULL;
        g_stream = NULL;
        g_init_status = s;
        g_init_what = "dnnl_stream_create";
        return;
    }
    g_init_status = dnnl_success;
}

re_status re_dnnl_init(void) {
    if (pthread_once(&g_once, dnnl_init_once) != 0)
        return re_fail(RE_ERR_BACKEND, "dnnl: pthread_once failed while creating the oneDNN engine");
    if (g_init_status != dnnl_success)
        return re_fail(RE_ERR_BACKEND, "dnnl: %s failed: %s", g_init_what, dnnl_status2str(g_init_status));
    return RE_OK;
}

int re_dnnl_available(void) {
    if (pthread_once(&g_once, dnnl_init_once) != 0) return 0;
    return g_init_status == dnnl_success;
}

const char *re_dnnl_isa_name(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_all: return "all";
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
    }
}

int re_dnnl_blocked16_native(void) { return !strncmp(re_dnnl_isa_name(), "avx512_core", 11); }

void re_dnnl_version_str(char *buf, size_t len) {
    const dnnl_version_t *v = dnnl_version();
    if (!buf || !len) return;
    if (v) snprintf(buf, len, "%d.%d.%d", v->major, v->minor, v->patch);
    else buf[0] = 0;
}

/* Record a oneDNN failure: `call` is the stringized call, of which only the function name is kept. */
static re_status dn_fail(dnnl_status_t s, const char *call, const char *ctx) {
    int fn_len = (int)strcspn(call, "(");
    return re_fail(RE_ERR_BACKEND, "dnnl: %s: %.*s failed: %s", ctx, fn_len, call, dnnl_status2str(s));
}

/* Inside a function with `re_status st`, a `fail:` label and a context string `ctx`. */
#define DN(call) do { dnnl_status_t s_ = (call); \
    if (s_ != dnnl_success) { st = dn_fail(s_, #call, ctx); goto fail; } } while (0)

/* ---------------------------------------------------------------------------------------------------------
 * Ports: a caller buffer in plain layout, the primitive's view of it, and the reorder between them. */

typedef struct port {
    dnnl_memory_t user;        /* plain layout over the caller's buffer; handle set per call */
    dnnl_memory_t mem;         /* what the primitive reads/writes: == user when the layouts match */
    dnnl_primitive_t reorder;  /* user->mem (input port) or mem->user (output port); NULL when they match */
} port;

/* Create a port between the plain descriptor `user_md` and the primitive's `prim_md`. */
static re_status port_create(port *pt, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md,
                             int is_output, const char *ctx) {
    re_status st = RE_OK;
    dnnl_primitive_desc_t rpd = NULL;
    DN(dnnl_memory_create(&pt->user, user_md, g_engine, DNNL_MEMORY_NONE));
    if (dnnl_memory_desc_equal(user_md, prim_md)) {
        pt->mem = pt->user;
        return RE_OK;
    }
    DN(dnnl_memory_create(&pt->mem, prim_md, g_engine, DNNL_MEMORY_ALLOCATE));
    if (is_output)
        DN(dnnl_reorder_primitive_desc_create(&rpd, prim_md, g_engine, user_md, g_engine, NULL));
    else
        DN(dnnl_reorder_primitive_desc_create(&rpd, user_md, g_engine, prim_md, g_engine, NULL));
    DN(dnnl_primitive_create(&pt->reorder, rpd));
    DN(dnnl_primitive_desc_destroy(rpd));
    return RE_OK;
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    return st;
}

static void port_free(port *pt) {
    if (pt->reorder) dnnl_primitive_destroy(pt->reorder);
    if (pt->mem && pt->mem != pt->user) dnnl_memory_destroy(pt->mem);
    if (pt->user) dnnl_memory_destroy(pt->user);
    memset(pt, 0, sizeof *pt);
}

/* Input port: point it at `ptr` and reorder into the primitive's layout if needed. */
static re_status port_in(port *pt, const void *ptr, const char *ctx) {
    re_status st = RE_OK;
    DN(dnnl_memory_set_data_handle(pt->user, (void *)ptr));
    if (pt->reorder) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, pt->user}, {DNNL_ARG_TO, pt->mem}};
        DN(dnnl_primitive_execute(pt->reorder, g_stream, 2, args));
    }
    return RE_OK;
fail:
    return st;
}

/* Output port, after the primitive ran: reorder into the caller's buffer (handle set before) if needed. */
static re_status port_out(port *pt, const char *ctx) {
    re_status st = RE_OK;
    if (pt->reorder) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, pt->mem}, {DNNL_ARG_TO, pt->user}};
        DN(dnnl_primitive_execute(pt->reorder, g_stream, 2, args));
    }
    return RE_OK;
fail:
    return st;
}

/* ---------------------------------------------------------------------------------------------------------
 * Few-channel path. oneDNN's direct kernels are slow when the tensor a pass PRODUCES through the scatter
 * direction has fewer channels than one 16-wide block: conv backward-data into an RGB input and transposed conv
 * forward into an RGB output run ~5x slower than the forward conv of the same FLOPs. Both passes are
 *     Y = col2im(A^T X):  X [N,CX,HX,WX] (dout for conv backward-data, in for transposed conv forward),
 *     A = weights read as a row-major [CX, CS*KH*KW] matrix (OIHW for conv, IOHW for transposed conv: both put
 *     X's channel first), Y [N,CS,HY,WY] (din / out), Y[iy*s - p + kh][ix*s - p + kw] += cols[cs,kh,kw][iy][ix].
 * cols = A^T X is one batched oneDNN matmul (A broadcast over the batch) straight from the caller's plain
 * buffers; col2im is ours, OpenMP over (n, cs). It accumulates each output plane in a per-thread buffer laid out
 * by stride phase (y = i*s + phy, x = j*s + phx), so every tap is a contiguous, vectorizable add, then
 * interleaves the phases into the plane. */

#ifndef RE_DNNL_WINOGRAD
#define RE_DNNL_WINOGRAD 1 /* -DRE_DNNL_WINOGRAD=0: direct convolution only (for A/B timing or bitwise studies) */
#endif

#ifndef FEW_MAX_CH
#define FEW_MAX_CH 4 /* use the few-channel path when CS <= this; -DFEW_MAX_CH=0 disables it (for A/B timing) */
#endif

typedef struct few_path {
    int active;
    int n, cx, cs, hx, wx, hy, wy, kh, kw, s, p;
    int chunk;                  /* images per matmul, so cols stays in L2 between the matmul and col2im */
    dnnl_primitive_t mm[2];     /* cols[B, CS*KH*KW, HX*WX] = A^T x X[B, CX, HX*WX]; [0]: B = chunk, [1]: rest */
    dnnl_memory_t a, x[2], cols[2]; /* a, x: caller buffers (handle set per call); cols: owned, shared */
    port xp;                    /* X as the caller gives it -> plain f32 NCHW (a reorder when blocked or bf16) */
    float *cols_buf;
    float *buf;                 /* per-thread phase-plane buffers, buf_len floats each */
    size_t buf_len, buf_threads;
} few_path;

#define FEW_COLS_BYTES (512u * 1024u) /* target size of one chunk of cols: well inside a core's L2 */

/* x_user: the caller's descriptor of X (any layout / dtype oneDNN can reorder to plain f32). */
static re_status few_create(few_path *f, const dnnl_memory_desc_t *x_user, const char *ctx) {
    re_status st = RE_OK;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t a_md, xp_md;
    dnnl_dim_t m = (dnnl_dim_t)f->cs * f->kh * f->kw, hw = (dnnl_dim_t)f->hx * f->wx;
    dnnl_dims_t a_dims = {1, m, f->cx}, a_strides = {m * f->cx, 1, m};
    dnnl_dims_t xp_dims = {f->n, f->cx, f->hx, f->wx};
    size_t per_image = (size_t)m * (size_t)hw * sizeof(float), cols_bytes;
    f->chunk = (int)(FEW_COLS_BYTES / per_image);
    if (f->chunk < 1) f->chunk = 1;
    if (f->chunk > f->n) f->chunk = f->n;
    if (!re_mul_ok(per_image, (size_t)f->chunk, &cols_bytes))
        return re_fail(RE_ERR_NOMEM, "dnnl: %s: col2im size overflow", ctx);
    if (!(f->cols_buf = re_alloc(cols_bytes, "dnnl col2im columns"))) return RE_ERR_NOMEM;
    DN(dnnl_memory_desc_init_by_tag(&xp_md, 4, xp_dims, dnnl_f32, dnnl_nchw));
    if ((st = port_create(&f->xp, x_user, &xp_md, 0, ctx)) != RE_OK) goto fail;
    DN(dnnl_memory_desc_init_by_strides(&a_md, 3, a_dims, dnnl_f32, a_strides));
    DN(dnnl_memory_create(&f->a, &a_md, g_engine, DNNL_MEMORY_NONE));
    for (int k = 0; k < 2; k++) {
        dnnl_dim_t b = k == 0 ? f->chunk : f->n % f->chunk;
        if (b == 0) continue;
        dnnl_memory_desc_t x_md, c_md;
        dnnl_dims_t x_dims = {b, f->cx, hw}, c_dims = {b, m, hw};
        DN(dnnl_memory_desc_init_by_tag(&x_md, 3, x_dims, dnnl_f32, dnnl_abc));
        DN(dnnl_memory_desc_init_by_tag(&c_md, 3, c_dims, dnnl_f32, dnnl_abc));
        dnnl_matmul_desc_t md;
        DN(dnnl_matmul_desc_init(&md, &a_md, &x_md, NULL, &c_md));
        DN(dnnl_primitive_desc_create(&pd, &md, NULL, g_engine, NULL));
        DN(dnnl_primitive_create(&f->mm[k], pd));
        DN(dnnl_primitive_desc_destroy(pd));
        pd = NULL;
        DN(dnnl_memory_create(&f->x[k], &x_md, g_engine, DNNL_MEMORY_NONE));
        DN(dnnl_memory_create(&f->cols[k], &c_md, g_engine, f->cols_buf));
    }
    size_t hp = ((size_t)f->hy + f->s - 1) / f->s, wp = ((size_t)f->wy + f->s - 1) / f->s;
    if (!re_mul_ok(hp * wp, (size_t)f->s * f->s, &f->buf_len))
        return re_fail(RE_ERR_NOMEM, "dnnl: %s: col2im buffer size overflow", ctx);
    f->active = 1;
    return RE_OK;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return st;
}

static void few_free(few_path *f) {
    for (int k = 0; k < 2; k++) {
        if (f->mm[k]) dnnl_primitive_destroy(f->mm[k]);
        if (f->x[k]) dnnl_memory_destroy(f->x[k]);
        if (f->cols[k]) dnnl_memory_destroy(f->cols[k]);
    }
    if (f->a) dnnl_memory_destroy(f->a);
    port_free(&f->xp);
    re_free(f->cols_buf);
    re_free(f->buf);
    memset(f, 0, sizeof *f);
}

/* col2im of `nb` images: cols[nb, CS*KH*KW, HX*WX] -> y[nb, CS, HY, WY] (+ bias). */
static void few_col2im(const few_path *f, float *y, const float *cols, const float *bias, int nb, int nt) {
    const int CS = f->cs, HX = f->hx, WX = f->wx, HY = f->hy, WY = f->wy, KH = f->kh, KW = f->kw;
    const int S = f->s, P = f->p, HP = (HY + S - 1) / S, WP = (WY + S - 1) / S;
    const size_t plane = (size_t)HX * WX, pplane = (size_t)HP * WP;
#pragma omp parallel num_threads(nt)
    {
        /* Y by stride phase: pb[(phy*S + phx)][i][j] holds Y[i*S + phy][j*S + phx]. Every tap (kh,kw) lands in
         * one phase plane at a fixed offset (dh,dw), so its rows are contiguous adds. */
        float *pb = f->buf + (size_t)omp_get_thread_num() * f->buf_len;
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < nb; n++)
            for (int c = 0; c < CS; c++) {
                const float *cp = cols + ((size_t)n * CS + c) * KH * KW * plane;
                const float b0 = bias ? bias[c] : 0.0f;
                for (size_t t = 0; t < f->buf_len; t++) pb[t] = b0;
                for (int i = 0; i < KH; i++) {
                    /* y = iy*S - P + i = (iy + dh)*S + phy */
                    int phy = ((i - P) % S + S) % S, dh = (i - P - phy) / S, hph = (HY - phy + S - 1) / S;
                    int iy0 = dh < 0 ? -dh : 0, iy1 = hph - dh < HX ? hph - dh : HX;
                    for (int j = 0; j < KW; j++) {
                        int phx = ((j - P) % S + S) % S, dw = (j - P - phx) / S, wph = (WY - phx + S - 1) / S;
                        int ix0 = dw < 0 ? -dw : 0, ix1 = wph - dw < WX ? wph - dw : WX;
                        float *dst = pb + (size_t)(phy * S + phx) * pplane;
                        const float *src = cp + (size_t)(i * KW + j) * plane;
                        for (int iy = iy0; iy < iy1; iy++) {
                            float *d = dst + (size_t)(iy + dh) * WP;
                            const float *sr = src + (size_t)iy * WX;
                            for (int ix = ix0; ix < ix1; ix++) d[ix + dw] += sr[ix];
                        }
                    }
                }
                float *yp = y + ((size_t)n * CS + c) * HY * WY;
                for (int yy = 0; yy < HY; yy++) {
                    float *yr = yp + (size_t)yy * WY;
                    const float *row = pb + (size_t)(yy % S) * S * pplane + (size_t)(yy / S) * WP;
                    if (S == 2) {
                        const float *r0 = row, *r1 = row + pplane;
                        int x = 0;
                        for (; x + 1 < WY; x += 2) {
                            yr[x] = r0[x / 2];
                            yr[x + 1] = r1[x / 2];
                        }
                        if (x < WY) yr[x] = r0[x / 2];
                    } else {
                        for (int x = 0; x < WY; x++) yr[x] = row[(size_t)(x % S) * pplane + x / S];
                    }
                }
            }
    }
}

/* y[N,CS,HY,WY] = col2im(w^T x) (+ bias[CS] if not NULL). Overwrites y. */
static re_status few_run(few_path *f, float *y, const void *x_user, const float *w, const float *bias,
                         const char *ctx) {
    re_status st = RE_OK;
    int nt = omp_get_max_threads();
    if (nt < 1) nt = 1;
    if ((size_t)nt > f->buf_threads) {
        size_t bytes;
        if (!re_mul_ok((size_t)nt * sizeof(float), f->buf_len, &bytes))
            return re_fail(RE_ERR_NOMEM, "dnnl: %s: col2im buffer size overflow", ctx);
        re_free(f->buf);
        f->buf_threads = 0;
        if (!(f->buf = re_alloc(bytes, "dnnl col2im buffers"))) return RE_ERR_NOMEM;
        f->buf_threads = (size_t)nt;
    }
    const size_t x_img = (size_t)f->cx * f->hx * f->wx, y_img = (size_t)f->cs * f->hy * f->wy;
    void *xv = NULL;
    if ((st = port_in(&f->xp, x_user, ctx)) != RE_OK) goto fail;
    DN(dnnl_memory_get_data_handle(f->xp.mem, &xv));
    const float *x = xv;
    DN(dnnl_memory_set_data_handle(f->a, (void *)w));
    for (int n0 = 0; n0 < f->n; n0 += f->chunk) {
        int k = f->n - n0 >= f->chunk ? 0 : 1, nb = k == 0 ? f->chunk : f->n - n0;
        DN(dnnl_memory_set_data_handle(f->x[k], (void *)(x + (size_t)n0 * x_img)));
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, f->a}, {DNNL_ARG_WEIGHTS, f->x[k]}, {DNNL_ARG_DST, f->cols[k]}};
        DN(dnnl_primitive_execute(f->mm[k], g_stream, 3, args));
        DN(dnnl_stream_wait(g_stream));
        few_col2im(f, y + (size_t)n0 * y_img, f->cols_buf, bias, nb, nt);
    }
    return RE_OK;
fail:
    return st;
}

/* ---------------------------------------------------------------------------------------------------------
 * A layer: three primitives (one for an inference layer) and their ports. Conv, transposed conv and linear
 * differ only in how the primitive descriptors are made; execution is shared. */

typedef struct layer {
    char name[112];                   /* for error messages, e.g. "conv 32->64 k3 s1 p1 n64 32x32" */
    int with_bias;
    int inference;                    /* forward primitive only */
    float lrelu;                      /* > 0: LeakyReLU after the forward ... */
    int lrelu_fused;                  /* ... as a post-op of the primitive (else applied by layer_forward) */
    int own_bias;                     /* the forward primitive has no bias: layer_forward adds it (with the
                                         LeakyReLU) in one vectorized pass over the output */
    int out_layout, out_c, out_hw;    /* output layout (re_dnnl_layout) and geometry for that pass */
    size_t n_w, n_b, n_out;           /* element counts of weights, bias and output */
    dnnl_primitive_desc_t fwd_pd, bwd_d_pd, bwd_w_pd;
    dnnl_primitive_t fwd, bwd_d, bwd_w;
    port f_src, f_wei, f_dst;         /* forward */
    port d_ddst, d_wei, d_dsrc;       /* backward data */
    port w_src, w_ddst, w_dwei;       /* backward weights; w_ddst unused when ddst_shared */
    dnnl_memory_t bias, dbias;        /* plain [OC] ('a'), NULL without bias */
    int ddst_shared;                  /* bwd_w's diff_dst layout == bwd_d's: reorder dout once */
    int src_same;                     /* bwd_w's src layout == fwd's: in == NULL reuses f_src.mem */
    int wei_same;                     /* bwd_d's weights layout == fwd's: w == NULL reuses f_wei.mem */
    int w_valid;                      /* f_wei.mem holds the weights of last_w (for w_same) */
    const void *last_in;              /* from the latest forward; NULL before the first */
    const float *last_w;
    float *trash;                     /* sink for unwanted dw/db that alias a plain layout; lazily allocated */
    few_path few_fwd;                 /* active: forward runs the few-channel path (transposed conv, small OC) */
    few_path few_bwd_d;               /* active: backward-data runs it (conv, small IC) */
} layer;

static void layer_free(layer *L) {
    port *ports[] = {&L->f_src, &L->f_wei, &L->f_dst, &L->d_ddst, &L->d_wei, &L->d_dsrc,
                     &L->w_src, &L->w_ddst, &L->w_dwei};
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) port_free(ports[i]);
    if (L->bias) dnnl_memory_destroy(L->bias);
    if (L->dbias) dnnl_memory_destroy(L->dbias);
    if (L->fwd) dnnl_primitive_destroy(L->fwd);
    if (L->bwd_d) dnnl_primitive_destroy(L->bwd_d);
    if (L->bwd_w) dnnl_primitive_destroy(L->bwd_w);
    if (L->fwd_pd) dnnl_primitive_desc_destroy(L->fwd_pd);
    if (L->bwd_d_pd) dnnl_primitive_desc_destroy(L->bwd_d_pd);
    if (L->bwd_w_pd) dnnl_primitive_desc_destroy(L->bwd_w_pd);
    re_free(L->trash);
    few_free(&L->few_fwd);
    few_free(&L->few_bwd_d);
}

/* The caller's (user) descriptors of a layer's interface buffers. */
typedef struct user_mds {
    dnnl_memory_desc_t src, dsrc, dst, ddst, wei, bias;
} user_mds;

/* Given the primitive descriptors (already in L) and the user descriptors, create the primitives, ports and bias
 * memories. */
static re_status layer_finish(layer *L, const user_mds *u) {
    re_status st = RE_OK;
    const char *ctx = L->name;
    const dnnl_memory_desc_t *f_src = dnnl_primitive_desc_query_md(L->fwd_pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *f_wei = dnnl_primitive_desc_query_md(L->fwd_pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *f_dst = dnnl_primitive_desc_query_md(L->fwd_pd, dnnl_query_dst_md, 0);
    if (!f_src || !f_wei || !f_dst)
        return re_fail(RE_ERR_BACKEND, "dnnl: %s: a primitive descriptor lacks a memory descriptor", ctx);
    DN(dnnl_primitive_create(&L->fwd, L->fwd_pd));
    if ((st = port_create(&L->f_src, &u->src, f_src, 0, ctx)) != RE_OK) goto fail;
    if ((st = port_create(&L->f_wei, &u->wei, f_wei, 0, ctx)) != RE_OK) goto fail;
    if ((st = port_create(&L->f_dst, &u->dst, f_dst, 1, ctx)) != RE_OK) goto fail;
    if (!L->inference) {
        const dnnl_memory_desc_t *d_ddst = dnnl_primitive_desc_query_md(L->bwd_d_pd, dnnl_query_diff_dst_md, 0);
        const dnnl_memory_desc_t *d_wei = dnnl_primitive_desc_query_md(L->bwd_d_pd, dnnl_query_weights_md, 0);
        const dnnl_memory_desc_t *d_dsrc = dnnl_primitive_desc_query_md(L->bwd_d_pd, dnnl_query_diff_src_md, 0);
        const dnnl_memory_desc_t *w_src = dnnl_primitive_desc_query_md(L->bwd_w_pd, dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *w_ddst = dnnl_primitive_desc_query_md(L->bwd_w_pd, dnnl_query_diff_dst_md, 0);
        const dnnl_memory_desc_t *w_dwei = dnnl_primitive_desc_query_md(L->bwd_w_pd, dnnl_query_diff_weights_md, 0);
        if (!d_ddst || !d_wei || !d_dsrc || !w_src || !w_ddst || !w_dwei)
            return re_fail(RE_ERR_BACKEND, "dnnl: %s: a primitive descriptor lacks a memory descriptor", ctx);
        DN(dnnl_primitive_create(&L->bwd_d, L->bwd_d_pd));
        DN(dnnl_primitive_create(&L->bwd_w, L->bwd_w_pd));
        if ((st = port_create(&L->d_ddst, &u->ddst, d_ddst, 0, ctx)) != RE_OK) goto fail;
        if ((st = port_create(&L->d_wei, &u->wei, d_wei, 0, ctx)) != RE_OK) goto fail;
        if ((st = port_create(&L->d_dsrc, &u->dsrc, d_dsrc, 1, ctx)) != RE_OK) goto fail;
        if ((st = port_create(&L->w_src, &u->src, w_src, 0, ctx)) != RE_OK) goto fail;
        L->ddst_shared = dnnl_memory_desc_equal(d_ddst, w_ddst);
        if (!L->ddst_shared && (st = port_create(&L->w_ddst, &u->ddst, w_ddst, 0, ctx)) != RE_OK) goto fail;
        if ((st = port_create(&L->w_dwei, &u->wei, w_dwei, 1, ctx)) != RE_OK) goto fail;
        /* reuse of the forward's reordered copies only when the forward really filled them */
        L->src_same = !L->few_fwd.active && dnnl_memory_desc_equal(w_src, f_src);
        L->wei_same = !L->few_fwd.active && dnnl_memory_desc_equal(d_wei, f_wei);
    }
    if (L->with_bias) {
        DN(dnnl_memory_create(&L->bias, &u->bias, g_engine, DNNL_MEMORY_NONE));
        if (!L->inference) DN(dnnl_memory_create(&L->dbias, &u->bias, g_engine, DNNL_MEMORY_NONE));
    }
    return RE_OK;
fail:
    return st;
}

/* Create the primitive descriptors from operation descriptors (forward is the hint for both backward; bwd_d and
 * bwd_w are NULL for an inference layer). pref_* (may be NULL) are tried first, and the plain descriptors are used
 * where oneDNN has no implementation of them (Winograd is not implemented for every shape and ISA). attr (may be
 * NULL) carries the forward's LeakyReLU post-op: it is tried first with each forward descriptor and dropped when
 * no kernel takes it (L->lrelu_fused tells which happened). Order: preferred+attr, preferred, plain+attr, plain:
 * a faster algorithm with a separate activation pass beats a fused slower one. */
static re_status layer_make_pds(layer *L, const_dnnl_op_desc_t fwd, const_dnnl_op_desc_t bwd_d,
                                const_dnnl_op_desc_t bwd_w, const_dnnl_op_desc_t pref_fwd,
                                const_dnnl_op_desc_t pref_bwd_d, const_dnnl_op_desc_t pref_bwd_w,
                                const_dnnl_primitive_attr_t attr) {
    re_status st = RE_OK;
    const char *ctx = L->name;
    const_dnnl_op_desc_t tries[4][2] = {{pref_fwd, attr}, {pref_fwd, NULL}, {fwd, attr}, {fwd, NULL}};
    int got = -1;
    dnnl_status_t last = dnnl_success;
    for (int i = 0; i < 4 && got < 0; i++) {
        if (!tries[i][0] || (i % 2 == 0 && !attr)) continue;
        last = dnnl_primitive_desc_create(&L->fwd_pd, tries[i][0], (const_dnnl_primitive_attr_t)tries[i][1],
                                          g_engine, NULL);
        if (last == dnnl_success) got = i;
        else L->fwd_pd = NULL;
    }
    if (got < 0) {
        st = dn_fail(last, "dnnl_primitive_desc_create(forward)", ctx);
        goto fail;
    }
    L->lrelu_fused = tries[got][1] != NULL;
    if (L->inference) return RE_OK;
    int pref = got < 2; /* the backward passes follow the forward's algorithm choice */
    if (!pref || !pref_bwd_d ||
        dnnl_primitive_desc_create(&L->bwd_d_pd, pref_bwd_d, NULL, g_engine, L->fwd_pd) != dnnl_success) {
        L->bwd_d_pd = NULL;
        DN(dnnl_primitive_desc_create(&L->bwd_d_pd, bwd_d, NULL, g_engine, L->fwd_pd));
    }
    if (!pref || !pref_bwd_w ||
        dnnl_primitive_desc_create(&L->bwd_w_pd, pref_bwd_w, NULL, g_engine, L->fwd_pd) != dnnl_success) {
        L->bwd_w_pd = NULL;
        DN(dnnl_primitive_desc_create(&L->bwd_w_pd, bwd_w, NULL, g_engine, L->fwd_pd));
    }
    return RE_OK;
fail:
    return st;
}

/* The LeakyReLU post-op attribute for slope > 0 (*attr stays NULL for slope <= 0). */
static re_status lrelu_attr(dnnl_primitive_attr_t *attr, float slope, const char *ctx) {
    re_status st = RE_OK;
    dnnl_post_ops_t po = NULL;
    *attr = NULL;
    if (!(slope > 0)) return RE_OK;
    DN(dnnl_post_ops_create(&po));
    DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, slope, 0.0f));
    DN(dnnl_primitive_attr_create(attr));
    DN(dnnl_primitive_attr_set_post_ops(*attr, po));
    DN(dnnl_post_ops_destroy(po));
    return RE_OK;
fail:
    if (po) dnnl_post_ops_destroy(po);
    if (*attr) dnnl_primitive_attr_destroy(*attr);
    *attr = NULL;
    return st;
}

static void lrelu_inplace(float *x, size_t n, float slope) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : x[i] * slope;
}

/* y[n][c][p] += b[c], then LeakyReLU(slope) when slope > 0; y in NCHW, blocked nChw16c (c % 16 == 0) or NHWC. */
static void bias_act_inplace(float *y, const float *b, int n, int c, int hw, int layout, float slope) {
    if (layout == RE_DNNL_NHWC) {
#pragma omp parallel for schedule(static)
        for (size_t q = 0; q < (size_t)n * hw; q++) {
            float *yp = y + q * c;
#pragma omp simd
            for (int k = 0; k < c; k++) {
                float v = yp[k] + b[k];
                yp[k] = slope > 0 && v < 0 ? v * slope : v;
            }
        }
        return;
    }
    if (layout == RE_DNNL_BLOCKED) {
        const int cb = c / 16;
#pragma omp parallel for collapse(2) schedule(static)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < cb; k++) {
                float *yp = y + ((size_t)i * cb + k) * hw * 16;
                const float *bp = b + k * 16;
                for (int p = 0; p < hw; p++)
#pragma omp simd
                    for (int l = 0; l < 16; l++) {
                        float v = yp[(size_t)p * 16 + l] + bp[l];
                        yp[(size_t)p * 16 + l] = slope > 0 && v < 0 ? v * slope : v;
                    }
            }
        return;
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            float *yp = y + ((size_t)i * c + k) * hw;
            const float bv = b[k];
#pragma omp simd
            for (int p = 0; p < hw; p++) {
                float v = yp[p] + bv;
                yp[p] = slope > 0 && v < 0 ? v * slope : v;
            }
        }
}

static re_status layer_forward(layer *L, float *out, const void *in, const float *w, const float *b, int w_same) {
    re_status st = RE_OK;
    const char *ctx = L->name;
    if (!out || !in || !w || (L->with_bias && !b))
        return re_fail(RE_ERR_ARG, "dnnl: %s forward: NULL %s", ctx,
                       !out ? "out" : !in ? "in" : !w ? "w" : "b (the layer has a bias)");
    if (L->few_fwd.active) {
        if ((st = few_run(&L->few_fwd, out, in, w, L->with_bias ? b : NULL, ctx)) != RE_OK) goto fail;
        if (L->lrelu > 0) lrelu_inplace(out, L->n_out, L->lrelu);
        L->last_in = in;
        L->last_w = w;
        L->w_valid = 0;
        return RE_OK;
    }
    if ((st = port_in(&L->f_src, in, ctx)) != RE_OK) goto fail;
    /* Weights: reordered (and converted) only when they may have changed. */
    if (!(w_same && L->w_valid && w == L->last_w && L->f_wei.reorder)) {
        L->w_valid = 0;
        if ((st = port_in(&L->f_wei, w, ctx)) != RE_OK) goto fail;
    }
    DN(dnnl_memory_set_data_handle(L->f_dst.user, out));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, L->f_src.mem}, {DNNL_ARG_WEIGHTS, L->f_wei.mem},
                               {DNNL_ARG_DST, L->f_dst.mem}, {DNNL_ARG_BIAS, L->bias}};
    const int prim_bias = L->with_bias && !L->own_bias;
    if (prim_bias) DN(dnnl_memory_set_data_handle(L->bias, (void *)b));
    DN(dnnl_primitive_execute(L->fwd, g_stream, prim_bias ? 4 : 3, args));
    if ((st = port_out(&L->f_dst, ctx)) != RE_OK) goto fail;
    DN(dnnl_stream_wait(g_stream));
    if (L->own_bias) bias_act_inplace(out, b, (int)(L->n_out / ((size_t)L->out_c * L->out_hw)), L->out_c, L->out_hw,
                                      L->out_layout, L->lrelu_fused ? 0.f : L->lrelu);
    else if (L->lrelu > 0 && !L->lrelu_fused) lrelu_inplace(out, L->n_out, L->lrelu);
    L->last_in = in;
    L->last_w = w;
    L->w_valid = 1;
    return RE_OK;
fail:
    L->last_in = NULL;
    L->last_w = NULL;
    L->w_valid = 0;
    return st;
}

static re_status layer_backward(layer *L, float *din, float *dw, float *db, const void *dout, const void *in,
                                const float *w) {
    re_status st = RE_OK;
    const char *ctx = L->name;
    if (L->inference) return re_fail(RE_ERR_ARG, "dnnl: %s: backward on an inference-only layer", ctx);
    if (!L->with_bias) db = NULL;
    int want_data = din != NULL, want_wei = dw != NULL || db != NULL;
    if (!dout) return re_fail(RE_ERR_ARG, "dnnl: %s backward: NULL dout", ctx);
    if (want_wei && !in && !L->last_in)
        return re_fail(RE_ERR_ARG, "dnnl: %s backward: in == NULL but no forward call to reuse the input of", ctx);
    if (want_data && !w && !L->last_w)
        return re_fail(RE_ERR_ARG, "dnnl: %s backward: w == NULL but no forward call to reuse the weights of", ctx);
    if (!want_data && !want_wei) return RE_OK;

    /* dout: reordered once when both backward primitives take the same layout. */
    int few_data = want_data && L->few_bwd_d.active;
    if ((want_data && !few_data) || (want_wei && L->ddst_shared))
        if ((st = port_in(&L->d_ddst, dout, ctx)) != RE_OK) goto fail;

    if (few_data) {
        if ((st = few_run(&L->few_bwd_d, din, dout, w ? w : L->last_w, NULL, ctx)) != RE_OK) goto fail;
    } else if (want_data) {
        dnnl_memory_t wmem = L->d_wei.mem;
        if (!w && L->wei_same && L->w_valid) wmem = L->f_wei.mem;  /* still holds the forward's weights */
        else if ((st = port_in(&L->d_wei, w ? w : L->last_w, ctx)) != RE_OK) goto fail;
        DN(dnnl_memory_set_data_handle(L->d_dsrc.user, din));
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_DIFF_DST, L->d_ddst.mem}, {DNNL_ARG_WEIGHTS, wmem},
                                   {DNNL_ARG_DIFF_SRC, L->d_dsrc.mem}};
        DN(dnnl_primitive_execute(L->bwd_d, g_stream, 3, args));
        if ((st = port_out(&L->d_dsrc, ctx)) != RE_OK) goto fail;
    }

    if (want_wei) {
        dnnl_memory_t smem = L->w_src.mem, ddmem = L->d_ddst.mem;
        if (!in && L->src_same) smem = L->f_src.mem;  /* still holds the forward's (reordered) input */
        else if ((st = port_in(&L->w_src, in ? in : L->last_in, ctx)) != RE_OK) goto fail;
        if (!L->ddst_shared) {
            if ((st = port_in(&L->w_ddst, dout, ctx)) != RE_OK) goto fail;
            ddmem = L->w_ddst.mem;
        }
        /* A gradient the caller does not want still has to go somewhere when it aliases a plain buffer. */
        int dw_sink = !dw && L->w_dwei.mem == L->w_dwei.user, db_sink = L->with_bias && !db;
        if ((dw_sink || db_sink) && !L->trash) {
            size_t n = L->n_w > L->n_b ? L->n_w : L->n_b, bytes;
            if (!re_mul_ok(n, sizeof(float), &bytes)) return re_fail(RE_ERR_NOMEM, "dnnl: %s: size overflow", ctx);
            if (!(L->trash = re_alloc(bytes, "dnnl gradient sink"))) return RE_ERR_NOMEM;
        }
        DN(dnnl_memory_set_data_handle(L->w_dwei.user, dw ? dw : L->trash));
        /* (dw_sink and db_sink never hold together: want_wei needs dw or db, so the sink is never shared.) */
        if (L->with_bias) DN(dnnl_memory_set_data_handle(L->dbias, db ? db : L->trash));
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, smem}, {DNNL_ARG_DIFF_DST, ddmem},
                                   {DNNL_ARG_DIFF_WEIGHTS, L->w_dwei.mem}, {DNNL_ARG_DIFF_BIAS, L->dbias}};
        DN(dnnl_primitive_execute(L->bwd_w, g_stream, L->with_bias ? 4 : 3, args));
        if (dw && (st = port_out(&L->w_dwei, ctx)) != RE_OK) goto fail;
    }
    DN(dnnl_stream_wait(g_stream));
    return RE_OK;
fail:
    return st;
}

static void layer_describe(const layer *L, char *buf, size_t len) {
    const char *impl[3] = {"-", "-", "-"};
    const_dnnl_primitive_desc_t pds[3] = {L->fwd_pd, L->bwd_d_pd, L->bwd_w_pd};
    if (!buf || !len) return;
    for (int i = 0; i < 3; i++)
        if (pds[i] && dnnl_primitive_desc_query(pds[i], dnnl_query_impl_info_str, 0, &impl[i]) != dnnl_success)
            impl[i] = "?";
    if (L->few_fwd.active) impl[0] = "matmul+col2im";
    if (L->few_bwd_d.active) impl[1] = "matmul+col2im";
    int reo = L->f_src.reorder || L->f_dst.reorder || L->d_ddst.reorder || L->d_dsrc.reorder ||
              (L->few_fwd.active && L->few_fwd.xp.reorder) || (L->few_bwd_d.active && L->few_bwd_d.xp.reorder);
    if (L->inference) /* forward only */
        snprintf(buf, len, "fwd=%s%s%s", impl[0], L->lrelu > 0 ? (L->lrelu_fused ? "+lrelu" : " then lrelu") : "",
                 reo ? " (reorders)" : "");
    else
        snprintf(buf, len, "fwd=%s%s bwd_d=%s bwd_w=%s%s", impl[0],
                 L->lrelu > 0 ? (L->lrelu_fused ? "+lrelu" : " then lrelu") : "", impl[1], impl[2],
                 reo ? " (reorders)" : "");
}

/* ---------------------------------------------------------------------------------------------------------
 * Conv / transposed conv. */

struct re_dnnl_conv {
    layer L;
    re_conv_params p;
    int transposed;
};

/* User descriptor of an activation buffer [n,c,h,w] in the given layout and dtype. */
static dnnl_status_t act_md(dnnl_memory_desc_t *md, const dnnl_dims_t dims, re_dnnl_layout lay, re_dnnl_dtype dt) {
    return dnnl_memory_desc_init_by_tag(md, 4, dims, dt == RE_DNNL_BF16 ? dnnl_bf16 : dnnl_f32,
                                        lay == RE_DNNL_BLOCKED ? dnnl_aBcd16b : lay == RE_DNNL_NHWC ? dnnl_acdb
                                                                                                  : dnnl_nchw);
}

re_status re_dnnl_conv_create(re_dnnl_conv **out, const re_conv_params *p, int transposed, int with_bias) {
    return re_dnnl_conv_create_ex(out, p, transposed, with_bias, NULL);
}

re_status re_dnnl_conv_create_ex(re_dnnl_conv **out, const re_conv_params *p, int transposed, int with_bias,
                                 const re_dnnl_conv_opts *opts) {
    re_status st = RE_OK;
    re_dnnl_conv *c = NULL;
    dnnl_primitive_attr_t attr = NULL;
    const char *ctx = "conv create";
    re_dnnl_conv_opts o = {0};
    if (opts) o = *opts;
    if (!out || !p) return re_fail(RE_ERR_ARG, "dnnl: re_dnnl_conv_create: NULL %s", !out ? "out" : "params");
    *out = NULL;
    if (p->n <= 0 || p->ic <= 0 || p->h <= 0 || p->w <= 0 || p->oc <= 0 || p->kh <= 0 || p->kw <= 0 ||
        p->stride <= 0 || p->pad < 0)
        return re_fail(RE_ERR_ARG, "dnnl: %s: non-positive size in n=%d ic=%d h=%d w=%d oc=%d k=%dx%d s=%d p=%d",
                       transposed ? "deconv" : "conv", p->n, p->ic, p->h, p->w, p->oc, p->kh, p->kw, p->stride,
                       p->pad);
    if ((o.src_layout == RE_DNNL_BLOCKED && p->ic % RE_DNNL_BLOCK) ||
        (o.dst_layout == RE_DNNL_BLOCKED && p->oc % RE_DNNL_BLOCK))
        return re_fail(RE_ERR_ARG, "dnnl: %s: blocked layout needs channels divisible by %d, got ic=%d oc=%d",
                       transposed ? "deconv" : "conv", RE_DNNL_BLOCK, p->ic, p->oc);
    /* Output size per PyTorch (64-bit math: the inputs are ints, the products may not fit). */
    int64_t eh, ew;
    if (transposed) {
        eh = (int64_t)(p->h - 1) * p->stride - 2 * (int64_t)p->pad + p->kh;
        ew = (int64_t)(p->w - 1) * p->stride - 2 * (int64_t)p->pad + p->kw;
    } else {
        int64_t nh = (int64_t)p->h + 2 * (int64_t)p->pad - p->kh, nw = (int64_t)p->w + 2 * (int64_t)p->pad - p->kw;
        eh = nh < 0 ? 0 : nh / p->stride + 1;
        ew = nw < 0 ? 0 : nw / p->stride + 1;
    }
    if (eh <= 0 || ew <= 0 || eh != p->oh || ew != p->ow)
        return re_fail(RE_ERR_ARG, "dnnl: %s: output size %dx%d given, expected %lldx%lld for input %dx%d k=%dx%d "
                       "s=%d p=%d", transposed ? "deconv" : "conv", p->oh, p->ow, (long long)eh, (long long)ew,
                       p->h, p->w, p->kh, p->kw, p->stride, p->pad);
    if ((st = re_dnnl_init()) != RE_OK) return st;
    if (!(c = re_alloc(sizeof *c, "dnnl conv"))) return RE_ERR_NOMEM;
    c->p = *p;
    c->transposed = transposed != 0;
    layer *L = &c->L;
    L->with_bias = with_bias != 0;
    L->inference = o.inference != 0;
    L->lrelu = o.lrelu > 0 ? o.lrelu : 0;
    L->n_w = (size_t)p->oc * p->ic * p->kh * p->kw;
    L->n_b = (size_t)p->oc;
    L->n_out = (size_t)p->n * p->oc * p->oh * p->ow;
    snprintf(L->name, sizeof L->name, "%s %d->%d k%dx%d s%d p%d n%d %dx%d%s%s", transposed ? "deconv" : "conv",
             p->ic, p->oc, p->kh, p->kw, p->stride, p->pad, p->n, p->h, p->w, o.bf16 ? " bf16" : "",
             o.inference ? " infer" : "");
    ctx = L->name;

    const dnnl_data_type_t dt = o.bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_prop_kind_t prop = o.inference ? dnnl_forward_inference : dnnl_forward_training;
    dnnl_dims_t d_src = {p->n, p->ic, p->h, p->w}, d_dst = {p->n, p->oc, p->oh, p->ow};
    dnnl_dims_t d_wei = {p->oc, p->ic, p->kh, p->kw}, d_bias = {p->oc};
    dnnl_dims_t strides = {p->stride, p->stride}, pad_l = {p->pad, p->pad}, pad_r;
    /* Right padding that yields exactly oh/ow (PyTorch floors, dropping trailing input rows); oneDNN accepts
     * any pad_r > -stride, but we keep it >= 0 since not every kernel handles negative padding. */
    for (int i = 0; i < 2; i++) {
        int64_t in_sz = i ? p->w : p->h, out_sz = i ? p->ow : p->oh, k = i ? p->kw : p->kh, r;
        if (transposed) r = (in_sz - 1) * p->stride + k - out_sz - p->pad;   /* deconv: roles of in/out swap */
        else r = (out_sz - 1) * p->stride + k - in_sz - p->pad;
        pad_r[i] = r < 0 ? 0 : r;
    }
    user_mds u;
    dnnl_memory_desc_t a_src, a_dst, a_wei, a_dsrc, a_ddst, a_dwei;
    DN(act_md(&u.src, d_src, o.src_layout, o.src_dtype));
    DN(act_md(&u.dsrc, d_src, o.src_layout, RE_DNNL_F32));
    DN(act_md(&u.dst, d_dst, o.dst_layout, RE_DNNL_F32));
    DN(act_md(&u.ddst, d_dst, o.dst_layout, o.ddst_dtype));
    DN(dnnl_memory_desc_init_by_tag(&u.wei, 4, d_wei, dnnl_f32, transposed ? dnnl_iohw : dnnl_oihw));
    DN(dnnl_memory_desc_init_by_tag(&u.bias, 1, d_bias, dnnl_f32, dnnl_x));
    /* Activations the caller keeps blocked (or NHWC) are so for the primitives too (else oneDNN may pick nhwc for
     * some shapes, e.g. brgconv at batch 1, and every layer would reorder twice); plain ones are "any". NHWC is
     * what the brgemm convolutions (brgconv, AMX included) take, and what they get in an NHWC plan. */
    /* A plain side next to an NHWC side is NHWC for the primitive too (the port reorders it): with "any" there,
     * oneDNN 2.6 finds no jit transposed conv for NCHW -> NHWC and falls back to its reference kernel. */
    const int nhwc = o.src_layout == RE_DNNL_NHWC || o.dst_layout == RE_DNNL_NHWC;
    const dnnl_format_tag_t src_tag = o.src_layout == RE_DNNL_BLOCKED ? dnnl_aBcd16b
                                      : nhwc ? dnnl_acdb : dnnl_format_tag_any;
    const dnnl_format_tag_t dst_tag = o.dst_layout == RE_DNNL_BLOCKED ? dnnl_aBcd16b
                                      : nhwc ? dnnl_acdb : dnnl_format_tag_any;
    DN(dnnl_memory_desc_init_by_tag(&a_src, 4, d_src, dt, src_tag));
    DN(dnnl_memory_desc_init_by_tag(&a_dst, 4, d_dst, dnnl_f32, dst_tag));
    DN(dnnl_memory_desc_init_by_tag(&a_wei, 4, d_wei, dt, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&a_dsrc, 4, d_src, dnnl_f32, src_tag));
    DN(dnnl_memory_desc_init_by_tag(&a_ddst, 4, d_dst, dt, dst_tag));
    DN(dnnl_memory_desc_init_by_tag(&a_dwei, 4, d_wei, dnnl_f32, dnnl_format_tag_any));
    if ((st = lrelu_attr(&attr, L->lrelu, ctx)) != RE_OK) goto fail;
    const dnnl_memory_desc_t *bias_md = L->with_bias ? &u.bias : NULL;
    if (transposed) {
        /* oneDNN 2.6 adds a transposed conv's bias and applies its post-ops in slow separate loops (batch 64,
         * 64->32 at 16x16: 9.4 ms without bias, 15.8 ms with; batch 1: post-op 0.14 -> 1.0 ms), so the forward
         * primitive gets neither and layer_forward adds the bias and the LeakyReLU in one vectorized pass. */
        dnnl_deconvolution_desc_t fd, bd, wd;
        L->own_bias = L->with_bias;
        L->out_layout = (int)o.dst_layout;
        L->out_c = p->oc;
        L->out_hw = p->oh * p->ow;
        if (attr) {
            dnnl_primitive_attr_destroy(attr);
            attr = NULL;
        }
        DN(dnnl_deconvolution_forward_desc_init(&fd, prop, dnnl_deconvolution_direct, &a_src, &a_wei, NULL, &a_dst,
                                                strides, pad_l, pad_r));
        if (!L->inference) {
            DN(dnnl_deconvolution_backward_data_desc_init(&bd, dnnl_deconvolution_direct, &a_dsrc, &a_wei, &a_ddst,
                                                          strides, pad_l, pad_r));
            DN(dnnl_deconvolution_backward_weights_desc_init(&wd, dnnl_deconvolution_direct, &a_src, &a_dwei,
                                                             bias_md, &a_ddst, strides, pad_l, pad_r));
        }
        if ((st = layer_make_pds(L, &fd, &bd, &wd, NULL, NULL, NULL, attr)) != RE_OK) goto fail;
    } else {
        dnnl_convolution_desc_t fd, bd, wd;
        DN(dnnl_convolution_forward_desc_init(&fd, prop, dnnl_convolution_direct, &a_src, &a_wei, bias_md, &a_dst,
                                              strides, pad_l, pad_r));
        if (!L->inference) {
            DN(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &a_dsrc, &a_wei, &a_ddst,
                                                        strides, pad_l, pad_r));
            DN(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &a_src, &a_dwei, bias_md,
                                                           &a_ddst, strides, pad_l, pad_r));
        }
        /* 3x3 stride 1: Winograd F(4x4,3x3), about 2x faster than direct in all three passes at batch 64 with
         * >= 16 channels each side (bench_ops, one thread: 32->64 at 32x32 73 -> 40 ms fwd+bwd). It is 2.5x
         * SLOWER with 3 input channels, and slower on tiny outputs (batch 1 at 8x8: too few 4x4 tiles), hence
         * the conditions. Its f32 rounding error is ~10x direct's (NMSE ~5e-13 vs ~2e-14 against the f64-
         * accumulated reference in test_dnnl_ops), far below what training notices. f32 only (oneDNN has no
         * bf16 Winograd). */
        dnnl_convolution_desc_t wfd, wbd, wwd;
        int wino = RE_DNNL_WINOGRAD && !o.bf16 && p->kh == 3 && p->kw == 3 && p->stride == 1 && p->ic >= 16 &&
                   p->oc >= 16 && (int64_t)p->n * p->oh * p->ow >= 256;
        if (wino) {
            DN(dnnl_convolution_forward_desc_init(&wfd, prop, dnnl_convolution_winograd, &a_src, &a_wei, bias_md,
                                                  &a_dst, strides, pad_l, pad_r));
            if (!L->inference) {
                DN(dnnl_convolution_backward_data_desc_init(&wbd, dnnl_convolution_winograd, &a_dsrc, &a_wei,
                                                            &a_ddst, strides, pad_l, pad_r));
                DN(dnnl_convolution_backward_weights_desc_init(&wwd, dnnl_convolution_winograd, &a_src, &a_dwei,
                                                               bias_md, &a_ddst, strides, pad_l, pad_r));
            }
        }
        if ((st = layer_make_pds(L, &fd, &bd, &wd, wino ? &wfd : NULL, wino ? &wbd : NULL, wino ? &wwd : NULL,
                                 attr)) != RE_OK)
            goto fail;
    }
    /* The pass that produces a few-channel tensor through the scatter direction takes the few-channel path. */
    few_path *few = NULL;
    const dnnl_memory_desc_t *few_x = NULL;
    if (transposed && p->oc <= FEW_MAX_CH && o.dst_layout == RE_DNNL_NCHW) {
        few = &L->few_fwd;
        few_x = &u.src;
        *few = (few_path){.n = p->n, .cx = p->ic, .cs = p->oc, .hx = p->h, .wx = p->w, .hy = p->oh, .wy = p->ow};
    } else if (!transposed && p->ic <= FEW_MAX_CH && !L->inference && o.src_layout == RE_DNNL_NCHW) {
        few = &L->few_bwd_d;
        few_x = &u.ddst;
        *few = (few_path){.n = p->n, .cx = p->oc, .cs = p->ic, .hx = p->oh, .wx = p->ow, .hy = p->h, .wy = p->w};
    }
    if (few) {
        few->kh = p->kh;
        few->kw = p->kw;
        few->s = p->stride;
        few->p = p->pad;
        if ((st = few_create(few, few_x, ctx)) != RE_OK) goto fail;
    }
    if ((st = layer_finish(L, &u)) != RE_OK) goto fail;
    if (attr) dnnl_primitive_attr_destroy(attr);
    *out = c;
    return RE_OK;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    re_dnnl_conv_free(c);
    return st;
}

re_status re_dnnl_conv_forward(re_dnnl_conv *c, float *out, const float *in, const float *w, const float *b) {
    if (!c) return re_fail(RE_ERR_ARG, "dnnl: re_dnnl_conv_forward: NULL layer");
    return layer_forward(&c->L, out, in, w, b, 0);
}

re_status re_dnnl_conv_forward_ex(re_dnnl_conv *c, float *out, const void *in, const float *w, const float *b,
                                  int w_same) {
    if (!c) return re_fail(RE_ERR_ARG, "dnnl: re_dnnl_conv_forward_ex: NULL layer");
    return layer_forward(&c->L, out, in, w, b, w_same);
}

re_status re_dnnl_conv_backward(re_dnnl_conv *c, float *din, float *dw, float *db, const float *dout,
                                const float *in, const float *w) {
    if (!c) return re_fail(RE_ERR_ARG, "dnnl: re_dnnl_conv_backward: NULL layer");
    return layer_backward(&c->L, din, dw, db, dout, in, w);
}

re_status re_dnnl_conv_backward_ex(re_dnnl_conv *c, float *din, float *dw, float *db, const void *dout,
                                   const void *in, const float *w) {
    if (!c) return re_fail(RE_ERR_ARG, "dnnl: re_dnnl_conv_backward_ex: NULL layer");
    return layer_backward(&c->L, din, dw, db, dout, in, w);
}

void re_dnnl_conv_describe(const re_dnnl_conv *c, char *buf, size_t len) {
    if (!c) {
        if (buf && len) buf[0] = 0;
        return;
    }
    layer_describe(&c->L, buf, len);
}

void re_dnnl_conv_free(re_dnnl_conv *c) {
    if (!c) return;
    layer_free(&c->L);
    re_free(c);
}

/* ---------------------------------------------------------------------------------------------------------
 * Linear (inner product): src [N,IN] 'nc', weights [OUT,IN] 'oi' (= PyTorch), dst [N,OUT] 'nc'. */

struct re_dnnl_linear {
    layer L;
    int n, in_f, out_f;
    int wbf16;                  /* weights rounded to bf16 (re_dnnl_linear_opts.wbf16) ... */
    int gemv;                   /* ... run by re_linear_bf16w_forward on w16 (n <= RE_GEMV_MAX_N; no primitive) */
    uint16_t *w16;              /* gemv: bf16 weights [OUT,IN] */
    float *wround;              /* not gemv: the rounded weights in f32, the primitive's weights */
    const float *wsrc;          /* weights w16 / wround were made from ... */
    int wvalid;                 /* ... once made */
};

re_status re_dnnl_linear_create(re_dnnl_linear **out, int n, int in_f, int out_f, int with_bias) {
    return re_dnnl_linear_create_ex(out, n, in_f, out_f, with_bias, NULL);
}

re_status re_dnnl_linear_create_ex(re_dnnl_linear **out, int n, int in_f, int out_f, int with_bias,
                                   const re_dnnl_linear_opts *opts) {
    re_status st = RE_OK;
    re_dnnl_linear *l = NULL;
    dnnl_primitive_attr_t attr = NULL;
    const char *ctx = "linear create";
    re_dnnl_linear_opts o = {0};
    if (opts) o = *opts;
    if (!out) return re_fail(RE_ERR_ARG, "dnnl: re_dnnl_linear_create: NULL out");
    *out = NULL;
    if (n <= 0 || in_f <= 0 || out_f <= 0)
        return re_fail(RE_ERR_ARG, "dnnl: linear: non-positive size n=%d in=%d out=%d", n, in_f, out_f);
    if ((st = re_dnnl_init()) != RE_OK) return st;
    if (!(l = re_alloc(sizeof *l, "dnnl linear"))) return RE_ERR_NOMEM;
    l->n = n;
    l->in_f = in_f;
    l->out_f = out_f;
    layer *L = &l->L;
    L->with_bias = with_bias != 0;
    L->inference = o.inference != 0;
    L->lrelu = o.lrelu > 0 ? o.lrelu : 0;
    L->n_w = (size_t)out_f * in_f;
    L->n_b = (size_t)out_f;
    L->n_out = (size_t)n * out_f;
    if (o.wbf16 && (!o.inference || o.bf16)) {
        re_dnnl_linear_free(l);
        return re_fail(RE_ERR_ARG, "dnnl: linear %d->%d: bf16 weights (wbf16) are for f32 inference layers only",
                       in_f, out_f);
    }
    l->wbf16 = o.wbf16 != 0;
    l->gemv = l->wbf16 && n <= RE_GEMV_MAX_N;
    snprintf(L->name, sizeof L->name, "linear %d->%d n%d%s%s", in_f, out_f, n,
             o.bf16 ? " bf16" : l->wbf16 ? " bf16-weights" : "", o.inference ? " infer" : "");
    ctx = L->name;
    if (l->wbf16) {
        size_t bytes;
        if (!re_mul_ok(L->n_w, l->gemv ? sizeof(uint16_t) : sizeof(float), &bytes)) {
            st = re_fail(RE_ERR_NOMEM, "dnnl: %s: size overflow", ctx);
            goto fail;
        }
        if (l->gemv) l->w16 = re_alloc(bytes, "bf16 linear weights");
        else l->wround = re_alloc(bytes, "bf16-rounded linear weights");
        if (!l->w16 && !l->wround) { st = RE_ERR_NOMEM; goto fail; }
        if (l->gemv) { /* no oneDNN primitive: our GEMV is the layer */
            *out = l;
            return RE_OK;
        }
    }

    const dnnl_data_type_t dt = o.bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t d_src = {n, in_f}, d_dst = {n, out_f}, d_wei = {out_f, in_f}, d_bias = {out_f};
    user_mds u;
    dnnl_memory_desc_t a_src, a_dst, a_wei, a_dsrc, a_ddst, a_dwei;
    DN(dnnl_memory_desc_init_by_tag(&u.src, 2, d_src, dnnl_f32, dnnl_nc));
    DN(dnnl_memory_desc_init_by_tag(&u.dsrc, 2, d_src, dnnl_f32, dnnl_nc));
    DN(dnnl_memory_desc_init_by_tag(&u.dst, 2, d_dst, dnnl_f32, dnnl_nc));
    DN(dnnl_memory_desc_init_by_tag(&u.ddst, 2, d_dst, dnnl_f32, dnnl_nc));
    DN(dnnl_memory_desc_init_by_tag(&u.wei, 2, d_wei, dnnl_f32, dnnl_oi));
    DN(dnnl_memory_desc_init_by_tag(&u.bias, 1, d_bias, dnnl_f32, dnnl_x));
    DN(dnnl_memory_desc_init_by_tag(&a_src, 2, d_src, dt, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&a_dst, 2, d_dst, dnnl_f32, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&a_dsrc, 2, d_src, dnnl_f32, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&a_ddst, 2, d_dst, dt, dnnl_format_tag_any));
    /* Training: weights stay in the caller's [OUT,IN] layout: the blocked layout oneDNN would pick (AB16b64a)
     * saves less in the three GEMMs than the three weight reorders per step cost (measured 4096->512 at batch
     * 64, one thread: 12.1 ms plain vs 15.4 ms blocked incl. reorders). Inference: the preferred layout, since
     * the reorder is cached across calls (w_same). bf16 needs a converted copy anyway. */
    if (o.inference || o.bf16) {
        DN(dnnl_memory_desc_init_by_tag(&a_wei, 2, d_wei, dt, dnnl_format_tag_any));
    } else {
        a_wei = u.wei;
    }
    DN(dnnl_memory_desc_init_by_tag(&a_dwei, 2, d_wei, dnnl_f32, o.bf16 ? dnnl_format_tag_any : dnnl_oi));
    if ((st = lrelu_attr(&attr, L->lrelu, ctx)) != RE_OK) goto fail;
    const dnnl_memory_desc_t *bias_md = L->with_bias ? &u.bias : NULL;
    dnnl_inner_product_desc_t fd, bd, wd;
    DN(dnnl_inner_product_forward_desc_init(&fd, o.inference ? dnnl_forward_inference : dnnl_forward_training,
                                            &a_src, &a_wei, bias_md, &a_dst));
    if (!L->inference) {
        DN(dnnl_inner_product_backward_data_desc_init(&bd, &a_dsrc, &a_wei, &a_ddst));
        DN(dnnl_inner_product_backward_weights_desc_init(&wd, &a_src, &a_dwei, bias_md, &a_ddst));
    }
    if ((st = layer_make_pds(L, &fd, &bd, &wd, NULL, NULL, NULL, attr)) != RE_OK) goto fail;
    if ((st = layer_finish(L, &u)) != RE_OK) goto fail;
    if (attr) dnnl_primitive_attr_destroy(attr);
    *out = l;
    return RE_OK;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    re_dnnl_linear_free(l);
    return st;
}

re_status re_dnnl_linear_forward(re_dnnl_linear *l, float *out, const float *in, const float *w, const float *b) {
    if (!l) return re_fail(RE_ERR_ARG, "dnnl: re_dnnl_linear_forward: NULL layer");
    return layer_forward(&l->L, out, in, w, b, 0);
}

re_status re_dnnl_linear_forward_ex(re_dnnl_linear *l, float *out, const float *in, const float *w, const float *b,
                                    int w_same) {
    if (!l) return re_fail(RE_ERR_ARG, "dnnl: re_dnnl_linear_forward_ex: NULL layer");
    if (!l->wbf16) return layer_forward(&l->L, out, in, w, b, w_same);
    layer *L = &l->L;
    if (!out || !in || !w || (L->with_bias && !b))
        return re_fail(RE_ERR_ARG, "dnnl: %s forward: NULL %s", L->name,
                       !out ? "out" : !in ? "in" : !w ? "w" : "b (the layer has a bias)");
    /* the bf16 copy / rounded weights are remade whenever the weights may have changed */
    int same = w_same && l->wvalid && w == l->wsrc;
    if (!same) {
        if (l->gemv) re_bf16_convert(l->w16, w, L->n_w);
        else re_bf16_round(l->wround, w, L->n_w);
        l->wsrc = w;
        l->wvalid = 1;
    }
    if (!l->gemv) return layer_forward(L, out, in, l->wround, b, same);
    re_linear_bf16w_forward(out, in, l->w16, L->with_bias ? b : NULL, l->n, l->in_f, l->out_f, L->lrelu);
    L->last_in = in;
    L->last_w = w;
    return RE_OK;
}

re_status re_dnnl_linear_backward(re_dnnl_linear *l, float *din, float *dw, float *db, const float *dout,
                                  const float *in, const float *w) {
    if (!l) return re_fail(RE_ERR_ARG, "dnnl: re_dnnl_linear_backward: NULL layer");
    return layer_backward(&l->L, din, dw, db, dout, in, w);
}

void re_dnnl_linear_describe(const re_dnnl_linear *l, char *buf, size_t len) {
    if (!l) {
        if (buf && len) buf[0] = 0;
        return;
    }
    if (l->gemv) {
        snprintf(buf, len, "fwd=gemv_bf16w:%s%s", re_gemv_isa(), l->L.lrelu > 0 ? "+lrelu" : "");
        return;
    }
    layer_describe(&l->L, buf, len);
    if (l->wbf16) snprintf(buf + strlen(buf), len - strlen(buf), " (bf16-rounded weights)");
}

void re_dnnl_linear_free(re_dnnl_linear *l) {
    if (!l) return;
    layer_free(&l->L);
    re_free(l->w16);
    re_free(l->wround);
    re_free(l);
}

/* ---------------------------------------------------------------------------------------------------------
 * bf16-versus-f32 probe (re_precision_resolve's RE_PREC_AUTO). One seed64 layer, f32 and bf16 interleaved, best
 * of PROBE_REPS: training = a conv 64->64 k4 s2 at 32x32, batch 16, forward + backward-data + backward-weights
 * (the kind of layer that runs in bf16 in bf16 training); inference = a conv 128->128 k4 s2 at 16x16, batch 1,
 * forward. The layers' data are constant (timing does not depend on values). */

#define PROBE_REPS 5

static double probe_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

re_status re_dnnl_bf16_probe(int training, double *ms_f32, double *ms_bf16) {
    re_status st = RE_OK;
    re_conv_params p = training ? (re_conv_params){.n = 16, .ic = 64, .h = 32, .w = 32, .oc = 64, .oh = 16, .ow = 16,
                                                   .kh = 4, .kw = 4, .stride = 2, .pad = 1}
                                : (re_conv_params){.n = 1, .ic = 128, .h = 16, .w = 16, .oc = 128, .oh = 8, .ow = 8,
                                                   .kh = 4, .kw = 4, .stride = 2, .pad = 1};
    const size_t n_in = (size_t)p.n * p.ic * p.h * p.w, n_out = (size_t)p.n * p.oc * p.oh * p.ow;
    const size_t n_w = (size_t)p.oc * p.ic * p.kh * p.kw;
    re_dnnl_conv *c[2] = {NULL, NULL};
    float *in = re_alloc(n_in * sizeof(float), "probe"), *out = re_alloc(n_out * sizeof(float), "probe");
    float *w = re_alloc(n_w * sizeof(float), "probe"), *b = re_alloc((size_t)p.oc * sizeof(float), "probe");
    float *din = re_alloc(n_in * sizeof(float), "probe"), *dw = re_alloc(n_w * sizeof(float), "probe");
    float *db = re_alloc((size_t)p.oc * sizeof(float), "probe"), *dout = re_alloc(n_out * sizeof(float), "probe");
    uint16_t *in16 = re_alloc(n_in * sizeof(uint16_t), "probe"), *dout16 = re_alloc(n_out * sizeof(uint16_t), "probe");
    double best[2] = {1e300, 1e300};
    if (!in || !out || !w || !b || !din || !dw || !db || !dout || !in16 || !dout16) { st = RE_ERR_NOMEM; goto done; }
    for (size_t i = 0; i < n_in; i++) in[i] = (float)(i % 17) * 0.05f - 0.4f;
    for (size_t i = 0; i < n_out; i++) dout[i] = (float)(i % 13) * 0.01f - 0.06f;
    for (size_t i = 0; i < n_w; i++) w[i] = (float)(i % 7) * 0.01f - 0.03f;
    for (int i = 0; i < p.oc; i++) b[i] = 0.01f;
    re_bf16_convert(in16, in, n_in);
    re_bf16_convert(dout16, dout, n_out);
    for (int k = 0; k < 2; k++) {
        re_dnnl_conv_opts o = {.inference = !training, .bf16 = k};
        if (k && training) {
            o.src_dtype = RE_DNNL_BF16;
            o.ddst_dtype = RE_DNNL_BF16;
        }
        if ((st = re_dnnl_conv_create_ex(&c[k], &p, 0, 1, &o)) != RE_OK) goto done;
    }
    for (int r = 0; r < PROBE_REPS + 1; r++)
        for (int k = 0; k < 2; k++) {
            const void *x = k && training ? (const void *)in16 : (const void *)in;
            double t0 = probe_now_ms();
            /* inference: weights reordered once (a runner's cache); training: at every step */
            if ((st = re_dnnl_conv_forward_ex(c[k], out, x, w, b, !training && r > 0)) != RE_OK) goto done;
            if (training &&
                (st = re_dnnl_conv_backward_ex(c[k], din, dw, db, k ? (const void *)dout16 : (const void *)dout, NULL,
                                               NULL)) != RE_OK)
                goto done;
            double t = probe_now_ms() - t0;
            if (r > 0 && t < best[k]) best[k] = t; /* r == 0: warm-up (JIT, first touch) */
        }
    if (ms_f32) *ms_f32 = best[0];
    if (ms_bf16) *ms_bf16 = best[1];
done:
    re_dnnl_conv_free(c[0]);
    re_dnnl_conv_free(c[1]);
    re_free(in); re_free(out); re_free(w); re_free(b); re_free(din); re_free(dw); re_free(db); re_free(dout);
    re_free(in16); re_free(dout16);
    return st;
}
