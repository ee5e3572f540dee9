/*
 * model.c - builds the encoder / decoder / discriminator layer graphs of a re_config over one parameter table
 * (names equal to the PyTorch state_dict keys of tools/reenact_torch.py), initializes weights like PyTorch,
 * and saves/loads them as safetensors (format "reenact-vaegan", version 1; docs/FORMAT.md).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/safetensors.h"
#include "model/directions_io.h"
#include "model/model_internal.h"

#define RE_FORMAT_NAME "reenact-vaegan"
#define RE_FORMAT_VERSION "1"

/* ---- construction ---------------------------------------------------------------------------------------- */

typedef struct builder {
    re_model *m;
    re_net *net;
    int cap_layers;
    const char *prefix;   /* "encoder." ... */
    re_status status;
    int c, h, w;          /* current activation shape per sample */
} builder;

static int add_param(builder *b, const char *module, const char *pname, re_param_kind kind, int ndim,
                     const int64_t *shape) {
    re_model *m = b->m;
    if (b->status) return -1;
    if (m->n_params == m->cap_params) {
        int cap = m->cap_params ? 2 * m->cap_params : 64;
        re_param *p = realloc(m->params, (size_t)cap * sizeof *p);
        if (!p) { b->status = re_fail(RE_ERR_NOMEM, "model: out of memory"); return -1; }
        m->params = p;
        m->cap_params = cap;
    }
    re_param *p = &m->params[m->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s%s.%s", b->prefix, module, pname);
    p->kind = kind;
    p->part = b->net->part;
    p->ndim = ndim;
    size_t cnt = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        if (!re_mul_ok(cnt, (size_t)shape[i], &cnt)) { b->status = re_fail(RE_ERR_CONFIG, "model: size overflow"); return -1; }
    }
    p->count = cnt;
    if (kind == RE_P_COUNTER) {
        p->offset = (size_t)m->n_counters++;
    } else {
        p->offset = m->data_count;
        m->data_count += (cnt + 15) & ~(size_t)15; /* 64-byte aligned views */
    }
    return m->n_params++;
}

