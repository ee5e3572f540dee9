/*
 * ops.h - the operators of the engine: each op is a pair of plain functions on raw pointers, forward and
 * backward, with a plain-C reference implementation (*_ref, always built) beside the fast one (src/backend).
 *
 * Dims legend: N batch, C/IC channels in, OC channels out, H,W input height/width, OH,OW output, KH,KW kernel.
 * Layout: NCHW row-major float32. Weights as PyTorch: conv OIHW [OC,IC,KH,KW], transposed conv IOHW
 * [IC,OC,KH,KW], linear [OUT,IN].
 *
 * Gradient convention: backward functions and loss gradients OVERWRITE din/dw/db/grad (they do not accumulate);
 * oneDNN writes diffs the same way, so no extra zeroing pass is needed. A tensor that receives gradient from two
 * paths is summed explicitly by the caller. The only exceptions carry the suffix _acc and ADD into their outputs
 * (re_loss_gdl_acc, re_reparam_backward_acc): the caller zeroes or pre-fills them. din == NULL skips the input
 * gradient (first layer); dw == NULL (and db == NULL) skips parameter gradients (frozen layer, e.g. the
 * discriminator during the generator update).
 */
#ifndef RE_OPS_H
#define RE_OPS_H

#include <stddef.h>
#include <stdint.h>

/* Convolution geometry. For conv2d: h,w are input dims, oh = (h + 2*pad - kh)/stride + 1.
 * For transposed conv (deconv2d): h,w are input dims, oh = (h - 1)*stride - 2*pad + kh. */
typedef struct re_conv_params {
    int n, ic, h, w;     /* input  [N,IC,H,W] */
    int oc, oh, ow;      /* output [N,OC,OH,OW] */
    int kh, kw, stride, pad;
} re_conv_params;

/* Fill oh/ow from the other fields. Returns 0 if the geometry is invalid (non-positive output). */
int re_conv_params_finish(re_conv_params *p, int transposed);

/* conv2d: out[N,OC,OH,OW] = in[N,IC,H,W] (*) w[OC,IC,KH,KW] + b[OC]; b may be NULL. */
void re_conv2d_forward_ref(float *out, const float *in, const float *w, const float *b, const re_conv_params *p);
/* din[N,IC,H,W], dw[OC,IC,KH,KW], db[OC] from dout[N,OC,OH,OW]; any of din/dw/db may be NULL. */
void re_conv2d_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                            const re_conv_params *p);

/* Transposed conv: out[N,OC,OH,OW] from in[N,IC,H,W], w[IC,OC,KH,KW] (IOHW), b[OC]. */
void re_deconv2d_forward_ref(float *out, const float *in, const float *w, const float *b, const re_conv_params *p);
void re_deconv2d_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                              const re_conv_params *p);

/* Linear: out[N,O] = in[N,I] * w[O,I]^T + b[O]. */
void re_linear_forward_ref(float *out, const float *in, const float *w, const float *b, int n, int in_f, int out_f);
void re_linear_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                            int n, int in_f, int out_f);

/* Synchronized BatchNorm (data-parallel training): sum(ctx, buf, n) replaces buf[0..n) by its sum over all ranks
 * (an allreduce); world is the number of ranks, each holding an equal share of the global batch. The statistics
 * (forward) and the sums of the input gradient (backward) are then those of the global batch; dgamma/dbeta stay
 * this rank's share, so that the gradient allreduce sums them once. NULL: one process (the code path of old). */
typedef struct re_bn_sync {
    void (*sum)(void *ctx, double *buf, int n);
    void *ctx;
    int world;
} re_bn_sync;

/* BatchNorm2d over [N,C,HW]. Training: batch statistics; writes mean[C], rstd[C] (saved for backward) and updates
 * running_mean/var with momentum (PyTorch: running = (1-m)*running + m*stat, var unbiased). running_* may be NULL. */
void re_bn_forward_train(float *out, float *mean, float *rstd, const float *in, const float *gamma, const float *beta,
                         float *running_mean, float *running_var, float momentum, float eps, int n, int c, int hw);
void re_bn_forward_train_sync(float *out, float *mean, float *rstd, const float *in, const float *gamma,
                              const float *beta, float *running_mean, float *running_var, float momentum, float eps,
                              int n, int c, int hw, const re_bn_sync *sync);
