#!/bin/bash
# test_install.sh CLI - `cmake --install` of the build that made CLI into a temporary prefix: the binary, headers,
# static and shared library, pkg-config file and bundled model land there; the installed binary, run from another
# directory without $REENACT_MODEL, finds its model; a program builds against the installed library with pkg-config
# (the shared library) and runs, and the same program links the static archive and runs.
# Skips (77) without pkg-config or a C compiler.
set -u
CLI=$(readlink -f "$1")
B=$(dirname "$CLI")
TMP=$(mktemp -d "${TMPDIR:-/tmp}/re_test_install.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
FAILS=0
CHECKS=0
check() { CHECKS=$((CHECKS + 1)); if eval "$1"; then echo "ok: $2"; else echo "FAIL: $2" >&2; FAILS=$((FAILS + 1)); fi; }
command -v pkg-config >/dev/null 2>&1 && command -v cc >/dev/null 2>&1 || { echo "SKIP: needs pkg-config and cc"; exit 77; }
P=$TMP/prefix
check 'cmake --install "$B" --prefix "$P" >"$TMP/install.txt" 2>&1' "cmake --install into a temporary prefix"
for f in bin/reenact include/reenact/reenact.h include/reenact/anim.h include/reenact/faceid.h lib/libreenact.a \
         include/reenact/dist.h include/reenact/live.h lib/pkgconfig/reenact.pc share/reenact/reenact-seed64.safetensors share/reenact/demo.motion; do
  check '[ -s "$P/$f" ]' "installed $f"
done
# the installed binary, elsewhere, finds its own model (../share/reenact next to it)
mkdir -p "$TMP/elsewhere"
check '(cd "$TMP/elsewhere" && env -u REENACT_MODEL "$P/bin/reenact" info >"$TMP/info.txt" 2>&1) && grep -q "share/reenact/reenact-seed64.safetensors" "$TMP/info.txt"' \
  "installed reenact info finds share/reenact from another directory ($(head -c 300 "$TMP/info.txt" 2>/dev/null))"
# a program against the installed library
cat >"$TMP/app.c" <<'APP'
#include <stdio.h>
#include <stdlib.h>
#include "reenact/reenact.h"
int main(int argc, char **argv) {
    re_model *m = NULL;
    if (argc < 2 || re_model_load(&m, argv[1]) != RE_OK) { fprintf(stderr, "load: %s\n", re_last_error()); return 1; }
    const re_config *c = re_model_config(m);
    re_runner *r = NULL;
    float *z = calloc((size_t)c->latent, sizeof *z), *x = malloc(sizeof(float) * 3 * c->res * c->res);
    if (re_runner_create(&r, m, 1) != RE_OK || re_decode(r, z, 1, x) != RE_OK) { fprintf(stderr, "%s\n", re_last_error()); return 1; }
    printf("latent %d res %d pixel %.3f\n", c->latent, c->res, x[0]);
    re_runner_free(r); re_model_free(m); free(z); free(x);
    return 0;
}
APP
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
check 'cc "$TMP/app.c" -o "$TMP/app" $(pkg-config --cflags --libs reenact) >"$TMP/cc.txt" 2>&1' \
  "an application builds with pkg-config --cflags --libs reenact ($(head -c 400 "$TMP/cc.txt" 2>/dev/null))"
export LD_LIBRARY_PATH="$P/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -e "$P/lib/libreenact.so" ]; then
  check 'ldd "$TMP/app" | grep -q "libreenact.so.0 => $P/lib/libreenact.so.0"' \
    "pkg-config links the shared library ($(ldd "$TMP/app" 2>&1 | grep reenact))"
fi
check '"$TMP/app" "$P/share/reenact/reenact-seed64.safetensors" >"$TMP/app.txt" 2>&1 && grep -q "latent 200 res 64" "$TMP/app.txt"' \
  "the application loads the installed model and decodes ($(cat "$TMP/app.txt" 2>/dev/null))"
# the same program against the static archive (no libreenact.so needed at run time)
check 'cc "$TMP/app.c" -o "$TMP/app_static" $(pkg-config --cflags reenact) -L"$P/lib" -Wl,-Bstatic -lreenact -Wl,-Bdynamic \
       $(pkg-config --libs reenact | sed "s/-lreenact//") >"$TMP/cc2.txt" 2>&1' \
  "the application links libreenact.a ($(head -c 400 "$TMP/cc2.txt" 2>/dev/null))"
check '! ldd "$TMP/app_static" | grep -q libreenact && env -u LD_LIBRARY_PATH "$TMP/app_static" "$P/share/reenact/reenact-seed64.safetensors" | grep -q "latent 200 res 64"' \
  "the static application runs without libreenact.so"
echo "$CHECKS checks, $FAILS failed"
[ "$FAILS" = 0 ]
