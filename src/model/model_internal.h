/*
 * model_internal.h - the layer graph behind re_model: a model is three sequential nets (encoder trunk + two heads,
 * decoder, discriminator) over one parameter table. Layers are small structs with views (indices) into the model's
 * parameter arena; per-batch state (activations, BN statistics, backend primitives) lives in re_net_state, owned by
 * a runner or trainer, so the weights stay immutable during inference.
 */
#ifndef RE_MODEL_INTERNAL_H
#define RE_MODEL_INTERNAL_H

#include "core/core.h"
#include "ops/ops.h"
#include "reenact/reenact.h"

typedef enum re_layer_kind { RE_L_CONV, RE_L_DECONV, RE_L_LINEAR, RE_L_BN, RE_L_LRELU, RE_L_SIGMOID,
                             RE_L_RESHAPE } re_layer_kind;

typedef enum re_param_kind { RE_P_WEIGHT = 0, RE_P_BUFFER = 1, RE_P_COUNTER = 2 } re_param_kind;

/* One named tensor of the state_dict. Trainable weights and float buffers live in model->data at `offset`;
 * counters (BatchNorm num_batches_tracked, int64 scalars) live in model->counters[offset]. */
typedef struct re_param {
    char name[64];
    re_param_kind kind;
    re_part part;
    int ndim;
    int64_t shape[4];
    size_t count;
    size_t offset;
} re_param;

typedef struct re_layer {
    re_layer_kind kind;
    char name[32];                 /* module name inside its net, e.g. "conv2", "bn_up1" */
    int c, h, w;                   /* input per sample (linear: c = in features, h = w = 1) */
    int oc, oh, ow;                /* output per sample */
    int k, stride, pad;
    float slope;                   /* LeakyReLU */
    int p_w, p_b;                  /* param indices: weight/bias or gamma/beta; -1 if none */
    int p_rm, p_rv, p_nbt;         /* BN running mean/var and counter */
    int in_place;                  /* output aliases input (activations, reshape) */
} re_layer;

typedef struct re_net {
    re_part part;
    re_layer *layers;
    int n_layers;
    int in_c, in_h, in_w;
    int feat_layers[RE_MAX_STAGES]; /* disc: layers whose outputs are the feature-matching features */
    int n_feat;
} re_net;

/* Per-batch state of one net. */
/* re_net_state_init_ex flags (backends with a plan only); RE_NS_FCW16 (with RE_NS_INFER, runners of RE_PREC_MIXED):
 * the large linear layers' weights are rounded to bf16 and read as bf16 (src/backend/backend_dnnl.c) */
enum { RE_NS_INFER = 1, RE_NS_BF16 = 2, RE_NS_FCW16 = 4 };
enum { RE_SKIP_FWD = 1, RE_SKIP_BWD = 2 };     /* re_net_state.skip bits: the work is done by a neighbour layer */
typedef struct re_net_state {
    int n;                         /* batch size this state was built for */
    const float *input;            /* input of the last forward */
    float **out;                   /* out[i]: output of layer i (aliases for in-place layers) */
    float **bn_mean, **bn_rstd;    /* per layer (NULL for non-BN) */
    const struct re_compute_backend *backend;  /* the model's backend table (src/backend/backend.h) */
    const struct re_compute_backend **be;      /* per layer: the table that runs it (backend, or the reference
                                                  table for a layer backend does not support) */
    void **fast;                   /* per layer backend object (layer_create; NULL when the backend needs none) */
    float *act_arena;              /* one allocation: all outputs + BN stats (+ folded weights) */
    float *grad_a, *grad_b;        /* ping-pong activation-gradient buffers */
    size_t grad_cap;               /* floats in each */
    /* The backend's plan (its plan hook, e.g. backend_dnnl.c); plan == 0 for a backend without one (the reference
     * ops), whose states keep the fields below at zero: NCHW f32, nothing fused, any batch up to n. */
    int plan, flags;               /* flags: RE_NS_* */
    unsigned char *layout;         /* per layer: re_layout of its output */
    unsigned char *skip;           /* per layer: RE_SKIP_* */
    unsigned char *fold;           /* per conv layer: the next layer's BN is folded into it (inference) */
    unsigned char *conv_bf16;      /* per conv layer: runs in bf16 */
    unsigned char *bf16_only;      /* per BN / LeakyReLU layer: writes its forward output (BN) and its input
                                      gradient only in bf16, for the bf16 conv that reads them */
    float *post;                   /* per layer: fused LeakyReLU slope (conv/linear post-op, BN+act), else 0 */
    uint16_t **in16;               /* per bf16 conv: bf16 copy of its input (kept for the backward) */
    int *in16_for;                 /* per BN layer: the bf16 conv whose in16 it writes, else -1 */
    float **fold_w, **fold_b;      /* per folded conv: weights/bias with BN folded in */
    uint64_t fold_key;             /* weights key the folded weights were made from ... */
    int fold_valid;                /* ... once they have been made */
    uint64_t *wkey;                /* per layer: weights key of its last forward (inference: reorder caching) */
    unsigned char *wkey_valid;
    uint16_t *arena16, *grad16;    /* bf16 inputs of bf16 convs; bf16 output gradient of the current bf16 conv */
    /* Data-parallel training (set by the trainer; NULL/0 otherwise): BatchNorm statistics over all ranks, and a
     * call after each layer's backward that has written parameter gradients (layer l of this net), so that their
     * allreduce can start while the backward goes on. */
    const re_bn_sync *sync;
    void (*grads_ready)(void *ctx, const re_layer *l);
    void *grads_ctx;
} re_net_state;