static re_layer *add_layer(builder *b, re_layer_kind kind, const char *name) {
    if (b->status) return NULL;
    re_net *net = b->net;
    if (net->n_layers == b->cap_layers) {
        int cap = b->cap_layers ? 2 * b->cap_layers : 16;
        re_layer *l = realloc(net->layers, (size_t)cap * sizeof *l);
        if (!l) { b->status = re_fail(RE_ERR_NOMEM, "model: out of memory"); return NULL; }
        net->layers = l;
        b->cap_layers = cap;
    }
    re_layer *l = &net->layers[net->n_layers++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->c = b->c; l->h = b->h; l->w = b->w;
    l->oc = b->c; l->oh = b->h; l->ow = b->w;
    l->p_w = l->p_b = l->p_rm = l->p_rv = l->p_nbt = -1;
    return l;
}

static void conv(builder *b, const char *name, int oc, int k, int s, int p, int transposed) {
    re_layer *l = add_layer(b, transposed ? RE_L_DECONV : RE_L_CONV, name);
    if (!l) return;
    l->oc = oc; l->k = k; l->stride = s; l->pad = p;
    if (transposed) {
        l->oh = (b->h - 1) * s - 2 * p + k;
        l->ow = (b->w - 1) * s - 2 * p + k;
    } else {
        l->oh = (b->h + 2 * p - k) / s + 1;
        l->ow = (b->w + 2 * p - k) / s + 1;
    }
    int64_t ws[4] = {transposed ? b->c : oc, transposed ? oc : b->c, k, k}, bs[1] = {oc};
    int lw = add_param(b, name, "weight", RE_P_WEIGHT, 4, ws);
    int lb = add_param(b, name, "bias", RE_P_WEIGHT, 1, bs);
    l = &b->net->layers[b->net->n_layers - 1]; /* add_param may not move layers, but stay safe */
    l->p_w = lw; l->p_b = lb;
    b->c = l->oc; b->h = l->oh; b->w = l->ow;
}

static void bn(builder *b, const char *name) {
    re_layer *l = add_layer(b, RE_L_BN, name);
    if (!l) return;
    int64_t cs[1] = {b->c};
    int pw = add_param(b, name, "weight", RE_P_WEIGHT, 1, cs);
    int pb = add_param(b, name, "bias", RE_P_WEIGHT, 1, cs);
    int rm = add_param(b, name, "running_mean", RE_P_BUFFER, 1, cs);
    int rv = add_param(b, name, "running_var", RE_P_BUFFER, 1, cs);
    int nbt = add_param(b, name, "num_batches_tracked", RE_P_COUNTER, 0, cs);
    l = &b->net->layers[b->net->n_layers - 1];
    l->p_w = pw; l->p_b = pb; l->p_rm = rm; l->p_rv = rv; l->p_nbt = nbt;
}

static void act(builder *b, re_layer_kind kind) {
    re_layer *l = add_layer(b, kind, kind == RE_L_LRELU ? "lrelu" : "sigmoid");
    if (!l) return;
    l->slope = b->m->cfg.lrelu_slope;
    l->in_place = 1;
}

static void linear(builder *b, const char *name, int out_f) {
    int in_f = b->c * b->h * b->w;
    b->c = in_f; b->h = b->w = 1;
    re_layer *l = add_layer(b, RE_L_LINEAR, name);
    if (!l) return;
    l->oc = out_f; l->oh = l->ow = 1;
    int64_t ws[2] = {out_f, in_f}, bs[1] = {out_f};
    int pw = add_param(b, name, "weight", RE_P_WEIGHT, 2, ws);
    int pb = add_param(b, name, "bias", RE_P_WEIGHT, 1, bs);
    l = &b->net->layers[b->net->n_layers - 1];
    l->p_w = pw; l->p_b = pb;
    b->c = out_f;
}

static void reshape(builder *b, int c, int h, int w) {
    re_layer *l = add_layer(b, RE_L_RESHAPE, "view");
    if (!l) return;
    l->oc = c; l->oh = h; l->ow = w;
    l->in_place = 1;
    b->c = c; b->h = h; b->w = w;
}

static void begin_net(builder *b, re_net *net, re_part part, const char *prefix, int c, int h, int w) {
    b->net = net;
    b->cap_layers = 0;
    b->prefix = prefix;
    net->part = part;
    net->in_c = c; net->in_h = h; net->in_w = w;
    b->c = c; b->h = h; b->w = w;
}

static re_status build(re_model *m, int with_disc) {
    const re_config *c = &m->cfg;
    builder b = {.m = m};
    char nm[32];
    const int ns = c->n_stages, bot = c->res >> (ns + 1);
    int conv_i = 1;

    /* Encoder trunk: conv1 (k3), per stage a k4s2 conv then (except after the last stage) a k3 conv widening to the
     * next stage; the top k4s2 conv; fc1. BN after every conv but the first; LeakyReLU after each. */
    begin_net(&b, &m->enc, RE_PART_ENCODER, "encoder.", c->channels, c->res, c->res);
    conv(&b, "conv1", c->enc_widths[0], 3, 1, 1, 0);
    act(&b, RE_L_LRELU);
    for (int s = 0; s < ns; s++) {
        snprintf(nm, sizeof nm, "conv%d", ++conv_i);
        conv(&b, nm, c->enc_widths[s], 4, 2, 1, 0);
        snprintf(nm, sizeof nm, "bn%d", conv_i);
        bn(&b, nm);
        act(&b, RE_L_LRELU);
        if (s + 1 < ns) {
            snprintf(nm, sizeof nm, "conv%d", ++conv_i);
            conv(&b, nm, c->enc_widths[s + 1], 3, 1, 1, 0);
            snprintf(nm, sizeof nm, "bn%d", conv_i);
            bn(&b, nm);
            act(&b, RE_L_LRELU);
        }
    }
    snprintf(nm, sizeof nm, "conv%d", ++conv_i);
    conv(&b, nm, c->top_ch, 4, 2, 1, 0);
    snprintf(nm, sizeof nm, "bn%d", conv_i);
    bn(&b, nm);
    act(&b, RE_L_LRELU);
    linear(&b, "fc1", c->fc_hidden);
    act(&b, RE_L_LRELU);

    /* Heads: fc_mu and fc_logvar both read the trunk output (run side by side, not in sequence). */
    begin_net(&b, &m->heads, RE_PART_ENCODER, "encoder.", c->fc_hidden, 1, 1);
    linear(&b, "fc_mu", c->latent);
    b.c = c->fc_hidden; b.h = b.w = 1;
    linear(&b, "fc_logvar", c->latent);

    /* Decoder. */
    begin_net(&b, &m->dec, RE_PART_DECODER, "decoder.", c->latent, 1, 1);
    linear(&b, "fc1", c->fc_hidden);
    act(&b, RE_L_LRELU);
    linear(&b, "fc2", c->fc_hidden);
    act(&b, RE_L_LRELU);
    linear(&b, "fc3", c->top_ch * bot * bot);
    act(&b, RE_L_LRELU);
    reshape(&b, c->top_ch, bot, bot);
    for (int i = 1; i <= ns; i++) {
        int width = c->enc_widths[ns - i];
        snprintf(nm, sizeof nm, "up%d", i);
        conv(&b, nm, width, 4, 2, 1, 1);
        snprintf(nm, sizeof nm, "bn_up%d", i);
        bn(&b, nm);
        act(&b, RE_L_LRELU);
        snprintf(nm, sizeof nm, "conv%d", i);
        conv(&b, nm, width, 3, 1, 1, 0);
        snprintf(nm, sizeof nm, "bn_conv%d", i);
        bn(&b, nm);
        act(&b, RE_L_LRELU);
    }
    snprintf(nm, sizeof nm, "up%d", ns + 1);
    conv(&b, nm, c->channels, 4, 2, 1, 1);
    act(&b, RE_L_SIGMOID);

    if (with_disc) {
        begin_net(&b, &m->disc, RE_PART_DISC, "disc.", c->channels, c->res, c->res);
        for (int i = 0; i < c->n_disc; i++) {
            snprintf(nm, sizeof nm, "conv%d", i + 1);
            conv(&b, nm, c->disc_widths[i], 4, 2, 1, 0);
            act(&b, RE_L_LRELU);
            m->disc.feat_layers[m->disc.n_feat++] = m->disc.n_layers - 1;
        }
        linear(&b, "fc1", c->disc_fc[0]);
        act(&b, RE_L_LRELU);
        linear(&b, "fc2", c->disc_fc[1]);
        act(&b, RE_L_LRELU);
        linear(&b, "fc3", 1);
        m->has_disc = 1;
    }
    if (b.status) return b.status;
    m->data = re_alloc((m->data_count ? m->data_count : 1) * sizeof(float), "model parameters");
    m->counters = calloc((size_t)(m->n_counters ? m->n_counters : 1), sizeof *m->counters);
    if (!m->data || !m->counters) return re_fail(RE_ERR_NOMEM, "model: cannot allocate parameters");
    return RE_OK;
}

static void init_weights(re_model *m, uint64_t seed) {
    re_rng rng;
    re_rng_seed(&rng, seed);
    re_net *nets[4] = {&m->enc, &m->heads, &m->dec, &m->disc};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < nets[k]->n_layers; i++) {
            re_layer *l = &nets[k]->layers[i];
            if (l->kind == RE_L_BN) {
                float *g = re_param_ptr(m, l->p_w), *rv = re_param_ptr(m, l->p_rv);
                for (int j = 0; j < l->c; j++) g[j] = rv[j] = 1.f;
                continue; /* beta, running_mean zero (re_alloc zero-fills) */
            }
            if (l->p_w < 0) continue;
            /* PyTorch: kaiming_uniform(a=sqrt(5)) and the bias both give U(-1/sqrt(fan_in), 1/sqrt(fan_in)), with
             * fan_in = shape[1] * receptive field (for ConvTranspose that is OC*k*k since weights are IOHW). */
            const re_param *pw = &m->params[l->p_w];
            double fan_in = (double)pw->shape[1] * (pw->ndim == 4 ? (double)pw->shape[2] * pw->shape[3] : 1.0);
            float bound = (float)(1.0 / sqrt(fan_in));
            float *w = re_param_ptr(m, l->p_w);
            for (size_t j = 0; j < pw->count; j++) w[j] = (float)(2.0 * re_rng_uniform(&rng) - 1.0) * bound;
            if (l->p_b >= 0) {
                float *bb = re_param_ptr(m, l->p_b);
                for (size_t j = 0; j < m->params[l->p_b].count; j++)
                    bb[j] = (float)(2.0 * re_rng_uniform(&rng) - 1.0) * bound;
            }
        }
}

