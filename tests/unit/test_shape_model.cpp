/*
 * test_shape_model.cpp - the shape predictor reader (src/face/shape_model.c) against dlib's own deserialize, and
 * the frontal face detector compiled into the library (tools/gen_frontal_detector.cpp) against
 * dlib::get_frontal_face_detector().
 *   1. A small synthetic predictor, written with dlib::serialize (awkward floats: zeros, subnormals, the largest
 *      float, full 24-bit mantissas), read back by both: every value bit-identical.
 *   2. Each refusal (version, mean shape size, incomplete or unequal trees, split and anchor indices, non-finite
 *      values, mismatched sets, old text floats, a sign on an unsigned integer, a huge count): RE_ERR_FORMAT with
 *      the expected message; every truncation of a valid file is refused too (ASan checks the reads in CI).
 *   3. The Debian model (skipped when absent): every one of its ~16 M values bit-identical to dlib's reading.
 *   4. The compiled-in detector bytes equal dlib::serialize(get_frontal_face_detector()).
 * With RE_WRITE_SHAPE_MODEL_CORPUS=DIR it also writes the seed corpus of tests/fuzz/fuzz_shape_model.c.
 */
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "re_test.h"
#include "reenact/face.h"

#ifdef RE_HAVE_DLIB
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>

#include "face/shape_model.h"

extern "C" {
extern const unsigned char re_frontal_detector_bytes[];
extern const size_t re_frontal_detector_size;
}

