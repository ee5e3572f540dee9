/*
 * backend.c - the list of compute backend tables built into this library (backend.h) and the lookup that picks
 * one for a model's re_backend. The one place that knows which backends a build has. Also what the library knows
 * of the CPU (re_cpu_info_get) and the rule that turns RE_PREC_AUTO into a precision (re_precision_resolve), both
 * public (reenact.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#if defined(__linux__) && defined(__x86_64__)
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "backend/backend.h"
#include "backend/dnnl.h"
#include "core/core.h"

/* Most preferred first: RE_BACKEND_AUTO takes the first. One line per backend. */
static const re_compute_backend *const tables[] = {
#ifdef RE_HAVE_DNNL
    &re_backend_dnnl,
#endif
    &re_backend_ref,
};

/* The choices a build may leave out, and what asking for one says then. One line per optional backend. */
static const struct {
    re_backend id;
    const char *missing;
} optional[] = {
    {RE_BACKEND_DNNL, "this build has no oneDNN backend (rebuild with libdnnl-dev installed)"},
};

const re_compute_backend *re_compute_backend_get(re_backend id) {
    const int n = (int)(sizeof tables / sizeof tables[0]);
    if (id == RE_BACKEND_AUTO) return tables[0];
    for (int i = 0; i < n; i++)
        if (tables[i]->id == id) return tables[i];
    return NULL;
}

const char *re_compute_backend_bf16_where(const re_compute_backend *be) {
    static _Thread_local char buf[96];
    if (be && be->id == RE_BACKEND_DNNL) snprintf(buf, sizeof buf, "this CPU: oneDNN ISA %s", re_dnnl_isa_name());
    else snprintf(buf, sizeof buf, "this model uses %s", be ? be->title : "another backend");
    return buf;
}

re_status re_compute_backend_select(re_backend id, const re_compute_backend **out) {
    *out = NULL;
    const re_compute_backend *be = re_compute_backend_get(id);
    if (!be) {
        for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++)
            if (optional[i].id == id) return re_fail(RE_ERR_UNSUPPORTED, "%s", optional[i].missing);
        return re_fail(RE_ERR_UNSUPPORTED, "this build has no backend %d", (int)id);
    }
    re_status s = be->init();
    if (s) return s;
    *out = be;
    return RE_OK;
}

const re_compute_backend *re_compute_backend_default(void) {
    const int n = (int)(sizeof tables / sizeof tables[0]);
    for (int i = 0; i < n - 1; i++)
        if (tables[i]->init() == RE_OK) return tables[i];
    return tables[n - 1];   /* the least preferred: the reference table, which needs no set-up */
}

/* ---- precision names and the AUTO rule ------------------------------------------------------------------- */

const char *re_precision_name(re_precision p) {
    switch (p) {
    case RE_PREC_F32: return "f32";
    case RE_PREC_BF16: return "bf16";
    case RE_PREC_AUTO: return "auto";
    case RE_PREC_MIXED: return "mixed";
    }
    return "?";
}

re_status re_precision_parse(const char *s, re_precision *p) {
    static const re_precision all[] = {RE_PREC_F32, RE_PREC_BF16, RE_PREC_AUTO, RE_PREC_MIXED};
    if (!s || !p) return re_fail(RE_ERR_ARG, "precision: NULL argument");
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(s, re_precision_name(all[i]))) {
            *p = all[i];
            return RE_OK;
        }
    return re_fail(RE_ERR_ARG, "precision: '%s' is none of f32, bf16, auto, mixed", s);
}

typedef struct cpu_bits {
    char vendor[16];
    int family, model, avx512f, avx512_bf16, amx_tile, amx_bf16;
} cpu_bits;

static void cpu_bits_get(cpu_bits *b) {
    memset(b, 0, sizeof *b);
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, bx, c, d, max;
    if (!__get_cpuid(0, &max, &bx, &c, &d)) return;
    memcpy(b->vendor, &bx, 4);
    memcpy(b->vendor + 4, &d, 4);
    memcpy(b->vendor + 8, &c, 4);
    b->vendor[12] = 0;
    if (__get_cpuid(1, &a, &bx, &c, &d)) {
        int fam = (a >> 8) & 0xf, mod = (a >> 4) & 0xf;
        if (fam == 0xf) fam += (a >> 20) & 0xff;
        if (fam == 0x6 || fam >= 0xf) mod += ((a >> 16) & 0xf) << 4;
        b->family = fam;
        b->model = mod;
    }
    if (max >= 7) {
        __cpuid_count(7, 0, a, bx, c, d);
        b->avx512f = (bx >> 16) & 1;
        b->amx_bf16 = (d >> 22) & 1;
        b->amx_tile = (d >> 24) & 1;
        __cpuid_count(7, 1, a, bx, c, d);
        b->avx512_bf16 = (a >> 5) & 1;
    }
#endif
}

/* The rule of re_precision_resolve (reenact.h), computed once per process (the probe takes ~0.1-0.5 s). */
static struct {
    re_precision train, infer;
    char why[256];
} g_auto;
static pthread_once_t g_auto_once = PTHREAD_ONCE_INIT;