static re_model *model_new(const re_config *cfg) {
    re_model *m = calloc(1, sizeof *m);
    if (!m) { re_fail(RE_ERR_NOMEM, "model: out of memory"); return NULL; }
    m->cfg = *cfg;
    m->backend = re_compute_backend_default()->id;   /* the most preferred one that can run here */
    return m;
}

re_status re_model_create(re_model **out, const re_config *cfg, uint64_t seed, int with_disc) {
    *out = NULL;
    re_status s = re_config_validate(cfg);
    if (s) return s;
    re_model *m = model_new(cfg);
    if (!m) return RE_ERR_NOMEM;
    if ((s = build(m, with_disc)) != RE_OK) { re_model_free(m); return s; }
    init_weights(m, seed);
    *out = m;
    return RE_OK;
}

void re_model_free(re_model *m) {
    if (!m) return;
    free(m->params);
    re_free(m->data);
    free(m->counters);
    free(m->enc.layers);
    free(m->heads.layers);
    free(m->dec.layers);
    free(m->disc.layers);
    for (int i = 0; i < m->n_meta; i++) { free(m->meta_keys[i]); free(m->meta_vals[i]); }
    free(m->meta_keys);
    free(m->meta_vals);
    re_directions_free(m->dirs);
    free(m);
}

