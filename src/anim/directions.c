/*
 * directions.c - motion controls in latent space (include/reenact/directions.h): attributes from landmarks, the
 * within-clip fits of attribute directions and of the motion space, their calibration on decoded faces, and the
 * per-frame steering. The model-file side (tensors and metadata) is in directions_io.c.
 * Tested by tests/unit/test_directions.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "face/face_geom.h"
#include "reenact/directions.h"

#define K RE_ATTR_COUNT

static const char *const attr_names[K] = {"mouth", "smile", "eye_l", "eye_r", "brows", "yaw", "pitch", "roll"};
static const char *const attr_units[K] = {"face", "face", "ratio", "ratio", "face", "deg", "deg", "deg"};

const char *re_attr_name(int a) { return a >= 0 && a < K ? attr_names[a] : NULL; }
const char *re_attr_unit(int a) { return a >= 0 && a < K ? attr_units[a] : NULL; }
int re_attr_from_name(const char *name) {
    for (int a = 0; name && a < K; a++)
        if (strcmp(name, attr_names[a]) == 0) return a;
    return -1;
}

static double dist2(const float *a, const float *b) { return hypot((double)a[0] - b[0], (double)a[1] - b[1]); }

re_status re_face_attributes(const float lm[RE_FACE_LANDMARKS][2], float a[RE_ATTR_COUNT]) {
    if (!a) return re_fail(RE_ERR_ARG, "re_face_attributes: NULL output");
    re_face_features ff;
    re_status st = re_face_landmark_features(lm, &ff);
    if (st != RE_OK) return st;
    /* the face's axes: ex along the eye line (image left to right), ey perpendicular (down the face) */
    double el[2], er[2];
    re_face_eye_centers(lm, el, er);
    const double le = hypot(er[0] - el[0], er[1] - el[1]);
    const double ex[2] = {(er[0] - el[0]) / le, (er[1] - el[1]) / le}, ey[2] = {-ex[1], ex[0]};
    const double size = ff.face_size, eye_y = 0.5 * ((el[0] + er[0]) * ey[0] + (el[1] + er[1]) * ey[1]);
    /* smile: mouth width plus corner lift (corners above the lip center's height) */
    const double corner_y = 0.5 * (((double)lm[48][0] + lm[54][0]) * ey[0] + ((double)lm[48][1] + lm[54][1]) * ey[1]);
    const double center_y = 0.25 * (((double)lm[62][0] + lm[66][0] + lm[51][0] + lm[57][0]) * ey[0] +
                                    ((double)lm[62][1] + lm[66][1] + lm[51][1] + lm[57][1]) * ey[1]);
    const double width = dist2(lm[48], lm[54]);
    double brow = 0;
    for (int i = 17; i <= 26; i++) brow += eye_y - (lm[i][0] * ey[0] + lm[i][1] * ey[1]);
    brow /= 10.0;
    double yp = ff.yaw / 1.3, pp = ff.pitch / 0.43;
    if (yp > 1) yp = 1;
    if (yp < -1) yp = -1;
    a[RE_ATTR_MOUTH] = ff.mouth_open;
    a[RE_ATTR_SMILE] = (float)((width + (center_y - corner_y)) / size);
    a[RE_ATTR_EYE_L] = ff.eye_open_l;
    a[RE_ATTR_EYE_R] = ff.eye_open_r;
    a[RE_ATTR_BROWS] = (float)(brow / size);
    a[RE_ATTR_YAW] = (float)(asin(yp) * 180.0 / RE_PI);
    a[RE_ATTR_PITCH] = (float)(atan(pp) * 180.0 / RE_PI);
    a[RE_ATTR_ROLL] = (float)(ff.roll * 180.0 / RE_PI);
    for (int k = 0; k < K; k++)
        if (!isfinite(a[k])) return re_fail(RE_ERR_ARG, "re_face_attributes: degenerate landmarks (%s)", attr_names[k]);
    return RE_OK;
}

