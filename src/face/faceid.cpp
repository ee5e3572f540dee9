/*
 * faceid.cpp - re_faceid (include/reenact/faceid.h): the dlib DNN face-recognition network of Cydral/BAREL
 * (`face_recognition_densenet_model_v1.dat`, see ../shared/models/face-id/README.md) behind a C interface.
 * Every entry point catches every exception; none reaches C code. All of the network's template instantiation is in
 * this file (dlib DNN types take a while to compile).
 *
 * The network type must be exactly the one the file was saved from, layer by layer, or dlib's deserialization
 * throws serialization_error (it checks every layer's name, filter counts, kernel sizes, strides and paddings), which
 * is how a wrong type or a different network shows up: RE_ERR_FORMAT. The file holds the training form (batch norm
 * `bn_con`); the type below has `affine` in its place, which dlib fills from the batch-norm statistics while
 * deserializing (the inference form: no batch statistics, no running-average update).
 *
 * Built only when CMake finds dlib (pkg-config dlib-1); without it faceid_stub.c provides the API. Debian's dlib is a
 * CPU build (no DLIB_USE_CUDA), so the network runs on the CPU: dlib's own layer code plus BLAS (OpenBLAS) for the
 * convolutions.
 */
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <dlib/dnn.h>
#include <dlib/image_processing/full_object_detection.h>
#include <dlib/image_transforms/interpolation.h>

extern "C" {
#include "core/core.h"
}
#include "face/cxx_guard.h"
#include "reenact/face.h"
#include "reenact/faceid.h"

static_assert(RE_FACE_LANDMARKS == 68, "the chip recipe needs dlib's 68-point layout");

#include "face/dlib_view.h"

namespace {

static_assert(sizeof(dlib::rgb_pixel) == 3, "dlib::rgb_pixel must be 3 packed bytes to view a re_image");

/* ---- The network: BAREL's inference form `model::feats_std` --------------------------------------------------
 * DenseNet, growth rate K = 16, dense blocks of 3, 6, 12 and 8 layers.
 *   stem:        conv 7x7 stride 2 (2K filters, padding 3) -> BN -> relu -> max pool 3x3 stride 2 padding 1
 *   dense layer: BN -> relu -> conv 1x1 (4K) -> BN -> relu -> conv 3x3 (K, padding 1), concatenated after its input
 *                (channels: input first, then the K new ones)
 *   transition:  BN -> relu -> conv 1x1 halving the channels -> average pool 2x2 stride 2
 *   head:        BN -> relu -> global average pool -> fully connected 128, no bias; loss_metric (Euclidean)
 * Channels: stem 32; block 1 -> 32 + 3*16 = 80, transition -> 40; block 2 -> 136 -> 68; block 3 -> 260 -> 130;
 * block 4 -> 258. BN is `affine` (see the file comment). */
constexpr long K = 16;

/* conv with "same" padding (kernel/2), as the network's authors define it */
template <long filters, long ksize, int stride, typename SUBNET>
using conv_same = dlib::add_layer<dlib::con_<filters, ksize, ksize, stride, stride, ksize / 2, ksize / 2>, SUBNET>;

template <typename SUBNET> using bn_relu = dlib::relu<dlib::affine<SUBNET>>;

template <typename INPUT>
using stem = dlib::add_layer<dlib::max_pool_<3, 3, 2, 2, 1, 1>, bn_relu<conv_same<2 * K, 7, 2, INPUT>>>;

template <typename SUBNET>
using dense_layer = dlib::concat2<dlib::tag1, dlib::tag2,
                                  dlib::tag2<conv_same<K, 3, 1, bn_relu<conv_same<4 * K, 1, 1,
                                  bn_relu<dlib::tag1<SUBNET>>>>>>>;

template <long filters, typename SUBNET>
using transition = dlib::avg_pool<2, 2, 2, 2, dlib::con<filters, 1, 1, 1, 1, bn_relu<SUBNET>>>;

/* Blocks of n1 (first) .. n4 (last) dense layers; each transition halves the channels it gets. */
template <long n1, long n2, long n3, long n4, typename INPUT>
using backbone = bn_relu<
    dlib::repeat<n4, dense_layer, transition<K * (2 + n1 + 2 * n2 + 4 * n3) / 8,
    dlib::repeat<n3, dense_layer, transition<K * (2 + n1 + 2 * n2) / 4,
    dlib::repeat<n2, dense_layer, transition<K * (2 + n1) / 2,
    dlib::repeat<n1, dense_layer, stem<INPUT>>>>>>>>>;

using faceid_net = dlib::loss_metric<dlib::fc_no_bias<RE_FACEID_DIM, dlib::avg_pool_everything<
    backbone<3, 6, 12, 8, dlib::input_rgb_image>>>>;

typedef dlib::matrix<dlib::rgb_pixel> chip_image;
typedef dlib::matrix<float, 0, 1> embedding;

}  // namespace