const re_config *re_model_config(const re_model *m) { return &m->cfg; }
int re_model_has_disc(const re_model *m) { return m->has_disc; }
re_backend re_model_backend(const re_model *m) { return m->backend; }

re_status re_model_set_backend(re_model *m, re_backend b) {
    const re_compute_backend *be;
    re_status s = re_compute_backend_select(b, &be);   /* AUTO: the most preferred built */
    if (s) return s;
    m->backend = be->id;
    return RE_OK;
}

re_status re_model_copy_weights(re_model *dst, const re_model *src) {
    if (memcmp(&dst->cfg, &src->cfg, sizeof dst->cfg) != 0)
        return re_fail(RE_ERR_CONFIG, "copy weights: model configurations differ");
    for (int i = 0; i < dst->n_params; i++) {
        const re_param *p = &dst->params[i];
        if (p->part == RE_PART_DISC && !(dst->has_disc && src->has_disc)) continue;
        int j = i; /* same config and disc built last: same indices for shared parts */
        if (p->kind == RE_P_COUNTER) dst->counters[p->offset] = src->counters[src->params[j].offset];
        else memcpy(dst->data + p->offset, src->data + src->params[j].offset, p->count * sizeof(float));
    }
    dst->version++; /* runners' cached (folded, reordered) weights are stale now, whatever the fingerprint says */
    return RE_OK;
}

size_t re_model_param_count(const re_model *m, re_part part) {
    size_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].part == part && m->params[i].kind == RE_P_WEIGHT) n += m->params[i].count;
    return n;
}

static double layer_flops(const re_layer *l) {
    switch (l->kind) {
    case RE_L_CONV: return 2.0 * l->oc * l->oh * l->ow * l->c * l->k * l->k;
    case RE_L_DECONV: return 2.0 * l->c * l->h * l->w * l->oc * l->k * l->k;
    case RE_L_LINEAR: return 2.0 * l->c * l->oc;
    default: return 0;
    }
}

static double net_flops(const re_net *n) {
    double f = 0;
    for (int i = 0; i < n->n_layers; i++) f += layer_flops(&n->layers[i]);
    return f;
}

