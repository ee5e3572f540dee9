/*
 * backend.c - the list of compute backend tables built into this library (backend.h) and the lookup that picks
 * one for a model's re_backend. The one place that knows which backends a build has.
 */
#include "backend/backend.h"

/* Most preferred first: RE_BACKEND_AUTO takes the first. One line per backend. */
static const re_compute_backend *const tables[] = {
#ifdef RE_HAVE_DNNL
    &re_backend_dnnl,
#endif
    &re_backend_ref,
};

const re_compute_backend *re_compute_backend_get(re_backend id) {
    const int n = (int)(sizeof tables / sizeof tables[0]);
    if (id == RE_BACKEND_AUTO) return tables[0];
    for (int i = 0; i < n; i++)
        if (tables[i]->id == id) return tables[i];
    return NULL;
}