/* The training statistics of channel ch from its mean mu and summed squared deviations ssum over cnt values (the
 * training forwards here and in the oneDNN backend): writes mean[ch] and rstd[ch], updates running_mean/var[ch] as
 * above (each may be NULL) and returns the rstd in double. */
double re_bn_channel_stats(int ch, double mu, double ssum, double cnt, float eps, float momentum, float *mean,
                           float *rstd, float *running_mean, float *running_var);
/* Eval: uses running statistics. */
void re_bn_forward_eval(float *out, const float *in, const float *gamma, const float *beta, const float *running_mean,
                        const float *running_var, float eps, int n, int c, int hw);
/* Backward of training-mode BN. din may be NULL; dgamma/dbeta may be NULL. */
void re_bn_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in, const float *mean,
                    const float *rstd, const float *gamma, int n, int c, int hw);
void re_bn_backward_sync(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                         const float *mean, const float *rstd, const float *gamma, int n, int c, int hw,
                         const re_bn_sync *sync);

/* Elementwise activations over count elements. Backward uses the forward OUTPUT y (valid for all four), so the
 * forward may run in place (out == in). */
void re_lrelu_forward(float *out, const float *in, size_t count, float slope);
void re_lrelu_backward(float *din, const float *dout, const float *y, size_t count, float slope);
void re_relu_forward(float *out, const float *in, size_t count);
void re_relu_backward(float *din, const float *dout, const float *y, size_t count);
void re_sigmoid_forward(float *out, const float *in, size_t count);
void re_sigmoid_backward(float *din, const float *dout, const float *y, size_t count);
void re_tanh_forward(float *out, const float *in, size_t count);
void re_tanh_backward(float *din, const float *dout, const float *y, size_t count);

/* Losses. Each returns the loss value (double accumulation) and, if grad != NULL, writes scale * dLoss/dinput
 * into grad (overwrite). n is the batch size, d the per-sample element count. */
/* BCE on probabilities p in (0,1) against target t in [0,1]: sum over d, mean over n. p is clamped like PyTorch
 * (log clamped at -100). */
double re_loss_bce(float *grad, const float *p, const float *t, int n, size_t d, float scale);
/* BCE with logits x against a constant target (0 or 1), mean over n*d (PyTorch default 'mean'). */
double re_loss_bce_logits_const(float *grad, const float *x, float target, int n, size_t d, float scale);
/* Mean squared error / mean absolute error over n*d elements (PyTorch 'mean'). */
double re_loss_mse(float *grad, const float *x, const float *t, int n, size_t d, float scale);
double re_loss_l1(float *grad, const float *x, const float *t, int n, size_t d, float scale);
/* Gradient difference loss (Mathieu, Couprie & LeCun 2016, alpha = 1) between images x and targets t, [n,c,h,w]:
 *   sum over planes and neighbour pairs of | |x[i,j+1]-x[i,j]| - |t[i,j+1]-t[i,j]| | (and the same vertically),
 * summed per image, mean over n. Penalizes edges that are weaker (blur) or stronger than the target's.
 * Unlike the losses above, ADDS scale * dLoss/dx to grad (_acc: each pixel collects from its neighbour pairs, and
 * the caller adds it to the reconstruction gradient already there). */
double re_loss_gdl_acc(float *grad, const float *x, const float *t, int n, int c, int h, int w, float scale);
/* KL(N(mu, exp(logvar)) || N(0,1)) = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)), sum over d, mean over n.
 * Writes dmu, dlogvar (overwrite, scaled). */
double re_loss_kl(float *dmu, float *dlogvar, const float *mu, const float *logvar, int n, int d, float scale);

/* Reparameterization (reparam.c): z = mu + eps * exp(0.5*logvar), eps ~ N(0,1) written to eps[n*d] (saved for
 * backward). With rng == NULL the caller has filled eps and no sampling happens. */
struct re_rng;
void re_reparam_forward(float *z, float *eps, const float *mu, const float *logvar, int n, int d, struct re_rng *rng);
/* (rng == NULL: eps is an input, already filled by the caller.) */
/* Given dz: dmu += dz, dlogvar += dz * eps * 0.5 * exp(0.5*logvar)  (ACCUMULATES: mu/logvar also get KL grads). */
void re_reparam_backward_acc(float *dmu, float *dlogvar, const float *dz, const float *eps, const float *logvar,
                             int n, int d);

#endif
