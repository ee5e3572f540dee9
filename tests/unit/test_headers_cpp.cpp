/*
 * test_headers_cpp.cpp - every public header compiles as C++ (extern "C" guards, no C-only syntax such as
 * designated initializers or VLAs in declarations) and links from C++: a C++ program can use libreenact.
 */
#include "reenact/anim.h"
#include "reenact/data.h"
#include "reenact/directions.h"
#include "reenact/face.h"
#include "reenact/faceid.h"
#include "reenact/media.h"
#include "reenact/metrics.h"
#include "reenact/reenact.h"

#include <cstdio>
#include <cstring>

int main() {
    int fails = 0;
    // a few calls through the C ABI from C++, with answers that can be wrong
    if (std::strcmp(re_version(), RE_VERSION_STRING) != 0) {
        std::fprintf(stderr, "FAIL: re_version() = %s, header says %s\n", re_version(), RE_VERSION_STRING);
        fails++;
    }
    re_anim_opts o;
    re_anim_opts_default(&o);
    if (o.render != RE_RENDER_PHOTO || o.strength != 1.0f) {
        std::fprintf(stderr, "FAIL: re_anim_opts_default from C++\n");
        fails++;
    }
    const float a[RE_FACEID_DIM] = {3.0f}, b[RE_FACEID_DIM] = {0.0f, 4.0f};
    if (re_faceid_distance(a, b) != 5.0f) {
        std::fprintf(stderr, "FAIL: re_faceid_distance = %g, want 5\n", (double)re_faceid_distance(a, b));
        fails++;
    }
    re_render *r = nullptr;
    if (re_render_create(&r, nullptr, nullptr, 64, nullptr) != RE_ERR_ARG || r != nullptr) {
        std::fprintf(stderr, "FAIL: re_render_create(NULL photo) from C++\n");
        fails++;
    }
    re_steer_opts so;
    re_steer_opts_default(&so);
    if (so.lips != 1.0f || so.attr_drive != 1 || re_attr_from_name("pitch") != RE_ATTR_PITCH) {
        std::fprintf(stderr, "FAIL: directions.h from C++\n");
        fails++;
    }
    if (fails) return 1;
    std::printf("ok: 5 checks (8 public headers compiled as C++)\n");
    return 0;
}