struct re_model {
    re_config cfg;
    re_backend backend;
    re_param *params;
    int n_params, cap_params;
    float *data;                   /* all float parameters and buffers */
    size_t data_count;
    int64_t *counters;
    int n_counters;
    re_net enc, heads, dec, disc;  /* heads: [fc_mu, fc_logvar] as a 2-layer list run side by side */
    int has_disc;
    char **meta_keys, **meta_vals; /* metadata of the loaded file */
    uint64_t version;              /* bumped whenever the trainer changes weights; code that writes data[]
                                      directly while a runner exists must bump it too (runners cache folded
                                      weights; net.c also checks a sampled fingerprint of data[]) */
    int n_meta;
    struct re_directions *dirs;    /* motion directions (directions.h), or NULL */
};

/* net.c */
re_status re_net_state_init(re_net_state *st, const re_model *m, const re_net *net, int n);
/* flags: RE_NS_INFER (forward only, eval BN folded into convs, cached weights), RE_NS_BF16 (bf16 convolutions);
 * options of the backend's plan, ignored by a backend without one (the reference backend). */
re_status re_net_state_init_ex(re_net_state *st, const re_model *m, const re_net *net, int n, int flags);
/* As re_net_state_init_ex on the backend table be instead of the model's (tests: a table that supports only some
 * layers). */
re_status re_net_state_init_on(re_net_state *st, const re_model *m, const re_net *net, int n, int flags,
                               const struct re_compute_backend *be);
void re_net_state_free(re_net_state *st, const re_net *net);
/* Forward n samples (n <= st->n; a planned state, e.g. oneDNN's, needs n == st->n); returns the output buffer
 * (plain NCHW / NC). training selects BN batch statistics (and updates the running stats). */
re_status re_net_forward(const re_net *net, re_net_state *st, re_model *m, const float *in, int n, int training,
                         const float **out);
/* As re_net_forward through layers 0..last only (*out = the output of layer last); a later backward needs a full
 * forward. E.g. the discriminator features of real images, whose logits are not needed. */
re_status re_net_forward_upto(const re_net *net, re_net_state *st, re_model *m, const float *in, int n, int training,
                              int last, const float **out);
/* Backward from dout (not modified) through the whole net; grads: the model-layout gradient arena (NULL: frozen,
 * no parameter grads); din: where to write the input gradient (NULL: skip). Overwrites parameter grads.
 * Must follow a training-mode forward of the same state with unchanged weights and input. */
re_status re_net_backward(const re_net *net, re_net_state *st, re_model *m, float *grads, const float *dout, int n,
                          float *din);
/* As re_net_backward; extra (may be NULL): per layer NULL or a gradient added to that layer's output gradient
 * (same layout as st->out[i]), e.g. the feature-matching terms at discriminator taps. */
re_status re_net_backward_ex(const re_net *net, re_net_state *st, re_model *m, float *grads, const float *dout,
                             int n, float *din, float *const *extra);
/* One layer of a net alone (the encoder heads, which both read the trunk output): forward into st->out[i], and
 * backward (plain NCHW/NC buffers; linear and elementwise layers). */
re_status re_net_layer_forward(const re_net *net, re_net_state *st, int i, re_model *m, const float *in,
                               int training);
re_status re_net_layer_backward(const re_net *net, re_net_state *st, int i, re_model *m, float *grads, float *din,
                                const float *dout, const float *in);
size_t re_net_out_count(const re_net *net);   /* per sample */
size_t re_net_in_count(const re_net *net);

size_t re_layer_out_count(const re_layer *l);
size_t re_layer_in_count(const re_layer *l);

/* runner.c: encoder trunk + heads + decoder state for one batch size (runners and trainers). */
typedef struct vae_state {
    int n;
    re_net_state enc, heads, dec;
    float *mu, *logvar;  /* views of heads.out[0], heads.out[1] */
} vae_state;
/* flags: RE_NS_* (RE_NS_INFER for runners, RE_NS_BF16 for bf16 training). On failure the caller still frees. */
re_status re_vae_state_init(vae_state *v, re_model *m, int n, int flags);
void re_vae_state_free(vae_state *v, re_model *m);   /* parts never initialized are skipped */
/* Encoder forward of v->n samples x [n,C,res,res] -> v->mu, v->logvar; *h = the trunk output. */
re_status re_vae_encode_fwd(vae_state *v, re_model *m, const float *x, int training, const float **h);

/* train.c: one step; apply = 0 computes losses and all gradients (the discriminator is NOT updated before the
 * generator pass then) without changing any weight or the step count. For gradient checks. */
re_status re_trainer_step_ex(re_trainer *t, const float *x, const float *eps_override, re_step_stats *st, int apply);
float *re_trainer_grads(re_trainer *t);   /* model-layout gradient arena */

/* adam.c: Adam with PyTorch semantics (torch.optim.Adam, amsgrad=False):
 *   g = grad + wd*param; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 *   param -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps),  t = step (1-based). */
/* Hyperparameters are double like PyTorch's Python floats: (float)(1.0 - 0.999) is 0.001 exactly rounded, whereas
 * 1.f - 0.999f is 1.3e-5 off in relative terms, which showed in the second moments against PyTorch. */
typedef struct re_adam_params { double lr, beta1, beta2, eps, weight_decay; } re_adam_params;
void re_adam_update(float *param, const float *grad, float *m, float *v, size_t count, const re_adam_params *p,
                    int64_t step);

static inline float *re_param_ptr(re_model *m, int idx) { return m->data + m->params[idx].offset; }
static inline const float *re_param_cptr(const re_model *m, int idx) { return m->data + m->params[idx].offset; }

#endif
