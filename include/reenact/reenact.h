/*
 * reenact.h - public C API of libreenact.
 *
 * reenact makes a video of the person in ONE photo performing the head motion and facial expressions of the
 * person in a driving video, with a VAE (64x64 RGB, 200-d latent) made sharp by a GAN discriminator:
 *     z_t = z_photo + s * (z_drive(t) - z_drive(ref)),  frame_t = decode(z_t).
 *
 * Usage (error handling elided):
 *     re_model *m = NULL;
 *     re_model_load(&m, "models/reenact-seed64.safetensors");   // or re_model_create(&m, &cfg, seed, 0)
 *     re_runner *r = NULL;
 *     re_runner_create(&r, m, 1);                    // per-run state: activations, scratch
 *     float z[200];
 *     re_encode(r, img_chw, 1, z, NULL);             // img: [N,3,64,64] floats in [0,1]
 *     re_decode(r, z, 1, out_chw);
 *     re_runner_free(r); re_model_free(m);
 *
 * Conventions (see docs/ARCH.md): tensors are NCHW row-major float32; weight layouts match PyTorch
 * (conv OIHW, transposed conv IOHW, linear [out,in]); gradients are +dL/dx.
 * Ownership: every create or load function returns an object the caller frees with the matching free function; free(NULL)
 * is a no-op. Strings and buffers passed in are borrowed, never kept.
 * Failure: every function that can fail returns re_status (RE_OK == 0, errors < 0) and records a thread-local
 * message readable with re_last_error(). The library never prints, never exits and never aborts on bad input.
 */
#ifndef REENACT_H
#define REENACT_H

#include <stddef.h>
#include <stdint.h>

/* RE_API marks a function of the public API, in every public header (they all include this one). The library is
 * compiled with hidden symbol visibility, so these functions are all that libreenact.so exports; everything else
 * in it stays internal (tests/abi/test_exports.sh checks both ways). Harmless when the headers are used by an
 * application or with the static archive. */
#ifndef RE_API
#if defined(__GNUC__) || defined(__clang__)
#define RE_API __attribute__((visibility("default")))
#else
#define RE_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define RE_VERSION_MAJOR 0
#define RE_VERSION_MINOR 1
#define RE_VERSION_PATCH 0
#define RE_VERSION_STRING "0.1.0"

/* Status codes. Append-only: never renumber. Errors are negative; RE_VIDEO_EOF is the only positive value. */
typedef enum re_status {
    RE_OK = 0,
    RE_ERR_NOMEM = -1,        /* allocation failed or size overflow */
    RE_ERR_IO = -2,           /* open/read/write/fsync/rename failed */
    RE_ERR_ARG = -3,          /* invalid argument (programmer or user input) */
    RE_ERR_TRUNCATED = -4,    /* file shorter than its header says */
    RE_ERR_BAD_HEADER = -5,   /* header malformed (length, JSON, fields) */
    RE_ERR_OFFSETS = -6,      /* tensor offsets overlap, leave gaps or miss EOF */
    RE_ERR_DTYPE = -7,        /* unknown or unsupported dtype */
    RE_ERR_SHAPE = -8,        /* tensor shape differs from the model's */
    RE_ERR_MISSING = -9,      /* a tensor the model needs is absent */
    RE_ERR_UNKNOWN = -10,     /* a tensor the model does not know is present */
    RE_ERR_CHECKSUM = -11,    /* data SHA-256 mismatch */
    RE_ERR_VERSION = -12,     /* format name or version not supported */
    RE_ERR_NONFINITE = -13,   /* NaN/Inf in a loss or gradient */
    RE_ERR_UNSUPPORTED = -14, /* valid input this build cannot handle */
    RE_ERR_FORMAT = -15,      /* not a file of the expected kind (image, video, dataset) */
    RE_ERR_TOO_LARGE = -16,   /* exceeds a safety limit (image pixels, header size) */
    RE_ERR_NO_FACE = -17,     /* no face found */
    RE_ERR_BACKEND = -18,     /* accelerator library failed */
    RE_ERR_CONFIG = -19,      /* bad model/training configuration */
    RE_ERR_INTERRUPTED = -20, /* stopped on request (signal) */
    RE_VIDEO_EOF = 1          /* not an error: re_video_reader_next (media.h) has no more frames */
} re_status;

