/*
 * test_torch_load.c - proves that PyTorch users can load the checkpoints this library writes and get the same
 * outputs: for a seed64 model (saved F32 and BF16) and a tiny model (F32), each with a discriminator and with
 * non-default BatchNorm state (random gamma/beta/running stats, nonzero num_batches_tracked, so eval-mode BN is
 * not an identity), the test
 *   1. saves the model with re_model_save into <dir of this binary>/torch_load/ (inside the build tree),
 *   2. loads it back with re_model_load (F32: must be bit-identical to the saved model) and, with a runner,
 *      encodes a fixed random batch and decodes the C side's mu,
 *   3. writes INPUT.safetensors with x, mu, logvar, xr (re_st_write), and
 *   4. runs `/usr/bin/python3 tools/torch_load_check.py MODEL INPUT`, which loads MODEL into the PyTorch twin
 *      (tools/reenact_torch.py) with load_state_dict(strict=True) - any missing, unknown or wrongly shaped tensor
 *      fails - and recomputes mu, logvar, xr in float64 (max abs error <= 1e-4; its header explains the margin).
 * The test fails if any step fails or the script exits non-zero. If /usr/bin/python3 cannot `import torch` it
 * prints "SKIP: PyTorch not available" and exits 0.
 *
 * Backends: seed64 F32 and the tiny model run on the model's default backend (oneDNN when built), seed64 BF16 on
 * the reference backend, so both compute paths meet PyTorch on the full-size network.
 *
 * Run: ctest -R test_torch_load (cwd = repo root; the script is found there or under RE_SOURCE_DIR).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "core/safetensors.h"
#include "model/model_internal.h"
#include "re_test.h"

#ifndef RE_TEST_BINARY_DIR   /* the test binary's folder, passed by tests/CMakeLists.txt */
#define RE_TEST_BINARY_DIR "."
#endif

#define PYTHON "/usr/bin/python3"
#define SCRIPT "tools/torch_load_check.py"

static const char TINY_JSON[] =
    "{\"res\": 16, \"channels\": 3, \"latent\": 8, \"n_stages\": 1, \"enc_widths\": [4], \"top_ch\": 6, "
    "\"fc_hidden\": 10, \"n_disc\": 2, \"disc_widths\": [4, 6], \"disc_fc\": [12, 5], \"lrelu_slope\": 0.2, "
    "\"bn_eps\": 1e-05, \"bn_momentum\": 0.1}";

static char script_path[1024];
static char out_dir[1024];

/* Non-default BatchNorm state: gamma U(0.5,1.5), beta N(0,0.2), running_mean N(0,0.2), running_var U(0.5,1.5),
 * num_batches_tracked 7+k. */
static void perturb_bn(re_model *m, uint64_t seed) {
    re_rng r;
    re_rng_seed(&r, seed);
    re_net *nets[4] = {&m->enc, &m->heads, &m->dec, &m->disc};
    int k = 0;
    for (int n = 0; n < 4; n++)
        for (int i = 0; i < nets[n]->n_layers; i++) {
            const re_layer *l = &nets[n]->layers[i];
            if (l->kind != RE_L_BN) continue;
            float *g = re_param_ptr(m, l->p_w), *b = re_param_ptr(m, l->p_b), *rm = re_param_ptr(m, l->p_rm),
                  *rv = re_param_ptr(m, l->p_rv);
            for (int c = 0; c < l->c; c++) {
                g[c] = (float)(0.5 + re_rng_uniform(&r));
                b[c] = 0.2f * re_rng_normal(&r);
                rm[c] = 0.2f * re_rng_normal(&r);
                rv[c] = (float)(0.5 + re_rng_uniform(&r));
            }
            m->counters[m->params[l->p_nbt].offset] = 7 + k++;
        }
    CHECK_MSG(k == 4 * m->cfg.n_stages, "perturbed %d BatchNorm layers, want %d", k, 4 * m->cfg.n_stages);
}

/* Single-quoted shell word; refuses paths with a quote. */
static int shell_ok(const char *p) { return strchr(p, '\'') == NULL; }