static void auto_compute(void) {
    const int dnnl = re_dnnl_available();
    const char *isa = dnnl ? re_dnnl_isa_name() : "none";
    const size_t len = sizeof g_auto.why;
    g_auto.train = RE_PREC_F32;
    g_auto.infer = dnnl ? RE_PREC_MIXED : RE_PREC_F32;
    if (!dnnl) {
        snprintf(g_auto.why, len, "no oneDNN in this build (or its CPU engine failed): f32 everywhere");
        return;
    }
    if (strcmp(isa, "avx512_core_bf16") && strcmp(isa, "avx512_core_amx")) {
        snprintf(g_auto.why, len, "oneDNN ISA %s has no native bf16: f32 training, mixed runners (f32 with bf16 "
                 "weights of the large linear layers)", isa);
        return;
    }
    double t32 = 0, t16 = 0, i32 = 0, i16 = 0;
    if (re_dnnl_bf16_probe(1, &t32, &t16) != RE_OK || re_dnnl_bf16_probe(0, &i32, &i16) != RE_OK) {
        snprintf(g_auto.why, len, "oneDNN ISA %s: the bf16 probe failed (%s): f32 training, mixed runners", isa,
                 re_last_error());
        return;
    }
    /* bf16 only when clearly faster (10% margin against timing noise) */
    if (t16 < 0.9 * t32) g_auto.train = RE_PREC_BF16;
    if (i16 < 0.9 * i32) g_auto.infer = RE_PREC_BF16;
    snprintf(g_auto.why, len, "measured here (oneDNN ISA %s): training layer f32 %.2f ms, bf16 %.2f ms -> %s; "
             "inference layer f32 %.3f ms, bf16 %.3f ms -> %s", isa, t32, t16, re_precision_name(g_auto.train), i32,
             i16, re_precision_name(g_auto.infer));
}

static void auto_rule(re_precision *train, re_precision *infer, char *why, size_t len) {
    pthread_once(&g_auto_once, auto_compute);
    *train = g_auto.train;
    *infer = g_auto.infer;
    snprintf(why, len, "%s", g_auto.why);
}

re_precision re_precision_resolve(re_precision p, int training) {
    if (p != RE_PREC_AUTO) return p;
    re_precision t, i;
    char why[256];
    auto_rule(&t, &i, why, sizeof why);
    return training ? t : i;
}

/* AMX state permission: ask the kernel for XTILEDATA (harmless where unsupported). */
static int amx_permission(const cpu_bits *b, char *note, size_t len) {
    if (!(b->amx_tile && b->amx_bf16)) {
        snprintf(note, len, "not applicable: this CPU has no AMX");
        return -1;
    }
#if defined(__linux__) && defined(__x86_64__)
    enum { ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    long r = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
    if (r != 0) {
        int e = errno;
        if (e == EINVAL || e == ENOSYS) {
            snprintf(note, len, "not applicable: the kernel has no ARCH_REQ_XCOMP_PERM (Linux < 5.16?)");
            return -1;
        }
        snprintf(note, len, "refused: arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA) failed: %s", strerror(e));
        return 0;
    }
    unsigned long long mask = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &mask) == 0 && !((mask >> XFEATURE_XTILEDATA) & 1)) {
        snprintf(note, len, "refused: XTILEDATA not in the permitted mask 0x%llx", mask);
        return 0;
    }
    snprintf(note, len, "granted (arch_prctl ARCH_REQ_XCOMP_PERM, XTILEDATA)");
    return 1;
#else
    snprintf(note, len, "not applicable: not Linux x86-64");
    return -1;
#endif
}

static void cpu_model_name(char *out, size_t len) {
    snprintf(out, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10)) continue;
            const char *v = strchr(line, ':');
            if (!v) continue;
            v++;
            while (*v == ' ' || *v == '\t') v++;
            snprintf(out, len, "%s", v);
            out[strcspn(out, "\n")] = 0;
            fclose(f);
            return;
        }
        fclose(f);
    }
#if defined(__x86_64__) || defined(__i386__)
    unsigned r[12], max, b, c, d;
    if (__get_cpuid(0x80000000u, &max, &b, &c, &d) && max >= 0x80000004u) {
        for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        char s[49];
        memcpy(s, r, 48);
        s[48] = 0;
        const char *p = s;
        while (*p == ' ') p++;
        if (*p) snprintf(out, len, "%s", p);
    }
#endif
}

re_status re_cpu_info_get(re_cpu_info *ci) {
    if (!ci) return re_fail(RE_ERR_ARG, "re_cpu_info_get: NULL info");
    memset(ci, 0, sizeof *ci);
    cpu_bits b;
    cpu_bits_get(&b);
    cpu_model_name(ci->model, sizeof ci->model);
    snprintf(ci->vendor, sizeof ci->vendor, "%s", b.vendor);
    ci->family = b.family;
    ci->model_id = b.model;
    ci->avx512f = b.avx512f;
    ci->avx512_bf16 = b.avx512_bf16;
    ci->amx_tile = b.amx_tile;
    ci->amx_bf16 = b.amx_bf16;
    snprintf(ci->dnnl_isa, sizeof ci->dnnl_isa, "%s", re_dnnl_available() ? re_dnnl_isa_name() : "none");
    re_dnnl_version_str(ci->dnnl_version, sizeof ci->dnnl_version);
    ci->amx_permission = amx_permission(&b, ci->amx_note, sizeof ci->amx_note);
    auto_rule(&ci->train_auto, &ci->infer_auto, ci->rule, sizeof ci->rule);
    return RE_OK;
}