namespace {

/* The fields of dlib::shape_predictor (private there), in the order of its serialize. */
struct fields {
    int version = 1;
    dlib::matrix<float, 0, 1> mean;
    std::vector<std::vector<dlib::impl::regression_tree>> forests;
    std::vector<std::vector<unsigned long>> anchor_idx;
    std::vector<std::vector<dlib::vector<float, 2>>> deltas;
};

std::string write(const fields &f) {
    std::ostringstream os;
    dlib::serialize(f.version, os);
    dlib::serialize(f.mean, os);
    dlib::serialize(f.forests, os);
    dlib::serialize(f.anchor_idx, os);
    dlib::serialize(f.deltas, os);
    return os.str();
}

void read_dlib(std::istream &in, fields &f) {
    dlib::deserialize(f.version, in);
    dlib::deserialize(f.mean, in);
    dlib::deserialize(f.forests, in);
    dlib::deserialize(f.anchor_idx, in);
    dlib::deserialize(f.deltas, in);
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

/* Every value of m equals f's, bit for bit. Returns the number of values compared (0 on the first mismatch). */
size_t compare(const re_shape_model &m, const fields &f) {
    size_t n = 0;
    if ((long)f.mean.size() != RE_SHAPE_NPTS || m.nlevels != (int)f.forests.size()) return 0;
    for (int i = 0; i < RE_SHAPE_NPTS; i++, n++)
        if (!same_bits(m.mean[i], f.mean(i))) return 0;
    for (int c = 0; c < m.nlevels; c++) {
        const re_shape_level &L = m.levels[c];
        const auto &trees = f.forests[(size_t)c];
        if (L.ntree != (int)trees.size() || L.nfeat != (int)f.anchor_idx[(size_t)c].size() ||
            L.nfeat != (int)f.deltas[(size_t)c].size())
            return 0;
        for (int k = 0; k < L.ntree; k++) {
            const auto &t = trees[(size_t)k];
            if (L.nsplit != (int)t.splits.size() || L.nleaf != (int)t.leaf_values.size()) return 0;
            for (int i = 0; i < L.nsplit; i++, n++) {
                const re_shape_split &s = L.splits[(size_t)k * L.nsplit + i];
                if (s.a != t.splits[(size_t)i].idx1 || s.b != t.splits[(size_t)i].idx2 ||
                    !same_bits(s.thresh, t.splits[(size_t)i].thresh))
                    return 0;
            }
            for (int v = 0; v < L.nleaf; v++)
                for (int j = 0; j < RE_SHAPE_NPTS; j++, n++)
                    if (!same_bits(L.leaves[((size_t)k * L.nleaf + v) * RE_SHAPE_NPTS + j], t.leaf_values[(size_t)v](j)))
                        return 0;
        }
        for (int i = 0; i < L.nfeat; i++, n += 3)
            if (L.anchor[i] != f.anchor_idx[(size_t)c][(size_t)i] ||
                !same_bits(L.delta[2 * i], f.deltas[(size_t)c][(size_t)i].x()) ||
                !same_bits(L.delta[2 * i + 1], f.deltas[(size_t)c][(size_t)i].y()))
                return 0;
    }
    return n;
}

/* Floats that exercise the encoding: signs, zeros, subnormals, extremes, full 24-bit mantissas. */
float awkward(unsigned &seed, int i) {
    static const float special[] = {0.0f, -0.0f, 1e-45f, -1.17549435e-38f, 3.40282347e38f, -2.5f, 1.0f / 3.0f,
                                    16777215.0f, 0.1f, -1e-30f, 65536.0f, 1e30f};
    seed = seed * 1664525u + 1013904223u;
    if (i % 5 == 0) return special[(seed >> 8) % (sizeof special / sizeof *special)];
    return ((float)(int)(seed >> 9) - 4194304.0f) / 4194304.0f * std::ldexp(1.0f, (int)((seed >> 3) % 40) - 30);
}

/* A small valid predictor: two levels (depth 2 and 1), a few trees and feature pixels. */
fields synthetic() {
    fields f;
    unsigned seed = 12345u;
    int i = 0;
    f.mean.set_size(RE_SHAPE_NPTS);
    for (long j = 0; j < f.mean.size(); j++) f.mean(j) = awkward(seed, i++);
    const int depth[2] = {2, 1}, ntree[2] = {3, 2}, nfeat[2] = {7, 5};
    for (int c = 0; c < 2; c++) {
        std::vector<dlib::impl::regression_tree> trees((size_t)ntree[c]);
        for (auto &t : trees) {
            const int nleaf = 1 << depth[c];
            t.splits.resize((size_t)nleaf - 1);
            for (auto &s : t.splits) {
                s.idx1 = (unsigned long)(i++ % nfeat[c]);
                s.idx2 = (unsigned long)((i += 3) % nfeat[c]);
                s.thresh = awkward(seed, i++);
            }
            t.leaf_values.resize((size_t)nleaf);
            for (auto &v : t.leaf_values) {
                v.set_size(RE_SHAPE_NPTS);
                for (long j = 0; j < v.size(); j++) v(j) = awkward(seed, i++);
            }
        }
        f.forests.push_back(trees);
        std::vector<unsigned long> anchors;
        std::vector<dlib::vector<float, 2>> deltas;
        for (int k = 0; k < nfeat[c]; k++) {
            anchors.push_back((unsigned long)((k * 13 + c) % 68));
            deltas.push_back(dlib::vector<float, 2>(awkward(seed, i), awkward(seed, i + 1)));
            i += 2;
        }
        f.anchor_idx.push_back(anchors);
        f.deltas.push_back(deltas);
    }
    return f;
}

/* Parse bytes; returns the status and keeps the message in *msg. */
re_status parse(const std::string &b, re_shape_model *m, std::string *msg) {
    re_status s = re_shape_model_parse(m, b.data(), b.size(), "t.dat");
    *msg = s == RE_OK ? "" : re_last_error();
    return s;
}

void save(const char *dir, const char *name, const std::string &b) {
    re_test_save_corpus(dir, name, b.data(), b.size());
}

/* One refusal: the bytes are refused with RE_ERR_FORMAT and a message containing frag. */
void refuse(const char *what, const std::string &b, const char *frag, const char *corpus) {
    re_shape_model m;
    std::string msg;
    const re_status s = parse(b, &m, &msg);
    CHECK_MSG(s == RE_ERR_FORMAT && msg.find(frag) != std::string::npos && m.nlevels == 0 && m.levels == NULL,
              "%s: status %d, message '%s' (want RE_ERR_FORMAT and '%s')", what, (int)s, msg.c_str(), frag);
    std::string name = std::string("bad_") + what + ".dat";
    for (char &ch : name)
        if (ch == ' ') ch = '_';
    save(corpus, name.c_str(), b);
}

void test_synthetic(const char *corpus) {
    const fields f = synthetic();
    const std::string b = write(f);
    save(corpus, "valid.dat", b);
    /* dlib reads its own bytes back to the same values (a check of the harness itself) */
    fields back;
    std::istringstream is(b);
    read_dlib(is, back);
    re_shape_model m;
    std::string msg;
    CHECK_MSG(parse(b, &m, &msg) == RE_OK, "valid synthetic model refused: %s", msg.c_str());
    const size_t n = compare(m, back);
    CHECK_MSG(n > 2000, "synthetic model: values differ from dlib's reading (%zu compared)", n);
    CHECK(m.nlevels == 2 && m.levels[0].nleaf == 4 && m.levels[0].nsplit == 3 && m.levels[1].nleaf == 2 &&
          m.levels[0].ntree == 3 && m.levels[1].nfeat == 5);
    /* the extremes survived: subnormals are not flushed, the largest float is not infinite (dlib itself writes -0
     * as +0: its mantissa is the integer 0) */
    bool huge = false, subnormal = false;
    for (int c = 0; c < m.nlevels; c++)
        for (size_t j = 0; j < (size_t)m.levels[c].ntree * m.levels[c].nleaf * RE_SHAPE_NPTS; j++) {
            const float v = m.levels[c].leaves[j];
            huge |= v == 3.40282347e38f;
            subnormal |= v != 0.0f && std::fabs(v) < 1.17549435e-38f;
        }
    CHECK(huge && subnormal);
    re_shape_model_free(&m);
    CHECK(m.levels == NULL && m.nlevels == 0);

    /* trailing bytes are ignored, as dlib does */
    CHECK(parse(b + "trailing", &m, &msg) == RE_OK);
    re_shape_model_free(&m);

    /* every truncation is refused */
    int bad_trunc = 0;
    for (size_t k = 0; k < b.size(); k++) {
        const std::string t = b.substr(0, k);
        if (parse(t, &m, &msg) != RE_ERR_FORMAT || msg.find("t.dat") == std::string::npos) bad_trunc++;
        re_shape_model_free(&m);
    }
    CHECK_MSG(bad_trunc == 0, "%d of %zu truncations were not refused with RE_ERR_FORMAT", bad_trunc, b.size());
    save(corpus, "truncated.dat", b.substr(0, b.size() / 2));

    fields g;
    g = f, g.version = 2;
    refuse("version", write(g), "version 2", corpus);
    g = f, g.mean.set_size(134);
    refuse("mean size", write(g), "wrong size", corpus);
    g = f, g.forests[1][0].leaf_values[1].set_size(3);
    refuse("leaf size", write(g), "wrong size", corpus);
    g = f;
    g.forests[0][0].splits.resize(2);   /* 3 leaves: not a complete tree */
    g.forests[0][0].leaf_values.resize(3);
    refuse("three leaves", write(g), "power of 2", corpus);
    g = f, g.forests[0][2].splits.resize(1), g.forests[0][2].leaf_values.resize(2);
    refuse("unequal trees", write(g), "splits (want 3)", corpus);
    g = f, g.forests[0][1].leaf_values.resize(2);
    refuse("leaf count", write(g), "want 4 leaves", corpus);
    g = f, g.forests[1][1].splits[0].idx2 = 5;   /* level 1 has 5 feature pixels */
    refuse("split index", write(g), "split on features", corpus);
    g = f, g.forests[0][0].splits[1].thresh = NAN;
    refuse("nan threshold", write(g), "threshold", corpus);
    g = f, g.forests[0][1].leaf_values[2](7) = INFINITY;
    refuse("inf leaf", write(g), "non-finite leaf", corpus);
    g = f, g.anchor_idx[1][3] = 68;
    refuse("anchor", write(g), "is landmark 68", corpus);
    g = f, g.anchor_idx.pop_back();
    refuse("anchor sets", write(g), "anchor sets", corpus);
    g = f, g.deltas.push_back(g.deltas[0]);
    refuse("offset sets", write(g), "offset sets", corpus);
    g = f, g.deltas[0].pop_back();
    refuse("offsets", write(g), "feature offsets", corpus);
    g = f, g.forests.clear(), g.anchor_idx.clear(), g.deltas.clear();
    refuse("no levels", write(g), "no cascade", corpus);
    g = f, g.forests[1].clear();
    refuse("no trees", write(g), "no trees", corpus);
    g = f, g.anchor_idx[0].clear(), g.deltas[0].clear();
    refuse("no features", write(g), "no feature pixels", corpus);

    /* byte-level damage, at the position of the first level's tree count (right after the level count) */
    std::ostringstream head;
    dlib::serialize(1, head);
    dlib::serialize(f.mean, head);
    const std::string h = head.str();
    std::string t = h + std::string("\x01\x02", 2) + std::string("\x81\x03", 2);   /* 2 levels, a signed count */
    refuse("signed count", t, "malformed integer", corpus);
    t = h + std::string("\x08\xff\xff\xff\xff\xff\xff\xff\x7f", 9);   /* 2^63 - 1 levels */
    refuse("huge count", t, "larger than the file", corpus);
    t = h + std::string("\x01\x01", 2) + std::string("\x03\x00\x00\x01", 4);   /* 65536 trees in a tiny file */
    refuse("huge trees", t, "larger than the file", corpus);
    t = h;
    /* the mean's first float in dlib's old text encoding: the bytes after the two dimensions */
    std::ostringstream dims;
    dlib::serialize(1, dims);
    dlib::serialize(-(long)RE_SHAPE_NPTS, dims);
    dlib::serialize(-1L, dims);
    refuse("text float", dims.str() + "1.5 ", "old text encoding", corpus);
    refuse("empty", std::string(), "ends early", corpus);
    refuse("zero width", std::string("\x00", 1), "malformed integer", corpus);
}

/* The Debian model: all ~16 M values as dlib reads them. */
void test_debian_model() {
    const char *path = std::getenv("REENACT_DLIB_MODEL");
    if (!path || !path[0]) path = RE_FACE_DEFAULT_MODEL;
    FILE *fp = std::fopen(path, "rb");
    if (!fp) {
        std::printf("SKIP the dlib model comparison: '%s' is missing (Debian: apt-get install libdlib-data)\n", path);
        return;
    }
    std::fclose(fp);
    re_shape_model m;
    CHECK_OK(re_shape_model_load(&m, path));
    fields f;
    std::ifstream in(path, std::ios::binary);
    read_dlib(in, f);
    const size_t n = compare(m, f);
    CHECK_MSG(n > 16000000, "'%s': values differ from dlib's reading (%zu compared)", path, n);
    std::printf("%s: %d levels, %zu values bit-identical to dlib::deserialize\n", path, m.nlevels, n);
    re_shape_model_free(&m);
}

void test_frontal_detector() {
    std::ostringstream os;
    dlib::serialize(dlib::get_frontal_face_detector(), os);
    const std::string want = os.str();
    CHECK_MSG(want.size() == re_frontal_detector_size &&
                  std::memcmp(want.data(), re_frontal_detector_bytes, want.size()) == 0,
              "the compiled-in detector (%zu bytes) differs from get_frontal_face_detector() (%zu bytes)",
              re_frontal_detector_size, want.size());
}

}  // namespace

int main() {
    const char *corpus = std::getenv("RE_WRITE_SHAPE_MODEL_CORPUS");
    test_synthetic(corpus);
    test_debian_model();
    test_frontal_detector();
    RE_TEST_END();
}
#else
int main() {
    std::printf("SKIP test_shape_model: built without dlib\n");
    return 0;
}
#endif