static void run_case(const char *label, const re_config *cfg, re_storage storage, re_backend backend, int n) {
    char model_path[1200], input_path[1200], cmd[4096];
    snprintf(model_path, sizeof model_path, "%s/%s.safetensors", out_dir, label);
    snprintf(input_path, sizeof input_path, "%s/%s.input.safetensors", out_dir, label);
    re_model *m = NULL, *m2 = NULL;
    re_runner *r = NULL;
    const size_t img = (size_t)cfg->channels * cfg->res * cfg->res, L = (size_t)cfg->latent;
    float *x = malloc((size_t)n * img * sizeof *x), *xr = malloc((size_t)n * img * sizeof *xr);
    float *mu = malloc((size_t)n * L * sizeof *mu), *lv = malloc((size_t)n * L * sizeof *lv);
    if (!x || !xr || !mu || !lv) { CHECK_MSG(0, "out of memory"); goto done; }

    CHECK_OK(re_model_create(&m, cfg, 20240601, 1));
    if (!m) goto done;
    perturb_bn(m, 77);
    CHECK_OK(re_model_save(m, model_path, 1, storage, NULL));
    CHECK_OK(re_model_load(&m2, model_path));
    if (!m2) goto done;
    CHECK_EQ_INT(m2->n_params, m->n_params);
    CHECK(re_model_has_disc(m2));
    if (storage == RE_STORE_F32 && m2->data_count == m->data_count && m2->n_counters == m->n_counters) {
        CHECK_MSG(memcmp(m2->data, m->data, m->data_count * sizeof(float)) == 0, "%s: F32 reload not bit-exact",
                  label);
        CHECK_MSG(memcmp(m2->counters, m->counters, (size_t)m->n_counters * sizeof(int64_t)) == 0,
                  "%s: counters differ after reload", label);
    }
    CHECK_OK(re_model_set_backend(m2, backend));
    CHECK_OK(re_runner_create(&r, m2, n));
    if (!r) goto done;
    re_rng rng;
    re_rng_seed(&rng, 4242);
    for (size_t i = 0; i < (size_t)n * img; i++) x[i] = (float)(0.02 + 0.96 * re_rng_uniform(&rng));
    CHECK_OK(re_encode(r, x, n, mu, lv));
    CHECK_OK(re_decode(r, mu, n, xr));

    re_st_entry e[4];
    memset(e, 0, sizeof e);
    const char *names[4] = {"logvar", "mu", "x", "xr"};
    const float *src[4] = {lv, mu, x, xr};
    for (int k = 0; k < 4; k++) {
        e[k].name = names[k];
        e[k].dtype = RE_DT_F32;
        e[k].src_f32 = src[k];
        e[k].shape[0] = n;
        if (k < 2) {
            e[k].ndim = 2;
            e[k].shape[1] = (int64_t)L;
        } else {
            e[k].ndim = 4;
            e[k].shape[1] = cfg->channels;
            e[k].shape[2] = e[k].shape[3] = cfg->res;
        }
    }
    const char *meta[2] = {"note", "test_torch_load input: C eval-mode encode(x) and decode(mu)"};
    CHECK_OK(re_st_write(input_path, e, 4, meta, 1));

    snprintf(cmd, sizeof cmd, PYTHON " -B '%s' '%s' '%s'", script_path, model_path, input_path);
    printf("%s (%s, %s backend):\n", label, storage == RE_STORE_BF16 ? "BF16" : "F32",
           re_model_backend(m2) == RE_BACKEND_REF ? "REF" : "DNNL");
    fflush(stdout);
    int rc = system(cmd);
    int ok = rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
    CHECK_MSG(ok, "%s: %s exited with status %d (see its output above)", label, SCRIPT,
              rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
done:
    re_runner_free(r);
    re_model_free(m);
    re_model_free(m2);
    free(x);
    free(xr);
    free(mu);
    free(lv);
}

int main(int argc, char **argv) {
    /* find_spec locates the package without importing it (an import costs ~1 s); a torch that is present but
     * broken then fails the script below, which is a failure, not a skip */
    if (system(PYTHON " -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec(\"torch\") is None)' "
               ">/dev/null 2>&1") != 0) {
        printf("SKIP: PyTorch not available (" PYTHON " cannot import torch)\n");
        return 0;
    }
    snprintf(script_path, sizeof script_path, "%s", SCRIPT);
#ifdef RE_SOURCE_DIR
    if (access(script_path, R_OK) != 0) snprintf(script_path, sizeof script_path, "%s/%s", RE_SOURCE_DIR, SCRIPT);
#endif
    CHECK_MSG(access(script_path, R_OK) == 0, "%s not found (run from the repo root)", SCRIPT);

    /* scratch files go next to this binary, i.e. inside the build tree */
    const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
    if (slash) snprintf(out_dir, sizeof out_dir, "%.*s/torch_load", (int)(slash - argv[0]), argv[0]);
    else snprintf(out_dir, sizeof out_dir, "%s/torch_load", RE_TEST_BINARY_DIR);
    CHECK_MSG(mkdir(out_dir, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", out_dir, strerror(errno));
    CHECK_MSG(shell_ok(out_dir) && shell_ok(script_path), "paths must not contain a single quote: %s %s", out_dir,
              script_path);
    if (re_test_failures) RE_TEST_END();

    re_config seed64, tiny;
    CHECK_OK(re_config_preset(&seed64, "seed64"));
    CHECK_OK(re_config_from_json(&tiny, TINY_JSON, strlen(TINY_JSON)));
    if (re_test_failures) RE_TEST_END();
    run_case("seed64_f32", &seed64, RE_STORE_F32, RE_BACKEND_AUTO, 2);
    run_case("seed64_bf16", &seed64, RE_STORE_BF16, RE_BACKEND_REF, 2);
    run_case("tiny_f32", &tiny, RE_STORE_F32, RE_BACKEND_AUTO, 3);
    RE_TEST_END();
}
