/*
 * train_viz.c - pictures written by `reenact train`: the sample grid (validation images above their
 * reconstructions, as the paper's figs. 3 and 5) and the loss-curve plot, drawn directly into a re_image with a
 * small 5x7 bitmap font (no plotting library). Also the in-memory loss history behind the plot, which a resumed
 * run rebuilds from metrics.jsonl.
 */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train.h"

/* ---- history --------------------------------------------------------------------------------------------- */

int hist_add_train(train_hist *h, hist_point p) {
    hist_point *v = cli_grow(h->tr, h->ntr, &h->cap_tr, sizeof *v, 256);
    if (!v) return -1;
    h->tr = v;
    h->tr[h->ntr++] = p;
    return 0;
}

int hist_add_val(train_hist *h, val_point p) {
    val_point *v = cli_grow(h->va, h->nva, &h->cap_va, sizeof *v, 64);
    if (!v) return -1;
    h->va = v;
    h->va[h->nva++] = p;
    return 0;
}

void hist_truncate(train_hist *h, int64_t step) {
    while (h->ntr && h->tr[h->ntr - 1].step > step) h->ntr--;
    while (h->nva && h->va[h->nva - 1].step > step) h->nva--;
}

void hist_free(train_hist *h) {
    free(h->tr);
    free(h->va);
    memset(h, 0, sizeof *h);
}

static float jnum(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? (float)json_number_value(v) : NAN;
}

void hist_load(train_hist *h, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        if (!o) continue;
        const char *type = json_string_value(json_object_get(o, "type"));
        json_t *js = json_object_get(o, "step");
        if (type && json_is_integer(js)) {
            int64_t step = (int64_t)json_integer_value(js);
            if (!strcmp(type, "train")) {
                hist_truncate(h, step - 1);   /* a rollback replays steps: keep the latest run of them */
                hist_point p = {step, jnum(o, "rec"), jnum(o, "kl"), jnum(o, "adv"), jnum(o, "fm"), jnum(o, "d")};
                hist_add_train(h, p);
            } else if (!strcmp(type, "val")) {
                while (h->nva && h->va[h->nva - 1].step >= step) h->nva--;
                val_point p = {step, jnum(o, "rec"), jnum(o, "kl")};
                hist_add_val(h, p);
            }
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
}

/* ---- drawing --------------------------------------------------------------------------------------------- */

/* 5x7 glyphs, one byte per row (bit 4 = leftmost column). */
static const struct { char c; uint8_t rows[7]; } k_font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},                {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},       {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},
    {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},       {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'_', {0, 0, 0, 0, 0, 0, 0x1F}},                   {',', {0, 0, 0, 0, 0x0C, 0x04, 0x08}},
    {'a', {0, 0, 0x0E, 0x01, 0x0F, 0x11, 0x0F}},       {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}},
    {'c', {0, 0, 0x0E, 0x10, 0x10, 0x11, 0x0E}},       {'d', {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}},
    {'e', {0, 0, 0x0E, 0x11, 0x1F, 0x10, 0x0E}},       {'f', {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}},
    {'g', {0, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}},    {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'i', {0x04, 0, 0x0C, 0x04, 0x04, 0x04, 0x0E}},    {'j', {0x02, 0, 0x06, 0x02, 0x02, 0x12, 0x0C}},
    {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}}, {'l', {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'m', {0, 0, 0x1A, 0x15, 0x15, 0x11, 0x11}},       {'n', {0, 0, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'o', {0, 0, 0x0E, 0x11, 0x11, 0x11, 0x0E}},       {'p', {0, 0, 0x1E, 0x11, 0x1E, 0x10, 0x10}},
    {'q', {0, 0, 0x0D, 0x13, 0x0F, 0x01, 0x01}},       {'r', {0, 0, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'s', {0, 0, 0x0E, 0x10, 0x0E, 0x01, 0x1E}},       {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}},
    {'u', {0, 0, 0x11, 0x11, 0x11, 0x13, 0x0D}},       {'v', {0, 0, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'w', {0, 0, 0x11, 0x11, 0x15, 0x15, 0x0A}},       {'x', {0, 0, 0x11, 0x0A, 0x04, 0x0A, 0x11}},
    {'y', {0, 0, 0x11, 0x11, 0x0F, 0x01, 0x0E}},       {'z', {0, 0, 0x1F, 0x02, 0x04, 0x08, 0x1F}},
};

static void put_px(re_image *img, int x, int y, const uint8_t c[3]) {
    if (x < 0 || y < 0 || x >= img->w || y >= img->h) return;
    memcpy(img->data + (size_t)y * img->stride + (size_t)x * 3, c, 3);
}

void viz_text(re_image *img, int x, int y, const char *s, const uint8_t rgb[3], int scale) {
    for (; *s; s++, x += 6 * scale) {
        char c = (char)tolower((unsigned char)*s);
        const uint8_t *rows = NULL;
        for (size_t i = 0; i < sizeof k_font / sizeof *k_font; i++)
            if (k_font[i].c == c) rows = k_font[i].rows;
        if (!rows) continue;   /* space and unknown characters */
        for (int r = 0; r < 7; r++)
            for (int b = 0; b < 5; b++)
                if (rows[r] & (0x10 >> b))
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++) put_px(img, x + b * scale + dx, y + r * scale + dy, rgb);
    }
}

static void line(re_image *img, int x0, int y0, int x1, int y1, const uint8_t c[3], int thick) {
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
        for (int t = 0; t < thick; t++) put_px(img, x0, y0 + t, c);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) { err += dy; x0 += sx; }
        if (e2 <= dx) { err += dx; y0 += sy; }
    }
}

