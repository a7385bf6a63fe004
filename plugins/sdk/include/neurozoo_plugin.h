/*
 * neurozoo analysis plugins: the C ABI, version 1 (plugins/sdk/src/abi.rs is the source of truth;
 * the SDK's tests compile this header and check every size, offset and constant against it).
 *
 * A plugin is a shared library named libneurozoo_plugin_NAME.so that exports one symbol,
 *     const nz_descriptor *neurozoo_plugin_entry(void);
 * returning a pointer to a static descriptor. Lifetimes and ownership, alignment and threading
 * are in docs/plugins.md ("Plugins in C").
 */
#ifndef NEUROZOO_PLUGIN_H
#define NEUROZOO_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NZ_ABI_VERSION 1u
#define NZ_ENTRY "neurozoo_plugin_entry"

/* A borrowed UTF-8 string, not NUL-terminated. */
typedef struct nz_str {
    const uint8_t *ptr;
    size_t len;
} nz_str;

/* A borrowed, named, C-contiguous float array; ndim == 0 means absent. */
typedef struct nz_array {
    nz_str name;
    const float *data;
    const size_t *shape;
    size_t ndim;
} nz_array;

/* What a plugin runs on: borrowed from the host for the call to run. */
typedef struct nz_input {
    size_t struct_size;
    nz_array representation; /* (n_stimuli, n_units) */
    nz_array stimuli;        /* (n_stimuli, C, H, W), or absent */
    const nz_array *arrays;  /* named arrays from the file and from --arrays */
    size_t n_arrays;
    nz_str metadata_json;    /* source, stimulus ids, units */
    nz_str params_json;      /* every declared parameter, validated, defaults filled in */
    uint64_t seed;
} nz_input;

/* Column kinds. */
#define NZ_COLUMN_F64 0u  /* double values */
#define NZ_COLUMN_I64 1u  /* int64_t values */
#define NZ_COLUMN_BOOL 2u /* uint8_t values, 0 or 1 */
#define NZ_COLUMN_STR 3u  /* nz_str values */

/* One table column: len values of kind at data (read unaligned); valid is NULL (all valid) or
 * len bytes, 0 marking a null. */
typedef struct nz_column {
    nz_str name;
    uint32_t kind;
    size_t len;
    const void *data;
    const uint8_t *valid;
} nz_column;

/* Log levels. */
#define NZ_LEVEL_INFO 0u
#define NZ_LEVEL_WARN 1u

/* Status codes: what run and the output callbacks return. */
#define NZ_OK 0
#define NZ_ERROR 1 /* after host->fail(ctx, why) */
#define NZ_PANIC 2 /* the Rust SDK's code for a caught panic */

/* Callbacks into the host; pass ctx back unchanged. An output callback returns NZ_OK, or an
 * error code when the host could not take the output (bad name, ragged table, full disk):
 * the run then fails whatever run returns. */
typedef struct nz_host {
    size_t struct_size;
    void *ctx;
    void (*log)(void *ctx, uint32_t level, nz_str message);
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    int32_t (*table)(void *ctx, nz_str name, const nz_column *columns, size_t n_columns);
    int32_t (*figure)(void *ctx, nz_str name, nz_str spec_json);
    int32_t (*array)(void *ctx, nz_array array);
    void (*fail)(void *ctx, nz_str message);
} nz_host;

/* Descriptor flags. */
#define NZ_FLAG_ACCEPTS_NON_FINITE 1u /* take NaN/Inf inputs; else the host refuses them */

typedef struct nz_descriptor {
    uint32_t abi_version; /* NZ_ABI_VERSION; must stay first */
    size_t struct_size;   /* sizeof(nz_descriptor); must stay second */
    nz_str name;
    nz_str version;
    nz_str description;
    nz_str params_schema; /* JSON object: name -> {"type", "default", "minimum", ...} */
    int32_t (*run)(const nz_host *host, const nz_input *input); /* never NULL */
    uint64_t flags;       /* NZ_FLAG_*, or-ed */
} nz_descriptor;

/* A string literal as an nz_str: NZ_STR_INIT in static initialisers (a descriptor's strings),
 * NZ_STR in expressions (a log line, an output name). */
#define NZ_STR_INIT(literal) {(const uint8_t *)(literal), sizeof(literal) - 1}
#define NZ_STR(literal) ((nz_str)NZ_STR_INIT(literal))

#ifdef __cplusplus
}
#endif

#endif /* NEUROZOO_PLUGIN_H */