/* Message for the last failure on this thread ("" if none). Valid until the next failing call on this thread. */
RE_API const char *re_last_error(void);
/* Short constant name of a status, e.g. "checksum mismatch". */
RE_API const char *re_status_str(re_status s);
RE_API const char *re_version(void);
/* Record a failure message (printf-style, at most 1023 bytes kept) for re_last_error() on this thread and return s,
 * so an application that reports its own failures through the same channel writes `return re_fail(...)`.
 * re_fail_ctx prefixes the current message with "context: " (the status name when there is none) and returns s. */
#if defined(__GNUC__)
RE_API re_status re_fail(re_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
RE_API re_status re_fail_ctx(re_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#else
RE_API re_status re_fail(re_status s, const char *fmt, ...);
RE_API re_status re_fail_ctx(re_status s, const char *fmt, ...);
#endif

/* Compute backend. REF is the plain-C reference path; DNNL uses oneDNN where it supports the op. */
typedef enum re_backend { RE_BACKEND_AUTO = 0, RE_BACKEND_REF = 1, RE_BACKEND_DNNL = 2 } re_backend;
/* Arithmetic precision of training steps (re_train_opts.precision) and runners (re_runner_create_ex).
 * F32: everything in f32 (the default). BF16 (oneDNN backend only): convolutions (and, in runners, linear layers)
 * take bf16 activations, weights and gradients and accumulate in f32; everything else stays f32. Training: the
 * stride-2 and transposed convolutions run in bf16, master weights, Adam, BatchNorm, 3x3 convolutions, linear
 * layers and losses stay f32, and loss curves track f32 (tests/unit/test_bf16.c). Inference: outputs differ from
 * f32 by about 1e-3. On a CPU with native bf16 (AVX512_BF16, 2-core Zen 4): training steps ~1.3x faster,
 * batch-1 inference ~2x faster than f32 (docs/PERF.md). */
typedef enum re_precision {
    RE_PREC_F32 = 0,
    RE_PREC_BF16 = 1,
    /* Resolve to what is fastest on this CPU by the documented rule of re_precision_resolve (re_cpu_info_get says
     * what it picks and why). re_runner_create_ex resolves it itself; re_trainer_create wants F32 or BF16, so an
     * application resolves it first: o.precision = re_precision_resolve(RE_PREC_AUTO, 1). */
    RE_PREC_AUTO = 2,
    /* Runners only (oneDNN backend): f32 activations and arithmetic everywhere, but the weights of the large linear
     * layers (>= 2^18 weights: seed64's 4096x512 encoder fc1 and decoder fc3 and its 512x512 fc2) are rounded to
     * bf16, and at batch <= 8 read as bf16 by a GEMV of ours: half the bytes of the layers that dominate batch-1
     * f32 inference. Outputs differ from f32 by the weights' rounding (bundled model, 300 UTKFace faces: mean
     * reconstruction PSNR within 0.001 dB of f32, images 77 dB PSNR from f32's; tests/unit/test_mixed.c). */
    RE_PREC_MIXED = 3
} re_precision;
/* "f32", "bf16", "auto", "mixed" (RE_PREC_*); "?" for another value. */
RE_API const char *re_precision_name(re_precision p);
/* Parse one of those names into *p: RE_OK, or RE_ERR_ARG naming the accepted values. */
RE_API re_status re_precision_parse(const char *s, re_precision *p);
/* RE_PREC_AUTO -> the precision this CPU runs fastest (other values are returned unchanged), for training steps
 * (training != 0: RE_PREC_F32 or RE_PREC_BF16) or runners (RE_PREC_MIXED or RE_PREC_BF16; RE_PREC_F32 without
 * oneDNN). The rule, decided once per process (the first call takes ~0.1-0.5 s; re_cpu_info_get says what it found):
 *   - oneDNN's ISA has native bf16 dot products (avx512_core_bf16: AVX512_BF16; avx512_core_amx: AMX): a one-time
 *     micro-benchmark times one seed64 layer in f32 and in bf16 (training: a k4 s2 conv's forward + backward at
 *     batch 16; inference: its forward at batch 1) and picks bf16 where it is at least 10% faster. An ISA rule
 *     alone cannot decide: on one 2-core AMD EPYC (Zen 4 by the project's earlier notes) bf16 training measured
 *     1.3x faster than f32, on the cpuid family-26 AMD EPYC of issue 17 3-5x SLOWER (oneDNN 2.6's jit_bf16
 *     backward-weights kernels), and on an AMX Xeon 0.8x (no AMX kernels for this model's layouts); bf16 batch-1
 *     inference measured faster on both AMD machines;
 *   - otherwise: RE_PREC_F32 training and RE_PREC_MIXED runners (their memory-bound batch-1 linear layers read
 *     half the bytes on every CPU).
 * bf16 runner images differ from f32's by ~63 dB PSNR (300 UTKFace faces, bundled model): below 8-bit quantization,
 * not visible. Without a working oneDNN both are RE_PREC_F32. */
RE_API re_precision re_precision_resolve(re_precision p, int training);

/* What this process sees of the CPU (re_cpu_info_get; `reenact info --cpu` prints it). */
typedef struct re_cpu_info {
    char model[128];          /* "model name" of /proc/cpuinfo, else the cpuid brand string, else "unknown" */
    char vendor[16];          /* cpuid vendor, e.g. "AuthenticAMD", "GenuineIntel" ("" off x86) */
    int family, model_id;     /* cpuid display family and model (0 off x86) */
    int avx512f, avx512_bf16; /* cpuid feature bits (0/1) */
    int amx_tile, amx_bf16;
    char dnnl_isa[48];        /* the ISA oneDNN dispatches to (dnnl_get_effective_cpu_isa), e.g. "avx512_core_bf16";
                                 "none" without oneDNN */
    char dnnl_version[24];    /* e.g. "2.6.0" ("" without oneDNN) */
    /* AMX state permission (Linux arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA, requested by this call):
     * 1 granted, 0 refused by the kernel, -1 not applicable (no AMX, not Linux x86-64, or a kernel without the
     * call); amx_note says which. */
    int amx_permission;
    char amx_note[96];
    re_precision train_auto, infer_auto;  /* re_precision_resolve(RE_PREC_AUTO, 1 / 0) */
    char rule[256];           /* why, in one line */
} re_cpu_info;
/* Fill *ci (never fails on a readable system; RE_ERR_ARG for NULL). */
RE_API re_status re_cpu_info_get(re_cpu_info *ci);
/* Number of OpenMP threads used by the library (<= 0: all cores). */
RE_API void re_set_threads(int n);
RE_API int re_get_threads(void);

/* ---------------------------------------------------------------------------------------------------------
 * Model configuration. "seed64" is the paper's model; "seed128" adds one down/up stage.
 * Encoder: conv1 (channels->enc_widths[0], k3 s1 p1); per stage s: conv(enc_widths[s]->same, k4 s2 p1) and, except
 *          after the last stage, conv(enc_widths[s]->enc_widths[s+1], k3 s1 p1); conv(last->top_ch, k4 s2 p1);
 *          flatten; fc(top_ch*b*b -> fc_hidden); fc_mu, fc_logvar. BN after every conv but conv1.
 *          (b = res / 2^(n_stages+1).)
 * Decoder: fc(latent->fc_hidden), fc(fc_hidden->fc_hidden), fc(fc_hidden->top_ch*b*b); per stage (reversed):
 *          convT(k4 s2 p1), conv(k3 p1); final convT(enc_widths[0] -> channels) + sigmoid.
 * Discriminator: conv(k4 s2 p1) over disc_widths; flatten; fc(->disc_fc[0]), fc(->disc_fc[1]), fc(->1).
 * ------------------------------------------------------------------------------------------------------- */
#define RE_MAX_STAGES 6
typedef struct re_config {
    int res;                          /* input side in pixels: 64 or 128 (any multiple of 2^(n_stages+1) works) */
    int channels;                     /* 3 */
    int latent;                       /* 200 */
    int n_stages;                     /* 3 for seed64 */
    int enc_widths[RE_MAX_STAGES];    /* {32,64,128} */
    int top_ch;                       /* 256 */
    int fc_hidden;                    /* 512 */
    int n_disc;                       /* 4 */
    int disc_widths[RE_MAX_STAGES];   /* {32,64,128,256} */
    int disc_fc[2];                   /* {512,64} */
    float lrelu_slope;                /* 0.2 */
    float bn_eps;                     /* 1e-5 */
    float bn_momentum;                /* 0.1 (PyTorch convention) */
} re_config;

/* Fill *cfg with a named preset ("seed64", "seed128"). RE_ERR_CONFIG for an unknown name. */
RE_API re_status re_config_preset(re_config *cfg, const char *name);
/* Checks a configuration; RE_ERR_CONFIG with a message naming the field. */
RE_API re_status re_config_validate(const re_config *cfg);
/* JSON text of a config (caller frees with free()). NULL on allocation failure. */
RE_API char *re_config_to_json(const re_config *cfg);
/* Parse a config from JSON text (missing fields take seed64 defaults). */
RE_API re_status re_config_from_json(re_config *cfg, const char *json, size_t len);


/* ---------------------------------------------------------------------------------------------------------
 * Models. A model holds the immutable weights (encoder, decoder and optionally the discriminator); per-run state
 * (activations, backend primitives) lives in a re_runner or re_trainer, so one model can serve several runners.
 * ------------------------------------------------------------------------------------------------------- */
typedef struct re_model re_model;
typedef enum re_part { RE_PART_ENCODER = 0, RE_PART_DECODER = 1, RE_PART_DISC = 2 } re_part;
/* Weight storage precision in files. F32 is exact; BF16/F16 halve the file and are converted to f32 on load. */
typedef enum re_storage { RE_STORE_F32 = 0, RE_STORE_BF16 = 1, RE_STORE_F16 = 2 } re_storage;

/* New model with PyTorch-default initialization (U(-1/sqrt(fan_in), +1/sqrt(fan_in)) for conv/linear weights and
 * biases, BN gamma=1 beta=0) drawn from a seeded RNG. with_disc: also build the discriminator. */
RE_API re_status re_model_create(re_model **out, const re_config *cfg, uint64_t seed, int with_disc);
/* Load a reenact safetensors file: checks format name/version, the data checksum, every tensor's presence and shape
 * and that no unknown tensor is present. The discriminator is loaded when the file has one. */
RE_API re_status re_model_load(re_model **out, const char *path);
/* Save atomically. include_disc: also write the discriminator. extra_meta: NULL or key,value,...,NULL pairs added
 * to the metadata (e.g. training provenance). */
RE_API re_status re_model_save(const re_model *m, const char *path, int include_disc, re_storage storage,
                               const char *const *extra_meta);
RE_API void re_model_free(re_model *m);
RE_API const re_config *re_model_config(const re_model *m);
RE_API int re_model_has_disc(const re_model *m);
/* Copy all weights and buffers of src into dst (same config); parts without a disc in either are skipped. */
RE_API re_status re_model_copy_weights(re_model *dst, const re_model *src);
/* Number of trainable parameters of a part (0 if absent). */
RE_API size_t re_model_param_count(const re_model *m, re_part part);
/* Forward multiply-add FLOPs (2 per MAC) per image of a part. */
RE_API double re_model_flops(const re_model *m, re_part part);
/* Human-readable per-layer summary (name, kind, output shape, params, MFLOPs) of all parts; caller frees. */
RE_API char *re_model_summary(const re_model *m);
/* Metadata value from the file the model was loaded from (NULL if absent or created in memory). */
RE_API const char *re_model_meta(const re_model *m, const char *key);
/* Number of metadata entries and the i-th key/value (borrowed, valid while the model lives). */
RE_API int re_model_meta_count(const re_model *m);
RE_API void re_model_meta_at(const re_model *m, int i, const char **key, const char **value);
/* The checksum that identifies the model's weights (motion files record it): the metadata's weights_sha256 when the
 * file carries more than weights (motion directions), else its data_sha256. NULL for a model not loaded from a file. */
RE_API const char *re_model_weights_sha256(const re_model *m);
/* Select the compute backend for runners/trainers created afterwards. RE_ERR_UNSUPPORTED if not built in. */
RE_API re_status re_model_set_backend(re_model *m, re_backend b);
RE_API re_backend re_model_backend(const re_model *m);

/* ---- Inference. A runner holds activations for up to max_batch images; eval-mode BatchNorm.
 * Threads: a runner (and a trainer) must be created, used and freed on ONE thread: its oneDNN primitives and
 * scratchpads belong to the creating thread's OpenMP context (using one from another thread crashed in oneDNN's
 * JIT code, freeing it elsewhere leaked). Several runners on several threads are fine; the model is shared
 * read-only. */
typedef struct re_runner re_runner;
RE_API re_status re_runner_create(re_runner **out, re_model *m, int max_batch);
/* As re_runner_create with a precision (RE_PREC_F32 is re_runner_create; RE_PREC_AUTO is resolved with
 * re_precision_resolve(RE_PREC_AUTO, 0), on the model's backend: F32 on the reference backend). RE_ERR_UNSUPPORTED:
 * RE_PREC_BF16 or RE_PREC_MIXED on a model whose backend is not oneDNN, or a CPU oneDNN has no bf16 kernels for;
 * RE_ERR_ARG: unknown precision. */
RE_API re_status re_runner_create_ex(re_runner **out, re_model *m, int max_batch, re_precision precision);
/* The precision a runner runs at (RE_PREC_AUTO resolved). */
RE_API re_precision re_runner_precision(const re_runner *r);
/* A table of the runner's layers, one line each: part (encoder / heads / decoder), layer name, kind, output shape,
 * and the implementation its backend runs (oneDNN: the primitive descriptor's impl_info_str of the forward pass,
 * e.g. "brgconv:avx512_core", with "+lrelu" for a fused post-op; our own kernels by name; "ref" for the reference
 * ops; "fused" for a layer a neighbour runs). Caller frees with free(); NULL when out of memory. */
RE_API char *re_runner_describe(const re_runner *r);
RE_API void re_runner_free(re_runner *r);
/* x: [n,C,res,res] floats in [0,1]; mu, logvar: [n,latent] (logvar may be NULL). */
RE_API re_status re_encode(re_runner *r, const float *x, int n, float *mu, float *logvar);
/* z: [n,latent] -> x_out [n,C,res,res] in (0,1). */
RE_API re_status re_decode(re_runner *r, const float *z, int n, float *x_out);

/* ---- Training. */
typedef enum re_train_mode { RE_MODE_VAE = 0, RE_MODE_VAEGAN = 1 } re_train_mode;
typedef struct re_train_opts {
    re_train_mode mode;
    int batch;                 /* 64 */
    double lr_g, lr_d;         /* Adam learning rates: encoder+decoder 1e-3 (VAE) / 2e-4 (VAE-GAN); disc 2e-4 */
    double beta1, beta2, adam_eps, weight_decay;  /* 0.5, 0.999, 1e-8, 0 */
    float w_rec, w_kl, w_adv, w_fm;               /* loss weights, see docs/ARCH.md */
    float w_gdl;               /* gradient difference loss on the reconstruction (either mode), 0 = off */
    uint64_t seed;             /* reparameterization noise */
    re_precision precision;    /* RE_PREC_F32 (default) or RE_PREC_BF16 */
    /* Data-parallel training (include/reenact/dist.h). NULL: one process. Else each rank computes batch / ranks
     * samples of the global batch (batch must divide evenly); gradients and BatchNorm statistics are summed over
     * the ranks, and every rank applies the same update. The caller passes the same global batch to every rank. */
    struct re_dist *dist;
    int grad_bf16;             /* with dist: allreduce the gradients in bf16 (0: f32, exact) */
    int check_every;           /* with dist: compare a weights checksum across ranks every N steps (0: 50; <0 off) */
    size_t bucket_bytes;       /* with dist: gradient bucket size of the overlapped allreduce (0: 4 MiB) */
} re_train_opts;
RE_API void re_train_opts_default(re_train_opts *o, re_train_mode mode);

typedef struct re_step_stats {
    double rec, kl, adv, fm;   /* generator-side terms (unweighted) */
    double gdl;                /* gradient difference term (unweighted; 0 when w_gdl is 0) */
    double g_loss;             /* weighted total minimized by encoder+decoder */
    double d_loss;             /* discriminator loss (VAE-GAN only) */
    double d_real, d_fake;     /* mean sigmoid(D) on real and reconstructed images */
} re_step_stats;

typedef struct re_trainer re_trainer;
/* Takes a model (with a discriminator for RE_MODE_VAEGAN); the trainer borrows it and updates it in place.
 * RE_ERR_UNSUPPORTED: precision BF16 on a model whose backend is not oneDNN (or a CPU oneDNN cannot run bf16 on). */
RE_API re_status re_trainer_create(re_trainer **out, re_model *m, const re_train_opts *o);
RE_API void re_trainer_free(re_trainer *t);
/* One optimization step on x [batch,C,res,res]. eps_override: NULL, or [batch,latent] noise to use instead of the
 * RNG (tests). On RE_ERR_NONFINITE (a NaN/Inf loss or gradient; the message names the tensor) the failing Adam
 * update is not applied, but earlier parts of the step may have changed state already (training-mode BatchNorm
 * running statistics; in VAE-GAN mode the discriminator update that precedes the generator check): restore the
 * model and trainer from a checkpoint, as `reenact train` does. */
RE_API re_status re_trainer_step(re_trainer *t, const float *x, const float *eps_override, re_step_stats *st);
/* Validation losses (eval-mode BN, z = mu, no update) on n <= batch images; fills rec, kl and g_loss. */
RE_API re_status re_trainer_eval(re_trainer *t, const float *x, int n, re_step_stats *st);
/* Reconstruction (eval mode, z = mu) of n <= batch images into out. */
RE_API re_status re_trainer_reconstruct(re_trainer *t, const float *x, int n, float *out);
RE_API int64_t re_trainer_steps(const re_trainer *t);
RE_API void re_trainer_set_lr(re_trainer *t, double lr_g, double lr_d);
/* Optimizer state (Adam m/v per parameter, step count, RNG state) to/from a safetensors file, written atomically.
 * Loading checks that every tensor matches the model. */
RE_API re_status re_trainer_save_state(const re_trainer *t, const char *path, const char *const *extra_meta);
RE_API re_status re_trainer_load_state(re_trainer *t, const char *path);

/* ---------------------------------------------------------------------------------------------------------
 * Training checkpoints (format: docs/FORMAT.md "Checkpoints"). A checkpoint is a folder
 * <ckpt_dir>/step_NNNNNNN (NNNNNNN = optimizer steps done, 7+ digits) holding model.safetensors (re_model_save,
 * F32, with the discriminator when the model has one), optim.safetensors (re_trainer_save_state), config.json (the
 * application's run configuration: stored and returned as text, never parsed by the library) and DONE, written
 * last. Writes are atomic: a folder named step_* always holds a complete checkpoint; a crash leaves at most a
 * .tmp-* or .del-* folder, which re_checkpoint_clean removes. Together with a deterministic data order this is
 * what makes a resumed run repeat the uninterrupted one bit for bit (`reenact train --resume`).
 * Paths are borrowed; ckpt_dir must exist and be shorter than 4096 bytes (RE_ERR_ARG otherwise).
 * ------------------------------------------------------------------------------------------------------- */
typedef struct re_checkpoint {
    const re_model *model;             /* weights and BN buffers (+ discriminator) to save */
    const re_trainer *trainer;         /* its optimizer state (Adam moments, step, RNG) */
    const char *config_json;           /* text stored as config.json */
    const char *const *model_meta;     /* NULL or key,value,...,NULL: extra metadata of model.safetensors */
    const char *const *optim_meta;     /* NULL or key,value,...,NULL: extra metadata of optim.safetensors */
    /* Test hook, NULL normally: called with phase 0 just before and phase 1 just after writing file `file`
     * (1 model.safetensors, 2 optim.safetensors, 3 config.json, 4 DONE); `reenact train` uses it to make one write
     * fail as on a full disk. */
    void (*file_hook)(void *user, int file, int phase);
    void *hook_user;
} re_checkpoint;
/* Write checkpoint `step` under ckpt_dir: the files into <ckpt_dir>/.tmp-step_NNNNNNN/ (each atomically), DONE
 * last, fsync, rename the folder to step_NNNNNNN (replacing one of the same step), fsync ckpt_dir. On failure
 * (RE_ERR_IO, RE_ERR_NOMEM, ...; the message names the file) the temporary folder is removed and existing
 * checkpoints are untouched. */
RE_API re_status re_checkpoint_save(const char *ckpt_dir, int64_t step, const re_checkpoint *c);
/* Step of the newest complete checkpoint (a step_NNNNNNN folder with DONE) under ckpt_dir; -1 when none (or no
 * such folder). */
RE_API int64_t re_checkpoint_latest(const char *ckpt_dir);
/* Load checkpoint `step`: *config_json = the text of its config.json (caller frees with free()) and *model = its
 * model (caller frees with re_model_free; re_model_load's checks). Either out pointer may be NULL to skip that
 * part; config.json is read first. On failure both outputs are NULL. */
RE_API re_status re_checkpoint_load(const char *ckpt_dir, int64_t step, re_model **model, char **config_json);
/* Restore t's optimizer state from checkpoint `step` (re_trainer_load_state on its optim.safetensors). The
 * trainer must have been created on a model of the same configuration. */
RE_API re_status re_checkpoint_load_optim(const char *ckpt_dir, int64_t step, re_trainer *t);
/* Metadata value `key` of checkpoint `step`'s optim.safetensors (e.g. the optim_meta it was saved with), read from
 * the header only: *val = a copy (caller frees with free()), NULL when absent. */
RE_API re_status re_checkpoint_optim_meta(const char *ckpt_dir, int64_t step, const char *key, char **val);
/* Remove leftovers of interrupted writes (.tmp-* and .del-* folders) under ckpt_dir. */
RE_API void re_checkpoint_clean(const char *ckpt_dir);
/* Delete complete checkpoints other than the newest `keep` (>= 1) and protect_step (-1 = none); each is renamed
 * to .del-* first. Returns the number deleted. */
RE_API int re_checkpoint_prune(const char *ckpt_dir, int keep, int64_t protect_step);
/* Folder of checkpoint `step`: "<ckpt_dir>/step_NNNNNNN" into out[n] (truncated to fit). */
RE_API void re_checkpoint_path(char *out, size_t n, const char *ckpt_dir, int64_t step);
/* Replace the file at path with data[n] atomically: temp file, fflush + fsync, rename, fsync of the folder. On
 * failure the temp file is removed and path is left as it was. */
RE_API re_status re_write_file_atomic(const char *path, const void *data, size_t n);
/* Read a whole small text file (at most 64 MiB) into *out (NUL-terminated; the caller frees). RE_ERR_IO (cannot open
 * or read, the message names the file), RE_ERR_TOO_LARGE, RE_ERR_NOMEM. */
RE_API re_status re_read_file_text(const char *path, char **out);

#ifdef __cplusplus
}
#endif
#endif /* REENACT_H */