double re_model_flops(const re_model *m, re_part part) {
    switch (part) {
    case RE_PART_ENCODER: return net_flops(&m->enc) + net_flops(&m->heads);
    case RE_PART_DECODER: return net_flops(&m->dec);
    case RE_PART_DISC: return m->has_disc ? net_flops(&m->disc) : 0;
    }
    return 0;
}

static const char *kind_name(re_layer_kind k) {
    switch (k) {
    case RE_L_CONV: return "conv";
    case RE_L_DECONV: return "convT";
    case RE_L_LINEAR: return "linear";
    case RE_L_BN: return "batchnorm";
    case RE_L_LRELU: return "leakyrelu";
    case RE_L_SIGMOID: return "sigmoid";
    case RE_L_RESHAPE: return "view";
    }
    return "?";
}

char *re_model_summary(const re_model *m) {
    size_t cap = 16384, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    const re_net *nets[4] = {&m->enc, &m->heads, &m->dec, &m->disc};
    const char *names[4] = {"encoder", "encoder", "decoder", "disc"};
    for (int k = 0; k < 4; k++) {
        if (k == 3 && !m->has_disc) break;
        for (int i = 0; i < nets[k]->n_layers; i++) {
            const re_layer *l = &nets[k]->layers[i];
            if (l->kind == RE_L_LRELU || l->kind == RE_L_SIGMOID || l->kind == RE_L_RESHAPE) continue;
            size_t np = 0;
            if (l->p_w >= 0) np += m->params[l->p_w].count;
            if (l->p_b >= 0) np += m->params[l->p_b].count;
            char line[256];
            int n = snprintf(line, sizeof line, "  %-8s %-10s %-10s -> %4d x %3d x %3d  %9zu params  %8.2f MFLOP\n",
                             names[k], l->name, kind_name(l->kind), l->oc, l->oh, l->ow, np, layer_flops(l) / 1e6);
            if (len + (size_t)n + 1 > cap) {
                char *t = realloc(s, cap *= 2);
                if (!t) { free(s); return NULL; }
                s = t;
            }
            memcpy(s + len, line, (size_t)n + 1);
            len += (size_t)n;
        }
    }
    return s;
}

const char *re_model_meta(const re_model *m, const char *key) {
    for (int i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta_keys[i], key) == 0) return m->meta_vals[i];
    return NULL;
}

int re_model_meta_count(const re_model *m) { return m->n_meta; }

void re_model_meta_at(const re_model *m, int i, const char **key, const char **value) {
    *key = i >= 0 && i < m->n_meta ? m->meta_keys[i] : NULL;
    *value = i >= 0 && i < m->n_meta ? m->meta_vals[i] : NULL;
}

/* ---- save / load ----------------------------------------------------------------------------------------- */