struct re_faceid {
    faceid_net net;
    std::string path;                 /* for error messages */
    chip_image chip;                  /* the current input, reused between calls */
};

namespace {

re_status check_image(const re_image *img, const char *fn) {
    if (!img || !img->data || img->w <= 0 || img->h <= 0 || img->stride < 3 * img->w)
        return re_fail(RE_ERR_ARG, "%s: invalid image (%dx%d, stride %d)", fn, img ? img->w : 0, img ? img->h : 0,
                       img ? img->stride : 0);
    return RE_OK;
}

/* The landmarks as dlib's shape predictor would give them: whole pixels. Refuses landmarks the chip recipe cannot
 * use: non-finite, collapsed onto (nearly) one point, or so far outside the image that the chip would be all border
 * (beyond 4x the image's longest side). */
re_status make_shape(const re_image *img, const float lm[68][2], dlib::full_object_detection &shape,
                     const char *fn) {
    if (!lm) return re_fail(RE_ERR_ARG, "%s: lm is NULL", fn);
    const double lim = 4.0 * (img->w > img->h ? img->w : img->h);
    double x0 = HUGE_VAL, y0 = HUGE_VAL, x1 = -HUGE_VAL, y1 = -HUGE_VAL;
    std::vector<dlib::point> parts(68);
    for (int i = 0; i < 68; i++) {
        const double x = lm[i][0], y = lm[i][1];
        if (!std::isfinite(x) || !std::isfinite(y))
            return re_fail(RE_ERR_ARG, "%s: landmark %d is not finite", fn, i);
        if (x < -lim || y < -lim || x > img->w + lim || y > img->h + lim)
            return re_fail(RE_ERR_ARG, "%s: landmark %d (%g, %g) is far outside the %dx%d image", fn, i, x, y,
                           img->w, img->h);
        x0 = std::fmin(x0, x);
        y0 = std::fmin(y0, y);
        x1 = std::fmax(x1, x);
        y1 = std::fmax(y1, y);
        parts[i] = dlib::point((long)std::floor(x + 0.5), (long)std::floor(y + 0.5));
    }
    if (x1 - x0 < 2 && y1 - y0 < 2)
        return re_fail(RE_ERR_ARG, "%s: the 68 landmarks are collapsed (all within %.2g x %.2g px)", fn,
                       x1 - x0, y1 - y0);
    const dlib::rectangle box((long)std::floor(x0), (long)std::floor(y0), (long)std::ceil(x1), (long)std::ceil(y1));
    shape = dlib::full_object_detection(box, parts);
    return RE_OK;
}

/* The network's 150x150 input for one face: the authors' recipe (see faceid.h). */
re_status cut_chip(const re_image *img, const float lm[68][2], chip_image &chip, const char *fn) {
    re_status st = check_image(img, fn);
    if (st != RE_OK) return st;
    dlib::full_object_detection shape;
    if ((st = make_shape(img, lm, shape, fn)) != RE_OK) return st;
    const re_dlib::view<dlib::rgb_pixel> v = {img->data, img->w, img->h, img->stride};
    chip.set_size(RE_FACEID_CHIP, RE_FACEID_CHIP);
    dlib::extract_image_chip(v, dlib::get_face_chip_details(shape, RE_FACEID_CHIP, RE_FACEID_PADDING), chip);
    return RE_OK;
}

/* Run the network on f->chip and write the embedding to out; checks the output's size and finiteness.
 * (Batching several chips into one forward was measured: no faster on the CPU, where dlib convolves sample by
 * sample, so the API has no batch call.) */
re_status forward(re_faceid *f, float out[RE_FACEID_DIM], const char *fn) {
    const embedding &e = f->net(f->chip);
    if (e.size() != RE_FACEID_DIM)
        return re_fail(RE_ERR_BACKEND, "%s: face-id network '%s' gave %ld values (want %d)", fn, f->path.c_str(),
                       (long)e.size(), RE_FACEID_DIM);
    for (long j = 0; j < RE_FACEID_DIM; j++) {
        if (!std::isfinite(e(j)))
            return re_fail(RE_ERR_BACKEND, "%s: face-id network '%s' gave a non-finite value", fn, f->path.c_str());
        out[j] = e(j);
    }
    return RE_OK;
}

/* Every dlib DNN file starts with the loss layer: dlib's int encoding of version 1 (bytes 01 01), then the loss
 * layer's name as a dlib string (a length byte pair 01 nn, then the characters). This network's is
 * "loss_metric_2"; accept any "loss_metric_*" and let dlib judge the rest. Refusing other files here keeps random
 * data away from dlib's deserializer (which would size buffers from it). */
re_status check_magic(std::ifstream &in, const char *path) {
    static const char want[] = "\x01\x01\x01";
    static const char name[] = "loss_metric_";
    char head[4 + sizeof name - 1];
    in.read(head, sizeof head);
    const std::streamsize got = in.gcount();
    if (got < (std::streamsize)sizeof head || std::memcmp(head, want, 3) != 0 ||
        (unsigned char)head[3] < sizeof name - 1 || std::memcmp(head + 4, name, sizeof name - 1) != 0)
        return re_fail(RE_ERR_FORMAT, "face-id model '%s' is not a dlib face-recognition network file (it does not "
                       "start with a loss_metric layer%s)", path, got < (std::streamsize)sizeof head ?
                       "; the file is too short" : "");
    in.clear();
    in.seekg(0);
    if (!in) return re_fail(RE_ERR_IO, "face-id model '%s': cannot seek back to its start", path);
    return RE_OK;
}

re_status load(re_faceid *f, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return re_fail(RE_ERR_IO, "face-id model '%s' cannot be opened: %s (the network is "
                       "face_recognition_densenet_model_v1.dat, see ../shared/models/face-id/README.md)", path,
                       std::strerror(errno));
    if (S_ISDIR(sb.st_mode)) return re_fail(RE_ERR_IO, "face-id model '%s' is a directory, not a file", path);
    std::ifstream in(path, std::ios::binary);
    if (!in) return re_fail(RE_ERR_IO, "face-id model '%s' cannot be opened: %s", path, std::strerror(errno));
    re_status st = check_magic(in, path);
    if (st != RE_OK) return st;
    try {
        dlib::deserialize(f->net, in);
    } catch (const std::bad_alloc &) {
        return re_fail(RE_ERR_NOMEM, "face-id model '%s': out of memory while reading it (a corrupt file can ask for "
                       "huge tensors)", path);
    } catch (const dlib::serialization_error &e) {
        return re_fail(RE_ERR_FORMAT, "face-id model '%s' is not the DenseNet face-recognition network (BAREL "
                       "face_recognition_densenet_model_v1.dat), or is truncated or corrupt: dlib says: %s", path,
                       e.what());
    } catch (const std::exception &e) {
        return re_fail(RE_ERR_FORMAT, "face-id model '%s' could not be read as the DenseNet face-recognition "
                       "network: %s", path, e.what());
    }
    const long outs = (long)dlib::layer<1>(f->net).layer_details().get_num_outputs();
    if (outs != RE_FACEID_DIM)
        return re_fail(RE_ERR_FORMAT, "face-id model '%s' gives %ld-d embeddings (want %d)", path, outs,
                       RE_FACEID_DIM);
    /* one forward on a mid-gray chip: the weights must give RE_FACEID_DIM finite values */
    f->chip.set_size(RE_FACEID_CHIP, RE_FACEID_CHIP);
    f->chip = dlib::rgb_pixel(128, 128, 128);
    float probe[RE_FACEID_DIM];
    st = forward(f, probe, "re_faceid_open");
    if (st != RE_OK)
        return re_fail(RE_ERR_FORMAT, "face-id model '%s' loads but does not give %d finite values on a test chip",
                       path, RE_FACEID_DIM);
    return RE_OK;
}

re_status backend_error(const re_faceid *f, const char *fn, const char *what) {
    return re_fail(RE_ERR_BACKEND, "%s: face-id network '%s' failed: %s", fn, f->path.c_str(), what);
}

/* body() (returning re_status) for the entry point fn on network f, an exception turned into fn's failure. */
template <class Body> re_status guarded(const re_faceid *f, const char *fn, Body body) {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return re_fail(RE_ERR_NOMEM, "%s: out of memory", fn);
    } catch (const std::exception &e) {
        return backend_error(f, fn, e.what());
    } catch (...) {
        return backend_error(f, fn, "unknown exception");
    }
}

}  // namespace