static void fill(re_image *img, int x0, int y0, int x1, int y1, const uint8_t c[3]) {
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) put_px(img, x, y, c);
}

typedef struct series {
    const char *name;
    uint8_t color[3];
    int thick;
} series;

/* Value of series k at train point i (k < 5) or validation point (k == 5). */
static float series_val(const train_hist *h, int k, size_t i) {
    if (k == 5) return h->va[i].rec;
    const hist_point *p = &h->tr[i];
    switch (k) {
    case 0: return p->rec;
    case 1: return p->kl;
    case 2: return p->adv;
    case 3: return p->fm;
    default: return p->d;
    }
}

static double nice_step(double range, int target) {
    double raw = range / target, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

re_status viz_loss_plot(const train_hist *h, const char *path, int logy, int vaegan) {
    const int W = 760, H = 440, L = 80, R = 150, T = 34, B = 46;
    const int pw = W - L - R, ph = H - T - B;
    static const series ser[6] = {
        {"train rec", {214, 39, 40}, 2}, {"train kl", {31, 119, 180}, 2}, {"train adv", {44, 160, 44}, 1},
        {"train fm", {148, 103, 189}, 1}, {"train d", {255, 127, 14}, 1}, {"val rec", {0, 0, 0}, 3}};
    int show[6] = {1, 1, vaegan, vaegan, vaegan, 1};
    re_image img = {0};
    re_status s = re_image_alloc(&img, W, H);
    if (s) return s;
    memset(img.data, 255, (size_t)img.stride * H);
    const uint8_t black[3] = {0, 0, 0}, grey[3] = {225, 225, 225}, dark[3] = {90, 90, 90};
    int64_t xmax = 1;
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < 6; k++) {
        if (!show[k]) continue;
        size_t n = k == 5 ? h->nva : h->ntr;
        for (size_t i = 0; i < n; i++) {
            double v = series_val(h, k, i);
            int64_t st = k == 5 ? h->va[i].step : h->tr[i].step;
            if (!isfinite(v) || (logy && v <= 0)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            if (st > xmax) xmax = st;
        }
    }
    char buf[64];
    snprintf(buf, sizeof buf, "loss curves (%s y)", logy ? "log" : "linear");
    viz_text(&img, L, 10, buf, black, 2);
    if (!(lo <= hi)) { lo = logy ? 0.1 : 0; hi = 1; }
    double ylo, yhi;
    if (logy) {
        ylo = floor(log10(lo) * 4) / 4;   /* quarter decades */
        yhi = ceil(log10(hi) * 4) / 4;
        if (yhi - ylo < 0.5) { ylo -= 0.25; yhi += 0.25; }
    } else {
        double st = nice_step(hi - lo > 0 ? hi - lo : 1, 5);
        ylo = floor(lo / st) * st;
        yhi = ceil(hi / st) * st;
        if (yhi <= ylo) yhi = ylo + st;
    }
#define PX(step) (L + (int)((double)(step) / (double)xmax * (pw - 1) + 0.5))
#define PY(v) (T + ph - 1 - (int)(((logy ? log10(v) : (v)) - ylo) / (yhi - ylo) * (ph - 1) + 0.5))
    /* Grid and tick labels. */
    if (logy) {
        for (int e = (int)floor(ylo); e <= (int)ceil(yhi); e++)
            for (int m = 1; m <= 9; m++) {
                double v = m * pow(10, e), lv = log10(v);
                if (lv < ylo - 1e-9 || lv > yhi + 1e-9) continue;
                int y = PY(v);
                int major = m == 1 || (yhi - ylo < 2 && (m == 2 || m == 5));
                if (m == 1 || major) line(&img, L, y, L + pw - 1, y, grey, 1);
                if (major) {
                    snprintf(buf, sizeof buf, "%.3g", v);
                    viz_text(&img, L - 6 - 6 * (int)strlen(buf), y - 3, buf, dark, 1);
                }
            }
    } else {
        double st = nice_step(yhi - ylo, 5);
        for (double v = ylo; v <= yhi + st * 1e-6; v += st) {
            int y = PY(v);
            line(&img, L, y, L + pw - 1, y, grey, 1);
            snprintf(buf, sizeof buf, "%.3g", fabs(v) < st * 1e-6 ? 0.0 : v);
            viz_text(&img, L - 6 - 6 * (int)strlen(buf), y - 3, buf, dark, 1);
        }
    }
    double xs = nice_step((double)xmax, 6);
    for (double v = 0; v <= (double)xmax + 1e-9; v += xs) {
        int x = PX(v);
        line(&img, x, T, x, T + ph - 1, grey, 1);
        snprintf(buf, sizeof buf, "%.0f", v);
        viz_text(&img, x - 3 * (int)strlen(buf), T + ph + 6, buf, dark, 1);
    }
    viz_text(&img, L + pw / 2 - 12, T + ph + 22, "step", black, 1);
    line(&img, L, T, L, T + ph - 1, black, 1);
    line(&img, L, T + ph - 1, L + pw - 1, T + ph - 1, black, 1);
    /* Series (a gap where a value is missing or not plottable). */
    for (int k = 0; k < 6; k++) {
        if (!show[k]) continue;
        size_t n = k == 5 ? h->nva : h->ntr;
        int have = 0, px = 0, py = 0;
        for (size_t i = 0; i < n; i++) {
            double v = series_val(h, k, i);
            int64_t st = k == 5 ? h->va[i].step : h->tr[i].step;
            if (!isfinite(v) || (logy && v <= 0)) { have = 0; continue; }
            int x = PX(st), y = PY(v);
            if (y < T) y = T;
            if (y > T + ph - 1) y = T + ph - 1;
            if (have) line(&img, px, py, x, y, ser[k].color, ser[k].thick);
            else fill(&img, x - 1, y - 1, x + 2, y + 2, ser[k].color);
            px = x, py = y, have = 1;
        }
    }
#undef PX
#undef PY
    /* Legend. */
    int ly = T + 6;
    for (int k = 0; k < 6; k++) {
        if (!show[k]) continue;
        fill(&img, L + pw + 12, ly + 1, L + pw + 28, ly + 1 + 2 * ser[k].thick, ser[k].color);
        viz_text(&img, L + pw + 34, ly - 2, ser[k].name, black, 1);
        ly += 16;
    }
    s = re_image_save_png(&img, path);
    re_image_free(&img);
    return s;
}

re_status viz_sample_grid(const float *x, const float *xr, int n, int res, const char *path) {
    int sc = res >= 64 ? 1 : (64 + res - 1) / res;
    int cell = res * sc, pad = 2;
    re_image img = {0}, one = {0};
    re_status s = re_image_alloc(&img, n * (cell + pad) + pad, 2 * (cell + pad) + pad);
    if (s) return s;
    memset(img.data, 255, (size_t)img.stride * img.h);
    const size_t per = (size_t)3 * res * res;
    for (int row = 0; row < 2 && !s; row++)
        for (int i = 0; i < n && !s; i++) {
            s = re_image_from_chw(&one, (row ? xr : x) + (size_t)i * per, res, res);
            if (s) break;
            int ox = pad + i * (cell + pad), oy = pad + row * (cell + pad);
            for (int y = 0; y < cell; y++)
                for (int xx = 0; xx < cell; xx++)
                    memcpy(img.data + (size_t)(oy + y) * img.stride + (size_t)(ox + xx) * 3,
                           one.data + (size_t)(y / sc) * one.stride + (size_t)(xx / sc) * 3, 3);
        }
    if (!s) s = re_image_save_png(&img, path);
    re_image_free(&one);
    re_image_free(&img);
    return s;
}
