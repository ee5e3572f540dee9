#!/bin/bash
# test_exports.sh - the symbols libreenact.so exports are exactly the public API (issue 18): every defined dynamic
# symbol must be a function declared in include/reenact/*.h (all named re_*), and every function declared there must
# be exported. Also flags a public declaration that lacks RE_API (the mark that exports it, include/reenact/reenact.h).
# The declarations are read from the C preprocessor's output of all public headers, so comments, #if branches and
# declarations over several lines read as the compiler reads them.
#
# usage: test_exports.sh LIBRARY.so INCLUDE_DIR CC NM [OPTIONAL_PREFIX...]
#   OPTIONAL_PREFIX: public functions this build may leave out (re_video_ and re_audio_ without FFmpeg, media.h).
# Prints the number of exported functions, or each offender; exits 1 on a mismatch, 77 (skipped) without the tools.
set -u
export LC_ALL=C   # one collation for sort and comm
SO=${1:?usage: test_exports.sh LIBRARY.so INCLUDE_DIR CC NM [OPTIONAL_PREFIX...]}
INC=${2:?include dir}
CC=${3:?C compiler}
NM=${4:?nm}
shift 4
OPTIONAL=("$@")
[ -r "$SO" ] || { echo "FAIL: $SO not found (build the target reenact_shared)"; exit 1; }
command -v "$NM" >/dev/null 2>&1 || { echo "SKIP: nm ($NM) not found"; exit 77; }
command -v "$CC" >/dev/null 2>&1 || { echo "SKIP: C compiler ($CC) not found"; exit 77; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/re_test_exports.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# ---- the public declarations: every header, preprocessed with RE_API as a marker token
: >"$TMP/all.c"
for h in "$INC"/reenact/*.h; do echo "#include \"reenact/$(basename "$h")\"" >>"$TMP/all.c"; done
if ! "$CC" -E -I"$INC" -DRE_API=RE_API_MARK "$TMP/all.c" >"$TMP/pp_all.c" 2>"$TMP/cc.txt"; then
  echo "FAIL: the public headers do not preprocess:"; cat "$TMP/cc.txt"; exit 1
fi
# keep the text of reenact/*.h only (the line markers say which file each line comes from), not the system headers'
awk '/^# [0-9]+ "/ { mine = ($3 ~ /reenact\/[^\/]*\.h"$/); next } mine' "$TMP/pp_all.c" >"$TMP/pp.c"
# one statement per line (split at ; { }), function-pointer names "(*x)" reduced to "(*)"; a statement whose first
# "(" follows an identifier and is not "(*" declares a function, that identifier. Its RE_API shows as the marker.
tr '\n' ' ' <"$TMP/pp.c" | tr ';{}' '\n\n\n' | sed -E 's/\(\s*\*\s*[A-Za-z_][A-Za-z0-9_]*\s*\)/(*)/g' \
  | grep -E '^[^(]*[A-Za-z0-9_]\s*\(\s*[^*[:space:]]' | grep -vE '^\s*typedef[^A-Za-z0-9_]' >"$TMP/decls.txt"
name_of() { sed -E 's/^([^(]*)\(.*$/\1/; s/\s+$//; s/^.*[^A-Za-z0-9_]//' | sort -u; }
name_of <"$TMP/decls.txt" >"$TMP/declared.txt"
grep -v 'RE_API_MARK' "$TMP/decls.txt" | name_of >"$TMP/unmarked.txt"

# ---- what the library exports (defined dynamic symbols; version suffixes dropped; the linker's own markers ignored)
"$NM" -D --defined-only "$SO" | awk 'NF >= 3 {print $2, $3}' | sed -E 's/@.*$//' >"$TMP/nm.txt"
awk '{print $2}' "$TMP/nm.txt" | grep -vxE '_init|_fini|_edata|_end|__bss_start' | sort -u >"$TMP/exported.txt"
NF_FUNCS=$(awk '$1 ~ /^[TtWi]$/' "$TMP/nm.txt" | wc -l)

FAIL=0
n_decl=$(wc -l <"$TMP/declared.txt")
n_exp=$(wc -l <"$TMP/exported.txt")
echo "public functions declared in $INC/reenact/*.h: $n_decl"
echo "symbols exported by $(basename "$SO"): $n_exp ($NF_FUNCS functions)"
[ "$n_decl" -gt 100 ] || { echo "FAIL: only $n_decl declarations found: the header parsing is broken"; FAIL=1; }

bad=$(grep -v '^re_' "$TMP/declared.txt")
[ -z "$bad" ] || { echo "FAIL: public functions not named re_*:"; echo "$bad" | sed 's/^/  /'; FAIL=1; }
if [ -s "$TMP/unmarked.txt" ]; then
  echo "FAIL: public functions declared without RE_API:"; sed 's/^/  /' "$TMP/unmarked.txt"; FAIL=1
fi
extra=$(comm -23 "$TMP/exported.txt" "$TMP/declared.txt")
if [ -n "$extra" ]; then
  echo "FAIL: $(echo "$extra" | wc -l) exported symbols are not public functions (declared in include/reenact/*.h):"
  echo "$extra" | sed 's/^/  /'; FAIL=1
fi
notre=$(grep -v '^re_' "$TMP/exported.txt")
[ -z "$notre" ] || { echo "FAIL: exported symbols not named re_*:"; echo "$notre" | sed 's/^/  /'; FAIL=1; }
missing=$(comm -13 "$TMP/exported.txt" "$TMP/declared.txt")
if [ -n "$missing" ] && [ ${#OPTIONAL[@]} -gt 0 ]; then
  for p in "${OPTIONAL[@]}"; do missing=$(echo "$missing" | grep -v "^$p" || true); done
  echo "(this build may leave out: ${OPTIONAL[*]}*)"
fi
if [ -n "$missing" ]; then
  echo "FAIL: $(echo "$missing" | wc -l) public functions are not exported (no RE_API, or not built):"
  echo "$missing" | sed 's/^/  /'; FAIL=1
fi
if [ "$FAIL" = 0 ]; then
  echo "ok: libreenact.so exports exactly the $n_exp public functions"
fi
exit "$FAIL"