/* ---- Object --------------------------------------------------------------------------------------------------- */
re_status re_directions_create(re_directions **out, int latent, int n_motion) {
    if (!out) return re_fail(RE_ERR_ARG, "re_directions_create: NULL output");
    *out = NULL;
    if (latent < 1 || latent > 65536)
        return re_fail(RE_ERR_ARG, "re_directions_create: latent must be 1..65536, got %d", latent);
    if (n_motion < 0 || n_motion > RE_DIR_MAX_MOTION || n_motion > latent)
        return re_fail(RE_ERR_ARG, "re_directions_create: motion components must be 0..%d (and <= latent), got %d",
                       RE_DIR_MAX_MOTION, n_motion);
    re_directions *d = calloc(1, sizeof *d);
    if (!d) return re_fail(RE_ERR_NOMEM, "out of memory");
    d->latent = latent;
    d->n_motion = n_motion;
    d->pattern = calloc((size_t)K * latent, sizeof(float));
    d->filter = calloc((size_t)K * latent, sizeof(float));
    d->basis = calloc((size_t)(n_motion ? n_motion : 1) * latent, sizeof(float));
    d->basis_var = calloc((size_t)(n_motion ? n_motion : 1), sizeof(float));
    if (!d->pattern || !d->filter || !d->basis || !d->basis_var) {
        re_directions_free(d);
        return re_fail(RE_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < K; k++) d->sigma[k] = 1, d->r2[k] = d->gain[k] = d->cross[k] = NAN;
    for (int q = 0; q < K * K; q++) d->response[q] = NAN;
    d->smile_bias = NAN;
    d->motion_explained = NAN;
    *out = d;
    return RE_OK;
}

void re_directions_free(re_directions *d) {
    if (!d) return;
    free(d->pattern);
    free(d->filter);
    free(d->basis);
    free(d->basis_var);
    free(d);
}

re_status re_directions_copy(const re_directions *d, re_directions **out) {
    if (!d) return re_fail(RE_ERR_ARG, "re_directions_copy: NULL directions");
    re_directions *c;
    re_status st = re_directions_create(&c, d->latent, d->n_motion);
    if (st != RE_OK) return st;
    float *p = c->pattern, *f = c->filter, *b = c->basis, *v = c->basis_var;
    *c = *d;
    c->pattern = p;
    c->filter = f;
    c->basis = b;
    c->basis_var = v;
    const size_t L = (size_t)d->latent;
    memcpy(p, d->pattern, K * L * sizeof(float));
    memcpy(f, d->filter, K * L * sizeof(float));
    memcpy(b, d->basis, (size_t)d->n_motion * L * sizeof(float));
    memcpy(v, d->basis_var, (size_t)d->n_motion * sizeof(float));
    *out = c;
    return RE_OK;
}

/* ---- Small dense linear algebra (double) ------------------------------------------------------------------------ */

/* Solve A X = B in place for symmetric positive definite A [n][n] (Cholesky; A overwritten), B [n][m] -> X.
 * Returns 0 when A is not positive definite. */
static int chol_solve(double *A, int n, double *B, int m) {
    for (int j = 0; j < n; j++) {
        double s = A[(size_t)j * n + j];
        for (int k = 0; k < j; k++) s -= A[(size_t)j * n + k] * A[(size_t)j * n + k];
        if (!(s > 0)) return 0;
        const double d = sqrt(s);
        A[(size_t)j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double t = A[(size_t)i * n + j];
            for (int k = 0; k < j; k++) t -= A[(size_t)i * n + k] * A[(size_t)j * n + k];
            A[(size_t)i * n + j] = t / d;
        }
    }
    for (int c = 0; c < m; c++) {
        for (int i = 0; i < n; i++) {   /* L y = b */
            double t = B[(size_t)i * m + c];
            for (int k = 0; k < i; k++) t -= A[(size_t)i * n + k] * B[(size_t)k * m + c];
            B[(size_t)i * m + c] = t / A[(size_t)i * n + i];
        }
        for (int i = n - 1; i >= 0; i--) {   /* L^T x = y */
            double t = B[(size_t)i * m + c];
            for (int k = i + 1; k < n; k++) t -= A[(size_t)k * n + i] * B[(size_t)k * m + c];
            B[(size_t)i * m + c] = t / A[(size_t)i * n + i];
        }
    }
    return 1;
}

/* Eigen-decomposition of symmetric A [n][n] (cyclic Jacobi): eigenvalues in w (descending), eigenvectors as the
 * ROWS of V. A is destroyed. */
static void jacobi_eigen(double *A, int n, double *w, double *V) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) V[(size_t)i * n + j] = i == j;
    for (int sweep = 0; sweep < 60; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < n; i++) {
            diag += A[(size_t)i * n + i] * A[(size_t)i * n + i];
            for (int j = i + 1; j < n; j++) off += A[(size_t)i * n + j] * A[(size_t)i * n + j];
        }
        if (off <= 1e-22 * diag || off == 0) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                const double apq = A[(size_t)p * n + q];
                if (fabs(apq) < 1e-300) continue;
                const double app = A[(size_t)p * n + p], aqq = A[(size_t)q * n + q];
                const double theta = (aqq - app) / (2 * apq);
                const double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                const double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {   /* columns p, q */
                    const double akp = A[(size_t)k * n + p], akq = A[(size_t)k * n + q];
                    A[(size_t)k * n + p] = c * akp - s * akq;
                    A[(size_t)k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {   /* rows p, q */
                    const double apk = A[(size_t)p * n + k], aqk = A[(size_t)q * n + k];
                    A[(size_t)p * n + k] = c * apk - s * aqk;
                    A[(size_t)q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {   /* eigenvectors as rows */
                    const double vpk = V[(size_t)p * n + k], vqk = V[(size_t)q * n + k];
                    V[(size_t)p * n + k] = c * vpk - s * vqk;
                    V[(size_t)q * n + k] = s * vpk + c * vqk;
                }
            }
    }
    for (int i = 0; i < n; i++) w[i] = A[(size_t)i * n + i];
    /* sort descending (selection sort; n is small) */
    for (int i = 0; i < n; i++) {
        int b = i;
        for (int j = i + 1; j < n; j++)
            if (w[j] > w[b]) b = j;
        if (b != i) {
            double t = w[i];
            w[i] = w[b];
            w[b] = t;
            for (int k = 0; k < n; k++) {
                t = V[(size_t)i * n + k];
                V[(size_t)i * n + k] = V[(size_t)b * n + k];
                V[(size_t)b * n + k] = t;
            }
        }
    }
}

/* ---- Fitting ----------------------------------------------------------------------------------------------------- */
typedef struct acc {
    double *AA, *AZ, *ZZ;   /* [K][K], [K][L], [L][L] sums over within-clip centered frames */
    int64_t n;
    int clips;
} acc;

struct re_dir_fit {
    int L;
    double ridge;
    acc all, held;
};

static int acc_init(acc *a, int L) {
    a->AA = calloc((size_t)K * K, sizeof(double));
    a->AZ = calloc((size_t)K * L, sizeof(double));
    a->ZZ = calloc((size_t)L * L, sizeof(double));
    a->n = 0;
    a->clips = 0;
    return a->AA && a->AZ && a->ZZ;
}

static void acc_free(acc *a) {
    free(a->AA);
    free(a->AZ);
    free(a->ZZ);
}

re_status re_dir_fit_create(re_dir_fit **out, int latent, double ridge) {
    if (!out) return re_fail(RE_ERR_ARG, "re_dir_fit_create: NULL output");
    *out = NULL;
    if (latent < 1 || latent > 4096) return re_fail(RE_ERR_ARG, "re_dir_fit_create: latent must be 1..4096, got %d",
                                                    latent);
    if (!(ridge >= 0 && ridge < 1e3)) return re_fail(RE_ERR_ARG, "re_dir_fit_create: ridge must be in [0, 1000)");
    re_dir_fit *f = calloc(1, sizeof *f);
    if (!f) return re_fail(RE_ERR_NOMEM, "out of memory");
    f->L = latent;
    f->ridge = ridge > 0 ? ridge : 1e-2;
    if (!acc_init(&f->all, latent) || !acc_init(&f->held, latent)) {
        re_dir_fit_free(f);
        return re_fail(RE_ERR_NOMEM, "out of memory");
    }
    *out = f;
    return RE_OK;
}

void re_dir_fit_free(re_dir_fit *f) {
    if (!f) return;
    acc_free(&f->all);
    acc_free(&f->held);
    free(f);
}

re_status re_dir_fit_add_clip(re_dir_fit *f, const float *codes, const float *attrs, const uint8_t *valid, int64_t n,
                              int heldout, int *used) {
    if (used) *used = 0;
    if (!f || (!codes && n > 0) || (!attrs && n > 0) || n < 0)
        return re_fail(RE_ERR_ARG, "re_dir_fit_add_clip: bad arguments");
    const int L = f->L;
    int64_t m = 0;
    for (int64_t t = 0; t < n; t++) {
        if (valid && !valid[t]) continue;
        int ok = 1;
        for (int k = 0; k < K && ok; k++) ok = isfinite(attrs[t * K + k]);
        for (int i = 0; i < L && ok; i++) ok = isfinite(codes[t * L + i]);
        if (!ok) return re_fail(RE_ERR_ARG, "re_dir_fit_add_clip: frame %lld has a non-finite code or attribute",
                                (long long)t);
        m++;
    }
    if (m < 3) return RE_OK;
    double *zm = calloc((size_t)L, sizeof(double)), am[K] = {0};
    double *zc = malloc((size_t)L * sizeof(double));
    if (!zm || !zc) {
        free(zm);
        free(zc);
        return re_fail(RE_ERR_NOMEM, "out of memory");
    }
    for (int64_t t = 0; t < n; t++) {
        if (valid && !valid[t]) continue;
        for (int i = 0; i < L; i++) zm[i] += codes[t * L + i];
        for (int k = 0; k < K; k++) am[k] += attrs[t * K + k];
    }
    for (int i = 0; i < L; i++) zm[i] /= (double)m;
    for (int k = 0; k < K; k++) am[k] /= (double)m;
    acc *targets[2] = {&f->all, heldout ? &f->held : NULL};
    for (int64_t t = 0; t < n; t++) {
        if (valid && !valid[t]) continue;
        double ac[K];
        for (int i = 0; i < L; i++) zc[i] = codes[t * L + i] - zm[i];
        for (int k = 0; k < K; k++) ac[k] = attrs[t * K + k] - am[k];
        for (int q = 0; q < 2; q++) {
            acc *a = targets[q];
            if (!a) continue;
            for (int k = 0; k < K; k++) {
                for (int j = 0; j < K; j++) a->AA[k * K + j] += ac[k] * ac[j];
                double *az = a->AZ + (size_t)k * L;
                for (int i = 0; i < L; i++) az[i] += ac[k] * zc[i];
            }
            for (int i = 0; i < L; i++) {
                double *zz = a->ZZ + (size_t)i * L;
                const double zi = zc[i];
                for (int j = i; j < L; j++) zz[j] += zi * zc[j];
            }
            a->n++;
        }
    }
    f->all.clips++;
    if (heldout) f->held.clips++;
    free(zm);
    free(zc);
    if (used) *used = 1;
    return RE_OK;
}

static void sym_fill(double *ZZ, int L) {
    for (int i = 0; i < L; i++)
        for (int j = 0; j < i; j++) ZZ[(size_t)i * L + j] = ZZ[(size_t)j * L + i];
}

/* Ridge regression of attributes on codes: F [K][L] = AZ (ZZ + lam I)^-1, lam = ridge * trace(ZZ) / L. */
static int fit_filter(const double *AZ, const double *ZZ, int L, double ridge, double *F) {
    double *M = malloc((size_t)L * L * sizeof(double)), *B = malloc((size_t)L * K * sizeof(double));
    if (!M || !B) {
        free(M);
        free(B);
        return -1;
    }
    double tr = 0;
    for (int i = 0; i < L; i++) tr += ZZ[(size_t)i * L + i];
    const double lam = ridge * tr / L + 1e-12;
    memcpy(M, ZZ, (size_t)L * L * sizeof(double));
    for (int i = 0; i < L; i++) M[(size_t)i * L + i] += lam;
    for (int i = 0; i < L; i++)
        for (int k = 0; k < K; k++) B[(size_t)i * K + k] = AZ[(size_t)k * L + i];
    int ok = chol_solve(M, L, B, K);
    for (int i = 0; ok && i < L; i++)
        for (int k = 0; k < K; k++) F[(size_t)k * L + i] = B[(size_t)i * K + k];
    free(M);
    free(B);
    return ok ? 0 : 1;
}

re_status re_dir_fit_finish(re_dir_fit *f, double motion_share, re_directions **out) {
    if (!f || !out) return re_fail(RE_ERR_ARG, "re_dir_fit_finish: NULL argument");
    *out = NULL;
    if (!(motion_share >= 0 && motion_share <= 1))
        return re_fail(RE_ERR_ARG, "re_dir_fit_finish: motion share must be in [0, 1], got %g", motion_share);
    if (motion_share == 0) motion_share = 0.95;
    const int L = f->L;
    if (f->all.clips < 2 || f->all.n < 50)
        return re_fail(RE_ERR_ARG, "directions need at least 2 clips and 50 frames with a face (got %d clips, %lld "
                       "frames)", f->all.clips, (long long)f->all.n);
    acc *A = &f->all, *H = &f->held;
    sym_fill(A->ZZ, L);
    sym_fill(H->ZZ, L);
    re_status st = RE_OK;
    re_directions *d = NULL;
    const size_t LL = (size_t)L * L;
    double *F = malloc((size_t)K * L * sizeof(double)), *T = malloc(LL * sizeof(double));
    double *Vv = malloc(LL * sizeof(double)), *w = malloc((size_t)L * sizeof(double));
    double *AZt = malloc((size_t)K * L * sizeof(double));
    if (!F || !T || !Vv || !w || !AZt) {
        st = re_fail(RE_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int k = 0; k < K; k++)
        if (!(A->AA[k * K + k] > 0)) {
            st = re_fail(RE_ERR_ARG, "directions: attribute '%s' never changes within a clip", attr_names[k]);
            goto done;
        }
    /* motion space */
    memcpy(T, A->ZZ, LL * sizeof(double));
    jacobi_eigen(T, L, w, Vv);
    double tot = 0, run = 0;
    for (int i = 0; i < L; i++) tot += w[i] > 0 ? w[i] : 0;
    int M = 0;
    while (M < L && M < RE_DIR_MAX_MOTION && run < motion_share * tot) run += w[M] > 0 ? w[M] : 0, M++;
    if ((st = re_directions_create(&d, L, M)) != RE_OK) goto done;
    for (int m = 0; m < M; m++) {
        d->basis_var[m] = (float)(w[m] / (double)A->n);
        for (int i = 0; i < L; i++) d->basis[(size_t)m * L + i] = (float)Vv[(size_t)m * L + i];
    }
    d->motion_explained = (float)(tot > 0 ? run / tot : NAN);
    /* held-out R^2 of a filter fit on the other clips */
    if (H->clips > 0 && H->n > 0 && A->clips > H->clips) {
        for (size_t q = 0; q < LL; q++) T[q] = A->ZZ[q] - H->ZZ[q];
        for (size_t q = 0; q < (size_t)K * L; q++) AZt[q] = A->AZ[q] - H->AZ[q];
        if (fit_filter(AZt, T, L, f->ridge, F) == 0) {
            for (int k = 0; k < K; k++) {
                const double *fk = F + (size_t)k * L, *az = H->AZ + (size_t)k * L;
                double quad = 0, lin = 0;
                for (int i = 0; i < L; i++) {
                    double zi = 0;
                    for (int j = 0; j < L; j++) zi += H->ZZ[(size_t)i * L + j] * fk[j];
                    quad += fk[i] * zi;
                    lin += fk[i] * az[i];
                }
                const double sst = H->AA[k * K + k];
                d->r2[k] = (float)(sst > 0 ? 1.0 - (sst - 2 * lin + quad) / sst : NAN);
            }
        }
    }
    /* the final filter on all clips */
    if (fit_filter(A->AZ, A->ZZ, L, f->ridge, F) != 0) {
        st = re_fail(RE_ERR_ARG, "directions: the code covariance is singular");
        goto done;
    }
    for (size_t q = 0; q < (size_t)K * L; q++) d->filter[q] = (float)F[q];
    /* patterns: P = (AA + lam diag(AA))^-1 AZ */
    {
        double AAr[K * K];
        double *PB = malloc((size_t)K * L * sizeof(double));
        if (!PB) {
            st = re_fail(RE_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(AAr, A->AA, sizeof AAr);
        for (int k = 0; k < K; k++) AAr[k * K + k] *= 1.0 + 1e-3;
        memcpy(PB, A->AZ, (size_t)K * L * sizeof(double));
        int ok = chol_solve(AAr, K, PB, L);
        for (size_t q = 0; ok && q < (size_t)K * L; q++) d->pattern[q] = (float)PB[q];
        free(PB);
        if (!ok) {
            st = re_fail(RE_ERR_ARG, "directions: the attributes are linearly dependent within clips");
            goto done;
        }
    }
    for (int k = 0; k < K; k++) d->sigma[k] = (float)sqrt(A->AA[k * K + k] / (double)A->n);
    d->frames = A->n;
    d->clips = A->clips;
    for (size_t q = 0; q < (size_t)K * L; q++)
        if (!isfinite(d->pattern[q]) || !isfinite(d->filter[q])) {
            st = re_fail(RE_ERR_NONFINITE, "directions: the fit produced non-finite values");
            goto done;
        }
done:
    free(F);
    free(T);
    free(Vv);
    free(w);
    free(AZt);
    if (st != RE_OK) re_directions_free(d);
    else *out = d;
    return st;
}

/* ---- Calibration ---------------------------------------------------------------------------------------------- */
/* Least-squares slopes (over faces and the steps t in {-2,-1,0,1,2} * unit) of every decoded attribute against t,
 * stepping each code along dir [L]. With bias: the unstepped decodes' smile minus the real faces'. */
typedef struct calib_io {
    const float *codes, *real_attrs;
    int n, face_floats;
    re_dir_decode_fn decode;
    re_dir_measure_fn measure;
    void *user;
    float *z, *faces;
} calib_io;

static re_status step_slopes(const re_directions *d, calib_io *io, const float *dir, double unit, double slope[K],
                             double *bias_sum, int64_t *bias_n) {
    const int L = d->latent, S = 5;
    const double steps[5] = {-2, -1, 0, 1, 2};
    double sxy[K] = {0}, sxx = 0;
    for (int i = 0; i < io->n; i++) {
        for (int s = 0; s < S; s++)
            for (int q = 0; q < L; q++)
                io->z[(size_t)s * L + q] = io->codes[(size_t)i * L + q] + (float)(steps[s] * unit) * dir[q];
        re_status st = io->decode(io->z, S, io->faces, io->user);
        if (st != RE_OK) return st;
        float a[5][K];
        int ok = 1;
        for (int s = 0; s < S && ok; s++) ok = io->measure(io->faces + (size_t)s * io->face_floats, a[s], io->user);
        if (!ok) continue;
        if (bias_sum && io->real_attrs && isfinite(io->real_attrs[(size_t)i * K + RE_ATTR_SMILE])) {
            *bias_sum += a[2][RE_ATTR_SMILE] - io->real_attrs[(size_t)i * K + RE_ATTR_SMILE];
            (*bias_n)++;
        }
        double am[K] = {0};
        for (int s = 0; s < S; s++)
            for (int j = 0; j < K; j++) am[j] += a[s][j] / S;
        for (int s = 0; s < S; s++) {
            const double x = steps[s] * unit;
            sxx += x * x;
            for (int j = 0; j < K; j++) sxy[j] += x * (a[s][j] - am[j]);
        }
    }
    for (int j = 0; j < K; j++) slope[j] = sxx > 0 ? sxy[j] / sxx : NAN;
    return RE_OK;
}

re_status re_dir_calibrate(re_directions *d, const float *codes, const float *real_attrs, int n, int face_floats,
                           re_dir_decode_fn decode, re_dir_measure_fn measure, void *user) {
    if (!d || !codes || n < 1 || face_floats < 1 || !decode || !measure)
        return re_fail(RE_ERR_ARG, "re_dir_calibrate: bad arguments");
    const int L = d->latent;
    calib_io io = {codes, real_attrs, n, face_floats, decode, measure, user, NULL, NULL};
    io.z = malloc((size_t)5 * L * sizeof(float));
    io.faces = malloc((size_t)5 * face_floats * sizeof(float));
    float *dir = malloc((size_t)L * sizeof(float));
    re_status st = RE_OK;
    if (!io.z || !io.faces || !dir) st = re_fail(RE_ERR_NOMEM, "out of memory");
    double bias_sum = 0, slope[K];
    int64_t bias_n = 0;
    /* pass 1: the response to the raw patterns */
    for (int k = 0; k < K && st == RE_OK; k++) {
        st = step_slopes(d, &io, d->pattern + (size_t)k * L, d->sigma[k], slope, k == 0 ? &bias_sum : NULL, &bias_n);
        for (int j = 0; st == RE_OK && j < K; j++) d->response[k * K + j] = (float)slope[j];
    }
    for (int q = 0; st == RE_OK && q < K * K; q++)
        if (!isfinite(d->response[q])) st = re_fail(RE_ERR_NO_FACE, "calibration: no face found in the decoded faces");
    /* pass 2: the controls (re_dir_control), which use the response: their gain and cross-talk */
    for (int k = 0; k < K && st == RE_OK; k++) {
        if ((st = re_dir_control(d, k, dir)) != RE_OK) break;
        if ((st = step_slopes(d, &io, dir, d->sigma[k], slope, NULL, NULL)) != RE_OK) break;
        double worst = 0;
        for (int j = 0; j < K; j++)
            if (j != k && fabs(slope[j] * d->sigma[k] / d->sigma[j]) > worst) worst = fabs(slope[j] * d->sigma[k] / d->sigma[j]);
        d->gain[k] = (float)slope[k];
        d->cross[k] = (float)(fabs(slope[k]) > 0 ? worst / fabs(slope[k]) : INFINITY);
    }
    if (st == RE_OK && bias_n > 0) d->smile_bias = (float)(bias_sum / (double)bias_n);
    if (st != RE_OK)
        for (int q = 0; q < K * K; q++) d->response[q] = NAN;
    free(io.z);
    free(io.faces);
    free(dir);
    return st;
}

/* ---- Steering ----------------------------------------------------------------------------------------------------- */
void re_steer_opts_default(re_steer_opts *o) {
    memset(o, 0, sizeof *o);
    o->region = RE_REGION_ALL;
    o->space = RE_MSPACE_LEARNED;
    o->attr_drive = 1;
    o->lips = 1;
    o->eyes = 1;
    o->mouth_absolute = 1;
}

void re_steer_attr_delta(const re_steer_opts *o, const float a_drv[RE_ATTR_COUNT], const float a_ref[RE_ATTR_COUNT],
                         const float *a_photo, float da[RE_ATTR_COUNT]) {
    for (int k = 0; k < K; k++) da[k] = a_drv[k] - a_ref[k];
    if (o->mouth_absolute && a_photo) da[RE_ATTR_MOUTH] = a_drv[RE_ATTR_MOUTH] - a_photo[RE_ATTR_MOUTH];
}

re_status re_steer_opts_check(const re_steer_opts *o, const re_directions *d) {
    if (!o) return re_fail(RE_ERR_ARG, "steering: NULL options");
    if ((int)o->region < RE_REGION_ALL || (int)o->region > RE_REGION_EYES)
        return re_fail(RE_ERR_ARG, "steering: unknown region %d", (int)o->region);
    if ((int)o->space != RE_MSPACE_LEARNED && (int)o->space != RE_MSPACE_FULL)
        return re_fail(RE_ERR_ARG, "steering: unknown motion space %d", (int)o->space);
    if (!(o->lips >= 0 && o->lips <= 3)) return re_fail(RE_ERR_ARG, "--lips must be in [0, 3], got %g", o->lips);
    if (!(o->eyes >= 0 && o->eyes <= 3)) return re_fail(RE_ERR_ARG, "--eyes must be in [0, 3], got %g", o->eyes);
    for (int k = 0; k < K; k++) {
        const float v = o->offset[k];
        if (!isfinite(v)) return re_fail(RE_ERR_ARG, "--%s must be a finite number", attr_names[k]);
        if (strcmp(attr_units[k], "deg") == 0) {
            if (fabsf(v) > 45) return re_fail(RE_ERR_ARG, "--%s must be in [-45, 45] degrees, got %g", attr_names[k], v);
        } else if (d && fabsf(v) > 4 * d->sigma[k]) {
            return re_fail(RE_ERR_ARG, "--%s %g is more than 4 standard deviations (%.3g) of the attribute", attr_names[k],
                           v, 4 * d->sigma[k]);
        }
    }
    return RE_OK;
}

int re_steer_needs_directions(const re_steer_opts *o) {
    if (!o) return 0;
    int needs = o->region != RE_REGION_ALL || o->lips != 1 || o->eyes != 1 || o->debias;
    for (int k = 0; k < K; k++) needs |= o->offset[k] != 0;
    return needs;
}

int re_steer_active(const re_steer_opts *o) {
    if (!o) return 0;
    if (o->region != RE_REGION_ALL || o->space != RE_MSPACE_FULL || o->attr_drive || o->lips != 1 || o->eyes != 1 ||
        o->debias)
        return 1;
    for (int k = 0; k < K; k++)
        if (o->offset[k] != 0) return 1;
    return 0;
}

re_status re_steer_directions(const re_directions *d, const re_steer_opts *o, const re_directions **use) {
    if (!use) return re_fail(RE_ERR_ARG, "re_steer_directions: NULL argument");
    *use = NULL;
    if (!o) return re_fail(RE_ERR_ARG, "re_steer_directions: NULL argument");
    if (!d && re_steer_needs_directions(o))
        return re_fail(RE_ERR_UNSUPPORTED, "the motion controls (region, lips, eyes, offsets, debias) need a model with "
                       "directions (the bundled model has them; 'reenact directions' adds them)");
    re_status s;
    if (d && (s = re_steer_opts_check(o, d)) != RE_OK) return s;
    if (d && o->debias && !isfinite(d->smile_bias))
        return re_fail(RE_ERR_UNSUPPORTED, "debias needs a model whose directions were calibrated (smile bias measured)");
    if (d && re_steer_active(o)) *use = d;
    return RE_OK;
}

/* the multiplier of attribute k's driven motion under the region and the lips/eyes controls */
static float attr_coef(const re_steer_opts *o, int k) {
    const int lips = k == RE_ATTR_MOUTH || k == RE_ATTR_SMILE, eyes = k == RE_ATTR_EYE_L || k == RE_ATTR_EYE_R;
    const int brows = k == RE_ATTR_BROWS, pose = k >= RE_ATTR_YAW;
    int on = 1;
    switch (o->region) {
    case RE_REGION_ALL: on = 1; break;
    case RE_REGION_EXPRESSION: on = !pose; break;
    case RE_REGION_POSE: on = pose; break;
    case RE_REGION_LIPS: on = lips; break;
    case RE_REGION_EYES: on = eyes || brows; break;
    }
    if (!on) return 0;
    if (lips) return o->lips;
    if (eyes) return o->eyes;
    return 1;
}

void re_dir_solve(const re_directions *d, const double t[RE_ATTR_COUNT], double u[RE_ATTR_COUNT]) {
    /* in sigmas: minimize |R^T x - t/sigma|^2 + lam |x|^2, R[k][j] = response[k][j] sigma_k / sigma_j, u = x sigma */
    if (isfinite(d->response[0])) {
        double R[K * K], A[K * K], b[K];
        for (int k = 0; k < K; k++)
            for (int j = 0; j < K; j++) R[k * K + j] = d->response[k * K + j] * d->sigma[k] / d->sigma[j];
        for (int k = 0; k < K; k++) {
            b[k] = 0;
            for (int j = 0; j < K; j++) b[k] += R[k * K + j] * t[j] / d->sigma[j];
            for (int q = 0; q < K; q++) {
                double s = 0;
                for (int j = 0; j < K; j++) s += R[k * K + j] * R[q * K + j];
                A[k * K + q] = s + (k == q ? RE_DIR_SOLVE_RIDGE : 0.0);
            }
        }
        if (chol_solve(A, K, b, 1)) {
            for (int k = 0; k < K; k++) u[k] = b[k] * d->sigma[k];
            return;
        }
    }
    /* not calibrated: one unit step per unit of attribute */
    for (int k = 0; k < K; k++) u[k] = t[k];
}

void re_steer_apply(const re_directions *d, const re_steer_opts *o, const float *dz, const float *da, float strength,
                    float *out, float *scratch) {
    const int L = d->latent, M = d->n_motion;
    float *r = scratch, *proj = scratch + L;
    double ahat[K];
    for (int k = 0; k < K; k++) {
        double s = 0;
        const float *fk = d->filter + (size_t)k * L;
        for (int i = 0; i < L; i++) s += (double)fk[i] * dz[i];
        ahat[k] = s;
    }
    /* the rest of the motion */
    for (int i = 0; i < L; i++) {
        double s = dz[i];
        for (int k = 0; k < K; k++) s -= ahat[k] * d->pattern[(size_t)k * L + i];
        r[i] = (float)s;
    }
    if (o->space == RE_MSPACE_LEARNED && M > 0) {
        memset(proj, 0, (size_t)L * sizeof(float));
        for (int m = 0; m < M; m++) {
            const float *b = d->basis + (size_t)m * L;
            double c = 0;
            for (int i = 0; i < L; i++) c += (double)b[i] * r[i];
            for (int i = 0; i < L; i++) proj[i] += (float)c * b[i];
        }
        memcpy(r, proj, (size_t)L * sizeof(float));
    }
    const float w_rest = o->region == RE_REGION_ALL ? 1.0f : 0.0f;
    const int drive = o->attr_drive && da != NULL;
    int scaled = 0;   /* --lips or --eyes scale a driven attribute while the rest of the motion is kept */
    for (int k = 0; k < K; k++) scaled = scaled || attr_coef(o, k) != 1.0f;
    if (scaled && w_rest != 0.0f) {
        /* Then the rest must carry none of what the controls set: neither the filters and patterns (F P is not
         * exactly the identity) nor the learned space (not orthogonal to the patterns) guarantee F r = 0, and what
         * is left moves the mouth under --lips 0 (r 0.375 with the driver on 72 pairs, 0.212 with this). Remove it:
         * r -= P c with c the least-squares solution of (F P) c = F r. Not done by default: on the same pairs it
         * lowered the default's mouth r from 0.886 to 0.869 (--render crop), so the default keeps that motion. */
        double FP[K * K], Fr[K], A[K * K], c[K];
        for (int j = 0; j < K; j++) {
            const float *fj = d->filter + (size_t)j * L;
            double t = 0;
            for (int i = 0; i < L; i++) t += (double)fj[i] * r[i];
            Fr[j] = t;
            for (int k = 0; k < K; k++) {
                const float *pk = d->pattern + (size_t)k * L;
                double u = 0;
                for (int i = 0; i < L; i++) u += (double)fj[i] * pk[i];
                FP[j * K + k] = u;
            }
        }
        for (int k = 0; k < K; k++) {
            c[k] = 0;
            for (int j = 0; j < K; j++) c[k] += FP[j * K + k] * Fr[j];
            for (int q = 0; q < K; q++) {
                double t = 0;
                for (int j = 0; j < K; j++) t += FP[j * K + k] * FP[j * K + q];
                A[k * K + q] = t + (k == q ? 1e-9 : 0.0);
            }
        }
        if (chol_solve(A, K, c, 1))
            for (int i = 0; i < L; i++) {
                double t = r[i];
                for (int k = 0; k < K; k++) t -= c[k] * d->pattern[(size_t)k * L + i];
                r[i] = (float)t;
            }
    }
    double t[K], coef[K];
    for (int k = 0; k < K; k++) {   /* targets in attribute units: driven changes and offsets */
        double off = o->offset[k];
        if (k == RE_ATTR_SMILE && o->debias && isfinite(d->smile_bias)) off -= d->smile_bias;
        t[k] = (drive ? strength * attr_coef(o, k) * da[k] : 0.0) + off;
    }
    re_dir_solve(d, t, coef);
    if (!drive)   /* the code delta's own attribute content, already in code units */
        for (int k = 0; k < K; k++) coef[k] += strength * attr_coef(o, k) * ahat[k];
    for (int i = 0; i < L; i++) {
        double s = strength * w_rest * r[i];
        for (int k = 0; k < K; k++) s += coef[k] * d->pattern[(size_t)k * L + i];
        out[i] = (float)s;
    }
}

re_status re_dir_control(const re_directions *d, int k, float *dir) {
    if (!d || !dir || k < 0 || k >= K) return re_fail(RE_ERR_ARG, "re_dir_control: bad arguments");
    double t[K] = {0}, u[K];
    t[k] = 1;
    re_dir_solve(d, t, u);
    for (int i = 0; i < d->latent; i++) {
        double s = 0;
        for (int j = 0; j < K; j++) s += u[j] * d->pattern[(size_t)j * d->latent + i];
        dir[i] = (float)s;
    }
    return RE_OK;
}