re_status re_model_save(const re_model *m, const char *path, int include_disc, re_storage storage,
                        const char *const *extra_meta) {
    re_status s = RE_ERR_NOMEM;
    re_st_entry *e = calloc((size_t)m->n_params, sizeof *e);
    const char **meta = NULL;
    char *cfg = re_config_to_json(&m->cfg), *dir_json = NULL, weights_sha[65] = "";
    size_t n_extra = 0;
    while (extra_meta && extra_meta[2 * n_extra]) n_extra++;
    meta = calloc(2 * (n_extra + 5), sizeof *meta);
    if (m->dirs) e = realloc(e, ((size_t)m->n_params + RE_DIR_N_TENSORS) * sizeof *e);
    if (!e || !cfg || !meta) { re_fail(s, "save %s: out of memory", path); goto done; }
    size_t n = 0;
    re_dtype fdt = storage == RE_STORE_BF16 ? RE_DT_BF16 : storage == RE_STORE_F16 ? RE_DT_F16 : RE_DT_F32;
    for (int i = 0; i < m->n_params; i++) {
        const re_param *p = &m->params[i];
        if (p->part == RE_PART_DISC && !include_disc) continue;
        e[n].name = p->name;
        e[n].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) e[n].shape[d] = p->shape[d];
        if (p->kind == RE_P_COUNTER) {
            e[n].dtype = RE_DT_I64;
            e[n].raw = &m->counters[p->offset];
        } else {
            /* Running statistics stay F32 even in half storage: they are few and sensitive. */
            e[n].dtype = p->kind == RE_P_BUFFER ? RE_DT_F32 : fdt;
            e[n].src_f32 = m->data + p->offset;
        }
        n++;
    }
    size_t k = 0;
    meta[k++] = "format"; meta[k++] = RE_FORMAT_NAME;
    meta[k++] = "format_version"; meta[k++] = RE_FORMAT_VERSION;
    meta[k++] = "config"; meta[k++] = cfg;
    if (m->dirs) {
        /* weights_sha256: the data_sha256 the same file would have without the directions, so motion files made
         * with the model before it got directions still match it */
        uint8_t *buf = NULL;
        size_t len = 0;
        re_st_file *wf = NULL;
        if ((s = re_st_write_mem(&buf, &len, e, n, meta, k / 2)) != RE_OK) goto done;
        s = re_st_load_mem(&wf, buf, len, path);
        free(buf);
        if (s != RE_OK) goto done;
        const char *h = re_st_meta(wf, "data_sha256");
        snprintf(weights_sha, sizeof weights_sha, "%s", h ? h : "");
        re_st_free(wf);
        if (re_dir_entries(m->dirs, e + n, &dir_json) < 0) { s = re_fail(RE_ERR_NOMEM, "save %s: out of memory", path); goto done; }
        n += RE_DIR_N_TENSORS;
        meta[k++] = "directions"; meta[k++] = dir_json;
        meta[k++] = "weights_sha256"; meta[k++] = weights_sha;
    }
    for (size_t i = 0; i < 2 * n_extra; i++) {
        if (i % 2 == 0 && m->dirs && (!strcmp(extra_meta[i], "directions") || !strcmp(extra_meta[i], "weights_sha256"))) {
            i++;   /* written above */
            continue;
        }
        meta[k++] = extra_meta[i];
    }
    s = re_st_write(path, e, n, meta, k / 2);
done:
    free(e);
    free(meta);
    free(cfg);
    free(dir_json);
    return s;
}

/* Loaded values: finite everywhere (a NaN weight would make every output NaN), BatchNorm running variances >= 0. */
static re_status check_values(const char *path, const re_param *p, const float *v) {
    const int is_var = p->kind == RE_P_BUFFER && strstr(p->name, ".running_var") != NULL;
    for (size_t j = 0; j < p->count; j++) {
        if (!isfinite(v[j]))
            return re_fail(RE_ERR_NONFINITE, "%s: tensor '%s' element %zu is not finite (%g)", path, p->name, j,
                           (double)v[j]);
        if (is_var && v[j] < 0)
            return re_fail(RE_ERR_BAD_HEADER, "%s: tensor '%s' element %zu is %g, a BatchNorm running variance must "
                           "be >= 0", path, p->name, j, (double)v[j]);
    }
    return RE_OK;
}

