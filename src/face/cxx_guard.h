/*
 * cxx_guard.h - internal, C++ only: the exception barrier of the library's C++ files (dlib_bridge.cpp, faceid.cpp).
 * Every entry point they export to C runs its body through re_cxx_guarded, so no exception reaches C code.
 */
#ifndef RE_CXX_GUARD_H
#define RE_CXX_GUARD_H

#include <exception>
#include <new>

extern "C" {
#include "core/core.h"
}

/* body() (returning re_status) with every exception turned into a failure: out of memory with the message nomem,
 * any other as "what: <the exception's message>" or "what (unknown exception)". */
template <class Body> static re_status re_cxx_guarded(const char *nomem, const char *what, Body body) {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return re_fail(RE_ERR_NOMEM, "%s", nomem);
    } catch (const std::exception &e) {
        return re_fail(RE_ERR_BACKEND, "%s: %s", what, e.what());
    } catch (...) {
        return re_fail(RE_ERR_BACKEND, "%s (unknown exception)", what);
    }
}

#endif
