/*
 * directions_io.h - internal: the motion directions' tensors and metadata in a model file (directions_io.c).
 */
#ifndef RE_DIRECTIONS_IO_H
#define RE_DIRECTIONS_IO_H
#include "core/safetensors.h"
#include "reenact/directions.h"

#define RE_DIR_N_TENSORS 4

/* Fill e[0..3] (borrowing d's arrays) and *meta_json (malloc'd JSON for the "directions" metadata key). Returns the
 * number of entries, -1 when out of memory. */
int re_dir_entries(const re_directions *d, re_st_entry e[RE_DIR_N_TENSORS], char **meta_json);
/* Is this tensor name one of the directions'? */
int re_dir_is_tensor(const char *name);
/* Read and validate the directions of a parsed model file; *out = NULL (RE_OK) when the file has none. */
re_status re_dir_load(const re_st_file *f, const char *path, int latent, re_directions **out);
#endif