extern "C" {

re_status re_faceid_open(re_faceid **f, const char *path) {
    if (!f) return re_fail(RE_ERR_ARG, "re_faceid_open: f is NULL");
    *f = NULL;
    if (!path || !path[0]) path = std::getenv("REENACT_FACEID_MODEL");
    if (!path || !path[0])
        return re_fail(RE_ERR_ARG, "re_faceid_open: no model path given and $REENACT_FACEID_MODEL is not set (the "
                       "network is face_recognition_densenet_model_v1.dat, see ../shared/models/face-id/README.md)");
    re_faceid *s = NULL;
    char nomem[1200], what[1200];
    snprintf(nomem, sizeof nomem, "face-id model '%.1024s': out of memory", path);
    snprintf(what, sizeof what, "face-id model '%.1024s': dlib failed", path);
    const re_status st = re_cxx_guarded(nomem, what, [&] {
        s = new re_faceid();
        s->path = path;
        return load(s, path);
    });
    if (st != RE_OK) {
        re_faceid_free(s);
        return st;
    }
    *f = s;
    return RE_OK;
}

void re_faceid_free(re_faceid *f) {
    try {
        delete f;
    } catch (...) {
    }
}

re_status re_faceid_embed(re_faceid *f, const re_image *img, const float lm[68][2], float out[RE_FACEID_DIM]) {
    static const char fn[] = "re_faceid_embed";
    if (!f || !out) return re_fail(RE_ERR_ARG, "%s: %s is NULL", fn, !f ? "f" : "out");
    return guarded(f, fn, [&] {
        const re_status st = cut_chip(img, lm, f->chip, fn);
        return st != RE_OK ? st : forward(f, out, fn);
    });
}

re_status re_faceid_chip(const re_image *img, const float lm[68][2], re_image *chip) {
    static const char fn[] = "re_faceid_chip";
    if (!chip) return re_fail(RE_ERR_ARG, "%s: chip is NULL", fn);
    return re_cxx_guarded("re_faceid_chip: out of memory", "re_faceid_chip: dlib failed", [&] {
        chip_image c;
        re_status st = cut_chip(img, lm, c, fn);
        if (st != RE_OK) return st;
        if (chip->data && chip->w == RE_FACEID_CHIP && chip->h == RE_FACEID_CHIP && chip->stride >= 3 * chip->w) {
            /* reuse */
        } else if (chip->data && !chip->owns_data) {
            return re_fail(RE_ERR_ARG, "%s: chip does not own its %dx%d buffer and is not %dx%d", fn, chip->w,
                           chip->h, RE_FACEID_CHIP, RE_FACEID_CHIP);
        } else {
            re_image_free(chip);
            if ((st = re_image_alloc(chip, RE_FACEID_CHIP, RE_FACEID_CHIP)) != RE_OK) return st;
        }
        for (long y = 0; y < RE_FACEID_CHIP; y++) {
            uint8_t *row = chip->data + (size_t)y * (size_t)chip->stride;
            for (long x = 0; x < RE_FACEID_CHIP; x++) {
                const dlib::rgb_pixel &p = c(y, x);
                row[3 * x] = p.red;
                row[3 * x + 1] = p.green;
                row[3 * x + 2] = p.blue;
            }
        }
        return RE_OK;
    });
}

re_status re_faceid_embed_chip(re_faceid *f, const re_image *chip, float out[RE_FACEID_DIM]) {
    static const char fn[] = "re_faceid_embed_chip";
    if (!f || !out) return re_fail(RE_ERR_ARG, "%s: %s is NULL", fn, !f ? "f" : "out");
    re_status st = check_image(chip, fn);
    if (st != RE_OK) return st;
    if (chip->w != RE_FACEID_CHIP || chip->h != RE_FACEID_CHIP)
        return re_fail(RE_ERR_ARG, "%s: the chip is %dx%d (want %dx%d, from re_faceid_chip)", fn, chip->w, chip->h,
                       RE_FACEID_CHIP, RE_FACEID_CHIP);
    return guarded(f, fn, [&] {
        chip_image &c = f->chip;
        c.set_size(RE_FACEID_CHIP, RE_FACEID_CHIP);
        for (long y = 0; y < RE_FACEID_CHIP; y++) {
            const uint8_t *row = chip->data + (size_t)y * (size_t)chip->stride;
            for (long x = 0; x < RE_FACEID_CHIP; x++) c(y, x) = dlib::rgb_pixel(row[3 * x], row[3 * x + 1], row[3 * x + 2]);
        }
        return forward(f, out, fn);
    });
}

}  // extern "C"