re_status re_model_load(re_model **out, const char *path) {
    *out = NULL;
    re_st_file *f = NULL;
    re_model *m = NULL;
    re_status s = re_st_load(&f, path);
    if (s) return s;
    const char *fmt = re_st_meta(f, "format"), *ver = re_st_meta(f, "format_version"), *cj = re_st_meta(f, "config");
    if (!fmt || strcmp(fmt, RE_FORMAT_NAME) != 0) {
        s = re_fail(RE_ERR_VERSION, "%s: not a reenact model (metadata format = '%s', expected '%s')", path,
                    fmt ? fmt : "(none)", RE_FORMAT_NAME);
        goto fail;
    }
    if (!ver || strcmp(ver, RE_FORMAT_VERSION) != 0) {
        s = re_fail(RE_ERR_VERSION, "%s: format_version '%s' not supported (this build reads version %s)", path,
                    ver ? ver : "(none)", RE_FORMAT_VERSION);
        goto fail;
    }
    if (!f->checksum_verified) {
        s = re_fail(RE_ERR_CHECKSUM, "%s: no data_sha256 in the metadata; refusing an unverifiable model", path);
        goto fail;
    }
    if (!cj) { s = re_fail(RE_ERR_CONFIG, "%s: no model config in the metadata", path); goto fail; }
    re_config cfg;
    if ((s = re_config_from_json(&cfg, cj, strlen(cj))) != RE_OK) { re_fail_ctx(s, "%s", path); goto fail; }
    int with_disc = 0;
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strncmp(f->tensors[i].name, "disc.", 5) == 0) with_disc = 1;
    m = model_new(&cfg);
    if (!m) { s = RE_ERR_NOMEM; goto fail; }
    if ((s = build(m, with_disc)) != RE_OK) goto fail;
    for (int i = 0; i < m->n_params; i++) {
        const re_param *p = &m->params[i];
        const re_st_tensor *t = re_st_find(f, p->name);
        if (!t) { s = re_fail(RE_ERR_MISSING, "%s: tensor '%s' is missing", path, p->name); goto fail; }
        int same = t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
        if (!same) {
            char got[128] = "", want[128] = "";
            for (int d = 0; d < t->ndim; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "", (long long)t->shape[d]);
            for (int d = 0; d < p->ndim; d++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "",
                         (long long)p->shape[d]);
            s = re_fail(RE_ERR_SHAPE, "%s: tensor '%s' has shape [%s], the model needs [%s]", path, p->name, got, want);
            goto fail;
        }
        if (p->kind == RE_P_COUNTER) {
            if (t->dtype != RE_DT_I64) {
                s = re_fail(RE_ERR_DTYPE, "%s: tensor '%s' must be I64, got %s", path, p->name, re_dtype_name(t->dtype));
                goto fail;
            }
            memcpy(&m->counters[p->offset], re_st_data(f, t), sizeof(int64_t));
        } else if ((s = re_st_to_f32(f, t, m->data + p->offset, p->count)) != RE_OK) {
            re_fail_ctx(s, "%s: tensor '%s'", path, p->name);
            goto fail;
        } else if ((s = check_values(path, p, m->data + p->offset)) != RE_OK) {
            goto fail;
        }
    }
    if ((s = re_dir_load(f, path, cfg.latent, &m->dirs)) != RE_OK) goto fail;
    for (size_t i = 0; i < f->n_tensors; i++) {
        int known = re_dir_is_tensor(f->tensors[i].name);
        for (int j = 0; j < m->n_params && !known; j++) known = strcmp(m->params[j].name, f->tensors[i].name) == 0;
        if (!known) {
            s = re_fail(RE_ERR_UNKNOWN, "%s: unknown tensor '%s' (not part of this model)", path, f->tensors[i].name);
            goto fail;
        }
    }
    m->meta_keys = calloc(f->n_meta + 1, sizeof(char *));
    m->meta_vals = calloc(f->n_meta + 1, sizeof(char *));
    if (!m->meta_keys || !m->meta_vals) { s = re_fail(RE_ERR_NOMEM, "out of memory"); goto fail; }
    for (size_t i = 0; i < f->n_meta; i++) {
        m->meta_keys[i] = strdup(f->meta_keys[i]);
        m->meta_vals[i] = strdup(f->meta_vals[i]);
        m->n_meta++;
        if (!m->meta_keys[i] || !m->meta_vals[i]) { s = re_fail(RE_ERR_NOMEM, "out of memory"); goto fail; }
    }
    re_st_free(f);
    *out = m;
    return RE_OK;
fail:
    re_st_free(f);
    re_model_free(m);
    return s;
}

const re_directions *re_model_directions(const re_model *m) { return m ? m->dirs : NULL; }

re_status re_model_set_directions(re_model *m, re_directions *d) {
    if (!m) {
        re_directions_free(d);
        return re_fail(RE_ERR_ARG, "re_model_set_directions: NULL model");
    }
    if (d && d->latent != m->cfg.latent) {
        const int l = d->latent;
        re_directions_free(d);
        return re_fail(RE_ERR_ARG, "re_model_set_directions: directions for latent %d, the model's is %d", l,
                       m->cfg.latent);
    }
    re_directions_free(m->dirs);
    m->dirs = d;
    return RE_OK;
}

const char *re_model_weights_sha256(const re_model *m) {
    const char *w = re_model_meta(m, "weights_sha256");
    return w ? w : re_model_meta(m, "data_sha256");
}
